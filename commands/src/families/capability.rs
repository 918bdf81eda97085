//! Capability commands (Part 3, section 30): GetCapability, TestParms.
//!
//! Every list is built from what the engine implements (the command table, the
//! hash algorithms of the crypto crate, the PCR attributes), so the answers stay
//! truthful as the engine grows.

use alloc::vec::Vec;
use tpm2_protocol::basic::TpmUint32;
use tpm2_protocol::data::TpmAlgId;
use vtpm_crypto::{EccCurve, HashAlg};

use crate::codec::Out;
use crate::consts::*;
use crate::object::public::{Reader, read_parms};
use crate::object::{MAX_LOADED_OBJECTS, MAX_PERSISTENT_OBJECTS, alg};
use crate::pcr::{ALL_PCRS, NO_INCREMENT, PCR_ATTRIBUTES};
use crate::pipeline::Ctx;
use crate::rc::{Rc, ValueKind};
use crate::table::COMMANDS;

pub const CC_GET_CAPABILITY: u32 = 0x0000_017A;

// TPM_CAP
const CAP_ALGS: u32 = 0;
const CAP_HANDLES: u32 = 1;
const CAP_COMMANDS: u32 = 2;
const CAP_PP_COMMANDS: u32 = 3;
const CAP_AUDIT_COMMANDS: u32 = 4;
const CAP_PCRS: u32 = 5;
const CAP_TPM_PROPERTIES: u32 = 6;
const CAP_PCR_PROPERTIES: u32 = 7;
const CAP_ECC_CURVES: u32 = 8;
const CAP_AUTH_POLICIES: u32 = 9;
const CAP_ACT: u32 = 10;
const HMAC_SESSION_FIRST: u32 = 0x0200_0000;

/// Room for list entries in one answer: MAX_CAP_BUFFER less the capability
/// selector and the list count (Part 2, MAX_CAP_DATA).
const MAX_CAP_DATA: usize = MAX_CAP_BUFFER - 4 - 4;

// TPMA_ALGORITHM
const ALG_ASYMMETRIC: u32 = 0x0001;
const ALG_SYMMETRIC: u32 = 0x0002;
const ALG_HASH: u32 = 0x0004;
const ALG_OBJECT: u32 = 0x0008;
const ALG_SIGNING: u32 = 0x0100;
const ALG_ENCRYPTING: u32 = 0x0200;
const ALG_METHOD: u32 = 0x0400;

/// Algorithms accepted in object templates and their TPMA_ALGORITHM, sorted
/// by TPM_ALG_ID.
fn algorithms() -> Vec<(u16, u32)> {
    let mut algs: Vec<(u16, u32)> = HashAlg::ALL
        .iter()
        .map(|a| (a.alg_id(), ALG_HASH))
        .collect();
    algs.extend_from_slice(&[
        (alg::RSA, ALG_ASYMMETRIC | ALG_OBJECT),
        (alg::HMAC, ALG_HASH | ALG_SIGNING),
        (alg::AES, ALG_SYMMETRIC),
        (alg::MGF1, ALG_HASH | ALG_METHOD),
        (
            alg::KEYEDHASH,
            ALG_HASH | ALG_OBJECT | ALG_SIGNING | ALG_ENCRYPTING,
        ),
        (alg::XOR, ALG_SYMMETRIC | ALG_HASH),
        (alg::RSASSA, ALG_ASYMMETRIC | ALG_SIGNING),
        (alg::RSAES, ALG_ASYMMETRIC | ALG_ENCRYPTING),
        (alg::RSAPSS, ALG_ASYMMETRIC | ALG_SIGNING),
        (alg::OAEP, ALG_ASYMMETRIC | ALG_ENCRYPTING),
        (alg::ECDSA, ALG_ASYMMETRIC | ALG_SIGNING),
        (alg::ECDH, ALG_ASYMMETRIC | ALG_METHOD),
        (alg::ECDAA, ALG_ASYMMETRIC | ALG_SIGNING),
        (alg::ECSCHNORR, ALG_ASYMMETRIC | ALG_SIGNING),
        (alg::KDF1_SP800_56A, ALG_HASH | ALG_METHOD),
        (alg::KDF2, ALG_HASH | ALG_METHOD),
        (alg::KDF1_SP800_108, ALG_HASH | ALG_METHOD),
        (alg::ECC, ALG_ASYMMETRIC | ALG_OBJECT),
        (alg::SYMCIPHER, ALG_OBJECT),
        (alg::CMAC, ALG_SYMMETRIC | ALG_SIGNING),
        (alg::CTR, ALG_SYMMETRIC | ALG_ENCRYPTING),
        (alg::OFB, ALG_SYMMETRIC | ALG_ENCRYPTING),
        (alg::CBC, ALG_SYMMETRIC | ALG_ENCRYPTING),
        (alg::CFB, ALG_SYMMETRIC | ALG_ENCRYPTING),
        (alg::ECB, ALG_SYMMETRIC | ALG_ENCRYPTING),
    ]);
    algs.sort_unstable();
    algs
}

/// The permanent handles (TPM_HT_PERMANENT) this TPM knows.
const PERMANENT_HANDLES: [u32; 7] = [
    RH_OWNER,
    RH_NULL,
    RS_PW,
    RH_LOCKOUT,
    RH_ENDORSEMENT,
    RH_PLATFORM,
    RH_PLATFORM_NV,
];

/// A list answer: entries from the start property on, at most `count` and what
/// fits in MAX_CAP_DATA; moreData says whether entries were left out.
fn write_list<T: Clone>(
    out: &mut Out,
    cap: u32,
    items: &[T],
    count: u32,
    size: usize,
    put: impl Fn(&mut Out, T),
) -> bool {
    let fit = MAX_CAP_DATA / size.max(1);
    let n = items.len().min(count as usize).min(fit);
    let more = n < items.len();
    out.u8(u8::from(more)).u32(cap).u32(n as u32);
    for item in items.iter().take(n) {
        put(out, item.clone());
    }
    more
}

/// TPM2_GetCapability (Part 3, 30.2).
pub fn get_capability(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let now = ctx.engine.clock_now(ctx.platform.monotonic_ms());
    // Self-healing of the DA counter shows in the properties without waiting
    // for the next authorization.
    ctx.engine.da_update(now);
    let cap = ctx.params.read::<TpmUint32>()?.value();
    // TPM_CAP is checked as it is unmarshaled, before the other parameters.
    if cap > CAP_ACT {
        return Err(Rc::VALUE.param(1));
    }
    let property = ctx.params.read::<TpmUint32>()?.value();
    let count = ctx.params.read::<TpmUint32>()?.value();
    ctx.params.finish()?;
    if ctx.engine.failure().is_some() {
        return failure_mode_capability(ctx, cap, property, count);
    }
    let out = &mut ctx.out;
    match cap {
        CAP_ALGS => {
            let algs: Vec<(u16, u32)> = algorithms()
                .into_iter()
                .filter(|(id, _)| u32::from(*id) >= property)
                .collect();
            write_list(out, cap, &algs, count, 6, |o, (id, attrs)| {
                o.u16(id).u32(attrs);
            });
        }
        CAP_HANDLES => {
            let handles = handles_from(ctx.engine, property).ok_or(Rc::HANDLE.param(2))?;
            write_list(out, cap, &handles, count, 4, |o, h| {
                o.u32(h);
            });
        }
        CAP_COMMANDS => {
            let cmds: Vec<u32> = listed_commands()
                .filter(|c| c.cc >= property)
                .map(|c| c.attributes())
                .collect();
            write_list(out, cap, &cmds, count, 4, |o, a| {
                o.u32(a);
            });
        }
        CAP_PP_COMMANDS => {
            // No command requires physical presence.
            write_list::<u32>(out, cap, &[], count, 4, |_, _| {});
        }
        CAP_AUDIT_COMMANDS => {
            // The command audit list (SetCommandCodeAuditStatus is always on it).
            let audited: Vec<u32> = ctx
                .engine
                .perm
                .audit
                .list
                .iter()
                .copied()
                .filter(|cc| *cc >= property)
                .collect();
            write_list(out, cap, &audited, count, 4, |o, cc| {
                o.u32(cc);
            });
        }
        CAP_PCRS => {
            // The whole allocation, regardless of property and count.
            out.u8(0).u32(cap).u32(HashAlg::ALL.len() as u32);
            for (alg, bits) in HashAlg::ALL.iter().zip(ctx.engine.active_allocation) {
                out.u16(alg.alg_id()).u8(PCR_SELECT_MIN as u8);
                out.bytes(bits.to_le_bytes().get(..PCR_SELECT_MIN).unwrap_or_default());
            }
        }
        CAP_TPM_PROPERTIES => {
            // From `property` to the end of its group (fixed 0x1xx or variable
            // 0x2xx), never into the next one (Part 3, 30.2).
            let start = property.max(0x100);
            // Saturating: a property in the last group (0xFFFF_FFxx) would overflow.
            let next_group = (start / 0x100 + 1).saturating_mul(0x100);
            let props: Vec<(u32, u32)> = tpm_properties(ctx.engine)
                .into_iter()
                .filter(|(tag, _)| *tag >= start && *tag < next_group && start < 0x300)
                .collect();
            write_list(out, cap, &props, count, 8, |o, (tag, value)| {
                o.u32(tag).u32(value);
            });
        }
        CAP_PCR_PROPERTIES => {
            let props: Vec<(u32, u32)> = pcr_properties()
                .into_iter()
                .filter(|(tag, _)| *tag >= property)
                .collect();
            write_list(
                out,
                cap,
                &props,
                count,
                4 + 1 + PCR_SELECT_MIN,
                |o, (tag, bits)| {
                    o.u32(tag).u8(PCR_SELECT_MIN as u8);
                    o.bytes(bits.to_le_bytes().get(..PCR_SELECT_MIN).unwrap_or_default());
                },
            );
        }
        CAP_ECC_CURVES => {
            let curves: Vec<u16> = EccCurve::ALL
                .iter()
                .map(|c| c.tpm_id())
                .filter(|id| u32::from(*id) >= property)
                .collect();
            write_list(out, cap, &curves, count, 2, |o, c| {
                o.u16(c);
            });
        }
        CAP_AUTH_POLICIES => {
            let engine = &*ctx.engine;
            let policies: Vec<(u32, crate::hierarchy::Policy)> =
                [RH_OWNER, RH_LOCKOUT, RH_ENDORSEMENT, RH_PLATFORM]
                    .into_iter()
                    .filter(|h| *h >= property)
                    .filter_map(|h| engine.hierarchy_policy(h).map(|p| (h, p.clone())))
                    .collect();
            write_list(
                out,
                cap,
                &policies,
                count,
                4 + 2 + MAX_DIGEST_SIZE,
                |o, (h, p)| {
                    o.u32(h).u16(p.alg);
                    if p.alg != TpmAlgId::Null.value() {
                        o.bytes(&p.digest);
                    }
                },
            );
        }
        CAP_ACT => {
            // No authenticated countdown timer is implemented.
            write_list::<u32>(out, cap, &[], count, 16, |_, _| {});
        }
        _ => return Err(Rc::VALUE.param(1)),
    }
    Ok(())
}

/// Implemented commands of Library 1.83 left out of TPM_CAP_COMMANDS: tss-esapi 7.x
/// fails the whole GetCapability(COMMANDS) on a command code it does not know, so
/// the list keeps to the Library 1.59 commands such clients understand. The commands
/// themselves execute.
const UNLISTED: [u32; 4] = [
    crate::families::nv::CC_NV_DEFINE_SPACE2,
    crate::families::nv::CC_NV_READ_PUBLIC2,
    crate::families::policy::CC_POLICY_CAPABILITY,
    crate::families::policy::CC_POLICY_PARAMETERS,
];

/// The commands TPM_CAP_COMMANDS reports.
fn listed_commands() -> impl Iterator<Item = &'static crate::table::CommandDef> {
    COMMANDS.iter().filter(|c| !UNLISTED.contains(&c.cc))
}

/// Handles of the type named by the top octet of `property`, from `property` on.
fn handles_from(engine: &crate::engine::Engine, property: u32) -> Option<Vec<u32>> {
    let mut all: Vec<u32> = match (property >> 24) as u8 {
        HT_PCR => (0..PCR_COUNT as u32).collect(),
        HT_PERMANENT => PERMANENT_HANDLES.to_vec(),
        // TPM_HT_LOADED_SESSION: every loaded session, HMAC and policy alike.
        // Sessions are listed by slot with the HMAC-session type, whatever
        // their kind (as the reference does).
        HT_HMAC_SESSION => engine
            .sessions
            .iter()
            .map(|s| HMAC_SESSION_FIRST | (s.handle & 0x00FF_FFFF))
            .collect(),
        // TPM_HT_SAVED_SESSION: sessions saved with ContextSave.
        HT_POLICY_SESSION => engine
            .saved_sessions
            .iter()
            .map(|s| HMAC_SESSION_FIRST | (s.0 & 0x00FF_FFFF))
            .collect(),
        HT_TRANSIENT => engine
            .objects
            .iter()
            .map(|o| o.handle)
            .chain(engine.sequences.iter().map(|s| s.handle))
            .collect(),
        HT_PERSISTENT => crate::families::context::persistent_handles(engine),
        HT_NV_INDEX => engine.perm.nv.iter().map(|i| i.public.index).collect(),
        _ => return None,
    };
    all.sort_unstable();
    Some(
        all.into_iter()
            .filter(|h| *h & 0x00FF_FFFF >= property & 0x00FF_FFFF)
            .collect(),
    )
}

/// TPM_PT fixed (0x100) and variable (0x200) properties, sorted by tag.
fn tpm_properties(engine: &crate::engine::Engine) -> Vec<(u32, u32)> {
    let be = |b: &[u8]| -> u32 { b.try_into().map(u32::from_be_bytes).unwrap_or(0) };
    let vendor = |i: usize| be(VENDOR_STRING.get(4 * i..4 * i + 4).unwrap_or_default());
    let commands = listed_commands().count() as u32;
    let loaded = engine.sessions.len() as u32;
    let slots = crate::session::MAX_LOADED_SESSIONS as u32;
    let gc = &engine.gc;
    let startup_clear = u32::from(gc.ph_enable)
        | u32::from(gc.sh_enable) << 1
        | u32::from(gc.eh_enable) << 2
        | u32::from(gc.ph_enable_nv) << 3
        | (u32::from(engine.orderly_startup) << 31);
    let h = &engine.perm.hier;
    let permanent = u32::from(!h.owner_auth.is_empty())
        | u32::from(!h.endorsement_auth.is_empty()) << 1
        | u32::from(!h.lockout_auth.is_empty()) << 2
        | u32::from(h.disable_clear) << 8
        | u32::from(engine.perm.da.in_lockout()) << 9
        | 1 << 10; // tpmGeneratedEPS
    let active_max = crate::session::MAX_ACTIVE_SESSIONS as u32;
    let active = (engine.sessions.len() + engine.saved_sessions.len()) as u32;
    let transient = engine.transient_in_use() as u32;
    let persistent = engine.perm.persistent.len() as u32;
    let transient_slots = MAX_LOADED_OBJECTS as u32;
    let persistent_slots = MAX_PERSISTENT_OBJECTS as u32;
    alloc::vec![
        (0x100, be(b"2.0\0")), // FAMILY_INDICATOR
        (0x101, SPEC_LEVEL),
        (0x102, SPEC_REVISION),
        (0x103, SPEC_DAY_OF_YEAR),
        (0x104, SPEC_YEAR),
        (0x105, be(&MANUFACTURER)),
        (0x106, vendor(0)),
        (0x107, vendor(1)),
        (0x108, vendor(2)),
        (0x109, vendor(3)),
        (0x10A, 0), // VENDOR_TPM_TYPE
        (0x10B, FIRMWARE_VERSION_1),
        (0x10C, FIRMWARE_VERSION_2),
        (0x10D, MAX_DIGEST_BUFFER as u32), // INPUT_BUFFER
        (0x10E, transient_slots),          // HR_TRANSIENT_MIN
        (0x10F, persistent_slots),         // HR_PERSISTENT_MIN
        (0x110, slots),                    // HR_LOADED_MIN
        (0x111, active_max),               // ACTIVE_SESSIONS_MAX
        (0x112, PCR_COUNT as u32),
        (0x113, PCR_SELECT_MIN as u32),
        (0x114, 0xFFFF),                              // CONTEXT_GAP_MAX
        (0x116, 0),                                   // NV_COUNTERS_MAX: no separate limit
        (0x117, crate::nv::MAX_NV_INDEX_SIZE as u32), // NV_INDEX_MAX
        (0x118, 0x0000_0006),                         // MEMORY: sharedNV | objectCopiedToRam
        (0x119, 1 << 22),                             // CLOCK_UPDATE (ms)
        (0x11A, u32::from(HashAlg::Sha256.alg_id())), // CONTEXT_HASH
        (0x11B, 0x0006),                              // CONTEXT_SYM: AES
        (0x11C, 256),                                 // CONTEXT_SYM_SIZE
        (0x11D, 0xFF),                                // ORDERLY_COUNT
        (0x11E, MAX_COMMAND_SIZE as u32),
        (0x11F, MAX_RESPONSE_SIZE as u32),
        (0x120, MAX_DIGEST_SIZE as u32),
        (0x121, 2560),  // MAX_OBJECT_CONTEXT
        (0x122, 512),   // MAX_SESSION_CONTEXT
        (0x123, 1),     // PS_FAMILY_INDICATOR: PC Client
        (0x124, 0),     // PS_LEVEL
        (0x125, 0x105), // PS_REVISION 1.05
        (0x126, 0),
        (0x127, 0),
        (0x128, 0),                                    // SPLIT_MAX: no split operations
        (0x129, commands),                             // TOTAL_COMMANDS
        (0x12A, commands),                             // LIBRARY_COMMANDS
        (0x12B, 0),                                    // VENDOR_COMMANDS
        (0x12C, crate::nv::MAX_NV_BUFFER_SIZE as u32), // NV_BUFFER_MAX
        (0x12D, 0),                                    // MODES
        (0x12E, MAX_CAP_BUFFER as u32),
        (0x200, permanent),                       // PERMANENT
        (0x201, startup_clear),                   // STARTUP_CLEAR: all hierarchies enabled
        (0x202, engine.perm.nv.len() as u32),     // HR_NV_INDEX
        (0x203, loaded),                          // HR_LOADED
        (0x204, slots - loaded),                  // HR_LOADED_AVAIL
        (0x205, active),                          // HR_ACTIVE
        (0x206, active_max - active),             // HR_ACTIVE_AVAIL
        (0x207, transient_slots - transient),     // HR_TRANSIENT_AVAIL
        (0x208, persistent),                      // HR_PERSISTENT
        (0x209, persistent_slots - persistent),   // HR_PERSISTENT_AVAIL
        (0x20A, engine.nv_counters()),            // NV_COUNTERS
        (0x20B, engine.nv_counters_avail()),      // NV_COUNTERS_AVAIL
        (0x20C, 0),                               // ALGORITHM_SET
        (0x20D, EccCurve::ALL.len() as u32),      // LOADED_CURVES
        (0x20E, engine.perm.da.failed_tries),     // LOCKOUT_COUNTER
        (0x20F, engine.perm.da.max_tries),        // MAX_AUTH_FAIL
        (0x210, engine.perm.da.recovery_time),    // LOCKOUT_INTERVAL (s)
        (0x211, engine.perm.da.lockout_recovery), // LOCKOUT_RECOVERY (s)
        (0x212, 0),                               // NV_WRITE_RECOVERY
        (0x213, 0),                               // AUDIT_COUNTER_0
        (0x214, 0),                               // AUDIT_COUNTER_1
    ]
}

/// TPM_PT_PCR properties (Part 2, TPM_PT_PCR) from the PCR attribute table.
fn pcr_properties() -> Vec<(u32, u32)> {
    let select = |f: &dyn Fn(usize) -> bool| -> u32 {
        (0..PCR_COUNT)
            .filter(|n| f(*n))
            .fold(0, |acc, n| acc | (1 << n))
    };
    let attr = |n: usize| PCR_ATTRIBUTES.get(n).copied();
    let mut props = alloc::vec![(0x00, select(&|n| attr(n).is_some_and(|a| a.state_save)))];
    for loc in 0..5u32 {
        let extend = select(&|n| attr(n).is_some_and(|a| a.extend_localities & (1 << loc) != 0));
        let reset = select(&|n| attr(n).is_some_and(|a| a.reset_localities & (1 << loc) != 0));
        props.push((1 + 2 * loc, extend));
        props.push((2 + 2 * loc, reset));
    }
    props.push((0x11, NO_INCREMENT & ALL_PCRS));
    props.push((0x12, select(&|n| (17..=22).contains(&n)))); // DRTM_RESET
    props
}

/// In failure mode only the identity properties are reported (Part 1, 12.x).
fn failure_mode_capability(
    ctx: &mut Ctx<'_>,
    cap: u32,
    property: u32,
    count: u32,
) -> Result<(), Rc> {
    if cap != CAP_TPM_PROPERTIES {
        return Err(Rc::FAILURE);
    }
    let props: Vec<(u32, u32)> = tpm_properties(ctx.engine)
        .into_iter()
        .filter(|(tag, _)| (0x105..=0x10C).contains(tag) && *tag >= property)
        .collect();
    write_list(&mut ctx.out, cap, &props, count, 8, |o, (tag, value)| {
        o.u32(tag).u32(value);
    });
    Ok(())
}

/// TPM2_TestParms (Part 3, 30.3): whether TPMT_PUBLIC_PARMS are supported,
/// with the codes the same parameters would get in a template.
pub fn test_parms(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let object_type = ctx
        .params
        .read_as::<tpm2_protocol::basic::TpmUint16>(ValueKind::Type)?
        .value();
    if !matches!(
        object_type,
        alg::RSA | alg::ECC | alg::KEYEDHASH | alg::SYMCIPHER
    ) {
        return Err(Rc::TYPE.param(1));
    }
    let rest = ctx.params.rest();
    let mut r = Reader::new(rest);
    read_parms(&mut r, object_type).map_err(|rc| rc.param(1))?;
    if !r.is_empty() {
        return Err(Rc::SIZE);
    }
    Ok(())
}
