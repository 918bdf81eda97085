//! `vtpm mssim`: the same tool flows through TCTI mssim, and the raw mssim framing (vtpm only:
//! swtpm has no mssim front end).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};

mod common;
use common::*;

fn mssim() -> TpmServer {
    TpmServer::mssim(&vtpm()).unwrap_or_else(|e| panic!("starting vtpm mssim: {e}"))
}

#[test]
fn tools_over_mssim() {
    let s = mssim();
    must(&s, "tpm2_startup", &["-c"]);
    must(&s, "tpm2_selftest", &["--fulltest"]);
    assert_eq!(
        yaml_value(&must(&s, "tpm2_gettestresult", &[]), "status"),
        Some("success")
    );
    let a = must(&s, "tpm2_getrandom", &["32", "--hex"]);
    let b = must(&s, "tpm2_getrandom", &["32", "--hex"]);
    assert_eq!(unhex(&a).map(|v| v.len()), Some(32), "{a}");
    assert_ne!(a, b);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.bin");
    std::fs::write(&f, [7u8; 64]).unwrap();
    must(&s, "tpm2_stirrandom", &[f.to_str().unwrap()]);

    let d = [0x11u8; 32];
    must(&s, "tpm2_pcrextend", &[&format!("16:sha256={}", hex(&d))]);
    assert_eq!(read_pcr(&s, "sha256", 16), extend("sha256", &[0; 32], &d));
    must(&s, "tpm2_pcrevent", &["16", f.to_str().unwrap()]);
    let want = extend("sha1", &[0; 20], &hash("sha1", &[7u8; 64]));
    assert_eq!(read_pcr(&s, "sha1", 16), want);
    must(&s, "tpm2_pcrreset", &["16"]);
    assert_eq!(read_pcr(&s, "sha256", 16), vec![0u8; 32]);
    must_fail_rc(&s, "tpm2_pcrreset", &["0"], 0x907);

    let pcrs = must(&s, "tpm2_getcap", &["pcrs"]);
    assert!(pcrs.contains("sha384: [ 0, 1,"), "{pcrs}");
    let fixed = must(&s, "tpm2_getcap", &["properties-fixed"]);
    assert!(fixed.contains("TPM2_PT_PCR_COUNT:\n  raw: 0x18"), "{fixed}");
    let c = must(&s, "tpm2_readclock", &[]);
    assert_eq!(yaml_value(&c, "reset_count"), Some("1"), "{c}");
    must(&s, "tpm2_shutdown", &["-c"]);
}

fn be(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn read_u32(s: &mut std::net::TcpStream) -> u32 {
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    u32::from_be_bytes(b)
}

/// TPM_SEND_COMMAND: {8, locality, len, command} -> {len, response}, then u32 0.
fn send_command(c: &mut std::net::TcpStream, cmd: &[u8]) -> Vec<u8> {
    c.write_all(&[&be(8)[..], &[0], &be(cmd.len() as u32), cmd].concat())
        .unwrap();
    let len = read_u32(c) as usize;
    let mut resp = vec![0u8; len];
    c.read_exact(&mut resp).unwrap();
    assert_eq!(read_u32(c), 0, "trailing u32 0 after the response");
    resp
}

#[test]
fn raw_mssim_protocol() {
    let s = mssim();
    // Platform port: POWER_ON, NV_ON answered with u32 0.
    let mut plat = connect(s.port + 1).unwrap();
    for cmd in [1u32, 11] {
        plat.write_all(&be(cmd)).unwrap();
        assert_eq!(read_u32(&mut plat), 0, "platform command {cmd}");
    }
    let mut c = connect(s.port).unwrap();
    c.write_all(&[be(15), be(1)].concat()).unwrap(); // REMOTE_HANDSHAKE, client version 1
    assert_eq!(read_u32(&mut c), 1, "server version");
    let flags = read_u32(&mut c);
    assert_eq!(flags & 0x0D, 0x0D, "flags {flags:#x}");
    assert_eq!(read_u32(&mut c), 0);

    let getrandom = command(0x8001, 0x17B, &8u16.to_be_bytes());
    let r = send_command(&mut c, &getrandom);
    assert_eq!(
        response_code(&r),
        Some(0x100),
        "before Startup: {}",
        hex(&r)
    );
    let r = send_command(&mut c, &command(0x8001, 0x144, &0u16.to_be_bytes()));
    assert_eq!(response_code(&r), Some(0), "Startup: {}", hex(&r));
    let r = send_command(&mut c, &getrandom);
    assert_eq!((response_code(&r), r.len()), (Some(0), 20), "{}", hex(&r));
    // SESSION_END closes the connection.
    c.write_all(&be(20)).unwrap();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(rest.len() <= 4, "after SESSION_END: {}", hex(&rest));
}

/// The platform's physical-presence signal reaches the engine: an owner
/// policy of PolicyPhysicalPresence authorizes CreatePrimary only while
/// PHYS_PRES_ON is asserted on the platform port (TPM_RC_PP otherwise).
#[test]
fn physical_presence_signal_reaches_policies() {
    use vtpm_conformance::raw::{self, b2, u16s};
    let s = mssim();
    let mut plat = connect(s.port + 1).unwrap();
    let signal = |plat: &mut std::net::TcpStream, cmd: u32| {
        plat.write_all(&be(cmd)).unwrap();
        assert_eq!(read_u32(plat), 0, "platform command {cmd}");
    };
    signal(&mut plat, 1);
    signal(&mut plat, 11);
    let mut c = connect(s.port).unwrap();
    c.write_all(&[be(15), be(1)].concat()).unwrap();
    for _ in 0..3 {
        read_u32(&mut c);
    }
    let ok = |r: &[u8], what: &str| assert_eq!(response_code(r), Some(0), "{what}: {}", hex(r));
    ok(
        &send_command(&mut c, &command(0x8001, 0x144, &[0, 0])),
        "Startup",
    );
    // ownerPolicy := H(0^32 || TPM_CC_PolicyPhysicalPresence).
    let mut d = vec![0u8; 32];
    d.extend_from_slice(&0x187u32.to_be_bytes());
    let policy = hash("sha256", &d);
    let mut p = b2(&policy);
    p.extend_from_slice(&0x000Bu16.to_be_bytes());
    let r = send_command(
        &mut c,
        &raw::auth_cmd(0x12E, &[0x4000_0001], &raw::pw_session(), &p),
    );
    ok(&r, "SetPrimaryPolicy");
    // An ECC storage primary under the owner, authorized by a policy session.
    let mut public = u16s(&[0x0023, 0x000B]);
    public.extend_from_slice(&0x0003_0072u32.to_be_bytes());
    public.extend_from_slice(&b2(&[]));
    public.extend_from_slice(&u16s(&[0x0006, 128, 0x0043, 0x0010, 0x0003, 0x0010, 0, 0]));
    let mut create = b2(&[0, 0, 0, 0]);
    create.extend_from_slice(&b2(&public));
    create.extend_from_slice(&b2(&[]));
    create.extend_from_slice(&0u32.to_be_bytes());
    let try_create = |c: &mut std::net::TcpStream| {
        let mut start = b2(&[0x33; 16]);
        start.extend_from_slice(&b2(&[]));
        start.push(0x01); // policy session
        start.extend_from_slice(&u16s(&[0x0010, 0x000B]));
        let r = send_command(
            c,
            &raw::no_auth_cmd(0x176, &[0x4000_0007, 0x4000_0007], &start),
        );
        ok(&r, "StartAuthSession");
        let (session, _) = raw::split_response(&r, true).unwrap();
        let r = send_command(c, &raw::no_auth_cmd(0x187, &[session], &[]));
        ok(&r, "PolicyPhysicalPresence");
        let mut auth = session.to_be_bytes().to_vec();
        auth.extend_from_slice(&b2(&[0x44; 16]));
        auth.push(0);
        auth.extend_from_slice(&b2(&[]));
        let r = send_command(c, &raw::auth_cmd(0x131, &[0x4000_0001], &auth, &create));
        let rc = response_code(&r).unwrap();
        if rc == 0 {
            let (h, _) = raw::split_response(&r, true).unwrap();
            ok(
                &send_command(c, &raw::plain(0x165, &h.to_be_bytes())),
                "flush key",
            );
        } else {
            ok(
                &send_command(c, &raw::plain(0x165, &session.to_be_bytes())),
                "flush session",
            );
        }
        rc
    };
    assert_eq!(
        try_create(&mut c),
        0x990,
        "TPM_RC_PP for session 1 without presence"
    );
    signal(&mut plat, 3); // PHYS_PRES_ON
    assert_eq!(try_create(&mut c), 0, "with presence asserted");
    signal(&mut plat, 4); // PHYS_PRES_OFF
    assert_eq!(try_create(&mut c), 0x990);
}
