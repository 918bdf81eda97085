//! A VMGS file on the host: a raw image, or a fixed VHD1 (the image followed by a
//! 512-byte footer, "conectix", disk type 2) as Hyper-V and OpenVMM keep `.vmgs`
//! files. The footer is checked on open (cookie, checksum, type, size) and written,
//! valid, on create; it is never rewritten afterwards.

use super::{VmgsDisk, VmgsError, VmgsRng};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

pub const FOOTER_LEN: u64 = 512;
const COOKIE: &[u8; 8] = b"conectix";
const DISK_TYPE_FIXED: u32 = 2;

fn io_err(what: &str, e: std::io::Error) -> VmgsError {
    VmgsError::Io(format!("{what}: {e}"))
}

/// Container of a VMGS file on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Raw,
    Vhd1,
}

pub struct VmgsFile {
    file: File,
    len: u64,
    container: Container,
}

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(super::format::bytes(b, off))
}

fn be64(b: &[u8], off: usize) -> u64 {
    u64::from_be_bytes(super::format::bytes(b, off))
}

fn footer_checksum(footer: &[u8]) -> u32 {
    let sum = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .fold(0u32, |acc, (_, &b)| acc.wrapping_add(u32::from(b)));
    !sum
}

/// The VHD spec's CHS geometry for a disk size.
fn geometry(size: u64) -> u32 {
    let total = (size / 512).min(65535 * 16 * 255);
    let (mut spt, mut heads, mut cth);
    if total >= 65535 * 16 * 63 {
        spt = 255;
        heads = 16;
        cth = total / spt;
    } else {
        spt = 17;
        cth = total / spt;
        heads = cth.div_ceil(1024).max(4);
        if cth >= heads * 1024 || heads > 16 {
            spt = 31;
            heads = 16;
            cth = total / spt;
        }
        if cth >= heads * 1024 {
            spt = 63;
            heads = 16;
            cth = total / spt;
        }
    }
    let cylinders = (cth / heads).min(65535);
    ((cylinders as u32) << 16) | ((heads as u32) << 8) | spt as u32
}

fn make_footer(size: u64, unique_id: &[u8; 16]) -> [u8; 512] {
    let mut f = [0u8; 512];
    let mut put = |off: usize, v: &[u8]| {
        if let Some(d) = f.get_mut(off..off + v.len()) {
            d.copy_from_slice(v);
        }
    };
    put(0, COOKIE);
    put(8, &2u32.to_be_bytes()); // features: reserved bit, always set
    put(12, &0x0001_0000u32.to_be_bytes()); // format version 1.0
    put(16, &u64::MAX.to_be_bytes()); // data offset: none (fixed disk)
    let since_2000 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(946_684_800))
        .unwrap_or(0);
    put(24, &(since_2000 as u32).to_be_bytes());
    put(28, b"vtpm");
    put(32, &0x0001_0000u32.to_be_bytes());
    put(36, b"Wi2k");
    put(40, &size.to_be_bytes());
    put(48, &size.to_be_bytes());
    put(56, &geometry(size).to_be_bytes());
    put(60, &DISK_TYPE_FIXED.to_be_bytes());
    put(68, unique_id);
    let sum = footer_checksum(&f);
    if let Some(d) = f.get_mut(64..68) {
        d.copy_from_slice(&sum.to_be_bytes());
    }
    f
}

impl VmgsFile {
    /// Opens an existing file read-write (read-only when `writable` is false).
    pub fn open(path: &Path, writable: bool) -> Result<VmgsFile, VmgsError> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|e| io_err(&path.display().to_string(), e))?;
        let total = file.metadata().map_err(|e| io_err("stat", e))?.len();
        let mut footer = [0u8; 512];
        let has_cookie = total >= FOOTER_LEN
            && file.read_exact_at(&mut footer, total - FOOTER_LEN).is_ok()
            && footer.get(..8) == Some(COOKIE.as_slice());
        if has_cookie {
            let len = total - FOOTER_LEN;
            if be32(&footer, 64) != footer_checksum(&footer) {
                return Err(VmgsError::Corrupt("VHD footer checksum mismatch".into()));
            }
            if be32(&footer, 60) != DISK_TYPE_FIXED {
                return Err(VmgsError::Corrupt(format!(
                    "VHD disk type {} is not a fixed disk (2)",
                    be32(&footer, 60)
                )));
            }
            if be64(&footer, 48) != len {
                return Err(VmgsError::Corrupt(format!(
                    "VHD footer size {} does not match the file ({len})",
                    be64(&footer, 48)
                )));
            }
            return Ok(VmgsFile {
                file,
                len,
                container: Container::Vhd1,
            });
        }
        if total % 4096 == FOOTER_LEN {
            return Err(VmgsError::Corrupt(
                "file size is that of a VHD, but there is no valid VHD footer".into(),
            ));
        }
        Ok(VmgsFile {
            file,
            len: total,
            container: Container::Raw,
        })
    }

    /// Creates a new, zero-filled file of `capacity` bytes (a multiple of 4096), with a
    /// fixed-VHD footer when `container` is `Vhd1`. Fails if the path exists.
    pub fn create(
        path: &Path,
        capacity: u64,
        container: Container,
        rng: &mut dyn VmgsRng,
    ) -> Result<VmgsFile, VmgsError> {
        if !capacity.is_multiple_of(4096) || capacity < 4 * 4096 {
            return Err(VmgsError::BadDiskSize(capacity));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| io_err(&path.display().to_string(), e))?;
        file.set_len(capacity).map_err(|e| io_err("set_len", e))?;
        if container == Container::Vhd1 {
            let mut id = [0u8; 16];
            if !rng.fill(&mut id) {
                return Err(VmgsError::Rng);
            }
            file.write_all_at(&make_footer(capacity, &id), capacity)
                .map_err(|e| io_err("write VHD footer", e))?;
        }
        file.sync_all().map_err(|e| io_err("fsync", e))?;
        Ok(VmgsFile {
            file,
            len: capacity,
            container,
        })
    }

    pub fn container(&self) -> Container {
        self.container
    }
}

impl VmgsDisk for VmgsFile {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VmgsError> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > self.len)
        {
            return Err(VmgsError::Io(format!("read at {offset} past the end")));
        }
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| io_err("read", e))
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VmgsError> {
        // Never into the footer.
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|e| e > self.len)
        {
            return Err(VmgsError::Io(format!("write at {offset} past the end")));
        }
        self.file
            .write_all_at(data, offset)
            .map_err(|e| io_err("write", e))
    }

    fn flush(&mut self) -> Result<(), VmgsError> {
        self.file.sync_data().map_err(|e| io_err("fsync", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trip_and_geometry() {
        let f = make_footer(1 << 20, &[7; 16]);
        assert_eq!(be32(&f, 64), footer_checksum(&f));
        assert_eq!(be64(&f, 48), 1 << 20);
        // 2048 sectors: 17 sectors/track, 4 heads, 30 cylinders.
        assert_eq!(geometry(1 << 20), (30 << 16) | (4 << 8) | 17);
    }
}
