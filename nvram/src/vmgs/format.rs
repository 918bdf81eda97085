//! VMGS v3 on-disk structures (see shared/docs/vmgs-format.md): the 168-byte header
//! with its two 64-byte key slots, the 64-entry file table and the 64-entry extended
//! file table. All integers little-endian. Parsing never panics: every structure is
//! decoded from a buffer of its exact size.

use super::VmgsError;
use alloc::format;

pub const BLOCK: usize = 4096;
pub const BLOCK_U64: u64 = 4096;
pub const SIGNATURE: [u8; 8] = *b"GUESTRTS";
pub const VERSION_3: u32 = 0x0003_0000;
pub const HEADER_SIZE: usize = 168;
pub const KEY_SLOT_SIZE: usize = 64;
pub const ENTRY_SIZE: usize = 64;
pub const FILE_COUNT: usize = 64;
/// File ids with a fixed role.
pub const FILE_TABLE_ID: u32 = 0;
pub const EXTENDED_TABLE_ID: u32 = 63;
/// First block that may hold data (blocks 0 and 1 hold the two header sectors).
pub const FIRST_DATA_BLOCK: u32 = 2;
pub const ENC_NONE: u16 = 0;
pub const ENC_AES_256_GCM: u16 = 1;
/// File attributes.
pub const ATTR_ENCRYPTED: u32 = 1;
pub const ATTR_AUTHENTICATED: u32 = 2;

pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
pub const KEY_LEN: usize = 32;

/// `N` bytes of `b` at `off` (zeros if out of range: callers pass buffers of a known
/// size, so this never happens on a well-formed call).
pub fn bytes<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = off.checked_add(N).and_then(|end| b.get(off..end)) {
        out.copy_from_slice(src);
    }
    out
}

pub fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(bytes(b, off))
}

pub fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(bytes(b, off))
}

pub fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(bytes(b, off))
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    if let Some(dst) = off.checked_add(v.len()).and_then(|end| b.get_mut(off..end)) {
        dst.copy_from_slice(v);
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib's crc32).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// One key slot: the metadata key wrapped (AES-256-GCM) by a datastore key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeySlot {
    pub nonce: [u8; NONCE_LEN],
    pub reserved: u32,
    pub tag: [u8; TAG_LEN],
    pub encrypted_key: [u8; KEY_LEN],
}

impl KeySlot {
    pub fn is_empty(&self) -> bool {
        *self == KeySlot::default()
    }

    fn decode(b: &[u8]) -> KeySlot {
        KeySlot {
            nonce: bytes(b, 0),
            reserved: le32(b, 12),
            tag: bytes(b, 16),
            encrypted_key: bytes(b, 32),
        }
    }

    fn encode(&self, b: &mut [u8]) {
        put(b, 0, &self.nonce);
        put(b, 12, &self.reserved.to_le_bytes());
        put(b, 16, &self.tag);
        put(b, 32, &self.encrypted_key);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub checksum: u32,
    pub sequence: u32,
    pub header_size: u32,
    pub file_table_offset: u32,
    pub file_table_size: u32,
    pub encryption_algorithm: u16,
    pub markers: u16,
    pub key_slots: [KeySlot; 2],
    pub reserved: u32,
}

/// What a header slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// All zero: never written.
    Empty,
    Valid(Header),
    /// Written but not a valid v3 header; the reason.
    Invalid(SlotProblem),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotProblem {
    Signature,
    Version(u32),
    HeaderSize(u32),
    Checksum,
    FileTable,
    Encryption(u16),
}

impl core::fmt::Display for SlotProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SlotProblem::Signature => f.write_str("no GUESTRTS signature"),
            SlotProblem::Version(v) => write!(f, "version {v:#010x} is not 3.0"),
            SlotProblem::HeaderSize(s) => write!(f, "header size {s} is not 168"),
            SlotProblem::Checksum => f.write_str("CRC-32 mismatch"),
            SlotProblem::FileTable => f.write_str("file table offset/size out of range"),
            SlotProblem::Encryption(a) => write!(f, "unknown encryption algorithm {a}"),
        }
    }
}

impl Header {
    pub fn new(sequence: u32, file_table_offset: u32, encryption_algorithm: u16) -> Header {
        Header {
            version: VERSION_3,
            checksum: 0,
            sequence,
            header_size: HEADER_SIZE as u32,
            file_table_offset,
            file_table_size: 1,
            encryption_algorithm,
            markers: 0,
            key_slots: [KeySlot::default(); 2],
            reserved: 0,
        }
    }

    /// Decodes a header slot (at least `HEADER_SIZE` bytes; only those are read).
    pub fn parse(b: &[u8]) -> Slot {
        let Some(raw) = b.get(..HEADER_SIZE) else {
            return Slot::Invalid(SlotProblem::Signature);
        };
        if raw.iter().all(|&x| x == 0) {
            return Slot::Empty;
        }
        if bytes::<8>(raw, 0) != SIGNATURE {
            return Slot::Invalid(SlotProblem::Signature);
        }
        let h = Header {
            version: le32(raw, 0x08),
            checksum: le32(raw, 0x0C),
            sequence: le32(raw, 0x10),
            header_size: le32(raw, 0x14),
            file_table_offset: le32(raw, 0x18),
            file_table_size: le32(raw, 0x1C),
            encryption_algorithm: le16(raw, 0x20),
            markers: le16(raw, 0x22),
            key_slots: [
                KeySlot::decode(raw.get(0x24..0x64).unwrap_or(&[])),
                KeySlot::decode(raw.get(0x64..0xA4).unwrap_or(&[])),
            ],
            reserved: le32(raw, 0xA4),
        };
        if h.version != VERSION_3 {
            return Slot::Invalid(SlotProblem::Version(h.version));
        }
        if h.header_size as usize != HEADER_SIZE {
            return Slot::Invalid(SlotProblem::HeaderSize(h.header_size));
        }
        let mut copy = [0u8; HEADER_SIZE];
        copy.copy_from_slice(raw);
        put(&mut copy, 0x0C, &[0; 4]);
        if crc32(&copy) != h.checksum {
            return Slot::Invalid(SlotProblem::Checksum);
        }
        if h.file_table_offset < FIRST_DATA_BLOCK || h.file_table_size != 1 {
            return Slot::Invalid(SlotProblem::FileTable);
        }
        if h.encryption_algorithm > ENC_AES_256_GCM {
            return Slot::Invalid(SlotProblem::Encryption(h.encryption_algorithm));
        }
        Slot::Valid(h)
    }

    /// The 168 bytes with a freshly computed checksum.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        put(&mut b, 0, &SIGNATURE);
        put(&mut b, 0x08, &self.version.to_le_bytes());
        put(&mut b, 0x10, &self.sequence.to_le_bytes());
        put(&mut b, 0x14, &self.header_size.to_le_bytes());
        put(&mut b, 0x18, &self.file_table_offset.to_le_bytes());
        put(&mut b, 0x1C, &self.file_table_size.to_le_bytes());
        put(&mut b, 0x20, &self.encryption_algorithm.to_le_bytes());
        put(&mut b, 0x22, &self.markers.to_le_bytes());
        for (i, slot) in self.key_slots.iter().enumerate() {
            let off = 0x24 + i * KEY_SLOT_SIZE;
            if let Some(dst) = b.get_mut(off..off + KEY_SLOT_SIZE) {
                slot.encode(dst);
            }
        }
        put(&mut b, 0xA4, &self.reserved.to_le_bytes());
        let crc = crc32(&b);
        put(&mut b, 0x0C, &crc.to_le_bytes());
        b
    }
}

/// One file table entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileEntry {
    pub offset: u32,
    pub allocation_size: u32,
    pub valid_data_size: u64,
    pub nonce: [u8; NONCE_LEN],
    pub tag: [u8; TAG_LEN],
    pub attributes: u32,
    pub reserved: [u8; 16],
}

impl FileEntry {
    pub fn allocated(&self) -> bool {
        self.allocation_size != 0
    }

    pub fn end_block(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.allocation_size)
    }

    fn decode(b: &[u8]) -> FileEntry {
        FileEntry {
            offset: le32(b, 0),
            allocation_size: le32(b, 4),
            valid_data_size: le64(b, 8),
            nonce: bytes(b, 0x10),
            tag: bytes(b, 0x1C),
            attributes: le32(b, 0x2C),
            reserved: bytes(b, 0x30),
        }
    }

    fn encode(&self, b: &mut [u8]) {
        put(b, 0, &self.offset.to_le_bytes());
        put(b, 4, &self.allocation_size.to_le_bytes());
        put(b, 8, &self.valid_data_size.to_le_bytes());
        put(b, 0x10, &self.nonce);
        put(b, 0x1C, &self.tag);
        put(b, 0x2C, &self.attributes.to_le_bytes());
        put(b, 0x30, &self.reserved);
    }
}

pub fn decode_file_table(b: &[u8]) -> [FileEntry; FILE_COUNT] {
    core::array::from_fn(|i| {
        FileEntry::decode(b.get(i * ENTRY_SIZE..(i + 1) * ENTRY_SIZE).unwrap_or(&[]))
    })
}

pub fn encode_file_table(t: &[FileEntry; FILE_COUNT]) -> alloc::vec::Vec<u8> {
    let mut b = alloc::vec![0u8; BLOCK];
    for (i, e) in t.iter().enumerate() {
        if let Some(dst) = b.get_mut(i * ENTRY_SIZE..(i + 1) * ENTRY_SIZE) {
            e.encode(dst);
        }
    }
    b
}

/// One extended file table entry: the per-file key.
#[derive(Clone, Debug, Default, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct ExtEntry {
    pub attributes: u32,
    pub key: [u8; KEY_LEN],
    pub reserved: [u8; 28],
}

pub fn decode_ext_table(b: &[u8]) -> alloc::vec::Vec<ExtEntry> {
    (0..FILE_COUNT)
        .map(|i| {
            let e = b.get(i * ENTRY_SIZE..(i + 1) * ENTRY_SIZE).unwrap_or(&[]);
            ExtEntry {
                attributes: le32(e, 0),
                key: bytes(e, 4),
                reserved: bytes(e, 36),
            }
        })
        .collect()
}

pub fn encode_ext_table(t: &[ExtEntry]) -> zeroize::Zeroizing<alloc::vec::Vec<u8>> {
    let mut b = zeroize::Zeroizing::new(alloc::vec![0u8; BLOCK]);
    for (i, e) in t.iter().enumerate().take(FILE_COUNT) {
        if let Some(dst) = b.get_mut(i * ENTRY_SIZE..(i + 1) * ENTRY_SIZE) {
            put(dst, 0, &e.attributes.to_le_bytes());
            put(dst, 4, &e.key);
            put(dst, 36, &e.reserved);
        }
    }
    b
}

/// Blocks a file of `len` bytes occupies (at least one, as the reference writer does).
pub fn blocks_for(len: u64) -> u64 {
    len.div_ceil(BLOCK_U64).max(1)
}

/// Checks one allocated entry against the capacity; `id` only for the message.
pub fn check_extent(id: usize, e: &FileEntry, capacity_blocks: u64) -> Result<(), VmgsError> {
    if e.offset < FIRST_DATA_BLOCK {
        return Err(VmgsError::Corrupt(format!(
            "file {id}: offset {} is inside the header area",
            e.offset
        )));
    }
    if e.end_block() > capacity_blocks {
        return Err(VmgsError::Corrupt(format!(
            "file {id}: extent {}+{} blocks is past the end of the disk ({capacity_blocks} blocks)",
            e.offset, e.allocation_size
        )));
    }
    if u64::from(e.allocation_size) != blocks_for(e.valid_data_size) {
        return Err(VmgsError::Corrupt(format!(
            "file {id}: {} blocks allocated for {} bytes",
            e.allocation_size, e.valid_data_size
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The standard check value of CRC-32/ISO-HDLC (zlib's crc32).
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn header_round_trip_and_checks() {
        let mut h = Header::new(7, 5, ENC_AES_256_GCM);
        h.key_slots[1].nonce = [3; NONCE_LEN];
        h.key_slots[1].encrypted_key = [9; KEY_LEN];
        let bytes = h.encode();
        let mut want = h;
        want.checksum = le32(&bytes, 0x0C);
        assert_eq!(Header::parse(&bytes), Slot::Valid(want));
        assert_eq!(Header::parse(&[0; HEADER_SIZE]), Slot::Empty);
        assert_eq!(
            Header::parse(&bytes[..HEADER_SIZE - 1]),
            Slot::Invalid(SlotProblem::Signature)
        );
        for (off, problem) in [
            (0x00, SlotProblem::Signature),
            (0x0A, SlotProblem::Version(0x0003_0000 ^ 0x0001_0000)),
            (0x14, SlotProblem::HeaderSize(168 ^ 1)),
            (0x50, SlotProblem::Checksum),
        ] {
            let mut b = bytes;
            b[off] ^= 1;
            assert_eq!(Header::parse(&b), Slot::Invalid(problem), "offset {off:#x}");
        }
        // Semantic checks come after the CRC: a re-signed header with a bad table.
        let mut bad = Header::new(1, 1, ENC_NONE);
        assert_eq!(
            Header::parse(&bad.encode()),
            Slot::Invalid(SlotProblem::FileTable)
        );
        bad.file_table_offset = 2;
        bad.encryption_algorithm = 2;
        assert_eq!(
            Header::parse(&bad.encode()),
            Slot::Invalid(SlotProblem::Encryption(2))
        );
    }

    #[test]
    fn tables_round_trip() {
        let mut t = [FileEntry::default(); FILE_COUNT];
        t[3] = FileEntry {
            offset: 6,
            allocation_size: 4,
            valid_data_size: 16384,
            nonce: [1; NONCE_LEN],
            tag: [2; TAG_LEN],
            attributes: 3,
            reserved: [0; 16],
        };
        assert_eq!(decode_file_table(&encode_file_table(&t)), t);
        let mut x: alloc::vec::Vec<ExtEntry> =
            (0..FILE_COUNT).map(|_| ExtEntry::default()).collect();
        x[3].attributes = 3;
        x[3].key = [7; KEY_LEN];
        assert_eq!(decode_ext_table(&encode_ext_table(&x)), x);
        assert_eq!(blocks_for(0), 1);
        assert_eq!(blocks_for(4096), 1);
        assert_eq!(blocks_for(4097), 2);
    }
}
