//! Enhanced authorization (Part 3, section 23): the policy commands that
//! extend a policy session's policyDigest and arm its deferred checks.

use tpm2_protocol::basic::TpmUint32;

use crate::pipeline::Ctx;
use crate::rc::Rc;
use crate::session::{PolicyState, Session};

const CC_POLICY_AUTH_VALUE: u32 = 0x0000_016B;
const CC_POLICY_COMMAND_CODE: u32 = 0x0000_016C;

/// The policy session named by the command's handle.
fn policy_session<'a>(ctx: &'a mut Ctx<'_>) -> Result<&'a mut Session, Rc> {
    let h = ctx.handles[0];
    ctx.engine
        .sessions
        .iter_mut()
        .find(|s| s.handle == h)
        .ok_or(Rc::REFERENCE_H0)
}

/// policyDigest := H(policyDigest || parts).
fn extend(s: &mut Session, parts: &[&[u8]]) {
    let mut all: alloc::vec::Vec<&[u8]> = alloc::vec![s.policy.digest.as_slice()];
    all.extend_from_slice(parts);
    s.policy.digest = s.auth_hash.digest(&all).as_bytes().to_vec();
}

/// TPM2_PolicyCommandCode (Part 3, 23.11): the session authorizes only `code`.
pub fn policy_command_code(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let code = ctx.params.read::<TpmUint32>()?.value();
    ctx.params.finish()?;
    if crate::table::lookup(code).is_none() {
        return Err(Rc::POLICY_CC.param(1));
    }
    let s = policy_session(ctx)?;
    if s.policy.command_code.is_some_and(|c| c != code) {
        return Err(Rc::VALUE.param(1));
    }
    extend(
        s,
        &[&CC_POLICY_COMMAND_CODE.to_be_bytes(), &code.to_be_bytes()],
    );
    s.policy.command_code = Some(code);
    Ok(())
}

/// TPM2_PolicyAuthValue (Part 3, 23.17): the authorization HMAC must include
/// the entity's authValue.
pub fn policy_auth_value(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let s = policy_session(ctx)?;
    extend(s, &[&CC_POLICY_AUTH_VALUE.to_be_bytes()]);
    s.policy.auth_value_needed = true;
    s.policy.password_needed = false;
    Ok(())
}

/// TPM2_PolicyRestart (Part 3, 23.?): back to a zero digest and no checks.
pub fn policy_restart(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let s = policy_session(ctx)?;
    s.policy = PolicyState::new(s.auth_hash);
    Ok(())
}

/// TPM2_PolicyGetDigest (Part 3, 23.19).
pub fn policy_get_digest(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let digest = policy_session(ctx)?.policy.digest.clone();
    ctx.out.tpm2b(&digest);
    Ok(())
}
