//! What asymmetric key generation needs from its caller: a byte source and an
//! error type. The generators themselves live in `rsa.rs` and `ecc.rs`.

use alloc::vec;
use alloc::vec::Vec;
use zeroize::Zeroizing;

use crate::drbg::{CtrDrbg, MAX_REQUEST_BYTES};

/// Why a key could not be generated or rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyGenError {
    /// The byte source failed, or produced no usable prime within the
    /// candidate limit (see `rsa.rs`), which only a broken source does.
    Rng,
    /// The RSA key size is not one of 1024, 2048, 3072 or 4096 bits.
    KeySize,
    /// The RSA public exponent is even or below 3 (0 stands for 65537).
    Exponent,
    /// Public and private parts do not belong together (or a private value
    /// is out of range for its key).
    Binding,
    /// The curve is not supported.
    Curve,
    /// A point is not on the curve.
    Point,
}

/// Where key generation takes its bytes from (a seeded DRBG for primary
/// keys, the TPM RNG otherwise).
///
/// Generated keys are a pure function of the bytes returned, in the order
/// and sizes requested, so a deterministic source gives deterministic keys.
pub trait KeyRng {
    /// Fills `out` entirely, or fails with [`KeyGenError::Rng`].
    fn fill(&mut self, out: &mut [u8]) -> Result<(), KeyGenError>;
}

/// One `generate(chunk, &[])` call per chunk of at most 65536 bytes (the
/// SP800-90A request limit), in order; an empty request makes no call. Any
/// DRBG error (reseed required, ...) becomes [`KeyGenError::Rng`].
///
/// The number of generate calls is part of the output: every call updates
/// the DRBG state, so `fill(64)` twice differs from `fill(128)` once. Key
/// generation documents exactly which requests it makes.
impl KeyRng for CtrDrbg {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), KeyGenError> {
        for chunk in out.chunks_mut(MAX_REQUEST_BYTES) {
            self.generate(chunk, &[]).map_err(|_| KeyGenError::Rng)?;
        }
        Ok(())
    }
}

/// `bytes` as exactly `len` big-endian bytes: left-padded with zeros, or
/// with surplus leading bytes dropped when they are all zero (checked
/// without branching on their values).
pub(crate) fn fit_be(bytes: &[u8], len: usize) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    let (surplus, tail) = bytes.split_at(bytes.len().saturating_sub(len));
    if surplus.iter().fold(0u8, |acc, b| acc | b) != 0 {
        return None;
    }
    let start = len.checked_sub(tail.len())?;
    for (dst, src) in out.iter_mut().skip(start).zip(tail) {
        *dst = *src;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn drbg_fill_matches_generate_and_chunks() {
        let mut a = CtrDrbg::instantiate(&[1; 32], b"n", b"p").unwrap();
        let mut b = CtrDrbg::instantiate(&[1; 32], b"n", b"p").unwrap();
        let (mut x, mut y) = ([0u8; 40], [0u8; 40]);
        a.fill(&mut x).unwrap();
        b.generate(&mut y, &[]).unwrap();
        assert_eq!(x, y);

        // A request over the DRBG limit is split into 65536-byte calls.
        let mut big = vec![0u8; MAX_REQUEST_BYTES + 5];
        let before = a.reseed_counter();
        a.fill(&mut big).unwrap();
        assert_eq!(a.reseed_counter(), before + 2);
        let mut first = vec![0u8; MAX_REQUEST_BYTES];
        let mut second = [0u8; 5];
        b.generate(&mut first, &[]).unwrap();
        b.generate(&mut second, &[]).unwrap();
        assert_eq!(big[..MAX_REQUEST_BYTES], first[..]);
        assert_eq!(big[MAX_REQUEST_BYTES..], second);

        // Empty requests make no call.
        a.fill(&mut []).unwrap();
        assert_eq!(a.reseed_counter(), before + 2);
    }

    #[test]
    fn fit_be_pads_and_strips() {
        assert_eq!(&fit_be(&[1, 2], 4).unwrap()[..], &[0, 0, 1, 2]);
        assert_eq!(&fit_be(&[0, 0, 0, 1, 2], 3).unwrap()[..], &[0, 1, 2]);
        assert!(fit_be(&[1, 0, 0, 1], 3).is_none());
        assert_eq!(&fit_be(&[], 2).unwrap()[..], &[0, 0]);
    }
}
