//! Enhanced authorization end to end with tpm2-tools: every tpm2_policy* tool's trial digest is
//! compared between vtpm and swtpm (and with the Part 3 formula), and policies are used for real:
//! a PCR-sealed object, PolicyOR across two PCR states, PolicySecret with the owner's password and
//! its ticket, PolicyPassword, PolicyLocality at the wrong locality, PolicySigned with an
//! openssl-made signature (and its ticket through PolicyTicket), PolicyAuthorize of a PCR policy
//! approved by an openssl-signed TPMT_TK_VERIFIED.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

/// A started server; `flush` flushes transient objects and sessions.
fn tpm(peer: &Peer) -> Tpm {
    Work::new(peer).flushes(&["-t", "-s"])
}

const TPM_RC_PCR_CHANGED: u32 = 0x128;
const TPM_RC_VALUE_P1: u32 = 0x1C4;
const TPM_RC_TICKET_P5: u32 = 0x5E0;
const TPM_RC_SIGNATURE_P5: u32 = 0x5DB;

// Command codes hashed into policy digests.
const CC_POLICY_SECRET: u32 = 0x151;
const CC_UNSEAL: u32 = 0x15E;
const CC_POLICY_SIGNED: u32 = 0x160;
const CC_POLICY_AUTHORIZE: u32 = 0x16A;
const CC_POLICY_AUTH_VALUE: u32 = 0x16B;
const CC_POLICY_COUNTER_TIMER: u32 = 0x16D;
const CC_POLICY_CP_HASH: u32 = 0x16E;
const CC_POLICY_LOCALITY: u32 = 0x16F;
const CC_POLICY_NAME_HASH: u32 = 0x170;
const CC_POLICY_OR: u32 = 0x171;
const CC_POLICY_PHYSICAL_PRESENCE: u32 = 0x187;
const CC_POLICY_DUPLICATION_SELECT: u32 = 0x188;
const CC_POLICY_TEMPLATE: u32 = 0x190;

impl Tpm {
    /// A trial session in s.ctx, `tool args` with `-L file`, flushed; returns the digest.
    fn trial(&self, file: &str, tool: &str, args: &[&str]) -> Vec<u8> {
        self.ok("tpm2_startauthsession", &["-S", "s.ctx"]);
        let mut all = vec!["-S", "s.ctx", "-L", file];
        all.extend_from_slice(args);
        self.ok(tool, &all);
        self.flush();
        self.read(file)
    }

    /// A policy session in s.ctx (left loaded) with `steps` run on it in order.
    fn policy_session(&self, steps: &[(&str, &[&str])]) {
        self.ok(
            "tpm2_startauthsession",
            &["-S", "s.ctx", "--policy-session"],
        );
        for (tool, args) in steps {
            let mut all = vec!["-S", "s.ctx"];
            all.extend_from_slice(args);
            self.ok(tool, &all);
        }
    }

    /// An owner primary in prim.ctx and a sealed `secret` under `policy` in seal.ctx; with
    /// `auth`, the object has that password too.
    fn seal(&self, policy: &str, auth: Option<&str>) {
        self.ok("tpm2_createprimary", &["-C", "o", "-c", "prim.ctx"]);
        self.write("secret.txt", b"policy sealed secret");
        let mut args = vec![
            "-C",
            "prim.ctx",
            "-L",
            policy,
            "-i",
            "secret.txt",
            "-u",
            "seal.pub",
            "-r",
            "seal.priv",
        ];
        if let Some(a) = auth {
            args.extend_from_slice(&["-p", a]);
        }
        self.ok("tpm2_create", &args);
        self.flush();
    }

    /// Unseal seal.ctx (loaded fresh) with the authorization `auth`; the sealed data or the
    /// TPM response code.
    fn unseal(&self, auth: &str) -> Result<Vec<u8>, u32> {
        self.load("prim.ctx", "seal");
        let out = self.tools().run(
            "tpm2_unseal",
            &["-c", "seal.ctx", "-p", auth, "-o", "out.bin"],
        );
        let r = if out.ok() {
            Ok(self.read("out.bin"))
        } else {
            Err(tpm_rc(&out.stderr).unwrap_or_else(|| panic!("{}: {out}", self.peer())))
        };
        self.flush();
        r
    }
}

const ZERO: [u8; 32] = [0; 32];

/// TPML_PCR_SELECTION of PCRs in the sha256 bank, as tpm2-tools marshal it (3 select octets).
fn sha256_selection(pcrs: &[u32]) -> Vec<u8> {
    let mut sel = [0u8; 3];
    for p in pcrs {
        sel[*p as usize / 8] |= 1 << (p % 8);
    }
    let mut v = 1u32.to_be_bytes().to_vec();
    v.extend_from_slice(&0x000Bu16.to_be_bytes());
    v.push(3);
    v.extend_from_slice(&sel);
    v
}

/// PolicyPCR over the current sha256 values of `pcrs`.
fn policy_pcr_digest(t: &Tpm, pcrs: &[u32]) -> Vec<u8> {
    let values: Vec<u8> = pcrs
        .iter()
        .flat_map(|p| read_pcr(&t.s, "sha256", *p))
        .collect();
    ext(
        &ZERO,
        CC_POLICY_PCR,
        &[&sha256_selection(pcrs), &sha256(&[&values])],
    )
}

/// Every tpm2_policy* tool on a trial session (policyticket and policyrestart on a policy
/// session): (what, digest the tool printed, digest by the Part 3 formula).
fn tool_digests(peer: &Peer) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let t = tpm(peer);
    let mut v = Vec::new();
    let d = t.trial("pcr.pol", "tpm2_policypcr", &["-l", "sha256:0,1,2"]);
    v.push(("policypcr", d, policy_pcr_digest(&t, &[0, 1, 2])));

    let a = t.trial("auth.pol", "tpm2_policyauthvalue", &[]);
    v.push((
        "policyauthvalue",
        a.clone(),
        ext(&ZERO, CC_POLICY_AUTH_VALUE, &[]),
    ));
    let d = t.trial("pw.pol", "tpm2_policypassword", &[]);
    // PolicyPassword extends with TPM_CC_PolicyAuthValue (Part 3, 23.18).
    v.push(("policypassword", d, ext(&ZERO, CC_POLICY_AUTH_VALUE, &[])));
    let d = t.trial("cc.pol", "tpm2_policycommandcode", &["0x15e"]);
    v.push((
        "policycommandcode",
        d.clone(),
        ext(&ZERO, CC_POLICY_COMMAND_CODE, &[&CC_UNSEAL.to_be_bytes()]),
    ));
    let d = t.trial("or.pol", "tpm2_policyor", &["-l", "sha256:auth.pol,cc.pol"]);
    let mut or = ZERO.to_vec();
    or = ext(&or, CC_POLICY_OR, &[&a, &t.read("cc.pol")]);
    v.push(("policyor", d, or));

    let d = t.trial("loc.pol", "tpm2_policylocality", &["three"]);
    v.push((
        "policylocality",
        d,
        ext(&ZERO, CC_POLICY_LOCALITY, &[&[0x08]]),
    ));

    let d = t.trial("ct.pol", "tpm2_policycountertimer", &["--ult", "60000"]);
    // args = H(operandB || offset || operation): time (offset 0) < 60000, TPM_EO_UNSIGNED_LT.
    let args = sha256(&[
        &60000u64.to_be_bytes(),
        &0u16.to_be_bytes(),
        &5u16.to_be_bytes(),
    ]);
    v.push((
        "policycountertimer",
        d,
        ext(&ZERO, CC_POLICY_COUNTER_TIMER, &[&args]),
    ));

    // tpm2-tools 5.4 has no tpm2_policyphysicalpresence: raw commands on a trial session.
    let h = raw_start_session(&t.s, 0x03);
    assert_eq!(raw_policy(&t.s, 0x187, h, &[]), 0, "{}", t.peer());
    v.push((
        "PolicyPhysicalPresence (raw)",
        raw_policy_digest(&t.s, h),
        ext(&ZERO, CC_POLICY_PHYSICAL_PRESENCE, &[]),
    ));
    t.flush();

    let cp = sha256(&[b"some command"]);
    // The tool reads a TPM2B_DIGEST.
    t.write("cp.bin", &[&32u16.to_be_bytes()[..], &cp].concat());
    let d = t.trial("cp.pol", "tpm2_policycphash", &["--cphash", "cp.bin"]);
    v.push(("policycphash", d, ext(&ZERO, CC_POLICY_CP_HASH, &[&cp])));

    let nh = sha256(&[b"some names"]);
    t.write("nh.bin", &nh);
    let d = t.trial("nh.pol", "tpm2_policynamehash", &["-n", "nh.bin"]);
    v.push(("policynamehash", d, ext(&ZERO, CC_POLICY_NAME_HASH, &[&nh])));

    let obj = [&[0x00, 0x0B][..], &sha256(&[b"object"])].concat();
    let parent = [&[0x00, 0x0B][..], &sha256(&[b"parent"])].concat();
    t.write("obj.name", &obj);
    t.write("parent.name", &parent);
    let d = t.trial(
        "dup.pol",
        "tpm2_policyduplicationselect",
        &["-n", "obj.name", "-N", "parent.name", "--include-object"],
    );
    v.push((
        "policyduplicationselect",
        d,
        ext(&ZERO, CC_POLICY_DUPLICATION_SELECT, &[&obj, &parent, &[1]]),
    ));

    let th = sha256(&[b"a template"]);
    t.write("th.bin", &th);
    let d = t.trial(
        "tpl.pol",
        "tpm2_policytemplate",
        &["--template-hash", "th.bin"],
    );
    v.push(("policytemplate", d, ext(&ZERO, CC_POLICY_TEMPLATE, &[&th])));

    // PolicySecret(owner) = H(H(0 || cc || ownerName) || policyRef).
    let secret = sha256(&[
        &ext(&ZERO, CC_POLICY_SECRET, &[&0x4000_0001u32.to_be_bytes()]),
        b"",
    ]);
    let d = t.trial("sec.pol", "tpm2_policysecret", &["-c", "o"]);
    v.push(("policysecret", d, secret.clone()));

    // PolicyTicket from PolicySecret's ticket gives PolicySecret's digest.
    t.policy_session(&[(
        "tpm2_policysecret",
        &[
            "-c",
            "o",
            "-t",
            "-3600",
            "--ticket",
            "tk.bin",
            "--timeout",
            "to.bin",
        ],
    )]);
    t.flush();
    t.write("owner.name", &0x4000_0001u32.to_be_bytes());
    t.policy_session(&[(
        "tpm2_policyticket",
        &[
            "--timeout",
            "to.bin",
            "--ticket",
            "tk.bin",
            "-n",
            "owner.name",
            "-L",
            "tkt.pol",
        ],
    )]);
    t.flush();
    v.push(("policyticket", t.read("tkt.pol"), secret));

    // PolicyRestart: back to the zero digest.
    t.policy_session(&[
        ("tpm2_policyauthvalue", &[]),
        ("tpm2_policyrestart", &[]),
        ("tpm2_getpolicydigest", &["-o", "restart.pol"]),
    ]);
    t.flush();
    v.push(("policyrestart", t.read("restart.pol"), ZERO.to_vec()));
    v
}

/// Differential: the digests every policy tool prints agree between vtpm and swtpm, and with
/// the formula of Part 3.
#[test]
fn tool_digests_match_swtpm_and_spec() {
    assert_digests_agree(&tool_digests(&vtpm()), &tool_digests(&Peer::Swtpm));
}

/// A PCR-sealed object unseals with the PCRs it was sealed to, not after an extend of one of
/// them (TPM_RC_POLICY_FAIL); a session that checked the PCRs before the extend gets
/// TPM_RC_PCR_CHANGED.
fn pcr_sealed_object(peer: Peer) {
    let t = tpm(&peer);
    t.trial("pcr.pol", "tpm2_policypcr", &["-l", "sha256:0,1,2"]);
    t.seal("pcr.pol", None);
    assert_eq!(
        t.unseal("pcr:sha256:0,1,2").unwrap(),
        b"policy sealed secret",
        "{}",
        t.peer()
    );
    t.policy_session(&[("tpm2_policypcr", &["-l", "sha256:0,1,2"])]);
    t.ok(
        "tpm2_pcrextend",
        &[&format!("1:sha256={}", hex(&[7u8; 32]))],
    );
    assert_eq!(
        t.unseal("session:s.ctx"),
        Err(TPM_RC_PCR_CHANGED),
        "{}",
        t.peer()
    );
    assert_eq!(
        t.unseal("pcr:sha256:0,1,2"),
        Err(TPM_RC_POLICY_FAIL),
        "{}",
        t.peer()
    );
}

/// PolicyOR of two PolicyPCR branches (PCR 23 before and after an extend): the object unseals in
/// both PCR states; in a third state PolicyOR itself refuses (TPM_RC_VALUE, parameter 1).
fn policy_or_two_pcr_states(peer: Peer) {
    let t = tpm(&peer);
    t.trial("a.pol", "tpm2_policypcr", &["-l", "sha256:23"]);
    let extend = format!("23:sha256={}", hex(&[9u8; 32]));
    t.ok("tpm2_pcrextend", &[&extend]);
    t.trial("b.pol", "tpm2_policypcr", &["-l", "sha256:23"]);
    t.trial("or.pol", "tpm2_policyor", &["-l", "sha256:a.pol,b.pol"]);
    t.seal("or.pol", None);
    let branch: &[(&str, &[&str])] = &[
        ("tpm2_policypcr", &["-l", "sha256:23"]),
        ("tpm2_policyor", &["-l", "sha256:a.pol,b.pol"]),
    ];
    // State B.
    t.policy_session(branch);
    assert_eq!(
        t.unseal("session:s.ctx").unwrap(),
        b"policy sealed secret",
        "{}: state B",
        t.peer()
    );
    // State A again (PCR 23 is resettable at locality 0).
    t.ok("tpm2_pcrreset", &["23"]);
    t.policy_session(branch);
    assert_eq!(
        t.unseal("session:s.ctx").unwrap(),
        b"policy sealed secret",
        "{}: state A",
        t.peer()
    );
    // A third state matches neither branch.
    t.ok("tpm2_pcrextend", &[&extend]);
    t.ok("tpm2_pcrextend", &[&extend]);
    t.policy_session(&[("tpm2_policypcr", &["-l", "sha256:23"])]);
    t.fails(
        TPM_RC_VALUE_P1,
        "tpm2_policyor",
        &["-S", "s.ctx", "-l", "sha256:a.pol,b.pol"],
    );
    t.flush();
}

/// PolicySecret with the owner hierarchy's password: the object unseals only after the owner
/// password was proven (a wrong one is TPM_RC_BAD_AUTH); the ticket of a negative expiration
/// stands in for it through PolicyTicket, a forged ticket is TPM_RC_TICKET.
fn policy_secret_owner(peer: Peer) {
    let t = tpm(&peer);
    t.ok("tpm2_changeauth", &["-c", "o", "ownerpw"]);
    t.trial("sec.pol", "tpm2_policysecret", &["-c", "o", "ownerpw"]);
    t.ok(
        "tpm2_createprimary",
        &["-C", "o", "-P", "ownerpw", "-c", "prim.ctx"],
    );
    t.write("secret.txt", b"policy sealed secret");
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "prim.ctx",
            "-L",
            "sec.pol",
            "-i",
            "secret.txt",
            "-u",
            "seal.pub",
            "-r",
            "seal.priv",
        ],
    );
    t.flush();
    t.policy_session(&[("tpm2_policysecret", &["-c", "o", "ownerpw"])]);
    assert_eq!(t.unseal("session:s.ctx").unwrap(), b"policy sealed secret");

    t.ok(
        "tpm2_startauthsession",
        &["-S", "s.ctx", "--policy-session"],
    );
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_policysecret",
        &["-S", "s.ctx", "-c", "o", "wrong"],
    );
    t.flush();

    t.policy_session(&[(
        "tpm2_policysecret",
        &[
            "-c",
            "o",
            "-t",
            "-3600",
            "--ticket",
            "tk.bin",
            "--timeout",
            "to.bin",
            "ownerpw",
        ],
    )]);
    t.flush();
    t.write("owner.name", &0x4000_0001u32.to_be_bytes());
    let ticket = [
        "--timeout",
        "to.bin",
        "--ticket",
        "tk.bin",
        "-n",
        "owner.name",
    ];
    t.policy_session(&[("tpm2_policyticket", &ticket)]);
    assert_eq!(
        t.unseal("session:s.ctx").unwrap(),
        b"policy sealed secret",
        "{}: through the ticket",
        t.peer()
    );
    let mut forged = t.read("tk.bin");
    let last = forged.len() - 1;
    forged[last] ^= 1;
    t.write("tk.bin", &forged);
    t.ok(
        "tpm2_startauthsession",
        &["-S", "s.ctx", "--policy-session"],
    );
    let mut args = vec!["-S", "s.ctx"];
    args.extend_from_slice(&ticket);
    t.fails(TPM_RC_TICKET_P5, "tpm2_policyticket", &args);
    t.flush();
}

/// PolicyPassword: the object's password travels in the clear in the policy session; a wrong
/// one fails.
fn policy_password(peer: Peer) {
    let t = tpm(&peer);
    t.trial("pw.pol", "tpm2_policypassword", &[]);
    t.seal("pw.pol", Some("objpass"));
    t.policy_session(&[("tpm2_policypassword", &[])]);
    assert_eq!(
        t.unseal("session:s.ctx+objpass").unwrap(),
        b"policy sealed secret",
        "{}",
        t.peer()
    );
    t.policy_session(&[("tpm2_policypassword", &[])]);
    let rc = t.unseal("session:s.ctx+nope").unwrap_err();
    // The object is DA-protected: TPM_RC_AUTH_FAIL, session 1.
    assert_eq!(rc, 0x98E, "{}", t.peer());
}

/// PolicyLocality(three): the object unseals at locality 3, not at locality 0. The tools' TCTI
/// puts every command at locality 0, so the session and Unseal are raw commands here.
fn policy_locality(peer: Peer) {
    let t = tpm(&peer);
    t.trial("loc.pol", "tpm2_policylocality", &["three"]);
    t.seal("loc.pol", None);
    t.policy_session(&[("tpm2_policylocality", &["three"])]);
    assert_eq!(
        t.unseal("session:s.ctx"),
        Err(TPM_RC_LOCALITY),
        "{}",
        t.peer()
    );

    t.load("prim.ctx", "seal");
    let out = t.ok("tpm2_getcap", &["handles-transient"]);
    // The parent was loaded first: the sealed object is the last transient.
    let object = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- 0x"))
        .next_back()
        .map(|h| u32::from_str_radix(h.trim(), 16).unwrap())
        .unwrap_or_else(|| panic!("{}: no transient in {out}", t.peer()));
    let session = raw_start_session(&t.s, 0x01);
    assert_eq!(raw_policy(&t.s, 0x16F, session, &[0x08]), 0);
    let ioctl = |l: &str| {
        let out = t.s.ioctl(&["-l", l]);
        assert!(out.ok(), "{}: locality {l}: {out}", t.peer());
    };
    ioctl("2");
    let refused = raw_unseal(&t.s, object, session);
    ioctl("3");
    let unsealed = raw_unseal(&t.s, object, session);
    ioctl("0");
    assert_eq!(
        response_code(&refused),
        Some(TPM_RC_LOCALITY),
        "{}",
        t.peer()
    );
    assert_eq!(
        response_code(&unsealed),
        Some(0),
        "{}: {}",
        t.peer(),
        hex(&unsealed)
    );
    // header, parameterSize, TPM2B outData
    assert_eq!(
        &unsealed[16..16 + 20],
        b"policy sealed secret",
        "{}",
        t.peer()
    );
    t.flush();
}

/// Raw StartAuthSession (unbound, unsalted, no symmetric, sha256) of `kind`; the handle.
fn raw_start_session(s: &TpmServer, kind: u8) -> u32 {
    let mut p = 0x4000_0007u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0x4000_0007u32.to_be_bytes());
    p.extend_from_slice(&16u16.to_be_bytes());
    p.extend_from_slice(&[0x5A; 16]);
    p.extend_from_slice(&0u16.to_be_bytes());
    p.push(kind);
    p.extend_from_slice(&0x0010u16.to_be_bytes());
    p.extend_from_slice(&0x000Bu16.to_be_bytes());
    let resp = s.transact(&command(0x8001, 0x176, &p)).unwrap();
    assert_eq!(
        response_code(&resp),
        Some(0),
        "{}: {}",
        s.peer.name(),
        hex(&resp)
    );
    be_u32(&resp[10..14]).unwrap()
}

/// A raw policy command on `session` without an authorization area; the response code.
fn raw_policy(s: &TpmServer, cc: u32, session: u32, params: &[u8]) -> u32 {
    let mut p = session.to_be_bytes().to_vec();
    p.extend_from_slice(params);
    let resp = s.transact(&command(0x8001, cc, &p)).unwrap();
    response_code(&resp).unwrap()
}

/// Raw PolicyGetDigest.
fn raw_policy_digest(s: &TpmServer, session: u32) -> Vec<u8> {
    let resp = s
        .transact(&command(0x8001, 0x189, &session.to_be_bytes()))
        .unwrap();
    assert_eq!(
        response_code(&resp),
        Some(0),
        "{}: {}",
        s.peer.name(),
        hex(&resp)
    );
    resp[12..].to_vec()
}

/// Raw Unseal of `object` authorized by the unbound, unsalted policy `session` (no authValue in
/// the policy: the HMAC key is empty, so is the HMAC).
fn raw_unseal(s: &TpmServer, object: u32, session: u32) -> Vec<u8> {
    let mut p = object.to_be_bytes().to_vec();
    let mut auth = session.to_be_bytes().to_vec();
    auth.extend_from_slice(&16u16.to_be_bytes());
    auth.extend_from_slice(&[0xA5; 16]);
    auth.push(0x01);
    auth.extend_from_slice(&0u16.to_be_bytes());
    p.extend_from_slice(&(auth.len() as u32).to_be_bytes());
    p.extend_from_slice(&auth);
    s.transact(&command(0x8002, 0x15E, &p)).unwrap()
}

both!(
    pcr_sealed_object,
    policy_or_two_pcr_states,
    policy_secret_owner,
    policy_password,
    policy_locality,
    policy_signed_unseal,
    policy_signed_ticket,
    policy_authorize_unseal,
    policy_authorize_raw_codes,
);

/// One RSA-2048 authority key (PEM) for the whole test binary, so that policies naming it are
/// the same on vtpm and swtpm.
fn authority_pem() -> &'static [u8] {
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl genpkey: {out:?}");
        out.stdout
    })
}

impl Tpm {
    /// The authority's private key in auth.key, its public key loaded with tpm2_loadexternal
    /// (owner hierarchy) in auth.ctx; returns its Name (also in auth.name).
    fn authority(&self) -> Vec<u8> {
        self.write("auth.key", authority_pem());
        self.openssl(&["pkey", "-in", "auth.key", "-pubout", "-out", "auth.pub.pem"]);
        self.ok(
            "tpm2_loadexternal",
            &[
                "-C",
                "o",
                "-G",
                "rsa",
                "-u",
                "auth.pub.pem",
                "-c",
                "auth.ctx",
                "-n",
                "auth.name",
            ],
        );
        self.flush();
        self.read("auth.name")
    }

    /// RSASSA-SHA256 signature of the file `data` by the authority into `sig`.
    fn sign(&self, data: &str, sig: &str) {
        self.openssl(&["dgst", "-sha256", "-sign", "auth.key", "-out", sig, data]);
    }

    /// On the policy session s.ctx: tpm2_policysigned with `extra` (-x, -t ...) and a signature
    /// the authority makes over the aHash input the tool computes (--raw-data).
    fn policy_signed(&self, extra: &[&str], good: bool) -> Result<(), u32> {
        self.policy_signed_with("auth.ctx", extra, good)
    }

    /// [`Tpm::policy_signed`] with the authority's public key loaded as `key`.
    fn policy_signed_with(&self, key: &str, extra: &[&str], good: bool) -> Result<(), u32> {
        let mut raw = vec!["-S", "s.ctx", "-c", key, "--raw-data", "raw.bin"];
        raw.extend_from_slice(extra);
        self.ok("tpm2_policysigned", &raw);
        if !good {
            // The authority signs something else.
            let mut other = self.read("raw.bin");
            other.push(0);
            self.write("raw.bin", &other);
        }
        self.sign("raw.bin", "a.sig");
        let mut args = vec!["-S", "s.ctx", "-c", key, "-g", "sha256", "-s", "a.sig"];
        args.extend_from_slice(&["-f", "rsassa"]);
        args.extend_from_slice(extra);
        let out = self.tools().run("tpm2_policysigned", &args);
        // The tool leaves the key loaded: free the object slots for what follows.
        self.ok("tpm2_flushcontext", &["-t"]);
        if out.ok() {
            Ok(())
        } else {
            Err(tpm_rc(&out.stderr).unwrap_or_else(|| panic!("{}: {out}", self.peer())))
        }
    }
}

/// PolicySigned's digest: H(H(0 || TPM_CC_PolicySigned || keyName) || policyRef).
fn signed_digest(name: &[u8], policy_ref: &[u8]) -> Vec<u8> {
    sha256(&[&ext(&ZERO, CC_POLICY_SIGNED, &[name]), policy_ref])
}

/// PolicyAuthorize's digest: H(H(0 || TPM_CC_PolicyAuthorize || keyName) || policyRef).
fn authorize_digest(name: &[u8], policy_ref: &[u8]) -> Vec<u8> {
    sha256(&[&ext(&ZERO, CC_POLICY_AUTHORIZE, &[name]), policy_ref])
}

/// Trial digests of tpm2_policysigned (with and without a qualification) and
/// tpm2_policyauthorize naming the shared authority: (what, digest, formula).
fn authority_digests(peer: &Peer) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let t = tpm(peer);
    let name = t.authority();
    // A trial session checks no signature, but the tool wants one.
    t.write("zero.bin", &[0; 4]);
    t.sign("zero.bin", "a.sig");
    let signed = [
        "-c", "auth.ctx", "-g", "sha256", "-s", "a.sig", "-f", "rsassa",
    ];
    let d = t.trial("signed.pol", "tpm2_policysigned", &signed);
    let mut v = vec![("policysigned", d, signed_digest(&name, b""))];
    let mut with_ref = signed.to_vec();
    with_ref.extend_from_slice(&["-q", "76657273696f6e31"]);
    let d = t.trial("signed_ref.pol", "tpm2_policysigned", &with_ref);
    v.push(("policysigned -q", d, signed_digest(&name, b"version1")));
    let d = t.trial("authz.pol", "tpm2_policyauthorize", &["-n", "auth.name"]);
    v.push(("policyauthorize", d, authorize_digest(&name, b"")));
    let d = t.trial(
        "authz_ref.pol",
        "tpm2_policyauthorize",
        &["-n", "auth.name", "-q", "76657273696f6e31"],
    );
    v.push((
        "policyauthorize -q",
        d,
        authorize_digest(&name, b"version1"),
    ));
    v
}

/// Differential: PolicySigned / PolicyAuthorize trial digests agree between vtpm and swtpm and
/// with Part 3.
#[test]
fn authority_digests_match_swtpm_and_spec() {
    assert_digests_agree(
        &authority_digests(&vtpm()),
        &authority_digests(&Peer::Swtpm),
    );
}

/// An object sealed to PolicySigned(authority) unseals after the authority signed this session's
/// nonceTPM (the tool's --raw-data, signed by openssl); a signature over other data, or over
/// another session's nonce, is TPM_RC_SIGNATURE (parameter 5). A decrypt-only copy of the key
/// verifies too.
fn policy_signed_unseal(peer: Peer) {
    let t = tpm(&peer);
    let name = t.authority();
    t.write("zero.bin", &[0; 4]);
    t.sign("zero.bin", "a.sig");
    let d = t.trial(
        "signed.pol",
        "tpm2_policysigned",
        &[
            "-c", "auth.ctx", "-g", "sha256", "-s", "a.sig", "-f", "rsassa",
        ],
    );
    assert_eq!(hex(&d), hex(&signed_digest(&name, b"")), "{}", t.peer());
    t.seal("signed.pol", None);

    t.policy_session(&[]);
    t.policy_signed(&["-x"], true).unwrap();
    // aHash input: nonceTPM (16 bytes here) || expiration 0.
    let raw = t.read("raw.bin");
    assert!(
        raw.len() > 4 && raw.ends_with(&[0; 4]),
        "{}: {}",
        t.peer(),
        hex(&raw)
    );
    assert_eq!(
        t.unseal("session:s.ctx").unwrap(),
        b"policy sealed secret",
        "{}",
        t.peer()
    );

    t.policy_session(&[]);
    assert_eq!(
        t.policy_signed(&["-x"], false),
        Err(TPM_RC_SIGNATURE_P5),
        "{}",
        t.peer()
    );
    t.flush();
    // The key's sign attribute is not required (only the holder of the private key can make a
    // signature that verifies), as in the reference: the same key loaded decrypt-only.
    t.ok(
        "tpm2_loadexternal",
        &[
            "-C",
            "o",
            "-G",
            "rsa",
            "-u",
            "auth.pub.pem",
            "-a",
            "decrypt",
            "-c",
            "dec.ctx",
        ],
    );
    let public = t.ok("tpm2_readpublic", &["-c", "dec.ctx"]);
    let attrs = public
        .split_once("attributes:")
        .and_then(|(_, rest)| yaml_value(rest, "value"))
        .unwrap_or_default()
        .to_string();
    assert!(
        attrs.contains("decrypt") && !attrs.contains("sign"),
        "{}: {public}",
        t.peer()
    );
    t.flush();
    t.policy_session(&[]);
    t.policy_signed_with("dec.ctx", &["-x"], true).unwrap();
    t.flush();
    // The signature of one session's nonce does not serve another session.
    t.policy_session(&[]);
    t.ok(
        "tpm2_policysigned",
        &[
            "-S",
            "s.ctx",
            "-c",
            "auth.ctx",
            "-x",
            "--raw-data",
            "raw.bin",
        ],
    );
    t.sign("raw.bin", "old.sig");
    t.flush();
    t.policy_session(&[]);
    t.fails(
        TPM_RC_SIGNATURE_P5,
        "tpm2_policysigned",
        &[
            "-S", "s.ctx", "-c", "auth.ctx", "-x", "-g", "sha256", "-s", "old.sig", "-f", "rsassa",
        ],
    );
    t.flush();
}

/// PolicySigned with a negative expiration returns a TPM_ST_AUTH_SIGNED ticket (owner
/// hierarchy, the key's) and a timeout; tpm2_policyticket replays it in a new session, which
/// then unseals the object sealed to PolicySigned.
fn policy_signed_ticket(peer: Peer) {
    let t = tpm(&peer);
    let name = t.authority();
    t.write("zero.bin", &[0; 4]);
    t.sign("zero.bin", "a.sig");
    t.trial(
        "signed.pol",
        "tpm2_policysigned",
        &[
            "-c", "auth.ctx", "-g", "sha256", "-s", "a.sig", "-f", "rsassa",
        ],
    );
    t.seal("signed.pol", None);
    t.policy_session(&[]);
    let expiring = [
        "-x",
        "-t",
        "-600",
        "--ticket",
        "tk.bin",
        "--timeout",
        "to.bin",
    ];
    t.policy_signed(&expiring, true).unwrap();
    t.ok("tpm2_getpolicydigest", &["-S", "s.ctx", "-o", "got.pol"]);
    assert_eq!(hex(&t.read("got.pol")), hex(&signed_digest(&name, b"")));
    t.flush();
    let ticket = t.read("tk.bin");
    assert_eq!(&ticket[..6], &[0x80, 0x25, 0x40, 0, 0, 1], "{}", t.peer());
    assert_eq!(t.read("to.bin").len(), 8, "{}", t.peer());
    let replay = [
        "--timeout",
        "to.bin",
        "--ticket",
        "tk.bin",
        "-n",
        "auth.name",
    ];
    t.policy_session(&[("tpm2_policyticket", &replay)]);
    assert_eq!(
        t.unseal("session:s.ctx").unwrap(),
        b"policy sealed secret",
        "{}: through the PolicySigned ticket",
        t.peer()
    );
}

/// An object sealed to PolicyAuthorize(authority) unseals through any policy the authority
/// approved: a PCR policy signed with openssl, tpm2_verifysignature's ticket, then
/// tpm2_policyauthorize. An unapproved policy is refused (TPM_RC_VALUE on the ticket,
/// parameter 4), as is the approved one once the current digest is not it (parameter 1).
fn policy_authorize_unseal(peer: Peer) {
    let t = tpm(&peer);
    t.authority();
    t.trial("authz.pol", "tpm2_policyauthorize", &["-n", "auth.name"]);
    t.seal("authz.pol", None);
    t.ok("tpm2_pcrreset", &["23"]);
    t.trial("pcr.pol", "tpm2_policypcr", &["-l", "sha256:23"]);
    t.trial("pw.pol", "tpm2_policypassword", &[]);
    t.sign("pcr.pol", "pcr.sig");
    t.ok(
        "tpm2_verifysignature",
        &[
            "-c", "auth.ctx", "-g", "sha256", "-m", "pcr.pol", "-s", "pcr.sig", "-f", "rsassa",
            "-t", "pcr.tkt",
        ],
    );
    t.flush();
    assert_eq!(&t.read("pcr.tkt")[..6], &[0x80, 0x22, 0x40, 0, 0, 1]);
    let authorize = ["-i", "pcr.pol", "-n", "auth.name", "-t", "pcr.tkt"];
    t.policy_session(&[
        ("tpm2_policypcr", &["-l", "sha256:23"]),
        ("tpm2_policyauthorize", &authorize),
    ]);
    assert_eq!(
        t.unseal("session:s.ctx").unwrap(),
        b"policy sealed secret",
        "{}: through the approved PCR policy",
        t.peer()
    );

    // PolicyPassword was not approved: the PCR policy's ticket does not vouch for it.
    t.policy_session(&[("tpm2_policypassword", &[])]);
    t.fails(
        TPM_RC_VALUE_P4,
        "tpm2_policyauthorize",
        &[
            "-S",
            "s.ctx",
            "-i",
            "pw.pol",
            "-n",
            "auth.name",
            "-t",
            "pcr.tkt",
        ],
    );
    t.flush();
    // After PCR 23 changed, the session's digest is no longer the approved policy.
    t.ok(
        "tpm2_pcrextend",
        &[&format!("23:sha256={}", hex(&[3u8; 32]))],
    );
    t.policy_session(&[("tpm2_policypcr", &["-l", "sha256:23"])]);
    let mut args = vec!["-S", "s.ctx"];
    args.extend_from_slice(&authorize);
    t.fails(TPM_RC_VALUE_P1, "tpm2_policyauthorize", &args);
    t.flush();
}

/// PolicyAuthorize's refusals as raw commands, with their positions: keySign must be a Name of a
/// known hash of the right size (checked in trial sessions too), the ticket must be a
/// TPMT_TK_VERIFIED; in a policy session approvedPolicy must be the current digest and a NULL
/// ticket never verifies.
fn policy_authorize_raw_codes(peer: Peer) {
    let t = tpm(&peer);
    let b2 = |v: &[u8]| [&(v.len() as u16).to_be_bytes()[..], v].concat();
    let ticket = |tag: u16| {
        [
            &tag.to_be_bytes()[..],
            &0x4000_0007u32.to_be_bytes(),
            &[0, 0],
        ]
        .concat()
    };
    let name = [&[0x00, 0x0B][..], &sha256(&[b"a key"])].concat();
    let params = |approved: &[u8], key: &[u8], tag: u16| {
        [&b2(approved)[..], &b2(b""), &b2(key), &ticket(tag)].concat()
    };
    let trial = raw_start_session(&t.s, 0x03);
    let bad_hash = [&[0x00, 0x99][..], &name[2..]].concat();
    let bad_size = [&[0x00, 0x04][..], &name[2..]].concat();
    let cases: [(&[u8], u16, u32); 4] = [
        (&bad_hash, 0x8022, 0x3C3),
        (&bad_size, 0x8022, 0x3D5),
        (&0x4000_0001u32.to_be_bytes(), 0x8022, 0x3C3),
        (&name, 0x8024, 0x4D7),
    ];
    for (key, tag, want) in cases {
        let got = raw_policy(&t.s, 0x16A, trial, &params(&ZERO, key, tag));
        assert_eq!(got, want, "{}: keySign {} tag {tag:#x}", t.peer(), hex(key));
    }
    assert_eq!(
        raw_policy(&t.s, 0x16A, trial, &params(&ZERO, &name, 0x8022)),
        0
    );
    assert_eq!(
        hex(&raw_policy_digest(&t.s, trial)),
        hex(&authorize_digest(&name, b"")),
        "{}",
        t.peer()
    );
    let session = raw_start_session(&t.s, 0x01);
    let other = sha256(&[b"not the current digest"]);
    let got = raw_policy(&t.s, 0x16A, session, &params(&other, &name, 0x8022));
    assert_eq!(got, TPM_RC_VALUE_P1, "{}", t.peer());
    let got = raw_policy(&t.s, 0x16A, session, &params(&ZERO, &name, 0x8022));
    assert_eq!(got, TPM_RC_VALUE_P4, "{}: NULL ticket", t.peer());
    t.flush();
}
