//! Startup/shutdown and PCR commands driven as raw bytes through the engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use sha2::{Digest, Sha256};

const SHA1: u16 = 0x0004;
const SHA256: u16 = 0x000B;

#[test]
fn commands_before_startup_get_initialize() {
    let mut t = Tpm::new();
    assert_eq!(rc(&t.run(&plain(CC_GET_RANDOM, &[0, 8]))), 0x100);
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(rc(&t.run(&startup(0))), 0x100, "second Startup");
}

#[test]
fn startup_state_needs_a_prior_shutdown_state() {
    let mut t = Tpm::new();
    assert_eq!(rc(&t.run(&startup(1))), 0x1C4);
    assert_eq!(rc(&t.run(&startup(2))), 0x1C4, "bad TPM_SU");
    assert_eq!(rc(&t.run(&startup(0))), 0);
}

#[test]
fn extend_matches_an_independent_hash() {
    let mut t = Tpm::started();
    let d: [u8; 32] = Sha256::digest(b"event").into();
    let r = t.run(&with_pw(CC_PCR_EXTEND, 0, &digest_values(SHA256, &d)));
    assert_eq!(rc(&r), 0);
    let expected = Sha256::digest([[0u8; 32], d].concat());
    assert_eq!(read_one(&mut t, SHA256, 0), expected.to_vec());
    // The SHA-1 bank was not named, so it is unchanged.
    assert_eq!(read_one(&mut t, SHA1, 0), vec![0u8; 20]);
}

#[test]
fn event_extends_every_bank_with_the_hash_of_the_data() {
    let mut t = Tpm::started();
    let r = t.run(&with_pw(CC_PCR_EVENT, 16, &[0, 3, b'a', b'b', b'c']));
    assert_eq!(rc(&r), 0);
    let p = params(&r);
    assert_eq!(
        u32::from_be_bytes(p[..4].try_into().unwrap()),
        4,
        "one digest per implemented hash"
    );
    let h1: [u8; 20] = sha1::Sha1::digest(b"abc").into();
    assert_eq!(&p[4..6], &SHA1.to_be_bytes());
    assert_eq!(&p[6..26], &h1);
    let expected = sha1::Sha1::digest([[0u8; 20], h1].concat());
    assert_eq!(read_one(&mut t, SHA1, 16), expected.to_vec());
}

#[test]
fn reset_follows_pc_client_localities() {
    let mut t = Tpm::started();
    assert_eq!(
        rc(&t.run(&with_pw(
            CC_PCR_EXTEND,
            16,
            &digest_values(SHA256, &[7; 32])
        ))),
        0
    );
    assert_ne!(read_one(&mut t, SHA256, 16), vec![0u8; 32]);
    assert_eq!(rc(&t.run(&with_pw(CC_PCR_RESET, 16, &[]))), 0);
    assert_eq!(read_one(&mut t, SHA256, 16), vec![0u8; 32]);
    assert_eq!(
        rc(&t.run(&with_pw(CC_PCR_RESET, 0, &[]))),
        0x907,
        "PCR 0 is not resettable"
    );
    assert_eq!(
        rc(&t.run(&with_pw(CC_PCR_RESET, 17, &[]))),
        0x907,
        "PCR 17 only at locality 4"
    );
    assert_eq!(
        read_one(&mut t, SHA256, 17),
        vec![0xFFu8; 32],
        "DRTM PCRs start at all ones"
    );
    assert_eq!(rc(&t.run_at(4, &with_pw(CC_PCR_RESET, 17, &[]))), 0);
    assert_eq!(read_one(&mut t, SHA256, 17), vec![0u8; 32]);
    assert_eq!(
        rc(&t.run(&with_pw(CC_PCR_RESET, 25, &[]))),
        0x184,
        "no PCR 25"
    );
    assert_eq!(
        rc(&t.run(&with_pw(
            CC_PCR_EXTEND,
            17,
            &digest_values(SHA256, &[1; 32])
        ))),
        0x907
    );
}

#[test]
fn startup_locality_three_marks_pcr0() {
    let mut t = Tpm::new();
    assert_eq!(rc(&t.run_at(3, &startup(0))), 0);
    let mut expected = vec![0u8; 32];
    expected[31] = 3;
    assert_eq!(read_one(&mut t, SHA256, 0), expected);
}

#[test]
fn shutdown_state_then_resume_keeps_static_pcrs() {
    let mut t = Tpm::started();
    t.run(&with_pw(CC_PCR_EXTEND, 5, &digest_values(SHA256, &[9; 32])));
    t.run(&with_pw(
        CC_PCR_EXTEND,
        16,
        &digest_values(SHA256, &[9; 32]),
    ));
    let before = read_one(&mut t, SHA256, 5);
    assert_eq!(rc(&t.run(&shutdown(1))), 0);
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(1))), 0);
    assert_eq!(read_one(&mut t, SHA256, 5), before, "PCR 5 is state-saved");
    assert_eq!(read_one(&mut t, SHA256, 16), vec![0u8; 32], "PCR 16 is not");
    // A TPM Reset clears everything.
    assert_eq!(rc(&t.run(&shutdown(0))), 0);
    t.power_cycle();
    assert_eq!(
        rc(&t.run(&startup(1))),
        0x1C4,
        "no saved state after Shutdown(CLEAR)"
    );
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(read_one(&mut t, SHA256, 5), vec![0u8; 32]);
}

#[test]
fn allocation_takes_effect_at_the_next_reset_and_persists() {
    let mut t = Tpm::started();
    // Deallocate the SHA-1 bank.
    let sel = [0, 0, 0, 1, 0, 4, 3, 0, 0, 0];
    let r = t.run(&with_pw(CC_PCR_ALLOCATE, 0x4000_000C, &sel));
    assert_eq!(rc(&r), 0);
    assert_eq!(params(&r)[0], 1, "allocationSuccess");
    assert_eq!(
        read_one(&mut t, SHA1, 0).len(),
        20,
        "still allocated until reset"
    );
    let state = t.engine.save_state(&t.platform);
    let mut engine = vtpm_commands::Engine::from_state(&state).unwrap();
    engine.init(&mut t.platform);
    t.engine = engine;
    assert_eq!(rc(&t.run(&startup(0))), 0);
    let r = t.run(&pcr_read(SHA1, 0));
    let p = params(&r);
    assert_eq!(&p[14..18], &[0, 0, 0, 0], "no SHA-1 digest after the reset");
}

#[test]
fn wrong_platform_auth_is_bad_auth() {
    let mut t = Tpm::started();
    let mut body = 0x4000_000Cu32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0, 0, 0, 11, 0x40, 0, 0, 9, 0, 0, 1, 0, 2, b'n', b'o']);
    body.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(rc(&t.run(&cmd(0x8002, CC_PCR_ALLOCATE, &body))), 0x9A2);
}
