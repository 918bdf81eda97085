//! Objects, hierarchies, contexts, dictionary-attack protection and policy
//! through the engine with raw command bytes: what tpm2-tools cannot reach
//! (tampered blobs, slot limits, lifecycle events, exact response codes with
//! their positions).
//!
//! Expected codes follow the TPM 2.0 Library spec, Part 3 detailed actions (the
//! reference code). A format-one code carries its position (Part 2, 6.6, table 16):
//! parameter n adds `0x040 | n << 8`, handle n adds `n << 8`, session n adds
//! `0x800 | n << 8`. Format-zero codes and warnings carry none.
//!
//! Tests marked `//! document a deviation of the engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

use sha2::{Digest, Sha256};

// Command codes (Part 2, TPM_CC).
const CC_EVICT_CONTROL: u32 = 0x120;
const CC_HIERARCHY_CONTROL: u32 = 0x121;
const CC_CLEAR_CONTROL: u32 = 0x127;
const CC_DA_LOCK_RESET: u32 = 0x139;
const CC_DA_PARAMETERS: u32 = 0x13A;
const CC_READ_PUBLIC: u32 = 0x173;
const CC_TEST_PARMS: u32 = 0x18A;
const CC_CREATE_LOADED: u32 = 0x191;

// TPMA_OBJECT (Part 2, 8.3).
const ST_CLEAR: u32 = 1 << 2;

/// A derived signing key: its secret comes from the parent, so
/// sensitiveDataOrigin is CLEAR (Part 3, TPM2_CreateLoaded).
const DERIVED_SIGNER: u32 = FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH | NO_DA | SIGN;
/// A derivation parent: restricted decryption keyed-hash object (an SRK's attributes).
const DERIVATION_PARENT: u32 = STORAGE;
/// A sealed data object authorized by password, not DA-protected.
const SEALED: u32 = FIXED_TPM | FIXED_PARENT | USER_WITH_AUTH | NO_DA;

// TPM_ALG_ID (Part 2, 6.3) and TPM_ECC_CURVE.
const ALG_XOR: u16 = 0x000A;
const ALG_KDF1_SP800_108: u16 = 0x0022;

// Response codes, with the position the spec attaches.
/// TPM_RC_DISABLED (format zero).
const RC_DISABLED: u32 = 0x120;
/// TPM_RC_AUTH_FAIL (0x08E) without a position (ClearControl).
const RC_AUTH_FAIL: u32 = 0x08E;
/// TPM_RC_HIERARCHY (0x085) + handle 1.
const RC_HIERARCHY_H1: u32 = 0x185;
/// TPM_RC_ATTRIBUTES (0x082) + handle 2 (EvictControl's objectHandle).
const RC_ATTRIBUTES_H2: u32 = 0x282;
/// TPM_RC_TYPE (0x08A) + parameter 2.
const RC_TYPE_P2: u32 = 0x2CA;
/// TPM_RC_LOCKOUT (warning).
const RC_LOCKOUT: u32 = 0x921;

// ---------------------------------------------------------------------------
// Command building and response parsing.

/// A command whose handles are all authorized by one password session.
fn run_pw(t: &mut Tpm, cc: u32, handle: u32, password: &[u8], params: &[u8]) -> u32 {
    rc(&t.run(&sessions_cmd(cc, &[handle], &[pw(password)], params)))
}

/// Ok with the response if it succeeded, else its code.
fn ok(r: Vec<u8>) -> Result<Vec<u8>, u32> {
    match rc(&r) {
        0 => Ok(r),
        e => Err(e),
    }
}

/// The handle (0 when `has_handle` is false) and parameters of a success response.
fn split(r: &[u8], has_handle: bool) -> (u32, Vec<u8>) {
    let mut rd = Rd(&r[10..]);
    let handle = if has_handle { rd.u32() } else { 0 };
    let params = if r[..2] == [0x80, 0x02] {
        let n = rd.u32() as usize;
        rd.take(n)
    } else {
        rd.0
    };
    (handle, params.to_vec())
}

// ---------------------------------------------------------------------------
// Templates (TPMT_PUBLIC).

/// An ECC P-256 storage key with AES-128-CFB; `unique_x` tells SRKs apart.
fn srk_template(unique_x: &[u8]) -> Vec<u8> {
    let parms = u16s(&[ALG_AES, 128, ALG_CFB, ALG_NULL, ECC_NIST_P256, ALG_NULL]);
    public_with_policy(ALG_ECC, STORAGE, &[], &[&parms, &b2(unique_x), &b2(&[])])
}

/// TPMS_ECC_PARMS of an ECDSA-SHA256 P-256 signing key.
fn ecc_signing_parms() -> Vec<u8> {
    u16s(&[ALG_NULL, ALG_ECDSA, ALG_SHA256, ECC_NIST_P256, ALG_NULL])
}

fn ecc_key_template(attrs: u32) -> Vec<u8> {
    public_with_policy(
        ALG_ECC,
        attrs,
        &[],
        &[&ecc_signing_parms(), &b2(&[]), &b2(&[])],
    )
}

/// An ECC signing key whose unique field is TPMS_DERIVE {label, context}.
fn derived_template(attrs: u32, label: &[u8], context: &[u8]) -> Vec<u8> {
    public_with_policy(
        ALG_ECC,
        attrs,
        &[],
        &[&ecc_signing_parms(), &b2(label), &b2(context)],
    )
}

/// A keyed-hash derivation parent: XOR with SHA-256 and KDF1_SP800_108.
fn derivation_parent_template() -> Vec<u8> {
    let scheme = u16s(&[ALG_XOR, ALG_SHA256, ALG_KDF1_SP800_108]);
    public_with_policy(ALG_KEYEDHASH, DERIVATION_PARENT, &[], &[&scheme, &b2(&[])])
}

/// A sealed data object (keyed hash, no scheme).
fn sealed_template(attrs: u32, policy: &[u8]) -> Vec<u8> {
    public_with_policy(
        ALG_KEYEDHASH,
        attrs,
        policy,
        &[&ALG_NULL.to_be_bytes(), &b2(&[])],
    )
}

/// TPM2B_SENSITIVE_CREATE.
fn sensitive(user_auth: &[u8], data: &[u8]) -> Vec<u8> {
    b2(&[b2(user_auth), b2(data)].concat())
}

// ---------------------------------------------------------------------------
// Commands.

#[derive(Debug, Clone)]
struct Obj {
    handle: u32,
    /// TPMT_PUBLIC.
    public: Vec<u8>,
    name: Vec<u8>,
}

fn create_primary(t: &mut Tpm, hierarchy: u32, auth: &[u8], template: &[u8]) -> Result<Obj, u32> {
    let c = create_primary_raw(t, hierarchy, auth, &[], template)?;
    Ok(Obj {
        handle: c.handle,
        public: c.public,
        name: c.name,
    })
}

/// Create under `parent` (empty authValue): (outPrivate, outPublic).
fn create(
    t: &mut Tpm,
    parent: u32,
    user_auth: &[u8],
    data: &[u8],
    template: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let mut p = sensitive(user_auth, data);
    p.extend_from_slice(&b2(template));
    p.extend_from_slice(&b2(&[]));
    p.extend_from_slice(&0u32.to_be_bytes());
    let r = ok(t.run(&sessions_cmd(CC_CREATE, &[parent], &[pw(&[])], &p)))?;
    let (_, params) = split(&r, false);
    let mut rd = Rd(&params);
    let private = rd.b2().to_vec();
    let public = rd.b2().to_vec();
    Ok((private, public))
}

fn load(t: &mut Tpm, parent: u32, private: &[u8], public: &[u8]) -> Result<Obj, u32> {
    let p = [b2(private), b2(public)].concat();
    let r = ok(t.run(&sessions_cmd(CC_LOAD, &[parent], &[pw(&[])], &p)))?;
    let (handle, params) = split(&r, true);
    let mut rd = Rd(&params);
    let name = rd.b2().to_vec();
    assert!(rd.0.is_empty());
    Ok(Obj {
        handle,
        public: public.to_vec(),
        name,
    })
}

/// CreateLoaded under `parent` (empty authValue): the object and outPrivate.
fn create_loaded(
    t: &mut Tpm,
    parent: u32,
    in_sensitive: &[u8],
    template: &[u8],
) -> Result<(Obj, Vec<u8>), u32> {
    let p = [in_sensitive.to_vec(), b2(template)].concat();
    let r = ok(t.run(&sessions_cmd(CC_CREATE_LOADED, &[parent], &[pw(&[])], &p)))?;
    let (handle, params) = split(&r, true);
    let mut rd = Rd(&params);
    let private = rd.b2().to_vec();
    let public = rd.b2().to_vec();
    let name = rd.b2().to_vec();
    assert!(rd.0.is_empty());
    Ok((
        Obj {
            handle,
            public,
            name,
        },
        private,
    ))
}

/// ReadPublic: (TPMT_PUBLIC, name).
fn read_public(t: &mut Tpm, handle: u32) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let r = ok(t.run(&no_auth(CC_READ_PUBLIC, &[handle], &[])))?;
    let (_, params) = split(&r, false);
    let mut rd = Rd(&params);
    let public = rd.b2().to_vec();
    let name = rd.b2().to_vec();
    Ok((public, name))
}

fn unseal(t: &mut Tpm, item: u32, session: Vec<u8>) -> Result<Vec<u8>, u32> {
    let r = ok(t.run(&sessions_cmd(CC_UNSEAL, &[item], &[session], &[])))?;
    let (_, params) = split(&r, false);
    Ok(Rd(&params).b2().to_vec())
}

fn flush(t: &mut Tpm, handle: u32) -> u32 {
    rc(&t.run(&plain(CC_FLUSH_CONTEXT, &handle.to_be_bytes())))
}

/// ContextSave: the TPMS_CONTEXT (sequence, savedHandle, hierarchy, blob).
fn context_save(t: &mut Tpm, handle: u32) -> Vec<u8> {
    let r = t.run(&no_auth(CC_CONTEXT_SAVE, &[handle], &[]));
    assert_eq!(rc(&r), 0, "ContextSave of {handle:#x}");
    split(&r, false).1
}

fn context_load(t: &mut Tpm, context: &[u8]) -> Result<u32, u32> {
    let r = ok(t.run(&plain(CC_CONTEXT_LOAD, context)))?;
    Ok(split(&r, true).0)
}

fn evict(t: &mut Tpm, auth: u32, object: u32, persistent: u32) -> u32 {
    rc(&t.run(&sessions_cmd(
        CC_EVICT_CONTROL,
        &[auth, object],
        &[pw(&[])],
        &persistent.to_be_bytes(),
    )))
}

/// GetCapability(TPM_CAP_HANDLES) of the handle type of `first`.
fn handles(t: &mut Tpm, first: u32) -> Vec<u32> {
    let mut p = 1u32.to_be_bytes().to_vec();
    p.extend_from_slice(&first.to_be_bytes());
    p.extend_from_slice(&64u32.to_be_bytes());
    let r = t.run(&plain(CC_GET_CAPABILITY, &p));
    assert_eq!(rc(&r), 0);
    let (_, params) = split(&r, false);
    let mut rd = Rd(&params);
    assert_eq!(rd.take(1), [0], "moreData");
    assert_eq!(rd.u32(), 1, "TPM_CAP_HANDLES");
    let n = rd.u32();
    (0..n).map(|_| rd.u32()).collect()
}

fn power_cycle_with(t: &mut Tpm, shutdown_type: u16) {
    assert_eq!(rc(&t.run(&shutdown(shutdown_type))), 0);
    t.power_cycle();
    assert_eq!(rc(&t.run(&startup(0))), 0);
}

/// TPM Reset: Shutdown(CLEAR), _TPM_Init, Startup(CLEAR).
fn tpm_reset(t: &mut Tpm) {
    power_cycle_with(t, 0);
}

/// TPM Restart: Shutdown(STATE), _TPM_Init, Startup(CLEAR).
fn tpm_restart(t: &mut Tpm) {
    power_cycle_with(t, 1);
}

/// An unbound, unsalted session without symmetric (SHA-256): (handle, nonceTPM).
fn start_session(t: &mut Tpm, kind: u8) -> (u32, Vec<u8>) {
    let mut p = RH_NULL.to_be_bytes().to_vec(); // tpmKey
    p.extend_from_slice(&RH_NULL.to_be_bytes()); // bind
    p.extend_from_slice(&b2(&[0x5C; 16])); // nonceCaller
    p.extend_from_slice(&b2(&[])); // encryptedSalt
    p.push(kind);
    p.extend_from_slice(&u16s(&[ALG_NULL, ALG_SHA256]));
    let r = t.run(&cmd(0x8001, CC_START_AUTH_SESSION, &p));
    assert_eq!(rc(&r), 0);
    let (handle, params) = split(&r, true);
    (handle, Rd(&params).b2().to_vec())
}

fn policy_command_code(t: &mut Tpm, session: u32, code: u32) -> u32 {
    rc(&t.run(&no_auth(
        CC_POLICY_COMMAND_CODE,
        &[session],
        &code.to_be_bytes(),
    )))
}

fn policy_get_digest(t: &mut Tpm, session: u32) -> Vec<u8> {
    let r = t.run(&no_auth(CC_POLICY_GET_DIGEST, &[session], &[]));
    assert_eq!(rc(&r), 0);
    Rd(&split(&r, false).1).b2().to_vec()
}

/// TPMS_AUTH_COMMAND of a session with continueSession and the given HMAC.
fn session_auth(handle: u32, nonce_caller: &[u8], mac: &[u8]) -> Vec<u8> {
    let mut a = handle.to_be_bytes().to_vec();
    a.extend_from_slice(&b2(nonce_caller));
    a.push(0x01);
    a.extend_from_slice(&b2(mac));
    a
}

/// The command HMAC of an unbound, unsalted session without PolicyAuthValue:
/// the key is empty; HMAC(cpHash || nonceCaller || nonceTPM || attributes).
fn unkeyed_hmac(
    cc: u32,
    names: &[u8],
    params: &[u8],
    nonce_caller: &[u8],
    nonce_tpm: &[u8],
) -> Vec<u8> {
    let cp_hash = Sha256::digest([&cc.to_be_bytes()[..], names, params].concat());
    hmac256(&[], &[&cp_hash, nonce_caller, nonce_tpm, &[0x01]])
}

// ---------------------------------------------------------------------------
// 1. Derived objects (CreateLoaded under a derivation parent).

fn derive(t: &mut Tpm, parent: u32, attrs: u32, label: &[u8], context: &[u8]) -> Result<Obj, u32> {
    create_loaded(
        t,
        parent,
        &sensitive(&[], &[]),
        &derived_template(attrs, label, context),
    )
    .map(|(o, _)| o)
}

/// The ECC point at the end of an outPublic: two 32-octet coordinates.
fn ecc_point(public: &[u8]) -> (&[u8], &[u8]) {
    let tail = &public[public.len() - 68..];
    assert_eq!(&tail[..2], &[0, 32], "x is a P-256 coordinate");
    assert_eq!(&tail[34..36], &[0, 32], "y is a P-256 coordinate");
    (&tail[2..34], &tail[36..])
}

#[test]
fn derived_keys_are_a_function_of_label_and_context() {
    let mut t = Tpm::started();
    let parent = create_primary(&mut t, RH_OWNER, &[], &derivation_parent_template()).unwrap();

    let a = derive(
        &mut t,
        parent.handle,
        DERIVED_SIGNER,
        b"label",
        b"context-1",
    )
    .unwrap();
    let b = derive(
        &mut t,
        parent.handle,
        DERIVED_SIGNER,
        b"label",
        b"context-1",
    )
    .unwrap();
    assert_eq!(a.public, b.public, "same label and context: same key");
    assert_eq!(a.name, b.name);
    assert_ne!(a.handle, b.handle);
    // The outPublic carries the generated point, not the TPMS_DERIVE.
    let (x, y) = ecc_point(&a.public);
    assert_ne!(x, &[0u8; 32][..]);
    assert_ne!(y, &[0u8; 32][..]);
    assert_eq!(
        read_public(&mut t, a.handle).unwrap(),
        (a.public.clone(), a.name.clone())
    );
    assert_eq!(flush(&mut t, a.handle), 0);
    assert_eq!(flush(&mut t, b.handle), 0);

    let c = derive(
        &mut t,
        parent.handle,
        DERIVED_SIGNER,
        b"label",
        b"context-2",
    )
    .unwrap();
    assert_ne!(
        ecc_point(&c.public),
        ecc_point(&a.public),
        "another context: another key"
    );
    assert_eq!(flush(&mut t, c.handle), 0);
    let d = derive(
        &mut t,
        parent.handle,
        DERIVED_SIGNER,
        b"label-2",
        b"context-1",
    )
    .unwrap();
    assert_ne!(
        ecc_point(&d.public),
        ecc_point(&a.public),
        "another label: another key"
    );
    assert_eq!(flush(&mut t, d.handle), 0);

    // The parent is a primary object, so the derived key comes back after a
    // TPM Reset.
    tpm_reset(&mut t);
    let parent2 = create_primary(&mut t, RH_OWNER, &[], &derivation_parent_template()).unwrap();
    assert_eq!(parent2.name, parent.name);
    let again = derive(
        &mut t,
        parent2.handle,
        DERIVED_SIGNER,
        b"label",
        b"context-1",
    )
    .unwrap();
    assert_eq!(again.public, a.public);
}

#[test]
fn derived_key_needs_fixed_parent_and_the_parents_fixed_tpm() {
    let mut t = Tpm::started();
    let parent = create_primary(&mut t, RH_OWNER, &[], &derivation_parent_template()).unwrap();
    // PublicAttributesValidation: the parent is fixedTPM, so fixedParent must
    // equal fixedTPM; a derived object must be fixedParent and have its
    // parent's fixedTPM. RcSafeAddToResult(.., RC_CreateLoaded_inPublic).
    for (what, attrs) in [
        ("fixedParent clear", DERIVED_SIGNER & !FIXED_PARENT),
        ("fixedTPM clear", DERIVED_SIGNER & !FIXED_TPM),
        ("both clear", DERIVED_SIGNER & !(FIXED_TPM | FIXED_PARENT)),
    ] {
        assert_eq!(
            derive(&mut t, parent.handle, attrs, b"l", b"c").unwrap_err(),
            RC_ATTRIBUTES_P2,
            "{what}: TPM_RC_ATTRIBUTES on inPublic"
        );
    }
    // Nothing was loaded by the failures: the two remaining slots are free.
    assert_eq!(handles(&mut t, 0x8000_0000), vec![parent.handle]);
}

#[test]
fn derived_key_with_sensitive_data_origin_is_refused() {
    let mut t = Tpm::started();
    let parent = create_primary(&mut t, RH_OWNER, &[], &derivation_parent_template()).unwrap();
    // Part 3, TPM2_CreateLoaded: "sensitiveDataOrigin has to be CLEAR in a
    // derived object": `return TPM_RCS_ATTRIBUTES;` (no parameter number).
    assert_eq!(
        derive(
            &mut t,
            parent.handle,
            DERIVED_SIGNER | SENSITIVE_DATA_ORIGIN,
            b"l",
            b"c"
        )
        .unwrap_err(),
        RC_ATTRIBUTES
    );
}

#[test]
fn derived_rsa_key_is_refused() {
    let mut t = Tpm::started();
    let parent = create_primary(&mut t, RH_OWNER, &[], &derivation_parent_template()).unwrap();
    // Part 3, TPM2_CreateLoaded: "Don't derive RSA keys":
    // TPM_RCS_TYPE + RC_CreateLoaded_inPublic.
    let parms = [
        u16s(&[ALG_NULL, ALG_RSASSA, ALG_SHA256, 2048]),
        0u32.to_be_bytes().to_vec(),
    ]
    .concat();
    let template = public_with_policy(
        ALG_RSA,
        DERIVED_SIGNER,
        &[],
        &[&parms, &b2(b"l"), &b2(b"c")],
    );
    assert_eq!(
        create_loaded(&mut t, parent.handle, &sensitive(&[], &[]), &template).unwrap_err(),
        RC_TYPE_P2
    );
}

#[test]
fn derived_object_has_no_out_private() {
    let mut t = Tpm::started();
    let parent = create_primary(&mut t, RH_OWNER, &[], &derivation_parent_template()).unwrap();
    // Part 3, TPM2_CreateLoaded: "if this is not a Primary key and not a
    // derived key, then return the sensitive area ... else
    // out->outPrivate.t.size = 0".
    let (_, private) = create_loaded(
        &mut t,
        parent.handle,
        &sensitive(&[], &[]),
        &derived_template(DERIVED_SIGNER, b"l", b"c"),
    )
    .unwrap();
    assert!(private.is_empty(), "outPrivate of a derived object");
}

#[test]
fn derivation_label_and_context_may_come_in_in_sensitive_data() {
    let mut t = Tpm::started();
    let parent = create_primary(&mut t, RH_OWNER, &[], &derivation_parent_template()).unwrap();
    let template = derived_template(DERIVED_SIGNER, b"label", b"context");
    let (plain_key, _) =
        create_loaded(&mut t, parent.handle, &sensitive(&[], &[]), &template).unwrap();
    assert_eq!(flush(&mut t, plain_key.handle), 0);
    // Part 3, TPM2_CreateLoaded / SetLabelAndContext(): inSensitive.data may
    // hold a TPMS_DERIVE whose non-empty label and context replace those of
    // the template. The same values in both places give the same key.
    let data = [b2(b"label"), b2(b"context")].concat();
    let (key, _) = create_loaded(&mut t, parent.handle, &sensitive(&[], &data), &template).unwrap();
    assert_eq!(key.public, plain_key.public);
}

// ---------------------------------------------------------------------------
// 2. Private blobs.

#[test]
fn private_blob_is_bound_to_its_parent_and_its_public_area() {
    let mut t = Tpm::started();
    let srk = create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    let template = sealed_template(SEALED, &[]);
    let (private, public) = create(&mut t, srk.handle, &[], b"sealed secret", &template).unwrap();
    let obj = load(&mut t, srk.handle, &private, &public).unwrap();
    assert_eq!(
        unseal(&mut t, obj.handle, pw(&[])).unwrap(),
        b"sealed secret"
    );
    assert_eq!(flush(&mut t, obj.handle), 0);

    // TPM2B_PRIVATE contents: TPM2B_DIGEST integrity (SHA-256) || encSensitive.
    assert_eq!(
        &private[..2],
        &[0, 32],
        "outer HMAC of the parent's nameAlg"
    );
    assert!(private.len() > 34);
    for i in 2..private.len() {
        let mut bad = private.clone();
        bad[i] ^= 0x01;
        let part = if i < 34 {
            "integrity HMAC"
        } else {
            "encrypted sensitive"
        };
        assert_eq!(
            load(&mut t, srk.handle, &bad, &public).unwrap_err(),
            RC_INTEGRITY_P1,
            "byte {i} ({part}) flipped: TPM_RC_INTEGRITY on inPrivate"
        );
    }

    // Another SRK (another unique, so another seed) cannot open it.
    let other = create_primary(&mut t, RH_OWNER, &[], &srk_template(b"another SRK")).unwrap();
    assert_ne!(other.name, srk.name);
    assert_eq!(
        load(&mut t, other.handle, &private, &public).unwrap_err(),
        RC_INTEGRITY_P1,
        "wrong parent"
    );
    assert_eq!(flush(&mut t, other.handle), 0);

    // The HMAC covers the Name: any change to the public area breaks it.
    let altered_policy = sealed_template(SEALED, &[0x5A; 32]);
    assert_eq!(
        load(&mut t, srk.handle, &private, &altered_policy).unwrap_err(),
        RC_INTEGRITY_P1,
        "another authPolicy: another Name"
    );
    let altered_attrs = sealed_template(SEALED & !NO_DA, &[]);
    assert_eq!(
        load(&mut t, srk.handle, &private, &altered_attrs).unwrap_err(),
        RC_INTEGRITY_P1,
        "other attributes: another Name"
    );
    // The genuine pair still loads.
    let again = load(&mut t, srk.handle, &private, &public).unwrap();
    assert_eq!(again.name, obj.name);
}

// ---------------------------------------------------------------------------
// 3. Object slots.

#[test]
fn three_object_slots_flush_and_startup() {
    let mut t = Tpm::started();
    let srk = create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    let (private, public) =
        create(&mut t, srk.handle, &[], b"x", &sealed_template(SEALED, &[])).unwrap();
    let a = load(&mut t, srk.handle, &private, &public).unwrap();
    let b = load(&mut t, srk.handle, &private, &public).unwrap();
    assert_eq!(a.name, b.name, "the same object may be loaded twice");
    assert_eq!(
        load(&mut t, srk.handle, &private, &public).unwrap_err(),
        RC_OBJECT_MEMORY,
        "a fourth object"
    );
    assert_eq!(
        create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap_err(),
        RC_OBJECT_MEMORY
    );
    let mut loaded = handles(&mut t, 0x8000_0000);
    loaded.sort_unstable();
    let mut expected = vec![srk.handle, a.handle, b.handle];
    expected.sort_unstable();
    assert_eq!(loaded, expected);

    assert_eq!(flush(&mut t, a.handle), 0);
    assert_eq!(flush(&mut t, a.handle), RC_HANDLE_P1, "already flushed");
    assert_eq!(read_public(&mut t, a.handle).unwrap_err(), RC_REFERENCE_H0);
    let c = load(&mut t, srk.handle, &private, &public).unwrap();
    assert_eq!(c.name, a.name);

    // Transient objects do not survive _TPM_Init: Startup(CLEAR) after
    // Shutdown finds every slot free.
    tpm_reset(&mut t);
    for h in [srk.handle, b.handle, c.handle] {
        assert_eq!(read_public(&mut t, h).unwrap_err(), RC_REFERENCE_H0);
    }
    assert!(handles(&mut t, 0x8000_0000).is_empty());
    for _ in 0..3 {
        create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    }
    assert_eq!(
        create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap_err(),
        RC_OBJECT_MEMORY
    );
}

// ---------------------------------------------------------------------------
// 4. Contexts.

#[test]
fn object_context_round_trip_and_tampering() {
    let mut t = Tpm::started();
    let srk = create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    let (private, public) = create(
        &mut t,
        srk.handle,
        &[],
        b"in context",
        &sealed_template(SEALED, &[]),
    )
    .unwrap();
    let obj = load(&mut t, srk.handle, &private, &public).unwrap();
    let ctx = context_save(&mut t, obj.handle);
    assert_eq!(
        &ctx[8..12],
        &0x8000_0000u32.to_be_bytes(),
        "savedHandle of an object"
    );
    assert_eq!(&ctx[12..16], &RH_OWNER.to_be_bytes(), "hierarchy");
    assert_eq!(
        &ctx[18..20],
        &[0, 32],
        "blob starts with a SHA-256 integrity"
    );
    assert_eq!(flush(&mut t, obj.handle), 0);

    let h = context_load(&mut t, &ctx).unwrap();
    assert_eq!(
        read_public(&mut t, h).unwrap(),
        (public.clone(), obj.name.clone())
    );
    assert_eq!(unseal(&mut t, h, pw(&[])).unwrap(), b"in context");
    // An object context may be loaded again.
    let h2 = context_load(&mut t, &ctx).unwrap();
    assert_ne!(h2, h);
    assert_eq!(read_public(&mut t, h2).unwrap().1, obj.name);
    assert_eq!(flush(&mut t, h), 0);
    assert_eq!(flush(&mut t, h2), 0);

    let last = ctx.len() - 1;
    for (what, i, mask) in [
        ("sequence", 7, 0x01),
        ("savedHandle 0x80000000 -> 0x80000002 (stClear)", 11, 0x02),
        ("hierarchy owner -> endorsement", 15, 0x0A),
        ("integrity HMAC", 20, 0x80),
        ("first encrypted octet", 52, 0x01),
        ("last encrypted octet", last, 0x01),
    ] {
        let mut bad = ctx.clone();
        bad[i] ^= mask;
        assert_eq!(
            context_load(&mut t, &bad).unwrap_err(),
            RC_INTEGRITY_P1,
            "{what} altered"
        );
    }
    assert_eq!(handles(&mut t, 0x8000_0000), vec![srk.handle]);
}

#[test]
fn object_contexts_follow_the_hierarchy_proofs_and_resets() {
    let mut t = Tpm::started();
    // TPM2_Clear: a new shProof; owner contexts saved before no longer verify.
    let key = create_primary(&mut t, RH_OWNER, &[], &ecc_key_template(SIGNER)).unwrap();
    let ctx = context_save(&mut t, key.handle);
    assert_eq!(flush(&mut t, key.handle), 0);
    let h = context_load(&mut t, &ctx).unwrap();
    assert_eq!(flush(&mut t, h), 0);
    assert_eq!(run_pw(&mut t, CC_CLEAR, RH_LOCKOUT, &[], &[]), 0);
    assert_eq!(
        context_load(&mut t, &ctx).unwrap_err(),
        RC_INTEGRITY_P1,
        "owner context after TPM2_Clear"
    );

    // TPM Restart keeps ordinary contexts (owner and null hierarchy alike) but
    // not those of stClear objects (savedHandle 0x80000002).
    let owner = create_primary(&mut t, RH_OWNER, &[], &ecc_key_template(SIGNER)).unwrap();
    let null = create_primary(&mut t, RH_NULL, &[], &ecc_key_template(SIGNER)).unwrap();
    let st_clear =
        create_primary(&mut t, RH_OWNER, &[], &ecc_key_template(SIGNER | ST_CLEAR)).unwrap();
    let owner_ctx = context_save(&mut t, owner.handle);
    let null_ctx = context_save(&mut t, null.handle);
    let st_clear_ctx = context_save(&mut t, st_clear.handle);
    assert_eq!(&null_ctx[12..16], &RH_NULL.to_be_bytes());
    assert_eq!(&st_clear_ctx[8..12], &0x8000_0002u32.to_be_bytes());
    tpm_restart(&mut t);
    assert_eq!(
        context_load(&mut t, &st_clear_ctx).unwrap_err(),
        RC_INTEGRITY_P1,
        "stClear context after TPM Restart"
    );
    let h = context_load(&mut t, &owner_ctx).unwrap();
    assert_eq!(read_public(&mut t, h).unwrap().1, owner.name);
    assert_eq!(flush(&mut t, h), 0);
    let h = context_load(&mut t, &null_ctx).unwrap();
    assert_eq!(read_public(&mut t, h).unwrap().1, null.name);
    assert_eq!(flush(&mut t, h), 0);

    // TPM Reset: a new null proof, and totalResetCount is bound into every
    // object context.
    tpm_reset(&mut t);
    assert_eq!(
        context_load(&mut t, &null_ctx).unwrap_err(),
        RC_INTEGRITY_P1,
        "null-hierarchy context after TPM Reset"
    );
    assert_eq!(
        context_load(&mut t, &owner_ctx).unwrap_err(),
        RC_INTEGRITY_P1,
        "owner context after TPM Reset"
    );
}

#[test]
fn object_contexts_of_a_disabled_hierarchy_do_not_load() {
    let mut t = Tpm::started();
    let key = create_primary(&mut t, RH_OWNER, &[], &ecc_key_template(SIGNER)).unwrap();
    let ctx = context_save(&mut t, key.handle);
    assert_eq!(flush(&mut t, key.handle), 0);
    // HierarchyControl(platform, TPM_RH_OWNER, NO) flushes and disables.
    let mut p = RH_OWNER.to_be_bytes().to_vec();
    p.push(0);
    assert_eq!(
        run_pw(&mut t, CC_HIERARCHY_CONTROL, RH_PLATFORM, &[], &p),
        0
    );
    assert_eq!(
        context_load(&mut t, &ctx).unwrap_err(),
        0x1C5,
        "TPM_RC_HIERARCHY for the context parameter"
    );
}

#[test]
fn session_context_loads_once() {
    let mut t = Tpm::started();
    let (s, _) = start_session(&mut t, SE_HMAC);
    let ctx = context_save(&mut t, s);
    assert_eq!(
        &ctx[8..12],
        &s.to_be_bytes(),
        "savedHandle is the session handle"
    );
    assert_eq!(
        &ctx[12..16],
        &RH_NULL.to_be_bytes(),
        "sessions use TPM_RH_NULL"
    );
    assert!(handles(&mut t, 0x0200_0000).is_empty(), "no longer loaded");
    assert_eq!(handles(&mut t, 0x0300_0000), vec![s], "listed as saved");

    assert_eq!(context_load(&mut t, &ctx), Ok(s));
    assert_eq!(handles(&mut t, 0x0200_0000), vec![s]);
    // Part 3, TPM2_ContextLoad: the session is no longer saved, so the
    // sequence check fails: TPM_RCS_HANDLE + RC_ContextLoad_context.
    assert_eq!(
        context_load(&mut t, &ctx).unwrap_err(),
        RC_HANDLE_P1,
        "second load"
    );
    assert_eq!(flush(&mut t, s), 0);
    assert_eq!(
        context_load(&mut t, &ctx).unwrap_err(),
        RC_HANDLE_P1,
        "after flush"
    );
}

// ---------------------------------------------------------------------------
// 5. EvictControl.

#[test]
fn evict_control_ranges_attributes_and_removal() {
    let mut t = Tpm::started();
    let srk = create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    // Owner authorization may only use 0x81000000..=0x817FFFFF:
    // TPM_RCS_RANGE + RC_EvictControl_persistentHandle.
    assert_eq!(
        evict(&mut t, RH_OWNER, srk.handle, 0x8180_0000),
        RC_RANGE_P1
    );
    // A temporary (null-hierarchy) object cannot be persistent:
    // TPM_RCS_ATTRIBUTES + RC_EvictControl_objectHandle.
    let temp = create_primary(&mut t, RH_NULL, &[], &ecc_key_template(SIGNER)).unwrap();
    assert_eq!(
        evict(&mut t, RH_OWNER, temp.handle, 0x8100_0001),
        RC_ATTRIBUTES_H2
    );
    assert_eq!(flush(&mut t, temp.handle), 0);
    assert!(handles(&mut t, 0x8100_0000).is_empty());

    assert_eq!(evict(&mut t, RH_OWNER, srk.handle, 0x8100_0001), 0);
    assert_eq!(handles(&mut t, 0x8100_0000), vec![0x8100_0001]);
    assert_eq!(
        read_public(&mut t, 0x8100_0001).unwrap(),
        (srk.public.clone(), srk.name.clone())
    );
    assert_eq!(
        evict(&mut t, RH_OWNER, srk.handle, 0x8100_0001),
        RC_NV_DEFINED,
        "the persistent handle is taken"
    );
    assert_eq!(
        evict(&mut t, RH_OWNER, 0x8100_0001, 0x8100_0002),
        RC_HANDLE_H2,
        "evicting needs the object's own persistent handle"
    );
    // The persistent copy is a parent like the transient one.
    assert_eq!(flush(&mut t, srk.handle), 0);
    create(
        &mut t,
        0x8100_0001,
        &[],
        b"y",
        &sealed_template(SEALED, &[]),
    )
    .unwrap();

    assert_eq!(evict(&mut t, RH_OWNER, 0x8100_0001, 0x8100_0001), 0);
    assert!(handles(&mut t, 0x8100_0000).is_empty());
    assert_eq!(read_public(&mut t, 0x8100_0001).unwrap_err(), RC_HANDLE_H1);
}

// ---------------------------------------------------------------------------
// 6. Hierarchy commands.

#[test]
fn hierarchy_change_auth_and_owner_is_not_da_protected() {
    let mut t = Tpm::started();
    assert_eq!(
        run_pw(
            &mut t,
            CC_HIERARCHY_CHANGE_AUTH,
            RH_OWNER,
            &[],
            &b2(b"owner-pw")
        ),
        0
    );
    // Owner is exempt from DA: wrong passwords are TPM_RC_BAD_AUTH, never a
    // lockout, however many.
    for _ in 0..5 {
        assert_eq!(
            create_primary(&mut t, RH_OWNER, b"wrong", &srk_template(&[])).unwrap_err(),
            RC_BAD_AUTH_S1
        );
    }
    assert_eq!(
        create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap_err(),
        RC_BAD_AUTH_S1,
        "the old (empty) value"
    );
    let k = create_primary(&mut t, RH_OWNER, b"owner-pw", &srk_template(&[])).unwrap();
    assert_eq!(flush(&mut t, k.handle), 0);
    // Trailing zeros of an authValue are not significant.
    let k = create_primary(&mut t, RH_OWNER, b"owner-pw\0\0", &srk_template(&[])).unwrap();
    assert_eq!(flush(&mut t, k.handle), 0);
    // The other hierarchies keep their own value.
    let k = create_primary(&mut t, RH_ENDORSEMENT, &[], &srk_template(&[])).unwrap();
    assert_eq!(flush(&mut t, k.handle), 0);
}

#[test]
fn hierarchy_control_disables_the_owner_hierarchy() {
    let mut t = Tpm::started();
    let key = create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    let disable = [RH_OWNER.to_be_bytes().to_vec(), vec![0]].concat();
    let enable = [RH_OWNER.to_be_bytes().to_vec(), vec![1]].concat();
    assert_eq!(
        run_pw(&mut t, CC_HIERARCHY_CONTROL, RH_PLATFORM, &[], &disable),
        0
    );
    assert_eq!(
        read_public(&mut t, key.handle).unwrap_err(),
        RC_REFERENCE_H0,
        "the hierarchy's objects are flushed"
    );
    assert_eq!(
        create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap_err(),
        RC_HIERARCHY_H1,
        "TPM_RC_HIERARCHY on handle 1"
    );
    assert_eq!(
        run_pw(&mut t, CC_HIERARCHY_CONTROL, RH_OWNER, &[], &enable),
        RC_HIERARCHY_H1,
        "owner cannot authorize while disabled"
    );
    assert_eq!(
        run_pw(&mut t, CC_HIERARCHY_CONTROL, RH_PLATFORM, &[], &enable),
        0
    );
    create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
}

#[test]
fn clear_control_and_clear() {
    let mut t = Tpm::started();
    // Part 3, TPM2_ClearControl: lockoutAuth may set disableClear but not
    // clear it: a bare TPM_RC_AUTH_FAIL.
    assert_eq!(
        run_pw(&mut t, CC_CLEAR_CONTROL, RH_LOCKOUT, &[], &[0]),
        RC_AUTH_FAIL
    );
    assert_eq!(run_pw(&mut t, CC_CLEAR_CONTROL, RH_LOCKOUT, &[], &[1]), 0);
    assert_eq!(run_pw(&mut t, CC_CLEAR, RH_LOCKOUT, &[], &[]), RC_DISABLED);
    assert_eq!(run_pw(&mut t, CC_CLEAR, RH_PLATFORM, &[], &[]), RC_DISABLED);
    assert_eq!(run_pw(&mut t, CC_CLEAR_CONTROL, RH_PLATFORM, &[], &[0]), 0);
    assert_eq!(run_pw(&mut t, CC_CLEAR, RH_LOCKOUT, &[], &[]), 0);
}

#[test]
fn clear_resets_owner_auth_and_the_storage_seed() {
    let mut t = Tpm::started();
    let before = create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    assert_eq!(
        run_pw(
            &mut t,
            CC_HIERARCHY_CHANGE_AUTH,
            RH_OWNER,
            &[],
            &b2(b"owner-pw")
        ),
        0
    );
    assert_eq!(run_pw(&mut t, CC_CLEAR, RH_PLATFORM, &[], &[]), 0);
    assert_eq!(
        read_public(&mut t, before.handle).unwrap_err(),
        RC_REFERENCE_H0
    );
    let after = create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    assert_ne!(after.name, before.name, "a new SPS: a new SRK");
}

#[test]
fn set_primary_policy_digest_must_match_the_hash() {
    let mut t = Tpm::started();
    let with = |digest: &[u8], alg: u16| [b2(digest), alg.to_be_bytes().to_vec()].concat();
    // TPM_RCS_SIZE + RC_SetPrimaryPolicy_authPolicy.
    assert_eq!(
        run_pw(
            &mut t,
            CC_SET_PRIMARY_POLICY,
            RH_OWNER,
            &[],
            &with(&[0x11; 20], ALG_SHA256)
        ),
        RC_SIZE_P1
    );
    assert_eq!(
        run_pw(
            &mut t,
            CC_SET_PRIMARY_POLICY,
            RH_OWNER,
            &[],
            &with(&[0x11; 32], ALG_NULL)
        ),
        RC_SIZE_P1,
        "TPM_ALG_NULL takes an empty digest"
    );
    assert_eq!(
        run_pw(
            &mut t,
            CC_SET_PRIMARY_POLICY,
            RH_OWNER,
            &[],
            &with(&[0x11; 32], ALG_SHA256)
        ),
        0
    );
    assert_eq!(
        run_pw(
            &mut t,
            CC_SET_PRIMARY_POLICY,
            RH_OWNER,
            &[],
            &with(&[], ALG_NULL)
        ),
        0
    );
}

// ---------------------------------------------------------------------------
// 7. Dictionary-attack protection.

/// DictionaryAttackParameters: maxTries, recoveryTime (s), lockoutRecovery (s).
fn da_parameters(t: &mut Tpm, max_tries: u32, recovery: u32, lockout_recovery: u32) {
    let p: Vec<u8> = [max_tries, recovery, lockout_recovery]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    assert_eq!(run_pw(t, CC_DA_PARAMETERS, RH_LOCKOUT, &[], &p), 0);
}

#[test]
fn da_protected_object_locks_out_after_max_tries() {
    let mut t = Tpm::started();
    da_parameters(&mut t, 3, 1000, 1000);
    let srk = create_primary(&mut t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    let template = sealed_template(SEALED & !NO_DA, &[]);
    let (private, public) = create(&mut t, srk.handle, b"da-pw", b"guarded", &template).unwrap();
    let obj = load(&mut t, srk.handle, &private, &public).unwrap();
    assert_eq!(
        unseal(&mut t, obj.handle, pw(b"da-pw")).unwrap(),
        b"guarded"
    );

    for i in 0..3 {
        assert_eq!(
            unseal(&mut t, obj.handle, pw(b"wrong")).unwrap_err(),
            RC_AUTH_FAIL_S1,
            "failure {i}: TPM_RC_AUTH_FAIL for a DA-protected object"
        );
    }
    assert_eq!(
        unseal(&mut t, obj.handle, pw(b"da-pw")).unwrap_err(),
        RC_LOCKOUT,
        "locked out even with the right password"
    );
    // Entities exempt from DA still work.
    create(&mut t, srk.handle, &[], b"z", &sealed_template(SEALED, &[])).unwrap();

    assert_eq!(run_pw(&mut t, CC_DA_LOCK_RESET, RH_LOCKOUT, &[], &[]), 0);
    assert_eq!(
        unseal(&mut t, obj.handle, pw(b"da-pw")).unwrap(),
        b"guarded"
    );
}

#[test]
fn failed_lockout_auth_disables_lockout_auth() {
    let mut t = Tpm::started();
    da_parameters(&mut t, 3, 1000, 1000);
    assert_eq!(
        run_pw(&mut t, CC_DA_LOCK_RESET, RH_LOCKOUT, b"wrong", &[]),
        RC_AUTH_FAIL_S1
    );
    assert_eq!(
        run_pw(&mut t, CC_DA_LOCK_RESET, RH_LOCKOUT, &[], &[]),
        RC_LOCKOUT,
        "lockoutAuth is disabled for lockoutRecovery"
    );
    assert_eq!(
        run_pw(&mut t, CC_CLEAR, RH_LOCKOUT, &[], &[]),
        RC_LOCKOUT,
        "for every command it authorizes"
    );
    t.platform.now_ms += 1000 * 1000;
    assert_eq!(run_pw(&mut t, CC_DA_LOCK_RESET, RH_LOCKOUT, &[], &[]), 0);
}

// ---------------------------------------------------------------------------
// 8. Policy.

/// A sealed object whose only authorization is PolicyCommandCode(Unseal).
fn policy_sealed(t: &mut Tpm) -> (Obj, Vec<u8>) {
    let srk = create_primary(t, RH_OWNER, &[], &srk_template(&[])).unwrap();
    let policy = command_code_policy(CC_UNSEAL);
    let template = sealed_template(FIXED_TPM | FIXED_PARENT | NO_DA, &policy);
    let (private, public) = create(t, srk.handle, b"unused", b"policy data", &template).unwrap();
    (load(t, srk.handle, &private, &public).unwrap(), policy)
}

#[test]
fn policy_command_code_authorizes_unseal() {
    let mut t = Tpm::started();
    let (obj, policy) = policy_sealed(&mut t);
    // userWithAuth CLEAR: the USER role needs a policy session.
    assert_eq!(
        unseal(&mut t, obj.handle, pw(b"unused")).unwrap_err(),
        RC_AUTH_UNAVAILABLE
    );

    let (s, nonce_tpm) = start_session(&mut t, SE_POLICY);
    assert_eq!(policy_get_digest(&mut t, s), vec![0u8; 32], "a new session");
    assert_eq!(policy_command_code(&mut t, s, CC_UNSEAL), 0);
    assert_eq!(policy_get_digest(&mut t, s), policy);
    let nonce_caller = [0x3C; 16];
    let mac = unkeyed_hmac(CC_UNSEAL, &obj.name, &[], &nonce_caller, &nonce_tpm);
    assert_eq!(
        unseal(&mut t, obj.handle, session_auth(s, &nonce_caller, &mac)).unwrap(),
        b"policy data"
    );
    assert_eq!(
        policy_get_digest(&mut t, s),
        vec![0u8; 32],
        "a policy session is reset once it authorized a command"
    );
    assert_eq!(flush(&mut t, s), 0);

    // A session that asserted another command code has another digest.
    let (s, nonce_tpm) = start_session(&mut t, SE_POLICY);
    assert_eq!(policy_command_code(&mut t, s, CC_READ_PUBLIC), 0);
    assert_eq!(
        policy_get_digest(&mut t, s),
        command_code_policy(CC_READ_PUBLIC)
    );
    let mac = unkeyed_hmac(CC_UNSEAL, &obj.name, &[], &nonce_caller, &nonce_tpm);
    assert_eq!(
        unseal(&mut t, obj.handle, session_auth(s, &nonce_caller, &mac)).unwrap_err(),
        RC_POLICY_FAIL_S1
    );
}

#[test]
fn empty_hmac_is_accepted_when_the_hmac_key_is_empty() {
    let mut t = Tpm::started();
    let (obj, _) = policy_sealed(&mut t);
    let (s, _) = start_session(&mut t, SE_POLICY);
    assert_eq!(policy_command_code(&mut t, s, CC_UNSEAL), 0);
    // Part 4 (SessionProcess.c, ComputeCommandHMAC): "if the HMAC key size is
    // 0, a NULL string HMAC is allowed". Unbound, unsalted, no PolicyAuthValue:
    // the key is empty.
    assert_eq!(
        unseal(&mut t, obj.handle, session_auth(s, &[0x3C; 16], &[])).unwrap(),
        b"policy data"
    );
}

// ---------------------------------------------------------------------------
// 9. TestParms.

#[test]
fn test_parms_checks_the_public_parameters() {
    let mut t = Tpm::started();
    let mut test = |parms: Vec<u8>| rc(&t.run(&plain(CC_TEST_PARMS, &parms)));
    let rsa = |bits: u16| {
        [
            u16s(&[ALG_RSA, ALG_NULL, ALG_NULL, bits]),
            0u32.to_be_bytes().to_vec(),
        ]
        .concat()
    };
    assert_eq!(test(rsa(2048)), 0, "RSA 2048");
    // TPMI_RSA_KEY_BITS: TPM_RC_VALUE + RC_TestParms_parameters.
    assert_eq!(test(rsa(1000)), RC_VALUE_P1, "RSA 1000");
    let ecc = |curve: u16| u16s(&[ALG_ECC, ALG_NULL, ALG_NULL, curve, ALG_NULL]);
    assert_eq!(test(ecc(ECC_NIST_P256)), 0, "ECC P-256");
    // TPMI_ECC_CURVE: TPM_RC_CURVE + parameter 1.
    assert_eq!(test(ecc(0x0000)), RC_CURVE_P1, "TPM_ECC_NONE");
    assert_eq!(test(ecc(0x7FFF)), RC_CURVE_P1, "no such curve");
    assert_eq!(
        test(u16s(&[ALG_SYMCIPHER, ALG_AES, 192, ALG_CFB])),
        0,
        "AES-192-CFB"
    );
}
