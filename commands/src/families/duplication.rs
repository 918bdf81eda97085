//! Duplication commands (Part 3, section 13): Duplicate, Rewrap, Import —
//! moving an object to another parent, on this TPM or another one.

use alloc::vec::Vec;
use zeroize::Zeroizing;

use crate::consts::{MAX_DIGEST_SIZE, RH_NULL};
use crate::families::object::{MAX_PRIVATE, read_public};
use crate::object::create;
use crate::object::duplicate::{
    DUPLICATE_LABEL, is_storage_key, outer_protector, unwrap_duplicate, wrap_duplicate,
};
use crate::object::protect::Protector;
use crate::object::public::{ENCRYPTED_DUPLICATION, FIXED_PARENT, FIXED_TPM, SymDef, read_sym_def};
use crate::object::share::{secret_decrypt, secret_encrypt};
use crate::object::{Object, Sensitive, alg};
use crate::pipeline::Ctx;
use crate::rc::Rc;

/// TPM2B_DATA (the inner wrapper's key).
const MAX_DATA: usize = 64;
/// TPM2B_ENCRYPTED_SECRET: an RSA-4096 ciphertext at most.
const MAX_ENCRYPTED_SECRET: usize = 512;
/// TPM2B_NAME.
const MAX_NAME: usize = 2 + MAX_DIGEST_SIZE;

/// Reads a TPMT_SYM_DEF_OBJECT+ (the inner wrapper's algorithm). The
/// wrapper is always CFB, whatever mode is named (as in the reference).
fn read_symmetric(ctx: &mut Ctx<'_>) -> Result<SymDef, Rc> {
    ctx.params.read_struct(|r| read_sym_def(r, true))
}

/// The inner key length a symmetric definition asks for.
fn key_bytes(sym: &SymDef) -> usize {
    usize::from(sym.key_bits).div_ceil(8)
}

/// A loaded object, or None for TPM_RH_NULL.
fn object_or_null(ctx: &Ctx<'_>, handle: u32) -> Result<Option<Object>, Rc> {
    if handle == RH_NULL {
        return Ok(None);
    }
    ctx.engine.object_or_err(handle).cloned().map(Some)
}

/// TPM2_Duplicate (Part 3, 13.1): the object's sensitive area as a
/// duplication blob for `newParentHandle` (or in the clear, bar the inner
/// wrapper, for TPM_RH_NULL). The object is authorized in the DUP role: a
/// policy session that ran PolicyCommandCode(Duplicate) or
/// PolicyDuplicationSelect (the pipeline checks that).
pub fn duplicate(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [object_handle, new_parent_handle, _] = ctx.handles;
    let key_in = Zeroizing::new(ctx.params.read_2b(MAX_DATA)?.to_vec());
    let sym = read_symmetric(ctx)?;
    ctx.params.finish()?;
    let object = ctx.engine.object_or_err(object_handle)?.clone();
    // fixedTPM objects are fixedParent too (Part 1, 27.2).
    if object.public.has(FIXED_PARENT) || object.public.has(FIXED_TPM) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let name_alg = object.public.name_alg.ok_or(Rc::TYPE.handle(1))?;
    let new_parent = object_or_null(ctx, new_parent_handle)?;
    if new_parent.as_ref().is_some_and(|p| !is_storage_key(p)) {
        return Err(Rc::TYPE.handle(2));
    }
    if object.public.has(ENCRYPTED_DUPLICATION) {
        if sym.is_null() {
            return Err(Rc::SYMMETRIC.param(2));
        }
        if new_parent.is_none() {
            return Err(Rc::HIERARCHY.handle(2));
        }
    }
    if sym.is_null() {
        if !key_in.is_empty() {
            return Err(Rc::SIZE.param(1));
        }
    } else if !key_in.is_empty() && key_in.len() != key_bytes(&sym) {
        return Err(Rc::SIZE.param(1));
    }
    let sensitive = object.sensitive.as_ref().ok_or(Rc::TYPE.handle(1))?;
    let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
    let (seed, out_seed) = match &new_parent {
        Some(p) => secret_encrypt(&p.public, DUPLICATE_LABEL, &mut rng)?,
        None => (Zeroizing::new(Vec::new()), Vec::new()),
    };
    // Without a caller key the TPM picks one and returns it; a caller key is
    // echoed back, as the reference does.
    let inner_key = if sym.is_null() {
        None
    } else if key_in.is_empty() {
        let mut k = Zeroizing::new(alloc::vec![0u8; key_bytes(&sym)]);
        ctx.engine.random(ctx.platform, &mut k)?;
        Some(k)
    } else {
        Some(key_in)
    };
    let outer = match &new_parent {
        Some(p) => Some(outer_protector(&p.public, &seed).map_err(|rc| rc.handle(2))?),
        None => None,
    };
    let blob = wrap_duplicate(
        &object.name,
        name_alg,
        &sensitive.marshal(object.public.object_type),
        inner_key.as_ref().map(|k| k.as_slice()),
        outer.as_ref(),
    )?;
    ctx.out
        .tpm2b(inner_key.as_ref().map_or(&[][..], |k| k.as_slice()));
    ctx.out.tpm2b(&blob);
    ctx.out.tpm2b(&out_seed);
    Ok(())
}

/// TPM2_Rewrap (Part 3, 13.2): a duplication blob's outer wrapper moved from
/// `oldParent` (this TPM's key) to `newParent`; the inner wrapper, if any,
/// is untouched. Either parent may be TPM_RH_NULL (no outer wrapper).
pub fn rewrap(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [old_handle, new_handle, _] = ctx.handles;
    let in_duplicate = ctx.params.read_2b(MAX_PRIVATE)?.to_vec();
    let name = ctx.params.read_2b(MAX_NAME)?.to_vec();
    let in_seed = ctx.params.read_2b(MAX_ENCRYPTED_SECRET)?.to_vec();
    ctx.params.finish()?;
    // A seed comes with an outer wrapper, and only then.
    if in_seed.is_empty() != (old_handle == RH_NULL) {
        return Err(Rc::HANDLE.handle(1));
    }
    let payload = match object_or_null(ctx, old_handle)? {
        Some(old) => {
            if !is_storage_key(&old) {
                return Err(Rc::TYPE.handle(1));
            }
            let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
            let seed = secret_decrypt(&old, DUPLICATE_LABEL, &in_seed, &mut rng)
                .map_err(|_| Rc::VALUE.param(3))?;
            outer_protector(&old.public, &seed)
                .map_err(|rc| rc.handle(1))?
                .open(&name, &in_duplicate)
                .map_err(|rc| rc.param(1))?
        }
        None => Zeroizing::new(in_duplicate),
    };
    match object_or_null(ctx, new_handle)? {
        Some(new) => {
            if !is_storage_key(&new) {
                return Err(Rc::TYPE.handle(2));
            }
            let hash = new.public.name_alg.ok_or(Rc::TYPE.handle(2))?;
            // The new outer integrity must still fit a TPM2B_PRIVATE.
            if payload.len() + 2 + hash.digest_size() > MAX_PRIVATE {
                return Err(Rc::VALUE.param(1));
            }
            let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
            let (seed, out_seed) = secret_encrypt(&new.public, DUPLICATE_LABEL, &mut rng)?;
            let blob = outer_protector(&new.public, &seed)
                .map_err(|rc| rc.handle(2))?
                .seal(&name, &payload)?;
            ctx.out.tpm2b(&blob);
            ctx.out.tpm2b(&out_seed);
        }
        None => {
            ctx.out.tpm2b(&payload);
            ctx.out.tpm2b(&[]);
        }
    }
    Ok(())
}

/// TPM2_Import (Part 3, 13.3): a duplication blob (from Duplicate, or made
/// outside any TPM) turned into a private area under `parentHandle`, ready
/// for TPM2_Load. Both wrappers are checked; under a fixedTPM parent the
/// object is validated as Load would.
pub fn import(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let parent_handle = ctx.handles[0];
    let key = Zeroizing::new(ctx.params.read_2b(MAX_DATA)?.to_vec());
    let public = read_public(ctx, false, false)?;
    let blob = ctx.params.read_2b(MAX_PRIVATE)?.to_vec();
    let in_seed = ctx.params.read_2b(MAX_ENCRYPTED_SECRET)?.to_vec();
    let sym = read_symmetric(ctx)?;
    ctx.params.finish()?;
    // A duplicable object can never have been fixed to a parent or a TPM.
    if public.has(FIXED_TPM) || public.has(FIXED_PARENT) {
        return Err(Rc::ATTRIBUTES.param(2));
    }
    let parent = ctx.engine.object_or_err(parent_handle)?.clone();
    if !parent.is_storage_parent() && !parent.is_derivation_parent() {
        return Err(Rc::TYPE.handle(1));
    }
    let encrypted_duplication = public.has(ENCRYPTED_DUPLICATION);
    if sym.is_null() {
        if !key.is_empty() {
            return Err(Rc::SIZE.param(1));
        }
        if encrypted_duplication {
            return Err(Rc::ATTRIBUTES.param(1));
        }
    } else if key.len() != key_bytes(&sym) {
        return Err(Rc::SIZE.param(1));
    }
    let seed = if in_seed.is_empty() {
        if encrypted_duplication {
            return Err(Rc::ATTRIBUTES.param(4));
        }
        Zeroizing::new(Vec::new())
    } else {
        // Only an asymmetric parent can receive a seed.
        if !matches!(parent.public.object_type, alg::RSA | alg::ECC) {
            return Err(Rc::TYPE.handle(1));
        }
        let mut rng = ctx.engine.fresh_drbg(ctx.platform)?;
        secret_decrypt(&parent, DUPLICATE_LABEL, &in_seed, &mut rng).map_err(|rc| rc.param(4))?
    };
    let name_alg = public.name_alg.ok_or(Rc::HASH.param(2))?;
    let name = public.name();
    let outer = if seed.is_empty() {
        None
    } else {
        Some(outer_protector(&parent.public, &seed).map_err(|rc| rc.handle(1))?)
    };
    let inner_key = (!sym.is_null()).then_some(key.as_slice());
    let sens_bytes = unwrap_duplicate(&name, name_alg, &blob, inner_key, outer.as_ref())
        .map_err(|rc| rc.param(3))?;
    let (t, sensitive) = Sensitive::parse(&sens_bytes).map_err(|rc| rc.param(3))?;
    if parent.public.has(FIXED_TPM) {
        // Validated now so that Load need not (Part 3, 13.3).
        create::validate_public(Some(&parent), &public).map_err(|rc| rc.param(2))?;
        if t != public.object_type {
            return Err(Rc::TYPE.param(2));
        }
        create::check_binding(&public, &sensitive).map_err(|rc| rc.param(3))?;
    }
    let private = Protector::of(&parent)?.wrap(&name, &sensitive.marshal(t))?;
    ctx.out.tpm2b(&private);
    Ok(())
}
