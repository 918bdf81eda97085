//! tpm2_pcrread, tpm2_pcrextend, tpm2_pcrevent, tpm2_pcrreset, tpm2_pcrallocate; values computed here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

fn pcrread_all_banks(peer: Peer) {
    let s = started(&peer);
    let all = parse_pcrread(&must(&s, "tpm2_pcrread", &[]));
    for (bank, size) in BANKS {
        for pcr in 0..24u32 {
            let v = all
                .get(&(bank.to_string(), pcr))
                .unwrap_or_else(|| panic!("{bank}:{pcr} missing"));
            // PC Client: PCRs 17..22 reset to all ones at locality 0 Startup(CLEAR), others to zero.
            let fill = if (17..=22).contains(&pcr) { 0xFF } else { 0 };
            assert_eq!(v, &vec![fill; size], "{bank}:{pcr} after Startup(CLEAR)");
        }
    }
    assert_eq!(all.len(), 4 * 24, "exactly 4 banks x 24 PCRs: {all:?}");
}

fn pcrextend_every_bank(peer: Peer) {
    let s = started(&peer);
    let mut spec = Vec::new();
    let mut expected = Vec::new();
    for (i, (bank, size)) in BANKS.iter().enumerate() {
        let d: Vec<u8> = (0..*size)
            .map(|j| (j as u8).wrapping_mul(7).wrapping_add(i as u8))
            .collect();
        spec.push(format!("{bank}={}", hex(&d)));
        expected.push((bank, extend(bank, &vec![0; *size], &d), d));
    }
    must(&s, "tpm2_pcrextend", &[&format!("16:{}", spec.join(","))]);
    for (bank, want, _) in &expected {
        assert_eq!(
            hex(&read_pcr(&s, bank, 16)),
            hex(want),
            "{bank}:16 after one extend"
        );
    }
    // Extend again (sha256 only, PCR 16 and 23): other banks must not move.
    let d2 = [0x42u8; 32];
    must(
        &s,
        "tpm2_pcrextend",
        &[
            &format!("16:sha256={}", hex(&d2)),
            &format!("23:sha256={}", hex(&d2)),
        ],
    );
    let want = extend("sha256", &expected[1].1, &d2);
    assert_eq!(hex(&read_pcr(&s, "sha256", 16)), hex(&want));
    assert_eq!(
        hex(&read_pcr(&s, "sha256", 23)),
        hex(&extend("sha256", &[0; 32], &d2))
    );
    assert_eq!(hex(&read_pcr(&s, "sha1", 16)), hex(&expected[0].1));
    assert_eq!(
        read_pcr(&s, "sha384", 15),
        vec![0u8; 48],
        "PCR 15 untouched"
    );
}

fn pcrevent_every_bank(peer: Peer) {
    let s = started(&peer);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("event.bin");
    let data = b"vtpm pcrevent test data \x00\x01\x02".repeat(5);
    std::fs::write(&f, &data).unwrap();
    let out = must(&s, "tpm2_pcrevent", &["16", f.to_str().unwrap()]);
    for (bank, size) in BANKS {
        let h = hash(bank, &data);
        // tpm2_pcrevent prints the event digest of each bank.
        assert_eq!(
            yaml_value(&out, bank),
            Some(hex(&h).as_str()),
            "{bank} digest in {out}"
        );
        assert_eq!(
            hex(&read_pcr(&s, bank, 16)),
            hex(&extend(bank, &vec![0; size], &h)),
            "{bank}:16"
        );
    }
    // Events larger than one TPM buffer go through HashSequenceStart and
    // EventSequenceComplete, which arrive with the hash-sequence commands (issue 7).
}

fn pcrreset(peer: Peer) {
    let s = started(&peer);
    must(
        &s,
        "tpm2_pcrextend",
        &[&format!(
            "16:sha1={},sha512={}",
            hex(&[1; 20]),
            hex(&[2; 64])
        )],
    );
    assert_ne!(read_pcr(&s, "sha1", 16), vec![0u8; 20]);
    must(&s, "tpm2_pcrreset", &["16"]);
    for (bank, size) in BANKS {
        assert_eq!(
            read_pcr(&s, bank, 16),
            vec![0u8; size],
            "{bank}:16 after reset"
        );
    }
    // PCR 0 is not resettable from locality 0: TPM_RC_LOCALITY.
    must_fail_rc(&s, "tpm2_pcrreset", &["0"], 0x907);
}

fn pcrallocate_after_reset(peer: Peer) {
    let s = started(&peer);
    let out = must(
        &s,
        "tpm2_pcrallocate",
        &["sha1:none+sha256:all+sha384:all+sha512:none"],
    );
    assert!(out.contains("sha256"), "{out}");
    // Takes effect at the next TPM Reset only.
    let before = must(&s, "tpm2_getcap", &["pcrs"]);
    assert!(
        before.contains("sha1: [ 0, 1,"),
        "allocation must not change before reset: {before}"
    );
    let init = s.ioctl(&["-i"]);
    assert!(init.ok(), "{init}");
    must(&s, "tpm2_startup", &["-c"]);
    let after = must(&s, "tpm2_getcap", &["pcrs"]);
    assert!(after.contains("sha1: [ ]"), "{after}");
    assert!(after.contains("sha512: [ ]"), "{after}");
    assert!(
        after.contains("sha256: [ 0, 1, 2,") && after.contains("sha384: [ 0, 1, 2,"),
        "{after}"
    );
    let all = parse_pcrread(&must(&s, "tpm2_pcrread", &[]));
    assert!(
        all.keys().all(|(b, _)| b == "sha256" || b == "sha384"),
        "{all:?}"
    );
    assert_eq!(all.len(), 48);
    // Extending a deallocated bank is ignored; allocated ones still work.
    must(
        &s,
        "tpm2_pcrextend",
        &[&format!("16:sha256={}", hex(&[3; 32]))],
    );
    assert_eq!(
        read_pcr(&s, "sha256", 16),
        extend("sha256", &[0; 32], &[3; 32])
    );
}

fn raw_pcrallocate_after_reset(peer: Peer) {
    let s = started(&peer);
    raw_pcr_allocate(&s, &[0xB, 0xD]);
    assert!(s.ioctl(&["-i"]).ok());
    must(&s, "tpm2_startup", &["-c"]);
    let after = must(&s, "tpm2_getcap", &["pcrs"]);
    assert!(
        after.contains("sha1: [ ]") && after.contains("sha384: [ ]"),
        "{after}"
    );
    assert!(
        after.contains("sha256: [ 0, 1,") && after.contains("sha512: [ 0, 1,"),
        "{after}"
    );
}

/// pcrUpdateCounter from PCR_Read of PCR 0 in the SHA-256 bank.
fn update_counter(s: &TpmServer) -> u32 {
    let r = s
        .transact(&command(0x8001, 0x17E, &[0, 0, 0, 1, 0, 0x0B, 3, 1, 0, 0]))
        .unwrap();
    assert_eq!(response_code(&r), Some(0), "PCR_Read");
    u32::from_be_bytes(r[10..14].try_into().unwrap())
}

/// pcrUpdateCounter through Startup, extends and the three kinds of power
/// cycle: every PCR a Startup resets counts as a change unless it is in the
/// TCB group (16, 21-23); TPM Reset starts from zero, Restart and Resume
/// continue from the saved value.
fn pcr_update_counter(peer: Peer) {
    let s = started(&peer);
    assert_eq!(
        update_counter(&s),
        20,
        "{}: after Startup(CLEAR)",
        peer.name()
    );
    let digest = format!("sha256={}", "11".repeat(32));
    must(&s, "tpm2_pcrextend", &[&format!("5:{digest}")]);
    must(&s, "tpm2_pcrextend", &[&format!("16:{digest}")]);
    assert_eq!(update_counter(&s), 21, "PCR 16 is in the TCB group");
    // TPM Resume: the state-saved PCRs come back, 17-20 count.
    must(&s, "tpm2_shutdown", &[]);
    let _ = s.ioctl(&["-i"]);
    must(&s, "tpm2_startup", &[]);
    assert_eq!(update_counter(&s), 25, "{}: after TPM Resume", peer.name());
    // TPM Restart: every PCR resets and counts, from the saved value.
    must(&s, "tpm2_shutdown", &[]);
    let _ = s.ioctl(&["-i"]);
    must(&s, "tpm2_startup", &["-c"]);
    assert_eq!(update_counter(&s), 45, "{}: after TPM Restart", peer.name());
    // TPM Reset.
    must(&s, "tpm2_shutdown", &["-c"]);
    let _ = s.ioctl(&["-i"]);
    must(&s, "tpm2_startup", &["-c"]);
    assert_eq!(update_counter(&s), 20, "{}: after TPM Reset", peer.name());
}

both!(
    pcr_update_counter,
    raw_pcrallocate_after_reset,
    pcrread_all_banks,
    pcrextend_every_bank,
    pcrevent_every_bank,
    pcrreset,
    pcrallocate_after_reset
);
