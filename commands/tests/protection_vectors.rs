//! Known-answer vectors for protected blobs (tests/vectors/protection.txt,
//! made by the independent Python model protect_model.py): the
//! TPM2B_PRIVATE a parent wraps a child's sensitive area into (Create,
//! Load) and the TPM2B_ID_OBJECT that carries a credential (MakeCredential,
//! ActivateCredential), both ways, and the refusal of every altered input.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test harness: a malformed vector file should fail loudly"
)]

#[path = "../../crypto/tests/vector_file/mod.rs"]
mod vector_file;

use vector_file::{Record, field, records_of_kind};
use vtpm_commands::{Rc, credential_blob, credential_from_blob, private_blob, private_sensitive};

const VECTORS: &str = include_str!("vectors/protection.txt");

fn of_kind(kind: &str) -> Vec<Record> {
    records_of_kind(VECTORS, kind, 4)
}

/// private_sensitive or credential_from_blob: (public, seed, name, blob).
type Open = fn(&[u8], &[u8], &[u8], &[u8]) -> Result<Vec<u8>, Rc>;

/// One protected blob of either kind, with the function that opens it.
struct Case {
    label: String,
    /// The parent's or key's TPMT_PUBLIC.
    public: Vec<u8>,
    seed: Vec<u8>,
    name: Vec<u8>,
    /// The TPMT_SENSITIVE or the credential.
    plain: Vec<u8>,
    blob: Vec<u8>,
    open: Open,
}

fn cases() -> Vec<Case> {
    let private = of_kind("private").into_iter().map(|r| Case {
        label: r["name"].clone(),
        public: field(&r, "parent_public"),
        seed: field(&r, "parent_seed"),
        name: field(&r, "object_name"),
        plain: field(&r, "sensitive"),
        blob: field(&r, "private"),
        open: private_sensitive,
    });
    let id = of_kind("id_object").into_iter().map(|r| Case {
        label: r["name"].clone(),
        public: field(&r, "key_public"),
        seed: field(&r, "seed"),
        name: field(&r, "object_name"),
        plain: field(&r, "credential"),
        blob: field(&r, "id_object"),
        open: credential_from_blob,
    });
    private.chain(id).collect()
}

#[test]
fn private_areas_match_the_model_both_ways() {
    for r in of_kind("private") {
        let (parent, seed, name) = (
            field(&r, "parent_public"),
            field(&r, "parent_seed"),
            field(&r, "object_name"),
        );
        let (sens, blob) = (field(&r, "sensitive"), field(&r, "private"));
        let made = private_blob(&parent, &seed, &name, &sens)
            .unwrap_or_else(|rc| panic!("{}: {rc:?}", r["name"]));
        assert_eq!(made, blob, "{}", r["name"]);
        let opened = private_sensitive(&parent, &seed, &name, &blob)
            .unwrap_or_else(|rc| panic!("{}: {rc:?}", r["name"]));
        assert_eq!(opened, sens, "{}", r["name"]);
    }
}

#[test]
fn id_objects_match_the_model_both_ways() {
    for r in of_kind("id_object") {
        let (key, seed, name) = (
            field(&r, "key_public"),
            field(&r, "seed"),
            field(&r, "object_name"),
        );
        let (credential, blob) = (field(&r, "credential"), field(&r, "id_object"));
        let made = credential_blob(&key, &seed, &name, &credential)
            .unwrap_or_else(|rc| panic!("{}: {rc:?}", r["name"]));
        assert_eq!(made, blob, "{}", r["name"]);
        let opened = credential_from_blob(&key, &seed, &name, &blob)
            .unwrap_or_else(|rc| panic!("{}: {rc:?}", r["name"]));
        assert_eq!(opened, credential, "{}", r["name"]);
    }
}

#[test]
fn every_flipped_bit_of_a_blob_fails_integrity() {
    for c in cases() {
        for i in 0..c.blob.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = c.blob.clone();
                bad[i] ^= bit;
                let got = (c.open)(&c.public, &c.seed, &c.name, &bad);
                if i < 2 {
                    // The integrity's size: now wrong, so the HMAC (if the
                    // field still fits) is read from the wrong bytes.
                    assert!(
                        matches!(got, Err(rc) if rc == Rc::INTEGRITY || rc == Rc::INSUFFICIENT || rc == Rc::SIZE),
                        "{} byte {i}: {got:?}",
                        c.label
                    );
                } else {
                    assert_eq!(got, Err(Rc::INTEGRITY), "{} byte {i}", c.label);
                }
            }
        }
    }
}

#[test]
fn truncated_or_extended_blobs_fail_integrity() {
    for c in cases() {
        let short = &c.blob[..c.blob.len() - 1];
        assert_eq!(
            (c.open)(&c.public, &c.seed, &c.name, short),
            Err(Rc::INTEGRITY),
            "{}",
            c.label
        );
        let mut long = c.blob.clone();
        long.push(0);
        assert_eq!(
            (c.open)(&c.public, &c.seed, &c.name, &long),
            Err(Rc::INTEGRITY),
            "{}",
            c.label
        );
        // Only the integrity's size is left, or not even that.
        let got = (c.open)(&c.public, &c.seed, &c.name, &c.blob[..1]);
        assert!(got.is_err(), "{}: {got:?}", c.label);
        assert!(
            (c.open)(&c.public, &c.seed, &c.name, &[]).is_err(),
            "{}",
            c.label
        );
    }
}

#[test]
fn another_name_seed_or_hash_fails_integrity() {
    for c in cases() {
        let mut other_name = c.name.clone();
        *other_name.last_mut().unwrap() ^= 1;
        assert_eq!(
            (c.open)(&c.public, &c.seed, &other_name, &c.blob),
            Err(Rc::INTEGRITY),
            "{}",
            c.label
        );
        let mut other_seed = c.seed.clone();
        other_seed[0] ^= 1;
        assert_eq!(
            (c.open)(&c.public, &other_seed, &c.name, &c.blob),
            Err(Rc::INTEGRITY),
            "{}",
            c.label
        );
        // The parent's (key's) nameAlg picks both KDFa hashes and the HMAC:
        // the same key under the other of SHA-256 / SHA-384.
        let mut other_alg = c.public.clone();
        other_alg[3] = if other_alg[3] == 0x0b { 0x0c } else { 0x0b };
        let got = (c.open)(&other_alg, &c.seed, &c.name, &c.blob);
        if matches!(c.public[..2], [0, 0x01] | [0, 0x23]) {
            assert_eq!(got, Err(Rc::INTEGRITY), "{}", c.label);
        } else {
            // A symmetric key's unique is a nameAlg digest: the area with the
            // other nameAlg may not even parse.
            assert!(got.is_err(), "{}: {got:?}", c.label);
        }
    }
}

#[test]
fn a_different_cipher_size_does_not_release_the_plaintext() {
    // The integrity key does not depend on the symmetric key size, so the
    // HMAC holds; the wrong STORAGE key must then not yield the plaintext
    // (almost always the TPM2B inside no longer fits: TPM_RC_SENSITIVE for a
    // private area, TPM_RC_SIZE for a credential).
    for c in cases() {
        let mut other = c.public.clone();
        // TPMT_SYM_DEF_OBJECT.keyBits right after the empty authPolicy.
        assert_eq!(&other[8..10], &[0, 0], "{}", c.label);
        let bits: [u8; 2] = if other[12..14] == [0, 128] {
            [1, 0]
        } else {
            [0, 128]
        };
        other[12..14].copy_from_slice(&bits);
        match (c.open)(&other, &c.seed, &c.name, &c.blob) {
            Ok(plain) => assert_ne!(plain, c.plain, "{}", c.label),
            Err(rc) => assert!(rc == Rc::SENSITIVE || rc == Rc::SIZE, "{}: {rc:?}", c.label),
        }
    }
}

#[test]
fn keys_that_protect_nothing_are_refused() {
    for c in cases() {
        // Clear `restricted` (bit 16 of objectAttributes, bytes 4..8).
        let mut unrestricted = c.public.clone();
        unrestricted[5] &= !0x01;
        let got = (c.open)(&unrestricted, &c.seed, &c.name, &c.blob);
        assert_eq!(got, Err(Rc::TYPE), "{}", c.label);
    }
    // A credential longer than the key's nameAlg digest is refused, as
    // MakeCredential does.
    let r = &of_kind("id_object")[0];
    let key = field(r, "key_public");
    let long = vec![7u8; 65];
    assert_eq!(
        credential_blob(&key, &field(r, "seed"), &field(r, "object_name"), &long),
        Err(Rc::SIZE)
    );
}
