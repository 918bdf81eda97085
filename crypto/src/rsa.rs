//! Deterministic RSA key generation.
//!
//! # Compatibility contract
//!
//! TPM primary keys are derived from a secret seed through a DRBG, so the
//! map from the bytes of a [`KeyRng`] to a key pair must never change. It is
//! defined here, in full, and only the arithmetic (big-integer products,
//! Montgomery exponentiation) is taken from `crypto-bigint`, whose results
//! are fixed by mathematics. Any change to the steps below changes every
//! RSA primary key ever derived: treat this text as frozen, and the golden
//! vectors in `tests/vectors/keygen_rsa.txt` as its witness.
//!
//! `rsa_generate(bits, exponent, rng)`:
//!
//! 1. `bits` must be 1024, 2048, 3072 or 4096, else `KeySize`. The public
//!    exponent `e` is 65537 when `exponent` is 0; otherwise `exponent` must
//!    be odd and at least 3, else `Exponent`. (`KeySize` is checked first.)
//! 2. Let `k = bits / 2` (the prime length in bits) and `len = k / 8` bytes.
//!    Generate the prime `p`, then the prime `q`, each by repeating, at most
//!    `20 * bits` times per prime (else `KeyGenError::Rng`):
//!    1. `rng.fill` exactly `len` bytes, one request per candidate (with
//!       [`CtrDrbg`](crate::CtrDrbg): one `generate(len, no additional
//!       input)` call per candidate);
//!    2. read them as a big-endian integer `c`, then set its two most
//!       significant bits (`byte[0] |= 0xC0`) and its least significant bit
//!       (`byte[len-1] |= 0x01`);
//!    3. accept `c` exactly when all of these hold (the order of the checks
//!       does not change which candidate is accepted):
//!       - `gcd(c - 1, e) == 1`, computed as `gcd((c - 1) mod e, e)`;
//!       - no odd prime `3 <= s <= 17863` divides `c` (trial division by the
//!         2047 odd primes among the first 2048 primes);
//!       - `c` is a strong probable prime (Miller-Rabin) to each of the
//!         first `B` prime bases `2, 3, 5, 7, 11, 13, 17, 19`, with
//!         `B = 8` for 1024-bit keys (512-bit primes), `B = 6` for 2048,
//!         `B = 5` for 3072 and `B = 5` for 4096. For 2048..4096 that is
//!         one round more than FIPS 186-5 Table B.1 asks of random bases
//!         (1024-bit primes: 5 rounds for 2^-112; 1536-bit: 4 for 2^-128;
//!         2048-bit: 4 for 2^-144); 8 for 512-bit primes is a generous
//!         choice for a size NIST no longer approves. The bases are fixed,
//!         not random: the error bounds rely on the candidates being random;
//!       - for `q` only: `|p - q| > 2^(k - 100)`.
//!
//!    A rejected candidate is discarded whole (no incremental search), and
//!    every candidate, accepted or not, consumed its own `len` bytes.
//! 3. `n = p * q`. The two top bits of each prime make `n` exactly `bits`
//!    long. `p` is the first prime generated and `q` the second; they are
//!    not reordered, so either may be the larger.
//!
//! With a working random source the candidate limit is never reached: the
//! expected number of candidates per prime is about `0.35 * k` for
//! `e = 65537`, and the chance of `20 * bits = 40 * k` candidates holding no
//! acceptable prime is about `e^-115` (`e^-57` for `e = 3`, which rejects
//! half of all primes). The limit only stops a broken source.
//!
//! A private exponent exists because `gcd(e, p - 1) = gcd(e, q - 1) = 1`
//! implies `gcd(e, lcm(p - 1, q - 1)) = 1`; [`rsa_from_prime`] checks the same.

use alloc::vec;
use alloc::vec::Vec;
use crypto_bigint::{BoxedUint, ConcatenatingMul, NonZero};
use zeroize::Zeroizing;

use crate::keygen::{KeyGenError, KeyRng, fit_be};
use crate::prime::{gcd_u64, has_small_factor, miller_rabin, rem_be};

/// The exponent used when a template asks for 0 (the TPM default).
const DEFAULT_EXPONENT: u32 = 65537;

/// Miller-Rabin bases, used as a prefix of this list.
const MR_BASES: [u32; 8] = [2, 3, 5, 7, 11, 13, 17, 19];

/// Supported modulus sizes and the number of Miller-Rabin bases used for
/// their primes.
fn mr_base_count(bits: u16) -> Option<usize> {
    match bits {
        1024 => Some(8),
        2048 => Some(6),
        3072 => Some(5),
        4096 => Some(5),
        _ => None,
    }
}

fn resolve_exponent(exponent: u32) -> Result<u32, KeyGenError> {
    match exponent {
        0 => Ok(DEFAULT_EXPONENT),
        e if e >= 3 && e % 2 == 1 => Ok(e),
        _ => Err(KeyGenError::Exponent),
    }
}

/// An RSA key pair: public modulus and exponent, and the two primes.
/// The primes are zeroized on drop; `Debug` shows neither of them.
#[derive(Clone)]
pub struct RsaKeyPair {
    bits: u16,
    n: Vec<u8>,
    e: u32,
    p: Zeroizing<Vec<u8>>,
    q: Zeroizing<Vec<u8>>,
}

impl RsaKeyPair {
    /// The modulus, big-endian, exactly `bits / 8` bytes.
    pub fn n(&self) -> &[u8] {
        &self.n
    }

    /// The public exponent (65537 when the template said 0).
    pub fn e(&self) -> u32 {
        self.e
    }

    /// The first prime, big-endian, exactly `bits / 16` bytes.
    pub fn p(&self) -> &[u8] {
        &self.p
    }

    /// The second prime, `n / p`, big-endian, exactly `bits / 16` bytes.
    pub fn q(&self) -> &[u8] {
        &self.q
    }

    /// The modulus length in bits.
    pub fn bits(&self) -> u16 {
        self.bits
    }
}

impl core::fmt::Debug for RsaKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaKeyPair")
            .field("bits", &self.bits)
            .field("e", &self.e)
            .finish_non_exhaustive()
    }
}

/// Generates an RSA key pair from `rng` as described in the module
/// documentation (a compatibility contract). `bits` in {1024, 2048, 3072,
/// 4096}, else `KeySize`; `exponent` 0 means 65537, otherwise it must be odd
/// and at least 3, else `Exponent`.
pub fn rsa_generate(
    bits: u16,
    exponent: u32,
    rng: &mut dyn KeyRng,
) -> Result<RsaKeyPair, KeyGenError> {
    let rounds = mr_base_count(bits).ok_or(KeyGenError::KeySize)?;
    let e = resolve_exponent(exponent)?;
    let bases = MR_BASES.get(..rounds).ok_or(KeyGenError::KeySize)?;
    let len = usize::from(bits / 16);
    let limit = 20 * usize::from(bits);
    let p = generate_prime(len, e, bases, None, limit, rng)?;
    let q = generate_prime(len, e, bases, Some(&p), limit, rng)?;
    assemble(bits, e, p, q)
}

/// Draws candidates until one passes (module documentation, step 2).
fn generate_prime(
    len: usize,
    e: u32,
    bases: &[u32],
    other: Option<&[u8]>,
    limit: usize,
    rng: &mut dyn KeyRng,
) -> Result<Zeroizing<Vec<u8>>, KeyGenError> {
    let mut c = Zeroizing::new(vec![0u8; len]);
    for _ in 0..limit {
        rng.fill(&mut c)?;
        if let Some(top) = c.first_mut() {
            *top |= 0xC0;
        }
        if let Some(low) = c.last_mut() {
            *low |= 0x01;
        }
        if let Some(p) = other
            && !far_apart(p, &c)?
        {
            continue;
        }
        if coprime_to_minus_one(&c, e) && !has_small_factor(&c) && miller_rabin(&c, bases) {
            return Ok(c);
        }
    }
    Err(KeyGenError::Rng)
}

/// `gcd(c - 1, e) == 1` for `c >= 1` (big-endian) and `e >= 1`.
fn coprime_to_minus_one(c: &[u8], e: u32) -> bool {
    let e = u64::from(e);
    if e == 0 {
        return false;
    }
    // r < e < 2^32: no overflow.
    let r = (rem_be(c, e) + e - 1) % e;
    gcd_u64(r, e) == 1
}

/// `|p - q| > 2^(k - 100)` for two `k`-bit values of equal byte length.
fn far_apart(p: &[u8], q: &[u8]) -> Result<bool, KeyGenError> {
    let k = bit_len(p.len())?;
    let threshold_shift = k.checked_sub(100).ok_or(KeyGenError::KeySize)?;
    let pb = Zeroizing::new(from_be(p, k)?);
    let qb = Zeroizing::new(from_be(q, k)?);
    let diff = Zeroizing::new(if *pb >= *qb {
        pb.wrapping_sub(&*qb)
    } else {
        qb.wrapping_sub(&*pb)
    });
    let threshold = BoxedUint::one_with_precision(k).shl(threshold_shift);
    Ok(*diff > threshold)
}

fn bit_len(bytes: usize) -> Result<u32, KeyGenError> {
    u32::try_from(bytes)
        .ok()
        .and_then(|b| b.checked_mul(8))
        .ok_or(KeyGenError::KeySize)
}

fn from_be(bytes: &[u8], bits: u32) -> Result<BoxedUint, KeyGenError> {
    BoxedUint::from_be_slice(bytes, bits).map_err(|_| KeyGenError::Binding)
}

/// Checks and packs two primes of `bits / 16` bytes each into a key pair.
fn assemble(
    bits: u16,
    e: u32,
    p: Zeroizing<Vec<u8>>,
    q: Zeroizing<Vec<u8>>,
) -> Result<RsaKeyPair, KeyGenError> {
    let len = usize::from(bits / 16);
    if p.len() != len || q.len() != len {
        return Err(KeyGenError::Binding);
    }
    let k = bit_len(len)?;
    let pb = Zeroizing::new(from_be(&p, k)?);
    let qb = Zeroizing::new(from_be(&q, k)?);
    if pb.bit_width() != k || qb.bit_width() != k {
        return Err(KeyGenError::Binding);
    }
    if !coprime_to_minus_one(&p, e) || !coprime_to_minus_one(&q, e) {
        return Err(KeyGenError::Binding);
    }
    let n = pb.concatenating_mul(&*qb);
    if n.bit_width() != u32::from(bits) {
        return Err(KeyGenError::Binding);
    }
    let n = n.to_be_bytes().to_vec();
    if n.len() != usize::from(bits / 8) {
        return Err(KeyGenError::Binding);
    }
    Ok(RsaKeyPair { bits, n, e, p, q })
}

/// Rebuilds a key pair from its public modulus and one prime (what a TPM's
/// private area holds).
///
/// `n` must be 128, 256, 384 or 512 bytes (else `KeySize`); `exponent` as
/// for [`rsa_generate`] (else `Exponent`). Then `n` must satisfy
/// [`rsa_public_valid`], `p` (leading zero bytes allowed, or shorter) must
/// divide `n` exactly, `p` and `q = n / p` must both be exactly `bits / 2`
/// bits long, and `gcd(e, p - 1) = gcd(e, q - 1) = 1` (so that a private
/// exponent exists); otherwise `Binding`. Primality of `p` and `q` is not
/// checked.
pub fn rsa_from_prime(n: &[u8], exponent: u32, p: &[u8]) -> Result<RsaKeyPair, KeyGenError> {
    let bits: u16 = match n.len() {
        128 => 1024,
        256 => 2048,
        384 => 3072,
        512 => 4096,
        _ => return Err(KeyGenError::KeySize),
    };
    let e = resolve_exponent(exponent)?;
    if !rsa_public_valid(n) {
        return Err(KeyGenError::Binding);
    }
    let len = usize::from(bits / 16);
    let k = bit_len(len)?;
    let p = fit_be(p, len).ok_or(KeyGenError::Binding)?;
    let pb = Zeroizing::new(from_be(&p, k)?);
    if pb.bit_width() != k {
        return Err(KeyGenError::Binding);
    }
    let divisor = Zeroizing::new(
        NonZero::new((*pb).clone())
            .into_option()
            .ok_or(KeyGenError::Binding)?,
    );
    let nb = from_be(n, u32::from(bits))?;
    let (quotient, remainder) = nb.div_rem(&divisor);
    let (quotient, remainder) = (Zeroizing::new(quotient), Zeroizing::new(remainder));
    if !bool::from(remainder.is_zero()) || quotient.bit_width() != k {
        return Err(KeyGenError::Binding);
    }
    let q_full = Zeroizing::new(quotient.to_be_bytes().to_vec());
    let q_start = q_full.len().checked_sub(len).ok_or(KeyGenError::Binding)?;
    let q = Zeroizing::new(q_full.get(q_start..).ok_or(KeyGenError::Binding)?.to_vec());
    let pair = assemble(bits, e, p, q)?;
    if pair.n != n {
        return Err(KeyGenError::Binding);
    }
    Ok(pair)
}

/// A public modulus is usable: 128, 256, 384 or 512 bytes, odd, with its
/// top bit set (so exactly 1024, 2048, 3072 or 4096 bits).
pub fn rsa_public_valid(n: &[u8]) -> bool {
    matches!(n.len(), 128 | 256 | 384 | 512)
        && n.first().is_some_and(|b| b & 0x80 != 0)
        && n.last().is_some_and(|b| b & 1 == 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A deterministic byte stream for unit tests (SplitMix64).
    struct TestRng(u64);
    impl KeyRng for TestRng {
        fn fill(&mut self, out: &mut [u8]) -> Result<(), KeyGenError> {
            for b in out.iter_mut() {
                self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                *b = (z ^ (z >> 31)) as u8;
            }
            Ok(())
        }
    }

    struct FailingRng;
    impl KeyRng for FailingRng {
        fn fill(&mut self, _: &mut [u8]) -> Result<(), KeyGenError> {
            Err(KeyGenError::Rng)
        }
    }

    /// Always returns the same bytes: every candidate is the same number.
    struct StuckRng(u8);
    impl KeyRng for StuckRng {
        fn fill(&mut self, out: &mut [u8]) -> Result<(), KeyGenError> {
            out.fill(self.0);
            Ok(())
        }
    }

    #[test]
    fn exponent_and_size_checks() {
        let mut rng = TestRng(1);
        for bits in [0u16, 512, 1023, 1536, 8192] {
            assert_eq!(
                rsa_generate(bits, 0, &mut rng).err(),
                Some(KeyGenError::KeySize)
            );
        }
        for e in [1u32, 2, 4, 65536] {
            assert_eq!(
                rsa_generate(1024, e, &mut rng).err(),
                Some(KeyGenError::Exponent)
            );
        }
        // Size is checked before the exponent.
        assert_eq!(
            rsa_generate(1000, 2, &mut rng).err(),
            Some(KeyGenError::KeySize)
        );
        assert_eq!(resolve_exponent(0), Ok(65537));
        assert_eq!(resolve_exponent(3), Ok(3));
        assert_eq!(resolve_exponent(u32::MAX), Ok(u32::MAX));
    }

    #[test]
    fn rng_failure_and_stuck_rng() {
        assert_eq!(
            rsa_generate(1024, 0, &mut FailingRng).err(),
            Some(KeyGenError::Rng)
        );
        // 0xff.. | bits = 2^512 - 1 = 3 * 5 * 17 * ...: rejected by trial
        // division every time, until the candidate limit.
        assert_eq!(
            rsa_generate(1024, 0, &mut StuckRng(0xff)).err(),
            Some(KeyGenError::Rng)
        );
    }

    #[test]
    fn generate_1024_small_exponent() {
        let mut rng = TestRng(7);
        let k = rsa_generate(1024, 3, &mut rng).unwrap();
        assert_eq!(k.bits(), 1024);
        assert_eq!(k.e(), 3);
        assert_eq!(k.n().len(), 128);
        assert_eq!((k.p().len(), k.q().len()), (64, 64));
        assert!(rsa_public_valid(k.n()));
        assert!(k.p()[0] >= 0xC0 && k.q()[0] >= 0xC0);
        // p, q = 2 mod 3 (gcd(p - 1, 3) = 1).
        assert_eq!(rem_be(k.p(), 3), 2);
        assert_eq!(rem_be(k.q(), 3), 2);
        assert!(miller_rabin(k.p(), &MR_BASES) && miller_rabin(k.q(), &MR_BASES));
        let again = rsa_from_prime(k.n(), 3, k.p()).unwrap();
        assert_eq!(again.q(), k.q());
        // Swapped primes rebuild too.
        let swapped = rsa_from_prime(k.n(), 3, k.q()).unwrap();
        assert_eq!(swapped.q(), k.p());
        // Debug hides the primes.
        let dbg = alloc::format!("{k:?}");
        assert_eq!(dbg, "RsaKeyPair { bits: 1024, e: 3, .. }");
    }

    #[test]
    fn coprime_and_distance() {
        // c = 7: c - 1 = 6 shares 3 with e = 3, not with 5.
        assert!(!coprime_to_minus_one(&[7], 3));
        assert!(coprime_to_minus_one(&[7], 5));
        assert!(!coprime_to_minus_one(&[1], 65537));
        assert!(!coprime_to_minus_one(&[7], 0));
        let p = [0xC0u8; 64];
        let mut q = p;
        assert!(!far_apart(&p, &q).unwrap());
        // k = 512: threshold 2^412, i.e. bit 4 of byte 12.
        q[12] ^= 0x10; // |p - q| = 2^412 exactly: not enough.
        assert!(!far_apart(&p, &q).unwrap());
        assert!(!far_apart(&q, &p).unwrap());
        q[63] ^= 1; // 2^412 + 1 (or - 1 in the other direction).
        assert_eq!(far_apart(&p, &q).unwrap(), q > p);
        q[12] ^= 0x30;
        assert!(far_apart(&p, &q).unwrap());
    }

    #[test]
    fn public_valid() {
        let mut n = [0xffu8; 256];
        assert!(rsa_public_valid(&n));
        n[255] = 0xfe;
        assert!(!rsa_public_valid(&n));
        n[255] = 0xff;
        n[0] = 0x7f;
        assert!(!rsa_public_valid(&n));
        assert!(!rsa_public_valid(&[0xff; 255]));
        assert!(!rsa_public_valid(&[0xff; 64]));
        assert!(!rsa_public_valid(&[]));
    }
}
