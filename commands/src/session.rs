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
/// Loaded plus saved sessions (the context array, TPM_PT_ACTIVE_SESSIONS_MAX).
pub const MAX_ACTIVE_SESSIONS: usize = 64;

pub const SE_HMAC: u8 = 0x00;
pub const SE_POLICY: u8 = 0x01;
pub const SE_TRIAL: u8 = 0x03;

// TPMA_SESSION bits.
pub const ATTR_CONTINUE: u8 = 0x01;
pub const ATTR_AUDIT_EXCLUSIVE: u8 = 0x02;
pub const ATTR_AUDIT_RESET: u8 = 0x04;
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

/// What the cpHash slot of a policy session holds (Part 1, 19.7: cpHash,
/// nameHash, templateHash and pHash share one place; only one may be set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundHash {
    /// PolicyCpHash, or cpHashA of PolicySecret / PolicySigned / PolicyTicket.
    Cp = 1,
    /// PolicyNameHash and PolicyDuplicationSelect.
    Name = 2,
    /// PolicyTemplate.
    Template = 3,
    /// PolicyParameters.
    Params = 4,
}

impl BoundHash {
    fn from_u8(v: u8) -> Option<BoundHash> {
        match v {
            1 => Some(BoundHash::Cp),
            2 => Some(BoundHash::Name),
            3 => Some(BoundHash::Template),
            4 => Some(BoundHash::Params),
            _ => None,
        }
    }
}

/// What a policy session has accumulated (Part 1, 19.7): the policyDigest
/// and the checks deferred to the authorization.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyState {
    pub digest: Vec<u8>,
    /// PolicyCommandCode: the only command the session may authorize.
    pub command_code: Option<u32>,
    /// PolicyAuthValue: the HMAC includes the entity's authValue.
    pub auth_value_needed: bool,
    /// PolicyPassword: the authValue is sent in the clear as the HMAC.
    pub password_needed: bool,
    /// PolicyPhysicalPresence: the command needs physical presence asserted.
    pub pp_required: bool,
    /// PolicyLocality: the TPMA_LOCALITY the command must come from.
    pub locality: Option<u8>,
    /// PolicyPCR: pcrUpdateCounter when the PCRs were checked.
    pub pcr_counter: Option<u32>,
    /// PolicySecret / PolicySigned / PolicyTicket: the session expires at this
    /// TPM time (ms since _TPM_Init).
    pub timeout: Option<u64>,
    /// The cpHash slot: what kind of hash and its value.
    pub bound_hash: Option<(BoundHash, Vec<u8>)>,
    /// TPM time at StartAuthSession (kept by PolicyRestart): the base of
    /// relative expirations.
    pub start_time: u64,
    /// The time epoch at StartAuthSession: a timeout from another epoch has expired.
    pub epoch: u64,
    /// PolicyNvWritten: the authorized entity must be an NV index whose
    /// TPMA_NV_WRITTEN has this value.
    pub nv_written: Option<bool>,
}

impl PolicyState {
    /// The state of a new policy session: a zero digest.
    pub fn new(alg: HashAlg) -> PolicyState {
        PolicyState {
            digest: alloc::vec![0; alg.digest_size()],
            ..Default::default()
        }
    }

    /// A new session started at TPM time `start_time` in `epoch`.
    pub fn started(alg: HashAlg, start_time: u64, epoch: u64) -> PolicyState {
        PolicyState {
            start_time,
            epoch,
            ..PolicyState::new(alg)
        }
    }

    /// Back to a zero digest and no deferred checks (PolicyRestart, and after
    /// an authorization); the session's start time stays.
    pub fn restart(&mut self) {
        let zero = alloc::vec![0; self.digest.len()];
        *self = PolicyState {
            digest: zero,
            start_time: self.start_time,
            epoch: self.epoch,
            ..Default::default()
        };
    }
}

/// What identifies a bind entity (Part 1, 19.6.x; the reference's
/// ComputeBoundEntity): its Name, and for entities whose Name is not just a
/// handle, its authValue at StartAuthSession too — changing that value unbinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindEntity {
    pub name: Vec<u8>,
    pub auth: Zeroizing<Vec<u8>>,
}

impl BindEntity {
    pub fn new(name: Vec<u8>, auth: &[u8]) -> BindEntity {
        let auth = if name.len() == 4 { &[][..] } else { auth };
        BindEntity {
            name,
            auth: Zeroizing::new(auth.to_vec()),
        }
    }
}

/// One loaded session.
pub struct Session {
    pub handle: u32,
    pub kind: u8,
    pub auth_hash: HashAlg,
    pub session_key: Zeroizing<Vec<u8>>,
    pub nonce_tpm: Vec<u8>,
    pub nonce_caller: Vec<u8>,
    /// The entity the session is bound to, if any.
    pub bind: Option<BindEntity>,
    pub symmetric: SymDef,
    /// Policy and trial sessions: the policy so far.
    pub policy: PolicyState,
    /// The session audit digest, once the session has audited a command.
    pub audit_digest: Option<Vec<u8>>,
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
    pub fn hmac_key(&self, entity: Option<&BindEntity>, auth_value: &[u8]) -> Zeroizing<Vec<u8>> {
        // A policy session includes the authValue only after PolicyAuthValue
        // (or PolicyPassword, where it keys parameter encryption only).
        let include_auth = entity.is_some()
            && if self.kind == SE_HMAC {
                entity != self.bind.as_ref()
            } else {
                self.policy.auth_value_needed || self.policy.password_needed
            };
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

impl Session {
    /// The session as bytes, for a saved context (ContextSave).
    pub fn marshal(&self) -> Zeroizing<Vec<u8>> {
        let mut o = Zeroizing::new(Vec::with_capacity(256));
        let put2b = |o: &mut Vec<u8>, v: &[u8]| {
            o.extend_from_slice(&(v.len() as u16).to_be_bytes());
            o.extend_from_slice(v);
        };
        o.extend_from_slice(&self.handle.to_be_bytes());
        o.push(self.kind);
        o.extend_from_slice(&self.auth_hash.alg_id().to_be_bytes());
        put2b(&mut o, &self.session_key);
        put2b(&mut o, &self.nonce_tpm);
        put2b(&mut o, &self.nonce_caller);
        o.push(u8::from(self.bind.is_some()));
        let (bind_name, bind_auth) = self.bind.as_ref().map_or((&[][..], &[][..]), |b| {
            (b.name.as_slice(), b.auth.as_slice())
        });
        put2b(&mut o, bind_name);
        put2b(&mut o, bind_auth);
        match self.symmetric {
            SymDef::Null => o.extend_from_slice(&[0, 0, 0]),
            SymDef::Xor(h) => {
                o.push(1);
                o.extend_from_slice(&h.alg_id().to_be_bytes());
            }
            SymDef::AesCfb { key_bits } => {
                o.push(2);
                o.extend_from_slice(&key_bits.to_be_bytes());
            }
        }
        put2b(&mut o, &self.policy.digest);
        o.extend_from_slice(&self.policy.command_code.unwrap_or(0).to_be_bytes());
        let p = &self.policy;
        o.push(
            u8::from(p.command_code.is_some())
                | u8::from(p.auth_value_needed) << 1
                | u8::from(p.password_needed) << 2
                | u8::from(p.pp_required) << 3
                | u8::from(p.locality.is_some()) << 4
                | u8::from(p.pcr_counter.is_some()) << 5
                | u8::from(p.timeout.is_some()) << 6,
        );
        o.push(p.locality.unwrap_or(0));
        o.extend_from_slice(&p.pcr_counter.unwrap_or(0).to_be_bytes());
        o.extend_from_slice(&p.timeout.unwrap_or(0).to_be_bytes());
        let (kind, hash) = p
            .bound_hash
            .as_ref()
            .map_or((0, &[][..]), |(k, h)| (*k as u8, h.as_slice()));
        o.push(kind);
        put2b(&mut o, hash);
        o.extend_from_slice(&p.start_time.to_be_bytes());
        o.extend_from_slice(&p.epoch.to_be_bytes());
        o.push(p.nv_written.map_or(0, |w| 1 + u8::from(w)));
        o.push(u8::from(self.audit_digest.is_some()));
        put2b(&mut o, self.audit_digest.as_deref().unwrap_or_default());
        o
    }

    /// The inverse of [`Session::marshal`]; None if the bytes are not a session.
    pub fn parse(bytes: &[u8]) -> Option<Session> {
        let mut r = crate::object::public::Reader::new(bytes);
        let handle = r.u32().ok()?;
        let kind = r.u8().ok()?;
        let auth_hash = HashAlg::from_alg_id(r.u16().ok()?)?;
        let session_key = Zeroizing::new(r.tpm2b(64).ok()?.to_vec());
        let nonce_tpm = r.tpm2b(64).ok()?.to_vec();
        let nonce_caller = r.tpm2b(64).ok()?.to_vec();
        let bound = r.u8().ok()? == 1;
        let bind_name = r.tpm2b(2 + 64).ok()?.to_vec();
        let bind_auth = r.tpm2b(64).ok()?;
        let bind = bound.then(|| BindEntity {
            name: bind_name,
            auth: Zeroizing::new(bind_auth.to_vec()),
        });
        let sym_tag = r.u8().ok()?;
        let sym_arg = r.u16().ok()?;
        let symmetric = match sym_tag {
            0 => SymDef::Null,
            1 => SymDef::Xor(HashAlg::from_alg_id(sym_arg)?),
            2 => SymDef::AesCfb { key_bits: sym_arg },
            _ => return None,
        };
        let digest = r.tpm2b(64).ok()?.to_vec();
        let cc = r.u32().ok()?;
        let flags = r.u8().ok()?;
        let locality = r.u8().ok()?;
        let pcr_counter = r.u32().ok()?;
        let timeout = u64_of(&mut r)?;
        let hash_kind = r.u8().ok()?;
        let hash = r.tpm2b(64).ok()?.to_vec();
        let bound_hash = match hash_kind {
            0 => None,
            k => Some((BoundHash::from_u8(k)?, hash)),
        };
        let start_time = u64_of(&mut r)?;
        let epoch = u64_of(&mut r)?;
        let nv_written = match r.u8().ok()? {
            0 => None,
            1 => Some(false),
            2 => Some(true),
            _ => return None,
        };
        let audited = r.u8().ok()? == 1;
        let audit_digest = r.tpm2b(64).ok()?.to_vec();
        if !r.is_empty() {
            return None;
        }
        Some(Session {
            handle,
            kind,
            auth_hash,
            session_key,
            nonce_tpm,
            nonce_caller,
            bind,
            symmetric,
            policy: PolicyState {
                digest,
                command_code: (flags & 1 != 0).then_some(cc),
                auth_value_needed: flags & 2 != 0,
                password_needed: flags & 4 != 0,
                pp_required: flags & 8 != 0,
                locality: (flags & 0x10 != 0).then_some(locality),
                pcr_counter: (flags & 0x20 != 0).then_some(pcr_counter),
                timeout: (flags & 0x40 != 0).then_some(timeout),
                bound_hash,
                start_time,
                epoch,
                nv_written,
            },
            audit_digest: audited.then_some(audit_digest),
        })
    }
}

fn u64_of(r: &mut crate::object::public::Reader<'_>) -> Option<u64> {
    let hi = r.u32().ok()?;
    let lo = r.u32().ok()?;
    Some(u64::from(hi) << 32 | u64::from(lo))
}
