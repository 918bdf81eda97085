//! Random number generator (Part 3, section 16): GetRandom, StirRandom.

use tpm2_protocol::basic::TpmUint16;

use crate::consts::MAX_DIGEST_SIZE;
use crate::pipeline::Ctx;
use crate::rc::Rc;
use crate::selftest::DRBG_ID;

/// Largest inData of StirRandom (MAX_SENSITIVE_DATA).
const MAX_STIR: usize = 128;

/// The DRBG must pass its known-answer test before first use.
fn require_drbg_tested(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    if ctx.engine.selftests.test(DRBG_ID, false) {
        Ok(())
    } else {
        ctx.engine.enter_failure_mode(Rc::FAILURE.0);
        Err(Rc::FAILURE)
    }
}

/// TPM2_GetRandom (Part 3, 16.1): at most the size of the largest digest.
pub fn get_random(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let requested = usize::from(ctx.params.read::<TpmUint16>()?.value());
    ctx.params.finish()?;
    require_drbg_tested(ctx)?;
    let mut bytes = zeroize::Zeroizing::new([0u8; MAX_DIGEST_SIZE]);
    let n = requested.min(MAX_DIGEST_SIZE);
    let buf = bytes.get_mut(..n).ok_or(Rc::FAILURE)?;
    ctx.engine.random(ctx.platform, buf)?;
    ctx.out.tpm2b(buf);
    Ok(())
}

/// TPM2_StirRandom (Part 3, 16.2): inData is mixed into the DRBG state as
/// additional input, together with fresh platform entropy.
pub fn stir_random(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let in_data = ctx.params.read_2b(MAX_STIR)?;
    ctx.params.finish()?;
    require_drbg_tested(ctx)?;
    let mut entropy = zeroize::Zeroizing::new([0u8; 32]);
    if !ctx.platform.entropy(&mut entropy[..]) {
        ctx.engine.enter_failure_mode(Rc::FAILURE.0);
        return Err(Rc::FAILURE);
    }
    let drbg = ctx.engine.drbg.as_mut().ok_or(Rc::FAILURE)?;
    drbg.reseed(&entropy[..], in_data).map_err(|_| Rc::FAILURE)
}
