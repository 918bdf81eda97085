//! Dictionary-attack protection (Part 1, 19.8): failed authorizations of
//! DA-protected entities are counted; at maxTries they lock out until the
//! count heals (one per recoveryTime) or lockout resets it. A failed lockoutAuth
//! disables lockoutAuth for lockoutRecovery seconds.

use crate::consts::RH_LOCKOUT;
use crate::engine::Engine;
use crate::rc::Rc;

/// Persistent DA state and parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaState {
    pub failed_tries: u32,
    pub max_tries: u32,
    /// Seconds per healed failure; 0 disables DA protection.
    pub recovery_time: u32,
    /// Seconds lockoutAuth stays disabled after a failure; 0: until TPM Reset.
    pub lockout_recovery: u32,
    pub lockout_auth_enabled: bool,
    /// A DA-protected entity was authorized since the last orderly shutdown:
    /// a power loss now counts as one failure (Part 1, 19.8.x).
    pub used: bool,
}

impl Default for DaState {
    fn default() -> Self {
        DaState {
            failed_tries: 0,
            max_tries: 3,
            recovery_time: 1000,
            lockout_recovery: 1000,
            lockout_auth_enabled: true,
            used: false,
        }
    }
}

/// Volatile DA timers, in Clock milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct DaTimers {
    pub self_heal_from: u64,
    pub lockout_from: u64,
}

impl DaState {
    pub fn in_lockout(&self) -> bool {
        self.recovery_time != 0 && self.failed_tries >= self.max_tries
    }
}

impl Engine {
    /// Applies the healing that `now` (Clock ms) brings.
    pub(crate) fn da_update(&mut self, now: u64) {
        let da = &mut self.perm.da;
        let t = &mut self.da_timers;
        if da.failed_tries == 0 || da.recovery_time == 0 {
            t.self_heal_from = now;
        } else {
            let period = u64::from(da.recovery_time) * 1000;
            let healed = now.saturating_sub(t.self_heal_from) / period;
            if healed > 0 {
                let healed32 = u32::try_from(healed).unwrap_or(u32::MAX);
                da.failed_tries = da.failed_tries.saturating_sub(healed32);
                t.self_heal_from = t
                    .self_heal_from
                    .saturating_add(healed.saturating_mul(period));
                self.nv_dirty = true;
            }
        }
        if !da.lockout_auth_enabled
            && da.lockout_recovery != 0
            && now.saturating_sub(t.lockout_from) >= u64::from(da.lockout_recovery) * 1000
        {
            da.lockout_auth_enabled = true;
            self.nv_dirty = true;
        }
    }

    /// Before an authorization of `entity` is checked: TPM_RC_LOCKOUT if the
    /// entity is DA-protected and locked out.
    pub(crate) fn da_check(&mut self, entity: u32, protected: bool, now: u64) -> Result<(), Rc> {
        if !protected {
            return Ok(());
        }
        self.da_update(now);
        if entity == RH_LOCKOUT {
            return if self.perm.da.lockout_auth_enabled {
                Ok(())
            } else {
                Err(Rc::LOCKOUT)
            };
        }
        if self.perm.da.in_lockout() {
            return Err(Rc::LOCKOUT);
        }
        if !self.perm.da.used && self.perm.da.recovery_time != 0 {
            self.perm.da.used = true;
            self.nv_dirty = true;
        }
        Ok(())
    }

    /// A failed authorization of a DA-protected entity.
    pub(crate) fn da_failure(&mut self, entity: u32, now: u64) {
        if entity == RH_LOCKOUT {
            self.perm.da.lockout_auth_enabled = false;
            self.da_timers.lockout_from = now;
        } else if self.perm.da.recovery_time != 0 {
            if self.perm.da.failed_tries == 0 {
                self.da_timers.self_heal_from = now;
            }
            self.perm.da.failed_tries = self.perm.da.failed_tries.saturating_add(1);
        }
        self.nv_dirty = true;
    }

    /// At Startup: after a power loss with DA-protected use, one failure more;
    /// at TPM Reset lockoutAuth returns if it waits for a reset.
    pub(crate) fn da_startup(&mut self, tpm_reset: bool, orderly: bool, now: u64) {
        let da = &mut self.perm.da;
        if tpm_reset && da.lockout_recovery == 0 {
            da.lockout_auth_enabled = true;
        }
        if !orderly && da.used && da.recovery_time != 0 && da.failed_tries < da.max_tries {
            da.failed_tries += 1;
        }
        da.used = false;
        self.da_timers = DaTimers {
            self_heal_from: now,
            lockout_from: now,
        };
    }
}
