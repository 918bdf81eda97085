//! swtpm control channel driven by swtpm_ioctl: -c, -i, -s, --info, -l, -e, -v, -b, --stop.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

mod common;
use common::*;

fn ioctl_ok(s: &TpmServer, args: &[&str]) -> String {
    let out = s.ioctl(args);
    assert!(out.ok(), "{}: swtpm_ioctl {args:?}: {out}", s.peer.name());
    out.stdout
}

fn pcr_reset_rc(s: &TpmServer, pcr: u32) -> u32 {
    let mut p = pcr.to_be_bytes().to_vec();
    p.extend_from_slice(&pw_auth_area());
    let resp = s.transact(&command(0x8002, 0x13D, &p)).unwrap();
    response_code(&resp).unwrap()
}

fn capabilities_and_info(peer: Peer) {
    let s = started(&peer);
    let out = ioctl_ok(&s, &["-c"]);
    let caps =
        u64::from_str_radix(out.trim().strip_prefix("ptm capability is 0x").unwrap(), 16).unwrap();
    // What QEMU requires for TPM 2.0, plus GET_INFO: INIT, SHUTDOWN, GET_TPMESTABLISHED,
    // SET_LOCALITY, RESET_TPMESTABLISHED, STOP, SET_BUFFERSIZE, GET_INFO.
    let need = 0x1 | 0x2 | 0x4 | 0x8 | 0x80 | 0x400 | 0x2000 | 0x4000;
    assert_eq!(caps & need, need, "{}: caps {caps:#x}", peer.name());

    let spec = ioctl_ok(&s, &["--info", "1"]);
    assert!(
        spec.contains(r#""TPMSpecification":{"family":"2.0""#),
        "{spec}"
    );
    let attrs = ioctl_ok(&s, &["--info", "2"]);
    assert!(
        attrs.contains(r#""TPMAttributes":{"manufacturer":"#),
        "{attrs}"
    );
    assert!(
        !attrs.contains("TPMSpecification"),
        "--info 2 only: {attrs}"
    );
    let both = ioctl_ok(&s, &["--info", "3"]);
    assert!(
        both.contains("TPMSpecification") && both.contains("TPMAttributes"),
        "{both}"
    );
}

fn locality(peer: Peer) {
    let s = started(&peer);
    // PCR 20 is resettable from locality 2 only (PC Client); PCR 16 from 0..3.
    ioctl_ok(&s, &["-l", "3"]);
    assert_eq!(pcr_reset_rc(&s, 20), TPM_RC_LOCALITY);
    assert_eq!(pcr_reset_rc(&s, 16), 0);
    ioctl_ok(&s, &["-l", "2"]);
    assert_eq!(
        pcr_reset_rc(&s, 20),
        0,
        "{}: PCR_Reset(20) at locality 2",
        peer.name()
    );
    ioctl_ok(&s, &["-l", "4"]);
    assert_eq!(
        pcr_reset_rc(&s, 16),
        TPM_RC_LOCALITY,
        "{}: PCR 16 at locality 4",
        peer.name()
    );
    ioctl_ok(&s, &["-l", "0"]);
    assert_eq!(pcr_reset_rc(&s, 20), TPM_RC_LOCALITY);
    assert_eq!(pcr_reset_rc(&s, 16), 0);
    let bad = s.ioctl(&["-l", "5"]);
    assert!(!bad.ok(), "locality 5 accepted: {bad}");
}

fn init_established_volatile(peer: Peer) {
    let s = started(&peer);
    let est = ioctl_ok(&s, &["-e"]);
    assert!(
        est.trim() == "tpmEstablished is 0" || est.trim() == "tpmEstablished is 1",
        "{est}"
    );
    // STORE_VOLATILE, then INIT: swtpm resumes from the stored volatile state (and deletes it),
    // so the TPM is still started.
    ioctl_ok(&s, &["-v"]);
    ioctl_ok(&s, &["-i"]);
    assert_serving(&s, "-v then -i (resumed from volatile state)");
    // A second INIT finds no volatile state: the TPM needs Startup again.
    ioctl_ok(&s, &["-i"]);
    let resp = s
        .transact(&command(0x8001, 0x17B, &8u16.to_be_bytes()))
        .unwrap();
    assert_eq!(response_code(&resp), Some(0x100), "{}", hex(&resp));
    must(&s, "tpm2_startup", &["-c"]);
    assert_serving(&s, "INIT + Startup");
}

fn buffersize_and_stop(peer: Peer) {
    let s = started(&peer);
    let out = ioctl_ok(&s, &["-b", "0"]);
    let n = |k| {
        yaml_value(&out, k)
            .unwrap_or_else(|| panic!("{k}: {out}"))
            .parse::<u32>()
            .unwrap()
    };
    let (size, min, max) = (n("TPM buffersize"), n("minimum size"), n("maximum size"));
    assert_eq!(size, 4096, "{out}");
    assert!(min <= size && size <= max && min >= 1024, "{out}");
    // Setting the size is only allowed while stopped: TPM_BAD_ORDINAL (0xa).
    let running = s.ioctl(&["-b", "4096"]);
    assert!(!running.ok() && running.stderr.contains("0xa"), "{running}");

    ioctl_ok(&s, &["--stop"]);
    // Stopped: data channel answers TPM_RC_FAILURE, control commands needing a TPM fail.
    let resp = s
        .transact(&command(0x8001, 0x17B, &8u16.to_be_bytes()))
        .unwrap();
    assert_eq!(response_code(&resp), Some(0x101), "{}", hex(&resp));
    assert!(!s.ioctl(&["-e"]).ok(), "-e while stopped");
    let set = ioctl_ok(&s, &["-b", "4096"]);
    assert_eq!(yaml_value(&set, "TPM buffersize"), Some("4096"), "{set}");

    ioctl_ok(&s, &["-i"]);
    must(&s, "tpm2_startup", &["-c"]);
    assert_serving(&s, "--stop, -b, -i, startup");
    assert!(ioctl_ok(&s, &["-e"]).contains("tpmEstablished is"));
}

fn shutdown_exits_process(peer: Peer) {
    let mut s = started(&peer);
    ioctl_ok(&s, &["-s"]);
    let st = s.wait_exit(Duration::from_secs(5));
    let st = st.unwrap_or_else(|| panic!("{} still running 5 s after -s", peer.name()));
    assert!(st.success(), "{}: exit status {st} after -s", peer.name());
    assert!(
        vtpm_conformance::connect(s.port).is_err(),
        "data port still open after -s"
    );
}

both!(
    capabilities_and_info,
    locality,
    init_established_volatile,
    buffersize_and_stop,
    shutdown_exits_process
);
