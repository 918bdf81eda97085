//! Signatures over a digest, as the TPM makes and checks them (Part 1,
//! "Signature Schemes"; Part 3, TPM2_Sign / TPM2_VerifySignature).
//!
//! - RSASSA-PKCS1-v1_5 and RSASSA-PSS (PKCS#1 v2.2), private operation
//!   through rsa 0.10's blinded path with the TPM's RNG as blinding source.
//!   PSS signs with a salt as long as the digest, or the longest that fits
//!   when the key is too small for that (1024-bit key, SHA-512): the
//!   reference TPM's choice. PSS verification accepts any salt length, as
//!   the reference's PssDecode does, so signatures made by other signers
//!   (openssl defaults to the longest salt) verify.
//! - ECDSA (FIPS 186-5) on P-256, P-384 and P-521. The per-signature nonce
//!   `k` comes from the caller's RNG (the TPM's DRBG), reduced exactly as key
//!   generation reduces its scalar (`L + 8` bytes, `k = c mod (n - 1) + 1`,
//!   FIPS 186-4 B.5.1). The reference TPM draws `k` from its DRBG too; RFC
//!   6979 would make signatures repeatable but needs its own HMAC-DRBG and
//!   buys nothing when the RNG is a seeded SP800-90A DRBG already.
//! - Digests longer than the curve order are truncated to its bit length
//!   (leftmost bytes; every supported order is a whole number of bytes or,
//!   for P-521, longer than any digest).
//!
//! - EC-Schnorr as the TPM defines it (see [`ecschnorr_sign`]).
//!
//! Verification never fails loudly: a malformed key or signature is simply
//! not a valid signature (`false`).

use alloc::vec::Vec;
use crypto_bigint::BoxedUint;
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::{
    CurveAffine, CurveArithmetic, CurveGroup, Field, FieldBytes, Group, PrimeField,
};
use zeroize::{Zeroize, Zeroizing};

use crate::asym::{BlindingRng, rsa_private};
use crate::ecc::reduce_to_scalar;
use crate::keygen::{KeyRng, fit_be};
use crate::{EccCurve, HashAlg, RsaKeyPair};

/// `$f::<C>(args)` with `C` the arithmetic of `$curve` (one monomorphic path per curve).
macro_rules! per_curve {
    ($curve:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $curve {
            EccCurve::NistP256 => $f::<p256::NistP256>($($arg),*),
            EccCurve::NistP384 => $f::<p384::NistP384>($($arg),*),
            EccCurve::NistP521 => $f::<p521::NistP521>($($arg),*),
        }
    };
}

/// Why a signature could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignError {
    /// The private key could not be rebuilt or is out of range.
    Key,
    /// The digest is not `hash`'s size (RSA), or is empty (ECC).
    Digest,
    /// The key is too small for the scheme and hash.
    KeySize,
    /// The RNG failed.
    Rng,
}

/// The PSS salt length the TPM signs with: the digest size, or the largest
/// that fits in a `modulus_bytes` encoding (RFC 8017 9.1.1 step 3).
pub fn pss_salt_len(hash: HashAlg, modulus_bytes: usize) -> usize {
    let h = hash.digest_size();
    modulus_bytes.saturating_sub(h + 2).min(h)
}

/// RSASSA-PKCS1-v1_5 signature of `digest` (which must be `hash`'s size).
pub fn rsa_pkcs1v15_sign(
    key: &RsaKeyPair,
    hash: HashAlg,
    digest: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<Vec<u8>, SignError> {
    let sk = rsa_signer(key, hash, digest)?;
    let mut r = BlindingRng(rng);
    sk.sign_with_rng(&mut r, pkcs1v15(hash), digest)
        .map_err(|e| rsa_sign_error(&e))
}

/// RSASSA-PSS signature of `digest` with MGF1 over `hash` and the salt
/// length of [`pss_salt_len`], the salt drawn from `rng`.
pub fn rsa_pss_sign(
    key: &RsaKeyPair,
    hash: HashAlg,
    digest: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<Vec<u8>, SignError> {
    use ::rsa::Pss;
    let sk = rsa_signer(key, hash, digest)?;
    let salt = pss_salt_len(hash, key.n().len());
    let mut r = BlindingRng(rng);
    let out = match hash {
        HashAlg::Sha1 => sk.sign_with_rng(&mut r, Pss::<sha1::Sha1>::new_with_salt(salt), digest),
        HashAlg::Sha256 => {
            sk.sign_with_rng(&mut r, Pss::<sha2::Sha256>::new_with_salt(salt), digest)
        }
        HashAlg::Sha384 => {
            sk.sign_with_rng(&mut r, Pss::<sha2::Sha384>::new_with_salt(salt), digest)
        }
        HashAlg::Sha512 => {
            sk.sign_with_rng(&mut r, Pss::<sha2::Sha512>::new_with_salt(salt), digest)
        }
    };
    out.map_err(|e| rsa_sign_error(&e))
}

/// The private key for signing `digest` (which must be `hash`'s size).
fn rsa_signer(
    key: &RsaKeyPair,
    hash: HashAlg,
    digest: &[u8],
) -> Result<::rsa::PrivateKey, SignError> {
    if digest.len() != hash.digest_size() {
        return Err(SignError::Digest);
    }
    rsa_private(key).map_err(|_| SignError::Key)
}

/// PKCS#1 v1.5 signature padding (DigestInfo prefix) for `hash`.
fn pkcs1v15(hash: HashAlg) -> ::rsa::Pkcs1v15Sign {
    use ::rsa::Pkcs1v15Sign;
    match hash {
        HashAlg::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
        HashAlg::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        HashAlg::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
        HashAlg::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
    }
}

fn rsa_sign_error(e: &::rsa::Error) -> SignError {
    match e {
        ::rsa::Error::Internal | ::rsa::Error::MessageTooLong => SignError::KeySize,
        ::rsa::Error::InputNotHashed => SignError::Digest,
        _ => SignError::Rng,
    }
}

fn rsa_public(n: &[u8], e: u32) -> Option<::rsa::PublicKey> {
    let bits = u32::try_from(n.len().checked_mul(8)?).ok()?;
    let n = BoxedUint::from_be_slice(n, bits).ok()?;
    ::rsa::PublicKey::new(n, BoxedUint::from(u64::from(e))).ok()
}

/// Whether `sig` is an RSASSA-PKCS1-v1_5 signature of `digest` under the
/// public key `n`, `e` (65537 for 0 is the caller's business).
pub fn rsa_pkcs1v15_verify(n: &[u8], e: u32, hash: HashAlg, digest: &[u8], sig: &[u8]) -> bool {
    let Some(pk) = rsa_public(n, e) else {
        return false;
    };
    digest.len() == hash.digest_size() && pk.verify(pkcs1v15(hash), digest, sig).is_ok()
}

/// Whether `sig` is an RSASSA-PSS signature of `digest` (MGF1 over `hash`)
/// under `n`, `e`, whatever salt length the signer chose.
pub fn rsa_pss_verify(n: &[u8], e: u32, hash: HashAlg, digest: &[u8], sig: &[u8]) -> bool {
    let Some(pk) = rsa_public(n, e) else {
        return false;
    };
    if digest.len() != hash.digest_size() {
        return false;
    }
    // salt_len None: the salt length is recovered from the encoding.
    fn any_salt<D: digest::Digest>() -> ::rsa::Pss<D> {
        let mut p = ::rsa::Pss::<D>::new();
        p.salt_len = None;
        p
    }
    let ok = match hash {
        HashAlg::Sha1 => pk.verify(any_salt::<sha1::Sha1>(), digest, sig),
        HashAlg::Sha256 => pk.verify(any_salt::<sha2::Sha256>(), digest, sig),
        HashAlg::Sha384 => pk.verify(any_salt::<sha2::Sha384>(), digest, sig),
        HashAlg::Sha512 => pk.verify(any_salt::<sha2::Sha512>(), digest, sig),
    };
    ok.is_ok()
}

/// The digest as an integer of the curve's byte length: truncated to the
/// leftmost `key_bytes` bytes, or left-padded with zeros.
fn digest_bytes<C: CurveArithmetic>(digest: &[u8]) -> Option<FieldBytes<C>> {
    let mut out = FieldBytes::<C>::default();
    let len = out.len();
    let used = digest.get(..digest.len().min(len))?;
    let start = len.checked_sub(used.len())?;
    out.get_mut(start..)?.copy_from_slice(used);
    Some(out)
}

fn field_bytes<C: CurveArithmetic>(bytes: &[u8]) -> Option<FieldBytes<C>> {
    let mut out = FieldBytes::<C>::default();
    let fitted = fit_be(bytes, out.len())?;
    out.copy_from_slice(&fitted);
    Some(out)
}

/// A scalar in `1..n` from big-endian bytes (leading zeros allowed).
fn nonzero_scalar<C: CurveArithmetic>(bytes: &[u8]) -> Option<C::Scalar> {
    let mut repr = field_bytes::<C>(bytes)?;
    let s: Option<C::Scalar> = C::Scalar::from_repr(repr).into();
    repr.zeroize();
    s.filter(|s| !bool::from(s.is_zero()))
}

/// What both verifications start from: the public point (on the curve, not
/// the identity) and `r`, `s` as scalars in `1..n`; None is "not a signature".
fn verify_inputs<C: CurveArithmetic>(
    qx: &[u8],
    qy: &[u8],
    r: &[u8],
    s: &[u8],
) -> Option<(C::AffinePoint, C::Scalar, C::Scalar)> {
    let (fx, fy) = (field_bytes::<C>(qx)?, field_bytes::<C>(qy)?);
    let q: Option<C::AffinePoint> = C::AffinePoint::from_coordinates(&fx, &fy).into();
    let q = q.filter(|q| !bool::from(q.is_identity()))?;
    Some((q, nonzero_scalar::<C>(r)?, nonzero_scalar::<C>(s)?))
}

/// One signing attempt's nonce `k`: `L + 8` bytes from `rng` reduced as key
/// generation reduces its scalar; None (draw again) if that is no scalar in `1..n`.
fn draw_nonce<C: CurveArithmetic>(
    curve: EccCurve,
    c: &mut [u8],
    rng: &mut dyn KeyRng,
) -> Result<Option<C::Scalar>, SignError> {
    rng.fill(c).map_err(|_| SignError::Rng)?;
    let k_bytes = reduce_to_scalar(curve, c).map_err(|_| SignError::Rng)?;
    Ok(nonzero_scalar::<C>(&k_bytes))
}

/// ECDSA signature `(r, s)` of `digest` with private scalar `d`, each
/// `curve.key_bytes()` long, big-endian. A fresh nonce is drawn from `rng`
/// for each attempt (a zero `r` or `s`, which has negligible probability,
/// draws again; a few attempts bound a broken RNG).
pub fn ecdsa_sign(
    curve: EccCurve,
    d: &[u8],
    digest: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
    if digest.is_empty() {
        return Err(SignError::Digest);
    }
    per_curve!(curve, ecdsa_sign_on(curve, d, digest, rng))
}

fn ecdsa_sign_on<C: CurveArithmetic>(
    curve: EccCurve,
    d: &[u8],
    digest: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
    let mut d = nonzero_scalar::<C>(d).ok_or(SignError::Key)?;
    let e = <C::Scalar as Reduce<FieldBytes<C>>>::reduce(
        &digest_bytes::<C>(digest).ok_or(SignError::Digest)?,
    );
    let mut c = Zeroizing::new(alloc::vec![0u8; curve.key_bytes() + 8]);
    for _ in 0..4 {
        let Some(mut k) = draw_nonce::<C>(curve, &mut c, rng)? else {
            continue;
        };
        let point = (C::ProjectivePoint::generator() * k).to_affine();
        let r = <C::Scalar as Reduce<FieldBytes<C>>>::reduce(&point.x());
        let k_inv: Option<C::Scalar> = k.invert().into();
        k.zeroize();
        let Some(mut k_inv) = k_inv else {
            continue;
        };
        let s = k_inv * (e + r * d);
        k_inv.zeroize();
        if bool::from(r.is_zero()) || bool::from(s.is_zero()) {
            continue;
        }
        d.zeroize();
        return Ok((r.to_repr().to_vec(), s.to_repr().to_vec()));
    }
    d.zeroize();
    Err(SignError::Rng)
}

/// Whether `(r, s)` is an ECDSA signature of `digest` under the public point
/// `(qx, qy)`. Coordinates and signature values may carry leading zeros or
/// be shorter than `key_bytes`.
pub fn ecdsa_verify(
    curve: EccCurve,
    qx: &[u8],
    qy: &[u8],
    digest: &[u8],
    r: &[u8],
    s: &[u8],
) -> bool {
    if digest.is_empty() {
        return false;
    }
    per_curve!(curve, ecdsa_verify_on(qx, qy, digest, r, s))
}

fn ecdsa_verify_on<C: CurveArithmetic>(
    qx: &[u8],
    qy: &[u8],
    digest: &[u8],
    r: &[u8],
    s: &[u8],
) -> bool {
    let Some((q, r, s)) = verify_inputs::<C>(qx, qy, r, s) else {
        return false;
    };
    let Some(e) = digest_bytes::<C>(digest) else {
        return false;
    };
    let e = <C::Scalar as Reduce<FieldBytes<C>>>::reduce(&e);
    let w: Option<C::Scalar> = s.invert().into();
    let Some(w) = w else {
        return false;
    };
    let x = (C::ProjectivePoint::generator() * (e * w) + C::ProjectivePoint::from(q) * (r * w))
        .to_affine();
    if bool::from(x.is_identity()) {
        return false;
    }
    <C::Scalar as Reduce<FieldBytes<C>>>::reduce(&x.x()) == r
}

/// The TPM's EC-Schnorr challenge: `H(x || digest)` with `x` the point's x
/// coordinate in `key_bytes` octets, truncated to the order's byte length
/// and returned as `key_bytes` big-endian octets.
fn schnorr_challenge(curve: EccCurve, hash: HashAlg, x: &[u8], digest: &[u8]) -> Option<Vec<u8>> {
    let h = hash.digest(&[x, digest]);
    let len = curve.key_bytes();
    let used = h.as_bytes().get(..h.len().min(len))?;
    Some(fit_be(used, len)?.to_vec())
}

/// EC-Schnorr as the TPM defines it (Part 1, "EC Schnorr"; the reference's
/// SchnorrEcc): a nonce `k` from `rng` as for ECDSA, `R = [k]G`,
/// `r = H(R.x || digest)` truncated to the order's length, `s = k + r * d
/// (mod n)`. Returns `(r, s)`, each `key_bytes` long. A challenge that is
/// not below `n` draws again, so every signature made here verifies.
pub fn ecschnorr_sign(
    curve: EccCurve,
    hash: HashAlg,
    d: &[u8],
    digest: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
    per_curve!(curve, schnorr_sign_on(curve, hash, d, digest, rng))
}

fn schnorr_sign_on<C: CurveArithmetic>(
    curve: EccCurve,
    hash: HashAlg,
    d: &[u8],
    digest: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
    let mut d = nonzero_scalar::<C>(d).ok_or(SignError::Key)?;
    let mut c = Zeroizing::new(alloc::vec![0u8; curve.key_bytes() + 8]);
    for _ in 0..4 {
        let Some(mut k) = draw_nonce::<C>(curve, &mut c, rng)? else {
            continue;
        };
        let point = (C::ProjectivePoint::generator() * k).to_affine();
        let challenge =
            schnorr_challenge(curve, hash, &point.x(), digest).ok_or(SignError::Digest)?;
        let Some(r) = nonzero_scalar::<C>(&challenge) else {
            k.zeroize();
            continue;
        };
        let s = k + r * d;
        k.zeroize();
        if bool::from(s.is_zero()) {
            continue;
        }
        d.zeroize();
        return Ok((challenge, s.to_repr().to_vec()));
    }
    d.zeroize();
    Err(SignError::Rng)
}

/// Whether `(r, s)` is a TPM EC-Schnorr signature of `digest` with `hash`
/// under `(qx, qy)`: `r` and `s` in `1..n`, and `H([s]G - [r]Q).x || digest)`
/// (truncated as when signing) equals `r`.
pub fn ecschnorr_verify(
    curve: EccCurve,
    hash: HashAlg,
    qx: &[u8],
    qy: &[u8],
    digest: &[u8],
    r: &[u8],
    s: &[u8],
) -> bool {
    per_curve!(curve, schnorr_verify_on(curve, hash, qx, qy, digest, r, s))
}

fn schnorr_verify_on<C: CurveArithmetic>(
    curve: EccCurve,
    hash: HashAlg,
    qx: &[u8],
    qy: &[u8],
    digest: &[u8],
    r: &[u8],
    s: &[u8],
) -> bool {
    let Some((q, rs, ss)) = verify_inputs::<C>(qx, qy, r, s) else {
        return false;
    };
    let point =
        (C::ProjectivePoint::generator() * ss - C::ProjectivePoint::from(q) * rs).to_affine();
    if bool::from(point.is_identity()) {
        return false;
    }
    let (Some(expected), Some(r)) = (
        schnorr_challenge(curve, hash, &point.x(), digest),
        fit_be(r, curve.key_bytes()),
    ) else {
        return false;
    };
    expected == *r
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
    fn salt_lengths() {
        assert_eq!(pss_salt_len(HashAlg::Sha256, 256), 32);
        assert_eq!(pss_salt_len(HashAlg::Sha512, 128), 62);
        assert_eq!(pss_salt_len(HashAlg::Sha1, 128), 20);
    }

    #[test]
    fn ecdsa_round_trip_and_tamper() {
        for curve in EccCurve::ALL {
            let key = crate::ecc_from_private(curve, &[7; 20]).unwrap();
            let (x, y) = (key.x(), key.y());
            for alg in HashAlg::ALL {
                let digest = alg.digest(&[b"abc"]);
                let d = digest.as_bytes();
                let ecdsa = |qx, qy, r: &[u8], s: &[u8]| ecdsa_verify(curve, qx, qy, d, r, s);
                let (r, s) = ecdsa_sign(curve, key.d(), d, &mut Counter(1)).unwrap();
                assert_eq!((r.len(), s.len()), (curve.key_bytes(), curve.key_bytes()));
                assert!(ecdsa(x, y, &r, &s));
                let mut bad = s.clone();
                bad[5] ^= 1;
                assert!(!ecdsa(x, y, &r, &bad));
                assert!(!ecdsa(x, y, &s, &r));
                assert!(!ecdsa(x, y, &[], &s));
                assert!(!ecdsa(y, x, &r, &s));
                let (r, s) = ecschnorr_sign(curve, alg, key.d(), d, &mut Counter(2)).unwrap();
                let schnorr = |digest: &[u8], r: &[u8], s: &[u8]| {
                    ecschnorr_verify(curve, alg, x, y, digest, r, s)
                };
                assert!(schnorr(d, &r, &s));
                assert!(!schnorr(&[1, 2], &r, &s));
                assert!(!schnorr(d, &s, &r));
                assert!(!ecdsa(x, y, &r, &s));
            }
        }
        assert_eq!(
            ecdsa_sign(EccCurve::NistP256, &[0], &[1; 32], &mut Counter(0)),
            Err(SignError::Key)
        );
        assert_eq!(
            ecdsa_sign(EccCurve::NistP256, &[1], &[], &mut Counter(0)),
            Err(SignError::Digest)
        );
    }
}
