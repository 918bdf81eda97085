//! Enhanced authorization (Part 3, section 23): the policy commands that
//! extend a policy session's policyDigest and arm its deferred checks.
//!
//! A trial session (TPM_SE_TRIAL) only extends the digest: the immediate
//! checks against the TPM's state (PCRs, time, nonces, tickets) are skipped,
//! the parameter checks the spec keeps for trial sessions are not. The
//! deferred checks are applied by the pipeline (`check_policy_session`).

use alloc::vec::Vec;
use tpm2_protocol::basic::{TpmInt32, TpmUint8, TpmUint16, TpmUint32};
use vtpm_crypto::{HashAlg, ct_eq};

use crate::codec::{Out, Params};
use crate::consts::{
    HT_PERMANENT, MAX_DIGEST_SIZE, RH_ENDORSEMENT, RH_NULL, RH_OWNER, RH_PLATFORM,
};
use crate::engine::Engine;
use crate::object::public::Reader;
use crate::pipeline::Ctx;
use crate::rc::Rc;
use crate::session::{BoundHash, SE_TRIAL, Session};
use crate::signature::Signature;
use crate::ticket::{ST_AUTH_SECRET, ST_AUTH_SIGNED, ST_VERIFIED, Ticket};

pub const CC_POLICY_SECRET: u32 = 0x0000_0151;
pub const CC_POLICY_SIGNED: u32 = 0x0000_0160;
const CC_POLICY_AUTHORIZE: u32 = 0x0000_016A;
const CC_DUPLICATE: u32 = 0x0000_014B;
const CC_POLICY_AUTH_VALUE: u32 = 0x0000_016B;
const CC_POLICY_COMMAND_CODE: u32 = 0x0000_016C;
const CC_POLICY_COUNTER_TIMER: u32 = 0x0000_016D;
const CC_POLICY_CP_HASH: u32 = 0x0000_016E;
const CC_POLICY_LOCALITY: u32 = 0x0000_016F;
const CC_POLICY_NAME_HASH: u32 = 0x0000_0170;
const CC_POLICY_OR: u32 = 0x0000_0171;
const CC_POLICY_PCR: u32 = 0x0000_017F;
const CC_POLICY_PHYSICAL_PRESENCE: u32 = 0x0000_0187;
const CC_POLICY_DUPLICATION_SELECT: u32 = 0x0000_0188;
const CC_POLICY_TEMPLATE: u32 = 0x0000_0190;
pub const CC_POLICY_CAPABILITY: u32 = 0x0000_019B;
pub const CC_POLICY_PARAMETERS: u32 = 0x0000_019C;
pub const CC_POLICY_NV: u32 = 0x0000_0149;
pub const CC_POLICY_NV_WRITTEN: u32 = 0x0000_018F;
pub const CC_POLICY_AUTHORIZE_NV: u32 = 0x0000_0192;

/// TPM2B_NAME: a hash algorithm and a digest.
const MAX_NAME_SIZE: usize = 2 + MAX_DIGEST_SIZE;
/// TPM2B_TIMEOUT holds a UINT64.
const TIMEOUT_SIZE: usize = 8;
/// Bit of the timeout buffer that marks a ticket which expires on TPM Reset
/// (the timeout buffer's format is TPM-specific; the reference uses the MSb).
const EXPIRES_ON_RESET: u64 = 1 << 63;
/// TPMS_TIME_INFO: time, clock, resetCount, restartCount, safe.
const TIME_INFO_SIZE: usize = 8 + 8 + 4 + 4 + 1;

impl Engine {
    /// TPM time (TPMS_TIME_INFO.time): ms since _TPM_Init (at the adjusted
    /// clock rate).
    pub(crate) fn tpm_time(&self, now_ms: u64) -> u64 {
        self.time_base_ms
            .saturating_add(self.at_clock_rate(now_ms.saturating_sub(self.init_ms)))
    }

    /// The time epoch: changes with every Startup (resetCount or restartCount
    /// moves), when TPM time starts again from zero.
    pub(crate) fn time_epoch(&self) -> u64 {
        u64::from(self.perm.reset_count) << 32 | u64::from(self.perm.restart_count)
    }

    /// The hierarchy of an entity, for the tickets it vouches for (the
    /// reference's EntityGetHierarchy): an object's own, a hierarchy itself,
    /// the owner for everything else.
    fn entity_hierarchy(&self, h: u32) -> u32 {
        if let Some(o) = self.object(h) {
            return o.hierarchy;
        }
        match h {
            RH_PLATFORM | RH_ENDORSEMENT | RH_NULL => h,
            _ => RH_OWNER,
        }
    }

    /// TPMS_TIME_INFO as PolicyCounterTimer compares against it.
    fn time_info(&self, now_ms: u64) -> Vec<u8> {
        let mut out = Out::new();
        out.u64(self.tpm_time(now_ms))
            .u64(self.clock_now(now_ms))
            .u32(self.perm.reset_count)
            .u32(self.perm.restart_count)
            .u8(u8::from(self.perm.clock_safe));
        out.into_vec()
    }
}

/// The policy session named by handle `i` of the command.
fn session_at<'a>(ctx: &'a mut Ctx<'_>, i: usize) -> Result<&'a mut Session, Rc> {
    let h = ctx.handles.get(i).copied().unwrap_or_default();
    ctx.engine
        .sessions
        .iter_mut()
        .find(|s| s.handle == h)
        .ok_or(Rc::REFERENCE_H0)
}

/// The policy session of a command whose only handle is the session.
fn policy_session<'a>(ctx: &'a mut Ctx<'_>) -> Result<&'a mut Session, Rc> {
    session_at(ctx, 0)
}

/// policyDigest := H(policyDigest || parts).
fn extend(s: &mut Session, parts: &[&[u8]]) {
    let mut all: Vec<&[u8]> = alloc::vec![s.policy.digest.as_slice()];
    all.extend_from_slice(parts);
    s.policy.digest = s.auth_hash.digest(&all).as_bytes().to_vec();
}

/// PolicyContextUpdate (Part 3, 23.3 / 23.4): policyDigest :=
/// H(H(policyDigest || cc || authName) || policyRef); a cpHashA is bound and
/// the session expires at the earliest timeout given.
fn context_update(
    s: &mut Session,
    cc: u32,
    name: &[u8],
    policy_ref: &[u8],
    cp_hash: &[u8],
    timeout: u64,
) {
    extend(s, &[&cc.to_be_bytes(), name]);
    extend(s, &[policy_ref]);
    if !cp_hash.is_empty() {
        s.policy.bound_hash = Some((BoundHash::Cp, cp_hash.to_vec()));
    }
    if timeout != 0 && s.policy.timeout.is_none_or(|t| t > timeout) {
        s.policy.timeout = Some(timeout);
    }
}

/// The authorization timeout of PolicySecret / PolicySigned (ComputeAuthTimeout):
/// |expiration| seconds after the session started when the authorization is
/// tied to nonceTPM, else after TPM time zero (it then expires on reset).
fn auth_timeout(s: &Session, expiration: i32, nonce: &[u8], now: u64) -> u64 {
    if expiration == 0 {
        return 0;
    }
    let ms = u64::from(expiration.unsigned_abs()).saturating_mul(1000);
    if nonce.is_empty() {
        ms.saturating_add(now % 1000)
    } else {
        s.policy.start_time.saturating_add(ms)
    }
}

/// Parameter numbers of nonceTPM, cpHashA and expiration (0: not a parameter).
struct Blame {
    nonce: usize,
    cp_hash: usize,
    expiration: usize,
}

/// PolicyParameterChecks (Part 3, 23.3): nonceTPM is this session's, the
/// expiration is not past, cpHashA has the session's digest size and agrees
/// with a cpHash already bound.
fn parameter_checks(
    s: &Session,
    now: u64,
    epoch: u64,
    timeout: u64,
    cp_hash: &[u8],
    nonce: &[u8],
    blame: &Blame,
) -> Result<(), Rc> {
    if !nonce.is_empty() && !ct_eq(nonce, &s.nonce_tpm) {
        return Err(Rc::NONCE.param(blame.nonce));
    }
    if timeout != 0 && (timeout < now || s.policy.epoch != epoch) {
        return Err(Rc::EXPIRED.param(blame.expiration));
    }
    if !cp_hash.is_empty() {
        if cp_hash.len() != s.auth_hash.digest_size() {
            return Err(Rc::SIZE.param(blame.cp_hash));
        }
        if s.policy
            .bound_hash
            .as_ref()
            .is_some_and(|(k, v)| *k != BoundHash::Cp || v.as_slice() != cp_hash)
        {
            return Err(Rc::CPHASH);
        }
    }
    Ok(())
}

/// What a TPMT_TK_AUTH's HMAC covers after its tag (Part 2, 10.7.5:
/// timeout || cpHashA || policyRef || authName). The time epoch and the
/// expires-on-reset flag are TPM-specific additions: TPM time restarts at
/// every Startup, so a ticket's timeout only means something in its epoch.
fn auth_ticket_fields(
    timeout: u64,
    expires_on_reset: bool,
    epoch: u64,
    cp_hash: &[u8],
    policy_ref: &[u8],
    name: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(17 + cp_hash.len() + policy_ref.len() + name.len());
    v.extend_from_slice(&timeout.to_be_bytes());
    v.push(u8::from(expires_on_reset));
    v.extend_from_slice(&epoch.to_be_bytes());
    v.extend_from_slice(cp_hash);
    v.extend_from_slice(policy_ref);
    v.extend_from_slice(name);
    v
}

/// TPM2_PolicySecret (Part 3, 23.4): the caller proved knowledge of
/// authHandle's authorization (the pipeline checked it); the policy is bound
/// to the entity's Name and policyRef. A negative expiration returns a
/// TPM_ST_AUTH_SECRET ticket for PolicyTicket.
pub fn policy_secret(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let nonce = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let cp_hash = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let policy_ref = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let expiration = ctx.params.read::<TpmInt32>()?.value();
    ctx.params.finish()?;
    let AuthStart {
        name,
        hierarchy,
        trial,
        timeout,
        epoch,
    } = authorization_start(ctx, ctx.handles[0], expiration, nonce, cp_hash)?;
    let s = session_at(ctx, 1)?;
    context_update(s, CC_POLICY_SECRET, &name, policy_ref, cp_hash, timeout);
    let grant = AuthGrant {
        tag: ST_AUTH_SECRET,
        hierarchy,
        timeout,
        epoch,
        nonce,
        cp_hash,
        policy_ref,
        name: &name,
    };
    write_auth_ticket(ctx, &grant, expiration < 0 && !trial);
    Ok(())
}

/// What PolicySecret and PolicySigned establish before their own check:
/// the authorizing entity's Name and hierarchy, and (outside a trial session)
/// the timeout the session gets, after the nonce, cpHashA and expiration
/// checks.
struct AuthStart {
    name: alloc::vec::Vec<u8>,
    hierarchy: u32,
    trial: bool,
    timeout: u64,
    epoch: u64,
}

fn authorization_start(
    ctx: &mut Ctx<'_>,
    entity: u32,
    expiration: i32,
    nonce: &[u8],
    cp_hash: &[u8],
) -> Result<AuthStart, Rc> {
    let now = ctx.engine.tpm_time(ctx.platform.monotonic_ms());
    let epoch = ctx.engine.time_epoch();
    let name = ctx.engine.entity_name(entity);
    let hierarchy = ctx.engine.entity_hierarchy(entity);
    let s = session_at(ctx, 1)?;
    let trial = s.kind == SE_TRIAL;
    let mut timeout = 0;
    if !trial {
        timeout = auth_timeout(s, expiration, nonce, now);
        let blame = Blame {
            nonce: 1,
            cp_hash: 2,
            expiration: 4,
        };
        parameter_checks(s, now, epoch, timeout, cp_hash, nonce, &blame)?;
    }
    Ok(AuthStart {
        name,
        hierarchy,
        trial,
        timeout,
        epoch,
    })
}

/// What a PolicySecret / PolicySigned authorization returns a ticket for.
struct AuthGrant<'a> {
    tag: u16,
    hierarchy: u32,
    timeout: u64,
    epoch: u64,
    nonce: &'a [u8],
    cp_hash: &'a [u8],
    policy_ref: &'a [u8],
    name: &'a [u8],
}

/// The timeout and TPMT_TK_AUTH outputs of PolicySecret / PolicySigned: a
/// ticket when `issue` (a negative expiration outside a trial session), else
/// an empty timeout and a NULL ticket. The timeout buffer's MSb says whether
/// the authorization was not tied to nonceTPM (it then ends at TPM Reset).
fn write_auth_ticket(ctx: &mut Ctx<'_>, g: &AuthGrant<'_>, issue: bool) {
    if !issue {
        ctx.out.tpm2b(&[]);
        Ticket::null(g.tag).marshal(&mut ctx.out);
        return;
    }
    let expires_on_reset = g.nonce.is_empty();
    let fields = auth_ticket_fields(
        g.timeout,
        expires_on_reset,
        g.epoch,
        g.cp_hash,
        g.policy_ref,
        g.name,
    );
    let ticket = ctx.engine.make_ticket(g.tag, g.hierarchy, &[&fields]);
    let flag = if expires_on_reset {
        EXPIRES_ON_RESET
    } else {
        0
    };
    ctx.out.tpm2b(&(g.timeout | flag).to_be_bytes());
    ticket.marshal(&mut ctx.out);
}

/// TPM2_PolicySigned (Part 3, 23.3): an authority proves its consent by
/// signing aHash = H_sig(nonceTPM || expiration || cpHashA || policyRef) with
/// the key loaded as authObject; the policy is bound to the key's Name and
/// policyRef. A trial session checks nothing (not even the signature). A
/// negative expiration returns a TPM_ST_AUTH_SIGNED ticket for PolicyTicket.
///
/// As in the reference, the key's sign attribute is not required: only a
/// holder of the private key can produce a signature that verifies.
pub fn policy_signed(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let nonce = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let cp_hash = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let policy_ref = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let expiration = ctx.params.read::<TpmInt32>()?.value();
    let auth = ctx.params.read_struct(|r| Signature::parse(r, false))?;
    ctx.params.finish()?;
    let auth_object = ctx.handles[0];
    let AuthStart {
        name,
        hierarchy,
        trial,
        timeout,
        epoch,
    } = authorization_start(ctx, auth_object, expiration, nonce, cp_hash)?;
    if !trial {
        // The signature's own hash makes aHash.
        let hash = HashAlg::from_alg_id(auth.hash()).ok_or(Rc::SCHEME.param(5))?;
        let a_hash = hash.digest(&[nonce, &expiration.to_be_bytes(), cp_hash, policy_ref]);
        let key = ctx.engine.object_or_err(auth_object)?;
        ctx.engine
            .verify_signature(key, a_hash.as_bytes(), &auth)
            .map_err(|rc| rc.param(5))?;
    }
    let s = session_at(ctx, 1)?;
    context_update(s, CC_POLICY_SIGNED, &name, policy_ref, cp_hash, timeout);
    let grant = AuthGrant {
        tag: ST_AUTH_SIGNED,
        hierarchy,
        timeout,
        epoch,
        nonce,
        cp_hash,
        policy_ref,
        name: &name,
    };
    write_auth_ticket(ctx, &grant, expiration < 0 && !trial);
    Ok(())
}

/// Reads a TPMT_TK_AUTH of either kind (TPM_ST_AUTH_SECRET from PolicySecret,
/// TPM_ST_AUTH_SIGNED from PolicySigned).
fn read_auth_ticket(r: &mut Reader<'_>) -> Result<Ticket, Rc> {
    let tag = Reader::new(r.rest).u16()?;
    if tag != ST_AUTH_SECRET && tag != ST_AUTH_SIGNED {
        return Err(Rc::TAG);
    }
    Ticket::parse(r, tag)
}

/// TPM2_PolicyTicket (Part 3, 23.5): a ticket stands in for an earlier
/// PolicySecret or PolicySigned authorization, until its timeout.
pub fn policy_ticket(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let timeout_buf = ctx.params.read_2b(TIMEOUT_SIZE)?;
    let cp_hash = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let policy_ref = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let auth_name = ctx.params.read_2b(MAX_NAME_SIZE)?;
    let ticket = ctx.params.read_struct(read_auth_ticket)?;
    ctx.params.finish()?;
    let now = ctx.engine.tpm_time(ctx.platform.monotonic_ms());
    let epoch = ctx.engine.time_epoch();
    let s = policy_session(ctx)?;
    // A trial session has no use for a ticket: it would give the
    // authorization the ticket replaces (Part 3, 23.5).
    if s.kind == SE_TRIAL {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let raw: [u8; TIMEOUT_SIZE] = timeout_buf.try_into().map_err(|_| Rc::SIZE.param(1))?;
    let raw = u64::from_be_bytes(raw);
    let expires_on_reset = raw & EXPIRES_ON_RESET != 0;
    let timeout = raw & !EXPIRES_ON_RESET;
    let blame = Blame {
        nonce: 0,
        cp_hash: 2,
        expiration: 1,
    };
    parameter_checks(s, now, epoch, timeout, cp_hash, &[], &blame)?;
    let fields = auth_ticket_fields(
        timeout,
        expires_on_reset,
        epoch,
        cp_hash,
        policy_ref,
        auth_name,
    );
    if !ctx.engine.ticket_valid(&ticket, &[&fields]) {
        return Err(Rc::TICKET.param(5));
    }
    let cc = if ticket.tag == ST_AUTH_SIGNED {
        CC_POLICY_SIGNED
    } else {
        CC_POLICY_SECRET
    };
    let s = policy_session(ctx)?;
    context_update(s, cc, auth_name, policy_ref, cp_hash, timeout);
    Ok(())
}

/// TPM2_PolicyOR (Part 3, 23.6): the current digest must be one of the list
/// (any, in a trial session); then policyDigest := H(0 || cc || digests).
pub fn policy_or(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let list = ctx.params.read_struct(|r| {
        let count = r.u32()?;
        // TPML_DIGEST of PolicyOR: two to eight digests.
        if !(2..=8).contains(&count) {
            return Err(Rc::SIZE);
        }
        (0..count)
            .map(|_| r.tpm2b(MAX_DIGEST_SIZE))
            .collect::<Result<Vec<&[u8]>, Rc>>()
    })?;
    ctx.params.finish()?;
    let s = policy_session(ctx)?;
    if s.kind != SE_TRIAL && !list.contains(&s.policy.digest.as_slice()) {
        return Err(Rc::VALUE.param(1));
    }
    s.policy.digest.fill(0);
    let cc = CC_POLICY_OR.to_be_bytes();
    let mut parts: Vec<&[u8]> = alloc::vec![&cc];
    parts.extend_from_slice(&list);
    extend(s, &parts);
    Ok(())
}

/// TPM2_PolicyPCR (Part 3, 23.7): policyDigest := H(policyDigest || cc ||
/// pcrs || pcrDigest) where pcrDigest is of the current PCR values (the
/// caller's, when given, must equal it); PCR changes afterwards fail the
/// authorization (TPM_RC_PCR_CHANGED).
pub fn policy_pcr(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let digest_in = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let before = ctx.params.peek();
    let selections = crate::families::pcr::read_selections(ctx)?;
    // The selection is hashed as sent.
    let pcrs = before
        .get(..before.len() - ctx.params.peek().len())
        .unwrap_or_default();
    ctx.params.finish()?;
    let counter = ctx.engine.pcr_update_counter;
    let alg = policy_session(ctx)?.auth_hash;
    // PCRComputeCurrentDigest: the allocated selected PCRs' values, hashed.
    let current = ctx
        .engine
        .pcr_digest(alg, &selections)
        .1
        .as_bytes()
        .to_vec();
    let s = policy_session(ctx)?;
    let trial = s.kind == SE_TRIAL;
    let digest = if trial {
        if digest_in.is_empty() {
            current
        } else {
            digest_in.to_vec()
        }
    } else {
        if s.policy.pcr_counter.is_some_and(|c| c != counter) {
            return Err(Rc::PCR_CHANGED);
        }
        if !digest_in.is_empty() && digest_in != current.as_slice() {
            return Err(Rc::VALUE.param(1));
        }
        current
    };
    extend(s, &[&CC_POLICY_PCR.to_be_bytes(), pcrs, &digest]);
    if !trial {
        s.policy.pcr_counter = Some(counter);
    }
    Ok(())
}

/// TPM2_PolicyLocality (Part 3, 23.8): the command must come from one of the
/// localities (repeated calls narrow the set; extended localities must agree).
pub fn policy_locality(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let loc = ctx.params.read::<TpmUint8>()?.value();
    ctx.params.finish()?;
    let s = policy_session(ctx)?;
    if loc == 0 {
        return Err(Rc::RANGE.param(1));
    }
    let prev = s.policy.locality.unwrap_or(0);
    if prev != 0 && (prev < 32) != (loc < 32) {
        return Err(Rc::RANGE.param(1));
    }
    let new = if loc < 32 {
        let set = if prev == 0 { 0x1F } else { prev } & loc;
        if set == 0 {
            return Err(Rc::RANGE.param(1));
        }
        set
    } else {
        if prev != 0 && prev != loc {
            return Err(Rc::RANGE.param(1));
        }
        loc
    };
    extend(s, &[&CC_POLICY_LOCALITY.to_be_bytes(), &[loc]]);
    s.policy.locality = Some(new);
    Ok(())
}

/// TPM_EO (Part 2, 6.8): the comparisons of PolicyCounterTimer, PolicyNV and
/// PolicyCapability.
const EO_BITCLEAR: u16 = 0x000B;

/// PolicySptCheckCondition: `a` (TPM data) against `b` (operandB), both
/// big-endian numbers of the same length.
fn check_condition(op: u16, a: &[u8], b: &[u8]) -> bool {
    use core::cmp::Ordering;
    let unsigned = a.cmp(b);
    let signed = match (a.first(), b.first()) {
        (Some(x), Some(y)) if (x ^ y) & 0x80 != 0 => {
            // Different signs: the negative one is smaller.
            if x & 0x80 != 0 {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        _ => unsigned,
    };
    match op {
        0 => unsigned == Ordering::Equal,
        1 => unsigned != Ordering::Equal,
        2 => signed == Ordering::Greater,
        3 => unsigned == Ordering::Greater,
        4 => signed == Ordering::Less,
        5 => unsigned == Ordering::Less,
        6 => signed != Ordering::Less,
        7 => unsigned != Ordering::Less,
        8 => signed != Ordering::Greater,
        9 => unsigned != Ordering::Greater,
        0xA => a.iter().zip(b).all(|(x, y)| x & y == *y),
        EO_BITCLEAR => a.iter().zip(b).all(|(x, y)| x & y == 0),
        _ => false,
    }
}

/// Reads operandB, offset and operation (the first three parameters of
/// PolicyNV, PolicyCounterTimer and PolicyCapability).
fn read_operation<'a>(params: &mut Params<'a>) -> Result<(&'a [u8], u16, u16), Rc> {
    let operand_b = params.read_2b(MAX_DIGEST_SIZE)?;
    let offset = params.read::<TpmUint16>()?.value();
    let operation = params.read::<TpmUint16>()?.value();
    if operation > EO_BITCLEAR {
        return Err(Rc::VALUE.param(3));
    }
    Ok((operand_b, offset, operation))
}

/// TPM2_PolicyCounterTimer (Part 3, 23.10): compares operandB with the bytes
/// of TPMS_TIME_INFO at offset; args = H(operandB || offset || operation).
pub fn policy_counter_timer(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let (operand_b, offset, operation) = read_operation(&mut ctx.params)?;
    ctx.params.finish()?;
    let info = ctx.engine.time_info(ctx.platform.monotonic_ms());
    // The bounds are checked in trial sessions too: the policy would make no sense.
    let start = usize::from(offset);
    if start > TIME_INFO_SIZE {
        return Err(Rc::VALUE.param(2));
    }
    if start + operand_b.len() > TIME_INFO_SIZE {
        return Err(Rc::RANGE);
    }
    let s = policy_session(ctx)?;
    if s.kind != SE_TRIAL {
        let a = info.get(start..start + operand_b.len()).ok_or(Rc::RANGE)?;
        if !check_condition(operation, a, operand_b) {
            return Err(Rc::POLICY);
        }
    }
    let args = s
        .auth_hash
        .digest(&[operand_b, &offset.to_be_bytes(), &operation.to_be_bytes()]);
    extend(
        s,
        &[&CC_POLICY_COUNTER_TIMER.to_be_bytes(), args.as_bytes()],
    );
    Ok(())
}

/// TPM2_PolicyNV (Part 3, 23.9): compares operandB with the octets of NV
/// index nvIndex at offset, read under authHandle's authorization (the NV
/// read rules); policyDigest := H(policyDigest || TPM_CC_PolicyNV ||
/// H(operandB || offset || operation) || nvIndex Name). A trial session
/// reads nothing.
pub fn policy_nv(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let (operand_b, offset, operation) = read_operation(&mut ctx.params)?;
    ctx.params.finish()?;
    let [auth_handle, nv_handle, _] = ctx.handles;
    let name = ctx
        .engine
        .nv_accessible(nv_handle)
        .map_err(|rc| rc.handle(2))?
        .name();
    if session_at(ctx, 2)?.kind != SE_TRIAL {
        let holds = ctx
            .engine
            .nv_read_for_policy(auth_handle, nv_handle, offset, operand_b.len())
            .map(|a| check_condition(operation, a, operand_b))
            // As the reference: an operand running past the data is a bad
            // operandB (TPM_RC_SIZE), not TPM_RC_NV_RANGE.
            .map_err(|rc| match rc {
                Rc::VALUE => Rc::VALUE.param(2),
                Rc::NV_RANGE => Rc::SIZE.param(1),
                rc => rc,
            })?;
        if !holds {
            return Err(Rc::POLICY);
        }
    }
    let s = session_at(ctx, 2)?;
    let args = s
        .auth_hash
        .digest(&[operand_b, &offset.to_be_bytes(), &operation.to_be_bytes()]);
    extend(s, &[&CC_POLICY_NV.to_be_bytes(), args.as_bytes(), &name]);
    Ok(())
}

/// TPM2_PolicyNvWritten (Part 3, 23.22): the session may authorize only an
/// NV index whose TPMA_NV_WRITTEN equals writtenSet (checked when it is
/// used); asking for both states is TPM_RC_VALUE.
pub fn policy_nv_written(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    // TPMI_YES_NO.
    let written_set = ctx.params.read::<TpmUint8>()?.value();
    if written_set > 1 {
        return Err(Rc::VALUE.param(1));
    }
    ctx.params.finish()?;
    let s = policy_session(ctx)?;
    let want = written_set == 1;
    if s.policy.nv_written.is_some_and(|w| w != want) {
        return Err(Rc::VALUE.param(1));
    }
    extend(s, &[&CC_POLICY_NV_WRITTEN.to_be_bytes(), &[written_set]]);
    s.policy.nv_written = Some(want);
    Ok(())
}

/// TPM2_PolicyAuthorizeNV (Part 3, 23.23): NV index nvIndex holds a TPMT_HA,
/// the approved policy; the policy built so far must be it. The digest then
/// starts again from zero and binds the index's Name only, so whoever may
/// write the index can replace the approved policy without changing the
/// objects that use this one.
pub fn policy_authorize_nv(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let [auth_handle, nv_handle, _] = ctx.handles;
    let index = ctx
        .engine
        .nv_accessible(nv_handle)
        .map_err(|rc| rc.handle(2))?;
    let name = index.name();
    let s = session_at(ctx, 2)?;
    let (trial, alg, current) = (s.kind == SE_TRIAL, s.auth_hash, s.policy.digest.clone());
    if !trial {
        let index = ctx.engine.nv_accessible(nv_handle)?;
        ctx.engine.nv_read_access(auth_handle, index)?;
        // The index's octets unmarshaled as a TPMT_HA (no TPM_ALG_NULL).
        let mut r = Reader::new(&index.data);
        let hash = HashAlg::from_alg_id(r.u16()?).ok_or(Rc::HASH)?;
        let approved = r.bytes(hash.digest_size())?;
        if hash != alg {
            return Err(Rc::HASH);
        }
        if !ct_eq(approved, &current) {
            return Err(Rc::VALUE);
        }
    }
    let s = session_at(ctx, 2)?;
    s.policy.digest.fill(0);
    extend(s, &[&CC_POLICY_AUTHORIZE_NV.to_be_bytes(), &name]);
    Ok(())
}

/// TPM2_PolicyCommandCode (Part 3, 23.11): the session authorizes only `code`.
pub fn policy_command_code(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let code = ctx.params.read::<TpmUint32>()?.value();
    ctx.params.finish()?;
    let s = policy_session(ctx)?;
    if s.policy.command_code.is_some_and(|c| c != code) {
        return Err(Rc::VALUE.param(1));
    }
    if crate::table::lookup(code).is_none() {
        return Err(Rc::POLICY_CC.param(1));
    }
    extend(
        s,
        &[&CC_POLICY_COMMAND_CODE.to_be_bytes(), &code.to_be_bytes()],
    );
    s.policy.command_code = Some(code);
    Ok(())
}

/// TPM2_PolicyPhysicalPresence (Part 3, 23.13): the authorized command needs
/// physical presence.
pub fn policy_physical_presence(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let s = policy_session(ctx)?;
    extend(s, &[&CC_POLICY_PHYSICAL_PRESENCE.to_be_bytes()]);
    s.policy.pp_required = true;
    Ok(())
}

/// A cpHashA / nameHash / templateHash / pHash parameter: one digest of the
/// session's hash (TPM_RC_SIZE otherwise).
fn read_session_digest<'a>(ctx: &mut Ctx<'a>) -> Result<&'a [u8], Rc> {
    let d = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    ctx.params.finish()?;
    Ok(d)
}

/// TPM2_PolicyCpHash (Part 3, 23.14): the command's cpHash must be cpHashA.
pub fn policy_cp_hash(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let cp_hash = read_session_digest(ctx)?;
    let s = policy_session(ctx)?;
    if cp_hash.len() != s.auth_hash.digest_size() {
        return Err(Rc::SIZE.param(1));
    }
    if s.policy
        .bound_hash
        .as_ref()
        .is_some_and(|(k, v)| *k != BoundHash::Cp || v.as_slice() != cp_hash)
    {
        return Err(Rc::CPHASH);
    }
    extend(s, &[&CC_POLICY_CP_HASH.to_be_bytes(), cp_hash]);
    s.policy.bound_hash = Some((BoundHash::Cp, cp_hash.to_vec()));
    Ok(())
}

/// Binds a digest into the session's free cpHash slot (TPM_RC_CPHASH when taken).
fn bind_once(s: &mut Session, cc: u32, kind: BoundHash, digest: &[u8]) -> Result<(), Rc> {
    if digest.len() != s.auth_hash.digest_size() {
        return Err(Rc::SIZE.param(1));
    }
    if s.policy.bound_hash.is_some() {
        return Err(Rc::CPHASH);
    }
    extend(s, &[&cc.to_be_bytes(), digest]);
    s.policy.bound_hash = Some((kind, digest.to_vec()));
    Ok(())
}

/// TPM2_PolicyNameHash (Part 3, 23.15): the Names of the command's handles
/// must hash to nameHash.
pub fn policy_name_hash(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let name_hash = read_session_digest(ctx)?;
    let s = policy_session(ctx)?;
    bind_once(s, CC_POLICY_NAME_HASH, BoundHash::Name, name_hash)
}

/// TPM2_PolicyDuplicationSelect (Part 3, 23.16): the session authorizes
/// Duplicate of objectName to newParentName only.
pub fn policy_duplication_select(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let object_name = ctx.params.read_2b(MAX_NAME_SIZE)?;
    let new_parent = ctx.params.read_2b(MAX_NAME_SIZE)?;
    let include = ctx.params.read::<TpmUint8>()?.value();
    if include > 1 {
        return Err(Rc::VALUE.param(3));
    }
    ctx.params.finish()?;
    let s = policy_session(ctx)?;
    if s.policy.bound_hash.is_some() {
        return Err(Rc::CPHASH);
    }
    if s.policy.command_code.is_some() {
        return Err(Rc::COMMAND_CODE);
    }
    let name_hash = s.auth_hash.digest(&[object_name, new_parent]);
    let object: &[u8] = if include == 1 { object_name } else { &[] };
    extend(
        s,
        &[
            &CC_POLICY_DUPLICATION_SELECT.to_be_bytes(),
            object,
            new_parent,
            &[include],
        ],
    );
    s.policy.bound_hash = Some((BoundHash::Name, name_hash.as_bytes().to_vec()));
    s.policy.command_code = Some(CC_DUPLICATE);
    Ok(())
}

/// TPM2_PolicyAuthorize (Part 3, 23.16): the policy built so far
/// (approvedPolicy) was approved by the authority keySign, proven by a
/// TPMT_TK_VERIFIED from VerifySignature over aHash = H_nameAlg(approvedPolicy
/// || policyRef) with keySign's nameAlg. The digest then starts again from
/// zero and binds keySign and policyRef only, so the authority can approve
/// new policies without changing the objects that use this one.
pub fn policy_authorize(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let approved = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let policy_ref = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let key_sign = ctx.params.read_2b(MAX_NAME_SIZE)?;
    let check = ctx.params.read_struct(|r| Ticket::parse(r, ST_VERIFIED))?;
    ctx.params.finish()?;
    // keySign must be a digest Name (checked in trial sessions too): its
    // nameAlg is the hash of aHash.
    let hash = crate::codec::be_u16(key_sign, 0)
        .and_then(HashAlg::from_alg_id)
        .ok_or(Rc::HASH.param(3))?;
    if key_sign.len() != 2 + hash.digest_size() {
        return Err(Rc::SIZE.param(3));
    }
    let s = policy_session(ctx)?;
    if s.kind != SE_TRIAL {
        if s.policy.digest.as_slice() != approved {
            return Err(Rc::VALUE.param(1));
        }
        let a_hash = hash.digest(&[approved, policy_ref]);
        // A NULL ticket never verifies; VerifySignature makes no ticket in
        // the NULL hierarchy, so none from there is genuine.
        let genuine = check.hierarchy != RH_NULL
            && ctx
                .engine
                .ticket_valid(&check, &[a_hash.as_bytes(), key_sign]);
        if !genuine {
            return Err(Rc::VALUE.param(4));
        }
    }
    let s = policy_session(ctx)?;
    s.policy.digest.fill(0);
    context_update(s, CC_POLICY_AUTHORIZE, key_sign, policy_ref, &[], 0);
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

/// TPM2_PolicyPassword (Part 3, 23.18): the authValue is sent in the clear in
/// the HMAC field. The digest is that of PolicyAuthValue: a policy does not
/// say how the authValue is proven.
pub fn policy_password(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let s = policy_session(ctx)?;
    extend(s, &[&CC_POLICY_AUTH_VALUE.to_be_bytes()]);
    s.policy.password_needed = true;
    s.policy.auth_value_needed = false;
    Ok(())
}

/// TPM2_PolicyGetDigest (Part 3, 23.19).
pub fn policy_get_digest(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    let digest = policy_session(ctx)?.policy.digest.clone();
    ctx.out.tpm2b(&digest);
    Ok(())
}

/// TPM2_PolicyRestart (Part 3, 23.20): back to a zero digest and no deferred
/// checks.
pub fn policy_restart(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    ctx.params.finish()?;
    policy_session(ctx)?.policy.restart();
    Ok(())
}

/// TPM2_PolicyTemplate (Part 3, 23.21): Create, CreatePrimary or
/// CreateLoaded only with the template that hashes to templateHash.
pub fn policy_template(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let template_hash = read_session_digest(ctx)?;
    let s = policy_session(ctx)?;
    match &s.policy.bound_hash {
        Some((BoundHash::Template, v)) if v.as_slice() != template_hash => {
            return Err(Rc::VALUE.param(1));
        }
        Some((BoundHash::Template, _)) | None => {}
        Some(_) => return Err(Rc::CPHASH),
    }
    if template_hash.len() != s.auth_hash.digest_size() {
        return Err(Rc::SIZE.param(1));
    }
    extend(s, &[&CC_POLICY_TEMPLATE.to_be_bytes(), template_hash]);
    s.policy.bound_hash = Some((BoundHash::Template, template_hash.to_vec()));
    Ok(())
}

/// The marshaled entry of a capability for exactly `property`, if the TPM has
/// one (what PolicyCapability compares against): GetCapability with count 1,
/// kept only when the entry it returns is the one asked for.
fn one_capability(ctx: &mut Ctx<'_>, cap: u32, property: u32) -> Result<Option<Vec<u8>>, Rc> {
    const CAP_HANDLES: u32 = 1;
    const CAP_PCRS: u32 = 5;
    const CAP_AUTH_POLICIES: u32 = 9;
    const CAP_ACT: u32 = 10;
    const RH_ACT_0: u32 = 0x4000_0110;
    const RH_ACT_F: u32 = 0x4000_011F;
    // PCRS always answers with every bank: it cannot be asserted on.
    if cap == CAP_PCRS || cap > CAP_ACT {
        return Err(Rc::VALUE.param(4));
    }
    if cap == CAP_AUTH_POLICIES && (property >> 24) as u8 != HT_PERMANENT {
        return Err(Rc::VALUE.param(5));
    }
    if cap == CAP_ACT && !(RH_ACT_0..=RH_ACT_F).contains(&property) {
        return Err(Rc::VALUE.param(5));
    }
    let mut query = Out::new();
    query.u32(cap).u32(property).u32(1);
    let query = query.into_vec();
    let mut sub = Ctx {
        engine: &mut *ctx.engine,
        platform: &mut *ctx.platform,
        locality: ctx.locality,
        handles: [0; 3],
        params: Params::new(&query),
        out: Out::new(),
        response_handle: None,
    };
    crate::families::capability::get_capability(&mut sub).map_err(|rc| {
        if cap == CAP_HANDLES {
            Rc::HANDLE.param(5)
        } else {
            rc
        }
    })?;
    let answer = sub.out.into_vec();
    // moreData, capability, count, then the entries.
    let mut r = Reader::new(answer.get(5..).unwrap_or_default());
    if r.u32()? == 0 {
        return Ok(None);
    }
    let entry = r.rest;
    let mut e = Reader::new(entry);
    let (key, len) = match cap {
        0 => (u32::from(e.u16()?), 6),
        6 | 7 => (e.u32()?, 8),
        8 => (u32::from(e.u16()?), 2),
        CAP_AUTH_POLICIES => {
            let h = e.u32()?;
            let alg = e.u16()?;
            let size = vtpm_crypto::HashAlg::from_alg_id(alg).map_or(0, |a| a.digest_size());
            (h, 6 + size)
        }
        2 => (e.u32()? & 0xFFFF, 4),
        _ => (e.u32()?, if cap == CAP_ACT { 16 } else { 4 }),
    };
    let wanted = if cap == 2 {
        property & 0xFFFF
    } else {
        property
    };
    if key != wanted || (cap == 2 && property > 0xFFFF) {
        return Ok(None);
    }
    Ok(entry.get(..len).map(<[u8]>::to_vec))
}

/// TPM2_PolicyCapability (Part 3, 23.23 of the newest revisions): compares
/// operandB with the capability entry for `property` at offset; a missing
/// entry satisfies only TPM_EO_NEQ. args = H(operandB || offset || operation
/// || capability || property).
pub fn policy_capability(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let (operand_b, offset, operation) = read_operation(&mut ctx.params)?;
    let cap = ctx.params.read::<TpmUint32>()?.value();
    let property = ctx.params.read::<TpmUint32>()?.value();
    ctx.params.finish()?;
    if policy_session(ctx)?.kind != SE_TRIAL {
        match one_capability(ctx, cap, property)? {
            None if operation != 1 => return Err(Rc::POLICY),
            None => {}
            Some(data) => {
                let start = usize::from(offset);
                if start > data.len() {
                    return Err(Rc::VALUE.param(2));
                }
                let a = data
                    .get(start..start + operand_b.len())
                    .ok_or(Rc::SIZE.param(1))?;
                if !check_condition(operation, a, operand_b) {
                    return Err(Rc::POLICY);
                }
            }
        }
    }
    let s = policy_session(ctx)?;
    let args = s.auth_hash.digest(&[
        operand_b,
        &offset.to_be_bytes(),
        &operation.to_be_bytes(),
        &cap.to_be_bytes(),
        &property.to_be_bytes(),
    ]);
    extend(s, &[&CC_POLICY_CAPABILITY.to_be_bytes(), args.as_bytes()]);
    Ok(())
}

/// TPM2_PolicyParameters (Part 3, 23.24 of the newest revisions): the
/// command's parameters must hash to pHash = H(commandCode || parameters).
pub fn policy_parameters(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let p_hash = read_session_digest(ctx)?;
    let s = policy_session(ctx)?;
    bind_once(s, CC_POLICY_PARAMETERS, BoundHash::Params, p_hash)
}
