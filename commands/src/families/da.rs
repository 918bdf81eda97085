//! Dictionary-attack functions (Part 3, section 25).

use tpm2_protocol::basic::TpmUint32;

use crate::pipeline::Ctx;
use crate::rc::Rc;

/// TPM2_DictionaryAttackLockReset (Part 3, 25.2): failedTries back to zero.
pub fn dictionary_attack_lock_reset(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    ctx.engine.perm.da.failed_tries = 0;
    ctx.engine.nv_dirty = true;
    Ok(())
}

/// TPM2_DictionaryAttackParameters (Part 3, 25.3): new maxTries, recoveryTime
/// and lockoutRecovery. failedTries is kept (errata to 1.59): lowering maxTries
/// below it locks out.
pub fn dictionary_attack_parameters(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let max_tries = ctx.params.read::<TpmUint32>()?.value();
    let recovery_time = ctx.params.read::<TpmUint32>()?.value();
    let lockout_recovery = ctx.params.read::<TpmUint32>()?.value();
    ctx.params.finish()?;
    let da = &mut ctx.engine.perm.da;
    da.max_tries = max_tries;
    da.recovery_time = recovery_time;
    da.lockout_recovery = lockout_recovery;
    ctx.engine.nv_dirty = true;
    Ok(())
}
