//! Keys, hierarchies and objects driven by tpm2-tools: CreatePrimary for every key type and
//! hierarchy (public keys checked with openssl), Create / CreateLoaded / Load / ReadPublic /
//! FlushContext, seal and unseal, EK stability and ChangeEPS / ChangePPS, EvictControl,
//! HierarchyChangeAuth, ObjectChangeAuth, Clear / ClearControl, HierarchyControl,
//! SetPrimaryPolicy, object slots and what Startup does to transient objects and saved contexts.
//!
//! tpm2-tools talk to the server without a resource manager: every tool that is given a context
//! file ContextLoads it and leaves the copy loaded (swtpm has 3 object slots). So `Tpm::ok` and
//! `Tpm::rc` flush all transient objects after each tool; `Tpm::keep` does not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Stdio};

use sha2::Digest;

mod common;
use common::*;

const TPM_RC_HIERARCHY_H1: u32 = 0x185; // TPM_RC_HIERARCHY, handle 1
const TPM_RC_HIERARCHY_H2: u32 = 0x285; // TPM_RC_HIERARCHY, handle 2
const TPM_RC_HANDLE_H1: u32 = 0x18B; // TPM_RC_HANDLE, handle 1
const TPM_RC_REFERENCE_H0: u32 = 0x910; // transient handle not loaded
const TPM_RC_HIERARCHY_P1: u32 = 0x1C5; // TPM_RC_HIERARCHY, parameter 1 (ContextLoad)
const TPM_RC_TYPE_H1: u32 = 0x18A;
const TPM_RC_RANGE_P1: u32 = 0x1CD; // TPM_RC_RANGE, parameter 1
const TPM_RC_NV_DEFINED: u32 = 0x14C;
const TPM_RC_DISABLED: u32 = 0x120;
const TPM_RC_AUTH_UNAVAILABLE: u32 = 0x12F;
const TPM_RC_AUTH_FAIL: u32 = 0x98E; // wrong auth, DA-protected entity (session 1)
const TPM_RC_LOCKOUT: u32 = 0x921;
const TPM_RC_OBJECT_MEMORY: u32 = 0x902;

/// Attributes for an HMAC primary (the tools' default primary attributes are restricted|decrypt,
/// which a keyedhash with the HMAC scheme cannot have).
const HMAC_ATTRS: &str = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign";

/// The policy digest of the TCG EK templates (PolicySecret(TPM_RH_ENDORSEMENT)).
const EK_POLICY: &str = "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa";

/// Like `both!`, for cases swtpm cannot run: only `mod NAME { #[test] fn vtpm(); }`.
macro_rules! vtpm_only {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn vtpm() {
                super::$name(super::common::vtpm())
            }
        }
    )*};
}

impl Tpm {
    /// Run a tool with `input` on its standard input; assert exit 0; flush transients.
    fn ok_stdin(&self, tool: &str, args: &[&str], input: &[u8]) -> String {
        let mut child = Command::new(tool)
            .args(args)
            .env("TPM2TOOLS_TCTI", &self.tools().tcti)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{} {tool} {args:?} (stdin) failed: {}\n{}",
            self.peer(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.flush();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Transient handles as listed by `tpm2_getcap handles-transient`.
    fn transients(&self) -> Vec<String> {
        handles(&self.keep("tpm2_getcap", &["handles-transient"]))
    }

    fn persistents(&self) -> Vec<String> {
        handles(&self.keep("tpm2_getcap", &["handles-persistent"]))
    }

    /// A flag or value of `tpm2_getcap properties-variable` (e.g. "shEnable", "ownerAuthSet").
    fn var(&self, key: &str) -> String {
        let out = self.keep("tpm2_getcap", &["properties-variable"]);
        yaml_value(&out, key)
            .unwrap_or_else(|| panic!("{}: no {key} in {out}", self.peer()))
            .to_string()
    }

    /// `raw` of a `tpm2_getcap properties-fixed` entry.
    fn fixed(&self, key: &str) -> u32 {
        let out = self.keep("tpm2_getcap", &["properties-fixed"]);
        let v = sub_value(&out, key, "raw").unwrap_or_else(|| panic!("no {key} in {out}"));
        parse_num(v)
    }

    /// Name of a loaded object / context file / persistent handle, via tpm2_readpublic.
    fn name(&self, ctx: &str) -> String {
        let out = self.ok("tpm2_readpublic", &["-c", ctx]);
        yaml_value(&out, "name")
            .unwrap_or_else(|| panic!("no name in {out}"))
            .to_string()
    }

    /// SIGKILL, start again on the same state, tpm2_startup -c (a TPM Reset).
    fn kill_restart(&mut self) {
        self.s.restart().unwrap();
        self.keep("tpm2_startup", &["-c"]);
    }

    /// tpm2_shutdown `shutdown`, power cycle (swtpm_ioctl -i), tpm2_startup `startup`.
    fn power_cycle(&self, shutdown: &[&str], startup: &[&str]) {
        self.keep("tpm2_shutdown", shutdown);
        let out = self.s.ioctl(&["-i"]);
        assert!(out.ok(), "{}: swtpm_ioctl -i: {out}", self.peer());
        self.keep("tpm2_startup", startup);
    }

    /// TPM Reset: Shutdown(CLEAR), _TPM_Init, Startup(CLEAR).
    fn tpm_reset(&self) {
        self.power_cycle(&["-c"], &["-c"]);
    }

    /// TPM Restart: Shutdown(STATE), _TPM_Init, Startup(CLEAR).
    fn tpm_restart(&self) {
        self.power_cycle(&[], &["-c"]);
    }

    /// TPM Resume: Shutdown(STATE), _TPM_Init, Startup(STATE).
    fn tpm_resume(&self) {
        self.power_cycle(&[], &[]);
    }
}

fn parse_num(v: &str) -> u32 {
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).unwrap(),
        None => v.parse().unwrap(),
    }
}

/// `- 0x80000000` lines of tpm2_getcap handles-*.
fn handles(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|h| h.trim().to_lowercase())
        .collect()
}

/// In YAML-ish output, the value of `sub:` in the block under `key:` (e.g. `type:` / `value:`).
fn sub_value<'a>(text: &'a str, key: &str, sub: &str) -> Option<&'a str> {
    let mut lines = text.lines().skip_while(|l| {
        !l.split_once(':')
            .is_some_and(|(k, v)| k.trim() == key && v.trim().is_empty())
    });
    lines.next()?;
    lines.take_while(|l| l.starts_with(' ')).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == sub).then(|| v.trim())
    })
}

/// Name of a TPM2B_PUBLIC (sha256 nameAlg): 000b || SHA-256(TPMT_PUBLIC).
fn name_of(tpm2b_public: &[u8]) -> String {
    let size = usize::from(u16::from_be_bytes([tpm2b_public[0], tpm2b_public[1]]));
    assert_eq!(size + 2, tpm2b_public.len(), "TPM2B_PUBLIC size field");
    let area = &tpm2b_public[2..];
    assert_eq!(&area[2..4], &[0, 0xB], "nameAlg sha256");
    format!("000b{}", hex(&sha2::Sha256::digest(area)))
}

fn openssl(args: &[&str]) -> Output {
    run("openssl", args, &[], None)
}

/// Which key a createprimary -G spec makes, and what to check about it.
#[derive(Clone, Copy)]
enum Kind {
    Rsa(u32),
    /// (OpenSSL curve OID name, bits)
    Ecc(&'static str, u32),
    KeyedHash,
    Aes(u32),
}

/// createprimary `alg` in each of o, e, p, n: valid key, right type and size, deterministic per
/// hierarchy, different between hierarchies.
fn primary_in_every_hierarchy(peer: Peer, alg: &str, kind: Kind) {
    let t = Tpm::flushing(&peer);
    let mut names = Vec::new();
    for h in ["o", "e", "p", "n"] {
        let mut args = vec!["-C", h, "-G", alg, "-c", "prim.ctx"];
        if matches!(kind, Kind::KeyedHash) {
            args.extend(["-a", HMAC_ATTRS]);
        }
        let what = format!("{} createprimary -C {h} -G {alg}", t.peer());
        t.ok("tpm2_createprimary", &args);
        let text = t.ok("tpm2_readpublic", &["-c", "prim.ctx", "-o", "prim.pub"]);
        let name = yaml_value(&text, "name").unwrap().to_string();
        assert_eq!(name, name_of(&t.read("prim.pub")), "{what}: name");
        assert_eq!(
            sub_value(&text, "name-alg", "value"),
            Some("sha256"),
            "{what}: {text}"
        );
        let ty = sub_value(&text, "type", "value");
        match kind {
            Kind::Rsa(bits) => {
                assert_eq!(ty, Some("rsa"), "{what}: {text}");
                assert_eq!(yaml_value(&text, "bits"), Some(bits.to_string().as_str()));
                t.ok(
                    "tpm2_readpublic",
                    &["-c", "prim.ctx", "-f", "pem", "-o", "prim.pem"],
                );
                let pem = t.path("prim.pem").display().to_string();
                let out = openssl(&["pkey", "-pubin", "-in", &pem, "-noout", "-text"]);
                assert!(out.ok(), "{what}: openssl: {out}");
                assert!(
                    out.stdout.contains(&format!("Public-Key: ({bits} bit)")),
                    "{what}: {out}"
                );
                assert!(out.stdout.contains("Exponent: 65537"), "{what}: {out}");
                let chk = openssl(&["pkey", "-pubin", "-in", &pem, "-pubcheck", "-noout"]);
                assert!(chk.ok(), "{what}: openssl -pubcheck: {chk}");
            }
            Kind::Ecc(oid, bits) => {
                assert_eq!(ty, Some("ecc"), "{what}: {text}");
                t.ok(
                    "tpm2_readpublic",
                    &["-c", "prim.ctx", "-f", "pem", "-o", "prim.pem"],
                );
                let pem = t.path("prim.pem").display().to_string();
                let out = openssl(&["pkey", "-pubin", "-in", &pem, "-noout", "-text"]);
                assert!(out.ok(), "{what}: openssl: {out}");
                assert!(
                    out.stdout.contains(&format!("Public-Key: ({bits} bit)"))
                        && out.stdout.contains(&format!("ASN1 OID: {oid}")),
                    "{what}: {out}"
                );
                let chk = openssl(&["pkey", "-pubin", "-in", &pem, "-pubcheck", "-noout"]);
                assert!(chk.ok(), "{what}: openssl -pubcheck: {chk}");
            }
            Kind::KeyedHash => {
                assert_eq!(ty, Some("keyedhash"), "{what}: {text}");
                assert_eq!(
                    sub_value(&text, "algorithm", "value"),
                    Some("hmac"),
                    "{text}"
                );
                assert_eq!(
                    sub_value(&text, "hash-alg", "value"),
                    Some("sha256"),
                    "{text}"
                );
                let key = yaml_value(&text, "keyedhash").unwrap();
                assert_eq!(key.len(), 64, "{what}: unique is a SHA-256 digest: {text}");
            }
            Kind::Aes(bits) => {
                assert_eq!(ty, Some("symcipher"), "{what}: {text}");
                assert_eq!(sub_value(&text, "sym-alg", "value"), Some("aes"), "{text}");
                assert_eq!(sub_value(&text, "sym-mode", "value"), Some("cfb"), "{text}");
                assert_eq!(
                    yaml_value(&text, "sym-keybits"),
                    Some(bits.to_string().as_str()),
                    "{text}"
                );
                let unique = yaml_value(&text, "symcipher").unwrap();
                assert_eq!(
                    unique.len(),
                    64,
                    "{what}: unique is a SHA-256 digest: {text}"
                );
            }
        }
        // Primary keys are derived from the hierarchy's seed: the same template gives the same key.
        t.ok("tpm2_createprimary", &args);
        assert_eq!(t.name("prim.ctx"), name, "{what}: second time");
        names.push(name);
    }
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        4,
        "{}: same key in two hierarchies: {names:?}",
        t.peer()
    );
}

fn primary_rsa2048(peer: Peer) {
    primary_in_every_hierarchy(peer, "rsa2048", Kind::Rsa(2048));
}
fn primary_rsa3072(peer: Peer) {
    primary_in_every_hierarchy(peer, "rsa3072", Kind::Rsa(3072));
}
/// vtpm only: swtpm 0.7.1 / libtpms 0.9 has no RSA 4096 (CreatePrimary answers
/// TPM_RC_VALUE + parameter 2, 0x2C4).
fn primary_rsa4096(peer: Peer) {
    primary_in_every_hierarchy(peer, "rsa4096", Kind::Rsa(4096));
}
fn primary_ecc256(peer: Peer) {
    primary_in_every_hierarchy(peer, "ecc256", Kind::Ecc("prime256v1", 256));
}
fn primary_ecc384(peer: Peer) {
    primary_in_every_hierarchy(peer, "ecc384", Kind::Ecc("secp384r1", 384));
}
fn primary_ecc521(peer: Peer) {
    primary_in_every_hierarchy(peer, "ecc521", Kind::Ecc("secp521r1", 521));
}
fn primary_keyedhash(peer: Peer) {
    primary_in_every_hierarchy(peer, "hmac", Kind::KeyedHash);
}
fn primary_aes128(peer: Peer) {
    primary_in_every_hierarchy(peer, "aes128cfb", Kind::Aes(128));
}
/// vtpm only: libtpms 0.9 has no AES-192 (CreatePrimary answers TPM_RC_VALUE + parameter 2, 0x2C4).
fn primary_aes192(peer: Peer) {
    primary_in_every_hierarchy(peer, "aes192cfb", Kind::Aes(192));
}
fn primary_aes256(peer: Peer) {
    primary_in_every_hierarchy(peer, "aes256cfb", Kind::Aes(256));
}

/// tpm2_create of each object type under an SRK, tpm2_load, tpm2_readpublic; CreateLoaded
/// (tpm2_create -c); tpm2_flushcontext of one handle and of all transients.
fn create_load_readpublic_flush(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk.ctx"]);
    t.write("secret.bin", b"sealed \x00\x01\xff data");
    let cases: [(&str, &[&str], &str); 5] = [
        ("rsa", &["-G", "rsa"], "rsa"),
        ("ecc", &["-G", "ecc"], "ecc"),
        ("hmac", &["-G", "hmac"], "keyedhash"),
        ("aes", &["-G", "aes"], "symcipher"),
        ("seal", &["-i", "secret.bin"], "keyedhash"),
    ];
    for (key, extra, ty) in cases {
        let (pubf, privf, ctx) = (
            format!("{key}.pub"),
            format!("{key}.priv"),
            format!("{key}.ctx"),
        );
        let mut args = vec!["-C", "srk.ctx", "-u", &pubf, "-r", &privf];
        args.extend_from_slice(extra);
        let created = t.ok("tpm2_create", &args);
        assert_eq!(sub_value(&created, "type", "value"), Some(ty), "{created}");
        let public = t.read(&pubf);
        let want = name_of(&public);
        let loaded = t.ok(
            "tpm2_load",
            &["-C", "srk.ctx", "-u", &pubf, "-r", &privf, "-c", &ctx],
        );
        assert_eq!(
            yaml_value(&loaded, "name"),
            Some(want.as_str()),
            "{} {key}: name printed by tpm2_load: {loaded}",
            t.peer()
        );
        let text = t.ok("tpm2_readpublic", &["-c", &ctx, "-o", "readback.pub"]);
        assert_eq!(
            yaml_value(&text, "name"),
            Some(want.as_str()),
            "{key}: {text}"
        );
        assert_eq!(sub_value(&text, "type", "value"), Some(ty), "{key}: {text}");
        assert_eq!(
            t.read("readback.pub"),
            public,
            "{} {key}: ReadPublic",
            t.peer()
        );
        // The qualified name differs from the name (the parent is not a hierarchy).
        let qn = yaml_value(&text, "qualified name").unwrap();
        assert!(qn.len() == want.len() && qn != want, "{key}: {text}");
    }
    // A sealed data object: not sensitiveDataOrigin, not sign/decrypt.
    let seal = t.ok("tpm2_readpublic", &["-c", "seal.ctx"]);
    let attrs = sub_value(&seal, "attributes", "value").unwrap();
    assert!(
        !attrs.contains("sensitivedataorigin") && !attrs.contains("sign"),
        "{attrs}"
    );

    // CreateLoaded: the object stays loaded and matches the public area written.
    t.keep("tpm2_createprimary", &["-C", "o", "-c", "srk.ctx"]);
    let srk = t.transients();
    assert_eq!(srk.len(), 1, "{}: {srk:?}", t.peer());
    let srk = srk[0].clone();
    t.keep(
        "tpm2_create",
        &[
            "-C", &srk, "-G", "ecc", "-u", "cl.pub", "-r", "cl.priv", "-c", "cl.ctx",
        ],
    );
    let after = t.transients();
    assert_eq!(
        after.len(),
        2,
        "{}: CreateLoaded leaves it loaded: {after:?}",
        t.peer()
    );
    let cl = after.iter().find(|h| **h != srk).unwrap().clone();
    let cl_name = name_of(&t.read("cl.pub"));
    let text = t.keep("tpm2_readpublic", &["-c", &cl]);
    assert_eq!(yaml_value(&text, "name"), Some(cl_name.as_str()), "{text}");
    // Load the same blob again next to it: a third object with the same name.
    let loaded = t.keep(
        "tpm2_load",
        &["-C", &srk, "-u", "cl.pub", "-r", "cl.priv", "-c", "cl2.ctx"],
    );
    assert_eq!(yaml_value(&loaded, "name"), Some(cl_name.as_str()));
    let three = t.transients();
    assert_eq!(three.len(), 3, "{}: {three:?}", t.peer());

    // Flush one handle: only it disappears.
    t.keep("tpm2_flushcontext", &[&cl]);
    let left = t.transients();
    assert_eq!(left.len(), 2, "{}: {left:?}", t.peer());
    assert!(!left.contains(&cl) && left.contains(&srk), "{left:?}");
    t.fails(TPM_RC_REFERENCE_H0, "tpm2_readpublic", &["-c", &cl]);
    assert!(t.transients().is_empty(), "after the flush in rc()");
    // Flush all: empty.
    t.keep(
        "tpm2_createprimary",
        &["-C", "n", "-G", "ecc", "-c", "n.ctx"],
    );
    t.keep(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
    );
    assert_eq!(t.transients().len(), 2);
    t.keep("tpm2_flushcontext", &["-t"]);
    assert!(
        t.transients().is_empty(),
        "{}: after flushcontext -t",
        t.peer()
    );
    // The saved contexts are still loadable after the flush.
    assert_eq!(t.name("cl.ctx"), cl_name);
}

/// Seal from a file and from stdin with an object password; unseal; wrong passwords fail
/// (TPM_RC_AUTH_FAIL and a DA count for a DA-protected object, TPM_RC_BAD_AUTH for noDA).
fn seal_unseal_roundtrip(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk.ctx"]);
    let secret = b"top secret \x00\x01\x02\xfe\xff".to_vec();
    t.write("secret.bin", &secret);
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "srk.ctx",
            "-i",
            "secret.bin",
            "-p",
            "objpass",
            "-u",
            "s.pub",
            "-r",
            "s.priv",
        ],
    );
    t.load("srk.ctx", "s");
    t.ok(
        "tpm2_unseal",
        &["-c", "s.ctx", "-p", "objpass", "-o", "out.bin"],
    );
    assert_eq!(
        t.read("out.bin"),
        secret,
        "{}: unsealed from file",
        t.peer()
    );

    let piped = b"from stdin: 0123456789abcdef0123456789abcdef".to_vec();
    t.ok_stdin(
        "tpm2_create",
        &[
            "-C",
            "srk.ctx",
            "-i",
            "-",
            "-p",
            "objpass",
            "-a",
            "fixedtpm|fixedparent|userwithauth|noda",
            "-u",
            "n.pub",
            "-r",
            "n.priv",
        ],
        &piped,
    );
    t.load("srk.ctx", "n");
    let out = t.ok("tpm2_unseal", &["-c", "n.ctx", "-p", "objpass"]);
    assert_eq!(
        out.as_bytes(),
        piped.as_slice(),
        "{}: unsealed from stdin",
        t.peer()
    );

    assert_eq!(parse_num(&t.var("TPM2_PT_LOCKOUT_COUNTER")), 0);
    // DA-protected object: one failure is counted (swtpm's maxTries is 3: stay below it).
    t.fails(
        TPM_RC_AUTH_FAIL,
        "tpm2_unseal",
        &["-c", "s.ctx", "-p", "wrong"],
    );
    assert_eq!(parse_num(&t.var("TPM2_PT_LOCKOUT_COUNTER")), 1);
    // noDA object: BAD_AUTH, not counted, however often.
    for pass in ["wrong", "objpas", ""] {
        let mut args = vec!["-c", "n.ctx"];
        if !pass.is_empty() {
            args.extend(["-p", pass]);
        }
        t.fails(TPM_RC_BAD_AUTH, "tpm2_unseal", &args);
    }
    assert_eq!(parse_num(&t.var("TPM2_PT_LOCKOUT_COUNTER")), 1);
    assert_eq!(t.var("inLockout"), "0");
    t.ok(
        "tpm2_unseal",
        &["-c", "s.ctx", "-p", "objpass", "-o", "out2.bin"],
    );
    assert_eq!(t.read("out2.bin"), secret);
    // Only sealed data objects unseal: not an HMAC key (a keyedhash with sign), not an ECC key.
    t.ok(
        "tpm2_create",
        &["-C", "srk.ctx", "-G", "hmac", "-u", "h.pub", "-r", "h.priv"],
    );
    t.load("srk.ctx", "h");
    t.fails(TPM_RC_ATTRIBUTES_H1, "tpm2_unseal", &["-c", "h.ctx"]);
    t.ok(
        "tpm2_create",
        &["-C", "srk.ctx", "-G", "ecc", "-u", "e.pub", "-r", "e.priv"],
    );
    t.load("srk.ctx", "e");
    t.fails(TPM_RC_TYPE_H1, "tpm2_unseal", &["-c", "e.ctx"]);
}

/// The TCG EK (RSA and ECC) is the same after a restart and different after tpm2_changeeps,
/// which also evicts persistent endorsement objects and leaves the SRK alone.
fn ek_stable_until_changeeps(peer: Peer) {
    let mut t = Tpm::flushing(&peer);
    t.ok(
        "tpm2_createek",
        &["-c", "ek.ctx", "-G", "rsa", "-u", "rsa1.pub"],
    );
    t.ok(
        "tpm2_createek",
        &["-c", "eccek.ctx", "-G", "ecc", "-u", "ecc1.pub"],
    );
    let text = t.ok("tpm2_readpublic", &["-c", "ek.ctx"]);
    assert_eq!(
        yaml_value(&text, "authorization policy"),
        Some(EK_POLICY),
        "{text}"
    );
    assert_eq!(
        sub_value(&text, "attributes", "value"),
        Some("fixedtpm|fixedparent|sensitivedataorigin|adminwithpolicy|restricted|decrypt"),
        "{text}"
    );
    t.ok(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "ek.ctx", "0x81010001"],
    );
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk.ctx"]);
    let srk = t.name("srk.ctx");

    t.kill_restart();
    t.ok(
        "tpm2_createek",
        &["-c", "ek.ctx", "-G", "rsa", "-u", "rsa2.pub"],
    );
    t.ok(
        "tpm2_createek",
        &["-c", "eccek.ctx", "-G", "ecc", "-u", "ecc2.pub"],
    );
    assert_eq!(
        t.read("rsa1.pub"),
        t.read("rsa2.pub"),
        "{}: RSA EK after restart",
        t.peer()
    );
    assert_eq!(
        t.read("ecc1.pub"),
        t.read("ecc2.pub"),
        "{}: ECC EK after restart",
        t.peer()
    );
    assert!(t.persistents().contains(&"0x81010001".to_string()));

    t.ok("tpm2_changeeps", &[]);
    t.ok(
        "tpm2_createek",
        &["-c", "ek.ctx", "-G", "rsa", "-u", "rsa3.pub"],
    );
    t.ok(
        "tpm2_createek",
        &["-c", "eccek.ctx", "-G", "ecc", "-u", "ecc3.pub"],
    );
    assert_ne!(
        t.read("rsa1.pub"),
        t.read("rsa3.pub"),
        "{}: RSA EK after changeeps",
        t.peer()
    );
    assert_ne!(
        t.read("ecc1.pub"),
        t.read("ecc3.pub"),
        "{}: ECC EK after changeeps",
        t.peer()
    );
    assert!(
        !t.persistents().contains(&"0x81010001".to_string()),
        "{}: persistent EK survived ChangeEPS",
        t.peer()
    );
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk2.ctx"]);
    assert_eq!(
        t.name("srk2.ctx"),
        srk,
        "{}: SRK changed by ChangeEPS",
        t.peer()
    );
}

/// tpm2_changepps changes platform primaries, evicts persistent platform objects, and leaves the
/// owner and endorsement hierarchies alone.
fn changepps_changes_platform_primaries(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ok(
        "tpm2_createprimary",
        &["-C", "p", "-G", "ecc", "-c", "p.ctx"],
    );
    let p1 = t.name("p.ctx");
    t.ok(
        "tpm2_evictcontrol",
        &["-C", "p", "-c", "p.ctx", "0x81800001"],
    );
    t.ok(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
    );
    t.ok(
        "tpm2_createprimary",
        &["-C", "e", "-G", "ecc", "-c", "e.ctx"],
    );
    let (o1, e1) = (t.name("o.ctx"), t.name("e.ctx"));
    t.ok("tpm2_changepps", &[]);
    assert!(
        !t.persistents().contains(&"0x81800001".to_string()),
        "{}: persistent platform object survived ChangePPS",
        t.peer()
    );
    t.ok(
        "tpm2_createprimary",
        &["-C", "p", "-G", "ecc", "-c", "p.ctx"],
    );
    t.ok(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
    );
    t.ok(
        "tpm2_createprimary",
        &["-C", "e", "-G", "ecc", "-c", "e.ctx"],
    );
    assert_ne!(
        t.name("p.ctx"),
        p1,
        "{}: platform primary after ChangePPS",
        t.peer()
    );
    assert_eq!(
        t.name("o.ctx"),
        o1,
        "{}: owner primary after ChangePPS",
        t.peer()
    );
    assert_eq!(
        t.name("e.ctx"),
        e1,
        "{}: endorsement primary after ChangePPS",
        t.peer()
    );
}

/// EvictControl in the owner range: listed, refused twice, survives SIGKILL, usable as a parent,
/// evicted again. Owner objects cannot go to the platform range.
fn evictcontrol_owner(peer: Peer) {
    let mut t = Tpm::flushing(&peer);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk.ctx"]);
    let srk = t.name("srk.ctx");
    assert!(t.persistents().is_empty());
    t.ok(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "srk.ctx", "0x81000001"],
    );
    assert_eq!(t.persistents(), ["0x81000001"], "{}", t.peer());
    assert_eq!(parse_num(&t.var("TPM2_PT_HR_PERSISTENT")), 1);
    t.fails(
        TPM_RC_NV_DEFINED,
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "srk.ctx", "0x81000001"],
    );
    t.fails(
        TPM_RC_RANGE_P1,
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "srk.ctx", "0x81800000"],
    );
    assert_eq!(t.name("0x81000001"), srk);

    t.kill_restart();
    assert_eq!(
        t.persistents(),
        ["0x81000001"],
        "{}: after restart",
        t.peer()
    );
    assert_eq!(t.name("0x81000001"), srk, "{}: after restart", t.peer());
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "0x81000001",
            "-G",
            "ecc",
            "-u",
            "k.pub",
            "-r",
            "k.priv",
        ],
    );
    let loaded = t.load("0x81000001", "k");
    assert_eq!(
        yaml_value(&loaded, "name"),
        Some(name_of(&t.read("k.pub")).as_str())
    );
    t.ok("tpm2_evictcontrol", &["-C", "o", "-c", "0x81000001"]);
    assert!(t.persistents().is_empty(), "{}: after evict", t.peer());
    t.fails(TPM_RC_HANDLE_H1, "tpm2_readpublic", &["-c", "0x81000001"]);
    // The child blob still loads under a transient copy of the same primary.
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk.ctx"]);
    t.load("srk.ctx", "k");
}

/// EvictControl in the platform range, and what each hierarchy may not do.
fn evictcontrol_platform(peer: Peer) {
    let mut t = Tpm::flushing(&peer);
    t.ok("tpm2_createprimary", &["-C", "p", "-c", "p.ctx"]);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "o.ctx"]);
    let p = t.name("p.ctx");
    t.fails(
        TPM_RC_RANGE_P1,
        "tpm2_evictcontrol",
        &["-C", "p", "-c", "p.ctx", "0x81000003"],
    );
    t.fails(
        TPM_RC_HIERARCHY_H2,
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "p.ctx", "0x81000003"],
    );
    t.fails(
        TPM_RC_HIERARCHY_H2,
        "tpm2_evictcontrol",
        &["-C", "p", "-c", "o.ctx", "0x81800003"],
    );
    t.ok(
        "tpm2_evictcontrol",
        &["-C", "p", "-c", "p.ctx", "0x81800000"],
    );
    t.ok(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "o.ctx", "0x81000000"],
    );
    assert_eq!(
        t.persistents(),
        ["0x81000000", "0x81800000"],
        "{}",
        t.peer()
    );
    t.fails(
        TPM_RC_HIERARCHY_H2,
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "0x81800000"],
    );
    t.kill_restart();
    assert_eq!(
        t.persistents(),
        ["0x81000000", "0x81800000"],
        "{}",
        t.peer()
    );
    assert_eq!(t.name("0x81800000"), p);
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "0x81800000",
            "-G",
            "rsa",
            "-u",
            "k.pub",
            "-r",
            "k.priv",
        ],
    );
    t.load("0x81800000", "k");
    // The platform may evict any persistent object, including the owner's.
    t.ok("tpm2_evictcontrol", &["-C", "p", "-c", "0x81000000"]);
    t.ok("tpm2_evictcontrol", &["-C", "p", "-c", "0x81800000"]);
    assert!(t.persistents().is_empty(), "{}", t.peer());
}

/// HierarchyChangeAuth for owner, endorsement, lockout and platform.
fn hierarchy_changeauth(peer: Peer) {
    let t = Tpm::flushing(&peer);
    assert_eq!(t.var("ownerAuthSet"), "0");
    t.ok("tpm2_changeauth", &["-c", "owner", "newpass"]);
    assert_eq!(t.var("ownerAuthSet"), "1");
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_createprimary",
        &["-C", "o", "-c", "x.ctx"],
    );
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_createprimary",
        &["-C", "o", "-P", "wrong", "-c", "x.ctx"],
    );
    t.ok(
        "tpm2_createprimary",
        &["-C", "o", "-P", "newpass", "-c", "x.ctx"],
    );
    // Change it back to empty (the old value authorizes).
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_changeauth",
        &["-c", "owner", "-p", "wrong", "x"],
    );
    t.ok("tpm2_changeauth", &["-c", "owner", "-p", "newpass"]);
    assert_eq!(t.var("ownerAuthSet"), "0");
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "x.ctx"]);

    t.ok("tpm2_changeauth", &["-c", "endorsement", "epass"]);
    assert_eq!(t.var("endorsementAuthSet"), "1");
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_createprimary",
        &["-C", "e", "-c", "x.ctx"],
    );
    t.ok(
        "tpm2_createprimary",
        &["-C", "e", "-P", "epass", "-c", "x.ctx"],
    );
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_createek",
        &["-c", "ek.ctx", "-G", "ecc"],
    );
    t.ok(
        "tpm2_createek",
        &["-P", "epass", "-c", "ek.ctx", "-G", "ecc"],
    );
    // Owner auth is separate.
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "x.ctx"]);

    t.ok("tpm2_changeauth", &["-c", "lockout", "lpass"]);
    assert_eq!(t.var("lockoutAuthSet"), "1");
    t.ok("tpm2_clearcontrol", &["-C", "l", "-P", "lpass", "s"]);
    assert_eq!(t.var("disableClear"), "1");
    t.ok("tpm2_clearcontrol", &["-C", "p", "c"]);

    // Platform auth: set, required, and back to empty at Startup(CLEAR) (not at resume).
    t.ok("tpm2_changeauth", &["-c", "platform", "ppass"]);
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_createprimary",
        &["-C", "p", "-c", "x.ctx"],
    );
    t.ok(
        "tpm2_createprimary",
        &["-C", "p", "-P", "ppass", "-c", "x.ctx"],
    );
    t.tpm_resume();
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_createprimary",
        &["-C", "p", "-c", "x.ctx"],
    );
    t.tpm_restart();
    t.ok("tpm2_createprimary", &["-C", "p", "-c", "x.ctx"]);
    // Owner, endorsement and lockout auth are persistent.
    assert_eq!(t.var("endorsementAuthSet"), "1");
    assert_eq!(t.var("lockoutAuthSet"), "1");

    // The lockout hierarchy is DA-protected: a wrong password is AUTH_FAIL and locks lockoutAuth
    // until lockoutRecovery (swtpm: 1000 s); then even the right one is TPM_RC_LOCKOUT.
    t.fails(
        TPM_RC_AUTH_FAIL,
        "tpm2_clearcontrol",
        &["-C", "l", "-P", "wrong", "s"],
    );
    t.fails(
        TPM_RC_LOCKOUT,
        "tpm2_clearcontrol",
        &["-C", "l", "-P", "lpass", "s"],
    );
    // A TPM2_Clear from the platform empties lockoutAuth, and lockout is usable again (as swtpm).
    t.ok("tpm2_clear", &["-c", "p"]);
    assert_eq!(t.var("lockoutAuthSet"), "0");
    assert_eq!(t.var("endorsementAuthSet"), "0");
    t.ok("tpm2_clearcontrol", &["-C", "l", "s"]);
    t.ok("tpm2_clearcontrol", &["-C", "p", "c"]);
}

/// ObjectChangeAuth: a new private blob with the new auth; the old blob keeps the old auth.
fn object_changeauth(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk.ctx"]);
    t.write("secret.bin", b"change my auth");
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "srk.ctx",
            "-i",
            "secret.bin",
            "-p",
            "objpass",
            "-u",
            "s.pub",
            "-r",
            "s.priv",
        ],
    );
    let loaded = t.load("srk.ctx", "s");
    let name = yaml_value(&loaded, "name").unwrap().to_string();
    t.ok(
        "tpm2_changeauth",
        &[
            "-c", "s.ctx", "-C", "srk.ctx", "-p", "objpass", "-r", "s2.priv", "newpass",
        ],
    );
    assert_ne!(t.read("s.priv"), t.read("s2.priv"));
    let loaded2 = t.ok(
        "tpm2_load",
        &[
            "-C", "srk.ctx", "-u", "s.pub", "-r", "s2.priv", "-c", "s2.ctx",
        ],
    );
    assert_eq!(
        yaml_value(&loaded2, "name"),
        Some(name.as_str()),
        "public unchanged"
    );
    assert_eq!(
        t.ok("tpm2_unseal", &["-c", "s2.ctx", "-p", "newpass"]),
        "change my auth"
    );
    t.fails(
        TPM_RC_AUTH_FAIL,
        "tpm2_unseal",
        &["-c", "s2.ctx", "-p", "objpass"],
    );
    assert_eq!(
        t.ok("tpm2_unseal", &["-c", "s.ctx", "-p", "objpass"]),
        "change my auth"
    );

    // Wrong current auth (noDA object: BAD_AUTH); the object used with its new auth.
    t.write("k.bin", b"noda data");
    t.ok(
        "tpm2_create",
        &[
            "-C",
            "srk.ctx",
            "-i",
            "k.bin",
            "-p",
            "k1",
            "-a",
            "fixedtpm|fixedparent|userwithauth|noda",
            "-u",
            "k.pub",
            "-r",
            "k.priv",
        ],
    );
    t.load("srk.ctx", "k");
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_changeauth",
        &[
            "-c", "k.ctx", "-C", "srk.ctx", "-p", "bad", "-r", "k2.priv", "k2",
        ],
    );
    t.ok(
        "tpm2_changeauth",
        &[
            "-c", "k.ctx", "-C", "srk.ctx", "-p", "k1", "-r", "k2.priv", "k2",
        ],
    );
    t.ok(
        "tpm2_load",
        &[
            "-C", "srk.ctx", "-u", "k.pub", "-r", "k2.priv", "-c", "k2.ctx",
        ],
    );
    t.fails(
        TPM_RC_BAD_AUTH,
        "tpm2_unseal",
        &["-c", "k2.ctx", "-p", "k1"],
    );
    assert_eq!(
        t.ok("tpm2_unseal", &["-c", "k2.ctx", "-p", "k2"]),
        "noda data"
    );
}

/// TPM2_Clear (lockout auth): owner/endorsement/lockout auth and owner policy reset, new SRK,
/// owner and endorsement persistent objects gone, platform ones kept, EPS kept.
fn clear_resets_owner(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk.ctx"]);
    let srk = t.name("srk.ctx");
    t.ok(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "srk.ctx", "0x81000001"],
    );
    t.ok(
        "tpm2_createek",
        &["-c", "ek.ctx", "-G", "rsa", "-u", "ek1.pub"],
    );
    t.ok(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "ek.ctx", "0x81010001"],
    );
    t.ok("tpm2_createprimary", &["-C", "p", "-c", "p.ctx"]);
    let p = t.name("p.ctx");
    t.ok(
        "tpm2_evictcontrol",
        &["-C", "p", "-c", "p.ctx", "0x81800000"],
    );
    t.ok("tpm2_changeauth", &["-c", "owner", "opass"]);
    t.ok("tpm2_changeauth", &["-c", "endorsement", "epass"]);
    t.ok("tpm2_changeauth", &["-c", "lockout", "lpass"]);
    t.write("pol.dig", &policy_command_code(0x131));
    t.ok(
        "tpm2_setprimarypolicy",
        &["-C", "o", "-P", "opass", "-L", "pol.dig", "-g", "sha256"],
    );
    assert_eq!(t.persistents().len(), 3);

    t.ok("tpm2_clear", &["-c", "l", "lpass"]);
    assert_eq!(t.persistents(), ["0x81800000"], "{}: after clear", t.peer());
    for flag in ["ownerAuthSet", "endorsementAuthSet", "lockoutAuthSet"] {
        assert_eq!(t.var(flag), "0", "{}: {flag} after clear", t.peer());
    }
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk2.ctx"]);
    assert_ne!(
        t.name("srk2.ctx"),
        srk,
        "{}: same SRK after clear",
        t.peer()
    );
    // A saved context of the old SRK no longer loads (new storage hierarchy proof).
    t.fails(TPM_RC_INTEGRITY_P1, "tpm2_readpublic", &["-c", "srk.ctx"]);
    // ownerPolicy is gone: the policy session no longer authorizes the owner.
    assert_eq!(
        owner_policy_session_rc(&t, "o", 0x131),
        Some(TPM_RC_AUTH_UNAVAILABLE),
        "{}",
        t.peer()
    );
    // EPS and PPS are kept.
    t.ok(
        "tpm2_createek",
        &["-c", "ek.ctx", "-G", "rsa", "-u", "ek2.pub"],
    );
    assert_eq!(
        t.read("ek1.pub"),
        t.read("ek2.pub"),
        "{}: EK after clear",
        t.peer()
    );
    assert_eq!(t.name("0x81800000"), p);
}

/// ClearControl: disableClear set by platform or lockout, cleared only by platform, persistent.
fn clearcontrol_disables_clear(peer: Peer) {
    let mut t = Tpm::flushing(&peer);
    assert_eq!(t.var("disableClear"), "0");
    t.ok("tpm2_clearcontrol", &["-C", "p", "s"]);
    assert_eq!(t.var("disableClear"), "1");
    t.fails(TPM_RC_DISABLED, "tpm2_clear", &["-c", "l"]);
    t.fails(TPM_RC_DISABLED, "tpm2_clear", &["-c", "p"]);
    t.kill_restart();
    assert_eq!(t.var("disableClear"), "1", "{}: after restart", t.peer());
    t.fails(TPM_RC_DISABLED, "tpm2_clear", &["-c", "l"]);
    t.ok("tpm2_clearcontrol", &["-C", "p", "c"]);
    assert_eq!(t.var("disableClear"), "0");
    t.ok("tpm2_clear", &["-c", "l"]);
    t.ok("tpm2_clearcontrol", &["-C", "l", "s"]);
    assert_eq!(t.var("disableClear"), "1");
    t.fails(TPM_RC_DISABLED, "tpm2_clear", &["-c", "p"]);
    t.ok("tpm2_clearcontrol", &["-C", "p", "c"]);
    t.ok("tpm2_clear", &["-c", "p"]);
}

/// HierarchyControl shEnable / ehEnable: disabled hierarchies refuse CreatePrimary, their loaded
/// objects are flushed and their persistent objects unusable; resume keeps them disabled,
/// Startup(CLEAR) enables them again (as swtpm: both flags are in the startup-clear state).
fn hierarchycontrol_storage_endorsement(peer: Peer) {
    let t = Tpm::flushing(&peer);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "srk.ctx"]);
    t.ok(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "srk.ctx", "0x81000001"],
    );
    t.keep(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
    );
    let owner_obj = t.transients();
    t.keep(
        "tpm2_createprimary",
        &["-C", "e", "-G", "ecc", "-c", "e.ctx"],
    );
    let both = t.transients();
    assert_eq!(both.len(), 2);

    t.keep("tpm2_hierarchycontrol", &["-C", "p", "shEnable", "clear"]);
    assert_eq!(t.var("shEnable"), "0");
    assert_eq!(t.var("ehEnable"), "1");
    let left = t.transients();
    assert!(
        left.len() == 1 && !left.contains(&owner_obj[0]),
        "{}: owner object not flushed by shEnable CLEAR: {left:?}",
        t.peer()
    );
    t.fails(
        TPM_RC_HIERARCHY_H1,
        "tpm2_createprimary",
        &["-C", "o", "-c", "x.ctx"],
    );
    t.fails(TPM_RC_HANDLE_H1, "tpm2_readpublic", &["-c", "0x81000001"]);
    assert_eq!(t.persistents(), ["0x81000001"], "still stored");
    t.ok("tpm2_createprimary", &["-C", "n", "-c", "x.ctx"]);
    t.ok("tpm2_createprimary", &["-C", "e", "-c", "x.ctx"]);

    // The endorsement hierarchy may disable itself.
    t.keep(
        "tpm2_createprimary",
        &["-C", "e", "-G", "ecc", "-c", "e.ctx"],
    );
    t.keep("tpm2_hierarchycontrol", &["-C", "e", "ehEnable", "clear"]);
    assert!(
        t.transients().is_empty(),
        "{}: endorsement object not flushed",
        t.peer()
    );
    assert_eq!(t.var("ehEnable"), "0");
    t.fails(
        TPM_RC_HIERARCHY_H1,
        "tpm2_createprimary",
        &["-C", "e", "-c", "x.ctx"],
    );
    t.fails(
        TPM_RC_HIERARCHY_H1,
        "tpm2_createek",
        &["-c", "ek.ctx", "-G", "rsa"],
    );
    // ContextLoad of a saved endorsement object while ehEnable is CLEAR.
    t.fails(TPM_RC_HIERARCHY_P1, "tpm2_readpublic", &["-c", "e.ctx"]);

    t.tpm_resume();
    assert_eq!(t.var("shEnable"), "0", "{}: after Startup(STATE)", t.peer());
    assert_eq!(t.var("ehEnable"), "0", "{}: after Startup(STATE)", t.peer());
    t.fails(
        TPM_RC_HIERARCHY_H1,
        "tpm2_createprimary",
        &["-C", "o", "-c", "x.ctx"],
    );

    t.tpm_reset();
    assert_eq!(t.var("shEnable"), "1", "{}: after Startup(CLEAR)", t.peer());
    assert_eq!(t.var("ehEnable"), "1", "{}: after Startup(CLEAR)", t.peer());
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "x.ctx"]);
    t.ok("tpm2_createek", &["-c", "ek.ctx", "-G", "rsa"]);
    assert!(!t.name("0x81000001").is_empty());

    // Platform can also set them again without a Startup.
    t.ok("tpm2_hierarchycontrol", &["-C", "p", "shEnable", "clear"]);
    t.ok("tpm2_hierarchycontrol", &["-C", "p", "ehEnable", "clear"]);
    t.ok("tpm2_hierarchycontrol", &["-C", "p", "shEnable", "set"]);
    t.ok("tpm2_hierarchycontrol", &["-C", "p", "ehEnable", "set"]);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "x.ctx"]);
    t.ok("tpm2_createprimary", &["-C", "e", "-c", "x.ctx"]);
}

/// HierarchyControl phEnable: the platform hierarchy disables itself until Startup(CLEAR).
fn hierarchycontrol_platform(peer: Peer) {
    let mut t = Tpm::flushing(&peer);
    t.ok("tpm2_hierarchycontrol", &["-C", "p", "phEnable", "clear"]);
    assert_eq!(t.var("phEnable"), "0");
    t.fails(
        TPM_RC_HIERARCHY_H1,
        "tpm2_createprimary",
        &["-C", "p", "-c", "x.ctx"],
    );
    t.fails(
        TPM_RC_HIERARCHY_H1,
        "tpm2_hierarchycontrol",
        &["-C", "p", "shEnable", "clear"],
    );
    t.fails(TPM_RC_HIERARCHY_H1, "tpm2_clear", &["-c", "p"]);
    t.ok("tpm2_createprimary", &["-C", "o", "-c", "x.ctx"]);
    // Unlike shEnable / ehEnable, phEnable is SET by every Startup, Startup(STATE) included.
    t.tpm_resume();
    assert_eq!(t.var("phEnable"), "1", "{}: after Startup(STATE)", t.peer());
    t.ok("tpm2_createprimary", &["-C", "p", "-c", "x.ctx"]);
    t.ok("tpm2_hierarchycontrol", &["-C", "p", "phEnable", "clear"]);
    t.kill_restart();
    assert_eq!(t.var("phEnable"), "1", "{}: after restart", t.peer());
    t.ok("tpm2_createprimary", &["-C", "p", "-c", "x.ctx"]);
}

/// PolicyCommandCode(cc) digest from an empty sha256 policy.
fn policy_command_code(cc: u32) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    h.update([0u8; 32]);
    h.update(0x16Cu32.to_be_bytes());
    h.update(cc.to_be_bytes());
    h.finalize().to_vec()
}

/// Start a policy session, PolicyCommandCode(cc), authorize `tpm2_createprimary -C hier` with it;
/// `None` on success, else the TPM response code.
fn owner_policy_session_rc(t: &Tpm, hier: &str, cc: u32) -> Option<u32> {
    t.keep(
        "tpm2_startauthsession",
        &["-S", "s.ctx", "--policy-session"],
    );
    let code = format!("{cc:#x}");
    t.keep("tpm2_policycommandcode", &["-S", "s.ctx", &code]);
    let out = t.tools().run(
        "tpm2_createprimary",
        &["-C", hier, "-P", "session:s.ctx", "-c", "x.ctx"],
    );
    let _ = t.tools().run("tpm2_flushcontext", &["s.ctx"]);
    t.flush();
    if out.ok() {
        None
    } else {
        Some(tpm_rc(&out.stderr).unwrap_or_else(|| panic!("{out}")))
    }
}

/// SetPrimaryPolicy: a policy session satisfying the hierarchy policy authorizes the hierarchy
/// (instead of TPM_RC_AUTH_UNAVAILABLE); a different policy is TPM_RC_POLICY_FAIL; the password
/// still works; the policy is persistent.
fn setprimarypolicy_authorizes_hierarchy(peer: Peer) {
    let mut t = Tpm::flushing(&peer);
    let cp = 0x131; // TPM_CC_CreatePrimary
    // The trial session computes the same digest as we do.
    t.keep("tpm2_startauthsession", &["-S", "trial.ctx"]);
    t.keep(
        "tpm2_policycommandcode",
        &["-S", "trial.ctx", "-L", "pol.dig", "TPM2_CC_CreatePrimary"],
    );
    t.keep("tpm2_flushcontext", &["trial.ctx"]);
    assert_eq!(t.read("pol.dig"), policy_command_code(cp));

    t.ok("tpm2_changeauth", &["-c", "owner", "opass"]);
    for h in ["o", "e"] {
        assert_eq!(
            owner_policy_session_rc(&t, h, cp),
            Some(TPM_RC_AUTH_UNAVAILABLE),
            "{}: -C {h} before SetPrimaryPolicy",
            t.peer()
        );
    }
    t.ok(
        "tpm2_setprimarypolicy",
        &["-C", "o", "-P", "opass", "-L", "pol.dig", "-g", "sha256"],
    );
    assert_eq!(
        owner_policy_session_rc(&t, "o", cp),
        None,
        "{}: owner policy",
        t.peer()
    );
    assert_eq!(
        owner_policy_session_rc(&t, "o", 0x126), // TPM_CC_Clear
        Some(TPM_RC_POLICY_FAIL),
        "{}: wrong command code",
        t.peer()
    );
    assert_eq!(
        owner_policy_session_rc(&t, "e", cp),
        Some(TPM_RC_AUTH_UNAVAILABLE),
        "{}: endorsement has no policy",
        t.peer()
    );
    t.ok(
        "tpm2_createprimary",
        &["-C", "o", "-P", "opass", "-c", "x.ctx"],
    );
    t.ok(
        "tpm2_setprimarypolicy",
        &["-C", "e", "-L", "pol.dig", "-g", "sha256"],
    );
    assert_eq!(
        owner_policy_session_rc(&t, "e", cp),
        None,
        "{}: endorsement",
        t.peer()
    );

    t.kill_restart();
    assert_eq!(
        owner_policy_session_rc(&t, "o", cp),
        None,
        "{}: after restart",
        t.peer()
    );
    // An empty digest needs hashAlg TPM_ALG_NULL; it removes the policy again.
    t.fails(
        TPM_RC_SIZE_P1,
        "tpm2_setprimarypolicy",
        &["-C", "o", "-P", "opass", "-g", "sha256"],
    );
    assert_eq!(
        owner_policy_session_rc(&t, "o", cp),
        None,
        "{}: still set",
        t.peer()
    );
    t.ok("tpm2_setprimarypolicy", &["-C", "o", "-P", "opass"]);
    assert_eq!(
        owner_policy_session_rc(&t, "o", cp),
        Some(TPM_RC_AUTH_UNAVAILABLE),
        "{}: policy removed",
        t.peer()
    );
}

/// Fill the transient object slots until TPM_RC_OBJECT_MEMORY; the count matches
/// TPM2_PT_HR_TRANSIENT_AVAIL and is at least TPM2_PT_HR_TRANSIENT_MIN.
fn object_slots(peer: Peer) {
    let t = Tpm::flushing(&peer);
    let min = t.fixed("TPM2_PT_HR_TRANSIENT_MIN");
    assert!(min >= 3, "{}: TPM2_PT_HR_TRANSIENT_MIN {min}", t.peer());
    let avail = parse_num(&t.var("TPM2_PT_HR_TRANSIENT_AVAIL"));
    let mut n = 0u32;
    let rc = loop {
        assert!(
            n < 256,
            "{}: no TPM_RC_OBJECT_MEMORY after {n} objects",
            t.peer()
        );
        let ctx = format!("o{n}.ctx");
        let out = t
            .tools()
            .run("tpm2_createprimary", &["-C", "n", "-G", "ecc", "-c", &ctx]);
        if !out.ok() {
            break tpm_rc(&out.stderr).unwrap_or_else(|| panic!("{out}"));
        }
        n += 1;
    };
    assert_eq!(rc, TPM_RC_OBJECT_MEMORY, "{}", t.peer());
    assert!(n >= min, "{}: {n} objects < TRANSIENT_MIN {min}", t.peer());
    assert_eq!(
        n,
        avail,
        "{}: TRANSIENT_AVAIL was {avail}, fit {n}",
        t.peer()
    );
    assert_eq!(parse_num(&t.var("TPM2_PT_HR_TRANSIENT_AVAIL")), 0);
    let hs = t.transients();
    assert_eq!(hs.len(), n as usize, "{}: {hs:?}", t.peer());
    // A full TPM cannot ContextLoad either; after one flush it can.
    t.fails(TPM_RC_OBJECT_MEMORY, "tpm2_readpublic", &["-c", "o0.ctx"]);
    assert!(t.transients().is_empty(), "flushed by rc()");
    for i in 0..n {
        t.keep(
            "tpm2_createprimary",
            &["-C", "n", "-G", "ecc", "-c", &format!("o{i}.ctx")],
        );
    }
    let hs = t.transients();
    t.keep("tpm2_flushcontext", &[&hs[0]]);
    t.keep("tpm2_readpublic", &["-c", "o0.ctx"]);
    assert_eq!(t.transients().len(), n as usize);
    t.flush();
    assert_eq!(parse_num(&t.var("TPM2_PT_HR_TRANSIENT_AVAIL")), avail);
}

/// Transient objects are gone after every Startup; their saved contexts survive resume and
/// restart, not TPM Reset (nor SIGKILL + Startup(CLEAR)).
fn startup_flushes_transients(peer: Peer) {
    let mut t = Tpm::flushing(&peer);
    t.keep(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
    );
    t.keep(
        "tpm2_createprimary",
        &["-C", "n", "-G", "ecc", "-c", "n.ctx"],
    );
    let (o, n) = (t.name("o.ctx"), t.name("n.ctx"));
    t.keep(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
    );
    assert_eq!(t.transients().len(), 1);

    t.tpm_resume();
    assert!(t.transients().is_empty(), "{}: after resume", t.peer());
    assert_eq!(t.name("o.ctx"), o);
    assert_eq!(t.name("n.ctx"), n);
    t.keep(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
    );
    t.tpm_restart();
    assert!(t.transients().is_empty(), "{}: after restart", t.peer());
    assert_eq!(t.name("o.ctx"), o);
    assert_eq!(t.name("n.ctx"), n);
    t.keep(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
    );
    t.tpm_reset();
    assert!(t.transients().is_empty(), "{}: after TPM Reset", t.peer());
    t.fails(TPM_RC_INTEGRITY_P1, "tpm2_readpublic", &["-c", "o.ctx"]);
    t.fails(TPM_RC_INTEGRITY_P1, "tpm2_readpublic", &["-c", "n.ctx"]);
    t.keep(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
    );
    t.kill_restart();
    assert!(t.transients().is_empty(), "{}: after SIGKILL", t.peer());
    t.fails(TPM_RC_INTEGRITY_P1, "tpm2_readpublic", &["-c", "o.ctx"]);
}

/// The null hierarchy's seed is renewed at TPM Reset only.
fn null_seed_renewed_at_reset(peer: Peer) {
    let mut t = Tpm::flushing(&peer);
    let null_name = |t: &Tpm| {
        t.ok(
            "tpm2_createprimary",
            &["-C", "n", "-G", "ecc", "-c", "n.ctx"],
        );
        t.name("n.ctx")
    };
    let owner_name = |t: &Tpm| {
        t.ok(
            "tpm2_createprimary",
            &["-C", "o", "-G", "ecc", "-c", "o.ctx"],
        );
        t.name("o.ctx")
    };
    let (n0, o0) = (null_name(&t), owner_name(&t));
    t.tpm_resume();
    assert_eq!(null_name(&t), n0, "{}: after resume", t.peer());
    t.tpm_restart();
    assert_eq!(null_name(&t), n0, "{}: after restart", t.peer());
    t.tpm_reset();
    let n1 = null_name(&t);
    assert_ne!(n1, n0, "{}: after TPM Reset", t.peer());
    t.kill_restart();
    let n2 = null_name(&t);
    assert!(n2 != n1 && n2 != n0, "{}: after SIGKILL", t.peer());
    assert_eq!(owner_name(&t), o0, "{}: owner seed is persistent", t.peer());
}

both!(
    primary_rsa2048,
    primary_rsa3072,
    primary_ecc256,
    primary_ecc384,
    primary_ecc521,
    primary_keyedhash,
    primary_aes128,
    primary_aes256,
    create_load_readpublic_flush,
    seal_unseal_roundtrip,
    ek_stable_until_changeeps,
    changepps_changes_platform_primaries,
    evictcontrol_owner,
    evictcontrol_platform,
    hierarchy_changeauth,
    object_changeauth,
    clear_resets_owner,
    clearcontrol_disables_clear,
    hierarchycontrol_storage_endorsement,
    hierarchycontrol_platform,
    setprimarypolicy_authorizes_hierarchy,
    object_slots,
    startup_flushes_transients,
    null_seed_renewed_at_reset,
);

// swtpm 0.7.1 / libtpms 0.9 lacks RSA 4096 and AES-192 (TPM_RC_VALUE on the key size).
vtpm_only!(primary_rsa4096, primary_aes192);
