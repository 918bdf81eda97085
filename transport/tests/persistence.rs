//! State survives SIGKILL + restart; a corrupted state dir makes the server refuse to start.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

mod common;
use common::*;

/// Non-empty regular files of the state dir, except lock and pid files.
fn state_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && std::fs::metadata(p).unwrap().len() > 0)
        .filter(|p| {
            !matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some(".lock" | "pid")
            )
        })
        .collect();
    v.sort();
    v
}

fn allocation_survives_sigkill(peer: Peer) {
    let mut s = started(&peer);
    must(
        &s,
        "tpm2_pcrallocate",
        &["sha1:none+sha256:all+sha384:none+sha512:all"],
    );
    s.restart().unwrap(); // SIGKILL, same state dir
    must(&s, "tpm2_startup", &["-c"]);
    let pcrs = must(&s, "tpm2_getcap", &["pcrs"]);
    assert!(
        pcrs.contains("sha1: [ ]") && pcrs.contains("sha384: [ ]"),
        "{}: {pcrs}",
        peer.name()
    );
    assert!(
        pcrs.contains("sha256: [ 0, 1,") && pcrs.contains("sha512: [ 0, 1,"),
        "{pcrs}"
    );
    // PCRs themselves are volatile: an extend before the kill is gone after.
    must(
        &s,
        "tpm2_pcrextend",
        &[&format!("16:sha256={}", hex(&[9; 32]))],
    );
    s.restart().unwrap();
    must(&s, "tpm2_startup", &["-c"]);
    assert_eq!(read_pcr(&s, "sha256", 16), vec![0u8; 32]);
    let (bank, size) = ("sha512", 64);
    assert_eq!(read_pcr(&s, bank, 0), vec![0u8; size]);
}

fn raw_allocation_survives_sigkill(peer: Peer) {
    let mut s = started(&peer);
    raw_pcr_allocate(&s, &[0x4, 0xC]);
    s.restart().unwrap(); // SIGKILL, same state dir
    must(&s, "tpm2_startup", &["-c"]);
    let pcrs = must(&s, "tpm2_getcap", &["pcrs"]);
    assert!(
        pcrs.contains("sha256: [ ]") && pcrs.contains("sha512: [ ]"),
        "{}: {pcrs}",
        peer.name()
    );
    assert!(
        pcrs.contains("sha1: [ 0, 1,") && pcrs.contains("sha384: [ 0, 1,"),
        "{pcrs}"
    );
}

fn corrupted_state_refuses_to_start(peer: Peer) {
    let s = started(&peer);
    must(&s, "tpm2_shutdown", &["-c"]);
    let StateDir::Temp(state) = s.into_state().unwrap() else {
        unreachable!()
    };
    let files = state_files(state.path());
    assert!(!files.is_empty(), "{}: no state file written", peer.name());
    let mut corrupted = Vec::new();
    for f in &files {
        let mut b = std::fs::read(f).unwrap();
        let mid = b.len() / 2;
        for x in b.iter_mut().skip(mid).take(64) {
            *x ^= 0x5A;
        }
        std::fs::write(f, &b).unwrap();
        corrupted.push(b);
    }
    let path = state.path().to_path_buf();
    // The process must exit with an error (swtpm opens its port first, then fails to load the
    // state and exits 1; exiting before listening is fine too) and say why.
    let (status, text) = match TpmServer::start(&peer, Mode::Socket, "not-need-init", path) {
        Err(e) => (String::new(), e.to_string()),
        Ok(mut srv) => {
            let st = srv.wait_exit(std::time::Duration::from_secs(5));
            let st =
                st.unwrap_or_else(|| panic!("{} kept running on corrupted state", peer.name()));
            assert!(
                !st.success(),
                "{}: exit status {st} on corrupted state",
                peer.name()
            );
            (st.to_string(), srv.output())
        }
    };
    let msg = text
        .replace("[stdout]", "")
        .replace("[stderr]", "")
        .replace("[log]", "");
    assert!(
        msg.trim().len() > 10,
        "{}: no error message ({status}): {text}",
        peer.name()
    );
    // Not reset: the corrupted files are still there, byte for byte.
    for (f, want) in files.iter().zip(&corrupted) {
        assert!(
            std::fs::read(f).unwrap() == *want,
            "{}: {} was rewritten",
            peer.name(),
            f.display()
        );
    }
}

both!(
    allocation_survives_sigkill,
    raw_allocation_survives_sigkill,
    corrupted_state_refuses_to_start
);
