//! Deterministic ECC key generation on the NIST prime curves.
//!
//! # Compatibility contract
//!
//! `ecc_generate(curve, rng)` (FIPS 186-4 B.4.1, key pair generation using
//! extra random bits), with `L = key_bytes` (32, 48, 66):
//!
//! 1. `rng.fill` exactly `L + 8` bytes in one request (with
//!    [`CtrDrbg`](crate::CtrDrbg): one `generate(L + 8, no additional
//!    input)` call), read as a big-endian integer `c`;
//! 2. `d = (c mod (n - 1)) + 1`, with `n` the order of the curve's base
//!    point, so `1 <= d <= n - 1`;
//! 3. `Q = d * G`; the key is `d`, `Q.x`, `Q.y`, each `L` bytes big-endian.
//!
//! The mapping from bytes to `d` is ours and frozen (witness:
//! `tests/vectors/keygen_ecc.txt`); only the reduction (`crypto-bigint`)
//! and the point multiplication (`p256`, `p384`, `p521`) are taken from
//! dependencies, and their results are fixed by mathematics.

use alloc::vec;
use alloc::vec::Vec;
use crypto_bigint::{BoxedUint, NonZero};
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::{
    CurveAffine, CurveArithmetic, CurveGroup, Field, FieldBytes, Group, PrimeField,
};
use zeroize::{Zeroize, Zeroizing};

use crate::keygen::{KeyGenError, KeyRng, fit_be};

/// A NIST prime curve the TPM supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EccCurve {
    /// NIST P-256 (secp256r1), `TPM_ECC_NIST_P256`.
    NistP256,
    /// NIST P-384 (secp384r1), `TPM_ECC_NIST_P384`.
    NistP384,
    /// NIST P-521 (secp521r1), `TPM_ECC_NIST_P521`.
    NistP521,
}

/// Decodes a hex constant at compile time.
#[allow(
    clippy::indexing_slicing,
    reason = "const evaluation: an out-of-range index is a compile error, never a runtime panic"
)]
const fn hex<const N: usize>(s: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => 0xff,
        }
    }
    let s = s.as_bytes();
    assert!(s.len() == 2 * N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        let (hi, lo) = (nibble(s[2 * i]), nibble(s[2 * i + 1]));
        assert!(hi < 16 && lo < 16, "not a hex digit");
        out[i] = (hi << 4) | lo;
        i += 1;
    }
    out
}

/// Base point orders, big-endian, `key_bytes` long (FIPS 186-4 D.1.2).
static ORDER_P256: [u8; 32] =
    hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
static ORDER_P384: [u8; 48] = hex(concat!(
    "ffffffffffffffffffffffffffffffffffffffffffffffff",
    "c7634d81f4372ddf581a0db248b0a77aecec196accc52973"
));
static ORDER_P521: [u8; 66] = hex(concat!(
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409"
));

/// Domain parameters (FIPS 186-4 D.1.2; SEC 2), each coordinate-sized.
static P256_P: [u8; 32] = hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
static P256_A: [u8; 32] = hex("ffffffff00000001000000000000000000000000fffffffffffffffffffffffc");
static P256_B: [u8; 32] = hex("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b");
static P256_GX: [u8; 32] = hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
static P256_GY: [u8; 32] = hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
static P384_P: [u8; 48] = hex(concat!(
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe",
    "ffffffff0000000000000000ffffffff"
));
static P384_A: [u8; 48] = hex(concat!(
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe",
    "ffffffff0000000000000000fffffffc"
));
static P384_B: [u8; 48] = hex(concat!(
    "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a",
    "c656398d8a2ed19d2a85c8edd3ec2aef"
));
static P384_GX: [u8; 48] = hex(concat!(
    "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38",
    "5502f25dbf55296c3a545e3872760ab7"
));
static P384_GY: [u8; 48] = hex(concat!(
    "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c0",
    "0a60b1ce1d7e819d7a431d7c90ea0e5f"
));
static P521_P: [u8; 66] = hex(concat!(
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffff"
));
static P521_A: [u8; 66] = hex(concat!(
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "fffc"
));
static P521_B: [u8; 66] = hex(concat!(
    "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef1",
    "09e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b50",
    "3f00"
));
static P521_GX: [u8; 66] = hex(concat!(
    "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d",
    "3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5",
    "bd66"
));
static P521_GY: [u8; 66] = hex(concat!(
    "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e",
    "662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd1",
    "6650"
));

/// A curve's domain parameters, for TPM2_ECC_Parameters: the field prime
/// `p`, coefficients `a` and `b`, base point (`gx`, `gy`), order `n`; the
/// cofactor of all three curves is 1.
#[derive(Clone, Copy, Debug)]
pub struct EccParameters {
    pub p: &'static [u8],
    pub a: &'static [u8],
    pub b: &'static [u8],
    pub gx: &'static [u8],
    pub gy: &'static [u8],
    pub n: &'static [u8],
}

impl EccCurve {
    /// Every supported curve.
    pub const ALL: [EccCurve; 3] = [EccCurve::NistP256, EccCurve::NistP384, EccCurve::NistP521];

    /// From a `TPM_ECC_CURVE` value (0x0003, 0x0004, 0x0005).
    pub fn from_tpm_id(id: u16) -> Option<EccCurve> {
        match id {
            0x0003 => Some(EccCurve::NistP256),
            0x0004 => Some(EccCurve::NistP384),
            0x0005 => Some(EccCurve::NistP521),
            _ => None,
        }
    }

    /// The `TPM_ECC_CURVE` value.
    pub fn tpm_id(self) -> u16 {
        match self {
            EccCurve::NistP256 => 0x0003,
            EccCurve::NistP384 => 0x0004,
            EccCurve::NistP521 => 0x0005,
        }
    }

    /// Length of a private scalar and of each coordinate: 32, 48 or 66.
    pub fn key_bytes(self) -> usize {
        self.order().len()
    }

    /// The curve's domain parameters.
    pub fn parameters(self) -> EccParameters {
        let n = self.order();
        match self {
            EccCurve::NistP256 => EccParameters {
                p: &P256_P,
                a: &P256_A,
                b: &P256_B,
                gx: &P256_GX,
                gy: &P256_GY,
                n,
            },
            EccCurve::NistP384 => EccParameters {
                p: &P384_P,
                a: &P384_A,
                b: &P384_B,
                gx: &P384_GX,
                gy: &P384_GY,
                n,
            },
            EccCurve::NistP521 => EccParameters {
                p: &P521_P,
                a: &P521_A,
                b: &P521_B,
                gx: &P521_GX,
                gy: &P521_GY,
                n,
            },
        }
    }

    pub(crate) fn order(self) -> &'static [u8] {
        match self {
            EccCurve::NistP256 => &ORDER_P256,
            EccCurve::NistP384 => &ORDER_P384,
            EccCurve::NistP521 => &ORDER_P521,
        }
    }
}

/// An ECC key pair. `d` is zeroized on drop; `Debug` does not show it.
#[derive(Clone)]
pub struct EccKeyPair {
    curve: EccCurve,
    d: Zeroizing<Vec<u8>>,
    x: Vec<u8>,
    y: Vec<u8>,
}

impl EccKeyPair {
    /// The curve.
    pub fn curve(&self) -> EccCurve {
        self.curve
    }

    /// The private scalar, big-endian, `key_bytes` long.
    pub fn d(&self) -> &[u8] {
        &self.d
    }

    /// The public point's x coordinate, big-endian, `key_bytes` long.
    pub fn x(&self) -> &[u8] {
        &self.x
    }

    /// The public point's y coordinate, big-endian, `key_bytes` long.
    pub fn y(&self) -> &[u8] {
        &self.y
    }
}

impl core::fmt::Debug for EccKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EccKeyPair")
            .field("curve", &self.curve)
            .finish_non_exhaustive()
    }
}

/// Generates a key pair as described in the module documentation (a
/// compatibility contract).
pub fn ecc_generate(curve: EccCurve, rng: &mut dyn KeyRng) -> Result<EccKeyPair, KeyGenError> {
    let len = curve.key_bytes();
    let mut c = Zeroizing::new(vec![0u8; len + 8]);
    rng.fill(&mut c)?;
    let d = reduce_to_scalar(curve, &c)?;
    with_public(curve, d)
}

fn bit_len(bytes: usize) -> Result<u32, KeyGenError> {
    u32::try_from(bytes)
        .ok()
        .and_then(|b| b.checked_mul(8))
        .ok_or(KeyGenError::Curve)
}

/// `(c mod (n - 1)) + 1` as `key_bytes` big-endian bytes.
pub(crate) fn reduce_to_scalar(
    curve: EccCurve,
    c: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyGenError> {
    let len = curve.key_bytes();
    let order_bits = bit_len(len)?;
    let n = BoxedUint::from_be_slice(curve.order(), order_bits).map_err(|_| KeyGenError::Curve)?;
    let one = BoxedUint::one_with_precision(n.bits_precision());
    let modulus = NonZero::new(n.wrapping_sub(&one))
        .into_option()
        .ok_or(KeyGenError::Curve)?;
    let c = Zeroizing::new(
        BoxedUint::from_be_slice(c, bit_len(c.len())?).map_err(|_| KeyGenError::Rng)?,
    );
    let r = Zeroizing::new(c.rem(&modulus));
    // r < n - 1 < 2^(8 len) <= 2^precision: no overflow.
    let d = Zeroizing::new(r.wrapping_add(&one));
    let bytes = Zeroizing::new(d.to_be_bytes().to_vec());
    let start = bytes.len().checked_sub(len).ok_or(KeyGenError::Curve)?;
    let out = bytes.get(start..).ok_or(KeyGenError::Curve)?;
    Ok(Zeroizing::new(out.to_vec()))
}

/// Completes a key pair from a `key_bytes`-long scalar, which must be in
/// `1..n` (else `Binding`).
fn with_public(curve: EccCurve, d: Zeroizing<Vec<u8>>) -> Result<EccKeyPair, KeyGenError> {
    let (x, y) = match curve {
        EccCurve::NistP256 => public_point::<p256::NistP256>(&d)?,
        EccCurve::NistP384 => public_point::<p384::NistP384>(&d)?,
        EccCurve::NistP521 => public_point::<p521::NistP521>(&d)?,
    };
    Ok(EccKeyPair { curve, d, x, y })
}

/// `d * G` as affine (x, y), for `d` in `1..n` given in exactly the
/// curve's field length.
fn public_point<C: CurveArithmetic>(d: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KeyGenError> {
    let mut repr = FieldBytes::<C>::default();
    if repr.len() != d.len() {
        return Err(KeyGenError::Binding);
    }
    for (dst, src) in repr.iter_mut().zip(d) {
        *dst = *src;
    }
    let scalar: Option<C::Scalar> = C::Scalar::from_repr(repr).into();
    repr.zeroize();
    let Some(mut scalar) = scalar else {
        return Err(KeyGenError::Binding);
    };
    if bool::from(scalar.is_zero()) {
        return Err(KeyGenError::Binding);
    }
    let point = C::ProjectivePoint::generator() * scalar;
    scalar.zeroize();
    let affine = point.to_affine();
    Ok((affine.x().to_vec(), affine.y().to_vec()))
}

/// Rebuilds a key pair from a private scalar: big-endian, leading zero
/// bytes allowed, at most `key_bytes` significant bytes, and `1 <= d < n`;
/// otherwise `Binding`.
pub fn ecc_from_private(curve: EccCurve, d: &[u8]) -> Result<EccKeyPair, KeyGenError> {
    let d = fit_be(d, curve.key_bytes()).ok_or(KeyGenError::Binding)?;
    with_public(curve, d)
}

/// `(x, y)` is a point on the curve other than the identity, with both
/// coordinates below the field prime. Coordinates may be shorter than
/// `key_bytes` (leading zeros stripped) or carry extra leading zero bytes.
pub fn ecc_point_valid(curve: EccCurve, x: &[u8], y: &[u8]) -> bool {
    let len = curve.key_bytes();
    let (Some(x), Some(y)) = (fit_be(x, len), fit_be(y, len)) else {
        return false;
    };
    match curve {
        EccCurve::NistP256 => on_curve::<p256::NistP256>(&x, &y),
        EccCurve::NistP384 => on_curve::<p384::NistP384>(&x, &y),
        EccCurve::NistP521 => on_curve::<p521::NistP521>(&x, &y),
    }
}

fn on_curve<C: CurveArithmetic>(x: &[u8], y: &[u8]) -> bool {
    let (mut fx, mut fy) = (FieldBytes::<C>::default(), FieldBytes::<C>::default());
    if fx.len() != x.len() || fy.len() != y.len() {
        return false;
    }
    for (dst, src) in fx.iter_mut().zip(x) {
        *dst = *src;
    }
    for (dst, src) in fy.iter_mut().zip(y) {
        *dst = *src;
    }
    // Rejects coordinates >= p and points off the curve.
    let point: Option<C::AffinePoint> = C::AffinePoint::from_coordinates(&fx, &fy).into();
    point.is_some_and(|p| !bool::from(p.is_identity()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    struct Bytes(Vec<u8>);
    impl KeyRng for Bytes {
        fn fill(&mut self, out: &mut [u8]) -> Result<(), KeyGenError> {
            if out.len() != self.0.len() {
                return Err(KeyGenError::Rng);
            }
            out.copy_from_slice(&self.0);
            Ok(())
        }
    }

    fn scalar_ok<C: CurveArithmetic>(bytes: &[u8]) -> bool {
        let mut repr = FieldBytes::<C>::default();
        repr.copy_from_slice(bytes);
        Option::<C::Scalar>::from(C::Scalar::from_repr(repr)).is_some()
    }

    fn minus_one(v: &[u8]) -> Vec<u8> {
        let mut v = v.to_vec();
        for b in v.iter_mut().rev() {
            let (r, borrow) = b.overflowing_sub(1);
            *b = r;
            if !borrow {
                break;
            }
        }
        v
    }

    #[test]
    fn orders_match_the_curve_crates() {
        let check = |order: &[u8], ok: fn(&[u8]) -> bool| {
            assert!(!ok(order));
            assert!(ok(&minus_one(order)));
        };
        check(&ORDER_P256, scalar_ok::<p256::NistP256>);
        check(&ORDER_P384, scalar_ok::<p384::NistP384>);
        check(&ORDER_P521, scalar_ok::<p521::NistP521>);
    }

    #[test]
    fn ids_and_sizes() {
        for c in EccCurve::ALL {
            assert_eq!(EccCurve::from_tpm_id(c.tpm_id()), Some(c));
        }
        assert_eq!(EccCurve::from_tpm_id(0), None);
        assert_eq!(EccCurve::from_tpm_id(0x0010), None);
        let sizes: Vec<usize> = EccCurve::ALL.iter().map(|c| c.key_bytes()).collect();
        assert_eq!(sizes, [32, 48, 66]);
    }

    #[test]
    fn reduction_edges() {
        for curve in EccCurve::ALL {
            let len = curve.key_bytes();
            let n = curve.order();
            // c = 0 -> d = 1 (the generator).
            let k = ecc_generate(curve, &mut Bytes(vec![0; len + 8])).unwrap();
            let mut one = vec![0u8; len];
            one[len - 1] = 1;
            assert_eq!(k.d(), &one[..]);
            // c = n - 2 -> d = n - 1; c = n - 1 -> d = 1.
            let mut c = vec![0u8; 8];
            c.extend_from_slice(&minus_one(&minus_one(n)));
            let k = ecc_generate(curve, &mut Bytes(c.clone())).unwrap();
            assert_eq!(k.d(), &minus_one(n)[..]);
            let k2 = ecc_generate(curve, &mut Bytes(minus_one(&c))).unwrap();
            assert_eq!(k2.d(), &minus_one(&minus_one(n))[..]);
            c = vec![0u8; 8];
            c.extend_from_slice(&minus_one(n));
            assert_eq!(ecc_generate(curve, &mut Bytes(c)).unwrap().d(), &one[..]);
            // All ones: the largest input.
            let k = ecc_generate(curve, &mut Bytes(vec![0xff; len + 8])).unwrap();
            assert!(ecc_point_valid(curve, k.x(), k.y()));
            // (n - 1) * G = -G: same x as G, y = p - G.y.
            let g = ecc_from_private(curve, &one).unwrap();
            let neg = ecc_from_private(curve, &minus_one(n)).unwrap();
            assert_eq!(g.x(), neg.x());
            assert_ne!(g.y(), neg.y());
        }
    }

    #[test]
    fn private_range() {
        for curve in EccCurve::ALL {
            let n = curve.order();
            assert_eq!(
                ecc_from_private(curve, &[]).err(),
                Some(KeyGenError::Binding)
            );
            assert_eq!(
                ecc_from_private(curve, &[0, 0]).err(),
                Some(KeyGenError::Binding)
            );
            assert_eq!(ecc_from_private(curve, n).err(), Some(KeyGenError::Binding));
            assert_eq!(
                ecc_from_private(curve, &[0xff; 66]).err(),
                Some(KeyGenError::Binding)
            );
            let mut long = vec![1u8];
            long.extend_from_slice(&vec![0u8; curve.key_bytes()]);
            assert_eq!(
                ecc_from_private(curve, &long).err(),
                Some(KeyGenError::Binding)
            );
            let k = ecc_from_private(curve, &[0, 0, 0, 2]).unwrap();
            assert_eq!(k.curve(), curve);
            assert_eq!(k.d().len(), curve.key_bytes());
            assert!(ecc_point_valid(curve, k.x(), k.y()));
            assert_eq!(
                alloc::format!("{k:?}"),
                alloc::format!("EccKeyPair {{ curve: {curve:?}, .. }}")
            );
        }
    }

    #[test]
    fn point_validation() {
        for curve in EccCurve::ALL {
            let len = curve.key_bytes();
            let g = ecc_from_private(curve, &[1]).unwrap();
            assert!(ecc_point_valid(curve, g.x(), g.y()));
            let mut y = g.y().to_vec();
            y[len - 1] ^= 1;
            assert!(!ecc_point_valid(curve, g.x(), &y));
            assert!(!ecc_point_valid(curve, &[0], &[0]));
            assert!(!ecc_point_valid(curve, &[], &[]));
            assert!(!ecc_point_valid(curve, &vec![0xff; len], &vec![0xff; len]));
            assert!(!ecc_point_valid(curve, &vec![0xff; len + 1], g.y()));
            // Extra leading zero bytes are fine.
            let mut x = vec![0, 0];
            x.extend_from_slice(g.x());
            assert!(ecc_point_valid(curve, &x, g.y()));
        }
    }
}
