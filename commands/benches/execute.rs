//! Criterion benchmarks of `Engine::execute` per command, in-process (no transport, no
//! state file): `cargo bench -p vtpm-commands [FILTER]`.
//!
//! Every benchmark sends the raw command bytes a client would send. Commands that leave
//! something behind (a new object, a loaded context) are timed alone, and the cleanup
//! (FlushContext) runs outside the timed region, except where the brief sequence is the
//! unit of work (the policy session: start, PolicyCommandCode, PolicyGetDigest, flush).
//!
//! Primary keys are a pure function of the hierarchy seed and the template, so the RSA
//! CreatePrimary benchmark times the derivation of one fixed key over and over: the
//! prime search takes the same path every iteration, and a different template (or seed)
//! can be faster or slower by a large factor.

use std::error::Error;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use vtpm_commands::{Engine, Platform};
use vtpm_conformance::raw::{
    ATTR_CONTINUE, Reader as Rd, auth_cmd, b2, no_auth_cmd as no_auth, plain, pw_session as pw,
    split_response as split, u16s,
};
use vtpm_crypto::{HashAlg, hmac};

type BenchResult<T> = Result<T, Box<dyn Error>>;

// Command codes (Part 2, TPM_CC).
const CC_CREATE_PRIMARY: u32 = 0x131;
const CC_STARTUP: u32 = 0x144;
const CC_CREATE: u32 = 0x153;
const CC_LOAD: u32 = 0x157;
const CC_UNSEAL: u32 = 0x15E;
const CC_CONTEXT_LOAD: u32 = 0x161;
const CC_CONTEXT_SAVE: u32 = 0x162;
const CC_FLUSH_CONTEXT: u32 = 0x165;
const CC_POLICY_COMMAND_CODE: u32 = 0x16C;
const CC_START_AUTH_SESSION: u32 = 0x176;
const CC_GET_CAPABILITY: u32 = 0x17A;
const CC_GET_RANDOM: u32 = 0x17B;
const CC_PCR_READ: u32 = 0x17E;
const CC_PCR_EXTEND: u32 = 0x182;
const CC_POLICY_GET_DIGEST: u32 = 0x189;

const RH_OWNER: u32 = 0x4000_0001;
const RH_NULL: u32 = 0x4000_0007;

// TPMA_OBJECT.
const FIXED_TPM: u32 = 1 << 1;
const FIXED_PARENT: u32 = 1 << 4;
const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
const USER_WITH_AUTH: u32 = 1 << 6;
const NO_DA: u32 = 1 << 10;
const RESTRICTED: u32 = 1 << 16;
const DECRYPT: u32 = 1 << 17;
const SIGN: u32 = 1 << 18;
const STORAGE: u32 = FIXED_TPM
    | FIXED_PARENT
    | SENSITIVE_DATA_ORIGIN
    | USER_WITH_AUTH
    | NO_DA
    | RESTRICTED
    | DECRYPT;
const SIGNER: u32 =
    FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | NO_DA | SIGN;
const SEALED: u32 = FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH | NO_DA;

// TPM_ALG_ID and TPM_ECC_CURVE.
const ALG_RSA: u16 = 0x0001;
const ALG_AES: u16 = 0x0006;
const ALG_KEYEDHASH: u16 = 0x0008;
const ALG_SHA256: u16 = 0x000B;
const ALG_NULL: u16 = 0x0010;
const ALG_ECDSA: u16 = 0x0018;
const ALG_ECC: u16 = 0x0023;
const ALG_CFB: u16 = 0x0043;
const ECC_NIST_P256: u16 = 0x0003;

// TPM_SE and TPMA_SESSION.
const SE_HMAC: u8 = 0x00;
const SE_POLICY: u8 = 0x01;
const ATTR_ENCRYPT: u8 = 0x40;

/// Entropy from a xorshift generator (cheap, so the benchmarks time the engine) and a
/// real monotonic clock.
struct BenchPlatform {
    state: u64,
    start: Instant,
}

impl Platform for BenchPlatform {
    fn entropy(&mut self, out: &mut [u8]) -> bool {
        for b in out.iter_mut() {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = (self.state >> 24) as u8;
        }
        true
    }

    fn monotonic_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A manufactured, started engine with its platform.
struct Tpm {
    engine: Engine,
    platform: BenchPlatform,
}

impl Tpm {
    fn started() -> BenchResult<Tpm> {
        let mut platform = BenchPlatform {
            state: 0x9E37_79B9_7F4A_7C15,
            start: Instant::now(),
        };
        let mut engine = Engine::manufacture();
        engine.init(&mut platform);
        let mut t = Tpm { engine, platform };
        t.ok(&plain(CC_STARTUP, &0u16.to_be_bytes()))?;
        Ok(t)
    }

    fn exec(&mut self, command: &[u8]) -> Vec<u8> {
        self.engine.execute(&mut self.platform, 0, command)
    }

    /// Executes `command` and fails unless it answers TPM_RC_SUCCESS.
    fn ok(&mut self, command: &[u8]) -> BenchResult<Vec<u8>> {
        let r = self.exec(command);
        match rc(&r) {
            0 => Ok(r),
            code => Err(format!("{} answered {code:#x}", command_label(command)).into()),
        }
    }

    fn flush(&mut self, handle: u32) -> BenchResult<()> {
        self.ok(&plain(CC_FLUSH_CONTEXT, &handle.to_be_bytes()))
            .map(drop)
    }
}

fn command_label(command: &[u8]) -> String {
    let cc = command
        .get(6..10)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0);
    vtpm_commands::command_name(cc)
        .map(str::to_string)
        .unwrap_or_else(|| format!("command {cc:#x}"))
}

// ---------------------------------------------------------------------------
// Command building and response parsing.

fn rc(resp: &[u8]) -> u32 {
    resp.get(6..10)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .unwrap_or(u32::MAX)
}

fn public(object_type: u16, attrs: u32, rest: &[&[u8]]) -> Vec<u8> {
    let mut v = object_type.to_be_bytes().to_vec();
    v.extend_from_slice(&ALG_SHA256.to_be_bytes());
    v.extend_from_slice(&attrs.to_be_bytes());
    v.extend_from_slice(&b2(&[]));
    for part in rest {
        v.extend_from_slice(part);
    }
    v
}

/// An ECC P-256 storage key with AES-128-CFB (the usual SRK).
fn ecc_srk_template() -> Vec<u8> {
    let parms = u16s(&[ALG_AES, 128, ALG_CFB, ALG_NULL, ECC_NIST_P256, ALG_NULL]);
    public(ALG_ECC, STORAGE, &[&parms, &b2(&[]), &b2(&[])])
}

/// An RSA-2048 storage key with AES-128-CFB (exponent 65537); `unique` tells keys apart.
fn rsa_srk_template(unique: &[u8]) -> Vec<u8> {
    let mut parms = u16s(&[ALG_AES, 128, ALG_CFB, ALG_NULL, 2048]);
    parms.extend_from_slice(&0u32.to_be_bytes());
    public(ALG_RSA, STORAGE, &[&parms, &b2(unique)])
}

/// An ECDSA-SHA256 P-256 signing key.
fn ecc_signer_template() -> Vec<u8> {
    let parms = u16s(&[ALG_NULL, ALG_ECDSA, ALG_SHA256, ECC_NIST_P256, ALG_NULL]);
    public(ALG_ECC, SIGNER, &[&parms, &b2(&[]), &b2(&[])])
}

/// A sealed data object (keyed hash, no scheme).
fn sealed_template() -> Vec<u8> {
    public(ALG_KEYEDHASH, SEALED, &[&ALG_NULL.to_be_bytes(), &b2(&[])])
}

/// Parameters of CreatePrimary / Create: inSensitive, inPublic, outsideInfo, creationPCR.
fn create_params(data: &[u8], template: &[u8]) -> Vec<u8> {
    let mut p = b2(&[b2(&[]), b2(data)].concat());
    p.extend_from_slice(&b2(template));
    p.extend_from_slice(&b2(&[]));
    p.extend_from_slice(&0u32.to_be_bytes());
    p
}

fn create_primary_cmd(template: &[u8]) -> Vec<u8> {
    auth_cmd(
        CC_CREATE_PRIMARY,
        &[RH_OWNER],
        &pw(),
        &create_params(&[], template),
    )
}

fn create_cmd(parent: u32, data: &[u8], template: &[u8]) -> Vec<u8> {
    auth_cmd(CC_CREATE, &[parent], &pw(), &create_params(data, template))
}

/// Create's (outPrivate, outPublic).
fn created_blobs(r: &[u8]) -> BenchResult<(Vec<u8>, Vec<u8>)> {
    let mut rd = Rd(split(r, false)?.1);
    let private = rd.b2()?.to_vec();
    let public = rd.b2()?.to_vec();
    Ok((private, public))
}

fn load_cmd(parent: u32, private: &[u8], public: &[u8]) -> Vec<u8> {
    auth_cmd(
        CC_LOAD,
        &[parent],
        &pw(),
        &[b2(private), b2(public)].concat(),
    )
}

/// StartAuthSession, unbound and unsalted, SHA-256: the command.
fn start_session_cmd(kind: u8, symmetric: &[u16]) -> Vec<u8> {
    let mut p = RH_NULL.to_be_bytes().to_vec();
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    p.extend_from_slice(&b2(&[0x5C; 16]));
    p.extend_from_slice(&b2(&[]));
    p.push(kind);
    p.extend_from_slice(&u16s(symmetric));
    p.extend_from_slice(&ALG_SHA256.to_be_bytes());
    plain(CC_START_AUTH_SESSION, &p)
}

/// StartAuthSession: (handle, nonceTPM).
fn start_session(t: &mut Tpm, kind: u8, symmetric: &[u16]) -> BenchResult<(u32, Vec<u8>)> {
    let r = t.ok(&start_session_cmd(kind, symmetric))?;
    let (handle, params) = split(&r, true)?;
    Ok((handle, Rd(params).b2()?.to_vec()))
}

/// An unbound, unsalted HMAC session used without an authorized entity: the HMAC key
/// is empty, and the command HMAC covers cpHash, the nonces and the attributes.
struct HmacSession {
    handle: u32,
    nonce_tpm: Vec<u8>,
    nonce_caller: [u8; 16],
    attributes: u8,
}

impl HmacSession {
    /// The command with this session's authorization (HMAC computed here).
    fn command(
        &self,
        cc: u32,
        handles: &[u32],
        names: &[u8],
        params: &[u8],
        key: &[u8],
    ) -> Vec<u8> {
        let cp_hash = HashAlg::Sha256.digest(&[&cc.to_be_bytes(), names, params]);
        let mac = hmac(
            HashAlg::Sha256,
            key,
            &[
                cp_hash.as_bytes(),
                &self.nonce_caller,
                &self.nonce_tpm,
                &[self.attributes],
            ],
        );
        let mut auth = self.handle.to_be_bytes().to_vec();
        auth.extend_from_slice(&b2(&self.nonce_caller));
        auth.push(self.attributes);
        auth.extend_from_slice(&b2(mac.as_bytes()));
        auth_cmd(cc, handles, &auth, params)
    }

    /// Takes the rolled nonceTPM from a success response.
    fn roll(&mut self, r: &[u8]) -> BenchResult<()> {
        let mut rd = Rd(r);
        rd.take(10)?;
        let n = rd.u32()? as usize;
        rd.take(n)?;
        self.nonce_tpm = rd.b2()?.to_vec();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Benchmarks.

/// Records the first failure seen inside a timed closure (which cannot return it).
#[derive(Default)]
struct Failure(Option<String>);

impl Failure {
    fn check(&mut self, what: &str, r: &[u8]) {
        let code = rc(r);
        if code != 0 && self.0.is_none() {
            self.0 = Some(format!("{what} answered {code:#x}"));
        }
    }
    fn note(&mut self, e: Box<dyn Error>) {
        if self.0.is_none() {
            self.0 = Some(e.to_string());
        }
    }
    fn into_result(self) -> BenchResult<()> {
        match self.0 {
            None => Ok(()),
            Some(e) => Err(e.into()),
        }
    }
}

/// Times `timed` alone per iteration; `cleanup` runs after it, outside the timing.
fn bench_with_cleanup<T>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    t: &mut Tpm,
    f: &mut Failure,
    mut timed: impl FnMut(&mut Tpm) -> Vec<u8>,
    mut cleanup: impl FnMut(&mut Tpm, &[u8]) -> BenchResult<T>,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let r = black_box(timed(t));
                total += start.elapsed();
                f.check(name, &r);
                if let Err(e) = cleanup(t, &r) {
                    f.note(e);
                }
            }
            total
        })
    });
}

fn simple(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, command: &[u8]) -> BenchResult<()> {
    let mut t = Tpm::started()?;
    t.ok(command)?;
    let mut f = Failure::default();
    g.bench_function(name, |b| {
        b.iter(|| {
            let r = t.exec(black_box(command));
            f.check(name, &r);
            r
        })
    });
    f.into_result()
}

fn basic(c: &mut Criterion) -> BenchResult<()> {
    let mut g = c.benchmark_group("basic");
    simple(
        &mut g,
        "GetRandom(32)",
        &plain(CC_GET_RANDOM, &32u16.to_be_bytes()),
    )?;

    let mut extend = 1u32.to_be_bytes().to_vec();
    extend.extend_from_slice(&ALG_SHA256.to_be_bytes());
    extend.extend_from_slice(&[0x22; 32]);
    simple(
        &mut g,
        "PCR_Extend(SHA-256)",
        &auth_cmd(CC_PCR_EXTEND, &[16], &pw(), &extend),
    )?;

    // SHA-256 bank, PCRs 0-7 (eight digests: the most one PCR_Read returns).
    let mut read = 1u32.to_be_bytes().to_vec();
    read.extend_from_slice(&ALG_SHA256.to_be_bytes());
    read.extend_from_slice(&[3, 0xFF, 0, 0]);
    simple(&mut g, "PCR_Read(SHA-256,0-7)", &plain(CC_PCR_READ, &read))?;

    // TPM_CAP_TPM_PROPERTIES from TPM_PT_FIXED.
    let mut cap = 6u32.to_be_bytes().to_vec();
    cap.extend_from_slice(&0x100u32.to_be_bytes());
    cap.extend_from_slice(&64u32.to_be_bytes());
    simple(
        &mut g,
        "GetCapability(TPM_PROPERTIES)",
        &plain(CC_GET_CAPABILITY, &cap),
    )?;
    g.finish();
    Ok(())
}

fn primary(c: &mut Criterion) -> BenchResult<()> {
    let mut g = c.benchmark_group("primary");
    g.sample_size(20);
    for (name, template) in [
        ("CreatePrimary(ECC P-256)", ecc_srk_template()),
        ("CreatePrimary(RSA 2048)", rsa_srk_template(&[])),
    ] {
        let mut t = Tpm::started()?;
        let command = create_primary_cmd(&template);
        let mut f = Failure::default();
        bench_with_cleanup(
            &mut g,
            name,
            &mut t,
            &mut f,
            |t| t.exec(&command),
            |t, r| t.flush(split(r, true)?.0),
        );
        f.into_result()?;
    }

    // The time to find RSA primes varies a lot from key to key: the mean over a fixed
    // set of 16 keys (templates differing in their unique field) is the figure to
    // compare with a server whose seed, and so whose keys, differ.
    g.sample_size(10);
    let commands: Vec<Vec<u8>> = (0u32..16)
        .map(|i| create_primary_cmd(&rsa_srk_template(&i.to_be_bytes())))
        .collect();
    let mut t = Tpm::started()?;
    let mut next = commands.iter().cycle();
    let mut f = Failure::default();
    bench_with_cleanup(
        &mut g,
        "CreatePrimary(RSA 2048, mean of 16 keys)",
        &mut t,
        &mut f,
        |t| match next.next() {
            Some(command) => t.exec(command),
            None => Vec::new(),
        },
        |t, r| t.flush(split(r, true)?.0),
    );
    f.into_result()?;
    g.finish();
    Ok(())
}

/// An engine with an ECC SRK loaded: (engine, SRK handle).
fn with_srk() -> BenchResult<(Tpm, u32)> {
    let mut t = Tpm::started()?;
    let r = t.ok(&create_primary_cmd(&ecc_srk_template()))?;
    let srk = split(&r, true)?.0;
    Ok((t, srk))
}

fn objects(c: &mut Criterion) -> BenchResult<()> {
    let mut g = c.benchmark_group("object");
    let (mut t, srk) = with_srk()?;
    let create = create_cmd(srk, &[], &ecc_signer_template());
    let mut f = Failure::default();
    g.bench_function("Create(ECC P-256 under SRK)", |b| {
        b.iter(|| {
            let r = t.exec(black_box(&create));
            f.check("Create", &r);
            r
        })
    });
    f.into_result()?;

    let (private, public) = created_blobs(&t.ok(&create)?)?;
    let load = load_cmd(srk, &private, &public);
    let mut f = Failure::default();
    bench_with_cleanup(
        &mut g,
        "Load(ECC P-256 under SRK)",
        &mut t,
        &mut f,
        |t| t.exec(&load),
        |t, r| t.flush(split(r, true)?.0),
    );
    f.into_result()?;

    // ContextSave / ContextLoad of the loaded key.
    let key = split(&t.ok(&load)?, true)?.0;
    let save = no_auth(CC_CONTEXT_SAVE, &[key], &[]);
    let mut f = Failure::default();
    g.bench_function("ContextSave(object)", |b| {
        b.iter(|| {
            let r = t.exec(black_box(&save));
            f.check("ContextSave", &r);
            r
        })
    });
    f.into_result()?;
    let saved = t.ok(&save)?;
    let context_load = plain(CC_CONTEXT_LOAD, split(&saved, false)?.1);
    let mut f = Failure::default();
    bench_with_cleanup(
        &mut g,
        "ContextLoad(object)",
        &mut t,
        &mut f,
        |t| t.exec(&context_load),
        |t, r| t.flush(split(r, true)?.0),
    );
    f.into_result()?;
    t.flush(key)?;

    // Unseal of 32 bytes with the empty password.
    let sealed = created_blobs(&t.ok(&create_cmd(srk, &[0xA5; 32], &sealed_template()))?)?;
    let item = split(&t.ok(&load_cmd(srk, &sealed.0, &sealed.1))?, true)?.0;
    let unseal = auth_cmd(CC_UNSEAL, &[item], &pw(), &[]);
    let mut f = Failure::default();
    g.bench_function("Unseal(32 bytes)", |b| {
        b.iter(|| {
            let r = t.exec(black_box(&unseal));
            f.check("Unseal", &r);
            r
        })
    });
    f.into_result()?;
    g.finish();
    Ok(())
}

fn sessions(c: &mut Criterion) -> BenchResult<()> {
    let mut g = c.benchmark_group("session");

    // GetRandom(32) through an unbound HMAC session with response encryption
    // (AES-128-CFB): the client computes the command HMAC and follows nonceTPM.
    let mut t = Tpm::started()?;
    let (handle, nonce_tpm) = start_session(&mut t, SE_HMAC, &[ALG_AES, 128, ALG_CFB])?;
    let mut s = HmacSession {
        handle,
        nonce_tpm,
        nonce_caller: [0x33; 16],
        attributes: ATTR_CONTINUE | ATTR_ENCRYPT,
    };
    let params = 32u16.to_be_bytes();
    let mut f = Failure::default();
    g.bench_function("GetRandom(32) HMAC session+encrypt", |b| {
        b.iter(|| {
            let r = t.exec(&s.command(CC_GET_RANDOM, &[], &[], &params, &[]));
            f.check("GetRandom with an HMAC session", &r);
            if let Err(e) = s.roll(&r) {
                f.note(e);
            }
        })
    });
    f.into_result()?;

    // PCR_Extend of PCR 16 authorized by an HMAC session (PCR authValue empty).
    let (handle, nonce_tpm) = start_session(&mut t, SE_HMAC, &[ALG_NULL])?;
    let mut s = HmacSession {
        handle,
        nonce_tpm,
        nonce_caller: [0x44; 16],
        attributes: ATTR_CONTINUE,
    };
    let mut extend = 1u32.to_be_bytes().to_vec();
    extend.extend_from_slice(&ALG_SHA256.to_be_bytes());
    extend.extend_from_slice(&[0x22; 32]);
    // The name of a PCR is its handle.
    let pcr = 16u32.to_be_bytes();
    let mut f = Failure::default();
    g.bench_function("PCR_Extend HMAC session", |b| {
        b.iter(|| {
            let r = t.exec(&s.command(CC_PCR_EXTEND, &[16], &pcr, &extend, &[]));
            f.check("PCR_Extend with an HMAC session", &r);
            if let Err(e) = s.roll(&r) {
                f.note(e);
            }
        })
    });
    f.into_result()?;

    // A whole policy session: StartAuthSession(policy), PolicyCommandCode(Unseal),
    // PolicyGetDigest, FlushContext.
    let start = start_session_cmd(SE_POLICY, &[ALG_NULL]);
    let mut f = Failure::default();
    g.bench_function(
        "policy session (start+PolicyCommandCode+GetDigest+flush)",
        |b| {
            b.iter(|| {
                let r = t.exec(&start);
                f.check("StartAuthSession(policy)", &r);
                let handle = match split(&r, true) {
                    Ok((h, _)) => h,
                    Err(e) => {
                        f.note(e.into());
                        return;
                    }
                };
                let r = t.exec(&no_auth(
                    CC_POLICY_COMMAND_CODE,
                    &[handle],
                    &CC_UNSEAL.to_be_bytes(),
                ));
                f.check("PolicyCommandCode", &r);
                let r = t.exec(&no_auth(CC_POLICY_GET_DIGEST, &[handle], &[]));
                f.check("PolicyGetDigest", &r);
                black_box(r);
                let r = t.exec(&plain(CC_FLUSH_CONTEXT, &handle.to_be_bytes()));
                f.check("FlushContext", &r);
            })
        },
    );
    f.into_result()?;
    g.finish();
    Ok(())
}

fn main() -> BenchResult<()> {
    let mut c = Criterion::default().configure_from_args();
    basic(&mut c)?;
    primary(&mut c)?;
    objects(&mut c)?;
    sessions(&mut c)?;
    c.final_summary();
    Ok(())
}
