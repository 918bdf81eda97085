//! The arithmetic behind TPM2_Commit, TPM2_EC_Ephemeral, TPM2_ZGen_2Phase
//! and ECDAA signing (Part 1, "ECDAA" and "Commit"; SP800-56A C(2e, 2s)):
//!
//! - [`ecc_reduce`]: `v mod m` for the commit computations (`x2 = H(s2) mod p`,
//!   the ECDAA challenge mod n);
//! - [`ecc_scalar_from_bytes`]: the commit random `r` from KDF output, as key
//!   generation reduces its random bytes;
//! - [`ecc_mul`]: `[k]P`, or `[k]G` without `P`;
//! - [`ecdaa_sign`] / [`ecdaa_verify`]: the TPM's half of an ECDAA signature.
//!
//! ECDAA as the TPM computes it (the reference's SignEcdaa): with the committed
//! random `r` (whose `[r]G` or `[r]P1` went out as E in TPM2_Commit), a fresh
//! `nonceK` in `1..n`, `T = H(nonceK || digest)` and `s = r + T * d (mod n)`;
//! the signature is (nonceK, s). The host's DAA protocol turns it into a full
//! signature; the TPM itself never verifies ECDAA.

use alloc::vec::Vec;
use crypto_bigint::{BoxedUint, NonZero};
use p256::elliptic_curve::{CurveAffine, point::AffineCoordinates};
use p256::elliptic_curve::{CurveArithmetic, CurveGroup, Field, FieldBytes, Group, PrimeField};
use zeroize::{Zeroize, Zeroizing};

use crate::asym::{AsymError, EcPoint};
use crate::ecc::reduce_to_scalar;
use crate::keygen::{KeyRng, fit_be};
use crate::sign::SignError;
use crate::{EccCurve, HashAlg};

fn bits(len: usize) -> Option<u32> {
    u32::try_from(len.max(1)).ok()?.checked_mul(8)
}

/// `v mod m` as `m.len()` big-endian bytes (None for a zero modulus).
pub fn ecc_reduce(m: &[u8], v: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let modulus = BoxedUint::from_be_slice(m, bits(m.len())?).ok()?;
    let modulus = NonZero::new(modulus).into_option()?;
    let v = Zeroizing::new(BoxedUint::from_be_slice(v, bits(v.len())?).ok()?);
    let r = Zeroizing::new(v.rem(&modulus));
    let bytes = Zeroizing::new(r.to_be_bytes().to_vec());
    fit_be(&bytes, m.len())
}

/// `(c mod (n - 1)) + 1`, `key_bytes` long: a scalar in `1..n` from random or
/// KDF bytes (`key_bytes + 8` of them keep the bias negligible).
pub fn ecc_scalar_from_bytes(curve: EccCurve, c: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    reduce_to_scalar(curve, c).ok()
}

/// The curve's field prime (for `x2 = H(s2) mod p`).
pub fn ecc_prime(curve: EccCurve) -> &'static [u8] {
    curve.parameters().p
}

/// The order of the curve's base point.
pub fn ecc_order(curve: EccCurve) -> &'static [u8] {
    curve.order()
}

fn scalar<C: CurveArithmetic>(bytes: &[u8]) -> Option<C::Scalar> {
    let mut repr = FieldBytes::<C>::default();
    let fitted = fit_be(bytes, repr.len())?;
    repr.copy_from_slice(&fitted);
    let s: Option<C::Scalar> = C::Scalar::from_repr(repr).into();
    repr.zeroize();
    s
}

fn point<C: CurveArithmetic>(x: &[u8], y: &[u8]) -> Option<C::AffinePoint> {
    let (mut fx, mut fy) = (FieldBytes::<C>::default(), FieldBytes::<C>::default());
    let len = fx.len();
    fx.copy_from_slice(&fit_be(x, len)?);
    fy.copy_from_slice(&fit_be(y, len)?);
    let p: Option<C::AffinePoint> = C::AffinePoint::from_coordinates(&fx, &fy).into();
    p.filter(|p| !bool::from(p.is_identity()))
}

/// `[k]P`, or `[k]G` when `p` is None; `k` must be in `1..n` (else `Key`),
/// `P` on the curve (else `Point`); a result at infinity is `Point`.
pub fn ecc_mul(curve: EccCurve, k: &[u8], p: Option<(&[u8], &[u8])>) -> Result<EcPoint, AsymError> {
    match curve {
        EccCurve::NistP256 => mul_on::<p256::NistP256>(k, p),
        EccCurve::NistP384 => mul_on::<p384::NistP384>(k, p),
        EccCurve::NistP521 => mul_on::<p521::NistP521>(k, p),
    }
}

fn mul_on<C: CurveArithmetic>(k: &[u8], p: Option<(&[u8], &[u8])>) -> Result<EcPoint, AsymError> {
    let mut k = scalar::<C>(k)
        .filter(|k| !bool::from(k.is_zero()))
        .ok_or(AsymError::Key)?;
    let base = match p {
        None => C::ProjectivePoint::generator(),
        Some((x, y)) => C::ProjectivePoint::from(point::<C>(x, y).ok_or(AsymError::Point)?),
    };
    let out = (base * k).to_affine();
    k.zeroize();
    if bool::from(out.is_identity()) {
        return Err(AsymError::Point);
    }
    Ok((
        Zeroizing::new(out.x().to_vec()),
        Zeroizing::new(out.y().to_vec()),
    ))
}

/// The ECDAA challenge `H(nonceK || digest) mod n` as a scalar.
fn challenge<C: CurveArithmetic>(
    curve: EccCurve,
    hash: HashAlg,
    nonce_k: &[u8],
    digest: &[u8],
) -> Option<C::Scalar> {
    let t = hash.digest(&[nonce_k, digest]);
    scalar::<C>(&ecc_reduce(curve.order(), t.as_bytes())?)
}

/// The TPM's ECDAA signature `(nonceK, s)` of `digest` with private key `d`
/// and committed random `r` (module docs). `nonceK` is drawn from `rng` like
/// a key, and given without leading zero bytes, as the reference does; `s`
/// is `key_bytes` long.
pub fn ecdaa_sign(
    curve: EccCurve,
    hash: HashAlg,
    d: &[u8],
    r: &[u8],
    digest: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
    match curve {
        EccCurve::NistP256 => ecdaa_on::<p256::NistP256>(curve, hash, d, r, digest, rng),
        EccCurve::NistP384 => ecdaa_on::<p384::NistP384>(curve, hash, d, r, digest, rng),
        EccCurve::NistP521 => ecdaa_on::<p521::NistP521>(curve, hash, d, r, digest, rng),
    }
}

fn ecdaa_on<C: CurveArithmetic>(
    curve: EccCurve,
    hash: HashAlg,
    d: &[u8],
    r: &[u8],
    digest: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
    let nonzero = |s: &C::Scalar| !bool::from(s.is_zero());
    let mut d = scalar::<C>(d).filter(nonzero).ok_or(SignError::Key)?;
    let mut r = scalar::<C>(r).filter(nonzero).ok_or(SignError::Key)?;
    let mut c = Zeroizing::new(alloc::vec![0u8; curve.key_bytes() + 8]);
    let mut result = Err(SignError::Rng);
    for _ in 0..4 {
        rng.fill(&mut c).map_err(|_| SignError::Rng)?;
        let k = reduce_to_scalar(curve, &c).map_err(|_| SignError::Rng)?;
        let start = k.iter().position(|b| *b != 0).unwrap_or(k.len());
        let nonce_k = k.get(start..).unwrap_or_default().to_vec();
        let t = challenge::<C>(curve, hash, &nonce_k, digest).ok_or(SignError::Digest)?;
        let s = r + t * d;
        if bool::from(s.is_zero()) {
            continue;
        }
        result = Ok((nonce_k, s.to_repr().to_vec()));
        break;
    }
    d.zeroize();
    r.zeroize();
    result
}

/// Whether `(nonceK, s)` is the TPM's ECDAA signature of `digest` under the
/// public key `Q` for the commitment `E = [r]G` (TPM2_Commit without P1):
/// `[s]G == E + [H(nonceK || digest)]Q`. For tests and hosts; the TPM itself
/// does not verify ECDAA.
#[allow(clippy::too_many_arguments)]
pub fn ecdaa_verify(
    curve: EccCurve,
    hash: HashAlg,
    q: (&[u8], &[u8]),
    e: (&[u8], &[u8]),
    digest: &[u8],
    nonce_k: &[u8],
    s: &[u8],
) -> bool {
    match curve {
        EccCurve::NistP256 => verify_on::<p256::NistP256>(curve, hash, q, e, digest, nonce_k, s),
        EccCurve::NistP384 => verify_on::<p384::NistP384>(curve, hash, q, e, digest, nonce_k, s),
        EccCurve::NistP521 => verify_on::<p521::NistP521>(curve, hash, q, e, digest, nonce_k, s),
    }
}

fn verify_on<C: CurveArithmetic>(
    curve: EccCurve,
    hash: HashAlg,
    q: (&[u8], &[u8]),
    e: (&[u8], &[u8]),
    digest: &[u8],
    nonce_k: &[u8],
    s: &[u8],
) -> bool {
    let (Some(q), Some(e), Some(s), Some(t)) = (
        point::<C>(q.0, q.1),
        point::<C>(e.0, e.1),
        scalar::<C>(s),
        challenge::<C>(curve, hash, nonce_k, digest),
    ) else {
        return false;
    };
    let lhs = C::ProjectivePoint::generator() * s;
    let rhs = C::ProjectivePoint::from(e) + C::ProjectivePoint::from(q) * t;
    lhs.to_affine() == rhs.to_affine()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::keygen::KeyGenError;

    struct Counter(u8);
    impl KeyRng for Counter {
        fn fill(&mut self, out: &mut [u8]) -> Result<(), KeyGenError> {
            for b in out.iter_mut() {
                self.0 = self.0.wrapping_add(0x3b);
                *b = self.0;
            }
            Ok(())
        }
    }

    #[test]
    fn ecdaa_round_trip_and_tamper() {
        for curve in EccCurve::ALL {
            let key = crate::ecc_from_private(curve, &[9; 20]).unwrap();
            let r = ecc_scalar_from_bytes(curve, &[0x5a; 80]).unwrap();
            let (ex, ey) = ecc_mul(curve, &r, None).unwrap();
            for hash in HashAlg::ALL {
                let digest = hash.digest(&[b"msg"]);
                let (k, s) =
                    ecdaa_sign(curve, hash, key.d(), &r, digest.as_bytes(), &mut Counter(3))
                        .unwrap();
                let q = (key.x(), key.y());
                assert!(ecdaa_verify(
                    curve,
                    hash,
                    q,
                    (&ex, &ey),
                    digest.as_bytes(),
                    &k,
                    &s
                ));
                let other = hash.digest(&[b"msh"]);
                assert!(!ecdaa_verify(
                    curve,
                    hash,
                    q,
                    (&ex, &ey),
                    other.as_bytes(),
                    &k,
                    &s
                ));
            }
        }
    }

    #[test]
    fn reduce_and_mul() {
        assert_eq!(&ecc_reduce(&[0x10], &[0x01, 0x23]).unwrap()[..], &[0x03]);
        assert!(ecc_reduce(&[0], &[1]).is_none());
        for curve in EccCurve::ALL {
            let g = crate::ecc_from_private(curve, &[1]).unwrap();
            let (x, y) = ecc_mul(curve, &[2], None).unwrap();
            let (x2, y2) = ecc_mul(curve, &[2], Some((g.x(), g.y()))).unwrap();
            assert_eq!((x.as_slice(), y.as_slice()), (x2.as_slice(), y2.as_slice()));
            assert_eq!(ecc_mul(curve, &[0], None).err(), Some(AsymError::Key));
            assert_eq!(
                ecc_mul(curve, &[1], Some((g.x(), g.x()))).err(),
                Some(AsymError::Point)
            );
        }
    }
}
