//! Signature known answers (`tests/vectors/sign.txt`, made by openssl with
//! `tests/vectors/sign_gen.py`): PKCS#1 v1.5 signatures must match
//! openssl's byte for byte; openssl's PSS (TPM salt length and longest
//! salt) and ECDSA signatures must verify; our own PSS and ECDSA signatures
//! must verify; any flipped bit must not.
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "test harness: a malformed vector file should fail loudly"
)]

use vtpm_crypto::{
    EccCurve, HashAlg, KeyGenError, KeyRng, ecc_from_private, ecdsa_sign, ecdsa_verify,
    pss_salt_len, rsa_from_prime, rsa_pkcs1v15_sign, rsa_pkcs1v15_verify, rsa_pss_sign,
    rsa_pss_verify,
};

mod vector_file;
use vector_file::{Record, field, records};

/// A deterministic byte source (SplitMix64).
struct TestRng(u64);
impl KeyRng for TestRng {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), KeyGenError> {
        for b in out.iter_mut() {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *b = (z ^ (z >> 31)) as u8;
        }
        Ok(())
    }
}

fn alg(r: &Record) -> HashAlg {
    match r["alg"].as_str() {
        "sha1" => HashAlg::Sha1,
        "sha256" => HashAlg::Sha256,
        "sha384" => HashAlg::Sha384,
        "sha512" => HashAlg::Sha512,
        other => panic!("unknown alg {other}"),
    }
}

fn flip(v: &[u8], i: usize) -> Vec<u8> {
    let mut v = v.to_vec();
    let n = v.len();
    v[i % n] ^= 0x01;
    v
}

#[test]
fn rsa_kat() {
    let recs: Vec<Record> = records(include_str!("vectors/sign.txt"))
        .into_iter()
        .filter(|r| r["kind"] == "rsa")
        .collect();
    assert_eq!(recs.len(), 8);
    let mut rng = TestRng(5);
    for r in &recs {
        let (h, n, p, digest) = (alg(r), field(r, "n"), field(r, "p"), field(r, "digest"));
        let e: u32 = r["e"].parse().unwrap();
        let key = rsa_from_prime(&n, e, &p).unwrap();
        let pkcs1 = field(r, "pkcs1");
        assert_eq!(
            rsa_pkcs1v15_sign(&key, h, &digest, &mut rng).unwrap(),
            pkcs1,
            "{h:?} {}",
            n.len()
        );
        assert!(rsa_pkcs1v15_verify(&n, e, h, &digest, &pkcs1));
        assert!(!rsa_pkcs1v15_verify(&n, e, h, &flip(&digest, 3), &pkcs1));
        assert!(!rsa_pkcs1v15_verify(&n, e, h, &digest, &flip(&pkcs1, 70)));
        for name in ["pss_tpm_salt", "pss_max_salt"] {
            let sig = field(r, name);
            assert!(rsa_pss_verify(&n, e, h, &digest, &sig), "{name} {h:?}");
            assert!(!rsa_pss_verify(&n, e, h, &flip(&digest, 0), &sig));
            assert!(!rsa_pss_verify(&n, e, h, &digest, &flip(&sig, 9)));
            // A PSS signature is not a PKCS#1 v1.5 one.
            assert!(!rsa_pkcs1v15_verify(&n, e, h, &digest, &sig));
        }
        let ours = rsa_pss_sign(&key, h, &digest, &mut rng).unwrap();
        assert_eq!(ours.len(), n.len());
        assert!(rsa_pss_verify(&n, e, h, &digest, &ours));
        assert!(pss_salt_len(h, n.len()) <= h.digest_size());
        // The digest must be the hash's size.
        assert!(rsa_pkcs1v15_sign(&key, h, &digest[1..], &mut rng).is_err());
        assert!(!rsa_pss_verify(&n, e, h, &digest[1..], &ours));
    }
}

#[test]
fn ecdsa_kat() {
    let recs: Vec<Record> = records(include_str!("vectors/sign.txt"))
        .into_iter()
        .filter(|r| r["kind"] == "ecdsa")
        .collect();
    assert_eq!(recs.len(), 12);
    let mut rng = TestRng(9);
    for r in &recs {
        let curve = match r["curve"].as_str() {
            "p256" => EccCurve::NistP256,
            "p384" => EccCurve::NistP384,
            "p521" => EccCurve::NistP521,
            other => panic!("unknown curve {other}"),
        };
        let (d, x, y, digest) = (
            field(r, "d"),
            field(r, "x"),
            field(r, "y"),
            field(r, "digest"),
        );
        let (sr, ss) = (field(r, "r"), field(r, "s"));
        let key = ecc_from_private(curve, &d).unwrap();
        assert_eq!((key.x(), key.y()), (&x[..], &y[..]), "{curve:?}");
        assert!(
            ecdsa_verify(curve, &x, &y, &digest, &sr, &ss),
            "{curve:?} {:?}",
            alg(r)
        );
        assert!(!ecdsa_verify(curve, &x, &y, &flip(&digest, 1), &sr, &ss));
        assert!(!ecdsa_verify(curve, &x, &y, &digest, &flip(&sr, 4), &ss));
        assert!(!ecdsa_verify(curve, &x, &y, &digest, &sr, &flip(&ss, 4)));
        let (r2, s2) = ecdsa_sign(curve, &d, &digest, &mut rng).unwrap();
        assert!(ecdsa_verify(curve, &x, &y, &digest, &r2, &s2));
        // Same key and digest, fresh nonce: a different signature.
        let (r3, _) = ecdsa_sign(curve, &d, &digest, &mut rng).unwrap();
        assert_ne!(r2, r3);
    }
}
