//! Credential protection (Part 3, 12.5 and 12.6; Part 1, 24 "Credential
//! Protection"): MakeCredential and ActivateCredential, and the secret
//! sharing with an asymmetric key that they (and Duplicate/Import) use.
//!
//! A credential travels as TPMS_ID_OBJECT = integrityHMAC || encIdentity,
//! made exactly like a private area (object/protect.rs) with the seed as
//! seedValue, the key's nameAlg and symmetric definition, and the Name of
//! the object it is bound to.

use alloc::vec::Vec;
use vtpm_crypto::HashAlg;
use zeroize::Zeroizing;

use crate::consts::MAX_DIGEST_SIZE;
use crate::engine::Engine;
use crate::object::protect::Protector;
use crate::object::public::{DECRYPT, MAX_ECC_KEY_BYTES, Parms, RESTRICTED, Reader, Unique, put2b};
use crate::object::{Object, alg};
use crate::pipeline::Ctx;
use crate::platform::Platform;
use crate::rc::Rc;

/// TPM2B_NAME (sizeof(TPMU_NAME)).
const MAX_NAME: usize = 2 + 64;
/// TPM2B_ID_OBJECT: two TPM2B_DIGESTs.
const MAX_ID_OBJECT: usize = 2 * (2 + 64);
/// TPM2B_ENCRYPTED_SECRET (sizeof(TPMU_ENCRYPTED_SECRET): an RSA block).
const MAX_ENCRYPTED_SECRET: usize = 512;

/// The label of credential seeds.
pub const IDENTITY: &[u8] = b"IDENTITY";

/// An asymmetric restricted decryption key: what protects credentials
/// (and duplicates).
fn is_asym_storage(key: &Object) -> bool {
    matches!(key.public.object_type, alg::RSA | alg::ECC)
        && key.public.has(DECRYPT)
        && key.public.has(RESTRICTED)
}

impl Engine {
    /// CryptSecretEncrypt: a fresh seed of nameAlg's digest size shared with
    /// the holder of `key`'s private part, and the TPM2B_ENCRYPTED_SECRET
    /// contents that carry it. RSA: OAEP(nameAlg, `label` + NUL) of a random
    /// seed. ECC: an ephemeral key e, seed = KDFe(nameAlg, (e*Q).x, label,
    /// e.x, Q.x), the secret is TPMS_ECC_POINT(e*G). TPM_RC_KEY for other
    /// keys or a bad public key.
    pub(crate) fn secret_encrypt(
        &mut self,
        platform: &mut dyn Platform,
        key: &Object,
        label: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), Rc> {
        let name_alg = key.public.name_alg.ok_or(Rc::KEY)?;
        let size = name_alg.digest_size();
        let mut rng = self.fresh_drbg(platform)?;
        match (&key.public.parms, &key.public.unique) {
            (Parms::Rsa { exponent, .. }, Unique::Rsa(n)) => {
                let mut seed = Zeroizing::new(alloc::vec![0u8; size]);
                self.random(platform, &mut seed)?;
                let e = crate::object::create::rsa_exponent(*exponent)?;
                let mut l = label.to_vec();
                l.push(0);
                let secret = vtpm_crypto::rsa_oaep_encrypt(n, e, name_alg, &l, &seed, &mut rng)
                    .map_err(|_| Rc::KEY)?;
                Ok((seed, secret))
            }
            (Parms::Ecc { curve, .. }, Unique::Ecc { x, y }) => {
                let eph = vtpm_crypto::ecc_generate(*curve, &mut rng).map_err(|_| Rc::FAILURE)?;
                let z = vtpm_crypto::ecdh_shared_x(*curve, eph.d(), x, y).map_err(|_| Rc::KEY)?;
                let seed = vtpm_crypto::kdfe(name_alg, &z, label, eph.x(), x, bits(name_alg));
                let mut secret = Vec::with_capacity(4 + 2 * eph.x().len());
                put2b(&mut secret, eph.x());
                put2b(&mut secret, eph.y());
                Ok((seed, secret))
            }
            _ => Err(Rc::KEY),
        }
    }

    /// CryptSecretDecrypt: the seed in a TPM2B_ENCRYPTED_SECRET's contents
    /// made by [`Engine::secret_encrypt`] (or a remote party) for `key`.
    /// TPM_RC_VALUE if it does not decrypt or is longer than a digest,
    /// TPM_RC_ECC_POINT for a point off the curve; unmarshaling codes for a
    /// malformed ECC point. Codes carry no position.
    pub(crate) fn secret_decrypt(
        &mut self,
        platform: &mut dyn Platform,
        key: &Object,
        label: &[u8],
        secret: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Rc> {
        let name_alg = key.public.name_alg.ok_or(Rc::KEY)?;
        let private = key.sensitive.as_ref().ok_or(Rc::KEY)?;
        let seed = match (&key.public.parms, &key.public.unique) {
            (Parms::Rsa { exponent, .. }, Unique::Rsa(n)) => {
                let e = crate::object::create::rsa_exponent(*exponent)?;
                let pair = vtpm_crypto::rsa_from_prime(n, e, private.secret.as_bytes())
                    .map_err(|_| Rc::KEY)?;
                let mut rng = self.fresh_drbg(platform)?;
                let mut l = label.to_vec();
                l.push(0);
                vtpm_crypto::rsa_oaep_decrypt(&pair, name_alg, &l, secret, &mut rng)
                    .map_err(|_| Rc::VALUE)?
            }
            (Parms::Ecc { curve, .. }, Unique::Ecc { x, .. }) => {
                let mut r = Reader::new(secret);
                let qx = r.tpm2b(MAX_ECC_KEY_BYTES)?;
                let qy = r.tpm2b(MAX_ECC_KEY_BYTES)?;
                if !r.is_empty() {
                    return Err(Rc::SIZE);
                }
                let z = vtpm_crypto::ecdh_shared_x(*curve, private.secret.as_bytes(), qx, qy)
                    .map_err(|_| Rc::ECC_POINT)?;
                vtpm_crypto::kdfe(name_alg, &z, label, qx, x, bits(name_alg))
            }
            _ => return Err(Rc::KEY),
        };
        if seed.len() > name_alg.digest_size() {
            return Err(Rc::VALUE);
        }
        Ok(seed)
    }
}

fn bits(h: HashAlg) -> u32 {
    (h.digest_size() * 8) as u32
}

/// The credential protector: the key's nameAlg and symmetric definition
/// with the shared seed.
fn protector<'a>(key: &Object, seed: &'a [u8]) -> Result<Protector<'a>, Rc> {
    let hash = key.public.name_alg.ok_or(Rc::KEY)?;
    let sym = *key.public.sym().ok_or(Rc::KEY)?;
    Ok(Protector { hash, seed, sym })
}

/// TPM2_MakeCredential (Part 3, 12.6): protects `credential` (at most a
/// nameAlg digest) for the TPM holding `handle`'s private key, bound to
/// `objectName`: returns the TPM2B_ID_OBJECT and the encrypted seed. Uses
/// only public data, so it needs no authorization.
pub fn make_credential(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let credential = Zeroizing::new(ctx.params.read_2b(MAX_DIGEST_SIZE)?.to_vec());
    let object_name = ctx.params.read_2b(MAX_NAME)?.to_vec();
    ctx.params.finish()?;
    let key = ctx.engine.object_or_err(ctx.handles[0])?.clone();
    if !is_asym_storage(&key) {
        return Err(Rc::TYPE.handle(1));
    }
    let name_alg = key.public.name_alg.ok_or(Rc::TYPE.handle(1))?;
    if credential.len() > name_alg.digest_size() {
        return Err(Rc::SIZE.param(1));
    }
    let (seed, secret) = ctx
        .engine
        .secret_encrypt(ctx.platform, &key, IDENTITY)
        .map_err(|rc| rc.handle(1))?;
    let blob = protector(&key, &seed)?.wrap(&object_name, &credential)?;
    ctx.out.tpm2b(&blob);
    ctx.out.tpm2b(&secret);
    Ok(())
}

/// TPM2_ActivateCredential (Part 3, 12.5): recovers the seed with
/// `keyHandle`'s private key (USER role) and releases the credential only
/// if it was made for the Name of `activateHandle` (ADMIN role: proof the
/// caller controls that object). TPM_RC_INTEGRITY for another Name or a
/// tampered blob.
pub fn activate_credential(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let blob = ctx.params.read_2b(MAX_ID_OBJECT)?.to_vec();
    let secret = ctx.params.read_2b(MAX_ENCRYPTED_SECRET)?.to_vec();
    ctx.params.finish()?;
    let name = ctx.engine.object_or_err(ctx.handles[0])?.name.clone();
    let key = ctx.engine.object_or_err(ctx.handles[1])?.clone();
    if !is_asym_storage(&key) {
        return Err(Rc::TYPE.handle(2));
    }
    let seed = ctx
        .engine
        .secret_decrypt(ctx.platform, &key, IDENTITY, &secret)
        .map_err(|rc| {
            if rc == Rc::KEY {
                Rc::FAILURE
            } else {
                rc.param(2)
            }
        })?;
    let credential = protector(&key, &seed)?
        .unwrap(&name, &blob)
        .map_err(|rc| match rc {
            // The inner TPM2B_DIGEST does not unmarshal.
            Rc::SENSITIVE => Rc::SIZE.param(1),
            other => other.param(1),
        })?;
    ctx.out.tpm2b(&credential);
    Ok(())
}
