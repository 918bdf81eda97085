//! Credential protection (Part 3, 12.5 and 12.6; Part 1, 24 "Credential
//! Protection"): MakeCredential and ActivateCredential, and the secret
//! sharing with an asymmetric key that they (and Duplicate/Import) use.
//!
//! A credential travels as TPMS_ID_OBJECT = integrityHMAC || encIdentity,
//! made exactly like a private area (object/protect.rs) with the seed as
//! seedValue, the key's nameAlg and symmetric definition, and the Name of
//! the object it is bound to.

use zeroize::Zeroizing;

use crate::consts::MAX_DIGEST_SIZE;
use crate::object::protect::Protector;
use crate::object::public::{DECRYPT, RESTRICTED};
use crate::object::share::{secret_decrypt, secret_encrypt};
use crate::object::{Object, alg};
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
fn is_asym_storage(key: &Object) -> bool {
    matches!(key.public.object_type, alg::RSA | alg::ECC)
        && key.public.has(DECRYPT)
        && key.public.has(RESTRICTED)
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
    let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
    let (seed, secret) =
        secret_encrypt(&key.public, IDENTITY, &mut rng).map_err(|rc| rc.handle(1))?;
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
    let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
    let seed = secret_decrypt(&key, IDENTITY, &secret, &mut rng).map_err(|rc| {
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
