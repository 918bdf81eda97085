//! Miscellaneous management (Part 3, section 26): PP_Commands, SetAlgorithmSet.

use tpm2_protocol::basic::TpmUint32;

use crate::families::audit::read_cc_list;
use crate::pipeline::Ctx;
use crate::rc::Rc;

/// TPM2_PP_Commands (Part 3, 26.2): commands added to and removed from the
/// list of those that need physical presence under platform authorization.
/// The pipeline has already required PP for this command itself (it is
/// always in the list). Codes that cannot require PP are ignored.
pub fn pp_commands(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let set = ctx.params.read_struct(read_cc_list)?;
    let clear = ctx.params.read_struct(read_cc_list)?;
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    for cc in set {
        engine.pp_set(cc);
    }
    for cc in clear {
        engine.pp_clear(cc);
    }
    engine.nv_dirty = true;
    Ok(())
}

/// TPM2_SetAlgorithmSet (Part 3, 26.3): the platform selects a vendor-defined
/// algorithm set. This TPM defines only one, so the value is stored and
/// reported (TPM_PT_ALGORITHM_SET) without further effect.
pub fn set_algorithm_set(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let set = ctx.params.read::<TpmUint32>()?.value();
    ctx.params.finish()?;
    ctx.engine.perm.algorithm_set = set;
    ctx.engine.nv_dirty = true;
    Ok(())
}
