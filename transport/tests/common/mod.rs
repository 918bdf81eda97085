//! Helpers shared by the end-to-end tests (included with `mod common;`).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

pub use vtpm_conformance::*;

/// The vtpm binary built by Cargo for this test run.
pub fn vtpm() -> Peer {
    Peer::Vtpm(env!("CARGO_BIN_EXE_vtpm").into())
}

/// Defines `mod NAME { #[test] fn vtpm(); #[test] fn swtpm(); }` calling `NAME(peer)` for each peer.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn vtpm() {
                super::$name(super::common::vtpm())
            }
            #[test]
            fn swtpm() {
                super::$name(vtpm_conformance::Peer::Swtpm)
            }
        }
    )*};
}

/// Start `peer` in socket mode (not-need-init) and panic with its output on failure.
pub fn server(peer: &Peer) -> TpmServer {
    TpmServer::socket(peer).unwrap_or_else(|e| panic!("starting {}: {e}", peer.name()))
}

/// Start `peer` and run `tpm2_startup -c` through tpm2-tools.
pub fn started(peer: &Peer) -> TpmServer {
    let s = server(peer);
    must(&s, "tpm2_startup", &["-c"]);
    s
}

/// Run a tool against `s`, assert exit 0, return stdout.
pub fn must(s: &TpmServer, tool: &str, args: &[&str]) -> String {
    let out = s.tools().run(tool, args);
    assert!(out.ok(), "{} {tool} {args:?} failed: {out}", s.peer.name());
    out.stdout
}

/// Run a tool against `s`, assert it fails with the TPM response code `rc` (as ESAPI prints it).
pub fn must_fail_rc(s: &TpmServer, tool: &str, args: &[&str], rc: u32) {
    let out = s.tools().run(tool, args);
    assert!(
        !out.ok(),
        "{} {tool} {args:?} unexpectedly succeeded: {out}",
        s.peer.name()
    );
    let want = format!("{rc:#x}");
    assert!(
        out.stderr.to_lowercase().contains(&want),
        "{} {tool} {args:?}: expected TPM rc {want}: {out}",
        s.peer.name()
    );
}

/// Parse `tpm2_pcrread` output into (bank, pcr) -> digest.
pub fn parse_pcrread(text: &str) -> BTreeMap<(String, u32), Vec<u8>> {
    let mut map = BTreeMap::new();
    let mut bank = String::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(b) = t.strip_suffix(':') {
            bank = b.to_string();
        } else if let Some((idx, val)) = t.split_once(':') {
            let idx: u32 = idx
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("pcrread line {line:?}"));
            let val = unhex(val).unwrap_or_else(|| panic!("pcrread value {line:?}"));
            map.insert((bank.clone(), idx), val);
        }
    }
    map
}

/// Read one PCR in one bank through tpm2_pcrread.
pub fn read_pcr(s: &TpmServer, bank: &str, pcr: u32) -> Vec<u8> {
    let out = must(s, "tpm2_pcrread", &[&format!("{bank}:{pcr}")]);
    parse_pcrread(&out)
        .remove(&(bank.to_string(), pcr))
        .unwrap_or_else(|| panic!("no {bank}:{pcr} in {out}"))
}

/// The four banks vtpm implements, with digest sizes.
pub const BANKS: [(&str, usize); 4] =
    [("sha1", 20), ("sha256", 32), ("sha384", 48), ("sha512", 64)];

/// Hash `data` with the named bank algorithm.
pub fn hash(bank: &str, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match bank {
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => panic!("unknown bank {bank}"),
    }
}

/// PCR extend: H(old || digest).
pub fn extend(bank: &str, old: &[u8], digest: &[u8]) -> Vec<u8> {
    hash(bank, &[old, digest].concat())
}

/// `key: value` of the first line whose key (trimmed) is `key` in YAML-ish tool output.
pub fn yaml_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Assert every non-empty line looks like YAML as tpm2-tools prints it
/// (`key:`, `key: value` or `- item`), and return the top-level keys.
pub fn yamlish_top_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let t = line.trim_start();
        let ok = t.starts_with("- ") || t.split_once(':').is_some_and(|(k, _)| !k.is_empty());
        assert!(ok, "not YAML-ish: {line:?} in\n{text}");
        if !line.starts_with(' ') && !t.starts_with('-') {
            keys.push(
                t.split_once(':')
                    .map(|(k, _)| k.to_string())
                    .unwrap_or_default(),
            );
        }
    }
    keys
}

/// A raw GetRandom(8) on a new connection succeeds with 8 bytes.
pub fn assert_serving(s: &TpmServer, context: &str) {
    let resp = s
        .transact(&command(0x8001, 0x17B, &8u16.to_be_bytes()))
        .unwrap_or_else(|e| panic!("{} after {context}: GetRandom failed: {e}", s.peer.name()));
    assert_eq!(
        response_code(&resp),
        Some(0),
        "{} after {context}: {}",
        s.peer.name(),
        hex(&resp)
    );
    assert_eq!(
        resp.len(),
        20,
        "{} after {context}: {}",
        s.peer.name(),
        hex(&resp)
    );
}

/// Raw TPM2_PCR_Allocate (platform auth, password session) keeping exactly the `banks` given
/// (all 24 PCRs each); asserts success and allocationSuccess = YES.
pub fn raw_pcr_allocate(s: &TpmServer, banks: &[u16]) {
    let mut p = 0x4000_000Cu32.to_be_bytes().to_vec();
    p.extend_from_slice(&pw_auth_area());
    p.extend_from_slice(&4u32.to_be_bytes());
    for alg in [0x4u16, 0xB, 0xC, 0xD] {
        p.extend_from_slice(&alg.to_be_bytes());
        let on = if banks.contains(&alg) { 0xFF } else { 0 };
        p.extend_from_slice(&[3, on, on, on]);
    }
    let resp = s.transact(&command(0x8002, 0x12B, &p)).unwrap();
    assert_eq!(
        response_code(&resp),
        Some(0),
        "{}: PCR_Allocate {}",
        s.peer.name(),
        hex(&resp)
    );
    // header, parameterSize, allocationSuccess
    assert_eq!(
        resp.get(14),
        Some(&1),
        "{}: allocationSuccess: {}",
        s.peer.name(),
        hex(&resp)
    );
}

/// What most end-to-end tests call their server + work dir.
pub type Tpm = Work;

/// A started server plus a working directory for the tools' files (their cwd).
///
/// Without a resource manager tpm2-tools leave what they load in the TPM: `flush` runs
/// `tpm2_flushcontext` once per configured flag, and with `auto_flush` every tool run by
/// `ok` (or that fails in `failed` / `rc` / `fails`) is followed by a flush.
pub struct Work {
    pub s: TpmServer,
    pub dir: tempfile::TempDir,
    /// The tpm2_flushcontext flags `flush` runs.
    flush: &'static [&'static str],
    /// Whether `ok` flushes after its tool.
    flush_after_ok: bool,
    /// The flags flushed after a failing tool in `failed` (and `rc`, `fails`).
    flush_after_fail: &'static [&'static str],
}

impl Work {
    /// `started(peer)` and a new temp dir; `flush` flushes transient objects; nothing automatic.
    pub fn new(peer: &Peer) -> Work {
        Work {
            s: started(peer),
            dir: tempfile::tempdir().unwrap(),
            flush: &["-t"],
            flush_after_ok: false,
            flush_after_fail: &[],
        }
    }

    /// `new(peer).auto_flush()`: every tool is followed by `tpm2_flushcontext -t`.
    pub fn flushing(peer: &Peer) -> Work {
        Work::new(peer).auto_flush()
    }

    /// What `flush` hands tpm2_flushcontext (one run per flag, e.g. `-t`, `-s`, `-l`).
    pub fn flushes(mut self, flags: &'static [&'static str]) -> Work {
        self.flush = flags;
        self
    }

    /// `ok`, and a tool that fails in `failed`, flush after running.
    pub fn auto_flush(mut self) -> Work {
        self.flush_after_ok = true;
        self.flush_after_fail = self.flush;
        self
    }

    /// What a failing tool is followed by flushing (overrides `auto_flush`'s choice).
    pub fn flush_after_fail(mut self, flags: &'static [&'static str]) -> Work {
        self.flush_after_fail = flags;
        self
    }

    pub fn peer(&self) -> &'static str {
        self.s.peer.name()
    }

    /// tpm2-tools against this server, in the work dir.
    pub fn tools(&self) -> Tools {
        let mut t = self.s.tools();
        t.cwd = Some(self.dir.path().to_path_buf());
        t
    }

    pub fn path(&self, file: &str) -> std::path::PathBuf {
        self.dir.path().join(file)
    }

    pub fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path(file))
            .unwrap_or_else(|e| panic!("{}: reading {file}: {e}", self.peer()))
    }

    pub fn write(&self, file: &str, data: &[u8]) {
        std::fs::write(self.path(file), data).unwrap();
    }

    /// Copies a file of this work dir to `other`'s.
    pub fn send(&self, other: &Work, file: &str) {
        std::fs::copy(self.path(file), other.path(file)).unwrap();
    }

    /// Run a tool, assert exit 0, keep whatever it left loaded.
    pub fn keep(&self, tool: &str, args: &[&str]) -> String {
        let out = self.tools().run(tool, args);
        assert!(out.ok(), "{} {tool} {args:?} failed: {out}", self.peer());
        out.stdout
    }

    /// Run a tool, assert exit 0 (then flush, with `auto_flush`).
    pub fn ok(&self, tool: &str, args: &[&str]) -> String {
        let out = self.keep(tool, args);
        if self.flush_after_ok {
            self.flush();
        }
        out
    }

    /// tpm2_load of `name`.pub / `name`.priv under `parent` into `name`.ctx (through `ok`).
    pub fn load(&self, parent: &str, name: &str) -> String {
        let (public, private, ctx) = (
            format!("{name}.pub"),
            format!("{name}.priv"),
            format!("{name}.ctx"),
        );
        self.ok(
            "tpm2_load",
            &["-C", parent, "-u", &public, "-r", &private, "-c", &ctx],
        )
    }

    /// tpm2_nvdefine of `index` by `hierarchy` (`-C`), `size` octets, attributes `attrs`,
    /// then `extra` arguments (through `ok`).
    pub fn nvdefine(
        &self,
        index: &str,
        hierarchy: &str,
        size: usize,
        attrs: &str,
        extra: &[&str],
    ) -> String {
        let size = size.to_string();
        let mut args = vec![index, "-C", hierarchy, "-s", &size, "-a", attrs];
        args.extend_from_slice(extra);
        self.ok("tpm2_nvdefine", &args)
    }

    /// tpm2_flushcontext with each flag `new`/`flushes` chose.
    pub fn flush(&self) {
        self.flush_with(self.flush);
    }

    /// tpm2_flushcontext once per flag, each asserted to succeed.
    pub fn flush_with(&self, flags: &[&str]) {
        for flag in flags {
            self.keep("tpm2_flushcontext", &[flag]);
        }
    }

    /// Run a tool; its stdout, or the TPM response code it failed with (no flush).
    pub fn try_run(&self, tool: &str, args: &[&str]) -> Result<String, u32> {
        let out = self.tools().run(tool, args);
        if out.ok() {
            Ok(out.stdout)
        } else {
            Err(tpm_rc(&out.stderr)
                .unwrap_or_else(|| panic!("{} {tool} {args:?}: no TPM code: {out}", self.peer())))
        }
    }

    /// Run a tool, flush what a failure leaves, assert it failed; its output.
    pub fn failed(&self, tool: &str, args: &[&str]) -> Output {
        let out = self.tools().run(tool, args);
        self.flush_with(self.flush_after_fail);
        assert!(
            !out.ok(),
            "{} {tool} {args:?} unexpectedly succeeded: {out}",
            self.peer()
        );
        out
    }

    /// Run a tool that must fail with a TPM response code; the code.
    pub fn rc(&self, tool: &str, args: &[&str]) -> u32 {
        let out = self.failed(tool, args);
        tpm_rc(&out.stderr)
            .unwrap_or_else(|| panic!("{} {tool} {args:?}: no TPM error code: {out}", self.peer()))
    }

    /// Run a tool, assert it fails with exactly the TPM response code `want`.
    pub fn fails(&self, want: u32, tool: &str, args: &[&str]) {
        let got = self.rc(tool, args);
        assert_eq!(
            got,
            want,
            "{} {tool} {args:?}: got {got:#x}, want {want:#x}",
            self.peer()
        );
    }

    /// openssl in the work dir; asserts success.
    pub fn openssl(&self, args: &[&str]) -> String {
        let out = run("openssl", args, &[], Some(self.dir.path()));
        assert!(out.ok(), "{}: openssl {args:?}: {out}", self.peer());
        out.stdout
    }

    /// openssl in the work dir; whether it succeeded.
    pub fn openssl_ok(&self, args: &[&str]) -> bool {
        run("openssl", args, &[], Some(self.dir.path())).ok()
    }
}

/// The TPM response code in tpm2-tools' stderr (`... ErrorCode (0x000009a2)`).
pub fn tpm_rc(stderr: &str) -> Option<u32> {
    let i = stderr.find("ErrorCode (0x")? + "ErrorCode (0x".len();
    u32::from_str_radix(stderr.get(i..i + 8)?, 16).ok()
}

/// SHA-256 of the concatenated `parts`.
pub fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    hash("sha256", &parts.concat())
}

/// A policy extend: SHA-256(old || cc || parts...).
pub fn ext(old: &[u8], cc: u32, parts: &[&[u8]]) -> Vec<u8> {
    let ccb = cc.to_be_bytes();
    let mut all: Vec<&[u8]> = vec![old, &ccb];
    all.extend_from_slice(parts);
    sha256(&all)
}

/// Deterministic test data.
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A TPM2B: u16 size then the bytes.
pub fn b2(data: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

/// A TPM2B_ECC_POINT's x and y.
pub fn read_point(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let size = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
    assert_eq!(size + 2, bytes.len(), "TPM2B_ECC_POINT size");
    let xl = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    let x = bytes[4..4 + xl].to_vec();
    let yl = usize::from(u16::from_be_bytes([bytes[4 + xl], bytes[5 + xl]]));
    let y = bytes[6 + xl..6 + xl + yl].to_vec();
    (x, y)
}

/// A PEM SubjectPublicKeyInfo for the P-256 point (x, y).
pub fn p256_pem(x: &[u8], y: &[u8]) -> String {
    use std::fmt::Write;
    let mut der = unhex("3059301306072a8648ce3d020106082a8648ce3d03010703420004").unwrap();
    der.extend_from_slice(x);
    der.extend_from_slice(y);
    let b64 = base64(&der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        writeln!(pem, "{}", std::str::from_utf8(chunk).unwrap()).unwrap();
    }
    pem + "-----END PUBLIC KEY-----\n"
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A TPMT_TK_* ticket's tag, hierarchy and digest size (asserting the size is all of it).
pub fn ticket_fields(t: &[u8]) -> (u16, u32, usize) {
    let tag = u16::from_be_bytes(t[0..2].try_into().unwrap());
    let hierarchy = u32::from_be_bytes(t[2..6].try_into().unwrap());
    let len = usize::from(u16::from_be_bytes(t[6..8].try_into().unwrap()));
    assert_eq!(t.len(), 8 + len, "ticket size");
    (tag, hierarchy, len)
}

// Part 2 values several tests name: handles and response codes with their positions.
pub const RH_NULL: u32 = 0x4000_0007;
pub const RH_OWNER: u32 = 0x4000_0001;
pub const RH_PLATFORM: u32 = 0x4000_000C;
pub const RS_PW: u32 = 0x4000_0009;
pub const CC_POLICY_COMMAND_CODE: u32 = 0x16C;
pub const CC_POLICY_PCR: u32 = 0x17F;
/// TPM_RC_ATTRIBUTES, handle 1.
pub const TPM_RC_ATTRIBUTES_H1: u32 = 0x182;
/// Wrong auth for an entity not subject to DA (session 1).
pub const TPM_RC_BAD_AUTH: u32 = 0x9A2;
/// TPM_RC_INTEGRITY, parameter 1.
pub const TPM_RC_INTEGRITY_P1: u32 = 0x1DF;
pub const TPM_RC_KEY_H1: u32 = 0x19C;
pub const TPM_RC_LOCALITY: u32 = 0x907;
/// TPM_RC_POLICY_FAIL, session 1.
pub const TPM_RC_POLICY_FAIL: u32 = 0x99D;
pub const TPM_RC_SCHEME_P2: u32 = 0x2D2;
pub const TPM_RC_SIZE_P1: u32 = 0x1D5;
pub const TPM_RC_VALUE: u32 = 0x084;
/// TPM_RC_VALUE, parameter 4.
pub const TPM_RC_VALUE_P4: u32 = 0x4C4;

/// A differential of policy digests: each row (what, vtpm's digest, the spec formula's) agrees
/// with swtpm's row and with the formula.
pub fn assert_digests_agree<W: std::fmt::Display>(
    ours: &[(W, Vec<u8>, Vec<u8>)],
    theirs: &[(W, Vec<u8>, Vec<u8>)],
) {
    assert_eq!(ours.len(), theirs.len());
    for ((what, got, want), (_, swtpm, _)) in ours.iter().zip(theirs) {
        assert_eq!(hex(got), hex(swtpm), "{what}: vtpm vs swtpm");
        assert_eq!(hex(got), hex(want), "{what}: vtpm vs the spec formula");
    }
}
