//! Protection of secrets that leave the TPM.
//!
//! - TPM2B_PRIVATE (Part 1, 23.3 and 24): the TPM2B_SENSITIVE is encrypted with
//!   AES-CFB (zero IV) under `KDFa(parent nameAlg, parent seedValue, "STORAGE",
//!   name, "", keyBits)` and integrity-protected by
//!   `HMAC(KDFa(parent nameAlg, seedValue, "INTEGRITY", "", "", digest bits),
//!   encSensitive || name)`; the blob is TPM2B_DIGEST(outerHMAC) || encSensitive.
//! - Saved contexts (Part 1, 30): the same construction keyed by the hierarchy
//!   proof, with the sequence number and saved handle bound in.

use alloc::vec::Vec;
use vtpm_crypto::{HashAlg, aes_cfb_decrypt, aes_cfb_encrypt, ct_eq, hmac, kdfa};
use zeroize::Zeroizing;

use crate::object::public::{Reader, SymDef, put2b};
use crate::object::{Object, alg};
use crate::rc::Rc;

/// What protects a child's private area: the parent's nameAlg, seedValue and
/// symmetric definition.
pub struct Protector<'a> {
    pub hash: HashAlg,
    pub seed: &'a [u8],
    pub sym: SymDef,
}

impl<'a> Protector<'a> {
    /// The protector of a storage (or derivation) parent.
    pub fn of(parent: &'a Object) -> Result<Protector<'a>, Rc> {
        let hash = parent.public.name_alg.ok_or(Rc::TYPE)?;
        let seed = parent
            .sensitive
            .as_ref()
            .map(|s| s.seed.as_bytes())
            .ok_or(Rc::TYPE)?;
        // A derivation parent has no symmetric definition: AES-128 is used.
        let sym = match parent.public.sym() {
            Some(s) if !s.is_null() => *s,
            _ => SymDef {
                alg: alg::AES,
                key_bits: 128,
                mode: alg::CFB,
            },
        };
        Ok(Protector { hash, seed, sym })
    }

    fn keys(&self, name: &[u8]) -> (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>) {
        let sym_key = kdfa(
            self.hash,
            self.seed,
            b"STORAGE",
            name,
            &[],
            u32::from(self.sym.key_bits),
        );
        let hmac_key = kdfa(
            self.hash,
            self.seed,
            b"INTEGRITY",
            &[],
            &[],
            (self.hash.digest_size() * 8) as u32,
        );
        (sym_key, hmac_key)
    }

    /// Wraps a TPMT_SENSITIVE into a TPM2B_PRIVATE's contents.
    pub fn wrap(&self, name: &[u8], sensitive: &[u8]) -> Result<Vec<u8>, Rc> {
        let mut framed = Zeroizing::new(Vec::with_capacity(sensitive.len() + 2));
        put2b(&mut framed, sensitive);
        self.seal(name, &framed)
    }

    /// The outer wrapper around any payload (Part 1, 23.3.2.4): CFB under the
    /// "STORAGE" key, then TPM2B_DIGEST(HMAC("INTEGRITY" key, enc || name)) in
    /// front. A private area's payload is a TPM2B_SENSITIVE; a duplication
    /// blob's may be an inner-wrapped one.
    pub fn seal(&self, name: &[u8], payload: &[u8]) -> Result<Vec<u8>, Rc> {
        let (sym_key, hmac_key) = self.keys(name);
        let mut enc = Zeroizing::new(payload.to_vec());
        aes_cfb_encrypt(&sym_key, &[0u8; 16], &mut enc).map_err(|_| Rc::FAILURE)?;
        let integrity = hmac(self.hash, &hmac_key, &[&enc, name]);
        let mut out = Vec::with_capacity(enc.len() + 2 + integrity.len());
        put2b(&mut out, integrity.as_bytes());
        out.extend_from_slice(&enc);
        Ok(out)
    }

    /// The inverse of [`Protector::seal`]: checks the HMAC before anything is
    /// decrypted (TPM_RC_INTEGRITY if the blob was not made for this name
    /// under this seed).
    pub fn open(&self, name: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, Rc> {
        let mut r = Reader::new(blob);
        let integrity = r.tpm2b(crate::object::public::MAX_DIGEST)?;
        let enc = r.rest;
        let (sym_key, hmac_key) = self.keys(name);
        let expect = hmac(self.hash, &hmac_key, &[enc, name]);
        if !ct_eq(expect.as_bytes(), integrity) {
            return Err(Rc::INTEGRITY);
        }
        let mut plain = Zeroizing::new(enc.to_vec());
        aes_cfb_decrypt(&sym_key, &[0u8; 16], &mut plain).map_err(|_| Rc::FAILURE)?;
        Ok(plain)
    }

    /// Checks and decrypts a TPM2B_PRIVATE's contents, returning the
    /// TPMT_SENSITIVE. TPM_RC_INTEGRITY if it was not made for this name under
    /// this parent; TPM_RC_SENSITIVE if it decrypts to nonsense.
    pub fn unwrap(&self, name: &[u8], private: &[u8]) -> Result<Zeroizing<Vec<u8>>, Rc> {
        let plain = self.open(name, private)?;
        let mut pr = Reader::new(&plain);
        let inner = pr.tpm2b(plain.len()).map_err(|_| Rc::SENSITIVE)?;
        if !pr.is_empty() {
            return Err(Rc::SENSITIVE);
        }
        Ok(Zeroizing::new(inner.to_vec()))
    }
}

/// The parent of a known-answer private area: its TPMT_PUBLIC with
/// `seed` as its seedValue (nothing else of its sensitive part is used).
fn parent_with_seed(parent_public: &[u8], seed: &[u8]) -> Result<Object, Rc> {
    let public = crate::object::public::Public::parse(parent_public, false, false)?;
    let name = public.name();
    let parent = Object {
        handle: 0,
        public,
        name: name.clone(),
        qualified_name: name,
        sensitive: Some(crate::object::Sensitive {
            seed: crate::secret::Secret::new(seed),
            ..Default::default()
        }),
        hierarchy: crate::consts::RH_NULL,
    };
    // As TPM2_Create and TPM2_Load require of the parent.
    if !parent.is_storage_parent() && !parent.is_derivation_parent() {
        return Err(Rc::TYPE);
    }
    Ok(parent)
}

/// Known-answer entry point: the TPM2B_PRIVATE buffer (without its size) of
/// the TPMT_SENSITIVE `sensitive` of the object `name`, under the parent
/// whose TPMT_PUBLIC is `parent_public` and seedValue `parent_seed`: exactly
/// what TPM2_Create returns as outPrivate under that parent.
pub fn private_blob(
    parent_public: &[u8],
    parent_seed: &[u8],
    name: &[u8],
    sensitive: &[u8],
) -> Result<Vec<u8>, Rc> {
    let parent = parent_with_seed(parent_public, parent_seed)?;
    Protector::of(&parent)?.wrap(name, sensitive)
}

/// Known-answer entry point: the inverse of [`private_blob`], as TPM2_Load
/// opens inPrivate (returns the TPMT_SENSITIVE, unparsed).
/// TPM_RC_INTEGRITY if the blob was not made for this name under this
/// parent and seed; TPM_RC_SENSITIVE if it decrypts to no TPM2B_SENSITIVE.
pub fn private_sensitive(
    parent_public: &[u8],
    parent_seed: &[u8],
    name: &[u8],
    private: &[u8],
) -> Result<Vec<u8>, Rc> {
    let parent = parent_with_seed(parent_public, parent_seed)?;
    Protector::of(&parent)?
        .unwrap(name, private)
        .map(|s| s.to_vec())
}

/// Hash of saved-context protection (CONTEXT_INTEGRITY_HASH_ALG) and cipher size.
const CONTEXT_HASH: HashAlg = HashAlg::Sha256;
const CONTEXT_KEY_BITS: u32 = 256;

/// Encrypts and MACs a context (Part 1, 30.3): key and IV from
/// KDFa(proof, "CONTEXT", sequence, savedHandle); the HMAC (key from
/// "INTEGRITY") covers `bound` (values that must match when loading: the
/// sequence, handle and hierarchy) and the ciphertext.
pub fn seal_context(
    proof: &[u8],
    sequence: u64,
    handle: u32,
    bound: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, Rc> {
    let (key, iv, mac_key) = context_keys(proof, sequence, handle);
    let mut enc = Zeroizing::new(plain.to_vec());
    aes_cfb_encrypt(&key, &iv, &mut enc).map_err(|_| Rc::FAILURE)?;
    let integrity = hmac(CONTEXT_HASH, &mac_key, &[bound, &enc]);
    let mut out = Vec::with_capacity(enc.len() + 34);
    put2b(&mut out, integrity.as_bytes());
    out.extend_from_slice(&enc);
    Ok(out)
}

/// The inverse of [`seal_context`]: TPM_RC_INTEGRITY on any mismatch.
pub fn open_context(
    proof: &[u8],
    sequence: u64,
    handle: u32,
    bound: &[u8],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Rc> {
    let mut r = Reader::new(blob);
    let integrity = r
        .tpm2b(crate::object::public::MAX_DIGEST)
        .map_err(|_| Rc::INTEGRITY)?;
    let enc = r.rest;
    let (key, iv, mac_key) = context_keys(proof, sequence, handle);
    let expect = hmac(CONTEXT_HASH, &mac_key, &[bound, enc]);
    if !ct_eq(expect.as_bytes(), integrity) {
        return Err(Rc::INTEGRITY);
    }
    let mut plain = Zeroizing::new(enc.to_vec());
    aes_cfb_decrypt(&key, &iv, &mut plain).map_err(|_| Rc::FAILURE)?;
    Ok(plain)
}

fn context_keys(
    proof: &[u8],
    sequence: u64,
    handle: u32,
) -> (Zeroizing<Vec<u8>>, [u8; 16], Zeroizing<Vec<u8>>) {
    let material = kdfa(
        CONTEXT_HASH,
        proof,
        b"CONTEXT",
        &sequence.to_be_bytes(),
        &handle.to_be_bytes(),
        CONTEXT_KEY_BITS + 128,
    );
    let key = Zeroizing::new(material.get(..32).unwrap_or_default().to_vec());
    let mut iv = [0u8; 16];
    for (d, s) in iv.iter_mut().zip(material.iter().skip(32)) {
        *d = *s;
    }
    let mac_key = kdfa(CONTEXT_HASH, proof, b"INTEGRITY", &[], &[], 256);
    (key, iv, mac_key)
}
