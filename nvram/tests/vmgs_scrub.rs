//! Scrubbing VMGS stores (`Vmgs::set_scrub`): after every commit nothing outside the
//! active data is set, so `check_unallocated` turns any flipped byte into an error; a
//! commit interrupted at any write or flush (torn in the middle of a data write) still
//! reopens and passes the check, because the commit-in-progress record names the blocks
//! it touches; a damaged record is itself an error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use vtpm_nvram::vmgs::{MemDisk, Vmgs, VmgsDisk, VmgsError};

fn rng() -> impl FnMut(&mut [u8]) -> bool {
    let mut n = 0u8;
    move |out: &mut [u8]| {
        for b in out {
            n = n.wrapping_mul(31).wrapping_add(7);
            *b = n;
        }
        true
    }
}

/// A state-image-like payload of `len` bytes.
fn image(len: usize, fill: u8) -> Vec<u8> {
    let mut v = b"VTPMSTAT".to_vec();
    v.resize(len, fill);
    v
}

/// Stops at the `stop_at`-th write or flush; that write lands only its first half.
struct StopDisk {
    bytes: Vec<u8>,
    ops: usize,
    stop_at: usize,
}

impl VmgsDisk for StopDisk {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VmgsError> {
        let o = offset as usize;
        buf.copy_from_slice(&self.bytes[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VmgsError> {
        self.ops += 1;
        let o = offset as usize;
        if self.ops == self.stop_at {
            let half = if data.len() > 512 { data.len() / 2 } else { 0 };
            self.bytes[o..o + half].copy_from_slice(&data[..half]);
            return Err(VmgsError::Io("stopped".into()));
        }
        self.bytes[o..o + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), VmgsError> {
        self.ops += 1;
        if self.ops == self.stop_at {
            return Err(VmgsError::Io("stopped".into()));
        }
        Ok(())
    }
}

fn store(key: Option<&[u8; 32]>) -> Vec<u8> {
    let mut v = Vmgs::format(MemDisk(vec![0; 64 * 4096]), key, &mut rng()).unwrap();
    v.set_scrub(true);
    for i in 0..3u8 {
        v.write_vtpm_state(&image(5000 + 3000 * usize::from(i), i), &mut rng())
            .unwrap();
    }
    v.into_disk().0
}

fn reopen(bytes: Vec<u8>, key: Option<&[u8; 32]>) -> Result<Vec<u8>, VmgsError> {
    let mut v = Vmgs::open_with_key(MemDisk(bytes), key)?;
    v.check_unallocated()?;
    Ok(v.read_vtpm_state()?.map(|d| d.to_vec()).unwrap_or_default())
}

#[test]
fn every_byte_of_a_scrubbed_store_counts() {
    let key = [9u8; 32];
    let good = store(Some(&key));
    assert_eq!(reopen(good.clone(), Some(&key)).unwrap(), image(11000, 2));
    // Every 97th byte of the whole file, free blocks included.
    for off in (0..good.len()).step_by(97) {
        let mut bad = good.clone();
        bad[off] ^= 0x20;
        assert!(
            reopen(bad, Some(&key)).is_err(),
            "flip at {off} went unnoticed"
        );
    }
}

#[test]
fn an_interrupted_scrubbing_commit_is_not_taken_for_tampering() {
    for key in [None, Some([3u8; 32])] {
        let base = store(key.as_ref());
        let old = image(11000, 2);
        let new = image(7000, 9);
        for stop_at in 1..200 {
            let mut v = Vmgs::open_with_key(
                StopDisk {
                    bytes: base.clone(),
                    ops: 0,
                    stop_at,
                },
                key.as_ref(),
            )
            .unwrap();
            v.set_scrub(true);
            let done = v.write_vtpm_state(&new, &mut rng()).is_ok();
            let bytes = v.into_disk().bytes;
            let got = reopen(bytes.clone(), key.as_ref())
                .unwrap_or_else(|e| panic!("stop at {stop_at}: {e}"));
            assert!(got == old || got == new, "stop at {stop_at}");
            if done {
                assert_eq!(got, new);
                // A completed commit leaves no record: strict again.
                assert!(bytes[2048..2560].iter().all(|&b| b == 0));
                break;
            }
            // The next scrubbing commit cleans up after the interrupted one.
            let mut v = Vmgs::open_with_key(MemDisk(bytes), key.as_ref()).unwrap();
            v.set_scrub(true);
            v.write_vtpm_state(&new, &mut rng()).unwrap();
            let clean = v.into_disk().0;
            assert!(clean[2048..2560].iter().all(|&b| b == 0));
            let mut flipped = clean.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert!(reopen(flipped, key.as_ref()).is_err(), "stop at {stop_at}");
            assert_eq!(reopen(clean, key.as_ref()).unwrap(), new);
        }
    }
}

#[test]
fn a_damaged_commit_record_is_an_error() {
    let good = store(None);
    let mut bad = good.clone();
    bad[2048..2056].copy_from_slice(b"VTPMPEND");
    assert!(matches!(reopen(bad, None), Err(VmgsError::Corrupt(_))));
    let mut bad = good;
    bad[2300] = 1;
    assert!(matches!(reopen(bad, None), Err(VmgsError::Corrupt(_))));
}
