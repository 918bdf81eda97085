//! Hash/MAC/event sequences and the one-shot MAC (Part 3, sections 15.5-15.6
//! and 17): HMAC/MAC, HMAC_Start/MAC_Start, HashSequenceStart, SequenceUpdate, SequenceComplete,
//! EventSequenceComplete. Sequence objects themselves are in [`crate::sequence`].

use alloc::vec::Vec;
use tpm2_protocol::basic::{TpmUint16, TpmUint32};
use vtpm_crypto::{CmacState, HashAlg, Hasher, HmacState};

use crate::consts::{MAX_DIGEST_SIZE, RH_ENDORSEMENT, RH_NULL, RH_OWNER, RH_PLATFORM};
use crate::object::alg;
use crate::object::public::{Parms, RESTRICTED, SIGN};
use crate::pipeline::Ctx;
use crate::rc::{Rc, ValueKind};
use crate::secret::Secret;
use crate::sequence::{SeqState, SequenceObject, ticket_is_safe};
use crate::ticket::{ST_HASHCHECK, Ticket};

/// TPM2B_MAX_BUFFER (MAX_DIGEST_BUFFER).
const MAX_BUFFER: usize = 1024;

/// TPMI_ALG_HASH+: a hash, or None for TPM_ALG_NULL (TPM_RC_HASH otherwise).
fn read_hash_or_null(ctx: &mut Ctx<'_>) -> Result<Option<HashAlg>, Rc> {
    let id = ctx.params.read_as::<TpmUint16>(ValueKind::Hash)?.value();
    if id == alg::NULL {
        return Ok(None);
    }
    HashAlg::from_alg_id(id)
        .map(Some)
        .ok_or(Rc::HASH.param(ctx.params.index()))
}

/// TPMI_ALG_MAC_SCHEME+: a hash, TPM_ALG_CMAC or TPM_ALG_NULL; anything else
/// is TPM_RC_SYMMETRIC, the type's unmarshaling code (Part 2).
fn read_mac_scheme(ctx: &mut Ctx<'_>) -> Result<u16, Rc> {
    let id = ctx.params.read_as::<TpmUint16>(ValueKind::Hash)?.value();
    if id == alg::NULL || id == alg::CMAC || HashAlg::from_alg_id(id).is_some() {
        Ok(id)
    } else {
        Err(Rc::SYMMETRIC.param(ctx.params.index()))
    }
}

/// The MAC state for the key under handle 1 (the reference's CryptSelectMac,
/// then its attribute checks, in that order; `scheme_param` is the number
/// of the inScheme parameter):
/// - the key's own MAC algorithm is its HMAC scheme's hash (keyed-hash key)
///   or its symmetric mode (symmetric key), NULL when it has none;
/// - a requested algorithm must match a non-NULL own one (TPM_RC_VALUE); a
///   NULL request takes the key's, which must then exist (TPM_RC_VALUE);
/// - the result must suit the key type: a hash for a keyed-hash key, CMAC for
///   a symmetric key (TPM_RC_SCHEME);
/// - the key must be an unrestricted signing key.
fn mac_key(ctx: &Ctx<'_>, requested: u16, scheme_param: usize) -> Result<SeqState, Rc> {
    if ctx.engine.sequence(ctx.handles[0]).is_some() {
        // A sequence object has type TPM_ALG_NULL in the reference.
        return Err(Rc::TYPE.handle(1));
    }
    let key = ctx.engine.object_or_err(ctx.handles[0])?;
    let own = match &key.public.parms {
        Parms::KeyedHash { scheme } if scheme.scheme != alg::NULL => scheme.hash,
        Parms::SymCipher { sym } if sym.alg != alg::NULL => sym.mode,
        Parms::KeyedHash { .. } | Parms::SymCipher { .. } => alg::NULL,
        _ => return Err(Rc::TYPE.handle(1)),
    };
    let mac = if requested != alg::NULL {
        if own != alg::NULL && own != requested {
            return Err(Rc::VALUE.param(scheme_param));
        }
        requested
    } else if own == alg::NULL {
        return Err(Rc::VALUE.param(scheme_param));
    } else {
        own
    };
    let symmetric = key.public.object_type == alg::SYMCIPHER;
    let hash = HashAlg::from_alg_id(mac);
    if (symmetric && mac != alg::CMAC) || (!symmetric && hash.is_none()) {
        return Err(Rc::SCHEME.param(scheme_param));
    }
    if key.public.has(RESTRICTED) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if !key.public.has(SIGN) {
        return Err(Rc::KEY.handle(1));
    }
    let secret = key.sensitive.as_ref().ok_or(Rc::KEY.handle(1))?;
    match hash {
        Some(h) => Ok(SeqState::Hmac(HmacState::new(h, secret.secret.as_bytes()))),
        // An AES key of another size would not have loaded.
        None => CmacState::new(secret.secret.as_bytes())
            .map(SeqState::Cmac)
            .map_err(|_| Rc::KEY.handle(1)),
    }
}

/// TPM2_MAC (Part 3, 15.6; same command code as TPM2_HMAC, 15.5, which it
/// generalizes): the HMAC of `buffer` with a keyed-hash key, or its AES-CMAC
/// with a symmetric key.
pub fn hmac(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let data = ctx.params.read_2b(MAX_BUFFER)?;
    let requested = read_mac_scheme(ctx)?;
    ctx.params.finish()?;
    match mac_key(ctx, requested, 2)? {
        SeqState::Hmac(mut state) => {
            state.update(data);
            ctx.out.tpm2b(state.finalize().as_bytes());
        }
        SeqState::Cmac(mut state) => {
            state.update(data);
            ctx.out.tpm2b(&state.finalize());
        }
        _ => return Err(Rc::FAILURE),
    }
    Ok(())
}

/// TPM2_MAC_Start (Part 3, 17.3; same command code as TPM2_HMAC_Start, 17.2):
/// an HMAC or AES-CMAC sequence keyed by a loaded key; `auth` authorizes the
/// sequence's later use.
pub fn hmac_start(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let auth = Secret::new(ctx.params.read_2b(MAX_DIGEST_SIZE)?);
    let requested = read_mac_scheme(ctx)?;
    ctx.params.finish()?;
    let state = mac_key(ctx, requested, 2)?;
    start(ctx, auth, state)
}

/// TPM2_HashSequenceStart (Part 3, 17.3): a hash sequence, or with
/// TPM_ALG_NULL an event sequence hashing with every implemented algorithm.
pub fn hash_sequence_start(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let auth = Secret::new(ctx.params.read_2b(MAX_DIGEST_SIZE)?);
    let hash = read_hash_or_null(ctx)?;
    ctx.params.finish()?;
    let state = match hash {
        Some(h) => SeqState::Hash {
            hasher: Hasher::new(h),
            first_block: false,
            ticket_safe: false,
        },
        None => SeqState::Event(HashAlg::ALL.iter().map(|a| Hasher::new(*a)).collect()),
    };
    start(ctx, auth, state)
}

fn start(ctx: &mut Ctx<'_>, auth: Secret, state: SeqState) -> Result<(), Rc> {
    let handle = ctx.engine.load_sequence(SequenceObject {
        handle: 0,
        auth,
        state,
    })?;
    ctx.response_handle = Some(handle);
    Ok(())
}

/// TPM2_SequenceUpdate (Part 3, 17.4): more data for any kind of sequence.
pub fn sequence_update(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let data = ctx.params.read_2b(MAX_BUFFER)?;
    ctx.params.finish()?;
    let seq = ctx
        .engine
        .sequence_mut(ctx.handles[0])
        .ok_or(Rc::MODE.handle(1))?;
    seq.update(data);
    Ok(())
}

/// TPMI_RH_HIERARCHY+ (TPM_RC_VALUE otherwise).
fn read_hierarchy(ctx: &mut Ctx<'_>) -> Result<u32, Rc> {
    let h = ctx.params.read::<TpmUint32>()?.value();
    if matches!(h, RH_OWNER | RH_ENDORSEMENT | RH_PLATFORM | RH_NULL) {
        Ok(h)
    } else {
        Err(Rc::VALUE.param(ctx.params.index()))
    }
}

/// TPM2_SequenceComplete (Part 3, 17.5): the last data, then the digest with a
/// TPMT_TK_HASHCHECK of `hierarchy` (a NULL ticket for the NULL hierarchy, or
/// when the first block was not safe: shorter than, or starting with,
/// TPM_GENERATED_VALUE), or the HMAC with a NULL ticket. The sequence is flushed.
pub fn sequence_complete(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let data = ctx.params.read_2b(MAX_BUFFER)?;
    let hierarchy = read_hierarchy(ctx)?;
    ctx.params.finish()?;
    let handle = ctx.handles[0];
    if !matches!(
        ctx.engine.sequence(handle).map(|s| &s.state),
        Some(SeqState::Hash { .. } | SeqState::Hmac(_) | SeqState::Cmac(_))
    ) {
        return Err(Rc::MODE.handle(1));
    }
    let seq = ctx
        .engine
        .flush_sequence(handle)
        .ok_or(Rc::MODE.handle(1))?;
    let (result, ticket) = match seq.state {
        SeqState::Hash {
            mut hasher,
            first_block,
            ticket_safe,
        } => {
            let safe = if first_block {
                ticket_safe
            } else {
                ticket_is_safe(data)
            };
            hasher.update(data);
            let digest = hasher.finalize();
            let ticket = if hierarchy == RH_NULL || !safe {
                Ticket::null(ST_HASHCHECK)
            } else {
                ctx.engine
                    .make_ticket(ST_HASHCHECK, hierarchy, &[digest.as_bytes()])
            };
            (digest, ticket)
        }
        SeqState::Hmac(mut state) => {
            state.update(data);
            (state.finalize(), Ticket::null(ST_HASHCHECK))
        }
        SeqState::Cmac(mut state) => {
            state.update(data);
            ctx.out.tpm2b(&state.finalize());
            Ticket::null(ST_HASHCHECK).marshal(&mut ctx.out);
            return Ok(());
        }
        SeqState::Event(_) => return Err(Rc::MODE.handle(1)),
    };
    ctx.out.tpm2b(result.as_bytes());
    ticket.marshal(&mut ctx.out);
    Ok(())
}

/// TPM2_EventSequenceComplete (Part 3, 17.6): the last data, then one digest
/// per implemented hash (TPML_DIGEST_VALUES), each extended into the named
/// PCR's bank if that bank is allocated (no PCR for TPM_RH_NULL). The
/// sequence is flushed.
pub fn event_sequence_complete(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let data = ctx.params.read_2b(MAX_BUFFER)?;
    ctx.params.finish()?;
    let [pcr, handle, _] = ctx.handles;
    if !matches!(
        ctx.engine.sequence(handle).map(|s| &s.state),
        Some(SeqState::Event(_))
    ) {
        return Err(Rc::MODE.handle(2));
    }
    if pcr != RH_NULL {
        crate::families::pcr::check_extend_locality(pcr as usize, ctx.locality)?;
    }
    let Some(SequenceObject {
        state: SeqState::Event(hashers),
        ..
    }) = ctx.engine.flush_sequence(handle)
    else {
        return Err(Rc::MODE.handle(2));
    };
    let digests: Vec<_> = hashers
        .into_iter()
        .map(|mut h| {
            h.update(data);
            h.finalize()
        })
        .collect();
    ctx.out.u32(digests.len() as u32);
    for d in &digests {
        ctx.out.u16(d.alg().alg_id()).bytes(d.as_bytes());
    }
    if pcr != RH_NULL {
        for d in &digests {
            ctx.engine.extend_pcr(pcr as usize, d.alg(), d.as_bytes());
        }
        ctx.engine.pcr_changed(pcr as usize);
    }
    Ok(())
}
