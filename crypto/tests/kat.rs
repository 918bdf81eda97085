//! Known-answer tests driven by the data files in `tests/vectors/`.
//!
//! Format: records separated by blank lines, each line `name = value`
//! (values are hex unless noted), `#` starts a comment line.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test harness: a malformed vector file should fail loudly"
)]

use vtpm_crypto::{CtrDrbg, HashAlg, Hasher, HmacState, hmac, kdfa, kdfe};

mod vector_file;
use vector_file::{Record, field, records};

fn alg(r: &Record) -> HashAlg {
    match r["alg"].as_str() {
        "sha1" => HashAlg::Sha1,
        "sha256" => HashAlg::Sha256,
        "sha384" => HashAlg::Sha384,
        "sha512" => HashAlg::Sha512,
        other => panic!("unknown alg {other}"),
    }
}

#[test]
fn hash_kat() {
    let recs = records(include_str!("vectors/hash.txt"));
    assert_eq!(recs.len(), 8);
    for r in &recs {
        let (alg, msg, md) = (alg(r), field(r, "msg"), field(r, "md"));
        assert_eq!(alg.digest(&[&msg]).as_bytes(), &md[..], "{r:?}");
        // Streaming, byte at a time.
        let mut h = Hasher::new(alg);
        for b in &msg {
            h.update(std::slice::from_ref(b));
        }
        assert_eq!(h.finalize().as_ref(), &md[..], "{r:?}");
    }
}

#[test]
fn hmac_kat() {
    let recs = records(include_str!("vectors/hmac.txt"));
    assert_eq!(recs.len(), 11);
    for r in &recs {
        let (alg, key, msg, mac) = (alg(r), field(r, "key"), field(r, "msg"), field(r, "mac"));
        assert_eq!(hmac(alg, &key, &[&msg]).as_bytes(), &mac[..], "{r:?}");
        let (a, b) = msg.split_at(msg.len() / 2);
        let mut st = HmacState::new(alg, &key);
        st.update(a);
        st.update(b);
        assert_eq!(st.finalize().as_bytes(), &mac[..], "{r:?}");
    }
}

#[test]
fn kdf_kat() {
    let recs = records(include_str!("vectors/kdf.txt"));
    assert_eq!(recs.len(), 8);
    for r in &recs {
        let alg = alg(r);
        let (key, label, u, v) = (
            field(r, "key"),
            field(r, "label"),
            field(r, "u"),
            field(r, "v"),
        );
        let bits: u32 = r["bits"].parse().expect("bits");
        let out = match r["kdf"].as_str() {
            "kdfa" => kdfa(alg, &key, &label, &u, &v, bits),
            "kdfe" => kdfe(alg, &key, &label, &u, &v, bits),
            other => panic!("unknown kdf {other}"),
        };
        assert_eq!(&out[..], &field(r, "out")[..], "{r:?}");
    }
}

#[test]
fn ctr_drbg_kat() {
    let recs = records(include_str!("vectors/ctr_drbg.txt"));
    assert_eq!(recs.len(), 4);
    for r in &recs {
        let mut d =
            CtrDrbg::instantiate(&field(r, "entropy"), &field(r, "nonce"), &field(r, "pers"))
                .expect("instantiate");
        if r.contains_key("entropy_reseed") {
            d.reseed(&field(r, "entropy_reseed"), &field(r, "add_reseed"))
                .expect("reseed");
        }
        let expected = field(r, "returned");
        let mut out = vec![0u8; expected.len()];
        d.generate(&mut out, &field(r, "add1")).expect("generate 1");
        d.generate(&mut out, &field(r, "add2")).expect("generate 2");
        assert_eq!(out, expected, "{r:?}");
        assert_eq!(d.reseed_counter(), 3);
    }
}
