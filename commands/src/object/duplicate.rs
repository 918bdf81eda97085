//! Duplication blobs (Part 1, 23.3.2) and the seed that protects them in
//! transit (Part 1, 24 "Secret sharing": CryptSecretEncrypt / Decrypt).
//!
//! A duplication blob is built from the object's TPM2B_SENSITIVE in up to two
//! layers:
//! - the optional inner wrapper, under a symmetric key the duplicator chooses:
//!   `CFB_key(TPM2B_DIGEST(H_nameAlg(sensitive2B || name)) || sensitive2B)`
//!   with a zero IV, where nameAlg is the duplicated object's;
//! - the optional outer wrapper, under a seed shared with the new parent: the
//!   same construction as a private area ([`Protector::seal`]) with the new
//!   parent's nameAlg and symmetric definition, and the seed in place of the
//!   parent's seedValue.
//!
//! The seed goes to the new parent RSA-OAEP encrypted with the label
//! "DUPLICATE" (nameAlg of the parent for the OAEP hash), or as an ephemeral
//! ECC point with the seed `KDFe(nameAlg, Z, "DUPLICATE", ephemeral.x,
//! parent.x)`.

use alloc::vec::Vec;
use vtpm_crypto::{HashAlg, aes_cfb_decrypt, aes_cfb_encrypt, ct_eq};
use zeroize::Zeroizing;

use crate::object::protect::Protector;
use crate::object::public::{DECRYPT, MAX_DIGEST, Public, RESTRICTED, Reader, SIGN, put2b};
use crate::object::{Object, alg};
use crate::rc::Rc;

/// The label of duplication seeds, with the terminating zero the OAEP label
/// carries (KDFe adds none when one is there).
pub const DUPLICATE_LABEL: &[u8] = b"DUPLICATE";

/// A storage key in the sense of Duplicate and Rewrap: a restricted
/// decryption RSA or ECC key. Its private part need not be loaded: a new
/// parent on another TPM is a public key loaded with LoadExternal.
pub fn is_storage_key(o: &Object) -> bool {
    let p = &o.public;
    p.has(RESTRICTED)
        && p.has(DECRYPT)
        && !p.has(SIGN)
        && matches!(p.object_type, alg::RSA | alg::ECC)
}

/// The outer-wrapper protector of `parent` with a duplication `seed`.
pub fn outer_protector<'a>(parent: &Public, seed: &'a [u8]) -> Result<Protector<'a>, Rc> {
    let hash = parent.name_alg.ok_or(Rc::TYPE)?;
    let sym = match parent.sym() {
        Some(s) if !s.is_null() => *s,
        _ => return Err(Rc::SYMMETRIC),
    };
    Ok(Protector { hash, seed, sym })
}

/// Builds a duplication blob from a TPMT_SENSITIVE: the inner wrapper when
/// `inner_key` is given (AES-CFB with that key, integrity with `name_alg`),
/// then the outer wrapper when `outer` is given.
pub fn wrap_duplicate(
    name: &[u8],
    name_alg: HashAlg,
    sensitive: &[u8],
    inner_key: Option<&[u8]>,
    outer: Option<&Protector<'_>>,
) -> Result<Vec<u8>, Rc> {
    let mut data = Zeroizing::new(Vec::with_capacity(sensitive.len() + 4 + MAX_DIGEST));
    put2b(&mut data, sensitive);
    if let Some(key) = inner_key {
        let integrity = name_alg.digest(&[&data, name]);
        let mut inner = Zeroizing::new(Vec::with_capacity(data.len() + 2 + integrity.len()));
        put2b(&mut inner, integrity.as_bytes());
        inner.extend_from_slice(&data);
        aes_cfb_encrypt(key, &[0u8; 16], &mut inner).map_err(|_| Rc::FAILURE)?;
        data = inner;
    }
    match outer {
        Some(p) => p.seal(name, &data),
        None => Ok(data.to_vec()),
    }
}

/// The inverse of [`wrap_duplicate`]: returns the TPMT_SENSITIVE (unparsed).
/// TPM_RC_INTEGRITY when either layer's integrity does not hold; TPM_RC_SIZE
/// when the TPM2B_SENSITIVE inside does not fill the blob exactly.
pub fn unwrap_duplicate(
    name: &[u8],
    name_alg: HashAlg,
    blob: &[u8],
    inner_key: Option<&[u8]>,
    outer: Option<&Protector<'_>>,
) -> Result<Zeroizing<Vec<u8>>, Rc> {
    if blob.is_empty() {
        return Err(Rc::INSUFFICIENT);
    }
    let mut data = match outer {
        Some(p) => p.open(name, blob)?,
        None => Zeroizing::new(blob.to_vec()),
    };
    if let Some(key) = inner_key {
        aes_cfb_decrypt(key, &[0u8; 16], &mut data).map_err(|_| Rc::FAILURE)?;
        let mut r = Reader::new(&data);
        let integrity = r.tpm2b(MAX_DIGEST)?;
        let expect = name_alg.digest(&[r.rest, name]);
        if !ct_eq(expect.as_bytes(), integrity) {
            return Err(Rc::INTEGRITY);
        }
        data = Zeroizing::new(r.rest.to_vec());
    }
    let mut r = Reader::new(&data);
    let size = usize::from(r.u16()?);
    if size != r.rest.len() {
        return Err(Rc::SIZE);
    }
    Ok(Zeroizing::new(r.rest.to_vec()))
}

/// Runs `f` with the outer protector of a new parent given as (TPMT_PUBLIC,
/// seed), or with none.
fn with_outer<T>(
    outer: Option<(&[u8], &[u8])>,
    f: impl FnOnce(Option<&Protector<'_>>) -> Result<T, Rc>,
) -> Result<T, Rc> {
    let parent = match outer {
        Some((public, _)) => Some(Public::parse(public, false, false)?),
        None => None,
    };
    let protector = match (&parent, outer) {
        (Some(p), Some((_, seed))) => Some(outer_protector(p, seed)?),
        _ => None,
    };
    f(protector.as_ref())
}

/// Known-answer entry point: the duplication blob of a TPMT_SENSITIVE for
/// the object `name` (nameAlg `name_alg`, a TPM_ALG_ID), inner-wrapped with
/// AES-CFB under `inner_key` if given, outer-wrapped for the new parent whose
/// TPMT_PUBLIC and seed are `outer` if given. Exactly what TPM2_Duplicate
/// returns as `duplicate` for that seed and key.
pub fn duplication_blob(
    name: &[u8],
    name_alg: u16,
    sensitive: &[u8],
    inner_key: Option<&[u8]>,
    outer: Option<(&[u8], &[u8])>,
) -> Result<Vec<u8>, Rc> {
    let hash = HashAlg::from_alg_id(name_alg).ok_or(Rc::HASH)?;
    with_outer(outer, |protector| {
        wrap_duplicate(name, hash, sensitive, inner_key, protector)
    })
}

/// Known-answer entry point: the inverse of [`duplication_blob`], as
/// TPM2_Import unwraps (returns the TPMT_SENSITIVE).
pub fn duplication_sensitive(
    name: &[u8],
    name_alg: u16,
    blob: &[u8],
    inner_key: Option<&[u8]>,
    outer: Option<(&[u8], &[u8])>,
) -> Result<Vec<u8>, Rc> {
    let hash = HashAlg::from_alg_id(name_alg).ok_or(Rc::HASH)?;
    with_outer(outer, |protector| {
        unwrap_duplicate(name, hash, blob, inner_key, protector).map(|s| s.to_vec())
    })
}

/// Known-answer entry point: the seed a parent (TPMT_PUBLIC, and its private
/// RSA prime or ECC scalar) recovers from an `inSymSeed` with the label
/// "DUPLICATE", as TPM2_Import and TPM2_Rewrap do.
pub fn duplication_seed(
    parent_public: &[u8],
    parent_secret: &[u8],
    in_sym_seed: &[u8],
) -> Result<Vec<u8>, Rc> {
    let public = Public::parse(parent_public, false, false)?;
    let name = public.name();
    let key = Object {
        handle: 0,
        public,
        name: name.clone(),
        qualified_name: name,
        sensitive: Some(crate::object::Sensitive {
            secret: crate::secret::Secret::new(parent_secret),
            ..Default::default()
        }),
        hierarchy: crate::consts::RH_NULL,
    };
    // The RNG only blinds the RSA operation.
    let mut rng = vtpm_crypto::CtrDrbg::instantiate(&[0x5A; 48], &[], b"vtpm kat blinding")
        .map_err(|_| Rc::FAILURE)?;
    crate::object::share::secret_decrypt(&key, DUPLICATE_LABEL, in_sym_seed, &mut rng)
        .map(|s| s.to_vec())
}
