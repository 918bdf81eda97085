//! TPMT_PUBLIC (Part 2, 12.2.4): parsed with the unmarshaling codes of Part 2
//! (each TPMI_ type has its own error), and marshaled back in canonical form,
//! which is what an object's Name is computed over.

use alloc::vec::Vec;
use vtpm_crypto::{EccCurve, HashAlg};

use crate::object::alg;
use crate::rc::Rc;

// TPMA_OBJECT (Part 2, 8.3).
pub const FIXED_TPM: u32 = 1 << 1;
pub const ST_CLEAR: u32 = 1 << 2;
pub const FIXED_PARENT: u32 = 1 << 4;
pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
pub const USER_WITH_AUTH: u32 = 1 << 6;
pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
pub const NO_DA: u32 = 1 << 10;
pub const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
pub const RESTRICTED: u32 = 1 << 16;
pub const DECRYPT: u32 = 1 << 17;
pub const SIGN: u32 = 1 << 18;
/// Bits of TPMA_OBJECT that are reserved: 0, 3, 8-9, 12-15, 20-31.
pub const RESERVED: u32 = 0xFFF0_F309;

/// Largest RSA modulus (4096 bits) and ECC coordinate (P-521) in octets.
pub const MAX_RSA_KEY_BYTES: usize = 512;
pub const MAX_ECC_KEY_BYTES: usize = 66;
/// TPMU_HA: the largest digest.
pub const MAX_DIGEST: usize = 64;
/// TPM2B_LABEL (TPMS_DERIVE fields).
pub const LABEL_MAX_BUFFER: usize = 32;

/// TPMT_SYM_DEF_OBJECT; `alg` NULL means no symmetric algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymDef {
    pub alg: u16,
    pub key_bits: u16,
    pub mode: u16,
}

impl SymDef {
    pub const NULL: SymDef = SymDef {
        alg: alg::NULL,
        key_bits: 0,
        mode: 0,
    };
    pub fn is_null(&self) -> bool {
        self.alg == alg::NULL
    }
}

/// A scheme with its details: `hash` (NULL when the scheme has none), the
/// ECDAA `count`, and the XOR `kdf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheme {
    pub scheme: u16,
    pub hash: u16,
    pub count: u16,
    pub kdf: u16,
}

impl Scheme {
    pub const NULL: Scheme = Scheme {
        scheme: alg::NULL,
        hash: alg::NULL,
        count: 0,
        kdf: alg::NULL,
    };
}

/// TPMU_PUBLIC_PARMS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parms {
    Rsa {
        sym: SymDef,
        scheme: Scheme,
        key_bits: u16,
        exponent: u32,
    },
    Ecc {
        sym: SymDef,
        scheme: Scheme,
        curve: EccCurve,
        kdf: Scheme,
    },
    KeyedHash {
        scheme: Scheme,
    },
    SymCipher {
        sym: SymDef,
    },
}

/// TPMU_PUBLIC_ID, or TPMS_DERIVE in a template for a derived object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unique {
    Rsa(Vec<u8>),
    Ecc {
        x: Vec<u8>,
        y: Vec<u8>,
    },
    /// keyedHash / sym: a digest.
    Digest(Vec<u8>),
    Derive {
        label: Vec<u8>,
        context: Vec<u8>,
    },
}

/// A parsed TPMT_PUBLIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Public {
    pub object_type: u16,
    /// None for TPM_ALG_NULL (LoadExternal only).
    pub name_alg: Option<HashAlg>,
    pub attributes: u32,
    pub auth_policy: Vec<u8>,
    pub parms: Parms,
    pub unique: Unique,
}

/// A big-endian reader that reports truncation as TPM_RC_INSUFFICIENT.
pub struct Reader<'a> {
    pub rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }
    pub fn u8(&mut self) -> Result<u8, Rc> {
        let (v, rest) = self.rest.split_first().ok_or(Rc::INSUFFICIENT)?;
        self.rest = rest;
        Ok(*v)
    }
    pub fn u16(&mut self) -> Result<u16, Rc> {
        let (v, rest) = self.rest.split_at_checked(2).ok_or(Rc::INSUFFICIENT)?;
        self.rest = rest;
        Ok(u16::from_be_bytes(
            v.try_into().map_err(|_| Rc::INSUFFICIENT)?,
        ))
    }
    pub fn u32(&mut self) -> Result<u32, Rc> {
        let (v, rest) = self.rest.split_at_checked(4).ok_or(Rc::INSUFFICIENT)?;
        self.rest = rest;
        Ok(u32::from_be_bytes(
            v.try_into().map_err(|_| Rc::INSUFFICIENT)?,
        ))
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Rc> {
        let (v, rest) = self.rest.split_at_checked(n).ok_or(Rc::INSUFFICIENT)?;
        self.rest = rest;
        Ok(v)
    }
    /// A TPM2B of at most `max` octets (larger is TPM_RC_SIZE).
    pub fn tpm2b(&mut self, max: usize) -> Result<&'a [u8], Rc> {
        let size = usize::from(self.u16()?);
        if size > max {
            return Err(Rc::SIZE);
        }
        self.bytes(size)
    }
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

fn hash_or_null(id: u16, null_ok: bool) -> Result<u16, Rc> {
    if (null_ok && id == alg::NULL) || HashAlg::from_alg_id(id).is_some() {
        Ok(id)
    } else {
        Err(Rc::HASH)
    }
}

/// TPMT_SYM_DEF_OBJECT(+).
pub(crate) fn read_sym_def(r: &mut Reader<'_>, null_ok: bool) -> Result<SymDef, Rc> {
    read_sym_def_with(r, null_ok, false)
}

/// TPMT_SYM_DEF_OBJECT(+); `cmac_ok`: a symmetric object's own definition,
/// whose mode may also be TPM_ALG_CMAC (a MAC key; TPMI_ALG_SYM_MODE lists
/// the SMAC modes, a parent's protection cannot use them).
fn read_sym_def_with(r: &mut Reader<'_>, null_ok: bool, cmac_ok: bool) -> Result<SymDef, Rc> {
    let a = r.u16()?;
    match a {
        alg::NULL if null_ok => Ok(SymDef::NULL),
        alg::AES => {
            let key_bits = r.u16()?;
            if !matches!(key_bits, 128 | 192 | 256) {
                return Err(Rc::VALUE);
            }
            let mode = r.u16()?;
            let cipher_mode = matches!(
                mode,
                alg::CTR | alg::OFB | alg::CBC | alg::CFB | alg::ECB | alg::NULL
            );
            let allowed = cipher_mode || (cmac_ok && mode == alg::CMAC);
            if !allowed {
                return Err(Rc::MODE);
            }
            Ok(SymDef {
                alg: a,
                key_bits,
                mode,
            })
        }
        _ => Err(Rc::SYMMETRIC),
    }
}

/// TPMT_RSA_SCHEME+ / TPMT_ECC_SCHEME+ (TPMT_ASYM_SCHEME details).
fn read_asym_scheme(r: &mut Reader<'_>, ecc: bool) -> Result<Scheme, Rc> {
    let scheme = r.u16()?;
    let valid = if ecc {
        matches!(
            scheme,
            alg::ECDSA | alg::ECDH | alg::ECDAA | alg::ECSCHNORR | alg::NULL
        )
    } else {
        matches!(
            scheme,
            alg::RSASSA | alg::RSAPSS | alg::RSAES | alg::OAEP | alg::NULL
        )
    };
    if !valid {
        return Err(if ecc { Rc::SCHEME } else { Rc::VALUE });
    }
    let mut out = Scheme {
        scheme,
        ..Scheme::NULL
    };
    if scheme != alg::NULL && scheme != alg::RSAES {
        out.hash = hash_or_null(r.u16()?, false)?;
        if scheme == alg::ECDAA {
            out.count = r.u16()?;
        }
    }
    Ok(out)
}

/// TPMT_KDF_SCHEME+.
fn read_kdf_scheme(r: &mut Reader<'_>) -> Result<Scheme, Rc> {
    let scheme = r.u16()?;
    if !matches!(
        scheme,
        alg::MGF1 | alg::KDF1_SP800_56A | alg::KDF2 | alg::KDF1_SP800_108 | alg::NULL
    ) {
        return Err(Rc::KDF);
    }
    let mut out = Scheme {
        scheme,
        ..Scheme::NULL
    };
    if scheme != alg::NULL {
        out.hash = hash_or_null(r.u16()?, false)?;
    }
    Ok(out)
}

/// TPMT_KEYEDHASH_SCHEME+.
fn read_keyedhash_scheme(r: &mut Reader<'_>) -> Result<Scheme, Rc> {
    let scheme = r.u16()?;
    let mut out = Scheme {
        scheme,
        ..Scheme::NULL
    };
    match scheme {
        alg::NULL => {}
        alg::HMAC => out.hash = hash_or_null(r.u16()?, false)?,
        alg::XOR => {
            out.hash = hash_or_null(r.u16()?, false)?;
            out.kdf = r.u16()?;
            if !matches!(
                out.kdf,
                alg::MGF1 | alg::KDF1_SP800_56A | alg::KDF2 | alg::KDF1_SP800_108
            ) {
                return Err(Rc::KDF);
            }
        }
        _ => return Err(Rc::VALUE),
    }
    Ok(out)
}

/// TPMU_PUBLIC_PARMS of `object_type` (also TPMT_PUBLIC_PARMS for TestParms).
pub fn read_parms(r: &mut Reader<'_>, object_type: u16) -> Result<Parms, Rc> {
    Ok(match object_type {
        alg::RSA => {
            let sym = read_sym_def(r, true)?;
            let scheme = read_asym_scheme(r, false)?;
            let key_bits = r.u16()?;
            if !matches!(key_bits, 1024 | 2048 | 3072 | 4096) {
                return Err(Rc::VALUE);
            }
            let exponent = r.u32()?;
            Parms::Rsa {
                sym,
                scheme,
                key_bits,
                exponent,
            }
        }
        alg::ECC => {
            let sym = read_sym_def(r, true)?;
            let scheme = read_asym_scheme(r, true)?;
            let curve = EccCurve::from_tpm_id(r.u16()?).ok_or(Rc::CURVE)?;
            let kdf = read_kdf_scheme(r)?;
            Parms::Ecc {
                sym,
                scheme,
                curve,
                kdf,
            }
        }
        alg::KEYEDHASH => Parms::KeyedHash {
            scheme: read_keyedhash_scheme(r)?,
        },
        _ => Parms::SymCipher {
            sym: read_sym_def_with(r, false, true)?,
        },
    })
}

impl Public {
    /// Parses a TPMT_PUBLIC. `null_name_ok`: TPMT_PUBLIC+ (LoadExternal);
    /// `derive`: the unique field is a TPMS_DERIVE (CreateLoaded under a
    /// derivation parent). The whole input must be consumed.
    pub fn parse(bytes: &[u8], null_name_ok: bool, derive: bool) -> Result<Public, Rc> {
        let mut r = Reader::new(bytes);
        let public = Public::parse_from(&mut r, null_name_ok, derive)?;
        if !r.is_empty() {
            return Err(Rc::SIZE);
        }
        Ok(public)
    }

    /// Parses a TPMT_PUBLIC from the front of `r`.
    pub fn parse_from(r: &mut Reader<'_>, null_name_ok: bool, derive: bool) -> Result<Public, Rc> {
        let object_type = r.u16()?;
        if !matches!(
            object_type,
            alg::RSA | alg::KEYEDHASH | alg::ECC | alg::SYMCIPHER
        ) {
            return Err(Rc::TYPE);
        }
        let name_alg_id = hash_or_null(r.u16()?, null_name_ok)?;
        let attributes = r.u32()?;
        if attributes & RESERVED != 0 {
            return Err(Rc::RESERVED_BITS);
        }
        let auth_policy = r.tpm2b(MAX_DIGEST)?.to_vec();
        let parms = read_parms(r, object_type)?;
        let unique = if derive {
            Unique::Derive {
                label: r.tpm2b(LABEL_MAX_BUFFER)?.to_vec(),
                context: r.tpm2b(LABEL_MAX_BUFFER)?.to_vec(),
            }
        } else {
            match object_type {
                alg::RSA => Unique::Rsa(r.tpm2b(MAX_RSA_KEY_BYTES)?.to_vec()),
                alg::ECC => Unique::Ecc {
                    x: r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec(),
                    y: r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec(),
                },
                _ => Unique::Digest(r.tpm2b(MAX_DIGEST)?.to_vec()),
            }
        };
        Ok(Public {
            object_type,
            name_alg: HashAlg::from_alg_id(name_alg_id),
            attributes,
            auth_policy,
            parms,
            unique,
        })
    }

    pub fn has(&self, attr: u32) -> bool {
        self.attributes & attr != 0
    }

    /// Canonical TPMT_PUBLIC.
    pub fn marshal(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(128);
        put16(&mut o, self.object_type);
        put16(&mut o, self.name_alg.map_or(alg::NULL, |a| a.alg_id()));
        o.extend_from_slice(&self.attributes.to_be_bytes());
        put2b(&mut o, &self.auth_policy);
        match &self.parms {
            Parms::Rsa {
                sym,
                scheme,
                key_bits,
                exponent,
            } => {
                put_sym(&mut o, sym);
                put_scheme(&mut o, scheme);
                put16(&mut o, *key_bits);
                o.extend_from_slice(&exponent.to_be_bytes());
            }
            Parms::Ecc {
                sym,
                scheme,
                curve,
                kdf,
            } => {
                put_sym(&mut o, sym);
                put_scheme(&mut o, scheme);
                put16(&mut o, curve.tpm_id());
                put16(&mut o, kdf.scheme);
                if kdf.scheme != alg::NULL {
                    put16(&mut o, kdf.hash);
                }
            }
            Parms::KeyedHash { scheme } => {
                put16(&mut o, scheme.scheme);
                match scheme.scheme {
                    alg::HMAC => put16(&mut o, scheme.hash),
                    alg::XOR => {
                        put16(&mut o, scheme.hash);
                        put16(&mut o, scheme.kdf);
                    }
                    _ => {}
                }
            }
            Parms::SymCipher { sym } => put_sym(&mut o, sym),
        }
        match &self.unique {
            Unique::Rsa(n) => put2b(&mut o, n),
            Unique::Ecc { x, y } => {
                put2b(&mut o, x);
                put2b(&mut o, y);
            }
            Unique::Digest(d) => put2b(&mut o, d),
            Unique::Derive { label, context } => {
                put2b(&mut o, label);
                put2b(&mut o, context);
            }
        }
        o
    }

    /// TPM2B_PUBLIC.
    pub fn marshal_2b(&self) -> Vec<u8> {
        let inner = self.marshal();
        let mut o = Vec::with_capacity(inner.len() + 2);
        put2b(&mut o, &inner);
        o
    }

    /// Name = nameAlg || H(TPMT_PUBLIC) (Part 1, 16); with nameAlg NULL the
    /// Name is empty here and the caller uses the handle.
    pub fn name(&self) -> Vec<u8> {
        match self.name_alg {
            Some(h) => {
                let mut n = h.alg_id().to_be_bytes().to_vec();
                n.extend_from_slice(h.digest(&[&self.marshal()]).as_bytes());
                n
            }
            None => Vec::new(),
        }
    }

    /// The symmetric definition of an asymmetric key or symcipher.
    pub fn sym(&self) -> Option<&SymDef> {
        match &self.parms {
            Parms::Rsa { sym, .. } | Parms::Ecc { sym, .. } | Parms::SymCipher { sym } => Some(sym),
            Parms::KeyedHash { .. } => None,
        }
    }
}

pub fn put16(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_be_bytes());
}

/// Appends a TPM2B. Every caller bounds `v` well below 64 KiB.
pub fn put2b(o: &mut Vec<u8>, v: &[u8]) {
    let len = u16::try_from(v.len()).unwrap_or(u16::MAX);
    put16(o, len);
    o.extend_from_slice(v.get(..usize::from(len)).unwrap_or(v));
}

fn put_sym(o: &mut Vec<u8>, sym: &SymDef) {
    put16(o, sym.alg);
    if sym.alg != alg::NULL {
        put16(o, sym.key_bits);
        put16(o, sym.mode);
    }
}

fn put_scheme(o: &mut Vec<u8>, s: &Scheme) {
    put16(o, s.scheme);
    if s.scheme != alg::NULL && s.scheme != alg::RSAES {
        put16(o, s.hash);
        if s.scheme == alg::ECDAA {
            put16(o, s.count);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// An RSA 2048 storage-key template (tpm2-tools' default SRK shape).
    fn rsa_template() -> Vec<u8> {
        let mut t = Vec::new();
        put16(&mut t, alg::RSA);
        put16(&mut t, HashAlg::Sha256.alg_id());
        t.extend_from_slice(&0x0003_0072u32.to_be_bytes());
        put2b(&mut t, &[]);
        t.extend_from_slice(&[0x00, 0x06, 0x00, 0x80, 0x00, 0x43]); // AES-128-CFB
        put16(&mut t, alg::NULL);
        put16(&mut t, 2048);
        t.extend_from_slice(&0u32.to_be_bytes());
        put2b(&mut t, &[]);
        t
    }

    #[test]
    fn round_trips_canonically() {
        let t = rsa_template();
        let p = Public::parse(&t, false, false).unwrap();
        assert_eq!(p.marshal(), t);
        assert_eq!(p.name().len(), 34);
    }

    #[test]
    fn unmarshal_codes_follow_the_tpmi_types() {
        let mut t = rsa_template();
        t[0] = 0x7F;
        assert_eq!(Public::parse(&t, false, false), Err(Rc::TYPE));
        let mut t = rsa_template();
        t[3] = 0x10; // nameAlg NULL
        assert_eq!(Public::parse(&t, false, false), Err(Rc::HASH));
        assert!(Public::parse(&t, true, false).is_ok());
        let mut t = rsa_template();
        t[7] |= 0x01; // reserved bit 0
        assert_eq!(Public::parse(&t, false, false), Err(Rc::RESERVED_BITS));
        let mut t = rsa_template();
        t[19] = 0x01; // key bits 0x0801
        assert_eq!(Public::parse(&t, false, false), Err(Rc::VALUE));
        let t = rsa_template();
        assert_eq!(
            Public::parse(&t[..t.len() - 1], false, false),
            Err(Rc::INSUFFICIENT)
        );
        let mut t = rsa_template();
        t.push(0);
        assert_eq!(Public::parse(&t, false, false), Err(Rc::SIZE));
    }
}
