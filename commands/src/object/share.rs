//! Secret sharing (Part 1, "Secret Sharing"; the reference's
//! CryptSecretEncrypt / CryptSecretDecrypt): a seed sent to the holder of an
//! asymmetric key, used for salted sessions ("SECRET"), credentials
//! ("IDENTITY") and duplication ("DUPLICATE").
//!
//! RSA: the seed is RSA-OAEP encrypted with the label and its terminating
//! zero. ECC: an ephemeral key e gives the seed KDFe(nameAlg, (e*Q).x, label,
//! e.x, Q.x) and travels as the point e*G.

use alloc::vec::Vec;
use vtpm_crypto::{
    HashAlg, KeyRng, ecc_generate, ecdh_shared_x, kdfe, rsa_from_prime, rsa_oaep_decrypt,
    rsa_oaep_encrypt,
};
use zeroize::Zeroizing;

use crate::object::create::rsa_exponent;
use crate::object::public::{DECRYPT, MAX_ECC_KEY_BYTES, Parms, Public, Reader, Unique, put2b};
use crate::object::{Object, alg};
use crate::rc::Rc;

/// An OAEP label is the string with its terminating zero (Part 1, B.10.3).
fn oaep_label(label: &[u8]) -> Vec<u8> {
    let mut l = label.to_vec();
    if l.last() != Some(&0) {
        l.push(0);
    }
    l
}

/// A fresh seed for `parent` (one nameAlg digest long) and its encrypted form
/// (TPM2B_ENCRYPTED_SECRET contents): RSA-OAEP with the parent's nameAlg and
/// `label`, or an ephemeral TPMS_ECC_POINT whose ECDH secret gives the seed
/// through KDFe (CryptSecretEncrypt).
pub fn secret_encrypt(
    parent: &Public,
    label: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), Rc> {
    let name_alg = parent.name_alg.ok_or(Rc::KEY)?;
    let size = name_alg.digest_size();
    match (&parent.parms, &parent.unique) {
        (Parms::Rsa { exponent, .. }, Unique::Rsa(n)) => {
            let mut seed = Zeroizing::new(alloc::vec![0u8; size]);
            rng.fill(&mut seed).map_err(|_| Rc::FAILURE)?;
            let e = rsa_exponent(*exponent)?;
            let enc = rsa_oaep_encrypt(n, e, name_alg, &oaep_label(label), &seed, rng)
                .map_err(|_| Rc::KEY)?;
            Ok((seed, enc))
        }
        (Parms::Ecc { curve, .. }, Unique::Ecc { x, y }) => {
            let eph = ecc_generate(*curve, rng).map_err(|_| Rc::FAILURE)?;
            let z = ecdh_shared_x(*curve, eph.d(), x, y).map_err(|_| Rc::ECC_POINT)?;
            let seed = kdfe(name_alg, &z, label, eph.x(), x, (size * 8) as u32);
            let mut enc = Vec::with_capacity(4 + 2 * eph.x().len());
            put2b(&mut enc, eph.x());
            put2b(&mut enc, eph.y());
            Ok((seed, enc))
        }
        _ => Err(Rc::KEY),
    }
}

/// Recovers a seed sent with [`secret_encrypt`] to `key` (which must hold
/// its private part). Codes as the reference's CryptSecretDecrypt, without
/// a position: TPM_RC_VALUE for a ciphertext that does not decrypt or a seed
/// longer than a digest, TPM_RC_ECC_POINT for a point off the curve.
pub fn secret_decrypt(
    key: &Object,
    label: &[u8],
    encrypted: &[u8],
    rng: &mut dyn KeyRng,
) -> Result<Zeroizing<Vec<u8>>, Rc> {
    let sensitive = key.sensitive.as_ref().ok_or(Rc::KEY)?;
    if !key.public.has(DECRYPT) {
        return Err(Rc::ATTRIBUTES);
    }
    let name_alg = key.public.name_alg.ok_or(Rc::KEY)?;
    let (seed, limit) = match (&key.public.parms, &key.public.unique) {
        (
            Parms::Rsa {
                scheme, exponent, ..
            },
            Unique::Rsa(n),
        ) => {
            let hash = match scheme.scheme {
                alg::NULL => name_alg,
                alg::OAEP => HashAlg::from_alg_id(scheme.hash).ok_or(Rc::SCHEME)?,
                _ => return Err(Rc::SCHEME),
            };
            // A ciphertext must be exactly one modulus long (CryptRsaDecrypt).
            if encrypted.len() != n.len() {
                return Err(Rc::SIZE);
            }
            let e = rsa_exponent(*exponent)?;
            let pair = rsa_from_prime(n, e, sensitive.secret.as_bytes()).map_err(|_| Rc::KEY)?;
            let seed = rsa_oaep_decrypt(&pair, hash, &oaep_label(label), encrypted, rng)
                .map_err(|_| Rc::VALUE)?;
            (seed, hash.digest_size())
        }
        (Parms::Ecc { curve, .. }, Unique::Ecc { x, .. }) => {
            let mut r = Reader::new(encrypted);
            let qx = r.tpm2b(MAX_ECC_KEY_BYTES)?;
            let qy = r.tpm2b(MAX_ECC_KEY_BYTES)?;
            if !r.is_empty() {
                return Err(Rc::SIZE);
            }
            let z = ecdh_shared_x(*curve, sensitive.secret.as_bytes(), qx, qy)
                .map_err(|_| Rc::ECC_POINT)?;
            let bits = (name_alg.digest_size() * 8) as u32;
            (
                kdfe(name_alg, &z, label, qx, x, bits),
                name_alg.digest_size(),
            )
        }
        _ => return Err(Rc::TYPE),
    };
    if seed.len() > limit {
        return Err(Rc::VALUE);
    }
    Ok(seed)
}
