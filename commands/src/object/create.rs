//! Object creation: the consistency rules every template must pass (Part 1,
//! 27; Part 3, 12.1 and 24.1), and key generation.
//!
//! # Primary key derivation (a compatibility contract)
//!
//! A primary object is a pure function of its hierarchy's seed and its template,
//! so the same EK/SRK comes back after every restart, forever:
//!
//! 1. `name` = nameAlg || H_nameAlg(TPMT_PUBLIC of the template as received,
//!    unique field included);
//! 2. `material` = KDFa(nameAlg, seed, "vtpm primary object", name,
//!    H_nameAlg(inSensitive.data), 384 bits);
//! 3. a CTR_DRBG (SP800-90A, AES-256, with derivation function) is instantiated
//!    with entropy = `material`, empty nonce, personalization "vtpm primary";
//! 4. the DRBG feeds [`generate`]: first the key (RSA: [`vtpm_crypto::rsa_generate`];
//!    ECC: [`vtpm_crypto::ecc_generate`]; keyed-hash/symcipher: the secret octets
//!    when the TPM is the data origin), then the seedValue.
//!
//! Ordinary keys take the same path with a DRBG seeded from the TPM's RNG.
//! Golden vectors in commands/tests/vectors/ pin the result.

use alloc::vec::Vec;
use vtpm_crypto::{CtrDrbg, HashAlg, KeyGenError, KeyRng, kdfa};
use zeroize::Zeroizing;

use crate::object::public::*;
use crate::object::{MAX_SYM_DATA, Object, Sensitive, alg};
use crate::rc::Rc;
use crate::secret::Secret;

/// TPMS_SENSITIVE_CREATE, parsed.
pub struct SensitiveCreate {
    pub user_auth: Secret,
    pub data: Secret,
}

impl SensitiveCreate {
    /// Parses a TPMS_SENSITIVE_CREATE from the front of `r`.
    pub fn parse_from(r: &mut Reader<'_>) -> Result<SensitiveCreate, Rc> {
        let user_auth = Secret::new(r.tpm2b(MAX_DIGEST)?);
        let data = Secret::new(r.tpm2b(MAX_SYM_DATA)?);
        Ok(SensitiveCreate { user_auth, data })
    }
}

/// CreateChecks (Part 3, 12.1 / 24.1): rules on the sensitive data origin,
/// then [`validate_public`]. Errors carry no position; the caller adds it.
/// Returns the parameter the error concerns: 1 = inSensitive, 2 = inPublic.
pub fn create_checks(
    parent: Option<&Object>,
    public: &Public,
    data_len: usize,
) -> Result<(), (Rc, usize)> {
    let a = public.attributes;
    let origin = a & SENSITIVE_DATA_ORIGIN != 0;
    if !origin && data_len == 0 {
        return Err((Rc::ATTRIBUTES, 2));
    }
    if parent.is_some() && origin && data_len != 0 {
        return Err((Rc::ATTRIBUTES, 2));
    }
    match public.object_type {
        alg::KEYEDHASH | alg::SYMCIPHER => {
            if public.object_type == alg::KEYEDHASH && a & (SIGN | DECRYPT) == 0 && origin {
                return Err((Rc::ATTRIBUTES, 2));
            }
            if a & RESTRICTED != 0 && !origin && a & (FIXED_PARENT | FIXED_TPM) != 0 {
                return Err((Rc::ATTRIBUTES, 2));
            }
        }
        _ => {
            if !origin {
                return Err((Rc::ATTRIBUTES, 2));
            }
        }
    }
    validate_public(parent, public).map_err(|rc| (rc, 2))
}

/// PublicAttributesValidation and SchemeChecks (Part 1, 27): the attribute
/// combinations and schemes a loaded object must satisfy.
pub fn validate_public(parent: Option<&Object>, public: &Public) -> Result<(), Rc> {
    let a = public.attributes;
    let has = |bit: u32| a & bit != 0;
    let parent_attrs = parent.map_or(0, |p| p.public.attributes);
    let Some(name_alg) = public.name_alg else {
        return Err(Rc::HASH);
    };
    if !public.auth_policy.is_empty() && public.auth_policy.len() != name_alg.digest_size() {
        return Err(Rc::SIZE);
    }
    if parent.is_none() || parent_attrs & FIXED_TPM != 0 {
        if has(FIXED_PARENT) != has(FIXED_TPM) {
            return Err(Rc::ATTRIBUTES);
        }
    } else if has(FIXED_TPM) {
        return Err(Rc::ATTRIBUTES);
    }
    if has(SIGN) == has(DECRYPT) {
        if has(RESTRICTED) {
            return Err(Rc::ATTRIBUTES);
        }
        if public.object_type != alg::KEYEDHASH && !has(SIGN) {
            return Err(Rc::ATTRIBUTES);
        }
    }
    if has(FIXED_TPM) && has(ENCRYPTED_DUPLICATION) {
        return Err(Rc::ATTRIBUTES);
    }
    if let Some(p) = parent {
        if parent_attrs & FIXED_TPM == 0
            && has(ENCRYPTED_DUPLICATION) != (parent_attrs & ENCRYPTED_DUPLICATION != 0)
        {
            return Err(Rc::ATTRIBUTES);
        }
        if p.is_derivation_parent()
            && (has(FIXED_TPM) != (parent_attrs & FIXED_TPM != 0) || !has(FIXED_PARENT))
        {
            return Err(Rc::ATTRIBUTES);
        }
    }
    scheme_checks(parent, public)
}

fn is_sign_scheme(object_type: u16, scheme: u16) -> bool {
    match object_type {
        alg::RSA => matches!(scheme, alg::RSASSA | alg::RSAPSS),
        _ => matches!(scheme, alg::ECDSA | alg::ECDAA | alg::ECSCHNORR),
    }
}

fn is_decrypt_scheme(object_type: u16, scheme: u16) -> bool {
    match object_type {
        alg::RSA => matches!(scheme, alg::RSAES | alg::OAEP),
        _ => matches!(scheme, alg::ECDH),
    }
}

/// SchemeChecks (also used by LoadExternal).
pub fn scheme_checks(parent: Option<&Object>, public: &Public) -> Result<(), Rc> {
    let a = public.attributes;
    let has = |bit: u32| a & bit != 0;
    let mut sym = None;
    match &public.parms {
        Parms::SymCipher { sym: s } => {
            sym = Some(*s);
            if has(DECRYPT)
                && !matches!(
                    s.mode,
                    alg::CTR | alg::OFB | alg::CBC | alg::CFB | alg::ECB | alg::NULL
                )
            {
                return Err(Rc::SCHEME);
            }
        }
        Parms::KeyedHash { scheme } => {
            if has(SIGN) == has(DECRYPT) {
                if scheme.scheme != alg::NULL {
                    return Err(Rc::SCHEME);
                }
            } else if has(SIGN) && scheme.scheme != alg::HMAC {
                return Err(Rc::SCHEME);
            } else if has(DECRYPT) {
                if scheme.scheme != alg::XOR {
                    return Err(Rc::SCHEME);
                }
                if has(RESTRICTED) {
                    if scheme.kdf != alg::KDF1_SP800_108 {
                        return Err(Rc::SCHEME);
                    }
                    if HashAlg::from_alg_id(scheme.hash).is_none() {
                        return Err(Rc::HASH);
                    }
                }
            }
        }
        Parms::Rsa { sym: s, scheme, .. } | Parms::Ecc { sym: s, scheme, .. } => {
            sym = Some(*s);
            let t = public.object_type;
            if has(SIGN) == has(DECRYPT) {
                if scheme.scheme != alg::NULL {
                    return Err(Rc::SCHEME);
                }
            } else if has(SIGN) {
                if is_sign_scheme(t, scheme.scheme) {
                    if scheme.hash == alg::NULL {
                        return Err(Rc::SCHEME);
                    }
                } else if has(RESTRICTED) || scheme.scheme != alg::NULL {
                    return Err(Rc::SCHEME);
                }
            } else if has(RESTRICTED) {
                if scheme.scheme != alg::NULL {
                    return Err(Rc::SCHEME);
                }
            } else if scheme.scheme != alg::NULL && !is_decrypt_scheme(t, scheme.scheme) {
                return Err(Rc::SCHEME);
            }
            if (!has(RESTRICTED) || !has(DECRYPT)) && !s.is_null() {
                return Err(Rc::SYMMETRIC);
            }
            if let Parms::Ecc { kdf, .. } = &public.parms
                && kdf.scheme != alg::NULL
            {
                return Err(Rc::KDF);
            }
        }
    }
    if let Some(s) = sym
        && has(RESTRICTED)
        && has(DECRYPT)
    {
        if s.is_null() {
            return Err(Rc::SYMMETRIC);
        }
        if has(FIXED_PARENT)
            && let Some(p) = parent
        {
            if public.name_alg != p.public.name_alg {
                return Err(Rc::HASH);
            }
            if p.public.sym() != Some(&s) {
                return Err(Rc::SYMMETRIC);
            }
        }
    }
    Ok(())
}

fn keygen_rc(e: KeyGenError) -> Rc {
    match e {
        KeyGenError::Rng => Rc::FAILURE,
        KeyGenError::KeySize => Rc::KEY_SIZE,
        KeyGenError::Exponent => Rc::RANGE,
        KeyGenError::Curve => Rc::CURVE,
        KeyGenError::Binding | KeyGenError::Point => Rc::BINDING,
    }
}

/// The RSA public exponent a template asks for: 0 means 65537; any other value
/// must be a prime of at least 65537 (TPM_RC_RANGE).
pub fn rsa_exponent(e: u32) -> Result<u32, Rc> {
    if e == 0 {
        return Ok(65537);
    }
    if e < 65537 || e.is_multiple_of(2) {
        return Err(Rc::RANGE);
    }
    let mut d = 3u32;
    while d.saturating_mul(d) <= e {
        if e.is_multiple_of(d) {
            return Err(Rc::RANGE);
        }
        d += 2;
    }
    Ok(e)
}

/// The octets of keyed-hash key material the TPM generates: the digest size of
/// the scheme's hash, or of nameAlg for a scheme without one.
fn keyedhash_key_size(public: &Public, name_alg: HashAlg) -> usize {
    match &public.parms {
        Parms::KeyedHash { scheme } => HashAlg::from_alg_id(scheme.hash)
            .unwrap_or(name_alg)
            .digest_size(),
        _ => name_alg.digest_size(),
    }
}

fn draw(rng: &mut dyn KeyRng, n: usize) -> Result<Secret, Rc> {
    let mut v = Zeroizing::new(alloc::vec![0u8; n]);
    rng.fill(&mut v).map_err(keygen_rc)?;
    Ok(Secret::new(&v))
}

/// Generates the key of a validated template: fills `public.unique` and
/// returns the sensitive area (authValue from `create`, trimmed). A derived
/// object draws its secret from `rng` although sensitiveDataOrigin is clear.
pub fn generate(
    public: &mut Public,
    create: &SensitiveCreate,
    rng: &mut dyn KeyRng,
    derived: bool,
) -> Result<Sensitive, Rc> {
    let name_alg = public.name_alg.ok_or(Rc::HASH)?;
    let is_parent = public.has(RESTRICTED) && public.has(DECRYPT);
    let origin = public.has(SENSITIVE_DATA_ORIGIN) || derived;
    let auth = Secret::new(crate::pipeline::trim_trailing_zeros(
        create.user_auth.as_bytes(),
    ));
    if auth.len() > name_alg.digest_size() {
        return Err(Rc::SIZE.param(1));
    }
    let (secret, seed) = match &mut public.parms {
        Parms::Rsa {
            key_bits, exponent, ..
        } => {
            let e = rsa_exponent(*exponent).map_err(|rc| rc.param(2))?;
            let kp = vtpm_crypto::rsa_generate(*key_bits, e, rng).map_err(keygen_rc)?;
            public.unique = Unique::Rsa(kp.n().to_vec());
            let seed = if is_parent {
                draw(rng, name_alg.digest_size())?
            } else {
                Secret::empty()
            };
            (Secret::new(kp.p()), seed)
        }
        Parms::Ecc { curve, .. } => {
            let kp = vtpm_crypto::ecc_generate(*curve, rng).map_err(keygen_rc)?;
            public.unique = Unique::Ecc {
                x: kp.x().to_vec(),
                y: kp.y().to_vec(),
            };
            let seed = if is_parent {
                draw(rng, name_alg.digest_size())?
            } else {
                Secret::empty()
            };
            (Secret::new(kp.d()), seed)
        }
        Parms::KeyedHash { .. } | Parms::SymCipher { .. } => {
            let secret = if origin {
                let n = match public.parms {
                    Parms::SymCipher { sym } => usize::from(sym.key_bits / 8),
                    _ => keyedhash_key_size(public, name_alg),
                };
                draw(rng, n)?
            } else {
                if let Parms::SymCipher { sym } = public.parms
                    && create.data.len() != usize::from(sym.key_bits / 8)
                {
                    return Err(Rc::KEY_SIZE.param(1));
                }
                create.data.clone()
            };
            let seed = draw(rng, name_alg.digest_size())?;
            let unique = name_alg.digest(&[seed.as_bytes(), secret.as_bytes()]);
            public.unique = Unique::Digest(unique.as_bytes().to_vec());
            (secret, seed)
        }
    };
    Ok(Sensitive { auth, seed, secret })
}

/// The DRBG from which a primary object is derived (see the module docs).
pub fn primary_drbg(
    name_alg: HashAlg,
    seed: &[u8],
    template_name: &[u8],
    data: &[u8],
) -> Result<CtrDrbg, Rc> {
    let data_hash = name_alg.digest(&[data]);
    let material = kdfa(
        name_alg,
        seed,
        b"vtpm primary object",
        template_name,
        data_hash.as_bytes(),
        384,
    );
    CtrDrbg::instantiate(&material, &[], b"vtpm primary").map_err(|_| Rc::FAILURE)
}

/// The DRBG of an object derived from a derivation parent's secret with the
/// template's TPMS_DERIVE label and context (Part 1, 28.x).
pub fn derived_drbg(
    kdf_hash: HashAlg,
    parent_secret: &[u8],
    label: &[u8],
    context: &[u8],
    template_name: &[u8],
) -> Result<CtrDrbg, Rc> {
    let mut ctx_u = Vec::new();
    put2b(&mut ctx_u, label);
    put2b(&mut ctx_u, context);
    let material = kdfa(
        kdf_hash,
        parent_secret,
        b"vtpm derived object",
        &ctx_u,
        template_name,
        384,
    );
    CtrDrbg::instantiate(&material, &[], b"vtpm derived").map_err(|_| Rc::FAILURE)
}

/// Checks that a sensitive area belongs to a public area (Load, LoadExternal):
/// TPM_RC_BINDING if the key does not match, TPM_RC_KEY_SIZE for a bad size.
pub fn check_binding(public: &Public, s: &Sensitive) -> Result<(), Rc> {
    if let Some(h) = public.name_alg {
        if crate::pipeline::trim_trailing_zeros(s.auth.as_bytes()).len() > h.digest_size() {
            return Err(Rc::SIZE);
        }
        if public.has(RESTRICTED) && public.has(DECRYPT) && s.seed.len() != h.digest_size() {
            return Err(Rc::KEY_SIZE);
        }
    }
    match (&public.parms, &public.unique) {
        (
            Parms::Rsa {
                key_bits, exponent, ..
            },
            Unique::Rsa(n),
        ) => {
            if n.len() != usize::from(key_bits / 8) {
                return Err(Rc::KEY_SIZE);
            }
            let e = rsa_exponent(*exponent)?;
            vtpm_crypto::rsa_from_prime(n, e, s.secret.as_bytes()).map_err(|_| Rc::BINDING)?;
        }
        (Parms::Ecc { curve, .. }, Unique::Ecc { x, y }) => {
            let kp = vtpm_crypto::ecc_from_private(*curve, s.secret.as_bytes())
                .map_err(|_| Rc::BINDING)?;
            if !vtpm_crypto::ct_eq(strip(kp.x()), strip(x))
                || !vtpm_crypto::ct_eq(strip(kp.y()), strip(y))
            {
                return Err(Rc::BINDING);
            }
        }
        (Parms::KeyedHash { .. } | Parms::SymCipher { .. }, Unique::Digest(u)) => {
            if let Parms::SymCipher { sym } = &public.parms
                && s.secret.len() != usize::from(sym.key_bits / 8)
            {
                return Err(Rc::KEY_SIZE);
            }
            let h = public.name_alg.ok_or(Rc::HASH)?;
            let expect = h.digest(&[s.seed.as_bytes(), s.secret.as_bytes()]);
            if !vtpm_crypto::ct_eq(expect.as_bytes(), u) {
                return Err(Rc::BINDING);
            }
        }
        _ => return Err(Rc::BINDING),
    }
    Ok(())
}

/// Checks that a public key is usable (LoadExternal of a public part).
pub fn check_public_key(public: &Public) -> Result<(), Rc> {
    match (&public.parms, &public.unique) {
        (
            Parms::Rsa {
                key_bits, exponent, ..
            },
            Unique::Rsa(n),
        ) => {
            rsa_exponent(*exponent)?;
            if n.len() != usize::from(key_bits / 8) || !vtpm_crypto::rsa_public_valid(n) {
                return Err(Rc::KEY);
            }
        }
        (Parms::Ecc { curve, .. }, Unique::Ecc { x, y })
            if !vtpm_crypto::ecc_point_valid(*curve, x, y) =>
        {
            return Err(Rc::ECC_POINT);
        }
        _ => {}
    }
    Ok(())
}

fn strip(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    v.get(start..).unwrap_or_default()
}

/// The TPMT_PUBLIC of the primary object that `seed` and `template` (a
/// TPMT_PUBLIC) give with `data` as inSensitive.data — the same derivation
/// CreatePrimary runs, exposed so golden vectors can pin it.
pub fn primary_public_area(seed: &[u8], template: &[u8], data: &[u8]) -> Result<Vec<u8>, Rc> {
    let mut public = Public::parse(template, false, false)?;
    create_checks(None, &public, data.len()).map_err(|(rc, _)| rc)?;
    let name_alg = public.name_alg.ok_or(Rc::HASH)?;
    let mut rng = primary_drbg(name_alg, seed, &public.name(), data)?;
    let create = SensitiveCreate {
        user_auth: Secret::empty(),
        data: Secret::new(data),
    };
    generate(&mut public, &create, &mut rng, false)?;
    Ok(public.marshal())
}
