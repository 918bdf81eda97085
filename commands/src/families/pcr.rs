//! Integrity collection (Part 3, section 22): PCR_Extend, PCR_Event, PCR_Read,
//! PCR_Allocate, PCR_Reset.

use alloc::vec::Vec;
use tpm2_protocol::data::{TpmlDigestValues, TpmlPcrSelection, TpmuHa};
use vtpm_crypto::HashAlg;

use crate::consts::{MAX_EVENT_SIZE, PCR_COUNT, PCR_SELECT_MIN, RH_NULL};
use crate::engine::Engine;
use crate::pcr::{ALL_PCRS, NO_INCREMENT, PCR_ATTRIBUTES, bank_index};
use crate::pipeline::Ctx;
use crate::rc::{Rc, ValueKind};

/// Most digests one PCR_Read returns (TPML_DIGEST holds eight).
const MAX_READ_DIGESTS: usize = 8;

/// A PCR selection with its hash resolved to an implemented bank.
pub(crate) struct Selection {
    pub alg: HashAlg,
    pub bits: u32,
}

/// Reads a TPML_PCR_SELECTION parameter; sizeofSelect below PCR_SELECT_MIN or
/// above PCR_SELECT_MAX (the same here: 24 PCRs) is TPM_RC_VALUE (Part 2,
/// TPMS_PCR_SELECT).
pub(crate) fn read_selections(ctx: &mut Ctx<'_>) -> Result<Vec<Selection>, Rc> {
    let list = ctx.params.read_as::<TpmlPcrSelection>(ValueKind::Hash)?;
    let n = ctx.params.index();
    let mut out = Vec::new();
    for sel in list.iter() {
        let select: &[u8] = &sel.pcr_select;
        if select.len() != PCR_SELECT_MIN {
            return Err(Rc::VALUE.param(n));
        }
        // TPMI_ALG_HASH admits implemented hashes only.
        let Some(alg) = HashAlg::from_alg_id(sel.hash.value()) else {
            return Err(Rc::HASH.param(n));
        };
        let bits = select
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (8 * i)));
        out.push(Selection {
            alg,
            bits: bits & ALL_PCRS,
        });
    }
    Ok(out)
}

/// Checks that `locality` may extend `pcr`.
pub(crate) fn check_extend_locality(pcr: usize, locality: u8) -> Result<(), Rc> {
    let allowed = PCR_ATTRIBUTES
        .get(pcr)
        .is_some_and(|a| a.extend_localities & (1 << locality) != 0);
    if allowed { Ok(()) } else { Err(Rc::LOCALITY) }
}

impl Engine {
    /// Book-keeping for a PCR change: the update counter, and the saved state that
    /// no longer describes the PCRs.
    pub(crate) fn pcr_changed(&mut self, pcr: usize) {
        if NO_INCREMENT & (1 << pcr) == 0 {
            self.pcr_update_counter = self.pcr_update_counter.wrapping_add(1);
        }
        self.clear_orderly();
    }

    /// PCR[n] := 0 in every bank (PCR_Reset, and the DRTM PCRs at _TPM_Hash_End).
    pub(crate) fn zero_pcr(&mut self, pcr: usize) {
        for bank in &mut self.banks {
            if let Some(v) = bank.values.get_mut(pcr) {
                *v = vtpm_crypto::Digest::filled(bank.alg, 0);
            }
        }
    }

    pub(crate) fn extend_pcr(&mut self, pcr: usize, alg: HashAlg, digest: &[u8]) {
        if self.pcr_allocated(alg, pcr)
            && let Some(bank) = self.banks.get_mut(bank_index(alg))
        {
            bank.extend(pcr, digest);
        }
    }
}

/// TPM2_PCR_Extend (Part 3, 22.2): each digest is extended into its bank, if
/// that bank is allocated; TPM_RH_NULL makes it a no-op.
pub fn pcr_extend(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let digests = ctx.params.read_as::<TpmlDigestValues>(ValueKind::Hash)?;
    ctx.params.finish()?;
    let mut resolved = Vec::new();
    for ha in digests.iter() {
        let alg = HashAlg::from_alg_id(ha.hash_alg.value()).ok_or(Rc::HASH.param(1))?;
        let TpmuHa::Digest(d) = &ha.digest else {
            return Err(Rc::HASH.param(1));
        };
        resolved.push((alg, Vec::from(&d[..])));
    }
    let handle = ctx.handles[0];
    if handle == RH_NULL {
        return Ok(());
    }
    let pcr = handle as usize;
    check_extend_locality(pcr, ctx.locality)?;
    for (alg, digest) in resolved {
        ctx.engine.extend_pcr(pcr, alg, &digest);
    }
    ctx.engine.pcr_changed(pcr);
    Ok(())
}

/// TPM2_PCR_Event (Part 3, 22.3): eventData is hashed with every implemented
/// hash; each digest is extended into its (allocated) bank and all are returned.
pub fn pcr_event(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let data = ctx.params.read_2b(MAX_EVENT_SIZE)?;
    ctx.params.finish()?;
    let handle = ctx.handles[0];
    if handle != RH_NULL {
        check_extend_locality(handle as usize, ctx.locality)?;
    }
    ctx.out.u32(HashAlg::ALL.len() as u32);
    for alg in HashAlg::ALL {
        let digest = alg.digest(&[data]);
        ctx.out.u16(alg.alg_id()).bytes(digest.as_bytes());
        if handle != RH_NULL {
            ctx.engine
                .extend_pcr(handle as usize, alg, digest.as_bytes());
        }
    }
    if handle != RH_NULL {
        ctx.engine.pcr_changed(handle as usize);
    }
    Ok(())
}

/// TPM2_PCR_Read (Part 3, 22.4): the selected, allocated PCRs in selection order,
/// at most eight; pcrSelectionOut says which were returned.
pub fn pcr_read(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let selections = read_selections(ctx)?;
    ctx.params.finish()?;
    let engine = &*ctx.engine;
    let mut returned = 0;
    let mut out_selections = Vec::new();
    let mut values = Vec::new();
    for sel in &selections {
        let mut bits = 0u32;
        for pcr in 0..PCR_COUNT {
            if sel.bits & (1 << pcr) != 0
                && engine.pcr_allocated(sel.alg, pcr)
                && returned < MAX_READ_DIGESTS
            {
                bits |= 1 << pcr;
                returned += 1;
                if let Some(v) = engine
                    .banks
                    .get(bank_index(sel.alg))
                    .and_then(|b| b.values.get(pcr))
                {
                    values.push(*v);
                }
            }
        }
        out_selections.push((sel.alg.alg_id(), bits));
    }
    ctx.out.u32(engine.pcr_update_counter);
    ctx.out.u32(out_selections.len() as u32);
    for (id, bits) in out_selections {
        ctx.out
            .u16(id)
            .u8(PCR_SELECT_MIN as u8)
            .bytes(bits.to_le_bytes().get(..PCR_SELECT_MIN).unwrap_or_default());
    }
    ctx.out.u32(values.len() as u32);
    for v in values {
        ctx.out.tpm2b(v.as_bytes());
    }
    Ok(())
}

/// TPM2_PCR_Allocate (Part 3, 22.5): the new allocation is stored now and takes
/// effect at the next TPM Reset; banks not named keep their allocation.
pub fn pcr_allocate(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let selections = read_selections(ctx)?;
    ctx.params.finish()?;
    let mut allocation = ctx.engine.perm.pcr_allocation;
    for sel in &selections {
        if let Some(slot) = allocation.get_mut(bank_index(sel.alg)) {
            *slot = sel.bits;
        }
    }
    let size_needed: usize = HashAlg::ALL
        .iter()
        .zip(allocation)
        .map(|(alg, bits)| alg.digest_size() * bits.count_ones() as usize)
        .sum();
    let size_available: usize = HashAlg::ALL
        .iter()
        .map(|a| a.digest_size() * PCR_COUNT)
        .sum();
    if ctx.engine.perm.pcr_allocation != allocation {
        ctx.engine.perm.pcr_allocation = allocation;
        ctx.engine.nv_dirty = true;
    }
    // Until the next TPM Reset no state can be saved for a Resume.
    ctx.engine.pcr_reconfigured = true;
    ctx.out
        .u8(1)
        .u32(PCR_COUNT as u32)
        .u32(size_needed as u32)
        .u32(size_available as u32);
    Ok(())
}

/// TPM2_PCR_Reset (Part 3, 22.8): only PCRs resettable at the command's
/// locality; all banks go to zero.
pub fn pcr_reset(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let pcr = ctx.handles[0] as usize;
    let allowed = PCR_ATTRIBUTES
        .get(pcr)
        .is_some_and(|a| a.reset_localities & (1 << ctx.locality) != 0);
    if !allowed {
        return Err(Rc::LOCALITY);
    }
    ctx.engine.zero_pcr(pcr);
    ctx.engine.pcr_changed(pcr);
    Ok(())
}

/// TPM2_PCR_SetAuthPolicy (Part 3, 22.7): the authPolicy of the policy group
/// `pcrNum` belongs to (a PCR outside every group is TPM_RC_VALUE); it
/// persists until changed.
pub fn pcr_set_auth_policy(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let digest = ctx.params.read_2b(crate::consts::MAX_DIGEST_SIZE)?.to_vec();
    let hash = ctx
        .params
        .read_as::<tpm2_protocol::basic::TpmUint16>(ValueKind::Hash)?
        .value();
    // TPMI_ALG_HASH+: an implemented hash, or TPM_ALG_NULL (no policy).
    let size = match hash {
        crate::object::alg::NULL => 0,
        h => HashAlg::from_alg_id(h)
            .ok_or(Rc::HASH.param(2))?
            .digest_size(),
    };
    let pcr = ctx
        .params
        .read::<tpm2_protocol::basic::TpmUint32>()?
        .value();
    // TPMI_DH_PCR: an implemented PCR.
    if pcr as usize >= PCR_COUNT {
        return Err(Rc::VALUE.param(3));
    }
    ctx.params.finish()?;
    if digest.len() != size {
        return Err(Rc::SIZE.param(1));
    }
    if !crate::pcr::in_group(crate::pcr::POLICY_GROUP, pcr) {
        return Err(Rc::VALUE.param(3));
    }
    ctx.engine.perm.pcr_policy = crate::hierarchy::Policy { alg: hash, digest };
    ctx.engine.nv_dirty = true;
    Ok(())
}

/// TPM2_PCR_SetAuthValue (Part 3, 22.8): the authValue of the authorization
/// group of `pcrHandle` (state-clear data: Startup(CLEAR) and Clear empty it).
pub fn pcr_set_auth_value(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let auth = ctx.params.read_2b(crate::consts::MAX_DIGEST_SIZE)?;
    ctx.params.finish()?;
    if !crate::pcr::in_group(crate::pcr::AUTH_GROUP, ctx.handles[0]) {
        // Not numbered, as the reference answers.
        return Err(Rc::VALUE);
    }
    let auth = crate::secret::Secret::new(crate::pipeline::trim_trailing_zeros(auth));
    ctx.engine.gc.pcr_auth = auth;
    // State-clear data changed: a saved state no longer describes it.
    ctx.engine.clear_orderly();
    Ok(())
}

impl Engine {
    /// The authValue of PCR `pcr`: its group's, or empty outside every group.
    pub(crate) fn pcr_auth_value(&self, pcr: u32) -> &[u8] {
        if crate::pcr::in_group(crate::pcr::AUTH_GROUP, pcr) {
            self.gc.pcr_auth.as_bytes()
        } else {
            &[]
        }
    }

    /// The authPolicy of PCR `pcr`, if it belongs to a policy group.
    pub(crate) fn pcr_policy(&self, pcr: u32) -> Option<&crate::hierarchy::Policy> {
        crate::pcr::in_group(crate::pcr::POLICY_GROUP, pcr).then_some(&self.perm.pcr_policy)
    }
}
