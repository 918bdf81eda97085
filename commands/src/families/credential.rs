//! Credential protection (Part 3, 12.5 and 12.6; Part 1, 24 "Credential
//! Protection"): MakeCredential and ActivateCredential, and the secret
//! sharing with an asymmetric key that they (and Duplicate/Import) use.
//!
//! A credential travels as TPMS_ID_OBJECT = integrityHMAC || encIdentity,
//! made exactly like a private area (object/protect.rs) with the seed as
//! seedValue, the key's nameAlg and symmetric definition, and the Name of
//! the object it is bound to.

use alloc::vec::Vec;
use zeroize::Zeroizing;

use crate::consts::MAX_DIGEST_SIZE;
use crate::object::alg;
use crate::object::protect::Protector;
use crate::object::public::{DECRYPT, Public, RESTRICTED};
use crate::object::share::{secret_decrypt, secret_encrypt};
use crate::pipeline::Ctx;
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
fn is_asym_storage(key: &Public) -> bool {
    matches!(key.object_type, alg::RSA | alg::ECC) && key.has(DECRYPT) && key.has(RESTRICTED)
}

/// The credential protector: the key's nameAlg and symmetric definition
/// with the shared seed.
fn protector<'a>(key: &Public, seed: &'a [u8]) -> Result<Protector<'a>, Rc> {
    let hash = key.name_alg.ok_or(Rc::KEY)?;
    let sym = *key.sym().ok_or(Rc::KEY)?;
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
    if !is_asym_storage(&key.public) {
        return Err(Rc::TYPE.handle(1));
    }
    let name_alg = key.public.name_alg.ok_or(Rc::TYPE.handle(1))?;
    if credential.len() > name_alg.digest_size() {
        return Err(Rc::SIZE.param(1));
    }
    let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
    let (seed, secret) =
        secret_encrypt(&key.public, IDENTITY, &mut rng).map_err(|rc| rc.handle(1))?;
    let blob = protector(&key.public, &seed)?.wrap(&object_name, &credential)?;
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
    if !is_asym_storage(&key.public) {
        return Err(Rc::TYPE.handle(2));
    }
    let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
    let seed = secret_decrypt(&key, IDENTITY, &secret, &mut rng).map_err(|rc| {
        if rc == Rc::KEY {
            Rc::FAILURE
        } else {
            rc.param(2)
        }
    })?;
    let credential = protector(&key.public, &seed)?
        .unwrap(&name, &blob)
        .map_err(|rc| match rc {
            // The inner TPM2B_DIGEST does not unmarshal.
            Rc::SENSITIVE => Rc::SIZE.param(1),
            other => other.param(1),
        })?;
    ctx.out.tpm2b(&credential);
    Ok(())
}

/// Known-answer entry point: the TPM2B_ID_OBJECT buffer (without its size)
/// that TPM2_MakeCredential returns as credentialBlob for `credential` bound
/// to `object_name`, with the key whose TPMT_PUBLIC is `key_public` and the
/// "IDENTITY" `seed` it shares with that key.
pub fn credential_blob(
    key_public: &[u8],
    seed: &[u8],
    object_name: &[u8],
    credential: &[u8],
) -> Result<Vec<u8>, Rc> {
    let key = Public::parse(key_public, false, false)?;
    if !is_asym_storage(&key) {
        return Err(Rc::TYPE);
    }
    let name_alg = key.name_alg.ok_or(Rc::TYPE)?;
    if credential.len() > name_alg.digest_size() {
        return Err(Rc::SIZE);
    }
    protector(&key, seed)?.wrap(object_name, credential)
}

/// Known-answer entry point: the inverse of [`credential_blob`], as
/// TPM2_ActivateCredential opens credentialBlob once it has the seed.
/// TPM_RC_INTEGRITY for another Name, key or seed, or a tampered blob;
/// TPM_RC_SIZE if the credential inside does not unmarshal.
pub fn credential_from_blob(
    key_public: &[u8],
    seed: &[u8],
    object_name: &[u8],
    blob: &[u8],
) -> Result<Vec<u8>, Rc> {
    let key = Public::parse(key_public, false, false)?;
    if !is_asym_storage(&key) {
        return Err(Rc::TYPE);
    }
    protector(&key, seed)?
        .unwrap(object_name, blob)
        .map(|c| c.to_vec())
        .map_err(|rc| if rc == Rc::SENSITIVE { Rc::SIZE } else { rc })
}
