//! Objects (Part 1, sections 23-27): public and sensitive areas, names, the
//! attribute and scheme rules, key generation, and the protection of private
//! areas under a storage parent.

pub mod create;
pub mod duplicate;
pub mod protect;
pub mod public;
pub mod share;

use alloc::vec::Vec;
use vtpm_crypto::HashAlg;

use crate::rc::Rc;
use crate::secret::Secret;
use public::{DECRYPT, Public, RESTRICTED, Reader, put2b, put16};

/// TPM_ALG_ID values the object code uses (Part 2, 6.3).
pub mod alg {
    pub const RSA: u16 = 0x0001;
    pub const HMAC: u16 = 0x0005;
    pub const AES: u16 = 0x0006;
    pub const MGF1: u16 = 0x0007;
    pub const KEYEDHASH: u16 = 0x0008;
    pub const XOR: u16 = 0x000A;
    pub const NULL: u16 = 0x0010;
    pub const RSASSA: u16 = 0x0014;
    pub const RSAES: u16 = 0x0015;
    pub const RSAPSS: u16 = 0x0016;
    pub const OAEP: u16 = 0x0017;
    pub const ECDSA: u16 = 0x0018;
    pub const ECDH: u16 = 0x0019;
    pub const ECDAA: u16 = 0x001A;
    pub const ECSCHNORR: u16 = 0x001C;
    pub const KDF1_SP800_56A: u16 = 0x0020;
    pub const KDF2: u16 = 0x0021;
    pub const KDF1_SP800_108: u16 = 0x0022;
    pub const ECC: u16 = 0x0023;
    pub const SYMCIPHER: u16 = 0x0025;
    pub const CTR: u16 = 0x0040;
    pub const OFB: u16 = 0x0041;
    pub const CBC: u16 = 0x0042;
    pub const CFB: u16 = 0x0043;
    pub const ECB: u16 = 0x0044;
    pub const CMAC: u16 = 0x003F;
}

/// Transient object slots (TPM_PT_HR_TRANSIENT_MIN).
pub const MAX_LOADED_OBJECTS: usize = 3;
/// Persistent objects the TPM keeps (TPM_PT_HR_PERSISTENT_MIN).
pub const MAX_PERSISTENT_OBJECTS: usize = 7;
/// MAX_SYM_DATA: sealed data and provided key material.
pub const MAX_SYM_DATA: usize = 128;

/// TPMT_SENSITIVE without its type: authValue, seedValue and the secret
/// (an RSA prime, an ECC scalar, keyed-hash data or a symmetric key).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Sensitive {
    pub auth: Secret,
    pub seed: Secret,
    pub secret: Secret,
}

impl Sensitive {
    /// TPMT_SENSITIVE of an object of `object_type`.
    pub fn marshal(&self, object_type: u16) -> zeroize::Zeroizing<Vec<u8>> {
        let mut o = zeroize::Zeroizing::new(Vec::with_capacity(
            8 + self.auth.len() + self.seed.len() + self.secret.len(),
        ));
        put16(&mut o, object_type);
        put2b(&mut o, self.auth.as_bytes());
        put2b(&mut o, self.seed.as_bytes());
        put2b(&mut o, self.secret.as_bytes());
        o
    }

    /// Parses a TPMT_SENSITIVE, returning its type; all input must be used.
    pub fn parse(bytes: &[u8]) -> Result<(u16, Sensitive), Rc> {
        let mut r = Reader::new(bytes);
        let parsed = Sensitive::parse_from(&mut r)?;
        if !r.is_empty() {
            return Err(Rc::SIZE);
        }
        Ok(parsed)
    }

    /// Parses a TPMT_SENSITIVE from the front of `r`; its type is a
    /// TPMI_ALG_PUBLIC (TPM_RC_TYPE otherwise).
    pub fn parse_from(r: &mut Reader<'_>) -> Result<(u16, Sensitive), Rc> {
        let t = r.u16()?;
        if !matches!(t, alg::RSA | alg::KEYEDHASH | alg::ECC | alg::SYMCIPHER) {
            return Err(Rc::TYPE);
        }
        let auth = Secret::new(r.tpm2b(public::MAX_DIGEST)?);
        let seed = Secret::new(r.tpm2b(public::MAX_DIGEST)?);
        let secret = Secret::new(r.tpm2b(public::MAX_RSA_KEY_BYTES)?);
        Ok((t, Sensitive { auth, seed, secret }))
    }
}

/// A loaded (transient or persistent) object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub handle: u32,
    pub public: Public,
    /// nameAlg || H(public); the handle for a nameAlg-NULL external object.
    pub name: Vec<u8>,
    pub qualified_name: Vec<u8>,
    /// None for a public-only object (LoadExternal without a private part).
    pub sensitive: Option<Sensitive>,
    /// TPM_RH_OWNER, _ENDORSEMENT, _PLATFORM or _NULL.
    pub hierarchy: u32,
}

impl Object {
    /// A storage parent: restricted decryption key (Part 1, 27.1).
    pub fn is_storage_parent(&self) -> bool {
        self.public.has(RESTRICTED)
            && self.public.has(DECRYPT)
            && self.public.object_type != alg::KEYEDHASH
            && self.sensitive.is_some()
    }

    /// A derivation parent: restricted decryption keyed-hash object (Part 1, 28).
    pub fn is_derivation_parent(&self) -> bool {
        self.public.has(RESTRICTED)
            && self.public.has(DECRYPT)
            && self.public.object_type == alg::KEYEDHASH
            && self.sensitive.is_some()
    }

    /// Temporary objects (null hierarchy, external keys) cannot be made persistent.
    pub fn is_temporary(&self) -> bool {
        self.hierarchy == crate::consts::RH_NULL
    }

    pub fn auth_value(&self) -> &[u8] {
        self.sensitive.as_ref().map_or(&[], |s| s.auth.as_bytes())
    }

    /// Serialized form for persistent storage and saved contexts: hierarchy,
    /// TPM2B_PUBLIC, qualified name, and the TPMT_SENSITIVE if there is one.
    pub fn marshal_state(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut o = zeroize::Zeroizing::new(Vec::new());
        o.extend_from_slice(&self.handle.to_be_bytes());
        o.extend_from_slice(&self.hierarchy.to_be_bytes());
        put2b(&mut o, &self.public.marshal());
        put2b(&mut o, &self.qualified_name);
        match &self.sensitive {
            Some(s) => {
                o.push(1);
                put2b(&mut o, &s.marshal(self.public.object_type));
            }
            None => o.push(0),
        }
        o
    }

    pub fn parse_state(bytes: &[u8]) -> Result<Object, Rc> {
        let mut r = Reader::new(bytes);
        let handle = r.u32()?;
        let hierarchy = r.u32()?;
        let public = Public::parse(r.tpm2b(usize::from(u16::MAX))?, true, false)?;
        let qualified_name = r.tpm2b(2 + public::MAX_DIGEST)?.to_vec();
        let sensitive = match r.u8()? {
            0 => None,
            1 => {
                let (t, s) = Sensitive::parse(r.tpm2b(usize::from(u16::MAX))?)?;
                if t != public.object_type {
                    return Err(Rc::TYPE);
                }
                Some(s)
            }
            _ => return Err(Rc::VALUE),
        };
        if !r.is_empty() {
            return Err(Rc::SIZE);
        }
        let name = match public.name_alg {
            Some(_) => public.name(),
            None => handle.to_be_bytes().to_vec(),
        };
        Ok(Object {
            handle,
            public,
            name,
            qualified_name,
            sensitive,
            hierarchy,
        })
    }
}

/// QN(object) = nameAlg || H(QN(parent) || Name(object)) (Part 1, 16.6).
pub fn qualified_name(name_alg: HashAlg, parent_qn: &[u8], name: &[u8]) -> Vec<u8> {
    let mut qn = name_alg.alg_id().to_be_bytes().to_vec();
    qn.extend_from_slice(name_alg.digest(&[parent_qn, name]).as_bytes());
    qn
}
