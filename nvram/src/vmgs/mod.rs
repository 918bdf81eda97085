//! VMGS v3: the VM guest-state file of Hyper-V / OpenVMM (format: shared/docs/vmgs-format.md).
//!
//! `no_std` + alloc over a small block device ([`VmgsDisk`]); randomness comes from
//! the caller ([`VmgsRng`]). [`Vmgs`] opens a disk (header selection, CRC-32, file table
//! validation), unlocks an encrypted one with a datastore key (either key slot), reads
//! files and writes them copy-on-write: new data, extended table and file table go to
//! free blocks, are flushed, then the header is written to the inactive slot and flushed.
//! A crash anywhere leaves the previous header and everything it references intact.
//!
//! Storage model: a single-sector write (the header) is atomic, as on disks and VHDs.
//! That is what lets a reader treat *every* damaged header as an error instead of
//! silently falling back to the older one (which a byte flip would otherwise cause).
//!
//! Every commit of an encrypted store uses a fresh random metadata key (re-wrapped for
//! every datastore key this handle knows) and fresh per-file keys and nonces for the
//! files it writes. A key slot whose datastore key the handle does not know cannot be
//! re-wrapped and is cleared by the next commit.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use zeroize::Zeroizing;

#[cfg(feature = "std")]
pub mod file;
pub mod format;

use format::*;

/// File ids of the VMGS file table that vtpm uses.
pub mod file_id {
    pub const TPM_PPI: u32 = 2;
    pub const TPM_NVRAM: u32 = 3;
}

/// Why an operation on a VMGS file failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmgsError {
    /// The block device failed.
    Io(String),
    /// Both header slots are all zero: the file was never formatted.
    Empty,
    /// A v1 (GPT-based) VMGS file: a different, older format.
    V1Format,
    /// A header with a version this code does not know (newer than 3.0, or older).
    UnsupportedVersion(u32),
    /// The file is damaged or was tampered with; what failed.
    Corrupt(String),
    /// No key slot opens with this datastore key.
    WrongKey,
    /// The file is encrypted and no datastore key was given.
    Locked,
    /// A datastore key was given for a file that is not encrypted.
    NotEncrypted,
    /// The file id has no data.
    FileNotFound(u32),
    /// The file id cannot be read or written by callers (0, 63, or >= 64).
    BadFileId(u32),
    /// Not enough free blocks for a copy-on-write update.
    NoSpace,
    /// Both key slots are in use.
    NoFreeKeySlot,
    /// Removing this key would leave no way to open the file.
    LastKey,
    /// The key is not one this handle unlocked or added.
    UnknownKey,
    /// The randomness source failed.
    Rng,
    /// The disk is too small or not a whole number of blocks.
    BadDiskSize(u64),
    /// File id 3 holds something that is not a vtpm state image (e.g. another
    /// engine's NV image): refused, and left as it is.
    ForeignTpmState,
    /// Asked to store, as vtpm state, bytes that are not a vtpm state image.
    NotAStateImage,
}

impl core::fmt::Display for VmgsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VmgsError::Io(e) => write!(f, "VMGS I/O error: {e}"),
            VmgsError::Empty => f.write_str("VMGS file is empty (not formatted)"),
            VmgsError::V1Format => f.write_str(
                "VMGS file is in the old v1 (GPT) format; only VMGS 3.0 is supported",
            ),
            VmgsError::UnsupportedVersion(v) => write!(
                f,
                "VMGS version {}.{} is not supported (only 3.0){}",
                v >> 16,
                v & 0xFFFF,
                if *v > VERSION_3 { ": written by a newer tool" } else { "" }
            ),
            VmgsError::Corrupt(what) => write!(f, "VMGS file is corrupt or tampered with: {what}"),
            VmgsError::WrongKey => f.write_str(
                "wrong datastore key: no VMGS key slot opens with it (or the slot was tampered with)",
            ),
            VmgsError::Locked => f.write_str("VMGS file is encrypted: a datastore key is needed"),
            VmgsError::NotEncrypted => {
                f.write_str("VMGS file is not encrypted, but a datastore key was given")
            }
            VmgsError::FileNotFound(id) => write!(f, "VMGS file id {id} holds no data"),
            VmgsError::BadFileId(id) => write!(f, "VMGS file id {id} cannot be used (1..=62)"),
            VmgsError::NoSpace => f.write_str("VMGS file is full (no room for a copy-on-write update)"),
            VmgsError::NoFreeKeySlot => f.write_str("both VMGS key slots are in use"),
            VmgsError::LastKey => f.write_str("refusing to remove the only VMGS datastore key"),
            VmgsError::UnknownKey => f.write_str("that key does not hold a VMGS key slot here"),
            VmgsError::Rng => f.write_str("random number generator failed"),
            VmgsError::BadDiskSize(n) => write!(
                f,
                "VMGS disk size {n} is not a whole number of 4096-byte blocks of at least 16 KiB"
            ),
            VmgsError::NotAStateImage => {
                f.write_str("refusing to store bytes that are not a vtpm state image in file id 3")
            }
            VmgsError::ForeignTpmState => f.write_str(
                "VMGS file id 3 (TPM_NVRAM) holds state that is not a vtpm image (another TPM's NV?): refused, left untouched",
            ),
        }
    }
}

/// A block device holding a VMGS image (offset 0 = header 1).
pub trait VmgsDisk {
    /// Size in bytes of the VMGS image (without any container footer).
    fn size(&self) -> u64;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VmgsError>;
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VmgsError>;
    /// Makes every completed write durable.
    fn flush(&mut self) -> Result<(), VmgsError>;
}

impl<D: VmgsDisk + ?Sized> VmgsDisk for &mut D {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VmgsError> {
        (**self).read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VmgsError> {
        (**self).write_at(offset, data)
    }
    fn flush(&mut self) -> Result<(), VmgsError> {
        (**self).flush()
    }
}

/// A VMGS image in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemDisk(pub Vec<u8>);

fn range(offset: u64, len: usize, size: u64) -> Result<core::ops::Range<usize>, VmgsError> {
    let end = offset
        .checked_add(len as u64)
        .filter(|&e| e <= size)
        .ok_or_else(|| VmgsError::Io(format!("access at {offset}+{len} past the end ({size})")))?;
    Ok(offset as usize..end as usize)
}

impl VmgsDisk for MemDisk {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VmgsError> {
        let r = range(offset, buf.len(), self.size())?;
        buf.copy_from_slice(self.0.get(r).unwrap_or_default());
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VmgsError> {
        let r = range(offset, data.len(), self.size())?;
        if let Some(dst) = self.0.get_mut(r) {
            dst.copy_from_slice(data);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), VmgsError> {
        Ok(())
    }
}

/// Randomness for keys and nonces (`no_std` has no RNG of its own). Returns false on
/// failure. Any `FnMut(&mut [u8]) -> bool` is one.
pub trait VmgsRng {
    fn fill(&mut self, out: &mut [u8]) -> bool;
}

impl<F: FnMut(&mut [u8]) -> bool> VmgsRng for F {
    fn fill(&mut self, out: &mut [u8]) -> bool {
        self(out)
    }
}

fn random<const N: usize>(rng: &mut dyn VmgsRng) -> Result<Zeroizing<[u8; N]>, VmgsError> {
    let mut out = Zeroizing::new([0u8; N]);
    if rng.fill(out.as_mut()) {
        Ok(out)
    } else {
        Err(VmgsError::Rng)
    }
}

pub type Key = [u8; KEY_LEN];

fn cipher(key: &Key) -> aes_gcm::Aes256Gcm {
    use aes_gcm::KeyInit;
    aes_gcm::Aes256Gcm::new(&aes_gcm::Key::<aes_gcm::Aes256Gcm>::from(*key))
}

/// AES-256-GCM, no AAD, in place; returns the tag.
fn seal(key: &Key, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> Result<[u8; TAG_LEN], VmgsError> {
    use aes_gcm::AeadInOut;
    let tag = cipher(key)
        .encrypt_inout_detached(&(*nonce).into(), &[], buf.into())
        .map_err(|_| VmgsError::Corrupt("data too long to encrypt".into()))?;
    Ok(tag.into())
}

/// AES-256-GCM decryption in place; false if the tag does not verify.
fn open_sealed(key: &Key, nonce: &[u8; NONCE_LEN], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
    use aes_gcm::AeadInOut;
    cipher(key)
        .decrypt_inout_detached(&(*nonce).into(), &[], buf.into(), &(*tag).into())
        .is_ok()
}

/// One header slot as found on disk (for `info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderSlotInfo {
    pub offset: u64,
    pub slot: Slot,
}

/// A summary of an opened VMGS file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmgsInfo {
    pub capacity: u64,
    pub sector_size: u64,
    pub headers: [HeaderSlotInfo; 2],
    /// Index (0 or 1) of the active header.
    pub active: usize,
    pub encrypted: bool,
    /// Key slots in use in the active header.
    pub key_slots_used: [bool; 2],
    /// Allocated file table entries (id, entry), ids 0 and 63 included.
    pub files: Vec<(u32, FileEntry)>,
}

/// An opened VMGS file.
pub struct Vmgs<D: VmgsDisk> {
    disk: D,
    sector: u64,
    capacity_blocks: u64,
    header: Header,
    /// 0: header 1 (at 0) is active; 1: header 2 (at `sector`).
    active: usize,
    slots: [Slot; 2],
    files: [FileEntry; FILE_COUNT],
    /// The extended table in clear (plaintext stores: as stored; encrypted: once unlocked).
    ext: Option<Vec<ExtEntry>>,
    meta_key: Option<Zeroizing<Key>>,
    /// Datastore keys known for each key slot (the one that unlocked it, added ones).
    known: [Option<Zeroizing<Key>>; 2],
    /// Zero what a commit leaves unreferenced (see [`Vmgs::set_scrub`]).
    scrub: bool,
    /// The next scrub covers every unreferenced block (the file may hold stale
    /// copies from before scrubbing was on).
    full_scrub: bool,
    /// The commit-in-progress record found at open (a scrubbing commit was
    /// interrupted): the blocks it may have left set.
    pending: Option<Pending>,
}

fn check_disk(len: u64) -> Result<u64, VmgsError> {
    if !len.is_multiple_of(BLOCK_U64) || len < 4 * BLOCK_U64 {
        return Err(VmgsError::BadDiskSize(len));
    }
    Ok(len / BLOCK_U64)
}

type HeaderArea = (Vec<u8>, usize, [Slot; 2]);

/// The header area (blocks 0 and 1), the sector size and both header slots.
fn read_header_area<D: VmgsDisk>(disk: &mut D) -> Result<HeaderArea, VmgsError> {
    let mut area = vec![0u8; 2 * BLOCK];
    disk.read_at(0, &mut area)?;
    if area.get(512..520) == Some(b"EFI PART".as_slice()) {
        return Err(VmgsError::V1Format);
    }
    let at = |off: usize| Header::parse(area.get(off..).unwrap_or_default());
    // Header 2 sits at the sector size: 512, or 4096 on 4K-sector disks.
    let sector: usize = if at(512) == Slot::Empty && at(4096) != Slot::Empty {
        4096
    } else {
        512
    };
    let slots = [at(0), at(sector)];
    Ok((area, sector, slots))
}

/// Both header slots as found (offsets and contents), without any other check: for
/// diagnosing a file that does not open.
pub fn header_slots<D: VmgsDisk>(disk: &mut D) -> Result<[HeaderSlotInfo; 2], VmgsError> {
    if disk.size() < 2 * BLOCK_U64 {
        return Err(VmgsError::BadDiskSize(disk.size()));
    }
    let (_, sector, [a, b]) = read_header_area(disk)?;
    Ok([
        HeaderSlotInfo { offset: 0, slot: a },
        HeaderSlotInfo {
            offset: sector as u64,
            slot: b,
        },
    ])
}

fn slot_error(n: usize, p: SlotProblem) -> VmgsError {
    match p {
        SlotProblem::Version(v) => VmgsError::UnsupportedVersion(v),
        other => VmgsError::Corrupt(format!("header {}: {other}", n + 1)),
    }
}

impl<D: VmgsDisk> Vmgs<D> {
    /// Opens a formatted VMGS file (not yet unlocked). [`VmgsError::Empty`] if it
    /// was never formatted. Reads only.
    pub fn open(mut disk: D) -> Result<Vmgs<D>, VmgsError> {
        let capacity_blocks = check_disk(disk.size())?;
        let (area, sector, slots) = read_header_area(&mut disk)?;
        let active = match slots {
            [Slot::Invalid(p), _] => return Err(slot_error(0, p)),
            [_, Slot::Invalid(p)] => return Err(slot_error(1, p)),
            [Slot::Empty, Slot::Empty] if area.iter().all(|&b| b == 0) => {
                return Err(VmgsError::Empty);
            }
            [Slot::Empty, Slot::Empty] => {
                return Err(VmgsError::Corrupt(
                    "no header, but the header area is not empty".into(),
                ));
            }
            [Slot::Valid(_), Slot::Empty] => 0,
            [Slot::Empty, Slot::Valid(_)] => 1,
            [Slot::Valid(a), Slot::Valid(b)] => {
                if a.sequence == b.sequence.wrapping_add(1) {
                    0
                } else if b.sequence == a.sequence.wrapping_add(1) {
                    1
                } else {
                    return Err(VmgsError::Corrupt(format!(
                        "header sequence numbers {} and {} are not consecutive",
                        a.sequence, b.sequence
                    )));
                }
            }
        };
        // Nothing else lives in the header area (but the record of a scrubbing commit
        // in progress, checked on its own): any other byte set is damage.
        let pending_range = PENDING_AT..PENDING_AT + PENDING_LEN;
        let pending = Pending::decode(area.get(pending_range.clone()).unwrap_or_default())?;
        for (i, &b) in area.iter().enumerate() {
            let in_header = i < HEADER_SIZE
                || (sector..sector + HEADER_SIZE).contains(&i)
                || pending_range.contains(&i);
            if b != 0 && !in_header {
                return Err(VmgsError::Corrupt(format!(
                    "non-zero byte in the header area at offset {i}"
                )));
            }
        }
        let Some(Slot::Valid(header)) = slots.get(active).copied() else {
            return Err(VmgsError::Corrupt("no valid header".into()));
        };
        if u64::from(header.file_table_offset) >= capacity_blocks {
            return Err(VmgsError::Corrupt(format!(
                "file table block {} is past the end of the disk",
                header.file_table_offset
            )));
        }
        let mut table = vec![0u8; BLOCK];
        disk.read_at(u64::from(header.file_table_offset) * BLOCK_U64, &mut table)?;
        let files = decode_file_table(&table);
        validate_files(&header, &files, &table, capacity_blocks)?;
        let mut vmgs = Vmgs {
            disk,
            sector: sector as u64,
            capacity_blocks,
            header,
            active,
            slots,
            files,
            ext: None,
            meta_key: None,
            known: [None, None],
            scrub: false,
            full_scrub: false,
            pending,
        };
        if !vmgs.encrypted() {
            vmgs.ext = Some(match vmgs.entry(EXTENDED_TABLE_ID).copied() {
                Some(e) if e.allocated() => decode_ext_table(&vmgs.read_extent(&e)?),
                _ => default_ext(),
            });
        }
        Ok(vmgs)
    }

    /// Formats the disk as an empty VMGS file; encrypted when a datastore key is given.
    /// Overwrites whatever the disk held.
    pub fn format(
        mut disk: D,
        key: Option<&Key>,
        rng: &mut dyn VmgsRng,
    ) -> Result<Vmgs<D>, VmgsError> {
        let capacity_blocks = check_disk(disk.size())?;
        disk.write_at(0, &vec![0u8; 2 * BLOCK])?;
        disk.flush()?;
        let alg = if key.is_some() {
            ENC_AES_256_GCM
        } else {
            ENC_NONE
        };
        // Pretend header 2 (sequence 0) is active: the first commit writes header 1, sequence 1.
        let mut vmgs = Vmgs {
            disk,
            sector: 512,
            capacity_blocks,
            header: Header::new(0, FIRST_DATA_BLOCK, alg),
            active: 1,
            slots: [Slot::Empty, Slot::Empty],
            files: [FileEntry::default(); FILE_COUNT],
            ext: Some(default_ext()),
            meta_key: None,
            known: [key.map(|k| Zeroizing::new(*k)), None],
            scrub: false,
            full_scrub: false,
            pending: None,
        };
        vmgs.commit(&[], false, rng)?;
        Ok(vmgs)
    }

    /// Opens the disk, formatting it first if it is empty (both header slots zero),
    /// and unlocks it when a key is given.
    pub fn open_or_format(
        disk: D,
        key: Option<&Key>,
        rng: &mut dyn VmgsRng,
    ) -> Result<Vmgs<D>, VmgsError> {
        // An empty disk is recognised by reading only, so the disk can be handed back.
        let mut disk = disk;
        let mut probe = vec![0u8; 2 * BLOCK];
        if disk.size() >= 2 * BLOCK_U64 {
            disk.read_at(0, &mut probe)?;
            if probe.iter().all(|&b| b == 0) {
                return Vmgs::format(disk, key, rng);
            }
        }
        Vmgs::open_with_key(disk, key)
    }

    /// [`Vmgs::open`], then [`Vmgs::unlock`] when a key is given. An encrypted file
    /// without a key opens locked (file table only).
    pub fn open_with_key(disk: D, key: Option<&Key>) -> Result<Vmgs<D>, VmgsError> {
        let mut vmgs = Vmgs::open(disk)?;
        if let Some(k) = key {
            vmgs.unlock(k)?;
        }
        Ok(vmgs)
    }

    pub fn encrypted(&self) -> bool {
        self.header.encryption_algorithm == ENC_AES_256_GCM
    }

    pub fn unlocked(&self) -> bool {
        self.ext.is_some()
    }

    pub fn into_disk(self) -> D {
        self.disk
    }

    fn entry(&self, id: u32) -> Option<&FileEntry> {
        self.files.get(id as usize)
    }

    fn read_extent(&mut self, e: &FileEntry) -> Result<Zeroizing<Vec<u8>>, VmgsError> {
        let len = usize::try_from(e.valid_data_size)
            .map_err(|_| VmgsError::Corrupt("file too large".into()))?;
        let mut buf = Zeroizing::new(vec![0u8; len]);
        self.disk
            .read_at(u64::from(e.offset) * BLOCK_U64, &mut buf)?;
        Ok(buf)
    }

    /// Unlocks an encrypted file with a datastore key, trying key slot 0 then 1.
    pub fn unlock(&mut self, key: &Key) -> Result<(), VmgsError> {
        if !self.encrypted() {
            return Err(VmgsError::NotEncrypted);
        }
        if self.header.key_slots.iter().all(KeySlot::is_empty) {
            return Err(VmgsError::Corrupt("encrypted file has no key slot".into()));
        }
        let ext_entry = self
            .entry(EXTENDED_TABLE_ID)
            .copied()
            .ok_or_else(|| VmgsError::Corrupt("no extended file table".into()))?;
        for (i, slot) in self.header.key_slots.iter().enumerate() {
            if slot.is_empty() {
                continue;
            }
            let mut meta = Zeroizing::new(slot.encrypted_key);
            if !open_sealed(key, &slot.nonce, meta.as_mut(), &slot.tag) {
                continue;
            }
            let mut table = self.read_extent(&ext_entry)?;
            if !open_sealed(&meta, &ext_entry.nonce, &mut table, &ext_entry.tag) {
                return Err(VmgsError::Corrupt(
                    "the extended file table fails authentication".into(),
                ));
            }
            let ext = decode_ext_table(&table);
            for (id, (e, x)) in self.files.iter().zip(ext.iter()).enumerate() {
                let data_file = id != 0 && id != EXTENDED_TABLE_ID as usize;
                if data_file && e.allocated() && e.attributes != x.attributes {
                    return Err(VmgsError::Corrupt(format!(
                        "file {id}: attributes {:#x} differ from the authenticated {:#x}",
                        e.attributes, x.attributes
                    )));
                }
            }
            self.ext = Some(ext);
            self.meta_key = Some(meta);
            if let Some(k) = self.known.get_mut(i) {
                *k = Some(Zeroizing::new(*key));
            }
            return Ok(());
        }
        Err(VmgsError::WrongKey)
    }

    fn check_id(id: u32) -> Result<usize, VmgsError> {
        if id == FILE_TABLE_ID || id >= EXTENDED_TABLE_ID {
            return Err(VmgsError::BadFileId(id));
        }
        Ok(id as usize)
    }

    /// Whether the file id holds data.
    pub fn has_file(&self, id: u32) -> bool {
        Self::check_id(id).is_ok() && self.entry(id).is_some_and(FileEntry::allocated)
    }

    /// The contents of a file id (1..=62).
    pub fn read_file(&mut self, id: u32) -> Result<Zeroizing<Vec<u8>>, VmgsError> {
        let idx = Self::check_id(id)?;
        let e = self
            .files
            .get(idx)
            .copied()
            .filter(FileEntry::allocated)
            .ok_or(VmgsError::FileNotFound(id))?;
        let mut data = self.read_extent(&e)?;
        if e.attributes & ATTR_ENCRYPTED != 0 {
            let key = match &self.ext {
                Some(ext) if self.encrypted() => ext.get(idx).map(|x| Zeroizing::new(x.key)),
                _ => None,
            }
            .ok_or(VmgsError::Locked)?;
            if !open_sealed(&key, &e.nonce, &mut data, &e.tag) {
                return Err(VmgsError::Corrupt(format!(
                    "file {id} fails authentication"
                )));
            }
        } else if self.encrypted() && !self.unlocked() {
            // Plain files in an encrypted store are only trusted once the
            // authenticated extended table vouched for their attributes.
            return Err(VmgsError::Locked);
        }
        Ok(data)
    }

    /// vtpm's state in file id 3: `None` when absent; refuses a payload that is not a
    /// vtpm state image (the file is left as it is).
    pub fn read_vtpm_state(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, VmgsError> {
        if !self.has_file(file_id::TPM_NVRAM) {
            return Ok(None);
        }
        let data = self.read_file(file_id::TPM_NVRAM)?;
        if !is_state_image(&data) {
            return Err(VmgsError::ForeignTpmState);
        }
        Ok(Some(data))
    }

    /// Stores vtpm's state image in file id 3. A file id 3 that holds something else
    /// (another engine's NV image) is refused and left as it is, never overwritten;
    /// `image` must itself be a vtpm state image.
    pub fn write_vtpm_state(
        &mut self,
        image: &[u8],
        rng: &mut dyn VmgsRng,
    ) -> Result<(), VmgsError> {
        if !is_state_image(image) {
            return Err(VmgsError::NotAStateImage);
        }
        self.read_vtpm_state()?;
        self.write_file(file_id::TPM_NVRAM, image, rng)
    }

    /// Replaces a file id (1..=62) atomically (copy-on-write, then the header flip).
    pub fn write_file(
        &mut self,
        id: u32,
        data: &[u8],
        rng: &mut dyn VmgsRng,
    ) -> Result<(), VmgsError> {
        Self::check_id(id)?;
        self.commit(&[(id, data)], false, rng)
    }

    /// Adds a datastore key in the free key slot.
    pub fn add_key(&mut self, key: &Key, rng: &mut dyn VmgsRng) -> Result<(), VmgsError> {
        self.require_unlocked()?;
        let free = self
            .known
            .iter()
            .position(Option::is_none)
            .ok_or(VmgsError::NoFreeKeySlot)?;
        if let Some(k) = self.known.get_mut(free) {
            *k = Some(Zeroizing::new(*key));
        }
        let r = self.commit(&[], false, rng);
        if r.is_err() {
            // The key is not on disk: forget it.
            if let Some(k) = self.known.get_mut(free) {
                *k = None;
            }
        }
        r
    }

    /// Removes a datastore key (not the last one). The header is committed twice so the
    /// inactive header does not keep a slot for the removed key either.
    pub fn remove_key(&mut self, key: &Key, rng: &mut dyn VmgsRng) -> Result<(), VmgsError> {
        self.require_unlocked()?;
        let slot = self
            .known
            .iter()
            .position(|k| {
                k.as_ref()
                    .is_some_and(|k| vtpm_crypto::ct_eq(k.as_ref(), key))
            })
            .ok_or(VmgsError::UnknownKey)?;
        if self.known.iter().filter(|k| k.is_some()).count() < 2 {
            return Err(VmgsError::LastKey);
        }
        let old = self.known.get_mut(slot).and_then(Option::take);
        if let Err(e) = self.commit(&[], false, rng) {
            if let Some(k) = self.known.get_mut(slot) {
                *k = old;
            }
            return Err(e);
        }
        self.commit(&[], false, rng)
    }

    /// Key rotation: the new key goes into the other slot (both open the file), then
    /// every file is re-encrypted with fresh keys under a fresh metadata key wrapped
    /// only by the new key, and the header is committed once more so that neither
    /// header slot holds the old key.
    pub fn rotate_key(&mut self, new: &Key, rng: &mut dyn VmgsRng) -> Result<(), VmgsError> {
        self.require_unlocked()?;
        // Only the new key survives: forget any other known key first.
        let current = self
            .known
            .iter()
            .position(Option::is_some)
            .ok_or(VmgsError::Locked)?;
        let other = 1 - current;
        let kept = self.known.get_mut(other).and_then(Option::take);
        if let Some(k) = self.known.get_mut(other) {
            *k = Some(Zeroizing::new(*new));
        }
        if let Err(e) = self.commit(&[], false, rng) {
            if let Some(k) = self.known.get_mut(other) {
                *k = kept;
            }
            return Err(e);
        }
        if let Some(k) = self.known.get_mut(current) {
            *k = None;
        }
        self.commit(&[], true, rng)?;
        self.commit(&[], false, rng)
    }

    fn require_unlocked(&self) -> Result<(), VmgsError> {
        if !self.encrypted() {
            return Err(VmgsError::NotEncrypted);
        }
        if self.meta_key.is_none() {
            return Err(VmgsError::Locked);
        }
        Ok(())
    }

    /// Headers and file table, for operators.
    pub fn info(&self) -> VmgsInfo {
        VmgsInfo {
            capacity: self.capacity_blocks * BLOCK_U64,
            sector_size: self.sector,
            headers: [
                HeaderSlotInfo {
                    offset: 0,
                    slot: self.slots[0],
                },
                HeaderSlotInfo {
                    offset: self.sector,
                    slot: self.slots[1],
                },
            ],
            active: self.active,
            encrypted: self.encrypted(),
            key_slots_used: [
                !self.header.key_slots[0].is_empty(),
                !self.header.key_slots[1].is_empty(),
            ],
            files: (0u32..)
                .zip(self.files.iter())
                .filter(|(_, e)| e.allocated())
                .map(|(i, e)| (i, *e))
                .collect(),
        }
    }

    /// Reads and authenticates every file; returns the ids checked.
    pub fn verify(&mut self) -> Result<Vec<u32>, VmgsError> {
        let ids: Vec<u32> = (1..EXTENDED_TABLE_ID)
            .filter(|&i| self.has_file(i))
            .collect();
        for &id in &ids {
            self.read_file(id)?;
        }
        Ok(ids)
    }

    /// One copy-on-write update: `writes` (and, with `rewrite_all`, every other file)
    /// to new blocks with fresh keys, a new extended table under a fresh metadata key,
    /// a new file table, flush, then the header to the inactive slot, flush. The
    /// in-memory state changes only once the header is on disk.
    fn commit(
        &mut self,
        writes: &[(u32, &[u8])],
        rewrite_all: bool,
        rng: &mut dyn VmgsRng,
    ) -> Result<(), VmgsError> {
        let encrypted = self.encrypted();
        let mut ext = self.ext.clone().ok_or(VmgsError::Locked)?;
        let mut files = self.files;
        let mut alloc = Allocator::new(&self.files, self.capacity_blocks);

        let mut rewritten: Vec<(u32, Zeroizing<Vec<u8>>)> = Vec::new();
        if rewrite_all {
            for id in 1..EXTENDED_TABLE_ID {
                if self.has_file(id) && !writes.iter().any(|(w, _)| *w == id) {
                    rewritten.push((id, self.read_file(id)?));
                }
            }
        }
        let all: Vec<(u32, &[u8])> = writes
            .iter()
            .map(|(id, d)| (*id, *d))
            .chain(rewritten.iter().map(|(id, d)| (*id, d.as_slice())))
            .collect();
        if self.scrub {
            self.record_pending(&all)?;
        }
        for (id, data) in all {
            let blocks = blocks_for(data.len() as u64);
            let offset = alloc.take(blocks)?;
            let mut buf = Zeroizing::new(vec![0u8; (blocks as usize) * BLOCK]);
            let body = buf
                .get_mut(..data.len())
                .ok_or_else(|| VmgsError::Corrupt("allocation too small".into()))?;
            body.copy_from_slice(data);
            let mut entry = FileEntry {
                offset,
                allocation_size: u32::try_from(blocks).map_err(|_| VmgsError::NoSpace)?,
                valid_data_size: data.len() as u64,
                ..FileEntry::default()
            };
            let mut x = ExtEntry::default();
            if encrypted {
                let key = random::<KEY_LEN>(rng)?;
                let nonce = random::<NONCE_LEN>(rng)?;
                entry.tag = seal(&key, &nonce, body)?;
                entry.nonce = *nonce;
                entry.attributes = ATTR_ENCRYPTED | ATTR_AUTHENTICATED;
                x.attributes = entry.attributes;
                x.key = *key;
            }
            self.disk.write_at(u64::from(offset) * BLOCK_U64, &buf)?;
            if let (Some(f), Some(e)) = (files.get_mut(id as usize), ext.get_mut(id as usize)) {
                *f = entry;
                *e = x;
            }
        }

        // The extended table (per-file keys), under a fresh metadata key.
        let mut table = encode_ext_table(&ext);
        let ext_off = alloc.take(1)?;
        let mut ext_entry = FileEntry {
            offset: ext_off,
            allocation_size: 1,
            valid_data_size: BLOCK_U64,
            ..FileEntry::default()
        };
        let meta = if encrypted {
            let meta = random::<KEY_LEN>(rng)?;
            let nonce = random::<NONCE_LEN>(rng)?;
            ext_entry.tag = seal(&meta, &nonce, &mut table)?;
            ext_entry.nonce = *nonce;
            ext_entry.attributes = ATTR_ENCRYPTED | ATTR_AUTHENTICATED;
            Some(meta)
        } else {
            None
        };
        self.disk.write_at(u64::from(ext_off) * BLOCK_U64, &table)?;
        if let Some(f) = files.get_mut(EXTENDED_TABLE_ID as usize) {
            *f = ext_entry;
        }

        let ft_off = alloc.take(1)?;
        if let Some(f) = files.get_mut(FILE_TABLE_ID as usize) {
            *f = FileEntry {
                offset: ft_off,
                allocation_size: 1,
                valid_data_size: BLOCK_U64,
                ..FileEntry::default()
            };
        }
        self.disk
            .write_at(u64::from(ft_off) * BLOCK_U64, &encode_file_table(&files))?;
        self.disk.flush()?;

        let mut header = Header::new(
            self.header.sequence.wrapping_add(1),
            ft_off,
            self.header.encryption_algorithm,
        );
        header.markers = self.header.markers;
        if let Some(meta) = &meta {
            for (slot, known) in header.key_slots.iter_mut().zip(self.known.iter()) {
                if let Some(k) = known {
                    let nonce = random::<NONCE_LEN>(rng)?;
                    let mut wrapped = Zeroizing::new(**meta);
                    slot.tag = seal(k, &nonce, wrapped.as_mut())?;
                    slot.nonce = *nonce;
                    slot.encrypted_key = *wrapped;
                }
            }
        }
        let target = 1 - self.active;
        let mut sector = vec![0u8; self.sector as usize];
        if let Some(dst) = sector.get_mut(..HEADER_SIZE) {
            dst.copy_from_slice(&header.encode());
        }
        let at = if target == 0 { 0 } else { self.sector };
        self.disk.write_at(at, &sector)?;
        self.disk.flush()?;
        let old_files = self.files;
        let old_at = if target == 0 { self.sector } else { 0 };

        if let Some(s) = self.slots.get_mut(target) {
            *s = Slot::Valid(header);
        }
        self.active = target;
        self.header = header;
        self.files = files;
        self.ext = Some(ext);
        if encrypted {
            self.meta_key = meta;
            // Slots nobody knows the key of were not re-wrapped: they are gone.
        }
        if self.scrub {
            self.scrub_after_commit(&old_files, old_at)?;
        } else if self.pending.take().is_some() {
            // A writer that does not scrub (e.g. `vtpm vmgs write`) after an interrupted
            // scrubbing commit: the record no longer describes what is set, drop it (the
            // next scrubbing commit scrubs everything, the previous header being present).
            self.disk.write_at(PENDING_AT as u64, &[0u8; PENDING_LEN])?;
            self.disk.flush()?;
        }
        Ok(())
    }

    /// With scrubbing on, every commit zeroes the blocks only the previous header
    /// referenced, then that header: afterwards every byte the active header does not
    /// reference is zero, so [`Vmgs::check_unallocated`] can treat any other byte as
    /// tampering. A crash in between leaves the previous header in place, and the check
    /// then accepts leftovers (it cannot tell them from tampering, but they are never read).
    pub fn set_scrub(&mut self, on: bool) {
        self.scrub = on;
        self.full_scrub = on && self.slots.get(1 - self.active) != Some(&Slot::Empty);
    }

    /// Before a scrubbing commit writes anything: records the blocks it will write
    /// (the allocator is deterministic) and those it will zero afterwards, so that an
    /// interruption is told apart from tampering at the next open.
    fn record_pending(&mut self, all: &[(u32, &[u8])]) -> Result<(), VmgsError> {
        let mut plan = Allocator::new(&self.files, self.capacity_blocks);
        let mut extents: Vec<(u64, u64)> = self
            .files
            .iter()
            .filter(|e| e.allocated())
            .map(|e| (u64::from(e.offset), e.end_block()))
            .collect();
        for (_, data) in all {
            let blocks = blocks_for(data.len() as u64);
            let at = u64::from(plan.take(blocks)?);
            extents.push((at, at + blocks));
        }
        for _ in 0..2 {
            let at = u64::from(plan.take(1)?);
            extents.push((at, at + 1));
        }
        let extents = merge_extents(extents);
        let record = if self.full_scrub || extents.len() > PENDING_MAX {
            Pending::All
        } else {
            Pending::Extents(extents)
        };
        self.disk.write_at(PENDING_AT as u64, &record.encode())?;
        self.disk.flush()
    }

    fn scrub_after_commit(
        &mut self,
        old_files: &[FileEntry; FILE_COUNT],
        old_header_at: u64,
    ) -> Result<(), VmgsError> {
        let live = self.live_blocks();
        let zero = vec![0u8; BLOCK];
        if self.full_scrub {
            let mut buf = vec![0u8; BLOCK];
            for b in u64::from(FIRST_DATA_BLOCK)..self.capacity_blocks {
                if !live.contains(&b) {
                    self.disk.read_at(b * BLOCK_U64, &mut buf)?;
                    if buf.iter().any(|&x| x != 0) {
                        self.disk.write_at(b * BLOCK_U64, &zero)?;
                    }
                }
            }
            self.full_scrub = false;
        }
        for e in old_files.iter().filter(|e| e.allocated()) {
            for b in u64::from(e.offset)..u64::from(e.offset) + u64::from(e.allocation_size) {
                if b >= FIRST_DATA_BLOCK.into() && b < self.capacity_blocks && !live.contains(&b) {
                    self.disk.write_at(b * BLOCK_U64, &zero)?;
                }
            }
        }
        self.disk.flush()?;
        let sector = vec![0u8; self.sector as usize];
        self.disk.write_at(old_header_at, &sector)?;
        self.disk.flush()?;
        if let Some(s) = self.slots.get_mut(1 - self.active) {
            *s = Slot::Empty;
        }
        // The commit is complete: nothing unreferenced is left set.
        self.disk.write_at(PENDING_AT as u64, &[0u8; PENDING_LEN])?;
        self.disk.flush()?;
        self.pending = None;
        Ok(())
    }

    /// Blocks referenced by the active header (file table, extended table, files).
    fn live_blocks(&self) -> alloc::collections::BTreeSet<u64> {
        self.files
            .iter()
            .filter(|e| e.allocated())
            .flat_map(|e| u64::from(e.offset)..u64::from(e.offset) + u64::from(e.allocation_size))
            .collect()
    }

    /// Checks that no byte outside what the active header references is set (nor the
    /// padding after a file's data in its last block): for a file kept with
    /// [`Vmgs::set_scrub`], any such byte is damage or tampering. Skipped while the
    /// previous header is still present (a commit's scrub was interrupted, or the
    /// file was written without scrubbing). Reads only.
    pub fn check_unallocated(&mut self) -> Result<(), VmgsError> {
        if self.slots.get(1 - self.active) != Some(&Slot::Empty) && self.pending.is_none() {
            return Ok(());
        }
        let live = self.live_blocks();
        let mut buf = vec![0u8; BLOCK];
        for b in u64::from(FIRST_DATA_BLOCK)..self.capacity_blocks {
            if live.contains(&b) || self.pending.as_ref().is_some_and(|p| p.covers(b)) {
                continue;
            }
            self.disk.read_at(b * BLOCK_U64, &mut buf)?;
            if buf.iter().any(|&x| x != 0) {
                return Err(VmgsError::Corrupt(format!("data in unallocated block {b}")));
            }
        }
        for (id, e) in self.files.iter().enumerate().filter(|(_, e)| e.allocated()) {
            let end = (u64::from(e.offset) + u64::from(e.allocation_size)) * BLOCK_U64;
            let data_end = u64::from(e.offset) * BLOCK_U64 + e.valid_data_size;
            if data_end < end {
                let mut pad = vec![0u8; usize::try_from(end - data_end).unwrap_or(0)];
                self.disk.read_at(data_end, &mut pad)?;
                if pad.iter().any(|&x| x != 0) {
                    return Err(VmgsError::Corrupt(format!("file {id}: data after its end")));
                }
            }
        }
        Ok(())
    }
}

/// Whether the bytes start like a vtpm state image (its magic); the image's own
/// decoder checks the rest.
fn is_state_image(data: &[u8]) -> bool {
    data.get(..crate::image::MAGIC.len()) == Some(crate::image::MAGIC.as_slice())
}

fn default_ext() -> Vec<ExtEntry> {
    (0..FILE_COUNT).map(|_| ExtEntry::default()).collect()
}

/// The file table's own rules: every allocated extent in range, sized for its data and
/// apart from the others; unallocated entries all zero; attributes as the store's mode
/// allows. Entry 0 describes the table itself.
fn validate_files(
    header: &Header,
    files: &[FileEntry; FILE_COUNT],
    raw: &[u8],
    capacity_blocks: u64,
) -> Result<(), VmgsError> {
    let encrypted = header.encryption_algorithm == ENC_AES_256_GCM;
    let mut extents: Vec<(u64, u64, usize)> = Vec::new();
    for (id, e) in files.iter().enumerate() {
        let raw_entry = raw
            .get(id * ENTRY_SIZE..(id + 1) * ENTRY_SIZE)
            .unwrap_or_default();
        if !e.allocated() {
            if raw_entry.iter().any(|&b| b != 0) {
                return Err(VmgsError::Corrupt(format!(
                    "file {id}: unallocated entry is not empty"
                )));
            }
            continue;
        }
        check_extent(id, e, capacity_blocks)?;
        if e.reserved != [0; 16] {
            return Err(VmgsError::Corrupt(format!("file {id}: reserved bytes set")));
        }
        let attrs_ok = match e.attributes {
            0 => true,
            a if a == ATTR_ENCRYPTED | ATTR_AUTHENTICATED => encrypted,
            _ => false,
        };
        if !attrs_ok {
            return Err(VmgsError::Corrupt(format!(
                "file {id}: attributes {:#x} invalid here",
                e.attributes
            )));
        }
        if e.attributes == 0 && (e.nonce != [0; NONCE_LEN] || e.tag != [0; TAG_LEN]) {
            return Err(VmgsError::Corrupt(format!(
                "file {id}: nonce or tag set on a plain file"
            )));
        }
        extents.push((u64::from(e.offset), e.end_block(), id));
    }
    let Some(table) = files.first() else {
        return Err(VmgsError::Corrupt("no file table".into()));
    };
    if table.offset != header.file_table_offset
        || table.allocation_size != 1
        || table.valid_data_size != BLOCK_U64
        || table.attributes != 0
    {
        return Err(VmgsError::Corrupt(
            "file table entry 0 does not describe the file table".into(),
        ));
    }
    if let Some(x) = files.get(EXTENDED_TABLE_ID as usize) {
        let want = if encrypted {
            ATTR_ENCRYPTED | ATTR_AUTHENTICATED
        } else {
            0
        };
        if (encrypted || x.allocated())
            && (!x.allocated() || x.valid_data_size != BLOCK_U64 || x.attributes != want)
        {
            return Err(VmgsError::Corrupt(
                "extended file table entry is invalid".into(),
            ));
        }
    }
    extents.sort_unstable();
    for pair in extents.windows(2) {
        if let [(_, end_a, id_a), (start_b, _, id_b)] = pair
            && start_b < end_a
        {
            {
                return Err(VmgsError::Corrupt(format!(
                    "files {id_a} and {id_b} overlap"
                )));
            }
        }
    }
    Ok(())
}

/// Best-fit allocation over the gaps between referenced extents (the current copies
/// stay untouched) and those taken in this update.
/// Where a scrubbing store records the commit in progress (see [`Vmgs::set_scrub`]):
/// one 512-byte sector in block 0 outside both header slots.
const PENDING_AT: usize = 2048;
const PENDING_LEN: usize = 512;
const PENDING_MAGIC: &[u8; 8] = b"VTPMPEND";
/// Extent count meaning "any block": a full scrub is in progress.
const PENDING_ALL: u32 = u32::MAX;
const PENDING_MAX: usize = (PENDING_LEN - 8 - 4 - 4) / 8;

/// Blocks an interrupted commit may have left set outside the active data.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    All,
    Extents(Vec<(u64, u64)>),
}

impl Pending {
    fn covers(&self, block: u64) -> bool {
        match self {
            Pending::All => true,
            Pending::Extents(v) => v.iter().any(|(s, e)| (*s..*e).contains(&block)),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = PENDING_MAGIC.to_vec();
        match self {
            Pending::All => v.extend_from_slice(&PENDING_ALL.to_be_bytes()),
            Pending::Extents(x) => {
                v.extend_from_slice(&(x.len() as u32).to_be_bytes());
                for (s, e) in x {
                    v.extend_from_slice(&(*s as u32).to_be_bytes());
                    v.extend_from_slice(&((*e - *s) as u32).to_be_bytes());
                }
            }
        }
        let crc = crc32(&v);
        v.extend_from_slice(&crc.to_be_bytes());
        v.resize(PENDING_LEN, 0);
        v
    }

    /// `None`: no commit in progress (all zero); `Err`: damaged.
    fn decode(b: &[u8]) -> Result<Option<Pending>, VmgsError> {
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        let bad =
            || VmgsError::Corrupt("damaged commit-in-progress record in the header area".into());
        if b.get(..8) != Some(&PENDING_MAGIC[..]) {
            return Err(bad());
        }
        let word = |off: usize| -> Result<u32, VmgsError> {
            Ok(u32::from_be_bytes(
                b.get(off..off + 4)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            ))
        };
        let count = word(8)?;
        let (pending, body_end) = if count == PENDING_ALL {
            (Pending::All, 12)
        } else {
            let n = count as usize;
            if n > PENDING_MAX {
                return Err(bad());
            }
            let mut x = Vec::with_capacity(n);
            for i in 0..n {
                let start = u64::from(word(12 + 8 * i)?);
                x.push((start, start + u64::from(word(16 + 8 * i)?)));
            }
            (Pending::Extents(x), 12 + 8 * n)
        };
        let body = b.get(..body_end).ok_or_else(bad)?;
        if word(body_end)? != crc32(body)
            || b.get(body_end + 4..)
                .is_some_and(|r| r.iter().any(|&x| x != 0))
        {
            return Err(bad());
        }
        Ok(Some(pending))
    }
}

fn merge_extents(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

struct Allocator {
    used: Vec<(u64, u64)>,
    capacity: u64,
}

impl Allocator {
    fn new(files: &[FileEntry; FILE_COUNT], capacity: u64) -> Allocator {
        let used = files
            .iter()
            .filter(|e| e.allocated())
            .map(|e| (u64::from(e.offset), e.end_block()))
            .collect();
        Allocator { used, capacity }
    }

    fn take(&mut self, blocks: u64) -> Result<u32, VmgsError> {
        self.used.sort_unstable();
        let mut best: Option<(u64, u64)> = None; // (gap size, start)
        let mut cursor = u64::from(FIRST_DATA_BLOCK);
        let ends = self
            .used
            .iter()
            .copied()
            .chain([(self.capacity, self.capacity)]);
        for (start, end) in ends {
            if start > cursor {
                let gap = start - cursor;
                if gap >= blocks && best.is_none_or(|(g, _)| gap < g) {
                    best = Some((gap, cursor));
                }
            }
            cursor = cursor.max(end);
        }
        let (_, start) = best.ok_or(VmgsError::NoSpace)?;
        let offset = u32::try_from(start).map_err(|_| VmgsError::NoSpace)?;
        self.used.push((start, start + blocks));
        Ok(offset)
    }
}
