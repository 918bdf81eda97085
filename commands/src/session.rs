//! Authorization sessions (Part 1, section 19): HMAC, policy and trial sessions,
//! their session keys, command/response HMACs and parameter encryption.
//!
//! Salting (tpmKey) needs loaded keys and arrives with objects; sessions bound to
//! an entity and unbound, unsalted sessions are complete here.

use alloc::vec::Vec;
use vtpm_crypto::{HashAlg, aes_cfb_decrypt, aes_cfb_encrypt, hmac, kdfa};
use zeroize::Zeroizing;

use crate::rc::Rc;

/// Session slots (TPM_PT_HR_LOADED_MIN / ACTIVE_SESSIONS_MAX are reported from this).
pub const MAX_LOADED_SESSIONS: usize = 3;

pub const SE_HMAC: u8 = 0x00;
pub const SE_POLICY: u8 = 0x01;
pub const SE_TRIAL: u8 = 0x03;

// TPMA_SESSION bits.
pub const ATTR_CONTINUE: u8 = 0x01;
pub const ATTR_DECRYPT: u8 = 0x20;
pub const ATTR_ENCRYPT: u8 = 0x40;
pub const ATTR_AUDIT: u8 = 0x80;

/// Symmetric algorithm for parameter encryption (TPMT_SYM_DEF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymDef {
    Null,
    Xor(HashAlg),
    AesCfb { key_bits: u16 },
}

/// One loaded session.
pub struct Session {
    pub handle: u32,
    pub kind: u8,
    pub auth_hash: HashAlg,
    pub session_key: Zeroizing<Vec<u8>>,
    pub nonce_tpm: Vec<u8>,
    pub nonce_caller: Vec<u8>,
    /// The handle of the entity the session is bound to, if any.
    pub bind: Option<u32>,
    pub symmetric: SymDef,
}

impl Session {
    /// The session key (Part 1, 19.6.8): KDFa over bind authValue || salt.
    pub fn derive_key(
        alg: HashAlg,
        bound_or_salted: bool,
        bind_auth: &[u8],
        salt: &[u8],
        nonce_tpm: &[u8],
        nonce_caller: &[u8],
    ) -> Zeroizing<Vec<u8>> {
        // Part 1: with tpmKey and bind both TPM_RH_NULL the session key is empty.
        if !bound_or_salted {
            return Zeroizing::new(Vec::new());
        }
        let key = Zeroizing::new([bind_auth, salt].concat());
        kdfa(
            alg,
            &key,
            b"ATH",
            nonce_tpm,
            nonce_caller,
            (alg.digest_size() * 8) as u32,
        )
    }

    /// The HMAC key for authorizing `entity`: sessionKey || authValue, where the
    /// authValue is left out when the session is bound to that very entity
    /// (Part 1, 19.6.5).
    pub fn hmac_key(&self, entity: Option<u32>, auth_value: &[u8]) -> Zeroizing<Vec<u8>> {
        let include_auth = entity.is_some() && entity != self.bind;
        let auth: &[u8] = if include_auth { auth_value } else { &[] };
        Zeroizing::new([self.session_key.as_slice(), auth].concat())
    }

    /// The command HMAC (Part 1, 19.6.13):
    /// HMAC(key, cpHash || nonceCaller || nonceTPM || nonceDecrypt || nonceEncrypt || attributes).
    pub fn command_hmac(
        &self,
        key: &[u8],
        cp_hash: &[u8],
        nonce_caller: &[u8],
        extra_nonces: &[u8],
        attributes: u8,
    ) -> vtpm_crypto::Digest {
        hmac(
            self.auth_hash,
            key,
            &[
                cp_hash,
                nonce_caller,
                &self.nonce_tpm,
                extra_nonces,
                &[attributes],
            ],
        )
    }

    /// The response HMAC: HMAC(key, rpHash || nonceTPM || nonceCaller || attributes).
    pub fn response_hmac(&self, key: &[u8], rp_hash: &[u8], attributes: u8) -> vtpm_crypto::Digest {
        hmac(
            self.auth_hash,
            key,
            &[rp_hash, &self.nonce_tpm, &self.nonce_caller, &[attributes]],
        )
    }

    /// Decrypts the first command parameter (Part 1, 21): the caller's nonce is
    /// the newer one.
    pub fn decrypt_parameter(&self, key: &[u8], data: &mut [u8]) -> Result<(), Rc> {
        self.crypt(key, &self.nonce_caller, &self.nonce_tpm, data, false)
    }

    /// Encrypts the first response parameter: the TPM's nonce is the newer one.
    pub fn encrypt_parameter(&self, key: &[u8], data: &mut [u8]) -> Result<(), Rc> {
        self.crypt(key, &self.nonce_tpm, &self.nonce_caller, data, true)
    }

    fn crypt(
        &self,
        key: &[u8],
        newer: &[u8],
        older: &[u8],
        data: &mut [u8],
        encrypt: bool,
    ) -> Result<(), Rc> {
        match self.symmetric {
            SymDef::Null => Err(Rc::SYMMETRIC),
            SymDef::Xor(alg) => {
                let mask = kdfa(alg, key, b"XOR", newer, older, (data.len() * 8) as u32);
                for (d, m) in data.iter_mut().zip(mask.iter()) {
                    *d ^= m;
                }
                Ok(())
            }
            SymDef::AesCfb { key_bits } => {
                let key_len = usize::from(key_bits / 8);
                let bits = (u32::from(key_bits)) + 128;
                let material = kdfa(self.auth_hash, key, b"CFB", newer, older, bits);
                let (k, iv) = material.split_at_checked(key_len).ok_or(Rc::FAILURE)?;
                let r = if encrypt {
                    aes_cfb_encrypt(k, iv, data)
                } else {
                    aes_cfb_decrypt(k, iv, data)
                };
                r.map_err(|_| Rc::FAILURE)
            }
        }
    }
}
