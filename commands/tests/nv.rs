//! NV indices through the engine with raw command bytes: definition rules,
//! every index type, locks, deletion, names, capability reporting and
//! durability through the state image, with the exact response codes of
//! Part 3 (section 31). The same bytes are sent to swtpm in
//! transport/tests/nv.rs (`raw_codes_match_swtpm`), which checks the codes
//! asserted here against the reference.
//!
//! Format-one codes carry their position (Part 2, 6.6): parameter n adds
//! `0x040 | n << 8`, handle n adds `n << 8`, session n adds `0x800 | n << 8`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use sha2::{Digest, Sha256};

const CC_NV_UNDEFINE_SPACE_SPECIAL: u32 = 0x11F;
const CC_NV_UNDEFINE_SPACE: u32 = 0x122;
const CC_NV_GLOBAL_WRITE_LOCK: u32 = 0x132;
const CC_NV_INCREMENT: u32 = 0x134;
const CC_NV_SET_BITS: u32 = 0x135;
const CC_NV_EXTEND: u32 = 0x136;
const CC_NV_WRITE_LOCK: u32 = 0x138;
const CC_NV_CHANGE_AUTH: u32 = 0x13B;
const CC_NV_DEFINE_SPACE2: u32 = 0x19D;
const CC_NV_READ_PUBLIC2: u32 = 0x19E;

// TPMA_NV (Part 2, 13.4).
const PPWRITE: u32 = 1 << 0;
const COUNTER: u32 = 1 << 4;
const BITS: u32 = 2 << 4;
const EXTEND: u32 = 4 << 4;
const PIN_FAIL: u32 = 8 << 4;
const PIN_PASS: u32 = 9 << 4;
const POLICY_DELETE: u32 = 1 << 10;
const WRITELOCKED: u32 = 1 << 11;
const WRITEALL: u32 = 1 << 12;
const WRITEDEFINE: u32 = 1 << 13;
const GLOBALLOCK: u32 = 1 << 15;
const PPREAD: u32 = 1 << 16;
const NO_DA: u32 = 1 << 25;
const ORDERLY: u32 = 1 << 26;
const CLEAR_STCLEAR: u32 = 1 << 27;
const READLOCKED: u32 = 1 << 28;
const WRITTEN: u32 = 1 << 29;
const PLATFORMCREATE: u32 = 1 << 30;

const OWNER_RW: u32 = OWNERREAD | OWNERWRITE;
const AUTH_RW: u32 = AUTHREAD | AUTHWRITE;

// Response codes.
const RC_HANDLE: u32 = 0x08B;
const RC_RESERVED_BITS: u32 = 0x0A1;
const RC_BAD_AUTH: u32 = 0x0A2;
const RC_POLICY_FAIL: u32 = 0x09D;
const RC_NV_SPACE: u32 = 0x14B;
const fn param(rc: u32, n: u32) -> u32 {
    rc | 0x040 | n << 8
}
const fn handle(rc: u32, n: u32) -> u32 {
    rc | n << 8
}
const fn session(rc: u32, n: u32) -> u32 {
    rc | 0x800 | n << 8
}

const IDX: u32 = 0x0150_0001;

/// A password session carrying `password`.
fn pw(password: &[u8]) -> Vec<u8> {
    let mut s = RS_PW.to_be_bytes().to_vec();
    s.extend_from_slice(&[0, 0, 1]);
    s.extend_from_slice(&b2(password));
    let mut area = (s.len() as u32).to_be_bytes().to_vec();
    area.extend_from_slice(&s);
    area
}

/// A command with `handles`, one password session, then `params`.
fn pw_cmd(cc: u32, handles: &[u32], password: &[u8], params: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for h in handles {
        body.extend_from_slice(&h.to_be_bytes());
    }
    body.extend_from_slice(&pw(password));
    body.extend_from_slice(params);
    cmd(0x8002, cc, &body)
}

/// TPMS_NV_PUBLIC with SHA-256 names.
fn nv_public(index: u32, attributes: u32, policy: &[u8], size: u16) -> Vec<u8> {
    let mut v = index.to_be_bytes().to_vec();
    v.extend_from_slice(&0x000Bu16.to_be_bytes());
    v.extend_from_slice(&attributes.to_be_bytes());
    v.extend_from_slice(&b2(policy));
    v.extend_from_slice(&size.to_be_bytes());
    v
}

/// NV_DefineSpace parameters: auth, TPM2B_NV_PUBLIC.
fn define_params(auth: &[u8], public: &[u8]) -> Vec<u8> {
    let mut p = b2(auth);
    p.extend_from_slice(&b2(public));
    p
}

/// NV_DefineSpace (or NV_DefineSpace2, `cc`) by `creator` with an empty password; the response.
fn define_space(t: &mut Tpm, cc: u32, creator: u32, auth: &[u8], public: &[u8]) -> Vec<u8> {
    t.run(&pw_cmd(cc, &[creator], b"", &define_params(auth, public)))
}

fn define(t: &mut Tpm, creator: u32, auth: &[u8], attributes: u32, size: u16) -> u32 {
    let public = nv_public(IDX, attributes, &[], size);
    rc(&define_space(t, CC_NV_DEFINE_SPACE, creator, auth, &public))
}

fn write(t: &mut Tpm, auth: u32, password: &[u8], data: &[u8], offset: u16) -> u32 {
    let mut p = b2(data);
    p.extend_from_slice(&offset.to_be_bytes());
    rc(&t.run(&pw_cmd(CC_NV_WRITE, &[auth, IDX], password, &p)))
}

fn read(t: &mut Tpm, auth: u32, password: &[u8], size: u16, offset: u16) -> Result<Vec<u8>, u32> {
    let mut p = size.to_be_bytes().to_vec();
    p.extend_from_slice(&offset.to_be_bytes());
    let r = t.run(&pw_cmd(CC_NV_READ, &[auth, IDX], password, &p));
    match rc(&r) {
        0 => Ok(params(&r)[2..].to_vec()),
        code => Err(code),
    }
}

fn simple(t: &mut Tpm, cc: u32, auth: u32, password: &[u8], params: &[u8]) -> u32 {
    rc(&t.run(&pw_cmd(cc, &[auth, IDX], password, params)))
}

fn read_public(t: &mut Tpm) -> Vec<u8> {
    let r = t.run(&plain(CC_NV_READ_PUBLIC, &IDX.to_be_bytes()));
    assert_eq!(rc(&r), 0, "NV_ReadPublic");
    params(&r).to_vec()
}

/// The attributes in an NV_ReadPublic answer.
fn attributes_of(t: &mut Tpm) -> u32 {
    let p = read_public(t);
    u32::from_be_bytes(p[8..12].try_into().unwrap())
}

fn u64_of(data: &[u8]) -> u64 {
    u64::from_be_bytes(data.try_into().unwrap())
}

#[test]
fn define_write_read_and_name() {
    let mut t = Tpm::started();
    assert_eq!(
        define(&mut t, RH_OWNER, b"secret", OWNER_RW | AUTH_RW, 32),
        0
    );
    assert_eq!(
        define(&mut t, RH_OWNER, b"", OWNER_RW, 32),
        RC_NV_DEFINED,
        "defined twice"
    );
    // Unwritten: NV_UNINITIALIZED; a read of an unwritten index names its state.
    assert_eq!(read(&mut t, RH_OWNER, b"", 4, 0), Err(RC_NV_UNINITIALIZED));
    assert_eq!(write(&mut t, IDX, b"secret", b"abcd", 4), 0);
    assert_eq!(write(&mut t, RH_OWNER, b"", b"0123", 0), 0);
    assert_eq!(read(&mut t, IDX, b"secret", 8, 0).unwrap(), b"0123abcd");
    assert_eq!(read(&mut t, RH_OWNER, b"", 2, 6).unwrap(), b"cd");
    assert_eq!(
        read(&mut t, IDX, b"wrong", 8, 0),
        Err(session(RC_AUTH_FAIL_DA, 1)),
        "index auth without NO_DA counts for DA"
    );
    // Range rules of NV_Write and NV_Read.
    assert_eq!(write(&mut t, RH_OWNER, b"", b"x", 33), param(RC_VALUE, 2));
    assert_eq!(write(&mut t, RH_OWNER, b"", b"xy", 31), RC_NV_RANGE);
    assert_eq!(read(&mut t, RH_OWNER, b"", 2, 31), Err(RC_NV_RANGE));
    assert_eq!(read(&mut t, RH_OWNER, b"", 1, 33), Err(param(RC_VALUE, 2)));
    assert_eq!(
        read(&mut t, RH_OWNER, b"", 1025, 0),
        Err(param(RC_VALUE, 1))
    );
    // Platform may not touch an owner index without PPREAD/PPWRITE.
    assert_eq!(
        read(&mut t, RH_PLATFORM, b"", 1, 0),
        Err(RC_NV_AUTHORIZATION)
    );
    assert_eq!(
        write(&mut t, RH_PLATFORM, b"", b"x", 0),
        RC_NV_AUTHORIZATION
    );

    // NV_ReadPublic: TPM2B_NV_PUBLIC (WRITTEN now set) and the Name.
    let p = read_public(&mut t);
    let public = nv_public(IDX, OWNER_RW | AUTH_RW | WRITTEN, &[], 32);
    assert_eq!(&p[..2 + public.len()], &b2(&public)[..]);
    let mut name = vec![0, 0x0B];
    name.extend_from_slice(&Sha256::digest(&public));
    assert_eq!(&p[2 + public.len()..], &b2(&name)[..]);
    // ReadPublic2: the same area behind a TPM_HT_NV_INDEX selector.
    let r = t.run(&plain(CC_NV_READ_PUBLIC2, &IDX.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    let mut public2 = vec![0x01];
    public2.extend_from_slice(&public);
    let mut want = b2(&public2);
    want.extend_from_slice(&b2(&name));
    assert_eq!(params(&r), &want[..]);
    // An undefined handle, and one outside the NV range.
    assert_eq!(
        rc(&t.run(&plain(CC_NV_READ_PUBLIC, &(IDX + 1).to_be_bytes()))),
        handle(RC_HANDLE, 1)
    );
    assert_eq!(
        rc(&t.run(&plain(CC_NV_READ_PUBLIC, &0x8100_0001u32.to_be_bytes()))),
        handle(RC_VALUE, 1)
    );
}

const RC_AUTH_FAIL_DA: u32 = 0x08E;

#[test]
fn definition_rules() {
    let mut t = Tpm::started();
    let bad = |t: &mut Tpm, creator: u32, attributes: u32, size: u16| {
        define(t, creator, b"", attributes, size)
    };
    let attrs = param(RC_ATTRIBUTES, 2);
    // No way to read, no way to write.
    assert_eq!(bad(&mut t, RH_OWNER, OWNERWRITE, 8), attrs);
    assert_eq!(bad(&mut t, RH_OWNER, OWNERREAD, 8), attrs);
    // Locked, written or an unknown type at definition.
    for a in [WRITTEN, WRITELOCKED, READLOCKED, 3 << 4] {
        assert_eq!(bad(&mut t, RH_OWNER, OWNER_RW | a, 8), attrs, "{a:#x}");
    }
    // Sizes fixed by the type.
    assert_eq!(
        bad(&mut t, RH_OWNER, OWNER_RW | COUNTER, 4),
        param(RC_SIZE, 2)
    );
    assert_eq!(bad(&mut t, RH_OWNER, OWNER_RW | BITS, 9), param(RC_SIZE, 2));
    assert_eq!(
        bad(&mut t, RH_OWNER, OWNER_RW | EXTEND, 20),
        param(RC_SIZE, 2)
    );
    assert_eq!(bad(&mut t, RH_OWNER, OWNER_RW, 2049), param(RC_SIZE, 2));
    assert_eq!(
        bad(&mut t, RH_OWNER, OWNER_RW | WRITEALL, 1025),
        param(RC_SIZE, 2)
    );
    // Type-specific rules.
    assert_eq!(
        bad(&mut t, RH_OWNER, OWNER_RW | COUNTER | CLEAR_STCLEAR, 8),
        attrs
    );
    assert_eq!(
        bad(&mut t, RH_OWNER, OWNER_RW | PIN_FAIL, 8),
        attrs,
        "PIN Fail without NO_DA"
    );
    assert_eq!(
        bad(&mut t, RH_OWNER, OWNER_RW | PIN_PASS | AUTHWRITE, 8),
        attrs
    );
    assert_eq!(
        bad(&mut t, RH_OWNER, OWNER_RW | CLEAR_STCLEAR | WRITEDEFINE, 8),
        attrs
    );
    // Who creates must be able to delete; POLICY_DELETE only for the platform.
    assert_eq!(
        bad(&mut t, RH_OWNER, OWNER_RW | PLATFORMCREATE, 8),
        handle(RC_ATTRIBUTES, 1)
    );
    assert_eq!(
        bad(&mut t, RH_PLATFORM, OWNER_RW, 8),
        handle(RC_ATTRIBUTES, 1)
    );
    assert_eq!(bad(&mut t, RH_OWNER, OWNER_RW | POLICY_DELETE, 8), attrs);
    // Reserved bits are refused as the public area is unmarshaled.
    assert_eq!(
        bad(&mut t, RH_OWNER, OWNER_RW | 1 << 20, 8),
        param(RC_RESERVED_BITS, 2)
    );
    // nameAlg must be a hash; the index a TPMI_RH_NV_INDEX.
    let mut public = nv_public(IDX, OWNER_RW, &[], 8);
    public[4..6].copy_from_slice(&0x0010u16.to_be_bytes());
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, b"", &public);
    assert_eq!(rc(&r), param(RC_HASH, 2));
    let public = nv_public(0x0200_0000, OWNER_RW, &[], 8);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, b"", &public);
    assert_eq!(rc(&r), param(RC_VALUE, 2));
    // authPolicy must be a nameAlg digest; authValue at most one.
    let public = nv_public(IDX, OWNER_RW, &[1; 20], 8);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, b"", &public);
    assert_eq!(rc(&r), param(RC_SIZE, 2));
    let public = nv_public(IDX, OWNER_RW, &[], 8);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, &[1; 33], &public);
    assert_eq!(rc(&r), param(RC_SIZE, 1));
    // Trailing zeros do not count.
    let mut auth = vec![1; 32];
    auth.extend_from_slice(&[0; 8]);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, &auth, &public);
    assert_eq!(rc(&r), 0);
    // Lockout is not a TPMI_RH_PROVISION.
    assert_eq!(
        define(&mut t, RH_LOCKOUT, b"", OWNER_RW, 8),
        handle(RC_VALUE, 1)
    );
}

#[test]
fn counters_never_go_back() {
    let mut t = Tpm::started();
    assert_eq!(define(&mut t, RH_OWNER, b"", OWNER_RW | COUNTER, 8), 0);
    assert_eq!(read(&mut t, RH_OWNER, b"", 8, 0), Err(RC_NV_UNINITIALIZED));
    for _ in 0..3 {
        assert_eq!(simple(&mut t, CC_NV_INCREMENT, RH_OWNER, b"", &[]), 0);
    }
    assert_eq!(u64_of(&read(&mut t, RH_OWNER, b"", 8, 0).unwrap()), 3);
    // A counter is not written with NV_Write, SetBits or Extend.
    assert_eq!(write(&mut t, RH_OWNER, b"", &[0; 8], 0), RC_ATTRIBUTES);
    assert_eq!(
        simple(&mut t, CC_NV_SET_BITS, RH_OWNER, b"", &1u64.to_be_bytes()),
        handle(RC_ATTRIBUTES, 2)
    );
    // Delete and redefine: the new counter starts above the old one.
    assert_eq!(simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_OWNER, b"", &[]), 0);
    assert_eq!(define(&mut t, RH_OWNER, b"", OWNER_RW | COUNTER, 8), 0);
    assert_eq!(simple(&mut t, CC_NV_INCREMENT, RH_OWNER, b"", &[]), 0);
    assert_eq!(u64_of(&read(&mut t, RH_OWNER, b"", 8, 0).unwrap()), 4);
    // Increment of an ordinary index.
    assert_eq!(simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_OWNER, b"", &[]), 0);
    assert_eq!(define(&mut t, RH_OWNER, b"", OWNER_RW, 8), 0);
    assert_eq!(
        simple(&mut t, CC_NV_INCREMENT, RH_OWNER, b"", &[]),
        handle(RC_ATTRIBUTES, 2)
    );
}

#[test]
fn bits_and_extend() {
    let mut t = Tpm::started();
    assert_eq!(define(&mut t, RH_OWNER, b"", OWNER_RW | BITS, 8), 0);
    assert_eq!(
        simple(
            &mut t,
            CC_NV_SET_BITS,
            RH_OWNER,
            b"",
            &0x11u64.to_be_bytes()
        ),
        0
    );
    assert_eq!(
        simple(
            &mut t,
            CC_NV_SET_BITS,
            RH_OWNER,
            b"",
            &0x0100u64.to_be_bytes()
        ),
        0
    );
    assert_eq!(u64_of(&read(&mut t, RH_OWNER, b"", 8, 0).unwrap()), 0x111);
    assert_eq!(simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_OWNER, b"", &[]), 0);

    assert_eq!(define(&mut t, RH_OWNER, b"", OWNER_RW | EXTEND, 32), 0);
    assert_eq!(simple(&mut t, CC_NV_EXTEND, RH_OWNER, b"", &b2(b"one")), 0);
    assert_eq!(simple(&mut t, CC_NV_EXTEND, RH_OWNER, b"", &b2(b"two")), 0);
    let first = Sha256::digest([&[0u8; 32][..], b"one"].concat());
    let second = Sha256::digest([&first[..], b"two"].concat());
    assert_eq!(read(&mut t, RH_OWNER, b"", 32, 0).unwrap(), second.to_vec());
    assert_eq!(write(&mut t, RH_OWNER, b"", &[0; 32], 0), RC_ATTRIBUTES);
}

#[test]
fn write_all_and_locks() {
    let mut t = Tpm::started();
    let a = OWNER_RW | WRITEALL | WRITEDEFINE | READ_STCLEAR;
    assert_eq!(define(&mut t, RH_OWNER, b"", a, 16), 0);
    assert_eq!(
        write(&mut t, RH_OWNER, b"", &[1; 8], 0),
        RC_NV_RANGE,
        "WRITEALL"
    );
    assert_eq!(write(&mut t, RH_OWNER, b"", &[1; 16], 0), 0);
    // Read lock until the next Startup(CLEAR).
    assert_eq!(simple(&mut t, CC_NV_READ_LOCK, RH_OWNER, b"", &[]), 0);
    assert_eq!(read(&mut t, RH_OWNER, b"", 1, 0), Err(RC_NV_LOCKED));
    assert_eq!(
        simple(&mut t, CC_NV_READ_LOCK, RH_OWNER, b"", &[]),
        0,
        "again"
    );
    // WRITEDEFINE: the write lock survives Startup(CLEAR).
    assert_eq!(simple(&mut t, CC_NV_WRITE_LOCK, RH_OWNER, b"", &[]), 0);
    assert_eq!(write(&mut t, RH_OWNER, b"", &[2; 16], 0), RC_NV_LOCKED);
    assert_eq!(
        simple(&mut t, CC_NV_WRITE_LOCK, RH_OWNER, b"", &[]),
        0,
        "again"
    );
    assert_ne!(attributes_of(&mut t) & (WRITELOCKED | READLOCKED), 0);
    assert_eq!(rc(&t.run(&shutdown(0))), 0);
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(read(&mut t, RH_OWNER, b"", 16, 0).unwrap(), vec![1; 16]);
    assert_eq!(write(&mut t, RH_OWNER, b"", &[2; 16], 0), RC_NV_LOCKED);
    assert_eq!(simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_OWNER, b"", &[]), 0);

    // Neither WRITEDEFINE nor WRITE_STCLEAR: no write lock; no READ_STCLEAR: no read lock.
    assert_eq!(define(&mut t, RH_OWNER, b"", OWNER_RW, 8), 0);
    assert_eq!(
        simple(&mut t, CC_NV_WRITE_LOCK, RH_OWNER, b"", &[]),
        handle(RC_ATTRIBUTES, 2)
    );
    assert_eq!(
        simple(&mut t, CC_NV_READ_LOCK, RH_OWNER, b"", &[]),
        handle(RC_ATTRIBUTES, 2)
    );
    assert_eq!(simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_OWNER, b"", &[]), 0);

    // WRITE_STCLEAR and GLOBALLOCK locks go at Startup(CLEAR).
    assert_eq!(define(&mut t, RH_OWNER, b"", OWNER_RW | GLOBALLOCK, 8), 0);
    assert_eq!(
        rc(&t.run(&pw_cmd(CC_NV_GLOBAL_WRITE_LOCK, &[RH_OWNER], b"", &[]))),
        0
    );
    assert_eq!(write(&mut t, RH_OWNER, b"", &[2; 8], 0), RC_NV_LOCKED);
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(write(&mut t, RH_OWNER, b"", &[2; 8], 0), 0);
}

#[test]
fn authorization_roles() {
    let mut t = Tpm::started();
    // Owner-only index: the index's own authValue may not be used.
    assert_eq!(define(&mut t, RH_OWNER, b"pw", OWNER_RW, 8), 0);
    assert_eq!(write(&mut t, IDX, b"pw", &[0; 8], 0), RC_AUTH_UNAVAILABLE);
    assert_eq!(read(&mut t, IDX, b"pw", 8, 0), Err(RC_AUTH_UNAVAILABLE));
    // A handle that is neither owner, platform nor the index.
    let mut p = 8u16.to_be_bytes().to_vec();
    p.extend_from_slice(&0u16.to_be_bytes());
    let r = t.run(&pw_cmd(CC_NV_READ, &[RH_LOCKOUT, IDX], b"", &p));
    assert_eq!(rc(&r), handle(RC_VALUE, 1));
    assert_eq!(simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_OWNER, b"", &[]), 0);

    // NO_DA index: a wrong password is BAD_AUTH and counts nothing.
    assert_eq!(define(&mut t, RH_OWNER, b"pw", AUTH_RW | NO_DA, 8), 0);
    assert_eq!(
        write(&mut t, IDX, b"nope", &[0; 8], 0),
        session(RC_BAD_AUTH, 1)
    );
    assert_eq!(
        write(&mut t, RH_OWNER, b"", &[0; 8], 0),
        RC_NV_AUTHORIZATION
    );
    // ChangeAuth is ADMIN: a password session is the wrong type.
    let r = t.run(&pw_cmd(CC_NV_CHANGE_AUTH, &[IDX], b"pw", &b2(b"new")));
    assert_eq!(rc(&r), RC_AUTH_TYPE);
}

#[test]
fn pin_indices_count() {
    let mut t = Tpm::started();
    // PIN Fail: pinCount counts failures; at pinLimit the authValue is unusable.
    assert_eq!(
        define(
            &mut t,
            RH_OWNER,
            b"1234",
            OWNER_RW | PIN_FAIL | NO_DA | AUTHREAD,
            8
        ),
        0
    );
    assert_eq!(
        read(&mut t, IDX, b"1234", 8, 0),
        Err(RC_AUTH_UNAVAILABLE),
        "unwritten"
    );
    let pin = |count: u32, limit: u32| [count.to_be_bytes(), limit.to_be_bytes()].concat();
    assert_eq!(write(&mut t, RH_OWNER, b"", &pin(0, 2), 0), 0);
    assert_eq!(
        read(&mut t, IDX, b"0000", 8, 0),
        Err(session(RC_BAD_AUTH, 1))
    );
    assert_eq!(read(&mut t, RH_OWNER, b"", 8, 0).unwrap(), pin(1, 2));
    assert_eq!(
        read(&mut t, IDX, b"1234", 8, 0).unwrap(),
        pin(0, 2),
        "success clears"
    );
    assert_eq!(
        read(&mut t, IDX, b"0000", 8, 0),
        Err(session(RC_BAD_AUTH, 1))
    );
    assert_eq!(
        read(&mut t, IDX, b"0000", 8, 0),
        Err(session(RC_BAD_AUTH, 1))
    );
    assert_eq!(
        read(&mut t, IDX, b"1234", 8, 0),
        Err(RC_AUTH_UNAVAILABLE),
        "at limit"
    );
    // The count is durable: it is in the state image at once.
    let image = t.engine.save_state(&t.platform);
    let mut back = vtpm_commands::Engine::from_state(&image).unwrap();
    assert_eq!(back.nv_index(IDX).unwrap().data, pin(2, 2));
    back.init(&mut t.platform);
    assert_eq!(simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_OWNER, b"", &[]), 0);

    // PIN Pass: each successful use counts.
    assert_eq!(
        define(
            &mut t,
            RH_OWNER,
            b"1234",
            OWNER_RW | PIN_PASS | AUTHREAD | NO_DA,
            8
        ),
        0
    );
    assert_eq!(write(&mut t, RH_OWNER, b"", &pin(0, 1), 0), 0);
    assert_eq!(read(&mut t, IDX, b"1234", 8, 0).unwrap(), pin(1, 1));
    assert_eq!(read(&mut t, IDX, b"1234", 8, 0), Err(RC_AUTH_UNAVAILABLE));
}

#[test]
fn undefine_rules_and_clear() {
    let mut t = Tpm::started();
    let pc = PPREAD | PPWRITE | PLATFORMCREATE;
    assert_eq!(define(&mut t, RH_PLATFORM, b"", pc, 8), 0);
    assert_eq!(
        simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_OWNER, b"", &[]),
        RC_NV_AUTHORIZATION,
        "owner may not delete a platform index"
    );
    // Clear keeps platform indices and removes the owner's.
    let owner_idx = IDX + 1;
    let public = nv_public(owner_idx, OWNER_RW, &[], 8);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, b"", &public);
    assert_eq!(rc(&r), 0);
    assert_eq!(rc(&t.run(&pw_cmd(CC_CLEAR, &[RH_PLATFORM], b"", &[]))), 0);
    assert!(t.engine.nv_index(owner_idx).is_none());
    assert!(t.engine.nv_index(IDX).is_some());
    assert_eq!(
        simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_PLATFORM, b"", &[]),
        0
    );
    assert!(t.engine.nv_index(IDX).is_none());

    // POLICY_DELETE: only NV_UndefineSpaceSpecial with the index's policy.
    let policy = command_code_policy(CC_NV_UNDEFINE_SPACE_SPECIAL);
    let public = nv_public(IDX, pc | POLICY_DELETE, &policy, 8);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_PLATFORM, b"", &public);
    assert_eq!(rc(&r), 0);
    assert_eq!(
        simple(&mut t, CC_NV_UNDEFINE_SPACE, RH_PLATFORM, b"", &[]),
        handle(RC_ATTRIBUTES, 2)
    );
    // A policy session without the command code fails the ADMIN role.
    let s = start_policy_session(&mut t);
    let r = t.run(&special(s));
    assert_eq!(rc(&r), session(RC_POLICY_FAIL, 1));
    let s = start_policy_session(&mut t);
    let r = t.run(&cmd(
        0x8001,
        CC_POLICY_COMMAND_CODE,
        &[s.to_be_bytes(), CC_NV_UNDEFINE_SPACE_SPECIAL.to_be_bytes()].concat(),
    ));
    assert_eq!(rc(&r), 0);
    let r = t.run(&special(s));
    assert_eq!(rc(&r), 0, "{r:02x?}");
    assert!(t.engine.nv_index(IDX).is_none());
}

/// An unbound, unsalted SHA-256 policy session (its HMAC key is empty).
fn start_policy_session(t: &mut Tpm) -> u32 {
    let mut p = RH_NULL.to_be_bytes().to_vec();
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    p.extend_from_slice(&b2(&[0x5C; 16]));
    p.extend_from_slice(&b2(&[]));
    p.push(1);
    p.extend_from_slice(&0x0010u16.to_be_bytes());
    p.extend_from_slice(&0x000Bu16.to_be_bytes());
    let r = t.run(&cmd(0x8001, CC_START_AUTH_SESSION, &p));
    assert_eq!(rc(&r), 0);
    u32::from_be_bytes(r[10..14].try_into().unwrap())
}

/// NV_UndefineSpaceSpecial(IDX, platform): the policy session (empty HMAC),
/// then a platform password session.
fn special(policy: u32) -> Vec<u8> {
    let mut sessions = policy.to_be_bytes().to_vec();
    sessions.extend_from_slice(&b2(&[0x11; 16]));
    sessions.push(0);
    sessions.extend_from_slice(&b2(&[]));
    sessions.extend_from_slice(&RS_PW.to_be_bytes());
    sessions.extend_from_slice(&[0, 0, 1, 0, 0]);
    let mut body = IDX.to_be_bytes().to_vec();
    body.extend_from_slice(&RH_PLATFORM.to_be_bytes());
    body.extend_from_slice(&(sessions.len() as u32).to_be_bytes());
    body.extend_from_slice(&sessions);
    cmd(0x8002, CC_NV_UNDEFINE_SPACE_SPECIAL, &body)
}

#[test]
fn durable_through_the_state_image() {
    let mut t = Tpm::started();
    assert_eq!(define(&mut t, RH_OWNER, b"pw", OWNER_RW | AUTH_RW, 8), 0);
    assert_eq!(write(&mut t, RH_OWNER, b"", b"durable!", 0), 0);
    assert!(
        t.engine.take_nv_dirty(),
        "a write commits before the response"
    );
    let orderly = IDX + 1;
    let public = nv_public(orderly, OWNER_RW | COUNTER | ORDERLY, &[], 8);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, b"", &public);
    assert_eq!(rc(&r), 0);
    let inc = pw_cmd(CC_NV_INCREMENT, &[RH_OWNER, orderly], b"", &[]);
    for _ in 0..5 {
        assert_eq!(rc(&t.run(&inc)), 0);
    }
    // Power loss: the image holds the ordinary data; the orderly counter
    // comes back with its low bits set, never below a value it returned.
    let image = t.engine.save_state(&t.platform);
    let mut engine = vtpm_commands::Engine::from_state(&image).unwrap();
    engine.init(&mut t.platform);
    t.engine = engine;
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(read(&mut t, IDX, b"pw", 8, 0).unwrap(), b"durable!");
    let read_counter = |t: &mut Tpm| {
        let mut p = 8u16.to_be_bytes().to_vec();
        p.extend_from_slice(&0u16.to_be_bytes());
        let r = t.run(&pw_cmd(CC_NV_READ, &[RH_OWNER, orderly], b"", &p));
        assert_eq!(rc(&r), 0);
        u64_of(&params(&r)[2..])
    };
    assert_eq!(read_counter(&mut t), 0xFF);
    // After an orderly shutdown the exact value survives.
    assert_eq!(rc(&t.run(&inc)), 0);
    assert_eq!(rc(&t.run(&shutdown(0))), 0);
    let image = t.engine.save_state(&t.platform);
    let mut engine = vtpm_commands::Engine::from_state(&image).unwrap();
    engine.init(&mut t.platform);
    t.engine = engine;
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(read_counter(&mut t), 0x100);
}

#[test]
fn capability_and_space() {
    let mut t = Tpm::started();
    let getcap = |t: &mut Tpm, cap: u32, prop: u32, count: u32| {
        let mut p = cap.to_be_bytes().to_vec();
        p.extend_from_slice(&prop.to_be_bytes());
        p.extend_from_slice(&count.to_be_bytes());
        let r = t.run(&plain(CC_GET_CAPABILITY, &p));
        assert_eq!(rc(&r), 0);
        params(&r).to_vec()
    };
    let prop = |t: &mut Tpm, tag: u32| {
        let p = getcap(t, 6, tag, 1);
        assert_eq!(u32::from_be_bytes(p[9..13].try_into().unwrap()), tag);
        u32::from_be_bytes(p[13..17].try_into().unwrap())
    };
    assert_eq!(prop(&mut t, 0x117), 2048, "NV_INDEX_MAX");
    // NV_DefineSpace2 and NV_ReadPublic2 run but are not listed (tss-esapi 7.x
    // rejects command lists with codes it does not know).
    let p = getcap(&mut t, 2, 0x19D, 8);
    assert_eq!(&p[..9], &[0, 0, 0, 0, 2, 0, 0, 0, 0]);
    let p = getcap(&mut t, 2, 0x169, 1);
    assert_eq!(
        &p[9..13],
        &(0x169u32 | 1 << 25).to_be_bytes(),
        "NV_ReadPublic listed"
    );
    assert_eq!(prop(&mut t, 0x12C), 1024, "NV_BUFFER_MAX");
    let avail = prop(&mut t, 0x20B);
    // The EK certificate indices and the Azure AK certificate index are ordinary.
    for h in [0x01C0_0002u32, 0x01C0_000A, 0x01C1_01D0] {
        let public = nv_public(h, OWNER_RW | COUNTER, &[], 8);
        let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, b"", &public);
        assert_eq!(rc(&r), 0);
    }
    assert_eq!(prop(&mut t, 0x202), 3, "HR_NV_INDEX");
    assert_eq!(prop(&mut t, 0x20A), 3, "NV_COUNTERS");
    assert_eq!(prop(&mut t, 0x20B), avail - 3, "NV_COUNTERS_AVAIL");
    let p = getcap(&mut t, 1, 0x0100_0000, 8);
    assert_eq!(&p[..9], &[0, 0, 0, 0, 1, 0, 0, 0, 3]);
    assert_eq!(&p[9..13], &0x01C0_0002u32.to_be_bytes());
    assert_eq!(&p[17..21], &0x01C1_01D0u32.to_be_bytes());
    // Fill NV: TPM_RC_NV_SPACE, and nothing is defined.
    let mut n = 0;
    let code = loop {
        let public = nv_public(0x0100_0000 + n, OWNER_RW, &[], 2048);
        let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, b"", &public);
        if rc(&r) != 0 {
            break rc(&r);
        }
        n += 1;
        assert!(n < 1000);
    };
    assert_eq!(code, RC_NV_SPACE);
    assert!(n >= 16, "64 KiB hold at least 16 full indices ({n})");
    assert!(t.engine.nv_index(0x0100_0000 + n).is_none());
}

#[test]
fn define_space2_takes_an_nv_index_selector() {
    let mut t = Tpm::started();
    let public = nv_public(IDX, OWNER_RW, &[], 8);
    let mut p2 = vec![0x01];
    p2.extend_from_slice(&public);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE2, RH_OWNER, b"", &p2);
    assert_eq!(rc(&r), 0);
    assert_eq!(attributes_of(&mut t), OWNER_RW);
    // External NV (TPM_HT_EXTERNAL_NV) is not implemented.
    let mut p2 = vec![0x11];
    p2.extend_from_slice(&nv_public(IDX + 1, OWNER_RW, &[], 8));
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE2, RH_OWNER, b"", &p2);
    assert_eq!(rc(&r), param(RC_VALUE, 2));
}

#[test]
fn change_auth_through_policy() {
    let mut t = Tpm::started();
    let policy = command_code_policy(CC_NV_CHANGE_AUTH);
    let public = nv_public(IDX, AUTH_RW | NO_DA, &policy, 8);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_OWNER, b"old", &public);
    assert_eq!(rc(&r), 0);
    let s = start_policy_session(&mut t);
    let r = t.run(&cmd(
        0x8001,
        CC_POLICY_COMMAND_CODE,
        &[s.to_be_bytes(), CC_NV_CHANGE_AUTH.to_be_bytes()].concat(),
    ));
    assert_eq!(rc(&r), 0);
    let mut sess = s.to_be_bytes().to_vec();
    sess.extend_from_slice(&b2(&[0x22; 16]));
    sess.push(0);
    sess.extend_from_slice(&b2(&[]));
    let mut body = IDX.to_be_bytes().to_vec();
    body.extend_from_slice(&(sess.len() as u32).to_be_bytes());
    body.extend_from_slice(&sess);
    body.extend_from_slice(&b2(b"new"));
    let r = t.run(&cmd(0x8002, CC_NV_CHANGE_AUTH, &body));
    assert_eq!(rc(&r), 0);
    assert_eq!(
        write(&mut t, IDX, b"old", &[0; 8], 0),
        session(RC_BAD_AUTH, 1)
    );
    assert_eq!(write(&mut t, IDX, b"new", &[0; 8], 0), 0);
}

#[test]
fn disabled_hierarchies_hide_their_indices() {
    const CC_HIERARCHY_CONTROL: u32 = 0x121;
    const RH_PLATFORM_NV: u32 = 0x4000_000D;
    let mut t = Tpm::started();
    assert_eq!(define(&mut t, RH_OWNER, b"", OWNER_RW, 8), 0);
    let platform_idx = 0x0140_0001u32;
    let public = nv_public(platform_idx, PPREAD | PPWRITE | PLATFORMCREATE, &[], 8);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_PLATFORM, b"", &public);
    assert_eq!(rc(&r), 0);
    let control = |t: &mut Tpm, enable: u32, state: u8| {
        let mut p = enable.to_be_bytes().to_vec();
        p.push(state);
        rc(&t.run(&pw_cmd(CC_HIERARCHY_CONTROL, &[RH_PLATFORM], b"", &p)))
    };
    // Owner disabled: owner indices are gone from view (TPM_RC_HANDLE), platform ones stay.
    assert_eq!(control(&mut t, RH_OWNER, 0), 0);
    assert_eq!(
        rc(&t.run(&plain(CC_NV_READ_PUBLIC, &IDX.to_be_bytes()))),
        handle(RC_HANDLE, 1)
    );
    assert_eq!(
        rc(&t.run(&plain(CC_NV_READ_PUBLIC, &platform_idx.to_be_bytes()))),
        0
    );
    assert_eq!(control(&mut t, RH_OWNER, 1), 0);
    // phEnableNV clear: platform indices hidden and none can be defined.
    assert_eq!(control(&mut t, RH_PLATFORM_NV, 0), 0);
    assert_eq!(
        rc(&t.run(&plain(CC_NV_READ_PUBLIC, &platform_idx.to_be_bytes()))),
        handle(RC_HANDLE, 1)
    );
    let public = nv_public(platform_idx + 1, PPREAD | PPWRITE | PLATFORMCREATE, &[], 8);
    let r = define_space(&mut t, CC_NV_DEFINE_SPACE, RH_PLATFORM, b"", &public);
    assert_eq!(rc(&r), handle(RC_HIERARCHY, 1));
    assert_eq!(rc(&t.run(&plain(CC_NV_READ_PUBLIC, &IDX.to_be_bytes()))), 0);
}

const RC_HIERARCHY: u32 = 0x085;

#[test]
fn orderly_index_lives_in_ram() {
    let mut t = Tpm::started();
    let a = OWNER_RW | ORDERLY;
    assert_eq!(define(&mut t, RH_OWNER, b"", a, 8), 0);
    assert!(t.engine.take_nv_dirty());
    assert_eq!(write(&mut t, RH_OWNER, b"", b"first...", 0), 0);
    // The first write is committed (so WRITTEN and the data survive a power loss)...
    assert!(t.engine.take_nv_dirty());
    assert_eq!(write(&mut t, RH_OWNER, b"", b"second..", 0), 0);
    // ...later ones stay in RAM.
    assert!(!t.engine.take_nv_dirty());
    assert_eq!(read(&mut t, RH_OWNER, b"", 8, 0).unwrap(), b"second..");
    // A suspend (volatile snapshot) keeps the RAM copy.
    let snapshot = t.engine.save_volatile();
    t.power_cycle();
    t.engine.restore_volatile(&snapshot).unwrap();
    assert_eq!(read(&mut t, RH_OWNER, b"", 8, 0).unwrap(), b"second..");
    // A power loss loses it: the NV copy comes back, and the Startup is a TPM Reset.
    let image = t.engine.save_state(&t.platform);
    let mut engine = vtpm_commands::Engine::from_state(&image).unwrap();
    engine.init(&mut t.platform);
    t.engine = engine;
    assert_eq!(rc(&t.run(&startup(0))), 0);
    // An orderly non-counter index is unwritten after a TPM Reset (as the reference).
    assert_eq!(read(&mut t, RH_OWNER, b"", 8, 0), Err(RC_NV_UNINITIALIZED));
    // Shutdown saves the RAM copy; TPM Restart (Shutdown(STATE) + Startup(CLEAR)) keeps it.
    assert_eq!(write(&mut t, RH_OWNER, b"", b"third...", 0), 0);
    assert_eq!(write(&mut t, RH_OWNER, b"", b"fourth..", 0), 0);
    assert_eq!(rc(&t.run(&shutdown(1))), 0);
    let image = t.engine.save_state(&t.platform);
    let mut engine = vtpm_commands::Engine::from_state(&image).unwrap();
    engine.init(&mut t.platform);
    t.engine = engine;
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(read(&mut t, RH_OWNER, b"", 8, 0).unwrap(), b"fourth..");
}

#[test]
fn handle_values_are_checked_before_lookups() {
    let mut t = Tpm::started();
    // authHandle: an undefined (but valid) NV index; nvIndex: not an NV handle at all.
    // The reference unmarshals both handles before it looks any up: TPM_RC_VALUE on handle 2.
    let r = t.run(&pw_cmd(CC_NV_INCREMENT, &[0x0100_0000, RH_OWNER], b"", &[]));
    assert_eq!(rc(&r), handle(RC_VALUE, 2));
    let r = t.run(&pw_cmd(CC_NV_INCREMENT, &[0x0100_0000, IDX], b"", &[]));
    assert_eq!(rc(&r), handle(RC_HANDLE, 1));
}
