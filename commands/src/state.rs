//! The engine's state, split as Part 1 splits it, and its serialized form.
//!
//! - [`Permanent`]: survives everything (written through the store after every change).
//! - [`Saved`]: what Shutdown(STATE) preserves for TPM Resume / TPM Restart.
//! - volatile state lives in [`crate::engine::Engine`] and is rebuilt at _TPM_Init.
//!
//! Each part is serialized as a list of tagged fields (u16 tag, u16 length, value)
//! so that later versions add fields without breaking images written today; an
//! unknown tag is skipped, a missing one takes its default.

use alloc::vec::Vec;
use vtpm_crypto::{Digest, HashAlg};

use crate::consts::PCR_COUNT;
use crate::hierarchy::{Hierarchies, Policy, StateClear, StateReset};
use crate::object::Object;
use crate::pcr::ALL_PCRS;
use crate::secret::Secret;

/// The shutdown that preceded the current power cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orderly {
    /// No orderly shutdown: the TPM lost power, or has been used since.
    None,
    Clear,
    State,
}

/// Permanent state (Part 1 "persistent data").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permanent {
    /// Allocated PCRs per implemented bank, in [`HashAlg::ALL`] order (bit n = PCR n).
    pub pcr_allocation: [u32; 4],
    /// Number of TPM Resets since manufacture (TPMS_CLOCK_INFO.resetCount).
    pub reset_count: u32,
    /// Number of TPM Restarts/Resumes since the last TPM Reset.
    pub restart_count: u32,
    /// Clock, in ms, as last written to NV.
    pub clock_ms: u64,
    /// Whether Clock is known not to have gone backwards (TPMS_CLOCK_INFO.safe).
    pub clock_safe: bool,
    pub orderly: Orderly,
    /// The TPM established flag of the PC Client interface (set by a DRTM sequence).
    pub tpm_established: bool,
    /// TPM Resets since manufacture, never cleared (binds saved object contexts).
    pub total_reset_count: u32,
    /// Seeds, proofs, authorization values and policies of the hierarchies.
    pub hier: Hierarchies,
    /// Dictionary-attack counters and parameters.
    pub da: crate::da::DaState,
    /// Objects made persistent with EvictControl, by handle.
    pub persistent: Vec<Object>,
    /// The command audit list, its digest algorithm and counter.
    pub audit: crate::audit::CommandAudit,
    /// Defined NV indices, by handle.
    pub nv: Vec<crate::nv::NvIndex>,
    /// The highest value any deleted NV counter had: a new counter starts there.
    pub nv_max_counter: u64,
    /// Commands that need physical presence when authorized by the platform
    /// (TPM2_PP_Commands), ascending.
    pub pp_list: Vec<u32>,
    /// The value of TPM2_SetAlgorithmSet (TPM_PT_ALGORITHM_SET).
    pub algorithm_set: u32,
    /// The authPolicy of the PCR policy group (TPM2_PCR_SetAuthPolicy).
    pub pcr_policy: Policy,
}

impl Default for Permanent {
    fn default() -> Self {
        Permanent {
            pcr_allocation: [ALL_PCRS; 4],
            reset_count: 0,
            restart_count: 0,
            clock_ms: 0,
            clock_safe: true,
            // A TPM leaves manufacture shut down cleanly (as the reference does).
            orderly: Orderly::Clear,
            tpm_established: false,
            total_reset_count: 0,
            hier: Hierarchies::default(),
            da: crate::da::DaState::default(),
            persistent: Vec::new(),
            audit: crate::audit::CommandAudit::default(),
            nv: Vec::new(),
            nv_max_counter: 0,
            pp_list: crate::pp::default_list(),
            algorithm_set: 0,
            pcr_policy: Policy::default(),
        }
    }
}

/// State preserved by Shutdown(STATE).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Saved {
    pub pcr_update_counter: u32,
    /// The allocation in force when the state was saved.
    pub active_allocation: [u32; 4],
    /// Values of the state-saved PCRs (0-15), bank by bank.
    pub pcrs: Vec<(HashAlg, u8, Digest)>,
    /// State-clear data (hierarchy enables, platformAuth/Policy).
    pub clear: Option<StateClear>,
    /// State-reset data (null seed and proof, context counter).
    pub reset: Option<StateReset>,
    /// Volatile snapshots only: the RAM copy of each orderly NV index
    /// (handle, attributes, data).
    pub nv_orderly: Vec<(u32, u32, Vec<u8>)>,
    /// Context-saved sessions (handle, context sequence): they stay loadable
    /// across TPM Resume (Part 1, "Session context management").
    pub saved_sessions: Vec<(u32, u64)>,
}

/// The engine's state as bytes, for the caller to store.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StateImage {
    pub permanent: Vec<u8>,
    /// Present after Shutdown(STATE) until the next Startup consumes it.
    pub saved: Option<Vec<u8>>,
}

// Field tags. Never reuse a tag for a different meaning.
const P_PCR_ALLOCATION: u16 = 1;
const P_RESET_COUNT: u16 = 2;
const P_RESTART_COUNT: u16 = 3;
const P_CLOCK: u16 = 4;
const P_CLOCK_SAFE: u16 = 5;
const P_ORDERLY: u16 = 6;
const P_ESTABLISHED: u16 = 7;
const P_EPS: u16 = 8;
const P_SPS: u16 = 9;
const P_PPS: u16 = 10;
const P_EH_PROOF: u16 = 11;
const P_SH_PROOF: u16 = 12;
const P_PH_PROOF: u16 = 13;
const P_OWNER_AUTH: u16 = 14;
const P_ENDORSEMENT_AUTH: u16 = 15;
const P_LOCKOUT_AUTH: u16 = 16;
const P_OWNER_POLICY: u16 = 17;
const P_ENDORSEMENT_POLICY: u16 = 18;
const P_LOCKOUT_POLICY: u16 = 19;
const P_DISABLE_CLEAR: u16 = 20;
/// Repeated: one persistent object each.
const P_OBJECT: u16 = 21;
const P_TOTAL_RESET_COUNT: u16 = 22;
/// failedTries, maxTries, recoveryTime, lockoutRecovery (u32 each), then
/// lockoutAuthEnabled and daUsed (one octet each).
const P_DA: u16 = 23;
/// Command audit: digest algorithm, counter, the audited command codes.
const P_COMMAND_AUDIT: u16 = 30;
/// Repeated: one NV index each (see `NvIndex::marshal_state`).
const P_NV_INDEX: u16 = 24;
const P_NV_MAX_COUNTER: u16 = 25;
/// The PP list: the command codes, u32 each.
const P_PP_LIST: u16 = 40;
const P_ALGORITHM_SET: u16 = 41;
/// The PCR policy group's hash algorithm and authPolicy.
const P_PCR_POLICY: u16 = 42;

const S_UPDATE_COUNTER: u16 = 1;
const S_ACTIVE_ALLOCATION: u16 = 2;
const S_PCR: u16 = 3;
const S_STATE_CLEAR: u16 = 4;
const S_NULL_SEED: u16 = 5;
const S_NULL_PROOF: u16 = 6;
const S_CONTEXT_ID: u16 = 7;
const S_COMMAND_AUDIT_DIGEST: u16 = 20;
const S_SESSION_CONTEXT_ID: u16 = 21;
/// Repeated: handle, attributes (u32 each) and data of an orderly NV index.
const S_NV_ORDERLY: u16 = 8;
const S_COMMIT_NONCE: u16 = 22;
const S_COMMIT_COUNTER: u16 = 23;
const S_COMMIT_ARRAY: u16 = 24;
/// The PCR authorization group's authValue (state-clear data).
const S_PCR_AUTH: u16 = 40;
/// Repeated: handle (u32) and context sequence (u64) of a saved session.
const S_SAVED_SESSION: u16 = 25;

/// Why a stored state part was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    BadField(u16),
}

pub(crate) struct FieldWriter(pub(crate) Vec<u8>);

impl FieldWriter {
    pub(crate) fn field(&mut self, tag: u16, value: &[u8]) {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&tag.to_be_bytes());
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0
            .extend_from_slice(value.get(..usize::from(len)).unwrap_or(value));
    }
}

/// Splits a serialized part into its (tag, value) fields.
pub(crate) fn parse_fields(mut bytes: &[u8]) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (head, rest) = bytes.split_at_checked(4).ok_or(DecodeError::Truncated)?;
        let head: [u8; 4] = head.try_into().map_err(|_| DecodeError::Truncated)?;
        let tag = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let (value, rest) = rest.split_at_checked(len).ok_or(DecodeError::Truncated)?;
        out.push((tag, value));
        bytes = rest;
    }
    Ok(out)
}

pub(crate) fn u32_of(tag: u16, v: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_be_bytes(
        v.try_into().map_err(|_| DecodeError::BadField(tag))?,
    ))
}

pub(crate) fn u64_of(tag: u16, v: &[u8]) -> Result<u64, DecodeError> {
    Ok(u64::from_be_bytes(
        v.try_into().map_err(|_| DecodeError::BadField(tag))?,
    ))
}

fn bool_of(tag: u16, v: &[u8]) -> Result<bool, DecodeError> {
    match v {
        [0] => Ok(false),
        [1] => Ok(true),
        _ => Err(DecodeError::BadField(tag)),
    }
}

fn policy_bytes(p: &Policy) -> Vec<u8> {
    let mut v = p.alg.to_be_bytes().to_vec();
    v.extend_from_slice(&p.digest);
    v
}

fn policy_of(tag: u16, v: &[u8]) -> Result<Policy, DecodeError> {
    let (a, digest) = v.split_at_checked(2).ok_or(DecodeError::BadField(tag))?;
    let alg = u16::from_be_bytes(a.try_into().map_err(|_| DecodeError::BadField(tag))?);
    if digest.len() > crate::consts::MAX_DIGEST_SIZE {
        return Err(DecodeError::BadField(tag));
    }
    Ok(Policy {
        alg,
        digest: digest.to_vec(),
    })
}

fn allocation_bytes(a: &[u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (chunk, v) in out.chunks_exact_mut(4).zip(a) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn allocation_of(tag: u16, v: &[u8]) -> Result<[u32; 4], DecodeError> {
    if v.len() != 16 {
        return Err(DecodeError::BadField(tag));
    }
    let mut out = [0u32; 4];
    for (slot, chunk) in out.iter_mut().zip(v.chunks_exact(4)) {
        *slot = u32_of(tag, chunk)? & ALL_PCRS;
    }
    Ok(out)
}

impl Permanent {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = FieldWriter(Vec::new());
        w.field(P_PCR_ALLOCATION, &allocation_bytes(&self.pcr_allocation));
        w.field(P_RESET_COUNT, &self.reset_count.to_be_bytes());
        w.field(P_RESTART_COUNT, &self.restart_count.to_be_bytes());
        w.field(P_CLOCK, &self.clock_ms.to_be_bytes());
        w.field(P_CLOCK_SAFE, &[u8::from(self.clock_safe)]);
        let orderly = match self.orderly {
            Orderly::None => 0u8,
            Orderly::Clear => 1,
            Orderly::State => 2,
        };
        w.field(P_ORDERLY, &[orderly]);
        w.field(P_ESTABLISHED, &[u8::from(self.tpm_established)]);
        let h = &self.hier;
        for (tag, secret) in [
            (P_EPS, &h.eps),
            (P_SPS, &h.sps),
            (P_PPS, &h.pps),
            (P_EH_PROOF, &h.eh_proof),
            (P_SH_PROOF, &h.sh_proof),
            (P_PH_PROOF, &h.ph_proof),
            (P_OWNER_AUTH, &h.owner_auth),
            (P_ENDORSEMENT_AUTH, &h.endorsement_auth),
            (P_LOCKOUT_AUTH, &h.lockout_auth),
        ] {
            w.field(tag, secret.as_bytes());
        }
        for (tag, policy) in [
            (P_OWNER_POLICY, &h.owner_policy),
            (P_ENDORSEMENT_POLICY, &h.endorsement_policy),
            (P_LOCKOUT_POLICY, &h.lockout_policy),
        ] {
            w.field(tag, &policy_bytes(policy));
        }
        w.field(P_DISABLE_CLEAR, &[u8::from(h.disable_clear)]);
        w.field(P_TOTAL_RESET_COUNT, &self.total_reset_count.to_be_bytes());
        let da = &self.da;
        let mut v = Vec::with_capacity(18);
        for x in [
            da.failed_tries,
            da.max_tries,
            da.recovery_time,
            da.lockout_recovery,
        ] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.push(u8::from(da.lockout_auth_enabled));
        v.push(u8::from(da.used));
        w.field(P_DA, &v);
        for object in &self.persistent {
            w.field(P_OBJECT, &object.marshal_state());
        }
        w.field(P_COMMAND_AUDIT, &self.audit.encode());
        for index in &self.nv {
            w.field(P_NV_INDEX, &index.marshal_state());
        }
        w.field(P_NV_MAX_COUNTER, &self.nv_max_counter.to_be_bytes());
        let pp: Vec<u8> = self
            .pp_list
            .iter()
            .flat_map(|cc| cc.to_be_bytes())
            .collect();
        w.field(P_PP_LIST, &pp);
        w.field(P_ALGORITHM_SET, &self.algorithm_set.to_be_bytes());
        w.field(P_PCR_POLICY, &policy_bytes(&self.pcr_policy));
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut p = Permanent::default();
        for (tag, v) in parse_fields(bytes)? {
            match tag {
                P_PCR_ALLOCATION => p.pcr_allocation = allocation_of(tag, v)?,
                P_RESET_COUNT => p.reset_count = u32_of(tag, v)?,
                P_RESTART_COUNT => p.restart_count = u32_of(tag, v)?,
                P_CLOCK => p.clock_ms = u64_of(tag, v)?,
                P_CLOCK_SAFE => p.clock_safe = bool_of(tag, v)?,
                P_ORDERLY => {
                    p.orderly = match v {
                        [0] => Orderly::None,
                        [1] => Orderly::Clear,
                        [2] => Orderly::State,
                        _ => return Err(DecodeError::BadField(tag)),
                    }
                }
                P_ESTABLISHED => p.tpm_established = bool_of(tag, v)?,
                P_EPS => p.hier.eps = Secret::new(v),
                P_SPS => p.hier.sps = Secret::new(v),
                P_PPS => p.hier.pps = Secret::new(v),
                P_EH_PROOF => p.hier.eh_proof = Secret::new(v),
                P_SH_PROOF => p.hier.sh_proof = Secret::new(v),
                P_PH_PROOF => p.hier.ph_proof = Secret::new(v),
                P_OWNER_AUTH => p.hier.owner_auth = Secret::new(v),
                P_ENDORSEMENT_AUTH => p.hier.endorsement_auth = Secret::new(v),
                P_LOCKOUT_AUTH => p.hier.lockout_auth = Secret::new(v),
                P_OWNER_POLICY => p.hier.owner_policy = policy_of(tag, v)?,
                P_ENDORSEMENT_POLICY => p.hier.endorsement_policy = policy_of(tag, v)?,
                P_LOCKOUT_POLICY => p.hier.lockout_policy = policy_of(tag, v)?,
                P_DISABLE_CLEAR => p.hier.disable_clear = bool_of(tag, v)?,
                P_TOTAL_RESET_COUNT => p.total_reset_count = u32_of(tag, v)?,
                P_DA => {
                    let bad = DecodeError::BadField(tag);
                    if v.len() != 18 {
                        return Err(bad);
                    }
                    let word = |i: usize| u32_of(tag, v.get(4 * i..4 * i + 4).unwrap_or_default());
                    p.da = crate::da::DaState {
                        failed_tries: word(0)?,
                        max_tries: word(1)?,
                        recovery_time: word(2)?,
                        lockout_recovery: word(3)?,
                        lockout_auth_enabled: bool_of(tag, v.get(16..17).unwrap_or_default())?,
                        used: bool_of(tag, v.get(17..18).unwrap_or_default())?,
                    };
                }
                P_OBJECT => p
                    .persistent
                    .push(Object::parse_state(v).map_err(|_| DecodeError::BadField(tag))?),
                P_COMMAND_AUDIT => {
                    p.audit =
                        crate::audit::CommandAudit::decode(v).ok_or(DecodeError::BadField(tag))?
                }
                P_NV_INDEX => {
                    p.nv.push(crate::nv::NvIndex::parse_state(v).ok_or(DecodeError::BadField(tag))?)
                }
                P_NV_MAX_COUNTER => p.nv_max_counter = u64_of(tag, v)?,
                P_PP_LIST => {
                    if v.len() % 4 != 0 {
                        return Err(DecodeError::BadField(tag));
                    }
                    p.pp_list = v
                        .chunks_exact(4)
                        .map(|c| u32_of(tag, c))
                        .collect::<Result<_, _>>()?;
                }
                P_ALGORITHM_SET => p.algorithm_set = u32_of(tag, v)?,
                P_PCR_POLICY => p.pcr_policy = policy_of(tag, v)?,
                _ => {} // a field from a later version: skipped
            }
        }
        Ok(p)
    }
}

impl Saved {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = FieldWriter(Vec::new());
        w.field(S_UPDATE_COUNTER, &self.pcr_update_counter.to_be_bytes());
        w.field(
            S_ACTIVE_ALLOCATION,
            &allocation_bytes(&self.active_allocation),
        );
        for (alg, pcr, digest) in &self.pcrs {
            let mut v = Vec::with_capacity(3 + digest.len());
            v.extend_from_slice(&alg.alg_id().to_be_bytes());
            v.push(*pcr);
            v.extend_from_slice(digest.as_bytes());
            w.field(S_PCR, &v);
        }
        if let Some(c) = &self.clear {
            let flags = u8::from(c.ph_enable)
                | u8::from(c.sh_enable) << 1
                | u8::from(c.eh_enable) << 2
                | u8::from(c.ph_enable_nv) << 3;
            let mut v = alloc::vec![flags];
            v.extend_from_slice(&(c.platform_auth.len() as u16).to_be_bytes());
            v.extend_from_slice(c.platform_auth.as_bytes());
            v.extend_from_slice(&policy_bytes(&c.platform_policy));
            w.field(S_STATE_CLEAR, &v);
            w.field(S_PCR_AUTH, c.pcr_auth.as_bytes());
        }
        if let Some(r) = &self.reset {
            w.field(S_NULL_SEED, r.null_seed.as_bytes());
            w.field(S_NULL_PROOF, r.null_proof.as_bytes());
            w.field(S_CONTEXT_ID, &r.object_context_id.to_be_bytes());
            w.field(S_COMMAND_AUDIT_DIGEST, &r.command_audit_digest);
            w.field(S_SESSION_CONTEXT_ID, &r.session_context_id.to_be_bytes());
            w.field(S_COMMIT_NONCE, r.commit_nonce.as_bytes());
            w.field(S_COMMIT_COUNTER, &r.commit_counter.to_be_bytes());
            w.field(S_COMMIT_ARRAY, &r.commit_array);
        }
        for (h, a, data) in &self.nv_orderly {
            let mut v = h.to_be_bytes().to_vec();
            v.extend_from_slice(&a.to_be_bytes());
            v.extend_from_slice(data);
            w.field(S_NV_ORDERLY, &v);
        }
        for (h, seq) in &self.saved_sessions {
            let mut v = h.to_be_bytes().to_vec();
            v.extend_from_slice(&seq.to_be_bytes());
            w.field(S_SAVED_SESSION, &v);
        }
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut s = Saved::default();
        for (tag, v) in parse_fields(bytes)? {
            match tag {
                S_UPDATE_COUNTER => s.pcr_update_counter = u32_of(tag, v)?,
                S_ACTIVE_ALLOCATION => s.active_allocation = allocation_of(tag, v)?,
                S_PCR => {
                    let bad = DecodeError::BadField(tag);
                    let (head, digest) = v.split_at_checked(3).ok_or(bad)?;
                    let id =
                        u16::from_be_bytes([*head.first().ok_or(bad)?, *head.get(1).ok_or(bad)?]);
                    let pcr = *head.get(2).ok_or(bad)?;
                    let alg = HashAlg::from_alg_id(id).ok_or(bad)?;
                    let digest = Digest::from_bytes(alg, digest).ok_or(bad)?;
                    if usize::from(pcr) >= PCR_COUNT {
                        return Err(bad);
                    }
                    s.pcrs.push((alg, pcr, digest));
                }
                S_STATE_CLEAR => {
                    let bad = DecodeError::BadField(tag);
                    let (&flags, rest) = v.split_first().ok_or(bad)?;
                    let (len, rest) = rest.split_at_checked(2).ok_or(bad)?;
                    let len = usize::from(u16::from_be_bytes(len.try_into().map_err(|_| bad)?));
                    let (auth, policy) = rest.split_at_checked(len).ok_or(bad)?;
                    let pcr_auth = s.clear.take().map(|c| c.pcr_auth).unwrap_or_default();
                    s.clear = Some(StateClear {
                        ph_enable: flags & 1 != 0,
                        sh_enable: flags & 2 != 0,
                        eh_enable: flags & 4 != 0,
                        ph_enable_nv: flags & 8 != 0,
                        platform_auth: Secret::new(auth),
                        platform_policy: policy_of(tag, policy)?,
                        pcr_auth,
                    });
                }
                S_PCR_AUTH => {
                    if v.len() > crate::consts::MAX_DIGEST_SIZE {
                        return Err(DecodeError::BadField(tag));
                    }
                    s.clear.get_or_insert_with(StateClear::default).pcr_auth = Secret::new(v)
                }
                S_NULL_SEED => {
                    s.reset.get_or_insert_with(StateReset::default).null_seed = Secret::new(v)
                }
                S_NULL_PROOF => {
                    s.reset.get_or_insert_with(StateReset::default).null_proof = Secret::new(v)
                }
                S_CONTEXT_ID => {
                    s.reset
                        .get_or_insert_with(StateReset::default)
                        .object_context_id = u64_of(tag, v)?
                }
                S_SESSION_CONTEXT_ID => {
                    s.reset
                        .get_or_insert_with(StateReset::default)
                        .session_context_id = u64_of(tag, v)?
                }
                S_COMMIT_NONCE => {
                    s.reset.get_or_insert_with(StateReset::default).commit_nonce = Secret::new(v)
                }
                S_COMMIT_COUNTER => {
                    s.reset
                        .get_or_insert_with(StateReset::default)
                        .commit_counter = u64_of(tag, v)?
                }
                S_COMMIT_ARRAY => {
                    s.reset.get_or_insert_with(StateReset::default).commit_array =
                        v.try_into().map_err(|_| DecodeError::BadField(tag))?
                }
                S_COMMAND_AUDIT_DIGEST => {
                    if v.len() > crate::consts::MAX_DIGEST_SIZE {
                        return Err(DecodeError::BadField(tag));
                    }
                    s.reset
                        .get_or_insert_with(StateReset::default)
                        .command_audit_digest = v.to_vec()
                }
                S_NV_ORDERLY => {
                    let bad = DecodeError::BadField(tag);
                    let (head, data) = v.split_at_checked(8).ok_or(bad)?;
                    let (h, a) = head.split_at(4);
                    s.nv_orderly
                        .push((u32_of(tag, h)?, u32_of(tag, a)?, data.to_vec()));
                }
                S_SAVED_SESSION => {
                    let (h, seq) = v.split_at_checked(4).ok_or(DecodeError::BadField(tag))?;
                    s.saved_sessions.push((u32_of(tag, h)?, u64_of(tag, seq)?));
                }
                _ => {}
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn permanent_round_trips_and_skips_unknown_fields() {
        let mut p = Permanent {
            reset_count: 7,
            clock_ms: 123_456,
            orderly: Orderly::State,
            ..Default::default()
        };
        p.audit.set(0x17B);
        p.audit.counter = 5;
        p.pp_list.insert(0, 0x126);
        p.algorithm_set = 3;
        p.pcr_policy = Policy {
            alg: 0x000B,
            digest: alloc::vec![9; 32],
        };
        let mut bytes = p.encode();
        bytes.extend_from_slice(&[0x7F, 0xFF, 0x00, 0x02, 0xAA, 0xBB]);
        assert_eq!(Permanent::decode(&bytes), Ok(p));
    }

    #[test]
    fn nv_indices_round_trip_and_older_images_have_none() {
        use crate::nv::{NvIndex, NvPublic, attr};
        // An image written before NV existed: no NV fields, no index.
        let old = Permanent::default().encode();
        let old: Vec<u8> = parse_fields(&old)
            .unwrap()
            .into_iter()
            .filter(|(t, _)| *t != P_NV_MAX_COUNTER)
            .flat_map(|(t, v)| {
                let mut f = t.to_be_bytes().to_vec();
                f.extend_from_slice(&(v.len() as u16).to_be_bytes());
                f.extend_from_slice(v);
                f
            })
            .collect();
        let p = Permanent::decode(&old).unwrap();
        assert!(p.nv.is_empty());
        assert_eq!(p.nv_max_counter, 0);
        let mut index = NvIndex::new(
            NvPublic {
                index: 0x01C0_0002,
                name_alg: HashAlg::Sha256,
                attributes: attr::OWNERREAD | attr::OWNERWRITE | attr::WRITTEN,
                auth_policy: alloc::vec![3; 32],
                data_size: 2048,
            },
            Secret::new(b"auth"),
        );
        index.data = alloc::vec![0x5A; 2048];
        let p = Permanent {
            nv: alloc::vec![index],
            nv_max_counter: 41,
            ..Default::default()
        };
        assert_eq!(Permanent::decode(&p.encode()), Ok(p));
    }

    #[test]
    fn truncated_or_bad_fields_are_refused() {
        let bytes = Permanent::default().encode();
        assert_eq!(
            Permanent::decode(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Permanent::decode(&[0, 2, 0, 1, 9]),
            Err(DecodeError::BadField(2))
        );
    }

    #[test]
    fn saved_round_trips() {
        let d = HashAlg::Sha256.digest(&[b"x"]);
        let s = Saved {
            pcr_update_counter: 3,
            active_allocation: [1, 2, 3, 4],
            pcrs: alloc::vec![(HashAlg::Sha256, 5, d)],
            clear: Some(StateClear {
                sh_enable: false,
                platform_auth: Secret::new(b"pw"),
                pcr_auth: Secret::new(b"pcr"),
                ..Default::default()
            }),
            reset: Some(StateReset {
                null_seed: Secret::new(&[1; 64]),
                null_proof: Secret::new(&[2; 64]),
                object_context_id: 9,
                command_audit_digest: alloc::vec![7; 32],
                session_context_id: 70_000,
                commit_nonce: Secret::new(&[3; 32]),
                commit_counter: 0x1_0002,
                commit_array: [0x81; 16],
            }),
            nv_orderly: alloc::vec![(0x0150_0000, 0x0402_0002, alloc::vec![1, 2, 3])],
            saved_sessions: alloc::vec![(0x0300_0001, 77)],
        };
        assert_eq!(Saved::decode(&s.encode()), Ok(s));
    }
}
