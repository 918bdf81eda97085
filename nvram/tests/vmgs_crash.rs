//! VMGS crash safety: a fault-injecting disk stops the writer at its k-th write or
//! flush, for every k, tearing that write at every sector boundary and at odd byte
//! offsets (a header sector is written atomically, as disks and VHDs write a sector:
//! tears inside the header area fall on sector boundaries); in a second mode the crash
//! also loses every write not yet flushed. Reopening must give exactly the old or the new contents, never an
//! error or a mix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use sha2::{Digest, Sha256};
use vtpm_nvram::vmgs::{MemDisk, Vmgs, VmgsDisk, VmgsError};

const SECTOR: usize = 512;

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

/// Crashes at operation `crash_at` (1-based; writes and flushes both count). The
/// crashing write lands only its first `tear` bytes (whole sectors in the header area). With `lose_unflushed`, what
/// survives is the state at the last flush (plus the torn part).
struct FaultDisk {
    durable: Vec<u8>,
    view: Vec<u8>,
    ops: usize,
    crash_at: usize,
    tear: usize,
    lose_unflushed: bool,
    crashed: bool,
}

impl FaultDisk {
    fn new(image: Vec<u8>, crash_at: usize, tear: usize, lose_unflushed: bool) -> FaultDisk {
        FaultDisk {
            durable: image.clone(),
            view: image,
            ops: 0,
            crash_at,
            tear,
            lose_unflushed,
            crashed: false,
        }
    }

    /// What the disk holds after the power cut.
    fn survivor(self) -> Vec<u8> {
        if self.lose_unflushed {
            self.durable
        } else {
            self.view
        }
    }

    fn crash(&self) -> VmgsError {
        VmgsError::Io("power cut".into())
    }
}

impl VmgsDisk for FaultDisk {
    fn size(&self) -> u64 {
        self.view.len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VmgsError> {
        if self.crashed {
            return Err(self.crash());
        }
        let o = offset as usize;
        buf.copy_from_slice(&self.view[o..o + buf.len()]);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VmgsError> {
        if self.crashed {
            return Err(self.crash());
        }
        self.ops += 1;
        let o = offset as usize;
        let n = if self.ops == self.crash_at {
            let tear = if o < 2 * 4096 {
                self.tear / SECTOR * SECTOR
            } else {
                self.tear
            };
            tear.min(data.len())
        } else {
            data.len()
        };
        self.view[o..o + n].copy_from_slice(&data[..n]);
        if self.ops == self.crash_at {
            // The torn part reached the medium.
            self.durable[o..o + n].copy_from_slice(&data[..n]);
            self.crashed = true;
            return Err(self.crash());
        }
        if !self.lose_unflushed {
            self.durable[o..o + n].copy_from_slice(&data[..n]);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), VmgsError> {
        if self.crashed {
            return Err(self.crash());
        }
        self.ops += 1;
        if self.ops == self.crash_at {
            self.crashed = true;
            return Err(self.crash());
        }
        self.durable.clone_from(&self.view);
        Ok(())
    }
}

/// Where a crashing write stops: every sector boundary of the largest write (five
/// blocks) and a few offsets inside sectors.
fn tears() -> impl Iterator<Item = usize> {
    (0..=40)
        .map(|s| s * SECTOR)
        .chain([1, 100, 700, 4097, 10001])
}

/// For every crash point and tear, in both modes, `check` the survivor.
fn every_crash(
    image: &[u8],
    key: Option<&[u8; 32]>,
    op: &dyn Fn(&mut Vmgs<&mut FaultDisk>) -> Result<(), VmgsError>,
    check: &dyn Fn(Vec<u8>) -> &'static str,
) -> [usize; 2] {
    let mut outcomes = [0usize; 2];
    // Ops of a clean run.
    let mut clean = FaultDisk::new(image.to_vec(), usize::MAX, 0, false);
    {
        let mut v = Vmgs::open_with_key(&mut clean, key).unwrap();
        op(&mut v).unwrap();
    }
    let total = clean.ops;
    assert!(
        total >= 6,
        "a commit writes data, tables, header and flushes"
    );
    assert_eq!(check(clean.survivor()), "new");
    for crash_at in 1..=total {
        for lose in [false, true] {
            for tear in tears() {
                let mut disk = FaultDisk::new(image.to_vec(), crash_at, tear, lose);
                {
                    let mut v = Vmgs::open_with_key(&mut disk, key).unwrap();
                    assert!(op(&mut v).is_err(), "the crash is reported");
                }
                match check(disk.survivor()) {
                    "old" => outcomes[0] += 1,
                    "new" => outcomes[1] += 1,
                    other => panic!("crash at op {crash_at} tear {tear} lose {lose}: {other}"),
                }
            }
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
    outcomes
}

fn file3(image: Vec<u8>, key: Option<&[u8; 32]>) -> Result<Option<Vec<u8>>, VmgsError> {
    let mut v = Vmgs::open_with_key(MemDisk(image), key)?;
    if !v.has_file(3) {
        return Ok(None);
    }
    Ok(Some(v.read_file(3)?.to_vec()))
}

fn scenario(key: Option<[u8; 32]>) {
    let old: Vec<u8> = (0..9000u32).map(|i| i as u8).collect();
    let new: Vec<u8> = (0..20000u32).map(|i| (i * 7) as u8).collect();
    let ppi: Vec<u8> = (0u8..28).collect();
    let mut r = rng(9);
    let mut v = Vmgs::format(MemDisk(vec![0; 64 * 4096]), key.as_ref(), &mut r).unwrap();
    v.write_file(3, &old, &mut r).unwrap();
    v.write_file(2, &ppi, &mut r).unwrap();
    let image = v.into_disk().0;
    let k = key;
    every_crash(
        &image,
        key.as_ref(),
        &|v| v.write_file(3, &new, &mut rng(10)),
        &|img| {
            let mut v = match Vmgs::open_with_key(MemDisk(img), k.as_ref()) {
                Ok(v) => v,
                Err(_) => return "open failed",
            };
            if v.read_file(2).map(|d| d.to_vec()) != Ok(ppi.clone()) {
                return "file 2 damaged";
            }
            match v.read_file(3) {
                Ok(d) if *d == old => "old",
                Ok(d) if *d == new => "new",
                Ok(_) => "a mix",
                Err(_) => "file 3 unreadable",
            }
        },
    );
}

#[test]
fn crash_during_write_plain() {
    scenario(None);
}

#[test]
fn crash_during_write_encrypted() {
    scenario(Some([0x5a; 32]));
}

#[test]
fn crash_during_first_write() {
    let mut r = rng(1);
    let image = Vmgs::format(MemDisk(vec![0; 32 * 4096]), None, &mut r)
        .unwrap()
        .into_disk()
        .0;
    every_crash(
        &image,
        None,
        &|v| v.write_file(3, b"first state", &mut rng(2)),
        &|img| match file3(img, None) {
            Ok(None) => "old",
            Ok(Some(d)) if d == b"first state" => "new",
            Ok(Some(_)) => "a mix",
            Err(_) => "error",
        },
    );
}

#[test]
fn crash_during_key_rotation() {
    let (k1, k2) = ([1u8; 32], [2u8; 32]);
    let mut r = rng(3);
    let mut v = Vmgs::format(MemDisk(vec![0; 64 * 4096]), Some(&k1), &mut r).unwrap();
    v.write_file(3, b"sealed state", &mut r).unwrap();
    let image = v.into_disk().0;
    // Mid-rotation both keys may open it; afterwards only the new one. Never neither,
    // never other data.
    every_crash(
        &image,
        Some(&k1),
        &|v| v.rotate_key(&k2, &mut rng(4)),
        &|img| {
            let old = file3(img.clone(), Some(&k1));
            let new = file3(img, Some(&k2));
            let want = Ok(Some(b"sealed state".to_vec()));
            match (old, new) {
                (o, _) if o == want => "old",
                (Err(VmgsError::WrongKey), n) if n == want => "new",
                _ => "neither key opens the state",
            }
        },
    );
}

#[test]
fn crash_during_format_of_an_empty_disk() {
    let image = vec![0u8; 16 * 4096];
    for crash_at in 1..=6 {
        for tear in tears() {
            let mut disk = FaultDisk::new(image.clone(), crash_at, tear, false);
            assert!(Vmgs::format(&mut disk, Some(&[7; 32]), &mut rng(5)).is_err());
            match Vmgs::open_with_key(MemDisk(disk.survivor()), Some(&[7; 32])) {
                Err(VmgsError::Empty) => {}
                Ok(mut v) => assert_eq!(v.verify().unwrap(), Vec::<u32>::new()),
                Err(e) => panic!("crash at {crash_at} tear {tear}: {e}"),
            }
        }
    }
}
