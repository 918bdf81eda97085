//! Arbitrary bytes as a VMGS file: the VMGS v3 parser (header selection, CRC-32, file
//! table and extended table validation, the key chain) and, on what it accepts, the
//! copy-on-write writer. Nothing may panic; an accepted file reads back every file
//! (or reports an error), and a write either commits (reopening gives the new contents
//! and the other files unchanged) or fails and leaves the old contents readable.
//!
//! Input: `mode | { u16 LE offset | u8 len | len bytes }*` — the records are written
//! over a 64 KiB image. The mode's bits:
//! - bit 0: the image starts as a store the harness formatted and filled (files 2 and
//!   3, two updates, so both headers are valid), instead of all zeros;
//! - bit 1: that store is encrypted (datastore key 0x42..);
//! - bit 2: after a successful open, write file 3 and check the commit;
//! - bit 3: unlock with the right key (else a wrong one) when encrypted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm_nvram::vmgs::{MemDisk, Vmgs, VmgsError};

const SIZE: usize = 16 * 4096;
const KEY: [u8; 32] = [0x42; 32];

/// Deterministic randomness: a counter stream (the fuzzer never needs real keys).
fn rng() -> impl FnMut(&mut [u8]) -> bool {
    let mut n = 0u8;
    move |out: &mut [u8]| {
        for b in out.iter_mut() {
            n = n.wrapping_mul(73).wrapping_add(41);
            *b = n;
        }
        true
    }
}

fn base(mode: u8) -> Vec<u8> {
    if mode & 1 == 0 {
        return vec![0; SIZE];
    }
    let key = (mode & 2 != 0).then_some(&KEY);
    let mut r = rng();
    let mut v = match Vmgs::format(MemDisk(vec![0; SIZE]), key, &mut r) {
        Ok(v) => v,
        Err(e) => panic!("format failed: {e}"),
    };
    for (id, data) in [
        (3u32, &[7u8; 5000][..]),
        (2, &[1u8; 28][..]),
        (3, &[9u8; 300][..]),
    ] {
        if let Err(e) = v.write_file(id, data, &mut r) {
            panic!("write failed: {e}");
        }
    }
    v.into_disk().0
}

/// Every file's contents (or the error reading it), by id.
fn snapshot(v: &mut Vmgs<MemDisk>) -> Vec<(u32, Result<Vec<u8>, VmgsError>)> {
    let ids: Vec<u32> = (1..63).filter(|&id| v.has_file(id)).collect();
    ids.into_iter()
        .map(|id| (id, v.read_file(id).map(|d| d.to_vec())))
        .collect()
}

fn open(image: Vec<u8>, mode: u8) -> Result<Vmgs<MemDisk>, VmgsError> {
    let mut v = Vmgs::open(MemDisk(image))?;
    if v.encrypted() {
        let key = if mode & 8 != 0 { KEY } else { [0x43; 32] };
        v.unlock(&key)?;
    }
    Ok(v)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut image = base(mode);
    while let [lo, hi, len, tail @ ..] = rest {
        let offset = usize::from(u16::from_le_bytes([*lo, *hi]));
        let n = usize::from(*len).min(tail.len()).min(SIZE - offset);
        image[offset..offset + n].copy_from_slice(&tail[..n]);
        rest = &tail[usize::from(*len).min(tail.len())..];
    }

    let Ok(mut v) = open(image.clone(), mode) else {
        return;
    };
    let _ = v.info();
    let before = snapshot(&mut v);
    let _ = v.verify();
    let _ = v.read_vtpm_state();
    if mode & 4 == 0 {
        return;
    }
    let payload: Vec<u8> = data
        .iter()
        .rev()
        .copied()
        .cycle()
        .take(data.len() * 37)
        .collect();
    let committed = v.write_file(3, &payload, &mut rng());
    let after_image = v.into_disk().0;
    let mut again = match open(after_image, mode) {
        Ok(v) => v,
        Err(e) => panic!("reopen after write ({committed:?}) failed: {e}"),
    };
    let after = snapshot(&mut again);
    match committed {
        Ok(()) => {
            assert_eq!(again.read_file(3).map(|d| d.to_vec()), Ok(payload));
            let others = |s: &[(u32, Result<Vec<u8>, VmgsError>)]| {
                s.iter()
                    .filter(|(id, _)| *id != 3)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(others(&before), others(&after));
        }
        Err(_) => assert_eq!(before, after, "a failed write changed the contents"),
    }
});
