//! Hash, Sign and VerifySignature through the engine with raw command bytes:
//! the response codes with their positions (Part 2, 6.6: parameter n adds
//! `0x040 | n << 8`, handle n adds `n << 8`), tickets, and signatures that
//! verify (checked again with openssl in transport/tests/signatures.rs).
//!
//! Expected codes follow Part 3's detailed actions (the reference code) and
//! were compared with swtpm 0.7.1 / libtpms 0.9.2 for the same bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

const CC_HASH: u32 = 0x17D;

const X509_SIGN: u32 = 1 << 19;

/// Response codes with their positions.
const RC_SCHEME: u32 = 0x092;
const RC_SIGNATURE_P2: u32 = 0x2DB;
const RC_TAG_P3: u32 = 0x3D7;

fn ecc_template(attrs: u32, scheme: &[u16]) -> Vec<u8> {
    let mut parms = u16s(&[ALG_NULL]);
    parms.extend_from_slice(&u16s(scheme));
    parms.extend_from_slice(&u16s(&[ECC_NIST_P256, ALG_NULL]));
    public(ALG_ECC, attrs, &[&parms, &b2(&[]), &b2(&[])])
}

/// A primary key in the owner hierarchy: its handle and name.
fn primary(t: &mut Tpm, template: &[u8]) -> Result<(u32, Vec<u8>), u32> {
    create_primary_raw(t, RH_OWNER, &[], &[], template).map(|c| (c.handle, c.name))
}

fn ticket(tag: u16, hierarchy: u32, digest: &[u8]) -> Vec<u8> {
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&hierarchy.to_be_bytes());
    v.extend_from_slice(&b2(digest));
    v
}

fn null_hashcheck() -> Vec<u8> {
    ticket(ST_HASHCHECK, RH_NULL, &[])
}

/// TPM2_Hash: (outHash, validation ticket bytes).
fn hash(t: &mut Tpm, data: &[u8], alg: u16, hierarchy: u32) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let mut p = b2(data);
    p.extend_from_slice(&alg.to_be_bytes());
    p.extend_from_slice(&hierarchy.to_be_bytes());
    let (_, params) = run(t, &no_auth(CC_HASH, &[], &p), false)?;
    let mut rd = Rd(&params);
    let digest = rd.b2().to_vec();
    Ok((digest, rd.0.to_vec()))
}

/// TPM2_Sign: the TPMT_SIGNATURE bytes.
fn sign(
    t: &mut Tpm,
    key: u32,
    digest: &[u8],
    scheme: &[u16],
    validation: &[u8],
) -> Result<Vec<u8>, u32> {
    let mut p = b2(digest);
    p.extend_from_slice(&u16s(scheme));
    p.extend_from_slice(validation);
    run(t, &auth_cmd(CC_SIGN, &[key], 1, &p), false).map(|(_, s)| s)
}

/// TPM2_VerifySignature: the TPMT_TK_VERIFIED bytes.
fn verify(t: &mut Tpm, key: u32, digest: &[u8], signature: &[u8]) -> Result<Vec<u8>, u32> {
    let mut p = b2(digest);
    p.extend_from_slice(signature);
    run(t, &no_auth(CC_VERIFY_SIGNATURE, &[key], &p), false).map(|(_, s)| s)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

#[test]
fn hash_returns_the_digest_and_a_ticket() {
    let mut t = Tpm::started();
    let (digest, tk) = hash(&mut t, b"abc", ALG_SHA256, RH_OWNER).unwrap();
    assert_eq!(digest, sha256(b"abc"));
    let mut rd = Rd(&tk);
    assert_eq!((rd.u16(), rd.u32()), (ST_HASHCHECK, RH_OWNER));
    assert_eq!(rd.b2().len(), 32, "HMAC-SHA256 under the owner proof");
    assert!(rd.0.is_empty());
    // Same input, same ticket; another hierarchy, another proof.
    assert_eq!(hash(&mut t, b"abc", ALG_SHA256, RH_OWNER).unwrap().1, tk);
    let (_, other) = hash(&mut t, b"abc", ALG_SHA256, 0x4000_000B).unwrap();
    assert_ne!(other[6..], tk[6..]);
    // NULL hierarchy and TPM-generated-looking data: NULL tickets.
    let (d1, null1) = hash(&mut t, b"abc", ALG_SHA1, RH_NULL).unwrap();
    assert_eq!(d1.len(), 20);
    assert_eq!(null1, null_hashcheck());
    let (_, null2) = hash(&mut t, b"\xffTCGrest", ALG_SHA256, RH_OWNER).unwrap();
    assert_eq!(null2, null_hashcheck());
    assert_eq!(hash(&mut t, b"abc", ALG_NULL, RH_OWNER), Err(RC_HASH_P2));
    assert_eq!(hash(&mut t, b"abc", ALG_SHA256, RS_PW), Err(RC_VALUE_P3));
}

#[test]
fn rsa_sign_and_verify_with_ticket() {
    let mut t = Tpm::started();
    let (key, name) = primary(&mut t, &rsa_template(SIGNER, &[ALG_RSASSA, ALG_SHA256])).unwrap();
    let digest = sha256(b"message");
    let sig = sign(&mut t, key, &digest, &[ALG_NULL], &null_hashcheck()).unwrap();
    let mut rd = Rd(&sig);
    assert_eq!((rd.u16(), rd.u16()), (ALG_RSASSA, ALG_SHA256));
    assert_eq!(rd.b2().len(), 256);
    // PKCS#1 v1.5 is deterministic.
    assert_eq!(
        sign(
            &mut t,
            key,
            &digest,
            &[ALG_RSASSA, ALG_SHA256],
            &null_hashcheck()
        )
        .unwrap(),
        sig
    );
    let tk = verify(&mut t, key, &digest, &sig).unwrap();
    let mut rd = Rd(&tk);
    assert_eq!((rd.u16(), rd.u32()), (ST_VERIFIED, RH_OWNER));
    assert_eq!(rd.b2().len(), 32);
    let _ = name;
    // A flipped bit of the signature or the digest.
    let mut bad = sig.clone();
    bad[20] ^= 1;
    assert_eq!(verify(&mut t, key, &digest, &bad), Err(RC_SIGNATURE_P2));
    assert_eq!(
        verify(&mut t, key, &sha256(b"other"), &sig),
        Err(RC_SIGNATURE_P2)
    );
    // A PSS signature of an RSASSA key still verifies (the reference checks
    // the signature's scheme against the key type only).
    let pss_key = primary(&mut t, &rsa_template(SIGNER, &[ALG_NULL]))
        .unwrap()
        .0;
    let pss = sign(
        &mut t,
        pss_key,
        &digest,
        &[ALG_RSAPSS, ALG_SHA256],
        &null_hashcheck(),
    )
    .unwrap();
    assert_eq!(&pss[..2], &ALG_RSAPSS.to_be_bytes());
    verify(&mut t, pss_key, &digest, &pss).unwrap();
    // ... and not under another key.
    assert_eq!(verify(&mut t, key, &digest, &pss), Err(RC_SIGNATURE_P2));
}

#[test]
fn scheme_selection() {
    let mut t = Tpm::started();
    let (key, _) = primary(&mut t, &rsa_template(SIGNER, &[ALG_RSASSA, ALG_SHA256])).unwrap();
    let digest = sha256(b"m");
    // Key and input schemes both set and different (scheme or hash).
    assert_eq!(
        sign(
            &mut t,
            key,
            &digest,
            &[ALG_RSAPSS, ALG_SHA256],
            &null_hashcheck()
        ),
        Err(RC_SCHEME_P2)
    );
    assert_eq!(
        sign(
            &mut t,
            key,
            &digest,
            &[ALG_RSASSA, ALG_SHA1],
            &null_hashcheck()
        ),
        Err(RC_SCHEME_P2)
    );
    // Unknown scheme and hash: unmarshaling codes.
    assert_eq!(
        sign(
            &mut t,
            key,
            &digest,
            &[0x0099, ALG_SHA256],
            &null_hashcheck()
        ),
        Err(RC_SCHEME_P2)
    );
    assert_eq!(
        sign(
            &mut t,
            key,
            &digest,
            &[ALG_RSASSA, 0x0099],
            &null_hashcheck()
        ),
        Err(RC_HASH_P2)
    );
    // Digest of the wrong size without a ticket.
    assert_eq!(
        sign(&mut t, key, &digest[..20], &[ALG_NULL], &null_hashcheck()),
        Err(RC_SIZE_P1)
    );
    // A ticket of another kind.
    assert_eq!(
        sign(
            &mut t,
            key,
            &digest,
            &[ALG_NULL],
            &ticket(ST_VERIFIED, RH_NULL, &[])
        ),
        Err(RC_TAG_P3)
    );
    // A key without a scheme needs one from the caller, of its own type.
    let (ecc, _) = primary(&mut t, &ecc_template(SIGNER, &[ALG_NULL])).unwrap();
    assert_eq!(
        sign(&mut t, ecc, &digest, &[ALG_NULL], &null_hashcheck()),
        Err(RC_SCHEME_P2)
    );
    assert_eq!(
        sign(
            &mut t,
            ecc,
            &digest,
            &[ALG_RSASSA, ALG_SHA256],
            &null_hashcheck()
        ),
        Err(RC_SCHEME)
    );
    let sig = sign(
        &mut t,
        ecc,
        &digest,
        &[ALG_ECDSA, ALG_SHA256],
        &null_hashcheck(),
    )
    .unwrap();
    verify(&mut t, ecc, &digest, &sig).unwrap();
    // An RSA signature is no signature for an ECC key.
    let rsa_sig = sign(&mut t, key, &digest, &[ALG_NULL], &null_hashcheck()).unwrap();
    assert_eq!(verify(&mut t, ecc, &digest, &rsa_sig), Err(RC_SCHEME_P2));
    // A NULL signature is refused when unmarshaled.
    assert_eq!(
        verify(&mut t, ecc, &digest, &u16s(&[ALG_NULL])),
        Err(RC_SCHEME_P2)
    );
}

#[test]
fn restricted_key_needs_a_hashcheck_ticket() {
    let mut t = Tpm::started();
    let (key, _) = primary(
        &mut t,
        &ecc_template(SIGNER | RESTRICTED, &[ALG_ECDSA, ALG_SHA256]),
    )
    .unwrap();
    let data = b"to be signed";
    let digest = sha256(data);
    assert_eq!(
        sign(&mut t, key, &digest, &[ALG_NULL], &null_hashcheck()),
        Err(RC_TICKET_P3)
    );
    // A ticket from TPM2_Hash, in any hierarchy.
    let (d, tk) = hash(&mut t, data, ALG_SHA256, RH_OWNER).unwrap();
    assert_eq!(d, digest);
    let sig = sign(&mut t, key, &digest, &[ALG_NULL], &tk).unwrap();
    let mut rd = Rd(&sig);
    assert_eq!((rd.u16(), rd.u16()), (ALG_ECDSA, ALG_SHA256));
    assert_eq!((rd.b2().len(), rd.b2().len()), (32, 32));
    verify(&mut t, key, &digest, &sig).unwrap();
    // The ticket is for that digest only.
    assert_eq!(
        sign(&mut t, key, &sha256(b"other"), &[ALG_NULL], &tk),
        Err(RC_TICKET_P3)
    );
    // A forged ticket.
    let mut forged = tk.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        sign(&mut t, key, &digest, &[ALG_NULL], &forged),
        Err(RC_TICKET_P3)
    );
    // Data that looks TPM-made gets a NULL ticket, which a restricted key refuses.
    let (d, tk) = hash(&mut t, b"\xffTCG", ALG_SHA256, RH_OWNER).unwrap();
    assert_eq!(tk, null_hashcheck());
    assert_eq!(sign(&mut t, key, &d, &[ALG_NULL], &tk), Err(RC_TICKET_P3));
    // An unrestricted key checks a ticket when one is given.
    let (plain, _) = primary(&mut t, &ecc_template(SIGNER, &[ALG_ECDSA, ALG_SHA256])).unwrap();
    assert_eq!(
        sign(&mut t, plain, &digest, &[ALG_NULL], &forged),
        Err(RC_TICKET_P3)
    );
}

#[test]
fn keys_that_cannot_sign() {
    let mut t = Tpm::started();
    // A decryption key: no sign attribute.
    let decrypt =
        FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | NO_DA | DECRYPT;
    let (key, _) = primary(&mut t, &ecc_template(decrypt, &[ALG_NULL])).unwrap();
    let digest = sha256(b"m");
    assert_eq!(
        sign(
            &mut t,
            key,
            &digest,
            &[ALG_ECDSA, ALG_SHA256],
            &null_hashcheck()
        ),
        Err(RC_KEY_H1)
    );
    let sig = [u16s(&[ALG_ECDSA, ALG_SHA256]), b2(&[1; 32]), b2(&[1; 32])].concat();
    assert_eq!(verify(&mut t, key, &digest, &sig), Err(RC_ATTRIBUTES_H1));
    // x509sign keys sign certificates only.
    let (x509, _) = primary(
        &mut t,
        &ecc_template(SIGNER | X509_SIGN, &[ALG_ECDSA, ALG_SHA256]),
    )
    .unwrap();
    assert_eq!(
        sign(&mut t, x509, &digest, &[ALG_NULL], &null_hashcheck()),
        Err(RC_ATTRIBUTES_H1)
    );
}

#[test]
fn hmac_signatures() {
    let mut t = Tpm::started();
    // An HMAC key in the clear (LoadExternal, NULL hierarchy).
    let secret = b"hmac key bytes";
    let sensitive = [
        ALG_KEYEDHASH.to_be_bytes().to_vec(),
        b2(&[]),
        b2(&[]),
        b2(secret),
    ]
    .concat();
    let unique = sha256(&[&[0u8; 0][..], secret].concat());
    let attrs = USER_WITH_AUTH | SIGN;
    let public = public(
        ALG_KEYEDHASH,
        attrs,
        &[&u16s(&[ALG_HMAC, ALG_SHA256]), &b2(&unique)],
    );
    let mut p = b2(&sensitive);
    p.extend_from_slice(&b2(&public));
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    let (key, _) = run(&mut t, &no_auth(CC_LOAD_EXTERNAL, &[], &p), true).unwrap();
    let digest = sha256(b"m");
    let sig = sign(&mut t, key, &digest, &[ALG_NULL], &null_hashcheck()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(&digest);
    let expected = mac.finalize().into_bytes().to_vec();
    assert_eq!(sig, [u16s(&[ALG_HMAC, ALG_SHA256]), expected].concat());
    // NULL hierarchy: a NULL ticket.
    assert_eq!(
        verify(&mut t, key, &digest, &sig).unwrap(),
        ticket(ST_VERIFIED, RH_NULL, &[])
    );
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert_eq!(verify(&mut t, key, &digest, &bad), Err(RC_SIGNATURE_P2));
    // Another hash than the key's scheme: refused, not recomputed.
    let sha1_sig = [u16s(&[ALG_HMAC, ALG_SHA1]), vec![0; 20]].concat();
    assert_eq!(
        verify(&mut t, key, &digest, &sha1_sig),
        Err(RC_SIGNATURE_P2)
    );
}

#[test]
fn ecschnorr_signatures() {
    const ALG_ECSCHNORR: u16 = 0x001C;
    let mut t = Tpm::started();
    let (key, _) = primary(&mut t, &ecc_template(SIGNER, &[ALG_ECSCHNORR, ALG_SHA256])).unwrap();
    let digest = sha256(b"m");
    for scheme in [&[ALG_NULL][..], &[ALG_ECSCHNORR, ALG_SHA256]] {
        let sig = sign(&mut t, key, &digest, scheme, &null_hashcheck()).unwrap();
        let mut rd = Rd(&sig);
        assert_eq!((rd.u16(), rd.u16()), (ALG_ECSCHNORR, ALG_SHA256));
        assert_eq!((rd.b2().len(), rd.b2().len()), (32, 32));
        verify(&mut t, key, &digest, &sig).unwrap();
        assert_eq!(
            verify(&mut t, key, &sha256(b"n"), &sig),
            Err(RC_SIGNATURE_P2)
        );
    }
    assert_eq!(
        sign(
            &mut t,
            key,
            &digest,
            &[ALG_ECDSA, ALG_SHA256],
            &null_hashcheck()
        ),
        Err(RC_SCHEME_P2)
    );
}

#[test]
fn signature_unmarshaling_codes() {
    const RC_SIZE_P2: u32 = 0x2D5;
    const RC_INSUFFICIENT_P2: u32 = 0x2DA;
    let mut t = Tpm::started();
    let (key, _) = primary(&mut t, &ecc_template(SIGNER, &[ALG_ECDSA, ALG_SHA256])).unwrap();
    let digest = sha256(b"m");
    // TPM2B_PUBLIC_KEY_RSA larger than 512 bytes.
    let big = [u16s(&[ALG_RSASSA, ALG_SHA256]), b2(&[0; 513])].concat();
    assert_eq!(verify(&mut t, key, &digest, &big), Err(RC_SIZE_P2));
    // TPM2B_ECC_PARAMETER larger than 66 bytes.
    let big = [u16s(&[ALG_ECDSA, ALG_SHA256]), b2(&[1; 67]), b2(&[1; 32])].concat();
    assert_eq!(verify(&mut t, key, &digest, &big), Err(RC_SIZE_P2));
    // Truncated: s missing; an HMAC digest shorter than its hash.
    let short = [u16s(&[ALG_ECDSA, ALG_SHA256]), b2(&[1; 32])].concat();
    assert_eq!(
        verify(&mut t, key, &digest, &short),
        Err(RC_INSUFFICIENT_P2)
    );
    let short = [u16s(&[ALG_HMAC, ALG_SHA256]), vec![0; 31]].concat();
    assert_eq!(
        verify(&mut t, key, &digest, &short),
        Err(RC_INSUFFICIENT_P2)
    );
    // A NULL hash in any signature.
    let null_hash = [u16s(&[ALG_HMAC, ALG_NULL])].concat();
    assert_eq!(verify(&mut t, key, &digest, &null_hash), Err(RC_HASH_P2));
    // r = 0 and s >= n are not signatures.
    let zero = [u16s(&[ALG_ECDSA, ALG_SHA256]), b2(&[0; 32]), b2(&[1; 32])].concat();
    assert_eq!(verify(&mut t, key, &digest, &zero), Err(RC_SIGNATURE_P2));
    let high = [
        u16s(&[ALG_ECDSA, ALG_SHA256]),
        b2(&[1; 32]),
        b2(&[0xff; 32]),
    ]
    .concat();
    assert_eq!(verify(&mut t, key, &digest, &high), Err(RC_SIGNATURE_P2));
}
