//! Known-answer vectors for duplication (tests/vectors/duplication.txt, made
//! by the independent Python model duplication_model.py): the blobs
//! TPM2_Duplicate builds and TPM2_Import opens, and the seeds a parent
//! recovers from an RSA-OAEP or ECDH inSymSeed with the label "DUPLICATE".

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
use vtpm_commands::{Rc, duplication_blob, duplication_seed, duplication_sensitive};

const VECTORS: &str = include_str!("vectors/duplication.txt");

fn of_kind(kind: &str) -> Vec<Record> {
    records_of_kind(VECTORS, kind, 1)
}

fn opt(r: &Record, k: &str) -> Option<Vec<u8>> {
    r.contains_key(k).then(|| field(r, k))
}

fn name_alg(r: &Record) -> u16 {
    u16::from_be_bytes(field(r, "name_alg").try_into().unwrap())
}

#[test]
fn blobs_match_the_model_both_ways() {
    for r in of_kind("blob") {
        let (name, sens, blob) = (
            field(&r, "object_name"),
            field(&r, "sensitive"),
            field(&r, "blob"),
        );
        let inner = opt(&r, "inner_key");
        let parent = opt(&r, "parent_public");
        let seed = opt(&r, "seed");
        let outer = parent.as_deref().zip(seed.as_deref());
        let made = duplication_blob(&name, name_alg(&r), &sens, inner.as_deref(), outer)
            .unwrap_or_else(|rc| panic!("{}: {rc:?}", r["name"]));
        assert_eq!(made, blob, "{}", r["name"]);
        let opened = duplication_sensitive(&name, name_alg(&r), &blob, inner.as_deref(), outer)
            .unwrap_or_else(|rc| panic!("{}: {rc:?}", r["name"]));
        assert_eq!(opened, sens, "{}", r["name"]);
    }
}

#[test]
fn a_wrapped_blob_fails_integrity_when_anything_differs() {
    for r in of_kind("blob") {
        let (name, blob) = (field(&r, "object_name"), field(&r, "blob"));
        let inner = opt(&r, "inner_key");
        let parent = opt(&r, "parent_public");
        let seed = opt(&r, "seed");
        if inner.is_none() && parent.is_none() {
            continue; // nothing protects a bare TPM2B_SENSITIVE
        }
        let outer = parent.as_deref().zip(seed.as_deref());
        let open = |name: &[u8], blob: &[u8], inner: Option<&[u8]>, outer| {
            duplication_sensitive(name, name_alg(&r), blob, inner, outer)
        };
        // Any flipped byte of the blob (the last one is ciphertext).
        let mut bad = blob.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            open(&name, &bad, inner.as_deref(), outer),
            Err(Rc::INTEGRITY)
        );
        // Another object's name.
        let mut other = name.clone();
        other[5] ^= 0x80;
        assert_eq!(
            open(&other, &blob, inner.as_deref(), outer),
            Err(Rc::INTEGRITY)
        );
        if let Some(k) = &inner {
            let mut wrong = k.clone();
            wrong[0] ^= 1;
            // The wrong key decrypts the inner integrity's size field to noise
            // too: like the reference, a size beyond a digest is TPM_RC_SIZE.
            let got = open(&name, &blob, Some(&wrong), outer);
            assert!(
                matches!(got, Err(rc) if rc == Rc::INTEGRITY || rc == Rc::SIZE || rc == Rc::INSUFFICIENT),
                "{}: {got:?}",
                r["name"]
            );
        }
        if let (Some(p), Some(s)) = (&parent, &seed) {
            let mut wrong = s.clone();
            wrong[0] ^= 1;
            assert_eq!(
                open(&name, &blob, inner.as_deref(), Some((p, &wrong))),
                Err(Rc::INTEGRITY)
            );
        }
    }
}

#[test]
fn seeds_match_the_model() {
    for r in of_kind("seed") {
        let seed = duplication_seed(
            &field(&r, "parent_public"),
            &field(&r, "parent_secret"),
            &field(&r, "in_sym_seed"),
        )
        .unwrap_or_else(|rc| panic!("{}: {rc:?}", r["name"]));
        assert_eq!(seed, field(&r, "seed"), "{}", r["name"]);
    }
}

#[test]
fn a_damaged_in_sym_seed_is_refused() {
    for r in of_kind("seed") {
        let mut enc = field(&r, "in_sym_seed");
        let last = enc.len() - 1;
        enc[last] ^= 1;
        let got = duplication_seed(
            &field(&r, "parent_public"),
            &field(&r, "parent_secret"),
            &enc,
        );
        // OAEP padding fails (VALUE); a moved ECC point leaves the curve.
        assert!(
            matches!(got, Err(rc) if rc == Rc::VALUE || rc == Rc::ECC_POINT),
            "{}: {got:?}",
            r["name"]
        );
    }
}
