//! The shared pipeline: malformed input, codes with positions, failure mode.
//! Expected codes were checked against swtpm 0.7.1 (libtpms) for the same bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn malformed_commands_get_the_spec_codes() {
    let pw = "00000009 40000009 0000 00 0000";
    let cases: &[(&str, String, u32)] = &[
        (
            "unknown command code",
            "8001 0000000a 20000000".into(),
            0x143,
        ),
        ("bad tag", "8003 0000000c 0000017b 0008".into(), 0x01E),
        ("TPM 1.2 tag", "00c1 0000000a 00000099".into(), 0x01E),
        (
            "size field too large",
            "8001 00000010 0000017b 0008".into(),
            0x142,
        ),
        (
            "trailing parameter bytes",
            "8001 0000000d 0000017b 000800".into(),
            0x095,
        ),
        (
            "truncated parameter",
            "8001 0000000b 0000017b 00".into(),
            0x1DA,
        ),
        (
            "password session without an auth handle",
            format!("8002 00000019 0000017b {pw} 0008"),
            0x98B,
        ),
        (
            "missing authorization",
            "8001 00000012 00000182 00000000 00000000".into(),
            0x125,
        ),
        (
            "password session with a nonce",
            "8002 00000021 00000182 00000000 0000000b 40000009 0002 abcd 00 0000 00000000".into(),
            0x98F,
        ),
        (
            "reserved session attributes",
            "8002 0000001f 00000182 00000000 00000009 40000009 0000 09 0000 00000000".into(),
            0x9A1,
        ),
        (
            "encrypt on a password session",
            "8002 0000001f 00000182 00000000 00000009 40000009 0000 21 0000 00000000".into(),
            0x982,
        ),
        (
            "unloaded HMAC session",
            "8002 0000001f 00000182 00000000 00000009 02000000 0000 01 0000 00000000".into(),
            0x918,
        ),
        (
            "auth area too small",
            "8002 0000001b 00000182 00000000 00000005 40000009 00 00000000".into(),
            0x095,
        ),
        (
            "auth size beyond the command",
            "8002 00000016 00000182 00000000 000000ff 40000009".into(),
            0x144,
        ),
        (
            "unknown hash in extend",
            format!("8002 00000022 00000182 00000000 {pw} 00000001 0099 00"),
            0x1C3,
        ),
        (
            "bad capability",
            "8001 00000016 0000017a 00000099 00000000 00000001".into(),
            0x1C4,
        ),
        (
            "bad handle type in capability",
            "8001 00000016 0000017a 00000001 05000000 00000001".into(),
            0x2CB,
        ),
        (
            "PCR select too short",
            "8001 00000015 0000017e 00000001 000b 02 ffff".into(),
            0x1C4,
        ),
        (
            "unimplemented hash in PCR_Read",
            "8001 00000016 0000017e 00000001 0027 03 010000".into(),
            0x1C3,
        ),
        ("bad YES/NO", "8001 0000000b 00000143 02".into(), 0x1C4),
        ("bad TPM_SU", "8001 0000000c 00000145 0005".into(), 0x1C4),
        (
            "unknown object type in TestParms",
            "8001 0000000c 0000018a 0099".into(),
            0x1CA,
        ),
    ];
    let mut t = Tpm::started();
    for (what, bytes, expected) in cases {
        let mut bytes = hex(bytes);
        // The size field is written here, except where it is what the case tests.
        if *what != "size field too large" && bytes.len() >= 6 {
            let len = (bytes.len() as u32).to_be_bytes();
            bytes[2..6].copy_from_slice(&len);
        }
        let r = t.run(&bytes);
        assert_eq!(rc(&r), *expected, "{what}: got {:#x}", rc(&r));
    }
}

#[test]
fn every_prefix_and_every_byte_flip_of_real_commands_gets_an_answer() {
    let commands = vec![
        plain(CC_GET_RANDOM, &[0, 16]),
        with_pw(CC_PCR_EXTEND, 16, &digest_values(0x000B, &[1; 32])),
        plain(CC_GET_CAPABILITY, &[0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 0, 64]),
        pcr_read(0x000C, 3),
    ];
    let mut t = Tpm::started();
    for c in &commands {
        for n in 0..c.len() {
            t.run(&c[..n]);
        }
        for i in 0..c.len() {
            for bit in [0x01u8, 0x80] {
                let mut m = c.clone();
                m[i] ^= bit;
                t.run(&m);
            }
        }
    }
    assert_eq!(
        rc(&t.run(&plain(CC_GET_RANDOM, &[0, 8]))),
        0,
        "still serving"
    );
}

#[test]
fn failure_mode_serves_only_test_result_and_capability() {
    let mut t = Tpm::started();
    t.engine.enter_failure_mode(0x101);
    assert_eq!(rc(&t.run(&plain(CC_GET_RANDOM, &[0, 8]))), 0x101);
    let r = t.run(&plain(CC_GET_TEST_RESULT, &[]));
    assert_eq!(rc(&r), 0);
    assert_eq!(
        &params(&r)[params(&r).len() - 4..],
        &0x101u32.to_be_bytes(),
        "testResult"
    );
    // Identity properties still answer; others do not.
    let r = t.run(&plain(
        CC_GET_CAPABILITY,
        &[0, 0, 0, 6, 0, 0, 1, 5, 0, 0, 0, 1],
    ));
    assert_eq!(rc(&r), 0);
    assert_eq!(&params(&r)[9..13], &[0, 0, 1, 5], "TPM_PT_MANUFACTURER");
    assert_eq!(
        rc(&t.run(&plain(
            CC_GET_CAPABILITY,
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        ))),
        0x101
    );
    // _TPM_Init leaves failure mode.
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(0))), 0);
}

#[test]
fn entropy_failure_at_init_is_failure_mode() {
    let mut t = Tpm::new();
    t.platform.entropy_ok = false;
    t.power_cycle();
    assert!(t.engine.failure().is_some());
    assert_eq!(rc(&t.run(&startup(0))), 0x101);
}

#[test]
fn get_random_is_capped_and_differs() {
    let mut t = Tpm::started();
    let a = t.run(&plain(CC_GET_RANDOM, &[0, 100]));
    assert_eq!(&params(&a)[..2], &[0, 64], "capped at the largest digest");
    let b = t.run(&plain(CC_GET_RANDOM, &[0, 100]));
    assert_ne!(params(&a), params(&b));
    let z = t.run(&plain(CC_GET_RANDOM, &[0, 0]));
    assert_eq!(params(&z), &[0, 0]);
}

#[test]
fn self_test_then_incremental_reports_nothing_left() {
    let mut t = Tpm::started();
    let r = t.run(&plain(0x142, &[0, 0, 0, 0]));
    assert_eq!(rc(&r), 0);
    assert!(
        u32::from_be_bytes(params(&r)[..4].try_into().unwrap()) > 0,
        "algorithms untested at first"
    );
    assert_eq!(rc(&t.run(&plain(CC_SELF_TEST, &[1]))), 0);
    let r = t.run(&plain(0x142, &[0, 0, 0, 0]));
    assert_eq!(
        params(&r),
        &[0, 0, 0, 0],
        "toDoList empty after a full self-test"
    );
}

#[test]
fn read_clock_advances_with_the_platform_clock() {
    let mut t = Tpm::started();
    let a = t.run(&plain(CC_READ_CLOCK, &[]));
    t.platform.now_ms += 1500;
    let b = t.run(&plain(CC_READ_CLOCK, &[]));
    let time = |r: &[u8]| u64::from_be_bytes(params(r)[..8].try_into().unwrap());
    let clock = |r: &[u8]| u64::from_be_bytes(params(r)[8..16].try_into().unwrap());
    assert_eq!(time(&b) - time(&a), 1500);
    assert_eq!(clock(&b) - clock(&a), 1500);
    assert_eq!(
        &params(&b)[16..20],
        &[0, 0, 0, 1],
        "resetCount after the first TPM Reset"
    );
}

#[test]
fn capability_commands_lists_the_command_table() {
    let mut t = Tpm::started();
    let r = t.run(&plain(
        CC_GET_CAPABILITY,
        &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0],
    ));
    let p = params(&r);
    assert_eq!(p[0], 0, "no more data");
    let n = u32::from_be_bytes(p[5..9].try_into().unwrap()) as usize;
    let ccs: Vec<u32> = (0..n)
        .map(|i| u32::from_be_bytes(p[9 + 4 * i..13 + 4 * i].try_into().unwrap()) & 0xFFFF)
        .collect();
    assert!(ccs.contains(&0x144) && ccs.contains(&0x182));
    assert!(ccs.windows(2).all(|w| w[0] < w[1]));
    // Paging: ask for two, get two and moreData.
    let r = t.run(&plain(
        CC_GET_CAPABILITY,
        &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2],
    ));
    assert_eq!(params(&r)[0], 1);
    assert_eq!(&params(&r)[5..9], &[0, 0, 0, 2]);
}
