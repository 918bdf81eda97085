//! The same raw command stream sent to vtpm and to swtpm (both `--flags not-need-init`):
//! response codes must match, and where the answer is deterministic so must the data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

/// What of the two responses must be equal (the response code always is compared).
#[derive(Clone, Copy, PartialEq)]
enum Cmp {
    /// Response code only.
    Rc,
    /// Response code and total length (random data).
    Len,
    /// The whole response.
    Full,
    /// PCR_Read: everything but the pcrUpdateCounter (bytes 10..14), which is an
    /// implementation-defined count of PCR changes since manufacture.
    PcrRead,
}

/// Known, justified differences: (command name, why). For these only "both failed" is checked.
const ALLOWED: &[(&str, &str)] = &[
    // Part 1 says TPM_RC_BAD_TAG (0x1E); libtpms answers TPM_RC_VALUE (0x84). Either is a
    // well-formed error, which is all firmware probes need.
    ("TPM 1.2 tagged command", "spec (0x01E) vs libtpms (0x084)"),
    ("unknown tag 0x1234", "spec (0x01E) vs libtpms (0x084)"),
];

const PW: fn() -> Vec<u8> = pw_auth_area;

fn cmd(cc: u32, p: &[u8]) -> Vec<u8> {
    command(0x8001, cc, p)
}

fn sess(cc: u32, handle: u32, rest: &[u8]) -> Vec<u8> {
    command(
        0x8002,
        cc,
        &[&handle.to_be_bytes()[..], &PW(), rest].concat(),
    )
}

fn pcr_read(alg: u16, pcr: u32) -> Vec<u8> {
    let mut sel = [0u8; 3];
    sel[(pcr / 8) as usize] = 1 << (pcr % 8);
    cmd(
        0x17E,
        &[&1u32.to_be_bytes()[..], &alg.to_be_bytes(), &[3], &sel].concat(),
    )
}

/// TPML_DIGEST_VALUES with one entry per (alg, digest).
fn digests(list: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut v = (list.len() as u32).to_be_bytes().to_vec();
    for (alg, d) in list {
        v.extend_from_slice(&alg.to_be_bytes());
        v.extend_from_slice(d);
    }
    v
}

fn getcap(cap: u32, prop: u32, count: u32) -> Vec<u8> {
    cmd(
        0x17A,
        &[cap.to_be_bytes(), prop.to_be_bytes(), count.to_be_bytes()].concat(),
    )
}

fn stream() -> Vec<(&'static str, Vec<u8>, Cmp)> {
    let all4 = digests(&[
        (4, vec![1; 20]),
        (0xB, vec![2; 32]),
        (0xC, vec![3; 48]),
        (0xD, vec![4; 64]),
    ]);
    vec![
        ("GetRandom before Startup", cmd(0x17B, &[0, 8]), Cmp::Full),
        ("ReadClock before Startup", cmd(0x181, &[]), Cmp::Full),
        (
            "Startup(STATE) on a fresh TPM",
            cmd(0x144, &[0, 1]),
            Cmp::Full,
        ),
        ("Startup(CLEAR)", cmd(0x144, &[0, 0]), Cmp::Full),
        ("Startup(CLEAR) again", cmd(0x144, &[0, 0]), Cmp::Full),
        ("GetRandom 0", cmd(0x17B, &[0, 0]), Cmp::Full),
        ("GetRandom 8", cmd(0x17B, &[0, 8]), Cmp::Len),
        ("GetRandom 100", cmd(0x17B, &[0, 100]), Cmp::Len),
        (
            "GetRandom missing parameter byte",
            cmd(0x17B, &[0]),
            Cmp::Full,
        ),
        ("GetRandom trailing byte", cmd(0x17B, &[0, 8, 0]), Cmp::Full),
        (
            "StirRandom 16",
            cmd(0x146, &[&[0, 16][..], &[7; 16]].concat()),
            Cmp::Full,
        ),
        (
            "StirRandom 129",
            cmd(0x146, &[&[0, 129][..], &[7; 129]].concat()),
            Cmp::Full,
        ),
        ("SelfTest(full)", cmd(0x143, &[1]), Cmp::Full),
        ("GetTestResult", cmd(0x17C, &[]), Cmp::Rc),
        ("PCR_Read sha1 0", pcr_read(0x4, 0), Cmp::PcrRead),
        ("PCR_Read sha256 0", pcr_read(0xB, 0), Cmp::PcrRead),
        ("PCR_Read sha384 17", pcr_read(0xC, 17), Cmp::PcrRead),
        ("PCR_Read sha512 23", pcr_read(0xD, 23), Cmp::PcrRead),
        ("PCR_Read sm3_256 (no bank)", pcr_read(0x12, 0), Cmp::Full),
        (
            "PCR_Extend 0 sha256",
            sess(0x182, 0, &digests(&[(0xB, vec![0xAA; 32])])),
            Cmp::Full,
        ),
        (
            "PCR_Read sha256 0 after extend",
            pcr_read(0xB, 0),
            Cmp::PcrRead,
        ),
        ("PCR_Extend 0 all banks", sess(0x182, 0, &all4), Cmp::Full),
        (
            "PCR_Read sha1 0 after extend",
            pcr_read(0x4, 0),
            Cmp::PcrRead,
        ),
        (
            "PCR_Read sha512 0 after extend",
            pcr_read(0xD, 0),
            Cmp::PcrRead,
        ),
        (
            "PCR_Extend 0 without session",
            cmd(0x182, &[&0u32.to_be_bytes()[..], &all4].concat()),
            Cmp::Full,
        ),
        (
            "PCR_Extend 24 (no such PCR)",
            sess(0x182, 24, &all4),
            Cmp::Full,
        ),
        (
            "PCR_Extend short digest",
            sess(0x182, 16, &digests(&[(0xB, vec![1; 20])])),
            Cmp::Rc,
        ),
        (
            "PCR_Event 16",
            sess(0x13C, 16, &[&[0, 3][..], b"abc"].concat()),
            Cmp::Full,
        ),
        (
            "PCR_Read sha384 16 after event",
            pcr_read(0xC, 16),
            Cmp::PcrRead,
        ),
        ("PCR_Reset 16", sess(0x13D, 16, &[]), Cmp::Full),
        (
            "PCR_Read sha384 16 after reset",
            pcr_read(0xC, 16),
            Cmp::PcrRead,
        ),
        ("PCR_Reset 0", sess(0x13D, 0, &[]), Cmp::Full),
        ("PCR_Reset 25", sess(0x13D, 25, &[]), Cmp::Full),
        (
            "GetCapability bad capability",
            getcap(0x1234, 0, 1),
            Cmp::Full,
        ),
        ("GetCapability PT_PCR_COUNT", getcap(6, 0x112, 1), Cmp::Full),
        ("GetCapability PCRS", getcap(5, 0, 1), Cmp::Full),
        ("GetCapability handles PCR", getcap(1, 0, 64), Cmp::Full),
        ("GetCapability ALGS", getcap(0, 0, 64), Cmp::Rc),
        (
            "unknown command code 0x20000000",
            cmd(0x2000_0000, &[]),
            Cmp::Full,
        ),
        (
            "unimplemented command code 0x1FF",
            cmd(0x1FF, &[]),
            Cmp::Full,
        ),
        (
            "TPM 1.2 tagged command",
            command(0x00C1, 0x99, &[]),
            Cmp::Full,
        ),
        (
            "unknown tag 0x1234",
            command(0x1234, 0x17B, &[0, 8]),
            Cmp::Full,
        ),
        (
            "TestParms unknown type 0x0099",
            cmd(0x18A, &[0, 0x99]),
            Cmp::Full,
        ),
        (
            "TestParms RSA-2048",
            cmd(0x18A, &[0, 1, 0, 0x10, 0, 0x10, 8, 0, 0, 0, 0, 0]),
            Cmp::Full,
        ),
        ("ReadClock", cmd(0x181, &[]), Cmp::Rc),
        ("Shutdown bad type", cmd(0x145, &[0, 5]), Cmp::Full),
        ("Shutdown(STATE)", cmd(0x145, &[0, 1]), Cmp::Full),
        ("GetRandom after Shutdown", cmd(0x17B, &[0, 8]), Cmp::Len),
    ]
}

fn same(a: &[u8], b: &[u8], how: Cmp) -> bool {
    match how {
        Cmp::Rc => response_code(a) == response_code(b),
        Cmp::Len => response_code(a) == response_code(b) && a.len() == b.len(),
        Cmp::Full => a == b,
        Cmp::PcrRead => {
            a.len() == b.len() && a.len() >= 14 && a[..10] == b[..10] && a[14..] == b[14..]
        }
    }
}

#[test]
fn vtpm_and_swtpm_answer_alike() {
    let v = server(&vtpm());
    let s = server(&Peer::Swtpm);
    let mut table = String::from("command                                  vtpm        swtpm\n");
    let mut bad = Vec::new();
    for (name, bytes, how) in stream() {
        let a = v
            .transact(&bytes)
            .unwrap_or_else(|e| panic!("vtpm: {name}: {e}"));
        let b = s
            .transact(&bytes)
            .unwrap_or_else(|e| panic!("swtpm: {name}: {e}"));
        let (ra, rb) = (response_code(&a).unwrap(), response_code(&b).unwrap());
        table.push_str(&format!("{name:40} {ra:#010x}  {rb:#010x}\n"));
        if let Some((_, why)) = ALLOWED.iter().find(|(n, _)| *n == name) {
            assert!(
                ra != 0 || rb == 0,
                "{name}: vtpm accepted what is allowed to differ ({why})"
            );
            continue;
        }
        if !same(&a, &b, how) {
            bad.push(format!("{name}:\n  vtpm  {}\n  swtpm {}", hex(&a), hex(&b)));
        }
    }
    println!("{table}");
    assert!(
        bad.is_empty(),
        "differences:\n{}\n\n{table}",
        bad.join("\n")
    );
}

/// The same tpm2-tools extends on both servers give the same PCR values in every bank.
#[test]
fn pcr_values_match_after_same_tool_extends() {
    let v = started(&vtpm());
    let s = started(&Peer::Swtpm);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ev");
    std::fs::write(&f, b"differential event").unwrap();
    for srv in [&v, &s] {
        must(
            srv,
            "tpm2_pcrextend",
            &[&format!(
                "0:sha1={},sha256={}",
                hex(&[5; 20]),
                hex(&[6; 32])
            )],
        );
        must(
            srv,
            "tpm2_pcrextend",
            &[&format!(
                "7:sha384={},sha512={}",
                hex(&[7; 48]),
                hex(&[8; 64])
            )],
        );
        must(srv, "tpm2_pcrevent", &["10", f.to_str().unwrap()]);
        must(srv, "tpm2_pcrevent", &["16", f.to_str().unwrap()]);
        must(srv, "tpm2_pcrreset", &["16"]);
    }
    let a = parse_pcrread(&must(&v, "tpm2_pcrread", &[]));
    let b = parse_pcrread(&must(&s, "tpm2_pcrread", &[]));
    assert_eq!(a.len(), 96);
    for (k, va) in &a {
        assert_eq!(Some(va), b.get(k), "PCR {k:?}: vtpm vs swtpm");
    }
    assert_eq!(
        a[&("sha256".to_string(), 0)],
        extend("sha256", &[0; 32], &[6; 32])
    );
}
