//! Hierarchy commands (Part 3, section 24): CreatePrimary, HierarchyControl,
//! SetPrimaryPolicy, ChangePPS, ChangeEPS, Clear, ClearControl,
//! HierarchyChangeAuth.

use tpm2_protocol::basic::{TpmUint8, TpmUint16, TpmUint32};
use vtpm_crypto::HashAlg;

use crate::consts::{RH_ENDORSEMENT, RH_LOCKOUT, RH_OWNER, RH_PLATFORM, RH_PLATFORM_NV};
use crate::families::object::{Origin, read_creation_inputs, read_public, read_sensitive_create};
use crate::hierarchy::Policy;
use crate::object::alg;
use crate::pipeline::{Ctx, trim_trailing_zeros};
use crate::rc::{Rc, ValueKind};
use crate::secret::Secret;

/// TPMI_YES_NO.
fn read_yes_no(ctx: &mut Ctx<'_>) -> Result<bool, Rc> {
    match ctx.params.read::<TpmUint8>()?.value() {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Rc::VALUE.param(ctx.params.index())),
    }
}

/// TPM2_CreatePrimary (Part 3, 24.1): an object derived from the hierarchy's
/// primary seed and the template (see `object::create` for the derivation).
pub fn create_primary(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let hierarchy = ctx.handles[0];
    let sens = read_sensitive_create(ctx)?;
    let public = read_public(ctx, false, false)?;
    let (outside, selections) = read_creation_inputs(ctx)?;
    ctx.engine.need_object_slot()?;
    let created =
        ctx.engine
            .create_object(ctx.platform, Origin::Primary(hierarchy), &sens, public)?;
    let (data, hash, ticket) =
        ctx.engine
            .creation_outputs(ctx.locality, hierarchy, &created, &outside, &selections);
    let public_2b = created.public.marshal_2b();
    let name = created.name.clone();
    ctx.response_handle = Some(ctx.engine.load_created(created)?);
    ctx.out.bytes(&public_2b);
    ctx.out.bytes(&data);
    ctx.out.tpm2b(hash.as_bytes());
    ctx.out.bytes(&ticket);
    ctx.out.tpm2b(&name);
    Ok(())
}

/// TPM2_HierarchyControl (Part 3, 24.2): enables or disables a hierarchy.
/// Disabling flushes its transient objects; only platform authorization
/// re-enables a hierarchy (the platform hierarchy itself only at Startup(CLEAR)).
pub fn hierarchy_control(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let auth = ctx.handles[0];
    let enable = ctx.params.read::<TpmUint32>()?.value();
    // TPMI_RH_ENABLES.
    if !matches!(
        enable,
        RH_PLATFORM | RH_PLATFORM_NV | RH_OWNER | RH_ENDORSEMENT
    ) {
        return Err(Rc::VALUE.param(1));
    }
    let state = read_yes_no(ctx)?;
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    let current = match enable {
        RH_PLATFORM | RH_PLATFORM_NV => {
            if auth != RH_PLATFORM {
                return Err(Rc::AUTH_TYPE);
            }
            if enable == RH_PLATFORM {
                engine.gc.ph_enable
            } else {
                engine.gc.ph_enable_nv
            }
        }
        RH_OWNER | RH_ENDORSEMENT => {
            if auth != RH_PLATFORM && auth != enable {
                return Err(Rc::AUTH_TYPE);
            }
            let current = if enable == RH_OWNER {
                engine.gc.sh_enable
            } else {
                engine.gc.eh_enable
            };
            if !current && state && auth != RH_PLATFORM {
                return Err(Rc::AUTH_TYPE);
            }
            current
        }
        _ => return Err(Rc::VALUE.param(1)),
    };
    if current != state {
        match enable {
            RH_PLATFORM => engine.gc.ph_enable = state,
            RH_PLATFORM_NV => engine.gc.ph_enable_nv = state,
            RH_OWNER => engine.gc.sh_enable = state,
            _ => engine.gc.eh_enable = state,
        }
        if !state && enable != RH_PLATFORM_NV {
            engine.flush_hierarchy_objects(enable);
        }
        engine.clear_orderly();
    }
    Ok(())
}

/// TPM2_SetPrimaryPolicy (Part 3, 24.3): a hierarchy's authPolicy.
pub fn set_primary_policy(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let auth = ctx.handles[0];
    let digest = ctx.params.read_2b(crate::consts::MAX_DIGEST_SIZE)?.to_vec();
    let hash = ctx.params.read_as::<TpmUint16>(ValueKind::Hash)?.value();
    let size = match hash {
        alg::NULL => 0,
        h => HashAlg::from_alg_id(h)
            .ok_or(Rc::HASH.param(2))?
            .digest_size(),
    };
    ctx.params.finish()?;
    if digest.len() != size {
        return Err(Rc::SIZE.param(1));
    }
    let policy = Policy { alg: hash, digest };
    let engine = &mut *ctx.engine;
    match auth {
        RH_OWNER => engine.perm.hier.owner_policy = policy,
        RH_ENDORSEMENT => engine.perm.hier.endorsement_policy = policy,
        RH_LOCKOUT => engine.perm.hier.lockout_policy = policy,
        _ => {
            engine.gc.platform_policy = policy;
            engine.clear_orderly();
        }
    }
    engine.nv_dirty = true;
    Ok(())
}

/// TPM2_ChangePPS (Part 3, 24.4): a new platform seed and proof; the
/// platform policy is cleared and platform objects are flushed and evicted.
pub fn change_pps(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    engine.change_pps(ctx.platform)?;
    engine.gc.platform_policy = Policy::default();
    engine.flush_hierarchy_objects(RH_PLATFORM);
    engine
        .perm
        .persistent
        .retain(|o| o.hierarchy != RH_PLATFORM);
    engine.clear_orderly();
    engine.nv_dirty = true;
    Ok(())
}

/// TPM2_ChangeEPS (Part 3, 24.5): a new endorsement seed and proof (so a new
/// EK); endorsementAuth and policy are cleared, endorsement objects removed.
pub fn change_eps(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    engine.change_eps(ctx.platform)?;
    engine.gc.eh_enable = true;
    engine.perm.hier.endorsement_auth = Secret::empty();
    engine.perm.hier.endorsement_policy = Policy::default();
    engine.flush_hierarchy_objects(RH_ENDORSEMENT);
    engine
        .perm
        .persistent
        .retain(|o| o.hierarchy != RH_ENDORSEMENT);
    engine.clear_orderly();
    engine.nv_dirty = true;
    Ok(())
}

/// TPM2_Clear (Part 3, 24.6): removes the owner: new SPS, shProof and ehProof,
/// auth values and policies emptied, owner and endorsement objects removed,
/// Clock and the reset/restart counters zeroed.
pub fn clear(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    if engine.perm.hier.disable_clear {
        return Err(Rc::DISABLED);
    }
    engine.change_sps(ctx.platform)?;
    engine.change_eh_proof(ctx.platform)?;
    engine.gc.sh_enable = true;
    engine.gc.eh_enable = true;
    // The PCR authValues are reset too (the reference's PCR_ClearAuth).
    engine.gc.pcr_auth = Secret::empty();
    let h = &mut engine.perm.hier;
    h.owner_auth = Secret::empty();
    h.endorsement_auth = Secret::empty();
    h.lockout_auth = Secret::empty();
    h.owner_policy = Policy::default();
    h.endorsement_policy = Policy::default();
    h.lockout_policy = Policy::default();
    engine.flush_hierarchy_objects(RH_OWNER);
    engine.flush_hierarchy_objects(RH_ENDORSEMENT);
    engine
        .perm
        .persistent
        .retain(|o| o.hierarchy != RH_OWNER && o.hierarchy != RH_ENDORSEMENT);
    // NV indices not created by the platform go with the owner.
    engine.nv_clear_owner();
    engine.perm.da = crate::da::DaState::default();
    engine.perm.clock_ms = 0;
    engine.clock_anchor_ms = ctx.platform.monotonic_ms();
    engine.perm.clock_safe = true;
    engine.perm.reset_count = 0;
    engine.perm.restart_count = 0;
    engine.pcr_update_counter = engine.pcr_update_counter.wrapping_add(1);
    engine.clear_orderly();
    engine.nv_dirty = true;
    Ok(())
}

/// TPM2_ClearControl (Part 3, 24.7): lockout may disable Clear; only the
/// platform may enable it again.
pub fn clear_control(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let auth = ctx.handles[0];
    let disable = read_yes_no(ctx)?;
    ctx.params.finish()?;
    if auth == RH_LOCKOUT && !disable {
        return Err(Rc::AUTH_FAIL);
    }
    ctx.engine.perm.hier.disable_clear = disable;
    ctx.engine.nv_dirty = true;
    Ok(())
}

/// TPM2_HierarchyChangeAuth (Part 3, 24.8): a hierarchy's new authValue
/// (trailing zeros removed).
pub fn hierarchy_change_auth(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let auth = ctx.handles[0];
    let new_auth = Secret::new(trim_trailing_zeros(
        ctx.params.read_2b(crate::consts::MAX_DIGEST_SIZE)?,
    ));
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    match auth {
        RH_OWNER => engine.perm.hier.owner_auth = new_auth,
        RH_ENDORSEMENT => engine.perm.hier.endorsement_auth = new_auth,
        RH_LOCKOUT => engine.perm.hier.lockout_auth = new_auth,
        _ => {
            engine.gc.platform_auth = new_auth;
            engine.clear_orderly();
        }
    }
    engine.nv_dirty = true;
    Ok(())
}
