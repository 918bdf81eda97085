//! Structured command sequences on a provisioned engine.
//!
//! Every input starts from the same provisioned TPM: started, with an ECC P-256
//! storage primary, a sealed object loaded under it (authPolicy =
//! PolicyCommandCode(Unseal), userWithAuth SET), an HMAC session, a policy session,
//! a third session that stays context-saved, and saved contexts of both objects.
//! The input is then read as a list of operations (see [`Op`] in the comments of
//! `run_op`): commands built from a command code, handles picked from the live set,
//! an authorization area (none, password, or HMAC/policy sessions whose HMACs the
//! harness computes, so authorized paths are reached) and parameters (raw bytes or
//! a known-good parameter blob, possibly mutated); raw commands; power cycles;
//! save_state/from_state round trips; clock advances; H-CRTM/DRTM signals and
//! volatile snapshots.
//!
//! Checked after every command: the response is well-formed (size field = length,
//! at least a header, a known tag, an error is a bare 10-byte header) and the
//! engine never panics. A state the engine saved must always load again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm_commands::{Engine, Platform};
use vtpm_crypto::{HashAlg, hmac};

struct FuzzPlatform {
    counter: u8,
    now_ms: u64,
}

impl Platform for FuzzPlatform {
    fn entropy(&mut self, out: &mut [u8]) -> bool {
        for b in out.iter_mut() {
            self.counter = self.counter.wrapping_add(1);
            *b = self.counter;
        }
        true
    }
    fn monotonic_ms(&self) -> u64 {
        self.now_ms
    }
}

// Command codes.
const CC_EVICT_CONTROL: u32 = 0x120;
const CC_HIERARCHY_CONTROL: u32 = 0x121;
const CC_CHANGE_EPS: u32 = 0x124;
const CC_CHANGE_PPS: u32 = 0x125;
const CC_CLEAR: u32 = 0x126;
const CC_CLEAR_CONTROL: u32 = 0x127;
const CC_HIERARCHY_CHANGE_AUTH: u32 = 0x129;
const CC_PCR_ALLOCATE: u32 = 0x12B;
const CC_SET_PRIMARY_POLICY: u32 = 0x12E;
const CC_CREATE_PRIMARY: u32 = 0x131;
const CC_DA_LOCK_RESET: u32 = 0x139;
const CC_DA_PARAMETERS: u32 = 0x13A;
const CC_PCR_EVENT: u32 = 0x13C;
const CC_PCR_RESET: u32 = 0x13D;
const CC_INCREMENTAL_SELF_TEST: u32 = 0x142;
const CC_SELF_TEST: u32 = 0x143;
const CC_STARTUP: u32 = 0x144;
const CC_SHUTDOWN: u32 = 0x145;
const CC_STIR_RANDOM: u32 = 0x146;
const CC_OBJECT_CHANGE_AUTH: u32 = 0x150;
const CC_CREATE: u32 = 0x153;
const CC_LOAD: u32 = 0x157;
const CC_UNSEAL: u32 = 0x15E;
const CC_CONTEXT_LOAD: u32 = 0x161;
const CC_CONTEXT_SAVE: u32 = 0x162;
const CC_FLUSH_CONTEXT: u32 = 0x165;
const CC_LOAD_EXTERNAL: u32 = 0x167;
const CC_POLICY_AUTH_VALUE: u32 = 0x16B;
const CC_POLICY_COMMAND_CODE: u32 = 0x16C;
const CC_READ_PUBLIC: u32 = 0x173;
const CC_START_AUTH_SESSION: u32 = 0x176;
const CC_GET_CAPABILITY: u32 = 0x17A;
const CC_GET_RANDOM: u32 = 0x17B;
const CC_GET_TEST_RESULT: u32 = 0x17C;
const CC_PCR_READ: u32 = 0x17E;
const CC_POLICY_RESTART: u32 = 0x180;
const CC_READ_CLOCK: u32 = 0x181;
const CC_PCR_EXTEND: u32 = 0x182;
const CC_POLICY_GET_DIGEST: u32 = 0x189;
const CC_TEST_PARMS: u32 = 0x18A;
const CC_CREATE_LOADED: u32 = 0x191;

/// (command code, number of handles in its handle area). The last rows are not
/// implemented (or not commands at all) and must be refused cleanly.
const COMMANDS: &[(u32, usize)] = &[
    (CC_EVICT_CONTROL, 2),
    (CC_HIERARCHY_CONTROL, 1),
    (CC_CHANGE_EPS, 1),
    (CC_CHANGE_PPS, 1),
    (CC_CLEAR, 1),
    (CC_CLEAR_CONTROL, 1),
    (CC_HIERARCHY_CHANGE_AUTH, 1),
    (CC_PCR_ALLOCATE, 1),
    (CC_SET_PRIMARY_POLICY, 1),
    (CC_CREATE_PRIMARY, 1),
    (CC_DA_LOCK_RESET, 1),
    (CC_DA_PARAMETERS, 1),
    (CC_PCR_EVENT, 1),
    (CC_PCR_RESET, 1),
    (CC_INCREMENTAL_SELF_TEST, 0),
    (CC_SELF_TEST, 0),
    (CC_STARTUP, 0),
    (CC_SHUTDOWN, 0),
    (CC_STIR_RANDOM, 0),
    (CC_OBJECT_CHANGE_AUTH, 2),
    (CC_CREATE, 1),
    (CC_LOAD, 1),
    (CC_UNSEAL, 1),
    (CC_CONTEXT_LOAD, 0),
    (CC_CONTEXT_SAVE, 1),
    (CC_FLUSH_CONTEXT, 0),
    (CC_LOAD_EXTERNAL, 0),
    (CC_POLICY_AUTH_VALUE, 1),
    (CC_POLICY_COMMAND_CODE, 1),
    (CC_READ_PUBLIC, 1),
    (CC_START_AUTH_SESSION, 2),
    (CC_GET_CAPABILITY, 0),
    (CC_GET_RANDOM, 0),
    (CC_GET_TEST_RESULT, 0),
    (CC_PCR_READ, 0),
    (CC_POLICY_RESTART, 1),
    (CC_READ_CLOCK, 0),
    (CC_PCR_EXTEND, 1),
    (CC_POLICY_GET_DIGEST, 1),
    (CC_TEST_PARMS, 0),
    (CC_CREATE_LOADED, 1),
    // Not implemented (yet): NV commands join with their own rows and handles.
    (0x12A, 1), // NV_DefineSpace
    (0x14E, 2), // NV_Read
    (0x15D, 1), // Sign
    (0x1FF, 0),
];

/// Commands whose response carries a handle.
const RESPONSE_HANDLE: &[u32] = &[
    CC_CREATE_PRIMARY,
    CC_LOAD,
    CC_CONTEXT_LOAD,
    CC_LOAD_EXTERNAL,
    CC_START_AUTH_SESSION,
    CC_CREATE_LOADED,
];

const RH_OWNER: u32 = 0x4000_0001;
const RH_NULL: u32 = 0x4000_0007;
const RS_PW: u32 = 0x4000_0009;
const RH_LOCKOUT: u32 = 0x4000_000A;
const RH_ENDORSEMENT: u32 = 0x4000_000B;
const RH_PLATFORM: u32 = 0x4000_000C;

const ST_NO_SESSIONS: u16 = 0x8001;
const ST_SESSIONS: u16 = 0x8002;

const MAX_OPS: usize = 48;
const MAX_BLOBS: usize = 24;
const MAX_HANDLES: usize = 32;
/// Blobs made by `provision` (never replaced).
const PROVISIONING_BLOBS: usize = 9;

fn b2(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn command(tag: u16, cc: u32, body: &[u8]) -> Vec<u8> {
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&cc.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Reads a TPM2B at `*at`, advancing it.
fn take_b2<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let n = usize::from(be16(b, *at)?);
    let v = b.get(*at + 2..*at + 2 + n)?;
    *at += 2 + n;
    Some(v)
}

/// FUZZ_TRACE=1 prints every command and its response code (to follow a seed or
/// a crash: `FUZZ_TRACE=1 cargo fuzz run sequence <file>`).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

/// The well-formedness every response must have.
fn check_response(response: &[u8]) {
    assert!(response.len() >= 10, "short response {response:02x?}");
    assert_eq!(
        be32(response, 2).map(|n| n as usize),
        Some(response.len()),
        "size field"
    );
    let tag = be16(response, 0);
    assert!(
        tag == Some(ST_NO_SESSIONS) || tag == Some(ST_SESSIONS),
        "response tag {tag:x?}"
    );
    if be32(response, 6) != Some(0) {
        assert_eq!(response.len(), 10, "an error response is a bare header");
        assert_eq!(
            tag,
            Some(ST_NO_SESSIONS),
            "an error response has no sessions"
        );
    }
}

/// A success response taken apart: response handle, parameters, session nonces.
struct Parsed<'a> {
    handle: Option<u32>,
    params: &'a [u8],
    nonces: Vec<&'a [u8]>,
}

fn parse_response(response: &[u8], has_handle: bool) -> Option<Parsed<'_>> {
    if be32(response, 6)? != 0 {
        return None;
    }
    let mut at = 10;
    let handle = if has_handle {
        at += 4;
        Some(be32(response, 10)?)
    } else {
        None
    };
    if be16(response, 0)? == ST_SESSIONS {
        let n = be32(response, at)? as usize;
        let params = response.get(at + 4..at + 4 + n)?;
        let mut rest = at + 4 + n;
        let mut nonces = Vec::new();
        while rest < response.len() {
            let nonce = take_b2(response, &mut rest)?;
            rest += 1; // sessionAttributes
            take_b2(response, &mut rest)?; // hmac
            nonces.push(nonce);
        }
        Some(Parsed {
            handle,
            params,
            nonces,
        })
    } else {
        Some(Parsed {
            handle,
            params: response.get(at..)?,
            nonces: Vec::new(),
        })
    }
}

/// The input, read front to back; reads past the end return zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct Harness {
    engine: Engine,
    platform: FuzzPlatform,
    /// Handles commands may name (objects, sessions, hierarchies, PCRs, junk).
    handles: Vec<u32>,
    /// Known-good parameter areas and saved contexts.
    blobs: Vec<Vec<u8>>,
    /// Last nonceTPM of each session the harness knows.
    nonces: Vec<(u32, Vec<u8>)>,
    hmac_session: u32,
    policy_session: u32,
}

impl Harness {
    fn run(&mut self, locality: u8, cmd: &[u8]) -> Vec<u8> {
        let r = self.engine.execute(&mut self.platform, locality, cmd);
        if trace() {
            eprintln!(
                "locality {locality} cc {:#05x} -> rc {:#05x} ({} bytes)",
                be32(cmd, 6).unwrap_or(0),
                be32(&r, 6).unwrap_or(0),
                r.len()
            );
        }
        check_response(&r);
        r
    }

    fn startup(&mut self, su: u16) -> Vec<u8> {
        self.run(0, &command(ST_NO_SESSIONS, CC_STARTUP, &su.to_be_bytes()))
    }

    fn shutdown(&mut self, su: u16) -> Vec<u8> {
        self.run(0, &command(ST_NO_SESSIONS, CC_SHUTDOWN, &su.to_be_bytes()))
    }

    fn add_handle(&mut self, h: u32) {
        if !self.handles.contains(&h) {
            if self.handles.len() >= MAX_HANDLES {
                self.handles.remove(0);
            }
            self.handles.push(h);
        }
    }

    fn add_blob(&mut self, b: Vec<u8>) {
        if self.blobs.len() >= MAX_BLOBS {
            // Keep the provisioning blobs, replace the oldest of the others.
            self.blobs.remove(PROVISIONING_BLOBS);
        }
        self.blobs.push(b);
    }

    fn set_nonce(&mut self, session: u32, nonce: &[u8]) {
        self.nonces.retain(|(h, _)| *h != session);
        self.nonces.push((session, nonce.to_vec()));
    }

    fn nonce(&self, session: u32) -> Vec<u8> {
        self.nonces
            .iter()
            .find(|(h, _)| *h == session)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    }

    /// The Name of an entity as it enters cpHash (ReadPublic for objects).
    fn name(&mut self, h: u32) -> Vec<u8> {
        if matches!(h >> 24, 0x80 | 0x81) {
            let r = self.run(
                0,
                &command(ST_NO_SESSIONS, CC_READ_PUBLIC, &h.to_be_bytes()),
            );
            if let Some(p) = parse_response(&r, false) {
                let mut at = 0;
                let _ = take_b2(p.params, &mut at);
                if let Some(name) = take_b2(p.params, &mut at) {
                    return name.to_vec();
                }
            }
        }
        h.to_be_bytes().to_vec()
    }

    /// A session's TPMS_AUTH_COMMAND with the HMAC an unbound, unsalted session
    /// computes when every authValue involved is empty.
    fn session_auth(
        &mut self,
        session: u32,
        cp_hash: &[u8],
        nonce_caller: &[u8],
        attrs: u8,
    ) -> Vec<u8> {
        let nonce_tpm = self.nonce(session);
        let mac = hmac(
            HashAlg::Sha256,
            &[],
            &[cp_hash, nonce_caller, &nonce_tpm, &[attrs]],
        );
        let mut a = session.to_be_bytes().to_vec();
        a.extend_from_slice(&b2(nonce_caller));
        a.push(attrs);
        a.extend_from_slice(&b2(mac.as_bytes()));
        a
    }

    /// Builds, runs and digests one command: returns the response.
    fn structured(&mut self, input: &mut Input<'_>) -> Vec<u8> {
        let sel = input.byte();
        let (cc, n_handles) = match COMMANDS.get(usize::from(sel) % (COMMANDS.len() + 1)) {
            Some(row) => *row,
            None => (input.u32(), usize::from(input.byte() % 4)),
        };
        let flags = input.byte();
        let locality = if flags & 0x80 != 0 {
            (flags >> 4) & 0x7
        } else {
            0
        };
        // Handle area.
        let mut handles = Vec::new();
        for _ in 0..n_handles {
            let pick = input.byte();
            let h = if pick == 0xFF {
                input.u32()
            } else {
                let i = usize::from(pick) % self.handles.len().max(1);
                self.handles.get(i).copied().unwrap_or(RH_NULL)
            };
            handles.push(h);
        }
        // Parameters.
        let pmode = input.byte();
        let mut params = if pmode < 0x80 && !self.blobs.is_empty() {
            let mut p = self
                .blobs
                .get(usize::from(pmode & 0x3F) % self.blobs.len())
                .cloned()
                .unwrap_or_default();
            if pmode & 0x40 != 0 {
                // A few point mutations of a known-good area.
                for _ in 0..(input.byte() % 4) + 1 {
                    let at = usize::from(input.u16());
                    let x = input.byte();
                    if !p.is_empty() {
                        let len = p.len();
                        if let Some(b) = p.get_mut(at % len) {
                            *b ^= x;
                        }
                    }
                }
            }
            p
        } else {
            let n = usize::from(input.u16() % 1024);
            input.bytes(n).to_vec()
        };
        if cc == CC_FLUSH_CONTEXT || cc == CC_CONTEXT_SAVE && n_handles == 0 {
            // The handle to flush is a parameter: pick it from the live set.
            let pick = usize::from(input.byte()) % self.handles.len().max(1);
            let h = self.handles.get(pick).copied().unwrap_or(RH_NULL);
            let mut p = h.to_be_bytes().to_vec();
            p.extend_from_slice(&params);
            params = p;
        }
        // Authorization area.
        let mut sessions_used = Vec::new();
        let area: Option<Vec<u8>> = match flags & 0x7 {
            0 => None,
            1 => Some([&RS_PW.to_be_bytes()[..], &[0, 0, 1, 0, 0]].concat()),
            2 => {
                let n = usize::from(input.byte() % 72);
                let pw = input.bytes(n);
                Some([&RS_PW.to_be_bytes()[..], &[0, 0, 1], &b2(pw)].concat())
            }
            3..=5 => {
                let mut names = Vec::new();
                for h in &handles {
                    names.extend_from_slice(&self.name(*h));
                }
                let cp_hash = HashAlg::Sha256.digest(&[&cc.to_be_bytes(), &names, &params]);
                let attrs = input.byte();
                let attrs = if attrs & 0x80 != 0 { attrs & 0x7F } else { 1 };
                let nonce_caller = [input.byte(); 16];
                let which: &[u32] = match flags & 0x7 {
                    3 => &[self.hmac_session],
                    4 => &[self.policy_session],
                    _ => &[self.hmac_session, self.policy_session],
                };
                let mut area = Vec::new();
                for s in which.to_vec() {
                    area.extend_from_slice(&self.session_auth(
                        s,
                        cp_hash.as_bytes(),
                        &nonce_caller,
                        attrs,
                    ));
                    sessions_used.push(s);
                }
                Some(area)
            }
            6 => {
                // Another session from the live set, HMAC as computed above.
                let pick = usize::from(input.byte()) % self.handles.len().max(1);
                let s = self.handles.get(pick).copied().unwrap_or(RS_PW);
                let mut names = Vec::new();
                for h in &handles {
                    names.extend_from_slice(&self.name(*h));
                }
                let cp_hash = HashAlg::Sha256.digest(&[&cc.to_be_bytes(), &names, &params]);
                sessions_used.push(s);
                Some(self.session_auth(s, cp_hash.as_bytes(), &[0x33; 16], 1))
            }
            _ => {
                let n = usize::from(input.byte());
                Some(input.bytes(n).to_vec())
            }
        };
        let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
        let tag = match &area {
            Some(a) => {
                body.extend_from_slice(&(a.len() as u32).to_be_bytes());
                body.extend_from_slice(a);
                ST_SESSIONS
            }
            None => ST_NO_SESSIONS,
        };
        body.extend_from_slice(&params);
        let r = self.run(locality, &command(tag, cc, &body));
        self.digest_response(cc, &r, &sessions_used);
        r
    }

    /// Learns new handles, blobs and nonces from a success response.
    fn digest_response(&mut self, cc: u32, r: &[u8], sessions_used: &[u32]) {
        let Some(p) = parse_response(r, RESPONSE_HANDLE.contains(&cc)) else {
            return;
        };
        for (s, nonce) in sessions_used.iter().zip(p.nonces.iter()) {
            let (s, nonce) = (*s, nonce.to_vec());
            self.set_nonce(s, &nonce);
        }
        let params = p.params.to_vec();
        if let Some(h) = p.handle {
            self.add_handle(h);
            if cc == CC_START_AUTH_SESSION {
                let mut at = 0;
                if let Some(nonce) = take_b2(&params, &mut at) {
                    self.set_nonce(h, nonce);
                }
            }
        }
        match cc {
            CC_CONTEXT_SAVE => self.add_blob(params),
            CC_CREATE => {
                // outPrivate, outPublic: the parameters of a Load.
                let mut at = 0;
                if let (Some(private), Some(public)) =
                    (take_b2(&params, &mut at), take_b2(&params, &mut at))
                {
                    self.add_blob([b2(private), b2(public)].concat());
                }
            }
            _ => {}
        }
    }

    /// Shutdown(su) if asked, then save_state -> from_state (it must load), a new
    /// power cycle and Startup.
    fn state_round_trip(&mut self, how: u8) {
        if how & 1 != 0 {
            self.shutdown(u16::from(how & 2 != 0));
        }
        let image = self.engine.save_state(&self.platform);
        let engine = match Engine::from_state(&image) {
            Ok(e) => e,
            Err(e) => panic!("a state the engine saved does not load: {e:?}"),
        };
        // Saving the reloaded engine again gives the same saved part (the permanent
        // part's clock moves with the platform time).
        assert_eq!(engine.save_state(&self.platform).saved, image.saved);
        self.engine = engine;
        self.engine.init(&mut self.platform);
        self.startup(u16::from(how & 4 != 0));
    }

    fn power_cycle(&mut self, how: u8) {
        if how & 1 != 0 {
            self.shutdown(u16::from(how & 2 != 0));
        }
        self.engine.init(&mut self.platform);
        self.startup(u16::from(how & 4 != 0));
    }

    fn run_op(&mut self, input: &mut Input<'_>) {
        let op = input.byte();
        match op {
            // A structured command (most operations).
            0x00..=0xBF => {
                self.structured(input);
            }
            // A raw command.
            0xC0..=0xCF => {
                let n = usize::from(input.u16() % 2048);
                let cmd = input.bytes(n).to_vec();
                self.run(op & 0x7, &cmd);
            }
            // Power cycle (_TPM_Init), with or without Shutdown and Startup.
            0xD0..=0xD7 => self.power_cycle(op),
            // State saved and reloaded into a new engine (a power loss with the
            // stored image), then _TPM_Init and Startup.
            0xD8..=0xDF => self.state_round_trip(op),
            // Time passes (DA recovery, Clock).
            0xE0..=0xEF => {
                let ms = u64::from(input.byte()) << (op & 0xF);
                self.platform.now_ms = self.platform.now_ms.saturating_add(ms);
            }
            // _TPM_Hash_Start / Data / End.
            0xF0 => self.engine.hash_start(&mut self.platform),
            0xF1 => {
                let n = usize::from(input.byte());
                let data = input.bytes(n).to_vec();
                self.engine.hash_data(&data);
            }
            0xF2 => self.engine.hash_end(),
            // Volatile snapshot (suspend): it must restore after _TPM_Init.
            0xF3 => {
                let v = self.engine.save_volatile();
                self.engine.init(&mut self.platform);
                if let Err(e) = self.engine.restore_volatile(&v) {
                    panic!("a volatile snapshot the engine made does not restore: {e:?}");
                }
            }
            // ContextSave of a live handle, kept as a blob (and ContextLoad of it).
            0xF4..=0xF7 => {
                let pick = usize::from(input.byte()) % self.handles.len().max(1);
                let h = self.handles.get(pick).copied().unwrap_or(RH_NULL);
                let r = self.run(
                    0,
                    &command(ST_NO_SESSIONS, CC_CONTEXT_SAVE, &h.to_be_bytes()),
                );
                self.digest_response(CC_CONTEXT_SAVE, &r, &[]);
                if op & 1 != 0 {
                    if let Some(p) = parse_response(&r, false) {
                        let ctx = p.params.to_vec();
                        let r = self.run(0, &command(ST_NO_SESSIONS, CC_CONTEXT_LOAD, &ctx));
                        self.digest_response(CC_CONTEXT_LOAD, &r, &[]);
                    }
                }
            }
            // A failure-mode entry (only GetTestResult/GetCapability answer).
            0xF8 => self.engine.enter_failure_mode(input.u32()),
            // _TPM_Init without Startup: commands must answer TPM_RC_INITIALIZE.
            0xF9 => self.engine.init(&mut self.platform),
            _ => {
                // Reserved for NV operations (NV_DefineSpace / Write / Read on the
                // indices of a later issue); today a GetCapability of the NV range.
                let mut p = 1u32.to_be_bytes().to_vec();
                p.extend_from_slice(&0x0100_0000u32.to_be_bytes());
                p.extend_from_slice(&8u32.to_be_bytes());
                self.run(0, &command(ST_NO_SESSIONS, CC_GET_CAPABILITY, &p));
            }
        }
    }
}

// Templates and parameter areas of the provisioning (also blobs for the input).

fn srk_template() -> Vec<u8> {
    // ECC P-256 restricted decryption key, AES-128-CFB (fixedTPM, fixedParent,
    // sensitiveDataOrigin, userWithAuth, noDA, restricted, decrypt).
    let attrs: u32 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 10) | (1 << 16) | (1 << 17);
    let mut v = u16s(&[0x0023, 0x000B]);
    v.extend_from_slice(&attrs.to_be_bytes());
    v.extend_from_slice(&b2(&[]));
    v.extend_from_slice(&u16s(&[0x0006, 128, 0x0043, 0x0010, 0x0003, 0x0010]));
    v.extend_from_slice(&b2(&[]));
    v.extend_from_slice(&b2(&[]));
    v
}

fn unseal_policy() -> Vec<u8> {
    HashAlg::Sha256
        .digest(&[
            &[0u8; 32],
            &CC_POLICY_COMMAND_CODE.to_be_bytes(),
            &CC_UNSEAL.to_be_bytes(),
        ])
        .as_bytes()
        .to_vec()
}

fn sealed_template() -> Vec<u8> {
    // fixedTPM, fixedParent, userWithAuth, noDA; authPolicy = PolicyCommandCode(Unseal).
    let attrs: u32 = (1 << 1) | (1 << 4) | (1 << 6) | (1 << 10);
    let mut v = u16s(&[0x0008, 0x000B]);
    v.extend_from_slice(&attrs.to_be_bytes());
    v.extend_from_slice(&b2(&unseal_policy()));
    v.extend_from_slice(&u16s(&[0x0010]));
    v.extend_from_slice(&b2(&[]));
    v
}

fn create_params(data: &[u8], template: &[u8]) -> Vec<u8> {
    let mut p = b2(&[b2(&[]), b2(data)].concat());
    p.extend_from_slice(&b2(template));
    p.extend_from_slice(&b2(&[])); // outsideInfo
    p.extend_from_slice(&0u32.to_be_bytes()); // creationPCR
    p
}

fn start_session_params(kind: u8) -> Vec<u8> {
    let mut p = b2(&[0x5C; 16]);
    p.extend_from_slice(&b2(&[]));
    p.push(kind);
    p.extend_from_slice(&u16s(&[0x0010, 0x000B]));
    p
}

fn start_session(h: &mut Harness, kind: u8) -> u32 {
    let mut body = RH_NULL.to_be_bytes().to_vec();
    body.extend_from_slice(&RH_NULL.to_be_bytes());
    body.extend_from_slice(&start_session_params(kind));
    let r = h.run(0, &command(ST_NO_SESSIONS, CC_START_AUTH_SESSION, &body));
    h.digest_response(CC_START_AUTH_SESSION, &r, &[]);
    be32(&r, 10).unwrap_or(0)
}

fn pw_command(cc: u32, handle: u32, params: &[u8]) -> Vec<u8> {
    let mut body = handle.to_be_bytes().to_vec();
    body.extend_from_slice(&9u32.to_be_bytes());
    body.extend_from_slice(&RS_PW.to_be_bytes());
    body.extend_from_slice(&[0, 0, 1, 0, 0]);
    body.extend_from_slice(params);
    command(ST_SESSIONS, cc, &body)
}

/// The provisioned TPM every input starts from.
fn provision() -> Harness {
    let mut platform = FuzzPlatform {
        counter: 0,
        now_ms: 1000,
    };
    let mut engine = Engine::manufacture();
    engine.init(&mut platform);
    let mut h = Harness {
        engine,
        platform,
        handles: vec![
            RH_OWNER,
            RH_NULL,
            RH_ENDORSEMENT,
            RH_PLATFORM,
            RH_LOCKOUT,
            RS_PW,
            0,           // PCR 0
            16,          // PCR 16 (resettable)
            23,          // PCR 23
            0x8100_0001, // a persistent handle for EvictControl
            0xFFFF_FFFF,
        ],
        blobs: Vec::new(),
        nonces: Vec::new(),
        hmac_session: 0,
        policy_session: 0,
    };
    assert_eq!(be32(&h.startup(0), 6), Some(0), "Startup");

    let primary_params = create_params(&[], &srk_template());
    let r = h.run(0, &pw_command(CC_CREATE_PRIMARY, RH_OWNER, &primary_params));
    h.digest_response(CC_CREATE_PRIMARY, &r, &[]);
    let primary = be32(&r, 10).unwrap_or(0);
    assert_eq!(be32(&r, 6), Some(0), "CreatePrimary");

    let sealed_params = create_params(b"fuzz sealed data", &sealed_template());
    let r = h.run(0, &pw_command(CC_CREATE, primary, &sealed_params));
    assert_eq!(be32(&r, 6), Some(0), "Create");
    h.digest_response(CC_CREATE, &r, &[]);
    let load_params = h.blobs.last().cloned().unwrap_or_default();
    let r = h.run(0, &pw_command(CC_LOAD, primary, &load_params));
    assert_eq!(be32(&r, 6), Some(0), "Load");
    h.digest_response(CC_LOAD, &r, &[]);

    h.hmac_session = start_session(&mut h, 0);
    h.policy_session = start_session(&mut h, 1);
    // A third session that lives context-saved.
    let saved = start_session(&mut h, 0);
    let r = h.run(
        0,
        &command(ST_NO_SESSIONS, CC_CONTEXT_SAVE, &saved.to_be_bytes()),
    );
    h.digest_response(CC_CONTEXT_SAVE, &r, &[]);
    // Saved contexts of both objects.
    for object in [primary, 0x8000_0001] {
        let r = h.run(
            0,
            &command(ST_NO_SESSIONS, CC_CONTEXT_SAVE, &object.to_be_bytes()),
        );
        h.digest_response(CC_CONTEXT_SAVE, &r, &[]);
    }
    // Known-good parameter areas.
    h.add_blob(primary_params);
    h.add_blob(sealed_params);
    h.add_blob(start_session_params(0));
    h.add_blob(start_session_params(1));
    h.add_blob(CC_UNSEAL.to_be_bytes().to_vec());
    assert_eq!(h.blobs.len(), PROVISIONING_BLOBS, "provisioning blobs");
    // NV indices join the live set here once NV_DefineSpace exists (a later issue).
    h
}

fuzz_target!(|data: &[u8]| {
    let mut h = provision();
    let mut input = Input(data);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        h.run_op(&mut input);
    }
});
