//! Command audit (Part 3, sections 18.4, 18.5 and 21.2): the audit list and
//! the signed command and session audit digests.

use alloc::vec::Vec;
use tpm2_protocol::basic::TpmUint16;
use vtpm_crypto::HashAlg;

use crate::object::public::Reader;
use crate::pipeline::Ctx;
use crate::rc::{Rc, ValueKind};

const ALG_NULL: u16 = 0x0010;
/// MAX_CAP_CC: the most command codes a TPML_CC holds.
const MAX_CAP_CC: usize = 254;

/// Reads a TPML_CC.
fn read_cc_list(r: &mut Reader<'_>) -> Result<Vec<u32>, Rc> {
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
    let set = ctx.params.read_struct(read_cc_list)?;
    let clear = ctx.params.read_struct(read_cc_list)?;
    ctx.params.finish()?;
    let alg = match alg_id {
        ALG_NULL => None,
        id => Some(HashAlg::from_alg_id(id).ok_or(Rc::HASH.param(1))?),
    };
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
