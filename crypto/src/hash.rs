//! The TPM hash algorithms, a fixed-size digest value and a streaming hasher.

use alloc::vec::Vec;
use core::fmt;
use digest::Digest as _;
use digest::common::hazmat::{SerializableState, SerializedState};
use zeroize::{Zeroize, Zeroizing};

/// Largest digest any supported algorithm produces (SHA-512).
pub const MAX_DIGEST_SIZE: usize = 64;

/// TPM hash algorithms built in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// All supported algorithms, in TPM_ALG_ID order (PCR banks are listed this way).
    pub const ALL: [HashAlg; 4] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// The TPM_ALG_ID value of this algorithm.
    pub const fn alg_id(self) -> u16 {
        match self {
            HashAlg::Sha1 => 0x0004,
            HashAlg::Sha256 => 0x000B,
            HashAlg::Sha384 => 0x000C,
            HashAlg::Sha512 => 0x000D,
        }
    }

    /// Maps a TPM_ALG_ID to a supported hash; `None` for anything else
    /// (including TPM_ALG_NULL), so callers can answer TPM_RC_HASH.
    pub const fn from_alg_id(id: u16) -> Option<HashAlg> {
        match id {
            0x0004 => Some(HashAlg::Sha1),
            0x000B => Some(HashAlg::Sha256),
            0x000C => Some(HashAlg::Sha384),
            0x000D => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    /// Output size in bytes.
    pub const fn digest_size(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// Input block size in bytes (HMAC pads keys to this).
    pub const fn block_size(self) -> usize {
        match self {
            HashAlg::Sha1 | HashAlg::Sha256 => 64,
            HashAlg::Sha384 | HashAlg::Sha512 => 128,
        }
    }

    /// Hash of the concatenation of `parts`; avoids building a buffer for
    /// the many TPM hashes that are defined over several marshaled fields.
    pub fn digest(self, parts: &[&[u8]]) -> Digest {
        let mut h = Hasher::new(self);
        for p in parts {
            h.update(p);
        }
        h.finalize()
    }
}

/// A digest of at most 64 bytes, stack-held so hashing never allocates.
///
/// Bytes past `len()` are always zero, which keeps the derived equality exact.
/// Equality is *not* constant time: use [`crate::ct_eq`] for secret comparisons.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    bytes: [u8; MAX_DIGEST_SIZE],
    alg: HashAlg,
}

impl Digest {
    /// Wraps raw digest bytes; `None` unless `bytes.len() == alg.digest_size()`.
    pub fn from_bytes(alg: HashAlg, bytes: &[u8]) -> Option<Digest> {
        if bytes.len() != alg.digest_size() {
            return None;
        }
        let mut d = Digest {
            bytes: [0; MAX_DIGEST_SIZE],
            alg,
        };
        for (dst, src) in d.bytes.iter_mut().zip(bytes) {
            *dst = *src;
        }
        Some(d)
    }

    /// A digest-sized value with every byte set to `fill` (PCR reset values).
    pub fn filled(alg: HashAlg, fill: u8) -> Digest {
        let mut d = Digest {
            bytes: [0; MAX_DIGEST_SIZE],
            alg,
        };
        for b in d.bytes.iter_mut().take(alg.digest_size()) {
            *b = fill;
        }
        d
    }

    /// The digest bytes (exactly `alg().digest_size()` of them).
    pub fn as_bytes(&self) -> &[u8] {
        let n = self.alg.digest_size();
        self.bytes.get(..n).unwrap_or(&self.bytes)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.alg.digest_size()
    }

    /// Never true for a supported algorithm; present for API symmetry with slices.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The algorithm that produced this digest.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Lets callers wipe digests that are key material (HMAC/KDF outputs);
/// `Digest` is `Copy`, so it cannot zeroize itself on drop.
impl Zeroize for Digest {
    fn zeroize(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({:?}:", self.alg)?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// Streaming hash (PCR_Event, _TPM_Hash_Start/Data/End, hash sequences).
#[derive(Clone)]
pub struct Hasher {
    state: State,
}

#[derive(Clone)]
enum State {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

/// Copies a RustCrypto output array into a `Digest`.
fn to_digest(alg: HashAlg, out: &[u8]) -> Digest {
    let mut d = Digest {
        bytes: [0; MAX_DIGEST_SIZE],
        alg,
    };
    for (dst, src) in d.bytes.iter_mut().zip(out) {
        *dst = *src;
    }
    d
}

impl Hasher {
    /// Starts a new hash.
    pub fn new(alg: HashAlg) -> Self {
        let state = match alg {
            HashAlg::Sha1 => State::Sha1(sha1::Sha1::new()),
            HashAlg::Sha256 => State::Sha256(sha2::Sha256::new()),
            HashAlg::Sha384 => State::Sha384(sha2::Sha384::new()),
            HashAlg::Sha512 => State::Sha512(sha2::Sha512::new()),
        };
        Hasher { state }
    }

    /// Absorbs more data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Sha384(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// Finishes the hash.
    pub fn finalize(self) -> Digest {
        let alg = self.alg();
        match self.state {
            State::Sha1(h) => to_digest(alg, &h.finalize()),
            State::Sha256(h) => to_digest(alg, &h.finalize()),
            State::Sha384(h) => to_digest(alg, &h.finalize()),
            State::Sha512(h) => to_digest(alg, &h.finalize()),
        }
    }

    /// The running state as bytes — TPM_ALG_ID, then the digest crate's own
    /// serialized form (chaining value, length, buffered partial block) — so
    /// a hash sequence can be context-saved mid-way. Zeroized on drop: an
    /// HMAC's state is key material.
    pub fn export_state(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        out.extend_from_slice(&self.alg().alg_id().to_be_bytes());
        match &self.state {
            State::Sha1(h) => out.extend_from_slice(&Zeroizing::new(h.serialize())),
            State::Sha256(h) => out.extend_from_slice(&Zeroizing::new(h.serialize())),
            State::Sha384(h) => out.extend_from_slice(&Zeroizing::new(h.serialize())),
            State::Sha512(h) => out.extend_from_slice(&Zeroizing::new(h.serialize())),
        }
        out
    }

    /// A hasher from [`Hasher::export_state`] bytes; `None` if they are not
    /// a state of a supported algorithm (wrong length, bad buffer position).
    pub fn import_state(bytes: &[u8]) -> Option<Hasher> {
        let (id, rest) = bytes.split_at_checked(2)?;
        let alg = HashAlg::from_alg_id(u16::from_be_bytes(id.try_into().ok()?))?;
        fn load<T: SerializableState>(rest: &[u8]) -> Option<T> {
            let state = <&SerializedState<T>>::try_from(rest).ok()?;
            T::deserialize(state).ok()
        }
        let state = match alg {
            HashAlg::Sha1 => State::Sha1(load(rest)?),
            HashAlg::Sha256 => State::Sha256(load(rest)?),
            HashAlg::Sha384 => State::Sha384(load(rest)?),
            HashAlg::Sha512 => State::Sha512(load(rest)?),
        };
        Some(Hasher { state })
    }

    /// The algorithm this hasher computes.
    pub fn alg(&self) -> HashAlg {
        match self.state {
            State::Sha1(_) => HashAlg::Sha1,
            State::Sha256(_) => HashAlg::Sha256,
            State::Sha384(_) => HashAlg::Sha384,
            State::Sha512(_) => HashAlg::Sha512,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn alg_ids_round_trip() {
        for alg in HashAlg::ALL {
            assert_eq!(HashAlg::from_alg_id(alg.alg_id()), Some(alg));
            assert_eq!(alg.digest(&[]).len(), alg.digest_size());
        }
        assert_eq!(HashAlg::from_alg_id(0x0010), None);
        assert_eq!(HashAlg::from_alg_id(0x0000), None);
        let mut sorted = HashAlg::ALL;
        sorted.sort_by_key(|a| a.alg_id());
        assert_eq!(sorted, HashAlg::ALL);
    }

    #[test]
    fn streaming_matches_one_shot() {
        for alg in HashAlg::ALL {
            let mut h = Hasher::new(alg);
            h.update(b"a");
            let fork = h.clone();
            h.update(b"bc");
            assert_eq!(h.alg(), alg);
            assert_eq!(h.finalize(), alg.digest(&[b"ab", b"c"]));
            assert_eq!(fork.finalize(), alg.digest(&[b"a"]));
        }
    }

    #[test]
    fn exported_state_resumes_the_hash() {
        for alg in HashAlg::ALL {
            for split in [0usize, 1, 63, 64, 65, 200] {
                let data = alloc::vec![0x5au8; 300];
                let mut h = Hasher::new(alg);
                h.update(&data[..split]);
                let state = h.export_state();
                let mut resumed = Hasher::import_state(&state).unwrap();
                resumed.update(&data[split..]);
                assert_eq!(resumed.finalize(), alg.digest(&[&data]));
            }
            let state = Hasher::new(alg).export_state();
            assert!(Hasher::import_state(&state[..state.len() - 1]).is_none());
        }
        assert!(Hasher::import_state(&[0, 0x10]).is_none());
    }

    #[test]
    fn digest_from_bytes_and_debug() {
        let d = HashAlg::Sha1.digest(&[b"abc"]);
        assert_eq!(Digest::from_bytes(HashAlg::Sha1, d.as_bytes()), Some(d));
        assert_eq!(Digest::from_bytes(HashAlg::Sha256, d.as_bytes()), None);
        let s = alloc::format!("{d:?}");
        assert_eq!(s, "Digest(Sha1:a9993e364706816aba3e25717850c26c9cd0d89d)");
    }
}
