//! Encrypted migration blobs (`--migration-key`): a state blob sealed with
//! AES-256-GCM so it can cross an untrusted channel.
//!
//! ```text
//! magic "VTPMMIGR" | u32 blob type | 12-byte nonce | ciphertext | 16-byte tag
//! ```
//! The magic and blob type are authenticated (AAD): a blob cannot be replayed as
//! another type. A wrong key and any changed byte fail the same way.

use alloc::vec::Vec;
use zeroize::Zeroizing;

pub const MAGIC: [u8; 8] = *b"VTPMMIGR";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 8 + 4;

/// Why an encrypted blob was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// Not an encrypted vtpm blob (or a plain one while a migration key is set).
    NotEncrypted,
    /// Made for another blob type.
    WrongType,
    /// Wrong migration key, or the blob was changed.
    Authentication,
    /// The randomness source failed.
    Rng,
}

impl core::fmt::Display for BlobError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BlobError::NotEncrypted => "state blob is not encrypted with a migration key",
            BlobError::WrongType => "state blob was made for another blob type",
            BlobError::Authentication => {
                "state blob fails authentication (wrong migration key, or changed)"
            }
            BlobError::Rng => "random number generator failed",
        })
    }
}

fn cipher(key: &[u8; 32]) -> aes_gcm::Aes256Gcm {
    use aes_gcm::KeyInit;
    aes_gcm::Aes256Gcm::new(&aes_gcm::Key::<aes_gcm::Aes256Gcm>::from(*key))
}

/// Seals `plain` (a state blob of `blob_type`) under `key` with a fresh nonce.
pub fn seal(
    key: &[u8; 32],
    blob_type: u32,
    plain: &[u8],
    rng: &mut dyn crate::vmgs::VmgsRng,
) -> Result<Vec<u8>, BlobError> {
    use aes_gcm::AeadInOut;
    let mut nonce = [0u8; NONCE_LEN];
    if !rng.fill(&mut nonce) {
        return Err(BlobError::Rng);
    }
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&blob_type.to_be_bytes());
    let aad = out.clone();
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plain);
    let body = out.get_mut(start..).ok_or(BlobError::Authentication)?;
    let tag = cipher(key)
        .encrypt_inout_detached(&nonce.into(), &aad, body.into())
        .map_err(|_| BlobError::Authentication)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens a blob made by [`seal`] for `blob_type`.
pub fn open(key: &[u8; 32], blob_type: u32, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, BlobError> {
    use aes_gcm::AeadInOut;
    if blob.get(..8) != Some(&MAGIC[..]) || blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(BlobError::NotEncrypted);
    }
    let (aad, rest) = blob.split_at(HEADER_LEN);
    if aad.get(8..12) != Some(&blob_type.to_be_bytes()[..]) {
        return Err(BlobError::WrongType);
    }
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| BlobError::NotEncrypted)?;
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| BlobError::NotEncrypted)?;
    let mut plain = Zeroizing::new(body.to_vec());
    cipher(key)
        .decrypt_inout_detached(&nonce.into(), aad, plain.as_mut_slice().into(), &tag.into())
        .map_err(|_| BlobError::Authentication)?;
    Ok(plain)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn rng() -> impl FnMut(&mut [u8]) -> bool {
        let mut n = 0u8;
        move |out: &mut [u8]| {
            for b in out {
                n = n.wrapping_add(1);
                *b = n;
            }
            true
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let key = [7u8; 32];
        let blob = seal(&key, 1, b"permanent state", &mut rng()).unwrap();
        assert_eq!(&open(&key, 1, &blob).unwrap()[..], b"permanent state");
        assert_eq!(open(&[8u8; 32], 1, &blob), Err(BlobError::Authentication));
        assert_eq!(open(&key, 2, &blob), Err(BlobError::WrongType));
        assert_eq!(open(&key, 1, b"VTPMSTAT..."), Err(BlobError::NotEncrypted));
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 0x10;
            assert!(open(&key, 1, &b).is_err(), "byte {i}");
        }
    }
}
