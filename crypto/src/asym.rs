//! Private-key operations on TPM keys: RSA-OAEP decryption through the rsa
//! crate's blinded, constant-time code (rsa 0.10), and the ECDH shared secret.

use alloc::vec::Vec;
use crypto_bigint::BoxedUint;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::{CurveAffine, CurveArithmetic, CurveGroup, FieldBytes, PrimeField};
use zeroize::{Zeroize, Zeroizing};

use crate::keygen::{KeyRng, fit_be};
use crate::{EccCurve, HashAlg, RsaKeyPair};

/// Why a private-key operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsymError {
    /// The key could not be rebuilt from its parts.
    Key,
    /// The ciphertext does not decrypt (bad padding, label or size).
    Decrypt,
    /// The peer point is not on the curve, or the result is the identity.
    Point,
}

/// The TPM's RNG as the blinding source rsa wants.
pub(crate) struct BlindingRng<'a>(pub(crate) &'a mut dyn KeyRng);

#[derive(Debug)]
pub(crate) struct RngFailure;

impl core::fmt::Display for RngFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the TPM random number generator failed")
    }
}

impl core::error::Error for RngFailure {}

impl rand_core::TryRng for BlindingRng<'_> {
    type Error = RngFailure;
    fn try_next_u32(&mut self) -> Result<u32, RngFailure> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, RngFailure> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngFailure> {
        self.0.fill(dst).map_err(|_| RngFailure)
    }
}

impl rand_core::TryCryptoRng for BlindingRng<'_> {}

pub(crate) fn rsa_private(key: &RsaKeyPair) -> Result<::rsa::PrivateKey, AsymError> {
    let half = u32::from(key.bits()) / 2;
    let p = BoxedUint::from_be_slice(key.p(), half).map_err(|_| AsymError::Key)?;
    let q = BoxedUint::from_be_slice(key.q(), half).map_err(|_| AsymError::Key)?;
    let e = BoxedUint::from(u64::from(key.e()));
    ::rsa::PrivateKey::from_p_q(p, q, e).map_err(|_| AsymError::Key)
}

/// RSAES-OAEP decryption (PKCS#1 v2.2) with `hash` for the label and MGF1, as
/// the TPM uses it for salts, secrets and RSA_Decrypt; `label` as given (the
/// TPM's labels carry their terminating zero). Blinded with `rng`.
pub fn rsa_oaep_decrypt(
    key: &RsaKeyPair,
    hash: HashAlg,
    label: &[u8],
    ciphertext: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<Zeroizing<Vec<u8>>, AsymError> {
    let sk = rsa_private(key)?;
    let mut r = BlindingRng(rng);
    let l = label.to_vec();
    let out = match hash {
        HashAlg::Sha1 => sk.decrypt_blinded(
            &mut r,
            ::rsa::Oaep::<sha1::Sha1>::new_with_label(l),
            ciphertext,
        ),
        HashAlg::Sha256 => sk.decrypt_blinded(
            &mut r,
            ::rsa::Oaep::<sha2::Sha256>::new_with_label(l),
            ciphertext,
        ),
        HashAlg::Sha384 => sk.decrypt_blinded(
            &mut r,
            ::rsa::Oaep::<sha2::Sha384>::new_with_label(l),
            ciphertext,
        ),
        HashAlg::Sha512 => sk.decrypt_blinded(
            &mut r,
            ::rsa::Oaep::<sha2::Sha512>::new_with_label(l),
            ciphertext,
        ),
    };
    out.map(Zeroizing::new).map_err(|_| AsymError::Decrypt)
}

/// RSAES-OAEP encryption to the public key `n`, `e` (the caller's side of a
/// salt; used by tests and by TPM2_RSA_Encrypt).
pub fn rsa_oaep_encrypt(
    n: &[u8],
    e: u32,
    hash: HashAlg,
    label: &[u8],
    message: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<Vec<u8>, AsymError> {
    let bits = u32::try_from(n.len() * 8).map_err(|_| AsymError::Key)?;
    let n = BoxedUint::from_be_slice(n, bits).map_err(|_| AsymError::Key)?;
    let pk = ::rsa::PublicKey::new(n, BoxedUint::from(u64::from(e))).map_err(|_| AsymError::Key)?;
    let mut r = BlindingRng(rng);
    let l = label.to_vec();
    let out = match hash {
        HashAlg::Sha1 => pk.encrypt(
            &mut r,
            ::rsa::Oaep::<sha1::Sha1>::new_with_label(l),
            message,
        ),
        HashAlg::Sha256 => pk.encrypt(
            &mut r,
            ::rsa::Oaep::<sha2::Sha256>::new_with_label(l),
            message,
        ),
        HashAlg::Sha384 => pk.encrypt(
            &mut r,
            ::rsa::Oaep::<sha2::Sha384>::new_with_label(l),
            message,
        ),
        HashAlg::Sha512 => pk.encrypt(
            &mut r,
            ::rsa::Oaep::<sha2::Sha512>::new_with_label(l),
            message,
        ),
    };
    out.map_err(|_| AsymError::Decrypt)
}

/// RSAES-PKCS1-v1_5 encryption (TPM_ALG_RSAES) to `n`, `e`.
pub fn rsa_pkcs1v15_encrypt(
    n: &[u8],
    e: u32,
    message: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<Vec<u8>, AsymError> {
    let pk = rsa_public(n, e)?;
    let mut r = BlindingRng(rng);
    pk.encrypt(&mut r, ::rsa::Pkcs1v15Encrypt, message)
        .map_err(|_| AsymError::Decrypt)
}

/// RSAES-PKCS1-v1_5 decryption, blinded with `rng`.
pub fn rsa_pkcs1v15_decrypt(
    key: &RsaKeyPair,
    ciphertext: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<Zeroizing<Vec<u8>>, AsymError> {
    let sk = rsa_private(key)?;
    let mut r = BlindingRng(rng);
    sk.decrypt_blinded(&mut r, ::rsa::Pkcs1v15Encrypt, ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| AsymError::Decrypt)
}

/// RSAEP without padding (TPM_ALG_NULL): `m^e mod n` of a message at most
/// the modulus long (leading zeros beyond that ignored), left-padded to the
/// modulus size. A value not below the modulus is refused.
pub fn rsa_raw_encrypt(n: &[u8], e: u32, message: &[u8]) -> Result<Vec<u8>, AsymError> {
    let pk = rsa_public(n, e)?;
    let m = modulus_sized(n, message)?;
    let c = ::rsa::hazmat::rsa_encrypt(&pk, &m).map_err(|_| AsymError::Decrypt)?;
    Ok(pad_be(&c.to_be_bytes(), n.len()))
}

/// RSADP without padding (TPM_ALG_NULL): `c^d mod n`, blinded with `rng`
/// and checked by re-encryption; the result is the modulus size.
pub fn rsa_raw_decrypt(
    key: &RsaKeyPair,
    ciphertext: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<Zeroizing<Vec<u8>>, AsymError> {
    let sk = rsa_private(key)?;
    let c = modulus_sized(key.n(), ciphertext)?;
    let mut r = BlindingRng(rng);
    let m = ::rsa::hazmat::rsa_decrypt_and_check(&sk, Some(&mut r), &c)
        .map_err(|_| AsymError::Decrypt)?;
    let bytes = Zeroizing::new(m.to_be_bytes());
    Ok(Zeroizing::new(pad_be(&bytes, key.n().len())))
}

fn rsa_public(n: &[u8], e: u32) -> Result<::rsa::PublicKey, AsymError> {
    let bits = u32::try_from(n.len() * 8).map_err(|_| AsymError::Key)?;
    let n = BoxedUint::from_be_slice(n, bits).map_err(|_| AsymError::Key)?;
    ::rsa::PublicKey::new(n, BoxedUint::from(u64::from(e))).map_err(|_| AsymError::Key)
}

/// `v` as a number of the modulus' precision, if it is below the modulus.
fn modulus_sized(n: &[u8], v: &[u8]) -> Result<BoxedUint, AsymError> {
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    let v = v.get(start..).unwrap_or_default();
    if v.len() > n.len() {
        return Err(AsymError::Decrypt);
    }
    let padded = pad_be(v, n.len());
    if padded.as_slice() >= n {
        return Err(AsymError::Decrypt);
    }
    let bits = u32::try_from(n.len() * 8).map_err(|_| AsymError::Key)?;
    BoxedUint::from_be_slice(&padded, bits).map_err(|_| AsymError::Decrypt)
}

/// Big-endian `v` left-padded with zeros (or stripped of leading bytes) to `len`.
fn pad_be(v: &[u8], len: usize) -> Vec<u8> {
    let mut out = alloc::vec![0u8; len];
    let take = v.len().min(len);
    let src = v.get(v.len() - take..).unwrap_or_default();
    if let Some(dst) = out.get_mut(len - take..) {
        dst.copy_from_slice(src);
    }
    out
}

/// An affine point (x, y), each coordinate `key_bytes` long.
pub type EcPoint = (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>);

/// The point `d * Q` (x, y), each `key_bytes` long: ECDH_ZGen's outPoint
/// and ECDH_KeyGen's zPoint. `Point` when Q is not on the curve.
pub fn ecdh_shared_point(
    curve: EccCurve,
    d: &[u8],
    qx: &[u8],
    qy: &[u8],
) -> Result<EcPoint, AsymError> {
    let len = curve.key_bytes();
    let d = fit_be(d, len).ok_or(AsymError::Key)?;
    let (qx, qy) = (
        fit_be(qx, len).ok_or(AsymError::Point)?,
        fit_be(qy, len).ok_or(AsymError::Point)?,
    );
    match curve {
        EccCurve::NistP256 => shared::<p256::NistP256>(&d, &qx, &qy),
        EccCurve::NistP384 => shared::<p384::NistP384>(&d, &qx, &qy),
        EccCurve::NistP521 => shared::<p521::NistP521>(&d, &qx, &qy),
    }
}

/// The x coordinate of `d * Q` (ECDH, SP800-56A C(0e,2s) / C(1e,1s) as the TPM
/// uses it for salts and ECDH_ZGen), `key_bytes` long.
pub fn ecdh_shared_x(
    curve: EccCurve,
    d: &[u8],
    qx: &[u8],
    qy: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AsymError> {
    ecdh_shared_point(curve, d, qx, qy).map(|(x, _)| x)
}

fn shared<C: CurveArithmetic>(d: &[u8], x: &[u8], y: &[u8]) -> Result<EcPoint, AsymError> {
    let mut repr = FieldBytes::<C>::default();
    let (mut fx, mut fy) = (FieldBytes::<C>::default(), FieldBytes::<C>::default());
    if repr.len() != d.len() || fx.len() != x.len() || fy.len() != y.len() {
        return Err(AsymError::Key);
    }
    for (dst, src) in repr.iter_mut().zip(d) {
        *dst = *src;
    }
    for (dst, src) in fx.iter_mut().zip(x) {
        *dst = *src;
    }
    for (dst, src) in fy.iter_mut().zip(y) {
        *dst = *src;
    }
    let scalar: Option<C::Scalar> = C::Scalar::from_repr(repr).into();
    repr.zeroize();
    let Some(mut scalar) = scalar else {
        return Err(AsymError::Key);
    };
    let point: Option<C::AffinePoint> = C::AffinePoint::from_coordinates(&fx, &fy).into();
    let Some(point) = point else {
        return Err(AsymError::Point);
    };
    let shared = (C::ProjectivePoint::from(point) * scalar).to_affine();
    scalar.zeroize();
    if bool::from(shared.is_identity()) {
        return Err(AsymError::Point);
    }
    Ok((
        Zeroizing::new(shared.x().to_vec()),
        Zeroizing::new(shared.y().to_vec()),
    ))
}
