//! TPMS_ATTEST (Part 2, 10.12.12): the structure every TPM-signed statement
//! is made of, shared by audit digests and the attestation commands.

use alloc::vec::Vec;
use vtpm_crypto::{HashAlg, kdfa};

use crate::codec::Out;
use crate::consts::{FIRMWARE_VERSION_1, FIRMWARE_VERSION_2, RH_ENDORSEMENT, RH_NULL, RH_PLATFORM};
use crate::engine::Engine;
use crate::object::Object;
use crate::object::public::SIGN;
use crate::platform::Platform;
use crate::rc::Rc;
use crate::signature::{SigScheme, Signature, select_sign_scheme};

/// TPM_GENERATED_VALUE: the magic that starts every TPM-made TPMS_ATTEST.
pub const GENERATED_VALUE: u32 = 0xff54_4347;
pub const ST_ATTEST_SESSION_AUDIT: u16 = 0x8016;
pub const ST_ATTEST_COMMAND_AUDIT: u16 = 0x8015;
pub const ST_ATTEST_CERTIFY: u16 = 0x8017;
pub const ST_ATTEST_QUOTE: u16 = 0x8018;
pub const ST_ATTEST_TIME: u16 = 0x8019;
pub const ST_ATTEST_CREATION: u16 = 0x801A;
pub const ST_ATTEST_NV: u16 = 0x8014;
pub const ST_ATTEST_NV_DIGEST: u16 = 0x801C;

/// Largest qualifyingData / extraData (sizeof(TPMT_HA)).
pub const MAX_EXTRA_DATA: usize = 66;

impl Engine {
    /// A TPMS_ATTEST of `kind` whose attested part is `attested`, made for
    /// `signer` (None: TPM_RH_NULL, an unsigned statement).
    ///
    /// Keys outside the endorsement and platform hierarchies must not reveal
    /// how often this TPM was reset or which firmware it runs, which would
    /// link keys of different owners: resetCount, restartCount and
    /// firmwareVersion are offset by KDFa(nameAlg, shProof, "OBFUSCATE",
    /// qualifiedSigner, empty, 128) (Part 3, 18.1).
    pub(crate) fn attest(
        &self,
        now_ms: u64,
        signer: Option<&Object>,
        extra_data: &[u8],
        kind: u16,
        attested: &[u8],
    ) -> Vec<u8> {
        let null_name = RH_NULL.to_be_bytes();
        let (qualified_signer, hierarchy, alg) = match signer {
            Some(o) => (
                o.qualified_name.as_slice(),
                o.hierarchy,
                o.public.name_alg.unwrap_or(HashAlg::Sha256),
            ),
            None => (&null_name[..], RH_NULL, HashAlg::Sha256),
        };
        let mut firmware = u64::from(FIRMWARE_VERSION_1) << 32 | u64::from(FIRMWARE_VERSION_2);
        let mut reset_count = self.perm.reset_count;
        let mut restart_count = self.perm.restart_count;
        if hierarchy != RH_ENDORSEMENT && hierarchy != RH_PLATFORM {
            let mask = kdfa(
                alg,
                self.perm.hier.sh_proof.as_bytes(),
                b"OBFUSCATE",
                qualified_signer,
                &[],
                128,
            );
            let word = |i: usize| {
                mask.get(i..i + 8)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_be_bytes)
            };
            let (first, second) = (word(0), word(8));
            firmware = firmware.wrapping_add(first);
            reset_count = reset_count.wrapping_add((second >> 32) as u32);
            restart_count = restart_count.wrapping_add(second as u32);
        }
        let mut out = Out::new();
        out.u32(GENERATED_VALUE)
            .u16(kind)
            .tpm2b(qualified_signer)
            .tpm2b(extra_data)
            .u64(self.clock_now(now_ms))
            .u32(reset_count)
            .u32(restart_count)
            .u8(u8::from(self.perm.clock_safe))
            .u64(firmware)
            .bytes(attested);
        out.into_vec()
    }
}

impl Engine {
    /// The checks every attestation command makes of its signer before
    /// anything else (the reference's IsSigningObject and
    /// CryptSelectSignScheme): the key must be able to sign (TPM_RC_KEY at
    /// handle `handle_n`) and `in_scheme` must agree with its own scheme
    /// (TPM_RC_SCHEME at parameter `scheme_n`). Returns the scheme the
    /// statement will be signed with; NULL for TPM_RH_NULL (no signature).
    pub(crate) fn attest_scheme(
        &self,
        (sign_handle, handle_n): (u32, usize),
        (in_scheme, scheme_n): (SigScheme, usize),
    ) -> Result<SigScheme, Rc> {
        if sign_handle == RH_NULL {
            return Ok(SigScheme::NULL);
        }
        let key = self.object_or_err(sign_handle)?;
        if !key.public.has(SIGN) || key.public.object_type == crate::object::alg::SYMCIPHER {
            return Err(Rc::KEY.handle(handle_n));
        }
        let scheme = select_sign_scheme(key, in_scheme).map_err(|rc| rc.param(scheme_n))?;
        if scheme.hash_alg().is_none() {
            return Err(Rc::SCHEME.param(scheme_n));
        }
        Ok(scheme)
    }

    /// Makes a TPMS_ATTEST and signs it (the reference's FillInAttestInfo and
    /// SignAttestInfo): with `sign_handle` TPM_RH_NULL the statement is
    /// returned unsigned with a TPM_ALG_NULL signature and `in_scheme` is
    /// ignored. `handle_n` and `scheme_n` are the positions of the sign
    /// handle and of inScheme in the command, for the error codes.
    ///
    /// Restricted keys sign these too: the statement starts with
    /// TPM_GENERATED_VALUE, which no TPM2_Hash ticket ever vouches for.
    /// A signed statement reveals Clock, so the TPM is no longer orderly
    /// (Clock in NV may lag behind what was reported).
    pub(crate) fn attest_and_sign(
        &mut self,
        platform: &mut dyn Platform,
        (sign_handle, handle_n): (u32, usize),
        (in_scheme, scheme_n): (SigScheme, usize),
        qualifying_data: &[u8],
        kind: u16,
        attested: &[u8],
    ) -> Result<(Vec<u8>, Signature), Rc> {
        let scheme = self.attest_scheme((sign_handle, handle_n), (in_scheme, scheme_n))?;
        let now = platform.monotonic_ms();
        if sign_handle == RH_NULL {
            return Ok((
                self.attest(now, None, qualifying_data, kind, attested),
                Signature::Null,
            ));
        }
        let key = self.object_or_err(sign_handle)?.clone();
        let hash = scheme.hash_alg().ok_or(Rc::SCHEME.param(scheme_n))?;
        let attest = self.attest(now, Some(&key), qualifying_data, kind, attested);
        let digest = hash.digest(&[&attest]);
        let signature = self
            .sign_digest(platform, &key, &scheme, digest.as_bytes())
            .map_err(|rc| {
                if rc == Rc::SCHEME {
                    rc.param(scheme_n)
                } else {
                    rc.handle(handle_n)
                }
            })?;
        self.clear_orderly();
        Ok((attest, signature))
    }
}
