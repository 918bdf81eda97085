//! Cipher known answers (`tests/vectors/cipher.txt`, made by openssl with
//! `tests/vectors/cipher_gen.py`): AES in every TPM2_EncryptDecrypt mode
//! must match `openssl enc` byte for byte both ways; openssl's RSA-OAEP and
//! PKCS#1 v1.5 ciphertexts must decrypt (and ours must decrypt back); raw
//! RSA must match openssl's `rsa_padding_mode:none`; ECDH must agree with
//! `openssl pkeyutl -derive`.
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "test harness: a malformed vector file should fail loudly"
)]

use vtpm_crypto::{
    AsymError, EccCurve, HashAlg, KeyGenError, KeyRng, SymMode, aes_crypt, ecc_from_private,
    ecdh_shared_point, ecdh_shared_x, rsa_from_prime, rsa_oaep_decrypt, rsa_oaep_encrypt,
    rsa_pkcs1v15_decrypt, rsa_pkcs1v15_encrypt, rsa_raw_decrypt, rsa_raw_encrypt,
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

fn vectors(kind: &str) -> Vec<Record> {
    let all = records(include_str!("vectors/cipher.txt"));
    let v: Vec<Record> = all.into_iter().filter(|r| r["kind"] == kind).collect();
    assert!(!v.is_empty(), "no {kind} vectors");
    v
}

fn mode(r: &Record) -> SymMode {
    match r["mode"].as_str() {
        "cfb" => SymMode::Cfb,
        "cbc" => SymMode::Cbc,
        "ctr" => SymMode::Ctr,
        "ofb" => SymMode::Ofb,
        "ecb" => SymMode::Ecb,
        m => panic!("unknown mode {m}"),
    }
}

#[test]
fn aes_modes_match_openssl() {
    let v = vectors("aes");
    assert_eq!(v.len(), 39);
    for r in &v {
        let (key, iv, plain, cipher) = (
            field(r, "key"),
            field(r, "iv"),
            field(r, "plain"),
            field(r, "cipher"),
        );
        let m = mode(r);
        let mut data = plain.clone();
        let mut iv_out = iv.clone();
        aes_crypt(m, false, &key, &mut iv_out, &mut data).unwrap();
        assert_eq!(data, cipher, "{r:?}");
        let mut back = cipher.clone();
        let mut iv_back = iv.clone();
        aes_crypt(m, true, &key, &mut iv_back, &mut back).unwrap();
        assert_eq!(back, plain, "{r:?}");
        assert_eq!(iv_out, iv_back, "ivOut the same both ways: {r:?}");
        // ivOut continues the stream: encrypting more data with it equals
        // openssl's stream over both parts (checked on whole blocks).
        if m != SymMode::Ecb && plain.len() % 16 == 0 {
            let n = plain.len() / 2 / 16 * 16;
            if n > 0 {
                let mut first = plain[..n].to_vec();
                let mut iv2 = iv.clone();
                aes_crypt(m, false, &key, &mut iv2, &mut first).unwrap();
                let mut second = plain[n..].to_vec();
                aes_crypt(m, false, &key, &mut iv2, &mut second).unwrap();
                assert_eq!([first, second].concat(), cipher, "chained {r:?}");
            }
        }
    }
}

fn hash(r: &Record) -> HashAlg {
    match r["hash"].as_str() {
        "sha1" => HashAlg::Sha1,
        "sha256" => HashAlg::Sha256,
        "sha384" => HashAlg::Sha384,
        h => panic!("unknown hash {h}"),
    }
}

#[test]
fn rsa_decrypts_openssl_and_round_trips() {
    let mut rng = TestRng(7);
    for r in &vectors("rsa") {
        let n = field(r, "n");
        let e: u32 = r["e"].parse().unwrap();
        let key = rsa_from_prime(&n, e, &field(r, "p")).unwrap();
        let (msg, label, h) = (field(r, "msg"), field(r, "label"), hash(r));
        let oaep = field(r, "oaep");
        assert_eq!(
            *rsa_oaep_decrypt(&key, h, &label, &oaep, &mut rng).unwrap(),
            msg
        );
        // Another label, or a flipped bit, does not decrypt.
        assert_eq!(
            rsa_oaep_decrypt(&key, h, b"other\0", &oaep, &mut rng),
            Err(AsymError::Decrypt)
        );
        let pkcs1 = field(r, "pkcs1");
        assert_eq!(*rsa_pkcs1v15_decrypt(&key, &pkcs1, &mut rng).unwrap(), msg);
        let mut bad = pkcs1.clone();
        bad[0] ^= 1;
        // Bad padding gets implicit rejection (rsa 0.10, as OpenSSL 3.2+):
        // a synthetic message derived from the key and ciphertext, the
        // same every time, never the plaintext, and no padding oracle.
        let synthetic = rsa_pkcs1v15_decrypt(&key, &bad, &mut rng).unwrap();
        assert_ne!(*synthetic, msg);
        assert_eq!(
            *rsa_pkcs1v15_decrypt(&key, &bad, &mut TestRng(99)).unwrap(),
            *synthetic
        );
        let (raw_msg, raw) = (field(r, "raw_msg"), field(r, "raw"));
        assert_eq!(rsa_raw_encrypt(&n, e, &raw_msg).unwrap(), raw);
        assert_eq!(*rsa_raw_decrypt(&key, &raw, &mut rng).unwrap(), raw_msg);
        // Raw RSA takes the value without its leading zeros, and refuses a
        // value not below the modulus.
        assert_eq!(rsa_raw_encrypt(&n, e, &raw_msg[1..]).unwrap(), raw);
        assert_eq!(rsa_raw_encrypt(&n, e, &n), Err(AsymError::Decrypt));
        // Our own ciphertexts decrypt back.
        let c = rsa_oaep_encrypt(&n, e, h, &label, &msg, &mut rng).unwrap();
        assert_eq!(
            *rsa_oaep_decrypt(&key, h, &label, &c, &mut rng).unwrap(),
            msg
        );
        let c = rsa_pkcs1v15_encrypt(&n, e, &msg, &mut rng).unwrap();
        assert_eq!(c.len(), n.len());
        assert_eq!(*rsa_pkcs1v15_decrypt(&key, &c, &mut rng).unwrap(), msg);
    }
}

#[test]
fn ecdh_agrees_with_openssl() {
    for r in &vectors("ecdh") {
        let curve = match r["curve"].as_str() {
            "p256" => EccCurve::NistP256,
            "p384" => EccCurve::NistP384,
            "p521" => EccCurve::NistP521,
            c => panic!("unknown curve {c}"),
        };
        let (d, qx, qy, z) = (field(r, "d"), field(r, "qx"), field(r, "qy"), field(r, "z"));
        assert_eq!(*ecdh_shared_x(curve, &d, &qx, &qy).unwrap(), z);
        let (x, y) = ecdh_shared_point(curve, &d, &qx, &qy).unwrap();
        assert_eq!(*x, z);
        // y belongs to x on the curve.
        assert!(vtpm_crypto::ecc_point_valid(curve, &x, &y));
        let mut off = qy.clone();
        *off.last_mut().unwrap() ^= 1;
        assert_eq!(
            ecdh_shared_point(curve, &d, &qx, &off).err(),
            Some(AsymError::Point)
        );
        // The parameters describe the curve: G = 1 * G lies on it.
        let p = curve.parameters();
        assert!(vtpm_crypto::ecc_point_valid(curve, p.gx, p.gy));
        let one = {
            let mut v = vec![0u8; curve.key_bytes()];
            *v.last_mut().unwrap() = 1;
            v
        };
        let g = ecc_from_private(curve, &one).unwrap();
        assert_eq!((g.x(), g.y()), (p.gx, p.gy));
    }
}
