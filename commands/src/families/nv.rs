//! Non-volatile storage (Part 3, section 31): defining, writing, reading,
//! locking and deleting NV indices. The model and the shared access rules
//! are in `crate::nv`; authorization (which handle may authorize, PIN
//! counting, DA) happens in the pipeline before these actions run.

use alloc::vec::Vec;
use tpm2_protocol::basic::{TpmUint16, TpmUint64};

use crate::attest::{MAX_EXTRA_DATA, ST_ATTEST_NV, ST_ATTEST_NV_DIGEST};
use crate::codec::Out;
use crate::consts::{HT_NV_INDEX, MAX_DIGEST_SIZE, RH_OWNER, RH_PLATFORM};
use crate::nv::{
    MAX_NV_BUFFER_SIZE, MAX_ORDERLY_COUNT, NV_INDEX_SPACE, NvIndex, NvPublic, NvType, attr,
};
use crate::pipeline::{Ctx, trim_trailing_zeros};
use crate::rc::Rc;
use crate::secret::Secret;
use crate::signature::SigScheme;

pub const CC_NV_UNDEFINE_SPACE_SPECIAL: u32 = 0x0000_011F;
pub const CC_NV_UNDEFINE_SPACE: u32 = 0x0000_0122;
pub const CC_NV_DEFINE_SPACE: u32 = 0x0000_012A;
pub const CC_NV_GLOBAL_WRITE_LOCK: u32 = 0x0000_0132;
pub const CC_NV_INCREMENT: u32 = 0x0000_0134;
pub const CC_NV_SET_BITS: u32 = 0x0000_0135;
pub const CC_NV_EXTEND: u32 = 0x0000_0136;
pub const CC_NV_WRITE: u32 = 0x0000_0137;
pub const CC_NV_WRITE_LOCK: u32 = 0x0000_0138;
pub const CC_NV_CHANGE_AUTH: u32 = 0x0000_013B;
pub const CC_NV_READ: u32 = 0x0000_014E;
pub const CC_NV_READ_LOCK: u32 = 0x0000_014F;
pub const CC_NV_READ_PUBLIC: u32 = 0x0000_0169;
pub const CC_NV_DEFINE_SPACE2: u32 = 0x0000_019D;
pub const CC_NV_READ_PUBLIC2: u32 = 0x0000_019E;
pub const CC_NV_CERTIFY: u32 = 0x0000_0184;

/// The index named by handle `i` (the pipeline checked it is accessible).
fn index<'a>(ctx: &'a Ctx<'_>, i: usize) -> Result<&'a NvIndex, Rc> {
    let h = ctx.handles.get(i).copied().unwrap_or_default();
    ctx.engine.nv_accessible(h).map_err(|rc| rc.handle(i + 1))
}

/// TPM2_NV_DefineSpace (Part 3, 31.3): a new index under owner or platform
/// authorization, after every attribute rule of the command.
pub fn nv_define_space(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let auth = ctx.params.read_2b(MAX_DIGEST_SIZE)?.to_vec();
    let public = ctx
        .params
        .read_sized(NvPublic::parse)?
        .ok_or(Rc::SIZE.param(2))?;
    ctx.params.finish()?;
    define(ctx, &auth, public)
}

/// TPM2_NV_DefineSpace2 (Part 3, 31.17): NV_DefineSpace with a
/// TPMT_NV_PUBLIC_2. This TPM has no external or permanent NV: only the
/// TPM_HT_NV_INDEX selector (a TPMS_NV_PUBLIC) is accepted.
pub fn nv_define_space2(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let auth = ctx.params.read_2b(MAX_DIGEST_SIZE)?.to_vec();
    let public = ctx
        .params
        .read_sized(|r| {
            if r.u8()? != HT_NV_INDEX {
                return Err(Rc::VALUE);
            }
            NvPublic::parse(r)
        })?
        .ok_or(Rc::SIZE.param(2))?;
    ctx.params.finish()?;
    define(ctx, &auth, public)
}

fn define(ctx: &mut Ctx<'_>, auth: &[u8], public: NvPublic) -> Result<(), Rc> {
    let creator = ctx.handles[0];
    let a = public.attributes;
    let has = |bits: u32| a & bits != 0;
    let digest_size = public.name_alg.digest_size();
    let bad_attr = Rc::ATTRIBUTES.param(2);
    if !public.auth_policy.is_empty() && public.auth_policy.len() != digest_size {
        return Err(Rc::SIZE.param(2));
    }
    let auth = trim_trailing_zeros(auth);
    if auth.len() > digest_size {
        return Err(Rc::SIZE.param(1));
    }
    if creator == RH_PLATFORM && !ctx.engine.gc.ph_enable_nv {
        return Err(Rc::HIERARCHY.handle(1));
    }
    let nv_type = NvType::of(a).ok_or(bad_attr)?;
    let size = usize::from(public.data_size);
    match nv_type {
        NvType::Ordinary => {}
        NvType::Extend if size != digest_size => return Err(Rc::SIZE.param(2)),
        NvType::Extend => {}
        _ if size != 8 => return Err(Rc::SIZE.param(2)),
        _ => {}
    }
    match nv_type {
        // A counter is never cleared.
        NvType::Counter if has(attr::CLEAR_STCLEAR) => return Err(bad_attr),
        // A PIN Fail index must be DA-exempt: its own count replaces DA.
        NvType::PinFail if !has(attr::NO_DA) => return Err(bad_attr),
        // The authValue of a PIN index is what it protects: it cannot write it.
        NvType::PinFail | NvType::PinPass
            if has(attr::AUTHWRITE | attr::GLOBALLOCK | attr::WRITEDEFINE) =>
        {
            return Err(bad_attr);
        }
        _ => {}
    }
    if has(attr::WRITTEN | attr::WRITELOCKED | attr::READLOCKED) {
        return Err(bad_attr);
    }
    if !has(attr::OWNERREAD | attr::PPREAD | attr::AUTHREAD | attr::POLICYREAD) {
        return Err(bad_attr);
    }
    if !has(attr::OWNERWRITE | attr::PPWRITE | attr::AUTHWRITE | attr::POLICYWRITE) {
        return Err(bad_attr);
    }
    if has(attr::CLEAR_STCLEAR) && has(attr::WRITEDEFINE) {
        return Err(bad_attr);
    }
    // The creator must be able to delete what it defines.
    if has(attr::PLATFORMCREATE) != (creator == RH_PLATFORM) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if has(attr::POLICY_DELETE) && creator != RH_PLATFORM {
        return Err(bad_attr);
    }
    if has(attr::WRITEALL) && size > MAX_NV_BUFFER_SIZE {
        return Err(Rc::SIZE.param(2));
    }
    if ctx.engine.nv_index(public.index).is_some() {
        return Err(Rc::NV_DEFINED);
    }
    let index = NvIndex::new(public, Secret::new(auth));
    if ctx.engine.nv_used() + index.cost() > NV_INDEX_SPACE {
        return Err(Rc::NV_SPACE);
    }
    let engine = &mut *ctx.engine;
    engine.perm.nv.push(index);
    engine.perm.nv.sort_by_key(|i| i.public.index);
    engine.nv_dirty = true;
    Ok(())
}

/// TPM2_NV_UndefineSpace (Part 3, 31.4): the owner deletes its own indices,
/// the platform any; never one with POLICY_DELETE.
pub fn nv_undefine_space(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let auth = ctx.handles[0];
    let idx = index(ctx, 1)?;
    if idx.public.has(attr::POLICY_DELETE) {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    if auth == RH_OWNER && idx.public.has(attr::PLATFORMCREATE) {
        return Err(Rc::NV_AUTHORIZATION);
    }
    let h = idx.public.index;
    ctx.engine.nv_delete(h);
    Ok(())
}

/// TPM2_NV_UndefineSpaceSpecial (Part 3, 31.5): deletes a POLICY_DELETE
/// index, with its policy (ADMIN role) and platform authorization.
pub fn nv_undefine_space_special(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let idx = index(ctx, 0)?;
    if !idx.public.has(attr::POLICY_DELETE) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let h = idx.public.index;
    ctx.engine.nv_delete(h);
    Ok(())
}

/// TPM2_NV_ReadPublic (Part 3, 31.6): the public area and the Name.
pub fn nv_read_public(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let idx = index(ctx, 0)?;
    let public = idx.public.marshal_2b();
    let name = idx.name();
    ctx.out.bytes(&public);
    ctx.out.tpm2b(&name);
    Ok(())
}

/// TPM2_NV_ReadPublic2 (Part 3, 31.18): the public area as a
/// TPMT_NV_PUBLIC_2 (selector TPM_HT_NV_INDEX) and the Name.
pub fn nv_read_public2(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let idx = index(ctx, 0)?;
    let mut body = alloc::vec![HT_NV_INDEX];
    body.extend_from_slice(&idx.public.marshal());
    let name = idx.name();
    ctx.out.tpm2b(&body);
    ctx.out.tpm2b(&name);
    Ok(())
}

/// The authorizing handle and the index of a write command, after
/// NvWriteAccessChecks.
fn write_target(ctx: &Ctx<'_>) -> Result<NvIndex, Rc> {
    let idx = index(ctx, 1)?;
    ctx.engine.nv_write_access(ctx.handles[0], idx)?;
    Ok(idx.clone())
}

/// TPM2_NV_Write (Part 3, 31.7): `data` at `offset` of an ordinary or PIN
/// index; WRITEALL indices only in one piece.
pub fn nv_write(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let data = ctx.params.read_2b(MAX_NV_BUFFER_SIZE)?.to_vec();
    let offset = usize::from(ctx.params.read::<TpmUint16>()?.value());
    ctx.params.finish()?;
    let idx = write_target(ctx)?;
    let p = &idx.public;
    if matches!(p.nv_type(), NvType::Counter | NvType::Bits | NvType::Extend) {
        return Err(Rc::ATTRIBUTES);
    }
    let size = usize::from(p.data_size);
    if offset > size {
        return Err(Rc::VALUE.param(2));
    }
    if data.len() > size - offset {
        return Err(Rc::NV_RANGE);
    }
    if p.has(attr::WRITEALL) && data.len() < size {
        return Err(Rc::NV_RANGE);
    }
    ctx.engine.nv_set_data(p.index, offset, &data);
    Ok(())
}

/// TPM2_NV_Increment (Part 3, 31.8): a counter goes up by one; its first
/// value is one above the highest any deleted counter had.
pub fn nv_increment(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let idx = write_target(ctx)?;
    if idx.public.nv_type() != NvType::Counter {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let old = if idx.written() {
        idx.u64_value()
    } else {
        ctx.engine.perm.nv_max_counter
    };
    let value = old.wrapping_add(1);
    let h = idx.public.index;
    ctx.engine.nv_set_data(h, 0, &value.to_be_bytes());
    // An orderly counter reaches NV each time its low bits roll over.
    if idx.public.has(attr::ORDERLY) && value & MAX_ORDERLY_COUNT == 0 {
        ctx.engine.nv_store_orderly(h);
    }
    Ok(())
}

/// TPM2_NV_Extend (Part 3, 31.9): data := H_nameAlg(data || input).
pub fn nv_extend(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let input = ctx.params.read_2b(MAX_NV_BUFFER_SIZE)?.to_vec();
    ctx.params.finish()?;
    let idx = write_target(ctx)?;
    if idx.public.nv_type() != NvType::Extend {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let alg = idx.public.name_alg;
    let old: Vec<u8> = if idx.written() {
        idx.data.clone()
    } else {
        alloc::vec![0; alg.digest_size()]
    };
    let new = alg.digest(&[&old, &input]);
    ctx.engine.nv_set_data(idx.public.index, 0, new.as_bytes());
    Ok(())
}

/// TPM2_NV_SetBits (Part 3, 31.10): data := data OR bits.
pub fn nv_set_bits(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let bits = ctx.params.read::<TpmUint64>()?.value();
    ctx.params.finish()?;
    let idx = write_target(ctx)?;
    if idx.public.nv_type() != NvType::Bits {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let old = if idx.written() { idx.u64_value() } else { 0 };
    let new = old | bits;
    if new != old || !idx.written() {
        ctx.engine
            .nv_set_data(idx.public.index, 0, &new.to_be_bytes());
    }
    Ok(())
}

/// TPM2_NV_WriteLock (Part 3, 31.11): sets WRITELOCKED on an index with
/// WRITEDEFINE or WRITE_STCLEAR; locking a locked index succeeds.
pub fn nv_write_lock(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let idx = index(ctx, 1)?;
    match ctx.engine.nv_write_access(ctx.handles[0], idx) {
        Ok(()) => {}
        Err(Rc::NV_LOCKED) => return Ok(()),
        Err(rc) => return Err(rc),
    }
    if !idx.public.has(attr::WRITEDEFINE | attr::WRITE_STCLEAR) {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let (h, a) = (idx.public.index, idx.public.attributes);
    ctx.engine.nv_set_attributes(h, a | attr::WRITELOCKED);
    Ok(())
}

/// TPM2_NV_GlobalWriteLock (Part 3, 31.12): every index with GLOBALLOCK
/// becomes write-locked until the next TPM Reset or Restart.
pub fn nv_global_write_lock(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let locks: Vec<(u32, u32)> = ctx
        .engine
        .perm
        .nv
        .iter()
        .filter(|i| i.public.has(attr::GLOBALLOCK) && !i.public.has(attr::WRITELOCKED))
        .map(|i| (i.public.index, i.public.attributes | attr::WRITELOCKED))
        .collect();
    for (h, a) in locks {
        ctx.engine.nv_set_attributes(h, a);
    }
    Ok(())
}

/// TPM2_NV_Read (Part 3, 31.13): `size` octets at `offset`.
pub fn nv_read(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let size = usize::from(ctx.params.read::<TpmUint16>()?.value());
    let offset = usize::from(ctx.params.read::<TpmUint16>()?.value());
    ctx.params.finish()?;
    let idx = index(ctx, 1)?;
    ctx.engine.nv_read_access(ctx.handles[0], idx)?;
    if size > MAX_NV_BUFFER_SIZE {
        return Err(Rc::VALUE.param(1));
    }
    let data_size = usize::from(idx.public.data_size);
    if offset > data_size {
        return Err(Rc::VALUE.param(2));
    }
    if size > data_size - offset {
        return Err(Rc::NV_RANGE);
    }
    let data = idx.data.get(offset..offset + size).ok_or(Rc::NV_RANGE)?;
    let data = data.to_vec();
    ctx.out.tpm2b(&data);
    Ok(())
}

/// TPM2_NV_ReadLock (Part 3, 31.14): sets READLOCKED on an index with
/// READ_STCLEAR; an unwritten index may be locked, a locked one succeeds.
pub fn nv_read_lock(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let idx = index(ctx, 1)?;
    match ctx.engine.nv_read_access(ctx.handles[0], idx) {
        Ok(()) | Err(Rc::NV_UNINITIALIZED) => {}
        Err(Rc::NV_LOCKED) => return Ok(()),
        Err(rc) => return Err(rc),
    }
    if !idx.public.has(attr::READ_STCLEAR) {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let (h, a) = (idx.public.index, idx.public.attributes);
    ctx.engine.nv_set_attributes(h, a | attr::READLOCKED);
    Ok(())
}

/// TPM2_NV_ChangeAuth (Part 3, 31.15): a new authValue (ADMIN role, so
/// through the index's policy), no longer than the nameAlg's digest.
pub fn nv_change_auth(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let new_auth = ctx.params.read_2b(MAX_DIGEST_SIZE)?.to_vec();
    ctx.params.finish()?;
    let idx = index(ctx, 0)?;
    let new_auth = trim_trailing_zeros(&new_auth);
    if new_auth.len() > idx.public.name_alg.digest_size() {
        return Err(Rc::SIZE.param(1));
    }
    let h = idx.public.index;
    if let Some(i) = ctx.engine.nv_index_mut(h) {
        i.auth = Secret::new(new_auth);
    }
    ctx.engine.nv_dirty = true;
    Ok(())
}

/// TPM2_NV_Certify (Part 3, 31.16): the signer vouches for the contents of
/// an index, read under authHandle's authorization (the NV read rules):
/// TPMS_NV_CERTIFY_INFO = the index's Name, offset and the `size` octets
/// there; with size and offset both zero, TPMS_NV_DIGEST_CERTIFY_INFO = the
/// Name and the digest of the whole data area with the signing scheme's hash
/// (none when unsigned).
pub fn nv_certify(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [sign_handle, auth_handle, nv_handle] = ctx.handles;
    let qualifying_data = ctx.params.read_2b(MAX_EXTRA_DATA)?;
    let scheme = ctx.params.read_struct(|r| SigScheme::parse(r, true))?;
    let size = ctx.params.read::<TpmUint16>()?.value();
    let offset = ctx.params.read::<TpmUint16>()?.value();
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    // The signer is checked first, as the reference does.
    let selected = engine.attest_scheme((sign_handle, 1), (scheme, 2))?;
    let idx = engine.nv_accessible(nv_handle).map_err(|rc| rc.handle(3))?;
    engine.nv_read_access(auth_handle, idx)?;
    if usize::from(size) + usize::from(offset) > usize::from(idx.public.data_size) {
        return Err(Rc::NV_RANGE);
    }
    if usize::from(size) > MAX_NV_BUFFER_SIZE {
        return Err(Rc::VALUE.param(3));
    }
    let mut info = Out::new();
    info.tpm2b(&idx.name());
    let kind = if size == 0 && offset == 0 {
        let digest = selected
            .hash_alg()
            .map(|h| h.digest(&[&idx.data]).as_bytes().to_vec())
            .unwrap_or_default();
        info.tpm2b(&digest);
        ST_ATTEST_NV_DIGEST
    } else {
        let (start, end) = (usize::from(offset), usize::from(offset) + usize::from(size));
        let contents = idx.data.get(start..end).ok_or(Rc::NV_RANGE)?;
        info.u16(offset).tpm2b(contents);
        ST_ATTEST_NV
    };
    let (attest, signature) = engine.attest_and_sign(
        ctx.platform,
        (sign_handle, 1),
        (scheme, 2),
        qualifying_data,
        kind,
        &info.into_vec(),
    )?;
    ctx.out.tpm2b(&attest);
    signature.marshal(&mut ctx.out);
    Ok(())
}
