//! VMGS tamper evidence: flipping any byte of an encrypted file that carries meaning
//! (both header sectors and the rest of the header area, key slots, the active file
//! table with its unused entries, the extended table, every file's data) makes
//! opening or reading fail with a clear error, and the failed open leaves the bytes
//! as they were. Free blocks (old copies, never referenced) carry no meaning.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use sha2::{Digest, Sha256};
use vtpm_nvram::vmgs::file::{Container, VmgsFile};
use vtpm_nvram::vmgs::{MemDisk, Vmgs, VmgsDisk, VmgsError};

const KEY: [u8; 32] = [0x42; 32];

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

/// A disk that must never be written by an open, unlock or read.
struct ReadOnly<'a>(&'a [u8]);

impl VmgsDisk for ReadOnly<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VmgsError> {
        let o = offset as usize;
        buf.copy_from_slice(&self.0[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, _: u64, _: &[u8]) -> Result<(), VmgsError> {
        panic!("opening or reading wrote to the disk");
    }
    fn flush(&mut self) -> Result<(), VmgsError> {
        panic!("opening or reading flushed the disk");
    }
}

fn open_and_read_all(image: &[u8]) -> Result<Vec<u32>, VmgsError> {
    let mut v = Vmgs::open_with_key(ReadOnly(image), Some(&KEY))?;
    v.verify()
}

/// An encrypted store after a few updates (so both headers are valid and old copies
/// sit in free blocks), and the byte ranges that carry meaning.
fn store() -> (Vec<u8>, Vec<(String, std::ops::Range<usize>)>) {
    let mut r = rng(1);
    let mut v = Vmgs::format(MemDisk(vec![0; 64 * 4096]), Some(&KEY), &mut r).unwrap();
    v.write_file(3, &vec![0xA5; 20000], &mut r).unwrap();
    v.write_file(2, &[1; 28], &mut r).unwrap();
    v.write_file(
        3,
        &(0..17000u32).map(|i| i as u8).collect::<Vec<_>>(),
        &mut r,
    )
    .unwrap();
    let info = v.info();
    let mut regions = vec![("header area".to_string(), 0..8192)];
    for (id, e) in &info.files {
        let start = e.offset as usize * 4096;
        let len = if *id == 0 {
            4096
        } else {
            e.valid_data_size as usize
        };
        regions.push((format!("file {id}"), start..start + len));
    }
    (v.into_disk().0, regions)
}

#[test]
fn every_meaningful_byte_is_tamper_evident() {
    let (mut image, regions) = store();
    assert_eq!(open_and_read_all(&image), Ok(vec![2, 3]));
    assert_eq!(
        regions.len(),
        5,
        "header area, file table, files 2 and 3, extended table"
    );
    let mut flips = 0;
    for (what, range) in &regions {
        for i in range.clone() {
            // Every bit position is covered somewhere: 0xFF everywhere, single bits
            // in the structures.
            let masks: &[u8] = if what.starts_with("header") || what == "file 0" {
                &[0x01, 0x80, 0xFF]
            } else {
                &[0xFF]
            };
            for &mask in masks {
                image[i] ^= mask;
                let r = open_and_read_all(&image);
                image[i] ^= mask;
                flips += 1;
                match r {
                    Err(VmgsError::Corrupt(_) | VmgsError::WrongKey) => {}
                    // A flip in a version field names the version it now claims.
                    Err(VmgsError::UnsupportedVersion(_)) if i % 512 >= 8 && i % 512 < 12 => {}
                    other => panic!("{what}: byte {i} ^ {mask:#x} gave {other:?}"),
                }
            }
        }
    }
    assert!(flips > 30000, "{flips}");
}

#[test]
fn free_blocks_carry_no_meaning() {
    // The complement of the regions above: old copies and never-used blocks. Flipping
    // them changes nothing (documented: they are never read).
    let (mut image, regions) = store();
    for block in 2..64usize {
        let start = block * 4096;
        if regions
            .iter()
            .any(|(_, r)| r.start < start + 4096 && start < r.end)
        {
            continue;
        }
        image[start] ^= 0xFF;
        assert_eq!(open_and_read_all(&image), Ok(vec![2, 3]));
        image[start] ^= 0xFF;
    }
}

#[test]
fn a_failed_open_leaves_the_file_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("t.vmgs");
    let mut r = rng(2);
    let f = VmgsFile::create(&path, 32 * 4096, Container::Vhd1, &mut r).unwrap();
    let mut v = Vmgs::format(f, Some(&KEY), &mut r).unwrap();
    v.write_file(3, b"vtpm state", &mut r).unwrap();
    let regions: Vec<(usize, usize)> = v
        .info()
        .files
        .iter()
        .map(|(_, e)| (e.offset as usize * 4096, e.valid_data_size as usize))
        .collect();
    drop(v);
    let clean = std::fs::read(&path).unwrap();
    let footer = clean.len() - 512;
    // A dense sample: every 7th byte of the header area, the start of each file and
    // table, and every byte of the VHD footer.
    let mut offsets: Vec<usize> = (0..8192).step_by(7).collect();
    for (start, len) in regions {
        offsets.extend(start..start + len.min(64));
    }
    offsets.extend(footer..clean.len());
    for i in offsets {
        let mut bytes = clean.clone();
        bytes[i] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        // Opened writable, as the server does.
        let r = VmgsFile::open(&path, true)
            .and_then(|f| Vmgs::open_with_key(f, Some(&KEY)))
            .and_then(|mut v| v.verify());
        let err = r.expect_err(&format!("flip at {i} went unnoticed"));
        assert!(
            matches!(
                err,
                VmgsError::Corrupt(_) | VmgsError::WrongKey | VmgsError::UnsupportedVersion(_)
            ),
            "byte {i}: {err:?}"
        );
        assert!(!err.to_string().is_empty());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "byte {i}: file changed"
        );
    }
}

#[test]
fn wrong_key_is_not_mistaken_for_damage() {
    let (image, _) = store();
    let e = Vmgs::open_with_key(ReadOnly(&image), Some(&[0x43; 32])).err();
    assert_eq!(e, Some(VmgsError::WrongKey));
    assert!(e.unwrap().to_string().contains("wrong datastore key"));
}
