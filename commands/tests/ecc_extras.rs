//! Commit / ECDAA signing, EC_Ephemeral / ZGen_2Phase and MAC / MAC_Start
//! (AES-CMAC) through the engine with raw command bytes.
//!
//! Keys with a private part the test knows are loaded with LoadExternal, so
//! every value that does not depend on the TPM's commit randoms is a known
//! answer (crypto/tests/vectors/ecc_extras.txt: K of Commit, Z1 of
//! ZGen_2Phase, the CMAC tags of NIST SP 800-38B and openssl), and the
//! others are checked by the relation they must satisfy: an ECDAA signature
//! `[s]G = E + [H(nonceK || digest)]Q` with E from Commit; Z2 of ZGen_2Phase
//! `= [b]Q_e` for the ephemeral Q_e of EC_Ephemeral and QeB = [b]G.
//! Response codes carry their positions (Part 2, 6.6) as libtpms returns them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use sha2::{Digest, Sha256};
use vtpm_crypto::{EccCurve, HashAlg};

#[path = "../../crypto/tests/vector_file/mod.rs"]
mod vector_file;
use vector_file::{Record, field, records};

const CC_COMMIT: u32 = 0x18B;
const CC_ZGEN_2PHASE: u32 = 0x18D;
const CC_EC_EPHEMERAL: u32 = 0x18E;

const ALG_ECDH: u16 = 0x0019;
const ALG_ECDAA: u16 = 0x001A;
const ALG_ECMQV: u16 = 0x001D;
const ALG_CMAC: u16 = 0x003F;

const RC_SCHEME_H1: u32 = 0x192;

fn vectors(kind: &str) -> Vec<Record> {
    records(include_str!("../../crypto/tests/vectors/ecc_extras.txt"))
        .into_iter()
        .filter(|r| r["kind"] == kind)
        .collect()
}

fn curve_of(r: &Record) -> (u16, EccCurve) {
    let c = match r["curve"].as_str() {
        "p256" => EccCurve::NistP256,
        "p384" => EccCurve::NistP384,
        "p521" => EccCurve::NistP521,
        c => panic!("{c}"),
    };
    (c.tpm_id(), c)
}

/// An ECC key with private scalar `d` (LoadExternal): handle and (Qx, Qy).
fn ecc_key(
    t: &mut Tpm,
    curve: EccCurve,
    d: &[u8],
    attrs: u32,
    scheme: &[u16],
) -> (u32, (Vec<u8>, Vec<u8>)) {
    let pair = vtpm_crypto::ecc_from_private(curve, d).unwrap();
    let mut parms = u16s(&[ALG_NULL]);
    parms.extend_from_slice(&u16s(scheme));
    parms.extend_from_slice(&u16s(&[curve.tpm_id(), ALG_NULL]));
    let public = public(
        ALG_ECC,
        USER_WITH_AUTH | attrs,
        &[&parms, &point(pair.x(), pair.y())[2..]],
    );
    let (h, _) = load_external(t, &tpmt_sensitive(ALG_ECC, d), &public).unwrap();
    (h, (pair.x().to_vec(), pair.y().to_vec()))
}

type Point = (Vec<u8>, Vec<u8>);

/// TPM2_Commit: (K, L, E, counter).
fn commit(
    t: &mut Tpm,
    key: u32,
    p1: &[u8],
    s2: &[u8],
    y2: &[u8],
) -> Result<(Point, Point, Point, u16), u32> {
    let p = [p1.to_vec(), b2(s2), b2(y2)].concat();
    let (_, out) = run(t, &auth_cmd(CC_COMMIT, &[key], 1, &p), false)?;
    let mut rd = Rd(&out);
    let k = rd.point();
    let l = rd.point();
    let e = rd.point();
    let c = rd.u16();
    assert!(rd.0.is_empty());
    Ok((k, l, e, c))
}

/// TPM2_Sign with ECDAA (SHA-256, `count`) and a NULL ticket: (nonceK, s).
fn sign_ecdaa(t: &mut Tpm, key: u32, digest: &[u8], count: u16) -> Result<Point, u32> {
    let mut p = b2(digest);
    p.extend_from_slice(&u16s(&[ALG_ECDAA, ALG_SHA256, count]));
    p.extend_from_slice(&u16s(&[ST_HASHCHECK]));
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    p.extend_from_slice(&b2(&[]));
    let (_, out) = run(t, &auth_cmd(CC_SIGN, &[key], 1, &p), false)?;
    let mut rd = Rd(&out);
    assert_eq!((rd.u16(), rd.u16()), (ALG_ECDAA, ALG_SHA256));
    let sig = (rd.b2().to_vec(), rd.b2().to_vec());
    assert!(rd.0.is_empty());
    Ok(sig)
}

#[test]
fn commit_and_ecdaa_sign() {
    let mut t = Tpm::started();
    for r in &vectors("commit") {
        let (_, curve) = curve_of(r);
        let d = field(r, "d");
        let (key, q) = ecc_key(&mut t, curve, &d, SIGN, &[ALG_ECDAA, ALG_SHA256, 0]);
        let digest = Sha256::digest(b"to be signed").to_vec();

        // Neither P1 nor P2: only E = [r]G.
        let (k, l, e, c0) = commit(&mut t, key, &point(&[], &[]), &[], &[]).unwrap();
        assert_eq!((k.0.len(), k.1.len(), l.0.len(), l.1.len()), (0, 0, 0, 0));
        assert!(vtpm_crypto::ecc_point_valid(curve, &e.0, &e.1));
        let (nonce_k, s) = sign_ecdaa(&mut t, key, &digest, c0).unwrap();
        assert!(vtpm_crypto::ecdaa_verify(
            curve,
            HashAlg::Sha256,
            (&q.0, &q.1),
            (&e.0, &e.1),
            &digest,
            &nonce_k,
            &s
        ));
        // A commitment signs once.
        assert_eq!(sign_ecdaa(&mut t, key, &digest, c0), Err(RC_VALUE));

        // P2 from s2/y2: K = [d]P2 is a known answer; P1 given: E = [r]P1.
        let (p1x, p1y) = (field(r, "p1x"), field(r, "p1y"));
        let (k, l, e, c1) = commit(
            &mut t,
            key,
            &point(&p1x, &p1y),
            &field(r, "s2"),
            &field(r, "y2"),
        )
        .unwrap();
        assert_eq!(c1, c0.wrapping_add(1));
        assert_eq!(k, (field(r, "kx"), field(r, "ky")));
        assert!(vtpm_crypto::ecc_point_valid(curve, &l.0, &l.1));
        assert!(vtpm_crypto::ecc_point_valid(curve, &e.0, &e.1));
        // An empty point (size 4) counts as no P1: E = [r]G is not computed
        // when P2 is there.
        let (_, _, e2, _) = commit(
            &mut t,
            key,
            &point(&[], &[]),
            &field(r, "s2"),
            &field(r, "y2"),
        )
        .unwrap();
        assert_eq!((e2.0.len(), e2.1.len()), (0, 0));
        sign_ecdaa(&mut t, key, &digest, c1).unwrap();

        // Codes: P1 of size 0; half of P2; P1 off the curve; an s2 whose x
        // has no such y.
        assert_eq!(commit(&mut t, key, &b2(&[]), &[], &[]), Err(RC_SIZE_P1));
        let y2 = field(r, "y2");
        assert_eq!(
            commit(&mut t, key, &point(&[], &[]), &field(r, "s2"), &[]),
            Err(RC_SIZE_P3)
        );
        assert_eq!(
            commit(&mut t, key, &point(&[], &[]), &[], &y2),
            Err(RC_SIZE_P3)
        );
        let mut bad = p1y.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            commit(&mut t, key, &point(&p1x, &bad), &[], &[]),
            Err(RC_ECC_POINT_P1)
        );
        assert_eq!(
            commit(&mut t, key, &point(&[], &[]), b"other s2", &y2),
            Err(RC_ECC_POINT_P2)
        );
        // Never committed; ECDAA needs the caller's count (a NULL scheme
        // request with an ECDAA key is a scheme error).
        assert_eq!(sign_ecdaa(&mut t, key, &digest, 0x7777), Err(RC_VALUE));
        let mut p = b2(&digest);
        p.extend_from_slice(&u16s(&[ALG_NULL, ST_HASHCHECK]));
        p.extend_from_slice(&RH_NULL.to_be_bytes());
        p.extend_from_slice(&b2(&[]));
        assert_eq!(
            run(&mut t, &auth_cmd(CC_SIGN, &[key], 1, &p), false),
            Err(RC_SCHEME_P2)
        );
        flush(&mut t, key);

        // Commit needs an ECC key with an anonymous scheme.
        let (ecdsa, _) = ecc_key(&mut t, curve, &d, SIGN, &[ALG_ECDSA, ALG_SHA256]);
        assert_eq!(
            commit(&mut t, ecdsa, &point(&[], &[]), &[], &[]),
            Err(RC_SCHEME_H1)
        );
        flush(&mut t, ecdsa);
    }
    let hmac_key = keyed_hash(&mut t, b"k", ALG_HMAC);
    assert_eq!(
        commit(&mut t, hmac_key, &point(&[], &[]), &[], &[]),
        Err(RC_KEY_H1)
    );
}

#[test]
fn commitments_survive_shutdown_state_but_not_reset() {
    let mut t = Tpm::started();
    let r = &vectors("commit")[0];
    let d = field(r, "d");
    let (key, q) = ecc_key(
        &mut t,
        EccCurve::NistP256,
        &d,
        SIGN,
        &[ALG_ECDAA, ALG_SHA256, 0],
    );
    let (_, _, e, c) = commit(&mut t, key, &point(&[], &[]), &[], &[]).unwrap();
    // Shutdown(STATE) / Startup(STATE): the commit state is state-reset data.
    assert_eq!(rc(&t.run(&shutdown(1))), 0);
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(1))), 0);
    let (key, _) = ecc_key(
        &mut t,
        EccCurve::NistP256,
        &d,
        SIGN,
        &[ALG_ECDAA, ALG_SHA256, 0],
    );
    let digest = Sha256::digest(b"after resume").to_vec();
    let (nonce_k, s) = sign_ecdaa(&mut t, key, &digest, c).unwrap();
    assert!(vtpm_crypto::ecdaa_verify(
        EccCurve::NistP256,
        HashAlg::Sha256,
        (&q.0, &q.1),
        (&e.0, &e.1),
        &digest,
        &nonce_k,
        &s
    ));
    let (_, _, _, c) = commit(&mut t, key, &point(&[], &[]), &[], &[]).unwrap();
    // A TPM Reset forgets it.
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(0))), 0);
    let (key, _) = ecc_key(
        &mut t,
        EccCurve::NistP256,
        &d,
        SIGN,
        &[ALG_ECDAA, ALG_SHA256, 0],
    );
    assert_eq!(sign_ecdaa(&mut t, key, &digest, c), Err(RC_VALUE));
}

/// TPM2_EC_Ephemeral: (Q, counter).
fn ec_ephemeral(t: &mut Tpm, curve: u16) -> Result<(Point, u16), u32> {
    let (_, out) = run(
        t,
        &no_auth(CC_EC_EPHEMERAL, &[], &curve.to_be_bytes()),
        false,
    )?;
    let mut rd = Rd(&out);
    let q = rd.point();
    let c = rd.u16();
    assert!(rd.0.is_empty());
    Ok((q, c))
}

fn zgen_2phase(
    t: &mut Tpm,
    key: u32,
    qsb: &[u8],
    qeb: &[u8],
    scheme: u16,
    counter: u16,
) -> Result<(Point, Point), u32> {
    let p = [qsb.to_vec(), qeb.to_vec(), u16s(&[scheme, counter])].concat();
    let (_, out) = run(t, &auth_cmd(CC_ZGEN_2PHASE, &[key], 1, &p), false)?;
    let mut rd = Rd(&out);
    let z = (rd.point(), rd.point());
    assert!(rd.0.is_empty());
    Ok(z)
}

#[test]
fn ec_ephemeral_and_zgen_2phase() {
    let mut t = Tpm::started();
    for r in &vectors("zgen2") {
        let (id, curve) = curve_of(r);
        let (key, qsa) = ecc_key(&mut t, curve, &field(r, "dsa"), DECRYPT, &[ALG_NULL]);
        assert_eq!(qsa, (field(r, "qsax"), field(r, "qsay")));
        let (qe, c) = ec_ephemeral(&mut t, id).unwrap();
        assert!(vtpm_crypto::ecc_point_valid(curve, &qe.0, &qe.1));
        // QeB = [b]G for a b the test knows: Z2 = [deA]QeB = [b]QeA.
        let b = [0x42u8; 20];
        let (bx, by) = vtpm_crypto::ecc_mul(curve, &b, None).unwrap();
        let qsb = point(&field(r, "qsbx"), &field(r, "qsby"));
        let (z1, z2) = zgen_2phase(&mut t, key, &qsb, &point(&bx, &by), ALG_ECDH, c).unwrap();
        assert_eq!(z1, (field(r, "z1x"), field(r, "z1y")));
        let (x, y) = vtpm_crypto::ecdh_shared_point(curve, &b, &qe.0, &qe.1).unwrap();
        assert_eq!(z2, (x.to_vec(), y.to_vec()));
        // The commitment is used up.
        assert_eq!(
            zgen_2phase(&mut t, key, &qsb, &point(&bx, &by), ALG_ECDH, c),
            Err(RC_VALUE_P4)
        );
        // The vector's own QeB with a fresh ephemeral key: Z1 again.
        let (_, c2) = ec_ephemeral(&mut t, id).unwrap();
        assert_eq!(c2, c.wrapping_add(1));
        let qeb = point(&field(r, "qebx"), &field(r, "qeby"));
        let (z1, _) = zgen_2phase(&mut t, key, &qsb, &qeb, ALG_ECDH, c2).unwrap();
        assert_eq!(z1, (field(r, "z1x"), field(r, "z1y")));

        // Codes, in the reference's order.
        let (_, c3) = ec_ephemeral(&mut t, id).unwrap();
        let mut bad = field(r, "qsby");
        *bad.last_mut().unwrap() ^= 1;
        let off = point(&field(r, "qsbx"), &bad);
        assert_eq!(
            zgen_2phase(&mut t, key, &off, &qeb, ALG_ECDH, c3),
            Err(RC_ECC_POINT_P1)
        );
        assert_eq!(
            zgen_2phase(&mut t, key, &qsb, &off, ALG_ECDH, c3),
            Err(RC_ECC_POINT_P2)
        );
        assert_eq!(
            zgen_2phase(&mut t, key, &b2(&[]), &qeb, ALG_ECDH, c3),
            Err(RC_SIZE_P1)
        );
        // ECMQV and SM2 are not implemented; NULL is no key exchange.
        for s in [ALG_ECMQV, ALG_NULL, 0x001B] {
            assert_eq!(
                zgen_2phase(&mut t, key, &qsb, &qeb, s, c3),
                Err(RC_SCHEME_P3)
            );
        }
        // Failures leave the commitment in place.
        zgen_2phase(&mut t, key, &qsb, &qeb, ALG_ECDH, c3).unwrap();
        flush(&mut t, key);

        // A signing key; a key whose scheme is ECDSA is no key exchange key.
        let (signer, _) = ecc_key(&mut t, curve, &field(r, "dsa"), SIGN, &[ALG_NULL]);
        let (_, c4) = ec_ephemeral(&mut t, id).unwrap();
        assert_eq!(
            zgen_2phase(&mut t, signer, &qsb, &qeb, ALG_ECDH, c4),
            Err(RC_ATTRIBUTES_H1)
        );
        flush(&mut t, signer);
    }
    assert_eq!(ec_ephemeral(&mut t, 0x0001), Err(RC_CURVE_P1));
    assert_eq!(ec_ephemeral(&mut t, 0x0010), Err(RC_CURVE_P1));
    let hmac_key = keyed_hash(&mut t, b"k", ALG_HMAC);
    let (_, c) = ec_ephemeral(&mut t, 0x0003).unwrap();
    let r = &vectors("zgen2")[0];
    let qsb = point(&field(r, "qsbx"), &field(r, "qsby"));
    assert_eq!(
        zgen_2phase(&mut t, hmac_key, &qsb, &qsb, ALG_ECDH, c),
        Err(RC_KEY_H1)
    );
}

/// A keyed-hash signing key (scheme HMAC-SHA256 or NULL).
fn keyed_hash(t: &mut Tpm, key: &[u8], scheme: u16) -> u32 {
    let unique = Sha256::digest(key).to_vec();
    let parms = if scheme == ALG_NULL {
        u16s(&[ALG_NULL])
    } else {
        u16s(&[scheme, ALG_SHA256])
    };
    let public = public(
        ALG_KEYEDHASH,
        USER_WITH_AUTH | SIGN,
        &[&parms, &b2(&unique)],
    );
    load_external(t, &tpmt_sensitive(ALG_KEYEDHASH, key), &public)
        .unwrap()
        .0
}

/// An AES key (LoadExternal) with `mode` and attributes.
fn aes_key(t: &mut Tpm, key: &[u8], mode: u16, attrs: u32) -> Result<u32, u32> {
    let unique = Sha256::digest(key).to_vec();
    let bits = u16::try_from(key.len() * 8).unwrap();
    let public = public(
        ALG_SYMCIPHER,
        USER_WITH_AUTH | attrs,
        &[&u16s(&[ALG_AES, bits, mode]), &b2(&unique)],
    );
    load_external(t, &tpmt_sensitive(ALG_SYMCIPHER, key), &public).map(|(h, _)| h)
}

fn mac(t: &mut Tpm, key: u32, data: &[u8], scheme: u16) -> Result<Vec<u8>, u32> {
    let mut p = b2(data);
    p.extend_from_slice(&scheme.to_be_bytes());
    run(t, &auth_cmd(CC_HMAC, &[key], 1, &p), false).map(|(_, o)| Rd(&o).b2().to_vec())
}

#[test]
fn mac_with_cmac_and_hmac_keys() {
    let mut t = Tpm::started();
    for r in &vectors("cmac") {
        let (k, msg, tag) = (field(r, "key"), field(r, "msg"), field(r, "tag"));
        if msg.len() > 1024 {
            continue;
        }
        let key = aes_key(&mut t, &k, ALG_NULL, SIGN).unwrap_or_else(|e| panic!("load {e:#x}"));
        assert_eq!(mac(&mut t, key, &msg, ALG_CMAC).unwrap(), tag);
        // The key has no MAC of its own: NULL is no choice; a hash is no
        // symmetric MAC.
        assert_eq!(mac(&mut t, key, &msg, ALG_NULL), Err(RC_VALUE_P2));
        assert_eq!(mac(&mut t, key, &msg, ALG_SHA256), Err(RC_SCHEME_P2));
        flush(&mut t, key);
        // A key whose mode is CMAC takes NULL (its own) or CMAC.
        let key = aes_key(&mut t, &k, ALG_CMAC, SIGN).unwrap();
        assert_eq!(mac(&mut t, key, &msg, ALG_NULL).unwrap(), tag);
        assert_eq!(mac(&mut t, key, &msg, ALG_CMAC).unwrap(), tag);
        flush(&mut t, key);
    }
    let k = field(&vectors("cmac")[0], "key");
    // A cipher-mode key: the requested CMAC is not its mode.
    let cfb = aes_key(&mut t, &k, ALG_CFB, SIGN | DECRYPT).unwrap();
    assert_eq!(mac(&mut t, cfb, b"x", ALG_CMAC), Err(RC_VALUE_P2));
    flush(&mut t, cfb);
    // Not a signing key.
    let dec = aes_key(&mut t, &k, ALG_NULL, DECRYPT).unwrap();
    assert_eq!(mac(&mut t, dec, b"x", ALG_CMAC), Err(RC_KEY_H1));
    flush(&mut t, dec);
    // An HMAC key still MACs by hash (its own, or the same requested); CMAC
    // is not its hash; an unknown algorithm does not unmarshal as
    // TPMI_ALG_MAC_SCHEME.
    let h = keyed_hash(&mut t, b"hmac key", ALG_HMAC);
    let expected = vtpm_crypto::hmac(HashAlg::Sha256, b"hmac key", &[b"data"]);
    assert_eq!(
        mac(&mut t, h, b"data", ALG_SHA256).unwrap(),
        expected.as_bytes()
    );
    assert_eq!(
        mac(&mut t, h, b"data", ALG_NULL).unwrap(),
        expected.as_bytes()
    );
    assert_eq!(mac(&mut t, h, b"data", ALG_CMAC), Err(RC_VALUE_P2));
    assert_eq!(mac(&mut t, h, b"data", 0x0099), Err(RC_SYMMETRIC_P2));
    flush(&mut t, h);
    // Neither keyed-hash nor symmetric.
    let (ecc, _) = ecc_key(&mut t, EccCurve::NistP256, &[5; 32], SIGN, &[ALG_NULL]);
    assert_eq!(mac(&mut t, ecc, b"x", ALG_CMAC), Err(RC_TYPE_H1));
}

#[test]
fn cmac_sequence_survives_a_context_round_trip() {
    let mut t = Tpm::started();
    let r = vectors("cmac")
        .into_iter()
        .find(|r| field(r, "msg").len() == 64)
        .unwrap();
    let (k, msg, tag) = (field(&r, "key"), field(&r, "msg"), field(&r, "tag"));
    let key = aes_key(&mut t, &k, ALG_NULL, SIGN).unwrap();
    let mut p = b2(b"seq auth");
    p.extend_from_slice(&ALG_CMAC.to_be_bytes());
    let (seq, _) = run(&mut t, &auth_cmd(CC_HMAC_START, &[key], 1, &p), true).unwrap();
    // The key may go: the sequence holds its own copy.
    flush(&mut t, key);
    let seq_auth = |seq: u32, cc: u32, params: &[u8]| {
        let mut body = seq.to_be_bytes().to_vec();
        let mut area = RS_PW.to_be_bytes().to_vec();
        area.extend_from_slice(&[0, 0, 0x01]);
        area.extend_from_slice(&b2(b"seq auth"));
        body.extend_from_slice(&u32::try_from(area.len()).unwrap().to_be_bytes());
        body.extend_from_slice(&area);
        body.extend_from_slice(params);
        cmd(0x8002, cc, &body)
    };
    run(
        &mut t,
        &seq_auth(seq, CC_SEQUENCE_UPDATE, &b2(&msg[..23])),
        false,
    )
    .unwrap();
    let (_, ctx) = run(&mut t, &no_auth(CC_CONTEXT_SAVE, &[seq], &[]), false).unwrap();
    flush(&mut t, seq);
    let (seq, _) = run(&mut t, &no_auth(CC_CONTEXT_LOAD, &[], &ctx), true).unwrap();
    run(
        &mut t,
        &seq_auth(seq, CC_SEQUENCE_UPDATE, &b2(&msg[23..40])),
        false,
    )
    .unwrap();
    let mut p = b2(&msg[40..]);
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    let (_, out) = run(&mut t, &seq_auth(seq, CC_SEQUENCE_COMPLETE, &p), false).unwrap();
    let mut rd = Rd(&out);
    assert_eq!(rd.b2(), &tag[..]);
    // A NULL ticket: a MAC is no digest a restricted key could sign.
    assert_eq!(rd.u16(), ST_HASHCHECK);
    assert_eq!(rd.take(4), &RH_NULL.to_be_bytes());
    assert_eq!(rd.b2().len(), 0);
    assert!(rd.0.is_empty());
}
