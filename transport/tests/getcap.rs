//! tpm2_getcap: every capability name `tpm2_getcap -l` lists succeeds and prints the expected keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

/// The capability names tpm2-tools 5.x knows (what `tpm2_getcap -l` prints).
const NAMES: [&str; 13] = [
    "algorithms",
    "commands",
    "pcrs",
    "properties-fixed",
    "properties-variable",
    "ecc-curves",
    "handles-transient",
    "handles-persistent",
    "handles-permanent",
    "handles-pcr",
    "handles-nv-index",
    "handles-loaded-session",
    "handles-saved-session",
];

/// Lines of a `- 0x...` handle list, parsed.
fn handles(text: &str) -> Vec<u32> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let h = l
                .trim()
                .strip_prefix("- 0x")
                .unwrap_or_else(|| panic!("handle line {l:?}"));
            u32::from_str_radix(h, 16).unwrap()
        })
        .collect()
}

/// `raw:` value printed under a TPM2_PT_* key of properties-fixed/variable.
fn raw_property(text: &str, name: &str) -> Option<u32> {
    let mut lines = text.lines();
    lines.find(|l| l.trim() == format!("{name}:"))?;
    let raw = lines.next()?.trim().strip_prefix("raw: ")?;
    match raw.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => raw.parse().ok(),
    }
}

fn list_matches_tool(peer: Peer) {
    let s = started(&peer);
    let out = must(&s, "tpm2_getcap", &["-l"]);
    let listed: Vec<&str> = out
        .lines()
        .map(|l| l.trim().trim_start_matches("- "))
        .collect();
    assert_eq!(listed, NAMES, "tpm2_getcap -l changed; update NAMES");
}

fn every_capability(peer: Peer) {
    let s = started(&peer);
    for name in NAMES {
        let out = must(&s, "tpm2_getcap", &[name]);
        let keys = yamlish_top_keys(&out);
        let who = peer.name();
        match name {
            "algorithms" => {
                for (alg, id) in [
                    ("sha1", "0x4"),
                    ("sha256", "0xB"),
                    ("sha384", "0xC"),
                    ("sha512", "0xD"),
                ] {
                    assert!(
                        keys.iter().any(|k| k == alg),
                        "{who}: {alg} not in algorithms: {keys:?}"
                    );
                    let text = format!("\n{out}");
                    let section = text.split(&format!("\n{alg}:\n")).nth(1).unwrap_or("");
                    assert_eq!(yaml_value(section, "value"), Some(id), "{who}: {alg} id");
                    assert_eq!(
                        yaml_value(section, "hash"),
                        Some("1"),
                        "{who}: {alg} hash attribute"
                    );
                }
            }
            "commands" => {
                for cc in [
                    "Startup",
                    "Shutdown",
                    "SelfTest",
                    "GetRandom",
                    "StirRandom",
                    "GetCapability",
                    "PCR_Read",
                    "PCR_Extend",
                    "PCR_Event",
                    "PCR_Reset",
                    "PCR_Allocate",
                    "ReadClock",
                    "TestParms",
                    "GetTestResult",
                ] {
                    let k = format!("TPM2_CC_{cc}");
                    assert!(keys.contains(&k), "{who}: {k} not listed by commands");
                }
            }
            "pcrs" => {
                assert_eq!(keys, ["selected-pcrs"], "{who}: {out}");
                let all: String = (0..24)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                for (bank, _) in BANKS {
                    let line = format!("  - {bank}: [ {all} ]");
                    assert!(
                        out.lines().any(|l| l == line),
                        "{who}: {line:?} not in {out}"
                    );
                }
            }
            "properties-fixed" => {
                assert_eq!(
                    raw_property(&out, "TPM2_PT_PCR_COUNT"),
                    Some(0x18),
                    "{who}: {out}"
                );
                assert_eq!(
                    raw_property(&out, "TPM2_PT_FAMILY_INDICATOR"),
                    Some(0x322E_3000),
                    "{who}"
                );
                assert_eq!(
                    raw_property(&out, "TPM2_PT_PCR_SELECT_MIN"),
                    Some(3),
                    "{who}"
                );
                for k in [
                    "TPM2_PT_MANUFACTURER",
                    "TPM2_PT_VENDOR_STRING_1",
                    "TPM2_PT_FIRMWARE_VERSION_1",
                    "TPM2_PT_INPUT_BUFFER",
                    "TPM2_PT_MAX_DIGEST",
                ] {
                    assert!(keys.iter().any(|x| x == k), "{who}: {k} missing: {keys:?}");
                }
                assert_eq!(raw_property(&out, "TPM2_PT_MAX_DIGEST"), Some(64), "{who}");
            }
            "properties-variable" => {
                for k in ["TPM2_PT_PERMANENT", "TPM2_PT_STARTUP_CLEAR"] {
                    assert!(keys.iter().any(|x| x == k), "{who}: {k} missing: {keys:?}");
                }
                assert_eq!(yaml_value(&out, "phEnable"), Some("1"), "{who}");
                assert_eq!(yaml_value(&out, "inLockout"), Some("0"), "{who}");
            }
            "handles-pcr" => {
                assert_eq!(handles(&out), (0..24).collect::<Vec<u32>>(), "{who}");
            }
            "handles-permanent" => {
                let h = handles(&out);
                // TPM_RH_OWNER, TPM_RS_PW, TPM_RH_PLATFORM.
                for want in [0x4000_0001u32, 0x4000_0009, 0x4000_000C] {
                    assert!(h.contains(&want), "{who}: {want:#x} not in {h:x?}");
                }
            }
            "handles-transient" | "handles-loaded-session" | "handles-saved-session" => {
                assert_eq!(
                    handles(&out),
                    Vec::<u32>::new(),
                    "{who}: nothing loaded yet"
                );
            }
            "handles-persistent" | "handles-nv-index" => {
                let _ = handles(&out); // Parses; contents depend on manufacturing.
            }
            "ecc-curves" => {
                for l in out.lines().filter(|l| !l.trim().is_empty()) {
                    assert!(l.starts_with("TPM2_ECC_"), "{who}: {l:?}");
                }
            }
            _ => unreachable!(),
        }
    }
}

fn bad_capability_raw(peer: Peer) {
    let s = started(&peer);
    // GetCapability(capability 0x1234): TPM_RC_VALUE + parameter 1.
    let mut p = 0x1234u32.to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    let resp = s.transact(&command(0x8001, 0x17A, &p)).unwrap();
    assert_eq!(response_code(&resp), Some(0x1C4), "{}", hex(&resp));
    // TPM_CAP_TPM_PROPERTIES, TPM_PT_PCR_COUNT, 1 property.
    let mut p = 6u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0x112u32.to_be_bytes());
    p.extend_from_slice(&1u32.to_be_bytes());
    let resp = s.transact(&command(0x8001, 0x17A, &p)).unwrap();
    assert_eq!(response_code(&resp), Some(0), "{}", hex(&resp));
    // moreData, cap 6, count 1, {0x112, 24}
    assert_eq!(
        hex(&resp[11..]),
        "00000006000000010000011200000018",
        "{}",
        hex(&resp)
    );
}

both!(list_matches_tool, every_capability, bad_capability_raw);
