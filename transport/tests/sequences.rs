//! Hash, HMAC and event sequences driven by tpm2-tools against vtpm and swtpm. The tools switch
//! to sequences for input over 1024 bytes (TPM2B_MAX_BUFFER) and for stdin: tpm2_hash
//! (HashSequenceStart / SequenceUpdate / SequenceComplete) checked against `openssl dgst`,
//! tpm2_hmac (HMAC_Start) against `openssl dgst -hmac` with a key loaded by tpm2_loadexternal,
//! tpm2_pcrevent of a large file and of stdin (event sequences: EventSequenceComplete) with the
//! digests and PCR values checked, and a restricted key signing a large file through the
//! sequence's hashcheck ticket (the signature checked by openssl).
//!
//! tpm2-tools run without a resource manager: `Tpm::ok` flushes transient objects after each tool.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

impl Tpm {
    /// A shell pipeline in the work dir with the peer's TCTI; asserts success.
    fn sh(&self, script: &str) -> String {
        let tcti = self.tools().tcti;
        let out = run(
            "sh",
            &["-c", script],
            &[("TPM2TOOLS_TCTI", &tcti)],
            Some(self.dir.path()),
        );
        assert!(out.ok(), "{}: sh -c {script:?}: {out}", self.peer());
        self.flush();
        out.stdout
    }
}

/// Deterministic test data (not all-equal bytes, so block boundaries matter).
fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 253) as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hex digest `openssl dgst -<alg>` (optionally with an HMAC key) prints for `file`.
fn openssl_digest(t: &Tpm, alg: &str, hmac_key: Option<&[u8]>, file: &str) -> String {
    let alg = format!("-{alg}");
    let mut args = vec!["dgst", alg.as_str(), "-r"];
    let macopt;
    if let Some(k) = hmac_key {
        macopt = format!("hexkey:{}", hex(k));
        args.extend_from_slice(&["-mac", "HMAC", "-macopt", &macopt]);
    }
    args.push(file);
    let out = t.openssl(&args);
    out.split_whitespace().next().unwrap().to_string()
}

/// The digest tpm2_pcrevent printed for `bank` (`sha256: 1234...`).
fn event_digest(out: &str, bank: &str) -> String {
    yaml_value(out, bank)
        .unwrap_or_else(|| panic!("no {bank} in tpm2_pcrevent output:\n{out}"))
        .trim()
        .to_lowercase()
}

/// tpm2_hash of files over 1024 bytes equals openssl dgst in every algorithm; the sequence's
/// ticket is a HASHCHECK of the owner hierarchy, NULL for the NULL hierarchy.
fn hash_large_file(peer: Peer) {
    let t = Tpm::flushing(&peer);
    for n in [1025, 4096, 10_000] {
        t.write("data.bin", &data(n));
        for (alg, size) in BANKS {
            t.ok(
                "tpm2_hash",
                &[
                    "-C", "o", "-g", alg, "-o", "d.bin", "-t", "tk.bin", "data.bin",
                ],
            );
            let d = t.read("d.bin");
            assert_eq!(d.len(), size);
            assert_eq!(
                hex(&d),
                openssl_digest(&t, alg, None, "data.bin"),
                "{} {alg} of {n} bytes",
                t.peer()
            );
            let (tag, hierarchy, len) = ticket_fields(&t.read("tk.bin"));
            assert_eq!((tag, hierarchy), (0x8024, 0x4000_0001));
            assert!(len >= 32, "a ticket HMAC");
        }
    }
    t.ok(
        "tpm2_hash",
        &[
            "-C", "n", "-g", "sha256", "-o", "d.bin", "-t", "tk.bin", "data.bin",
        ],
    );
    assert_eq!(ticket_fields(&t.read("tk.bin")), (0x8024, 0x4000_0007, 0));
}

/// tpm2_hmac over 1024 bytes (an HMAC sequence) equals openssl's HMAC, with a key loaded by
/// tpm2_loadexternal; short input (TPM2_HMAC) too.
fn hmac_large(peer: Peer) {
    let t = Tpm::flushing(&peer);
    let key: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(7) ^ 0x5c).collect();
    t.write("h.key", &key);
    for n in [100, 1024, 1025, 5000] {
        t.write("msg.bin", &data(n));
        for alg in ["sha256", "sha384"] {
            let out = t.tools().run(
                "tpm2_loadexternal",
                &[
                    "-C",
                    "n",
                    "-G",
                    &format!("hmac:{alg}"),
                    "-a",
                    "sign|userwithauth",
                    "-r",
                    "h.key",
                    "-c",
                    "h.ctx",
                ],
            );
            assert!(out.ok(), "{} loadexternal hmac: {out}", t.peer());
            t.ok("tpm2_hmac", &["-c", "h.ctx", "-o", "mac.bin", "msg.bin"]);
            assert_eq!(
                hex(&t.read("mac.bin")),
                openssl_digest(&t, alg, Some(&key), "msg.bin"),
                "{} HMAC-{alg} of {n} bytes",
                t.peer()
            );
        }
    }
    // A TPM-made key: the same data gives the same HMAC, through a sequence or not.
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "p.ctx"]);
    t.ok(
        "tpm2_create",
        &["-C", "p.ctx", "-G", "hmac", "-u", "k.pub", "-r", "k.priv"],
    );
    t.load("p.ctx", "k");
    t.write("big.bin", &data(3000));
    t.ok("tpm2_hmac", &["-c", "k.ctx", "-o", "a.bin", "big.bin"]);
    t.ok("tpm2_hmac", &["-c", "k.ctx", "-o", "b.bin", "big.bin"]);
    assert_eq!(t.read("a.bin"), t.read("b.bin"));
    assert_eq!(t.read("a.bin").len(), 32);
}

/// tpm2_pcrevent of a file over 1024 bytes (an event sequence) returns every bank's digest and
/// extends each bank of the PCR.
fn pcr_event_large_file(peer: Peer) {
    let t = Tpm::flushing(&peer);
    let big = data(5000);
    t.write("big.bin", &big);
    let before: Vec<Vec<u8>> = BANKS.iter().map(|(b, _)| read_pcr(&t.s, b, 13)).collect();
    let out = t.ok("tpm2_pcrevent", &["13", "big.bin"]);
    for ((bank, size), old) in BANKS.iter().zip(&before) {
        let d = hash(bank, &big);
        assert_eq!(d.len(), *size);
        assert_eq!(event_digest(&out, bank), hex(&d), "{} {bank}", t.peer());
        assert_eq!(
            hex(&d),
            openssl_digest(&t, bank, None, "big.bin"),
            "openssl agrees"
        );
        assert_eq!(
            read_pcr(&t.s, bank, 13),
            extend(bank, old, &d),
            "{} {bank} PCR 13",
            t.peer()
        );
    }
    // Without a PCR: the digests only.
    let out = t.ok("tpm2_pcrevent", &["big.bin"]);
    assert_eq!(event_digest(&out, "sha256"), hex(&hash("sha256", &big)));
}

/// tpm2_pcrevent from stdin (the tool always uses a sequence then), small and large.
fn pcr_event_stdin(peer: Peer) {
    let t = Tpm::flushing(&peer);
    let out = t.sh("printf 'from stdin' | tpm2_pcrevent 8");
    let d = hash("sha256", b"from stdin");
    assert_eq!(event_digest(&out, "sha256"), hex(&d));
    assert_eq!(
        read_pcr(&t.s, "sha256", 8),
        extend("sha256", &[0; 32], &d),
        "{} PCR 8",
        t.peer()
    );
    let big = data(7000);
    t.write("big.bin", &big);
    let before = read_pcr(&t.s, "sha384", 9);
    let out = t.sh("tpm2_pcrevent 9 < big.bin");
    let d = hash("sha384", &big);
    assert_eq!(event_digest(&out, "sha384"), hex(&d));
    assert_eq!(read_pcr(&t.s, "sha384", 9), extend("sha384", &before, &d));
}

/// A restricted RSA key signs a large file's digest with the ticket of a hash sequence
/// (tpm2_hash -t, then tpm2_sign -t); openssl verifies the signature. Without the ticket the
/// TPM refuses (TPM_RC_TICKET).
fn restricted_key_signs_large_file(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.write("big.bin", &data(6000));
    t.ok(
        "tpm2_createprimary",
        &[
            "-C",
            "o",
            "-G",
            "rsa2048:rsassa-sha256:null",
            "-a",
            "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign",
            "-c",
            "ak.ctx",
        ],
    );
    t.ok(
        "tpm2_readpublic",
        &["-c", "ak.ctx", "-f", "pem", "-o", "ak.pem"],
    );
    t.ok(
        "tpm2_hash",
        &[
            "-C", "o", "-g", "sha256", "-o", "d.bin", "-t", "tk.bin", "big.bin",
        ],
    );
    t.ok(
        "tpm2_sign",
        &[
            "-c", "ak.ctx", "-g", "sha256", "-d", "-t", "tk.bin", "-f", "plain", "-o", "sig.bin",
            "d.bin",
        ],
    );
    t.openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        "ak.pem",
        "-signature",
        "sig.bin",
        "big.bin",
    ]);
    let out = t.tools().run(
        "tpm2_sign",
        &[
            "-c", "ak.ctx", "-g", "sha256", "-d", "-o", "sig2.bin", "d.bin",
        ],
    );
    t.flush();
    assert!(!out.ok(), "{}: signed without a ticket", t.peer());
    assert!(
        out.stderr.contains("0x000003e0"),
        "{}: TPM_RC_TICKET expected: {out}",
        t.peer()
    );
}

/// Sends raw bytes, repeating on TPM_RC_RETRY (swtpm may answer it, as a TSS would retry).
fn raw(s: &TpmServer, cmd: &[u8]) -> Vec<u8> {
    for _ in 0..10 {
        let r = s.transact(cmd).unwrap();
        if response_code(&r) != Some(0x922) {
            return r;
        }
    }
    panic!("{}: TPM_RC_RETRY ten times", s.peer.name());
}

/// A command whose one handle is authorized by a password session with `pw`.
fn with_password(cc: u32, handle: u32, pw: &[u8], params: &[u8]) -> Vec<u8> {
    let mut body = handle.to_be_bytes().to_vec();
    let mut area = 0x4000_0009u32.to_be_bytes().to_vec();
    area.extend_from_slice(&[0, 0, 1]);
    area.extend_from_slice(&(pw.len() as u16).to_be_bytes());
    area.extend_from_slice(pw);
    body.extend_from_slice(&(area.len() as u32).to_be_bytes());
    body.extend_from_slice(&area);
    body.extend_from_slice(params);
    command(0x8002, cc, &body)
}

/// Raw sequence commands give the same codes and results on both peers: the sequence's own
/// password, TPM_RC_MODE for a key, the TPM_GENERATED_VALUE rule, a context saved as
/// 0x80000001 in the NULL hierarchy and loaded back after a flush to finish the same digest.
fn raw_sequence_behaviour(peer: Peer) {
    let s = started(&peer);
    let name = s.peer.name();
    let start = |alg: u16| {
        let mut p = b2(b"pw");
        p.extend_from_slice(&alg.to_be_bytes());
        let r = raw(&s, &command(0x8001, 0x186, &p));
        assert_eq!(response_code(&r), Some(0), "{name}: HashSequenceStart");
        u32::from_be_bytes(r[10..14].try_into().unwrap())
    };
    let seq = start(0x000B);
    let update = |h: u32, pw: &[u8], data: &[u8]| {
        response_code(&raw(&s, &with_password(0x15C, h, pw, &b2(data)))).unwrap()
    };
    assert_eq!(
        update(seq, b"wrong", b"x"),
        0x9A2,
        "{name}: wrong sequence password"
    );
    assert_eq!(update(seq, b"pw", b"\xffTCG and more"), 0);
    // Save mid-way, flush, load back under a new handle, finish.
    let r = raw(&s, &command(0x8001, 0x162, &seq.to_be_bytes()));
    assert_eq!(
        response_code(&r),
        Some(0),
        "{name}: ContextSave of a sequence"
    );
    let context = r[10..].to_vec();
    assert_eq!(
        &context[8..16],
        &[0x80, 0, 0, 1, 0x40, 0, 0, 7],
        "{name}: savedHandle, hierarchy"
    );
    assert_eq!(
        response_code(&raw(&s, &command(0x8001, 0x165, &seq.to_be_bytes()))),
        Some(0)
    );
    let r = raw(&s, &command(0x8001, 0x161, &context));
    assert_eq!(
        response_code(&r),
        Some(0),
        "{name}: ContextLoad of a sequence"
    );
    let seq = u32::from_be_bytes(r[10..14].try_into().unwrap());
    let mut p = b2(b" tail");
    p.extend_from_slice(&0x4000_0001u32.to_be_bytes());
    let r = raw(&s, &with_password(0x13E, seq, b"pw", &p));
    assert_eq!(response_code(&r), Some(0), "{name}: SequenceComplete");
    let out = &r[14..];
    assert_eq!(&out[..2], &[0, 32]);
    assert_eq!(out[2..34], hash("sha256", b"\xffTCG and more tail")[..]);
    // The first block began with TPM_GENERATED_VALUE: a NULL ticket.
    assert_eq!(
        &out[34..],
        &[0x80, 0x24, 0x40, 0, 0, 7, 0, 0, 0, 0, 1, 0, 0],
        "{name}: ticket"
    );
    // A first block shorter than TPM_GENERATED_VALUE cannot show it is safe: a NULL ticket;
    // four bytes that are not it: a real one.
    for (data, null) in [(&b"abc"[..], true), (&b"abcd"[..], false)] {
        let seq = start(0x000B);
        let mut p = b2(data);
        p.extend_from_slice(&0x4000_0001u32.to_be_bytes());
        let r = raw(&s, &with_password(0x13E, seq, b"pw", &p));
        assert_eq!(response_code(&r), Some(0));
        let ticket = &r[14 + 34..];
        assert_eq!(
            ticket[2..6] == [0x40, 0, 0, 7],
            null,
            "{name}: ticket for {data:?}"
        );
    }
    // A key is no sequence.
    let key = {
        let mut p = b2(&[0, 0, 0, 0]);
        let mut t = 0x0008u16.to_be_bytes().to_vec();
        t.extend_from_slice(&0x000Bu16.to_be_bytes());
        t.extend_from_slice(
            &((1u32 << 18) | (1 << 6) | (1 << 5) | (1 << 1) | (1 << 4)).to_be_bytes(),
        );
        t.extend_from_slice(&[0, 0, 0, 5, 0, 0x0B, 0, 0]);
        p.extend_from_slice(&b2(&t));
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let r = raw(&s, &with_password(0x131, 0x4000_0001, b"", &p));
        assert_eq!(response_code(&r), Some(0), "{name}: CreatePrimary hmac");
        u32::from_be_bytes(r[10..14].try_into().unwrap())
    };
    // TPM_RC_MODE for the handle: vtpm numbers it as handle 1, as the TCG reference code does
    // (RC_SequenceUpdate_sequenceHandle = TPM_RC_H + TPM_RC_1); libtpms 0.9.2 reports it as
    // parameter 1 for SequenceUpdate only (SequenceComplete says handle 1 on both). Both are
    // pinned here so that a change on either side shows.
    let mode_h1 = if name == "swtpm" { 0x1C9 } else { 0x189 };
    assert_eq!(
        update(key, b"", b"x"),
        mode_h1,
        "{name}: SequenceUpdate on a key"
    );
    let mut p = b2(b"");
    p.extend_from_slice(&0x4000_0007u32.to_be_bytes());
    let r = raw(&s, &with_password(0x13E, key, b"", &p));
    assert_eq!(
        response_code(&r),
        Some(0x189),
        "{name}: SequenceComplete on a key"
    );
}

both!(
    raw_sequence_behaviour,
    hash_large_file,
    hmac_large,
    pcr_event_large_file,
    pcr_event_stdin,
    restricted_key_signs_large_file,
);

/// TPMA_CC of a command from GetCapability(TPM_CAP_COMMANDS), if reported.
fn command_attributes(s: &TpmServer, cc: u32) -> Option<u32> {
    let mut p = 2u32.to_be_bytes().to_vec();
    p.extend_from_slice(&cc.to_be_bytes());
    p.extend_from_slice(&1u32.to_be_bytes());
    let r = s.transact(&command(0x8001, 0x17A, &p)).unwrap();
    assert_eq!(response_code(&r), Some(0));
    // moreData(1) capability(4) count(4) TPMA_CC(4)
    let count = u32::from_be_bytes(r[15..19].try_into().unwrap());
    let attrs = u32::from_be_bytes(r.get(19..23)?.try_into().unwrap());
    (count == 1 && attrs & 0xFFFF == cc).then_some(attrs)
}

/// GetCapability reports the sequence commands with the same TPMA_CC as swtpm (handle counts,
/// the flushed bit of the completing commands, rHandle of the starting ones).
#[test]
fn sequence_commands_reported_like_swtpm() {
    let vtpm = started(&vtpm());
    let swtpm = started(&Peer::Swtpm);
    for cc in [0x13E, 0x155, 0x15B, 0x15C, 0x185, 0x186] {
        let ours = command_attributes(&vtpm, cc);
        assert!(ours.is_some(), "vtpm does not report {cc:#x}");
        assert_eq!(ours, command_attributes(&swtpm, cc), "TPMA_CC of {cc:#x}");
    }
}
