//! Duplication through the engine with raw command bytes (Part 3, section
//! 13): Duplicate on one TPM, Import and Load on a second one, Rewrap between
//! parents, the DUP role's policy rules, and the refusal codes with their
//! positions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step should fail the test loudly"
)]

mod common;

use common::*;
use sha2::{Digest, Sha256};

const CC_DUPLICATE: u32 = 0x14B;
const CC_REWRAP: u32 = 0x152;
const CC_IMPORT: u32 = 0x156;

const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
const SEALED: u32 = USER_WITH_AUTH | NO_DA;

// Response codes: format-one base | position (handle n: n<<8; parameter n:
// 0x40 | n<<8; session n: 0x800 | n<<8).
const RC_ATTRIBUTES_P1: u32 = 0x1C2;
const RC_HIERARCHY_H2: u32 = 0x285;
const RC_INTEGRITY_P3: u32 = 0x3DF;
const RC_ATTRIBUTES_P4: u32 = 0x4C2;
const RC_ECC_POINT_P4: u32 = 0x4E7;

const SECRET: &[u8] = b"released only to the right TPM";

/// TPMS_AUTH_COMMAND of an unbound, unsalted policy session without
/// PolicyAuthValue / PolicyPassword: its HMAC key is empty, so is the HMAC.
fn policy(session: u32) -> Vec<u8> {
    let mut a = session.to_be_bytes().to_vec();
    a.extend_from_slice(&[0, 0, 0x01, 0, 0]);
    a
}

// ---------------------------------------------------------------------------
// Templates.

fn ecc_storage(unique_x: &[u8]) -> Vec<u8> {
    let parms = u16s(&[ALG_AES, 128, ALG_CFB, ALG_NULL, ECC_NIST_P256, ALG_NULL]);
    public_with_policy(ALG_ECC, STORAGE, &[], &[&parms, &b2(unique_x), &b2(&[])])
}

fn rsa_storage() -> Vec<u8> {
    let mut parms = u16s(&[ALG_AES, 128, ALG_CFB, ALG_NULL, 2048]);
    parms.extend_from_slice(&0u32.to_be_bytes());
    public_with_policy(ALG_RSA, STORAGE, &[], &[&parms, &b2(&[])])
}

fn sealed(attrs: u32, policy: &[u8]) -> Vec<u8> {
    public_with_policy(
        ALG_KEYEDHASH,
        attrs,
        policy,
        &[&ALG_NULL.to_be_bytes(), &b2(&[])],
    )
}

/// H(0...0 || TPM_CC_PolicyCommandCode || TPM_CC_Duplicate).
fn duplicate_policy() -> Vec<u8> {
    Sha256::digest(
        [
            &[0u8; 32][..],
            &CC_POLICY_COMMAND_CODE.to_be_bytes(),
            &CC_DUPLICATE.to_be_bytes(),
        ]
        .concat(),
    )
    .to_vec()
}

/// PolicyDuplicationSelect without the object's name (includeObject NO).
fn select_policy(new_parent_name: &[u8]) -> Vec<u8> {
    Sha256::digest(
        [
            &[0u8; 32][..],
            &CC_POLICY_DUPLICATION_SELECT.to_be_bytes(),
            new_parent_name,
            &[0u8],
        ]
        .concat(),
    )
    .to_vec()
}

// ---------------------------------------------------------------------------
// Commands.

#[derive(Clone)]
struct Obj {
    handle: u32,
    /// TPMT_PUBLIC.
    public: Vec<u8>,
    name: Vec<u8>,
}

fn create_primary(t: &mut Tpm, template: &[u8]) -> Obj {
    let c = create_primary_raw(t, RH_OWNER, &[], &[], template).unwrap();
    Obj {
        handle: c.handle,
        public: c.public,
        name: c.name,
    }
}

/// Create a sealed object under `parent`: (outPrivate, TPMT_PUBLIC).
fn create_sealed(t: &mut Tpm, parent: u32, template: &[u8]) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let mut p = b2(&[b2(&[]), b2(SECRET)].concat());
    p.extend_from_slice(&b2(template));
    p.extend_from_slice(&b2(&[]));
    p.extend_from_slice(&0u32.to_be_bytes());
    let (_, params) = run(
        t,
        &sessions_cmd(CC_CREATE, &[parent], &[pw(&[])], &p),
        false,
    )?;
    let mut rd = Rd(&params);
    Ok((rd.b2().to_vec(), rd.b2().to_vec()))
}

fn load(t: &mut Tpm, parent: u32, private: &[u8], public: &[u8]) -> Result<Obj, u32> {
    let p = [b2(private), b2(public)].concat();
    let (handle, params) = run(t, &sessions_cmd(CC_LOAD, &[parent], &[pw(&[])], &p), true)?;
    Ok(Obj {
        handle,
        public: public.to_vec(),
        name: Rd(&params).b2().to_vec(),
    })
}

/// A sealed object under `parent`, loaded.
fn sealed_object(t: &mut Tpm, parent: u32, attrs: u32, policy: &[u8]) -> Obj {
    let (private, public) = create_sealed(t, parent, &sealed(attrs, policy)).unwrap();
    load(t, parent, &private, &public).unwrap()
}

/// Another TPM's public key, loaded without its private part.
fn load_external(t: &mut Tpm, public: &[u8]) -> Obj {
    let p = [b2(&[]), b2(public), RH_OWNER.to_be_bytes().to_vec()].concat();
    let (handle, params) = run(t, &no_auth(CC_LOAD_EXTERNAL, &[], &p), true).unwrap();
    Obj {
        handle,
        public: public.to_vec(),
        name: Rd(&params).b2().to_vec(),
    }
}

fn unseal(t: &mut Tpm, handle: u32) -> Result<Vec<u8>, u32> {
    let (_, params) = run(
        t,
        &sessions_cmd(CC_UNSEAL, &[handle], &[pw(&[])], &[]),
        false,
    )?;
    Ok(Rd(&params).b2().to_vec())
}

/// A policy session with the given policy commands already run.
fn policy_session(t: &mut Tpm, steps: &[(u32, Vec<u8>)]) -> u32 {
    let mut p = RH_NULL.to_be_bytes().to_vec();
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    p.extend_from_slice(&b2(&[7u8; 16]));
    p.extend_from_slice(&b2(&[]));
    p.push(1); // TPM_SE_POLICY
    p.extend_from_slice(&u16s(&[ALG_NULL, ALG_SHA256]));
    let (s, _) = run(t, &cmd(0x8001, CC_START_AUTH_SESSION, &p), true).unwrap();
    for (cc, params) in steps {
        run(t, &no_auth(*cc, &[s], params), false).unwrap();
    }
    s
}

fn dup_session(t: &mut Tpm) -> u32 {
    policy_session(
        t,
        &[(CC_POLICY_COMMAND_CODE, CC_DUPLICATE.to_be_bytes().to_vec())],
    )
}

/// TPMT_SYM_DEF_OBJECT: AES-`bits`-CFB, or NULL for 0.
fn sym(bits: u16) -> Vec<u8> {
    if bits == 0 {
        u16s(&[ALG_NULL])
    } else {
        u16s(&[ALG_AES, bits, ALG_CFB])
    }
}

struct Duplicated {
    key: Vec<u8>,
    blob: Vec<u8>,
    seed: Vec<u8>,
}

fn duplicate(
    t: &mut Tpm,
    session: Vec<u8>,
    object: u32,
    new_parent: u32,
    key_in: &[u8],
    sym_bits: u16,
) -> Result<Duplicated, u32> {
    let p = [b2(key_in), sym(sym_bits)].concat();
    let (_, params) = run(
        t,
        &sessions_cmd(CC_DUPLICATE, &[object, new_parent], &[session], &p),
        false,
    )?;
    let mut rd = Rd(&params);
    let d = Duplicated {
        key: rd.b2().to_vec(),
        blob: rd.b2().to_vec(),
        seed: rd.b2().to_vec(),
    };
    assert!(rd.0.is_empty());
    Ok(d)
}

fn import(
    t: &mut Tpm,
    parent: u32,
    key: &[u8],
    object_public: &[u8],
    blob: &[u8],
    seed: &[u8],
    sym_bits: u16,
) -> Result<Vec<u8>, u32> {
    let p = [
        b2(key),
        b2(object_public),
        b2(blob),
        b2(seed),
        sym(sym_bits),
    ]
    .concat();
    let (_, params) = run(
        t,
        &sessions_cmd(CC_IMPORT, &[parent], &[pw(&[])], &p),
        false,
    )?;
    Ok(Rd(&params).b2().to_vec())
}

fn rewrap(
    t: &mut Tpm,
    old: u32,
    new: u32,
    blob: &[u8],
    name: &[u8],
    seed: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let p = [b2(blob), b2(name), b2(seed)].concat();
    let (_, params) = run(
        t,
        &sessions_cmd(CC_REWRAP, &[old, new], &[pw(&[])], &p),
        false,
    )?;
    let mut rd = Rd(&params);
    Ok((rd.b2().to_vec(), rd.b2().to_vec()))
}

// ---------------------------------------------------------------------------
// Tests.

/// TPM A duplicates a sealed object to TPM B's storage key (loaded on A as a
/// public key); B imports, loads and unseals it.
fn cross_tpm(new_parent_template: &[u8], key_in: &[u8], sym_bits: u16) {
    let mut b = Tpm::started();
    let srk_b = create_primary(&mut b, new_parent_template);
    let mut a = Tpm::started();
    let srk_a = create_primary(&mut a, &ecc_storage(b"A"));
    let item = sealed_object(&mut a, srk_a.handle, SEALED, &duplicate_policy());
    let np = load_external(&mut a, &srk_b.public);
    assert_eq!(np.name, srk_b.name);
    let s = dup_session(&mut a);
    let d = duplicate(&mut a, policy(s), item.handle, np.handle, key_in, sym_bits).unwrap();
    // The key used comes back: the caller's, or the TPM's own of the right size.
    match (sym_bits, key_in.is_empty()) {
        (0, _) => assert!(d.key.is_empty()),
        (_, true) => assert_eq!(d.key.len(), usize::from(sym_bits / 8)),
        (_, false) => assert_eq!(d.key, key_in),
    }
    assert!(!d.seed.is_empty());
    let private = import(
        &mut b,
        srk_b.handle,
        &d.key,
        &item.public,
        &d.blob,
        &d.seed,
        sym_bits,
    )
    .unwrap();
    let moved = load(&mut b, srk_b.handle, &private, &item.public).unwrap();
    assert_eq!(moved.name, item.name);
    assert_eq!(unseal(&mut b, moved.handle).unwrap(), SECRET);
}

#[test]
fn to_an_ecc_parent_without_inner_wrapper() {
    cross_tpm(&ecc_storage(b"B"), &[], 0);
}

#[test]
fn to_an_ecc_parent_with_a_tpm_generated_inner_key() {
    cross_tpm(&ecc_storage(b"B"), &[], 128);
}

#[test]
fn to_an_rsa_parent_with_a_caller_inner_key() {
    cross_tpm(&rsa_storage(), &[0x42; 32], 256);
}

#[test]
fn to_an_rsa_parent_without_inner_wrapper() {
    cross_tpm(&rsa_storage(), &[], 0);
}

#[test]
fn to_null_the_blob_is_the_bare_sensitive_area() {
    let mut t = Tpm::started();
    let srk = create_primary(&mut t, &ecc_storage(b"A"));
    let item = sealed_object(&mut t, srk.handle, SEALED, &duplicate_policy());
    let s = dup_session(&mut t);
    let d = duplicate(&mut t, policy(s), item.handle, RH_NULL, &[], 0).unwrap();
    assert!(d.key.is_empty() && d.seed.is_empty());
    // TPM2B_SENSITIVE: size, type keyedHash, authValue, seedValue, data.
    let mut rd = Rd(&d.blob);
    let inner = rd.b2();
    assert!(rd.0.is_empty());
    let mut rd = Rd(inner);
    assert_eq!(rd.take(2), ALG_KEYEDHASH.to_be_bytes());
    assert_eq!(rd.b2(), b"");
    assert_eq!(rd.b2().len(), 32);
    assert_eq!(rd.b2(), SECRET);
    // Imported elsewhere without seed or key.
    let mut b = Tpm::started();
    let srk_b = create_primary(&mut b, &ecc_storage(b"B"));
    let private = import(&mut b, srk_b.handle, &[], &item.public, &d.blob, &[], 0).unwrap();
    let moved = load(&mut b, srk_b.handle, &private, &item.public).unwrap();
    assert_eq!(unseal(&mut b, moved.handle).unwrap(), SECRET);
}

#[test]
fn the_dup_role_takes_a_policy_session_naming_duplicate() {
    let mut t = Tpm::started();
    let srk = create_primary(&mut t, &ecc_storage(b"A"));
    let item = sealed_object(&mut t, srk.handle, SEALED, &duplicate_policy());
    // A password never authorizes DUP, even with userWithAuth.
    assert_eq!(
        duplicate(&mut t, pw(&[]), item.handle, RH_NULL, &[], 0).err(),
        Some(RC_AUTH_TYPE)
    );
    // A policy for another command does not match the authPolicy.
    let s = policy_session(
        &mut t,
        &[(CC_POLICY_COMMAND_CODE, CC_UNSEAL.to_be_bytes().to_vec())],
    );
    assert_eq!(
        duplicate(&mut t, policy(s), item.handle, RH_NULL, &[], 0).err(),
        Some(RC_POLICY_FAIL_S1)
    );
    flush(&mut t, s);
    flush(&mut t, item.handle);
    // A matching digest without a command code is not enough for DUP.
    let auth_value_policy =
        Sha256::digest([&[0u8; 32][..], &CC_POLICY_AUTH_VALUE.to_be_bytes()].concat()).to_vec();
    let item = sealed_object(&mut t, srk.handle, SEALED, &auth_value_policy);
    let s2 = policy_session(&mut t, &[(CC_POLICY_AUTH_VALUE, Vec::new())]);
    assert_eq!(
        duplicate(&mut t, policy(s2), item.handle, RH_NULL, &[], 0).err(),
        Some(RC_POLICY_FAIL_S1)
    );
}

#[test]
fn policy_duplication_select_binds_the_new_parent() {
    let mut t = Tpm::started();
    let srk = create_primary(&mut t, &ecc_storage(b"A"));
    let mut b = Tpm::started();
    let chosen = create_primary(&mut b, &ecc_storage(b"chosen"));
    let other = create_primary(&mut b, &ecc_storage(b"other"));
    let item = sealed_object(&mut t, srk.handle, SEALED, &select_policy(&chosen.name));
    let np = load_external(&mut t, &chosen.public);
    let select = |item: &Obj, parent: &[u8]| {
        (
            CC_POLICY_DUPLICATION_SELECT,
            [b2(&item.name), b2(parent), vec![0]].concat(),
        )
    };
    let s = policy_session(&mut t, &[select(&item, &chosen.name)]);
    let d = duplicate(&mut t, policy(s), item.handle, np.handle, &[], 128).unwrap();
    let private = import(
        &mut b,
        chosen.handle,
        &d.key,
        &item.public,
        &d.blob,
        &d.seed,
        128,
    )
    .unwrap();
    let moved = load(&mut b, chosen.handle, &private, &item.public).unwrap();
    assert_eq!(unseal(&mut b, moved.handle).unwrap(), SECRET);
    // The other parent's name gives another digest...
    flush(&mut t, np.handle);
    let np2 = load_external(&mut t, &other.public);
    let s = policy_session(&mut t, &[select(&item, &other.name)]);
    assert_eq!(
        duplicate(&mut t, policy(s), item.handle, np2.handle, &[], 128).err(),
        Some(RC_POLICY_FAIL_S1)
    );
    // ...and the chosen parent's policy does not cover another new parent.
    let s = policy_session(&mut t, &[select(&item, &chosen.name)]);
    assert_eq!(
        duplicate(&mut t, policy(s), item.handle, np2.handle, &[], 128).err(),
        Some(RC_POLICY_FAIL_S1)
    );
}

#[test]
fn duplicate_refusals() {
    let mut t = Tpm::started();
    let srk = create_primary(&mut t, &ecc_storage(b"A"));
    let fixed = sealed_object(
        &mut t,
        srk.handle,
        SEALED | FIXED_TPM | FIXED_PARENT,
        &duplicate_policy(),
    );
    let s = dup_session(&mut t);
    assert_eq!(
        duplicate(&mut t, policy(s), fixed.handle, srk.handle, &[], 0).err(),
        Some(RC_ATTRIBUTES_H1)
    );
    flush(&mut t, fixed.handle);
    let enc = sealed_object(
        &mut t,
        srk.handle,
        SEALED | ENCRYPTED_DUPLICATION,
        &duplicate_policy(),
    );
    // encryptedDuplication: an inner wrapper and a real new parent.
    assert_eq!(
        duplicate(&mut t, policy(s), enc.handle, srk.handle, &[], 0).err(),
        Some(RC_SYMMETRIC_P2)
    );
    assert_eq!(
        duplicate(&mut t, policy(s), enc.handle, RH_NULL, &[], 128).err(),
        Some(RC_HIERARCHY_H2)
    );
    // The new parent must be a storage key (here: a sealed object).
    assert_eq!(
        duplicate(&mut t, policy(s), enc.handle, enc.handle, &[], 128).err(),
        Some(RC_TYPE_H2)
    );
    // encryptionKeyIn: the algorithm's size, and nothing without one.
    assert_eq!(
        duplicate(&mut t, policy(s), enc.handle, srk.handle, &[1; 5], 128).err(),
        Some(RC_SIZE_P1)
    );
    flush(&mut t, enc.handle);
    let item = sealed_object(&mut t, srk.handle, SEALED, &duplicate_policy());
    assert_eq!(
        duplicate(&mut t, policy(s), item.handle, RH_NULL, &[1; 16], 0).err(),
        Some(RC_SIZE_P1)
    );
    // And with everything right it works (the session is still good).
    let d = duplicate(&mut t, policy(s), item.handle, srk.handle, &[], 128).unwrap();
    assert_eq!(d.key.len(), 16);
}

#[test]
fn import_checks_both_wrappers_and_the_attributes() {
    let mut b = Tpm::started();
    let srk_b = create_primary(&mut b, &ecc_storage(b"B"));
    let mut a = Tpm::started();
    let srk_a = create_primary(&mut a, &ecc_storage(b"A"));
    let item = sealed_object(&mut a, srk_a.handle, SEALED, &duplicate_policy());
    let np = load_external(&mut a, &srk_b.public);
    let s = dup_session(&mut a);
    let d = duplicate(&mut a, policy(s), item.handle, np.handle, &[], 128).unwrap();
    let imp = |b: &mut Tpm, key: &[u8], public: &[u8], blob: &[u8], seed: &[u8], bits| {
        import(b, srk_b.handle, key, public, blob, seed, bits).err()
    };
    // A damaged blob, another object's public area, another seed.
    let mut bad = d.blob.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(
        imp(&mut b, &d.key, &item.public, &bad, &d.seed, 128),
        Some(RC_INTEGRITY_P3)
    );
    let other_public = sealed(SEALED, &[0x11; 32]);
    assert_eq!(
        imp(&mut b, &d.key, &other_public, &d.blob, &d.seed, 128),
        Some(RC_INTEGRITY_P3)
    );
    // A seed for another parent decrypts (ECDH always does) to another seed.
    // (A policy session starts again after each authorization it gave.)
    let s = dup_session(&mut a);
    let d2 = duplicate(&mut a, policy(s), item.handle, srk_a.handle, &[], 128).unwrap();
    assert_eq!(
        imp(&mut b, &d.key, &item.public, &d.blob, &d2.seed, 128),
        Some(RC_INTEGRITY_P3)
    );
    // The wrong inner key: the outer layer holds, the inner one does not
    // (its integrity size decrypts to noise: SIZE, as in the reference, or
    // INTEGRITY when the noise is a plausible size).
    let mut wrong = d.key.clone();
    wrong[0] ^= 1;
    let got = imp(&mut b, &wrong, &item.public, &d.blob, &d.seed, 128);
    assert!(
        matches!(got, Some(RC_INTEGRITY_P3 | RC_SIZE_P3)),
        "{got:x?}"
    );
    // A point that is not on the curve.
    let mut seed = d.seed.clone();
    *seed.last_mut().unwrap() ^= 1;
    assert_eq!(
        imp(&mut b, &d.key, &item.public, &d.blob, &seed, 128),
        Some(RC_ECC_POINT_P4)
    );
    // fixedTPM / fixedParent objects are never imported.
    let fixed = sealed(SEALED | FIXED_TPM | FIXED_PARENT, &duplicate_policy());
    assert_eq!(
        imp(&mut b, &d.key, &fixed, &d.blob, &d.seed, 128),
        Some(RC_ATTRIBUTES_P2)
    );
    // The key must fit the algorithm; no key without one.
    assert_eq!(
        imp(&mut b, &d.key[..8], &item.public, &d.blob, &d.seed, 128),
        Some(RC_SIZE_P1)
    );
    assert_eq!(
        imp(&mut b, &d.key, &item.public, &d.blob, &d.seed, 0),
        Some(RC_SIZE_P1)
    );
    // encryptedDuplication objects need both wrappers.
    let enc_public = sealed(SEALED | ENCRYPTED_DUPLICATION, &duplicate_policy());
    assert_eq!(
        imp(&mut b, &[], &enc_public, &d.blob, &d.seed, 0),
        Some(RC_ATTRIBUTES_P1)
    );
    assert_eq!(
        imp(&mut b, &d.key, &enc_public, &d.blob, &[], 128),
        Some(RC_ATTRIBUTES_P4)
    );
    // The parent must be a storage key.
    let (private, public) = create_sealed(&mut b, srk_b.handle, &sealed(SEALED, &[])).unwrap();
    let not_parent = load(&mut b, srk_b.handle, &private, &public).unwrap();
    assert_eq!(
        import(
            &mut b,
            not_parent.handle,
            &d.key,
            &item.public,
            &d.blob,
            &d.seed,
            128
        )
        .err(),
        Some(RC_TYPE_H1)
    );
    // After all that, the real thing still imports.
    import(
        &mut b,
        srk_b.handle,
        &d.key,
        &item.public,
        &d.blob,
        &d.seed,
        128,
    )
    .unwrap();
}

#[test]
fn rewrap_moves_the_outer_wrapper_between_parents() {
    let mut t = Tpm::started();
    let old = create_primary(&mut t, &ecc_storage(b"old"));
    let new = create_primary(&mut t, &rsa_storage());
    let item = sealed_object(&mut t, old.handle, SEALED, &duplicate_policy());
    let s = dup_session(&mut t);
    let d = duplicate(&mut t, policy(s), item.handle, old.handle, &[], 128).unwrap();
    flush(&mut t, item.handle);
    // A seed goes with an outer wrapper, and only then.
    assert_eq!(
        rewrap(&mut t, RH_NULL, new.handle, &d.blob, &item.name, &d.seed).err(),
        Some(RC_HANDLE_H1)
    );
    assert_eq!(
        rewrap(&mut t, old.handle, new.handle, &d.blob, &item.name, &[]).err(),
        Some(RC_HANDLE_H1)
    );
    // The name is bound by the outer integrity; the seed must decrypt.
    let mut other = item.name.clone();
    other[5] ^= 1;
    assert_eq!(
        rewrap(&mut t, old.handle, new.handle, &d.blob, &other, &d.seed).err(),
        Some(RC_INTEGRITY_P1)
    );
    assert_eq!(
        rewrap(
            &mut t,
            old.handle,
            new.handle,
            &d.blob,
            &item.name,
            &[0, 1, 2]
        )
        .err(),
        Some(RC_VALUE_P3)
    );
    // Only storage keys are parents.
    assert_eq!(
        rewrap(&mut t, old.handle, RH_OWNER, &d.blob, &item.name, &d.seed).err(),
        Some(0x284) // TPMI_DH_OBJECT+: a hierarchy is no value of it (VALUE, handle 2)
    );
    let (blob, seed) =
        rewrap(&mut t, old.handle, new.handle, &d.blob, &item.name, &d.seed).unwrap();
    let private = import(&mut t, new.handle, &d.key, &item.public, &blob, &seed, 128).unwrap();
    let moved = load(&mut t, new.handle, &private, &item.public).unwrap();
    assert_eq!(unseal(&mut t, moved.handle).unwrap(), SECRET);
    flush(&mut t, moved.handle);
    // To NULL: the inner-wrapped payload alone, imported without a seed.
    let (bare, no_seed) =
        rewrap(&mut t, old.handle, RH_NULL, &d.blob, &item.name, &d.seed).unwrap();
    assert!(no_seed.is_empty());
    let private = import(&mut t, new.handle, &d.key, &item.public, &bare, &[], 128).unwrap();
    let moved = load(&mut t, new.handle, &private, &item.public).unwrap();
    assert_eq!(unseal(&mut t, moved.handle).unwrap(), SECRET);
}
