//! Command audit (Part 3, sections 18.4, 18.5 and 21.2): the audit list and
//! the signed command and session audit digests.

use alloc::vec::Vec;
use tpm2_protocol::basic::TpmUint16;
use vtpm_crypto::HashAlg;

use crate::attest::{MAX_EXTRA_DATA, ST_ATTEST_COMMAND_AUDIT, ST_ATTEST_SESSION_AUDIT};
use crate::codec::Out;
use crate::consts::RH_NULL;
use crate::object::public::Reader;
use crate::pipeline::Ctx;
use crate::rc::{Rc, ValueKind};
use crate::signature::SigScheme;

const ALG_NULL: u16 = 0x0010;
/// MAX_CAP_CC: the most command codes a TPML_CC holds.
const MAX_CAP_CC: usize = 254;

/// Reads a TPML_CC.
pub(crate) fn read_cc_list(r: &mut Reader<'_>) -> Result<Vec<u32>, Rc> {
    let count = r.u32()? as usize;
    if count > MAX_CAP_CC {
        return Err(Rc::SIZE);
    }
    (0..count).map(|_| r.u32()).collect()
}

/// TPM2_SetCommandCodeAuditStatus (Part 3, 21.2): changes the audit digest's
/// algorithm, or adds and removes commands; either change clears the digest.
pub fn set_command_code_audit_status(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let alg_id = ctx.params.read_as::<TpmUint16>(ValueKind::Hash)?.value();
    // TPMI_ALG_HASH+ is checked as it is unmarshaled.
    let alg = match alg_id {
        ALG_NULL => None,
        id => Some(HashAlg::from_alg_id(id).ok_or(Rc::HASH.param(1))?),
    };
    let set = ctx.params.read_struct(read_cc_list)?;
    let clear = ctx.params.read_struct(read_cc_list)?;
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    let audit = &mut engine.perm.audit;
    match alg {
        Some(alg) if alg != audit.alg => {
            // The algorithm cannot change together with the list.
            if !set.is_empty() || !clear.is_empty() {
                return Err(Rc::VALUE.param(1));
            }
            audit.alg = alg;
            engine.gr.command_audit_digest.clear();
        }
        _ => {
            let mut changed = false;
            for cc in set {
                changed |= audit.set(cc);
            }
            for cc in clear {
                changed |= audit.clear(cc);
            }
            if changed {
                engine.gr.command_audit_digest.clear();
            }
        }
    }
    engine.nv_dirty = true;
    Ok(())
}

/// Reads qualifyingData and inScheme, the parameters every audit-digest
/// command shares.
pub(crate) fn read_attest_params<'a>(ctx: &mut Ctx<'a>) -> Result<(&'a [u8], SigScheme), Rc> {
    let qualifying_data = ctx.params.read_2b(MAX_EXTRA_DATA)?;
    let scheme = ctx.params.read_struct(|r| SigScheme::parse(r, true))?;
    ctx.params.finish()?;
    Ok((qualifying_data, scheme))
}

/// TPM2_GetCommandAuditDigest (Part 3, 18.5): the command audit digest and
/// the digest of the audit list, signed; a signed report clears the digest
/// (the next audited command increments the audit counter).
pub fn get_command_audit_digest(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let sign_handle = ctx.handles[1];
    let (qualifying_data, scheme) = read_attest_params(ctx)?;
    let engine = &mut *ctx.engine;
    let audit = &engine.perm.audit;
    let mut info = Out::new();
    info.u64(audit.counter)
        .u16(audit.alg.alg_id())
        .tpm2b(&engine.gr.command_audit_digest)
        .tpm2b(&audit.list_digest());
    let (attest, signature) = engine.attest_and_sign(
        ctx.platform,
        (sign_handle, 2),
        (scheme, 2),
        qualifying_data,
        ST_ATTEST_COMMAND_AUDIT,
        &info.into_vec(),
    )?;
    if sign_handle != RH_NULL {
        engine.gr.command_audit_digest.clear();
    }
    ctx.out.tpm2b(&attest);
    signature.marshal(&mut ctx.out);
    Ok(())
}

/// TPM2_GetSessionAuditDigest (Part 3, 18.4): an audit session's digest and
/// whether the session is exclusive, signed.
pub fn get_session_audit_digest(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [_, sign_handle, session_handle] = ctx.handles;
    let (qualifying_data, scheme) = read_attest_params(ctx)?;
    let engine = &mut *ctx.engine;
    let session = engine
        .sessions
        .iter()
        .find(|s| s.handle == session_handle)
        .ok_or(Rc::HANDLE.handle(3))?;
    let Some(digest) = session.audit_digest.as_ref() else {
        // Not an audit session: it never audited a command.
        return Err(Rc::TYPE.handle(3));
    };
    let mut info = Out::new();
    info.u8(u8::from(engine.exclusive_audit == Some(session_handle)))
        .tpm2b(digest);
    let (attest, signature) = engine.attest_and_sign(
        ctx.platform,
        (sign_handle, 2),
        (scheme, 2),
        qualifying_data,
        ST_ATTEST_SESSION_AUDIT,
        &info.into_vec(),
    )?;
    ctx.out.tpm2b(&attest);
    signature.marshal(&mut ctx.out);
    Ok(())
}
