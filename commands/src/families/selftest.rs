//! Testing (Part 3, section 10): SelfTest, IncrementalSelfTest, GetTestResult.

use tpm2_protocol::data::{TpmiYesNo, TpmlAlg};

use crate::pipeline::Ctx;
use crate::rc::{Rc, ValueKind};
use crate::selftest::SelfTests;

pub const CC_GET_TEST_RESULT: u32 = 0x0000_017C;

/// A failed known-answer test puts the TPM in failure mode (Part 1, 12.x).
fn fail(ctx: &mut Ctx<'_>) -> Rc {
    ctx.engine.enter_failure_mode(Rc::FAILURE.0);
    Rc::FAILURE
}

/// TPM2_SelfTest (Part 3, 10.2): fullTest = YES tests everything again, NO only
/// what is still untested.
pub fn self_test(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let full = ctx.params.read::<TpmiYesNo>()?;
    ctx.params.finish()?;
    if ctx.engine.selftests.test_all(bool::from(full)) {
        Ok(())
    } else {
        Err(fail(ctx))
    }
}

/// TPM2_IncrementalSelfTest (Part 3, 10.3): tests the listed algorithms and
/// returns those still untested.
pub fn incremental_self_test(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let to_test = ctx.params.read_as::<TpmlAlg>(ValueKind::Value)?;
    ctx.params.finish()?;
    for alg in to_test.iter() {
        let id = alg.value();
        if SelfTests::is_testable(id) && !ctx.engine.selftests.test(id, false) {
            return Err(fail(ctx));
        }
    }
    let untested: alloc::vec::Vec<u16> = ctx.engine.selftests.untested().collect();
    ctx.out.u32(untested.len() as u32);
    for id in untested {
        ctx.out.u16(id);
    }
    Ok(())
}

/// TPM2_GetTestResult (Part 3, 10.4): outData carries the failure code in
/// failure mode; testResult is TPM_RC_FAILURE then, TPM_RC_SUCCESS otherwise.
pub fn get_test_result(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    match ctx.engine.failure() {
        Some(info) => {
            ctx.out.tpm2b(&info.code.to_be_bytes());
            ctx.out.u32(Rc::FAILURE.0);
        }
        None => {
            ctx.out.tpm2b(&[]);
            ctx.out.u32(Rc::SUCCESS.0);
        }
    }
    Ok(())
}
