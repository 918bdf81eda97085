//! Command audit list management, audit-session attributes and the session
//! context gap, through the engine with raw command bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

const CC_SET_AUDIT: u32 = 0x140;

fn tpml_cc(codes: &[u32]) -> Vec<u8> {
    let mut v = (codes.len() as u32).to_be_bytes().to_vec();
    for c in codes {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v
}

fn set_audit(t: &mut Tpm, alg: u16, set: &[u32], clear: &[u32]) -> u32 {
    let mut p = alg.to_be_bytes().to_vec();
    p.extend_from_slice(&tpml_cc(set));
    p.extend_from_slice(&tpml_cc(clear));
    rc(&t.run(&with_pw(CC_SET_AUDIT, RH_OWNER, &p)))
}

/// An unbound, unsalted HMAC session with SHA-256 and no symmetric algorithm.
fn start_hmac_session(t: &mut Tpm) -> u32 {
    let mut p = 0x4000_0007u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0x4000_0007u32.to_be_bytes());
    p.extend_from_slice(&[0, 16]);
    p.extend_from_slice(&[0xA5; 16]);
    p.extend_from_slice(&[0, 0, 0x00, 0x00, 0x10, 0x00, 0x0B]);
    let r = t.run(&cmd(0x8001, CC_START_AUTH_SESSION, &p));
    assert_eq!(rc(&r), 0);
    u32::from_be_bytes(r[10..14].try_into().unwrap())
}

/// GetRandom(8) with one session entry (no authorization: audit/encrypt only).
fn get_random_with(handle: u32, attrs: u8) -> Vec<u8> {
    let mut auth = handle.to_be_bytes().to_vec();
    auth.extend_from_slice(&[0, 16]);
    auth.extend_from_slice(&[0x5A; 16]);
    auth.push(attrs);
    auth.extend_from_slice(&[0, 0]);
    let mut body = (auth.len() as u32).to_be_bytes().to_vec();
    body.extend_from_slice(&auth);
    body.extend_from_slice(&[0, 8]);
    cmd(0x8002, CC_GET_RANDOM, &body)
}

#[test]
fn audit_list_changes_follow_part3() {
    let mut t = Tpm::started();
    assert_eq!(set_audit(&mut t, 0x000B, &[CC_GET_RANDOM], &[]), 0);
    // Changing the algorithm together with the list is TPM_RC_VALUE, parameter 1.
    assert_eq!(set_audit(&mut t, 0x000C, &[CC_GET_RANDOM], &[]), 0x1C4);
    assert_eq!(set_audit(&mut t, 0x000C, &[], &[]), 0);
    // A bad hash is TPM_RC_HASH for parameter 1; a list over MAX_CAP_CC is TPM_RC_SIZE.
    assert_eq!(set_audit(&mut t, 0x0099, &[], &[]), 0x1C3);
    let too_many = vec![CC_GET_RANDOM; 255];
    assert_eq!(set_audit(&mut t, 0x0010, &too_many, &[]), 0x2D5);
    // Unimplemented codes and clearing SetCommandCodeAuditStatus are ignored.
    assert_eq!(set_audit(&mut t, 0x0010, &[0x1FFF], &[CC_SET_AUDIT]), 0);
}

#[test]
fn audit_attributes_are_checked() {
    let mut t = Tpm::started();
    let s = start_hmac_session(&mut t);
    // auditExclusive / auditReset without audit: TPM_RC_ATTRIBUTES, session 1.
    assert_eq!(rc(&t.run(&get_random_with(s, 0x03))), 0x982);
    assert_eq!(rc(&t.run(&get_random_with(s, 0x05))), 0x982);
    // A command that starts the session's audit digest is exclusive (as libtpms).
    assert_eq!(rc(&t.run(&get_random_with(s, 0x83))), 0);
    assert_eq!(rc(&t.run(&get_random_with(s, 0x81))), 0);
    assert_eq!(rc(&t.run(&get_random_with(s, 0x83))), 0);
    // ...until a command runs that it does not audit.
    assert_eq!(rc(&t.run(&plain(CC_GET_RANDOM, &[0, 4]))), 0);
    assert_eq!(rc(&t.run(&get_random_with(s, 0x83))), 0x121);
    // auditReset restarts the digest and exclusivity.
    assert_eq!(rc(&t.run(&get_random_with(s, 0x85))), 0);
    assert_eq!(rc(&t.run(&get_random_with(s, 0x83))), 0);
}

#[test]
fn session_context_gap_is_enforced() {
    let mut t = Tpm::started();
    let oldest = start_hmac_session(&mut t);
    let r = t.run(&plain(CC_CONTEXT_SAVE, &oldest.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    let oldest_context = r[10..].to_vec();
    let first = u64::from_be_bytes(oldest_context[..8].try_into().unwrap());
    let other = start_hmac_session(&mut t);
    // Saving and reloading another session moves the context counter on; the
    // save that would bring it 2^16 - 4 past the oldest saved session fails.
    let mut saves = 0u64;
    loop {
        let r = t.run(&plain(CC_CONTEXT_SAVE, &other.to_be_bytes()));
        if rc(&r) != 0 {
            assert_eq!(rc(&r), 0x901, "TPM_RC_CONTEXT_GAP");
            break;
        }
        let sequence = u64::from_be_bytes(r[10..18].try_into().unwrap());
        assert_eq!(sequence, first + 1 + saves);
        saves += 1;
        assert_eq!(rc(&t.run(&plain(CC_CONTEXT_LOAD, &r[10..]))), 0);
        assert!(saves < 70_000, "no gap limit");
    }
    assert_eq!(
        saves, 65_531,
        "the same limit as the reference's 16-bit slots"
    );
    // Reloading the oldest session (and saving it anew) lifts the limit.
    assert_eq!(rc(&t.run(&plain(CC_CONTEXT_LOAD, &oldest_context))), 0);
    assert_eq!(
        rc(&t.run(&plain(CC_FLUSH_CONTEXT, &oldest.to_be_bytes()))),
        0
    );
    assert_eq!(rc(&t.run(&plain(CC_CONTEXT_SAVE, &other.to_be_bytes()))), 0);
}

const CC_GET_COMMAND_AUDIT_DIGEST: u32 = 0x133;
const CC_GET_SESSION_AUDIT_DIGEST: u32 = 0x14D;

/// Two password sessions, then `handles` (endorsement and signer first).
fn two_pw(cc: u32, handles: &[u32], params: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
    body.extend_from_slice(&18u32.to_be_bytes());
    for _ in 0..2 {
        body.extend_from_slice(&[0x40, 0, 0, 9, 0, 0, 1, 0, 0]);
    }
    body.extend_from_slice(params);
    cmd(0x8002, cc, &body)
}

/// The attested part of an unsigned TPMS_ATTEST (after the common header),
/// checking the header on the way.
fn attested(resp: &[u8], kind: u16) -> Vec<u8> {
    assert_eq!(rc(resp), 0);
    let p = &resp[14..];
    let n = u16::from_be_bytes([p[0], p[1]]) as usize;
    let a = &p[2..2 + n];
    assert_eq!(
        &p[2 + n..2 + n + 2],
        &[0x00, 0x10],
        "TPM_ALG_NULL signature"
    );
    assert_eq!(&a[..4], &[0xff, 0x54, 0x43, 0x47], "TPM_GENERATED_VALUE");
    assert_eq!(u16::from_be_bytes([a[4], a[5]]), kind);
    assert_eq!(
        &a[6..12],
        &[0, 4, 0x40, 0, 0, 7],
        "qualifiedSigner: TPM_RH_NULL"
    );
    assert_eq!(&a[12..16], &[0, 2, 0xAB, 0xCD], "extraData");
    a[16 + 17 + 8..].to_vec()
}

fn command_audit(t: &mut Tpm) -> (u64, Vec<u8>, Vec<u8>) {
    let r = t.run(&two_pw(
        CC_GET_COMMAND_AUDIT_DIGEST,
        &[RH_ENDORSEMENT, RH_NULL],
        &[0, 2, 0xAB, 0xCD, 0x00, 0x10],
    ));
    let a = attested(&r, 0x8015);
    let counter = u64::from_be_bytes(a[..8].try_into().unwrap());
    assert_eq!(&a[8..10], &[0, 0x0B], "digestAlg SHA-256");
    let n = u16::from_be_bytes([a[10], a[11]]) as usize;
    let digest = a[12..12 + n].to_vec();
    let m = u16::from_be_bytes([a[12 + n], a[13 + n]]) as usize;
    (counter, digest, a[14 + n..14 + n + m].to_vec())
}

#[test]
fn command_audit_digest_follows_the_formula() {
    let mut t = Tpm::started();
    let (c0, d0, list) = command_audit(&mut t);
    assert_eq!((c0, d0.len()), (0, 0), "nothing audited yet");
    assert_eq!(list, sha256(&[&CC_SET_AUDIT.to_be_bytes()]));
    assert_eq!(set_audit(&mut t, 0x0010, &[CC_GET_RANDOM], &[]), 0);
    // SetCommandCodeAuditStatus is audited: it changed the list (clearing the
    // digest) and then extended it, starting a new digest: the counter moves.
    let (c1, d1, list) = command_audit(&mut t);
    assert_eq!(c1, c0 + 1);
    assert_eq!(d1.len(), 32);
    let codes = [CC_SET_AUDIT.to_be_bytes(), CC_GET_RANDOM.to_be_bytes()].concat();
    assert_eq!(list, sha256(&[&codes]));
    // An audited GetRandom: digest = H(digest || cpHash || rpHash).
    let r = t.run(&plain(CC_GET_RANDOM, &[0, 8]));
    assert_eq!(rc(&r), 0);
    let cp = sha256(&[&CC_GET_RANDOM.to_be_bytes(), &[0, 8]]);
    let rp = sha256(&[&0u32.to_be_bytes(), &CC_GET_RANDOM.to_be_bytes(), &r[10..]]);
    let (c2, d2, _) = command_audit(&mut t);
    assert_eq!(c2, c1, "an unsigned report does not clear the digest");
    assert_eq!(d2, sha256(&[&d1, &cp, &rp]));
    // Unaudited commands leave it alone.
    assert_eq!(rc(&t.run(&plain(CC_READ_CLOCK, &[]))), 0);
    assert_eq!(command_audit(&mut t).1, d2);
    // A storage key cannot sign: TPM_RC_KEY for handle 2 needs a loaded key; a
    // session as signHandle is TPM_RC_VALUE for handle 2.
    let r = t.run(&two_pw(
        CC_GET_COMMAND_AUDIT_DIGEST,
        &[RH_ENDORSEMENT, 0x0200_0000],
        &[0, 0, 0x00, 0x10],
    ));
    assert_eq!(rc(&r), 0x284);
}

#[test]
fn session_audit_digest_and_exclusivity() {
    let mut t = Tpm::started();
    let s = start_hmac_session(&mut t);
    let report = |t: &mut Tpm| {
        t.run(&two_pw(
            CC_GET_SESSION_AUDIT_DIGEST,
            &[RH_ENDORSEMENT, RH_NULL, s],
            &[0, 2, 0xAB, 0xCD, 0x00, 0x10],
        ))
    };
    assert_eq!(
        rc(&report(&mut t)),
        0x38A,
        "not yet an audit session: TPM_RC_TYPE, handle 3"
    );
    let r = t.run(&get_random_with(s, 0x81));
    assert_eq!(rc(&r), 0);
    let params = &r[14..14 + u32::from_be_bytes(r[10..14].try_into().unwrap()) as usize];
    let cp = sha256(&[&CC_GET_RANDOM.to_be_bytes(), &[0, 8]]);
    let rp = sha256(&[&0u32.to_be_bytes(), &CC_GET_RANDOM.to_be_bytes(), params]);
    let a = attested(&report(&mut t), 0x8016);
    assert_eq!(a[0], 1, "exclusive");
    assert_eq!(&a[1..3], &[0, 32]);
    assert_eq!(&a[3..], &sha256(&[&[0; 32], &cp, &rp])[..]);
    // The report itself did not use the session: exclusivity is gone.
    assert_eq!(attested(&report(&mut t), 0x8016)[0], 0);
    // A policy session handle is not a TPMI_SH_HMAC: TPM_RC_VALUE, handle 3.
    let r = t.run(&two_pw(
        CC_GET_SESSION_AUDIT_DIGEST,
        &[RH_ENDORSEMENT, RH_NULL, 0x0300_0001],
        &[0, 0, 0x00, 0x10],
    ));
    assert_eq!(rc(&r), 0x384);
}
