//! Objects with raw command bytes: LoadExternal of openssl-made public keys (names and ReadPublic
//! answers computed here and equal on vtpm and swtpm), and CreatePrimary with invalid templates
//! (the response code of every case pinned to what swtpm 0.7.1 / libtpms 0.9 answers, and vtpm
//! compared with a live swtpm).
//!
//! Test names: `load_external::{vtpm,swtpm}` and `invalid_templates::{vtpm,swtpm}` check one
//! server against the values here; `diff_*` run the same bytes against both servers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sha2::Digest;

mod common;
use common::*;

/// Raw TPMT_PUBLIC / TPM2B_PUBLIC templates (Part 2, 12.2).
mod tpl {
    pub const RSA: u16 = 0x0001;
    pub const KEYEDHASH: u16 = 0x0008;
    pub const ECC: u16 = 0x0023;
    pub const SYMCIPHER: u16 = 0x0025;
    pub const NULL: u16 = 0x0010;
    pub const SHA1: u16 = 0x0004;
    pub const SHA256: u16 = 0x000B;
    pub const AES: u16 = 0x0006;
    pub const CFB: u16 = 0x0043;
    pub const HMAC: u16 = 0x0005;
    pub const XOR: u16 = 0x000A;
    pub const RSASSA: u16 = 0x0014;
    pub const OAEP: u16 = 0x0017;
    pub const ECDSA: u16 = 0x0018;
    pub const KDF1_SP800_56A: u16 = 0x0020;
    pub const NIST_P256: u16 = 0x0003;

    pub const FIXED_TPM: u32 = 1 << 1;
    pub const ST_CLEAR: u32 = 1 << 2;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    pub const NO_DA: u32 = 1 << 10;
    pub const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN: u32 = 1 << 18;
    /// fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth
    pub const BASE: u32 = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH;
    /// A storage parent: BASE | restricted | decrypt (0x30072).
    pub const STORAGE: u32 = BASE | RESTRICTED | DECRYPT;

    pub use super::common::b2;

    fn u16s(list: &[u16]) -> Vec<u8> {
        list.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    /// TPMT_SYM_DEF_OBJECT: `None` is TPM_ALG_NULL, else (algorithm, keyBits, mode).
    pub fn sym(def: Option<(u16, u16, u16)>) -> Vec<u8> {
        match def {
            None => u16s(&[NULL]),
            Some((alg, bits, mode)) => u16s(&[alg, bits, mode]),
        }
    }

    /// AES-128-CFB, the usual storage-key symmetric definition.
    pub fn aes128() -> Vec<u8> {
        sym(Some((AES, 128, CFB)))
    }

    /// A scheme: TPM_ALG_NULL, or (scheme, hashAlg) for the hash-only schemes.
    pub fn scheme(s: Option<(u16, u16)>) -> Vec<u8> {
        match s {
            None => u16s(&[NULL]),
            Some((alg, hash)) => u16s(&[alg, hash]),
        }
    }

    /// TPMS_RSA_PARMS.
    pub fn rsa_params(sym: &[u8], scheme: &[u8], bits: u16, exponent: u32) -> Vec<u8> {
        [sym, scheme, &bits.to_be_bytes(), &exponent.to_be_bytes()].concat()
    }

    /// TPMS_ECC_PARMS.
    pub fn ecc_params(sym: &[u8], scheme: &[u8], curve: u16, kdf: &[u8]) -> Vec<u8> {
        [sym, scheme, &curve.to_be_bytes(), kdf].concat()
    }

    /// An empty TPMS_ECC_POINT.
    pub fn ecc_point(x: &[u8], y: &[u8]) -> Vec<u8> {
        [b2(x), b2(y)].concat()
    }

    #[derive(Clone)]
    pub struct Public {
        pub ty: u16,
        pub name_alg: u16,
        pub attrs: u32,
        pub policy: Vec<u8>,
        pub params: Vec<u8>,
        /// The whole `unique` field as marshalled (TPM2B or TPMS_ECC_POINT).
        pub unique: Vec<u8>,
    }

    impl Public {
        /// TPMT_PUBLIC.
        pub fn tpmt(&self) -> Vec<u8> {
            let mut v = u16s(&[self.ty, self.name_alg]);
            v.extend_from_slice(&self.attrs.to_be_bytes());
            v.extend_from_slice(&b2(&self.policy));
            v.extend_from_slice(&self.params);
            v.extend_from_slice(&self.unique);
            v
        }

        /// TPM2B_PUBLIC.
        pub fn tpm2b(&self) -> Vec<u8> {
            b2(&self.tpmt())
        }

        pub fn attrs(mut self, attrs: u32) -> Self {
            self.attrs = attrs;
            self
        }

        pub fn params(mut self, params: Vec<u8>) -> Self {
            self.params = params;
            self
        }
    }

    /// RSA storage key (restricted decrypt, AES-128-CFB, no scheme, 2048 bits).
    pub fn rsa_storage() -> Public {
        Public {
            ty: RSA,
            name_alg: SHA256,
            attrs: STORAGE,
            policy: vec![],
            params: rsa_params(&aes128(), &scheme(None), 2048, 0),
            unique: b2(&[]),
        }
    }

    /// ECC P-256 storage key.
    pub fn ecc_storage() -> Public {
        Public {
            ty: ECC,
            name_alg: SHA256,
            attrs: STORAGE,
            policy: vec![],
            params: ecc_params(&aes128(), &scheme(None), NIST_P256, &scheme(None)),
            unique: ecc_point(&[], &[]),
        }
    }

    /// ECC P-256 ECDSA-SHA256 signing key (not restricted).
    pub fn ecc_signing() -> Public {
        Public {
            attrs: BASE | SIGN,
            params: ecc_params(
                &sym(None),
                &scheme(Some((ECDSA, SHA256))),
                NIST_P256,
                &scheme(None),
            ),
            ..ecc_storage()
        }
    }

    /// HMAC-SHA256 key.
    pub fn hmac_key() -> Public {
        Public {
            ty: KEYEDHASH,
            name_alg: SHA256,
            attrs: BASE | SIGN,
            policy: vec![],
            params: scheme(Some((HMAC, SHA256))),
            unique: b2(&[]),
        }
    }

    /// AES-128-CFB symmetric storage key.
    pub fn aes_storage() -> Public {
        Public {
            ty: SYMCIPHER,
            name_alg: SHA256,
            attrs: STORAGE,
            policy: vec![],
            params: aes128(),
            unique: b2(&[]),
        }
    }

    /// TPM2B_SENSITIVE_CREATE with `auth` and `data`.
    pub fn sensitive(auth: &[u8], data: &[u8]) -> Vec<u8> {
        b2(&[b2(auth), b2(data)].concat())
    }
}

use tpl::*;

const RH_LOCKOUT: u32 = 0x4000_000A;

/// CreatePrimary(primaryHandle, password session) with raw sensitive and public bytes.
fn create_primary_raw(hier: u32, sensitive: &[u8], public2b: &[u8]) -> Vec<u8> {
    let mut p = hier.to_be_bytes().to_vec();
    p.extend_from_slice(&pw_auth_area());
    p.extend_from_slice(sensitive);
    p.extend_from_slice(public2b);
    p.extend_from_slice(&b2(&[])); // outsideInfo
    p.extend_from_slice(&0u32.to_be_bytes()); // creationPCR: empty TPML_PCR_SELECTION
    command(0x8002, 0x131, &p)
}

fn create_primary(hier: u32, public: &Public) -> Vec<u8> {
    create_primary_raw(hier, &sensitive(&[], &[]), &public.tpm2b())
}

/// LoadExternal(no inPrivate, inPublic, hierarchy).
fn load_external_raw(public2b: &[u8], hier: u32) -> Vec<u8> {
    let p = [&b2(&[])[..], public2b, &hier.to_be_bytes()].concat();
    command(0x8001, 0x167, &p)
}

fn read_public(handle: u32) -> Vec<u8> {
    command(0x8001, 0x173, &handle.to_be_bytes())
}

fn flush(s: &TpmServer, handle: u32) {
    let resp = s
        .transact(&command(0x8001, 0x165, &handle.to_be_bytes()))
        .unwrap();
    assert_eq!(
        response_code(&resp),
        Some(0),
        "{}: flush {handle:#x}",
        s.peer.name()
    );
}

/// Send one command; if it created an object (response handle at 10..14), flush it.
fn rc_of(s: &TpmServer, cmd: &[u8]) -> u32 {
    let resp = s
        .transact(cmd)
        .unwrap_or_else(|e| panic!("{}: {e}", s.peer.name()));
    let rc = response_code(&resp).unwrap();
    if rc == 0 {
        flush(s, be_u32(&resp[10..14]).unwrap());
    }
    rc
}

fn name_of(tpmt: &[u8]) -> Vec<u8> {
    [&SHA256.to_be_bytes()[..], &sha2::Sha256::digest(tpmt)].concat()
}

/// Keys made by openssl: PEM files and TPM2B_PUBLIC templates (public part only).
struct External {
    dir: tempfile::TempDir,
    rsa: Public,
    ecc: Public,
}

fn openssl(args: &[&str], cwd: &std::path::Path) -> String {
    let out = run("openssl", args, &[], Some(cwd));
    assert!(out.ok(), "openssl {args:?}: {out}");
    out.stdout
}

/// RSA-2048 and ECC P-256 keys from openssl, as unrestricted sign|decrypt public templates.
fn external_keys() -> External {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.key",
        ],
        d,
    );
    openssl(&["pkey", "-in", "rsa.key", "-pubout", "-out", "rsa.pem"], d);
    let modulus = openssl(
        &["rsa", "-pubin", "-in", "rsa.pem", "-noout", "-modulus"],
        d,
    );
    let n = unhex(modulus.trim().strip_prefix("Modulus=").unwrap()).unwrap();
    assert_eq!(n.len(), 256);
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ecc.key",
        ],
        d,
    );
    openssl(&["pkey", "-in", "ecc.key", "-pubout", "-out", "ecc.pem"], d);
    openssl(
        &[
            "pkey", "-in", "ecc.key", "-pubout", "-outform", "DER", "-out", "ecc.der",
        ],
        d,
    );
    let der = std::fs::read(d.join("ecc.der")).unwrap();
    let point = &der[der.len() - 65..];
    assert_eq!(point[0], 4, "uncompressed point");
    let attrs = USER_WITH_AUTH | DECRYPT | SIGN;
    let rsa = Public {
        ty: RSA,
        name_alg: SHA256,
        attrs,
        policy: vec![],
        params: rsa_params(&sym(None), &scheme(None), 2048, 0),
        unique: b2(&n),
    };
    let ecc = Public {
        ty: ECC,
        name_alg: SHA256,
        attrs,
        policy: vec![],
        params: ecc_params(&sym(None), &scheme(None), NIST_P256, &scheme(None)),
        unique: ecc_point(&point[1..33], &point[33..]),
    };
    External { dir, rsa, ecc }
}

/// LoadExternal into the null hierarchy: (LoadExternal response, ReadPublic response).
fn load_and_read(s: &TpmServer, public: &Public) -> (Vec<u8>, Vec<u8>) {
    let le = s
        .transact(&load_external_raw(&public.tpm2b(), RH_NULL))
        .unwrap();
    assert_eq!(
        response_code(&le),
        Some(0),
        "{}: LoadExternal {}",
        s.peer.name(),
        hex(&le)
    );
    let handle = be_u32(&le[10..14]).unwrap();
    assert_eq!(handle >> 24, 0x80, "transient handle {handle:#x}");
    let rp = s.transact(&read_public(handle)).unwrap();
    assert_eq!(
        response_code(&rp),
        Some(0),
        "{}: ReadPublic {}",
        s.peer.name(),
        hex(&rp)
    );
    flush(s, handle);
    (le, rp)
}

/// LoadExternal of openssl keys: the name is nameAlg || H(TPMT_PUBLIC), ReadPublic gives back
/// the public area and (null hierarchy, as libtpms) a qualified name equal to the name;
/// tpm2_loadexternal prints the name ReadPublic reports.
fn load_external(peer: Peer) {
    let s = started(&peer);
    let keys = external_keys();
    for (what, public) in [("rsa", &keys.rsa), ("ecc", &keys.ecc)] {
        let (le, rp) = load_and_read(&s, public);
        let name = name_of(&public.tpmt());
        // header, handle, TPM2B_NAME (no sessions: no parameterSize)
        assert_eq!(
            &le[14..],
            &b2(&name)[..],
            "{} {what}: LoadExternal name",
            peer.name()
        );
        let want = [&public.tpm2b()[..], &b2(&name), &b2(&name)].concat();
        assert_eq!(
            hex(&rp[10..]),
            hex(&want),
            "{} {what}: ReadPublic",
            peer.name()
        );
    }
    for (alg, pem) in [("rsa", "rsa.pem"), ("ecc", "ecc.pem")] {
        let pem = keys.dir.path().join(pem).display().to_string();
        let ctx = keys.dir.path().join(format!("{}-{alg}.ctx", peer.name()));
        let ctx = ctx.display().to_string();
        let out = must(
            &s,
            "tpm2_loadexternal",
            &["-C", "n", "-G", alg, "-u", &pem, "-c", &ctx],
        );
        let name = yaml_value(&out, "name")
            .unwrap_or_else(|| panic!("{out}"))
            .to_string();
        let rp = must(&s, "tpm2_readpublic", &["-c", &ctx]);
        assert_eq!(
            yaml_value(&rp, "name"),
            Some(name.as_str()),
            "{}: {rp}",
            peer.name()
        );
        must(&s, "tpm2_flushcontext", &["-t"]);
    }
}

/// The same LoadExternal / ReadPublic bytes and tpm2_loadexternal names on both servers.
#[test]
fn diff_load_external() {
    let v = started(&vtpm());
    let s = started(&Peer::Swtpm);
    let keys = external_keys();
    for (what, public) in [("rsa", &keys.rsa), ("ecc", &keys.ecc)] {
        let (vle, vrp) = load_and_read(&v, public);
        let (sle, srp) = load_and_read(&s, public);
        // Everything but the handle value.
        assert_eq!(
            hex(&vle[..10]),
            hex(&sle[..10]),
            "{what}: LoadExternal header"
        );
        assert_eq!(
            hex(&vle[14..]),
            hex(&sle[14..]),
            "{what}: LoadExternal name"
        );
        assert_eq!(hex(&vrp), hex(&srp), "{what}: ReadPublic");
    }
    for (alg, pem) in [("rsa", "rsa.pem"), ("ecc", "ecc.pem")] {
        let pem = keys.dir.path().join(pem).display().to_string();
        let names: Vec<String> = [&v, &s]
            .iter()
            .map(|srv| {
                let ctx = keys
                    .dir
                    .path()
                    .join(format!("{}-{alg}.ctx", srv.peer.name()));
                let ctx = ctx.display().to_string();
                let args = ["-C", "n", "-G", alg, "-u", &pem, "-c", &ctx];
                let out = must(srv, "tpm2_loadexternal", &args);
                must(srv, "tpm2_flushcontext", &["-t"]);
                yaml_value(&out, "name").unwrap().to_string()
            })
            .collect();
        assert_eq!(
            names[0], names[1],
            "tpm2_loadexternal -G {alg}: vtpm vs swtpm"
        );
    }
}

/// One CreatePrimary (or LoadExternal) with a bad (or borderline) template, and the response
/// code swtpm 0.7.1 / libtpms 0.9.2 gives for it.
struct Case {
    name: &'static str,
    cmd: Vec<u8>,
    swtpm: u32,
}

fn case(name: &'static str, swtpm: u32, cmd: Vec<u8>) -> Case {
    Case { name, cmd, swtpm }
}

fn cases() -> Vec<Case> {
    let own = |p: &Public| create_primary(RH_OWNER, p);
    let null = |p: &Public| create_primary(RH_NULL, p);
    let keys_ecc_point = ecc_point(&[1; 32], &[2; 32]);
    let mut truncated = own(&ecc_storage());
    truncated.truncate(truncated.len() - 12); // cut inside the template
    let len = truncated.len() as u32;
    truncated[2..6].copy_from_slice(&len.to_be_bytes());
    let inner_short = {
        // TPM2B_PUBLIC size 4 less than its TPMT_PUBLIC: the area ends inside `unique`.
        let t = ecc_storage().tpmt();
        let mut b = b2(&t);
        b[..2].copy_from_slice(&((t.len() - 4) as u16).to_be_bytes());
        create_primary_raw(RH_OWNER, &sensitive(&[], &[]), &b)
    };
    let inner_long = {
        // Two bytes after the TPMT_PUBLIC inside the TPM2B_PUBLIC.
        let t = [ecc_storage().tpmt(), vec![0, 0]].concat();
        create_primary_raw(RH_OWNER, &sensitive(&[], &[]), &b2(&t))
    };
    vec![
        // Controls: valid templates.
        case("valid RSA storage key (control)", 0, own(&rsa_storage())),
        case("valid ECC storage key (control)", 0, own(&ecc_storage())),
        case("valid HMAC key (control)", 0, null(&hmac_key())),
        case("valid AES storage key (control)", 0, null(&aes_storage())),
        case(
            "userWithAuth=0, adminWithPolicy=0, empty authPolicy",
            0,
            own(&ecc_signing().attrs(FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | SIGN)),
        ),
        case(
            "sign+decrypt unrestricted ECC, scheme NULL",
            0,
            own(&ecc_signing()
                .attrs(BASE | SIGN | DECRYPT)
                .params(ecc_params(
                    &sym(None),
                    &scheme(None),
                    NIST_P256,
                    &scheme(None),
                ))),
        ),
        case(
            "keyedhash sign+decrypt, scheme NULL",
            0,
            null(&hmac_key().attrs(BASE | SIGN | DECRYPT).params(scheme(None))),
        ),
        case(
            "stClear primary",
            0,
            null(&ecc_storage().attrs(STORAGE | ST_CLEAR)),
        ),
        // Attributes.
        case(
            "RSA restricted+decrypt+sign",
            0x2C2,
            own(&rsa_storage().attrs(STORAGE | SIGN)),
        ),
        case(
            "fixedTPM without fixedParent",
            0x2C2,
            own(&ecc_storage().attrs(STORAGE & !FIXED_PARENT)),
        ),
        // libtpms 0.9 accepts this (the data is not used for an ECC key).
        case(
            "sensitiveDataOrigin with sensitive.data (ECC)",
            0,
            create_primary_raw(RH_OWNER, &sensitive(&[], &[7; 16]), &ecc_storage().tpm2b()),
        ),
        case(
            "reserved attribute bit 0",
            0x2E1,
            own(&ecc_storage().attrs(STORAGE | 1)),
        ),
        case(
            "reserved attribute bit 9",
            0x2E1,
            own(&ecc_storage().attrs(STORAGE | 1 << 9)),
        ),
        case(
            "reserved attribute bit 31",
            0x2E1,
            own(&ecc_storage().attrs(STORAGE | 1 << 31)),
        ),
        case(
            "encryptedDuplication with fixedParent",
            0x2C2,
            own(&ecc_storage().attrs(STORAGE | ENCRYPTED_DUPLICATION)),
        ),
        case(
            "neither sign nor decrypt, asymmetric",
            0x2C2,
            own(&ecc_storage().attrs(BASE)),
        ),
        case(
            "sealed data with sensitiveDataOrigin",
            0x2C2,
            create_primary_raw(
                RH_OWNER,
                &sensitive(&[], b"data"),
                &hmac_key().attrs(BASE).params(scheme(None)).tpm2b(),
            ),
        ),
        case(
            "sensitiveDataOrigin CLEAR, empty data (ECC)",
            0x2C2,
            own(&ecc_storage().attrs(STORAGE & !SENSITIVE_DATA_ORIGIN)),
        ),
        case(
            "adminWithPolicy, userWithAuth=0, empty authPolicy",
            0,
            null(&ecc_signing().attrs(BASE & !USER_WITH_AUTH | ADMIN_WITH_POLICY | SIGN)),
        ),
        case(
            "symcipher restricted decrypt with sign",
            0x2C2,
            null(&aes_storage().attrs(STORAGE | SIGN)),
        ),
        case(
            "symcipher unrestricted, mode NULL (allowed)",
            0,
            null(
                &aes_storage()
                    .attrs(BASE | DECRYPT | SIGN)
                    .params(sym(Some((AES, 128, NULL)))),
            ),
        ),
        // libtpms 0.9 accepts a storage symcipher key without a mode.
        case(
            "symcipher restricted decrypt, mode NULL",
            0,
            null(&aes_storage().params(sym(Some((AES, 128, NULL))))),
        ),
        case(
            "noDA restricted storage key (allowed)",
            0,
            null(&ecc_storage().attrs(STORAGE | NO_DA)),
        ),
        // Symmetric and schemes.
        case(
            "RSA restricted decrypt without symmetric",
            0x2D6,
            own(&rsa_storage().params(rsa_params(&sym(None), &scheme(None), 2048, 0))),
        ),
        case(
            "unrestricted sign key with symmetric",
            0x2D6,
            own(&ecc_signing().params(ecc_params(
                &aes128(),
                &scheme(Some((ECDSA, SHA256))),
                NIST_P256,
                &scheme(None),
            ))),
        ),
        case(
            "RSA restricted sign, scheme NULL",
            0x2D2,
            own(&rsa_storage()
                .attrs(BASE | RESTRICTED | SIGN)
                .params(rsa_params(&sym(None), &scheme(None), 2048, 0))),
        ),
        case(
            "RSA restricted decrypt with scheme OAEP",
            0x2D2,
            own(&rsa_storage().params(rsa_params(
                &aes128(),
                &scheme(Some((OAEP, SHA256))),
                2048,
                0,
            ))),
        ),
        case(
            "ECC restricted decrypt with scheme ECDSA",
            0x2D2,
            own(&ecc_storage().params(ecc_params(
                &aes128(),
                &scheme(Some((ECDSA, SHA256))),
                NIST_P256,
                &scheme(None),
            ))),
        ),
        case(
            "RSA sign+decrypt with scheme RSASSA",
            0x2D2,
            own(&rsa_storage()
                .attrs(BASE | SIGN | DECRYPT)
                .params(rsa_params(
                    &sym(None),
                    &scheme(Some((RSASSA, SHA256))),
                    2048,
                    0,
                ))),
        ),
        case(
            "ECC signing key with a KDF",
            0x2CC,
            own(&ecc_signing().params(ecc_params(
                &sym(None),
                &scheme(Some((ECDSA, SHA256))),
                NIST_P256,
                &scheme(Some((KDF1_SP800_56A, SHA256))),
            ))),
        ),
        case(
            "keyedhash sign+decrypt with HMAC scheme",
            0x2D2,
            null(&hmac_key().attrs(BASE | SIGN | DECRYPT)),
        ),
        case(
            "keyedhash sign with XOR scheme",
            0x2D2,
            null(&hmac_key().params(u16s_xor())),
        ),
        case(
            "HMAC scheme with hashAlg NULL",
            0x2C3,
            null(&hmac_key().params(scheme(Some((HMAC, NULL))))),
        ),
        // Sizes, curves, algorithms.
        case(
            "RSA keyBits 1000",
            0x2C4,
            own(&rsa_storage().params(rsa_params(&aes128(), &scheme(None), 1000, 0))),
        ),
        case(
            "ECC curve 0x0099",
            0x2E6,
            own(&ecc_storage().params(ecc_params(&aes128(), &scheme(None), 0x99, &scheme(None)))),
        ),
        case(
            "symcipher AES keyBits 100",
            0x2C4,
            null(&aes_storage().params(sym(Some((AES, 100, CFB))))),
        ),
        case(
            "symcipher mode 0x0099",
            0x2C9,
            null(&aes_storage().params(sym(Some((AES, 128, 0x99))))),
        ),
        case(
            "nameAlg NULL",
            0x2C3,
            own(&Public {
                name_alg: NULL,
                ..ecc_storage()
            }),
        ),
        case(
            "object type 0x0099",
            0x2CA,
            own(&Public {
                ty: 0x99,
                ..ecc_storage()
            }),
        ),
        case(
            "authPolicy of 20 bytes with nameAlg SHA-256",
            0x2D5,
            own(&Public {
                policy: vec![1; 20],
                ..ecc_storage()
            }),
        ),
        case(
            "authPolicy of 20 bytes with nameAlg SHA-1 (allowed)",
            0,
            null(&Public {
                name_alg: SHA1,
                policy: vec![1; 20],
                ..ecc_storage()
            }),
        ),
        case(
            // 513: one more than a 4096-bit modulus (libtpms, which stops at
            // 3072 bits, already refuses 512).
            "RSA unique of 513 bytes",
            0x2D5,
            own(&Public {
                unique: b2(&[1; 513]),
                ..rsa_storage()
            }),
        ),
        case(
            "ECC unique x of 100 bytes",
            0x2D5,
            own(&Public {
                unique: ecc_point(&[1; 100], &[]),
                ..ecc_storage()
            }),
        ),
        case(
            "sealed data of 129 bytes",
            0x1D5,
            create_primary_raw(
                RH_NULL,
                &sensitive(&[], &[5; 129]),
                &hmac_key()
                    .attrs(FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH)
                    .params(scheme(None))
                    .tpm2b(),
            ),
        ),
        case(
            "userAuth longer than the nameAlg digest",
            0x1D5,
            create_primary_raw(RH_NULL, &sensitive(&[1; 33], &[]), &ecc_storage().tpm2b()),
        ),
        // Framing.
        case("truncated command", 0x2DA, truncated),
        case("TPM2B_PUBLIC size 4 bytes short", 0x2D5, inner_short),
        case("TPM2B_PUBLIC with 2 trailing bytes", 0x2D5, inner_long),
        case(
            "TPM2B_PUBLIC size 0",
            0x2D5,
            create_primary_raw(RH_OWNER, &sensitive(&[], &[]), &b2(&[])),
        ),
        case(
            "primaryHandle lockout",
            0x184,
            create_primary(RH_LOCKOUT, &ecc_storage()),
        ),
        // LoadExternal of bad public areas.
        case(
            "LoadExternal ECC point not on the curve",
            0x2E7,
            load_external_raw(
                &Public {
                    unique: keys_ecc_point,
                    ..ecc_signing()
                }
                .tpm2b(),
                RH_NULL,
            ),
        ),
        case(
            "LoadExternal RSA modulus of 255 bytes for 2048 bits",
            0x2DC,
            load_external_raw(
                &Public {
                    attrs: USER_WITH_AUTH | SIGN | DECRYPT,
                    params: rsa_params(&sym(None), &scheme(None), 2048, 0),
                    unique: b2(&[0xC5; 255]),
                    ..rsa_storage()
                }
                .tpm2b(),
                RH_NULL,
            ),
        ),
    ]
}

/// TPMT_KEYEDHASH_SCHEME XOR(SHA-256, KDF1_SP800_108).
fn u16s_xor() -> Vec<u8> {
    [XOR, SHA256, 0x0022]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect()
}

/// Every case against one server: its code must be the pinned swtpm code.
fn invalid_templates(peer: Peer) {
    let s = started(&peer);
    let mut table = String::new();
    let mut bad = Vec::new();
    for c in cases() {
        let rc = rc_of(&s, &c.cmd);
        table.push_str(&format!(
            "{:55} {rc:#07x}  pinned {:#07x}\n",
            c.name, c.swtpm
        ));
        if rc != c.swtpm {
            bad.push(c.name);
        }
    }
    println!("{table}");
    assert!(
        bad.is_empty(),
        "{}: differs from the pinned codes: {bad:?}\n{table}",
        peer.name()
    );
}

/// The same cases against both servers: equal codes (and equal to the pinned table).
#[test]
fn diff_invalid_templates() {
    let v = started(&vtpm());
    let s = started(&Peer::Swtpm);
    let mut table =
        String::from("case                                                    vtpm     swtpm\n");
    let mut bad = Vec::new();
    for c in cases() {
        let (a, b) = (rc_of(&v, &c.cmd), rc_of(&s, &c.cmd));
        table.push_str(&format!("{:55} {a:#07x}  {b:#07x}\n", c.name));
        if a != b || b != c.swtpm {
            bad.push(c.name);
        }
    }
    println!("{table}");
    assert!(bad.is_empty(), "differences: {bad:?}\n{table}");
}

both!(load_external, invalid_templates);
