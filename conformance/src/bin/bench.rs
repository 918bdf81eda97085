//! `bench [--vtpm PATH] [--no-build] [--scale F] [--iters N] [--only TEXT] [--startup-runs K]`
//!
//! Socket benchmark: starts vtpm and swtpm (`socket --tpm2`, same flags, no log, fresh state
//! dirs) and runs one workload against each through the same client code, over one
//! persistent TCP connection per server, with raw command bytes built here. Each item runs
//! a warm-up, then N timed iterations (the same N for both servers, items interleaved
//! vtpm/swtpm so background load hits both alike), and the table shows ops/s of each and
//! the ratio vtpm/swtpm. An item whose command a server answers with TPM_RC_COMMAND_CODE is
//! shown as "missing" for that server. It also prints the resident memory of an idle
//! instance and the time from process start to the first successful TPM response.
//!
//! Without `--vtpm`, when run through cargo, it first runs
//! `cargo build --release -p vtpm-transport --bin vtpm` in the same target dir so that the
//! measured binary is a current release build.

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use vtpm_conformance::raw::{
    ATTR_CONTINUE, Reader as Rd, auth_cmd, b2, no_auth_cmd as no_auth, plain, pw_session as pw,
    split_response as split, u16s,
};
use vtpm_conformance::{Peer, free_port_pair, read_response};
use vtpm_crypto::{HashAlg, hmac};

// Command codes (Part 2, TPM_CC).
const CC_NV_UNDEFINE_SPACE: u32 = 0x122;
const CC_NV_DEFINE_SPACE: u32 = 0x12A;
const CC_CREATE_PRIMARY: u32 = 0x131;
const CC_NV_WRITE: u32 = 0x137;
const CC_STARTUP: u32 = 0x144;
const CC_NV_READ: u32 = 0x14E;
const CC_CREATE: u32 = 0x153;
const CC_LOAD: u32 = 0x157;
const CC_QUOTE: u32 = 0x158;
const CC_SIGN: u32 = 0x15D;
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

/// TPM_RC_COMMAND_CODE: the server does not implement the command.
const RC_COMMAND_CODE: u32 = 0x143;
/// TPM_RC_INITIALIZE: TPM2_Startup not sent yet.
const RC_INITIALIZE: u32 = 0x100;

const ST_HASHCHECK: u16 = 0x8024;
const RH_OWNER: u32 = 0x4000_0001;
const RH_NULL: u32 = 0x4000_0007;
/// The NV index the NV item defines (owner range).
const NV_INDEX: u32 = 0x0150_0020;

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

// TPMA_NV.
const NV_AUTHWRITE: u32 = 1 << 2;
const NV_AUTHREAD: u32 = 1 << 18;
const NV_NO_DA: u32 = 1 << 25;

// TPM_ALG_ID and TPM_ECC_CURVE.
const ALG_RSA: u16 = 0x0001;
const ALG_AES: u16 = 0x0006;
const ALG_SHA256: u16 = 0x000B;
const ALG_NULL: u16 = 0x0010;
const ALG_RSASSA: u16 = 0x0014;
const ALG_ECDSA: u16 = 0x0018;
const ALG_ECC: u16 = 0x0023;
const ALG_CFB: u16 = 0x0043;
const ECC_NIST_P256: u16 = 0x0003;

// TPM_SE and TPMA_SESSION.
const SE_HMAC: u8 = 0x00;
const SE_POLICY: u8 = 0x01;
const ATTR_ENCRYPT: u8 = 0x40;

/// How long a server may take to answer its first command.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Read/write timeout of the benchmark connection (RSA key generation can be slow).
const IO_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// Errors.

/// Why a step of the workload stopped.
#[derive(Debug)]
enum Fail {
    /// The server answered TPM_RC_COMMAND_CODE to this command code.
    Missing(u32),
    /// Any other non-success response code.
    Rc {
        cc: u32,
        rc: u32,
    },
    Io(io::Error),
    Parse(&'static str),
}

impl From<vtpm_conformance::raw::Short> for Fail {
    fn from(_: vtpm_conformance::raw::Short) -> Fail {
        Fail::Parse("a short response")
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Missing(cc) => write!(f, "{} not implemented", cc_name(*cc)),
            Fail::Rc { cc, rc } => write!(f, "{} answered {rc:#x}", cc_name(*cc)),
            Fail::Io(e) => write!(f, "i/o: {e}"),
            Fail::Parse(what) => write!(f, "cannot parse {what}"),
        }
    }
}

impl Error for Fail {}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

fn cc_name(cc: u32) -> String {
    let name = match cc {
        CC_NV_UNDEFINE_SPACE => "NV_UndefineSpace",
        CC_NV_DEFINE_SPACE => "NV_DefineSpace",
        CC_CREATE_PRIMARY => "CreatePrimary",
        CC_NV_WRITE => "NV_Write",
        CC_STARTUP => "Startup",
        CC_NV_READ => "NV_Read",
        CC_CREATE => "Create",
        CC_LOAD => "Load",
        CC_QUOTE => "Quote",
        CC_SIGN => "Sign",
        CC_CONTEXT_LOAD => "ContextLoad",
        CC_CONTEXT_SAVE => "ContextSave",
        CC_FLUSH_CONTEXT => "FlushContext",
        CC_POLICY_COMMAND_CODE => "PolicyCommandCode",
        CC_START_AUTH_SESSION => "StartAuthSession",
        CC_GET_CAPABILITY => "GetCapability",
        CC_GET_RANDOM => "GetRandom",
        CC_PCR_READ => "PCR_Read",
        CC_PCR_EXTEND => "PCR_Extend",
        CC_POLICY_GET_DIGEST => "PolicyGetDigest",
        _ => return format!("command {cc:#x}"),
    };
    name.to_string()
}

// ---------------------------------------------------------------------------
// Command building and response parsing.

fn be_u32(b: Option<&[u8]>) -> Option<u32> {
    Some(u32::from_be_bytes(b?.try_into().ok()?))
}

fn rc(resp: &[u8]) -> u32 {
    be_u32(resp.get(6..10)).unwrap_or(u32::MAX)
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

/// An ECDSA-SHA256 P-256 signing key, restricted (an attestation key) or not.
fn ecc_signer_template(restricted: bool) -> Vec<u8> {
    let attrs = if restricted {
        SIGNER | RESTRICTED
    } else {
        SIGNER
    };
    let parms = u16s(&[ALG_NULL, ALG_ECDSA, ALG_SHA256, ECC_NIST_P256, ALG_NULL]);
    public(ALG_ECC, attrs, &[&parms, &b2(&[]), &b2(&[])])
}

/// An RSASSA-SHA256 2048-bit signing key.
fn rsa_signer_template() -> Vec<u8> {
    let mut parms = u16s(&[ALG_NULL, ALG_RSASSA, ALG_SHA256, 2048]);
    parms.extend_from_slice(&0u32.to_be_bytes());
    public(ALG_RSA, SIGNER, &[&parms, &b2(&[])])
}

/// Parameters of CreatePrimary / Create: inSensitive, inPublic, outsideInfo, creationPCR.
fn create_params(template: &[u8]) -> Vec<u8> {
    let mut p = b2(&[b2(&[]), b2(&[])].concat());
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
        &create_params(template),
    )
}

fn flush_cmd(handle: u32) -> Vec<u8> {
    plain(CC_FLUSH_CONTEXT, &handle.to_be_bytes())
}

/// TPML_PCR_SELECTION of SHA-256 PCRs 0-7.
fn pcrs_0_7() -> Vec<u8> {
    let mut p = 1u32.to_be_bytes().to_vec();
    p.extend_from_slice(&ALG_SHA256.to_be_bytes());
    p.extend_from_slice(&[3, 0xFF, 0, 0]);
    p
}

/// StartAuthSession, unbound and unsalted, SHA-256.
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

// ---------------------------------------------------------------------------
// The client: one persistent connection.

struct Client {
    stream: TcpStream,
}

impl Client {
    fn connect(port: u16) -> io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Client { stream })
    }

    fn call(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        self.stream.write_all(command)?;
        read_response(&mut self.stream)
    }

    /// Sends `command`; anything but TPM_RC_SUCCESS is an error.
    fn ok(&mut self, command: &[u8]) -> Result<Vec<u8>, Fail> {
        let r = self.call(command)?;
        let cc = be_u32(command.get(6..10)).unwrap_or(0);
        match rc(&r) {
            0 => Ok(r),
            RC_COMMAND_CODE => Err(Fail::Missing(cc)),
            rc => Err(Fail::Rc { cc, rc }),
        }
    }

    /// CreatePrimary in the owner hierarchy: the object handle.
    fn create_primary(&mut self, template: &[u8]) -> Result<u32, Fail> {
        let r = self.ok(&create_primary_cmd(template))?;
        Ok(split(&r, true)?.0)
    }

    /// Flushes every loaded transient object and session, and the benchmark NV index.
    fn clean(&mut self) -> Result<(), Fail> {
        for first in [0x8000_0000u32, 0x0200_0000, 0x0300_0000] {
            let mut p = 1u32.to_be_bytes().to_vec(); // TPM_CAP_HANDLES
            p.extend_from_slice(&first.to_be_bytes());
            p.extend_from_slice(&64u32.to_be_bytes());
            let r = self.ok(&plain(CC_GET_CAPABILITY, &p))?;
            let mut rd = Rd(split(&r, false)?.1);
            rd.take(1 + 4)?; // moreData, capability
            let n = rd.u32()?;
            let handles = (0..n).map(|_| rd.u32()).collect::<Result<Vec<_>, _>>()?;
            for h in handles {
                self.ok(&flush_cmd(h))?;
            }
        }
        // Not defined (or NV not implemented) is fine.
        self.call(&auth_cmd(
            CC_NV_UNDEFINE_SPACE,
            &[RH_OWNER, NV_INDEX],
            &pw(),
            &[],
        ))?;
        Ok(())
    }
}

/// An unbound, unsalted HMAC session that authorizes no entity: the HMAC key is empty;
/// the client computes the command HMAC and follows the rolling nonceTPM.
struct HmacSession {
    handle: u32,
    nonce_tpm: Vec<u8>,
    nonce_caller: [u8; 16],
    attributes: u8,
}

impl HmacSession {
    fn command(&self, cc: u32, params: &[u8]) -> Vec<u8> {
        let cp_hash = HashAlg::Sha256.digest(&[&cc.to_be_bytes(), params]);
        let mac = hmac(
            HashAlg::Sha256,
            &[],
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
        auth_cmd(cc, &[], &auth, params)
    }

    /// Takes the new nonceTPM from a success response without handles.
    fn roll(&mut self, r: &[u8]) -> Result<(), Fail> {
        let mut rd = Rd(r);
        rd.take(10)?;
        let n = rd.u32()? as usize;
        rd.take(n)?;
        self.nonce_tpm = rd.b2()?.to_vec();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The workload.

type Op = Box<dyn FnMut(&mut Client) -> Result<(), Fail>>;

struct Item {
    name: &'static str,
    /// TPM commands sent per operation.
    cmds: u32,
    /// Default iteration count (times --scale).
    iters: u32,
    /// Sets up what the item needs and returns the operation to time.
    prepare: fn(&mut Client) -> Result<Op, Fail>,
}

/// The same command every time.
fn repeat(command: Vec<u8>) -> Op {
    Box::new(move |c: &mut Client| c.ok(&command).map(drop))
}

/// CreatePrimary of `template`, then FlushContext of the new key.
fn primary_op(template: Vec<u8>) -> Op {
    let command = create_primary_cmd(&template);
    Box::new(move |c: &mut Client| {
        let r = c.ok(&command)?;
        c.ok(&flush_cmd(split(&r, true)?.0)).map(drop)
    })
}

fn workload() -> Vec<Item> {
    vec![
        Item {
            name: "GetRandom(32)",
            cmds: 1,
            iters: 200000,
            prepare: |_| Ok(repeat(plain(CC_GET_RANDOM, &32u16.to_be_bytes()))),
        },
        Item {
            name: "PCR_Extend(SHA-256)",
            cmds: 1,
            iters: 200000,
            prepare: |_| {
                let mut p = 1u32.to_be_bytes().to_vec();
                p.extend_from_slice(&ALG_SHA256.to_be_bytes());
                p.extend_from_slice(&[0x22; 32]);
                Ok(repeat(auth_cmd(CC_PCR_EXTEND, &[16], &pw(), &p)))
            },
        },
        Item {
            name: "PCR_Read(SHA-256, 0-7)",
            cmds: 1,
            iters: 200000,
            prepare: |_| Ok(repeat(plain(CC_PCR_READ, &pcrs_0_7()))),
        },
        Item {
            name: "CreatePrimary ECC P-256 +flush",
            cmds: 2,
            iters: 6000,
            prepare: |_| Ok(primary_op(ecc_srk_template())),
        },
        Item {
            // A primary key is a function of seed and template, and the time to find RSA
            // primes varies a lot from key to key: each iteration uses a different unique
            // field, so the figure is a mean over as many keys as iterations.
            name: "CreatePrimary RSA 2048 +flush",
            cmds: 2,
            iters: 45,
            prepare: |_| {
                let mut n = 0u32;
                Ok(Box::new(move |c: &mut Client| {
                    n += 1;
                    let r = c.ok(&create_primary_cmd(&rsa_srk_template(&n.to_be_bytes())))?;
                    c.ok(&flush_cmd(split(&r, true)?.0)).map(drop)
                }))
            },
        },
        Item {
            name: "Create+Load ECC P-256 +flush",
            cmds: 3,
            iters: 4000,
            prepare: |c| {
                let srk = c.create_primary(&ecc_srk_template())?;
                let create = auth_cmd(
                    CC_CREATE,
                    &[srk],
                    &pw(),
                    &create_params(&ecc_signer_template(false)),
                );
                Ok(Box::new(move |c: &mut Client| {
                    let r = c.ok(&create)?;
                    let mut rd = Rd(split(&r, false)?.1);
                    let private = rd.b2()?;
                    let public = rd.b2()?;
                    let load = [b2(private), b2(public)].concat();
                    let r = c.ok(&auth_cmd(CC_LOAD, &[srk], &pw(), &load))?;
                    c.ok(&flush_cmd(split(&r, true)?.0)).map(drop)
                }))
            },
        },
        Item {
            name: "Sign ECDSA P-256",
            cmds: 1,
            iters: 10000,
            prepare: |c| {
                let key = c.create_primary(&ecc_signer_template(false))?;
                Ok(repeat(sign_cmd(key)))
            },
        },
        Item {
            name: "Sign RSASSA 2048",
            cmds: 1,
            iters: 600,
            prepare: |c| {
                let key = c.create_primary(&rsa_signer_template())?;
                Ok(repeat(sign_cmd(key)))
            },
        },
        Item {
            name: "GetRandom(32) HMAC session+enc",
            cmds: 1,
            iters: 80000,
            prepare: |c| {
                let r = c.ok(&start_session_cmd(SE_HMAC, &[ALG_AES, 128, ALG_CFB]))?;
                let (handle, params) = split(&r, true)?;
                let mut s = HmacSession {
                    handle,
                    nonce_tpm: Rd(params).b2()?.to_vec(),
                    nonce_caller: [0x33; 16],
                    attributes: ATTR_CONTINUE | ATTR_ENCRYPT,
                };
                let params = 32u16.to_be_bytes();
                Ok(Box::new(move |c: &mut Client| {
                    let r = c.ok(&s.command(CC_GET_RANDOM, &params))?;
                    s.roll(&r)
                }))
            },
        },
        Item {
            name: "policy session (4 cmds)",
            cmds: 4,
            iters: 60000,
            prepare: |_| {
                let start = start_session_cmd(SE_POLICY, &[ALG_NULL]);
                Ok(Box::new(move |c: &mut Client| {
                    let r = c.ok(&start)?;
                    let h = split(&r, true)?.0;
                    c.ok(&no_auth(
                        CC_POLICY_COMMAND_CODE,
                        &[h],
                        &CC_UNSEAL.to_be_bytes(),
                    ))?;
                    c.ok(&no_auth(CC_POLICY_GET_DIGEST, &[h], &[]))?;
                    c.ok(&flush_cmd(h)).map(drop)
                }))
            },
        },
        Item {
            name: "NV_Write+NV_Read (32 bytes)",
            cmds: 2,
            iters: 60000,
            prepare: |c| {
                let mut nv_public = NV_INDEX.to_be_bytes().to_vec();
                nv_public.extend_from_slice(&ALG_SHA256.to_be_bytes());
                nv_public.extend_from_slice(&(NV_AUTHWRITE | NV_AUTHREAD | NV_NO_DA).to_be_bytes());
                nv_public.extend_from_slice(&b2(&[]));
                nv_public.extend_from_slice(&32u16.to_be_bytes());
                let define = [b2(&[]), b2(&nv_public)].concat();
                c.ok(&auth_cmd(CC_NV_DEFINE_SPACE, &[RH_OWNER], &pw(), &define))?;
                let mut data = b2(&[0x5A; 32]);
                data.extend_from_slice(&0u16.to_be_bytes());
                let write = auth_cmd(CC_NV_WRITE, &[NV_INDEX, NV_INDEX], &pw(), &data);
                let read = auth_cmd(CC_NV_READ, &[NV_INDEX, NV_INDEX], &pw(), &u16s(&[32, 0]));
                Ok(Box::new(move |c: &mut Client| {
                    c.ok(&write)?;
                    c.ok(&read).map(drop)
                }))
            },
        },
        Item {
            name: "ContextSave+ContextLoad +flush",
            cmds: 3,
            iters: 30000,
            prepare: |c| {
                let key = c.create_primary(&ecc_signer_template(false))?;
                let save = no_auth(CC_CONTEXT_SAVE, &[key], &[]);
                Ok(Box::new(move |c: &mut Client| {
                    let r = c.ok(&save)?;
                    let r = c.ok(&plain(CC_CONTEXT_LOAD, split(&r, false)?.1))?;
                    c.ok(&flush_cmd(split(&r, true)?.0)).map(drop)
                }))
            },
        },
        Item {
            name: "Quote ECDSA (PCR 0-7)",
            cmds: 1,
            iters: 6000,
            prepare: |c| {
                let ak = c.create_primary(&ecc_signer_template(true))?;
                let mut p = b2(&[0x71; 16]); // qualifyingData
                p.extend_from_slice(&ALG_NULL.to_be_bytes()); // the key's scheme
                p.extend_from_slice(&pcrs_0_7());
                Ok(repeat(auth_cmd(CC_QUOTE, &[ak], &pw(), &p)))
            },
        },
    ]
}

/// Sign of a SHA-256 digest with the key's own scheme and a NULL ticket.
fn sign_cmd(key: u32) -> Vec<u8> {
    let mut p = b2(&[0x3C; 32]);
    p.extend_from_slice(&ALG_NULL.to_be_bytes());
    p.extend_from_slice(&ST_HASHCHECK.to_be_bytes());
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    p.extend_from_slice(&b2(&[]));
    auth_cmd(CC_SIGN, &[key], &pw(), &p)
}

/// What one item gave on one server.
enum Outcome {
    OpsPerSec(f64),
    Missing(u32),
    Failed(String),
}

impl Outcome {
    fn cell(&self) -> String {
        match self {
            Outcome::OpsPerSec(v) => format!("{v:.1}"),
            Outcome::Missing(_) => "missing".to_string(),
            Outcome::Failed(_) => "error".to_string(),
        }
    }
}

fn run_item(c: &mut Client, item: &Item, iters: u32) -> Outcome {
    let timed = (|| -> Result<f64, Fail> {
        let mut op = (item.prepare)(c)?;
        for _ in 0..(iters / 10).max(2) {
            op(c)?;
        }
        let start = Instant::now();
        for _ in 0..iters {
            op(c)?;
        }
        Ok(f64::from(iters) / start.elapsed().as_secs_f64())
    })();
    let cleaned = c.clean();
    match (timed, cleaned) {
        (Ok(v), Ok(())) => Outcome::OpsPerSec(v),
        (Err(Fail::Missing(cc)), _) => Outcome::Missing(cc),
        (Err(e), _) | (Ok(_), Err(e)) => Outcome::Failed(e.to_string()),
    }
}

// ---------------------------------------------------------------------------
// Server processes.

/// A server process started by the benchmark (no log file: both run without one).
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Spawns `peer` in socket mode on `state` with `flags`; returns it with the instant
    /// taken right before the spawn.
    fn spawn(peer: &Peer, state: &Path, flags: &str) -> io::Result<(Server, Instant)> {
        let port = free_port_pair();
        let mut cmd = Command::new(peer.program());
        cmd.args(["socket", "--tpm2", "--tpmstate"])
            .arg(format!("dir={}", state.display()))
            .args([
                "--server",
                &format!("type=tcp,port={port},bindaddr=127.0.0.1"),
            ])
            .args([
                "--ctrl",
                &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1),
            ])
            .args(["--flags", flags])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let start = Instant::now();
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run {}: {e}", peer.program().display()),
            )
        })?;
        Ok((Server { child, port }, start))
    }

    /// Polls GetRandom (a new connection per try, 1 ms apart) until it succeeds; returns the
    /// time since `start`. Before TPM2_Startup the answer is TPM_RC_INITIALIZE, so with
    /// `startup-clear` this includes the server's own Startup.
    fn first_response(&mut self, start: Instant) -> io::Result<Duration> {
        let get_random = plain(CC_GET_RANDOM, &8u16.to_be_bytes());
        loop {
            if let Ok(mut c) = Client::connect(self.port)
                && let Ok(r) = c.call(&get_random)
                && rc(&r) == 0
            {
                return Ok(start.elapsed());
            }
            if let Some(st) = self.child.try_wait()? {
                return Err(io::Error::other(format!("exited during start-up: {st}")));
            }
            if start.elapsed() > START_TIMEOUT {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// (VmRSS, VmHWM) in KiB from /proc/<pid>/status.
    fn memory_kib(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| {
            status.lines().find_map(|l| {
                l.strip_prefix(name)?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start-up figures of one peer: median times to the first response, idle memory.
#[derive(Default)]
struct Startup {
    fresh: Vec<Duration>,
    existing: Vec<Duration>,
    idle_rss_kib: u64,
}

/// Per peer: start on a fresh state dir, then again on the state it left; `runs` times,
/// the peers taking turns so that background load hits both alike.
fn measure_startup(peers: &[Peer], runs: usize) -> Result<Vec<Startup>, Box<dyn Error>> {
    let flags = "not-need-init,startup-clear";
    let mut out: Vec<Startup> = peers.iter().map(|_| Startup::default()).collect();
    for _ in 0..runs {
        for (peer, st) in peers.iter().zip(out.iter_mut()) {
            let dir = TempDir::new()?;
            let (mut s, start) = Server::spawn(peer, dir.path(), flags)?;
            st.fresh.push(s.first_response(start)?);
            drop(s);
            let (mut s, start) = Server::spawn(peer, dir.path(), flags)?;
            st.existing.push(s.first_response(start)?);
            std::thread::sleep(Duration::from_millis(200));
            st.idle_rss_kib = s.memory_kib().map_or(0, |m| m.0);
        }
    }
    Ok(out)
}

/// The middle element of a sorted slice.
fn median(sorted: &[Duration]) -> Duration {
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Main.

struct Options {
    vtpm: Option<PathBuf>,
    build: bool,
    scale: f64,
    iters: Option<u32>,
    only: Vec<String>,
    startup_runs: usize,
}

fn parse_args() -> Result<Option<Options>, Box<dyn Error>> {
    let mut o = Options {
        vtpm: None,
        build: true,
        scale: 1.0,
        iters: None,
        only: Vec::new(),
        startup_runs: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--vtpm" => o.vtpm = Some(PathBuf::from(value()?)),
            "--no-build" => o.build = false,
            "--scale" => o.scale = value()?.parse()?,
            "--iters" => o.iters = Some(value()?.parse()?),
            "--only" => o.only.push(value()?),
            "--startup-runs" => o.startup_runs = value()?.parse::<usize>()?.max(1),
            "-h" | "--help" => {
                println!(
                    "usage: bench [--vtpm PATH] [--no-build] [--scale F] [--iters N] [--only TEXT]... [--startup-runs K]\n\
                     --scale F        multiply every item's default iteration count by F\n\
                     --iters N        run every item N times (overrides --scale)\n\
                     --only TEXT      run only items whose name contains TEXT (repeatable)\n\
                     --no-build       do not run `cargo build --release -p vtpm-transport` first"
                );
                return Ok(None);
            }
            _ => return Err(format!("unknown argument {a} (try --help)").into()),
        }
    }
    Ok(Some(o))
}

/// The vtpm binary: `--vtpm`, else the release build in this binary's target dir (built
/// first when run through cargo), else any build found.
fn find_vtpm(o: &Options) -> Result<PathBuf, Box<dyn Error>> {
    if let Some(p) = &o.vtpm {
        return Ok(p.clone());
    }
    // Cargo sets CARGO_MANIFEST_DIR when it runs the binary; the compile-time value is the
    // fallback for a binary started by hand.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let workspace = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace.join("target"));
    if o.build
        && let Some(cargo) = std::env::var_os("CARGO")
    {
        eprintln!("bench: cargo build --release -p vtpm-transport --bin vtpm");
        let st = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "vtpm-transport",
                "--bin",
                "vtpm",
            ])
            .arg("--manifest-path")
            .arg(workspace.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .status()?;
        if !st.success() {
            eprintln!("bench: building vtpm failed ({st}); looking for an existing binary");
        }
    }
    [
        target.join("release/vtpm"),
        workspace.join("target/release/vtpm"),
        target.join("debug/vtpm"),
        workspace.join("target/debug/vtpm"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .ok_or_else(|| {
        "no vtpm binary found (cargo build --release -p vtpm-transport, or --vtpm PATH)".into()
    })
}

fn start_workload_server(peer: &Peer, dir: &Path) -> Result<(Server, Client), Box<dyn Error>> {
    let (mut s, start) = Server::spawn(peer, dir, "not-need-init")?;
    // Wait for the port; the first answer is TPM_RC_INITIALIZE until Startup.
    let mut client = loop {
        match Client::connect(s.port) {
            Ok(c) => break c,
            Err(e) if start.elapsed() > START_TIMEOUT => return Err(e.into()),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let r = client.call(&plain(CC_STARTUP, &0u16.to_be_bytes()))?;
    if rc(&r) != 0 {
        return Err(format!("{}: Startup answered {:#x}", peer.name(), rc(&r)).into());
    }
    if let Some(st) = s.child.try_wait()? {
        return Err(format!("{} exited: {st}", peer.name()).into());
    }
    let probe = client.call(&plain(CC_GET_RANDOM, &8u16.to_be_bytes()))?;
    if rc(&probe) == RC_INITIALIZE {
        return Err(format!("{}: still not started", peer.name()).into());
    }
    Ok((s, client))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<(), Box<dyn Error>> {
    let Some(o) = parse_args()? else {
        return Ok(());
    };
    let vtpm = find_vtpm(&o)?;
    let debug_build = vtpm.components().any(|c| c.as_os_str() == "debug");
    let peers = [Peer::Vtpm(vtpm.clone()), Peer::Swtpm];
    println!(
        "vtpm:  {}{}",
        vtpm.display(),
        if debug_build {
            "  (DEBUG build: numbers are not representative)"
        } else {
            ""
        }
    );
    let swtpm_version = Command::new("swtpm").arg("--version").output()?;
    println!(
        "swtpm: {}",
        String::from_utf8_lossy(&swtpm_version.stdout)
            .lines()
            .next()
            .unwrap_or("?")
    );

    let items: Vec<Item> = workload()
        .into_iter()
        .filter(|i| o.only.is_empty() || o.only.iter().any(|t| i.name.contains(t.as_str())))
        .collect();
    let dirs = [TempDir::new()?, TempDir::new()?];
    let mut servers = Vec::new();
    for (peer, dir) in peers.iter().zip(&dirs) {
        servers.push(start_workload_server(peer, dir.path())?);
    }

    println!();
    println!(
        "{:<32} {:>7} {:>6} {:>13} {:>13} {:>10}",
        "item", "cmds/op", "iters", "vtpm ops/s", "swtpm ops/s", "vtpm/swtpm"
    );
    let mut notes = Vec::new();
    for item in &items {
        let iters = o
            .iters
            .unwrap_or_else(|| ((f64::from(item.iters) * o.scale).round() as u32).max(1));
        let mut outcomes = Vec::new();
        for ((_, client), peer) in servers.iter_mut().zip(&peers) {
            let out = run_item(client, item, iters);
            match &out {
                Outcome::Failed(e) => notes.push(format!("{} on {}: {e}", item.name, peer.name())),
                Outcome::Missing(cc) => notes.push(format!(
                    "{} on {}: {} answers TPM_RC_COMMAND_CODE",
                    item.name,
                    peer.name(),
                    cc_name(*cc)
                )),
                Outcome::OpsPerSec(_) => {}
            }
            outcomes.push(out);
        }
        let ratio = match (outcomes.first(), outcomes.get(1)) {
            (Some(Outcome::OpsPerSec(v)), Some(Outcome::OpsPerSec(s))) if *s > 0.0 => {
                format!("{:.2}x", v / s)
            }
            _ => "-".to_string(),
        };
        let cell = |i: usize| outcomes.get(i).map(Outcome::cell).unwrap_or_default();
        println!(
            "{:<32} {:>7} {:>6} {:>13} {:>13} {:>10}",
            item.name,
            item.cmds,
            iters,
            cell(0),
            cell(1),
            ratio
        );
        io::stdout().flush()?;
    }
    println!(
        "  one op = cmds/op TPM commands on one persistent connection; warm-up iters/10 ops first"
    );
    println!(
        "  CreatePrimary RSA: a different unique field per op, so each server derives `iters` \
         different keys (prime search time varies a lot per key)"
    );
    for n in &notes {
        println!("  note: {n}");
    }

    println!();
    let after: Vec<_> = servers.iter().map(|(s, _)| s.memory_kib()).collect();
    drop(servers);
    let mut startups = measure_startup(&peers, o.startup_runs)?;
    println!("{:<52} {:>10} {:>10}", "", "vtpm", "swtpm");
    let row = |label: &str, f: &dyn Fn(usize) -> String| {
        println!("{label:<52} {:>10} {:>10}", f(0), f(1));
    };
    row("idle VmRSS (started, one GetRandom answered)", &|i| {
        startups
            .get(i)
            .map(|s| mib(s.idle_rss_kib))
            .unwrap_or_default()
    });
    row("VmRSS after the workload", &|i| {
        after
            .get(i)
            .copied()
            .flatten()
            .map(|m| mib(m.0))
            .unwrap_or_default()
    });
    row("VmHWM (peak RSS) after the workload", &|i| {
        after
            .get(i)
            .copied()
            .flatten()
            .map(|m| mib(m.1))
            .unwrap_or_default()
    });
    for s in &mut startups {
        s.fresh.sort();
        s.existing.sort();
    }
    row(
        &format!(
            "start -> first GetRandom, fresh state (median of {})",
            o.startup_runs
        ),
        &|i| {
            startups
                .get(i)
                .map(|s| ms(median(&s.fresh)))
                .unwrap_or_default()
        },
    );
    row(
        &format!(
            "start -> first GetRandom, existing state (median of {})",
            o.startup_runs
        ),
        &|i| {
            startups
                .get(i)
                .map(|s| ms(median(&s.existing)))
                .unwrap_or_default()
        },
    );
    Ok(())
}
