//! Startup and shutdown (Part 3, section 9).

use crate::consts::{SU_CLEAR, SU_STATE};
use crate::pcr::{Bank, PCR_ATTRIBUTES};
use crate::pipeline::Ctx;
use crate::rc::Rc;
use crate::state::Orderly;
use tpm2_protocol::basic::TpmUint16;

pub const CC_STARTUP: u32 = 0x0000_0144;

/// Reads a TPM_SU value (parameter 1 of Startup and Shutdown).
fn read_su(ctx: &mut Ctx<'_>) -> Result<u16, Rc> {
    let su = ctx.params.read::<TpmUint16>()?.value();
    if su != SU_CLEAR && su != SU_STATE {
        return Err(Rc::VALUE.param(1));
    }
    Ok(su)
}

/// TPM2_Startup (Part 3, 9.3): TPM Reset, TPM Restart or TPM Resume, decided by
/// the startup type and the shutdown that preceded it.
pub fn startup(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let su = read_su(ctx)?;
    ctx.params.finish()?;
    if ctx.engine.started {
        return Err(Rc::INITIALIZE);
    }
    // PC Client: Startup comes from locality 0, or 3 for a DRTM-style launch.
    if ctx.locality != 0 && ctx.locality != 3 {
        return Err(Rc::LOCALITY);
    }
    let engine = &mut *ctx.engine;
    let prior = engine.perm.orderly;
    let saved = engine.saved.take();
    if su == SU_STATE {
        // TPM Resume: only after Shutdown(STATE), and only if the PCR allocation
        // did not change in between.
        let Some(saved) = saved.filter(|s| {
            prior == Orderly::State && s.active_allocation == engine.perm.pcr_allocation
        }) else {
            engine.nv_dirty = true;
            return Err(Rc::VALUE.param(1));
        };
        reset_pcrs(engine, ctx.locality);
        engine.apply_snapshot(&saved);
        engine.perm.restart_count = engine.perm.restart_count.wrapping_add(1);
        engine.gc = saved.clear.clone().unwrap_or_default();
        engine.saved_sessions = saved.saved_sessions.clone();
        // phEnable is SET by every Startup (Part 1, 14.x).
        engine.gc.ph_enable = true;
        restore_or_reset_null(engine, ctx.platform, saved.reset.clone())?;
        count_reset_pcrs(engine, |n| {
            !PCR_ATTRIBUTES.get(n).is_some_and(|a| a.state_save)
        });
    } else {
        // Startup(CLEAR): hierarchies enabled, platformAuth/Policy empty,
        // saved session contexts invalid.
        engine.saved_sessions.clear();
        engine.gc = crate::hierarchy::StateClear::default();
        engine.active_allocation = engine.perm.pcr_allocation;
        reset_pcrs(engine, ctx.locality);
        engine.pcr_update_counter = 0;
        if prior == Orderly::State
            && let Some(saved) = &saved
        {
            // TPM Restart: pcrUpdateCounter is state-reset data and survives.
            engine.pcr_update_counter = saved.pcr_update_counter;
            engine.perm.restart_count = engine.perm.restart_count.wrapping_add(1);
            restore_or_reset_null(engine, ctx.platform, saved.reset.clone())?;
        } else {
            engine.reset_null_hierarchy(ctx.platform)?;
            engine.gr.object_context_id = 0;
            engine.gr.command_audit_digest.clear();
            engine.gr.session_context_id = 0;
            // TPM Reset. After a power loss Clock may have lost the time since
            // it was last stored: it is no longer known to be safe.
            if prior == Orderly::None && engine.perm.reset_count > 0 {
                engine.perm.clock_safe = false;
            }
            engine.perm.reset_count = engine.perm.reset_count.wrapping_add(1);
            engine.perm.total_reset_count = engine.perm.total_reset_count.wrapping_add(1);
            engine.perm.restart_count = 0;
        }
    }
    if su == SU_CLEAR {
        count_reset_pcrs(engine, |_| true);
    }
    let now = engine.clock_now(ctx.platform.monotonic_ms());
    let tpm_reset = su == SU_CLEAR && engine.perm.restart_count == 0;
    engine.da_startup(tpm_reset, prior != Orderly::None, now);
    engine.nv_startup(su == SU_STATE, tpm_reset, prior != Orderly::None);
    engine.orderly_startup = prior != Orderly::None;
    // From now on a power loss is not orderly.
    engine.perm.orderly = Orderly::None;
    engine.started = true;
    engine.nv_dirty = true;
    Ok(())
}

/// Every PCR that Startup set to its reset value counts as a change of the PCRs
/// (pcrUpdateCounter, as the reference's PCRStartup): PCR 0 always, the others
/// unless their changes never count (the TCB group, [`crate::pcr::NO_INCREMENT`]).
fn count_reset_pcrs(engine: &mut crate::engine::Engine, was_reset: impl Fn(usize) -> bool) {
    for n in (0..crate::consts::PCR_COUNT).filter(|n| was_reset(*n)) {
        if n == 0 || crate::pcr::NO_INCREMENT & (1 << n) == 0 {
            engine.pcr_update_counter = engine.pcr_update_counter.wrapping_add(1);
        }
    }
}

/// Restores the state-reset data saved by Shutdown(STATE); without it the null
/// hierarchy starts afresh.
fn restore_or_reset_null(
    engine: &mut crate::engine::Engine,
    platform: &mut dyn crate::platform::Platform,
    saved: Option<crate::hierarchy::StateReset>,
) -> Result<(), Rc> {
    match saved {
        Some(r) if !r.null_seed.is_empty() => {
            engine.gr = r;
            Ok(())
        }
        _ => engine.reset_null_hierarchy(platform),
    }
}

/// All PCRs to their reset values; PCR 0 carries the startup locality, or the
/// H-CRTM measurement when one was made before Startup (PC Client profile).
fn reset_pcrs(engine: &mut crate::engine::Engine, locality: u8) {
    let hcrtm = engine.hcrtm_digests.take();
    for bank in &mut engine.banks {
        *bank = Bank::new(bank.alg);
        let pcr0 = match &hcrtm {
            Some(_) => 4,
            None => locality,
        };
        if let Some(v) = bank.values.first_mut() {
            let mut bytes = [0u8; crate::consts::MAX_DIGEST_SIZE];
            let n = bank.alg.digest_size();
            if let Some(last) = bytes.get_mut(n.saturating_sub(1)) {
                *last = pcr0;
            }
            if let Some(d) =
                vtpm_crypto::Digest::from_bytes(bank.alg, bytes.get(..n).unwrap_or_default())
            {
                *v = d;
            }
        }
        if let Some(d) = hcrtm
            .as_ref()
            .and_then(|ds| ds.iter().find(|d| d.alg() == bank.alg))
        {
            bank.extend(0, d.as_bytes());
        }
    }
}

/// TPM2_Shutdown (Part 3, 9.4): records an orderly shutdown; with STATE, saves
/// what TPM Resume and TPM Restart need (the state-saved PCRs and the counter).
pub fn shutdown(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let su = read_su(ctx)?;
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    // State cannot be saved for a Resume after PCR_Allocate (Part 3, 9.4).
    if su == SU_STATE && engine.pcr_reconfigured {
        return Err(Rc::TYPE.param(1));
    }
    if su == SU_STATE {
        let mut saved =
            engine.snapshot_pcrs(|n| PCR_ATTRIBUTES.get(n).is_some_and(|a| a.state_save));
        saved.clear = Some(engine.gc.clone());
        saved.reset = Some(engine.gr.clone());
        saved.saved_sessions = engine.saved_sessions.clone();
        engine.saved = Some(saved);
        engine.perm.orderly = Orderly::State;
    } else {
        engine.saved = None;
        engine.perm.orderly = Orderly::Clear;
    }
    engine.perm.clock_safe = true;
    engine.perm.da.used = false;
    // Orderly NV indices are saved from RAM.
    engine.nv_shutdown();
    engine.nv_dirty = true;
    Ok(())
}
