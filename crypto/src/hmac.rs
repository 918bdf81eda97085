//! HMAC (RFC 2104) over any [`HashAlg`].
//!
//! Built on [`Hasher`] rather than `hmac::Hmac<D>` so that one runtime-selected
//! type covers all algorithms and key setup is infallible for any key length.

use crate::hash::{Digest, HashAlg, Hasher, MAX_DIGEST_SIZE};
use zeroize::{Zeroize, Zeroizing};

/// Largest hash block size (SHA-384/512).
const MAX_BLOCK_SIZE: usize = 128;

/// Incremental HMAC; cloning after `new` lets a keyed state be reused cheaply
/// (KDFa does this once per output block).
#[derive(Clone)]
pub struct HmacState {
    inner: Hasher,
    outer: Hasher,
}

impl HmacState {
    /// Keys a new HMAC. Keys longer than the block size are hashed first;
    /// any length (including empty) is accepted.
    pub fn new(alg: HashAlg, key: &[u8]) -> Self {
        // `min` documents (and enforces) that every block fits the buffers below.
        let bs = alg.block_size().min(MAX_BLOCK_SIZE);
        let mut k0 = Zeroizing::new([0u8; MAX_BLOCK_SIZE]);
        if key.len() > bs {
            let mut hk = alg.digest(&[key]);
            for (dst, src) in k0.iter_mut().zip(hk.as_bytes()) {
                *dst = *src;
            }
            hk.zeroize();
        } else {
            for (dst, src) in k0.iter_mut().zip(key) {
                *dst = *src;
            }
        }

        let mut pad = Zeroizing::new([0u8; MAX_BLOCK_SIZE]);
        let mut inner = Hasher::new(alg);
        for (p, k) in pad.iter_mut().zip(k0.iter()) {
            *p = k ^ 0x36;
        }
        inner.update(pad.get(..bs).unwrap_or(&[]));

        let mut outer = Hasher::new(alg);
        for (p, k) in pad.iter_mut().zip(k0.iter()) {
            *p = k ^ 0x5c;
        }
        outer.update(pad.get(..bs).unwrap_or(&[]));

        HmacState { inner, outer }
    }

    /// Absorbs more message data.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// Finishes the MAC.
    pub fn finalize(self) -> Digest {
        let mut inner = self.inner.finalize();
        let mut outer = self.outer;
        outer.update(inner.as_bytes());
        inner.zeroize();
        outer.finalize()
    }

    /// The underlying hash algorithm.
    pub fn alg(&self) -> HashAlg {
        self.inner.alg()
    }

    /// The keyed running state (inner then outer hash, each a
    /// [`Hasher::export_state`] with a u16 length): secret, zeroized on drop.
    pub fn export_state(&self) -> Zeroizing<alloc::vec::Vec<u8>> {
        let mut out = Zeroizing::new(alloc::vec::Vec::new());
        for h in [&self.inner, &self.outer] {
            let s = h.export_state();
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(&s);
        }
        out
    }

    /// An HMAC state from [`HmacState::export_state`] bytes.
    pub fn import_state(bytes: &[u8]) -> Option<HmacState> {
        fn take(b: &[u8]) -> Option<(Hasher, &[u8])> {
            let (len, rest) = b.split_at_checked(2)?;
            let len = usize::from(u16::from_be_bytes(len.try_into().ok()?));
            let (state, rest) = rest.split_at_checked(len)?;
            Some((Hasher::import_state(state)?, rest))
        }
        let (inner, rest) = take(bytes)?;
        let (outer, rest) = take(rest)?;
        (rest.is_empty() && inner.alg() == outer.alg()).then_some(HmacState { inner, outer })
    }
}

/// HMAC of the concatenation of `parts` under `key`.
pub fn hmac(alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Digest {
    let mut st = HmacState::new(alg, key);
    for p in parts {
        st.update(p);
    }
    st.finalize()
}

// The output of every supported HMAC fits in a Digest.
const _: () = assert!(MAX_DIGEST_SIZE <= MAX_BLOCK_SIZE);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn streaming_matches_one_shot_and_long_keys() {
        for alg in HashAlg::ALL {
            for key_len in [0usize, 1, 63, 64, 65, 127, 128, 129, 300] {
                let key = alloc::vec![0xa5u8; key_len];
                let mut st = HmacState::new(alg, &key);
                st.update(b"hello ");
                st.update(b"world");
                assert_eq!(st.alg(), alg);
                let resumed = HmacState::import_state(&st.export_state()).unwrap();
                assert_eq!(resumed.finalize(), hmac(alg, &key, &[b"hello world"]));
                assert_eq!(st.finalize(), hmac(alg, &key, &[b"hello world"]));
            }
        }
    }
}
