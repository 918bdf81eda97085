//! tpm2_getrandom and tpm2_stirrandom; raw GetRandom sizes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

fn random_bytes(s: &TpmServer, n: usize) -> Vec<u8> {
    let out = must(s, "tpm2_getrandom", &[&n.to_string(), "--hex"]);
    let bytes = unhex(&out).unwrap_or_else(|| panic!("not hex: {out:?}"));
    assert_eq!(bytes.len(), n, "tpm2_getrandom {n}: {out:?}");
    bytes
}

fn getrandom_sizes_1_to_64(peer: Peer) {
    let s = started(&peer);
    for n in 1..=64 {
        random_bytes(&s, n);
    }
    // More than the largest digest is refused by the tool unless forced; forced, the TPM caps it.
    let out = s.tools().run("tpm2_getrandom", &["65", "--hex"]);
    assert!(!out.ok(), "{out}");
}

fn getrandom_calls_differ(peer: Peer) {
    let s = started(&peer);
    let a = random_bytes(&s, 32);
    let b = random_bytes(&s, 32);
    assert_ne!(a, b, "two GetRandom(32) returned the same bytes");
    assert_ne!(a, vec![0u8; 32]);
    // Binary output to a file.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.bin");
    must(&s, "tpm2_getrandom", &["48", "-o", f.to_str().unwrap()]);
    assert_eq!(std::fs::read(&f).unwrap().len(), 48);
}

fn raw_getrandom_sizes(peer: Peer) {
    let s = started(&peer);
    for (asked, got) in [(0u16, 0usize), (8, 8), (64, 64), (100, 64), (0xFFFF, 64)] {
        let resp = s
            .transact(&command(0x8001, 0x17B, &asked.to_be_bytes()))
            .unwrap();
        assert_eq!(
            response_code(&resp),
            Some(0),
            "GetRandom({asked}): {}",
            hex(&resp)
        );
        let len = u16::from_be_bytes([resp[10], resp[11]]) as usize;
        assert_eq!(len, got, "GetRandom({asked}) returned {len} bytes");
        assert_eq!(resp.len(), 12 + got, "GetRandom({asked}) response size");
    }
}

fn stirrandom(peer: Peer) {
    let s = started(&peer);
    let dir = tempfile::tempdir().unwrap();
    for (name, len) in [("small", 1usize), ("max", 128)] {
        let f = dir.path().join(name);
        std::fs::write(&f, vec![0xA5u8; len]).unwrap();
        must(&s, "tpm2_stirrandom", &[f.to_str().unwrap()]);
    }
    // Raw StirRandom with 129 bytes (> MAX_SENSITIVE_DATA 128): TPM_RC_SIZE + parameter 1 (0x1d5).
    let mut p = 129u16.to_be_bytes().to_vec();
    p.extend_from_slice(&[1u8; 129]);
    let resp = s.transact(&command(0x8001, 0x146, &p)).unwrap();
    assert_eq!(response_code(&resp), Some(0x1D5), "{}", hex(&resp));
    let a = random_bytes(&s, 16);
    assert_ne!(a, random_bytes(&s, 16));
}

both!(
    getrandom_sizes_1_to_64,
    getrandom_calls_differ,
    raw_getrandom_sizes,
    stirrandom
);
