//! Live migration through the control channel, driven by swtpm_ioctl as QEMU/libvirt
//! drive it: GET_STATEBLOB on the source, SET_STATEBLOB into a fresh TPM (stopped
//! first), INIT; the destination continues with the same EK, NV data and PCRs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

mod common;
use common::*;

/// The policy digest a tpm2_policy* tool prints.
fn printed_digest(out: &str) -> Vec<u8> {
    let word = out
        .split_whitespace()
        .rev()
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no digest in {out:?}"));
    (0..32)
        .map(|i| u8::from_str_radix(&word[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// PolicyCommandCode(Unseal) extends the session's digest: H(old || CC || Unseal).
fn after_command_code(old: &[u8]) -> Vec<u8> {
    let mut m = old.to_vec();
    m.extend_from_slice(&0x16Cu32.to_be_bytes());
    m.extend_from_slice(&0x15Eu32.to_be_bytes());
    hash("sha256", &m)
}

/// Extends the policy session in `session` with PolicyCommandCode(Unseal) and checks
/// that it continued from `digest`.
fn session_continues(s: &TpmServer, session: &str, digest: &[u8]) {
    let out = must(
        s,
        "tpm2_policycommandcode",
        &["-S", session, "TPM2_CC_Unseal"],
    );
    assert_eq!(
        printed_digest(&out),
        after_command_code(digest),
        "{}: the session kept its policy digest",
        s.peer.name()
    );
}

fn ioctl_ok(s: &TpmServer, args: &[&str]) -> String {
    let out = s.ioctl(args);
    assert!(out.ok(), "{}: swtpm_ioctl {args:?}: {out}", s.peer.name());
    out.stdout
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// The Name of the RSA EK (tpm2_createek, then tpm2_readpublic).
fn ek_name(s: &TpmServer, work: &Path) -> String {
    let ctx = path_str(&work.join("ek.ctx"));
    must(s, "tpm2_createek", &["-c", &ctx, "-G", "rsa"]);
    let out = must(s, "tpm2_readpublic", &["-c", &ctx]);
    must(s, "tpm2_flushcontext", &["-t"]);
    yaml_value(&out, "name")
        .unwrap_or_else(|| panic!("no name in {out}"))
        .to_string()
}

fn nv_read(s: &TpmServer, index: &str, size: usize) -> String {
    must(
        s,
        "tpm2_nvread",
        &[index, "-C", "o", "-s", &size.to_string()],
    )
}

/// A source TPM with an EK, an NV index and an extended PCR 16.
fn provisioned(peer: &Peer, work: &Path, extra: &[&str]) -> (TpmServer, String) {
    let s = TpmServer::start_with(peer, "not-need-init", tempfile::tempdir().unwrap(), extra)
        .unwrap_or_else(|e| panic!("{}: {e}", peer.name()));
    must(&s, "tpm2_startup", &["-c"]);
    let ek = ek_name(&s, work);
    must(
        &s,
        "tpm2_nvdefine",
        &[
            "0x1500016",
            "-C",
            "o",
            "-s",
            "12",
            "-a",
            "ownerread|ownerwrite",
        ],
    );
    let data = work.join("nv.dat");
    std::fs::write(&data, b"migrated NV!").unwrap();
    must(
        &s,
        "tpm2_nvwrite",
        &["0x1500016", "-C", "o", "-i", &path_str(&data)],
    );
    must(
        &s,
        "tpm2_pcrextend",
        &[&format!("16:sha256={}", hex(&[0x16; 32]))],
    );
    (s, ek)
}

/// A fresh TPM of the same kind, stopped (QEMU sends CMD_STOP before the blobs).
fn fresh_stopped(peer: &Peer, extra: &[&str]) -> TpmServer {
    let d = TpmServer::start_with(peer, "not-need-init", tempfile::tempdir().unwrap(), extra)
        .unwrap_or_else(|e| panic!("{}: {e}", peer.name()));
    ioctl_ok(&d, &["--stop"]);
    d
}

fn check_continues(d: &TpmServer, work: &Path, ek: &str, pcr16: &[u8]) {
    // Resumed from the volatile state: started, PCR 16 as on the source.
    assert_eq!(
        read_pcr(d, "sha256", 16),
        pcr16,
        "{}: PCR 16",
        d.peer.name()
    );
    assert!(nv_read(d, "0x1500016", 12).contains("migrated NV!"));
    assert_eq!(ek_name(d, work), ek, "{}: same EK", d.peer.name());
}

fn stateblob_migration(peer: Peer) {
    let work = tempfile::tempdir().unwrap();
    let (src, ek) = provisioned(&peer, work.path(), &[]);
    let pcr16 = read_pcr(&src, "sha256", 16);
    let perm = path_str(&work.path().join("perm.blob"));
    let vol = path_str(&work.path().join("vol.blob"));
    ioctl_ok(&src, &["--save", "permanent", &perm]);
    ioctl_ok(&src, &["--save", "volatile", &vol]);
    assert!(std::fs::metadata(&perm).unwrap().len() > 100);

    let dst = fresh_stopped(&peer, &[]);
    // SET_STATEBLOB is refused while the TPM runs (swtpm: TPM_BAD_ORDINAL).
    let running = fresh_stopped(&peer, &[]);
    ioctl_ok(&running, &["-i"]);
    assert!(!running.ioctl(&["--load", "permanent", &perm]).ok());

    ioctl_ok(&dst, &["--load", "permanent", &perm]);
    ioctl_ok(&dst, &["--load", "volatile", &vol]);
    ioctl_ok(&dst, &["-i"]);
    check_continues(&dst, work.path(), &ek, &pcr16);
    // The destination is a TPM of its own now: a restart keeps the migrated state.
    must(&dst, "tpm2_shutdown", &["-c"]);
    drop(src);
}

fn random_key(dir: &Path, name: &str, byte: u8) -> String {
    let p = dir.join(name);
    std::fs::write(&p, [byte; 32]).unwrap();
    path_str(&p)
}

fn migration_key(peer: Peer) {
    let work = tempfile::tempdir().unwrap();
    let key = format!("file={}", random_key(work.path(), "mig.key", 0x4d));
    let other = format!("file={}", random_key(work.path(), "other.key", 0x4e));
    let (src, ek) = provisioned(&peer, work.path(), &["--migration-key", &key]);
    let pcr16 = read_pcr(&src, "sha256", 16);
    let perm = path_str(&work.path().join("perm.blob"));
    let vol = path_str(&work.path().join("vol.blob"));
    ioctl_ok(&src, &["--save", "permanent", &perm]);
    ioctl_ok(&src, &["--save", "volatile", &vol]);
    let blob = std::fs::read(&perm).unwrap();
    assert!(
        !blob.windows(8).any(|w| w == b"VTPMSTAT"),
        "the exported blob is encrypted"
    );

    // Without the key, or with another one, the blob is refused.
    let plain = fresh_stopped(&peer, &[]);
    assert!(!plain.ioctl(&["--load", "permanent", &perm]).ok());
    let wrong = fresh_stopped(&peer, &["--migration-key", &other]);
    assert!(!wrong.ioctl(&["--load", "permanent", &perm]).ok());
    let mut flipped = blob.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    let bad = path_str(&work.path().join("bad.blob"));
    std::fs::write(&bad, &flipped).unwrap();
    let same = fresh_stopped(&peer, &["--migration-key", &key]);
    assert!(!same.ioctl(&["--load", "permanent", &bad]).ok());
    // A permanent blob is not accepted as a volatile one.
    assert!(!same.ioctl(&["--load", "volatile", &perm]).ok());

    ioctl_ok(&same, &["--load", "permanent", &perm]);
    ioctl_ok(&same, &["--load", "volatile", &vol]);
    ioctl_ok(&same, &["-i"]);
    check_continues(&same, work.path(), &ek, &pcr16);
}

/// A suspended TPM (STORE_VOLATILE) moves as permanent + savestate blobs; after INIT
/// its loaded objects are still loaded and its policy session still has its digest.
fn savestate_of_suspended_tpm(peer: Peer) {
    let work = tempfile::tempdir().unwrap();
    let (src, ek) = provisioned(&peer, work.path(), &[]);
    let pcr16 = read_pcr(&src, "sha256", 16);
    let primary = path_str(&work.path().join("primary.ctx"));
    must(&src, "tpm2_createprimary", &["-C", "o", "-c", &primary]);
    let session = path_str(&work.path().join("session.ctx"));
    must(
        &src,
        "tpm2_startauthsession",
        &["--policy-session", "-S", &session],
    );
    let digest = printed_digest(&must(
        &src,
        "tpm2_policypcr",
        &["-S", &session, "-l", "sha256:16"],
    ));
    let transient = must(&src, "tpm2_getcap", &["handles-transient"]);
    assert!(transient.contains("0x80000000"), "{transient}");

    ioctl_ok(&src, &["-v"]);
    let perm = path_str(&work.path().join("perm.blob"));
    let save = path_str(&work.path().join("save.blob"));
    ioctl_ok(&src, &["--save", "permanent", &perm]);
    ioctl_ok(&src, &["--save", "savestate", &save]);

    let dst = fresh_stopped(&peer, &[]);
    ioctl_ok(&dst, &["--load", "permanent", &perm]);
    ioctl_ok(&dst, &["--load", "savestate", &save]);
    ioctl_ok(&dst, &["-i"]);
    assert_eq!(must(&dst, "tpm2_getcap", &["handles-transient"]), transient);
    must(&dst, "tpm2_readpublic", &["-c", "0x80000000"]);
    // The policy session (context-loaded from the file tpm2-tools keep) continues
    // from its digest.
    session_continues(&dst, &session, &digest);
    must(&dst, "tpm2_flushcontext", &[&session]);
    must(&dst, "tpm2_flushcontext", &["-t"]);
    check_continues(&dst, work.path(), &ek, &pcr16);
}

/// Shutdown(STATE), a new process on the same state, Startup(STATE): PCRs and a
/// context-saved session survive (TPM Resume).
fn resume_after_restart(peer: Peer) {
    let work = tempfile::tempdir().unwrap();
    let mut s = started(&peer);
    must(
        &s,
        "tpm2_pcrextend",
        &[&format!("7:sha256={}", hex(&[7; 32]))],
    );
    let pcr7 = read_pcr(&s, "sha256", 7);
    let session = path_str(&work.path().join("s.ctx"));
    must(
        &s,
        "tpm2_startauthsession",
        &["--policy-session", "-S", &session],
    );
    let digest = printed_digest(&must(&s, "tpm2_policylocality", &["-S", &session, "zero"]));
    must(&s, "tpm2_shutdown", &[]); // Shutdown(STATE)
    s.restart().unwrap();
    must(&s, "tpm2_startup", &[]);
    assert_eq!(read_pcr(&s, "sha256", 7), pcr7, "{}", peer.name());
    session_continues(&s, &session, &digest);
}

both!(stateblob_migration, resume_after_restart);

mod vtpm_only {
    use super::*;

    #[test]
    fn migration_key() {
        super::migration_key(vtpm());
    }

    #[test]
    fn savestate_of_suspended_tpm() {
        super::savestate_of_suspended_tpm(vtpm());
    }
}
