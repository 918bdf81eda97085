//! Hierarchies (Part 1, section 14): primary seeds, proofs, authorization values
//! and policies, and the enables of the platform, storage, endorsement and null
//! hierarchies.

use alloc::vec::Vec;

use crate::consts::{RH_ENDORSEMENT, RH_LOCKOUT, RH_NULL, RH_OWNER, RH_PLATFORM};
use crate::engine::Engine;
use crate::object::alg;
use crate::platform::Platform;
use crate::rc::Rc;
use crate::secret::Secret;

/// Octets in a primary seed (EPS, SPS, PPS, null seed).
pub const SEED_SIZE: usize = 64;
/// Octets in a hierarchy proof (ehProof, shProof, phProof, nullProof).
pub const PROOF_SIZE: usize = 64;

/// An authPolicy with its hash algorithm; `alg` NULL and no digest when unset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub alg: u16,
    pub digest: Vec<u8>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            alg: alg::NULL,
            digest: Vec::new(),
        }
    }
}

/// Persistent hierarchy state.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Hierarchies {
    pub eps: Secret,
    pub sps: Secret,
    pub pps: Secret,
    pub eh_proof: Secret,
    pub sh_proof: Secret,
    pub ph_proof: Secret,
    pub owner_auth: Secret,
    pub endorsement_auth: Secret,
    pub lockout_auth: Secret,
    pub owner_policy: Policy,
    pub endorsement_policy: Policy,
    pub lockout_policy: Policy,
    /// Set by ClearControl: TPM2_Clear is refused.
    pub disable_clear: bool,
}

/// State-clear data (Part 1, 36.x "gc"): set by Startup(CLEAR), preserved by
/// Shutdown(STATE) + Startup(STATE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateClear {
    pub ph_enable: bool,
    pub sh_enable: bool,
    pub eh_enable: bool,
    pub ph_enable_nv: bool,
    pub platform_auth: Secret,
    pub platform_policy: Policy,
    /// The authValue of the PCR authorization group (TPM2_PCR_SetAuthValue).
    pub pcr_auth: Secret,
}

impl Default for StateClear {
    fn default() -> Self {
        StateClear {
            ph_enable: true,
            sh_enable: true,
            eh_enable: true,
            ph_enable_nv: true,
            platform_auth: Secret::empty(),
            platform_policy: Policy::default(),
            pcr_auth: Secret::empty(),
        }
    }
}

/// State-reset data (Part 1 "gr"): new at every TPM Reset, preserved by
/// Shutdown(STATE) for TPM Restart and Resume.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StateReset {
    pub null_seed: Secret,
    pub null_proof: Secret,
    /// Sequence number of the next saved object context.
    pub object_context_id: u64,
    /// Sequence number of the next saved session context (the reference's
    /// contextCounter): separate from objects', so that a resource manager
    /// swapping objects does not use up the session context gap.
    pub session_context_id: u64,
    /// The command audit digest; empty when cleared (the next audited
    /// command starts it and increments the audit counter).
    pub command_audit_digest: alloc::vec::Vec<u8>,
    /// The commit state (Part 1, "Commit"): the nonce every commit random
    /// derives from, the counter of commits made, and one bit per
    /// outstanding commitment (indexed by the counter's low bits).
    pub commit_nonce: Secret,
    pub commit_counter: u64,
    pub commit_array: [u8; crate::commit::COMMIT_ARRAY_BYTES],
}

impl Engine {
    fn fresh_secret(&mut self, platform: &mut dyn Platform, size: usize) -> Result<Secret, Rc> {
        let mut v = zeroize::Zeroizing::new(alloc::vec![0u8; size]);
        self.random(platform, &mut v)?;
        Ok(Secret::new(&v))
    }

    /// Manufacturing: the first time the TPM runs it gets its primary seeds
    /// and proofs from the RNG.
    pub(crate) fn provision_hierarchies(&mut self, platform: &mut dyn Platform) -> Result<(), Rc> {
        if !self.perm.hier.eps.is_empty() {
            return Ok(());
        }
        self.perm.hier.eps = self.fresh_secret(platform, SEED_SIZE)?;
        self.perm.hier.sps = self.fresh_secret(platform, SEED_SIZE)?;
        self.perm.hier.pps = self.fresh_secret(platform, SEED_SIZE)?;
        self.perm.hier.eh_proof = self.fresh_secret(platform, PROOF_SIZE)?;
        self.perm.hier.sh_proof = self.fresh_secret(platform, PROOF_SIZE)?;
        self.perm.hier.ph_proof = self.fresh_secret(platform, PROOF_SIZE)?;
        self.nv_dirty = true;
        Ok(())
    }

    /// TPM Reset: a new null seed and proof; saved null-hierarchy contexts die.
    pub(crate) fn reset_null_hierarchy(&mut self, platform: &mut dyn Platform) -> Result<(), Rc> {
        self.gr.null_seed = self.fresh_secret(platform, SEED_SIZE)?;
        self.gr.null_proof = self.fresh_secret(platform, PROOF_SIZE)?;
        // The commit state is state-reset data too: commitments die with it.
        self.gr.commit_nonce = self.fresh_secret(platform, PROOF_SIZE)?;
        self.gr.commit_counter = 0;
        self.gr.commit_array = [0; crate::commit::COMMIT_ARRAY_BYTES];
        Ok(())
    }

    /// A new SPS and shProof (TPM2_Clear).
    pub(crate) fn change_sps(&mut self, platform: &mut dyn Platform) -> Result<(), Rc> {
        self.perm.hier.sps = self.fresh_secret(platform, SEED_SIZE)?;
        self.perm.hier.sh_proof = self.fresh_secret(platform, PROOF_SIZE)?;
        Ok(())
    }

    /// A new EPS and ehProof (TPM2_ChangeEPS; ehProof also at TPM2_Clear).
    pub(crate) fn change_eps(&mut self, platform: &mut dyn Platform) -> Result<(), Rc> {
        self.perm.hier.eps = self.fresh_secret(platform, SEED_SIZE)?;
        self.change_eh_proof(platform)
    }

    pub(crate) fn change_eh_proof(&mut self, platform: &mut dyn Platform) -> Result<(), Rc> {
        self.perm.hier.eh_proof = self.fresh_secret(platform, PROOF_SIZE)?;
        Ok(())
    }

    /// A new PPS and phProof (TPM2_ChangePPS).
    pub(crate) fn change_pps(&mut self, platform: &mut dyn Platform) -> Result<(), Rc> {
        self.perm.hier.pps = self.fresh_secret(platform, SEED_SIZE)?;
        self.perm.hier.ph_proof = self.fresh_secret(platform, PROOF_SIZE)?;
        Ok(())
    }

    /// Is hierarchy `h` (a TPM_RH value) enabled?
    pub(crate) fn hierarchy_enabled(&self, h: u32) -> bool {
        match h {
            RH_OWNER => self.gc.sh_enable,
            RH_ENDORSEMENT => self.gc.eh_enable,
            RH_PLATFORM => self.gc.ph_enable,
            RH_NULL => true,
            _ => false,
        }
    }

    /// The primary seed of a hierarchy.
    pub(crate) fn primary_seed(&self, h: u32) -> &[u8] {
        match h {
            RH_OWNER => self.perm.hier.sps.as_bytes(),
            RH_ENDORSEMENT => self.perm.hier.eps.as_bytes(),
            RH_PLATFORM => self.perm.hier.pps.as_bytes(),
            _ => self.gr.null_seed.as_bytes(),
        }
    }

    /// The proof value of a hierarchy (tickets, context protection).
    pub(crate) fn proof(&self, h: u32) -> &[u8] {
        match h {
            RH_OWNER => self.perm.hier.sh_proof.as_bytes(),
            RH_ENDORSEMENT => self.perm.hier.eh_proof.as_bytes(),
            RH_PLATFORM => self.perm.hier.ph_proof.as_bytes(),
            _ => self.gr.null_proof.as_bytes(),
        }
    }

    /// The authValue of a hierarchy handle.
    pub(crate) fn hierarchy_auth(&self, h: u32) -> Option<&Secret> {
        match h {
            RH_OWNER => Some(&self.perm.hier.owner_auth),
            RH_ENDORSEMENT => Some(&self.perm.hier.endorsement_auth),
            RH_LOCKOUT => Some(&self.perm.hier.lockout_auth),
            RH_PLATFORM => Some(&self.gc.platform_auth),
            _ => None,
        }
    }

    /// The authPolicy of a hierarchy handle.
    pub(crate) fn hierarchy_policy(&self, h: u32) -> Option<&Policy> {
        match h {
            RH_OWNER => Some(&self.perm.hier.owner_policy),
            RH_ENDORSEMENT => Some(&self.perm.hier.endorsement_policy),
            RH_LOCKOUT => Some(&self.perm.hier.lockout_policy),
            RH_PLATFORM => Some(&self.gc.platform_policy),
            _ => None,
        }
    }

    /// Flushes the transient objects of hierarchy `h`.
    pub(crate) fn flush_hierarchy_objects(&mut self, h: u32) {
        self.objects.retain(|o| o.hierarchy != h);
    }
}
