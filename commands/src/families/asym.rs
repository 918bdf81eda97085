//! Asymmetric primitives (Part 3, section 14): RSA_Encrypt, RSA_Decrypt,
//! ECDH_KeyGen, ECDH_ZGen, ECC_Parameters, EC_Ephemeral, ZGen_2Phase.

use alloc::vec::Vec;
use tpm2_protocol::basic::TpmUint16;
use vtpm_crypto::{AsymError, EccCurve, HashAlg};
use zeroize::Zeroizing;

use crate::object::public::{
    DECRYPT, MAX_ECC_KEY_BYTES, MAX_RSA_KEY_BYTES, Parms, RESTRICTED, Reader, Unique,
};
use crate::object::{Object, alg};
use crate::pipeline::Ctx;
use crate::rc::{Rc, ValueKind};

/// TPM2B_DATA (sizeof(TPMT_HA)): the OAEP label.
const MAX_DATA: usize = 66;

/// TPMT_RSA_DECRYPT(+): RSAES, OAEP (with its hash) or NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RsaDecryptScheme {
    pub scheme: u16,
    /// The OAEP hash (NULL otherwise).
    pub hash: u16,
}

impl RsaDecryptScheme {
    /// Unmarshals TPMT_RSA_DECRYPT+: another scheme is TPM_RC_VALUE, an OAEP
    /// hash that is not a hash TPM_RC_HASH.
    pub fn parse(r: &mut Reader<'_>) -> Result<RsaDecryptScheme, Rc> {
        let scheme = r.u16()?;
        let hash = match scheme {
            alg::NULL | alg::RSAES => alg::NULL,
            alg::OAEP => {
                let h = r.u16()?;
                HashAlg::from_alg_id(h).ok_or(Rc::HASH)?;
                h
            }
            _ => return Err(Rc::VALUE),
        };
        Ok(RsaDecryptScheme { scheme, hash })
    }
}

/// CryptRsaSelectScheme: the key's scheme when it has one (the input must
/// then be NULL or the same), else the input's. None when they conflict.
fn select_rsa_scheme(key: &Object, input: RsaDecryptScheme) -> Option<RsaDecryptScheme> {
    let Parms::Rsa { scheme, .. } = &key.public.parms else {
        return None;
    };
    let own = RsaDecryptScheme {
        scheme: scheme.scheme,
        hash: scheme.hash,
    };
    if own.scheme == alg::NULL {
        Some(input)
    } else if input.scheme == alg::NULL || input == own {
        Some(own)
    } else {
        None
    }
}

/// A label is empty or a NUL-terminated string (IsLabelProperlyFormatted).
fn label_ok(label: &[u8]) -> bool {
    label.last().is_none_or(|b| *b == 0)
}

/// The RSA key behind handle 1: TPM_RC_KEY if it is not one.
fn rsa_key(key: &Object) -> Result<(&[u8], u32), Rc> {
    match (&key.public.parms, &key.public.unique) {
        (Parms::Rsa { exponent, .. }, Unique::Rsa(n)) if key.public.object_type == alg::RSA => {
            Ok((n, crate::object::create::rsa_exponent(*exponent)?))
        }
        _ => Err(Rc::KEY.handle(1)),
    }
}

/// Reads message/cipherText, inScheme and label, with the key checks of
/// both commands in the reference order.
fn rsa_inputs(
    ctx: &mut Ctx<'_>,
    decrypt: bool,
) -> Result<(Vec<u8>, RsaDecryptScheme, Vec<u8>, Object), Rc> {
    let data = ctx.params.read_2b(MAX_RSA_KEY_BYTES)?.to_vec();
    let input = ctx.params.read_struct(RsaDecryptScheme::parse)?;
    let label = ctx.params.read_2b(MAX_DATA)?.to_vec();
    ctx.params.finish()?;
    let key = ctx.engine.object_or_err(ctx.handles[0])?.clone();
    rsa_key(&key)?;
    let restricted_bad = decrypt && key.public.has(RESTRICTED);
    if restricted_bad || !key.public.has(DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if !label_ok(&label) {
        return Err(Rc::VALUE.param(3));
    }
    let scheme = select_rsa_scheme(&key, input).ok_or(Rc::SCHEME.param(2))?;
    Ok((data, scheme, label, key))
}

/// TPM2_RSA_Encrypt (Part 3, 14.2): encrypts with the public part of an RSA
/// decryption key: OAEP (the label must end in a zero byte), RSAES
/// (PKCS#1 v1.5) or, with no scheme on either side, raw RSAEP.
pub fn rsa_encrypt(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let (message, scheme, label, key) = rsa_inputs(ctx, false)?;
    let (n, e) = rsa_key(&key)?;
    let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
    let out = match scheme.scheme {
        alg::OAEP => {
            let hash = HashAlg::from_alg_id(scheme.hash).ok_or(Rc::SCHEME)?;
            vtpm_crypto::rsa_oaep_encrypt(n, e, hash, &label, &message, &mut rng)
        }
        alg::RSAES => vtpm_crypto::rsa_pkcs1v15_encrypt(n, e, &message, &mut rng),
        _ => vtpm_crypto::rsa_raw_encrypt(n, e, &message),
    }
    // Too long for the padding, or (raw) not below the modulus.
    .map_err(|_| Rc::VALUE)?;
    ctx.out.tpm2b(&out);
    Ok(())
}

/// TPM2_RSA_Decrypt (Part 3, 14.3): decrypts with an unrestricted RSA
/// decryption key; the ciphertext must be the modulus size (TPM_RC_SIZE)
/// and its padding right (TPM_RC_VALUE). Private operations are blinded.
pub fn rsa_decrypt(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let (cipher, scheme, label, key) = rsa_inputs(ctx, true)?;
    let (n, e) = rsa_key(&key)?;
    if cipher.len() != n.len() {
        return Err(Rc::SIZE);
    }
    let prime = key.sensitive.as_ref().ok_or(Rc::KEY.handle(1))?;
    let pair = vtpm_crypto::rsa_from_prime(n, e, prime.secret.as_bytes())
        .map_err(|_| Rc::BINDING.handle(1))?;
    let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
    let plain = match scheme.scheme {
        alg::OAEP => {
            let hash = HashAlg::from_alg_id(scheme.hash).ok_or(Rc::SCHEME)?;
            vtpm_crypto::rsa_oaep_decrypt(&pair, hash, &label, &cipher, &mut rng)
        }
        alg::RSAES => vtpm_crypto::rsa_pkcs1v15_decrypt(&pair, &cipher, &mut rng),
        _ => vtpm_crypto::rsa_raw_decrypt(&pair, &cipher, &mut rng),
    }
    .map_err(|e| match e {
        AsymError::Key => Rc::BINDING.handle(1),
        _ => Rc::VALUE,
    })?;
    ctx.out.tpm2b(&plain);
    Ok(())
}

/// The ECC key behind handle 1: its curve and public point (TPM_RC_KEY if
/// it is not an ECC key).
fn ecc_key(key: &Object) -> Result<(EccCurve, &[u8], &[u8]), Rc> {
    match (&key.public.parms, &key.public.unique) {
        (Parms::Ecc { curve, .. }, Unique::Ecc { x, y }) => Ok((*curve, x, y)),
        _ => Err(Rc::KEY.handle(1)),
    }
}

/// TPMS_ECC_POINT as a TPM2B_ECC_POINT (empty coordinates give the
/// reference's "empty point", size 4).
pub(crate) fn put_point(ctx: &mut Ctx<'_>, x: &[u8], y: &[u8]) {
    let mut inner = Zeroizing::new(Vec::with_capacity(4 + x.len() + y.len()));
    crate::object::public::put2b(&mut inner, x);
    crate::object::public::put2b(&mut inner, y);
    ctx.out.tpm2b(&inner);
}

/// TPM2_ECDH_KeyGen (Part 3, 14.4): a fresh ephemeral key pair on the
/// key's curve; returns its public point and Z = d_e * Q_key (the caller
/// side of a one-pass ECDH). Any loaded ECC key will do, no authorization.
pub fn ecdh_keygen(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let key = ctx.engine.object_or_err(ctx.handles[0])?.clone();
    let (curve, qx, qy) = ecc_key(&key)?;
    let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
    let eph = vtpm_crypto::ecc_generate(curve, &mut rng).map_err(|_| Rc::FAILURE)?;
    // A public point off the curve means a bad key (the reference's code).
    let (zx, zy) =
        vtpm_crypto::ecdh_shared_point(curve, eph.d(), qx, qy).map_err(|_| Rc::KEY.handle(1))?;
    put_point(ctx, &zx, &zy);
    put_point(ctx, eph.x(), eph.y());
    Ok(())
}

/// A TPM2B_ECC_POINT parameter: None when its size is 0 (callers decide
/// whether that is allowed).
pub(crate) type PointIn = Option<(Vec<u8>, Vec<u8>)>;

pub(crate) fn read_point(ctx: &mut Ctx<'_>) -> Result<PointIn, Rc> {
    ctx.params.read_sized(|r| {
        let x = r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec();
        let y = r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec();
        Ok((x, y))
    })
}

/// TPM2_ECDH_ZGen (Part 3, 14.5): Z = d_key * inPoint with an unrestricted
/// ECC decryption key whose scheme is ECDH or NULL; a point that is not on
/// the key's curve is TPM_RC_ECC_POINT.
pub fn ecdh_zgen(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let (px, py) = ctx
        .params
        .read_sized(|r| {
            let x = r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec();
            let y = r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec();
            Ok((x, y))
        })?
        // An empty TPM2B_ECC_POINT does not unmarshal.
        .ok_or(Rc::SIZE.param(1))?;
    ctx.params.finish()?;
    let key = ctx.engine.object_or_err(ctx.handles[0])?.clone();
    let (curve, _, _) = ecc_key(&key)?;
    if key.public.has(RESTRICTED) || !key.public.has(DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if let Parms::Ecc { scheme, .. } = &key.public.parms
        && !matches!(scheme.scheme, alg::ECDH | alg::NULL)
    {
        return Err(Rc::SCHEME.handle(1));
    }
    let d = key.sensitive.as_ref().ok_or(Rc::KEY.handle(1))?;
    let (zx, zy) = vtpm_crypto::ecdh_shared_point(curve, d.secret.as_bytes(), &px, &py).map_err(
        |e| match e {
            AsymError::Key => Rc::KEY.handle(1),
            _ => Rc::ECC_POINT.param(1),
        },
    )?;
    put_point(ctx, &zx, &zy);
    Ok(())
}

/// Reads a TPMI_ECC_CURVE: an unimplemented curve is TPM_RC_CURVE, checked
/// as it is unmarshaled (before the parameter area's size).
fn read_curve(ctx: &mut Ctx<'_>) -> Result<EccCurve, Rc> {
    let id = ctx.params.read_as::<TpmUint16>(ValueKind::Curve)?.value();
    EccCurve::from_tpm_id(id).ok_or(Rc::CURVE.param(ctx.params.index()))
}

/// TPM2_ECC_Parameters (Part 3, 14.7): TPMS_ALGORITHM_DETAIL_ECC of a
/// supported curve: the reference's curve table ties KDF1_SP800_56A with
/// the curve-sized hash to each NIST curve and no signing scheme; cofactor 1.
pub fn ecc_parameters(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let curve = read_curve(ctx)?;
    ctx.params.finish()?;
    let p = curve.parameters();
    let bits = if curve == EccCurve::NistP521 {
        521
    } else {
        (curve.key_bytes() * 8) as u16
    };
    let kdf_hash = match curve {
        EccCurve::NistP256 => HashAlg::Sha256,
        EccCurve::NistP384 => HashAlg::Sha384,
        EccCurve::NistP521 => HashAlg::Sha512,
    };
    ctx.out.u16(curve.tpm_id()).u16(bits);
    ctx.out.u16(alg::KDF1_SP800_56A).u16(kdf_hash.alg_id());
    ctx.out.u16(alg::NULL); // sign
    for v in [p.p, p.a, p.b, p.gx, p.gy, p.n, &[1u8][..]] {
        ctx.out.tpm2b(v);
    }
    Ok(())
}

/// TPM2_EC_Ephemeral (Part 3, 14.8): the public half `Q = [r]G` of an
/// ephemeral key for a two-phase key exchange on `curveID`; `r` is a commit
/// random (no key name), so the TPM keeps nothing but the commit counter,
/// whose value comes back as `counter` for TPM2_ZGen_2Phase.
pub fn ec_ephemeral(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let curve = read_curve(ctx)?;
    ctx.params.finish()?;
    let r = ctx
        .engine
        .commit_random(ctx.platform, curve, &[], None)?
        .ok_or(Rc::NO_RESULT)?;
    let (qx, qy) = vtpm_crypto::ecc_mul(curve, &r, None).map_err(|_| Rc::NO_RESULT)?;
    let counter = ctx.engine.commit();
    put_point(ctx, &qx, &qy);
    ctx.out.u16(counter);
    Ok(())
}

/// TPMI_ECC_KEY_EXCHANGE: the two-phase schemes this TPM implements, ECDH
/// only (ECMQV and SM2 are not implemented); anything else TPM_RC_SCHEME.
fn read_key_exchange(ctx: &mut Ctx<'_>) -> Result<u16, Rc> {
    let id = ctx.params.read_as::<TpmUint16>(ValueKind::Value)?.value();
    if id == alg::ECDH {
        Ok(id)
    } else {
        Err(Rc::SCHEME.param(ctx.params.index()))
    }
}

/// TPM2_ZGen_2Phase (Part 3, 14.9): party A's two Z values of a two-phase
/// key exchange with B: the static key keyA (an unrestricted decryption ECC
/// key) and the ephemeral key of TPM2_EC_Ephemeral named by `counter`.
/// With TPM_ALG_ECDH (SP800-56A C(2e, 2s), the reference's full unified
/// model): outZ1 = [dsA]QsB and outZ2 = [deA]QeB. The commitment is used up
/// only when the exchange succeeds.
pub fn zgen_2phase(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let qsb = read_point(ctx)?.ok_or(Rc::SIZE.param(1))?;
    let qeb = read_point(ctx)?.ok_or(Rc::SIZE.param(2))?;
    let in_scheme = read_key_exchange(ctx)?;
    let counter = ctx.params.read::<TpmUint16>()?.value();
    ctx.params.finish()?;
    let key = ctx.engine.object_or_err(ctx.handles[0])?.clone();
    if key.public.object_type != alg::ECC {
        return Err(Rc::KEY.handle(1));
    }
    let (curve, _, _) = ecc_key(&key)?;
    if key.public.has(RESTRICTED) || !key.public.has(DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if let Parms::Ecc { scheme, .. } = &key.public.parms
        && scheme.scheme != alg::NULL
        && scheme.scheme != in_scheme
    {
        return Err(Rc::SCHEME.param(3));
    }
    if !vtpm_crypto::ecc_point_valid(curve, &qsb.0, &qsb.1) {
        return Err(Rc::ECC_POINT.param(1));
    }
    if !vtpm_crypto::ecc_point_valid(curve, &qeb.0, &qeb.1) {
        return Err(Rc::ECC_POINT.param(2));
    }
    let de = ctx
        .engine
        .commit_random(ctx.platform, curve, &[], Some(counter))?
        .ok_or(Rc::VALUE.param(4))?;
    let ds = key.sensitive.as_ref().ok_or(Rc::KEY.handle(1))?;
    let z1 = vtpm_crypto::ecdh_shared_point(curve, ds.secret.as_bytes(), &qsb.0, &qsb.1)
        .map_err(|_| Rc::NO_RESULT)?;
    let z2 =
        vtpm_crypto::ecdh_shared_point(curve, &de, &qeb.0, &qeb.1).map_err(|_| Rc::NO_RESULT)?;
    ctx.engine.end_commit(counter);
    put_point(ctx, &z1.0, &z1.1);
    put_point(ctx, &z2.0, &z2.1);
    Ok(())
}
