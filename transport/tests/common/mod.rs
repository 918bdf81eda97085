//! Helpers shared by the end-to-end tests (included with `mod common;`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
