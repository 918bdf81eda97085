//! Signatures, signature verification and hashing driven by tpm2-tools against vtpm and swtpm:
//! tpm2_sign with RSASSA, RSA-PSS, ECDSA and HMAC keys (the asymmetric signatures checked by
//! openssl with the key exported by `tpm2_readpublic -f pem`), tpm2_verifysignature of
//! openssl-made signatures with keys loaded by tpm2_loadexternal (tickets checked), tpm2_hash
//! against `openssl dgst`, restricted keys refused without a TPM2_Hash ticket, and the error codes
//! of wrong schemes, bad signatures and keys that cannot sign (the same on both peers).
//!
//! tpm2-tools run without a resource manager: every tool given a context leaves its copy
//! loaded, so `Tpm::ok` and `Tpm::rc` flush transient objects after each tool.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sha2::Digest;

mod common;
use common::*;

/// A started server (tools followed by `tpm2_flushcontext -t`) with MESSAGE in msg.bin.
fn tpm(peer: &Peer) -> Tpm {
    let t = Work::new(peer).auto_flush();
    t.write("msg.bin", MESSAGE);
    t
}

const TPM_RC_SIGNATURE_P2: u32 = 0x2DB;
const TPM_RC_TICKET_P3: u32 = 0x3E0;
const TPM_RC_RETRY: u32 = 0x922;
/// The handle of the first transient object loaded.
const TRANSIENT_FIRST: u32 = 0x8000_0000;

/// Attributes of an unrestricted signing key.
const SIGN_ATTRS: &str = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign";
/// Attributes of a restricted signing key (an attestation key).
const RESTRICTED_ATTRS: &str =
    "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign";

const MESSAGE: &[u8] = b"the quick brown fox signs the lazy dog\n";

impl Tpm {
    /// A primary key in the owner hierarchy saved as `ctx`, its public key as `pem`.
    fn primary(&self, alg: &str, attrs: &str, ctx: &str, pem: Option<&str>) {
        self.ok(
            "tpm2_createprimary",
            &["-C", "o", "-G", alg, "-a", attrs, "-c", ctx],
        );
        if let Some(pem) = pem {
            self.ok("tpm2_readpublic", &["-c", ctx, "-f", "pem", "-o", pem]);
        }
    }
}

/// A raw TPM2_Sign with an empty password session: the response code.
fn raw_sign(t: &Tpm, key: u32, digest: &[u8], scheme: &[u8], ticket: &[u8]) -> u32 {
    let mut body = key.to_be_bytes().to_vec();
    body.extend_from_slice(&pw_auth_area());
    body.extend_from_slice(&u16::try_from(digest.len()).unwrap().to_be_bytes());
    body.extend_from_slice(digest);
    body.extend_from_slice(scheme);
    body.extend_from_slice(ticket);
    let cmd = command(0x8002, 0x15D, &body);
    // swtpm may answer TPM_RC_RETRY (a warning): send the same bytes again, as a TSS would.
    for _ in 0..10 {
        let rc = response_code(&t.s.transact(&cmd).unwrap()).unwrap();
        if rc != TPM_RC_RETRY {
            return rc;
        }
    }
    TPM_RC_RETRY
}

/// The size of a ticket's HMAC: vtpm's tickets use SHA-256 (the context integrity hash of
/// commands/src/ticket.rs), libtpms' SHA-512.
fn ticket_len(t: &Tpm) -> usize {
    if t.peer() == "swtpm" { 64 } else { 32 }
}

/// tpm2_sign of msg.bin with RSASSA, RSA-PSS and ECDSA keys, each signature verified by openssl.
fn sign_verified_by_openssl(peer: Peer) {
    let t = tpm(&peer);
    // RSASSA-PKCS1-v1_5 (the key's scheme).
    t.primary(
        "rsa2048:rsassa-sha256",
        SIGN_ATTRS,
        "rsa.ctx",
        Some("rsa.pem"),
    );
    t.ok(
        "tpm2_sign",
        &[
            "-c", "rsa.ctx", "-g", "sha256", "-f", "plain", "-o", "rsa.sig", "msg.bin",
        ],
    );
    t.openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        "rsa.pem",
        "-signature",
        "rsa.sig",
        "msg.bin",
    ]);
    // RSA-PSS chosen by the caller for a key without a scheme.
    t.primary("rsa2048:null", SIGN_ATTRS, "pss.ctx", Some("pss.pem"));
    for hash in ["sha256", "sha384"] {
        t.ok(
            "tpm2_sign",
            &[
                "-c", "pss.ctx", "-g", hash, "-s", "rsapss", "-f", "plain", "-o", "pss.sig",
                "msg.bin",
            ],
        );
        let salt = if hash == "sha256" { "32" } else { "48" };
        t.openssl(&[
            "dgst",
            &format!("-{hash}"),
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            &format!("rsa_pss_saltlen:{salt}"),
            "-verify",
            "pss.pem",
            "-signature",
            "pss.sig",
            "msg.bin",
        ]);
        // Not a PKCS#1 v1.5 signature.
        assert!(!t.openssl_ok(&[
            "dgst",
            &format!("-{hash}"),
            "-verify",
            "pss.pem",
            "-signature",
            "pss.sig",
            "msg.bin",
        ]));
    }
    // ECDSA on P-256 and P-384 (plain = DER, as openssl wants it).
    for (alg, hash) in [
        ("ecc256:ecdsa-sha256", "sha256"),
        ("ecc384:ecdsa-sha384", "sha384"),
    ] {
        t.primary(alg, SIGN_ATTRS, "ecc.ctx", Some("ecc.pem"));
        t.ok(
            "tpm2_sign",
            &[
                "-c", "ecc.ctx", "-g", hash, "-f", "plain", "-o", "ecc.sig", "msg.bin",
            ],
        );
        t.openssl(&[
            "dgst",
            &format!("-{hash}"),
            "-verify",
            "ecc.pem",
            "-signature",
            "ecc.sig",
            "msg.bin",
        ]);
        t.write("other.bin", b"another message");
        assert!(!t.openssl_ok(&[
            "dgst",
            &format!("-{hash}"),
            "-verify",
            "ecc.pem",
            "-signature",
            "ecc.sig",
            "other.bin",
        ]));
    }
    // A TSS-format signature verifies in the TPM with the same key (ticket in the owner hierarchy).
    t.ok(
        "tpm2_sign",
        &["-c", "rsa.ctx", "-g", "sha256", "-o", "rsa.tss", "msg.bin"],
    );
    t.ok(
        "tpm2_verifysignature",
        &[
            "-c", "rsa.ctx", "-g", "sha256", "-m", "msg.bin", "-s", "rsa.tss", "-t", "v.tk",
        ],
    );
    let (tag, hierarchy, len) = ticket_fields(&t.read("v.tk"));
    assert_eq!(
        (tag, hierarchy, len),
        (0x8022, 0x4000_0001, ticket_len(&t)),
        "{}",
        t.peer()
    );
}

/// tpm2_verifysignature of signatures made by openssl, with public keys loaded by
/// tpm2_loadexternal; a tampered signature is TPM_RC_SIGNATURE.
fn verify_openssl_signatures(peer: Peer) {
    let t = tpm(&peer);
    t.openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.key",
    ]);
    t.openssl(&["pkey", "-in", "rsa.key", "-pubout", "-out", "rsa.pub"]);
    t.openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "ec.key",
    ]);
    t.openssl(&["pkey", "-in", "ec.key", "-pubout", "-out", "ec.pub"]);
    t.openssl(&[
        "dgst", "-sha256", "-sign", "rsa.key", "-out", "rsa.sig", "msg.bin",
    ]);
    t.openssl(&[
        "dgst",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:max",
        "-sign",
        "rsa.key",
        "-out",
        "pss.sig",
        "msg.bin",
    ]);
    t.openssl(&[
        "dgst", "-sha256", "-sign", "ec.key", "-out", "ec.sig", "msg.bin",
    ]);
    let cases = [
        ("rsa", "rsa.pub", "rsa.sig", "rsassa"),
        ("rsa", "rsa.pub", "pss.sig", "rsapss"),
        ("ecc", "ec.pub", "ec.sig", "ecdsa"),
    ];
    for (alg, public, sig, scheme) in cases {
        for hierarchy in ["o", "n"] {
            let mut args = vec!["-C", hierarchy, "-G", alg, "-u", public, "-c", "ext.ctx"];
            if alg == "rsa" {
                // openssl's PSS salt may be longer than the digest: no scheme on the key.
                args.extend_from_slice(&["-a", "sign|userwithauth"]);
            }
            t.ok("tpm2_loadexternal", &args);
            let _ = std::fs::remove_file(t.path("v.tk"));
            t.ok(
                "tpm2_verifysignature",
                &[
                    "-c", "ext.ctx", "-g", "sha256", "-m", "msg.bin", "-f", scheme, "-s", sig,
                    "-t", "v.tk",
                ],
            );
            if hierarchy == "o" {
                let fields = ticket_fields(&t.read("v.tk"));
                assert_eq!(
                    fields,
                    (0x8022, 0x4000_0001, ticket_len(&t)),
                    "{} {sig}",
                    t.peer()
                );
            } else if t.path("v.tk").exists() {
                // The tool may skip writing a NULL ticket.
                let fields = ticket_fields(&t.read("v.tk"));
                assert_eq!(fields, (0x8022, 0x4000_0007, 0), "{} {sig}", t.peer());
            }
        }
        // The same signature over another message.
        t.write("other.bin", b"not the message");
        t.ok(
            "tpm2_loadexternal",
            &["-C", "o", "-G", alg, "-u", public, "-c", "ext.ctx"],
        );
        t.fails(
            TPM_RC_SIGNATURE_P2,
            "tpm2_verifysignature",
            &[
                "-c",
                "ext.ctx",
                "-g",
                "sha256",
                "-m",
                "other.bin",
                "-f",
                scheme,
                "-s",
                sig,
            ],
        );
    }
}

/// tpm2_hash equals openssl dgst for every bank algorithm; the ticket is a HASHCHECK of the
/// hierarchy (NULL for the NULL hierarchy).
fn hash_matches_openssl(peer: Peer) {
    let t = tpm(&peer);
    for (alg, size) in BANKS {
        t.ok(
            "tpm2_hash",
            &[
                "-C", "o", "-g", alg, "-o", "out.bin", "-t", "tk.bin", "msg.bin",
            ],
        );
        let ours = t.read("out.bin");
        assert_eq!(ours.len(), size);
        t.openssl(&[
            "dgst",
            &format!("-{alg}"),
            "-binary",
            "-out",
            "ossl.bin",
            "msg.bin",
        ]);
        assert_eq!(ours, t.read("ossl.bin"), "{} {alg}", t.peer());
        assert_eq!(ours, hash(alg, MESSAGE));
        assert_eq!(
            ticket_fields(&t.read("tk.bin")),
            (0x8024, 0x4000_0001, ticket_len(&t))
        );
        t.ok(
            "tpm2_hash",
            &[
                "-C", "n", "-g", alg, "-o", "out.bin", "-t", "tk.bin", "msg.bin",
            ],
        );
        assert_eq!(t.read("out.bin"), ours);
        assert_eq!(ticket_fields(&t.read("tk.bin")), (0x8024, 0x4000_0007, 0));
    }
}

/// A restricted key signs a digest only with the ticket TPM2_Hash gave for it.
fn restricted_key_needs_ticket(peer: Peer) {
    let t = tpm(&peer);
    t.primary(
        "ecc256:ecdsa-sha256:null",
        RESTRICTED_ATTRS,
        "ak.ctx",
        Some("ak.pem"),
    );
    t.write("digest.bin", &sha2::Sha256::digest(MESSAGE));
    t.fails(
        TPM_RC_TICKET_P3,
        "tpm2_sign",
        &[
            "-c",
            "ak.ctx",
            "-g",
            "sha256",
            "-d",
            "-o",
            "sig.bin",
            "digest.bin",
        ],
    );
    t.ok(
        "tpm2_hash",
        &[
            "-C", "o", "-g", "sha256", "-o", "h.bin", "-t", "tk.bin", "msg.bin",
        ],
    );
    assert_eq!(t.read("h.bin"), t.read("digest.bin"));
    t.ok(
        "tpm2_sign",
        &[
            "-c",
            "ak.ctx",
            "-g",
            "sha256",
            "-d",
            "-t",
            "tk.bin",
            "-f",
            "plain",
            "-o",
            "sig.bin",
            "digest.bin",
        ],
    );
    t.openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        "ak.pem",
        "-signature",
        "sig.bin",
        "msg.bin",
    ]);
    // A NULL-hierarchy ticket is a NULL ticket: refused.
    t.ok(
        "tpm2_hash",
        &[
            "-C", "n", "-g", "sha256", "-o", "h.bin", "-t", "null.tk", "msg.bin",
        ],
    );
    t.fails(
        TPM_RC_TICKET_P3,
        "tpm2_sign",
        &[
            "-c",
            "ak.ctx",
            "-g",
            "sha256",
            "-d",
            "-t",
            "null.tk",
            "-o",
            "sig.bin",
            "digest.bin",
        ],
    );
}

/// Wrong schemes, keys without the sign attribute, and HMAC keys through tpm2_sign.
fn errors_and_hmac(peer: Peer) {
    let t = tpm(&peer);
    // The key's scheme is RSASSA: RSA-PSS from the caller is TPM_RC_SCHEME (parameter 2), and
    // so is another hash. tpm2_sign refuses both itself, so the TPM gets raw bytes.
    t.keep(
        "tpm2_createprimary",
        &[
            "-C",
            "o",
            "-G",
            "rsa2048:rsassa-sha256",
            "-a",
            SIGN_ATTRS,
            "-c",
            "rsa.ctx",
        ],
    );
    let digest = sha2::Sha256::digest(MESSAGE);
    let null_ticket = [0x80, 0x24, 0x40, 0, 0, 7, 0, 0];
    for scheme in [[0x00, 0x16, 0x00, 0x0B], [0x00, 0x14, 0x00, 0x04]] {
        let rc = raw_sign(&t, TRANSIENT_FIRST, &digest, &scheme, &null_ticket);
        assert_eq!(rc, TPM_RC_SCHEME_P2, "{}", t.peer());
    }
    // A digest of the wrong size (no ticket): TPM_RC_SIZE (parameter 1).
    let rc = raw_sign(
        &t,
        TRANSIENT_FIRST,
        &digest[..20],
        &[0x00, 0x10],
        &null_ticket,
    );
    assert_eq!(rc, TPM_RC_SIZE_P1, "{}", t.peer());
    assert_eq!(
        raw_sign(&t, TRANSIENT_FIRST, &digest, &[0x00, 0x10], &null_ticket),
        0,
        "{}",
        t.peer()
    );
    t.flush();
    // A decryption key cannot sign: TPM_RC_KEY (handle 1).
    t.primary(
        "ecc256:null",
        "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt",
        "dec.ctx",
        None,
    );
    t.write("digest.bin", &sha2::Sha256::digest(MESSAGE));
    t.fails(
        TPM_RC_KEY_H1,
        "tpm2_sign",
        &[
            "-c",
            "dec.ctx",
            "-g",
            "sha256",
            "-s",
            "ecdsa",
            "-d",
            "-o",
            "sig.bin",
            "digest.bin",
        ],
    );
    // An x509sign key signs certificates only: TPM_RC_ATTRIBUTES (handle 1).
    t.primary(
        "ecc256:ecdsa-sha256",
        // SIGN_ATTRS | x509sign (bit 19): the tools know no name for it.
        "0x000c0072",
        "x509.ctx",
        None,
    );
    t.fails(
        TPM_RC_ATTRIBUTES_H1,
        "tpm2_sign",
        &[
            "-c",
            "x509.ctx",
            "-g",
            "sha256",
            "-d",
            "-o",
            "sig.bin",
            "digest.bin",
        ],
    );
    // HMAC signing key: tpm2_sign, then tpm2_verifysignature in the TPM.
    t.primary("hmac", SIGN_ATTRS, "hmac.ctx", None);
    t.ok(
        "tpm2_sign",
        &[
            "-c", "hmac.ctx", "-g", "sha256", "-o", "hmac.sig", "msg.bin",
        ],
    );
    let sig = t.read("hmac.sig");
    // TPMT_SIGNATURE: HMAC, SHA-256, 32 bytes.
    assert_eq!(&sig[..4], &[0x00, 0x05, 0x00, 0x0B], "{}", t.peer());
    assert_eq!(sig.len(), 4 + 32);
    t.ok(
        "tpm2_verifysignature",
        &[
            "-c", "hmac.ctx", "-g", "sha256", "-m", "msg.bin", "-s", "hmac.sig", "-t", "v.tk",
        ],
    );
    assert_eq!(
        ticket_fields(&t.read("v.tk")),
        (0x8022, 0x4000_0001, ticket_len(&t))
    );
    let mut bad = sig.clone();
    bad[10] ^= 1;
    t.write("bad.sig", &bad);
    t.fails(
        TPM_RC_SIGNATURE_P2,
        "tpm2_verifysignature",
        &[
            "-c", "hmac.ctx", "-g", "sha256", "-m", "msg.bin", "-s", "bad.sig",
        ],
    );
}

/// GetCapability(TPM_CAP_ALGS) reports every signing scheme TPM2_Sign implements as a signing
/// algorithm, as swtpm does, and TestParms accepts keys with them.
fn signing_schemes_reported(peer: Peer) {
    let t = tpm(&peer);
    let out = t.ok("tpm2_getcap", &["algorithms"]);
    let text = format!("\n{out}");
    for (alg, asymmetric) in [
        ("rsassa", "1"),
        ("rsapss", "1"),
        ("ecdsa", "1"),
        ("ecschnorr", "1"),
        ("hmac", "0"),
    ] {
        let section = text
            .split(&format!("\n{alg}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("{}: no {alg} in {out}", t.peer()));
        assert_eq!(
            yaml_value(section, "signing"),
            Some("1"),
            "{} {alg}",
            t.peer()
        );
        assert_eq!(
            yaml_value(section, "asymmetric"),
            Some(asymmetric),
            "{} {alg}",
            t.peer()
        );
    }
    for parms in [
        "rsa2048:rsassa-sha256",
        "rsa2048:rsapss-sha512",
        "ecc256:ecdsa-sha384",
        "ecc384:ecdsa-sha512",
        "ecc256:ecschnorr-sha256",
    ] {
        t.ok("tpm2_testparms", &[parms]);
    }
}

/// VerifySignature's unmarshaling and range codes for the same raw bytes on both peers.
fn raw_verify_codes(peer: Peer) {
    let t = tpm(&peer);
    t.keep(
        "tpm2_createprimary",
        &[
            "-C",
            "o",
            "-G",
            "ecc256:ecdsa-sha256",
            "-a",
            SIGN_ATTRS,
            "-c",
            "k.ctx",
        ],
    );
    let digest = sha2::Sha256::digest(MESSAGE);
    let b2 = |v: &[u8]| [&u16::try_from(v.len()).unwrap().to_be_bytes()[..], v].concat();
    let cases: [(Vec<u8>, u32, &str); 7] = [
        (
            [&[0x00, 0x14, 0x00, 0x0B][..], &b2(&[0; 513])].concat(),
            0x2D5,
            "RSA sig over 512 bytes",
        ),
        (
            [&[0x00, 0x18, 0x00, 0x0B][..], &b2(&[1; 81]), &b2(&[1; 32])].concat(),
            0x2D5,
            // MAX_ECC_KEY_BYTES is 66 on vtpm (P-521), 80 on libtpms (BN P638): 81 is over both.
            "ECC r over MAX_ECC_KEY_BYTES",
        ),
        (
            [&[0x00, 0x18, 0x00, 0x0B][..], &b2(&[1; 32])].concat(),
            0x2DA,
            "s missing",
        ),
        (
            [&[0x00, 0x05, 0x00, 0x10][..]].concat(),
            0x2C3,
            "HMAC with a NULL hash",
        ),
        (
            [&[0x00, 0x10][..]].concat(),
            TPM_RC_SCHEME_P2,
            "NULL signature",
        ),
        (
            [&[0x00, 0x18, 0x00, 0x0B][..], &b2(&[0; 32]), &b2(&[1; 32])].concat(),
            TPM_RC_SIGNATURE_P2,
            "r = 0",
        ),
        (
            [
                &[0x00, 0x18, 0x00, 0x0B][..],
                &b2(&[1; 32]),
                &b2(&[0xff; 32]),
            ]
            .concat(),
            TPM_RC_SIGNATURE_P2,
            "s >= n",
        ),
    ];
    for (sig, want, what) in cases {
        let mut body = TRANSIENT_FIRST.to_be_bytes().to_vec();
        body.extend_from_slice(&b2(&digest));
        body.extend_from_slice(&sig);
        let resp = t.s.transact(&command(0x8001, 0x177, &body)).unwrap();
        assert_eq!(response_code(&resp), Some(want), "{}: {what}", t.peer());
    }
    t.flush();
}

both!(
    sign_verified_by_openssl,
    verify_openssl_signatures,
    hash_matches_openssl,
    restricted_key_needs_ticket,
    errors_and_hmac,
    signing_schemes_reported,
    raw_verify_codes,
);

/// EC-Schnorr (the TPM's variant) between vtpm and swtpm: each verifies the other's signatures
/// with the public key loaded by tpm2_loadexternal, for P-256 and P-384 with SHA-256 and SHA-384
/// (a hash longer than the order is truncated).
#[test]
fn ecschnorr_interoperates_with_swtpm() {
    let vtpm = tpm(&vtpm());
    let swtpm = tpm(&Peer::Swtpm);
    for (curve, hash) in [
        ("ecc256", "sha256"),
        ("ecc256", "sha384"),
        ("ecc384", "sha256"),
    ] {
        for (signer, verifier) in [(&vtpm, &swtpm), (&swtpm, &vtpm)] {
            let alg = format!("{curve}:ecschnorr-{hash}");
            signer.primary(&alg, SIGN_ATTRS, "s.ctx", Some("s.pem"));
            signer.ok(
                "tpm2_sign",
                // The tool asks for ECDSA unless told otherwise.
                &[
                    "-c",
                    "s.ctx",
                    "-g",
                    hash,
                    "-s",
                    "ecschnorr",
                    "-o",
                    "s.sig",
                    "msg.bin",
                ],
            );
            let sig = signer.read("s.sig");
            assert_eq!(&sig[..2], &[0x00, 0x1C], "{alg} by {}", signer.peer());
            // The signer verifies its own signature.
            signer.ok(
                "tpm2_verifysignature",
                &["-c", "s.ctx", "-g", hash, "-m", "msg.bin", "-s", "s.sig"],
            );
            verifier.write("s.pem", &signer.read("s.pem"));
            verifier.write("s.sig", &sig);
            verifier.ok(
                "tpm2_loadexternal",
                &["-C", "o", "-G", "ecc", "-u", "s.pem", "-c", "ext.ctx"],
            );
            verifier.ok(
                "tpm2_verifysignature",
                &["-c", "ext.ctx", "-g", hash, "-m", "msg.bin", "-s", "s.sig"],
            );
            verifier.write("other.bin", b"other");
            verifier.ok(
                "tpm2_loadexternal",
                &["-C", "o", "-G", "ecc", "-u", "s.pem", "-c", "ext.ctx"],
            );
            verifier.fails(
                TPM_RC_SIGNATURE_P2,
                "tpm2_verifysignature",
                &[
                    "-c",
                    "ext.ctx",
                    "-g",
                    hash,
                    "-m",
                    "other.bin",
                    "-s",
                    "s.sig",
                ],
            );
        }
    }
}
