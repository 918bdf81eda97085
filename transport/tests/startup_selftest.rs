//! tpm2_startup, tpm2_selftest, tpm2_gettestresult, tpm2_shutdown; startup/resume semantics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

const TPM_RC_INITIALIZE: u32 = 0x100;

/// Clock fields printed by tpm2_readclock.
fn clock_counts(s: &TpmServer) -> (u64, u64) {
    let out = must(s, "tpm2_readclock", &[]);
    let n = |k| {
        yaml_value(&out, k)
            .unwrap_or_else(|| panic!("{k} in {out}"))
            .parse()
            .unwrap()
    };
    (n("reset_count"), n("restart_count"))
}

fn commands_before_startup_are_refused(peer: Peer) {
    let s = server(&peer);
    // GetRandom before Startup: TPM_RC_INITIALIZE.
    let resp = s
        .transact(&command(0x8001, 0x17B, &8u16.to_be_bytes()))
        .unwrap();
    assert_eq!(
        response_code(&resp),
        Some(TPM_RC_INITIALIZE),
        "{}",
        hex(&resp)
    );
    let out = s.tools().run("tpm2_getrandom", &["8", "--hex"]);
    assert!(!out.ok(), "getrandom before startup succeeded: {out}");
    assert!(out.stderr.contains("0x100"), "{out}");
    must(&s, "tpm2_startup", &["-c"]);
    let hexout = must(&s, "tpm2_getrandom", &["8", "--hex"]);
    assert_eq!(hexout.trim().len(), 16, "{hexout}");
}

fn startup_selftest_shutdown(peer: Peer) {
    let s = server(&peer);
    must(&s, "tpm2_startup", &["-c"]);
    // A second Startup is TPM_RC_INITIALIZE on the wire (tpm2_startup tolerates it).
    let resp = s
        .transact(&command(0x8001, 0x144, &0u16.to_be_bytes()))
        .unwrap();
    assert_eq!(
        response_code(&resp),
        Some(TPM_RC_INITIALIZE),
        "{}",
        hex(&resp)
    );
    must(&s, "tpm2_startup", &["-c"]);

    must(&s, "tpm2_selftest", &["--fulltest"]);
    must(&s, "tpm2_selftest", &[]);
    let out = must(&s, "tpm2_gettestresult", &[]);
    assert_eq!(yaml_value(&out, "status"), Some("success"), "{out}");

    must(&s, "tpm2_shutdown", &["-c"]);
    let (reset, _) = clock_counts(&s);
    // As in the reference implementation: manufactured with 0, every TPM Reset increments it.
    assert_eq!(reset, 1, "resetCount right after the first Startup(CLEAR)");
}

fn shutdown_state_then_resume(peer: Peer) {
    let s = started(&peer);
    let (reset0, restart0) = clock_counts(&s);
    must(&s, "tpm2_shutdown", &[]); // TPM_SU_STATE
    let init = s.ioctl(&["-i"]);
    assert!(init.ok(), "{init}");
    must(&s, "tpm2_startup", &[]); // Startup(STATE): TPM Resume
    let (reset1, restart1) = clock_counts(&s);
    assert_eq!(reset1, reset0, "Resume must keep resetCount");
    assert_eq!(restart1, restart0 + 1, "Resume must increment restartCount");

    // Startup(STATE) without a preceding Shutdown(STATE): TPM_RC_VALUE + parameter 1 (0x1c4).
    assert!(s.ioctl(&["-i"]).ok());
    let resp = s
        .transact(&command(0x8001, 0x144, &1u16.to_be_bytes()))
        .unwrap();
    assert_eq!(response_code(&resp), Some(0x1C4), "{}", hex(&resp));
    must(&s, "tpm2_startup", &["-c"]);
    let (reset2, restart2) = clock_counts(&s);
    assert_eq!(reset2, reset1 + 1, "TPM Reset increments resetCount");
    assert_eq!(restart2, 0, "TPM Reset clears restartCount");
}

both!(
    commands_before_startup_are_refused,
    startup_selftest_shutdown,
    shutdown_state_then_resume
);
