//! tpm2_readclock and tpm2_testparms.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

fn clock(s: &TpmServer) -> [u64; 4] {
    let out = must(s, "tpm2_readclock", &[]);
    let n = |k| {
        yaml_value(&out, k)
            .unwrap_or_else(|| panic!("{k} in {out}"))
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(yaml_value(&out, "safe"), Some("yes"), "{out}");
    [n("time"), n("clock"), n("reset_count"), n("restart_count")]
}

fn readclock_advances(peer: Peer) {
    let s = started(&peer);
    let [t1, c1, r1, s1] = clock(&s);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let [t2, c2, r2, s2] = clock(&s);
    assert!(t2 >= t1 + 250 && t2 < t1 + 20_000, "time {t1} -> {t2}");
    assert!(c2 >= c1 + 250 && c2 < c1 + 20_000, "clock {c1} -> {c2}");
    assert_eq!((r1, s1), (r2, s2), "resetCount/restartCount must be stable");
    // Raw ReadClock: TPMS_TIME_INFO is 8+8+4+4+1 = 25 bytes.
    let resp = s.transact(&command(0x8001, 0x181, &[])).unwrap();
    assert_eq!(response_code(&resp), Some(0));
    assert_eq!(resp.len(), 10 + 25, "{}", hex(&resp));
}

/// tpm2_testparms spec string and the algorithm name `tpm2_getcap algorithms` would list for it.
const PARAMS: [(&str, &str); 5] = [
    ("rsa2048", "rsa"),
    ("ecc256", "ecc"),
    ("aes128cfb", "aes"),
    ("hmac", "keyedhash"),
    ("xor", "xor"),
];

fn testparms_consistent_with_algorithms(peer: Peer) {
    let s = started(&peer);
    let algs = yamlish_top_keys(&must(&s, "tpm2_getcap", &["algorithms"]));
    let mut supported = 0;
    for (spec, alg) in PARAMS {
        let out = s.tools().run("tpm2_testparms", &[spec]);
        if algs.iter().any(|a| a == alg) {
            assert!(
                out.ok(),
                "{}: {alg} listed but testparms {spec} fails: {out}",
                peer.name()
            );
            supported += 1;
        } else {
            // Not implemented: must be a TPM error (not a tool/transport error).
            assert!(
                !out.ok(),
                "{}: {alg} not listed but testparms {spec} succeeds",
                peer.name()
            );
            assert!(
                out.stderr.contains("Esys_TestParms"),
                "{}: expected a TPM error: {out}",
                peer.name()
            );
        }
    }
    if peer == Peer::Swtpm {
        assert_eq!(
            supported,
            PARAMS.len(),
            "the reference supports all of {PARAMS:?}"
        );
    }
    // An algorithm that is no object type (TPM_ALG_SHA256 as type): TPM_RC_VALUE/TYPE, never success.
    let resp = s
        .transact(&command(0x8001, 0x18A, &0x000Bu16.to_be_bytes()))
        .unwrap();
    assert_ne!(response_code(&resp), Some(0), "{}", hex(&resp));
}

both!(readclock_advances, testparms_consistent_with_algorithms);
