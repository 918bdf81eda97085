//! The DER pieces TPM2_CertifyX509 (Part 3, 18.8) reads and writes: the
//! partial certificate the caller sends, the KeyUsage and TPMA_OBJECT
//! extensions checked against the object, and the parts the TPM adds
//! (version, serial number, signature algorithm, subjectPublicKeyInfo).

use alloc::vec::Vec;
use vtpm_crypto::{EccCurve, HashAlg};

use crate::object::public::{DECRYPT, FIXED_TPM, Parms, RESTRICTED, SIGN, Unique};
use crate::object::{Object, alg};
use crate::rc::Rc;
use crate::signature::SigScheme;

pub const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
/// [3] EXPLICIT: the extensions of a TBSCertificate.
pub const EXTENSIONS: u8 = 0xA3;

/// DER object identifiers, tag and length included.
const OID_KEY_USAGE: &[u8] = &[OID, 3, 0x55, 0x1D, 0x0F];
/// tcg-tpmaObject, 2.23.133.10.1.1.1.
const OID_TPMA_OBJECT: &[u8] = &[OID, 7, 0x67, 0x81, 0x05, 0x0A, 0x01, 0x01, 0x01];
const OID_RSA_ENCRYPTION: &[u8] = &[OID, 9, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 1, 1, 1];
const OID_RSASSA_PSS: &[u8] = &[OID, 9, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 1, 1, 10];
const OID_MGF1: &[u8] = &[OID, 9, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 1, 1, 8];
const OID_EC_PUBLIC_KEY: &[u8] = &[OID, 7, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 2, 1];

/// The OIDs that go with a hash: the hash itself, shaNWithRSAEncryption
/// and ecdsa-with-SHAN.
fn hash_oids(hash: HashAlg) -> (&'static [u8], &'static [u8], &'static [u8]) {
    match hash {
        HashAlg::Sha1 => (
            &[OID, 5, 0x2B, 0x0E, 0x03, 0x02, 0x1A],
            &[OID, 9, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 1, 1, 5],
            &[OID, 7, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 4, 1],
        ),
        HashAlg::Sha256 => (
            &[OID, 9, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
            &[OID, 9, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 1, 1, 11],
            &[OID, 8, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 4, 3, 2],
        ),
        HashAlg::Sha384 => (
            &[OID, 9, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
            &[OID, 9, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 1, 1, 12],
            &[OID, 8, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 4, 3, 3],
        ),
        HashAlg::Sha512 => (
            &[OID, 9, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03],
            &[OID, 9, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 1, 1, 13],
            &[OID, 8, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 4, 3, 4],
        ),
    }
}

fn curve_oid(curve: EccCurve) -> &'static [u8] {
    match curve {
        EccCurve::NistP256 => &[OID, 8, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 3, 1, 7],
        EccCurve::NistP384 => &[OID, 5, 0x2B, 0x81, 0x04, 0x00, 0x22],
        EccCurve::NistP521 => &[OID, 5, 0x2B, 0x81, 0x04, 0x00, 0x23],
    }
}

/// KeyUsage bits, left-justified in a u32 as a DER BIT STRING reads
/// (digitalSignature is bit 31).
const KU_DIGITAL_SIGNATURE: u32 = 1 << 31;
const KU_NON_REPUDIATION: u32 = 1 << 30;
const KU_KEY_ENCIPHERMENT: u32 = 1 << 29;
const KU_DATA_ENCIPHERMENT: u32 = 1 << 28;
const KU_KEY_AGREEMENT: u32 = 1 << 27;
const KU_KEY_CERT_SIGN: u32 = 1 << 26;
const KU_CRL_SIGN: u32 = 1 << 25;
const KU_ENCIPHER_ONLY: u32 = 1 << 24;
const KU_DECIPHER_ONLY: u32 = 1 << 23;
const KU_SIGN: u32 = KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION | KU_KEY_CERT_SIGN | KU_CRL_SIGN;
const KU_DECRYPT: u32 = KU_KEY_ENCIPHERMENT
    | KU_DATA_ENCIPHERMENT
    | KU_KEY_AGREEMENT
    | KU_ENCIPHER_ONLY
    | KU_DECIPHER_ONLY;

/// A DER element: its tag, its contents and the whole encoding.
#[derive(Clone, Copy)]
pub struct Element<'a> {
    pub tag: u8,
    pub contents: &'a [u8],
    pub encoded: &'a [u8],
}

/// Reads the next element of `input` (single-octet tags, definite lengths
/// of up to two octets); None when it is malformed or runs past the end.
pub fn next_element<'a>(input: &mut &'a [u8]) -> Option<Element<'a>> {
    let all = *input;
    let (&tag, rest) = all.split_first()?;
    if tag & 0x1F == 0x1F {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 2 {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(count)?;
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b))
    };
    let (contents, after) = rest.split_at_checked(len)?;
    let header = all.len() - rest.len();
    let encoded = all.get(..header + len)?;
    *input = after;
    Some(Element {
        tag,
        contents,
        encoded,
    })
}

/// A DER tag and length.
fn header(tag: u8, len: usize, out: &mut Vec<u8>) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

/// A DER element of `tag` around the concatenated `parts`.
pub fn wrap(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 4);
    header(tag, len, &mut out);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// The header alone of a SEQUENCE of `len` octets (the TBSCertificate's,
/// whose parts travel separately).
pub fn sequence_header(len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    header(SEQUENCE, len, &mut out);
    out
}

/// A non-negative DER INTEGER from big-endian bytes (leading zeros dropped,
/// a zero prepended when the top bit is set).
pub fn integer(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let trimmed = bytes.get(start..).unwrap_or_default();
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        wrap(INTEGER, &[&[0], trimmed])
    } else {
        wrap(INTEGER, &[trimmed])
    }
}

/// AlgorithmIdentifier { oid, NULL }.
fn algorithm_with_null(oid: &[u8]) -> Vec<u8> {
    wrap(SEQUENCE, &[oid, &[NULL, 0]])
}

/// The signatureAlgorithm the TPM fills in when the caller left it out; None
/// for a key or scheme X.509 has no identifier for here (TPM_RC_SCHEME).
pub fn signing_algorithm(key: &Object, scheme: &SigScheme) -> Option<Vec<u8>> {
    let hash = scheme.hash_alg()?;
    let (hash_oid, rsa_oid, ecdsa_oid) = hash_oids(hash);
    match (key.public.object_type, scheme.scheme) {
        (alg::RSA, alg::RSASSA) => Some(algorithm_with_null(rsa_oid)),
        (alg::RSA, alg::RSAPSS) => {
            // RSASSA-PSS-params: the hash, MGF1 with the same hash, and the
            // salt length the TPM signs with (the digest size).
            let hash_id = algorithm_with_null(hash_oid);
            let mgf = wrap(SEQUENCE, &[OID_MGF1, &hash_id]);
            let salt = integer(&[hash.digest_size() as u8]);
            let params = wrap(
                SEQUENCE,
                &[
                    &wrap(0xA0, &[&hash_id]),
                    &wrap(0xA1, &[&mgf]),
                    &wrap(0xA2, &[&salt]),
                ],
            );
            Some(wrap(SEQUENCE, &[OID_RSASSA_PSS, &params]))
        }
        (alg::ECC, alg::ECDSA) => Some(wrap(SEQUENCE, &[ecdsa_oid])),
        _ => None,
    }
}

/// SubjectPublicKeyInfo of an RSA or ECC key; None for other objects
/// (TPM_RC_ASYMMETRIC).
pub fn public_key_info(object: &Object) -> Option<Vec<u8>> {
    match (&object.public.parms, &object.public.unique) {
        (Parms::Rsa { exponent, .. }, Unique::Rsa(n)) => {
            let e = crate::object::create::rsa_exponent(*exponent).ok()?;
            let key = wrap(SEQUENCE, &[&integer(n), &integer(&e.to_be_bytes())]);
            let bits = wrap(BIT_STRING, &[&[0], &key]);
            Some(wrap(
                SEQUENCE,
                &[&algorithm_with_null(OID_RSA_ENCRYPTION), &bits],
            ))
        }
        (Parms::Ecc { curve, .. }, Unique::Ecc { x, y }) => {
            let id = wrap(SEQUENCE, &[OID_EC_PUBLIC_KEY, curve_oid(*curve)]);
            let bits = wrap(BIT_STRING, &[&[0, 0x04], x, y]);
            Some(wrap(SEQUENCE, &[&id, &bits]))
        }
        _ => None,
    }
}

/// A BIT STRING's bits, left-justified in a u32; None when malformed or
/// longer than 32 bits.
fn bit_string_value(input: &[u8]) -> Option<u32> {
    let mut rest = input;
    let e = next_element(&mut rest)?;
    if e.tag != BIT_STRING {
        return None;
    }
    let (&unused, bytes) = e.contents.split_first()?;
    if unused >= 8 || (bytes.is_empty() && unused != 0) || bytes.len() > 4 {
        return None;
    }
    let mut value = 0u32;
    for b in bytes {
        value = value << 8 | u32::from(*b);
    }
    let bits = 8 * bytes.len() as u32 - u32::from(unused);
    value >>= unused;
    if bits > 0 {
        value <<= 32 - bits;
    }
    Some(value)
}

/// The value of the extension `oid` in the list, as bits: Ok(None) when it
/// is absent, Err for a malformed list or extension.
fn extension_bits(list: &[u8], oid: &[u8]) -> Result<Option<u32>, ()> {
    let mut rest = list;
    while !rest.is_empty() {
        let ext = next_element(&mut rest).ok_or(())?;
        if ext.tag != SEQUENCE {
            return Err(());
        }
        if !ext.contents.starts_with(oid) {
            continue;
        }
        // extnID, critical (optional), then extnValue: an OCTET STRING
        // holding the BIT STRING.
        let mut fields = ext.contents;
        while let Some(field) = next_element(&mut fields) {
            if field.tag == OCTET_STRING {
                return bit_string_value(field.contents).map(Some).ok_or(());
            }
        }
        return Err(());
    }
    Ok(None)
}

/// Checks the extensions ([3] { SEQUENCE OF Extension }) against the
/// object's attributes (the reference's X509ProcessExtensions): a
/// TPMA_OBJECT extension must equal them (TPM_RC_ATTRIBUTES); KeyUsage is
/// required (TPM_RC_VALUE), has no unknown bits (TPM_RC_RESERVED_BITS) and
/// must agree with sign, decrypt, fixedTPM (non-repudiation) and restricted
/// (key encipherment) (TPM_RC_VALUE). Bare codes.
pub fn check_extensions(object: &Object, extensions: &[u8]) -> Result<(), Rc> {
    let mut rest = extensions;
    let outer = next_element(&mut rest).ok_or(Rc::VALUE)?;
    if outer.tag != EXTENSIONS {
        return Err(Rc::VALUE);
    }
    let mut inner = outer.contents;
    let list = next_element(&mut inner).ok_or(Rc::VALUE)?;
    if list.tag != SEQUENCE {
        return Err(Rc::VALUE);
    }
    let attributes = object.public.attributes;
    match extension_bits(list.contents, OID_TPMA_OBJECT) {
        Ok(Some(bits)) if bits != attributes => return Err(Rc::ATTRIBUTES),
        Ok(_) => {}
        Err(()) => return Err(Rc::VALUE),
    }
    let usage = match extension_bits(list.contents, OID_KEY_USAGE) {
        Ok(Some(bits)) => bits,
        _ => return Err(Rc::VALUE),
    };
    if usage & !(KU_SIGN | KU_DECRYPT) != 0 {
        return Err(Rc::RESERVED_BITS);
    }
    let has = |bit| attributes & bit != 0;
    let bad = (usage & KU_SIGN != 0 && !has(SIGN))
        || (usage & KU_DECRYPT != 0 && !has(DECRYPT))
        || (usage & KU_NON_REPUDIATION != 0 && !has(FIXED_TPM))
        || (usage & KU_KEY_ENCIPHERMENT != 0 && !has(RESTRICTED));
    if bad { Err(Rc::VALUE) } else { Ok(()) }
}
