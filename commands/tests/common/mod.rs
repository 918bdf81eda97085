//! Shared helpers for the engine's integration tests: a deterministic platform
//! and builders for raw command bytes (wire: TPM2B/sessions/response split; keys:
//! templates, LoadExternal, FlushContext, digests; consts: Part 2 values).
#![allow(
    dead_code,
    clippy::new_without_default,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use vtpm_commands::{Engine, Platform};

mod consts;
mod keys;
mod wire;
// Not every test uses every part.
#[allow(unused_imports)]
pub use {consts::*, keys::*, wire::*};

/// Deterministic entropy (a counter) and a clock the test moves by hand.
pub struct TestPlatform {
    pub counter: u8,
    pub now_ms: u64,
    pub entropy_ok: bool,
    /// Physical presence asserted.
    pub pp: bool,
}

impl TestPlatform {
    pub fn new() -> Self {
        TestPlatform {
            counter: 0,
            now_ms: 1000,
            entropy_ok: true,
            pp: false,
        }
    }
}

impl Platform for TestPlatform {
    fn entropy(&mut self, out: &mut [u8]) -> bool {
        for b in out.iter_mut() {
            self.counter = self.counter.wrapping_add(1);
            *b = self.counter;
        }
        self.entropy_ok
    }
    fn monotonic_ms(&self) -> u64 {
        self.now_ms
    }
    fn physical_presence(&self) -> bool {
        self.pp
    }
}

pub const PW: &[u8] = &[0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0];

/// A command: tag, size, code, then `body` (handles, auth area, parameters).
pub fn cmd(tag: u16, cc: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&tag.to_be_bytes());
    v.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&cc.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A command without sessions.
pub fn plain(cc: u32, params: &[u8]) -> Vec<u8> {
    cmd(0x8001, cc, params)
}

/// A command with one handle and an empty password session.
pub fn with_pw(cc: u32, handle: u32, params: &[u8]) -> Vec<u8> {
    let mut body = handle.to_be_bytes().to_vec();
    body.extend_from_slice(PW);
    body.extend_from_slice(params);
    cmd(0x8002, cc, &body)
}

pub fn rc(resp: &[u8]) -> u32 {
    u32::from_be_bytes(resp[6..10].try_into().unwrap())
}

/// Parameters of a success response (after parameterSize when sessions were used).
pub fn params(resp: &[u8]) -> &[u8] {
    if resp[..2] == [0x80, 0x02] {
        &resp[14..resp.len() - 5]
    } else {
        &resp[10..]
    }
}

pub struct Tpm {
    pub engine: Engine,
    pub platform: TestPlatform,
}

impl Tpm {
    /// A freshly manufactured, powered-on TPM (not yet started).
    pub fn new() -> Self {
        let mut platform = TestPlatform::new();
        let mut engine = Engine::manufacture();
        engine.init(&mut platform);
        Tpm { engine, platform }
    }

    pub fn started() -> Self {
        let mut t = Tpm::new();
        assert_eq!(rc(&t.run(&startup(0))), 0);
        t
    }

    pub fn run(&mut self, command: &[u8]) -> Vec<u8> {
        self.run_at(0, command)
    }

    pub fn run_at(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        let r = self.engine.execute(&mut self.platform, locality, command);
        assert!(r.len() >= 10, "short response");
        assert_eq!(
            u32::from_be_bytes(r[2..6].try_into().unwrap()) as usize,
            r.len(),
            "size field"
        );
        r
    }

    /// _TPM_Init (a power cycle) keeping the engine's state.
    pub fn power_cycle(&mut self) {
        self.engine.init(&mut self.platform);
    }
}

pub const CC_STARTUP: u32 = 0x144;
pub const CC_SHUTDOWN: u32 = 0x145;
pub const CC_GET_RANDOM: u32 = 0x17B;
pub const CC_PCR_READ: u32 = 0x17E;
pub const CC_PCR_EXTEND: u32 = 0x182;
pub const CC_PCR_EVENT: u32 = 0x13C;
pub const CC_PCR_RESET: u32 = 0x13D;
pub const CC_PCR_ALLOCATE: u32 = 0x12B;
pub const CC_GET_CAPABILITY: u32 = 0x17A;
pub const CC_GET_TEST_RESULT: u32 = 0x17C;
pub const CC_SELF_TEST: u32 = 0x143;
pub const CC_READ_CLOCK: u32 = 0x181;

pub fn startup(su: u16) -> Vec<u8> {
    plain(CC_STARTUP, &su.to_be_bytes())
}

pub fn shutdown(su: u16) -> Vec<u8> {
    plain(CC_SHUTDOWN, &su.to_be_bytes())
}

/// PCR_Read of one PCR in one bank.
pub fn pcr_read(alg: u16, pcr: usize) -> Vec<u8> {
    let mut sel = [0u8; 3];
    sel[pcr / 8] = 1 << (pcr % 8);
    let mut p = 1u32.to_be_bytes().to_vec();
    p.extend_from_slice(&alg.to_be_bytes());
    p.push(3);
    p.extend_from_slice(&sel);
    plain(CC_PCR_READ, &p)
}

/// The single digest a one-PCR PCR_Read returned.
pub fn read_one(t: &mut Tpm, alg: u16, pcr: usize) -> Vec<u8> {
    let r = t.run(&pcr_read(alg, pcr));
    assert_eq!(rc(&r), 0);
    let p = params(&r);
    // counter(4) count(4) hash(2) size(1) select(3) count(4) size(2) digest
    let n = u32::from_be_bytes(p[14..18].try_into().unwrap());
    assert_eq!(n, 1, "one digest returned");
    let len = u16::from_be_bytes(p[18..20].try_into().unwrap()) as usize;
    p[20..20 + len].to_vec()
}

/// TPML_DIGEST_VALUES with one digest.
pub fn digest_values(alg: u16, digest: &[u8]) -> Vec<u8> {
    let mut p = 1u32.to_be_bytes().to_vec();
    p.extend_from_slice(&alg.to_be_bytes());
    p.extend_from_slice(digest);
    p
}
