//! Signing schemes and signatures (Part 1, "Signature Schemes"; Part 2,
//! 11.2.1.5 TPMT_SIG_SCHEME and 11.3.4 TPMT_SIGNATURE), and the two engine
//! operations every signing command shares:
//!
//! - [`Engine::sign_digest`]: a signature over a digest with a loaded key
//!   (TPM2_Sign; later the attestation commands and audit digests);
//! - [`Engine::verify_signature`]: whether a TPMT_SIGNATURE over a digest
//!   verifies under a loaded key (TPM2_VerifySignature, PolicySigned).
//!
//! Both return bare response codes (no parameter or handle number): each
//! command knows which of its parameters the error concerns.
// Shared with the attestation and policy families as they land.
#![allow(dead_code)]

use alloc::vec::Vec;
use vtpm_crypto::{HashAlg, hmac};

use crate::codec::Out;
use crate::engine::Engine;
use crate::object::public::{MAX_ECC_KEY_BYTES, MAX_RSA_KEY_BYTES, Parms, Reader, Unique};
use crate::object::{Object, alg};
use crate::platform::Platform;
use crate::rc::Rc;

/// A signing scheme: TPMT_SIG_SCHEME (scheme, hash and the ECDAA commit
/// count). `scheme` NULL means "no scheme given" (or "no signature").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigScheme {
    pub scheme: u16,
    /// TPM_ALG_ID of the hash; NULL only when `scheme` is NULL.
    pub hash: u16,
    /// ECDAA only: the commit counter.
    pub count: u16,
}

impl SigScheme {
    pub const NULL: SigScheme = SigScheme {
        scheme: alg::NULL,
        hash: alg::NULL,
        count: 0,
    };

    pub fn is_null(&self) -> bool {
        self.scheme == alg::NULL
    }

    /// The scheme's hash, for a non-NULL scheme.
    pub fn hash_alg(&self) -> Option<HashAlg> {
        HashAlg::from_alg_id(self.hash)
    }

    /// Reads a TPMT_SIG_SCHEME(+): an unknown scheme is TPM_RC_SCHEME, a
    /// bad hash TPM_RC_HASH (the unmarshaling codes of Part 2).
    pub fn parse(r: &mut Reader<'_>, null_ok: bool) -> Result<SigScheme, Rc> {
        let scheme = r.u16()?;
        match scheme {
            alg::NULL if null_ok => return Ok(SigScheme::NULL),
            s if is_sig_scheme(s) => {}
            _ => return Err(Rc::SCHEME),
        }
        let hash = read_hash(r)?;
        let count = if scheme == alg::ECDAA { r.u16()? } else { 0 };
        Ok(SigScheme {
            scheme,
            hash,
            count,
        })
    }

    /// TPMT_SIG_SCHEME on the wire.
    pub fn marshal(&self, out: &mut Out) {
        out.u16(self.scheme);
        if !self.is_null() {
            out.u16(self.hash);
            if self.scheme == alg::ECDAA {
                out.u16(self.count);
            }
        }
    }
}

/// The TPMI_ALG_SIG_SCHEME values this TPM knows (the signing schemes
/// GetCapability(TPM_CAP_ALGS) reports).
pub fn is_sig_scheme(scheme: u16) -> bool {
    matches!(
        scheme,
        alg::RSASSA | alg::RSAPSS | alg::ECDSA | alg::ECDAA | alg::ECSCHNORR | alg::HMAC
    )
}

/// TPMI_ALG_HASH (no NULL): TPM_RC_HASH otherwise.
fn read_hash(r: &mut Reader<'_>) -> Result<u16, Rc> {
    let h = r.u16()?;
    HashAlg::from_alg_id(h).map(|_| h).ok_or(Rc::HASH)
}

/// A TPMT_SIGNATURE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// TPM_ALG_NULL: no signature (e.g. an attestation without a key).
    Null,
    /// RSASSA or RSAPSS: TPMS_SIGNATURE_RSA.
    Rsa {
        scheme: u16,
        hash: u16,
        sig: Vec<u8>,
    },
    /// ECDSA, ECDAA or ECSCHNORR: TPMS_SIGNATURE_ECC.
    Ecc {
        scheme: u16,
        hash: u16,
        r: Vec<u8>,
        s: Vec<u8>,
    },
    /// HMAC: a TPMT_HA.
    Hmac { hash: u16, digest: Vec<u8> },
}

impl Signature {
    /// Reads a TPMT_SIGNATURE(+) with the unmarshaling codes of Part 2:
    /// sigAlg TPM_RC_SCHEME, hash TPM_RC_HASH, an oversized value
    /// TPM_RC_SIZE, truncation TPM_RC_INSUFFICIENT.
    pub fn parse(r: &mut Reader<'_>, null_ok: bool) -> Result<Signature, Rc> {
        let scheme = r.u16()?;
        match scheme {
            alg::NULL if null_ok => Ok(Signature::Null),
            alg::RSASSA | alg::RSAPSS => {
                let hash = read_hash(r)?;
                let sig = r.tpm2b(MAX_RSA_KEY_BYTES)?.to_vec();
                Ok(Signature::Rsa { scheme, hash, sig })
            }
            alg::ECDSA | alg::ECDAA | alg::ECSCHNORR => {
                let hash = read_hash(r)?;
                let sr = r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec();
                let ss = r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec();
                Ok(Signature::Ecc {
                    scheme,
                    hash,
                    r: sr,
                    s: ss,
                })
            }
            alg::HMAC => {
                let hash = read_hash(r)?;
                let size = HashAlg::from_alg_id(hash).ok_or(Rc::HASH)?.digest_size();
                let digest = r.bytes(size)?.to_vec();
                Ok(Signature::Hmac { hash, digest })
            }
            _ => Err(Rc::SCHEME),
        }
    }

    /// The signature algorithm (TPM_ALG_NULL for none).
    pub fn sig_alg(&self) -> u16 {
        match self {
            Signature::Null => alg::NULL,
            Signature::Rsa { scheme, .. } | Signature::Ecc { scheme, .. } => *scheme,
            Signature::Hmac { .. } => alg::HMAC,
        }
    }

    /// The hash the signature was made with (NULL for none).
    pub fn hash(&self) -> u16 {
        match self {
            Signature::Null => alg::NULL,
            Signature::Rsa { hash, .. }
            | Signature::Ecc { hash, .. }
            | Signature::Hmac { hash, .. } => *hash,
        }
    }

    /// TPMT_SIGNATURE on the wire.
    pub fn marshal(&self, out: &mut Out) {
        out.u16(self.sig_alg());
        match self {
            Signature::Null => {}
            Signature::Rsa { hash, sig, .. } => {
                out.u16(*hash).tpm2b(sig);
            }
            Signature::Ecc { hash, r, s, .. } => {
                out.u16(*hash).tpm2b(r).tpm2b(s);
            }
            Signature::Hmac { hash, digest } => {
                out.u16(*hash).bytes(digest);
            }
        }
    }

    /// TPMT_SIGNATURE as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Out::new();
        self.marshal(&mut out);
        out.into_vec()
    }
}

/// The scheme in a key's public area (NULL for a key without one, and for
/// symmetric keys, which cannot sign).
pub fn key_scheme(key: &Object) -> SigScheme {
    match &key.public.parms {
        Parms::Rsa { scheme, .. } | Parms::Ecc { scheme, .. } | Parms::KeyedHash { scheme } => {
            SigScheme {
                scheme: scheme.scheme,
                hash: scheme.hash,
                count: scheme.count,
            }
        }
        Parms::SymCipher { .. } => SigScheme::NULL,
    }
}

/// Chooses the scheme a signature is made with from the key's scheme and
/// the caller's `requested` scheme (Part 1, "Signature Schemes"; the rules
/// of the reference's CryptSelectSignScheme):
///
/// - a symmetric key cannot sign;
/// - key scheme NULL: the requested scheme is used and must not be NULL
///   (whether it suits the key type is checked when signing);
/// - requested NULL: the key's scheme is used, unless it is ECDAA, which
///   needs the caller's commit count;
/// - both given: they must be the same scheme with the same hash (the
///   caller's one is kept, for the ECDAA count).
///
/// Any violation is TPM_RC_SCHEME.
pub fn select_sign_scheme(key: &Object, requested: SigScheme) -> Result<SigScheme, Rc> {
    if key.public.object_type == alg::SYMCIPHER {
        return Err(Rc::SCHEME);
    }
    let own = key_scheme(key);
    if own.is_null() {
        if requested.is_null() {
            return Err(Rc::SCHEME);
        }
        Ok(requested)
    } else if requested.is_null() {
        if own.scheme == alg::ECDAA {
            return Err(Rc::SCHEME);
        }
        Ok(own)
    } else if own.scheme == requested.scheme && own.hash == requested.hash {
        Ok(requested)
    } else {
        Err(Rc::SCHEME)
    }
}

/// The RSA public exponent of a key (65537 for 0).
fn rsa_key(key: &Object) -> Result<(&[u8], u32), Rc> {
    match (&key.public.parms, &key.public.unique) {
        (Parms::Rsa { exponent, .. }, Unique::Rsa(n)) => {
            Ok((n, crate::object::create::rsa_exponent(*exponent)?))
        }
        _ => Err(Rc::KEY),
    }
}

impl Engine {
    /// Signs `digest` with the loaded key `key` under `scheme`, which the
    /// caller has chosen with [`select_sign_scheme`] (and whose digest size
    /// it has checked or vouched for with a ticket). A NULL scheme gives a
    /// NULL signature. RSA and ECDSA draw their randomness (blinding, PSS
    /// salt, the ECDSA nonce) from a DRBG seeded by the TPM's RNG.
    ///
    /// `key` is usually a clone of a loaded object (`engine.object(h)`),
    /// since signing needs the engine mutably for its RNG.
    ///
    /// ECDAA uses (and ends) the commitment `scheme.count` made by TPM2_Commit
    /// with this key (see [`crate::commit`]); the signature is (nonceK, s).
    ///
    /// Errors (bare codes): TPM_RC_SCHEME when the scheme does not suit the
    /// key type; TPM_RC_VALUE for an ECDAA count that is not an outstanding
    /// commitment; TPM_RC_KEY for a
    /// key without a private part or one that does not rebuild; TPM_RC_VALUE
    /// for a digest the scheme cannot take (PKCS#1: not the hash's size);
    /// TPM_RC_SIZE when an RSA key is too small for the hash.
    pub(crate) fn sign_digest(
        &mut self,
        platform: &mut dyn Platform,
        key: &Object,
        scheme: &SigScheme,
        digest: &[u8],
    ) -> Result<Signature, Rc> {
        if scheme.is_null() {
            return Ok(Signature::Null);
        }
        let hash = scheme.hash_alg().ok_or(Rc::SCHEME)?;
        let sensitive = key.sensitive.as_ref().ok_or(Rc::KEY)?;
        let secret = sensitive.secret.as_bytes();
        match (key.public.object_type, scheme.scheme) {
            (alg::RSA, alg::RSASSA | alg::RSAPSS) => {
                let (n, e) = rsa_key(key)?;
                let pair = vtpm_crypto::rsa_from_prime(n, e, secret).map_err(|_| Rc::KEY)?;
                let mut rng = self.fresh_drbg(platform)?;
                let sig = if scheme.scheme == alg::RSASSA {
                    vtpm_crypto::rsa_pkcs1v15_sign(&pair, hash, digest, &mut rng)
                } else {
                    vtpm_crypto::rsa_pss_sign(&pair, hash, digest, &mut rng)
                }
                .map_err(sign_rc)?;
                Ok(Signature::Rsa {
                    scheme: scheme.scheme,
                    hash: scheme.hash,
                    sig,
                })
            }
            (alg::ECC, alg::ECDSA | alg::ECSCHNORR) => {
                let Parms::Ecc { curve, .. } = &key.public.parms else {
                    return Err(Rc::KEY);
                };
                let mut rng = self.fresh_drbg(platform)?;
                let (r, s) = if scheme.scheme == alg::ECDSA {
                    vtpm_crypto::ecdsa_sign(*curve, secret, digest, &mut rng)
                } else {
                    vtpm_crypto::ecschnorr_sign(*curve, hash, secret, digest, &mut rng)
                }
                .map_err(sign_rc)?;
                Ok(Signature::Ecc {
                    scheme: scheme.scheme,
                    hash: scheme.hash,
                    r,
                    s,
                })
            }
            (alg::ECC, alg::ECDAA) => {
                let Parms::Ecc { curve, .. } = &key.public.parms else {
                    return Err(Rc::KEY);
                };
                // The committed random of TPM2_Commit for this key and count
                // (TPM_RC_VALUE when there is no such commitment).
                let r = self
                    .commit_random(platform, *curve, &key.name, Some(scheme.count))?
                    .ok_or(Rc::VALUE)?;
                let mut rng = self.fresh_drbg(platform)?;
                let (nonce_k, s) =
                    vtpm_crypto::ecdaa_sign(*curve, hash, secret, &r, digest, &mut rng)
                        .map_err(sign_rc)?;
                // Only a signature made uses the commitment up.
                self.end_commit(scheme.count);
                Ok(Signature::Ecc {
                    scheme: alg::ECDAA,
                    hash: scheme.hash,
                    r: nonce_k,
                    s,
                })
            }
            (alg::KEYEDHASH, alg::HMAC) => Ok(Signature::Hmac {
                hash: scheme.hash,
                digest: hmac(hash, secret, &[digest]).as_bytes().to_vec(),
            }),
            _ => Err(Rc::SCHEME),
        }
    }

    /// Checks that `sig` is a signature of `digest` by the loaded key `key`
    /// (the reference's CryptValidateSignature). Whether the key must have
    /// the sign attribute is the caller's rule: VerifySignature requires it,
    /// PolicySigned (as in the reference) does not.
    ///
    /// An asymmetric key verifies any scheme of its type whatever its own
    /// scheme (as the reference does); an HMAC key with a scheme verifies
    /// only that scheme and hash. RSA-PSS accepts any salt length.
    ///
    /// Errors (bare codes): TPM_RC_SCHEME when the signature's algorithm
    /// does not suit the key or is not implemented; TPM_RC_HANDLE for an
    /// HMAC key without its private part; TPM_RC_SIGNATURE when the
    /// signature does not verify.
    pub(crate) fn verify_signature(
        &self,
        key: &Object,
        digest: &[u8],
        sig: &Signature,
    ) -> Result<(), Rc> {
        let ok = match (key.public.object_type, sig) {
            (_, Signature::Null) => return Err(Rc::SIGNATURE),
            (alg::RSA, Signature::Rsa { scheme, hash, sig }) => {
                let (n, e) = rsa_key(key)?;
                let hash = HashAlg::from_alg_id(*hash).ok_or(Rc::SCHEME)?;
                sig.len() == n.len()
                    && if *scheme == alg::RSASSA {
                        vtpm_crypto::rsa_pkcs1v15_verify(n, e, hash, digest, sig)
                    } else {
                        vtpm_crypto::rsa_pss_verify(n, e, hash, digest, sig)
                    }
            }
            (alg::ECC, Signature::Ecc { scheme, hash, r, s }) => {
                let (Parms::Ecc { curve, .. }, Unique::Ecc { x, y }) =
                    (&key.public.parms, &key.public.unique)
                else {
                    return Err(Rc::KEY);
                };
                match *scheme {
                    alg::ECDSA => vtpm_crypto::ecdsa_verify(*curve, x, y, digest, r, s),
                    alg::ECSCHNORR => {
                        let hash = HashAlg::from_alg_id(*hash).ok_or(Rc::SCHEME)?;
                        vtpm_crypto::ecschnorr_verify(*curve, hash, x, y, digest, r, s)
                    }
                    _ => return Err(Rc::SCHEME),
                }
            }
            (alg::KEYEDHASH, Signature::Hmac { hash, digest: mac }) => {
                let sensitive = key.sensitive.as_ref().ok_or(Rc::HANDLE)?;
                let own = key_scheme(key);
                // A key with a scheme verifies only that scheme and hash, so a
                // weaker hash cannot be slipped in.
                if !own.is_null() && (own.scheme != alg::HMAC || own.hash != *hash) {
                    return Err(Rc::SIGNATURE);
                }
                let hash = HashAlg::from_alg_id(*hash).ok_or(Rc::SCHEME)?;
                let expected = hmac(hash, sensitive.secret.as_bytes(), &[digest]);
                vtpm_crypto::ct_eq(expected.as_bytes(), mac)
            }
            _ => return Err(Rc::SCHEME),
        };
        if ok { Ok(()) } else { Err(Rc::SIGNATURE) }
    }
}

fn sign_rc(e: vtpm_crypto::SignError) -> Rc {
    match e {
        vtpm_crypto::SignError::Key => Rc::KEY,
        vtpm_crypto::SignError::Digest => Rc::VALUE,
        vtpm_crypto::SignError::KeySize => Rc::SIZE,
        vtpm_crypto::SignError::Rng => Rc::FAILURE,
    }
}
