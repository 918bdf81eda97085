//! HMAC sessions through the engine: StartAuthSession, command and response
//! HMACs computed independently here (RustCrypto hmac/sha2), nonce rolling,
//! continueSession and FlushContext.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

use sha2::{Digest, Sha256};

/// Starts an unbound, unsalted HMAC session (SHA-256, no symmetric); returns
/// (handle, nonceTPM).
fn start_session(t: &mut Tpm, nonce_caller: &[u8]) -> (u32, Vec<u8>) {
    let mut p = 0x4000_0007u32.to_be_bytes().to_vec(); // tpmKey NULL
    p.extend_from_slice(&0x4000_0007u32.to_be_bytes()); // bind NULL
    p.extend_from_slice(&(nonce_caller.len() as u16).to_be_bytes());
    p.extend_from_slice(nonce_caller);
    p.extend_from_slice(&[0, 0, 0x00, 0x00, 0x10, 0x00, 0x0B]); // no salt, HMAC, sym NULL, SHA-256
    let r = t.run(&cmd(0x8001, CC_START_AUTH_SESSION, &p));
    assert_eq!(rc(&r), 0);
    let handle = u32::from_be_bytes(r[10..14].try_into().unwrap());
    assert_eq!(handle >> 24, 0x02, "an HMAC session handle");
    let n = u16::from_be_bytes(r[14..16].try_into().unwrap()) as usize;
    assert_eq!(
        n,
        nonce_caller.len(),
        "nonceTPM has the size of nonceCaller (as libtpms)"
    );
    (handle, r[16..16 + n].to_vec())
}

/// PCR_Extend of PCR 16 authorized by the session, with the given HMAC.
fn extend_with(handle: u32, nonce: &[u8], attrs: u8, mac: &[u8], params: &[u8]) -> Vec<u8> {
    let mut auth = handle.to_be_bytes().to_vec();
    auth.extend_from_slice(&(nonce.len() as u16).to_be_bytes());
    auth.extend_from_slice(nonce);
    auth.push(attrs);
    auth.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    auth.extend_from_slice(mac);
    let mut body = 16u32.to_be_bytes().to_vec();
    body.extend_from_slice(&(auth.len() as u32).to_be_bytes());
    body.extend_from_slice(&auth);
    body.extend_from_slice(params);
    cmd(0x8002, CC_PCR_EXTEND, &body)
}

#[test]
fn hmac_session_authorizes_and_signs_the_response() {
    let mut t = Tpm::started();
    let (handle, nonce_tpm) = start_session(&mut t, &[0x11; 16]);
    let params = digest_values(0x000B, &[0x22; 32]);
    let nonce_caller = [0x33u8; 32];
    let cp_hash = Sha256::digest(
        [
            &CC_PCR_EXTEND.to_be_bytes()[..],
            &16u32.to_be_bytes(),
            &params,
        ]
        .concat(),
    );
    // Unbound, unsalted: the key is the (empty) PCR authValue.
    let mac = hmac256(&[], &[&cp_hash, &nonce_caller, &nonce_tpm, &[0x01]]);

    let mut bad = mac.clone();
    bad[0] ^= 1;
    let r = t.run(&extend_with(handle, &nonce_caller, 0x01, &bad, &params));
    assert_eq!(
        rc(&r),
        0x9A2,
        "a wrong HMAC is TPM_RC_BAD_AUTH for session 1"
    );

    let r = t.run(&extend_with(handle, &nonce_caller, 0x01, &mac, &params));
    assert_eq!(rc(&r), 0, "a correct HMAC authorizes");
    // Response: parameterSize(0), then nonceTPM', attributes, HMAC.
    let auth = &r[14..];
    let n = u16::from_be_bytes(auth[..2].try_into().unwrap()) as usize;
    let new_nonce = &auth[2..2 + n];
    assert_ne!(new_nonce, &nonce_tpm[..], "nonceTPM rolls");
    assert_eq!(auth[2 + n], 0x01);
    let rp_hash = Sha256::digest([&0u32.to_be_bytes()[..], &CC_PCR_EXTEND.to_be_bytes()].concat());
    let expected = hmac256(&[], &[&rp_hash, new_nonce, &nonce_caller, &[0x01]]);
    assert_eq!(&auth[2 + n + 3..], &expected[..], "response HMAC");

    // Replaying the old HMAC fails now that nonceTPM rolled.
    assert_eq!(
        rc(&t.run(&extend_with(handle, &nonce_caller, 0x01, &mac, &params))),
        0x9A2
    );
    assert_eq!(
        rc(&t.run(&plain(CC_FLUSH_CONTEXT, &handle.to_be_bytes()))),
        0
    );
    assert_eq!(
        rc(&t.run(&plain(CC_FLUSH_CONTEXT, &handle.to_be_bytes()))),
        0x1CB,
        "already flushed"
    );
    assert_eq!(
        rc(&t.run(&extend_with(handle, &nonce_caller, 0x01, &mac, &params))),
        0x918
    );
}

#[test]
fn session_without_continue_ends_with_the_command_and_slots_run_out() {
    let mut t = Tpm::started();
    let (handle, nonce_tpm) = start_session(&mut t, &[0x44; 20]);
    let params = digest_values(0x000B, &[0x55; 32]);
    let nonce_caller = [0x66u8; 16];
    let cp_hash = Sha256::digest(
        [
            &CC_PCR_EXTEND.to_be_bytes()[..],
            &16u32.to_be_bytes(),
            &params,
        ]
        .concat(),
    );
    let mac = hmac256(&[], &[&cp_hash, &nonce_caller, &nonce_tpm, &[0x00]]);
    assert_eq!(
        rc(&t.run(&extend_with(handle, &nonce_caller, 0x00, &mac, &params))),
        0
    );
    assert_eq!(
        rc(&t.run(&plain(CC_FLUSH_CONTEXT, &handle.to_be_bytes()))),
        0x1CB,
        "gone without continueSession"
    );

    for _ in 0..3 {
        start_session(&mut t, &[0x77; 16]);
    }
    let mut p = 0x4000_0007u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0x4000_0007u32.to_be_bytes());
    p.extend_from_slice(&[0, 16]);
    p.extend_from_slice(&[0x77; 16]);
    p.extend_from_slice(&[0, 0, 0x00, 0x00, 0x10, 0x00, 0x0B]);
    assert_eq!(
        rc(&t.run(&cmd(0x8001, CC_START_AUTH_SESSION, &p))),
        0x903,
        "TPM_RC_SESSION_MEMORY"
    );
    // A short nonceCaller is refused.
    p[8] = 0;
    p[9] = 8;
    p.drain(10..18);
    assert_eq!(
        rc(&t.run(&cmd(0x8001, CC_START_AUTH_SESSION, &p))),
        0x1D5,
        "TPM_RC_SIZE on nonceCaller"
    );
}

/// An authorized PCR_Extend of PCR 16 through `handle`, whose nonceTPM is `nonce_tpm`;
/// returns the response.
fn authorized_extend(t: &mut Tpm, handle: u32, nonce_tpm: &[u8], data: u8) -> Vec<u8> {
    let params = digest_values(0x000B, &[data; 32]);
    let nonce_caller = [data; 16];
    let cp_hash = Sha256::digest(
        [
            &CC_PCR_EXTEND.to_be_bytes()[..],
            &16u32.to_be_bytes(),
            &params,
        ]
        .concat(),
    );
    let mac = hmac256(&[], &[&cp_hash, &nonce_caller, nonce_tpm, &[0x01]]);
    t.run(&extend_with(handle, &nonce_caller, 0x01, &mac, &params))
}

fn rolled_nonce(r: &[u8]) -> Vec<u8> {
    let auth = &r[14..];
    let n = u16::from_be_bytes(auth[..2].try_into().unwrap()) as usize;
    auth[2..2 + n].to_vec()
}

#[test]
fn a_volatile_snapshot_carries_loaded_sessions_across_power_cycles() {
    let mut t = Tpm::started();
    let (handle, nonce0) = start_session(&mut t, &[0x61; 16]);
    let r = authorized_extend(&mut t, handle, &nonce0, 0x62);
    assert_eq!(rc(&r), 0);
    let nonce1 = rolled_nonce(&r);
    let pcr16 = read_one(&mut t, 0x000B, 16);

    let snapshot = t.engine.save_volatile();
    t.power_cycle();
    // Without the snapshot the session is gone after _TPM_Init...
    assert_eq!(
        rc(&authorized_extend(&mut t, handle, &nonce1, 0x63)),
        0x100,
        "not started"
    );
    t.power_cycle();
    t.engine.restore_volatile(&snapshot).unwrap();
    // ...with it the TPM is started, PCR 16 has its value, and the session
    // continues with its rolled nonceTPM (the old one is refused).
    assert_eq!(read_one(&mut t, 0x000B, 16), pcr16);
    assert_eq!(rc(&authorized_extend(&mut t, handle, &nonce0, 0x63)), 0x9A2);
    let r = authorized_extend(&mut t, handle, &nonce1, 0x63);
    assert_eq!(rc(&r), 0, "the restored session authorizes");
    assert_ne!(rolled_nonce(&r), nonce1);

    // A damaged snapshot is refused and changes nothing.
    let mut bad = snapshot.to_vec();
    bad.push(0xFF);
    t.power_cycle();
    assert!(t.engine.restore_volatile(&bad).is_err());
    assert!(t.engine.restore_volatile(&[7]).is_err());
    assert_eq!(rc(&authorized_extend(&mut t, handle, &nonce1, 0x63)), 0x100);
}
