//! Clocks and timers (Part 3, section 29): ReadClock.

use crate::pipeline::Ctx;
use crate::rc::Rc;

/// TPM2_ReadClock (Part 3, 29.1): TPMS_TIME_INFO. `time` counts from _TPM_Init,
/// `clock` is the persistent Clock.
pub fn read_clock(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let now = ctx.platform.monotonic_ms();
    let engine = &*ctx.engine;
    ctx.out
        .u64(now.saturating_sub(engine.init_ms))
        .u64(engine.clock_now(now))
        .u32(engine.perm.reset_count)
        .u32(engine.perm.restart_count)
        .u8(u8::from(engine.perm.clock_safe));
    Ok(())
}
