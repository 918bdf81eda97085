//! Parameter encryption seen on the wire: tpm2-tools with an HMAC session
//! configured for decrypt and encrypt seal and unseal a secret through vtpm,
//! and the recorded command/response stream (`vtpm socket --record`) never
//! carries the secret in the clear. The same flow without the session
//! attributes shows the secret, so the check can see plaintext when it is there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

const SECRET: &[u8] = b"disk key: 5e1f9a0c7b3d";

/// Seals SECRET under a primary key and unseals it, authorizing both with an
/// HMAC session (attributes from `tpm2_sessionconfig`); returns the hex of
/// everything on the wire.
fn seal_and_unseal(encrypt: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("wire.rec");
    let rec = record.to_str().unwrap();
    let s = TpmServer::socket_with(&vtpm(), &["--record", rec]).unwrap();
    must(&s, "tpm2_startup", &["-c"]);
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(p("secret"), SECRET).unwrap();
    must(
        &s,
        "tpm2_createprimary",
        &["-C", "o", "-g", "sha256", "-G", "ecc", "-c", &p("prim.ctx")],
    );
    must(&s, "tpm2_flushcontext", &["-t"]);
    must(
        &s,
        "tpm2_startauthsession",
        &[
            "-S",
            &p("s.ses"),
            "--hmac-session",
            "--tpmkey-context",
            &p("prim.ctx"),
        ],
    );
    must(&s, "tpm2_flushcontext", &["-t"]);
    if encrypt {
        must(
            &s,
            "tpm2_sessionconfig",
            &[&p("s.ses"), "--enable-encrypt", "--enable-decrypt"],
        );
    }
    let session = format!("session:{}", p("s.ses"));
    must(
        &s,
        "tpm2_create",
        &[
            "-C",
            &p("prim.ctx"),
            "-P",
            &session,
            "-i",
            &p("secret"),
            "-u",
            &p("o.pub"),
            "-r",
            &p("o.priv"),
        ],
    );
    must(&s, "tpm2_flushcontext", &["-t"]);
    must(
        &s,
        "tpm2_load",
        &[
            "-C",
            &p("prim.ctx"),
            "-u",
            &p("o.pub"),
            "-r",
            &p("o.priv"),
            "-c",
            &p("o.ctx"),
        ],
    );
    must(&s, "tpm2_flushcontext", &["-t"]);
    let out = s.tools().run(
        "tpm2_unseal",
        &["-c", &p("o.ctx"), "-p", &session, "-o", &p("out")],
    );
    assert!(out.ok(), "unseal: {out}");
    assert_eq!(std::fs::read(p("out")).unwrap(), SECRET);
    drop(s);
    std::fs::read_to_string(&record).unwrap().to_lowercase()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn secret_never_crosses_the_wire_in_the_clear() {
    let clear = seal_and_unseal(false);
    let lines = |wire: &str| wire.lines().filter(|l| l.contains(&hex(SECRET))).count();
    // Without parameter encryption the secret is in TPM2_Create and TPM2_Unseal.
    assert_eq!(
        lines(&clear),
        2,
        "plaintext flow: Create and Unseal carry the secret"
    );
    let protected = seal_and_unseal(true);
    assert_eq!(
        lines(&protected),
        0,
        "encrypted flow leaks the secret:\n{protected}"
    );
}
