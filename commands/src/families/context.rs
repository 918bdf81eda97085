//! Context management (Part 3, section 28): ContextSave, ContextLoad,
//! FlushContext, EvictControl.

use alloc::vec::Vec;
use tpm2_protocol::basic::TpmUint32;

use crate::consts::{
    HT_HMAC_SESSION, HT_PERSISTENT, HT_POLICY_SESSION, HT_TRANSIENT, RH_NULL, RH_OWNER, RH_PLATFORM,
};
use crate::object::protect::{open_context, seal_context};
use crate::object::public::ST_CLEAR;
use crate::object::{MAX_PERSISTENT_OBJECTS, Object};
use crate::pipeline::Ctx;
use crate::rc::Rc;
use crate::sequence::SequenceObject;

/// savedHandle of an object context (Part 2, TPMI_DH_SAVED).
const SAVED_OBJECT: u32 = 0x8000_0000;
/// savedHandle of a sequence object context.
const SAVED_SEQUENCE: u32 = 0x8000_0001;
/// savedHandle of an stClear object context.
const SAVED_ST_CLEAR_OBJECT: u32 = 0x8000_0002;
/// Largest TPM2B_CONTEXT_DATA accepted.
const MAX_CONTEXT_SIZE: usize = 2048;
/// Persistent handle ranges (Part 2, 7.5): owner, then platform.
const OWNER_PERSISTENT: core::ops::RangeInclusive<u32> = 0x8100_0000..=0x817F_FFFF;
const PLATFORM_PERSISTENT: core::ops::RangeInclusive<u32> = 0x8180_0000..=0x81FF_FFFF;

impl crate::engine::Engine {
    /// Values an object context is bound to besides its proof: the sequence,
    /// saved handle and hierarchy, and the total reset count (object contexts
    /// do not survive TPM Reset); stClear objects die at TPM Restart too.
    fn context_binding(&self, sequence: u64, saved: u32, hierarchy: u32) -> Vec<u8> {
        let mut b = Vec::with_capacity(24);
        b.extend_from_slice(&sequence.to_be_bytes());
        b.extend_from_slice(&saved.to_be_bytes());
        b.extend_from_slice(&hierarchy.to_be_bytes());
        b.extend_from_slice(&self.perm.total_reset_count.to_be_bytes());
        if saved == SAVED_ST_CLEAR_OBJECT {
            b.extend_from_slice(&self.perm.restart_count.to_be_bytes());
        }
        b
    }

    /// Marks the state saved by Shutdown(STATE) as stale: the state-clear data
    /// changed after it was taken.
    pub(crate) fn clear_orderly(&mut self) {
        if self.perm.orderly != crate::state::Orderly::None {
            self.perm.orderly = crate::state::Orderly::None;
            self.saved = None;
            self.nv_dirty = true;
        }
    }
}

/// TPM2_ContextSave (Part 3, 28.2): a transient object's context, encrypted
/// and integrity-protected under its hierarchy's proof.
pub fn context_save(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let handle = ctx.handles[0];
    let engine = &mut *ctx.engine;
    if (handle >> 24) as u8 != HT_TRANSIENT {
        return save_session(ctx, handle);
    }
    if let Some(seq) = engine.sequence(handle) {
        // A sequence is in no hierarchy: its context is sealed under the null
        // proof (as the reference does), so it dies at TPM Reset.
        let plain = seq.marshal();
        let sequence = engine.gr.object_context_id;
        let bound = engine.context_binding(sequence, SAVED_SEQUENCE, RH_NULL);
        let blob = seal_context(
            engine.proof(RH_NULL),
            sequence,
            SAVED_SEQUENCE,
            &bound,
            &plain,
        )?;
        engine.gr.object_context_id = sequence.wrapping_add(1);
        ctx.out
            .u64(sequence)
            .u32(SAVED_SEQUENCE)
            .u32(RH_NULL)
            .tpm2b(&blob);
        return Ok(());
    }
    let object = engine.object_or_err(handle)?;
    let saved = if object.public.has(ST_CLEAR) {
        SAVED_ST_CLEAR_OBJECT
    } else {
        SAVED_OBJECT
    };
    let hierarchy = object.hierarchy;
    let plain = object.marshal_state();
    let sequence = engine.gr.object_context_id;
    let bound = engine.context_binding(sequence, saved, hierarchy);
    let blob = seal_context(engine.proof(hierarchy), sequence, saved, &bound, &plain)?;
    engine.gr.object_context_id = sequence.wrapping_add(1);
    ctx.out.u64(sequence).u32(saved).u32(hierarchy).tpm2b(&blob);
    Ok(())
}

/// TPM2_ContextLoad (Part 3, 28.3): reloads a saved object context; the
/// integrity check fails if the hierarchy's proof changed since.
pub fn context_load(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    // TPMS_CONTEXT is one parameter: its fields are checked as it is unmarshaled.
    let (sequence, saved, hierarchy, blob) = ctx.params.read_struct(|r| {
        let sequence = u64::from(r.u32()?) << 32 | u64::from(r.u32()?);
        let saved = r.u32()?;
        if !is_saved_handle(saved) {
            return Err(Rc::VALUE);
        }
        let hierarchy = r.u32()?;
        if !matches!(
            hierarchy,
            RH_OWNER | RH_PLATFORM | crate::consts::RH_ENDORSEMENT | RH_NULL
        ) {
            return Err(Rc::VALUE);
        }
        Ok((
            sequence,
            saved,
            hierarchy,
            r.tpm2b(MAX_CONTEXT_SIZE)?.to_vec(),
        ))
    })?;
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    match (saved >> 24) as u8 {
        HT_HMAC_SESSION | HT_POLICY_SESSION => {
            return load_session(ctx, sequence, saved, hierarchy, &blob);
        }
        _ if saved == SAVED_SEQUENCE => {
            return load_sequence(ctx, sequence, hierarchy, &blob);
        }
        _ => {}
    }
    if !engine.hierarchy_enabled(hierarchy) {
        return Err(Rc::HIERARCHY.param(1));
    }
    engine.need_object_slot()?;
    let bound = engine.context_binding(sequence, saved, hierarchy);
    let plain = open_context(engine.proof(hierarchy), sequence, saved, &bound, &blob)
        .map_err(|rc| rc.param(1))?;
    let object = Object::parse_state(&plain).map_err(|_| Rc::INTEGRITY.param(1))?;
    if object.hierarchy != hierarchy {
        return Err(Rc::INTEGRITY.param(1));
    }
    let handle = engine.load_object(object)?;
    ctx.response_handle = Some(handle);
    Ok(())
}

/// ContextLoad of a sequence object saved by [`context_save`]; it takes a free
/// transient slot and gets a new handle.
fn load_sequence(ctx: &mut Ctx<'_>, sequence: u64, hierarchy: u32, blob: &[u8]) -> Result<(), Rc> {
    let engine = &mut *ctx.engine;
    if hierarchy != RH_NULL {
        return Err(Rc::INTEGRITY.param(1));
    }
    engine.need_object_slot()?;
    let bound = engine.context_binding(sequence, SAVED_SEQUENCE, RH_NULL);
    let plain = open_context(
        engine.proof(RH_NULL),
        sequence,
        SAVED_SEQUENCE,
        &bound,
        blob,
    )
    .map_err(|rc| rc.param(1))?;
    let seq = SequenceObject::parse(&plain).map_err(|_| Rc::INTEGRITY.param(1))?;
    let handle = engine.load_sequence(seq)?;
    ctx.response_handle = Some(handle);
    Ok(())
}

/// The widest spread of saved session contexts (Part 1, "Context gap"): the
/// reference keeps each saved session's sequence in a 16-bit slot, whose
/// values 0..=MAX_LOADED_SESSIONS mean "loaded", so a newer context may not
/// reach the oldest saved one modulo 2^16. We keep that limit so that
/// resource managers see the same TPM_RC_CONTEXT_GAP point as on other TPMs.
const CONTEXT_GAP_LIMIT: u64 = (1 << 16) - (crate::session::MAX_LOADED_SESSIONS as u64 + 1);

/// ContextSave of a session: the session leaves its slot; its handle stays
/// reserved and the context can be loaded once (the sequence number must match).
fn save_session(ctx: &mut Ctx<'_>, handle: u32) -> Result<(), Rc> {
    let engine = &mut *ctx.engine;
    let i = engine
        .sessions
        .iter()
        .position(|s| s.handle == handle)
        .ok_or(Rc::REFERENCE_H0)?;
    let sequence = engine.gr.session_context_id;
    if let Some(oldest) = engine.saved_sessions.iter().map(|s| s.1).min()
        && sequence.wrapping_sub(oldest) >= CONTEXT_GAP_LIMIT
    {
        // The oldest saved session must be loaded (and saved anew) first.
        return Err(Rc::CONTEXT_GAP);
    }
    let plain = engine.sessions.get(i).ok_or(Rc::FAILURE)?.marshal();
    let bound = engine.context_binding(sequence, handle, RH_NULL);
    let blob = seal_context(engine.proof(RH_NULL), sequence, handle, &bound, &plain)?;
    engine.gr.session_context_id = sequence.wrapping_add(1);
    engine.sessions.remove(i);
    engine.saved_sessions.push((handle, sequence));
    ctx.out.u64(sequence).u32(handle).u32(RH_NULL).tpm2b(&blob);
    Ok(())
}

/// ContextLoad of a session saved by [`save_session`].
fn load_session(
    ctx: &mut Ctx<'_>,
    sequence: u64,
    handle: u32,
    hierarchy: u32,
    blob: &[u8],
) -> Result<(), Rc> {
    let engine = &mut *ctx.engine;
    if hierarchy != RH_NULL {
        return Err(Rc::INTEGRITY.param(1));
    }
    if !engine.saved_sessions.contains(&(handle, sequence)) {
        return Err(Rc::HANDLE.param(1));
    }
    if engine.sessions.len() >= crate::session::MAX_LOADED_SESSIONS {
        return Err(Rc::SESSION_MEMORY);
    }
    let bound = engine.context_binding(sequence, handle, RH_NULL);
    let plain = open_context(engine.proof(RH_NULL), sequence, handle, &bound, blob)
        .map_err(|rc| rc.param(1))?;
    let session = crate::session::Session::parse(&plain)
        .filter(|s| s.handle == handle)
        .ok_or(Rc::INTEGRITY.param(1))?;
    engine.saved_sessions.retain(|s| *s != (handle, sequence));
    engine.sessions.push(session);
    ctx.response_handle = Some(handle);
    Ok(())
}

/// TPMI_DH_SAVED: a session handle, or one of the object-context handles.
fn is_saved_handle(h: u32) -> bool {
    match (h >> 24) as u8 {
        HT_HMAC_SESSION | HT_POLICY_SESSION => {
            h & 0x00FF_FFFF < crate::session::MAX_ACTIVE_SESSIONS as u32
        }
        _ => matches!(h, SAVED_OBJECT | SAVED_SEQUENCE | SAVED_ST_CLEAR_OBJECT),
    }
}

/// TPM2_FlushContext (Part 3, 28.4): ends a loaded session or object.
pub fn flush_context(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let handle = ctx.params.read::<TpmUint32>()?.value();
    // TPMI_DH_CONTEXT: a session or transient object handle in range.
    let index = handle & 0x00FF_FFFF;
    let in_range = match (handle >> 24) as u8 {
        HT_HMAC_SESSION | HT_POLICY_SESSION => index < crate::session::MAX_ACTIVE_SESSIONS as u32,
        HT_TRANSIENT => index < crate::object::MAX_LOADED_OBJECTS as u32,
        _ => false,
    };
    if !in_range {
        return Err(Rc::VALUE.param(1));
    }
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    let removed = match (handle >> 24) as u8 {
        HT_HMAC_SESSION | HT_POLICY_SESSION => {
            // A session is known by its slot: the reference lists every
            // session with the HMAC-session type, so either type flushes it.
            let before = engine.sessions.len() + engine.saved_sessions.len();
            engine.sessions.retain(|s| s.handle & 0x00FF_FFFF != index);
            engine.saved_sessions.retain(|s| s.0 & 0x00FF_FFFF != index);
            engine.sessions.len() + engine.saved_sessions.len() != before
        }
        HT_TRANSIENT => {
            let before = engine.objects.len();
            engine.objects.retain(|o| o.handle != handle);
            engine.objects.len() != before || engine.flush_sequence(handle).is_some()
        }
        _ => return Err(Rc::VALUE.param(1)),
    };
    if removed {
        Ok(())
    } else {
        Err(Rc::HANDLE.param(1))
    }
}

/// TPM2_EvictControl (Part 3, 28.5): makes a transient object persistent
/// under `persistentHandle`, or removes a persistent object.
pub fn evict_control(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [auth, object_handle, _] = ctx.handles;
    let persistent = ctx.params.read::<TpmUint32>()?.value();
    if (persistent >> 24) as u8 != HT_PERSISTENT {
        return Err(Rc::VALUE.param(1));
    }
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    let object = engine.object_or_err(object_handle)?;
    let is_evict = (object_handle >> 24) as u8 == HT_PERSISTENT;
    if object.is_temporary() || object.public.has(ST_CLEAR) || object.sensitive.is_none() {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    if is_evict && object_handle != persistent {
        return Err(Rc::HANDLE.handle(2));
    }
    let platform_object = object.hierarchy == RH_PLATFORM;
    if auth == RH_PLATFORM {
        if !is_evict {
            if !platform_object {
                return Err(Rc::HIERARCHY.handle(2));
            }
            if !PLATFORM_PERSISTENT.contains(&persistent) {
                return Err(Rc::RANGE.param(1));
            }
        }
    } else {
        if platform_object {
            return Err(Rc::HIERARCHY.handle(2));
        }
        if !is_evict && !OWNER_PERSISTENT.contains(&persistent) {
            return Err(Rc::RANGE.param(1));
        }
    }
    if is_evict {
        engine.perm.persistent.retain(|o| o.handle != persistent);
    } else {
        if engine
            .perm
            .persistent
            .iter()
            .any(|o| o.handle == persistent)
        {
            return Err(Rc::NV_DEFINED);
        }
        if engine.perm.persistent.len() >= MAX_PERSISTENT_OBJECTS {
            return Err(Rc::NV_SPACE);
        }
        let mut copy = object.clone();
        copy.handle = persistent;
        engine.perm.persistent.push(copy);
        engine.perm.persistent.sort_by_key(|o| o.handle);
    }
    engine.nv_dirty = true;
    Ok(())
}

/// The handles of the persistent objects (GetCapability).
pub(crate) fn persistent_handles(engine: &crate::engine::Engine) -> Vec<u32> {
    engine.perm.persistent.iter().map(|o| o.handle).collect()
}
