//! Clocks and timers (Part 3, section 29): ReadClock, ClockSet and
//! ClockRateAdjust.

use tpm2_protocol::basic::TpmUint64;

use crate::pipeline::Ctx;
use crate::rc::Rc;

/// Host ms per this many Clock ms at the nominal rate: the unit in which
/// ClockRateAdjust steps (the reference platform's counts).
pub(crate) const CLOCK_NOMINAL: u32 = 30_000;
/// Rate steps: 1%, 0.1% and the smallest one.
const ADJUST_COARSE: u32 = 300;
const ADJUST_MEDIUM: u32 = 30;
const ADJUST_FINE: u32 = 1;
/// How far the rate may be moved from nominal in all (about 16.7%).
const ADJUST_LIMIT: u32 = 5_000;
/// The largest Clock ClockSet accepts (Part 3, 29.2): the top 16 bits stay
/// clear so that Clock cannot roll over.
const MAX_CLOCK: u64 = 0xFFFF_0000_0000_0000;

/// TPM2_ReadClock (Part 3, 29.1): TPMS_TIME_INFO. `time` counts from _TPM_Init,
/// `clock` is the persistent Clock.
pub fn read_clock(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let now = ctx.platform.monotonic_ms();
    let engine = &*ctx.engine;
    ctx.out
        .u64(engine.tpm_time(now))
        .u64(engine.clock_now(now))
        .u32(engine.perm.reset_count)
        .u32(engine.perm.restart_count)
        .u8(u8::from(engine.perm.clock_safe));
    Ok(())
}

/// TPM2_ClockSet (Part 3, 29.2): the owner or the platform moves Clock
/// forward (never back, and not past MAX_CLOCK: TPM_RC_VALUE). The new value
/// is written to NV at once.
pub fn clock_set(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let new_time = ctx.params.read::<TpmUint64>()?.value();
    ctx.params.finish()?;
    let now = ctx.platform.monotonic_ms();
    let engine = &mut *ctx.engine;
    if new_time > MAX_CLOCK || new_time < engine.clock_now(now) {
        return Err(Rc::VALUE.param(1));
    }
    engine.perm.clock_ms = new_time;
    engine.clock_anchor_ms = now;
    engine.nv_dirty = true;
    Ok(())
}

/// TPM2_ClockRateAdjust (Part 3, 29.3): makes Clock and Time advance a little
/// slower or faster (TPM_CLOCK_ADJUST, -3..=3; TPM_RC_VALUE otherwise), within
/// ADJUST_LIMIT of nominal. The rate is volatile: _TPM_Init restores it.
pub fn clock_rate_adjust(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let adjust = ctx.params.read_struct(|r| r.u8())? as i8;
    // TPM_CLOCK_ADJUST is checked as it is unmarshaled, before the size.
    let step = match adjust.unsigned_abs() {
        0 => 0,
        1 => ADJUST_FINE,
        2 => ADJUST_MEDIUM,
        3 => ADJUST_COARSE,
        _ => return Err(Rc::VALUE.param(1)),
    };
    ctx.params.finish()?;
    let now = ctx.platform.monotonic_ms();
    let engine = &mut *ctx.engine;
    // Clock and Time so far count at the old rate: take them as the new
    // starting points.
    engine.perm.clock_ms = engine.clock_now(now);
    engine.clock_anchor_ms = now;
    engine.time_base_ms = engine.tpm_time(now);
    engine.init_ms = now;
    // A slower Clock takes more host time per Clock tick.
    let rate = if adjust < 0 {
        engine.clock_rate.saturating_add(step)
    } else {
        engine.clock_rate.saturating_sub(step)
    };
    engine.clock_rate = rate.clamp(CLOCK_NOMINAL - ADJUST_LIMIT, CLOCK_NOMINAL + ADJUST_LIMIT);
    Ok(())
}
