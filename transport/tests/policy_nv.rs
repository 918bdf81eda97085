//! NV policies and NV_Certify end to end with tpm2-tools, against vtpm and swtpm (`both!`):
//! tpm2_policynv / tpm2_policynvwritten / tpm2_policyauthorizenv trial digests agree between
//! the two and with the Part 3 formulas; a PolicyNV-sealed object unseals only while the index
//! holds the right value; a write-once index (PolicyNvWritten); a policy kept in NV and replaced
//! without re-sealing (PolicyAuthorizeNV); tpm2_nvcertify statements verified with openssl;
//! tpm2_nvundefine -S of a POLICY_DELETE index whose policy is PolicyCommandCode + PolicySecret.
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

const TPM_RC_POLICY: u32 = 0x126;

const CC_POLICY_NV: u32 = 0x149;
const CC_NV_WRITE: u32 = 0x137;
const CC_POLICY_NV_WRITTEN: u32 = 0x18F;
const CC_POLICY_AUTHORIZE_NV: u32 = 0x192;

const IDX: &str = "0x1500030";
const ZERO: [u8; 32] = [0; 32];

impl Tpm {
    /// A trial session with `steps` run on it, the last one writing `file`; the digest.
    fn trial(&self, file: &str, steps: &[(&str, &[&str])]) -> Vec<u8> {
        self.ok("tpm2_startauthsession", &["-S", "s.ctx"]);
        for (i, (tool, args)) in steps.iter().enumerate() {
            let mut all = vec!["-S", "s.ctx"];
            if i + 1 == steps.len() {
                all.extend_from_slice(&["-L", file]);
            }
            all.extend_from_slice(args);
            self.ok(tool, &all);
        }
        self.flush();
        self.read(file)
    }

    /// A policy session in s.ctx (left loaded) with `steps` run on it; the first failure's code.
    fn policy_session(&self, steps: &[(&str, &[&str])]) -> Result<(), u32> {
        self.ok(
            "tpm2_startauthsession",
            &["-S", "s.ctx", "--policy-session"],
        );
        for (tool, args) in steps {
            let mut all = vec!["-S", "s.ctx"];
            all.extend_from_slice(args);
            self.try_run(tool, &all)?;
        }
        Ok(())
    }

    /// An owner primary in prim.ctx and a secret sealed under `policy` (seal.pub/.priv).
    fn seal(&self, policy: &str) {
        self.ok("tpm2_createprimary", &["-C", "o", "-c", "prim.ctx"]);
        self.write("secret.txt", b"nv policy secret");
        self.ok(
            "tpm2_create",
            &[
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
            ],
        );
        self.flush();
    }

    /// Unseal with the policy session in s.ctx; the data or the TPM code. Flushes all after.
    fn unseal(&self) -> Result<Vec<u8>, u32> {
        self.load("prim.ctx", "seal");
        let r = self
            .try_run(
                "tpm2_unseal",
                &["-c", "seal.ctx", "-p", "session:s.ctx", "-o", "out.bin"],
            )
            .map(|_| self.read("out.bin"));
        self.flush();
        r
    }

    /// tpm2_nvwrite of `data` at offset 0 under `auth` (-C).
    fn nvwrite(&self, index: &str, auth: &str, data: &[u8]) {
        self.write("nv.bin", data);
        self.ok("tpm2_nvwrite", &[index, "-C", auth, "-i", "nv.bin"]);
    }

    /// The Name of an index, from tpm2_nvreadpublic.
    fn nv_name(&self, index: &str) -> Vec<u8> {
        let out = self.ok("tpm2_nvreadpublic", &[index]);
        unhex(yaml_value(&out, "name").unwrap_or_else(|| panic!("no name in {out}"))).unwrap()
    }
}

/// PolicyNV from a zero digest (Part 3, 23.9).
fn nv_digest(name: &[u8], operand: &[u8], offset: u16, op: u16) -> Vec<u8> {
    let args = sha256(&[operand, &offset.to_be_bytes(), &op.to_be_bytes()]);
    ext(&ZERO, CC_POLICY_NV, &[&args, name])
}

const DATA: [u8; 8] = [0x00, 0x00, 0x80, 0x01, 0xF0, 0x0F, 0x00, 0x10];

/// tpm2_policynv, tpm2_policynvwritten and tpm2_policyauthorizenv on trial sessions:
/// (what, digest the tool wrote, digest by the formula).
fn trial_digests(peer: &Peer) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let t = tpm(peer);
    t.nvdefine(IDX, "o", 8, "ownerread|ownerwrite", &[]);
    t.nvwrite(IDX, "o", &DATA);
    let name = t.nv_name(IDX);
    t.write("op.bin", &[0x80, 0x00]);
    let ops = [
        "eq", "neq", "sgt", "ugt", "slt", "ult", "sge", "uge", "sle", "ule", "bs", "bc",
    ];
    let mut v = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let file = format!("{op}.pol");
        let d = t.trial(
            &file,
            &[(
                "tpm2_policynv",
                &["-C", "o", "-i", "op.bin", "--offset", "2", IDX, op],
            )],
        );
        v.push((
            format!("policynv {op}"),
            d,
            nv_digest(&name, &[0x80, 0x00], 2, i as u16),
        ));
    }
    for (arg, byte) in [("s", 1u8), ("c", 0)] {
        let d = t.trial("w.pol", &[("tpm2_policynvwritten", &[arg])]);
        v.push((
            format!("policynvwritten {arg}"),
            d,
            ext(&ZERO, CC_POLICY_NV_WRITTEN, &[&[byte]]),
        ));
    }
    let d = t.trial("a.pol", &[("tpm2_policyauthorizenv", &["-C", "o", IDX])]);
    v.push((
        "policyauthorizenv".into(),
        d,
        ext(&ZERO, CC_POLICY_AUTHORIZE_NV, &[&name]),
    ));
    v
}

/// Differential: the NV policy tools' trial digests agree between vtpm and swtpm and with
/// the formulas of Part 3.
#[test]
fn trial_digests_match_swtpm_and_spec() {
    assert_digests_agree(&trial_digests(&vtpm()), &trial_digests(&Peer::Swtpm));
}

/// An object sealed to PolicyNV(eq 0x0010 at offset 6) unseals while the index holds that
/// value; with another value PolicyNV itself refuses (TPM_RC_POLICY), and a session without
/// it does not satisfy the object's policy (TPM_RC_POLICY_FAIL).
fn policynv_sealed_object(peer: Peer) {
    let t = tpm(&peer);
    t.nvdefine(IDX, "o", 8, "ownerread|ownerwrite|authread|authwrite", &[]);
    t.nvwrite(IDX, "o", &DATA);
    t.write("want.bin", &[0x00, 0x10]);
    let nv_step: &[&str] = &["-C", "o", "-i", "want.bin", "--offset", "6", IDX, "eq"];
    let policy = t.trial("nv.pol", &[("tpm2_policynv", nv_step)]);
    assert_eq!(
        policy,
        nv_digest(&t.nv_name(IDX), &[0x00, 0x10], 6, 0),
        "{}",
        t.peer()
    );
    t.seal("nv.pol");
    t.policy_session(&[("tpm2_policynv", nv_step)]).unwrap();
    assert_eq!(t.unseal().unwrap(), b"nv policy secret", "{}", t.peer());

    // The index authorizes its own read too (AUTHREAD, empty password).
    let own: &[&str] = &["-i", "want.bin", "--offset", "6", IDX, "eq"];
    t.policy_session(&[("tpm2_policynv", own)]).unwrap();
    assert_eq!(t.unseal().unwrap(), b"nv policy secret", "{}", t.peer());

    let mut other = DATA;
    other[7] = 0x11;
    t.nvwrite(IDX, "o", &other);
    assert_eq!(
        t.policy_session(&[("tpm2_policynv", nv_step)]),
        Err(TPM_RC_POLICY),
        "{}",
        t.peer()
    );
    t.flush();
    t.policy_session(&[]).unwrap();
    assert_eq!(t.unseal(), Err(TPM_RC_POLICY_FAIL), "{}", t.peer());

    // The value back: unseals again.
    t.nvwrite(IDX, "o", &DATA);
    t.policy_session(&[("tpm2_policynv", nv_step)]).unwrap();
    assert_eq!(t.unseal().unwrap(), b"nv policy secret", "{}", t.peer());
}

/// A write-once index: its policy is PolicyNvWritten(clear) + PolicyCommandCode(NV_Write);
/// the first write succeeds, the second is refused (TPM_RC_POLICY_FAIL) and the data stays.
fn policynvwritten_write_once(peer: Peer) {
    let t = tpm(&peer);
    let steps: &[(&str, &[&str])] = &[
        ("tpm2_policynvwritten", &["c"]),
        ("tpm2_policycommandcode", &["TPM2_CC_NV_Write"]),
    ];
    let policy = t.trial("once.pol", steps);
    assert_eq!(
        policy,
        ext(
            &ext(&ZERO, CC_POLICY_NV_WRITTEN, &[&[0]]),
            CC_POLICY_COMMAND_CODE,
            &[&CC_NV_WRITE.to_be_bytes()]
        ),
        "{}",
        t.peer()
    );
    t.nvdefine(IDX, "o", 4, "policywrite|ownerread", &["-L", "once.pol"]);
    t.write("first.bin", b"once");
    t.write("second.bin", b"more");
    t.policy_session(steps).unwrap();
    t.ok(
        "tpm2_nvwrite",
        &[IDX, "-i", "first.bin", "-P", "session:s.ctx"],
    );
    t.flush();
    t.policy_session(steps).unwrap();
    t.fails(
        TPM_RC_POLICY_FAIL,
        "tpm2_nvwrite",
        &[IDX, "-i", "second.bin", "-P", "session:s.ctx"],
    );
    t.flush();
    t.ok("tpm2_nvread", &[IDX, "-C", "o", "-s", "4", "-o", "out.bin"]);
    assert_eq!(t.read("out.bin"), b"once", "{}", t.peer());
}

/// The approved policy lives in an NV index (a TPMT_HA): a secret sealed to
/// PolicyAuthorizeNV unseals under a PolicyPCR policy; after PCR 23 moves that policy no
/// longer matches the index (TPM_RC_VALUE), and writing the new PolicyPCR digest into the
/// index makes the same sealed object unseal again, without re-sealing.
fn policyauthorizenv_replaced_policy(peer: Peer) {
    let t = tpm(&peer);
    t.nvdefine(IDX, "o", 34, "authread|authwrite", &[]);
    let pcr_step: &[&str] = &["-l", "sha256:23"];
    let approve = |t: &Tpm| {
        let d = t.trial("pcr.pol", &[("tpm2_policypcr", pcr_step)]);
        let values = read_pcr(&t.s, "sha256", 23);
        let sel = [0, 0, 0, 1, 0, 0x0B, 3, 0, 0, 0x80];
        assert_eq!(
            d,
            ext(&ZERO, CC_POLICY_PCR, &[&sel, &sha256(&[&values])]),
            "{}",
            t.peer()
        );
        // The index authorizes its own write (AUTHWRITE, empty password).
        t.nvwrite(IDX, IDX, &[&[0x00, 0x0B][..], &d].concat());
    };
    approve(&t);
    let authorized = t.trial(
        "authnv.pol",
        &[("tpm2_policyauthorizenv", &["-C", IDX, IDX])],
    );
    assert_eq!(
        authorized,
        ext(&ZERO, CC_POLICY_AUTHORIZE_NV, &[&t.nv_name(IDX)]),
        "{}",
        t.peer()
    );
    t.seal("authnv.pol");
    let steps: &[(&str, &[&str])] = &[
        ("tpm2_policypcr", pcr_step),
        ("tpm2_policyauthorizenv", &["-C", IDX, IDX]),
    ];
    t.policy_session(steps).unwrap();
    assert_eq!(t.unseal().unwrap(), b"nv policy secret", "{}", t.peer());

    t.ok(
        "tpm2_pcrextend",
        &[&format!("23:sha256={}", hex(&[5u8; 32]))],
    );
    assert_eq!(t.policy_session(steps), Err(TPM_RC_VALUE), "{}", t.peer());
    t.flush();
    approve(&t);
    t.policy_session(steps).unwrap();
    assert_eq!(t.unseal().unwrap(), b"nv policy secret", "{}", t.peer());
}

/// tpm2_nvcertify with an ECDSA key: the TPMS_ATTEST names the index, the offset and the
/// contents certified, carries the qualification, and openssl verifies the signature.
fn nvcertify_verified_with_openssl(peer: Peer) {
    let t = tpm(&peer);
    t.ok(
        "tpm2_createprimary",
        &[
            "-C",
            "o",
            "-G",
            "ecc256:ecdsa-sha256",
            "-a",
            "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign",
            "-c",
            "sign.ctx",
        ],
    );
    t.ok(
        "tpm2_readpublic",
        &["-c", "sign.ctx", "-f", "pem", "-o", "sign.pem"],
    );
    t.nvdefine(IDX, "o", 16, "ownerread|ownerwrite", &[]);
    let data: Vec<u8> = (0x40..0x50).collect();
    t.nvwrite(IDX, "o", &data);
    let name = t.nv_name(IDX);
    for (size, offset) in [("16", "0"), ("5", "3")] {
        t.ok(
            "tpm2_nvcertify",
            &[
                "-C",
                "sign.ctx",
                "-c",
                "o",
                "-g",
                "sha256",
                "-f",
                "plain",
                "-o",
                "sig.bin",
                "--attestation",
                "attest.bin",
                "-q",
                "cafe01",
                "--size",
                size,
                "--offset",
                offset,
                IDX,
            ],
        );
        let attest = t.read("attest.bin");
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify", "sign.pem", "-signature"])
            .arg(t.path("sig.bin"))
            .arg(t.path("attest.bin"))
            .current_dir(t.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: openssl: {}{}",
            t.peer(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // magic, TPM_ST_ATTEST_NV, qualifiedSigner, extraData, clockInfo, firmwareVersion.
        assert_eq!(
            attest[..6],
            [0xff, 0x54, 0x43, 0x47, 0x80, 0x14],
            "{}",
            t.peer()
        );
        let mut rest = &attest[6..];
        let b2 = |rest: &mut &[u8]| {
            let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let v = rest[2..2 + n].to_vec();
            *rest = &rest[2 + n..];
            v
        };
        b2(&mut rest);
        assert_eq!(b2(&mut rest), [0xca, 0xfe, 0x01], "{}", t.peer());
        rest = &rest[17 + 8..];
        assert_eq!(b2(&mut rest), name, "{}", t.peer());
        let (size, offset): (usize, usize) = (size.parse().unwrap(), offset.parse().unwrap());
        assert_eq!(rest[..2], (offset as u16).to_be_bytes(), "{}", t.peer());
        rest = &rest[2..];
        assert_eq!(b2(&mut rest), data[offset..offset + size], "{}", t.peer());
        assert!(rest.is_empty(), "{}", t.peer());
        // Without a resource manager each run leaves the key loaded.
        t.flush();
    }
}

/// tpm2_nvundefine -S of a platform POLICY_DELETE index whose policy is
/// PolicyCommandCode(NV_UndefineSpaceSpecial) + PolicySecret(owner): refused without the
/// PolicySecret (TPM_RC_POLICY_FAIL), done with it.
fn nvundefine_policy_secret(peer: Peer) {
    let t = tpm(&peer);
    let cc: &[&str] = &["TPM2_CC_NV_UndefineSpaceSpecial"];
    t.trial(
        "delete.pol",
        &[
            ("tpm2_policycommandcode", cc),
            ("tpm2_policysecret", &["-c", "o"]),
        ],
    );
    let pidx = "0x1400030";
    t.nvdefine(
        pidx,
        "p",
        8,
        "ppread|ppwrite|platformcreate|policydelete",
        &["-L", "delete.pol"],
    );
    t.policy_session(&[("tpm2_policycommandcode", cc)]).unwrap();
    t.fails(
        TPM_RC_POLICY_FAIL,
        "tpm2_nvundefine",
        &[pidx, "-C", "p", "-S", "s.ctx"],
    );
    t.flush();
    t.policy_session(&[
        ("tpm2_policycommandcode", cc),
        ("tpm2_policysecret", &["-c", "o"]),
    ])
    .unwrap();
    t.ok("tpm2_nvundefine", &[pidx, "-C", "p", "-S", "s.ctx"]);
    t.fails(0x18B, "tpm2_nvreadpublic", &[pidx]);
}

both!(
    policynv_sealed_object,
    policynvwritten_write_once,
    policyauthorizenv_replaced_policy,
    nvcertify_verified_with_openssl,
    nvundefine_policy_secret,
);

// Raw differential: the same command bytes to vtpm and swtpm.

const RAW_IDX: u32 = 0x0150_0040;
const RAW_POLICY: u32 = 0x0150_0041;
const RAW_SHORT: u32 = 0x0150_0042;

/// A command with `handles` and `n` empty password sessions, then `params`.
fn pw_cmd(cc: u32, handles: &[u32], n: usize, params: &[u8]) -> Vec<u8> {
    let mut p: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
    let one = [&RS_PW.to_be_bytes()[..], &[0, 0, 1, 0, 0]].concat();
    p.extend_from_slice(&((one.len() * n) as u32).to_be_bytes());
    for _ in 0..n {
        p.extend_from_slice(&one);
    }
    p.extend_from_slice(params);
    command(0x8002, cc, &p)
}

fn raw_define(index: u32, attributes: u32, size: u16) -> Vec<u8> {
    let mut public = index.to_be_bytes().to_vec();
    public.extend_from_slice(&0x000Bu16.to_be_bytes());
    public.extend_from_slice(&attributes.to_be_bytes());
    public.extend_from_slice(&b2(&[]));
    public.extend_from_slice(&size.to_be_bytes());
    pw_cmd(0x12A, &[RH_OWNER], 1, &[b2(&[]), b2(&public)].concat())
}

fn raw_write(index: u32, data: &[u8]) -> Vec<u8> {
    pw_cmd(
        CC_NV_WRITE,
        &[RH_OWNER, index],
        1,
        &[b2(data), vec![0, 0]].concat(),
    )
}

fn raw_session(s: &TpmServer, kind: u8, alg: u16) -> u32 {
    let mut p = RH_NULL.to_be_bytes().to_vec();
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    p.extend_from_slice(&b2(&[0x5A; 16]));
    p.extend_from_slice(&b2(&[]));
    p.push(kind);
    p.extend_from_slice(&0x0010u16.to_be_bytes());
    p.extend_from_slice(&alg.to_be_bytes());
    let resp = s.transact(&command(0x8001, 0x176, &p)).unwrap();
    assert_eq!(response_code(&resp), Some(0), "{}", s.peer.name());
    be_u32(&resp[10..14]).unwrap()
}

fn policy_nv_params(operand: &[u8], offset: u16, op: u16) -> Vec<u8> {
    [
        b2(operand),
        offset.to_be_bytes().to_vec(),
        op.to_be_bytes().to_vec(),
    ]
    .concat()
}

/// NV_Certify parameters: no qualifyingData, TPM_ALG_NULL scheme, size, offset.
fn certify_params(size: u16, offset: u16) -> Vec<u8> {
    [
        vec![0, 0, 0, 0x10],
        size.to_be_bytes().to_vec(),
        offset.to_be_bytes().to_vec(),
    ]
    .concat()
}

/// The script on one peer: (step, response code, what of the answer must agree).
fn raw_script(peer: &Peer) -> Vec<(String, u32, Vec<u8>)> {
    let s = started(peer);
    let mut v = Vec::new();
    let mut step = |what: &str, cmd: Vec<u8>, keep: &dyn Fn(&[u8]) -> Vec<u8>| {
        // libtpms answers TPM_RC_RETRY to the first authorization of a DA-protected
        // entity after Startup (it records daUsed first): send again, as a TSS would.
        let mut resp = s.transact(&cmd).unwrap();
        for _ in 0..5 {
            if response_code(&resp) != Some(0x922) {
                break;
            }
            resp = s.transact(&cmd).unwrap();
        }
        let rc = response_code(&resp).unwrap();
        let kept = if rc == 0 { keep(&resp) } else { Vec::new() };
        v.push((what.to_string(), rc, kept));
    };
    let none = |_: &[u8]| Vec::new();
    let read_stclear = 1 << 31;
    step(
        "define",
        raw_define(RAW_IDX, 0x0002_0002 | read_stclear, 8),
        &none,
    );
    step(
        "define policy",
        raw_define(RAW_POLICY, 0x0006_0006, 34),
        &none,
    );
    step(
        "define short",
        raw_define(RAW_SHORT, 0x0002_0002, 10),
        &none,
    );
    let ps = raw_session(&s, 1, 0x000B);
    let trial = raw_session(&s, 3, 0x000B);
    let sha1 = raw_session(&s, 1, 0x0004);
    let digest = |resp: &[u8]| resp[10..].to_vec();
    let get = |h: u32| command(0x8001, 0x189, &h.to_be_bytes());
    let nv = |auth: u32, index: u32, session: u32, params: Vec<u8>| {
        pw_cmd(CC_POLICY_NV, &[auth, index, session], 1, &params)
    };
    let p = policy_nv_params(&[0], 0, 0);
    step(
        "policynv unwritten",
        nv(RH_OWNER, RAW_IDX, ps, p.clone()),
        &none,
    );
    step(
        "policynv unwritten trial",
        nv(RH_OWNER, RAW_IDX, trial, p.clone()),
        &none,
    );
    step("trial digest", get(trial), &digest);
    step("write", raw_write(RAW_IDX, &DATA), &none);
    for (what, params) in [
        ("operation 0xC", policy_nv_params(&[0], 0, 0xC)),
        ("offset past the data", policy_nv_params(&[], 9, 0)),
        ("operand past the data", policy_nv_params(&[0, 0, 0], 6, 0)),
        ("false", policy_nv_params(&[1], 0, 0)),
    ] {
        step(what, nv(RH_OWNER, RAW_IDX, ps, params), &none);
    }
    step(
        "platform reads",
        nv(RH_PLATFORM, RAW_IDX, ps, p.clone()),
        &none,
    );
    step(
        "index without authread",
        nv(RAW_IDX, RAW_IDX, ps, p.clone()),
        &none,
    );
    step(
        "no such index",
        nv(RH_OWNER, RAW_IDX + 9, ps, p.clone()),
        &none,
    );
    for op in 0..12u16 {
        step(
            &format!("op {op}"),
            nv(
                RH_OWNER,
                RAW_IDX,
                trial,
                policy_nv_params(&[0x80, 0x01], 2, op),
            ),
            &none,
        );
    }
    step("trial digest after every op", get(trial), &digest);
    step(
        "op eq holds",
        nv(RH_OWNER, RAW_IDX, ps, policy_nv_params(&DATA[2..4], 2, 0)),
        &none,
    );
    step("policy digest", get(ps), &digest);

    let written = |h: u32, v: u8| {
        command(
            0x8001,
            CC_POLICY_NV_WRITTEN,
            &[&h.to_be_bytes()[..], &[v]].concat(),
        )
    };
    step("nvwritten 2", written(ps, 2), &none);
    step("nvwritten 1", written(ps, 1), &none);
    step("nvwritten 1 again", written(ps, 1), &none);
    step("nvwritten 0", written(ps, 0), &none);
    step("policy digest", get(ps), &digest);

    let anv = |auth: u32, index: u32, session: u32| {
        pw_cmd(CC_POLICY_AUTHORIZE_NV, &[auth, index, session], 1, &[])
    };
    step(
        "authorizenv unwritten",
        anv(RH_OWNER, RAW_POLICY, ps),
        &none,
    );
    step("authorizenv trial", anv(RH_OWNER, RAW_POLICY, trial), &none);
    step("trial digest", get(trial), &digest);
    step(
        "write unknown hash",
        raw_write(RAW_POLICY, &[0x12, 0x34]),
        &none,
    );
    step(
        "authorizenv unknown hash",
        anv(RH_OWNER, RAW_POLICY, ps),
        &none,
    );
    step(
        "write sha256 entry",
        raw_write(RAW_POLICY, &[&[0x00, 0x0B][..], &[7; 32]].concat()),
        &none,
    );
    step(
        "authorizenv sha1 session",
        anv(RH_OWNER, RAW_POLICY, sha1),
        &none,
    );
    step(
        "authorizenv other digest",
        anv(RH_OWNER, RAW_POLICY, ps),
        &none,
    );
    step(
        "authorizenv platform",
        anv(RH_PLATFORM, RAW_POLICY, ps),
        &none,
    );
    step(
        "write short",
        raw_write(RAW_SHORT, &[0x00, 0x0B, 1, 2, 3, 4, 5, 6]),
        &none,
    );
    step("authorizenv short", anv(RH_OWNER, RAW_SHORT, ps), &none);
    step(
        "policy restart",
        command(0x8001, 0x180, &ps.to_be_bytes()),
        &none,
    );
    step(
        "write zero digest",
        raw_write(RAW_POLICY, &[&[0x00, 0x0B][..], &ZERO].concat()),
        &none,
    );
    step("authorizenv approves", anv(RH_OWNER, RAW_POLICY, ps), &none);
    step("policy digest", get(ps), &digest);

    // NV_Certify, unsigned: the attested part (after the 39-octet header of a TPMS_ATTEST
    // whose signer is TPM_RH_NULL and extraData empty) and the signature must agree.
    let certify =
        |auth: u32, index: u32, params: Vec<u8>| pw_cmd(0x184, &[RH_NULL, auth, index], 2, &params);
    let attested = |resp: &[u8]| {
        let n = usize::from(u16::from_be_bytes([resp[14], resp[15]]));
        let attest = &resp[16..16 + n];
        [&attest[4..6], &attest[39..], &resp[16 + n..resp.len() - 10]].concat()
    };
    step(
        "certify range",
        certify(RH_OWNER, RAW_IDX, certify_params(3, 2)),
        &attested,
    );
    step(
        "certify digest",
        certify(RH_OWNER, RAW_IDX, certify_params(0, 0)),
        &attested,
    );
    step(
        "certify offset only",
        certify(RH_OWNER, RAW_IDX, certify_params(0, 8)),
        &attested,
    );
    step(
        "certify past the end",
        certify(RH_OWNER, RAW_IDX, certify_params(4, 5)),
        &none,
    );
    step(
        "certify platform",
        certify(RH_PLATFORM, RAW_IDX, certify_params(1, 0)),
        &none,
    );
    step(
        "certify no index",
        certify(RH_OWNER, RAW_IDX + 9, certify_params(1, 0)),
        &none,
    );
    step(
        "define unwritten",
        raw_define(RAW_IDX + 5, 0x0002_0002, 8),
        &none,
    );
    step(
        "certify unwritten",
        certify(RH_OWNER, RAW_IDX + 5, certify_params(1, 0)),
        &none,
    );
    step(
        "read lock",
        pw_cmd(0x14F, &[RH_OWNER, RAW_IDX], 1, &[]),
        &none,
    );
    step(
        "certify read-locked",
        certify(RH_OWNER, RAW_IDX, certify_params(1, 0)),
        &none,
    );
    step(
        "policynv read-locked",
        nv(RH_OWNER, RAW_IDX, ps, p.clone()),
        &none,
    );
    v
}

/// Differential: codes of every refusal, digests and unsigned NV_Certify statements agree
/// between vtpm and swtpm.
#[test]
fn raw_codes_match_swtpm() {
    let ours = raw_script(&vtpm());
    let theirs = raw_script(&Peer::Swtpm);
    assert_eq!(ours.len(), theirs.len());
    for ((what, rc, kept), (_, want_rc, want_kept)) in ours.iter().zip(&theirs) {
        assert_eq!(rc, want_rc, "{what}: vtpm {rc:#x}, swtpm {want_rc:#x}");
        assert_eq!(hex(kept), hex(want_kept), "{what}: answers differ");
    }
}
