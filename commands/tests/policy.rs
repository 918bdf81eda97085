//! The policy commands at the engine: each digest against the Part 3 formula computed here, the
//! refusals with their handle / parameter numbers, and the deferred checks applied when a policy
//! session authorizes a command (the owner hierarchy, its authPolicy set by SetPrimaryPolicy).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

const OWNER: u32 = 0x4000_0001;
const CC_POLICY_SECRET: u32 = 0x151;
const CC_POLICY_COUNTER_TIMER: u32 = 0x16D;
const CC_POLICY_CP_HASH: u32 = 0x16E;
const CC_POLICY_NAME_HASH: u32 = 0x170;
const CC_POLICY_OR: u32 = 0x171;
const CC_POLICY_TICKET: u32 = 0x172;
const CC_POLICY_PCR: u32 = 0x17F;
const CC_POLICY_RESTART: u32 = 0x180;
const CC_POLICY_PHYSICAL_PRESENCE: u32 = 0x187;
const CC_POLICY_PASSWORD: u32 = 0x18C;
const CC_POLICY_TEMPLATE: u32 = 0x190;
const CC_POLICY_CAPABILITY: u32 = 0x19B;
const CC_POLICY_PARAMETERS: u32 = 0x19C;

// Response codes with their positions.
const RC_VALUE_H1: u32 = 0x184;
const RC_VALUE_H2: u32 = 0x284;
const RC_RANGE: u32 = 0x08D;
const RC_NONCE_P1: u32 = 0x1CF;
const RC_TICKET_P5: u32 = 0x5E0;
const RC_PCR_CHANGED: u32 = 0x128;
const RC_CPHASH: u32 = 0x151;
const RC_COMMAND_CODE: u32 = 0x143;
const RC_POLICY_CC_S1: u32 = 0x9A4;
const RC_EXPIRED_S1: u32 = 0x9A3;
const RC_PP_S1: u32 = 0x990;
const RC_MODE_S1: u32 = 0x989;

const ZERO: [u8; 32] = [0; 32];

fn tpm2b(v: &[u8]) -> Vec<u8> {
    [&(v.len() as u16).to_be_bytes()[..], v].concat()
}

/// StartAuthSession (unbound, unsalted, no symmetric, sha256); (handle, nonceTPM).
fn start(t: &mut Tpm, kind: u8) -> (u32, Vec<u8>) {
    let mut p = 0x4000_0007u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0x4000_0007u32.to_be_bytes());
    p.extend_from_slice(&tpm2b(&[0x11; 16]));
    p.extend_from_slice(&tpm2b(&[]));
    p.push(kind);
    p.extend_from_slice(&0x0010u16.to_be_bytes());
    p.extend_from_slice(&0x000Bu16.to_be_bytes());
    let r = t.run(&cmd(0x8001, CC_START_AUTH_SESSION, &p));
    assert_eq!(rc(&r), 0);
    let handle = u32::from_be_bytes(r[10..14].try_into().unwrap());
    (handle, r[16..32].to_vec())
}

/// A policy command on `session` (no authorization area); the whole response.
fn policy(t: &mut Tpm, cc: u32, session: u32, params: &[u8]) -> Vec<u8> {
    let mut body = session.to_be_bytes().to_vec();
    body.extend_from_slice(params);
    t.run(&cmd(0x8001, cc, &body))
}

fn policy_rc(t: &mut Tpm, cc: u32, session: u32, params: &[u8]) -> u32 {
    rc(&policy(t, cc, session, params))
}

fn digest(t: &mut Tpm, session: u32) -> Vec<u8> {
    let r = policy(t, CC_POLICY_GET_DIGEST, session, &[]);
    assert_eq!(rc(&r), 0);
    r[12..].to_vec()
}

/// One authorization: `session`, a 16-byte nonce, continueSession, `hmac`.
fn auth_area(session: u32, hmac: &[u8]) -> Vec<u8> {
    let mut a = session.to_be_bytes().to_vec();
    if session == 0x4000_0009 {
        a.extend_from_slice(&tpm2b(&[]));
    } else {
        a.extend_from_slice(&tpm2b(&[0x22; 16]));
    }
    a.push(1);
    a.extend_from_slice(&tpm2b(hmac));
    [&(a.len() as u32).to_be_bytes()[..], &a].concat()
}

/// SetPrimaryPolicy(owner, sha256 `policy`) parameters.
fn spp_params(policy: &[u8]) -> Vec<u8> {
    [&tpm2b(policy)[..], &0x000Bu16.to_be_bytes()].concat()
}

/// SetPrimaryPolicy(owner, `policy`) authorized by `session` (`hmac` in the HMAC field) at
/// `locality`; the response code.
fn set_owner_policy(t: &mut Tpm, locality: u8, session: u32, hmac: &[u8], policy: &[u8]) -> u32 {
    let mut body = OWNER.to_be_bytes().to_vec();
    body.extend_from_slice(&auth_area(session, hmac));
    body.extend_from_slice(&spp_params(policy));
    rc(&t.run_at(locality, &cmd(0x8002, CC_SET_PRIMARY_POLICY, &body)))
}

/// The owner's authPolicy becomes `policy` (password session).
fn owner_policy(t: &mut Tpm, policy: &[u8]) {
    assert_eq!(set_owner_policy(t, 0, 0x4000_0009, &[], policy), 0);
}

/// TPML_PCR_SELECTION of sha256 PCRs.
fn selection(pcrs: &[usize]) -> Vec<u8> {
    let mut sel = [0u8; 3];
    for p in pcrs {
        sel[p / 8] |= 1 << (p % 8);
    }
    [
        &1u32.to_be_bytes()[..],
        &0x000Bu16.to_be_bytes(),
        &[3],
        &sel,
    ]
    .concat()
}

/// PolicySecret(owner) parameters: nonceTPM, cpHashA, policyRef, expiration.
fn secret_params(nonce: &[u8], cp: &[u8], policy_ref: &[u8], expiration: i32) -> Vec<u8> {
    [
        &tpm2b(nonce)[..],
        &tpm2b(cp),
        &tpm2b(policy_ref),
        &expiration.to_be_bytes(),
    ]
    .concat()
}

/// PolicySecret(owner) with the owner's (empty) password; the response.
fn policy_secret(t: &mut Tpm, session: u32, params: &[u8]) -> Vec<u8> {
    let mut body = OWNER.to_be_bytes().to_vec();
    body.extend_from_slice(&session.to_be_bytes());
    body.extend_from_slice(&auth_area(0x4000_0009, &[]));
    body.extend_from_slice(params);
    t.run(&cmd(0x8002, CC_POLICY_SECRET, &body))
}

#[test]
fn digests_follow_the_part3_formulas() {
    let mut t = Tpm::started();
    let (s, _) = start(&mut t, SE_TRIAL);
    let mut want = ZERO.to_vec();
    let mut step = |t: &mut Tpm, cc: u32, params: &[u8], expected: Vec<u8>, what: &str| {
        assert_eq!(policy_rc(t, cc, s, params), 0, "{what}");
        want = expected;
        assert_eq!(digest(t, s), want, "{what}");
        want.clone()
    };

    // PolicyPCR over the current values.
    let pcr_values = [read_one(&mut t, 0x0B, 0), read_one(&mut t, 0x0B, 7)].concat();
    let sel = selection(&[0, 7]);
    let d = ext(&ZERO, CC_POLICY_PCR, &[&sel, &sha256(&[&pcr_values])]);
    let d = step(
        &mut t,
        CC_POLICY_PCR,
        &[&tpm2b(&[])[..], &sel].concat(),
        d,
        "PolicyPCR",
    );
    let d = step(
        &mut t,
        CC_POLICY_LOCALITY,
        &[0x0C],
        ext(&d, CC_POLICY_LOCALITY, &[&[0x0C]]),
        "PolicyLocality",
    );
    let op_b = 1000u64.to_be_bytes();
    let args = sha256(&[&op_b, &8u16.to_be_bytes(), &7u16.to_be_bytes()]);
    let p = [&tpm2b(&op_b)[..], &8u16.to_be_bytes(), &7u16.to_be_bytes()].concat();
    let d = step(
        &mut t,
        CC_POLICY_COUNTER_TIMER,
        &p,
        ext(&d, CC_POLICY_COUNTER_TIMER, &[&args]),
        "PolicyCounterTimer",
    );
    let d = step(
        &mut t,
        CC_POLICY_PHYSICAL_PRESENCE,
        &[],
        ext(&d, CC_POLICY_PHYSICAL_PRESENCE, &[]),
        "PolicyPhysicalPresence",
    );
    let d = step(
        &mut t,
        CC_POLICY_PASSWORD,
        &[],
        ext(&d, CC_POLICY_AUTH_VALUE, &[]),
        "PolicyPassword",
    );
    let d = step(
        &mut t,
        CC_POLICY_AUTH_VALUE,
        &[],
        ext(&d, CC_POLICY_AUTH_VALUE, &[]),
        "PolicyAuthValue",
    );
    let cc = 0x15Eu32.to_be_bytes();
    let d = step(
        &mut t,
        CC_POLICY_COMMAND_CODE,
        &cc,
        ext(&d, CC_POLICY_COMMAND_CODE, &[&cc]),
        "PolicyCommandCode",
    );
    let cp = sha256(&[b"cp"]);
    let d = step(
        &mut t,
        CC_POLICY_CP_HASH,
        &tpm2b(&cp),
        ext(&d, CC_POLICY_CP_HASH, &[&cp]),
        "PolicyCpHash",
    );
    // PolicySecret(owner): H(H(d || cc || ownerName) || policyRef).
    let r = policy_secret(&mut t, s, &secret_params(&[], &[], b"ref", 0));
    assert_eq!(rc(&r), 0);
    let d = sha256(&[&ext(&d, CC_POLICY_SECRET, &[&OWNER.to_be_bytes()]), b"ref"]);
    assert_eq!(digest(&mut t, s), d, "PolicySecret");
    // PolicyOR: in a trial session any current digest goes.
    let other = sha256(&[b"other branch"]);
    let list = [&2u32.to_be_bytes()[..], &tpm2b(&other), &tpm2b(&d)].concat();
    let or = ext(&ZERO, CC_POLICY_OR, &[&other, &d]);
    let d = step(&mut t, CC_POLICY_OR, &list, or, "PolicyOR");
    let cap = [
        &tpm2b(b"VTPM")[..],
        &4u16.to_be_bytes(),
        &0u16.to_be_bytes(),
        &6u32.to_be_bytes(),
        &0x105u32.to_be_bytes(),
    ]
    .concat();
    let args = sha256(&[
        b"VTPM",
        &4u16.to_be_bytes(),
        &0u16.to_be_bytes(),
        &6u32.to_be_bytes(),
        &0x105u32.to_be_bytes(),
    ]);
    let d = step(
        &mut t,
        CC_POLICY_CAPABILITY,
        &cap,
        ext(&d, CC_POLICY_CAPABILITY, &[&args]),
        "PolicyCapability",
    );
    let _ = d;

    // The cpHash slot holds one kind: fresh sessions for the others.
    let one = |kind_cc: u32, params: Vec<u8>, parts: Vec<Vec<u8>>| {
        let mut t = Tpm::started();
        let (s, _) = start(&mut t, SE_TRIAL);
        assert_eq!(policy_rc(&mut t, kind_cc, s, &params), 0);
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        assert_eq!(
            digest(&mut t, s),
            ext(&ZERO, kind_cc, &parts),
            "{kind_cc:#x}"
        );
    };
    let x = sha256(&[b"x"]);
    one(CC_POLICY_NAME_HASH, tpm2b(&x), vec![x.clone()]);
    one(CC_POLICY_TEMPLATE, tpm2b(&x), vec![x.clone()]);
    one(CC_POLICY_PARAMETERS, tpm2b(&x), vec![x.clone()]);
    let obj = [&[0, 0x0B][..], &sha256(&[b"obj"])].concat();
    let parent = [&[0, 0x0B][..], &sha256(&[b"parent"])].concat();
    for include in [0u8, 1] {
        let p = [&tpm2b(&obj)[..], &tpm2b(&parent), &[include]].concat();
        let o = if include == 1 { obj.clone() } else { vec![] };
        one(
            CC_POLICY_DUPLICATION_SELECT,
            p,
            vec![o, parent.clone(), vec![include]],
        );
    }
}

#[test]
fn immediate_refusals_carry_their_positions() {
    let mut t = Tpm::started();
    let (s, _) = start(&mut t, SE_POLICY);
    // PolicyOR: the current digest is not in the list; fewer than two digests.
    let x = sha256(&[b"x"]);
    let list = [&2u32.to_be_bytes()[..], &tpm2b(&x), &tpm2b(&x)].concat();
    assert_eq!(policy_rc(&mut t, CC_POLICY_OR, s, &list), RC_VALUE_P1);
    let short = [&1u32.to_be_bytes()[..], &tpm2b(&ZERO)].concat();
    assert_eq!(policy_rc(&mut t, CC_POLICY_OR, s, &short), RC_SIZE_P1);
    // PolicyPCR: a digest that is not the PCRs'.
    let p = [&tpm2b(&x)[..], &selection(&[0])].concat();
    assert_eq!(policy_rc(&mut t, CC_POLICY_PCR, s, &p), RC_VALUE_P1);
    // PolicyLocality: zero, and a set that narrows to nothing.
    assert_eq!(policy_rc(&mut t, CC_POLICY_LOCALITY, s, &[0]), RC_RANGE_P1);
    assert_eq!(policy_rc(&mut t, CC_POLICY_LOCALITY, s, &[0x01]), 0);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_LOCALITY, s, &[0x02]),
        RC_RANGE_P1
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_LOCALITY, s, &[0x20]),
        RC_RANGE_P1
    );
    // PolicyCounterTimer: offset past TPMS_TIME_INFO, operand past its end, a false condition.
    let ct = |b: &[u8], off: u16, op: u16| {
        [&tpm2b(b)[..], &off.to_be_bytes(), &op.to_be_bytes()].concat()
    };
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_COUNTER_TIMER, s, &ct(&[0], 26, 0)),
        RC_VALUE_P2
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_COUNTER_TIMER, s, &ct(&[0; 8], 20, 0)),
        RC_RANGE
    );
    // time (offset 0) > u64::MAX / 2 unsigned: false.
    assert_eq!(
        policy_rc(
            &mut t,
            CC_POLICY_COUNTER_TIMER,
            s,
            &ct(&(u64::MAX / 2).to_be_bytes(), 0, 3)
        ),
        RC_POLICY
    );
    // time >= 0 unsigned holds; TPM_EO 0x0C is no operation.
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_COUNTER_TIMER, s, &ct(&[0; 8], 0, 7)),
        0
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_COUNTER_TIMER, s, &ct(&[0; 8], 0, 0x0C)),
        0x3C4
    );
    // PolicyCapability: the manufacturer is "VTPM", not "ABCD"; PCRS cannot be asserted on.
    let cap = |b: &[u8], op: u16, c: u32, p: u32| {
        [
            &tpm2b(b)[..],
            &4u16.to_be_bytes(),
            &op.to_be_bytes(),
            &c.to_be_bytes(),
            &p.to_be_bytes(),
        ]
        .concat()
    };
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_CAPABILITY, s, &cap(b"VTPM", 0, 6, 0x105)),
        0
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_CAPABILITY, s, &cap(b"ABCD", 0, 6, 0x105)),
        RC_POLICY
    );
    // A property the TPM lacks satisfies NEQ only.
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_CAPABILITY, s, &cap(b"ABCD", 1, 6, 0x1FF)),
        0
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_CAPABILITY, s, &cap(b"ABCD", 0, 6, 0x1FF)),
        RC_POLICY
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_CAPABILITY, s, &cap(b"", 0, 5, 0)),
        0x4C4
    );

    // The cpHash slot: sizes, a second different cpHash, another kind after it.
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_CP_HASH, s, &tpm2b(&[1; 20])),
        RC_SIZE_P1
    );
    assert_eq!(policy_rc(&mut t, CC_POLICY_CP_HASH, s, &tpm2b(&x)), 0);
    assert_eq!(policy_rc(&mut t, CC_POLICY_CP_HASH, s, &tpm2b(&x)), 0);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_CP_HASH, s, &tpm2b(&ZERO)),
        RC_CPHASH
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_NAME_HASH, s, &tpm2b(&x)),
        RC_CPHASH
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_TEMPLATE, s, &tpm2b(&x)),
        RC_CPHASH
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_PARAMETERS, s, &tpm2b(&x)),
        RC_CPHASH
    );
    let dup = [&tpm2b(&[0, 4])[..], &tpm2b(&[0, 4]), &[0]].concat();
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_DUPLICATION_SELECT, s, &dup),
        RC_CPHASH
    );
    assert_eq!(policy_rc(&mut t, CC_POLICY_RESTART, s, &[]), 0);
    assert_eq!(digest(&mut t, s), ZERO);
    assert_eq!(policy_rc(&mut t, CC_POLICY_TEMPLATE, s, &tpm2b(&x)), 0);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_TEMPLATE, s, &tpm2b(&ZERO)),
        RC_VALUE_P1
    );
    assert_eq!(policy_rc(&mut t, CC_POLICY_RESTART, s, &[]), 0);
    let cc = 0x15Eu32.to_be_bytes();
    assert_eq!(policy_rc(&mut t, CC_POLICY_COMMAND_CODE, s, &cc), 0);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_DUPLICATION_SELECT, s, &dup),
        RC_COMMAND_CODE
    );
    let dup_bad = [&tpm2b(&[0, 4])[..], &tpm2b(&[0, 4]), &[2]].concat();
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_DUPLICATION_SELECT, s, &dup_bad),
        0x3C4
    );

    // PolicySecret: a nonceTPM not the session's, a cpHashA of the wrong size.
    assert_eq!(
        rc(&policy_secret(
            &mut t,
            s,
            &secret_params(&[9; 16], &[], &[], 0)
        )),
        RC_NONCE_P1
    );
    assert_eq!(
        rc(&policy_secret(
            &mut t,
            s,
            &secret_params(&[], &[1; 20], &[], 0)
        )),
        RC_SIZE_P2
    );
    // The session handle must be a policy session's (TPMI_SH_POLICY).
    let (hmac, _) = start(&mut t, SE_HMAC);
    assert_eq!(
        rc(&policy_secret(
            &mut t,
            hmac,
            &secret_params(&[], &[], &[], 0)
        )),
        RC_VALUE_H2
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_PASSWORD, hmac, &[]),
        RC_VALUE_H1
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_GET_DIGEST, hmac, &[]),
        RC_VALUE_H1
    );
    // PolicyTicket: not in a trial session; a timeout of the wrong size; a NULL ticket.
    let (trial, _) = start(&mut t, SE_TRIAL);
    let null_ticket = [
        &0x8023u16.to_be_bytes()[..],
        &0x4000_0007u32.to_be_bytes(),
        &tpm2b(&[]),
    ]
    .concat();
    let tk = |timeout: &[u8]| {
        [
            &tpm2b(timeout)[..],
            &tpm2b(&[]),
            &tpm2b(&[]),
            &tpm2b(&OWNER.to_be_bytes()),
            &null_ticket,
        ]
        .concat()
    };
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_TICKET, trial, &tk(&[0; 8])),
        RC_ATTRIBUTES_H1
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_TICKET, s, &tk(&[0; 4])),
        RC_SIZE_P1
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_TICKET, s, &tk(&[0x7F; 8])),
        RC_TICKET_P5
    );
}

#[test]
fn policy_pcr_notices_pcr_changes() {
    let mut t = Tpm::started();
    let (s, _) = start(&mut t, SE_POLICY);
    let p = [&tpm2b(&[])[..], &selection(&[0])].concat();
    assert_eq!(policy_rc(&mut t, CC_POLICY_PCR, s, &p), 0);
    let d = digest(&mut t, s);
    owner_policy(&mut t, &d);
    let extend = digest_values(0x0B, &[1; 32]);
    assert_eq!(rc(&t.run(&with_pw(CC_PCR_EXTEND, 0, &extend))), 0);
    // A second PolicyPCR, and the authorization, see the counter moved.
    assert_eq!(policy_rc(&mut t, CC_POLICY_PCR, s, &p), RC_PCR_CHANGED);
    let d = digest(&mut t, s);
    assert_eq!(set_owner_policy(&mut t, 0, s, &[], &d), RC_PCR_CHANGED);
}

/// Builds `steps` on a policy session, makes their digest the owner's authPolicy and
/// authorizes SetPrimaryPolicy(owner) with the session; the response code.
fn authorize_with(t: &mut Tpm, locality: u8, hmac: &[u8], steps: &[(u32, Vec<u8>)]) -> u32 {
    let (s, _) = start(t, SE_POLICY);
    for (cc, p) in steps {
        assert_eq!(policy_rc(t, *cc, s, p), 0, "{cc:#x}");
    }
    let d = digest(t, s);
    owner_policy(t, &d);
    let r = set_owner_policy(t, locality, s, hmac, &d);
    flush(t, s);
    r
}

#[test]
fn deferred_checks_hold_at_authorization() {
    let mut t = Tpm::started();
    let spp = CC_SET_PRIMARY_POLICY.to_be_bytes();
    // Command code.
    assert_eq!(
        authorize_with(&mut t, 0, &[], &[(CC_POLICY_COMMAND_CODE, spp.to_vec())]),
        0
    );
    let other = 0x15Eu32.to_be_bytes().to_vec();
    assert_eq!(
        authorize_with(&mut t, 0, &[], &[(CC_POLICY_COMMAND_CODE, other)]),
        RC_POLICY_CC_S1
    );
    // Locality 3 only.
    let loc = vec![(CC_POLICY_LOCALITY, vec![0x08])];
    assert_eq!(authorize_with(&mut t, 0, &[], &loc), RC_LOCALITY);
    assert_eq!(authorize_with(&mut t, 3, &[], &loc), 0);
    // Physical presence.
    let pp = vec![(CC_POLICY_PHYSICAL_PRESENCE, vec![])];
    assert_eq!(authorize_with(&mut t, 0, &[], &pp), RC_PP_S1);
    t.platform.pp = true;
    assert_eq!(authorize_with(&mut t, 0, &[], &pp), 0);
    t.platform.pp = false;
    // cpHash over the owner's Name and the parameters; nameHash; pHash; a template does not
    // fit SetPrimaryPolicy. The parameters must be those the policy will be set to: the digest
    // of the same policy, known only after it ran, so the slots are checked against a second
    // SetPrimaryPolicy to a fixed value.
    let fixed = sha256(&[b"fixed policy"]);
    let names = OWNER.to_be_bytes();
    let params = spp_params(&fixed);
    for (cc, value, ok) in [
        (CC_POLICY_CP_HASH, sha256(&[&spp, &names, &params]), true),
        (
            CC_POLICY_CP_HASH,
            sha256(&[&spp, &names, &spp_params(&ZERO)]),
            false,
        ),
        (CC_POLICY_NAME_HASH, sha256(&[&names]), true),
        (
            CC_POLICY_NAME_HASH,
            sha256(&[&0x4000_000Bu32.to_be_bytes()]),
            false,
        ),
        (CC_POLICY_PARAMETERS, sha256(&[&spp, &params]), true),
        (CC_POLICY_PARAMETERS, sha256(&[&names, &params]), false),
        (CC_POLICY_TEMPLATE, sha256(&[&params]), false),
    ] {
        let (s, _) = start(&mut t, SE_POLICY);
        assert_eq!(policy_rc(&mut t, cc, s, &tpm2b(&value)), 0);
        let d = digest(&mut t, s);
        owner_policy(&mut t, &d);
        let want = if ok { 0 } else { RC_POLICY_FAIL_S1 };
        assert_eq!(
            set_owner_policy(&mut t, 0, s, &[], &fixed),
            want,
            "{cc:#x} {ok}"
        );
        flush(&mut t, s);
    }
    // PolicyPassword: the owner's password in the HMAC field.
    let new_auth = tpm2b(b"ownerpw");
    assert_eq!(
        rc(&t.run(&with_pw(CC_HIERARCHY_CHANGE_AUTH, OWNER, &new_auth))),
        0
    );
    let pw = vec![(CC_POLICY_PASSWORD, vec![])];
    let (s, _) = start(&mut t, SE_POLICY);
    assert_eq!(policy_rc(&mut t, CC_POLICY_PASSWORD, s, &[]), 0);
    let d = digest(&mut t, s);
    assert_eq!(set_owner_policy(&mut t, 0, 0x4000_0009, b"ownerpw", &d), 0);
    assert_eq!(set_owner_policy(&mut t, 0, s, b"wrong", &d), RC_BAD_AUTH_S1);
    flush(&mut t, s);
    let (s, _) = start(&mut t, SE_POLICY);
    for (cc, p) in &pw {
        assert_eq!(policy_rc(&mut t, *cc, s, p), 0);
    }
    let mut body = OWNER.to_be_bytes().to_vec();
    body.extend_from_slice(&auth_area(s, b"ownerpw"));
    body.extend_from_slice(&spp_params(&d));
    let r = t.run(&cmd(0x8002, CC_SET_PRIMARY_POLICY, &body));
    assert_eq!(rc(&r), 0);
    // The response HMAC of a password policy session is empty.
    assert_eq!(&r[r.len() - 2..], &[0, 0]);
}

#[test]
fn policy_secret_expires_and_its_ticket_stands_in() {
    let mut t = Tpm::started();
    // Expiration 1 s after TPM time zero (no nonceTPM): fine now, expired 2 s later.
    let (s, _) = start(&mut t, SE_POLICY);
    let r = policy_secret(&mut t, s, &secret_params(&[], &[], &[], 1));
    assert_eq!(rc(&r), 0);
    // A positive expiration returns no ticket: an empty timeout, a NULL TPM_ST_AUTH_SECRET ticket.
    assert_eq!(params(&r), &[0, 0, 0x80, 0x23, 0x40, 0, 0, 7, 0, 0][..]);
    let d = digest(&mut t, s);
    owner_policy(&mut t, &d);
    t.platform.now_ms += 2000;
    assert_eq!(set_owner_policy(&mut t, 0, s, &[], &d), RC_EXPIRED_S1);

    // PolicySecret through a policy session that does not prove the authValue: TPM_RC_MODE.
    let (s2, _) = start(&mut t, SE_POLICY);
    let mut body = OWNER.to_be_bytes().to_vec();
    body.extend_from_slice(&s2.to_be_bytes());
    body.extend_from_slice(&auth_area(s, &[]));
    body.extend_from_slice(&secret_params(&[], &[], &[], 0));
    assert_eq!(
        rc(&t.run(&cmd(0x8002, CC_POLICY_SECRET, &body))),
        RC_MODE_S1
    );
    flush(&mut t, s);
    flush(&mut t, s2);

    // A negative expiration tied to nonceTPM: a ticket, which PolicyTicket accepts.
    let (s, nonce) = start(&mut t, SE_POLICY);
    let r = policy_secret(&mut t, s, &secret_params(&nonce, &[], b"ref", -3600));
    assert_eq!(rc(&r), 0);
    let out = params(&r);
    assert_eq!(&out[..2], &[0, 8]);
    let timeout = out[2..10].to_vec();
    let ticket = out[10..].to_vec();
    assert_eq!(&ticket[..6], &[0x80, 0x23, 0x40, 0, 0, 1]);
    let secret_digest = digest(&mut t, s);
    let (s3, _) = start(&mut t, SE_POLICY);
    let tk = |ticket: &[u8], policy_ref: &[u8]| {
        [
            &tpm2b(&timeout)[..],
            &tpm2b(&[]),
            &tpm2b(policy_ref),
            &tpm2b(&OWNER.to_be_bytes()),
            ticket,
        ]
        .concat()
    };
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_TICKET, s3, &tk(&ticket, b"other")),
        RC_TICKET_P5
    );
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_TICKET, s3, &tk(&ticket, b"ref")),
        0
    );
    assert_eq!(digest(&mut t, s3), secret_digest);
    // An AUTH_SIGNED ticket is read as such (and this one is not genuine).
    let mut signed = ticket.clone();
    signed[1] = 0x25;
    let (s4, _) = start(&mut t, SE_POLICY);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_TICKET, s4, &tk(&signed, b"ref")),
        RC_TICKET_P5
    );
}

#[test]
fn restart_clears_deferred_checks_and_context_save_keeps_them() {
    let mut t = Tpm::started();
    let spp = CC_SET_PRIMARY_POLICY.to_be_bytes();
    let cc_policy = ext(&ZERO, CC_POLICY_COMMAND_CODE, &[&spp]);
    owner_policy(&mut t, &cc_policy);
    // Locality 4 only, then PolicyRestart: locality 0 is fine again.
    let (s, _) = start(&mut t, SE_POLICY);
    assert_eq!(policy_rc(&mut t, CC_POLICY_LOCALITY, s, &[0x10]), 0);
    assert_eq!(policy_rc(&mut t, CC_POLICY_RESTART, s, &[]), 0);
    assert_eq!(policy_rc(&mut t, CC_POLICY_COMMAND_CODE, s, &spp), 0);
    assert_eq!(set_owner_policy(&mut t, 0, s, &[], &cc_policy), 0);

    // A saved and reloaded session keeps its locality restriction.
    let with_locality = ext(
        &ext(&ZERO, CC_POLICY_LOCALITY, &[&[0x10]]),
        CC_POLICY_COMMAND_CODE,
        &[&spp],
    );
    owner_policy(&mut t, &with_locality);
    let (s, _) = start(&mut t, SE_POLICY);
    assert_eq!(policy_rc(&mut t, CC_POLICY_LOCALITY, s, &[0x10]), 0);
    assert_eq!(policy_rc(&mut t, CC_POLICY_COMMAND_CODE, s, &spp), 0);
    let saved = t.run(&plain(CC_CONTEXT_SAVE, &s.to_be_bytes()));
    assert_eq!(rc(&saved), 0);
    let loaded = t.run(&plain(CC_CONTEXT_LOAD, &saved[10..]));
    assert_eq!(rc(&loaded), 0);
    assert_eq!(digest(&mut t, s), with_locality);
    assert_eq!(
        set_owner_policy(&mut t, 0, s, &[], &with_locality),
        RC_LOCALITY
    );
    assert_eq!(set_owner_policy(&mut t, 4, s, &[], &with_locality), 0);
    // After authorizing, the session starts over.
    assert_eq!(digest(&mut t, s), ZERO);
}

/// An AES-128-CFB symcipher template (cheap to create as a primary).
fn aes_template(key_bits: u16) -> Vec<u8> {
    let mut p = 0x0025u16.to_be_bytes().to_vec();
    p.extend_from_slice(&0x000Bu16.to_be_bytes());
    p.extend_from_slice(&0x0006_0072u32.to_be_bytes());
    p.extend_from_slice(&tpm2b(&[]));
    p.extend_from_slice(&0x0006u16.to_be_bytes());
    p.extend_from_slice(&key_bits.to_be_bytes());
    p.extend_from_slice(&0x0043u16.to_be_bytes());
    p.extend_from_slice(&tpm2b(&[]));
    p
}

#[test]
fn policy_template_admits_only_its_template() {
    let mut t = Tpm::started();
    let template = aes_template(128);
    let th = sha256(&[&template]);
    owner_policy(&mut t, &ext(&ZERO, CC_POLICY_TEMPLATE, &[&th]));
    for (bits, want) in [(256, RC_POLICY_FAIL_S1), (128, 0)] {
        let (s, _) = start(&mut t, SE_POLICY);
        assert_eq!(policy_rc(&mut t, CC_POLICY_TEMPLATE, s, &tpm2b(&th)), 0);
        let mut body = OWNER.to_be_bytes().to_vec();
        body.extend_from_slice(&auth_area(s, &[]));
        body.extend_from_slice(&tpm2b(&[0, 0, 0, 0]));
        body.extend_from_slice(&tpm2b(&aes_template(bits)));
        body.extend_from_slice(&tpm2b(&[]));
        body.extend_from_slice(&0u32.to_be_bytes());
        let r = t.run(&cmd(0x8002, 0x131, &body));
        assert_eq!(rc(&r), want, "{bits}-bit template");
        flush(&mut t, s);
    }
}

const CC_POLICY_SIGNED: u32 = 0x160;
const CC_POLICY_AUTHORIZE: u32 = 0x16A;
const ST_AUTH_SIGNED: u16 = 0x8025;
const RC_SIGNATURE_P5: u32 = 0x5DB;
const RC_EXPIRED_P4: u32 = 0x4E3;

/// An ECDSA-P256/SHA-256 signing primary in the owner hierarchy: (handle, Name).
fn signing_key(t: &mut Tpm) -> (u32, Vec<u8>) {
    // fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | sign
    let mut template = 0x0023u16.to_be_bytes().to_vec();
    template.extend_from_slice(&0x000Bu16.to_be_bytes());
    template.extend_from_slice(&0x0004_0072u32.to_be_bytes());
    template.extend_from_slice(&tpm2b(&[]));
    // symmetric NULL, ECDSA(SHA-256), NIST P-256, KDF NULL, unique (empty x, y)
    for v in [0x0010u16, 0x0018, 0x000B, 0x0003, 0x0010, 0, 0] {
        template.extend_from_slice(&v.to_be_bytes());
    }
    let p = [
        &tpm2b(&[0, 0, 0, 0])[..],
        &tpm2b(&template),
        &tpm2b(&[]),
        &0u32.to_be_bytes(),
    ]
    .concat();
    let r = t.run(&with_pw(CC_CREATE_PRIMARY, OWNER, &p));
    assert_eq!(rc(&r), 0);
    let handle = u32::from_be_bytes(r[10..14].try_into().unwrap());
    // handle, parameterSize, outPublic, creationData, creationHash, ticket, name
    let mut rest = &r[18..];
    let skip_2b = |rest: &mut &[u8]| {
        let n = u16::from_be_bytes(rest[..2].try_into().unwrap()) as usize;
        let v = rest[2..2 + n].to_vec();
        *rest = &rest[2 + n..];
        v
    };
    skip_2b(&mut rest);
    skip_2b(&mut rest);
    skip_2b(&mut rest);
    rest = &rest[6..];
    skip_2b(&mut rest);
    let name = skip_2b(&mut rest);
    (handle, name)
}

/// TPM2_Sign of `digest` with the key's scheme: the TPMT_SIGNATURE.
fn sign_digest(t: &mut Tpm, key: u32, digest: &[u8]) -> Vec<u8> {
    let null_ticket = [
        &ST_HASHCHECK.to_be_bytes()[..],
        &RH_NULL.to_be_bytes(),
        &tpm2b(&[]),
    ]
    .concat();
    let p = [&tpm2b(digest)[..], &0x0010u16.to_be_bytes(), &null_ticket].concat();
    let r = t.run(&with_pw(CC_SIGN, key, &p));
    assert_eq!(rc(&r), 0);
    params(&r).to_vec()
}

/// PolicySigned parameters: nonceTPM, cpHashA, policyRef, expiration, auth.
fn signed_params(nonce: &[u8], cp: &[u8], policy_ref: &[u8], exp: i32, sig: &[u8]) -> Vec<u8> {
    [&secret_params(nonce, cp, policy_ref, exp)[..], sig].concat()
}

/// aHash of PolicySigned (SHA-256): H(nonceTPM || expiration || cpHashA || policyRef).
fn a_hash(nonce: &[u8], cp: &[u8], policy_ref: &[u8], exp: i32) -> Vec<u8> {
    sha256(&[nonce, &exp.to_be_bytes(), cp, policy_ref])
}

/// PolicySigned with `key` on `session`; the whole response.
fn policy_signed(t: &mut Tpm, key: u32, session: u32, params: &[u8]) -> Vec<u8> {
    let mut body = key.to_be_bytes().to_vec();
    body.extend_from_slice(&session.to_be_bytes());
    body.extend_from_slice(params);
    t.run(&cmd(0x8001, CC_POLICY_SIGNED, &body))
}

#[test]
fn policy_signed_checks_the_signature_and_binds_the_key() {
    let mut t = Tpm::started();
    let (key, name) = signing_key(&mut t);
    // H(H(0 || TPM_CC_PolicySigned || keyName) || policyRef)
    let want = sha256(&[&ext(&ZERO, CC_POLICY_SIGNED, &[&name]), b"ref"]);

    // A trial session checks no signature: any well-formed one goes.
    let (trial, _) = start(&mut t, SE_TRIAL);
    let junk = [
        &0x0018u16.to_be_bytes()[..],
        &0x000Bu16.to_be_bytes(),
        &tpm2b(&[1; 32]),
        &tpm2b(&[2; 32]),
    ]
    .concat();
    let r = policy_signed(
        &mut t,
        key,
        trial,
        &signed_params(&[1; 16], &[], b"ref", 0, &junk),
    );
    assert_eq!(rc(&r), 0);
    assert_eq!(digest(&mut t, trial), want);

    // A real session: the authority signs aHash bound to this session's nonceTPM.
    let (s, nonce) = start(&mut t, SE_POLICY);
    let sig = sign_digest(&mut t, key, &a_hash(&nonce, &[], b"ref", 0));
    // Refusals first (each leaves the session as it was).
    let wrong = sign_digest(&mut t, key, &a_hash(&nonce, &[], b"other", 0));
    let r = policy_signed(
        &mut t,
        key,
        s,
        &signed_params(&nonce, &[], b"ref", 0, &wrong),
    );
    assert_eq!(rc(&r), RC_SIGNATURE_P5);
    let r = policy_signed(
        &mut t,
        key,
        s,
        &signed_params(&nonce, &[], b"other", 1, &wrong),
    );
    assert_eq!(rc(&r), RC_SIGNATURE_P5, "expiration is signed too");
    let r = policy_signed(
        &mut t,
        key,
        s,
        &signed_params(&[7; 16], &[], b"ref", 0, &sig),
    );
    assert_eq!(rc(&r), RC_NONCE_P1);
    let r = policy_signed(
        &mut t,
        key,
        s,
        &signed_params(&nonce, &[1; 20], b"ref", 0, &sig),
    );
    assert_eq!(rc(&r), RC_SIZE_P2);
    assert_eq!(digest(&mut t, s), ZERO);
    let r = policy_signed(&mut t, key, s, &signed_params(&nonce, &[], b"ref", 0, &sig));
    assert_eq!(rc(&r), 0);
    // No expiration: an empty timeout and a NULL TPM_ST_AUTH_SIGNED ticket.
    assert_eq!(params(&r), &[0, 0, 0x80, 0x25, 0x40, 0, 0, 7, 0, 0][..]);
    assert_eq!(digest(&mut t, s), want);
    // The policy authorizes: the owner's authPolicy is this digest.
    owner_policy(&mut t, &want);
    assert_eq!(set_owner_policy(&mut t, 0, s, &[], &want), 0);
    flush(&mut t, s);

    // The signature over an aHash without nonceTPM is good in any session.
    let sig = sign_digest(&mut t, key, &a_hash(&[], &[], b"ref", 0));
    let (s2, _) = start(&mut t, SE_POLICY);
    let r = policy_signed(&mut t, key, s2, &signed_params(&[], &[], b"ref", 0, &sig));
    assert_eq!(rc(&r), 0);
    assert_eq!(digest(&mut t, s2), want);
    flush(&mut t, s2);
}

#[test]
fn policy_signed_expires_and_its_ticket_stands_in() {
    let mut t = Tpm::started();
    let (key, name) = signing_key(&mut t);
    let want = sha256(&[&ext(&ZERO, CC_POLICY_SIGNED, &[&name]), b"ref"]);
    // Expiration 1 s after the session started: fine now, refused 2 s later.
    let (s, nonce) = start(&mut t, SE_POLICY);
    let sig = sign_digest(&mut t, key, &a_hash(&nonce, &[], b"ref", 1));
    t.platform.now_ms += 2000;
    let r = policy_signed(&mut t, key, s, &signed_params(&nonce, &[], b"ref", 1, &sig));
    assert_eq!(rc(&r), RC_EXPIRED_P4);
    let (s, nonce) = start(&mut t, SE_POLICY);
    let sig = sign_digest(&mut t, key, &a_hash(&nonce, &[], b"ref", 1));
    let r = policy_signed(&mut t, key, s, &signed_params(&nonce, &[], b"ref", 1, &sig));
    assert_eq!(rc(&r), 0);
    // The session itself now expires with the authorization (a deferred check).
    owner_policy(&mut t, &want);
    t.platform.now_ms += 2000;
    assert_eq!(set_owner_policy(&mut t, 0, s, &[], &want), RC_EXPIRED_S1);
    flush(&mut t, s);

    // A negative expiration: a TPM_ST_AUTH_SIGNED ticket of the key's hierarchy (owner).
    let (s, nonce) = start(&mut t, SE_POLICY);
    let sig = sign_digest(&mut t, key, &a_hash(&nonce, &[], b"ref", -60));
    let r = policy_signed(
        &mut t,
        key,
        s,
        &signed_params(&nonce, &[], b"ref", -60, &sig),
    );
    assert_eq!(rc(&r), 0);
    let out = params(&r);
    assert_eq!(&out[..2], &[0, 8]);
    let timeout = out[2..10].to_vec();
    let ticket = out[10..].to_vec();
    assert_eq!(&ticket[..2], &ST_AUTH_SIGNED.to_be_bytes());
    assert_eq!(&ticket[2..6], &OWNER.to_be_bytes());
    assert_eq!(ticket.len(), 6 + 2 + 32);
    flush(&mut t, s);
    // PolicyTicket replays it (PolicySigned's digest) in another session, until the timeout.
    let tk = |policy_ref: &[u8]| {
        [
            &tpm2b(&timeout)[..],
            &tpm2b(&[]),
            &tpm2b(policy_ref),
            &tpm2b(&name),
            &ticket,
        ]
        .concat()
    };
    let (s3, _) = start(&mut t, SE_POLICY);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_TICKET, s3, &tk(b"other")),
        RC_TICKET_P5
    );
    assert_eq!(policy_rc(&mut t, CC_POLICY_TICKET, s3, &tk(b"ref")), 0);
    assert_eq!(digest(&mut t, s3), want);
    assert_eq!(set_owner_policy(&mut t, 0, s3, &[], &want), 0);
    t.platform.now_ms += 61_000;
    assert_eq!(policy_rc(&mut t, CC_POLICY_TICKET, s3, &tk(b"ref")), 0x1E3);
    // A trial session never gets a ticket.
    let (trial, nonce) = start(&mut t, SE_TRIAL);
    let r = policy_signed(
        &mut t,
        key,
        trial,
        &signed_params(&nonce, &[], b"ref", -60, &sig),
    );
    assert_eq!(rc(&r), 0);
    assert_eq!(params(&r), &[0, 0, 0x80, 0x25, 0x40, 0, 0, 7, 0, 0][..]);
}

#[test]
fn policy_authorize_takes_an_approved_policy() {
    let mut t = Tpm::started();
    let (key, name) = signing_key(&mut t);
    let spp = CC_SET_PRIMARY_POLICY.to_be_bytes();
    // The authority approves "SetPrimaryPolicy only" with policyRef "v1".
    let approved = ext(&ZERO, CC_POLICY_COMMAND_CODE, &[&spp]);
    let ahash = sha256(&[&approved, b"v1"]);
    let sig = sign_digest(&mut t, key, &ahash);
    let p = [&tpm2b(&ahash)[..], &sig].concat();
    let r = t.run(&cmd(
        0x8001,
        CC_VERIFY_SIGNATURE,
        &[&key.to_be_bytes()[..], &p].concat(),
    ));
    assert_eq!(rc(&r), 0);
    let ticket = params(&r).to_vec();
    assert_eq!(&ticket[..6], &[0x80, 0x22, 0x40, 0, 0, 1]);
    let null_ticket = [
        &ST_VERIFIED.to_be_bytes()[..],
        &RH_NULL.to_be_bytes(),
        &tpm2b(&[]),
    ]
    .concat();
    let authorize = |approved: &[u8], policy_ref: &[u8], key_name: &[u8], ticket: &[u8]| {
        [
            &tpm2b(approved)[..],
            &tpm2b(policy_ref),
            &tpm2b(key_name),
            ticket,
        ]
        .concat()
    };
    // H(H(0 || TPM_CC_PolicyAuthorize || keyName) || policyRef)
    let want = sha256(&[&ext(&ZERO, CC_POLICY_AUTHORIZE, &[&name]), b"v1"]);

    // Trial: no ticket needed, the current digest is not compared.
    let (trial, _) = start(&mut t, SE_TRIAL);
    let p = authorize(&approved, b"v1", &name, &null_ticket);
    assert_eq!(policy_rc(&mut t, CC_POLICY_AUTHORIZE, trial, &p), 0);
    assert_eq!(digest(&mut t, trial), want);
    // keySign must be a Name of a known hash with that hash's size (trial sessions too).
    let bad_size = [&[0, 0x04][..], &name[2..]].concat();
    let p = authorize(&approved, b"v1", &bad_size, &null_ticket);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_AUTHORIZE, trial, &p),
        RC_SIZE_P3
    );
    let bad_hash = [&[0, 0x99][..], &name[2..]].concat();
    let p = authorize(&approved, b"v1", &bad_hash, &null_ticket);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_AUTHORIZE, trial, &p),
        RC_HASH_P3
    );
    let p = authorize(&approved, b"v1", &OWNER.to_be_bytes(), &null_ticket);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_AUTHORIZE, trial, &p),
        RC_HASH_P3
    );
    let hashcheck = [
        &ST_HASHCHECK.to_be_bytes()[..],
        &RH_NULL.to_be_bytes(),
        &tpm2b(&[]),
    ]
    .concat();
    let p = authorize(&approved, b"v1", &name, &hashcheck);
    assert_eq!(policy_rc(&mut t, CC_POLICY_AUTHORIZE, trial, &p), RC_TAG_P4);

    // Real session: the approved policy, then PolicyAuthorize with the ticket.
    owner_policy(&mut t, &want);
    let (s, _) = start(&mut t, SE_POLICY);
    // Before the approved policy ran, the current digest is not approvedPolicy.
    let p = authorize(&approved, b"v1", &name, &ticket);
    assert_eq!(policy_rc(&mut t, CC_POLICY_AUTHORIZE, s, &p), RC_VALUE_P1);
    assert_eq!(policy_rc(&mut t, CC_POLICY_COMMAND_CODE, s, &spp), 0);
    // Forged, NULL, another policyRef, another key's Name: the ticket does not verify.
    let mut forged = ticket.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let other_name = [&name[..2], &sha256(&[b"another key"])].concat();
    for (policy_ref, key_name, tk) in [
        (&b"v1"[..], &name[..], &forged[..]),
        (b"v1", &name, &null_ticket),
        (b"v2", &name, &ticket),
        (b"v1", &other_name, &ticket),
    ] {
        let p = authorize(&approved, policy_ref, key_name, tk);
        assert_eq!(policy_rc(&mut t, CC_POLICY_AUTHORIZE, s, &p), RC_VALUE_P4);
    }
    // The ticket re-labelled as one of the NULL hierarchy is refused too.
    let mut null_h = ticket.clone();
    null_h[2..6].copy_from_slice(&RH_NULL.to_be_bytes());
    let p = authorize(&approved, b"v1", &name, &null_h);
    assert_eq!(policy_rc(&mut t, CC_POLICY_AUTHORIZE, s, &p), RC_VALUE_P4);
    assert_eq!(digest(&mut t, s), approved);
    let p = authorize(&approved, b"v1", &name, &ticket);
    assert_eq!(policy_rc(&mut t, CC_POLICY_AUTHORIZE, s, &p), 0);
    assert_eq!(digest(&mut t, s), want);
    // The approved policy's deferred check (the command code) still holds.
    assert_eq!(set_owner_policy(&mut t, 0, s, &[], &want), 0);
    flush(&mut t, s);

    // An unapproved policy (PolicyPassword) cannot use the ticket.
    let (s, _) = start(&mut t, SE_POLICY);
    assert_eq!(policy_rc(&mut t, CC_POLICY_PASSWORD, s, &[]), 0);
    let pw = digest(&mut t, s);
    let p = authorize(&pw, b"v1", &name, &ticket);
    assert_eq!(policy_rc(&mut t, CC_POLICY_AUTHORIZE, s, &p), RC_VALUE_P4);
}
