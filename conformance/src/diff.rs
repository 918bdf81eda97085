//! Differential testing of vtpm against swtpm: the record format written by
//! `vtpm --record`, the per-command masks that say which response fields are comparable
//! between two TPMs, the replay rewriting that makes a recorded stream usable on a TPM
//! other than the one it was recorded on, and the allow-list.
//!
//! # Record format
//!
//! As written by `vtpm socket|mssim --record FILE` (transport/src/record.rs): one
//! exchange per line, `<locality> <command hex> <response hex>`; `#` lines are comments.
//!
//! # What is comparable (the masks)
//!
//! Two TPMs have different seeds, so keys, names derived from keys, nonces, random
//! bytes, tickets (HMACs with a proof value), clock values and context blobs differ.
//! [`compare`] decodes both responses by command code into fields, each with a [`How`]
//! (exactly, by size only, or not at all), and reports every field that differs:
//!
//! - always: the tag and the response code; error responses are compared whole;
//!   response handles exactly (both TPMs allocate 0x80000000.., 0x02000000.., 0x03000000..);
//!   the size fields are implied by the fields; a response that cannot be decoded is
//!   compared whole;
//! - auth area (any command): per session the nonceTPM and the HMAC by size only,
//!   the session attributes exactly;
//! - GetRandom: the size of randomBytes;
//! - PCR_Read: the selection and every digest; not pcrUpdateCounter, whose counting is
//!   the implementation's (libtpms counts per bank and PCR, from 20 after Startup; vtpm
//!   once per command);
//! - GetCapability: moreData and the capability; ALGS, COMMANDS (by commandIndex) and
//!   ECC_CURVES as keyed lists: the entries both list exactly (`algorithms[0017]`), then
//!   the keys only one lists (`algorithms.only_vtpm`, `algorithms.only_swtpm`), so that a
//!   subset can be allow-listed without hiding a wrong attribute; TPM_PROPERTIES likewise
//!   (`properties[PT_..]`, `properties.only_vtpm`) with the values of
//!   [`IDENTITY_PROPERTIES`] (vendor, version, dates) and [`CAPACITY_PROPERTIES`]
//!   (buffer sizes, slot counts, memory) not compared; every other capability exactly;
//! - CreatePrimary: outPublic but its unique field (sizes only), creationData and
//!   creationHash exactly, the creation ticket's tag and hierarchy (its HMAC is over the
//!   proof in the implementation's hash: libtpms SHA-512, vtpm SHA-256), the name's
//!   algorithm and size;
//! - Create: as CreatePrimary, but outPrivate not at all (its layout is the
//!   implementation's; libtpms's blobs are 50 bytes longer than vtpm's), and the
//!   parent's name and
//!   qualified name and the creationHash by size (the parent is a key);
//! - CreateLoaded: outPrivate not at all, outPublic as above, name by size;
//! - Load, LoadExternal: the name's algorithm and size; ReadPublic: outPublic as above,
//!   name and qualifiedName by algorithm and size;
//! - ObjectChangeAuth: outPrivate not at all;
//! - StartAuthSession: the handle, nonceTPM by size;
//! - ContextSave: savedHandle and hierarchy; sequence and blob are not compared;
//! - ReadClock: resetCount, restartCount and safe; time and clock are not compared;
//! - GetTestResult: testResult; outData (vendor-specific) is not compared;
//! - every other command (Startup, PCR_Extend, PolicyGetDigest, Unseal, EvictControl,
//!   HierarchyChangeAuth, TestParms, ...): the whole parameter area.
//!
//! Generated (malformed) commands are compared by response code only
//! ([`compare_codes`]); "none" stands for a connection closed without an answer.
//!
//! # Replay
//!
//! A recorded stream feeds responses back into later commands: context blobs
//! (ContextSave -> ContextLoad), private and public areas (Create -> Load), handles, and
//! session HMACs that cover the TPM's nonces and the names of keys. [`Replay`] rewrites
//! each recorded command for one peer: blobs and handles the recording got are replaced
//! by the ones this peer returned, and the HMAC of every unsalted, unbound HMAC or policy
//! session with SHA-256 and no parameter encryption (what tpm2-tools uses by default) is
//! recomputed from the peer's nonces and names. The authValue is not known to the
//! replayer: it is found by recomputing the recorded HMAC from the recording's own
//! nonces and names with each candidate value (empty, and every authValue the stream
//! set: HierarchyChangeAuth, ObjectChangeAuth, the userAuth of created objects). A
//! session whose recorded HMAC cannot be reproduced so is left as recorded and
//! reported: that command is not replayable. Salted, bound or encrypting sessions are
//! therefore not replayable (none of the committed streams uses one).
//!
//! # Allow-list
//!
//! `conformance/diff-allow.txt`, one entry a line: `<stream>:<key> <reason>`. `stream` is
//! a stream name or a pattern with `*`; `key` is the exchange index (0-based, as
//! printed), the exchange name as printed (e.g. `PCR_Read`, `GetCapability(ALGS)`), in
//! generated streams the case label (e.g. `tag-0x00c1`), or one of those followed by
//! `/<field>` for one differing field (e.g. `GetCapability(ALGS)/algorithms.only_swtpm`).
//! Every differing field of an exchange must be covered for the exchange to be allowed.
//! The reason is mandatory; a reason starting with `BUG` marks a known vtpm bug.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::hex;

// ---------------------------------------------------------------------------------------
// Record format

/// One command and its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub locality: u8,
    pub command: Vec<u8>,
    pub response: Vec<u8>,
}

/// Parses a record file (see the module documentation).
pub fn parse_record(text: &str) -> Result<Vec<Exchange>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split(' ');
        let (Some(loc), Some(cmd), Some(resp), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(format!("line {}: expected 3 fields", n + 1));
        };
        let locality = loc
            .parse::<u8>()
            .map_err(|_| format!("line {}: bad locality {loc:?}", n + 1))?;
        let bad = |what: &str| format!("line {}: bad {what} hex", n + 1);
        let command = crate::unhex(cmd).ok_or_else(|| bad("command"))?;
        let response = if resp.is_empty() {
            Vec::new()
        } else {
            crate::unhex(resp).ok_or_else(|| bad("response"))?
        };
        out.push(Exchange {
            locality,
            command,
            response,
        });
    }
    Ok(out)
}

/// One line of the record format (newline included).
pub fn record_line(e: &Exchange) -> String {
    format!("{} {} {}\n", e.locality, hex(&e.command), hex(&e.response))
}

// ---------------------------------------------------------------------------------------
// Command codes

/// Part 2 command codes: (code, name, handles in the command, handle in the response).
pub static COMMANDS: &[(u32, &str, u8, bool)] = &[
    (0x11F, "NV_UndefineSpaceSpecial", 2, false),
    (0x120, "EvictControl", 2, false),
    (0x121, "HierarchyControl", 1, false),
    (0x122, "NV_UndefineSpace", 2, false),
    (0x124, "ChangeEPS", 1, false),
    (0x125, "ChangePPS", 1, false),
    (0x126, "Clear", 1, false),
    (0x127, "ClearControl", 1, false),
    (0x128, "ClockSet", 1, false),
    (0x129, "HierarchyChangeAuth", 1, false),
    (0x12A, "NV_DefineSpace", 1, false),
    (0x12B, "PCR_Allocate", 1, false),
    (0x12C, "PCR_SetAuthPolicy", 1, false),
    (0x12D, "PP_Commands", 1, false),
    (0x12E, "SetPrimaryPolicy", 1, false),
    (0x12F, "FieldUpgradeStart", 2, false),
    (0x130, "ClockRateAdjust", 1, false),
    (0x131, "CreatePrimary", 1, true),
    (0x132, "NV_GlobalWriteLock", 1, false),
    (0x133, "GetCommandAuditDigest", 2, false),
    (0x134, "NV_Increment", 2, false),
    (0x135, "NV_SetBits", 2, false),
    (0x136, "NV_Extend", 2, false),
    (0x137, "NV_Write", 2, false),
    (0x138, "NV_WriteLock", 2, false),
    (0x139, "DictionaryAttackLockReset", 1, false),
    (0x13A, "DictionaryAttackParameters", 1, false),
    (0x13B, "NV_ChangeAuth", 1, false),
    (0x13C, "PCR_Event", 1, false),
    (0x13D, "PCR_Reset", 1, false),
    (0x13E, "SequenceComplete", 1, false),
    (0x13F, "SetAlgorithmSet", 1, false),
    (0x140, "SetCommandCodeAuditStatus", 1, false),
    (0x141, "FieldUpgradeData", 0, false),
    (0x142, "IncrementalSelfTest", 0, false),
    (0x143, "SelfTest", 0, false),
    (0x144, "Startup", 0, false),
    (0x145, "Shutdown", 0, false),
    (0x146, "StirRandom", 0, false),
    (0x147, "ActivateCredential", 2, false),
    (0x148, "Certify", 2, false),
    (0x149, "PolicyNV", 3, false),
    (0x14A, "CertifyCreation", 2, false),
    (0x14B, "Duplicate", 2, false),
    (0x14C, "GetTime", 2, false),
    (0x14D, "GetSessionAuditDigest", 3, false),
    (0x14E, "NV_Read", 2, false),
    (0x14F, "NV_ReadLock", 2, false),
    (0x150, "ObjectChangeAuth", 2, false),
    (0x151, "PolicySecret", 2, false),
    (0x152, "Rewrap", 2, false),
    (0x153, "Create", 1, false),
    (0x154, "ECDH_ZGen", 1, false),
    (0x155, "HMAC", 1, false),
    (0x156, "Import", 1, false),
    (0x157, "Load", 1, true),
    (0x158, "Quote", 1, false),
    (0x159, "RSA_Decrypt", 1, false),
    (0x15B, "HMAC_Start", 1, true),
    (0x15C, "SequenceUpdate", 1, false),
    (0x15D, "Sign", 1, false),
    (0x15E, "Unseal", 1, false),
    (0x160, "PolicySigned", 2, false),
    (0x161, "ContextLoad", 0, true),
    (0x162, "ContextSave", 1, false),
    (0x163, "ECDH_KeyGen", 1, false),
    (0x164, "EncryptDecrypt", 1, false),
    (0x165, "FlushContext", 0, false),
    (0x167, "LoadExternal", 0, true),
    (0x168, "MakeCredential", 1, false),
    (0x169, "NV_ReadPublic", 1, false),
    (0x16A, "PolicyAuthorize", 1, false),
    (0x16B, "PolicyAuthValue", 1, false),
    (0x16C, "PolicyCommandCode", 1, false),
    (0x16D, "PolicyCounterTimer", 1, false),
    (0x16E, "PolicyCpHash", 1, false),
    (0x16F, "PolicyLocality", 1, false),
    (0x170, "PolicyNameHash", 1, false),
    (0x171, "PolicyOR", 1, false),
    (0x172, "PolicyTicket", 1, false),
    (0x173, "ReadPublic", 1, false),
    (0x174, "RSA_Encrypt", 1, false),
    (0x176, "StartAuthSession", 2, true),
    (0x177, "VerifySignature", 1, false),
    (0x178, "ECC_Parameters", 0, false),
    (0x179, "FirmwareRead", 0, false),
    (0x17A, "GetCapability", 0, false),
    (0x17B, "GetRandom", 0, false),
    (0x17C, "GetTestResult", 0, false),
    (0x17D, "Hash", 0, false),
    (0x17E, "PCR_Read", 0, false),
    (0x17F, "PolicyPCR", 1, false),
    (0x180, "PolicyRestart", 1, false),
    (0x181, "ReadClock", 0, false),
    (0x182, "PCR_Extend", 1, false),
    (0x183, "PCR_SetAuthValue", 1, false),
    (0x184, "NV_Certify", 3, false),
    (0x185, "EventSequenceComplete", 2, false),
    (0x186, "HashSequenceStart", 0, true),
    (0x187, "PolicyPhysicalPresence", 1, false),
    (0x188, "PolicyDuplicationSelect", 1, false),
    (0x189, "PolicyGetDigest", 1, false),
    (0x18A, "TestParms", 0, false),
    (0x18B, "Commit", 1, false),
    (0x18C, "PolicyPassword", 1, false),
    (0x18D, "ZGen_2Phase", 1, false),
    (0x18E, "EC_Ephemeral", 0, false),
    (0x18F, "PolicyNvWritten", 1, false),
    (0x190, "PolicyTemplate", 1, false),
    (0x191, "CreateLoaded", 1, true),
    (0x192, "PolicyAuthorizeNV", 3, false),
    (0x193, "EncryptDecrypt2", 1, false),
    (0x194, "AC_GetCapability", 1, false),
    (0x195, "AC_Send", 3, false),
    (0x196, "Policy_AC_SendSelect", 1, false),
    (0x197, "CertifyX509", 2, false),
    (0x198, "ACT_SetTimeout", 1, false),
    (0x199, "ECC_Encrypt", 1, false),
    (0x19A, "ECC_Decrypt", 1, false),
];

/// The row of a command code.
pub fn command_info(cc: u32) -> Option<(&'static str, u8, bool)> {
    COMMANDS
        .iter()
        .find(|c| c.0 == cc)
        .map(|&(_, n, h, r)| (n, h, r))
}

/// The command's name, e.g. "PCR_Read", or "CC_0x000001ff" when unknown.
pub fn cc_name(cc: u32) -> String {
    command_info(cc).map_or_else(|| format!("CC_{cc:#010x}"), |c| c.0.to_string())
}

const CAP_NAMES: &[(u32, &str)] = &[
    (0, "ALGS"),
    (1, "HANDLES"),
    (2, "COMMANDS"),
    (3, "PP_COMMANDS"),
    (4, "AUDIT_COMMANDS"),
    (5, "PCRS"),
    (6, "TPM_PROPERTIES"),
    (7, "PCR_PROPERTIES"),
    (8, "ECC_CURVES"),
    (9, "AUTH_POLICIES"),
    (10, "ACT"),
];

/// The name an exchange is known by in tables and the allow-list: the command name,
/// with the capability for GetCapability (`GetCapability(ALGS)`,
/// `GetCapability(TPM_PROPERTIES@0x100)`, `GetCapability(HANDLES@0x81000000)`).
pub fn exchange_name(cmd: &[u8]) -> String {
    let Some(cc) = be32(cmd, 6) else {
        return "short".into();
    };
    if cc == 0x17A
        && let (Some(cap), Some(prop)) = (be32(cmd, 10), be32(cmd, 14))
    {
        let c = CAP_NAMES
            .iter()
            .find(|c| c.0 == cap)
            .map_or_else(|| format!("{cap:#x}"), |c| c.1.to_string());
        return match cap {
            1 | 6 => format!("GetCapability({c}@{prop:#x})"),
            _ => format!("GetCapability({c})"),
        };
    }
    cc_name(cc)
}

// ---------------------------------------------------------------------------------------
// Byte helpers

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The response code of a response, if it has a header.
pub fn rc(resp: &[u8]) -> Option<u32> {
    be32(resp, 6)
}

/// A reading cursor that fails (None) instead of panicking.
struct Rd<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8]) -> Self {
        Rd { b, at: 0 }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    /// A TPM2B: the contents (without the size).
    fn tpm2b(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
    /// A TPM2B: the whole encoding (size included).
    fn tpm2b_raw(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        self.tpm2b()?;
        self.b.get(start..self.at)
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = self.b.get(self.at..).unwrap_or_default();
        self.at = self.b.len();
        s
    }
    fn done(&self) -> bool {
        self.at >= self.b.len()
    }
}

// ---------------------------------------------------------------------------------------
// Command layout

/// The parts of a command.
#[derive(Clone, Debug)]
pub struct CmdParts {
    pub tag: u16,
    pub cc: u32,
    pub handles: Vec<u32>,
    /// (handle, nonceCaller, attributes, hmac) per session.
    pub sessions: Vec<(u32, Vec<u8>, u8, Vec<u8>)>,
    pub params: Vec<u8>,
}

/// Splits a well-formed command; None for malformed ones.
pub fn parse_command(cmd: &[u8]) -> Option<CmdParts> {
    let mut r = Rd::new(cmd);
    let tag = r.u16()?;
    let size = r.u32()? as usize;
    if size != cmd.len() {
        return None;
    }
    let cc = r.u32()?;
    let (_, nh, _) = command_info(cc)?;
    let mut handles = Vec::new();
    for _ in 0..nh {
        handles.push(r.u32()?);
    }
    let mut sessions = Vec::new();
    if tag == 0x8002 {
        let auth_size = r.u32()? as usize;
        let mut a = Rd::new(r.take(auth_size)?);
        while !a.done() {
            let h = a.u32()?;
            let nonce = a.tpm2b()?.to_vec();
            let attrs = a.u8()?;
            let hmac = a.tpm2b()?.to_vec();
            sessions.push((h, nonce, attrs, hmac));
        }
    } else if tag != 0x8001 {
        return None;
    }
    Some(CmdParts {
        tag,
        cc,
        handles,
        sessions,
        params: r.rest().to_vec(),
    })
}

/// Builds a command from its parts (sizes recomputed).
pub fn build_command(p: &CmdParts) -> Vec<u8> {
    let mut body = Vec::new();
    for h in &p.handles {
        body.extend_from_slice(&h.to_be_bytes());
    }
    if p.tag == 0x8002 {
        let mut auth = Vec::new();
        for (h, nonce, attrs, hmac) in &p.sessions {
            auth.extend_from_slice(&h.to_be_bytes());
            push_tpm2b(&mut auth, nonce);
            auth.push(*attrs);
            push_tpm2b(&mut auth, hmac);
        }
        body.extend_from_slice(&(auth.len() as u32).to_be_bytes());
        body.extend_from_slice(&auth);
    }
    body.extend_from_slice(&p.params);
    let mut out = p.tag.to_be_bytes().to_vec();
    out.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&p.cc.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

fn push_tpm2b(v: &mut Vec<u8>, b: &[u8]) {
    v.extend_from_slice(&(b.len() as u16).to_be_bytes());
    v.extend_from_slice(b);
}

/// The parts of a successful response to command `cc`.
#[derive(Clone, Debug)]
pub struct RespParts {
    pub tag: u16,
    pub rc: u32,
    pub handle: Option<u32>,
    pub params: Vec<u8>,
    /// (nonceTPM, attributes, hmac) per session.
    pub sessions: Vec<(Vec<u8>, u8, Vec<u8>)>,
}

/// Splits a response to `cc`; for an error response `params` is empty.
pub fn parse_response(cc: u32, resp: &[u8]) -> Option<RespParts> {
    let mut r = Rd::new(resp);
    let tag = r.u16()?;
    let size = r.u32()? as usize;
    if size != resp.len() {
        return None;
    }
    let code = r.u32()?;
    let mut out = RespParts {
        tag,
        rc: code,
        handle: None,
        params: Vec::new(),
        sessions: Vec::new(),
    };
    if code != 0 {
        return r.done().then_some(out);
    }
    if command_info(cc)?.2 {
        out.handle = Some(r.u32()?);
    }
    if tag == 0x8002 {
        let psize = r.u32()? as usize;
        out.params = r.take(psize)?.to_vec();
        while !r.done() {
            let nonce = r.tpm2b()?.to_vec();
            let attrs = r.u8()?;
            let hmac = r.tpm2b()?.to_vec();
            out.sessions.push((nonce, attrs, hmac));
        }
    } else {
        out.params = r.rest().to_vec();
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Masks

/// How a response field is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Byte for byte.
    Exact,
    /// Only the length.
    Size,
    /// Not at all.
    Ignore,
}

/// One decoded response field.
#[derive(Clone, Debug)]
struct Field {
    name: String,
    bytes: Vec<u8>,
    how: How,
}

struct Fields(Vec<Field>);

impl Fields {
    fn add(&mut self, name: impl Into<String>, bytes: &[u8], how: How) {
        self.0.push(Field {
            name: name.into(),
            bytes: bytes.to_vec(),
            how,
        });
    }
}

/// Properties that identify the implementation (vendor, version, dates): not compared.
pub const IDENTITY_PROPERTIES: &[(u32, &str)] = &[
    (0x102, "PT_REVISION"),
    (0x103, "PT_DAY_OF_YEAR"),
    (0x104, "PT_YEAR"),
    (0x105, "PT_MANUFACTURER"),
    (0x106, "PT_VENDOR_STRING_1"),
    (0x107, "PT_VENDOR_STRING_2"),
    (0x108, "PT_VENDOR_STRING_3"),
    (0x109, "PT_VENDOR_STRING_4"),
    (0x10A, "PT_VENDOR_TPM_TYPE"),
    (0x10B, "PT_FIRMWARE_VERSION_1"),
    (0x10C, "PT_FIRMWARE_VERSION_2"),
    (0x125, "PT_PS_REVISION"),
    (0x126, "PT_PS_DAY_OF_YEAR"),
    (0x127, "PT_PS_YEAR"),
    (0x12F, "PT_FIRMWARE_SVN"),
    (0x130, "PT_FIRMWARE_MAX_SVN"),
];

/// Properties whose values are implementation-defined limits and capacities (buffer
/// sizes, slot counts, NV sizes, the context protection parameters, the loaded curves,
/// which follow from the curve set): not compared. The state properties (PT_PERMANENT,
/// PT_STARTUP_CLEAR, the counts of loaded, active and persistent objects, DA parameters
/// and counters, PCR count and selection size, ...) are.
pub const CAPACITY_PROPERTIES: &[(u32, &str)] = &[
    (0x10D, "PT_INPUT_BUFFER"),
    (0x10E, "PT_HR_TRANSIENT_MIN"),
    (0x10F, "PT_HR_PERSISTENT_MIN"),
    (0x110, "PT_HR_LOADED_MIN"),
    (0x111, "PT_ACTIVE_SESSIONS_MAX"),
    (0x114, "PT_CONTEXT_GAP_MAX"),
    (0x116, "PT_NV_COUNTERS_MAX"),
    (0x117, "PT_NV_INDEX_MAX"),
    (0x118, "PT_MEMORY"),
    (0x119, "PT_CLOCK_UPDATE"),
    (0x11A, "PT_CONTEXT_HASH"),
    (0x11B, "PT_CONTEXT_SYM"),
    (0x11C, "PT_CONTEXT_SYM_SIZE"),
    (0x11D, "PT_ORDERLY_COUNT"),
    (0x11E, "PT_MAX_COMMAND_SIZE"),
    (0x11F, "PT_MAX_RESPONSE_SIZE"),
    (0x121, "PT_MAX_OBJECT_CONTEXT"),
    (0x122, "PT_MAX_SESSION_CONTEXT"),
    (0x128, "PT_SPLIT_MAX"),
    (0x129, "PT_TOTAL_COMMANDS"),
    (0x12A, "PT_LIBRARY_COMMANDS"),
    (0x12B, "PT_VENDOR_COMMANDS"),
    (0x12C, "PT_NV_BUFFER_MAX"),
    (0x12D, "PT_MODES"),
    (0x12E, "PT_MAX_CAP_BUFFER"),
    (0x204, "PT_HR_LOADED_AVAIL"),
    (0x206, "PT_HR_ACTIVE_AVAIL"),
    (0x207, "PT_HR_TRANSIENT_AVAIL"),
    (0x209, "PT_HR_PERSISTENT_AVAIL"),
    (0x20B, "PT_NV_COUNTERS_AVAIL"),
    (0x20D, "PT_LOADED_CURVES"),
];

/// TPMT_PUBLIC (without its TPM2B size): all but the unique field exactly, the unique
/// field's components by size (they hold the key).
fn public_fields(f: &mut Fields, prefix: &str, b: &[u8]) -> Option<()> {
    let mut r = Rd::new(b);
    let ty = r.u16()?;
    r.u16()?; // nameAlg
    r.u32()?; // objectAttributes
    r.tpm2b()?; // authPolicy
    let sym = |r: &mut Rd<'_>| -> Option<()> {
        if r.u16()? != 0x0010 {
            r.u16()?;
            r.u16()?;
        }
        Some(())
    };
    let scheme = |r: &mut Rd<'_>| -> Option<()> {
        match r.u16()? {
            0x0010 => {}
            0x001A => {
                r.u16()?;
                r.u16()?;
            }
            0x000A => {
                r.u16()?;
                r.u16()?;
            }
            _ => {
                r.u16()?;
            }
        }
        Some(())
    };
    let uniques: usize = match ty {
        0x0001 => {
            sym(&mut r)?;
            scheme(&mut r)?;
            r.u16()?;
            r.u32()?;
            1
        }
        0x0023 => {
            sym(&mut r)?;
            scheme(&mut r)?;
            r.u16()?;
            scheme(&mut r)?; // kdf
            2
        }
        0x0008 => {
            scheme(&mut r)?;
            1
        }
        0x0025 => {
            sym(&mut r)?;
            1
        }
        _ => return None,
    };
    f.add(format!("{prefix}.template"), b.get(..r.at)?, How::Exact);
    for i in 0..uniques {
        f.add(format!("{prefix}.unique[{i}]"), r.tpm2b()?, How::Size);
    }
    r.done().then_some(())
}

/// TPMS_CREATION_DATA; `parent_is_key`: the parent's names and the hash are by size.
fn creation_fields(f: &mut Fields, b: &[u8], parent_is_key: bool) -> Option<()> {
    let mut r = Rd::new(b);
    let start = r.at;
    let n = r.u32()?;
    for _ in 0..n {
        r.u16()?;
        let s = usize::from(r.u8()?);
        r.take(s)?;
    }
    r.tpm2b()?; // pcrDigest
    r.u8()?; // locality
    r.u16()?; // parentNameAlg
    f.add(
        "creationData.pcrs..parentNameAlg",
        b.get(start..r.at)?,
        How::Exact,
    );
    let how = if parent_is_key { How::Size } else { How::Exact };
    f.add("creationData.parentName", r.tpm2b()?, how);
    f.add("creationData.parentQualifiedName", r.tpm2b()?, how);
    f.add("creationData.outsideInfo", r.tpm2b()?, How::Exact);
    r.done().then_some(())
}

fn ticket_fields(f: &mut Fields, r: &mut Rd<'_>, name: &str) -> Option<()> {
    let head = r.take(6)?;
    f.add(format!("{name}.tag+hierarchy"), head, How::Exact);
    // An HMAC with the hierarchy's proof, in the implementation's context integrity
    // hash (SHA-512 in libtpms, SHA-256 in vtpm): not comparable, not even its size.
    f.add(format!("{name}.digest"), r.tpm2b()?, How::Ignore);
    Some(())
}

fn name_field(f: &mut Fields, r: &mut Rd<'_>, name: &str) -> Option<()> {
    let n = r.tpm2b()?;
    f.add(format!("{name}.alg"), n.get(..2.min(n.len()))?, How::Exact);
    f.add(name, n, How::Size);
    Some(())
}

fn tpm2b_public(f: &mut Fields, r: &mut Rd<'_>, prefix: &str) -> Option<()> {
    let p = r.tpm2b()?;
    public_fields(f, prefix, p)
}

/// The parameter fields of a successful response to `cmd`.
fn param_fields(f: &mut Fields, cmd: &[u8], cc: u32, params: &[u8]) -> Option<()> {
    let mut r = Rd::new(params);
    match cc {
        // GetRandom
        0x17B => f.add("randomBytes", r.tpm2b()?, How::Size),
        // PCR_Read: how often pcrUpdateCounter counts is the implementation's choice
        // (libtpms once per bank and PCR, including the resets of Startup; vtpm once per
        // command that changes PCRs).
        0x17E => {
            f.add("pcrUpdateCounter", r.take(4)?, How::Ignore);
            f.add("pcrSelectionOut+pcrValues", r.rest(), How::Exact);
        }
        // GetCapability
        0x17A => capability_fields(f, &mut r)?,
        // CreatePrimary, Create, CreateLoaded
        0x131 | 0x153 => {
            let primary = cc == 0x131;
            if !primary {
                f.add("outPrivate", r.tpm2b()?, How::Ignore);
            }
            tpm2b_public(f, &mut r, "outPublic")?;
            let cd = r.tpm2b()?;
            creation_fields(f, cd, !primary)?;
            let how = if primary { How::Exact } else { How::Size };
            f.add("creationHash", r.tpm2b()?, how);
            ticket_fields(f, &mut r, "creationTicket")?;
            if primary {
                name_field(f, &mut r, "name")?;
            }
        }
        0x191 => {
            f.add("outPrivate", r.tpm2b()?, How::Ignore);
            tpm2b_public(f, &mut r, "outPublic")?;
            name_field(f, &mut r, "name")?;
        }
        // Load, LoadExternal
        0x157 | 0x167 => name_field(f, &mut r, "name")?,
        // ReadPublic
        0x173 => {
            tpm2b_public(f, &mut r, "outPublic")?;
            name_field(f, &mut r, "name")?;
            name_field(f, &mut r, "qualifiedName")?;
        }
        // ObjectChangeAuth
        0x150 => f.add("outPrivate", r.tpm2b()?, How::Ignore),
        // StartAuthSession
        0x176 => f.add("nonceTPM", r.tpm2b()?, How::Size),
        // ContextSave
        0x162 => {
            f.add("sequence", r.take(8)?, How::Ignore);
            f.add("savedHandle+hierarchy", r.take(8)?, How::Exact);
            f.add("contextBlob", r.tpm2b()?, How::Ignore);
        }
        // ReadClock
        0x181 => {
            f.add("time+clock", r.take(16)?, How::Ignore);
            f.add("resetCount+restartCount+safe", r.take(9)?, How::Exact);
        }
        // GetTestResult
        0x17C => {
            f.add("outData", r.tpm2b()?, How::Ignore);
            f.add("testResult", r.take(4)?, How::Exact);
        }
        _ => {
            let _ = cmd;
            f.add("parameters", r.rest(), How::Exact);
        }
    }
    r.done().then_some(())
}

/// A list of `count` entries of `width` bytes keyed by bytes `key` of each entry: the
/// entries both list compared exactly, then the key sets.
fn keyed_list(
    f: &mut Fields,
    r: &mut Rd<'_>,
    what: &str,
    key: std::ops::Range<usize>,
    width: usize,
) -> Option<()> {
    let n = r.u32()? as usize;
    let body = r.take(n.checked_mul(width)?)?;
    keyed_field(f, what, key, width, body);
    Some(())
}

/// Encodes a keyed list for `compare_keyed`: key range, width, entries.
fn keyed_field(f: &mut Fields, what: &str, key: std::ops::Range<usize>, width: usize, body: &[u8]) {
    let mut enc = (key.start as u32).to_be_bytes().to_vec();
    enc.extend_from_slice(&(key.end as u32).to_be_bytes());
    enc.extend_from_slice(&(width as u32).to_be_bytes());
    enc.extend_from_slice(body);
    f.add(format!("keyed:{what}"), &enc, How::Exact);
}

fn capability_fields(f: &mut Fields, r: &mut Rd<'_>) -> Option<()> {
    f.add("moreData", r.take(1)?, How::Exact);
    let cap = r.u32()?;
    f.add("capability", &cap.to_be_bytes(), How::Exact);
    match cap {
        0 => keyed_list(f, r, "algorithms", 0..2, 6)?,
        // TPMA_CC, keyed by commandIndex.
        2 => keyed_list(f, r, "commands", 2..4, 4)?,
        8 => keyed_list(f, r, "curves", 0..2, 2)?,
        6 => {
            // Identity and capacity values are zeroed before the comparison; the set of
            // property tags is still compared.
            let n = r.u32()? as usize;
            let mut masked = Vec::new();
            for _ in 0..n {
                let p = r.u32()?;
                let v = r.u32()?;
                let ignored = IDENTITY_PROPERTIES
                    .iter()
                    .chain(CAPACITY_PROPERTIES)
                    .any(|i| i.0 == p);
                masked.extend_from_slice(&p.to_be_bytes());
                masked.extend_from_slice(&if ignored { 0 } else { v }.to_be_bytes());
            }
            keyed_field(f, "properties", 0..4, 8, &masked);
        }
        _ => f.add("data", r.rest(), How::Exact),
    }
    Some(())
}

/// A TPM_PT name for messages.
pub fn property_name(p: u32) -> String {
    const NAMES: &[(u32, &str)] = &[
        (0x100, "PT_FAMILY_INDICATOR"),
        (0x101, "PT_LEVEL"),
        (0x10D, "PT_INPUT_BUFFER"),
        (0x10E, "PT_HR_TRANSIENT_MIN"),
        (0x10F, "PT_HR_PERSISTENT_MIN"),
        (0x110, "PT_HR_LOADED_MIN"),
        (0x111, "PT_ACTIVE_SESSIONS_MAX"),
        (0x112, "PT_PCR_COUNT"),
        (0x113, "PT_PCR_SELECT_MIN"),
        (0x114, "PT_CONTEXT_GAP_MAX"),
        (0x116, "PT_NV_COUNTERS_MAX"),
        (0x117, "PT_NV_INDEX_MAX"),
        (0x118, "PT_MEMORY"),
        (0x119, "PT_CLOCK_UPDATE"),
        (0x11A, "PT_CONTEXT_HASH"),
        (0x11B, "PT_CONTEXT_SYM"),
        (0x11C, "PT_CONTEXT_SYM_SIZE"),
        (0x11D, "PT_ORDERLY_COUNT"),
        (0x11E, "PT_MAX_COMMAND_SIZE"),
        (0x11F, "PT_MAX_RESPONSE_SIZE"),
        (0x120, "PT_MAX_DIGEST"),
        (0x121, "PT_MAX_OBJECT_CONTEXT"),
        (0x122, "PT_MAX_SESSION_CONTEXT"),
        (0x123, "PT_PS_FAMILY_INDICATOR"),
        (0x124, "PT_PS_LEVEL"),
        (0x128, "PT_SPLIT_MAX"),
        (0x129, "PT_TOTAL_COMMANDS"),
        (0x12A, "PT_LIBRARY_COMMANDS"),
        (0x12B, "PT_VENDOR_COMMANDS"),
        (0x12C, "PT_NV_BUFFER_MAX"),
        (0x12D, "PT_MODES"),
        (0x12E, "PT_MAX_CAP_BUFFER"),
        (0x200, "PT_PERMANENT"),
        (0x201, "PT_STARTUP_CLEAR"),
        (0x202, "PT_HR_NV_INDEX"),
        (0x203, "PT_HR_LOADED"),
        (0x204, "PT_HR_LOADED_AVAIL"),
        (0x205, "PT_HR_ACTIVE"),
        (0x206, "PT_HR_ACTIVE_AVAIL"),
        (0x207, "PT_HR_TRANSIENT_AVAIL"),
        (0x208, "PT_HR_PERSISTENT"),
        (0x209, "PT_HR_PERSISTENT_AVAIL"),
        (0x20A, "PT_NV_COUNTERS"),
        (0x20B, "PT_NV_COUNTERS_AVAIL"),
        (0x20C, "PT_ALGORITHM_SET"),
        (0x20D, "PT_LOADED_CURVES"),
        (0x20E, "PT_LOCKOUT_COUNTER"),
        (0x20F, "PT_MAX_AUTH_FAIL"),
        (0x210, "PT_LOCKOUT_INTERVAL"),
        (0x211, "PT_LOCKOUT_RECOVERY"),
        (0x212, "PT_NV_WRITE_RECOVERY"),
        (0x213, "PT_AUDIT_COUNTER_0"),
        (0x214, "PT_AUDIT_COUNTER_1"),
    ];
    NAMES
        .iter()
        .chain(IDENTITY_PROPERTIES)
        .find(|n| n.0 == p)
        .map_or_else(|| format!("{p:#x}"), |n| n.1.to_string())
}

fn response_fields(cmd: &[u8], cc: u32, resp: &[u8]) -> Option<Fields> {
    let p = parse_response(cc, resp)?;
    let mut f = Fields(Vec::new());
    f.add("tag", &p.tag.to_be_bytes(), How::Exact);
    f.add("responseCode", &p.rc.to_be_bytes(), How::Exact);
    if p.rc != 0 {
        return Some(f);
    }
    if let Some(h) = p.handle {
        f.add("handle", &h.to_be_bytes(), How::Exact);
    }
    param_fields(&mut f, cmd, cc, &p.params)?;
    for (i, (nonce, attrs, hmac)) in p.sessions.iter().enumerate() {
        f.add(format!("session[{i}].nonceTPM"), nonce, How::Size);
        f.add(format!("session[{i}].attributes"), &[*attrs], How::Exact);
        f.add(format!("session[{i}].hmac"), hmac, How::Size);
    }
    Some(f)
}

/// Compares a keyed list (see `keyed_field`): entries in both exactly, then the key sets
/// (`<what>.only_vtpm`, `<what>.only_swtpm`).
fn compare_keyed(name: &str, a: &[u8], b: &[u8], out: &mut Vec<String>) {
    type Entries = Vec<(Vec<u8>, Vec<u8>)>;
    let parse = |x: &[u8]| -> Option<Entries> {
        let (k0, k1) = (be32(x, 0)? as usize, be32(x, 4)? as usize);
        let width = be32(x, 8)? as usize;
        let body = x.get(12..)?;
        Some(
            body.chunks(width.max(1))
                .map(|c| (c.get(k0..k1).unwrap_or(c).to_vec(), c.to_vec()))
                .collect(),
        )
    };
    let (Some(ea), Some(eb)) = (parse(a), parse(b)) else {
        out.push(format!(
            "{}: undecodable",
            name.trim_start_matches("keyed:")
        ));
        return;
    };
    let what = name.trim_start_matches("keyed:");
    let key = |k: &[u8]| {
        if what == "properties" {
            be32(k, 0).map_or_else(|| hex(k), property_name)
        } else {
            hex(k)
        }
    };
    for (k, va) in &ea {
        if let Some((_, vb)) = eb.iter().find(|(kb, _)| kb == k)
            && va != vb
        {
            out.push(format!(
                "{what}[{}]: vtpm {} swtpm {}",
                key(k),
                hex(va),
                hex(vb)
            ));
        }
    }
    let only = |x: &Entries, y: &Entries| -> Vec<String> {
        x.iter()
            .filter(|(k, _)| !y.iter().any(|(ky, _)| ky == k))
            .map(|(k, _)| key(k))
            .collect()
    };
    let (oa, ob) = (only(&ea, &eb), only(&eb, &ea));
    if !oa.is_empty() {
        out.push(format!("{what}.only_vtpm: [{}]", oa.join(" ")));
    }
    if !ob.is_empty() {
        out.push(format!("{what}.only_swtpm: [{}]", ob.join(" ")));
    }
}

/// Compares the responses of vtpm (`a`) and swtpm (`b`) to `cmd` through the mask of its
/// command code; `Err` lists the differing fields.
pub fn compare(cmd: &[u8], a: &[u8], b: &[u8]) -> Result<(), Vec<String>> {
    let cc = be32(cmd, 6).unwrap_or(0);
    if rc(a) != rc(b) {
        return Err(vec![format!(
            "responseCode: vtpm {} swtpm {}",
            rc_str(a),
            rc_str(b)
        )]);
    }
    let (Some(fa), Some(fb)) = (response_fields(cmd, cc, a), response_fields(cmd, cc, b)) else {
        return if a == b {
            Ok(())
        } else {
            Err(vec!["responses: undecodable, and they differ".into()])
        };
    };
    let mut out = Vec::new();
    if fa.0.len() != fb.0.len() || fa.0.iter().zip(&fb.0).any(|(x, y)| x.name != y.name) {
        let names = |f: &Fields| f.0.iter().map(|x| x.name.clone()).collect::<Vec<_>>();
        // Properties differ in number: name the extra ones, then compare the common ones.
        out.push(format!(
            "structure: vtpm [{}] swtpm [{}]",
            names(&fa).join(", "),
            names(&fb).join(", ")
        ));
        return Err(out);
    }
    for (x, y) in fa.0.iter().zip(&fb.0) {
        if x.name.starts_with("keyed:") {
            compare_keyed(&x.name, &x.bytes, &y.bytes, &mut out);
            continue;
        }
        let differs = match x.how {
            How::Exact => x.bytes != y.bytes,
            How::Size => x.bytes.len() != y.bytes.len(),
            How::Ignore => false,
        };
        if differs {
            let show = |v: &[u8]| {
                if x.how == How::Size {
                    format!("{} bytes", v.len())
                } else {
                    hex(v)
                }
            };
            out.push(format!(
                "{}: vtpm {} swtpm {}",
                x.name,
                show(&x.bytes),
                show(&y.bytes)
            ));
        }
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// Compares response codes only (an answer without a header counts as "none").
pub fn compare_codes(a: &[u8], b: &[u8]) -> Result<(), Vec<String>> {
    if rc(a) == rc(b) {
        Ok(())
    } else {
        Err(vec![format!(
            "responseCode: vtpm {} swtpm {}",
            rc_str(a),
            rc_str(b)
        )])
    }
}

/// A response code for messages: `0x000` style, or "none" when there is no response.
pub fn rc_str(resp: &[u8]) -> String {
    match rc(resp) {
        Some(c) => format!("{c:#05x}"),
        None if resp.is_empty() => "none (closed)".into(),
        None => format!("short response {}", hex(resp)),
    }
}

// ---------------------------------------------------------------------------------------
// SHA-256 and HMAC (for session HMACs during replay)

const K256: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            if let (Some(slot), Ok(b)) = (w.get_mut(i), <[u8; 4]>::try_from(word)) {
                *slot = u32::from_be_bytes(b);
            }
        }
        for i in 16..64 {
            let at = |j: usize| w.get(j).copied().unwrap_or(0);
            let (w15, w2, w16, w7) = (at(i - 15), at(i - 2), at(i - 16), at(i - 7));
            let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
            let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
            if let Some(slot) = w.get_mut(i) {
                *slot = w16.wrapping_add(s0).wrapping_add(w7).wrapping_add(s1);
            }
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for (k, wi) in K256.iter().zip(w.iter()) {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(*k)
                .wrapping_add(*wi);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// HMAC-SHA-256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else if let Some(dst) = k.get_mut(..key.len()) {
        dst.copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(data);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

// ---------------------------------------------------------------------------------------
// Replay

/// What one TPM (the recording, or a peer) knows about its sessions and objects.
#[derive(Clone, Debug, Default)]
struct Tracker {
    names: HashMap<u32, Vec<u8>>,
    /// Session handle -> (latest nonceTPM, HMAC recomputable).
    sessions: HashMap<u32, (Vec<u8>, bool)>,
    /// Saved contexts (TPMS_CONTEXT bytes) and the name of what was saved.
    contexts: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Tracker {
    fn name(&self, h: u32) -> Option<Vec<u8>> {
        if let Some(n) = self.names.get(&h) {
            return Some(n.clone());
        }
        // Permanent, PCR and session handles are their own names.
        matches!(h >> 24, 0x00 | 0x02 | 0x03 | 0x40).then(|| h.to_be_bytes().to_vec())
    }

    /// Learns from a command and its response.
    fn observe(&mut self, cmd: &[u8], resp: &[u8]) {
        let Some(c) = parse_command(cmd) else { return };
        let Some(r) = parse_response(c.cc, resp) else {
            return;
        };
        if r.rc != 0 {
            return;
        }
        let mut p = Rd::new(&r.params);
        let first = c.handles.first().copied();
        match (c.cc, r.handle) {
            (0x176, Some(h)) => {
                let mut q = Rd::new(&c.params);
                let simple = (|| {
                    q.tpm2b()?; // nonceCaller
                    let salt = q.tpm2b()?;
                    q.u8()?; // sessionType
                    let sym = q.u16()?;
                    if sym != 0x0010 {
                        q.u16()?;
                        q.u16()?;
                    }
                    let hash = q.u16()?;
                    Some(
                        salt.is_empty()
                            && sym == 0x0010
                            && hash == 0x000B
                            && c.handles.iter().all(|h| *h == 0x4000_0007),
                    )
                })()
                .unwrap_or(false);
                if let Some(nonce) = p.tpm2b() {
                    self.sessions.insert(h, (nonce.to_vec(), simple));
                }
            }
            (0x131 | 0x157 | 0x167 | 0x191, Some(h)) => {
                let name = match c.cc {
                    0x131 => (|| {
                        p.tpm2b()?;
                        p.tpm2b()?;
                        p.tpm2b()?;
                        p.take(6)?;
                        p.tpm2b()?;
                        p.tpm2b()
                    })(),
                    0x191 => (|| {
                        p.tpm2b()?;
                        p.tpm2b()?;
                        p.tpm2b()
                    })(),
                    _ => p.tpm2b(),
                };
                if let Some(n) = name {
                    self.names.insert(h, n.to_vec());
                }
            }
            (0x173, _) => {
                if let (Some(h), Some(_), Some(n)) = (first, p.tpm2b(), p.tpm2b()) {
                    self.names.insert(h, n.to_vec());
                }
            }
            (0x162, _) => {
                if let Some(h) = first {
                    self.contexts.push((r.params.clone(), self.name(h)));
                }
            }
            (0x161, Some(h)) => {
                if let Some((_, Some(n))) = self.contexts.iter().find(|(b, _)| *b == c.params) {
                    let n = n.clone();
                    if !matches!(h >> 24, 0x02 | 0x03) {
                        self.names.insert(h, n);
                    }
                }
            }
            (0x165, _) => {
                if let Some(h) = be32(&c.params, 0) {
                    self.names.remove(&h);
                    self.sessions.remove(&h);
                }
            }
            (0x120, _) => {
                if let (Some(&obj), Some(persistent)) = (c.handles.get(1), be32(&c.params, 0)) {
                    if obj >> 24 == 0x80 {
                        if let Some(n) = self.name(obj) {
                            self.names.insert(persistent, n);
                        }
                    } else {
                        self.names.remove(&obj);
                    }
                }
            }
            _ => {}
        }
        for ((h, _, _, _), (nonce, attrs, _)) in c.sessions.iter().zip(&r.sessions) {
            if let Some(s) = self.sessions.get_mut(h) {
                s.0 = nonce.clone();
                if attrs & 1 == 0 {
                    self.sessions.remove(h);
                }
            }
        }
    }
}

/// The cpHash (SHA-256) of a command as a TPM with `names` sees it.
fn cp_hash(t: &Tracker, c: &CmdParts) -> Option<[u8; 32]> {
    let mut data = c.cc.to_be_bytes().to_vec();
    for h in &c.handles {
        data.extend_from_slice(&t.name(*h)?);
    }
    data.extend_from_slice(&c.params);
    Some(sha256(&data))
}

fn session_hmac(
    key: &[u8],
    cp: &[u8],
    nonce_caller: &[u8],
    nonce_tpm: &[u8],
    attrs: u8,
) -> [u8; 32] {
    let mut data = cp.to_vec();
    data.extend_from_slice(nonce_caller);
    data.extend_from_slice(nonce_tpm);
    data.push(attrs);
    hmac_sha256(key, &data)
}

/// One recorded command made fit for one peer.
#[derive(Debug)]
pub struct Rewritten {
    pub command: Vec<u8>,
    /// The bytes differ from the recording.
    pub changed: bool,
    /// Why the command may not replay faithfully (empty when it does).
    pub problems: Vec<String>,
}

/// Replays one recorded stream on one peer (see the module documentation).
#[derive(Debug, Default)]
pub struct Replay {
    recorded: Tracker,
    peer: Tracker,
    /// Handles the recording got -> handles the peer got.
    handles: HashMap<u32, u32>,
    /// Byte strings of the recording -> the peer's (context structures, TPM2B private
    /// and public areas); longest first when substituting.
    blobs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Candidate authValues.
    auths: Vec<Vec<u8>>,
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> (Vec<u8>, bool) {
    if from.is_empty() || hay.len() < from.len() {
        return (hay.to_vec(), false);
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    let mut hit = false;
    while i < hay.len() {
        if hay.get(i..i + from.len()) == Some(from) {
            out.extend_from_slice(to);
            i += from.len();
            hit = true;
        } else {
            out.extend_from_slice(hay.get(i..i + 1).unwrap_or_default());
            i += 1;
        }
    }
    (out, hit)
}

impl Replay {
    pub fn new() -> Replay {
        Replay {
            auths: vec![Vec::new()],
            ..Replay::default()
        }
    }

    fn map(&self, h: u32) -> u32 {
        self.handles.get(&h).copied().unwrap_or(h)
    }

    /// The recorded command rewritten for the peer.
    pub fn rewrite(&self, rec: &[u8]) -> Rewritten {
        let Some(c) = parse_command(rec) else {
            return Rewritten {
                command: rec.to_vec(),
                changed: false,
                problems: Vec::new(),
            };
        };
        let mut problems = Vec::new();
        let mut p = c.clone();
        for h in p.handles.iter_mut() {
            *h = self.map(*h);
        }
        for s in p.sessions.iter_mut() {
            s.0 = self.map(s.0);
        }
        let mut blobs: Vec<&(Vec<u8>, Vec<u8>)> =
            self.blobs.iter().filter(|b| b.0 != b.1).collect();
        blobs.sort_by_key(|b| std::cmp::Reverse(b.0.len()));
        for (from, to) in blobs {
            p.params = replace_all(&p.params, from, to).0;
        }
        if p.cc == 0x165
            && let Some(h) = be32(&p.params, 0)
        {
            p.params = self.map(h).to_be_bytes().to_vec();
        }
        // Session HMACs.
        let cp_rec = cp_hash(&self.recorded, &c);
        let cp_peer = cp_hash(&self.peer, &p);
        for (i, (h, nonce, attrs, hmac)) in c.sessions.iter().enumerate() {
            if *h == 0x4000_0009 || hmac.is_empty() {
                continue;
            }
            let (Some((rec_nonce, true)), Some((peer_nonce, _))) = (
                self.recorded.sessions.get(h),
                self.peer.sessions.get(&self.map(*h)),
            ) else {
                problems.push(format!(
                    "session {h:#010x}: not an unsalted unbound SHA-256 session of this stream"
                ));
                continue;
            };
            let (Some(cp_rec), Some(cp_peer)) = (cp_rec, cp_peer) else {
                problems.push(format!("session {h:#010x}: a handle's name is unknown"));
                continue;
            };
            let key = self.auths.iter().find(|k| {
                session_hmac(k, &cp_rec, nonce, rec_nonce, *attrs).as_slice() == hmac.as_slice()
            });
            let Some(key) = key else {
                problems.push(format!("session {h:#010x}: recorded HMAC not reproducible"));
                continue;
            };
            if let Some(s) = p.sessions.get_mut(i) {
                s.3 = session_hmac(key, &cp_peer, nonce, peer_nonce, *attrs).to_vec();
            }
        }
        let command = build_command(&p);
        Rewritten {
            changed: command != rec,
            command,
            problems,
        }
    }

    /// Learns from one exchange: the recorded command and response, and the peer's.
    pub fn observe(&mut self, rec_cmd: &[u8], rec_resp: &[u8], peer_cmd: &[u8], peer_resp: &[u8]) {
        // authValues the stream sets, from the recorded command.
        if let Some(c) = parse_command(rec_cmd) {
            let mut r = Rd::new(&c.params);
            let found: Option<&[u8]> = match c.cc {
                0x129 | 0x150 => r.tpm2b(),
                0x131 | 0x153 | 0x191 => (|| {
                    let s = r.tpm2b()?;
                    Rd::new(s).tpm2b()
                })(),
                _ => None,
            };
            if let Some(a) = found {
                let trimmed = {
                    let mut v = a.to_vec();
                    while v.last() == Some(&0) {
                        v.pop();
                    }
                    v
                };
                for v in [a.to_vec(), trimmed] {
                    if !self.auths.contains(&v) {
                        self.auths.push(v);
                    }
                }
            }
        }
        let cc = be32(rec_cmd, 6).unwrap_or(0);
        if let (Some(a), Some(b)) = (parse_response(cc, rec_resp), parse_response(cc, peer_resp))
            && a.rc == 0
            && b.rc == 0
        {
            if let (Some(x), Some(y)) = (a.handle, b.handle) {
                self.handles.insert(x, y);
            }
            let mut ra = Rd::new(&a.params);
            let mut rb = Rd::new(&b.params);
            match cc {
                0x162 => self.blobs.push((a.params.clone(), b.params.clone())),
                0x153 | 0x191 => {
                    for _ in 0..2 {
                        if let (Some(x), Some(y)) = (ra.tpm2b_raw(), rb.tpm2b_raw()) {
                            self.blobs.push((x.to_vec(), y.to_vec()));
                        }
                    }
                }
                0x150 => {
                    if let (Some(x), Some(y)) = (ra.tpm2b_raw(), rb.tpm2b_raw()) {
                        self.blobs.push((x.to_vec(), y.to_vec()));
                    }
                }
                _ => {}
            }
        }
        self.recorded.observe(rec_cmd, rec_resp);
        self.peer.observe(peer_cmd, peer_resp);
    }
}

// ---------------------------------------------------------------------------------------
// Allow-list

/// One allow-list entry.
#[derive(Clone, Debug)]
pub struct Allowed {
    pub stream: String,
    pub key: String,
    pub reason: String,
    pub line: usize,
}

/// Parses the allow-list; every entry needs a reason.
pub fn parse_allow(text: &str) -> Result<Vec<Allowed>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (target, reason) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
        let reason = reason.trim();
        let Some((stream, key)) = target.rsplit_once(':') else {
            return Err(format!("line {}: expected <stream>:<key> <reason>", n + 1));
        };
        if reason.is_empty() {
            return Err(format!("line {}: {target} has no reason", n + 1));
        }
        out.push(Allowed {
            stream: stream.into(),
            key: key.into(),
            reason: reason.into(),
            line: n + 1,
        });
    }
    Ok(out)
}

/// `pattern` with `*` matching any run of characters.
pub fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .any(|i| rest.is_char_boundary(i) && glob(tail, rest.get(i..).unwrap_or_default()))
        }
    }
}

/// The first entry that covers exchange `index` of `stream`, known by `keys`.
pub fn find_allowed<'a>(
    list: &'a [Allowed],
    stream: &str,
    index: usize,
    keys: &[&str],
) -> Option<&'a Allowed> {
    let idx = index.to_string();
    list.iter()
        .find(|a| glob(&a.stream, stream) && (a.key == idx || keys.iter().any(|k| glob(&a.key, k))))
}

/// A short description of a difference for the report.
pub fn describe(diffs: &[String]) -> String {
    let mut s = String::new();
    for d in diffs {
        let _ = write!(s, "{d}; ");
    }
    s.trim_end_matches("; ").to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_hmac_vectors() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 1000])),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn record_round_trip() {
        let e = Exchange {
            locality: 0,
            command: vec![0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0],
            response: vec![0x80, 1, 0, 0, 0, 10, 0, 0, 0, 0],
        };
        let text = format!("# comment\n\n{}", record_line(&e));
        assert_eq!(parse_record(&text).unwrap(), vec![e]);
        assert!(parse_record("0 80").is_err());
    }

    #[test]
    fn masks() {
        let cmd = crate::command(0x8001, 0x17B, &[0, 4]);
        let a = [0x80, 1, 0, 0, 0, 16, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4];
        let mut b = a;
        b[12] = 9;
        assert!(compare(&cmd, &a, &b).is_ok());
        assert!(compare(&cmd, &a, &a[..14]).is_err());
        assert!(compare_codes(&[0x80, 1, 0, 0, 0, 10, 0, 0, 1, 0], &[]).is_err());
    }

    #[test]
    fn command_round_trip() {
        let mut auth = crate::pw_auth_area();
        auth.extend_from_slice(&[0, 0, 0, 1, 0, 0xB, 1, 2]);
        let cmd = crate::command(0x8002, 0x182, &[&[0, 0, 0, 0][..], &auth].concat());
        let p = parse_command(&cmd).unwrap();
        assert_eq!(p.handles, vec![0]);
        assert_eq!(p.sessions.len(), 1);
        assert_eq!(build_command(&p), cmd);
    }

    #[test]
    fn allow_list() {
        let l = parse_allow("# c\ngen/*:tag-0x00c1 spec vs libtpms\nobjects:3 why\n").unwrap();
        assert!(find_allowed(&l, "gen/PCR_Read", 7, &["PCR_Read", "tag-0x00c1"]).is_some());
        assert!(find_allowed(&l, "objects", 3, &["Load"]).is_some());
        assert!(find_allowed(&l, "objects", 4, &["Load"]).is_none());
        assert!(parse_allow("objects:3").is_err());
        assert!(glob("a*c*", "abcd") && !glob("a*c", "abd"));
    }
}
