//! Known answers for the ECC extras and CMAC (`tests/vectors/ecc_extras.txt`,
//! made by `tests/vectors/ecc_extras_gen.py`): AES-CMAC against NIST SP
//! 800-38B and `openssl mac`, ZGen_2Phase's ECDH points and Commit's K, L, E
//! against an independent Python model.
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "test harness: a malformed vector file should fail loudly"
)]

use vtpm_crypto::{
    CmacState, EccCurve, HashAlg, aes_cmac, ecc_mul, ecc_point_valid, ecc_prime, ecc_reduce,
    ecdh_shared_point,
};

mod vector_file;
use vector_file::{Record, field, records};

fn vectors(kind: &str) -> Vec<Record> {
    let v: Vec<Record> = records(include_str!("vectors/ecc_extras.txt"))
        .into_iter()
        .filter(|r| r["kind"] == kind)
        .collect();
    assert!(!v.is_empty(), "no {kind} vectors");
    v
}

fn curve(r: &Record) -> EccCurve {
    match r["curve"].as_str() {
        "p256" => EccCurve::NistP256,
        "p384" => EccCurve::NistP384,
        "p521" => EccCurve::NistP521,
        c => panic!("unknown curve {c}"),
    }
}

#[test]
fn cmac_matches_nist_and_openssl() {
    for r in &vectors("cmac") {
        let (key, msg, tag) = (field(r, "key"), field(r, "msg"), field(r, "tag"));
        assert_eq!(aes_cmac(&key, &[&msg]).unwrap().to_vec(), tag);
        // Byte by byte, through a saved state halfway.
        let mut st = CmacState::new(&key).unwrap();
        let (a, b) = msg.split_at(msg.len() / 2);
        for byte in a {
            st.update(&[*byte]);
        }
        let mut st = CmacState::import_state(&st.export_state()).unwrap();
        st.update(b);
        assert_eq!(st.finalize().to_vec(), tag);
    }
}

#[test]
fn zgen_2phase_ecdh_points() {
    for r in &vectors("zgen2") {
        let c = curve(r);
        let (z1x, z1y) =
            ecdh_shared_point(c, &field(r, "dsa"), &field(r, "qsbx"), &field(r, "qsby")).unwrap();
        let (z2x, z2y) =
            ecdh_shared_point(c, &field(r, "dea"), &field(r, "qebx"), &field(r, "qeby")).unwrap();
        assert_eq!(
            (z1x.to_vec(), z1y.to_vec()),
            (field(r, "z1x"), field(r, "z1y"))
        );
        assert_eq!(
            (z2x.to_vec(), z2y.to_vec()),
            (field(r, "z2x"), field(r, "z2y"))
        );
        let (qx, qy) = ecc_mul(c, &field(r, "dsa"), None).unwrap();
        assert_eq!(
            (qx.to_vec(), qy.to_vec()),
            (field(r, "qsax"), field(r, "qsay"))
        );
    }
}

#[test]
fn commit_points() {
    for r in &vectors("commit") {
        let c = curve(r);
        let x2 = ecc_reduce(
            ecc_prime(c),
            HashAlg::Sha256.digest(&[&field(r, "s2")]).as_bytes(),
        )
        .unwrap();
        let y2 = field(r, "y2");
        assert!(ecc_point_valid(c, &x2, &y2));
        let (d, rr) = (field(r, "d"), field(r, "r"));
        let k = ecc_mul(c, &d, Some((&x2, &y2))).unwrap();
        let l = ecc_mul(c, &rr, Some((&x2, &y2))).unwrap();
        let e = ecc_mul(c, &rr, Some((&field(r, "p1x"), &field(r, "p1y")))).unwrap();
        assert_eq!(
            (k.0.to_vec(), k.1.to_vec()),
            (field(r, "kx"), field(r, "ky"))
        );
        assert_eq!(
            (l.0.to_vec(), l.1.to_vec()),
            (field(r, "lx"), field(r, "ly"))
        );
        assert_eq!(
            (e.0.to_vec(), e.1.to_vec()),
            (field(r, "ex"), field(r, "ey"))
        );
    }
}
