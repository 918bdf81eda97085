//! Physical presence (PP_Commands, the PP list and its enforcement),
//! SetAlgorithmSet, and the PCR authorization groups (PCR_SetAuthValue,
//! PCR_SetAuthPolicy), raw through the engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use sha2::{Digest, Sha256};

const PLATFORM: u32 = 0x4000_000C;
const LOCKOUT: u32 = 0x4000_000A;
const CC_PP_COMMANDS: u32 = 0x12D;
const CC_PCR_SET_AUTH_POLICY: u32 = 0x12C;
const CC_PCR_SET_AUTH_VALUE: u32 = 0x183;
const CC_SET_ALGORITHM_SET: u32 = 0x13F;
const CC_SET_PRIMARY_POLICY: u32 = 0x12E;
const CC_CLEAR: u32 = 0x126;
const CC_SET_AUDIT: u32 = 0x140;
const CC_START_AUTH_SESSION: u32 = 0x176;
const CC_POLICY_COMMAND_CODE: u32 = 0x16C;
const CC_POLICY_PHYSICAL_PRESENCE: u32 = 0x187;
const CC_POLICY_AUTH_VALUE: u32 = 0x16B;
const CC_POLICY_GET_DIGEST: u32 = 0x189;
const SHA256: u16 = 0x000B;

const RC_PP_S1: u32 = 0x990;
const RC_BAD_AUTH_S1: u32 = 0x9A2;
const RC_AUTH_TYPE: u32 = 0x124;
const RC_AUTH_UNAVAILABLE: u32 = 0x12F;
const RC_POLICY_FAIL_S1: u32 = 0x99D;
const RC_VALUE: u32 = 0x084;
const RC_VALUE_P3: u32 = 0x3C4;
const RC_SIZE_P1: u32 = 0x1D5;
const RC_HASH_P2: u32 = 0x2C3;

fn tpm2b(v: &[u8]) -> Vec<u8> {
    [&(v.len() as u16).to_be_bytes()[..], v].concat()
}

fn cc_list(codes: &[u32]) -> Vec<u8> {
    let mut v = (codes.len() as u32).to_be_bytes().to_vec();
    for c in codes {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v
}

/// A password authorization area carrying `password`.
fn pw_area(password: &[u8]) -> Vec<u8> {
    let mut a = 0x4000_0009u32.to_be_bytes().to_vec();
    a.extend_from_slice(&tpm2b(&[]));
    a.push(1);
    a.extend_from_slice(&tpm2b(password));
    [&(a.len() as u32).to_be_bytes()[..], &a].concat()
}

/// A session authorization area (a 16-byte nonceCaller, continueSession, `hmac`).
fn session_area(session: u32, hmac: &[u8]) -> Vec<u8> {
    let mut a = session.to_be_bytes().to_vec();
    a.extend_from_slice(&tpm2b(&[0x22; 16]));
    a.push(1);
    a.extend_from_slice(&tpm2b(hmac));
    [&(a.len() as u32).to_be_bytes()[..], &a].concat()
}

/// A one-handle command with the authorization area `area`; the response code.
fn authorized(t: &mut Tpm, locality: u8, cc: u32, handle: u32, area: &[u8], p: &[u8]) -> u32 {
    let body = [&handle.to_be_bytes()[..], area, p].concat();
    rc(&t.run_at(locality, &cmd(0x8002, cc, &body)))
}

fn pp_commands(t: &mut Tpm, set: &[u32], clear: &[u32]) -> u32 {
    let p = [cc_list(set), cc_list(clear)].concat();
    rc(&t.run(&with_pw(CC_PP_COMMANDS, PLATFORM, &p)))
}

/// GetCapability(cap, property, 100): the u32 entries of a TPML_CC answer.
fn cc_capability(t: &mut Tpm, cap: u32, property: u32) -> Vec<u32> {
    let p = [cap, property, 100]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect::<Vec<u8>>();
    let r = t.run(&plain(CC_GET_CAPABILITY, &p));
    assert_eq!(rc(&r), 0);
    let p = params(&r);
    assert_eq!(p[0], 0, "moreData");
    assert_eq!(u32::from_be_bytes(p[1..5].try_into().unwrap()), cap);
    let n = u32::from_be_bytes(p[5..9].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| u32::from_be_bytes(p[9 + 4 * i..13 + 4 * i].try_into().unwrap()))
        .collect()
}

/// GetCapability(TPM_PROPERTIES, tag, 1): the value of `tag`.
fn tpm_property(t: &mut Tpm, tag: u32) -> u32 {
    let p = [6u32, tag, 1]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect::<Vec<u8>>();
    let r = t.run(&plain(CC_GET_CAPABILITY, &p));
    assert_eq!(rc(&r), 0);
    let p = params(&r);
    assert_eq!(u32::from_be_bytes(p[9..13].try_into().unwrap()), tag);
    u32::from_be_bytes(p[13..17].try_into().unwrap())
}

/// StartAuthSession (unbound, unsalted, sha256) of `kind` (0 HMAC, 1 policy).
fn start(t: &mut Tpm, kind: u8) -> u32 {
    let mut p = 0x4000_0007u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0x4000_0007u32.to_be_bytes());
    p.extend_from_slice(&tpm2b(&[0x11; 16]));
    p.extend_from_slice(&tpm2b(&[]));
    p.push(kind);
    p.extend_from_slice(&0x0010u16.to_be_bytes());
    p.extend_from_slice(&SHA256.to_be_bytes());
    let r = t.run(&cmd(0x8001, CC_START_AUTH_SESSION, &p));
    assert_eq!(rc(&r), 0);
    u32::from_be_bytes(r[10..14].try_into().unwrap())
}

fn policy(t: &mut Tpm, cc: u32, session: u32, p: &[u8]) {
    let body = [&session.to_be_bytes()[..], p].concat();
    assert_eq!(
        rc(&t.run(&cmd(0x8001, cc, &body))),
        0,
        "policy command {cc:#x}"
    );
}

fn policy_digest(t: &mut Tpm, session: u32) -> Vec<u8> {
    let r = t.run(&cmd(0x8001, CC_POLICY_GET_DIGEST, &session.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    r[12..].to_vec()
}

/// policyDigest' = H(policyDigest || cc || extra).
fn ext(old: &[u8], cc: u32, extra: &[u8]) -> Vec<u8> {
    Sha256::digest([old, &cc.to_be_bytes(), extra].concat()).to_vec()
}

/// SetPrimaryPolicy parameters: a sha256 policy.
fn spp_params(policy: &[u8]) -> Vec<u8> {
    [&tpm2b(policy)[..], &SHA256.to_be_bytes()].concat()
}

fn set_auth_policy_params(policy: &[u8], alg: u16, pcr: u32) -> Vec<u8> {
    [&tpm2b(policy)[..], &alg.to_be_bytes(), &pcr.to_be_bytes()].concat()
}

fn extend_params() -> Vec<u8> {
    digest_values(SHA256, &Sha256::digest(b"pcr auth"))
}

#[test]
fn the_pp_list_starts_with_pp_commands_and_the_audit_list_with_set_audit() {
    let mut t = Tpm::started();
    assert_eq!(cc_capability(&mut t, 3, 0), vec![CC_PP_COMMANDS]);
    assert_eq!(cc_capability(&mut t, 3, CC_PP_COMMANDS + 1), vec![]);
    assert_eq!(cc_capability(&mut t, 4, 0), vec![CC_SET_AUDIT]);
    assert_eq!(cc_capability(&mut t, 4, CC_SET_AUDIT + 1), vec![]);
    // Audited commands appear from `property` on, ascending.
    let p = [
        &0x0010u16.to_be_bytes()[..],
        &cc_list(&[0x17B, 0x17E]),
        &cc_list(&[]),
    ]
    .concat();
    let r = t.run(&with_pw(CC_SET_AUDIT, 0x4000_0001, &p));
    assert_eq!(rc(&r), 0);
    assert_eq!(
        cc_capability(&mut t, 4, 0),
        vec![CC_SET_AUDIT, 0x17B, 0x17E]
    );
    assert_eq!(cc_capability(&mut t, 4, 0x17C), vec![0x17E]);
}

#[test]
fn pp_commands_always_needs_physical_presence() {
    let mut t = Tpm::started();
    assert_eq!(pp_commands(&mut t, &[CC_CLEAR], &[]), RC_PP_S1);
    assert_eq!(cc_capability(&mut t, 3, 0), vec![CC_PP_COMMANDS]);
    t.platform.pp = true;
    // GetRandom and SetAlgorithmSet cannot require PP (they are not
    // authorized by the platform); unimplemented codes are ignored too.
    assert_eq!(
        pp_commands(&mut t, &[0x17B, CC_CLEAR, CC_SET_ALGORITHM_SET, 0x1FF], &[]),
        0
    );
    assert_eq!(cc_capability(&mut t, 3, 0), vec![CC_CLEAR, CC_PP_COMMANDS]);
    // PP_Commands itself cannot be cleared.
    assert_eq!(pp_commands(&mut t, &[], &[CC_PP_COMMANDS, CC_CLEAR]), 0);
    assert_eq!(cc_capability(&mut t, 3, 0), vec![CC_PP_COMMANDS]);
}

#[test]
fn a_listed_command_needs_pp_only_under_platform_authorization() {
    let mut t = Tpm::started();
    t.platform.pp = true;
    assert_eq!(
        pp_commands(&mut t, &[CC_CLEAR, CC_SET_PRIMARY_POLICY], &[]),
        0
    );
    t.platform.pp = false;
    // Password session.
    assert_eq!(
        authorized(&mut t, 0, CC_CLEAR, PLATFORM, &pw_area(&[]), &[]),
        RC_PP_S1
    );
    // Lockout authorization does not need PP.
    assert_eq!(
        authorized(&mut t, 0, CC_CLEAR, LOCKOUT, &pw_area(&[]), &[]),
        0
    );
    // HMAC session (unbound, unsalted, empty authValue: an empty HMAC).
    let s = start(&mut t, 0);
    assert_eq!(
        authorized(&mut t, 0, CC_CLEAR, PLATFORM, &session_area(s, &[]), &[]),
        RC_PP_S1
    );
    t.platform.pp = true;
    assert_eq!(
        authorized(&mut t, 0, CC_CLEAR, PLATFORM, &session_area(s, &[]), &[]),
        0
    );
    // A policy session without PolicyPhysicalPresence needs PP all the same.
    let d = ext(
        &[0; 32],
        CC_POLICY_COMMAND_CODE,
        &CC_SET_PRIMARY_POLICY.to_be_bytes(),
    );
    assert_eq!(
        authorized(
            &mut t,
            0,
            CC_SET_PRIMARY_POLICY,
            PLATFORM,
            &pw_area(&[]),
            &spp_params(&d)
        ),
        0
    );
    let p = start(&mut t, 1);
    policy(
        &mut t,
        CC_POLICY_COMMAND_CODE,
        p,
        &CC_SET_PRIMARY_POLICY.to_be_bytes(),
    );
    assert_eq!(policy_digest(&mut t, p), d);
    t.platform.pp = false;
    assert_eq!(
        authorized(
            &mut t,
            0,
            CC_SET_PRIMARY_POLICY,
            PLATFORM,
            &session_area(p, &[]),
            &spp_params(&d)
        ),
        RC_PP_S1
    );
    t.platform.pp = true;
    assert_eq!(
        authorized(
            &mut t,
            0,
            CC_SET_PRIMARY_POLICY,
            PLATFORM,
            &session_area(p, &[]),
            &spp_params(&d)
        ),
        0
    );
    // Once cleared from the list, no PP is needed.
    assert_eq!(pp_commands(&mut t, &[], &[CC_CLEAR]), 0);
    t.platform.pp = false;
    assert_eq!(
        authorized(&mut t, 0, CC_CLEAR, PLATFORM, &pw_area(&[]), &[]),
        0
    );
}

#[test]
fn the_pp_list_and_algorithm_set_are_permanent() {
    let mut t = Tpm::started();
    t.platform.pp = true;
    assert_eq!(pp_commands(&mut t, &[0x120], &[]), 0);
    let r = t.run(&with_pw(
        CC_SET_ALGORITHM_SET,
        PLATFORM,
        &7u32.to_be_bytes(),
    ));
    assert_eq!(rc(&r), 0);
    assert_eq!(tpm_property(&mut t, 0x20C), 7);
    // Only the platform may set the algorithm set.
    let r = t.run(&with_pw(
        CC_SET_ALGORITHM_SET,
        0x4000_0001,
        &1u32.to_be_bytes(),
    ));
    assert_eq!(rc(&r), 0x184, "TPMI_RH_PLATFORM");
    // Through the serialized state, as after a power loss.
    let image = t.engine.save_state(&t.platform);
    let mut platform = TestPlatform::new();
    let mut engine = vtpm_commands::Engine::from_state(&image).unwrap();
    engine.init(&mut platform);
    let mut t = Tpm { engine, platform };
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(cc_capability(&mut t, 3, 0), vec![0x120, CC_PP_COMMANDS]);
    assert_eq!(tpm_property(&mut t, 0x20C), 7);
}

#[test]
fn pcr_properties_name_the_auth_and_policy_groups() {
    let mut t = Tpm::started();
    let p = [7u32, 0x13, 2]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect::<Vec<u8>>();
    let r = t.run(&plain(CC_GET_CAPABILITY, &p));
    assert_eq!(rc(&r), 0);
    let p = params(&r);
    assert_eq!(u32::from_be_bytes(p[5..9].try_into().unwrap()), 2);
    // TPM_PT_PCR_POLICY then TPM_PT_PCR_AUTH: PCR 20-22 each.
    assert_eq!(&p[9..17], &[0, 0, 0, 0x13, 3, 0, 0, 0x70]);
    assert_eq!(&p[17..25], &[0, 0, 0, 0x14, 3, 0, 0, 0x70]);
}

#[test]
fn pcr_auth_values_guard_their_group_until_startup_clear() {
    let mut t = Tpm::started();
    let set = |t: &mut Tpm, pcr: u32, auth: &[u8], password: &[u8]| {
        authorized(
            t,
            0,
            CC_PCR_SET_AUTH_VALUE,
            pcr,
            &pw_area(password),
            &tpm2b(auth),
        )
    };
    // PCR 16 is in no authorization group.
    assert_eq!(set(&mut t, 16, b"x", b""), RC_VALUE);
    assert_eq!(set(&mut t, 20, b"secret\0\0", b""), 0);
    // The whole group (20-22) now needs the value; PCR 20 is extended at locality 2.
    let extend = |t: &mut Tpm, pcr: u32, password: &[u8]| {
        authorized(
            t,
            2,
            CC_PCR_EXTEND,
            pcr,
            &pw_area(password),
            &extend_params(),
        )
    };
    assert_eq!(extend(&mut t, 20, b""), RC_BAD_AUTH_S1);
    assert_eq!(extend(&mut t, 20, b"secret"), 0);
    // Trailing zeros are not significant.
    assert_eq!(extend(&mut t, 20, b"secret\0"), 0);
    let event = authorized(&mut t, 2, 0x13C, 22, &pw_area(b"secret"), &tpm2b(b"e"));
    assert_eq!(event, 0, "PCR_Event");
    let reset = authorized(&mut t, 2, 0x13D, 21, &pw_area(b""), &[]);
    assert_eq!(reset, RC_BAD_AUTH_S1, "PCR_Reset");
    let reset = authorized(&mut t, 2, 0x13D, 21, &pw_area(b"secret"), &[]);
    assert_eq!(reset, 0, "PCR_Reset");
    // Outside the group nothing changed.
    assert_eq!(extend(&mut t, 16, b""), 0);
    // The authValue itself is needed to change it.
    assert_eq!(set(&mut t, 21, b"other", b""), RC_BAD_AUTH_S1);
    assert_eq!(set(&mut t, 21, b"other", b"secret"), 0);
    assert_eq!(extend(&mut t, 20, b"other"), 0);
    // TPM Resume keeps it (state-clear data saved by Shutdown(STATE)).
    assert_eq!(rc(&t.run(&shutdown(1))), 0);
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(1))), 0);
    assert_eq!(extend(&mut t, 20, b""), RC_BAD_AUTH_S1);
    assert_eq!(extend(&mut t, 20, b"other"), 0);
    // Startup(CLEAR) empties it.
    assert_eq!(rc(&t.run(&shutdown(1))), 0);
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(extend(&mut t, 20, b""), 0);
    // So does TPM2_Clear.
    assert_eq!(set(&mut t, 20, b"again", b""), 0);
    assert_eq!(
        authorized(&mut t, 0, CC_CLEAR, LOCKOUT, &pw_area(&[]), &[]),
        0
    );
    assert_eq!(extend(&mut t, 20, b""), 0);
}

#[test]
fn pcr_auth_policy_is_then_the_only_way() {
    let mut t = Tpm::started();
    let set = |t: &mut Tpm, p: &[u8]| {
        authorized(t, 0, CC_PCR_SET_AUTH_POLICY, PLATFORM, &pw_area(&[]), p)
    };
    let d = ext(&[0; 32], CC_POLICY_AUTH_VALUE, &[]);
    assert_eq!(
        set(&mut t, &set_auth_policy_params(&d, SHA256, 16)),
        RC_VALUE_P3
    );
    assert_eq!(
        set(&mut t, &set_auth_policy_params(&d, SHA256, 24)),
        RC_VALUE_P3
    );
    assert_eq!(
        set(&mut t, &set_auth_policy_params(&d[..20], SHA256, 21)),
        RC_SIZE_P1
    );
    assert_eq!(
        set(&mut t, &set_auth_policy_params(&d, 0x0099, 21)),
        RC_HASH_P2
    );
    assert_eq!(set(&mut t, &set_auth_policy_params(&d, SHA256, 21)), 0);
    let extend_pw = |t: &mut Tpm, pcr: u32| {
        authorized(t, 2, CC_PCR_EXTEND, pcr, &pw_area(&[]), &extend_params())
    };
    // The policy group (20-22) is authorized by policy only; PCR 16 keeps its authValue.
    assert_eq!(extend_pw(&mut t, 21), RC_AUTH_TYPE);
    assert_eq!(extend_pw(&mut t, 16), 0);
    let with_policy = |t: &mut Tpm, pcr: u32, steps: &[u32]| {
        let s = start(t, 1);
        for cc in steps {
            policy(t, *cc, s, &[]);
        }
        let r = authorized(
            t,
            2,
            CC_PCR_EXTEND,
            pcr,
            &session_area(s, &[]),
            &extend_params(),
        );
        let _ = t.run(&plain(0x165, &s.to_be_bytes()));
        r
    };
    assert_eq!(with_policy(&mut t, 21, &[CC_POLICY_AUTH_VALUE]), 0);
    assert_eq!(
        with_policy(&mut t, 21, &[CC_POLICY_PHYSICAL_PRESENCE]),
        RC_POLICY_FAIL_S1
    );
    // PCR 16 has no policy to satisfy.
    assert_eq!(
        with_policy(&mut t, 16, &[CC_POLICY_AUTH_VALUE]),
        RC_AUTH_UNAVAILABLE
    );
    // The policy persists over Startup(CLEAR).
    assert_eq!(rc(&t.run(&shutdown(0))), 0);
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(extend_pw(&mut t, 21), RC_AUTH_TYPE);
    // A NULL policy gives the authValue back.
    assert_eq!(set(&mut t, &set_auth_policy_params(&[], 0x0010, 21)), 0);
    assert_eq!(extend_pw(&mut t, 21), 0);
}
