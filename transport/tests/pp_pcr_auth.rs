//! Physical presence, SetAlgorithmSet and PCR authorization groups end to end:
//! the same raw commands and tpm2-tools runs against vtpm and swtpm (which
//! has no physical-presence signal: PP_Commands is refused there as here
//! without one), and PHYS_PRES_ON over vtpm's mssim platform port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};

mod common;
use common::*;
use vtpm_conformance::raw::{self, b2};

const PLATFORM: u32 = 0x4000_000C;
const OWNER: u32 = 0x4000_0001;
const CC_PP_COMMANDS: u32 = 0x12D;
const CC_PCR_SET_AUTH_POLICY: u32 = 0x12C;
const CC_PCR_SET_AUTH_VALUE: u32 = 0x183;
const CC_SET_ALGORITHM_SET: u32 = 0x13F;
const CC_GET_CAPABILITY: u32 = 0x17A;
const CC_PCR_EVENT: u32 = 0x13C;

fn cc_list(codes: &[u32]) -> Vec<u8> {
    let mut v = (codes.len() as u32).to_be_bytes().to_vec();
    for c in codes {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v
}

/// A one-handle command under the empty password; the response code.
fn pw_rc(s: &TpmServer, cc: u32, handle: u32, params: &[u8]) -> u32 {
    let r = s
        .transact(&raw::auth_cmd(cc, &[handle], &raw::pw_session(), params))
        .unwrap();
    response_code(&r).unwrap()
}

fn get_capability(s: &TpmServer, cap: u32, property: u32, count: u32) -> Vec<u8> {
    let p: Vec<u8> = [cap, property, count]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let r = s.transact(&raw::plain(CC_GET_CAPABILITY, &p)).unwrap();
    assert_eq!(response_code(&r), Some(0), "{}: {}", s.peer.name(), hex(&r));
    r[10..].to_vec()
}

/// The command codes of a TPML_CC capability answer.
fn cc_capability(s: &TpmServer, cap: u32, property: u32) -> Vec<u32> {
    let p = get_capability(s, cap, property, 64);
    assert_eq!(p[0], 0, "moreData");
    let n = u32::from_be_bytes(p[5..9].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| u32::from_be_bytes(p[9 + 4 * i..13 + 4 * i].try_into().unwrap()))
        .collect()
}

fn ioctl_ok(s: &TpmServer, args: &[&str]) {
    let out = s.ioctl(args);
    assert!(out.ok(), "{}: swtpm_ioctl {args:?}: {out}", s.peer.name());
}

/// GetCapability(PP_COMMANDS / AUDIT_COMMANDS / PCR_PROPERTIES / ALGORITHM_SET)
/// answer as libtpms does.
fn capability_lists(peer: Peer) {
    let s = started(&peer);
    let name = peer.name();
    assert_eq!(
        cc_capability(&s, 3, 0),
        vec![CC_PP_COMMANDS],
        "{name}: PP list"
    );
    assert_eq!(cc_capability(&s, 3, CC_PP_COMMANDS + 1), vec![], "{name}");
    assert_eq!(cc_capability(&s, 4, 0), vec![0x140], "{name}: audit list");
    must(
        &s,
        "tpm2_setcommandauditstatus",
        &["-g", "sha256", "TPM2_CC_GetRandom"],
    );
    must(&s, "tpm2_setcommandauditstatus", &["TPM2_CC_PCR_Read"]);
    assert_eq!(cc_capability(&s, 4, 0), vec![0x140, 0x17B, 0x17E], "{name}");
    assert_eq!(cc_capability(&s, 4, 0x141), vec![0x17B, 0x17E], "{name}");
    // TPM_PT_PCR_POLICY and TPM_PT_PCR_AUTH: PCR 20-22, and nothing after.
    let p = get_capability(&s, 7, 0x13, 10);
    assert_eq!(
        hex(&p),
        "00000000070000000200000013030000700000001403000070",
        "{name}"
    );
    // TPM_PT_ALGORITHM_SET follows SetAlgorithmSet.
    assert_eq!(
        hex(&get_capability(&s, 6, 0x20C, 1)[9..]),
        "0000020c00000000",
        "{name}"
    );
    assert_eq!(
        pw_rc(&s, CC_SET_ALGORITHM_SET, PLATFORM, &7u32.to_be_bytes()),
        0
    );
    assert_eq!(
        pw_rc(&s, CC_SET_ALGORITHM_SET, OWNER, &7u32.to_be_bytes()),
        0x184,
        "{name}: TPMI_RH_PLATFORM"
    );
    assert_eq!(
        hex(&get_capability(&s, 6, 0x20C, 1)[9..]),
        "0000020c00000007",
        "{name}"
    );
}

/// Without a physical-presence signal PP_Commands fails with TPM_RC_PP for
/// session 1, and the list does not change; other hierarchies are refused.
fn pp_commands_without_presence(peer: Peer) {
    let s = started(&peer);
    let p = [cc_list(&[0x126]), cc_list(&[])].concat();
    assert_eq!(
        pw_rc(&s, CC_PP_COMMANDS, PLATFORM, &p),
        0x990,
        "{}",
        peer.name()
    );
    assert_eq!(
        pw_rc(&s, CC_PP_COMMANDS, OWNER, &p),
        0x184,
        "{}",
        peer.name()
    );
    assert_eq!(cc_capability(&s, 3, 0), vec![CC_PP_COMMANDS]);
    // Clear is not in the list: platform authorization needs no presence.
    must(&s, "tpm2_clear", &["-c", "p"]);
}

/// PCR_Event on `pcr` at the current locality, authorized by the password
/// `password`; the response code.
fn event_rc(s: &TpmServer, pcr: u32, password: &[u8]) -> u32 {
    let mut auth = raw::RS_PW.to_be_bytes().to_vec();
    auth.extend_from_slice(&b2(&[]));
    auth.push(raw::ATTR_CONTINUE);
    auth.extend_from_slice(&b2(password));
    let r = s
        .transact(&raw::auth_cmd(
            CC_PCR_EVENT,
            &[pcr],
            &auth,
            &b2(b"measured"),
        ))
        .unwrap();
    response_code(&r).unwrap()
}

/// PCR_SetAuthValue on PCR 20 guards the group 20-22 until Startup(CLEAR);
/// PCR 16 is in no group. tpm2-tools run at locality 0, where the group
/// cannot be extended, so the group is driven raw at locality 2.
fn pcr_auth_value(peer: Peer) {
    let s = started(&peer);
    let name = peer.name();
    assert_eq!(
        pw_rc(&s, CC_PCR_SET_AUTH_VALUE, 16, &b2(b"x")),
        0x084,
        "{name}"
    );
    assert_eq!(
        pw_rc(&s, CC_PCR_SET_AUTH_VALUE, 20, &b2(b"secret")),
        0,
        "{name}"
    );
    // tpm2-tools set locality 0 again: the raw commands follow a -l 2.
    let before = read_pcr(&s, "sha256", 22);
    ioctl_ok(&s, &["-l", "2"]);
    assert_eq!(event_rc(&s, 20, b""), 0x9A2, "{name}: no authValue");
    assert_eq!(event_rc(&s, 22, b"secret"), 0, "{name}");
    assert_eq!(
        read_pcr(&s, "sha256", 22),
        extend("sha256", &before, &hash("sha256", b"measured")),
        "{name}"
    );
    ioctl_ok(&s, &["-l", "2"]);
    // Trailing zeros are not significant.
    assert_eq!(event_rc(&s, 20, b"secret\0"), 0, "{name}");
    // Changing the value takes the value.
    assert_eq!(
        pw_rc(&s, CC_PCR_SET_AUTH_VALUE, 21, &b2(b"other")),
        0x9A2,
        "{name}"
    );
    // Outside the group: no authValue (tpm2-tools, locality 0).
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("event.bin");
    std::fs::write(&f, b"measured").unwrap();
    must(&s, "tpm2_pcrevent", &["16", f.to_str().unwrap()]);
    // Startup(CLEAR) empties the group's authValue.
    ioctl_ok(&s, &["-l", "0"]);
    must(&s, "tpm2_shutdown", &["-c"]);
    ioctl_ok(&s, &["-i"]);
    must(&s, "tpm2_startup", &["-c"]);
    ioctl_ok(&s, &["-l", "2"]);
    assert_eq!(event_rc(&s, 20, b""), 0, "{name}: after Startup(CLEAR)");
    assert_eq!(event_rc(&s, 20, b"secret"), 0x9A2, "{name}");
}

/// A policy session (raw, unbound, sha256) with PolicyCommandCode(`cc`), used
/// for PCR_Event on `pcr`; the response code.
fn event_with_policy(s: &TpmServer, pcr: u32, cc: u32) -> u32 {
    let mut start = b2(&[0x33; 16]);
    start.extend_from_slice(&b2(&[]));
    start.push(0x01);
    start.extend_from_slice(&raw::u16s(&[0x0010, 0x000B]));
    let r = s
        .transact(&raw::no_auth_cmd(
            0x176,
            &[0x4000_0007, 0x4000_0007],
            &start,
        ))
        .unwrap();
    assert_eq!(response_code(&r), Some(0), "StartAuthSession {}", hex(&r));
    let (session, _) = raw::split_response(&r, true).unwrap();
    let r = s
        .transact(&raw::no_auth_cmd(0x16C, &[session], &cc.to_be_bytes()))
        .unwrap();
    assert_eq!(response_code(&r), Some(0), "PolicyCommandCode {}", hex(&r));
    // No authValue in the policy: the HMAC is not checked (empty).
    let mut auth = session.to_be_bytes().to_vec();
    auth.extend_from_slice(&b2(&[0x44; 16]));
    auth.push(0);
    auth.extend_from_slice(&b2(&[]));
    let r = s
        .transact(&raw::auth_cmd(
            CC_PCR_EVENT,
            &[pcr],
            &auth,
            &b2(b"measured"),
        ))
        .unwrap();
    let rc = response_code(&r).unwrap();
    if rc != 0 {
        let _ = s.transact(&raw::plain(0x165, &session.to_be_bytes()));
    }
    rc
}

/// PCR_SetAuthPolicy: its refusals, then the group 20-22 is authorized by the
/// policy only (TPM_RC_AUTH_TYPE for a password); the digest set is the one
/// tpm2_policycommandcode computes; a NULL policy gives the authValue back.
fn pcr_auth_policy(peer: Peer) {
    let s = started(&peer);
    let name = peer.name();
    let set = |policy: &[u8], alg: u16, pcr: u32| {
        let mut p = b2(policy);
        p.extend_from_slice(&alg.to_be_bytes());
        p.extend_from_slice(&pcr.to_be_bytes());
        pw_rc(&s, CC_PCR_SET_AUTH_POLICY, PLATFORM, &p)
    };
    // policyDigest of PolicyCommandCode(PCR_Event), by the tool in a trial session.
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("trial.ctx");
    let ctx = ctx.to_str().unwrap();
    let file = dir.path().join("policy.bin");
    let file = file.to_str().unwrap();
    must(&s, "tpm2_startauthsession", &["-S", ctx]);
    must(
        &s,
        "tpm2_policycommandcode",
        &["-S", ctx, "-L", file, "TPM2_CC_PCR_Event"],
    );
    must(&s, "tpm2_flushcontext", &[ctx]);
    let policy = std::fs::read(file).unwrap();
    let mut d = vec![0u8; 32];
    d.extend_from_slice(&0x16Cu32.to_be_bytes());
    d.extend_from_slice(&CC_PCR_EVENT.to_be_bytes());
    assert_eq!(policy, hash("sha256", &d), "{name}: tool digest");
    assert_eq!(
        set(&policy, 0x0B, 16),
        0x3C4,
        "{name}: pcrNum outside a group"
    );
    assert_eq!(set(&policy, 0x0B, 24), 0x3C4, "{name}: TPMI_DH_PCR");
    assert_eq!(set(&policy[..20], 0x0B, 21), 0x1D5, "{name}: size");
    assert_eq!(set(&policy, 0x99, 21), 0x2C3, "{name}: hash");
    assert_eq!(set(&policy, 0x0B, 21), 0, "{name}");
    ioctl_ok(&s, &["-l", "2"]);
    assert_eq!(event_rc(&s, 21, b""), 0x124, "{name}: password refused");
    assert_eq!(event_rc(&s, 16, b""), 0, "{name}: PCR 16 has no policy");
    assert_eq!(event_with_policy(&s, 21, CC_PCR_EVENT), 0, "{name}");
    assert_eq!(
        event_with_policy(&s, 21, 0x182),
        0x99D,
        "{name}: policy for another command"
    );
    assert_eq!(
        event_with_policy(&s, 16, CC_PCR_EVENT),
        0x12F,
        "{name}: no policy outside the group"
    );
    // The policy persists over Startup(CLEAR).
    ioctl_ok(&s, &["-l", "0"]);
    must(&s, "tpm2_shutdown", &["-c"]);
    ioctl_ok(&s, &["-i"]);
    must(&s, "tpm2_startup", &["-c"]);
    ioctl_ok(&s, &["-l", "2"]);
    assert_eq!(event_rc(&s, 22, b""), 0x124, "{name}: after Startup(CLEAR)");
    assert_eq!(set(&[], 0x10, 21), 0, "{name}: NULL policy");
    assert_eq!(event_rc(&s, 22, b""), 0, "{name}");
}

both!(
    capability_lists,
    pp_commands_without_presence,
    pcr_auth_value,
    pcr_auth_policy,
);

fn be(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn read_u32(s: &mut std::net::TcpStream) -> u32 {
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    u32::from_be_bytes(b)
}

/// mssim TPM_SEND_COMMAND at locality 0: the response.
fn send_command(c: &mut std::net::TcpStream, cmd: &[u8]) -> Vec<u8> {
    c.write_all(&[&be(8)[..], &[0], &be(cmd.len() as u32), cmd].concat())
        .unwrap();
    let len = read_u32(c) as usize;
    let mut resp = vec![0u8; len];
    c.read_exact(&mut resp).unwrap();
    assert_eq!(read_u32(c), 0);
    resp
}

/// vtpm only: over mssim, PHYS_PRES_ON lets PP_Commands change the list, and a
/// command put in it then needs presence too.
#[test]
fn mssim_physical_presence_enables_pp_commands() {
    let s = TpmServer::mssim(&vtpm()).unwrap();
    let mut plat = connect(s.port + 1).unwrap();
    let signal = |plat: &mut std::net::TcpStream, cmd: u32| {
        plat.write_all(&be(cmd)).unwrap();
        assert_eq!(read_u32(plat), 0, "platform command {cmd}");
    };
    signal(&mut plat, 1); // POWER_ON
    signal(&mut plat, 11); // NV_ON
    let mut c = connect(s.port).unwrap();
    let rc = |r: &[u8]| response_code(r).unwrap();
    assert_eq!(rc(&send_command(&mut c, &raw::plain(0x144, &[0, 0]))), 0);
    let pp = |c: &mut std::net::TcpStream, set: &[u32], clear: &[u32]| {
        let p = [cc_list(set), cc_list(clear)].concat();
        rc(&send_command(
            c,
            &raw::auth_cmd(CC_PP_COMMANDS, &[PLATFORM], &raw::pw_session(), &p),
        ))
    };
    let list = |c: &mut std::net::TcpStream| {
        let p: Vec<u8> = [3u32, 0, 64].iter().flat_map(|v| v.to_be_bytes()).collect();
        let r = send_command(c, &raw::plain(CC_GET_CAPABILITY, &p));
        assert_eq!(rc(&r), 0);
        hex(&r[19..])
    };
    assert_eq!(pp(&mut c, &[0x126], &[]), 0x990, "without presence");
    signal(&mut plat, 3); // PHYS_PRES_ON
    assert_eq!(pp(&mut c, &[0x126], &[]), 0, "with presence");
    assert_eq!(list(&mut c), "000001260000012d");
    signal(&mut plat, 4); // PHYS_PRES_OFF
    let clear = raw::auth_cmd(0x126, &[PLATFORM], &raw::pw_session(), &[]);
    assert_eq!(
        rc(&send_command(&mut c, &clear)),
        0x990,
        "Clear needs PP now"
    );
    signal(&mut plat, 3);
    assert_eq!(rc(&send_command(&mut c, &clear)), 0, "Clear with presence");
    assert_eq!(pp(&mut c, &[], &[0x126, CC_PP_COMMANDS]), 0);
    assert_eq!(list(&mut c), "0000012d");
}
