//! `differential [--vtpm PATH] [--only PATTERN] [--no-generated] [--rerecord] [-v]`
//!
//! Replays command streams against a fresh vtpm and a fresh swtpm (both `socket
//! --flags not-need-init`, new state directories, same inputs in the same order) and
//! compares the answers:
//!
//! - recorded streams, `conformance/streams/*.rec` (made by `--rerecord`, which runs the
//!   tpm2-tools flows of [`FLOWS`] against `vtpm --record`): every response through the
//!   masks of `vtpm_conformance::diff` (response code and every deterministic field).
//!   Each recorded command is rewritten for the peer where it carries what an earlier
//!   response returned (context blobs, private/public areas, handles, session HMACs);
//!   see `diff::Replay`. The recorded vtpm responses are also compared with the
//!   replayed vtpm responses ("drift": vtpm's behaviour changed since the recording);
//! - generated streams, one per command code vtpm implements (its
//!   GetCapability(TPM_CAP_COMMANDS)), from a fixed seed: malformed and edge-case
//!   commands (truncated, oversized, bad tags, handles, session areas, parameter
//!   values) after a common setup; only response codes are compared.
//!
//! A command the TPM answers TPM_RC_RETRY, TPM_RC_YIELDED or TPM_RC_TESTING is sent again,
//! as a TSS does (libtpms asks so for the first key creation after start-up).
//!
//! The table has one row per stream: commands, same (every compared field equal),
//! allowed (all differing fields covered by `conformance/diff-allow.txt`), bugs (covered
//! by entries marked as known vtpm bugs), unexplained, rewritten (recorded commands whose
//! bytes were adapted for a peer) and drift. Any unexplained difference makes the exit
//! status non-zero; allow-list entries that match nothing are listed so they can go.
//!
//! Which streams are replayable: all committed ones (startup-getcap, pcr, objects,
//! hierarchy, policy); a command the rewriting cannot reproduce (a salted, bound or
//! encrypting session) is listed under "notes" as not replayable.

use std::io::{self, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use vtpm_conformance::diff::{self, Allowed, Exchange, Replay};
use vtpm_conformance::{
    Peer, Tools, TpmServer, command, free_port_pair, hex, send_and_drain, transact,
};

const OWNER: u32 = 0x4000_0001;
const LOCKOUT: u32 = 0x4000_000A;
const PLATFORM: u32 = 0x4000_000C;
const NULL: u32 = 0x4000_0007;
const PW: u32 = 0x4000_0009;
const PRIMARY: u32 = 0x8000_0000;
const CHILD: u32 = 0x8000_0001;
const POLICY: u32 = 0x0300_0000;

struct Options {
    vtpm: PathBuf,
    only: Option<String>,
    generated: bool,
    verbose: bool,
}

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = root
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.clone());
    let mut vtpm = None;
    let mut opts = Options {
        vtpm: PathBuf::new(),
        only: None,
        generated: true,
        verbose: false,
    };
    let mut rerecord = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--vtpm" => vtpm = args.next().map(PathBuf::from),
            "--only" => opts.only = args.next(),
            "--no-generated" => opts.generated = false,
            "--rerecord" => rerecord = true,
            "-v" | "--verbose" => opts.verbose = true,
            "-h" | "--help" => {
                println!(
                    "usage: differential [--vtpm PATH] [--only STREAM-PATTERN] [--no-generated] [--rerecord] [-v]"
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("differential: unknown argument {other:?} (see --help)");
                return ExitCode::FAILURE;
            }
        }
    }
    opts.vtpm = vtpm.unwrap_or_else(|| vtpm_conformance::vtpm_binary(&workspace));
    if !opts.vtpm.exists() {
        eprintln!(
            "differential: no vtpm binary at {} (cargo build -p vtpm-transport first, or --vtpm PATH)",
            opts.vtpm.display()
        );
        return ExitCode::FAILURE;
    }
    let streams_dir = root.join("streams");
    if rerecord {
        for flow in FLOWS {
            if opts
                .only
                .as_deref()
                .is_some_and(|p| !diff::glob(p, flow.name))
            {
                continue;
            }
            eprintln!("differential: recording {}", flow.name);
            if let Err(e) = record_flow(&opts.vtpm, flow, &streams_dir) {
                eprintln!("differential: recording {} failed: {e}", flow.name);
                return ExitCode::FAILURE;
            }
        }
    }
    let allow = match std::fs::read_to_string(root.join("diff-allow.txt"))
        .map_err(|e| e.to_string())
        .and_then(|t| diff::parse_allow(&t))
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("differential: conformance/diff-allow.txt: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&opts, &streams_dir, &allow) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("differential: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One stream's results.
#[derive(Default)]
struct Row {
    name: String,
    commands: usize,
    same: usize,
    allowed: usize,
    /// Differences the allow-list marks as known vtpm bugs (reason starting "BUG").
    bugs: usize,
    unexplained: usize,
    rewritten: usize,
    not_replayable: usize,
    drift: usize,
    /// Commands sent again after TPM_RC_RETRY/YIELDED/TESTING.
    retries: usize,
}

/// One difference worth printing.
struct Finding {
    stream: String,
    index: usize,
    name: String,
    detail: String,
    command: Vec<u8>,
    vtpm: Vec<u8>,
    swtpm: Vec<u8>,
    /// The reasons of the allow-list entries, when every differing field is allowed.
    allowed: Option<String>,
}

fn run(opts: &Options, streams_dir: &Path, allow: &[Allowed]) -> Result<bool, String> {
    let mut rows = Vec::new();
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let mut used = vec![0usize; allow.len()];
    let wanted = |name: &str| opts.only.as_deref().is_none_or(|p| diff::glob(p, name));
    // Recorded streams.
    let mut files: Vec<PathBuf> = std::fs::read_dir(streams_dir)
        .map_err(|e| format!("{}: {e}", streams_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rec"))
        .collect();
    files.sort();
    for file in files {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !wanted(&name) {
            continue;
        }
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let stream = diff::parse_record(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        eprintln!("differential: replaying {name} ({} commands)", stream.len());
        let row = replay_recorded(
            opts,
            &name,
            &stream,
            allow,
            &mut used,
            &mut findings,
            &mut notes,
        )?;
        rows.push(row);
    }
    // Generated streams.
    if opts.generated {
        let table = vtpm_commands(&opts.vtpm)?;
        for (cc, nh) in table {
            let name = format!("gen/{}", diff::cc_name(cc));
            if !wanted(&name) {
                continue;
            }
            let cases = generate(cc, nh);
            if opts.verbose {
                eprintln!("differential: {name} ({} cases)", cases.len());
            }
            rows.push(run_generated(
                opts,
                &name,
                &cases,
                allow,
                &mut used,
                &mut findings,
            )?);
        }
    }
    print_report(&rows, &findings, &notes, allow, &used, opts.verbose);
    Ok(rows.iter().all(|r| r.unexplained == 0))
}

fn print_report(
    rows: &[Row],
    findings: &[Finding],
    notes: &[String],
    allow: &[Allowed],
    used: &[usize],
    verbose: bool,
) {
    let unexplained: Vec<&Finding> = findings.iter().filter(|f| f.allowed.is_none()).collect();
    if !unexplained.is_empty() {
        println!("UNEXPLAINED DIFFERENCES");
        for f in &unexplained {
            println!("  {}:{} {}: {}", f.stream, f.index, f.name, f.detail);
            println!("    command {}", hex(&f.command));
            println!("    vtpm    {}", hex(&f.vtpm));
            println!("    swtpm   {}", hex(&f.swtpm));
        }
        println!();
    }
    for (title, bugs) in [
        (
            "known vtpm bugs (allow-list entries whose reason starts with BUG)",
            true,
        ),
        ("allowed differences", false),
    ] {
        let listed: Vec<(&Allowed, usize)> = allow
            .iter()
            .zip(used)
            .filter(|(a, n)| **n > 0 && a.reason.starts_with("BUG") == bugs)
            .map(|(a, n)| (a, *n))
            .collect();
        if listed.is_empty() {
            continue;
        }
        println!(
            "{title}: exchanges per allow-list entry{}",
            if verbose { "" } else { " (-v lists them)" }
        );
        for (a, n) in listed {
            println!("  {n:>4}  {}:{}  {}", a.stream, a.key, a.reason);
        }
        println!();
    }
    if verbose {
        println!("every allowed difference");
        for f in findings {
            if let Some(why) = &f.allowed {
                println!(
                    "  {}:{} {}: {}  [{why}]",
                    f.stream, f.index, f.name, f.detail
                );
            }
        }
        println!();
    }
    let retried: Vec<String> = rows
        .iter()
        .filter(|r| r.retries > 0)
        .map(|r| {
            format!(
                "{}: {} command(s) sent again after TPM_RC_RETRY/YIELDED/TESTING",
                r.name, r.retries
            )
        })
        .collect();
    let notes: Vec<&String> = notes.iter().chain(&retried).collect();
    if !notes.is_empty() {
        println!("notes");
        for n in notes {
            println!("  {n}");
        }
        println!();
    }
    let stale: Vec<&Allowed> = allow
        .iter()
        .zip(used)
        .filter(|(_, u)| **u == 0)
        .map(|(a, _)| a)
        .collect();
    if !stale.is_empty() {
        println!("allow-list entries that matched nothing (remove them if the difference is gone)");
        for a in stale {
            println!("  line {}: {}:{}", a.line, a.stream, a.key);
        }
        println!();
    }
    let line = |r: &Row| {
        println!(
            "{:<32} {:>8} {:>6} {:>8} {:>5} {:>12} {:>10} {:>6}",
            r.name, r.commands, r.same, r.allowed, r.bugs, r.unexplained, r.rewritten, r.drift
        )
    };
    println!(
        "{:<32} {:>8} {:>6} {:>8} {:>5} {:>12} {:>10} {:>6}",
        "stream", "commands", "same", "allowed", "bugs", "unexplained", "rewritten", "drift"
    );
    let mut total = Row {
        name: "total".into(),
        ..Row::default()
    };
    for r in rows {
        line(r);
        total.commands += r.commands;
        total.same += r.same;
        total.allowed += r.allowed;
        total.bugs += r.bugs;
        total.unexplained += r.unexplained;
        total.rewritten += r.rewritten;
        total.drift += r.drift;
        total.not_replayable += r.not_replayable;
    }
    line(&total);
    if total.not_replayable > 0 {
        println!(
            "{} recorded command(s) could not be rewritten faithfully (see notes)",
            total.not_replayable
        );
    }
}

/// Decides whether a difference is allowed and records it.
#[allow(clippy::too_many_arguments)]
fn judge(
    row: &mut Row,
    stream: &str,
    index: usize,
    keys: &[&str],
    verdict: Result<(), Vec<String>>,
    cmd: &[u8],
    a: &[u8],
    b: &[u8],
    allow: &[Allowed],
    used: &mut [usize],
    findings: &mut Vec<Finding>,
) {
    row.commands += 1;
    let Err(diffs) = verdict else {
        row.same += 1;
        return;
    };
    // Each differing field needs an entry: for the exchange (index, name, case label)
    // or for the field (`<name>/<field>`, the field as printed before ": ").
    let mut reasons = Vec::new();
    let mut entries = Vec::new();
    let mut unexplained = Vec::new();
    for d in &diffs {
        let field = d.split(": ").next().unwrap_or_default();
        let mut ks: Vec<String> = keys.iter().map(|k| (*k).to_string()).collect();
        ks.extend(keys.iter().map(|k| format!("{k}/{field}")));
        let refs: Vec<&str> = ks.iter().map(String::as_str).collect();
        match diff::find_allowed(allow, stream, index, &refs) {
            Some(e) => {
                if let Some(i) = allow.iter().position(|x| std::ptr::eq(x, e))
                    && !entries.contains(&i)
                {
                    entries.push(i);
                }
                if !reasons.contains(&e.reason) {
                    reasons.push(e.reason.clone());
                }
            }
            None => unexplained.push(d.clone()),
        }
    }
    let allowed = unexplained.is_empty();
    if allowed {
        for i in &entries {
            if let Some(u) = used.get_mut(*i) {
                *u += 1;
            }
        }
    }
    let bug = reasons.iter().any(|r| r.starts_with("BUG"));
    match (allowed, bug) {
        (false, _) => row.unexplained += 1,
        (true, true) => row.bugs += 1,
        (true, false) => row.allowed += 1,
    }
    findings.push(Finding {
        stream: stream.to_string(),
        index,
        name: keys.join(" "),
        detail: diff::describe(if allowed { &diffs } else { &unexplained }),
        command: cmd.to_vec(),
        vtpm: a.to_vec(),
        swtpm: b.to_vec(),
        allowed: allowed.then(|| reasons.join("; ")),
    });
}

fn start(peer: &Peer) -> Result<TpmServer, String> {
    TpmServer::socket(peer).map_err(|e| format!("starting {}: {e}", peer.name()))
}

/// TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING: the command did not run; a TSS sends it
/// again (ESAPI does, so a recording never shows them). libtpms answers RETRY to the first
/// key creation after start-up.
const TRY_AGAIN: [u32; 3] = [0x922, 0x908, 0x90A];

/// Sends a well-formed command, again while the TPM asks to (see [`TRY_AGAIN`]); the
/// number of extra sends is added to `retries`.
fn send_retrying(server: &TpmServer, locality: u8, cmd: &[u8], retries: &mut usize) -> Vec<u8> {
    let mut r = send(server, locality, cmd);
    for _ in 0..20 {
        if !diff::rc(&r).is_some_and(|c| TRY_AGAIN.contains(&c)) {
            break;
        }
        *retries += 1;
        r = send(server, locality, cmd);
    }
    r
}

/// Sends a well-formed command (framed with its locality when it is not 0).
fn send(server: &TpmServer, locality: u8, cmd: &[u8]) -> Vec<u8> {
    if locality == 0 {
        return transact(server.port, cmd).unwrap_or_default();
    }
    let mut framed = vec![0, 0, 0, 8, locality];
    framed.extend_from_slice(&(cmd.len() as u32).to_be_bytes());
    framed.extend_from_slice(cmd);
    let out = send_and_drain(server.port, &framed).unwrap_or_default();
    // {u32 length, response, u32 0}
    let n = out
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes);
    n.and_then(|n| out.get(4..4 + n as usize))
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn replay_recorded(
    opts: &Options,
    name: &str,
    stream: &[Exchange],
    allow: &[Allowed],
    used: &mut [usize],
    findings: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) -> Result<Row, String> {
    let v = start(&Peer::Vtpm(opts.vtpm.clone()))?;
    let s = start(&Peer::Swtpm)?;
    let (mut rv, mut rs) = (Replay::new(), Replay::new());
    let mut row = Row {
        name: name.to_string(),
        ..Row::default()
    };
    let mut retries = 0;
    for (i, e) in stream.iter().enumerate() {
        let cv = rv.rewrite(&e.command);
        let cs = rs.rewrite(&e.command);
        let problems: Vec<String> = cv
            .problems
            .iter()
            .map(|p| format!("vtpm: {p}"))
            .chain(cs.problems.iter().map(|p| format!("swtpm: {p}")))
            .collect();
        if !problems.is_empty() {
            row.not_replayable += 1;
            notes.push(format!(
                "{name}:{i} not replayable: {}",
                problems.join("; ")
            ));
        }
        if cv.changed || cs.changed {
            row.rewritten += 1;
        }
        let a = send_retrying(&v, e.locality, &cv.command, &mut retries);
        let b = send_retrying(&s, e.locality, &cs.command, &mut retries);
        let label = diff::exchange_name(&e.command);
        if opts.verbose {
            eprintln!(
                "  {name}:{i} {label}: vtpm {} swtpm {}",
                diff::rc_str(&a),
                diff::rc_str(&b)
            );
        }
        if let Err(d) = diff::compare(&cv.command, &e.response, &a) {
            row.drift += 1;
            notes.push(format!(
                "{name}:{i} {label}: the replayed vtpm differs from the recording (re-record the stream?): {}",
                diff::describe(&d).replace("swtpm", "replay").replace("vtpm ", "recorded ")
            ));
        }
        let verdict = diff::compare(&e.command, &a, &b);
        judge(
            &mut row,
            name,
            i,
            &[label.as_str()],
            verdict,
            &e.command,
            &a,
            &b,
            allow,
            used,
            findings,
        );
        rv.observe(&e.command, &e.response, &cv.command, &a);
        rs.observe(&e.command, &e.response, &cs.command, &b);
    }
    row.retries = retries;
    Ok(row)
}

// ---------------------------------------------------------------------------------------
// Generated streams

/// How a generated case is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Send {
    /// A well-formed frame: one response is read.
    Normal,
    /// The bytes are sent, the connection half-closed and everything read until the
    /// server closes (for framing errors).
    Drain,
}

struct Case {
    label: String,
    bytes: Vec<u8>,
    send: Send,
}

/// (command code, handles) of every command vtpm implements, from its GetCapability.
fn vtpm_commands(vtpm: &Path) -> Result<Vec<(u32, usize)>, String> {
    let v = start(&Peer::Vtpm(vtpm.to_path_buf()))?;
    let io = |e: io::Error| format!("vtpm GetCapability(COMMANDS): {e}");
    transact(v.port, &command(0x8001, 0x144, &[0, 0])).map_err(io)?;
    let mut out = Vec::new();
    let mut next = 0x11Fu32;
    loop {
        let params = [2u32.to_be_bytes(), next.to_be_bytes(), 256u32.to_be_bytes()].concat();
        let r = transact(v.port, &command(0x8001, 0x17A, &params)).map_err(io)?;
        let more = r.get(10).copied().unwrap_or(0);
        let n = r
            .get(15..19)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_be_bytes) as usize;
        for i in 0..n {
            let Some(attr) = r
                .get(19 + 4 * i..23 + 4 * i)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
            else {
                break;
            };
            let cc = attr & 0xFFFF;
            out.push((cc, ((attr >> 25) & 7) as usize));
            next = cc + 1;
        }
        if more == 0 || n == 0 {
            break;
        }
    }
    if out.is_empty() {
        return Err("vtpm reported no commands".into());
    }
    Ok(out)
}

/// Handles that pass the handle checks of `cc` after the setup.
fn valid_handles(cc: u32, nh: usize) -> Vec<u32> {
    let h: &[u32] = match cc {
        0x120 => &[OWNER, PRIMARY],
        0x124 | 0x125 | 0x12B | 0x127 | 0x121 => &[PLATFORM],
        0x126 | 0x139 | 0x13A => &[LOCKOUT],
        0x13C | 0x13D | 0x182 => &[16],
        0x150 => &[CHILD, PRIMARY],
        0x15E => &[CHILD],
        0x153 | 0x157 | 0x162 | 0x173 | 0x191 => &[PRIMARY],
        0x16B | 0x16C | 0x180 | 0x189 => &[POLICY],
        0x176 => &[NULL, NULL],
        _ => &[OWNER, OWNER, OWNER],
    };
    (0..nh)
        .map(|i| h.get(i).copied().unwrap_or(OWNER))
        .collect()
}

/// How many of the handles of `cc` need authorization.
fn auth_count(cc: u32, nh: usize) -> usize {
    match cc {
        0x176 | 0x162 | 0x173 | 0x16B | 0x16C | 0x180 | 0x189 => 0,
        0x120 | 0x150 => 1,
        _ => nh,
    }
}

fn pw_session(nonce: &[u8], attrs: u8, hmac: &[u8]) -> Vec<u8> {
    let mut v = PW.to_be_bytes().to_vec();
    v.extend_from_slice(&(nonce.len() as u16).to_be_bytes());
    v.extend_from_slice(nonce);
    v.push(attrs);
    v.extend_from_slice(&(hmac.len() as u16).to_be_bytes());
    v.extend_from_slice(hmac);
    v
}

/// A command with `handles`, an auth area made of `sessions` (None: no auth area, tag
/// NO_SESSIONS) and `params`.
fn build(
    tag: Option<u16>,
    cc: u32,
    handles: &[u32],
    sessions: Option<&[Vec<u8>]>,
    params: &[u8],
) -> Vec<u8> {
    let mut body = Vec::new();
    for h in handles {
        body.extend_from_slice(&h.to_be_bytes());
    }
    if let Some(s) = sessions {
        let auth: Vec<u8> = s.concat();
        body.extend_from_slice(&(auth.len() as u32).to_be_bytes());
        body.extend_from_slice(&auth);
    }
    body.extend_from_slice(params);
    let t = tag.unwrap_or(if sessions.is_some() { 0x8002 } else { 0x8001 });
    command(t, cc, &body)
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 56) as u8).collect()
    }
}

/// The seed of the generator: fixed, so every run sends the same bytes.
const SEED: u64 = 0x7654_3210_FEDC_BA98;

/// Malformed and edge-case variants of command `cc` with `nh` handles.
fn generate(cc: u32, nh: usize) -> Vec<Case> {
    let handles = valid_handles(cc, nh);
    let na = auth_count(cc, nh);
    let pw = pw_session(&[], 0, &[]);
    let auth: Vec<Vec<u8>> = vec![pw.clone(); na];
    let base_sessions = (na > 0).then_some(auth.as_slice());
    let base = build(None, cc, &handles, base_sessions, &[]);
    let mut cases = Vec::new();
    let mut add =
        |label: String, bytes: Vec<u8>, send: Send| cases.push(Case { label, bytes, send });
    add("base-no-params".into(), base.clone(), Send::Normal);
    // Framing and header.
    add(
        "truncated-header".into(),
        base.get(..6).unwrap_or_default().to_vec(),
        Send::Drain,
    );
    let mut below = base.get(..10).unwrap_or_default().to_vec();
    if let Some(b) = below.get_mut(5) {
        *b = 9;
    }
    add("size-below-header".into(), below, Send::Drain);
    let mut beyond = base.clone();
    if let Some(sz) = beyond.get_mut(2..6) {
        sz.copy_from_slice(&((base.len() + 4) as u32).to_be_bytes());
    }
    add("size-beyond-data".into(), beyond, Send::Drain);
    let mut huge = build(
        None,
        cc,
        &handles,
        base_sessions,
        &vec![0; 4097 - base.len()],
    );
    huge.truncate(4097);
    add("command-4097-bytes".into(), huge, Send::Drain);
    add(
        "params-3000-zero".into(),
        build(None, cc, &handles, base_sessions, &[0; 3000]),
        Send::Normal,
    );
    if nh > 0 {
        let mut t = base.get(..12).unwrap_or_default().to_vec();
        if let Some(sz) = t.get_mut(2..6) {
            sz.copy_from_slice(&12u32.to_be_bytes());
        }
        add("truncated-handle-area".into(), t, Send::Normal);
    }
    // Tags.
    for tag in [0x00C1u16, 0x8003, 0x0000, 0xFFFF] {
        let mut t = base.clone();
        if let Some(x) = t.get_mut(..2) {
            x.copy_from_slice(&tag.to_be_bytes());
        }
        add(format!("tag-{tag:#06x}"), t, Send::Normal);
    }
    if na > 0 {
        add(
            "no-auth-area".into(),
            build(None, cc, &handles, None, &[]),
            Send::Normal,
        );
    } else {
        add(
            "unneeded-pw-session".into(),
            build(None, cc, &handles, Some(std::slice::from_ref(&pw)), &[]),
            Send::Normal,
        );
    }
    add(
        "sessions-tag-empty-auth".into(),
        build(None, cc, &handles, Some(&[]), &[]),
        Send::Normal,
    );
    // Handles.
    for (i, _) in handles.iter().enumerate() {
        for bad in [
            0xFFFF_FFFFu32,
            0x80FF_FFFF,
            0x81FF_FFFF,
            NULL,
            OWNER,
            PLATFORM,
            0x0100_0000,
            0x02FF_FFFF,
            POLICY,
            24,
            PRIMARY,
            CHILD,
        ] {
            if handles.get(i) == Some(&bad) {
                continue;
            }
            let mut h = handles.clone();
            if let Some(x) = h.get_mut(i) {
                *x = bad;
            }
            add(
                format!("handle{i}-{bad:#010x}"),
                build(None, cc, &h, base_sessions, &[]),
                Send::Normal,
            );
        }
    }
    // Session areas.
    let one = |s: Vec<u8>| {
        let mut v = vec![s];
        v.extend(std::iter::repeat_n(pw.clone(), na.saturating_sub(1)));
        v
    };
    let session_cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "session-unknown-hmac-handle",
            one(pw_with_handle(0x0200_0007)),
        ),
        ("session-policy-handle", one(pw_with_handle(POLICY))),
        ("session-not-a-session", one(pw_with_handle(OWNER))),
        ("pw-nonce-16", one(pw_session(&[0x5A; 16], 0, &[]))),
        ("pw-attrs-reserved", one(pw_session(&[], 0x18, &[]))),
        ("pw-attrs-audit", one(pw_session(&[], 0x80, &[]))),
        ("pw-attrs-decrypt", one(pw_session(&[], 0x20, &[]))),
        ("pw-attrs-encrypt", one(pw_session(&[], 0x40, &[]))),
        ("pw-wrong-password", one(pw_session(&[], 0, b"wrong"))),
        ("pw-hmac-65", one(pw_session(&[], 0, &[0x41; 65]))),
        ("sessions-4", vec![pw.clone(); 4]),
        ("sessions-extra", vec![pw.clone(); na + 1]),
    ];
    for (label, s) in session_cases {
        add(
            label.into(),
            build(None, cc, &handles, Some(&s), &[]),
            Send::Normal,
        );
    }
    // Auth area size fields that lie.
    let area = |size: u32, content: &[u8]| {
        let mut body = Vec::new();
        for h in &handles {
            body.extend_from_slice(&h.to_be_bytes());
        }
        body.extend_from_slice(&size.to_be_bytes());
        body.extend_from_slice(content);
        command(0x8002, cc, &body)
    };
    let sess = auth.concat();
    let sess = if sess.is_empty() { pw.clone() } else { sess };
    add("auth-size-short".into(), area(4, &sess), Send::Normal);
    add(
        "auth-size-beyond-command".into(),
        area(sess.len() as u32 + 8, &sess),
        Send::Normal,
    );
    add(
        "auth-size-huge".into(),
        area(0xFFFF_FFF0, &sess),
        Send::Normal,
    );
    add(
        "session-truncated".into(),
        area(6, sess.get(..6).unwrap_or_default()),
        Send::Normal,
    );
    // Parameters.
    let mut rng = Rng(SEED ^ u64::from(cc).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut params: Vec<(String, Vec<u8>)> = vec![
        ("params-00".into(), vec![0]),
        ("params-ffff".into(), vec![0xFF, 0xFF]),
        ("params-ff-x16".into(), vec![0xFF; 16]),
        ("params-00-x64".into(), vec![0; 64]),
    ];
    for k in 0..6 {
        let n = 1 + (rng.next() % 48) as usize;
        params.push((format!("params-random-{k}"), rng.bytes(n)));
    }
    for (label, p) in params {
        add(
            label,
            build(None, cc, &handles, base_sessions, &p),
            Send::Normal,
        );
    }
    cases
}

fn pw_with_handle(h: u32) -> Vec<u8> {
    let mut v = pw_session(&[], 0, &[]);
    if let Some(x) = v.get_mut(..4) {
        x.copy_from_slice(&h.to_be_bytes());
    }
    v
}

/// The commands every generated stream starts with: Startup(CLEAR), an ECC P-256
/// storage primary in the owner hierarchy (0x80000000), a sealed data object under it
/// (0x80000001, CreateLoaded) and a policy session (0x03000000).
fn setup() -> Vec<(String, Vec<u8>)> {
    let pw = pw_session(&[], 0, &[]);
    let ecc_parent: Vec<u8> = [
        &[0x00, 0x23, 0x00, 0x0B][..],
        &0x0003_0472u32.to_be_bytes(),
        &[0, 0],                               // authPolicy
        &[0x00, 0x06, 0x00, 0x80, 0x00, 0x43], // AES-128-CFB
        &[0x00, 0x10],                         // scheme NULL
        &[0x00, 0x03],                         // NIST P-256
        &[0x00, 0x10],                         // kdf NULL
        &[0, 0, 0, 0],                         // unique
    ]
    .concat();
    let sealed: Vec<u8> = [
        &[0x00, 0x08, 0x00, 0x0B][..],
        &0x0000_0452u32.to_be_bytes(),
        &[0, 0],       // authPolicy
        &[0x00, 0x10], // scheme NULL
        &[0, 0],       // unique
    ]
    .concat();
    let tpm2b = |b: &[u8]| [&(b.len() as u16).to_be_bytes()[..], b].concat();
    let sensitive = |data: &[u8]| tpm2b(&[&[0, 0][..], &tpm2b(data)].concat());
    let primary_params = [
        sensitive(&[]),
        tpm2b(&ecc_parent),
        vec![0, 0],
        vec![0, 0, 0, 0],
    ]
    .concat();
    let loaded_params = [sensitive(b"generated"), tpm2b(&sealed)].concat();
    let session = [
        &[0, 16][..],
        &[0x11; 16],
        &[0, 0],
        &[0x01],
        &[0x00, 0x10],
        &[0x00, 0x0B],
    ]
    .concat();
    vec![
        ("setup-startup".into(), command(0x8001, 0x144, &[0, 0])),
        (
            "setup-primary".into(),
            build(
                None,
                0x131,
                &[OWNER],
                Some(std::slice::from_ref(&pw)),
                &primary_params,
            ),
        ),
        (
            "setup-sealed-child".into(),
            build(None, 0x191, &[PRIMARY], Some(&[pw]), &loaded_params),
        ),
        (
            "setup-policy-session".into(),
            build(None, 0x176, &[NULL, NULL], None, &session),
        ),
    ]
}

fn run_generated(
    opts: &Options,
    name: &str,
    cases: &[Case],
    allow: &[Allowed],
    used: &mut [usize],
    findings: &mut Vec<Finding>,
) -> Result<Row, String> {
    let v = start(&Peer::Vtpm(opts.vtpm.clone()))?;
    let s = start(&Peer::Swtpm)?;
    let mut row = Row {
        name: name.to_string(),
        ..Row::default()
    };
    let mut retries = 0;
    let mut i = 0;
    for (label, cmd) in setup() {
        let a = transact(v.port, &cmd).unwrap_or_default();
        let b = transact(s.port, &cmd).unwrap_or_default();
        let cname = diff::exchange_name(&cmd);
        let verdict = diff::compare(&cmd, &a, &b);
        judge(
            &mut row,
            name,
            i,
            &[cname.as_str(), label.as_str()],
            verdict,
            &cmd,
            &a,
            &b,
            allow,
            used,
            findings,
        );
        i += 1;
    }
    for c in cases {
        let mut go = |srv: &TpmServer| match c.send {
            Send::Normal => send_retrying(srv, 0, &c.bytes, &mut retries),
            Send::Drain => send_and_drain(srv.port, &c.bytes).unwrap_or_default(),
        };
        let (a, b) = (go(&v), go(&s));
        if opts.verbose {
            eprintln!(
                "  {name}:{i} {}: vtpm {} swtpm {}",
                c.label,
                diff::rc_str(&a),
                diff::rc_str(&b)
            );
        }
        let cname = diff::exchange_name(&c.bytes);
        let verdict = diff::compare_codes(&a, &b);
        judge(
            &mut row,
            name,
            i,
            &[cname.as_str(), c.label.as_str()],
            verdict,
            &c.bytes,
            &a,
            &b,
            allow,
            used,
            findings,
        );
        i += 1;
    }
    row.retries = retries;
    Ok(row)
}

// ---------------------------------------------------------------------------------------
// Recording the streams (--rerecord)

/// A tpm2-tools flow whose exchanges with vtpm become `conformance/streams/<name>.rec`.
struct Flow {
    name: &'static str,
    about: &'static str,
    /// Files created in the working directory first: (name, contents).
    files: &'static [(&'static str, &'static [u8])],
    /// Tool command lines; a tool name starting with `!` must fail (with vtpm).
    steps: &'static [&'static [&'static str]],
}

const SHA1_5: &str = "0:sha1=0505050505050505050505050505050505050505,sha256=0606060606060606060606060606060606060606060606060606060606060606";
const SHA384_7: &str = "7:sha384=070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707,sha512=08080808080808080808080808080808080808080808080808080808080808080808080808080808080808080808080808080808080808080808080808080808";

/// The recorded flows. Every tool that leaves a transient object loaded (tpm2-tools talk
/// to the TPM without a resource manager here) is followed by `tpm2_flushcontext -t`.
const FLOWS: &[Flow] = &[
    Flow {
        name: "startup-getcap",
        about: "Startup, self test, every tpm2_getcap group, random numbers, the clock, Shutdown",
        files: &[("stir.bin", b"some additional entropy for StirRandom")],
        steps: &[
            &["tpm2_startup", "-c"],
            &["tpm2_selftest", "-f"],
            &["tpm2_gettestresult"],
            &["tpm2_getcap", "properties-fixed"],
            &["tpm2_getcap", "properties-variable"],
            &["tpm2_getcap", "algorithms"],
            &["tpm2_getcap", "commands"],
            &["tpm2_getcap", "pcrs"],
            &["tpm2_getcap", "ecc-curves"],
            &["tpm2_getcap", "handles-transient"],
            &["tpm2_getcap", "handles-persistent"],
            &["tpm2_getcap", "handles-permanent"],
            &["tpm2_getcap", "handles-pcr"],
            &["tpm2_getrandom", "16", "--hex"],
            &["tpm2_getrandom", "32", "--hex"],
            &["tpm2_stirrandom", "stir.bin"],
            &["tpm2_readclock"],
            &["tpm2_testparms", "rsa2048"],
            &["tpm2_testparms", "ecc256"],
            &["tpm2_testparms", "aes128cfb"],
            &["tpm2_shutdown"],
        ],
    },
    Flow {
        name: "pcr",
        about: "PCR_Read, PCR_Extend in all banks, PCR_Event, PCR_Reset",
        files: &[("event.bin", b"differential event data")],
        steps: &[
            &["tpm2_startup", "-c"],
            &["tpm2_pcrread"],
            &["tpm2_pcrextend", SHA1_5],
            &["tpm2_pcrextend", SHA384_7],
            &["tpm2_pcrevent", "10", "event.bin"],
            &["tpm2_pcrevent", "16", "event.bin"],
            &["tpm2_pcrread", "sha1:0,7,10,16+sha256:0,7,10,16"],
            &["tpm2_pcrreset", "16"],
            &["tpm2_pcrread", "sha384:0,7,10,16+sha512:0,7,10,16"],
            &["tpm2_pcrread"],
        ],
    },
    Flow {
        name: "objects",
        about: "CreatePrimary (owner, endorsement, null), Create (RSA, ECC, sealed data), Load, ReadPublic, Unseal, contexts",
        files: &[("secret.bin", b"sealed differential secret")],
        steps: &[
            &["tpm2_startup", "-c"],
            &["tpm2_createprimary", "-C", "o", "-c", "primary.ctx"],
            &["tpm2_flushcontext", "-t"],
            &["tpm2_readpublic", "-c", "primary.ctx"],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_create",
                "-C",
                "primary.ctx",
                "-G",
                "rsa2048",
                "-u",
                "rsa.pub",
                "-r",
                "rsa.priv",
            ],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_create",
                "-C",
                "primary.ctx",
                "-G",
                "ecc256",
                "-u",
                "ecc.pub",
                "-r",
                "ecc.priv",
            ],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_create",
                "-C",
                "primary.ctx",
                "-i",
                "secret.bin",
                "-u",
                "seal.pub",
                "-r",
                "seal.priv",
            ],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_load",
                "-C",
                "primary.ctx",
                "-u",
                "rsa.pub",
                "-r",
                "rsa.priv",
                "-c",
                "rsa.ctx",
            ],
            &["tpm2_flushcontext", "-t"],
            &["tpm2_readpublic", "-c", "rsa.ctx"],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_load",
                "-C",
                "primary.ctx",
                "-u",
                "ecc.pub",
                "-r",
                "ecc.priv",
                "-c",
                "ecc.ctx",
            ],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_load",
                "-C",
                "primary.ctx",
                "-u",
                "seal.pub",
                "-r",
                "seal.priv",
                "-c",
                "seal.ctx",
            ],
            &["tpm2_flushcontext", "-t"],
            &["tpm2_unseal", "-c", "seal.ctx"],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_createprimary",
                "-C",
                "e",
                "-G",
                "ecc256",
                "-c",
                "ek.ctx",
            ],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_createprimary",
                "-C",
                "n",
                "-G",
                "rsa2048",
                "-c",
                "null.ctx",
            ],
            &["tpm2_flushcontext", "-t"],
            &["tpm2_getcap", "handles-transient"],
        ],
    },
    Flow {
        name: "hierarchy",
        about: "HierarchyChangeAuth, a persistent primary (EvictControl), DA parameters, Clear",
        files: &[],
        steps: &[
            &["tpm2_startup", "-c"],
            &["tpm2_changeauth", "-c", "o", "ownerpw"],
            &["tpm2_changeauth", "-c", "e", "endorsepw"],
            &["tpm2_changeauth", "-c", "l", "lockoutpw"],
            &["tpm2_getcap", "properties-variable"],
            &[
                "tpm2_createprimary",
                "-C",
                "o",
                "-P",
                "ownerpw",
                "-c",
                "primary.ctx",
            ],
            &[
                "tpm2_evictcontrol",
                "-C",
                "o",
                "-P",
                "ownerpw",
                "-c",
                "primary.ctx",
                "0x81000001",
            ],
            &["tpm2_flushcontext", "-t"],
            &["tpm2_getcap", "handles-persistent"],
            &["tpm2_readpublic", "-c", "0x81000001"],
            &[
                "tpm2_create",
                "-C",
                "0x81000001",
                "-u",
                "key.pub",
                "-r",
                "key.priv",
            ],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_evictcontrol",
                "-C",
                "o",
                "-P",
                "ownerpw",
                "-c",
                "0x81000001",
            ],
            &["tpm2_getcap", "handles-persistent"],
            &[
                "tpm2_dictionarylockout",
                "-s",
                "-n",
                "5",
                "-t",
                "6",
                "-l",
                "7",
                "-p",
                "lockoutpw",
            ],
            &["tpm2_dictionarylockout", "-c", "-p", "lockoutpw"],
            &["tpm2_changeauth", "-c", "o", "-p", "ownerpw"],
            &["tpm2_changeauth", "-c", "e", "-p", "endorsepw"],
            &["tpm2_clear", "-c", "l", "lockoutpw"],
            &["tpm2_getcap", "properties-variable"],
        ],
    },
    Flow {
        name: "policy",
        about: "A trial session and a policy session with PolicyCommandCode, a sealed object with that policy, Unseal through the policy",
        files: &[("secret.bin", b"policy-protected secret")],
        steps: &[
            &["tpm2_startup", "-c"],
            &["tpm2_startauthsession", "-S", "trial.ctx"],
            &[
                "tpm2_policycommandcode",
                "-S",
                "trial.ctx",
                "-L",
                "policy.dig",
                "TPM2_CC_Unseal",
            ],
            &["tpm2_flushcontext", "trial.ctx"],
            &["tpm2_createprimary", "-C", "o", "-c", "primary.ctx"],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_create",
                "-C",
                "primary.ctx",
                "-L",
                "policy.dig",
                "-a",
                "fixedtpm|fixedparent",
                "-i",
                "secret.bin",
                "-u",
                "seal.pub",
                "-r",
                "seal.priv",
            ],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_load",
                "-C",
                "primary.ctx",
                "-u",
                "seal.pub",
                "-r",
                "seal.priv",
                "-c",
                "seal.ctx",
            ],
            &["tpm2_flushcontext", "-t"],
            &[
                "tpm2_startauthsession",
                "--policy-session",
                "-S",
                "session.ctx",
            ],
            &[
                "tpm2_policycommandcode",
                "-S",
                "session.ctx",
                "TPM2_CC_Unseal",
            ],
            &["tpm2_unseal", "-c", "seal.ctx", "-p", "session:session.ctx"],
            &["tpm2_flushcontext", "-t"],
            &["tpm2_startauthsession", "--policy-session", "-S", "s2.ctx"],
            &["tpm2_policycommandcode", "-S", "s2.ctx", "TPM2_CC_Unseal"],
            &["tpm2_policyrestart", "-S", "s2.ctx"],
            &["!tpm2_unseal", "-c", "seal.ctx", "-p", "session:s2.ctx"],
            &["tpm2_policycommandcode", "-S", "s2.ctx", "TPM2_CC_Unseal"],
            &["tpm2_unseal", "-c", "seal.ctx", "-p", "session:s2.ctx"],
            &["tpm2_flushcontext", "s2.ctx"],
            &["tpm2_flushcontext", "-t"],
        ],
    },
];

/// A vtpm started with `--record`, killed on drop.
struct Recording(Child);

impl Drop for Recording {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `flow` against `vtpm socket --record` and writes `<dir>/<name>.rec`: a header,
/// then per tool invocation a comment with its command line and the exchanges it caused.
fn record_flow(vtpm: &Path, flow: &Flow, dir: &Path) -> Result<(), String> {
    let err = |e: io::Error| e.to_string();
    let work = tempfile::tempdir().map_err(err)?;
    let rec = work.path().join("record.txt");
    let state = work.path().join("state");
    for (name, contents) in flow.files {
        std::fs::write(work.path().join(name), contents).map_err(err)?;
    }
    let port = free_port_pair();
    let child = Command::new(vtpm)
        .args(["socket", "--tpm2", "--tpmstate"])
        .arg(format!("dir={}", state.display()))
        .args([
            "--server",
            &format!("type=tcp,port={port},bindaddr=127.0.0.1"),
        ])
        .args([
            "--ctrl",
            &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1),
        ])
        .args(["--flags", "not-need-init", "--record"])
        .arg(&rec)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", vtpm.display()))?;
    let _guard = Recording(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("vtpm did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let tools = Tools {
        tcti: format!("swtpm:host=127.0.0.1,port={port}"),
        cwd: Some(work.path().to_path_buf()),
    };
    let mut out = format!(
        "# {}: {}\n# Recorded by `differential --rerecord` (conformance/src/bin/differential.rs):\n\
         # tpm2-tools against `vtpm socket --flags not-need-init --record`; format: transport/src/record.rs.\n\
         # Replay rewrites context blobs, private/public areas, handles and session HMACs per peer.\n",
        flow.name, flow.about
    );
    let mut seen = 0;
    for step in flow.steps {
        let (tool, args) = step.split_first().ok_or("empty step")?;
        let (tool, must_fail) = match tool.strip_prefix('!') {
            Some(t) => (t, true),
            None => (*tool, false),
        };
        let o = tools.run(tool, args);
        if o.ok() == must_fail {
            return Err(format!("{}: {o}", step.join(" ")));
        }
        let text = std::fs::read_to_string(&rec).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        out.push_str(&format!("# $ {}\n", step.join(" ")));
        for l in lines.get(seen..).unwrap_or_default() {
            out.push_str(l);
            out.push('\n');
        }
        seen = lines.len();
    }
    std::fs::create_dir_all(dir).map_err(err)?;
    let path = dir.join(format!("{}.rec", flow.name));
    let mut f = std::fs::File::create(&path).map_err(err)?;
    f.write_all(out.as_bytes()).map_err(err)?;
    eprintln!("differential: {} exchanges -> {}", seen, path.display());
    Ok(())
}
