//! The state image: what a vtpm persists, as one self-describing byte string.
//!
//! ```text
//! magic "VTPMSTAT" | u16 format version | u16 feature level | u32 section count
//! { u16 section id | u32 length | bytes } * count
//! SHA-256 over everything before it
//! ```
//! All integers big-endian. A reader refuses an image with a wrong magic, a newer
//! format version, a failed digest or a malformed section table: a corrupt state is
//! reported, never silently replaced by a fresh one.

use alloc::vec::Vec;
use vtpm_crypto::HashAlg;

pub const MAGIC: [u8; 8] = *b"VTPMSTAT";
/// The format this code writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// Feature level of the engine that wrote the image (profile of commands/algorithms).
pub const FEATURE_LEVEL: u16 = 1;

/// Section ids. Never reuse an id for a different meaning.
pub mod section {
    /// Permanent engine state (seeds, hierarchy state, PCR allocation, clock, ...).
    pub const PERMANENT: u16 = 1;
    /// State saved by TPM2_Shutdown(STATE) for the next Startup.
    pub const SAVED: u16 = 2;
    /// Volatile state (PCRs, loaded objects, sessions) for suspend and migration.
    pub const VOLATILE: u16 = 3;
}

const DIGEST_LEN: usize = 32;
const HEADER_LEN: usize = 8 + 2 + 2 + 4;

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Not a vtpm image at all.
    BadMagic,
    /// Written by a newer vtpm: refuse rather than misread.
    UnsupportedVersion(u16),
    /// The integrity digest does not match: the file is corrupt or was tampered with.
    Corrupt,
    /// The section table is malformed.
    Malformed,
    /// Made by a vtpm with a newer feature level (profile) than this one.
    UnsupportedFeatureLevel(u16),
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImageError::BadMagic => f.write_str("not a vtpm state image (bad magic)"),
            ImageError::UnsupportedVersion(v) => write!(
                f,
                "state image format version {v} is newer than this vtpm supports ({FORMAT_VERSION})"
            ),
            ImageError::Corrupt => {
                f.write_str("state image integrity check failed (corrupt or tampered)")
            }
            ImageError::Malformed => f.write_str("state image section table is malformed"),
            ImageError::UnsupportedFeatureLevel(l) => write!(
                f,
                "state image was made with feature level {l}, newer than this vtpm supports ({FEATURE_LEVEL})"
            ),
        }
    }
}

/// A decoded image: its header fields and sections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    pub feature_level: u16,
    pub sections: Vec<(u16, Vec<u8>)>,
}

impl Image {
    pub fn new() -> Self {
        Image {
            feature_level: FEATURE_LEVEL,
            sections: Vec::new(),
        }
    }

    /// The first section with this id.
    pub fn section(&self, id: u16) -> Option<&[u8]> {
        self.sections
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, b)| b.as_slice())
    }

    /// Replaces (or adds) a section.
    pub fn set_section(&mut self, id: u16, bytes: Vec<u8>) {
        self.sections.retain(|(s, _)| *s != id);
        self.sections.push((id, bytes));
        self.sections.sort_by_key(|(s, _)| *s);
    }

    pub fn remove_section(&mut self, id: u16) {
        self.sections.retain(|(s, _)| *s != id);
    }

    /// Serializes the image with its integrity digest.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        out.extend_from_slice(&self.feature_level.to_be_bytes());
        let count = u32::try_from(self.sections.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for (id, bytes) in &self.sections {
            out.extend_from_slice(&id.to_be_bytes());
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes);
        }
        let digest = HashAlg::Sha256.digest(&[&out]);
        out.extend_from_slice(digest.as_bytes());
        out
    }

    /// Parses and verifies an image.
    pub fn decode(bytes: &[u8]) -> Result<Image, ImageError> {
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(ImageError::BadMagic);
        }
        let body_len = bytes
            .len()
            .checked_sub(DIGEST_LEN)
            .ok_or(ImageError::Malformed)?;
        if body_len < HEADER_LEN {
            return Err(ImageError::Malformed);
        }
        let (body, digest) = bytes.split_at(body_len);
        let version = be16(body, 8).ok_or(ImageError::Malformed)?;
        if version > FORMAT_VERSION || version == 0 {
            return Err(ImageError::UnsupportedVersion(version));
        }
        if !vtpm_crypto::ct_eq(HashAlg::Sha256.digest(&[body]).as_bytes(), digest) {
            return Err(ImageError::Corrupt);
        }
        let feature_level = be16(body, 10).ok_or(ImageError::Malformed)?;
        let count = be32(body, 12).ok_or(ImageError::Malformed)?;
        let mut rest = body.get(HEADER_LEN..).ok_or(ImageError::Malformed)?;
        let mut sections = Vec::new();
        for _ in 0..count {
            let id = be16(rest, 0).ok_or(ImageError::Malformed)?;
            let len = be32(rest, 2).ok_or(ImageError::Malformed)?;
            let len = usize::try_from(len).map_err(|_| ImageError::Malformed)?;
            let data = rest.get(6..).ok_or(ImageError::Malformed)?;
            let (data, tail) = data.split_at_checked(len).ok_or(ImageError::Malformed)?;
            sections.push((id, data.to_vec()));
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(ImageError::Malformed);
        }
        Ok(Image {
            feature_level,
            sections,
        })
    }
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> Image {
        let mut img = Image::new();
        img.set_section(section::PERMANENT, vec![1, 2, 3]);
        img.set_section(section::SAVED, vec![]);
        img
    }

    #[test]
    fn round_trip() {
        let img = sample();
        assert_eq!(Image::decode(&img.encode()), Ok(img));
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(Image::decode(&b).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn truncation_and_newer_versions_are_refused() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(Image::decode(&bytes[..n]).is_err());
        }
        let mut newer = bytes.clone();
        newer[9] = 2;
        assert_eq!(
            Image::decode(&newer),
            Err(ImageError::UnsupportedVersion(2))
        );
        assert_eq!(
            Image::decode(b"something else entirely, long enough...."),
            Err(ImageError::BadMagic)
        );
    }
}
