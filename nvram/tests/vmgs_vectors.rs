//! VMGS interop: the reference tool's vectors (tests/vectors/vmgs, from the OpenVMM
//! VMGS tool) read back with the right keys and refuse the wrong ones; files written
//! by vtpm are checked by an independent minimal reader written here (headers, CRC-32,
//! file table, key slot -> metadata key -> extended table -> per-file key), not by
//! the crate's own reader.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use vtpm_nvram::vmgs::file::{Container, VmgsFile};
use vtpm_nvram::vmgs::{MemDisk, Vmgs, VmgsError};

const NVRAM_A_SHA256: &str = "b9f2a559a70918df73c89928af84f52f6a45c7826c2ee8267bbd5bb39bd8cf8b";
const NVRAM_B_SHA256: &str = "d204562ae692afd8373cf097b10b891132477fa5630bafe3d5ce4d85b6bd616d";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/vmgs")
}

fn key(name: &str) -> [u8; 32] {
    std::fs::read(dir().join(name)).unwrap().try_into().unwrap()
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ppi() -> Vec<u8> {
    (0u8..0x1c).collect()
}

/// Deterministic test randomness (SHA-256 counter stream).
fn rng(seed: u8) -> impl FnMut(&mut [u8]) -> bool {
    let mut counter = 0u64;
    move |out: &mut [u8]| {
        for chunk in out.chunks_mut(32) {
            counter += 1;
            let d = Sha256::new()
                .chain_update([seed])
                .chain_update(counter.to_le_bytes())
                .finalize();
            chunk.copy_from_slice(&d[..chunk.len()]);
        }
        true
    }
}

fn open_vector(name: &str, k: Option<&[u8; 32]>) -> Result<Vmgs<VmgsFile>, VmgsError> {
    let f = VmgsFile::open(&dir().join(name), false)?;
    assert_eq!(f.container(), Container::Vhd1);
    Vmgs::open_with_key(f, k)
}

#[test]
fn reference_payloads_are_as_documented() {
    assert_eq!(
        sha(&std::fs::read(dir().join("nvram-a.bin")).unwrap()),
        NVRAM_A_SHA256
    );
    assert_eq!(
        sha(&std::fs::read(dir().join("nvram-b.bin")).unwrap()),
        NVRAM_B_SHA256
    );
    assert_eq!(std::fs::read(dir().join("ppi.bin")).unwrap(), ppi());
    assert_eq!(key("key1.bin")[..16], [0x11; 16]);
    assert_eq!(key("key1.bin")[16..], [0x22; 16]);
    assert_eq!(key("key2.bin")[..], Sha256::digest(b"key2")[..]);
}

#[test]
fn empty_vector_has_no_files() {
    let mut v = open_vector("empty.vmgs", None).unwrap();
    assert!(!v.encrypted());
    assert_eq!(v.verify().unwrap(), Vec::<u32>::new());
    assert_eq!(v.read_file(3), Err(VmgsError::FileNotFound(3)));
    assert_eq!(v.read_vtpm_state(), Ok(None));
}

#[test]
fn plain_vectors_read_back() {
    let mut v = open_vector("plain.vmgs", None).unwrap();
    assert_eq!(sha(&v.read_file(3).unwrap()), NVRAM_A_SHA256);
    assert_eq!(*v.read_file(2).unwrap(), ppi());
    assert_eq!(v.verify().unwrap(), vec![2, 3]);
    let mut v = open_vector("plain-rewritten.vmgs", None).unwrap();
    assert_eq!(sha(&v.read_file(3).unwrap()), NVRAM_B_SHA256);
    assert!(!v.has_file(2));
    // A key for a plaintext file is an error, not ignored.
    assert_eq!(
        open_vector("plain.vmgs", Some(&key("key1.bin"))).err(),
        Some(VmgsError::NotEncrypted)
    );
}

#[test]
fn encrypted_vectors_read_back_with_the_right_key_only() {
    let (k1, k2) = (key("key1.bin"), key("key2.bin"));
    let mut v = open_vector("enc.vmgs", Some(&k1)).unwrap();
    assert_eq!(sha(&v.read_file(3).unwrap()), NVRAM_A_SHA256);
    assert_eq!(*v.read_file(2).unwrap(), ppi());
    assert_eq!(
        open_vector("enc.vmgs", Some(&k2)).err(),
        Some(VmgsError::WrongKey)
    );
    assert_eq!(
        open_vector("enc.vmgs", Some(&[0; 32])).err(),
        Some(VmgsError::WrongKey)
    );

    let mut v = open_vector("enc-rotated.vmgs", Some(&k2)).unwrap();
    assert_eq!(sha(&v.read_file(3).unwrap()), NVRAM_A_SHA256);
    assert_eq!(*v.read_file(2).unwrap(), ppi());
    assert_eq!(
        open_vector("enc-rotated.vmgs", Some(&k1)).err(),
        Some(VmgsError::WrongKey)
    );

    // Without a key: the file table is there, the data is not.
    let mut v = open_vector("enc.vmgs", None).unwrap();
    assert!(v.has_file(3));
    assert_eq!(v.read_file(3), Err(VmgsError::Locked));
    // The reference NV image is not a vtpm state image: refused, never "empty".
    let mut v = open_vector("enc.vmgs", Some(&k1)).unwrap();
    assert_eq!(v.read_vtpm_state(), Err(VmgsError::ForeignTpmState));
}

#[test]
fn foreign_tpm_state_is_left_untouched() {
    let path = dir().join("enc.vmgs");
    let before = std::fs::read(&path).unwrap();
    let mut v =
        Vmgs::open_with_key(MemDisk(before[..1 << 20].to_vec()), Some(&key("key1.bin"))).unwrap();
    assert_eq!(v.read_vtpm_state(), Err(VmgsError::ForeignTpmState));
    let ours = vtpm_nvram::image::Image::new().encode();
    assert_eq!(
        v.write_vtpm_state(&ours, &mut rng(7)),
        Err(VmgsError::ForeignTpmState)
    );
    assert_eq!(v.into_disk().0, before[..1 << 20]);
}

#[test]
fn vtpm_state_round_trip() {
    let mut r = rng(8);
    let mut v = Vmgs::format(MemDisk(vec![0; 32 * 4096]), Some(&[9; 32]), &mut r).unwrap();
    assert_eq!(v.read_vtpm_state(), Ok(None));
    assert_eq!(
        v.write_vtpm_state(b"not an image", &mut r),
        Err(VmgsError::NotAStateImage)
    );
    let mut image = vtpm_nvram::image::Image::new();
    image.set_section(1, vec![1, 2, 3]);
    let bytes = image.encode();
    v.write_vtpm_state(&bytes, &mut r).unwrap();
    v.write_vtpm_state(&bytes, &mut r).unwrap();
    let got = v.read_vtpm_state().unwrap().unwrap();
    assert_eq!(vtpm_nvram::image::Image::decode(&got), Ok(image));
}

// ---- an independent reader: only the format document, crc32fast and aes-gcm ----

struct Plain {
    files: Vec<(u32, Vec<u8>)>,
    metadata_key: Option<[u8; 32]>,
    nonces: Vec<(u32, [u8; 12])>,
    file_keys: Vec<(u32, [u8; 32])>,
    slots_used: [bool; 2],
}

fn u32le(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

fn gcm_open(key: &[u8], nonce: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
    let c = Aes256Gcm::new_from_slice(key).unwrap();
    let nonce: [u8; 12] = nonce.try_into().unwrap();
    let tag: [u8; 16] = tag.try_into().unwrap();
    c.decrypt_inout_detached(&nonce.into(), &[], data.into(), &tag.into())
        .is_ok()
}

/// Reads a whole `.vmgs` file (VHD footer included) by the format rules.
fn independent_read(file: &[u8], key: Option<&[u8; 32]>) -> Plain {
    // Fixed VHD1 footer: big-endian, one's complement byte-sum checksum.
    let (disk, footer) = file.split_at(file.len() - 512);
    assert_eq!(&footer[..8], b"conectix");
    let sum: u32 = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .map(|(_, &b)| u32::from(b))
        .sum();
    assert_eq!(u32::from_be_bytes(footer[64..68].try_into().unwrap()), !sum);
    assert_eq!(u32::from_be_bytes(footer[60..64].try_into().unwrap()), 2);
    assert_eq!(
        u64::from_be_bytes(footer[48..56].try_into().unwrap()),
        disk.len() as u64
    );
    let header = |off: usize| -> Option<&[u8]> {
        let h = &disk[off..off + 168];
        if &h[..8] != b"GUESTRTS" {
            return None;
        }
        assert_eq!(u32le(h, 8), 0x0003_0000);
        assert_eq!(u32le(h, 0x14), 168);
        let mut z = h.to_vec();
        z[12..16].fill(0);
        assert_eq!(crc32fast::hash(&z), u32le(h, 12), "header CRC at {off}");
        Some(h)
    };
    let (h1, h2) = (header(0), header(512));
    let h = match (h1, h2) {
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (Some(a), Some(b)) => {
            if u32le(a, 0x10) == u32le(b, 0x10).wrapping_add(1) {
                a
            } else {
                assert_eq!(u32le(b, 0x10), u32le(a, 0x10).wrapping_add(1));
                b
            }
        }
        (None, None) => panic!("no header"),
    };
    let ft_block = u32le(h, 0x18) as usize;
    assert!(ft_block >= 2);
    assert_eq!(u32le(h, 0x1C), 1);
    let encrypted = u16::from_le_bytes([h[0x20], h[0x21]]) == 1;
    let ft = &disk[ft_block * 4096..ft_block * 4096 + 4096];
    let entry = |i: usize| &ft[i * 64..i * 64 + 64];
    let extent = |e: &[u8]| -> Vec<u8> {
        let off = u32le(e, 0) as usize;
        let alloc = u32le(e, 4) as usize;
        let valid = u64::from_le_bytes(e[8..16].try_into().unwrap()) as usize;
        assert!(off >= 2 && (off + alloc) * 4096 <= disk.len() && valid <= alloc * 4096);
        disk[off * 4096..off * 4096 + valid].to_vec()
    };
    assert_eq!(u32le(entry(0), 0) as usize, ft_block);
    let mut out = Plain {
        files: vec![],
        metadata_key: None,
        nonces: vec![],
        file_keys: vec![],
        slots_used: [
            h[0x24..0x64].iter().any(|&b| b != 0),
            h[0x64..0xA4].iter().any(|&b| b != 0),
        ],
    };
    let mut ext = vec![0u8; 4096];
    if encrypted {
        let key = key.expect("encrypted file needs a key");
        let mut meta = None;
        for slot in [&h[0x24..0x64], &h[0x64..0xA4]] {
            let mut k = slot[32..64].to_vec();
            if slot.iter().any(|&b| b != 0) && gcm_open(key, &slot[..12], &mut k, &slot[16..32]) {
                meta = Some(<[u8; 32]>::try_from(k).unwrap());
                out.nonces.push((100, slot[..12].try_into().unwrap()));
                break;
            }
        }
        let meta = meta.expect("no key slot opens");
        let e63 = entry(63);
        ext = extent(e63);
        assert!(
            gcm_open(&meta, &e63[16..28], &mut ext, &e63[28..44]),
            "ext table"
        );
        out.nonces.push((63, e63[16..28].try_into().unwrap()));
        out.metadata_key = Some(meta);
    }
    for id in 1..63u32 {
        let e = entry(id as usize);
        if u32le(e, 4) == 0 {
            continue;
        }
        let mut data = extent(e);
        if u32le(e, 0x2C) & 1 != 0 {
            let x = &ext[id as usize * 64..id as usize * 64 + 64];
            assert_eq!(u32le(x, 0), 3);
            assert!(
                gcm_open(&x[4..36], &e[16..28], &mut data, &e[28..44]),
                "file {id}"
            );
            out.nonces.push((id, e[16..28].try_into().unwrap()));
            out.file_keys.push((id, x[4..36].try_into().unwrap()));
        } else {
            assert!(!encrypted, "vtpm encrypts every file of an encrypted store");
        }
        out.files.push((id, data));
    }
    out
}

#[test]
fn independent_reader_agrees_on_the_reference_vectors() {
    let enc = std::fs::read(dir().join("enc.vmgs")).unwrap();
    let p = independent_read(&enc, Some(&key("key1.bin")));
    assert_eq!(p.metadata_key, Some([0; 32])); // the reference tool's weakness
    assert_eq!(p.files[0].1, ppi());
    assert_eq!(sha(&p.files[1].1), NVRAM_A_SHA256);
}

#[test]
fn files_vtpm_writes_follow_the_format() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("new.vmgs");
    let (k1, k2) = (key("key1.bin"), key("key2.bin"));
    let a = std::fs::read(dir().join("nvram-a.bin")).unwrap();
    let b = std::fs::read(dir().join("nvram-b.bin")).unwrap();
    let mut r = rng(1);
    let f = VmgsFile::create(&path, 1 << 20, Container::Vhd1, &mut r).unwrap();
    let mut v = Vmgs::format(f, Some(&k1), &mut r).unwrap();
    v.write_file(3, &a, &mut r).unwrap();
    v.write_file(2, &ppi(), &mut r).unwrap();
    drop(v);

    let first = independent_read(&std::fs::read(&path).unwrap(), Some(&k1));
    let files: Vec<u32> = first.files.iter().map(|f| f.0).collect();
    assert_eq!(files, vec![2, 3]);
    assert_eq!(first.files[0].1, ppi());
    assert_eq!(sha(&first.files[1].1), NVRAM_A_SHA256);
    let meta1 = first.metadata_key.unwrap();
    assert_ne!(meta1, [0; 32], "a fresh random metadata key, never zero");

    // Rewrite file 3: fresh metadata key, fresh key and nonce for file 3.
    let f = VmgsFile::open(&path, true).unwrap();
    let mut v = Vmgs::open_with_key(f, Some(&k1)).unwrap();
    v.write_file(3, &b, &mut r).unwrap();
    drop(v);
    let second = independent_read(&std::fs::read(&path).unwrap(), Some(&k1));
    assert_eq!(sha(&second.files[1].1), NVRAM_B_SHA256);
    assert_ne!(second.metadata_key.unwrap(), meta1);
    let key3 = |p: &Plain| p.file_keys.iter().find(|k| k.0 == 3).unwrap().1;
    assert_ne!(key3(&first), key3(&second));
    // Everything rewritten (key slot, extended table, file 3) has a fresh nonce;
    // file 2 was not rewritten and keeps its own.
    for (what, n) in second.nonces.iter().filter(|(id, _)| *id != 2) {
        assert!(
            !first.nonces.iter().any(|(_, m)| m == n),
            "nonce of {what} reused"
        );
    }

    // Rotation: only the new key opens, in either header.
    let f = VmgsFile::open(&path, true).unwrap();
    let mut v = Vmgs::open_with_key(f, Some(&k1)).unwrap();
    v.rotate_key(&k2, &mut r).unwrap();
    drop(v);
    let raw = std::fs::read(&path).unwrap();
    let third = independent_read(&raw, Some(&k2));
    assert_eq!(sha(&third.files[1].1), NVRAM_B_SHA256);
    assert_eq!(third.files[0].1, ppi());
    assert_ne!(
        key3(&third),
        key3(&second),
        "rotation re-encrypts every file"
    );
    assert_eq!(third.slots_used.iter().filter(|&&u| u).count(), 1);
    for off in [0usize, 512] {
        let h = &raw[off..off + 168];
        for slot in [&h[0x24..0x64], &h[0x64..0xA4]] {
            let mut k = slot[32..64].to_vec();
            assert!(
                !gcm_open(&k1, &slot[..12], &mut k, &slot[16..32]),
                "old key still opens a slot in the header at {off}"
            );
        }
    }
    let f = VmgsFile::open(&path, false).unwrap();
    assert_eq!(
        Vmgs::open_with_key(f, Some(&k1)).err(),
        Some(VmgsError::WrongKey)
    );
}

#[test]
fn writing_into_a_reference_file() {
    // vtpm updates a file the reference tool wrote; both readers agree afterwards.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("enc.vmgs");
    std::fs::copy(dir().join("enc.vmgs"), &path).unwrap();
    let k1 = key("key1.bin");
    let b = std::fs::read(dir().join("nvram-b.bin")).unwrap();
    let mut r = rng(2);
    let mut v = Vmgs::open_with_key(VmgsFile::open(&path, true).unwrap(), Some(&k1)).unwrap();
    v.write_file(3, &b, &mut r).unwrap();
    assert_eq!(*v.read_file(2).unwrap(), ppi());
    drop(v);
    let p = independent_read(&std::fs::read(&path).unwrap(), Some(&k1));
    assert_eq!(sha(&p.files[1].1), NVRAM_B_SHA256);
    assert_eq!(p.files[0].1, ppi());
    assert_ne!(p.metadata_key, Some([0; 32]));

    // And a plaintext one.
    let path = tmp.path().join("plain.vmgs");
    std::fs::copy(dir().join("plain.vmgs"), &path).unwrap();
    let mut v = Vmgs::open(VmgsFile::open(&path, true).unwrap()).unwrap();
    v.write_file(2, b"hello", &mut r).unwrap();
    drop(v);
    let p = independent_read(&std::fs::read(&path).unwrap(), None);
    assert_eq!(p.files[0].1, b"hello");
    assert_eq!(sha(&p.files[1].1), NVRAM_A_SHA256);
}

#[test]
fn raw_images_and_format_errors() {
    let mut r = rng(3);
    // Raw image, 4096-byte sectors: header 2 at 4096 is found.
    let mut v = Vmgs::format(MemDisk(vec![0; 64 * 4096]), None, &mut r).unwrap();
    v.write_file(3, b"one", &mut r).unwrap();
    v.write_file(3, b"two", &mut r).unwrap();
    let mut disk = v.into_disk();
    let h2: Vec<u8> = disk.0[512..1024].to_vec();
    disk.0[512..1024].fill(0);
    disk.0[4096..4608].copy_from_slice(&h2);
    let mut v = Vmgs::open(disk).unwrap();
    assert_eq!(v.info().sector_size, 4096);
    assert_eq!(*v.read_file(3).unwrap(), b"two");

    // v1 (GPT) files are refused clearly; all-zero is empty; newer versions refused.
    let mut gpt = vec![0u8; 16 * 4096];
    gpt[512..520].copy_from_slice(b"EFI PART");
    assert_eq!(Vmgs::open(MemDisk(gpt)).err(), Some(VmgsError::V1Format));
    assert_eq!(
        Vmgs::open(MemDisk(vec![0; 16 * 4096])).err(),
        Some(VmgsError::Empty)
    );
    let mut disk = Vmgs::format(MemDisk(vec![0; 16 * 4096]), None, &mut r)
        .unwrap()
        .into_disk();
    disk.0[8..12].copy_from_slice(&0x0004_0000u32.to_le_bytes());
    let err = Vmgs::open(disk).err().unwrap();
    assert_eq!(err, VmgsError::UnsupportedVersion(0x0004_0000));
    assert!(err.to_string().contains("newer"), "{err}");
    // open_or_format formats an empty disk, and only an empty one.
    let v = Vmgs::open_or_format(MemDisk(vec![0; 16 * 4096]), None, &mut r).unwrap();
    assert!(!v.encrypted());
    assert_eq!(
        Vmgs::open(MemDisk(vec![1; 16 * 4096]))
            .err()
            .map(|e| e.to_string()),
        Some("VMGS file is corrupt or tampered with: header 1: no GUESTRTS signature".into())
    );
    // A full disk says so, and keeps its old contents.
    let mut v = Vmgs::format(MemDisk(vec![0; 8 * 4096]), None, &mut r).unwrap();
    v.write_file(3, b"small", &mut r).unwrap();
    assert_eq!(
        v.write_file(3, &[7; 4 * 4096], &mut r),
        Err(VmgsError::NoSpace)
    );
    assert_eq!(*v.read_file(3).unwrap(), b"small");
    assert_eq!(v.write_file(0, b"x", &mut r), Err(VmgsError::BadFileId(0)));
    assert_eq!(
        v.write_file(63, b"x", &mut r),
        Err(VmgsError::BadFileId(63))
    );
}

#[test]
fn key_slots() {
    let mut r = rng(4);
    let (k1, k2, k3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let mut v = Vmgs::format(MemDisk(vec![0; 32 * 4096]), Some(&k1), &mut r).unwrap();
    v.write_file(3, b"state", &mut r).unwrap();
    v.add_key(&k2, &mut r).unwrap();
    assert_eq!(v.add_key(&k3, &mut r), Err(VmgsError::NoFreeKeySlot));
    let disk = v.into_disk();
    for k in [&k1, &k2] {
        let mut v = Vmgs::open_with_key(disk.clone(), Some(k)).unwrap();
        assert_eq!(*v.read_file(3).unwrap(), b"state");
    }
    let mut v = Vmgs::open_with_key(disk, Some(&k2)).unwrap();
    // Opened with k2 only: k1's slot is unknown here; removing k2 would lock out.
    assert_eq!(v.remove_key(&k1, &mut r), Err(VmgsError::UnknownKey));
    assert_eq!(v.remove_key(&k2, &mut r), Err(VmgsError::LastKey));
    v.add_key(&k3, &mut r).unwrap();
    v.remove_key(&k2, &mut r).unwrap();
    let disk = v.into_disk();
    for k in [&k1, &k2] {
        assert_eq!(
            Vmgs::open_with_key(disk.clone(), Some(k)).err(),
            Some(VmgsError::WrongKey)
        );
    }
    let mut v = Vmgs::open_with_key(disk, Some(&k3)).unwrap();
    assert_eq!(*v.read_file(3).unwrap(), b"state");
}
