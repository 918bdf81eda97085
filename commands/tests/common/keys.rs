//! Object templates, LoadExternal, FlushContext and the digests the tests recompute.

use super::consts::*;
use super::wire::*;
use super::{Tpm, plain, rc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// A TPMT_PUBLIC (nameAlg SHA-256) with `authPolicy`, then `rest` (parameters, unique).
pub fn public_with_policy(object_type: u16, attrs: u32, policy: &[u8], rest: &[&[u8]]) -> Vec<u8> {
    let mut v = object_type.to_be_bytes().to_vec();
    v.extend_from_slice(&ALG_SHA256.to_be_bytes());
    v.extend_from_slice(&attrs.to_be_bytes());
    v.extend_from_slice(&b2(policy));
    for part in rest {
        v.extend_from_slice(part);
    }
    v
}

/// A TPMT_PUBLIC (nameAlg SHA-256) without a policy.
pub fn public(object_type: u16, attrs: u32, rest: &[&[u8]]) -> Vec<u8> {
    public_with_policy(object_type, attrs, &[], rest)
}

/// An RSA-2048 template with `scheme`, no symmetric algorithm, the default exponent.
pub fn rsa_template(attrs: u32, scheme: &[u16]) -> Vec<u8> {
    let mut parms = u16s(&[ALG_NULL]);
    parms.extend_from_slice(&u16s(scheme));
    parms.extend_from_slice(&u16s(&[2048]));
    parms.extend_from_slice(&0u32.to_be_bytes());
    public(ALG_RSA, attrs, &[&parms, &b2(&[])])
}

/// A P-256 template with `scheme`; decrypt keys get AES-128-CFB as their symmetric algorithm.
pub fn ecc_template(attrs: u32, scheme: &[u16]) -> Vec<u8> {
    let sym: &[u16] = if attrs & DECRYPT != 0 {
        &[ALG_AES, 128, ALG_CFB]
    } else {
        &[ALG_NULL]
    };
    let mut parms = u16s(sym);
    parms.extend_from_slice(&u16s(scheme));
    parms.extend_from_slice(&u16s(&[ECC_NIST_P256, ALG_NULL]));
    public(ALG_ECC, attrs, &[&parms, &b2(&[]), &b2(&[])])
}

/// A TPMT_SENSITIVE with no authValue or seedValue and `secret` as its sensitive part.
pub fn tpmt_sensitive(object_type: u16, secret: &[u8]) -> Vec<u8> {
    [
        object_type.to_be_bytes().to_vec(),
        b2(&[]),
        b2(&[]),
        b2(secret),
    ]
    .concat()
}

/// A TPM2B_ECC_POINT.
pub fn point(x: &[u8], y: &[u8]) -> Vec<u8> {
    b2(&[b2(x), b2(y)].concat())
}

/// LoadExternal in the null hierarchy; the handle and the Name.
pub fn load_external(t: &mut Tpm, sensitive: &[u8], public: &[u8]) -> Result<(u32, Vec<u8>), u32> {
    let mut p = b2(sensitive);
    p.extend_from_slice(&b2(public));
    p.extend_from_slice(&RH_NULL.to_be_bytes());
    let (h, params) = run(t, &no_auth(CC_LOAD_EXTERNAL, &[], &p), true)?;
    Ok((h, Rd(&params).b2().to_vec()))
}

/// FlushContext, asserted to succeed.
pub fn flush(t: &mut Tpm, handle: u32) {
    assert_eq!(
        rc(&t.run(&plain(CC_FLUSH_CONTEXT, &handle.to_be_bytes()))),
        0
    );
}

/// SHA-256 of the concatenated `parts`.
pub fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    Sha256::digest(parts.concat()).to_vec()
}

/// A policy extend: SHA-256(old || cc || parts).
pub fn ext(old: &[u8], cc: u32, parts: &[&[u8]]) -> Vec<u8> {
    let ccb = cc.to_be_bytes();
    let mut all: Vec<&[u8]> = vec![old, &ccb];
    all.extend_from_slice(parts);
    sha256(&all)
}

/// The policy digest of PolicyCommandCode(`code`) from the zero digest.
pub fn command_code_policy(code: u32) -> Vec<u8> {
    ext(&[0u8; 32], CC_POLICY_COMMAND_CODE, &[&code.to_be_bytes()])
}

/// HMAC-SHA256 of the concatenated `parts`.
pub fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// A CreatePrimary response, split.
pub struct Created {
    pub handle: u32,
    /// TPMT_PUBLIC.
    pub public: Vec<u8>,
    pub creation_data: Vec<u8>,
    pub creation_hash: Vec<u8>,
    /// TPMT_TK_CREATION as returned.
    pub ticket: Vec<u8>,
    pub name: Vec<u8>,
}

/// CreatePrimary of `template` in `hierarchy` (password `auth`), with sensitive data `data`
/// and no authValue, outsideInfo or creationPCR; the response split to its last byte.
pub fn create_primary_raw(
    t: &mut Tpm,
    hierarchy: u32,
    auth: &[u8],
    data: &[u8],
    template: &[u8],
) -> Result<Created, u32> {
    let mut p = b2(&[b2(&[]), b2(data)].concat());
    p.extend_from_slice(&b2(template));
    p.extend_from_slice(&b2(&[])); // outsideInfo
    p.extend_from_slice(&0u32.to_be_bytes()); // creationPCR: none
    let command = sessions_cmd(CC_CREATE_PRIMARY, &[hierarchy], &[pw(auth)], &p);
    let (handle, params) = run(t, &command, true)?;
    let mut rd = Rd(&params);
    let public = rd.b2().to_vec();
    let creation_data = rd.b2().to_vec();
    let creation_hash = rd.b2().to_vec();
    let before = rd.0;
    rd.take(6); // creationTicket: tag, hierarchy
    rd.b2(); // creationTicket: digest
    let ticket = before[..before.len() - rd.0.len()].to_vec();
    let name = rd.b2().to_vec();
    assert!(rd.0.is_empty(), "CreatePrimary response fully parsed");
    Ok(Created {
        handle,
        public,
        creation_data,
        creation_hash,
        ticket,
        name,
    })
}
