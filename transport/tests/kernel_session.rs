//! The Linux kernel's way of talking to its TPM (drivers/char/tpm/tpm2-sessions.c):
//! a primary ECC key in the null hierarchy, an HMAC session salted to it with
//! an ephemeral ECDH key (KDFe "SECRET"), AES-128-CFB parameter encryption,
//! GetRandom with response encryption, PCR_Extend authorized through the
//! session, and PCR_Event whose event data travels encrypted. The client side
//! is computed here from the spec's formulas and checked against vtpm and swtpm:
//! every response HMAC is verified, and the PCR value proves the TPM decrypted
//! the event data correctly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use vtpm_conformance::raw::{self, Reader, b2, u16s};
use vtpm_crypto::{EccCurve, HashAlg, aes_cfb_decrypt, aes_cfb_encrypt, ecc_from_private, hmac};

const CC_CREATE_PRIMARY: u32 = 0x131;
const CC_START_AUTH_SESSION: u32 = 0x176;
const CC_GET_RANDOM: u32 = 0x17B;
const CC_PCR_EXTEND: u32 = 0x182;
const CC_PCR_EVENT: u32 = 0x13C;
const SHA256: HashAlg = HashAlg::Sha256;

/// The client's view of one salted session.
struct Session {
    handle: u32,
    key: Vec<u8>,
    nonce_tpm: Vec<u8>,
    nonce_caller: Vec<u8>,
}

impl Session {
    /// A fresh nonceCaller for the next command.
    fn roll(&mut self) {
        self.nonce_caller = SHA256.digest(&[&self.nonce_caller]).as_bytes().to_vec();
    }

    /// TPMS_AUTH_COMMAND with a fresh nonceCaller and the command HMAC over
    /// cpHash (Part 1, 19.6.13). `auth` is the authorized entity's authValue.
    fn auth(&mut self, attrs: u8, cp_hash: &[u8], auth: &[u8]) -> Vec<u8> {
        self.roll();
        self.auth_rolled(attrs, cp_hash, auth)
    }

    /// [`Session::auth`] with the nonceCaller already rolled.
    fn auth_rolled(&self, attrs: u8, cp_hash: &[u8], auth: &[u8]) -> Vec<u8> {
        let key = [self.key.as_slice(), auth].concat();
        let mac = hmac(
            SHA256,
            &key,
            &[cp_hash, &self.nonce_caller, &self.nonce_tpm, &[attrs]],
        );
        let mut a = self.handle.to_be_bytes().to_vec();
        a.extend_from_slice(&b2(&self.nonce_caller));
        a.push(attrs);
        a.extend_from_slice(&b2(mac.as_bytes()));
        a
    }

    /// Checks the response HMAC over rpHash and takes the new nonceTPM;
    /// returns the response parameters.
    fn check(&mut self, cc: u32, resp: &[u8], auth: &[u8]) -> Vec<u8> {
        assert_eq!(&resp[6..10], &[0, 0, 0, 0], "response code of {cc:#x}");
        let (_, params) = raw::split_response(resp, false).unwrap();
        let mut r = Reader(&resp[14 + params.len()..]);
        let nonce_tpm = r.b2().unwrap().to_vec();
        let attrs = r.take(1).unwrap()[0];
        let mac = r.b2().unwrap();
        let rp_hash = SHA256.digest(&[&0u32.to_be_bytes(), &cc.to_be_bytes(), params]);
        let key = [self.key.as_slice(), auth].concat();
        let want = hmac(
            SHA256,
            &key,
            &[rp_hash.as_bytes(), &nonce_tpm, &self.nonce_caller, &[attrs]],
        );
        assert_eq!(mac, want.as_bytes(), "response HMAC of {cc:#x}");
        assert_ne!(nonce_tpm, self.nonce_tpm, "nonceTPM rolls");
        self.nonce_tpm = nonce_tpm;
        params.to_vec()
    }

    /// AES-128-CFB key and IV for parameter encryption (Part 1, 21.3).
    fn cfb(&self, newer: &[u8], older: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let m = vtpm_crypto::kdfa(SHA256, &self.key, b"CFB", newer, older, 256);
        (m[..16].to_vec(), m[16..].to_vec())
    }
}

/// CreatePrimary in the null hierarchy of an ECC P-256 storage key (the
/// kernel's "null key"); returns its handle and public point.
fn null_primary(s: &TpmServer) -> (u32, Vec<u8>, Vec<u8>) {
    let mut public = u16s(&[0x0023, 0x000B]); // ECC, SHA-256
    public.extend_from_slice(&0x0003_0072u32.to_be_bytes()); // fixed*, sensitiveDataOrigin, userWithAuth, restricted, decrypt
    public.extend_from_slice(&b2(&[]));
    public.extend_from_slice(&u16s(&[0x0006, 128, 0x0043, 0x0010, 0x0003, 0x0010, 0, 0]));
    let mut params = b2(&[0, 0, 0, 0]); // TPM2B_SENSITIVE_CREATE: empty auth, no data
    params.extend_from_slice(&b2(&public));
    params.extend_from_slice(&b2(&[]));
    params.extend_from_slice(&0u32.to_be_bytes());
    let r = s
        .transact(&raw::auth_cmd(
            CC_CREATE_PRIMARY,
            &[RH_NULL],
            &raw::pw_session(),
            &params,
        ))
        .unwrap();
    assert_eq!(&r[6..10], &[0, 0, 0, 0], "CreatePrimary");
    let (handle, params) = raw::split_response(&r, true).unwrap();
    let mut rd = Reader(params);
    let out_public = rd.b2().unwrap();
    let mut p = Reader(out_public);
    p.take(2 + 2 + 4).unwrap();
    p.b2().unwrap(); // authPolicy
    p.take(2 * 6).unwrap(); // sym (3), scheme, curve, kdf
    let x = p.b2().unwrap().to_vec();
    let y = p.b2().unwrap().to_vec();
    (handle, x, y)
}

/// StartAuthSession salted to `key` with an ephemeral ECDH key: salt =
/// KDFe(SHA-256, Z, "SECRET", ephemeral x, TPM key x), session key =
/// KDFa(salt, "ATH", nonceTPM, nonceCaller).
fn salted_session(s: &TpmServer, key: u32, kx: &[u8], ky: &[u8]) -> Session {
    let eph = ecc_from_private(EccCurve::NistP256, &[0x42; 32]).unwrap();
    let z = vtpm_crypto::ecdh_shared_x(EccCurve::NistP256, eph.d(), kx, ky).unwrap();
    let salt = vtpm_crypto::kdfe(SHA256, &z, b"SECRET", eph.x(), kx, 256);
    let nonce_caller = vec![0x17; 32];
    let mut point = b2(eph.x());
    point.extend_from_slice(&b2(eph.y()));
    let mut params = b2(&nonce_caller);
    params.extend_from_slice(&b2(&point));
    params.push(0x00); // TPM_SE_HMAC
    params.extend_from_slice(&u16s(&[0x0006, 128, 0x0043, 0x000B])); // AES-128-CFB, SHA-256
    let r = s
        .transact(&raw::no_auth_cmd(
            CC_START_AUTH_SESSION,
            &[key, RH_NULL],
            &params,
        ))
        .unwrap();
    assert_eq!(&r[6..10], &[0, 0, 0, 0], "StartAuthSession");
    let (handle, params) = raw::split_response(&r, true).unwrap();
    let nonce_tpm = Reader(params).b2().unwrap().to_vec();
    let key = vtpm_crypto::kdfa(SHA256, &salt, b"ATH", &nonce_tpm, &nonce_caller, 256).to_vec();
    Session {
        handle,
        key,
        nonce_tpm,
        nonce_caller,
    }
}

fn kernel_flow(peer: Peer) {
    let s = started(&peer);
    let (key, kx, ky) = null_primary(&s);
    let mut ses = salted_session(&s, key, &kx, &ky);

    // GetRandom with the response encrypted (continueSession | encrypt).
    let params = 32u16.to_be_bytes();
    let cp = SHA256.digest(&[&CC_GET_RANDOM.to_be_bytes(), &params]);
    let auth = ses.auth(0x41, cp.as_bytes(), &[]);
    let r = s
        .transact(&raw::auth_cmd(CC_GET_RANDOM, &[], &auth, &params))
        .unwrap();
    let out = ses.check(CC_GET_RANDOM, &r, &[]);
    assert_eq!(&out[..2], &[0, 32]);
    let mut random = out[2..].to_vec();
    let (k, iv) = ses.cfb(&ses.nonce_tpm, &ses.nonce_caller);
    aes_cfb_decrypt(&k, &iv, &mut random).unwrap();
    assert_ne!(random, &out[2..], "the random bytes travelled encrypted");

    // PCR_Extend of PCR 16, authorized by the salted session (the PCR's
    // authValue is empty: the HMAC key is the session key alone).
    let digest = [0x5Au8; 32];
    let mut params = 1u32.to_be_bytes().to_vec();
    params.extend_from_slice(&0x000Bu16.to_be_bytes());
    params.extend_from_slice(&digest);
    let cp = SHA256.digest(&[&CC_PCR_EXTEND.to_be_bytes(), &16u32.to_be_bytes(), &params]);
    let auth = ses.auth(0x01, cp.as_bytes(), &[]);
    let r = s
        .transact(&raw::auth_cmd(CC_PCR_EXTEND, &[16], &auth, &params))
        .unwrap();
    ses.check(CC_PCR_EXTEND, &r, &[]);
    let after_extend = extend("sha256", &[0; 32], &digest);
    assert_eq!(read_pcr(&s, "sha256", 16), after_extend);

    // PCR_Event with the event data encrypted by the session (decrypt):
    // the PCR takes the hash of the plaintext only if the TPM decrypted it.
    let event = b"measured by the kernel".to_vec();
    ses.roll();
    let (k, iv) = ses.cfb(&ses.nonce_caller, &ses.nonce_tpm);
    let mut sealed = event.clone();
    aes_cfb_encrypt(&k, &iv, &mut sealed).unwrap();
    assert_ne!(sealed, event);
    let params = b2(&sealed);
    let cp = SHA256.digest(&[&CC_PCR_EVENT.to_be_bytes(), &16u32.to_be_bytes(), &params]);
    let auth = ses.auth_rolled(0x21, cp.as_bytes(), &[]); // continueSession | decrypt
    let r = s
        .transact(&raw::auth_cmd(CC_PCR_EVENT, &[16], &auth, &params))
        .unwrap();
    ses.check(CC_PCR_EVENT, &r, &[]);
    let event_digest = hash("sha256", &event);
    assert_eq!(
        read_pcr(&s, "sha256", 16),
        extend("sha256", &after_extend, &event_digest),
        "{}: the TPM extended the hash of the decrypted event",
        peer.name()
    );
}

both!(kernel_flow);
