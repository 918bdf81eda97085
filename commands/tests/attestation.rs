//! Attestation and clock commands on raw engine bytes: Quote, Certify,
//! CertifyCreation and GetTime (every TPMS_ATTEST field checked, the
//! signature verified over H(attest)), ClockSet and ClockRateAdjust, and
//! their response codes with positions (the same as swtpm's for the same
//! bytes; see transport/tests/attestation.rs).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use sha2::Digest;

const CC_CLOCK_SET: u32 = 0x128;
const CC_CLOCK_RATE_ADJUST: u32 = 0x130;
const CC_CERTIFY: u32 = 0x148;
const CC_CERTIFY_CREATION: u32 = 0x14A;
const CC_GET_TIME: u32 = 0x14C;
const CC_QUOTE: u32 = 0x158;

const BASE: u32 = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH;
/// An attestation key: a restricted signing key.
const AK: u32 = BASE | RESTRICTED | SIGN;

const ALG_SM3: u16 = 0x0012;

const ST_CREATION: u16 = 0x8021;
const ST_ATTEST_CERTIFY: u16 = 0x8017;
const ST_ATTEST_QUOTE: u16 = 0x8018;
const ST_ATTEST_TIME: u16 = 0x8019;
const ST_ATTEST_CREATION: u16 = 0x801A;
const GENERATED: [u8; 4] = [0xff, 0x54, 0x43, 0x47];

const RC_KEY_H2: u32 = 0x29C;
const RC_TICKET_P4: u32 = 0x4E0;

type Primary = Created;

fn primary(t: &mut Tpm, hierarchy: u32, template: &[u8]) -> Primary {
    create_primary_raw(t, hierarchy, &[], &[], template)
        .unwrap_or_else(|e| panic!("CreatePrimary: {e:#x}"))
}

/// An ECDSA-SHA256 P-256 attestation key in the owner hierarchy.
fn ecdsa_ak(t: &mut Tpm) -> Primary {
    primary(t, RH_OWNER, &ecc_template(AK, &[ALG_ECDSA, ALG_SHA256]))
}

/// The qualified name of a primary of `hierarchy`: H(hierarchy || name).
fn primary_qualified_name(hierarchy: u32, name: &[u8]) -> Vec<u8> {
    let mut qn = ALG_SHA256.to_be_bytes().to_vec();
    qn.extend_from_slice(&sha256(&[&hierarchy.to_be_bytes(), name]));
    qn
}

/// A TPMS_ATTEST taken apart.
#[derive(Debug)]
struct Attest {
    kind: u16,
    signer: Vec<u8>,
    extra: Vec<u8>,
    clock: u64,
    reset_count: u32,
    restart_count: u32,
    safe: u8,
    firmware: u64,
    attested: Vec<u8>,
}

fn parse_attest(a: &[u8]) -> Attest {
    let mut rd = Rd(a);
    assert_eq!(rd.take(4), GENERATED, "TPM_GENERATED_VALUE");
    Attest {
        kind: rd.u16(),
        signer: rd.b2().to_vec(),
        extra: rd.b2().to_vec(),
        clock: rd.u64(),
        reset_count: rd.u32(),
        restart_count: rd.u32(),
        safe: rd.u8(),
        firmware: rd.u64(),
        attested: rd.0.to_vec(),
    }
}

/// Splits an attestation response into TPM2B_ATTEST contents and the
/// TPMT_SIGNATURE bytes.
fn split_response(params: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut rd = Rd(params);
    let attest = rd.b2().to_vec();
    (attest, rd.0.to_vec())
}

/// Checks with TPM2_VerifySignature that `signature` is `key`'s signature of
/// SHA-256(attest), the digest computed here.
fn assert_signed(t: &mut Tpm, key: u32, attest: &[u8], signature: &[u8]) {
    let mut p = b2(&sha256(&[attest]));
    p.extend_from_slice(signature);
    let (_, tk) = run(
        t,
        &cmd(
            0x8001,
            CC_VERIFY_SIGNATURE,
            &[&key.to_be_bytes()[..], &p].concat(),
        ),
        false,
    )
    .unwrap_or_else(|e| panic!("VerifySignature of the attestation: {e:#x}"));
    assert_eq!(u16::from_be_bytes([tk[0], tk[1]]), ST_VERIFIED);
}

/// A TPML_PCR_SELECTION of one bank.
fn pcr_selection(alg: u16, pcrs: &[usize]) -> Vec<u8> {
    let mut sel = [0u8; 3];
    for p in pcrs {
        sel[p / 8] |= 1 << (p % 8);
    }
    let mut v = 1u32.to_be_bytes().to_vec();
    v.extend_from_slice(&alg.to_be_bytes());
    v.push(3);
    v.extend_from_slice(&sel);
    v
}

fn quote_params(nonce: &[u8], scheme: &[u16], selection: &[u8]) -> Vec<u8> {
    let mut p = b2(nonce);
    p.extend_from_slice(&u16s(scheme));
    p.extend_from_slice(selection);
    p
}

fn quote(t: &mut Tpm, key: u32, params: &[u8]) -> Result<(Vec<u8>, Vec<u8>), u32> {
    run(t, &auth_cmd(CC_QUOTE, &[key], 1, params), false).map(|(_, p)| split_response(&p))
}

fn read_clock(t: &mut Tpm) -> (u64, u64) {
    let (time, clock, _, _) = time_info(t);
    (time, clock)
}

/// ReadClock: time, clock, resetCount, restartCount.
fn time_info(t: &mut Tpm) -> (u64, u64, u32, u32) {
    let r = t.run(&plain(CC_READ_CLOCK, &[]));
    assert_eq!(rc(&r), 0);
    let mut rd = Rd(&r[10..]);
    (rd.u64(), rd.u64(), rd.u32(), rd.u32())
}

fn extend(t: &mut Tpm, pcr: u32, data: &[u8]) {
    let r = t.run(&with_pw(
        CC_PCR_EXTEND,
        pcr,
        &digest_values(ALG_SHA256, &sha256(&[data])),
    ));
    assert_eq!(rc(&r), 0);
}

#[test]
fn quote_signs_the_selected_pcrs() {
    let mut t = Tpm::started();
    let ak = ecdsa_ak(&mut t);
    extend(&mut t, 16, b"measured");
    extend(&mut t, 23, b"app");
    let (_, clock) = read_clock(&mut t);
    let nonce = [0x11, 0x22, 0x33, 0x44];
    let (attest, sig) = quote(
        &mut t,
        ak.handle,
        &quote_params(
            &nonce,
            &[ALG_NULL],
            &pcr_selection(ALG_SHA256, &[0, 16, 23]),
        ),
    )
    .unwrap();
    let a = parse_attest(&attest);
    assert_eq!(a.kind, ST_ATTEST_QUOTE);
    assert_eq!(a.signer, primary_qualified_name(RH_OWNER, &ak.name));
    assert_eq!(a.extra, nonce);
    assert_eq!((a.clock, a.safe), (clock, 1), "clockInfo in plain text");
    // pcrSelect as selected, then H(PCR 0 || PCR 16 || PCR 23).
    let mut rd = Rd(&a.attested);
    assert_eq!(
        rd.take(4 + 2 + 1 + 3),
        &pcr_selection(ALG_SHA256, &[0, 16, 23])[..]
    );
    let values: Vec<Vec<u8>> = [0, 16, 23]
        .iter()
        .map(|p| read_one(&mut t, ALG_SHA256, *p))
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    assert_eq!(rd.b2(), sha256(&refs), "pcrDigest");
    assert!(rd.0.is_empty());
    // The key's scheme was used (ECDSA-SHA256), over SHA-256(attest).
    assert_eq!(&sig[..4], &u16s(&[ALG_ECDSA, ALG_SHA256])[..]);
    assert_signed(&mut t, ak.handle, &attest, &sig);

    // The digest follows the PCRs.
    extend(&mut t, 16, b"again");
    let (attest2, _) = quote(
        &mut t,
        ak.handle,
        &quote_params(
            &nonce,
            &[ALG_NULL],
            &pcr_selection(ALG_SHA256, &[0, 16, 23]),
        ),
    )
    .unwrap();
    assert_ne!(parse_attest(&attest2).attested, a.attested);
}

#[test]
fn quote_digest_uses_the_scheme_hash_and_selection_order() {
    let mut t = Tpm::started();
    // A key without a scheme: the caller picks it (here with SHA-1 for the digest).
    let key = primary(
        &mut t,
        RH_ENDORSEMENT,
        &ecc_template(BASE | SIGN, &[ALG_NULL]),
    );
    extend(&mut t, 3, b"x");
    let mut sel = 2u32.to_be_bytes().to_vec();
    // SHA-256 bank PCR 3, then SHA-1 bank PCR 3 and 1.
    sel.extend_from_slice(&[0x00, 0x0B, 3, 0x08, 0, 0]);
    sel.extend_from_slice(&[0x00, 0x04, 3, 0x0A, 0, 0]);
    let (attest, sig) = quote(
        &mut t,
        key.handle,
        &quote_params(&[], &[ALG_ECDSA, ALG_SHA1], &sel),
    )
    .unwrap();
    let a = parse_attest(&attest);
    assert!(a.extra.is_empty());
    let mut rd = Rd(&a.attested);
    assert_eq!(rd.take(sel.len()), &sel[..]);
    let s256 = read_one(&mut t, ALG_SHA256, 3);
    let s1_1 = read_one(&mut t, ALG_SHA1, 1);
    let s1_3 = read_one(&mut t, ALG_SHA1, 3);
    let mut h = sha1::Sha1::new();
    for v in [&s256, &s1_1, &s1_3] {
        h.update(v);
    }
    assert_eq!(rd.b2(), h.finalize().to_vec(), "H_SHA1(values in order)");
    assert_eq!(&sig[..4], &u16s(&[ALG_ECDSA, ALG_SHA1])[..]);
    // An endorsement key's attestation is not obfuscated.
    let (_, _, resets, restarts) = time_info(&mut t);
    assert_eq!((a.reset_count, a.restart_count), (resets, restarts));
    assert_eq!(a.firmware, 1 << 32);

    // Without any scheme there is nothing to sign with.
    assert_eq!(
        quote(&mut t, key.handle, &quote_params(&[], &[ALG_NULL], &sel)),
        Err(RC_SCHEME_P2)
    );
}

#[test]
fn quote_with_an_rsa_attestation_key() {
    let mut t = Tpm::started();
    let ak = primary(
        &mut t,
        RH_OWNER,
        &rsa_template(AK, &[ALG_RSASSA, ALG_SHA256]),
    );
    let (attest, sig) = quote(
        &mut t,
        ak.handle,
        &quote_params(
            b"nonce",
            &[ALG_RSASSA, ALG_SHA256],
            &pcr_selection(ALG_SHA256, &[7]),
        ),
    )
    .unwrap();
    let mut rd = Rd(&sig);
    assert_eq!(
        (rd.u16(), rd.u16(), rd.b2().len()),
        (ALG_RSASSA, ALG_SHA256, 256)
    );
    assert_signed(&mut t, ak.handle, &attest, &sig);
    // PKCS#1 v1.5 is deterministic: the same statement (same Clock) gives the same signature.
    let again = quote(
        &mut t,
        ak.handle,
        &quote_params(
            b"nonce",
            &[ALG_RSASSA, ALG_SHA256],
            &pcr_selection(ALG_SHA256, &[7]),
        ),
    )
    .unwrap();
    assert_eq!(again, (attest, sig));
}

#[test]
fn quote_response_codes() {
    let mut t = Tpm::started();
    let ak = ecdsa_ak(&mut t);
    let sel = pcr_selection(ALG_SHA256, &[0]);
    // A decryption key cannot sign: TPM_RC_KEY at the sign handle.
    let dec = primary(
        &mut t,
        RH_OWNER,
        &ecc_template(BASE | RESTRICTED | DECRYPT, &[ALG_NULL]),
    );
    assert_eq!(
        quote(&mut t, dec.handle, &quote_params(&[], &[ALG_NULL], &sel)),
        Err(RC_KEY_H1)
    );
    // TPM_RH_NULL passes as a TPMI_DH_OBJECT+, but an unsigned statement has
    // no scheme, so no hash to digest the PCRs with (as swtpm).
    assert_eq!(
        quote(
            &mut t,
            RH_NULL,
            &quote_params(&[], &[ALG_ECDSA, ALG_SHA256], &sel)
        ),
        Err(RC_SCHEME_P2)
    );
    // Another scheme or hash than the key's.
    assert_eq!(
        quote(
            &mut t,
            ak.handle,
            &quote_params(&[], &[ALG_ECDSA, ALG_SHA1], &sel)
        ),
        Err(RC_SCHEME_P2)
    );
    assert_eq!(
        quote(
            &mut t,
            ak.handle,
            &quote_params(&[], &[ALG_RSAPSS, ALG_SHA256], &sel)
        ),
        Err(RC_SCHEME_P2)
    );
    // qualifyingData holds at most a TPMT_HA (66 bytes).
    assert!(
        quote(
            &mut t,
            ak.handle,
            &quote_params(&[7; 66], &[ALG_NULL], &sel)
        )
        .is_ok()
    );
    assert_eq!(
        quote(
            &mut t,
            ak.handle,
            &quote_params(&[7; 67], &[ALG_NULL], &sel)
        ),
        Err(RC_SIZE_P1)
    );
    // sizeofSelect other than 3, an unimplemented bank.
    let mut four = sel.clone();
    four[6] = 4;
    four.push(0);
    assert_eq!(
        quote(&mut t, ak.handle, &quote_params(&[], &[ALG_NULL], &four)),
        Err(RC_VALUE_P3)
    );
    assert_eq!(
        quote(
            &mut t,
            ak.handle,
            &quote_params(&[], &[ALG_NULL], &pcr_selection(ALG_SM3, &[0]))
        ),
        Err(RC_HASH_P3)
    );
}

#[test]
fn certify_names_the_object() {
    let mut t = Tpm::started();
    let ak = ecdsa_ak(&mut t);
    let key = primary(
        &mut t,
        RH_OWNER,
        &ecc_template(BASE | SIGN, &[ALG_ECDSA, ALG_SHA256]),
    );
    let certify = |t: &mut Tpm, object: u32, signer: u32, scheme: &[u16]| {
        let mut p = b2(&[0xCA, 0xFE]);
        p.extend_from_slice(&u16s(scheme));
        run(t, &auth_cmd(CC_CERTIFY, &[object, signer], 2, &p), false)
            .map(|(_, p)| split_response(&p))
    };
    let (attest, sig) = certify(&mut t, key.handle, ak.handle, &[ALG_NULL]).unwrap();
    let a = parse_attest(&attest);
    assert_eq!(a.kind, ST_ATTEST_CERTIFY);
    assert_eq!(a.signer, primary_qualified_name(RH_OWNER, &ak.name));
    assert_eq!(a.extra, [0xCA, 0xFE]);
    let mut rd = Rd(&a.attested);
    assert_eq!(rd.b2(), key.name);
    assert_eq!(rd.b2(), primary_qualified_name(RH_OWNER, &key.name));
    assert!(rd.0.is_empty());
    assert_signed(&mut t, ak.handle, &attest, &sig);

    // A key certifies itself.
    let (attest, sig) = certify(&mut t, ak.handle, ak.handle, &[ALG_ECDSA, ALG_SHA256]).unwrap();
    assert_signed(&mut t, ak.handle, &attest, &sig);

    // TPM_RH_NULL: an unsigned statement, whose signer is TPM_RH_NULL.
    let (attest, sig) = certify(&mut t, key.handle, RH_NULL, &[ALG_RSAPSS, ALG_SHA1]).unwrap();
    assert_eq!(sig, ALG_NULL.to_be_bytes());
    let a = parse_attest(&attest);
    assert_eq!(a.signer, RH_NULL.to_be_bytes());
    // Its clock data is obfuscated like an owner key's (only EPS/PPS keys are not).
    assert_ne!(a.firmware, 1 << 32);

    // The signer must sign: KEY at handle 2; a wrong scheme: SCHEME at parameter 2.
    let dec = primary(
        &mut t,
        RH_OWNER,
        &ecc_template(BASE | RESTRICTED | DECRYPT, &[ALG_NULL]),
    );
    assert_eq!(
        certify(&mut t, key.handle, dec.handle, &[ALG_NULL]),
        Err(RC_KEY_H2)
    );
    assert_eq!(
        certify(&mut t, key.handle, ak.handle, &[ALG_ECDSA, ALG_SHA1]),
        Err(RC_SCHEME_P2)
    );
}

#[test]
fn obfuscation_depends_on_the_signer_hierarchy() {
    let mut t = Tpm::started();
    let template = ecc_template(AK, &[ALG_ECDSA, ALG_SHA256]);
    let owner = primary(&mut t, RH_OWNER, &template);
    let endorsement = primary(&mut t, RH_ENDORSEMENT, &template);
    let platform = primary(&mut t, RH_PLATFORM, &template);
    let sel = pcr_selection(ALG_SHA256, &[0]);
    let (_, _, resets, restarts) = time_info(&mut t);
    let mut header = |key: u32| {
        let (attest, _) = quote(&mut t, key, &quote_params(&[], &[ALG_NULL], &sel)).unwrap();
        let a = parse_attest(&attest);
        (a.reset_count, a.restart_count, a.firmware)
    };
    let plain = (resets, restarts, 1u64 << 32);
    assert_eq!(header(endorsement.handle), plain);
    assert_eq!(header(platform.handle), plain);
    let obfuscated = header(owner.handle);
    assert_ne!(obfuscated, plain);
    // The same signer always gets the same offsets (so its reports stay comparable).
    assert_eq!(header(owner.handle), obfuscated);
}

fn certify_creation_params(
    nonce: &[u8],
    creation_hash: &[u8],
    scheme: &[u16],
    ticket: &[u8],
) -> Vec<u8> {
    let mut p = b2(nonce);
    p.extend_from_slice(&b2(creation_hash));
    p.extend_from_slice(&u16s(scheme));
    p.extend_from_slice(ticket);
    p
}

#[test]
fn certify_creation_checks_the_ticket() {
    let mut t = Tpm::started();
    let ak = ecdsa_ak(&mut t);
    let obj = primary(&mut t, RH_OWNER, &ecc_template(BASE | SIGN, &[ALG_NULL]));
    let run_cc = |t: &mut Tpm, signer: u32, params: &[u8]| {
        run(
            t,
            &auth_cmd(CC_CERTIFY_CREATION, &[signer, obj.handle], 1, params),
            false,
        )
        .map(|(_, p)| split_response(&p))
    };
    let (attest, sig) = run_cc(
        &mut t,
        ak.handle,
        &certify_creation_params(b"q", &obj.creation_hash, &[ALG_NULL], &obj.ticket),
    )
    .unwrap();
    let a = parse_attest(&attest);
    assert_eq!(a.kind, ST_ATTEST_CREATION);
    assert_eq!(a.extra, b"q");
    let mut rd = Rd(&a.attested);
    assert_eq!(rd.b2(), obj.name);
    assert_eq!(rd.b2(), obj.creation_hash);
    assert!(rd.0.is_empty());
    assert_signed(&mut t, ak.handle, &attest, &sig);

    // Another creation hash, another hierarchy, a NULL ticket: TPM_RC_TICKET.
    let other_hash = sha256(&[b"not the creation data"]);
    assert_eq!(
        run_cc(
            &mut t,
            ak.handle,
            &certify_creation_params(&[], &other_hash, &[ALG_NULL], &obj.ticket)
        ),
        Err(RC_TICKET_P4)
    );
    let mut moved = obj.ticket.clone();
    moved[2..6].copy_from_slice(&RH_ENDORSEMENT.to_be_bytes());
    assert_eq!(
        run_cc(
            &mut t,
            ak.handle,
            &certify_creation_params(&[], &obj.creation_hash, &[ALG_NULL], &moved)
        ),
        Err(RC_TICKET_P4)
    );
    let mut null = ST_CREATION.to_be_bytes().to_vec();
    null.extend_from_slice(&RH_NULL.to_be_bytes());
    null.extend_from_slice(&b2(&[]));
    assert_eq!(
        run_cc(
            &mut t,
            ak.handle,
            &certify_creation_params(&[], &obj.creation_hash, &[ALG_NULL], &null)
        ),
        Err(RC_TICKET_P4)
    );
    // Another ticket kind: TPM_RC_TAG; a bad hierarchy: TPM_RC_VALUE.
    let mut wrong_tag = obj.ticket.clone();
    wrong_tag[..2].copy_from_slice(&ST_HASHCHECK.to_be_bytes());
    assert_eq!(
        run_cc(
            &mut t,
            ak.handle,
            &certify_creation_params(&[], &obj.creation_hash, &[ALG_NULL], &wrong_tag)
        ),
        Err(RC_TAG_P4)
    );
    let mut bad_hierarchy = obj.ticket.clone();
    bad_hierarchy[2..6].copy_from_slice(&RS_PW.to_be_bytes());
    assert_eq!(
        run_cc(
            &mut t,
            ak.handle,
            &certify_creation_params(&[], &obj.creation_hash, &[ALG_NULL], &bad_hierarchy)
        ),
        Err(RC_VALUE_P4)
    );
    // The signer is checked before the ticket.
    assert_eq!(
        run_cc(
            &mut t,
            ak.handle,
            &certify_creation_params(&[], &other_hash, &[ALG_ECDSA, ALG_SHA1], &obj.ticket)
        ),
        Err(RC_SCHEME_P3)
    );
    // creationHash larger than any digest.
    assert_eq!(
        run_cc(
            &mut t,
            ak.handle,
            &certify_creation_params(&[], &[0; 65], &[ALG_NULL], &obj.ticket)
        ),
        Err(RC_SIZE_P2)
    );
    // Unsigned, with TPM_RH_NULL.
    let (_, sig) = run_cc(
        &mut t,
        RH_NULL,
        &certify_creation_params(&[], &obj.creation_hash, &[ALG_NULL], &obj.ticket),
    )
    .unwrap();
    assert_eq!(sig, ALG_NULL.to_be_bytes());
}

#[test]
fn get_time_reports_time_and_clock_in_plain_text() {
    let mut t = Tpm::started();
    let ak = ecdsa_ak(&mut t);
    t.platform.now_ms += 5_000;
    let (time, clock, resets, restarts) = time_info(&mut t);
    let get_time = |t: &mut Tpm, signer: u32| {
        let mut p = b2(&[1, 2, 3]);
        p.extend_from_slice(&u16s(&[ALG_NULL]));
        run(
            t,
            &auth_cmd(CC_GET_TIME, &[RH_ENDORSEMENT, signer], 2, &p),
            false,
        )
        .map(|(_, p)| split_response(&p))
    };
    let (attest, sig) = get_time(&mut t, ak.handle).unwrap();
    let a = parse_attest(&attest);
    assert_eq!(a.kind, ST_ATTEST_TIME);
    assert_eq!(a.extra, [1, 2, 3]);
    assert_eq!(a.clock, clock);
    // The header of an owner key's statement is obfuscated, the attested part is not.
    assert_ne!(a.firmware, 1 << 32);
    let mut rd = Rd(&a.attested);
    assert_eq!((rd.u64(), rd.u64()), (time, clock));
    assert_eq!((rd.u32(), rd.u32(), rd.u8()), (resets, restarts, 1));
    assert_eq!(rd.u64(), 1 << 32, "firmwareVersion");
    assert!(rd.0.is_empty());
    assert_signed(&mut t, ak.handle, &attest, &sig);

    let dec = primary(
        &mut t,
        RH_OWNER,
        &ecc_template(BASE | RESTRICTED | DECRYPT, &[ALG_NULL]),
    );
    assert_eq!(get_time(&mut t, dec.handle), Err(RC_KEY_H2));
    // The privacy administrator's authorization is checked (a wrong password).
    let mut p = b2(&[]);
    p.extend_from_slice(&u16s(&[ALG_NULL]));
    let mut body: Vec<u8> = [RH_ENDORSEMENT, RH_NULL]
        .iter()
        .flat_map(|h| h.to_be_bytes())
        .collect();
    // Session 1 (endorsement) with password "x", session 2 empty.
    body.extend_from_slice(&19u32.to_be_bytes());
    body.extend_from_slice(&[0x40, 0, 0, 9, 0, 0, 1, 0, 1, b'x']);
    body.extend_from_slice(&[0x40, 0, 0, 9, 0, 0, 1, 0, 0]);
    body.extend_from_slice(&p);
    let r = t.run(&cmd(0x8002, CC_GET_TIME, &body));
    assert_eq!(rc(&r), RC_BAD_AUTH_S1, "{r:02x?}");
}

fn clock_set(t: &mut Tpm, auth: u32, value: u64) -> u32 {
    rc(&t.run(&auth_cmd(CC_CLOCK_SET, &[auth], 1, &value.to_be_bytes())))
}

fn rate_adjust(t: &mut Tpm, adjust: i8) -> u32 {
    rc(&t.run(&auth_cmd(
        CC_CLOCK_RATE_ADJUST,
        &[RH_OWNER],
        1,
        &adjust.to_be_bytes(),
    )))
}

#[test]
fn clock_set_moves_clock_forward_only() {
    let mut t = Tpm::started();
    let (_, c0) = read_clock(&mut t);
    assert_eq!(clock_set(&mut t, RH_OWNER, c0 + 1_000_000), 0);
    assert_eq!(read_clock(&mut t).1, c0 + 1_000_000);
    t.platform.now_ms += 250;
    assert_eq!(
        read_clock(&mut t).1,
        c0 + 1_000_250,
        "Clock runs on from there"
    );
    assert_eq!(clock_set(&mut t, RH_PLATFORM, c0 + 2_000_000), 0);
    // Setting it to its current value is allowed; backwards is not.
    assert_eq!(clock_set(&mut t, RH_OWNER, c0 + 2_000_000), 0);
    assert_eq!(clock_set(&mut t, RH_OWNER, c0 + 1_999_999), RC_VALUE_P1);
    assert_eq!(read_clock(&mut t).1, c0 + 2_000_000);
    // Not past 0xFFFF000000000000 (where it is allowed to go exactly).
    assert_eq!(
        clock_set(&mut t, RH_OWNER, 0xFFFF_0000_0000_0001),
        RC_VALUE_P1
    );
    assert_eq!(clock_set(&mut t, RH_OWNER, u64::MAX), RC_VALUE_P1);
    assert_eq!(clock_set(&mut t, RH_OWNER, 0xFFFF_0000_0000_0000), 0);
    assert_eq!(read_clock(&mut t).1, 0xFFFF_0000_0000_0000);
    // Endorsement is not a TPMI_RH_PROVISION.
    assert_ne!(clock_set(&mut t, RH_ENDORSEMENT, u64::MAX - 1), 0);
}

#[test]
fn clock_set_persists() {
    let mut t = Tpm::started();
    assert_eq!(clock_set(&mut t, RH_OWNER, 7_000_000), 0);
    assert!(t.engine.take_nv_dirty(), "ClockSet writes NV");
    let image = t.engine.save_state(&t.platform);
    // A new engine on the stored state, powered up later.
    let mut engine = vtpm_commands::Engine::from_state(&image).unwrap();
    t.platform.now_ms += 10_000;
    engine.init(&mut t.platform);
    t.engine = engine;
    assert_eq!(rc(&t.run(&startup(0))), 0);
    let (_, clock) = read_clock(&mut t);
    assert_eq!(clock, 7_000_000, "Clock does not run while the TPM is off");
}

#[test]
fn clock_rate_adjust_changes_the_rate() {
    let mut t = Tpm::started();
    let (t0, c0) = read_clock(&mut t);
    // Three coarse steps slower: 3% more host time per Clock tick.
    for _ in 0..3 {
        assert_eq!(rate_adjust(&mut t, -3), 0);
    }
    t.platform.now_ms += 30_900;
    let (t1, c1) = read_clock(&mut t);
    assert_eq!((t1 - t0, c1 - c0), (30_000, 30_000), "Time and Clock");
    // Back to nominal, then faster: the elapsed Clock so far is kept.
    for _ in 0..3 {
        assert_eq!(rate_adjust(&mut t, 3), 0);
    }
    assert_eq!(rate_adjust(&mut t, 2), 0);
    assert_eq!(rate_adjust(&mut t, 1), 0);
    assert_eq!(rate_adjust(&mut t, 0), 0);
    t.platform.now_ms += 29_969;
    let (t2, c2) = read_clock(&mut t);
    assert_eq!(
        (t2 - t1, c2 - c1),
        (30_000, 30_000),
        "31 counts faster: 29969 host ms make 30000"
    );
    // The rate is bounded: many steps stop at the limit (35000 counts here).
    for _ in 0..40 {
        assert_eq!(rate_adjust(&mut t, -3), 0);
    }
    t.platform.now_ms += 35_000;
    assert_eq!(read_clock(&mut t).1 - c2, 30_000);
    // Only -3..=3.
    assert_eq!(rate_adjust(&mut t, 4), RC_VALUE_P1);
    assert_eq!(rate_adjust(&mut t, -4), RC_VALUE_P1);
    // _TPM_Init restores the nominal rate.
    assert_eq!(rc(&t.run(&shutdown(0))), 0);
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(0))), 0);
    let (_, c3) = read_clock(&mut t);
    t.platform.now_ms += 1_000;
    assert_eq!(read_clock(&mut t).1 - c3, 1_000);
}

// ---- CertifyX509 ----

const CC_CERTIFY_X509: u32 = 0x197;
const KEY_CERT_SIGN: u8 = 0x04;

fn der(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let mut v = vec![tag];
    if body.len() < 0x80 {
        v.push(body.len() as u8);
    } else if body.len() < 0x100 {
        v.extend_from_slice(&[0x81, body.len() as u8]);
    } else {
        v.extend_from_slice(&[0x82, (body.len() >> 8) as u8, body.len() as u8]);
    }
    v.extend_from_slice(&body);
    v
}

/// Name ::= SEQUENCE { SET { SEQUENCE { commonName, UTF8String } } }.
fn x509_name(cn: &str) -> Vec<u8> {
    let atv = der(
        0x30,
        &[
            &[0x06, 0x03, 0x55, 0x04, 0x03],
            &der(0x0C, &[cn.as_bytes()]),
        ],
    );
    der(0x30, &[&der(0x31, &[&atv])])
}

fn validity() -> Vec<u8> {
    der(
        0x30,
        &[
            &der(0x17, &[b"250101000000Z"]),
            &der(0x17, &[b"350101000000Z"]),
        ],
    )
}

/// An extension: SEQUENCE { oid, critical TRUE, OCTET STRING { BIT STRING } }.
fn bits_extension(oid: &[u8], bit_string: &[u8]) -> Vec<u8> {
    der(0x30, &[oid, &[0x01, 0x01, 0xFF], &der(0x04, &[bit_string])])
}

const OID_KEY_USAGE: &[u8] = &[0x06, 0x03, 0x55, 0x1D, 0x0F];
const OID_TPMA_OBJECT: &[u8] = &[0x06, 0x07, 0x67, 0x81, 0x05, 0x0A, 0x01, 0x01, 0x01];

/// KeyUsage with the first octet `bits` (digitalSignature = 0x80).
fn key_usage(bits: u8) -> Vec<u8> {
    bits_extension(OID_KEY_USAGE, &[0x03, 0x02, 0x00, bits])
}

fn extensions(list: &[&[u8]]) -> Vec<u8> {
    der(0xA3, &[&der(0x30, list)])
}

/// SEQUENCE { [algorithm], issuer, validity, subject, extensions }.
fn partial_certificate(algorithm: Option<&[u8]>, ext: &[u8]) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    if let Some(a) = algorithm {
        parts.push(a.to_vec());
    }
    parts.push(x509_name("vtpm test CA"));
    parts.push(validity());
    parts.push(x509_name("vtpm test key"));
    parts.push(ext.to_vec());
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    der(0x30, &refs)
}

/// addedToCertificate, tbsDigest and the TPMT_SIGNATURE bytes.
type X509Out = (Vec<u8>, Vec<u8>, Vec<u8>);

fn certify_x509(
    t: &mut Tpm,
    object: u32,
    signer: u32,
    reserved: &[u8],
    scheme: &[u16],
    partial: &[u8],
) -> Result<X509Out, u32> {
    let mut p = b2(reserved);
    p.extend_from_slice(&u16s(scheme));
    p.extend_from_slice(&b2(partial));
    let (_, out) = run(
        t,
        &auth_cmd(CC_CERTIFY_X509, &[object, signer], 2, &p),
        false,
    )?;
    let mut rd = Rd(&out);
    let added = rd.b2().to_vec();
    let digest = rd.b2().to_vec();
    Ok((added, digest, rd.0.to_vec()))
}

/// The elements inside a DER SEQUENCE.
fn der_children(seq: &[u8]) -> Vec<Vec<u8>> {
    fn one(input: &[u8]) -> usize {
        let (len, hdr) = match input[1] {
            n if n < 0x80 => (usize::from(n), 2),
            0x81 => (usize::from(input[2]), 3),
            _ => (usize::from(u16::from_be_bytes([input[2], input[3]])), 4),
        };
        hdr + len
    }
    let total = one(seq);
    assert_eq!(total, seq.len(), "one element");
    let hdr = total
        - match seq[1] {
            n if n < 0x80 => usize::from(n),
            0x81 => usize::from(seq[2]),
            _ => usize::from(u16::from_be_bytes([seq[2], seq[3]])),
        };
    let mut rest = &seq[hdr..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let n = one(rest);
        out.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    out
}

#[test]
fn certify_x509_completes_and_signs_the_certificate() {
    let mut t = Tpm::started();
    let ak = ecdsa_ak(&mut t);
    let key = primary(&mut t, RH_OWNER, &ecc_template(BASE | SIGN, &[ALG_NULL]));
    let ext = extensions(&[&key_usage(0x80 | KEY_CERT_SIGN)]);
    let partial = partial_certificate(None, &ext);
    let (added, tbs_digest, sig) =
        certify_x509(&mut t, key.handle, ak.handle, &[], &[ALG_NULL], &partial).unwrap();
    // addedToCertificate: version 3, serialNumber, signature, subjectPublicKeyInfo.
    let parts = der_children(&added);
    assert_eq!(parts.len(), 4, "{added:02x?}");
    assert_eq!(parts[0], [0xA0, 0x03, 0x02, 0x01, 0x02]);
    let ecdsa_sha256 = der(
        0x30,
        &[&[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 4, 3, 2]],
    );
    assert_eq!(parts[2], ecdsa_sha256);
    let spki = &parts[3];
    let spki_parts = der_children(spki);
    assert_eq!(
        spki_parts[0],
        der(
            0x30,
            &[
                &[0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 2, 1],
                &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 3, 1, 7]
            ]
        )
    );
    assert_eq!(
        &spki_parts[1][..4],
        &[0x03, 0x42, 0x00, 0x04],
        "uncompressed P-256 point"
    );
    // serialNumber = SHA-256(signature .. extensions || signer Name || object Name)[..20].
    let pieces = der_children(&partial);
    let serial = sha256(&[
        &parts[2], &pieces[0], &pieces[1], &pieces[2], spki, &ext, &ak.name, &key.name,
    ]);
    let mut want_serial = vec![0x02, 20];
    if serial[0] & 0x80 != 0 {
        want_serial = vec![0x02, 21, 0];
    }
    want_serial.extend_from_slice(&serial[..20]);
    assert_eq!(parts[1], want_serial);
    // tbsDigest = SHA-256(TBSCertificate), the parts in X.509 order.
    let tbs = der(
        0x30,
        &[
            &parts[0], &parts[1], &parts[2], &pieces[0], &pieces[1], &pieces[2], spki, &ext,
        ],
    );
    assert_eq!(tbs_digest, sha256(&[&tbs]));
    let mut p = b2(&tbs_digest);
    p.extend_from_slice(&sig);
    run(
        &mut t,
        &cmd(
            0x8001,
            CC_VERIFY_SIGNATURE,
            &[&ak.handle.to_be_bytes()[..], &p].concat(),
        ),
        false,
    )
    .unwrap();

    // With the caller's signature algorithm, the TPM does not add one; a
    // matching TPMA_OBJECT extension is accepted.
    let attrs = (BASE | SIGN).to_be_bytes();
    let tpma = bits_extension(
        OID_TPMA_OBJECT,
        &[&[0x03, 0x05, 0x00][..], &attrs[..]].concat(),
    );
    let ext = extensions(&[&tpma, &key_usage(0x80)]);
    let partial = partial_certificate(Some(&ecdsa_sha256), &ext);
    let (added, _, _) =
        certify_x509(&mut t, key.handle, ak.handle, &[], &[ALG_NULL], &partial).unwrap();
    assert_eq!(der_children(&added).len(), 3);
}

#[test]
fn certify_x509_response_codes() {
    let mut t = Tpm::started();
    let ak = ecdsa_ak(&mut t);
    let key = primary(&mut t, RH_OWNER, &ecc_template(BASE | SIGN, &[ALG_NULL]));
    let good = partial_certificate(None, &extensions(&[&key_usage(0x80)]));
    let dec = primary(
        &mut t,
        RH_OWNER,
        &ecc_template(BASE | RESTRICTED | DECRYPT, &[ALG_NULL]),
    );
    let mut x = |object: u32, signer: u32, reserved: &[u8], scheme: &[u16], partial: &[u8]| {
        certify_x509(&mut t, object, signer, reserved, scheme, partial).map(|_| ())
    };
    assert_eq!(x(key.handle, ak.handle, &[], &[ALG_NULL], &good), Ok(()));
    // reserved must be empty.
    assert_eq!(
        x(key.handle, ak.handle, &[1], &[ALG_NULL], &good),
        Err(RC_SIZE_P1)
    );
    // The signer: a signing key with an agreeing scheme.
    assert_eq!(
        x(key.handle, dec.handle, &[], &[ALG_NULL], &good),
        Err(RC_KEY_H2)
    );
    assert_eq!(
        x(key.handle, ak.handle, &[], &[ALG_ECDSA, ALG_SHA1], &good),
        Err(RC_SCHEME_P2)
    );
    // The partial certificate: one SEQUENCE filling the parameter...
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        x(key.handle, ak.handle, &[], &[ALG_NULL], &trailing),
        Err(0x3D5)
    );
    assert_eq!(
        x(key.handle, ak.handle, &[], &[ALG_NULL], &[]),
        Err(RC_VALUE_P3)
    );
    // ...of three or four SEQUENCEs and the extensions.
    let no_ext = der(0x30, &[&x509_name("a"), &validity(), &x509_name("b")]);
    assert_eq!(
        x(key.handle, ak.handle, &[], &[ALG_NULL], &no_ext),
        Err(RC_VALUE_P3)
    );
    let two = der(
        0x30,
        &[
            &validity(),
            &x509_name("b"),
            &extensions(&[&key_usage(0x80)]),
        ],
    );
    assert_eq!(
        x(key.handle, ak.handle, &[], &[ALG_NULL], &two),
        Err(RC_VALUE_P3)
    );
    // KeyUsage is required and must suit the key.
    let other = bits_extension(&[0x06, 0x03, 0x55, 0x1D, 0x25], &[0x03, 0x01, 0x00]);
    let without_ku = partial_certificate(None, &extensions(&[&other]));
    assert_eq!(
        x(key.handle, ak.handle, &[], &[ALG_NULL], &without_ku),
        Err(RC_VALUE_P3)
    );
    // keyEncipherment needs decrypt and restricted.
    let encipher = partial_certificate(None, &extensions(&[&key_usage(0x20)]));
    assert_eq!(
        x(key.handle, ak.handle, &[], &[ALG_NULL], &encipher),
        Err(RC_VALUE_P3)
    );
    // A bit beyond decipherOnly is reserved.
    let reserved_bit = bits_extension(OID_KEY_USAGE, &[0x03, 0x03, 0x06, 0x80, 0x40]);
    let reserved_ku = partial_certificate(None, &extensions(&[&reserved_bit]));
    assert_eq!(
        x(key.handle, ak.handle, &[], &[ALG_NULL], &reserved_ku),
        Err(0x3E1)
    );
    // A TPMA_OBJECT extension that is not the object's: TPM_RC_ATTRIBUTES at the object.
    let wrong = bits_extension(OID_TPMA_OBJECT, &[0x03, 0x05, 0x00, 0, 0, 0, 0x02]);
    let wrong_attrs = partial_certificate(None, &extensions(&[&wrong, &key_usage(0x80)]));
    assert_eq!(
        x(key.handle, ak.handle, &[], &[ALG_NULL], &wrong_attrs),
        Err(0x182)
    );
    // Only RSA and ECC keys have a subjectPublicKeyInfo: TPM_RC_ASYMMETRIC at the object.
    let mut hmac_template = u16s(&[0x0008, ALG_SHA256]);
    hmac_template.extend_from_slice(&(BASE | SIGN).to_be_bytes());
    hmac_template.extend_from_slice(&b2(&[]));
    hmac_template.extend_from_slice(&u16s(&[0x0005, ALG_SHA256]));
    hmac_template.extend_from_slice(&b2(&[]));
    // (Three object slots: the decryption key makes room.)
    assert_eq!(rc(&t.run(&plain(0x165, &dec.handle.to_be_bytes()))), 0);
    let hmac_key = primary(&mut t, RH_OWNER, &hmac_template);
    let mut x = |object: u32, signer: u32, scheme: &[u16], partial: &[u8]| {
        certify_x509(&mut t, object, signer, &[], scheme, partial).map(|_| ())
    };
    assert_eq!(
        x(hmac_key.handle, ak.handle, &[ALG_NULL], &good),
        Err(0x181)
    );
    // An HMAC signer has no X.509 algorithm to add: TPM_RC_SCHEME at the sign handle.
    assert_eq!(
        x(key.handle, hmac_key.handle, &[ALG_NULL], &good),
        Err(0x292)
    );
    // TPM_RH_NULL is no signer here.
    assert_eq!(x(key.handle, RH_NULL, &[ALG_NULL], &good), Err(0x284));
}
