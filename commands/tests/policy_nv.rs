//! The NV policy commands (Part 3, 23.9 PolicyNV, 23.22 PolicyNvWritten,
//! 23.23 PolicyAuthorizeNV) and NV_Certify (31.16) through the engine with
//! raw command bytes: every digest is recomputed here from the formulas of
//! Part 3, every comparison of PolicyNV is tried both ways, refusals carry
//! the positions of Part 2, 6.6, and NV_Certify's statements are taken apart
//! and their signatures checked with TPM2_VerifySignature.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

const CC_POLICY_NV: u32 = 0x149;
const CC_NV_CERTIFY: u32 = 0x184;
const CC_POLICY_NV_WRITTEN: u32 = 0x18F;
const CC_POLICY_AUTHORIZE_NV: u32 = 0x192;

// TPMA_NV.
const POLICYWRITE: u32 = 1 << 3;
const POLICYREAD: u32 = 1 << 19;
const OWNER_RW: u32 = OWNERREAD | OWNERWRITE;
const AUTH_RW: u32 = AUTHREAD | AUTHWRITE;

// TPMA_OBJECT.
const BASE: u32 = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH;
const AK: u32 = BASE | RESTRICTED | SIGN;

const ST_ATTEST_NV: u16 = 0x8014;
const ST_ATTEST_NV_DIGEST: u16 = 0x801C;

// Response codes, with their positions where they have one.
const RC_INSUFFICIENT: u32 = 0x09A;
const RC_HANDLE_H3: u32 = 0x38B;

const IDX: u32 = 0x0150_0010;
const ZERO: [u8; 32] = [0; 32];

/// An authorization area of password sessions, one per password.
fn pw_area(passwords: &[&[u8]]) -> Vec<u8> {
    let mut a = Vec::new();
    for p in passwords {
        a.extend_from_slice(&RS_PW.to_be_bytes());
        a.extend_from_slice(&[0, 0, 1]);
        a.extend_from_slice(&b2(p));
    }
    [&(a.len() as u32).to_be_bytes()[..], &a].concat()
}

/// One policy-session authorization with an empty HMAC (an unbound,
/// unsalted session without PolicyAuthValue has an empty HMAC key).
fn policy_area(session: u32) -> Vec<u8> {
    let mut a = session.to_be_bytes().to_vec();
    a.extend_from_slice(&b2(&[0x22; 16]));
    a.push(1);
    a.extend_from_slice(&b2(&[]));
    [&(a.len() as u32).to_be_bytes()[..], &a].concat()
}

fn with_sessions(cc: u32, handles: &[u32], area: &[u8], params: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
    body.extend_from_slice(area);
    body.extend_from_slice(params);
    cmd(0x8002, cc, &body)
}

fn define_at(t: &mut Tpm, index: u32, auth: &[u8], attributes: u32, policy: &[u8], size: u16) {
    let mut public = index.to_be_bytes().to_vec();
    public.extend_from_slice(&ALG_SHA256.to_be_bytes());
    public.extend_from_slice(&attributes.to_be_bytes());
    public.extend_from_slice(&b2(policy));
    public.extend_from_slice(&size.to_be_bytes());
    let p = [b2(auth), b2(&public)].concat();
    let r = t.run(&with_sessions(
        CC_NV_DEFINE_SPACE,
        &[RH_OWNER],
        &pw_area(&[b""]),
        &p,
    ));
    assert_eq!(rc(&r), 0, "NV_DefineSpace {index:#x}");
}

fn define(t: &mut Tpm, attributes: u32, size: u16) {
    define_at(t, IDX, b"nvpw", attributes, &[], size);
}

/// NV_Write of `data` at `offset` under the owner's (empty) password.
fn write_at(t: &mut Tpm, index: u32, data: &[u8], offset: u16) {
    let p = [b2(data), offset.to_be_bytes().to_vec()].concat();
    let r = t.run(&with_sessions(
        CC_NV_WRITE,
        &[RH_OWNER, index],
        &pw_area(&[b""]),
        &p,
    ));
    assert_eq!(rc(&r), 0, "NV_Write {index:#x}");
}

fn write(t: &mut Tpm, data: &[u8]) {
    write_at(t, IDX, data, 0);
}

/// The current Name of an index (NV_ReadPublic).
fn nv_name(t: &mut Tpm, index: u32) -> Vec<u8> {
    let r = t.run(&plain(CC_NV_READ_PUBLIC, &index.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    let p = params(&r);
    let n = u16::from_be_bytes([p[0], p[1]]) as usize;
    p[2 + n + 2..].to_vec()
}

/// StartAuthSession (unbound, unsalted, no symmetric, SHA-256 or `alg`).
fn start_with(t: &mut Tpm, kind: u8, alg: u16) -> u32 {
    let mut p = RH_NULL.to_be_bytes().to_vec();
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    p.extend_from_slice(&b2(&[0x11; 16]));
    p.extend_from_slice(&b2(&[]));
    p.push(kind);
    p.extend_from_slice(&ALG_NULL.to_be_bytes());
    p.extend_from_slice(&alg.to_be_bytes());
    let r = t.run(&cmd(0x8001, CC_START_AUTH_SESSION, &p));
    assert_eq!(rc(&r), 0);
    u32::from_be_bytes(r[10..14].try_into().unwrap())
}

fn start(t: &mut Tpm, kind: u8) -> u32 {
    start_with(t, kind, ALG_SHA256)
}

/// A policy command whose only handle is the session.
fn policy_rc(t: &mut Tpm, cc: u32, session: u32, params: &[u8]) -> u32 {
    let mut body = session.to_be_bytes().to_vec();
    body.extend_from_slice(params);
    rc(&t.run(&cmd(0x8001, cc, &body)))
}

fn digest(t: &mut Tpm, session: u32) -> Vec<u8> {
    let r = t.run(&cmd(0x8001, CC_POLICY_GET_DIGEST, &session.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    r[12..].to_vec()
}

fn nv_params(operand: &[u8], offset: u16, op: u16) -> Vec<u8> {
    [
        b2(operand),
        offset.to_be_bytes().to_vec(),
        op.to_be_bytes().to_vec(),
    ]
    .concat()
}

/// PolicyNV(auth, index, session) with `password` for auth.
fn policy_nv_as(
    t: &mut Tpm,
    auth: u32,
    password: &[u8],
    index: u32,
    session: u32,
    params: &[u8],
) -> u32 {
    rc(&t.run(&with_sessions(
        CC_POLICY_NV,
        &[auth, index, session],
        &pw_area(&[password]),
        params,
    )))
}

fn policy_nv(t: &mut Tpm, session: u32, operand: &[u8], offset: u16, op: u16) -> u32 {
    policy_nv_as(
        t,
        RH_OWNER,
        b"",
        IDX,
        session,
        &nv_params(operand, offset, op),
    )
}

/// The PolicyNV digest from a zero policy.
fn nv_digest(name: &[u8], operand: &[u8], offset: u16, op: u16) -> Vec<u8> {
    let args = sha256(&[operand, &offset.to_be_bytes(), &op.to_be_bytes()]);
    ext(&ZERO, CC_POLICY_NV, &[&args, name])
}

const DATA: [u8; 8] = [0x00, 0x00, 0x00, 0x10, 0xF0, 0x0F, 0x80, 0x01];

#[test]
fn policy_nv_every_operation_both_ways() {
    let mut t = Tpm::started();
    define(&mut t, OWNER_RW | AUTH_RW, 8);
    write(&mut t, &DATA);
    let name = nv_name(&mut t, IDX);
    // (operation, offset, operandB that holds, operandB that does not)
    let cases: [(u16, u16, &[u8], &[u8]); 12] = [
        (0x0, 0, &[0, 0, 0, 0x10], &[0, 0, 0, 0x11]), // EQ
        (0x1, 0, &[0, 0, 0, 0x11], &[0, 0, 0, 0x10]), // NEQ
        (0x2, 6, &[0x80, 0x00], &[0x00, 0x01]),       // SIGNED_GT: 0x8001 is negative
        (0x3, 6, &[0x00, 0x01], &[0x80, 0x02]),       // UNSIGNED_GT
        (0x4, 6, &[0x00, 0x01], &[0x80, 0x00]),       // SIGNED_LT
        (0x5, 6, &[0x80, 0x02], &[0x00, 0x01]),       // UNSIGNED_LT
        (0x6, 6, &[0x80, 0x01], &[0x00, 0x00]),       // SIGNED_GE
        (0x7, 6, &[0x80, 0x01], &[0x80, 0x02]),       // UNSIGNED_GE
        (0x8, 6, &[0x00, 0x00], &[0x80, 0x00]),       // SIGNED_LE
        (0x9, 6, &[0x80, 0x01], &[0x00, 0x01]),       // UNSIGNED_LE
        (0xA, 4, &[0x30], &[0x31]),                   // BITSET
        (0xB, 4, &[0x0F], &[0x10]),                   // BITCLEAR
    ];
    for (op, offset, yes, no) in cases {
        let s = start(&mut t, SE_POLICY);
        assert_eq!(policy_nv(&mut t, s, yes, offset, op), 0, "op {op:#x} holds");
        let want = nv_digest(&name, yes, offset, op);
        assert_eq!(digest(&mut t, s), want, "op {op:#x} digest");
        // A false comparison leaves the digest alone.
        assert_eq!(
            policy_nv(&mut t, s, no, offset, op),
            RC_POLICY,
            "op {op:#x} fails"
        );
        assert_eq!(digest(&mut t, s), want);
        flush(&mut t, s);
        // A trial session only extends, whatever the data.
        let trial = start(&mut t, SE_TRIAL);
        assert_eq!(policy_nv(&mut t, trial, no, offset, op), 0);
        assert_eq!(digest(&mut t, trial), nv_digest(&name, no, offset, op));
        flush(&mut t, trial);
    }
    // The index itself may authorize the read (AUTHREAD, its password).
    let s = start(&mut t, SE_POLICY);
    let p = nv_params(&[0x10], 3, 0);
    assert_eq!(policy_nv_as(&mut t, IDX, b"nvpw", IDX, s, &p), 0);
    assert_eq!(
        policy_nv_as(&mut t, IDX, b"nope", IDX, s, &p),
        RC_AUTH_FAIL_S1
    );
    // The failed attempt changed nothing; another PolicyNV extends again.
    let once = nv_digest(&name, &[0x10], 3, 0);
    let args = sha256(&[&[0x10], &3u16.to_be_bytes(), &0u16.to_be_bytes()]);
    assert_eq!(digest(&mut t, s), once);
    assert_eq!(policy_nv_as(&mut t, IDX, b"nvpw", IDX, s, &p), 0);
    assert_eq!(digest(&mut t, s), ext(&once, CC_POLICY_NV, &[&args, &name]));
}

#[test]
fn policy_nv_refusals_carry_their_positions() {
    let mut t = Tpm::started();
    define(&mut t, OWNER_RW | AUTHWRITE | READ_STCLEAR, 8);
    let s = start(&mut t, SE_POLICY);
    // An unwritten index: nothing to compare with.
    assert_eq!(policy_nv(&mut t, s, &[0], 0, 0), RC_NV_UNINITIALIZED);
    // A trial session does not read: it extends, with the unwritten Name.
    let trial = start(&mut t, SE_TRIAL);
    assert_eq!(policy_nv(&mut t, trial, &[0], 0, 0), 0);
    let unwritten = nv_name(&mut t, IDX);
    assert_eq!(digest(&mut t, trial), nv_digest(&unwritten, &[0], 0, 0));
    flush(&mut t, trial);

    write(&mut t, &DATA);
    // TPM_EO beyond BITCLEAR: VALUE at parameter 3 (unmarshaling).
    assert_eq!(policy_nv(&mut t, s, &[0], 0, 0xC), RC_VALUE + 0x300 + 0x40);
    // offset past the data: VALUE at parameter 2; operandB past it: SIZE at 1.
    assert_eq!(policy_nv(&mut t, s, &[], 9, 0), RC_VALUE_P2);
    assert_eq!(policy_nv(&mut t, s, &[0, 0, 0], 6, 0), RC_SIZE_P1);
    // operandB reaching exactly the end is fine.
    assert_eq!(policy_nv(&mut t, s, &[0x80, 0x01], 6, 0), 0);
    // The platform may not read it (no PPREAD); the index may not (no AUTHREAD).
    let p = nv_params(&[0], 0, 0);
    assert_eq!(
        policy_nv_as(&mut t, RH_PLATFORM, b"", IDX, s, &p),
        RC_NV_AUTHORIZATION
    );
    // An index without AUTHREAD cannot authorize with its authValue.
    assert_eq!(
        policy_nv_as(&mut t, IDX, b"nvpw", IDX, s, &p),
        0x12F // TPM_RC_AUTH_UNAVAILABLE
    );
    // An index that is not there: HANDLE at handle 2.
    assert_eq!(
        policy_nv_as(&mut t, RH_OWNER, b"", IDX + 1, s, &p),
        RC_HANDLE_H2
    );
    // Read-locked.
    let r = t.run(&with_sessions(
        CC_NV_READ_LOCK,
        &[RH_OWNER, IDX],
        &pw_area(&[b""]),
        &[],
    ));
    assert_eq!(rc(&r), 0);
    assert_eq!(policy_nv(&mut t, s, &[0], 0, 0), RC_NV_LOCKED);
}

/// SetPrimaryPolicy(owner, `policy`) authorized by the password or a policy session.
fn set_owner_policy(t: &mut Tpm, area: &[u8], policy: &[u8]) -> u32 {
    let p = [b2(policy), ALG_SHA256.to_be_bytes().to_vec()].concat();
    rc(&t.run(&with_sessions(CC_SET_PRIMARY_POLICY, &[RH_OWNER], area, &p)))
}

#[test]
fn policy_nv_gates_an_authorization_on_the_index_value() {
    let mut t = Tpm::started();
    define(&mut t, OWNER_RW, 8);
    write(&mut t, &DATA);
    let name = nv_name(&mut t, IDX);
    // Owner authorization only while the first word is 0x10.
    let policy = nv_digest(&name, &[0, 0, 0, 0x10], 0, 0);
    assert_eq!(set_owner_policy(&mut t, &pw_area(&[b""]), &policy), 0);
    let s = start(&mut t, SE_POLICY);
    assert_eq!(policy_nv(&mut t, s, &[0, 0, 0, 0x10], 0, 0), 0);
    assert_eq!(set_owner_policy(&mut t, &policy_area(s), &policy), 0);
    // The session's digest is reset after use: a new PolicyNV is needed.
    assert_eq!(
        set_owner_policy(&mut t, &policy_area(s), &policy),
        RC_POLICY_FAIL_S1
    );
    // Another value: PolicyNV itself refuses.
    write(&mut t, &[0, 0, 0, 0x11]);
    assert_eq!(policy_nv(&mut t, s, &[0, 0, 0, 0x10], 0, 0), RC_POLICY);
    // A different comparison gives a different digest, which does not authorize.
    assert_eq!(policy_nv(&mut t, s, &[0, 0, 0, 0x10], 0, 1), 0);
    assert_eq!(
        set_owner_policy(&mut t, &policy_area(s), &policy),
        RC_POLICY_FAIL_S1
    );
}

const IDX_ONCE: u32 = 0x0150_0020;

/// NV_Write(index, index) of `data` authorized by policy session `s`.
fn policy_write(t: &mut Tpm, s: u32, data: &[u8]) -> u32 {
    let p = [b2(data), 0u16.to_be_bytes().to_vec()].concat();
    rc(&t.run(&with_sessions(
        CC_NV_WRITE,
        &[IDX_ONCE, IDX_ONCE],
        &policy_area(s),
        &p,
    )))
}

fn context_save(t: &mut Tpm, handle: u32) -> Vec<u8> {
    let r = t.run(&plain(CC_CONTEXT_SAVE, &handle.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    r[10..].to_vec()
}

fn context_load(t: &mut Tpm, blob: &[u8]) -> u32 {
    let r = t.run(&plain(CC_CONTEXT_LOAD, blob));
    assert_eq!(rc(&r), 0);
    u32::from_be_bytes(r[10..14].try_into().unwrap())
}

#[test]
fn policy_nv_written_is_checked_when_the_session_authorizes() {
    let mut t = Tpm::started();
    let cc_write = CC_NV_WRITE.to_be_bytes();
    // Digest: H(policyDigest || TPM_CC_PolicyNvWritten || writtenSet).
    let s = start(&mut t, SE_POLICY);
    assert_eq!(policy_rc(&mut t, CC_POLICY_NV_WRITTEN, s, &[1]), 0);
    assert_eq!(digest(&mut t, s), ext(&ZERO, CC_POLICY_NV_WRITTEN, &[&[1]]));
    // The same setting again extends again; the other one conflicts.
    assert_eq!(policy_rc(&mut t, CC_POLICY_NV_WRITTEN, s, &[1]), 0);
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_NV_WRITTEN, s, &[0]),
        RC_VALUE_P1
    );
    // TPMI_YES_NO admits 0 and 1 only.
    assert_eq!(
        policy_rc(&mut t, CC_POLICY_NV_WRITTEN, s, &[2]),
        RC_VALUE_P1
    );
    flush(&mut t, s);

    // A write-once index: written only by a session asserting "not yet written".
    let once = ext(
        &ext(&ZERO, CC_POLICY_NV_WRITTEN, &[&[0]]),
        CC_POLICY_COMMAND_CODE,
        &[&cc_write],
    );
    define_at(
        &mut t,
        IDX_ONCE,
        b"",
        POLICYWRITE | POLICYREAD | OWNERREAD,
        &once,
        4,
    );
    let s = start(&mut t, SE_POLICY);
    let steps = |t: &mut Tpm, s: u32| {
        assert_eq!(policy_rc(t, CC_POLICY_NV_WRITTEN, s, &[0]), 0);
        assert_eq!(policy_rc(t, CC_POLICY_COMMAND_CODE, s, &cc_write), 0);
    };
    steps(&mut t, s);
    // The check survives ContextSave / ContextLoad.
    let blob = context_save(&mut t, s);
    let s = context_load(&mut t, &blob);
    assert_eq!(digest(&mut t, s), once);
    assert_eq!(policy_write(&mut t, s, b"abcd"), 0);
    steps(&mut t, s);
    assert_eq!(policy_write(&mut t, s, b"efgh"), RC_POLICY_FAIL_S1);
    // The first value stayed.
    let r = t.run(&with_sessions(
        CC_NV_READ,
        &[RH_OWNER, IDX_ONCE],
        &pw_area(&[b""]),
        &[0, 4, 0, 0],
    ));
    assert_eq!(rc(&r), 0);
    assert_eq!(&params(&r)[2..], b"abcd");

    // A session with the check cannot authorize anything but an NV index.
    let policy = ext(&ZERO, CC_POLICY_NV_WRITTEN, &[&[1]]);
    assert_eq!(set_owner_policy(&mut t, &pw_area(&[b""]), &policy), 0);
    let s2 = start(&mut t, SE_POLICY);
    assert_eq!(policy_rc(&mut t, CC_POLICY_NV_WRITTEN, s2, &[1]), 0);
    assert_eq!(digest(&mut t, s2), policy);
    assert_eq!(
        set_owner_policy(&mut t, &policy_area(s2), &policy),
        RC_POLICY_FAIL_S1
    );
}

const IDX_POLICY: u32 = 0x0150_0030;

/// PolicyAuthorizeNV(owner, index, session).
fn authorize_nv(t: &mut Tpm, index: u32, session: u32) -> u32 {
    rc(&t.run(&with_sessions(
        CC_POLICY_AUTHORIZE_NV,
        &[RH_OWNER, index, session],
        &pw_area(&[b""]),
        &[],
    )))
}

/// TPMT_HA of SHA-256.
fn tpmt_ha(digest: &[u8]) -> Vec<u8> {
    [&ALG_SHA256.to_be_bytes()[..], digest].concat()
}

#[test]
fn policy_authorize_nv_approves_and_replaces_policies() {
    let mut t = Tpm::started();
    let cc_spp = CC_SET_PRIMARY_POLICY.to_be_bytes();
    define_at(&mut t, IDX_POLICY, b"", OWNER_RW, &[], 34);

    // A trial session needs no written index: it binds the current Name.
    let trial = start(&mut t, SE_TRIAL);
    assert_eq!(authorize_nv(&mut t, IDX_POLICY, trial), 0);
    let unwritten = nv_name(&mut t, IDX_POLICY);
    assert_eq!(
        digest(&mut t, trial),
        ext(&ZERO, CC_POLICY_AUTHORIZE_NV, &[&unwritten])
    );
    flush(&mut t, trial);

    let s = start(&mut t, SE_POLICY);
    assert_eq!(authorize_nv(&mut t, IDX_POLICY, s), RC_NV_UNINITIALIZED);

    // Approved policy A: SetPrimaryPolicy only.
    let a = ext(&ZERO, CC_POLICY_COMMAND_CODE, &[&cc_spp]);
    write_at(&mut t, IDX_POLICY, &tpmt_ha(&a), 0);
    let name = nv_name(&mut t, IDX_POLICY);
    assert_ne!(name, unwritten);
    let authorized = ext(&ZERO, CC_POLICY_AUTHORIZE_NV, &[&name]);
    assert_eq!(set_owner_policy(&mut t, &pw_area(&[b""]), &authorized), 0);

    let satisfy_a = |t: &mut Tpm, s: u32| {
        assert_eq!(policy_rc(t, CC_POLICY_COMMAND_CODE, s, &cc_spp), 0);
    };
    satisfy_a(&mut t, s);
    assert_eq!(authorize_nv(&mut t, IDX_POLICY, s), 0);
    assert_eq!(digest(&mut t, s), authorized);
    assert_eq!(set_owner_policy(&mut t, &policy_area(s), &authorized), 0);

    // Replace A by B (A plus PolicyLocality(0)): the owner's policy stays.
    let b = ext(&a, CC_POLICY_LOCALITY, &[&[0x01]]);
    write_at(&mut t, IDX_POLICY, &tpmt_ha(&b), 0);
    satisfy_a(&mut t, s);
    // A is no longer approved: TPM_RC_VALUE, bare.
    assert_eq!(authorize_nv(&mut t, IDX_POLICY, s), RC_VALUE);
    assert_eq!(policy_rc(&mut t, CC_POLICY_LOCALITY, s, &[0x01]), 0);
    assert_eq!(digest(&mut t, s), b);
    assert_eq!(authorize_nv(&mut t, IDX_POLICY, s), 0);
    assert_eq!(set_owner_policy(&mut t, &policy_area(s), &authorized), 0);
    flush(&mut t, s);

    // The index's hash must be the session's: a SHA-1 session refuses a
    // SHA-256 entry, and an unknown algorithm is no TPMT_HA.
    let s1 = start_with(&mut t, SE_POLICY, ALG_SHA1);
    assert_eq!(authorize_nv(&mut t, IDX_POLICY, s1), RC_HASH);
    flush(&mut t, s1);
    let s = start(&mut t, SE_POLICY);
    write_at(&mut t, IDX_POLICY, &[0x12, 0x34], 0);
    assert_eq!(authorize_nv(&mut t, IDX_POLICY, s), RC_HASH);
    // Too short for its digest: TPM_RC_INSUFFICIENT.
    const SHORT: u32 = 0x0150_0031;
    define_at(&mut t, SHORT, b"", OWNER_RW, &[], 10);
    write_at(&mut t, SHORT, &tpmt_ha(&[0; 8]), 0);
    assert_eq!(authorize_nv(&mut t, SHORT, s), RC_INSUFFICIENT);
    // Read authorization as NV_Read: the platform has no PPREAD.
    assert_eq!(
        rc(&t.run(&with_sessions(
            CC_POLICY_AUTHORIZE_NV,
            &[RH_PLATFORM, IDX_POLICY, s],
            &pw_area(&[b""]),
            &[],
        ))),
        RC_NV_AUTHORIZATION
    );
}

// NV_Certify.

/// A primary key in the endorsement hierarchy: (handle, Name).
fn primary(t: &mut Tpm, template: &[u8]) -> (u32, Vec<u8>) {
    let c = create_primary_raw(t, RH_ENDORSEMENT, &[], &[], template)
        .unwrap_or_else(|e| panic!("CreatePrimary: {e:#x}"));
    (c.handle, c.name)
}

fn certify_params(qualifying: &[u8], scheme: &[u16], size: u16, offset: u16) -> Vec<u8> {
    [
        b2(qualifying),
        u16s(scheme),
        size.to_be_bytes().to_vec(),
        offset.to_be_bytes().to_vec(),
    ]
    .concat()
}

/// NV_Certify(signer, auth, index): (TPMS_ATTEST, TPMT_SIGNATURE) or the code.
fn nv_certify(
    t: &mut Tpm,
    signer: u32,
    auth: u32,
    index: u32,
    params_: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let r = t.run(&with_sessions(
        CC_NV_CERTIFY,
        &[signer, auth, index],
        &pw_area(&[b"", b""]),
        params_,
    ));
    match rc(&r) {
        0 => {
            let p = &r[14..];
            let n = u32::from_be_bytes(r[10..14].try_into().unwrap()) as usize;
            let mut rd = Rd(&p[..n]);
            let attest = rd.b2().to_vec();
            Ok((attest, rd.0.to_vec()))
        }
        e => Err(e),
    }
}

/// Checks with TPM2_VerifySignature that `signature` is `key`'s over SHA-256(attest).
fn assert_signed(t: &mut Tpm, key: u32, attest: &[u8], signature: &[u8]) {
    let mut body = key.to_be_bytes().to_vec();
    body.extend_from_slice(&b2(&sha256(&[attest])));
    body.extend_from_slice(signature);
    let r = t.run(&cmd(0x8001, CC_VERIFY_SIGNATURE, &body));
    assert_eq!(rc(&r), 0, "VerifySignature");
    assert_eq!(u16::from_be_bytes([r[10], r[11]]), ST_VERIFIED);
}

/// The attested part of a TPMS_ATTEST, after checking its header.
fn attested(attest: &[u8], kind: u16, signer: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut rd = Rd(attest);
    assert_eq!(rd.take(4), [0xff, 0x54, 0x43, 0x47], "TPM_GENERATED_VALUE");
    assert_eq!(rd.u16(), kind, "type");
    assert_eq!(rd.b2(), signer, "qualifiedSigner");
    assert_eq!(rd.b2(), extra, "extraData");
    // clockInfo (17) and firmwareVersion (8).
    rd.take(17 + 8);
    rd.0.to_vec()
}

#[test]
fn nv_certify_signs_contents_or_their_digest() {
    let mut t = Tpm::started();
    let (ak, ak_name) = primary(&mut t, &ecc_template(AK, &[ALG_ECDSA, ALG_SHA256]));
    let qualified = [
        &ALG_SHA256.to_be_bytes()[..],
        &sha256(&[&RH_ENDORSEMENT.to_be_bytes(), &ak_name]),
    ]
    .concat();
    define(&mut t, OWNER_RW | AUTH_RW, 16);
    assert_eq!(
        nv_certify(
            &mut t,
            ak,
            RH_OWNER,
            IDX,
            &certify_params(&[], &[ALG_NULL], 4, 0)
        ),
        Err(RC_NV_UNINITIALIZED)
    );
    let data: Vec<u8> = (0x30..0x40).collect();
    write(&mut t, &data);
    let name = nv_name(&mut t, IDX);

    // A range: TPMS_NV_CERTIFY_INFO = indexName, offset, nvContents.
    let (attest, sig) = nv_certify(
        &mut t,
        ak,
        RH_OWNER,
        IDX,
        &certify_params(b"nonce", &[ALG_NULL], 5, 3),
    )
    .unwrap();
    let info = attested(&attest, ST_ATTEST_NV, &qualified, b"nonce");
    assert_eq!(
        info,
        [b2(&name), 3u16.to_be_bytes().to_vec(), b2(&data[3..8])].concat()
    );
    assert_signed(&mut t, ak, &attest, &sig);

    // The index authorizes with its own password too (AUTHREAD).
    let r = t.run(&with_sessions(
        CC_NV_CERTIFY,
        &[ak, IDX, IDX],
        &pw_area(&[b"", b"nvpw"]),
        &certify_params(&[], &[ALG_ECDSA, ALG_SHA256], 16, 0),
    ));
    assert_eq!(rc(&r), 0);

    // size and offset 0: TPMS_NV_DIGEST_CERTIFY_INFO = indexName, H(all data).
    let (attest, sig) = nv_certify(
        &mut t,
        ak,
        RH_OWNER,
        IDX,
        &certify_params(&[1, 2], &[ALG_ECDSA, ALG_SHA256], 0, 0),
    )
    .unwrap();
    let info = attested(&attest, ST_ATTEST_NV_DIGEST, &qualified, &[1, 2]);
    assert_eq!(info, [b2(&name), b2(&sha256(&[&data]))].concat());
    assert_signed(&mut t, ak, &attest, &sig);

    // Unsigned (TPM_RH_NULL): a NULL signature; no scheme, so no digest.
    let (attest, sig) = nv_certify(
        &mut t,
        RH_NULL,
        RH_OWNER,
        IDX,
        &certify_params(&[], &[ALG_NULL], 0, 0),
    )
    .unwrap();
    assert_eq!(sig, ALG_NULL.to_be_bytes());
    let info = attested(&attest, ST_ATTEST_NV_DIGEST, &RH_NULL.to_be_bytes(), &[]);
    assert_eq!(info, [b2(&name), b2(&[])].concat());
    let (attest, _) = nv_certify(
        &mut t,
        RH_NULL,
        RH_OWNER,
        IDX,
        &certify_params(&[], &[ALG_NULL], 2, 14),
    )
    .unwrap();
    let info = attested(&attest, ST_ATTEST_NV, &RH_NULL.to_be_bytes(), &[]);
    assert_eq!(
        info,
        [b2(&name), 14u16.to_be_bytes().to_vec(), b2(&data[14..])].concat()
    );
}

#[test]
fn nv_certify_refusals_carry_their_positions() {
    let mut t = Tpm::started();
    let (ak, _) = primary(&mut t, &ecc_template(AK, &[ALG_ECDSA, ALG_SHA256]));
    let (dec, _) = primary(
        &mut t,
        &ecc_template(BASE | RESTRICTED | DECRYPT, &[ALG_NULL]),
    );
    define(&mut t, OWNER_RW | AUTH_RW, 16);
    write(&mut t, &[7; 16]);
    let ok = certify_params(&[], &[ALG_NULL], 4, 0);
    // The signer first: KEY at handle 1, SCHEME at parameter 2.
    assert_eq!(nv_certify(&mut t, dec, RH_OWNER, IDX, &ok), Err(RC_KEY_H1));
    assert_eq!(
        nv_certify(
            &mut t,
            ak,
            RH_OWNER,
            IDX,
            &certify_params(&[], &[ALG_RSASSA, ALG_SHA256], 4, 0)
        ),
        Err(RC_SCHEME_P2)
    );
    // Read authorization: the platform has no PPREAD.
    assert_eq!(
        nv_certify(&mut t, ak, RH_PLATFORM, IDX, &ok),
        Err(RC_NV_AUTHORIZATION)
    );
    // Past the end: NV_RANGE.
    assert_eq!(
        nv_certify(
            &mut t,
            ak,
            RH_OWNER,
            IDX,
            &certify_params(&[], &[ALG_NULL], 4, 13)
        ),
        Err(RC_NV_RANGE)
    );
    assert_eq!(
        nv_certify(
            &mut t,
            ak,
            RH_OWNER,
            IDX,
            &certify_params(&[], &[ALG_NULL], 0, 17)
        ),
        Err(RC_NV_RANGE)
    );
    // An index that is not there: HANDLE at handle 3.
    assert_eq!(
        nv_certify(&mut t, ak, RH_OWNER, IDX + 1, &ok),
        Err(RC_HANDLE_H3)
    );
    // More than one TPM2B_MAX_NV_BUFFER: VALUE at parameter 3.
    const BIG: u32 = 0x0150_0040;
    define_at(&mut t, BIG, b"", OWNER_RW, &[], 2048);
    write_at(&mut t, BIG, &[1; 1024], 0);
    write_at(&mut t, BIG, &[2; 1024], 1024);
    assert_eq!(
        nv_certify(
            &mut t,
            ak,
            RH_OWNER,
            BIG,
            &certify_params(&[], &[ALG_NULL], 1025, 0)
        ),
        Err(RC_VALUE_P3)
    );
    let (attest, sig) = nv_certify(
        &mut t,
        ak,
        RH_OWNER,
        BIG,
        &certify_params(&[], &[ALG_NULL], 1024, 512),
    )
    .unwrap();
    assert_signed(&mut t, ak, &attest, &sig);
}
