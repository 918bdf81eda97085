//! Salted and bound HMAC sessions through tpm2-tools (ESAPI encrypts the salt to
//! the tpmKey and checks every response HMAC, so a wrong salt or session key
//! fails the tool): RSA-OAEP and ECDH salts, with parameter encryption.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

/// A salted session with parameter encryption of GetRandom's output, for a
/// primary key of type `alg` as the tpmKey.
fn salted_getrandom(s: &TpmServer, dir: &std::path::Path, alg: &str) {
    let key = dir.join(format!("{alg}.ctx"));
    let ses = dir.join(format!("{alg}.ses"));
    let (key, ses) = (key.to_str().unwrap(), ses.to_str().unwrap());
    must(s, "tpm2_createprimary", &["-C", "o", "-G", alg, "-c", key]);
    must(s, "tpm2_flushcontext", &["-t"]);
    must(
        s,
        "tpm2_startauthsession",
        &["-S", ses, "--hmac-session", "--tpmkey-context", key],
    );
    must(s, "tpm2_sessionconfig", &[ses, "--enable-encrypt"]);
    let out = must(s, "tpm2_getrandom", &["-S", ses, "16", "--hex"]);
    assert_eq!(unhex(&out).map(|b| b.len()), Some(16), "{alg}: {out:?}");
    must(s, "tpm2_flushcontext", &[ses]);
    must(s, "tpm2_flushcontext", &["-t"]);
}

fn rsa_and_ecc_salts(peer: Peer) {
    let s = started(&peer);
    let dir = tempfile::tempdir().unwrap();
    for alg in ["rsa2048", "ecc256", "ecc384"] {
        salted_getrandom(&s, dir.path(), alg);
    }
}

/// A session both bound to the SRK and salted with it authorizes Create
/// under the SRK (authValue left out of the HMAC key: bound entity), and a
/// salted session with parameter encryption protects the sealed data on Unseal.
fn bound_and_salted_authorize(peer: Peer) {
    let s = started(&peer);
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    must(
        &s,
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", &p("srk.ctx"), "-p", "srkpw"],
    );
    must(&s, "tpm2_flushcontext", &["-t"]);
    must(
        &s,
        "tpm2_startauthsession",
        &[
            "-S",
            &p("b.ses"),
            "--hmac-session",
            "--tpmkey-context",
            &p("srk.ctx"),
            "--bind-context",
            &p("srk.ctx"),
            "--bind-auth",
            "srkpw",
        ],
    );
    must(&s, "tpm2_flushcontext", &["-t"]);
    std::fs::write(p("secret"), b"salted and bound").unwrap();
    must(
        &s,
        "tpm2_create",
        &[
            "-C",
            &p("srk.ctx"),
            "-P",
            &format!("session:{}", p("b.ses")),
            "-i",
            &p("secret"),
            "-p",
            "objpw",
            "-u",
            &p("s.pub"),
            "-r",
            &p("s.priv"),
        ],
    );
    must(&s, "tpm2_flushcontext", &[&p("b.ses")]);
    must(&s, "tpm2_flushcontext", &["-t"]);
    must(
        &s,
        "tpm2_load",
        &[
            "-C",
            &p("srk.ctx"),
            "-P",
            "srkpw",
            "-u",
            &p("s.pub"),
            "-r",
            &p("s.priv"),
            "-c",
            &p("s.ctx"),
        ],
    );
    must(&s, "tpm2_flushcontext", &["-t"]);
    must(
        &s,
        "tpm2_startauthsession",
        &[
            "-S",
            &p("e.ses"),
            "--hmac-session",
            "--tpmkey-context",
            &p("srk.ctx"),
        ],
    );
    must(&s, "tpm2_flushcontext", &["-t"]);
    must(&s, "tpm2_sessionconfig", &[&p("e.ses"), "--enable-encrypt"]);
    let out = must(
        &s,
        "tpm2_unseal",
        &["-c", &p("s.ctx"), "-p", "objpw", "-S", &p("e.ses")],
    );
    assert_eq!(out, "salted and bound", "{}", peer.name());
}

both!(rsa_and_ecc_salts, bound_and_salted_authorize);
