//! The commit-based ECC commands and AES-CMAC against vtpm and swtpm:
//!
//! - tpm2_commit + tpm2_sign -s ecdaa on NIST P-256 (the curve swtpm and the tools use
//!   for ECDAA here; no BN curve exists on vtpm): each signature (nonceK, s) must satisfy
//!   `[s]G = E + [H(nonceK || digest)]Q` for the E that tpm2_commit returned (P1 absent,
//!   or P1 = G), a commitment signs once;
//! - tpm2_ecephemeral + tpm2_zgen2phase (ECDH): Z1 and Z2 checked by `openssl pkeyutl
//!   -derive` with the peer's static and ephemeral private keys, a counter is used once;
//! - TPM2_MAC / TPM2_MAC_Start with AES-CMAC as raw commands (tpm2-tools 5.4 has no CMAC:
//!   tpm2_hmac takes only hashes and tpm2_create no CMAC mode), tags checked against
//!   `openssl mac -cipher AES-128-CBC CMAC`, and the refusal codes.
//!
//! tpm2-tools run without a resource manager: `Tpm::ok` flushes transient objects after each
//! tool (contexts are reloaded from their files).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sha2::Digest;
use vtpm_crypto::{EccCurve, HashAlg};

mod common;
use common::*;

/// A started server; transient objects, and the sessions tpm2_commit leaves loaded, are
/// flushed after each tool.
fn tpm(peer: &Peer) -> Tpm {
    Work::new(peer).flushes(&["-t", "-l"]).auto_flush()
}

const TPM_RC_VALUE_P2: u32 = 0x2C4;
const TPM_RC_SYMMETRIC_P2: u32 = 0x2D6;

impl Tpm {
    /// A raw command (a password session per handle); Ok(the response handle, if
    /// `rhandle`, then the parameters) or Err(response code). TPM_RC_RETRY (libtpms
    /// testing an algorithm on first use) is retried, as ESAPI does.
    fn raw(&self, cc: u32, handles: &[u32], params: &[u8], rhandle: bool) -> Result<Vec<u8>, u32> {
        let mut body: Vec<u8> = handles.iter().flat_map(|h| h.to_be_bytes()).collect();
        let tag = if handles.is_empty() { 0x8001 } else { 0x8002 };
        if !handles.is_empty() {
            body.extend_from_slice(&pw_auth_area());
        }
        body.extend_from_slice(params);
        for _ in 0..5 {
            let resp = self.s.transact(&command(tag, cc, &body)).unwrap();
            let h = if rhandle { 4 } else { 0 };
            return match response_code(&resp).unwrap() {
                0x922 => continue,
                0 if tag == 0x8002 => {
                    let n = u32::from_be_bytes(resp[10 + h..14 + h].try_into().unwrap()) as usize;
                    Ok([&resp[10..10 + h], &resp[14 + h..14 + h + n]].concat())
                }
                0 => Ok(resp[10..].to_vec()),
                rc => Err(rc),
            };
        }
        panic!("{}: TPM_RC_RETRY five times", self.peer())
    }
}

fn point_file(x: &[u8], y: &[u8]) -> Vec<u8> {
    b2(&[b2(x), b2(y)].concat())
}

/// The (x, y) at the end of a TPM2B_PUBLIC of a P-256 key (unique is last).
fn public_point(public: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let n = public.len();
    assert_eq!(&public[n - 34..n - 32], &[0, 32]);
    assert_eq!(&public[n - 68..n - 66], &[0, 32]);
    (public[n - 66..n - 34].to_vec(), public[n - 32..].to_vec())
}

/// An openssl P-256 key `name`.pem and its public point as a TPM2B_ECC_POINT `name`.point.
fn openssl_p256(t: &Tpm, name: &str) -> (Vec<u8>, Vec<u8>) {
    let pem = format!("{name}.pem");
    t.openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &pem,
    ]);
    let der = format!("{name}.der");
    t.openssl(&[
        "pkey", "-in", &pem, "-pubout", "-outform", "DER", "-out", &der,
    ]);
    let der = t.read(&der);
    let q = &der[der.len() - 65..];
    assert_eq!(q[0], 4);
    let (x, y) = (q[1..33].to_vec(), q[33..].to_vec());
    t.write(&format!("{name}.point"), &point_file(&x, &y));
    (x, y)
}

/// A TPMT_SIGNATURE file of ECDAA-SHA256: (nonceK, s).
fn ecdaa_signature(sig: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(&sig[..4], &[0x00, 0x1A, 0x00, 0x0B], "ECDAA with SHA-256");
    let rl = usize::from(u16::from_be_bytes([sig[4], sig[5]]));
    let r = sig[6..6 + rl].to_vec();
    let sl = usize::from(u16::from_be_bytes([sig[6 + rl], sig[7 + rl]]));
    let s = sig[8 + rl..8 + rl + sl].to_vec();
    assert_eq!(sig.len(), 8 + rl + sl);
    (r, s)
}

fn counter(bytes: &[u8]) -> u16 {
    u16::from_be_bytes(bytes.try_into().unwrap())
}

/// tpm2_commit (no P1; then P1 = G) and tpm2_sign -s ecdaa with the
/// commit index: each signature verifies against its E; a used index is TPM_RC_VALUE.
fn ecdaa_commit_sign(peer: Peer) {
    let t = tpm(&peer);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "prim.ctx"]);
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "prim.ctx",
            "-G",
            "ecc256:ecdaa-sha256",
            "-a",
            "sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth",
            "-u",
            "d.pub",
            "-r",
            "d.priv",
        ],
    );
    t.load("prim.ctx", "d");
    let q = public_point(&t.read("d.pub"));
    t.write("msg", b"anonymous attestation");
    let digest = sha2::Sha256::digest(b"anonymous attestation").to_vec();
    let verify = |e: &(Vec<u8>, Vec<u8>), sig: &str| {
        let (k, s) = ecdaa_signature(&t.read(sig));
        assert!(
            vtpm_crypto::ecdaa_verify(
                EccCurve::NistP256,
                HashAlg::Sha256,
                (&q.0, &q.1),
                (&e.0, &e.1),
                &digest,
                &k,
                &s
            ),
            "{}: ECDAA signature {sig} does not verify",
            t.peer()
        );
    };

    t.ok(
        "tpm2_commit",
        &[
            "-c",
            "d.ctx",
            "-t",
            "c0.bin",
            "--eccpoint-K",
            "K0.bin",
            "--eccpoint-L",
            "L0.bin",
            "-u",
            "E0.bin",
        ],
    );
    // K and L are empty points without P2.
    assert_eq!(t.read("K0.bin"), [0, 4, 0, 0, 0, 0], "{}", t.peer());
    assert_eq!(t.read("L0.bin"), [0, 4, 0, 0, 0, 0], "{}", t.peer());
    let e0 = read_point(&t.read("E0.bin"));
    let c0 = counter(&t.read("c0.bin"));
    let index = c0.to_string();
    let sign = |out: &str, idx: &str| {
        vec![
            "-c".to_string(),
            "d.ctx".into(),
            "-g".into(),
            "sha256".into(),
            "-s".into(),
            "ecdaa".into(),
            format!("--commit-index={idx}"),
            "-o".into(),
            out.into(),
            "msg".into(),
        ]
    };
    let args = sign("sig0.bin", &index);
    t.ok(
        "tpm2_sign",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    verify(&e0, "sig0.bin");
    let args = sign("again.bin", &index);
    t.fails(
        TPM_RC_VALUE,
        "tpm2_sign",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );

    // P1 = G: E = [r]G again. (tpm2-tools 5.4 never sends its s2 argument, so P2 is
    // tested with raw commands in `commit_raw`.)
    let g = EccCurve::NistP256.parameters();
    t.write("P1.bin", &point_file(g.gx, g.gy));
    t.ok(
        "tpm2_commit",
        &[
            "-c",
            "d.ctx",
            "--eccpoint-P",
            "P1.bin",
            "-t",
            "c1.bin",
            "--eccpoint-K",
            "K1.bin",
            "--eccpoint-L",
            "L1.bin",
            "-u",
            "E1.bin",
        ],
    );
    let c1 = counter(&t.read("c1.bin"));
    assert_eq!(c1, c0 + 1, "{}: commit counter", t.peer());
    let args = sign("sig1.bin", &c1.to_string());
    t.ok(
        "tpm2_sign",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    verify(&read_point(&t.read("E1.bin")), "sig1.bin");
}

/// The P-256 commit vector (crypto/tests/vectors/ecc_extras.txt) as raw TPM2_Commit on a
/// LoadExternal ECDAA key with the vector's d: K = [d]P2 for P2 = (SHA-256(s2) mod p, y2)
/// is a known answer; L and E lie on the curve; then the refusal codes.
fn commit_raw(peer: Peer) {
    let t = tpm(&peer);
    let v = vector_p256_commit();
    let f = |k: &str| {
        unhex(
            v.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = ")))
                .unwrap(),
        )
        .unwrap()
    };
    let d = f("d");
    let pair = vtpm_crypto::ecc_from_private(EccCurve::NistP256, &d).unwrap();
    let load = |scheme: &[u16]| {
        let sensitive = [0x0023u16.to_be_bytes().to_vec(), b2(&[]), b2(&[]), b2(&d)].concat();
        let mut public = [0x0023u16, 0x000B].map(u16::to_be_bytes).concat();
        public.extend_from_slice(&((1u32 << 18) | (1 << 6)).to_be_bytes());
        public.extend_from_slice(&b2(&[]));
        public.extend_from_slice(&0x0010u16.to_be_bytes());
        public.extend_from_slice(
            &scheme
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect::<Vec<_>>(),
        );
        public.extend_from_slice(&[0x0003u16, 0x0010].map(u16::to_be_bytes).concat());
        public.extend_from_slice(&b2(pair.x()));
        public.extend_from_slice(&b2(pair.y()));
        let mut p = b2(&sensitive);
        p.extend_from_slice(&b2(&public));
        p.extend_from_slice(&0x4000_0007u32.to_be_bytes());
        let r = t
            .raw(0x167, &[], &p, true)
            .unwrap_or_else(|rc| panic!("{}: LoadExternal {rc:#x}", t.peer()));
        u32::from_be_bytes(r[..4].try_into().unwrap())
    };
    let key = load(&[0x001A, 0x000B, 0]);
    let commit = |key: u32, p1: &[u8], s2: &[u8], y2: &[u8]| {
        let p = [p1.to_vec(), b2(s2), b2(y2)].concat();
        t.raw(0x18B, &[key], &p, false)
    };
    let (s2, y2) = (f("s2"), f("y2"));
    let (p1x, p1y) = (f("p1x"), f("p1y"));
    let out = commit(key, &point_file(&p1x, &p1y), &s2, &y2)
        .unwrap_or_else(|rc| panic!("{}: Commit {rc:#x}", t.peer()));
    let k = read_point(&out[..6 + 64]);
    assert_eq!(k, (f("kx"), f("ky")), "{}: K = [d]P2", t.peer());
    let l = read_point(&out[70..140]);
    let e = read_point(&out[140..210]);
    for (x, y) in [l, e] {
        assert!(
            vtpm_crypto::ecc_point_valid(EccCurve::NistP256, &x, &y),
            "{}",
            t.peer()
        );
    }
    assert_eq!(out.len(), 212, "{}", t.peer());
    // No P1 is the empty point (size 4), size 0 does not unmarshal; half of P2:
    // TPM_RC_SIZE on y2; P1 off the curve; an s2 whose x has no such y.
    let none = point_file(&[], &[]);
    assert_eq!(commit(key, &b2(&[]), &[], &[]), Err(0x1D5), "{}", t.peer());
    assert_eq!(commit(key, &none, &s2, &[]), Err(0x3D5), "{}", t.peer());
    let mut bad = p1y.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(
        commit(key, &point_file(&p1x, &bad), &[], &[]),
        Err(0x1E7),
        "{}",
        t.peer()
    );
    assert_eq!(
        commit(key, &none, b"not s2", &y2),
        Err(0x2E7),
        "{}",
        t.peer()
    );
    flush_handle(&t, key);
    // An ECDSA key has no anonymous scheme.
    let key = load(&[0x0018, 0x000B]);
    assert_eq!(commit(key, &none, &[], &[]), Err(0x192), "{}", t.peer());
    flush_handle(&t, key);
}

/// The P-256 commit record of crypto/tests/vectors/ecc_extras.txt.
fn vector_p256_commit() -> &'static str {
    include_str!("../../crypto/tests/vectors/ecc_extras.txt")
        .split("\n\n")
        .find(|r| r.contains("kind = commit") && r.contains("curve = p256"))
        .unwrap()
}

/// tpm2_ecephemeral then tpm2_zgen2phase -s ecdh with openssl's static and ephemeral keys
/// for party B: Z1 = [dsA]QsB and Z2 = [deA]QeB as openssl derives them from B's side.
fn ecephemeral_zgen2phase(peer: Peer) {
    let t = tpm(&peer);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "prim.ctx"]);
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "prim.ctx",
            "-G",
            "ecc256:ecdh-sha256",
            "-a",
            "decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth",
            "-u",
            "a.pub",
            "-r",
            "a.priv",
        ],
    );
    t.load("prim.ctx", "a");
    let (ax, ay) = public_point(&t.read("a.pub"));
    t.write("a.pem", p256_pem(&ax, &ay).as_bytes());
    openssl_p256(&t, "bs");
    openssl_p256(&t, "be");

    t.ok(
        "tpm2_ecephemeral",
        &["-u", "qea.bin", "-t", "c.bin", "ecc256"],
    );
    let c = counter(&t.read("c.bin"));
    let (qx, qy) = read_point(&t.read("qea.bin"));
    t.write("qea.pem", p256_pem(&qx, &qy).as_bytes());
    let zgen = |c: u16| {
        vec![
            "-c".to_string(),
            "a.ctx".into(),
            "--static-public".into(),
            "bs.point".into(),
            "--ephemeral-public".into(),
            "be.point".into(),
            "-t".into(),
            c.to_string(),
            "--output-Z1".into(),
            "z1.bin".into(),
            "--output-Z2".into(),
            "z2.bin".into(),
        ]
    };
    let args = zgen(c);
    t.ok(
        "tpm2_zgen2phase",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    t.openssl(&[
        "pkeyutl", "-derive", "-inkey", "bs.pem", "-peerkey", "a.pem", "-out", "z1.ref",
    ]);
    t.openssl(&[
        "pkeyutl", "-derive", "-inkey", "be.pem", "-peerkey", "qea.pem", "-out", "z2.ref",
    ]);
    assert_eq!(
        read_point(&t.read("z1.bin")).0,
        t.read("z1.ref"),
        "{}: Z1",
        t.peer()
    );
    assert_eq!(
        read_point(&t.read("z2.bin")).0,
        t.read("z2.ref"),
        "{}: Z2",
        t.peer()
    );
    // The ephemeral key is used once.
    t.fails(
        TPM_RC_VALUE_P4,
        "tpm2_zgen2phase",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    t.ok(
        "tpm2_ecephemeral",
        &["-u", "q2.bin", "-t", "c2.bin", "ecc256"],
    );
    assert_eq!(counter(&t.read("c2.bin")), c + 1, "{}: counter", t.peer());
}

/// Raw TPM2_LoadExternal of an AES-128 key with the sign attribute (NULL hierarchy) in
/// `mode`; its handle.
fn load_aes(t: &Tpm, key: &[u8], mode: u16, attrs: u32) -> Result<u32, u32> {
    let seed = [0x5Au8; 32];
    let unique = sha2::Sha256::digest([&seed[..], key].concat()).to_vec();
    let sensitive = [
        0x0025u16.to_be_bytes().to_vec(),
        b2(&[]),
        b2(&seed),
        b2(key),
    ]
    .concat();
    let mut public = [0x0025u16, 0x000B].map(u16::to_be_bytes).concat();
    public.extend_from_slice(&(attrs | 1 << 6).to_be_bytes());
    public.extend_from_slice(&b2(&[]));
    public.extend_from_slice(&[0x0006u16, 128, mode].map(u16::to_be_bytes).concat());
    public.extend_from_slice(&b2(&unique));
    let mut p = b2(&sensitive);
    p.extend_from_slice(&b2(&public));
    p.extend_from_slice(&0x4000_0007u32.to_be_bytes());
    t.raw(0x167, &[], &p, true)
        .map(|r| u32::from_be_bytes(r[..4].try_into().unwrap()))
}

fn flush_handle(t: &Tpm, h: u32) {
    t.raw(0x165, &[], &h.to_be_bytes(), false).unwrap();
}

/// TPM2_MAC: the TPM2B_DIGEST.
fn mac(t: &Tpm, key: u32, data: &[u8], scheme: u16) -> Result<Vec<u8>, u32> {
    let mut p = b2(data);
    p.extend_from_slice(&scheme.to_be_bytes());
    t.raw(0x155, &[key], &p, false).map(|r| r[2..].to_vec())
}

/// TPM2_MAC and a TPM2_MAC_Start sequence with AES-CMAC match openssl; the scheme rules.
fn cmac_raw(peer: Peer) {
    let t = tpm(&peer);
    let key = unhex("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
    let data: Vec<u8> = (0u8..=99).collect();
    t.write("data", &data);
    let tag = unhex(&t.openssl(&[
        "mac",
        "-cipher",
        "AES-128-CBC",
        "-macopt",
        "hexkey:2b7e151628aed2a6abf7158809cf4f3c",
        "-in",
        "data",
        "CMAC",
    ]))
    .unwrap();
    const SIGN: u32 = 1 << 18;
    let (cmac, null, cfb) = (0x003F, 0x0010, 0x0043);
    let k = load_aes(&t, &key, null, SIGN)
        .unwrap_or_else(|rc| panic!("{}: LoadExternal {rc:#x}", t.peer()));
    assert_eq!(mac(&t, k, &data, cmac), Ok(tag.clone()), "{}", t.peer());
    assert_eq!(
        mac(&t, k, &data, null),
        Err(TPM_RC_VALUE_P2),
        "{}",
        t.peer()
    );
    assert_eq!(
        mac(&t, k, &data, 0x000B),
        Err(TPM_RC_SCHEME_P2),
        "{}",
        t.peer()
    );
    assert_eq!(
        mac(&t, k, &data, 0x0099),
        Err(TPM_RC_SYMMETRIC_P2),
        "{}",
        t.peer()
    );

    // A sequence: MAC_Start, SequenceUpdate, SequenceComplete (NULL ticket).
    let mut p = b2(b"");
    p.extend_from_slice(&cmac.to_be_bytes());
    let r = t
        .raw(0x15B, &[k], &p, true)
        .unwrap_or_else(|rc| panic!("{}: {rc:#x}", t.peer()));
    let seq = u32::from_be_bytes(r[..4].try_into().unwrap());
    t.raw(0x15C, &[seq], &b2(&data[..33]), false).unwrap();
    let mut p = b2(&data[33..]);
    p.extend_from_slice(&0x4000_0007u32.to_be_bytes());
    let r = t.raw(0x13E, &[seq], &p, false).unwrap();
    assert_eq!(&r[..2], &[0, 16], "{}", t.peer());
    assert_eq!(&r[2..18], &tag[..], "{}: sequence CMAC", t.peer());
    assert_eq!(
        &r[18..],
        &[0x80, 0x24, 0x40, 0, 0, 7, 0, 0],
        "{}: NULL ticket",
        t.peer()
    );
    flush_handle(&t, k);

    // A key in CMAC mode uses its own; a CFB key is no CMAC key; no sign: TPM_RC_KEY.
    let k = load_aes(&t, &key, cmac, SIGN)
        .unwrap_or_else(|rc| panic!("{}: LoadExternal CMAC mode {rc:#x}", t.peer()));
    assert_eq!(mac(&t, k, &data, null), Ok(tag.clone()), "{}", t.peer());
    flush_handle(&t, k);
    let k = load_aes(&t, &key, cfb, SIGN).unwrap();
    assert_eq!(
        mac(&t, k, &data, cmac),
        Err(TPM_RC_VALUE_P2),
        "{}",
        t.peer()
    );
    flush_handle(&t, k);
    let k = load_aes(&t, &key, null, 1 << 17).unwrap();
    assert_eq!(mac(&t, k, &data, cmac), Err(TPM_RC_KEY_H1), "{}", t.peer());
    flush_handle(&t, k);
}

both!(
    ecdaa_commit_sign,
    commit_raw,
    ecephemeral_zgen2phase,
    cmac_raw
);
