//! Hash, HMAC and event sequences and TPM2_HMAC through the engine with raw
//! command bytes: digests against sha1/sha2 and HMACs against RFC 4231, the
//! hashcheck ticket rules (and Sign accepting the ticket for a restricted
//! key), event sequences extending every bank, sequence contexts saved and
//! loaded mid-way, slot exhaustion and the sequence's own authValue.
//!
//! Codes with positions follow Part 2, 6.6: parameter n adds `0x040 | n << 8`,
//! handle n adds `n << 8`, session n adds `0x800 | n << 8`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use sha2::Digest;

const CC_EVENT_SEQUENCE_COMPLETE: u32 = 0x185;
const CC_HASH_SEQUENCE_START: u32 = 0x186;

const ALG_SHA512: u16 = 0x000D;

const HMAC_KEY: u32 = FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH | NO_DA | SIGN;
/// Sign and decrypt: a keyed-hash key that must have no scheme, so that the
/// hash is chosen at each use.
const SCHEMELESS_KEY: u32 = HMAC_KEY | DECRYPT;

const RC_MODE_H1: u32 = 0x189;
const RC_MODE_H2: u32 = 0x289;
const RC_AUTH_MISSING: u32 = 0x125;

/// A command whose handles are authorized by password sessions, one per
/// password given (in handle order).
fn pw_cmd(cc: u32, handles: &[u32], passwords: &[&[u8]], params: &[u8]) -> Vec<u8> {
    let sessions: Vec<Vec<u8>> = passwords.iter().map(|p| pw(p)).collect();
    sessions_cmd(cc, handles, &sessions, params)
}

fn start(t: &mut Tpm, auth: &[u8], alg: u16) -> Result<u32, u32> {
    let mut p = b2(auth);
    p.extend_from_slice(&alg.to_be_bytes());
    run(t, &no_auth(CC_HASH_SEQUENCE_START, &[], &p), true).map(|r| r.0)
}

fn update(t: &mut Tpm, seq: u32, auth: &[u8], data: &[u8]) -> Result<(), u32> {
    run(
        t,
        &pw_cmd(CC_SEQUENCE_UPDATE, &[seq], &[auth], &b2(data)),
        false,
    )
    .map(|_| ())
}

/// SequenceComplete: (result, ticket bytes).
fn complete(
    t: &mut Tpm,
    seq: u32,
    auth: &[u8],
    data: &[u8],
    hierarchy: u32,
) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let mut p = b2(data);
    p.extend_from_slice(&hierarchy.to_be_bytes());
    let (_, out) = run(t, &pw_cmd(CC_SEQUENCE_COMPLETE, &[seq], &[auth], &p), false)?;
    let mut rd = Rd(&out);
    let result = rd.b2().to_vec();
    Ok((result, rd.0.to_vec()))
}

/// Feeds `data` in TPM2B_MAX_BUFFER pieces and completes with the last one.
fn hash_in_pieces(t: &mut Tpm, alg: u16, data: &[u8], hierarchy: u32) -> (Vec<u8>, Vec<u8>) {
    let seq = start(t, b"", alg).unwrap();
    let mut chunks: Vec<&[u8]> = data.chunks(1024).collect();
    let last = chunks.pop().unwrap_or_default();
    for c in chunks {
        update(t, seq, b"", c).unwrap();
    }
    complete(t, seq, b"", last, hierarchy).unwrap()
}

fn ticket(hierarchy: u32, digest: &[u8]) -> Vec<u8> {
    let mut v = ST_HASHCHECK.to_be_bytes().to_vec();
    v.extend_from_slice(&hierarchy.to_be_bytes());
    v.extend_from_slice(&b2(digest));
    v
}

fn null_ticket() -> Vec<u8> {
    ticket(RH_NULL, &[])
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

fn sw_digest(alg: u16, data: &[u8]) -> Vec<u8> {
    match alg {
        ALG_SHA1 => sha1::Sha1::digest(data).to_vec(),
        ALG_SHA256 => sha2::Sha256::digest(data).to_vec(),
        ALG_SHA384 => sha2::Sha384::digest(data).to_vec(),
        ALG_SHA512 => sha2::Sha512::digest(data).to_vec(),
        _ => unreachable!(),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A primary in the owner hierarchy from `template` with `data` as its
/// sensitive data; its handle.
fn primary(t: &mut Tpm, template: &[u8], data: &[u8]) -> Result<u32, u32> {
    create_primary_raw(t, RH_OWNER, &[], data, template).map(|c| c.handle)
}

/// A keyed-hash template: attributes and scheme (HMAC with a hash, or NULL).
fn keyedhash(attrs: u32, scheme: &[u16]) -> Vec<u8> {
    let mut v = ALG_KEYEDHASH.to_be_bytes().to_vec();
    v.extend_from_slice(&ALG_SHA256.to_be_bytes());
    v.extend_from_slice(&attrs.to_be_bytes());
    v.extend_from_slice(&b2(&[]));
    for s in scheme {
        v.extend_from_slice(&s.to_be_bytes());
    }
    v.extend_from_slice(&b2(&[]));
    v
}

fn rsa_restricted_signer() -> Vec<u8> {
    let mut v = ALG_RSA.to_be_bytes().to_vec();
    v.extend_from_slice(&ALG_SHA256.to_be_bytes());
    let attrs = FIXED_TPM
        | FIXED_PARENT
        | SENSITIVE_DATA_ORIGIN
        | USER_WITH_AUTH
        | NO_DA
        | RESTRICTED
        | SIGN;
    v.extend_from_slice(&attrs.to_be_bytes());
    v.extend_from_slice(&b2(&[]));
    for x in [ALG_NULL, ALG_RSASSA, ALG_SHA256, 2048] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&b2(&[]));
    v
}

fn hmac_one_shot(t: &mut Tpm, key: u32, data: &[u8], alg: u16) -> Result<Vec<u8>, u32> {
    let mut p = b2(data);
    p.extend_from_slice(&alg.to_be_bytes());
    let (_, out) = run(t, &pw_cmd(CC_HMAC, &[key], &[b""], &p), false)?;
    Ok(Rd(&out).b2().to_vec())
}

fn hmac_start(t: &mut Tpm, key: u32, auth: &[u8], alg: u16) -> Result<u32, u32> {
    let mut p = b2(auth);
    p.extend_from_slice(&alg.to_be_bytes());
    run(t, &pw_cmd(CC_HMAC_START, &[key], &[b""], &p), true).map(|r| r.0)
}

fn context_save(t: &mut Tpm, handle: u32) -> Vec<u8> {
    run(t, &no_auth(CC_CONTEXT_SAVE, &[handle], &[]), false)
        .unwrap()
        .1
}

fn context_load(t: &mut Tpm, context: &[u8]) -> Result<u32, u32> {
    run(t, &no_auth(CC_CONTEXT_LOAD, &[], context), true).map(|r| r.0)
}

fn flush(t: &mut Tpm, handle: u32) -> Result<(), u32> {
    run(
        t,
        &no_auth(CC_FLUSH_CONTEXT, &[], &handle.to_be_bytes()),
        false,
    )
    .map(|_| ())
}

#[test]
fn hash_sequences_match_sha1_and_sha2() {
    let mut t = Tpm::started();
    // FIPS 180 "abc" known answer, without any SequenceUpdate.
    let seq = start(&mut t, b"", ALG_SHA256).unwrap();
    assert_eq!(seq >> 24, 0x80, "a transient handle");
    let (d, _) = complete(&mut t, seq, b"", b"abc", RH_NULL).unwrap();
    assert_eq!(
        d,
        hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    for alg in [ALG_SHA1, ALG_SHA256, ALG_SHA384, ALG_SHA512] {
        for n in [0, 1, 1024, 1025, 5000] {
            let msg = data(n);
            let (d, tk) = hash_in_pieces(&mut t, alg, &msg, RH_NULL);
            assert_eq!(d, sw_digest(alg, &msg), "alg {alg:#x}, {n} bytes");
            assert_eq!(tk, null_ticket());
        }
    }
    // The sequence is gone after completion; an unknown hash is refused.
    assert_eq!(update(&mut t, seq, b"", b"x"), Err(RC_REFERENCE_H0));
    assert_eq!(start(&mut t, b"", 0x0099), Err(RC_HASH_P2));
}

#[test]
fn hashcheck_tickets_follow_the_first_block() {
    let mut t = Tpm::started();
    let msg = data(3000);
    let (d, tk) = hash_in_pieces(&mut t, ALG_SHA256, &msg, RH_OWNER);
    let mut rd = Rd(&tk);
    assert_eq!((rd.u16(), rd.u32()), (ST_HASHCHECK, RH_OWNER));
    assert_eq!(rd.b2().len(), 32);
    // The same digest gets the same ticket however it was fed.
    let seq = start(&mut t, b"", ALG_SHA256).unwrap();
    update(&mut t, seq, b"", &msg[..10]).unwrap();
    update(&mut t, seq, b"", &msg[10..1000]).unwrap();
    update(&mut t, seq, b"", &msg[1000..2000]).unwrap();
    assert_eq!(
        complete(&mut t, seq, b"", &msg[2000..], RH_OWNER).unwrap(),
        (d.clone(), tk.clone())
    );
    // A first block starting with TPM_GENERATED_VALUE, or too short to tell,
    // earns no ticket, even if later data would.
    let generated = [b"\xffTCG".as_slice(), &msg[..100]].concat();
    for first in [&generated[..], b"\xff", b""] {
        let seq = start(&mut t, b"", ALG_SHA256).unwrap();
        update(&mut t, seq, b"", first).unwrap();
        update(&mut t, seq, b"", &msg[..500]).unwrap();
        let (_, tk) = complete(&mut t, seq, b"", b"tail", RH_OWNER).unwrap();
        assert_eq!(
            tk,
            null_ticket(),
            "first block {:?}",
            &first[..first.len().min(4)]
        );
    }
    // Completion as the first block is judged the same way.
    let seq = start(&mut t, b"", ALG_SHA256).unwrap();
    let (_, tk) = complete(&mut t, seq, b"", b"\xffTCG....", RH_OWNER).unwrap();
    assert_eq!(tk, null_ticket());
    let seq = start(&mut t, b"", ALG_SHA256).unwrap();
    let (_, tk) = complete(&mut t, seq, b"", b"abcd", RH_OWNER).unwrap();
    assert_ne!(tk, null_ticket());
}

#[test]
fn sign_takes_a_sequence_ticket_for_a_restricted_key() {
    let mut t = Tpm::started();
    let key = primary(&mut t, &rsa_restricted_signer(), b"").unwrap();
    let msg = data(4000);
    let (digest, tk) = hash_in_pieces(&mut t, ALG_SHA256, &msg, RH_OWNER);
    let sign = |t: &mut Tpm, digest: &[u8], validation: &[u8]| {
        let mut p = b2(digest);
        p.extend_from_slice(&ALG_NULL.to_be_bytes());
        p.extend_from_slice(validation);
        run(t, &pw_cmd(CC_SIGN, &[key], &[b""], &p), false).map(|r| r.1)
    };
    let sig = sign(&mut t, &digest, &tk).unwrap();
    let mut rd = Rd(&sig);
    assert_eq!((rd.u16(), rd.u16()), (ALG_RSASSA, ALG_SHA256));
    assert_eq!(rd.b2().len(), 256);
    // The ticket vouches for this digest only; a NULL ticket vouches for none.
    let mut other = digest.clone();
    other[0] ^= 1;
    assert_eq!(sign(&mut t, &other, &tk), Err(RC_TICKET_P3));
    assert_eq!(sign(&mut t, &digest, &null_ticket()), Err(RC_TICKET_P3));
    // A ticket of another hierarchy's proof does not match.
    let mut moved = tk.clone();
    moved[2..6].copy_from_slice(&0x4000_000Bu32.to_be_bytes());
    assert_eq!(sign(&mut t, &digest, &moved), Err(RC_TICKET_P3));
}

/// RFC 4231 test cases 1 and 2.
const TC1_KEY: [u8; 20] = [0x0b; 20];
const TC1_DATA: &[u8] = b"Hi There";
const TC1_SHA256: &str = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
const TC2_KEY: &[u8] = b"Jefe";
const TC2_DATA: &[u8] = b"what do ya want for nothing?";
const TC2_SHA256: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
const TC2_SHA384: &str = "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649";
const TC2_SHA512: &str = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";

#[test]
fn hmac_matches_rfc_4231() {
    let mut t = Tpm::started();
    let tc1 = primary(
        &mut t,
        &keyedhash(HMAC_KEY, &[ALG_HMAC, ALG_SHA256]),
        &TC1_KEY,
    )
    .unwrap();
    assert_eq!(
        hmac_one_shot(&mut t, tc1, TC1_DATA, ALG_NULL).unwrap(),
        hex(TC1_SHA256)
    );
    assert_eq!(
        hmac_one_shot(&mut t, tc1, TC1_DATA, ALG_SHA256).unwrap(),
        hex(TC1_SHA256)
    );
    // As a sequence, in pieces.
    let seq = hmac_start(&mut t, tc1, b"", ALG_NULL).unwrap();
    update(&mut t, seq, b"", b"Hi").unwrap();
    update(&mut t, seq, b"", b"").unwrap();
    let (mac, tk) = complete(&mut t, seq, b"", b" There", RH_OWNER).unwrap();
    assert_eq!(mac, hex(TC1_SHA256));
    assert_eq!(tk, null_ticket(), "an HMAC sequence makes no ticket");
    assert_eq!(flush(&mut t, tc1), Ok(()));

    // A key without a scheme takes the requested hash (and needs one).
    let tc2 = primary(&mut t, &keyedhash(SCHEMELESS_KEY, &[ALG_NULL]), TC2_KEY).unwrap();
    for (alg, expected) in [
        (ALG_SHA256, TC2_SHA256),
        (ALG_SHA384, TC2_SHA384),
        (ALG_SHA512, TC2_SHA512),
    ] {
        assert_eq!(
            hmac_one_shot(&mut t, tc2, TC2_DATA, alg).unwrap(),
            hex(expected)
        );
        let seq = hmac_start(&mut t, tc2, b"", alg).unwrap();
        update(&mut t, seq, b"", &TC2_DATA[..5]).unwrap();
        let (mac, _) = complete(&mut t, seq, b"", &TC2_DATA[5..], RH_NULL).unwrap();
        assert_eq!(mac, hex(expected));
    }
    assert_eq!(
        hmac_one_shot(&mut t, tc2, TC2_DATA, ALG_NULL),
        Err(RC_VALUE_P2)
    );
    assert_eq!(hmac_start(&mut t, tc2, b"", ALG_NULL), Err(RC_VALUE_P2));
    // The key is folded into the sequence: flushing the key does not matter.
    let seq = hmac_start(&mut t, tc2, b"", ALG_SHA256).unwrap();
    assert_eq!(flush(&mut t, tc2), Ok(()));
    let (mac, _) = complete(&mut t, seq, b"", TC2_DATA, RH_NULL).unwrap();
    assert_eq!(mac, hex(TC2_SHA256));
}

#[test]
fn hmac_key_rules() {
    let mut t = Tpm::started();
    // A scheme hash wins; another requested hash is TPM_RC_VALUE.
    let key = primary(&mut t, &keyedhash(HMAC_KEY, &[ALG_HMAC, ALG_SHA256]), b"k").unwrap();
    assert_eq!(hmac_one_shot(&mut t, key, b"x", ALG_SHA1), Err(RC_VALUE_P2));
    assert_eq!(hmac_start(&mut t, key, b"", ALG_SHA384), Err(RC_VALUE_P2));
    // TPM2_HMAC is TPM2_MAC (same command code): its scheme is a
    // TPMI_ALG_MAC_SCHEME, whose unmarshaling code is TPM_RC_SYMMETRIC.
    assert_eq!(hmac_one_shot(&mut t, key, b"x", 0x0099), Err(0x2D6));
    flush(&mut t, key).unwrap();
    // Not signing: TPM_RC_KEY; restricted: TPM_RC_ATTRIBUTES.
    let sealed = primary(
        &mut t,
        &keyedhash(
            FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH | NO_DA,
            &[ALG_NULL],
        ),
        b"secret",
    )
    .unwrap();
    assert_eq!(
        hmac_one_shot(&mut t, sealed, b"x", ALG_SHA256),
        Err(RC_KEY_H1)
    );
    assert_eq!(hmac_start(&mut t, sealed, b"", ALG_SHA256), Err(RC_KEY_H1));
    flush(&mut t, sealed).unwrap();
    let restricted = primary(
        &mut t,
        &keyedhash(
            HMAC_KEY | RESTRICTED | SENSITIVE_DATA_ORIGIN,
            &[ALG_HMAC, ALG_SHA256],
        ),
        b"",
    )
    .unwrap();
    assert_eq!(
        hmac_one_shot(&mut t, restricted, b"x", ALG_SHA256),
        Err(RC_ATTRIBUTES_H1)
    );
    flush(&mut t, restricted).unwrap();
    // Not a keyed-hash object at all: TPM_RC_TYPE (a sequence included).
    let rsa = primary(&mut t, &rsa_restricted_signer(), b"").unwrap();
    assert_eq!(
        hmac_one_shot(&mut t, rsa, b"x", ALG_SHA256),
        Err(RC_TYPE_H1)
    );
    let seq = start(&mut t, b"", ALG_SHA256).unwrap();
    assert_eq!(
        hmac_one_shot(&mut t, seq, b"x", ALG_SHA256),
        Err(RC_TYPE_H1)
    );
    // And an ordinary key is no sequence.
    assert_eq!(update(&mut t, rsa, b"", b"x"), Err(RC_MODE_H1));
}

/// Every bank's PCR after one extend of `digest` from zero.
fn extended_from_zero(alg: u16, digest: &[u8]) -> Vec<u8> {
    let zero = vec![0u8; digest.len()];
    sw_digest(alg, &[zero.as_slice(), digest].concat())
}

const BANKS: [u16; 4] = [ALG_SHA1, ALG_SHA256, ALG_SHA384, ALG_SHA512];

fn event_complete(
    t: &mut Tpm,
    pcr: u32,
    seq: u32,
    auth: &[u8],
    data: &[u8],
) -> Result<Vec<(u16, Vec<u8>)>, u32> {
    let (_, out) = run(
        t,
        &pw_cmd(
            CC_EVENT_SEQUENCE_COMPLETE,
            &[pcr, seq],
            &[b"", auth],
            &b2(data),
        ),
        false,
    )?;
    let mut rd = Rd(&out);
    let n = rd.u32();
    let mut v = Vec::new();
    for _ in 0..n {
        let alg = rd.u16();
        let len = match alg {
            ALG_SHA1 => 20,
            ALG_SHA256 => 32,
            ALG_SHA384 => 48,
            _ => 64,
        };
        v.push((alg, rd.take(len).to_vec()));
    }
    assert!(rd.0.is_empty());
    Ok(v)
}

#[test]
fn event_sequence_extends_every_bank() {
    let mut t = Tpm::started();
    let msg = data(2500);
    let seq = start(&mut t, b"ev", ALG_NULL).unwrap();
    update(&mut t, seq, b"ev", &msg[..1024]).unwrap();
    update(&mut t, seq, b"ev", &msg[1024..2048]).unwrap();
    let digests = event_complete(&mut t, 16, seq, b"ev", &msg[2048..]).unwrap();
    assert_eq!(
        digests.iter().map(|d| d.0).collect::<Vec<_>>(),
        BANKS.to_vec()
    );
    for (alg, d) in &digests {
        assert_eq!(d, &sw_digest(*alg, &msg));
        assert_eq!(read_one(&mut t, *alg, 16), extended_from_zero(*alg, d));
    }
    // TPM_RH_NULL: the digests, no PCR touched.
    let seq = start(&mut t, b"", ALG_NULL).unwrap();
    let before = read_one(&mut t, ALG_SHA256, 16);
    let digests = event_complete(&mut t, RH_NULL, seq, b"", b"abc").unwrap();
    assert_eq!(digests[1].1, sw_digest(ALG_SHA256, b"abc"));
    assert_eq!(read_one(&mut t, ALG_SHA256, 16), before);
    // Kinds do not mix: TPM_RC_MODE on the sequence's handle position.
    let ev = start(&mut t, b"", ALG_NULL).unwrap();
    assert_eq!(complete(&mut t, ev, b"", b"", RH_NULL), Err(RC_MODE_H1));
    let h = start(&mut t, b"", ALG_SHA256).unwrap();
    assert_eq!(event_complete(&mut t, 16, h, b"", b""), Err(RC_MODE_H2));
    // PCR 17 (DRTM) may not be extended from locality 0.
    assert_eq!(event_complete(&mut t, 17, ev, b"", b""), Err(RC_LOCALITY));
}

#[test]
fn sequence_contexts_save_and_load_mid_way() {
    let mut t = Tpm::started();
    let msg = data(3000);
    for alg in [ALG_SHA1, ALG_SHA256, ALG_SHA384, ALG_SHA512] {
        let seq = start(&mut t, b"pw", alg).unwrap();
        update(&mut t, seq, b"pw", &msg[..1000]).unwrap();
        let ctx = context_save(&mut t, seq);
        let mut rd = Rd(&ctx);
        rd.take(8);
        assert_eq!(rd.u32(), 0x8000_0001, "savedHandle of a sequence");
        assert_eq!(rd.u32(), RH_NULL);
        flush(&mut t, seq).unwrap();
        let again = context_load(&mut t, &ctx).unwrap();
        update(&mut t, again, b"pw", &msg[1000..2000]).unwrap();
        let (d, tk) = complete(&mut t, again, b"pw", &msg[2000..], RH_OWNER).unwrap();
        assert_eq!(d, sw_digest(alg, &msg));
        assert_ne!(tk, null_ticket(), "the first-block state travels too");
    }
    // HMAC and event sequences carry their state the same way.
    let key = primary(&mut t, &keyedhash(SCHEMELESS_KEY, &[ALG_NULL]), TC2_KEY).unwrap();
    let seq = hmac_start(&mut t, key, b"", ALG_SHA512).unwrap();
    flush(&mut t, key).unwrap();
    update(&mut t, seq, b"", &TC2_DATA[..7]).unwrap();
    let ctx = context_save(&mut t, seq);
    flush(&mut t, seq).unwrap();
    let seq = context_load(&mut t, &ctx).unwrap();
    let (mac, _) = complete(&mut t, seq, b"", &TC2_DATA[7..], RH_NULL).unwrap();
    assert_eq!(mac, hex(TC2_SHA512));

    let ev = start(&mut t, b"", ALG_NULL).unwrap();
    update(&mut t, ev, b"", &msg[..1000]).unwrap();
    update(&mut t, ev, b"", &msg[1000..1500]).unwrap();
    let ctx = context_save(&mut t, ev);
    // The saved context stays valid while the original goes on.
    let ev2 = context_load(&mut t, &ctx).unwrap();
    assert_ne!(ev, ev2);
    update(&mut t, ev, b"", b"different").unwrap();
    update(&mut t, ev2, b"", &msg[1500..2500]).unwrap();
    let digests = event_complete(&mut t, RH_NULL, ev2, b"", &msg[2500..]).unwrap();
    for (alg, d) in digests {
        assert_eq!(d, sw_digest(alg, &msg));
    }
    // A tampered blob or a wrong hierarchy does not load.
    let mut bad = ctx.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(context_load(&mut t, &bad), Err(RC_INTEGRITY_P1));
    let mut moved = ctx.clone();
    moved[12..16].copy_from_slice(&RH_OWNER.to_be_bytes());
    assert_eq!(context_load(&mut t, &moved), Err(RC_INTEGRITY_P1));
    // A TPM Reset (new null proof) invalidates it.
    t.run(&shutdown(0));
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(0))), 0);
    assert_eq!(context_load(&mut t, &ctx), Err(RC_INTEGRITY_P1));
}

#[test]
fn sequences_take_object_slots() {
    let mut t = Tpm::started();
    let key = primary(&mut t, &keyedhash(SCHEMELESS_KEY, &[ALG_NULL]), b"k").unwrap();
    let s1 = start(&mut t, b"", ALG_SHA256).unwrap();
    let s2 = hmac_start(&mut t, key, b"", ALG_SHA256).unwrap();
    let mut handles = vec![key, s1, s2];
    handles.sort();
    assert_eq!(handles, vec![0x8000_0000, 0x8000_0001, 0x8000_0002]);
    // Every slot is taken (MAX_LOADED_OBJECTS = 3): no more sequences, objects or loads.
    assert_eq!(start(&mut t, b"", ALG_SHA256), Err(RC_OBJECT_MEMORY));
    assert_eq!(
        hmac_start(&mut t, key, b"", ALG_SHA256),
        Err(RC_OBJECT_MEMORY)
    );
    assert_eq!(
        primary(&mut t, &keyedhash(SCHEMELESS_KEY, &[ALG_NULL]), b"k"),
        Err(RC_OBJECT_MEMORY)
    );
    let ctx = context_save(&mut t, s1);
    assert_eq!(context_load(&mut t, &ctx), Err(RC_OBJECT_MEMORY));
    // GetCapability(TPM_CAP_HANDLES, transient) lists the sequences.
    let mut p = 1u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0x8000_0000u32.to_be_bytes());
    p.extend_from_slice(&8u32.to_be_bytes());
    let (_, caps) = run(&mut t, &no_auth(CC_GET_CAPABILITY, &[], &p), false).unwrap();
    assert_eq!(&caps[5..9], &3u32.to_be_bytes());
    // FlushContext frees a sequence's slot.
    flush(&mut t, s1).unwrap();
    assert_eq!(flush(&mut t, s1), Err(RC_HANDLE_P1));
    let s3 = start(&mut t, b"", ALG_SHA256).unwrap();
    assert_eq!(s3, s1, "the freed slot is reused");
    // Completion frees it too.
    complete(&mut t, s2, b"", b"", RH_NULL).unwrap();
    assert!(context_load(&mut t, &ctx).is_ok());
}

#[test]
fn sequence_auth_is_the_value_given_at_start() {
    let mut t = Tpm::started();
    let seq = start(&mut t, b"seq secret", ALG_SHA256).unwrap();
    assert_eq!(update(&mut t, seq, b"wrong", b"x"), Err(RC_BAD_AUTH_S1));
    assert_eq!(update(&mut t, seq, b"", b"x"), Err(RC_BAD_AUTH_S1));
    assert_eq!(
        complete(&mut t, seq, b"wrong", b"", RH_NULL),
        Err(RC_BAD_AUTH_S1)
    );
    update(&mut t, seq, b"seq secret", b"ab").unwrap();
    // Trailing zeros of an authValue are not significant.
    let (d, _) = complete(&mut t, seq, b"seq secret\0", b"c", RH_NULL).unwrap();
    assert_eq!(d, sw_digest(ALG_SHA256, b"abc"));
    // Sequence use needs an authorization at all.
    let seq = start(&mut t, b"", ALG_SHA256).unwrap();
    let r = t.run(&no_auth(CC_SEQUENCE_UPDATE, &[seq], &b2(b"x")));
    assert_eq!(rc(&r), RC_AUTH_MISSING);
    // The event sequence's authValue guards EventSequenceComplete too.
    let ev = start(&mut t, b"e", ALG_NULL).unwrap();
    assert_eq!(
        event_complete(&mut t, 16, ev, b"x", b""),
        Err(0xAA2),
        "session 2 (the sequence's) fails"
    );
    assert!(event_complete(&mut t, 16, ev, b"e", b"").is_ok());
}
