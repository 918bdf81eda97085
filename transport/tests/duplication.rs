//! Duplication and import driven by tpm2-tools (Part 3, section 13): an object
//! duplicated on one TPM with tpm2_duplicate (to a new parent that TPM only
//! knows as a public key, loaded with tpm2_loadexternal) and imported with
//! tpm2_import into a SECOND TPM, where it loads and signs (checked by
//! openssl) or unseals. The pairs vtpm -> vtpm, vtpm -> swtpm and swtpm ->
//! vtpm, RSA and ECC new parents, with and without an inner wrapper (TPM- or
//! caller-chosen key). Then tpm2_import of openssl-made keys, and the
//! refusals (fixedParent objects, no policy session) on vtpm and swtpm.
//!
//! Without a resource manager every tool that loads a context leaves it
//! loaded: `Side::ok` flushes the transient objects after each tool.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

type Side = Work;

/// One TPM and a working directory for its tools' files: tools that succeed are followed
/// by flushing transient objects, tools that fail by flushing objects and sessions.
fn side(peer: &Peer) -> Side {
    Work::new(peer).auto_flush().flush_after_fail(&["-t", "-s"])
}

const TPM_RC_AUTH_TYPE: u32 = 0x124; // DUP role without a policy session
const TPM_RC_POLICY_FAIL_S1: u32 = 0x99D;
const TPM_RC_INTEGRITY_P3: u32 = 0x3DF; // Import: duplicate damaged or not this object's
const TPM_RC_FAILURE: u32 = 0x101; // ... as libtpms reports it

/// tpm2_duplicate of obj.ctx to np.ctx, no inner wrapper, under the policy session s.ctx.
const DUPLICATE_OBJ: &[&str] = &[
    "-C",
    "np.ctx",
    "-c",
    "obj.ctx",
    "-G",
    "null",
    "-p",
    "session:s.ctx",
    "-r",
    "dup.priv",
    "-s",
    "dup.seed",
];

impl Side {
    /// A storage primary in the owner hierarchy (`alg`: rsa2048 / ecc256).
    fn primary(&self, alg: &str, ctx: &str) {
        self.ok(
            "tpm2_createprimary",
            &["-Q", "-C", "o", "-g", "sha256", "-G", alg, "-c", ctx],
        );
    }

    /// dup.policy = PolicyCommandCode(TPM2_CC_Duplicate), from a trial session.
    fn dup_policy(&self) {
        self.keep("tpm2_startauthsession", &["-S", "trial.ctx"]);
        self.keep(
            "tpm2_policycommandcode",
            &["-S", "trial.ctx", "-L", "dup.policy", "TPM2_CC_Duplicate"],
        );
        self.keep("tpm2_flushcontext", &["trial.ctx"]);
    }

    /// A policy session that ran PolicyCommandCode(Duplicate) -> s.ctx.
    fn dup_session(&self) {
        self.keep(
            "tpm2_startauthsession",
            &["--policy-session", "-S", "s.ctx"],
        );
        self.keep(
            "tpm2_policycommandcode",
            &["-S", "s.ctx", "TPM2_CC_Duplicate"],
        );
    }
}

/// What is duplicated: a sealed secret or an ECC signing key.
#[derive(Clone, Copy, PartialEq)]
enum Payload {
    Sealed,
    Signer,
}

/// The inner wrapper: none, a key the TPM picks, or one the caller gives.
#[derive(Clone, Copy, PartialEq)]
enum Inner {
    None,
    TpmKey,
    CallerKey,
}

const SECRET: &[u8] = b"secure key release between TPMs";

/// `src` duplicates a new object under its own primary to `dst`'s storage
/// primary (`parent_alg`), `dst` imports, loads and uses it.
fn cross(src: Peer, dst: Peer, parent_alg: &str, inner: Inner, payload: Payload) {
    let a = side(&src);
    let b = side(&dst);
    let what = format!("{} -> {} ({parent_alg})", a.peer(), b.peer());
    // The destination's storage key, public part only, goes to the source.
    b.primary(parent_alg, "np_primary.ctx");
    b.ok("tpm2_readpublic", &["-c", "np_primary.ctx", "-o", "np.pub"]);
    b.send(&a, "np.pub");

    a.primary("ecc256", "primary.ctx");
    a.dup_policy();
    let mut create = vec![
        "-C",
        "primary.ctx",
        "-L",
        "dup.policy",
        "-u",
        "obj.pub",
        "-r",
        "obj.priv",
    ];
    match payload {
        Payload::Sealed => {
            a.write("secret.txt", SECRET);
            create.extend(["-i", "secret.txt", "-a", "userwithauth"]);
        }
        Payload::Signer => {
            create.extend([
                "-G",
                "ecc256:ecdsa-sha256",
                "-a",
                "userwithauth|sign|sensitivedataorigin",
            ]);
        }
    }
    a.ok("tpm2_create", &create);
    a.ok(
        "tpm2_loadexternal",
        &["-C", "o", "-u", "np.pub", "-c", "np.ctx"],
    );
    a.load("primary.ctx", "obj");
    a.dup_session();
    let mut dup = vec![
        "-C",
        "np.ctx",
        "-c",
        "obj.ctx",
        "-p",
        "session:s.ctx",
        "-r",
        "dup.priv",
        "-s",
        "dup.seed",
    ];
    match inner {
        Inner::None => dup.extend(["-G", "null"]),
        Inner::TpmKey => dup.extend(["-G", "aes", "-o", "inner.key"]),
        Inner::CallerKey => {
            a.write("inner.key", &[0x5C; 16]);
            dup.extend(["-G", "aes", "-i", "inner.key"]);
        }
    }
    a.ok("tpm2_duplicate", &dup);
    a.keep("tpm2_flushcontext", &["s.ctx"]);
    if inner == Inner::TpmKey {
        assert_eq!(
            a.read("inner.key").len(),
            16,
            "{what}: TPM-chosen inner key"
        );
    }
    for f in ["obj.pub", "dup.priv", "dup.seed"] {
        a.send(&b, f);
    }
    let mut import = vec![
        "-C",
        "np_primary.ctx",
        "-u",
        "obj.pub",
        "-i",
        "dup.priv",
        "-s",
        "dup.seed",
        "-r",
        "imported.priv",
    ];
    if inner != Inner::None {
        a.send(&b, "inner.key");
        import.extend(["-k", "inner.key"]);
    }
    b.ok("tpm2_import", &import);
    b.ok(
        "tpm2_load",
        &[
            "-C",
            "np_primary.ctx",
            "-u",
            "obj.pub",
            "-r",
            "imported.priv",
            "-c",
            "imported.ctx",
        ],
    );
    // Same object, same Name on both sides.
    let name = |s: &Side, ctx: &str| {
        let out = s.ok("tpm2_readpublic", &["-c", ctx]);
        yaml_value(&out, "name").unwrap().to_string()
    };
    assert_eq!(name(&a, "obj.ctx"), name(&b, "imported.ctx"), "{what}");
    match payload {
        Payload::Sealed => {
            b.ok("tpm2_unseal", &["-c", "imported.ctx", "-o", "out.txt"]);
            assert_eq!(b.read("out.txt"), SECRET, "{what}: unsealed secret");
        }
        Payload::Signer => {
            b.write("msg.txt", b"signed where it was imported");
            b.ok(
                "tpm2_sign",
                &[
                    "-c",
                    "imported.ctx",
                    "-g",
                    "sha256",
                    "-f",
                    "plain",
                    "-o",
                    "sig.der",
                    "msg.txt",
                ],
            );
            // Verified with the public key as the SOURCE TPM reports it.
            a.ok(
                "tpm2_readpublic",
                &["-c", "obj.ctx", "-f", "pem", "-o", "obj.pem"],
            );
            a.send(&b, "obj.pem");
            let v = run(
                "openssl",
                &[
                    "dgst",
                    "-sha256",
                    "-verify",
                    "obj.pem",
                    "-signature",
                    "sig.der",
                    "msg.txt",
                ],
                &[],
                Some(b.dir.path()),
            );
            assert!(v.ok(), "{what}: openssl rejects the signature: {v}");
        }
    }
}

#[test]
fn vtpm_to_vtpm_ecc_parent_tpm_inner_key_sealed() {
    cross(vtpm(), vtpm(), "ecc256", Inner::TpmKey, Payload::Sealed);
}

#[test]
fn vtpm_to_vtpm_ecc_parent_no_inner_signer() {
    cross(vtpm(), vtpm(), "ecc256", Inner::None, Payload::Signer);
}

#[test]
fn vtpm_to_vtpm_rsa_parent_no_inner_sealed() {
    cross(vtpm(), vtpm(), "rsa2048", Inner::None, Payload::Sealed);
}

#[test]
fn vtpm_to_vtpm_rsa_parent_caller_inner_key_signer() {
    cross(vtpm(), vtpm(), "rsa2048", Inner::CallerKey, Payload::Signer);
}

#[test]
fn vtpm_to_swtpm_ecc_parent_tpm_inner_key_signer() {
    cross(
        vtpm(),
        Peer::Swtpm,
        "ecc256",
        Inner::TpmKey,
        Payload::Signer,
    );
}

#[test]
fn vtpm_to_swtpm_rsa_parent_no_inner_sealed() {
    cross(vtpm(), Peer::Swtpm, "rsa2048", Inner::None, Payload::Sealed);
}

#[test]
fn swtpm_to_vtpm_rsa_parent_caller_inner_key_sealed() {
    cross(
        Peer::Swtpm,
        vtpm(),
        "rsa2048",
        Inner::CallerKey,
        Payload::Sealed,
    );
}

#[test]
fn swtpm_to_vtpm_ecc_parent_no_inner_signer() {
    cross(Peer::Swtpm, vtpm(), "ecc256", Inner::None, Payload::Signer);
}

#[test]
fn swtpm_to_vtpm_ecc_parent_tpm_inner_key_signer() {
    cross(
        Peer::Swtpm,
        vtpm(),
        "ecc256",
        Inner::TpmKey,
        Payload::Signer,
    );
}

/// tpm2_import of a key made by openssl (the tool builds the duplication
/// blob itself, with an inner wrapper and a seed for the parent), then
/// signing with it, checked by openssl.
fn import_openssl_key(peer: Peer, parent_alg: &str, key_alg: &str) {
    let t = side(&peer);
    t.primary(parent_alg, "primary.ctx");
    let genkey: &[&str] = if key_alg == "rsa" {
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "ext.pem",
        ]
    } else {
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ext.pem",
        ]
    };
    assert!(run("openssl", genkey, &[], Some(t.dir.path())).ok());
    t.ok(
        "tpm2_import",
        &[
            "-C",
            "primary.ctx",
            "-G",
            key_alg,
            "-i",
            "ext.pem",
            "-u",
            "k.pub",
            "-r",
            "k.priv",
        ],
    );
    t.load("primary.ctx", "k");
    t.write("msg.txt", b"signed by an imported key");
    t.ok(
        "tpm2_sign",
        &[
            "-c", "k.ctx", "-g", "sha256", "-f", "plain", "-o", "sig.bin", "msg.txt",
        ],
    );
    let out = |args: &[&str]| {
        let o = run("openssl", args, &[], Some(t.dir.path()));
        assert!(o.ok(), "{} openssl {args:?}: {o}", t.peer());
    };
    out(&["pkey", "-in", "ext.pem", "-pubout", "-out", "ext.pub.pem"]);
    out(&[
        "dgst",
        "-sha256",
        "-verify",
        "ext.pub.pem",
        "-signature",
        "sig.bin",
        "msg.txt",
    ]);
}

fn import_openssl_ecc_under_rsa(peer: Peer) {
    import_openssl_key(peer, "rsa2048", "ecc");
}

fn import_openssl_rsa_under_ecc(peer: Peer) {
    import_openssl_key(peer, "ecc256", "rsa");
}

/// An object duplicable by policy, under a storage primary, and the new
/// parent (a second primary) loaded from contexts.
fn setup_refusal(t: &Side, attrs: &str) {
    t.primary("ecc256", "primary.ctx");
    t.primary("rsa2048", "np.ctx");
    t.dup_policy();
    t.write("secret.txt", SECRET);
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "primary.ctx",
            "-i",
            "secret.txt",
            "-L",
            "dup.policy",
            "-a",
            attrs,
            "-u",
            "obj.pub",
            "-r",
            "obj.priv",
        ],
    );
    t.load("primary.ctx", "obj");
}

fn duplicate_refused_for_fixed_parent(peer: Peer) {
    let t = side(&peer);
    setup_refusal(&t, "fixedtpm|fixedparent|userwithauth");
    t.dup_session();
    t.fails(TPM_RC_ATTRIBUTES_H1, "tpm2_duplicate", DUPLICATE_OBJ);
}

fn duplicate_refused_without_the_policy(peer: Peer) {
    let t = side(&peer);
    setup_refusal(&t, "userwithauth");
    // A password (the object has userWithAuth and an empty authValue).
    t.fails(
        TPM_RC_AUTH_TYPE,
        "tpm2_duplicate",
        &[
            "-C", "np.ctx", "-c", "obj.ctx", "-G", "null", "-r", "dup.priv", "-s", "dup.seed",
        ],
    );
    // A policy session whose policy is not the object's.
    t.keep(
        "tpm2_startauthsession",
        &["--policy-session", "-S", "s.ctx"],
    );
    t.keep("tpm2_policycommandcode", &["-S", "s.ctx", "TPM2_CC_Unseal"]);
    t.fails(TPM_RC_POLICY_FAIL_S1, "tpm2_duplicate", DUPLICATE_OBJ);
}

/// Import refusals, same codes on vtpm and swtpm: a damaged blob, another
/// object's public area, a seed encrypted to another RSA parent.
fn import_refusals(peer: Peer) {
    let t = side(&peer);
    setup_refusal(&t, "userwithauth");
    t.dup_session();
    t.ok(
        "tpm2_duplicate",
        &[
            "-C",
            "np.ctx",
            "-c",
            "obj.ctx",
            "-G",
            "aes",
            "-o",
            "inner.key",
            "-p",
            "session:s.ctx",
            "-r",
            "dup.priv",
            "-s",
            "dup.seed",
        ],
    );
    t.keep("tpm2_flushcontext", &["s.ctx"]);
    let import = |public: &str, private: &str, parent: &str| {
        vec![
            "-C".to_string(),
            parent.to_string(),
            "-u".into(),
            public.into(),
            "-i".into(),
            private.into(),
            "-s".into(),
            "dup.seed".into(),
            "-k".into(),
            "inner.key".into(),
            "-r".into(),
            "out.priv".into(),
        ]
    };
    let run_import = |want: Option<u32>, args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match want {
            Some(rc) => t.fails(rc, "tpm2_import", &args),
            None => {
                t.ok("tpm2_import", &args);
            }
        }
    };
    // The last byte of the TPM2B_PRIVATE file is ciphertext.
    let mut bad = t.read("dup.priv");
    *bad.last_mut().unwrap() ^= 1;
    t.write("bad.priv", &bad);
    run_import(
        Some(TPM_RC_INTEGRITY_P3),
        import("obj.pub", "bad.priv", "np.ctx"),
    );
    // Another object's public area: another Name.
    t.write("other.txt", b"other");
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "primary.ctx",
            "-i",
            "other.txt",
            "-L",
            "dup.policy",
            "-a",
            "userwithauth",
            "-u",
            "other.pub",
            "-r",
            "other.priv",
        ],
    );
    run_import(
        Some(TPM_RC_INTEGRITY_P3),
        import("other.pub", "dup.priv", "np.ctx"),
    );
    // The seed was encrypted to np (RSA); an RSA primary of another template
    // cannot decrypt it. vtpm answers TPM_RC_VALUE for the parameter as the
    // reference code says; libtpms 0.9.2 (OpenSSL backend) reports the OAEP
    // failure as TPM_RC_FAILURE.
    t.ok(
        "tpm2_createprimary",
        &[
            "-Q",
            "-C",
            "o",
            "-G",
            "rsa2048",
            "-a",
            "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda",
            "-c",
            "p2.ctx",
        ],
    );
    let want = match t.s.peer {
        Peer::Swtpm => TPM_RC_FAILURE,
        _ => TPM_RC_VALUE_P4, // inSymSeed not for this (RSA) parent
    };
    run_import(Some(want), import("obj.pub", "dup.priv", "p2.ctx"));
    // And the genuine blob still imports.
    run_import(None, import("obj.pub", "dup.priv", "np.ctx"));
}

both!(
    import_refusals,
    import_openssl_ecc_under_rsa,
    import_openssl_rsa_under_ecc,
    duplicate_refused_for_fixed_parent,
    duplicate_refused_without_the_policy,
);
