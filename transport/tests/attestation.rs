//! Attestation and clock commands driven by tpm2-tools, on vtpm and on swtpm: tpm2_quote with
//! RSA and ECC attestation keys checked by tpm2_checkquote (PCR digest and nonce; tampered PCR
//! values and a wrong nonce refused), tpm2_certify and tpm2_gettime verified with openssl,
//! tpm2_certifycreation (and its ticket check), tpm2_setclock / tpm2_clockrateadjust; and the
//! response codes of malformed attestation and clock commands, as raw bytes (the same on both);
//! CertifyX509: self-signed certificates openssl verifies, the same addedToCertificate and
//! tbsDigest as swtpm for the same key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

mod common;
use common::*;

/// An AK: a restricted signing key.
const AK_ATTRS: &str = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign";

impl Tpm {
    /// An owner primary (primary.ctx) and an AK of `alg` under it: ak.ctx, ak.pem.
    fn ak(&self, alg: &str) {
        self.ok(
            "tpm2_createprimary",
            &["-C", "o", "-g", "sha256", "-G", "ecc", "-c", "primary.ctx"],
        );
        self.ok(
            "tpm2_create",
            &[
                "-C",
                "primary.ctx",
                "-G",
                alg,
                "-a",
                AK_ATTRS,
                "-u",
                "ak.pub",
                "-r",
                "ak.priv",
            ],
        );
        self.load("primary.ctx", "ak");
        self.ok(
            "tpm2_readpublic",
            &["-c", "ak.ctx", "-f", "pem", "-o", "ak.pem"],
        );
    }

    /// openssl accepts `sig` (plain format) as ak.pem's signature of `data`.
    fn openssl_verifies(&self, sig: &str, data: &str) {
        let out = Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "ak.pem",
                "-signature",
                sig,
                data,
            ])
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: openssl rejects {sig} over {data}: {}",
            self.peer(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// TPMS_ATTEST: magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion, then the
/// attested part (returned with the type and extraData).
fn parse_attest(a: &[u8]) -> (u16, Vec<u8>, Vec<u8>) {
    assert_eq!(&a[..4], &[0xff, 0x54, 0x43, 0x47], "TPM_GENERATED_VALUE");
    let kind = u16::from_be_bytes([a[4], a[5]]);
    let mut i = 6;
    let b2 = |i: &mut usize| {
        let n = usize::from(u16::from_be_bytes([a[*i], a[*i + 1]]));
        let v = a[*i + 2..*i + 2 + n].to_vec();
        *i += 2 + n;
        v
    };
    b2(&mut i);
    let extra = b2(&mut i);
    i += 17 + 8;
    (kind, extra, a[i..].to_vec())
}

fn quote_and_checkquote(alg: &str, peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ak(alg);
    t.ok(
        "tpm2_pcrextend",
        &[&format!("16:sha256={}", hex(&hash("sha256", b"q")))],
    );
    t.ok(
        "tpm2_quote",
        &[
            "-c",
            "ak.ctx",
            "-l",
            "sha256:0,1,16",
            "-q",
            "1122334455",
            "-m",
            "quote.msg",
            "-s",
            "quote.sig",
            "-o",
            "quote.pcrs",
            "-g",
            "sha256",
        ],
    );
    fn check(nonce: &str) -> Vec<&str> {
        vec![
            "-u",
            "ak.pem",
            "-m",
            "quote.msg",
            "-s",
            "quote.sig",
            "-f",
            "quote.pcrs",
            "-g",
            "sha256",
            "-q",
            nonce,
        ]
    }
    t.ok("tpm2_checkquote", &check("1122334455"));
    // The statement: a quote, the nonce, and H(PCR 0 || PCR 1 || PCR 16).
    let msg = t.read("quote.msg");
    let (kind, extra, attested) = parse_attest(&msg);
    assert_eq!(kind, 0x8018);
    assert_eq!(extra, [0x11, 0x22, 0x33, 0x44, 0x55]);
    let values: Vec<u8> = [0, 1, 16]
        .iter()
        .flat_map(|p| read_pcr(&t.s, "sha256", *p))
        .collect();
    assert_eq!(&attested[attested.len() - 32..], hash("sha256", &values));

    // Another nonce: refused.
    t.failed("tpm2_checkquote", &check("1122334466"));
    // A PCR value changed in the tool's PCR file: the digest no longer matches.
    let pcr16 = read_pcr(&t.s, "sha256", 16);
    let mut pcrs = t.read("quote.pcrs");
    let at = pcrs
        .windows(32)
        .position(|w| w == pcr16.as_slice())
        .expect("PCR 16 in the PCR file");
    pcrs[at] ^= 1;
    std::fs::write(t.path("quote.pcrs"), &pcrs).unwrap();
    t.failed("tpm2_checkquote", &check("1122334455"));
}

fn quote_rsa(peer: Peer) {
    quote_and_checkquote("rsa2048:rsassa-sha256:null", peer);
}

fn quote_ecc(peer: Peer) {
    quote_and_checkquote("ecc256:ecdsa-sha256:null", peer);
}

fn quote_openssl_and_pcr_change(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ak("ecc256:ecdsa-sha256:null");
    let q = |m: &str, s: &str| {
        t.ok(
            "tpm2_quote",
            &[
                "-c",
                "ak.ctx",
                "-l",
                "sha256:23",
                "-q",
                "abcd",
                "-m",
                m,
                "-s",
                s,
                "-f",
                "plain",
                "-g",
                "sha256",
            ],
        );
        t.openssl_verifies(s, m);
        parse_attest(&t.read(m)).2
    };
    let before = q("q1.msg", "q1.sig");
    t.ok(
        "tpm2_pcrextend",
        &[&format!("23:sha256={}", hex(&hash("sha256", b"x")))],
    );
    let after = q("q2.msg", "q2.sig");
    assert_ne!(before, after, "{}: pcrDigest follows PCR 23", t.peer());
    let pcr23 = read_pcr(&t.s, "sha256", 23);
    assert_eq!(&after[after.len() - 32..], hash("sha256", &pcr23));
}

fn certify(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ak("ecc256:ecdsa-sha256:null");
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "primary.ctx",
            "-G",
            "ecc256",
            "-u",
            "k.pub",
            "-r",
            "k.priv",
        ],
    );
    t.ok(
        "tpm2_load",
        &[
            "-C",
            "primary.ctx",
            "-u",
            "k.pub",
            "-r",
            "k.priv",
            "-c",
            "k.ctx",
            "-n",
            "k.name",
        ],
    );
    t.ok(
        "tpm2_certify",
        &[
            "-c", "k.ctx", "-C", "ak.ctx", "-g", "sha256", "-o", "att.bin", "-s", "sig.bin", "-f",
            "plain",
        ],
    );
    t.openssl_verifies("sig.bin", "att.bin");
    let (kind, _, attested) = parse_attest(&t.read("att.bin"));
    assert_eq!(kind, 0x8017);
    // TPMS_CERTIFY_INFO: the Name, then the Qualified Name.
    let name = t.read("k.name");
    assert_eq!(&attested[2..2 + name.len()], name.as_slice());
    assert_eq!(attested.len(), 2 + name.len() + 2 + 34);
}

fn certify_creation(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ak("rsa2048:rsassa-sha256:null");
    for k in ["a", "b"] {
        t.ok(
            "tpm2_create",
            &[
                "-C",
                "primary.ctx",
                "-G",
                "ecc256",
                "-u",
                &format!("{k}.pub"),
                "-r",
                &format!("{k}.priv"),
                "-d",
                &format!("{k}.hash"),
                "-t",
                &format!("{k}.ticket"),
            ],
        );
    }
    let cc = |ticket: &str| -> Output {
        t.load("primary.ctx", "a");
        let out = t.tools().run(
            "tpm2_certifycreation",
            &[
                "-C",
                "ak.ctx",
                "-c",
                "a.ctx",
                "-d",
                "a.hash",
                "-t",
                ticket,
                "-g",
                "sha256",
                "-f",
                "plain",
                "-s",
                "rsassa",
                "-o",
                "sig.bin",
                "--attestation",
                "att.bin",
            ],
        );
        t.flush();
        out
    };
    let out = cc("a.ticket");
    assert!(out.ok(), "{}: certifycreation: {out}", t.peer());
    t.openssl_verifies("sig.bin", "att.bin");
    let (kind, _, attested) = parse_attest(&t.read("att.bin"));
    assert_eq!(kind, 0x801A);
    // TPMS_CREATION_INFO ends with the creation hash.
    let creation_hash = t.read("a.hash");
    assert_eq!(
        &attested[attested.len() - creation_hash.len()..],
        creation_hash.as_slice()
    );
    // b's ticket does not vouch for a's creation hash: TPM_RC_TICKET, parameter 4.
    let out = cc("b.ticket");
    assert!(!out.ok(), "{}: certifycreation with b's ticket", t.peer());
    assert!(
        out.stderr.contains("0x4e0") || out.stderr.contains("0x000004e0"),
        "{}: {out}",
        t.peer()
    );
}

fn gettime(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ak("ecc256:ecdsa-sha256:null");
    let get = |att: &str, sig: &str| {
        t.ok(
            "tpm2_gettime",
            &[
                "-c",
                "ak.ctx",
                "-q",
                "cafe",
                "-o",
                sig,
                "--attestation",
                att,
                "-f",
                "plain",
            ],
        );
        t.openssl_verifies(sig, att);
        let (kind, extra, attested) = parse_attest(&t.read(att));
        assert_eq!((kind, extra), (0x8019, vec![0xCA, 0xFE]));
        // TPMS_TIME_ATTEST_INFO: time, clock, resetCount, restartCount, safe, firmwareVersion.
        assert_eq!(attested.len(), 8 + 8 + 4 + 4 + 1 + 8);
        let time = u64::from_be_bytes(attested[..8].try_into().unwrap());
        let clock = u64::from_be_bytes(attested[8..16].try_into().unwrap());
        (time, clock)
    };
    let (t1, c1) = get("a1.bin", "s1.bin");
    std::thread::sleep(std::time::Duration::from_millis(600));
    let (t2, c2) = get("a2.bin", "s2.bin");
    assert!(t2 >= t1 + 500, "{}: time {t1} -> {t2}", t.peer());
    assert!(c2 >= c1 + 500, "{}: clock {c1} -> {c2}", t.peer());
}

fn clock_of(t: &Tpm) -> u64 {
    let out = t.ok("tpm2_readclock", &[]);
    yaml_value(&out, "clock")
        .unwrap_or_else(|| panic!("clock in {out}"))
        .parse()
        .unwrap()
}

fn setclock_and_rate(peer: Peer) {
    let t = Tpm::flushing(&peer);
    let c0 = clock_of(&t);
    let target = c0 + 10_000_000;
    t.ok("tpm2_setclock", &[&target.to_string()]);
    let c1 = clock_of(&t);
    assert!(
        c1 >= target && c1 < target + 5_000,
        "{}: {c1} after {target}",
        t.peer()
    );
    // Backwards: TPM_RC_VALUE, parameter 1; the clock stays.
    let out = t.failed("tpm2_setclock", &[&(c0 / 2).to_string()]);
    assert!(
        out.stderr.to_lowercase().contains("0x1c4"),
        "{}: {out}",
        t.peer()
    );
    assert!(clock_of(&t) >= c1);
    // The platform may set it too.
    t.ok(
        "tpm2_setclock",
        &["-c", "p", &(target + 50_000).to_string()],
    );
    assert!(clock_of(&t) >= target + 50_000);
    for r in ["s", "ss", "sss", "f", "ff", "fff"] {
        t.ok("tpm2_clockrateadjust", &[r]);
    }
    t.ok("tpm2_clockrateadjust", &["-c", "p", "s"]);
    // The clock still runs at about the nominal rate (one fine step slower).
    let a = clock_of(&t);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let b = clock_of(&t);
    assert!(b >= a + 400 && b < a + 5_000, "{}: {a} -> {b}", t.peer());
}

// ---- raw bytes: the response codes of malformed commands ----

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// A command whose first `sessions` handles take empty password sessions.
fn auth_cmd(cc: u32, handles: &[u32], sessions: usize, params: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
    let mut area = Vec::new();
    for _ in 0..sessions {
        area.extend_from_slice(&RS_PW.to_be_bytes());
        area.extend_from_slice(&[0, 0, 0x01, 0, 0]);
    }
    body.extend_from_slice(&u32::try_from(area.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&area);
    body.extend_from_slice(params);
    command(0x8002, cc, &body)
}

/// An ECC P-256 primary in the owner hierarchy with `attrs` and `scheme`: its handle, and
/// (creationHash, TPMT_TK_CREATION) as returned.
fn raw_primary(s: &TpmServer, attrs: u32, scheme: &[u16]) -> (u32, Vec<u8>, Vec<u8>) {
    let decrypt = attrs & (1 << 17) != 0;
    let mut public = u16s(&[0x0023, 0x000B]);
    public.extend_from_slice(&attrs.to_be_bytes());
    public.extend_from_slice(&b2(&[]));
    public.extend_from_slice(&u16s(if decrypt {
        &[0x0006, 128, 0x0043]
    } else {
        &[0x0010]
    }));
    public.extend_from_slice(&u16s(scheme));
    public.extend_from_slice(&u16s(&[0x0003, 0x0010]));
    public.extend_from_slice(&b2(&[]));
    public.extend_from_slice(&b2(&[]));
    create_primary(s, &public)
}

/// An RSA-2048 signing primary with `scheme`.
fn raw_rsa_primary(s: &TpmServer, attrs: u32, scheme: &[u16]) -> u32 {
    let mut public = u16s(&[0x0001, 0x000B]);
    public.extend_from_slice(&attrs.to_be_bytes());
    public.extend_from_slice(&b2(&[]));
    public.extend_from_slice(&u16s(&[0x0010]));
    public.extend_from_slice(&u16s(scheme));
    public.extend_from_slice(&u16s(&[2048]));
    public.extend_from_slice(&0u32.to_be_bytes());
    public.extend_from_slice(&b2(&[]));
    create_primary(s, &public).0
}

/// CreatePrimary in the owner hierarchy from a TPMT_PUBLIC.
fn create_primary(s: &TpmServer, public: &[u8]) -> (u32, Vec<u8>, Vec<u8>) {
    let mut p = b2(&[b2(&[]), b2(&[])].concat());
    p.extend_from_slice(&b2(public));
    p.extend_from_slice(&b2(&[]));
    p.extend_from_slice(&0u32.to_be_bytes());
    let r = s.transact(&auth_cmd(0x131, &[RH_OWNER], 1, &p)).unwrap();
    assert_eq!(response_code(&r), Some(0), "{}: {}", s.peer.name(), hex(&r));
    let handle = u32::from_be_bytes(r[10..14].try_into().unwrap());
    // handle, parameterSize, outPublic, creationData, creationHash, creationTicket, name
    let mut i = 18;
    let skip = |i: &mut usize| {
        let n = usize::from(u16::from_be_bytes([r[*i], r[*i + 1]]));
        *i += 2 + n;
    };
    skip(&mut i);
    skip(&mut i);
    let hash_at = i;
    skip(&mut i);
    let creation_hash = r[hash_at + 2..i].to_vec();
    let ticket_at = i;
    i += 6;
    skip(&mut i);
    (handle, creation_hash, r[ticket_at..i].to_vec())
}

/// The response code of `cmd`; TPM_RC_RETRY (swtpm answers it now and then to a signing
/// command) is retried, as a TSS does.
fn code(s: &TpmServer, cmd: &[u8]) -> u32 {
    for _ in 0..5 {
        let rc = response_code(&s.transact(cmd).unwrap()).unwrap();
        if rc != 0x922 {
            return rc;
        }
    }
    panic!("{}: TPM_RC_RETRY five times", s.peer.name())
}

fn raw_response_codes(peer: Peer) {
    let s = started(&peer);
    let name = peer.name();
    const AK: u32 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 16) | (1 << 18);
    const DEC: u32 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 16) | (1 << 17);
    let (ak, hash, ticket) = raw_primary(&s, AK, &[0x0018, 0x000B]);
    let sel = |size: u8, alg: u16| {
        let mut v = 1u32.to_be_bytes().to_vec();
        v.extend_from_slice(&alg.to_be_bytes());
        v.push(size);
        v.extend(std::iter::repeat_n(0u8, usize::from(size)));
        v[7] = 1;
        v
    };
    let quote = |key: u32, nonce: &[u8], scheme: &[u16], selection: &[u8]| {
        let mut p = b2(nonce);
        p.extend_from_slice(&u16s(scheme));
        p.extend_from_slice(selection);
        code(&s, &auth_cmd(0x158, &[key], 1, &p))
    };
    let cases: Vec<(&str, u32, u32)> = vec![
        ("quote", quote(ak, &[], &[0x0010], &sel(3, 0x000B)), 0),
        (
            "quote 66-byte nonce",
            quote(ak, &[1; 66], &[0x0010], &sel(3, 0x000B)),
            0,
        ),
        (
            "quote 66-byte nonce again",
            quote(ak, &[1; 66], &[0x0010], &sel(3, 0x000B)),
            0,
        ),
        (
            "quote scheme hash",
            quote(ak, &[], &[0x0018, 0x0004], &sel(3, 0x000B)),
            0x2D2,
        ),
        (
            "quote scheme",
            quote(ak, &[], &[0x0014, 0x000B], &sel(3, 0x000B)),
            0x2D2,
        ),
        (
            "quote qualifyingData",
            quote(ak, &[1; 67], &[0x0010], &sel(3, 0x000B)),
            0x1D5,
        ),
        (
            "quote sizeofSelect 4",
            quote(ak, &[], &[0x0010], &sel(4, 0x000B)),
            0x3C4,
        ),
        (
            "quote SM3 bank",
            quote(ak, &[], &[0x0010], &sel(3, 0x0012)),
            0x3C3,
        ),
        (
            "quote TPM_RH_NULL",
            quote(RH_NULL, &[], &[0x0010], &sel(3, 0x000B)),
            0x2D2,
        ),
    ];
    let mut failures = Vec::new();
    for (what, got, want) in cases {
        if got != want {
            failures.push(format!("{what}: {got:#x}, want {want:#x}"));
        }
    }
    // A decryption key cannot sign.
    let (dec, _, _) = raw_primary(&s, DEC, &[0x0010]);
    let got = quote(dec, &[], &[0x0010], &sel(3, 0x000B));
    if got != 0x19C {
        failures.push(format!("quote with a decryption key: {got:#x}, want 0x19c"));
    }
    let certify = |object: u32, signer: u32, scheme: &[u16]| {
        let mut p = b2(&[]);
        p.extend_from_slice(&u16s(scheme));
        code(&s, &auth_cmd(0x148, &[object, signer], 2, &p))
    };
    for (what, got, want) in [
        ("certify", certify(dec, ak, &[0x0010]), 0),
        (
            "certify unsigned",
            certify(dec, RH_NULL, &[0x0014, 0x000B]),
            0,
        ),
        (
            "certify by a decryption key",
            certify(ak, dec, &[0x0010]),
            0x29C,
        ),
        ("certify scheme", certify(ak, ak, &[0x0018, 0x0004]), 0x2D2),
    ] {
        if got != want {
            failures.push(format!("{what}: {got:#x}, want {want:#x}"));
        }
    }
    // CertifyCreation of the AK itself, with its own creation ticket.
    let cc = |hash: &[u8], scheme: &[u16], ticket: &[u8]| {
        let mut p = b2(b"q");
        p.extend_from_slice(&b2(hash));
        p.extend_from_slice(&u16s(scheme));
        p.extend_from_slice(ticket);
        code(&s, &auth_cmd(0x14A, &[ak, ak], 1, &p))
    };
    let mut wrong_tag = ticket.clone();
    wrong_tag[1] = 0x24;
    let mut bad_hierarchy = ticket.clone();
    bad_hierarchy[2..6].copy_from_slice(&RS_PW.to_be_bytes());
    let mut other_hierarchy = ticket.clone();
    other_hierarchy[2..6].copy_from_slice(&0x4000_000Bu32.to_be_bytes());
    let other_hash = vec![0x5A; hash.len()];
    for (what, got, want) in [
        ("certifycreation", cc(&hash, &[0x0010], &ticket), 0),
        (
            "certifycreation hash",
            cc(&other_hash, &[0x0010], &ticket),
            0x4E0,
        ),
        (
            "certifycreation hierarchy",
            cc(&hash, &[0x0010], &other_hierarchy),
            0x4E0,
        ),
        (
            "certifycreation tag",
            cc(&hash, &[0x0010], &wrong_tag),
            0x4D7,
        ),
        (
            "certifycreation bad hierarchy",
            cc(&hash, &[0x0010], &bad_hierarchy),
            0x4C4,
        ),
        (
            "certifycreation scheme first",
            cc(&other_hash, &[0x0018, 0x0004], &ticket),
            0x3D2,
        ),
        (
            "certifycreation creationHash",
            cc(&[0; 65], &[0x0010], &ticket),
            0x2D5,
        ),
    ] {
        if got != want {
            failures.push(format!("{what}: {got:#x}, want {want:#x}"));
        }
    }
    // GetTime: endorsement, then the signer.
    let gettime = |signer: u32, scheme: &[u16]| {
        let mut p = b2(&[]);
        p.extend_from_slice(&u16s(scheme));
        code(&s, &auth_cmd(0x14C, &[0x4000_000B, signer], 2, &p))
    };
    let clock_set = |auth: u32, v: u64| code(&s, &auth_cmd(0x128, &[auth], 1, &v.to_be_bytes()));
    let rate = |v: u8| code(&s, &auth_cmd(0x130, &[RH_OWNER], 1, &[v]));
    for (what, got, want) in [
        ("gettime", gettime(ak, &[0x0010]), 0),
        (
            "gettime by a decryption key",
            gettime(dec, &[0x0010]),
            0x29C,
        ),
        ("gettime scheme", gettime(ak, &[0x0018, 0x0004]), 0x2D2),
        ("clockset backwards", clock_set(RH_OWNER, 1), 0x1C4),
        (
            "clockset too large",
            clock_set(RH_OWNER, 0xFFFF_0000_0000_0001),
            0x1C4,
        ),
        (
            "clockset by endorsement",
            clock_set(0x4000_000B, u64::MAX),
            0x184,
        ),
        ("clockrateadjust +3", rate(3), 0),
        ("clockrateadjust -3", rate(0xFD), 0),
        ("clockrateadjust 4", rate(4), 0x1C4),
        ("clockrateadjust -4", rate(0xFC), 0x1C4),
    ] {
        if got != want {
            failures.push(format!("{what}: {got:#x}, want {want:#x}"));
        }
    }
    assert!(failures.is_empty(), "{name}: {failures:#?}");
}

// ---- CertifyX509: a self-signed certificate that openssl accepts ----

fn der(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let mut v = vec![tag];
    match body.len() {
        n if n < 0x80 => v.push(n as u8),
        n if n < 0x100 => v.extend_from_slice(&[0x81, n as u8]),
        n => v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    v.extend_from_slice(&body);
    v
}

/// The elements inside one DER element.
fn der_children(seq: &[u8]) -> Vec<Vec<u8>> {
    fn header_and_len(input: &[u8]) -> (usize, usize) {
        match input[1] {
            n if n < 0x80 => (2, usize::from(n)),
            0x81 => (3, usize::from(input[2])),
            _ => (4, usize::from(u16::from_be_bytes([input[2], input[3]]))),
        }
    }
    let (h, n) = header_and_len(seq);
    assert_eq!(h + n, seq.len());
    let mut rest = &seq[h..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (h, n) = header_and_len(rest);
        out.push(rest[..h + n].to_vec());
        rest = &rest[h + n..];
    }
    out
}

fn x509_name(cn: &str) -> Vec<u8> {
    let atv = der(
        0x30,
        &[
            &[0x06, 0x03, 0x55, 0x04, 0x03],
            &der(0x0C, &[cn.as_bytes()]),
        ],
    );
    der(0x30, &[&der(0x31, &[&atv])])
}

/// CertifyX509 of `key` by itself; the certificate assembled from the partial certificate,
/// addedToCertificate and the signature must be one openssl parses and verifies.
fn self_signed(s: &TpmServer, dir: &std::path::Path, key: u32, ecc: bool) {
    let name = x509_name("vtpm CertifyX509");
    let validity = der(
        0x30,
        &[
            &der(0x17, &[b"250101000000Z"]),
            &der(0x18, &[b"20991231235959Z"]),
        ],
    );
    // keyUsage digitalSignature | keyCertSign; basicConstraints CA:TRUE.
    let key_usage = der(
        0x30,
        &[
            &[0x06, 0x03, 0x55, 0x1D, 0x0F, 0x01, 0x01, 0xFF],
            &der(0x04, &[&[0x03, 0x02, 0x02, 0x84]]),
        ],
    );
    let basic = der(
        0x30,
        &[
            &[0x06, 0x03, 0x55, 0x1D, 0x13, 0x01, 0x01, 0xFF],
            &der(0x04, &[&der(0x30, &[&[0x01, 0x01, 0xFF]])]),
        ],
    );
    let extensions = der(0xA3, &[&der(0x30, &[&key_usage, &basic])]);
    let partial = der(0x30, &[&name, &validity, &name, &extensions]);
    let mut p = b2(&[]);
    p.extend_from_slice(&u16s(&[0x0010]));
    p.extend_from_slice(&b2(&partial));
    let r = s.transact(&auth_cmd(0x197, &[key, key], 2, &p)).unwrap();
    assert_eq!(response_code(&r), Some(0), "CertifyX509: {}", hex(&r));
    let out = &r[14..];
    let n = usize::from(u16::from_be_bytes([out[0], out[1]]));
    let added = &out[2..2 + n];
    let rest = &out[2 + n..];
    let m = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let signature = &rest[2 + m..];
    let parts = der_children(added);
    let [version, serial, algorithm, spki] = &parts[..] else {
        panic!("addedToCertificate: {}", hex(added));
    };
    let tbs = der(
        0x30,
        &[
            version,
            serial,
            algorithm,
            &name,
            &validity,
            &name,
            spki,
            &extensions,
        ],
    );
    let tbs_digest = &rest[2..2 + m];
    assert_eq!(tbs_digest, hash("sha256", &tbs), "tbsDigest");
    // TPMT_SIGNATURE -> the X.509 signature value.
    let b2_at = |at: usize| {
        let n = usize::from(u16::from_be_bytes([signature[at], signature[at + 1]]));
        (signature[at + 2..at + 2 + n].to_vec(), at + 2 + n)
    };
    let value = if ecc {
        let (r, next) = b2_at(4);
        let (s, _) = b2_at(next);
        let int = |v: &[u8]| {
            let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
            if v[0] & 0x80 != 0 {
                der(0x02, &[&[0], &v])
            } else {
                der(0x02, &[&v])
            }
        };
        der(0x30, &[&int(&r), &int(&s)])
    } else {
        b2_at(4).0
    };
    let cert = der(0x30, &[&tbs, algorithm, &der(0x03, &[&[0], &value])]);
    std::fs::write(dir.join("cert.der"), &cert).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    openssl(&[
        "x509", "-inform", "DER", "-in", "cert.der", "-out", "cert.pem",
    ]);
    let text = openssl(&["x509", "-in", "cert.pem", "-noout", "-text"]);
    assert!(text.contains("CN=vtpm CertifyX509") || text.contains("CN = vtpm CertifyX509"));
    let verified = openssl(&["verify", "-CAfile", "cert.pem", "cert.pem"]);
    assert!(verified.contains("cert.pem: OK"), "{verified}");
}

fn certify_x509(peer: Peer) {
    let s = started(&peer);
    let dir = tempfile::tempdir().unwrap();
    const SIGNER: u32 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 18);
    let (ecc, _, _) = raw_primary(&s, SIGNER, &[0x0018, 0x000B]);
    // An empty partial certificate: no issuer, validity, subject or extensions.
    let mut p = b2(&[]);
    p.extend_from_slice(&u16s(&[0x0010]));
    p.extend_from_slice(&b2(&[0x30, 0x00]));
    assert_eq!(code(&s, &auth_cmd(0x197, &[ecc, ecc], 2, &p)), 0x3C4);
    self_signed(&s, dir.path(), ecc, true);
    let rsa = raw_rsa_primary(&s, SIGNER, &[0x0014, 0x000B]);
    self_signed(&s, dir.path(), rsa, false);
    let pss = raw_rsa_primary(&s, SIGNER, &[0x0016, 0x000B]);
    self_signed(&s, dir.path(), pss, false);
}

/// A partial certificate: issuer, validity, subject and the extensions holding `ext`.
fn partial_with(ext: &[&[u8]]) -> Vec<u8> {
    let name = x509_name("p");
    let validity = der(
        0x30,
        &[
            &der(0x17, &[b"250101000000Z"]),
            &der(0x17, &[b"350101000000Z"]),
        ],
    );
    der(
        0x30,
        &[&name, &validity, &name, &der(0xA3, &[&der(0x30, ext)])],
    )
}

/// An extension whose value is the BIT STRING `bits`.
fn bits_ext(oid: &[u8], bits: &[u8]) -> Vec<u8> {
    der(0x30, &[oid, &der(0x04, &[bits])])
}

const OID_KU: &[u8] = &[0x06, 0x03, 0x55, 0x1D, 0x0F];
const OID_TPMA: &[u8] = &[0x06, 0x07, 0x67, 0x81, 0x05, 0x0A, 0x01, 0x01, 0x01];

fn certify_x509_codes(peer: Peer) {
    let s = started(&peer);
    const SIGNER: u32 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 18);
    let (key, _, _) = raw_primary(&s, SIGNER, &[0x0018, 0x000B]);
    // A keyed-hash signing key.
    let mut public = u16s(&[0x0008, 0x000B]);
    public.extend_from_slice(&SIGNER.to_be_bytes());
    public.extend_from_slice(&b2(&[]));
    public.extend_from_slice(&u16s(&[0x0005, 0x000B]));
    public.extend_from_slice(&b2(&[]));
    let (hmac_key, _, _) = create_primary(&s, &public);
    let x = |object: u32, signer: u32, reserved: &[u8], scheme: &[u16], partial: &[u8]| {
        let mut p = b2(reserved);
        p.extend_from_slice(&u16s(scheme));
        p.extend_from_slice(&b2(partial));
        code(&s, &auth_cmd(0x197, &[object, signer], 2, &p))
    };
    let ku = |b: &[u8]| bits_ext(OID_KU, b);
    let good = partial_with(&[&ku(&[0x03, 0x02, 0x07, 0x80])]);
    let mut trailing = good.clone();
    trailing.push(0);
    let attrs = SIGNER.to_be_bytes();
    let tpma_ok = bits_ext(OID_TPMA, &[&[0x03, 0x05, 0x00][..], &attrs].concat());
    let tpma_bad = bits_ext(OID_TPMA, &[0x03, 0x05, 0x00, 0, 0, 0, 0x02]);
    let no_ext = der(0x30, &[&x509_name("a"), &der(0x30, &[]), &x509_name("b")]);
    let four = {
        let ecdsa = der(
            0x30,
            &[&[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 4, 3, 2]],
        );
        let mut children = der_children(&good);
        children.insert(0, ecdsa);
        let refs: Vec<&[u8]> = children.iter().map(Vec::as_slice).collect();
        der(0x30, &refs)
    };
    // Where swtpm 0.7.1 (libtpms 0.9.2) differs from the reference code and the Part 3
    // table: it numbers objectHandle and signHandle the other way round (2 and 1), and it
    // does not check KeyUsage for reserved bits. vtpm follows the specification.
    let libtpms09 = peer == Peer::Swtpm;
    let mut failures = Vec::new();
    for (what, got, want) in [
        ("good", x(key, key, &[], &[0x0010], &good), 0),
        ("caller's algorithm", x(key, key, &[], &[0x0010], &four), 0),
        (
            "TPMA_OBJECT equal",
            x(
                key,
                key,
                &[],
                &[0x0010],
                &partial_with(&[&tpma_ok, &ku(&[0x03, 0x02, 0x07, 0x80])]),
            ),
            0,
        ),
        ("reserved", x(key, key, &[1], &[0x0010], &good), 0x1D5),
        ("scheme", x(key, key, &[], &[0x0018, 0x0004], &good), 0x2D2),
        (
            "trailing octet",
            x(key, key, &[], &[0x0010], &trailing),
            0x3D5,
        ),
        (
            "not a SEQUENCE",
            x(key, key, &[], &[0x0010], &[0x31, 0x00]),
            0x3D5,
        ),
        ("no extensions", x(key, key, &[], &[0x0010], &no_ext), 0x3C4),
        (
            "no KeyUsage",
            x(key, key, &[], &[0x0010], &partial_with(&[&tpma_ok])),
            0x3C4,
        ),
        (
            "keyEncipherment",
            x(
                key,
                key,
                &[],
                &[0x0010],
                &partial_with(&[&ku(&[0x03, 0x02, 0x05, 0x20])]),
            ),
            0x3C4,
        ),
        (
            "dataEncipherment",
            x(
                key,
                key,
                &[],
                &[0x0010],
                &partial_with(&[&ku(&[0x03, 0x02, 0x04, 0x10])]),
            ),
            0x3C4,
        ),
        (
            "nonRepudiation (a fixedTPM key)",
            x(
                key,
                key,
                &[],
                &[0x0010],
                &partial_with(&[&ku(&[0x03, 0x02, 0x06, 0x40])]),
            ),
            0,
        ),
        (
            "reserved KeyUsage bit",
            x(
                key,
                key,
                &[],
                &[0x0010],
                &partial_with(&[&ku(&[0x03, 0x03, 0x06, 0x80, 0x40])]),
            ),
            if libtpms09 { 0 } else { 0x3E1 },
        ),
        (
            "TPMA_OBJECT differs",
            x(
                key,
                key,
                &[],
                &[0x0010],
                &partial_with(&[&tpma_bad, &ku(&[0x03, 0x02, 0x07, 0x80])]),
            ),
            if libtpms09 { 0x282 } else { 0x182 },
        ),
        (
            "keyed-hash object",
            x(hmac_key, key, &[], &[0x0010], &good),
            if libtpms09 { 0x281 } else { 0x181 },
        ),
        (
            "keyed-hash signer",
            x(key, hmac_key, &[], &[0x0010], &good),
            if libtpms09 { 0x192 } else { 0x292 },
        ),
        (
            "keyed-hash signer, caller's algorithm",
            x(key, hmac_key, &[], &[0x0010], &four),
            0,
        ),
    ] {
        if got != want {
            failures.push(format!("{what}: {got:#x}, want {want:#x}"));
        }
    }
    // TPM_RH_NULL passes swtpm's handle check and then takes the server down (libtpms 0.9
    // uses the missing key), so only vtpm is asked: it refuses the handle.
    if peer != Peer::Swtpm {
        let got = x(key, RH_NULL, &[], &[0x0010], &good);
        if got != 0x284 {
            failures.push(format!("TPM_RH_NULL signer: {got:#x}, want 0x284"));
        }
    }
    assert!(failures.is_empty(), "{}: {failures:#?}", peer.name());
}

/// CertifyX509 of an external signing key (`public`, `sensitive`) by itself on vtpm and on
/// swtpm: addedToCertificate and tbsDigest must be byte for byte the same (the serial number
/// depends only on the Names and the certificate; only ECDSA signatures are randomized).
fn same_bytes_as_swtpm(public: &[u8], sensitive: &[u8]) {
    let mut p = b2(sensitive);
    p.extend_from_slice(&b2(public));
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    let ku = bits_ext(OID_KU, &[0x03, 0x02, 0x02, 0x84]);
    let partial = partial_with(&[&ku]);
    let mut outputs = Vec::new();
    for peer in [vtpm(), Peer::Swtpm] {
        let s = started(&peer);
        let r = s.transact(&command(0x8001, 0x167, &p)).unwrap();
        assert_eq!(
            response_code(&r),
            Some(0),
            "{}: LoadExternal {}",
            peer.name(),
            hex(&r)
        );
        let key = u32::from_be_bytes(r[10..14].try_into().unwrap());
        let mut q = b2(&[]);
        q.extend_from_slice(&u16s(&[0x0010]));
        q.extend_from_slice(&b2(&partial));
        let certify = auth_cmd(0x197, &[key, key], 2, &q);
        let mut r = s.transact(&certify).unwrap();
        // swtpm answers TPM_RC_RETRY to its first signature now and then.
        for _ in 0..5 {
            if response_code(&r) != Some(0x922) {
                break;
            }
            r = s.transact(&certify).unwrap();
        }
        assert_eq!(
            response_code(&r),
            Some(0),
            "{}: CertifyX509 {}",
            peer.name(),
            hex(&r)
        );
        let out = &r[14..];
        let n = usize::from(u16::from_be_bytes([out[0], out[1]]));
        let m = usize::from(u16::from_be_bytes([out[2 + n], out[3 + n]]));
        outputs.push(out[..4 + n + m].to_vec());
    }
    assert_eq!(
        hex(&outputs[0]),
        hex(&outputs[1]),
        "addedToCertificate and tbsDigest: vtpm, then swtpm"
    );
}

/// userWithAuth | sign: an external key is never fixedTPM.
const EXTERNAL_SIGNER: u32 = (1 << 6) | (1 << 18);

/// RFC 6979's P-256 test key, ECDSA-SHA256.
#[test]
fn certify_x509_same_bytes_as_swtpm_ecc() {
    let d = unhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721").unwrap();
    let x = unhex("60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6").unwrap();
    let y = unhex("7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299").unwrap();
    let mut public = u16s(&[0x0023, 0x000B]);
    public.extend_from_slice(&EXTERNAL_SIGNER.to_be_bytes());
    public.extend_from_slice(&b2(&[]));
    public.extend_from_slice(&u16s(&[0x0010, 0x0018, 0x000B, 0x0003, 0x0010]));
    public.extend_from_slice(&b2(&x));
    public.extend_from_slice(&b2(&y));
    let mut sensitive = u16s(&[0x0023]);
    sensitive.extend_from_slice(&b2(&[]));
    sensitive.extend_from_slice(&b2(&[]));
    sensitive.extend_from_slice(&b2(&d));
    same_bytes_as_swtpm(&public, &sensitive);
}

/// A fresh openssl RSA-2048 key, with RSASSA-SHA256 and with RSAPSS-SHA384 (the PSS
/// AlgorithmIdentifier carries its parameters).
#[test]
fn certify_x509_same_bytes_as_swtpm_rsa() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["genrsa", "-out", "k.pem", "2048"]);
    let text = run(&["rsa", "-in", "k.pem", "-noout", "-text"]);
    // The hex block under `label:` in openssl's text output, without a leading zero octet.
    let block = |label: &str| {
        let mut lines = text.lines().skip_while(|l| l.trim() != label).skip(1);
        let mut hex_digits = String::new();
        for l in lines.by_ref() {
            if !l.starts_with(' ') {
                break;
            }
            hex_digits.push_str(&l.trim().replace(':', ""));
        }
        let mut bytes = unhex(&hex_digits).unwrap();
        while bytes.first() == Some(&0) {
            bytes.remove(0);
        }
        bytes
    };
    let (n, p) = (block("modulus:"), block("prime1:"));
    assert_eq!((n.len(), p.len()), (256, 128));
    for scheme in [[0x0014, 0x000B], [0x0016, 0x000C]] {
        let mut public = u16s(&[0x0001, 0x000B]);
        public.extend_from_slice(&EXTERNAL_SIGNER.to_be_bytes());
        public.extend_from_slice(&b2(&[]));
        public.extend_from_slice(&u16s(&[0x0010, scheme[0], scheme[1], 2048]));
        public.extend_from_slice(&0u32.to_be_bytes());
        public.extend_from_slice(&b2(&n));
        let mut sensitive = u16s(&[0x0001]);
        sensitive.extend_from_slice(&b2(&[]));
        sensitive.extend_from_slice(&b2(&[]));
        sensitive.extend_from_slice(&b2(&p));
        same_bytes_as_swtpm(&public, &sensitive);
    }
}

both!(
    certify_x509_codes,
    certify_x509,
    quote_rsa,
    quote_ecc,
    quote_openssl_and_pcr_change,
    certify,
    certify_creation,
    gettime,
    setclock_and_rate,
    raw_response_codes,
);
