//! Golden state images: the states of every released format, committed under
//! transport/tests/golden/, must keep loading. Each is checked through commands: the
//! EK Name, an NV index's data, a persistent object, the command audit list, and the
//! PCRs that TPM2_Startup(STATE) restores from the orderly Shutdown(STATE) data.
//!
//! - `v1/state.img`: the plain state image envelope (format 1, feature level 1), loaded
//!   as the old directory store's `vtpm-state.img` (which also migrates it);
//! - `v1/state.vmgs`: a raw 64 KiB VMGS file holding it (backend-uri=file://);
//! - `v1/state-encrypted.vmgs` with `v1/key.bin`: the same, encrypted.
//!
//! `cargo test -p vtpm-transport --test golden -- --ignored make_golden` writes a new
//! version's files (never over existing ones).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::*;

/// The directory of the newest golden version (made by [`make_golden`]).
const VERSION: &str = "v1";
const NV_INDEX: &str = "0x1500040";
const NV_DATA: &[u8] = b"golden NV v1";
const PERSISTENT: &str = "0x81000010";
const CC_GET_RANDOM: u32 = 0x17B;

fn golden_dir(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(version)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn vtpm_cli(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_vtpm"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "vtpm {args:?}: {out:?}");
}

fn ek_name(t: &TpmServer, work: &Path) -> String {
    let ctx = s(&work.join("ek.ctx"));
    must(t, "tpm2_createek", &["-c", &ctx, "-G", "rsa"]);
    let out = must(t, "tpm2_readpublic", &["-c", &ctx]);
    must(t, "tpm2_flushcontext", &["-t"]);
    yaml_value(&out, "name").unwrap().to_string()
}

/// The command codes in the audit list (TPM2_GetCapability(TPM_CAP_AUDIT_COMMANDS)).
fn audit_list(t: &TpmServer) -> Vec<u32> {
    let mut p = 4u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&64u32.to_be_bytes());
    let r = t.transact(&command(0x8001, 0x17A, &p)).unwrap();
    assert_eq!(u32::from_be_bytes(r[6..10].try_into().unwrap()), 0, "{r:?}");
    let count = u32::from_be_bytes(r[15..19].try_into().unwrap()) as usize;
    (0..count)
        .map(|i| u32::from_be_bytes(r[19 + 4 * i..23 + 4 * i].try_into().unwrap()))
        .collect()
}

/// What a golden TPM must show after TPM2_Startup(STATE).
fn check(t: &TpmServer, version: &str, work: &Path) {
    let expected = std::fs::read_to_string(golden_dir(version).join("expected.txt")).unwrap();
    let want = |key: &str| {
        expected
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("{key} missing from expected.txt"))
            .to_string()
    };
    // Resume: PCR 7 (state-saved) comes back from the Shutdown(STATE) data.
    must(t, "tpm2_startup", &[]);
    assert_eq!(hex(&read_pcr(t, "sha256", 7)), want("pcr7-sha256"));
    assert_eq!(ek_name(t, work), want("ek-name"));
    let f = work.join("nv.out");
    must(
        t,
        "tpm2_nvread",
        &[
            NV_INDEX,
            "-C",
            "o",
            "-s",
            &NV_DATA.len().to_string(),
            "-o",
            &s(&f),
        ],
    );
    assert_eq!(std::fs::read(&f).unwrap(), NV_DATA);
    let public = must(t, "tpm2_readpublic", &["-c", PERSISTENT]);
    assert_eq!(
        yaml_value(&public, "name").unwrap(),
        want("persistent-name")
    );
    assert!(audit_list(t).contains(&CC_GET_RANDOM));
}

fn start(state: PathBuf, extra: &[&str]) -> TpmServer {
    TpmServer::start_with(&vtpm(), "not-need-init", state, extra).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn golden_plain_image_loads_through_the_old_directory_store() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::copy(
        golden_dir(VERSION).join("state.img"),
        state.join("vtpm-state.img"),
    )
    .unwrap();
    let t = start(state, &[]);
    check(&t, VERSION, work.path());
}

#[test]
fn golden_vmgs_file_loads() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("guest.vmgs");
    std::fs::copy(golden_dir(VERSION).join("state.vmgs"), &file).unwrap();
    let uri = format!("backend-uri=file://{}", s(&file));
    let t = start(work.path().join("unused"), &["--tpmstate", &uri]);
    check(&t, VERSION, work.path());
}

#[test]
fn golden_encrypted_vmgs_file_loads() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("guest.vmgs");
    let dir = golden_dir(VERSION);
    std::fs::copy(dir.join("state-encrypted.vmgs"), &file).unwrap();
    let uri = format!("backend-uri=file://{}", s(&file));
    let key = format!("file={}", s(&dir.join("key.bin")));
    let t = start(
        work.path().join("unused"),
        &["--tpmstate", &uri, "--key", &key],
    );
    check(&t, VERSION, work.path());
}

/// An image from a newer vtpm (format version 2) is refused with a clear error.
#[test]
fn a_newer_image_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut img = std::fs::read(golden_dir(VERSION).join("state.img")).unwrap();
    img[9] = 2; // format version 2, digest left as is: the version is checked first
    std::fs::write(state.join("vtpm-state.img"), &img).unwrap();
    let err = match TpmServer::start(&vtpm(), Mode::Socket, "not-need-init", state.clone()) {
        Ok(mut t) => {
            t.wait_exit(std::time::Duration::from_secs(5));
            t.output()
        }
        Err(e) => e.to_string(),
    };
    assert!(err.contains("newer than this vtpm supports"), "{err}");
    assert_eq!(std::fs::read(state.join("vtpm-state.img")).unwrap(), img);
}

/// Writes the golden files of [`VERSION`] from a TPM provisioned here.
#[test]
#[ignore]
fn make_golden() {
    let dir = golden_dir(VERSION);
    assert!(
        !dir.exists(),
        "{} exists: goldens are never rewritten",
        dir.display()
    );
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let t = start(state.clone(), &[]);
    must(&t, "tpm2_startup", &["-c"]);
    let ek = ek_name(&t, work.path());
    must(
        &t,
        "tpm2_nvdefine",
        &[
            NV_INDEX,
            "-C",
            "o",
            "-s",
            &NV_DATA.len().to_string(),
            "-a",
            "ownerread|ownerwrite",
        ],
    );
    let f = work.path().join("nv.in");
    std::fs::write(&f, NV_DATA).unwrap();
    must(&t, "tpm2_nvwrite", &[NV_INDEX, "-C", "o", "-i", &s(&f)]);
    let primary = s(&work.path().join("primary.ctx"));
    must(&t, "tpm2_createprimary", &["-C", "o", "-c", &primary]);
    must(
        &t,
        "tpm2_evictcontrol",
        &["-C", "o", "-c", &primary, PERSISTENT],
    );
    must(&t, "tpm2_flushcontext", &["-t"]);
    let public = must(&t, "tpm2_readpublic", &["-c", PERSISTENT]);
    // A change of the audit digest algorithm leaves the list alone (Part 3, 21.2):
    // the second call sets it.
    let audit = ["-C", "o", "-g", "sha256", "TPM2_CC_GetRandom"];
    must(&t, "tpm2_setcommandauditstatus", &audit);
    let out = must(&t, "tpm2_setcommandauditstatus", &audit);
    let list = audit_list(&t);
    assert!(list.contains(&CC_GET_RANDOM), "{out} {list:x?}");
    must(
        &t,
        "tpm2_pcrextend",
        &[&format!("7:sha256={}", hex(&[0x61; 32]))],
    );
    let pcr7 = hex(&read_pcr(&t, "sha256", 7));
    must(&t, "tpm2_shutdown", &[]); // Shutdown(STATE)
    drop(t);

    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("state.img");
    vtpm_cli(&[
        "vmgs",
        "read",
        &s(&state.join("tpm-state.vmgs")),
        "--file-id",
        "3",
        "-o",
        &s(&img),
    ]);
    let plain = s(&dir.join("state.vmgs"));
    vtpm_cli(&["vmgs", "create", &plain, "--capacity", "64K", "--raw"]);
    vtpm_cli(&[
        "vmgs",
        "write",
        &plain,
        "--file-id",
        "3",
        "--input",
        &s(&img),
    ]);
    let key = dir.join("key.bin");
    std::fs::write(&key, (0u8..32).collect::<Vec<u8>>()).unwrap();
    let keyarg = format!("file={}", s(&key));
    let enc = s(&dir.join("state-encrypted.vmgs"));
    vtpm_cli(&[
        "vmgs",
        "create",
        &enc,
        "--capacity",
        "64K",
        "--raw",
        "--key",
        &keyarg,
    ]);
    vtpm_cli(&[
        "vmgs",
        "write",
        &enc,
        "--file-id",
        "3",
        "--input",
        &s(&img),
        "--key",
        &keyarg,
    ]);
    std::fs::write(
        dir.join("expected.txt"),
        format!(
            "ek-name: {ek}\npcr7-sha256: {pcr7}\npersistent-name: {}\n",
            yaml_value(&public, "name").unwrap()
        ),
    )
    .unwrap();
}
