//! The device shared by all connections of a server, and the steps every transport
//! needs: open the state, power on, the optional automatic TPM2_Startup.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use vtpm::Device;

use crate::cli::StartupType;
use crate::host::{HostPlatform, Signals};
use crate::record::Recorder;
use crate::storage::{KeySource, StateLocation, Store};
use crate::vlog;
use vtpm_nvram::vmgs::Key;
use zeroize::Zeroizing;

pub type HostDevice = Device<HostPlatform>;

pub struct Tpm {
    device: Mutex<HostDevice>,
    signals: Arc<Signals>,
    state_path: PathBuf,
    /// `--record`: where client commands and their responses are appended.
    recorder: Option<Recorder>,
    /// `--migration-key`: exported state blobs are sealed with it.
    migration_key: Option<Zeroizing<Key>>,
    /// The state file is encrypted (`--key`).
    encrypted: bool,
}

impl Tpm {
    /// Opens (or manufactures) the TPM stored at `location`, encrypted with `key`.
    /// A state that cannot be read is an error and is left untouched.
    pub fn open(
        location: &StateLocation,
        key: Option<&KeySource>,
        migration_key: Option<&KeySource>,
    ) -> Result<Tpm, String> {
        let migration_key = migration_key
            .map(|m| m.raw_key().map_err(|e| format!("--migration-key: {e}")))
            .transpose()?;
        let store = Store::open(location, key)?;
        let state_path = store.path().to_path_buf();
        let encrypted = store.encrypted();
        if !encrypted {
            crate::log::error(format_args!(
                "warning: no --key given: the TPM state in {} is stored in the clear (unencrypted)",
                state_path.display()
            ));
        }
        let signals = Arc::new(Signals::default());
        let platform = HostPlatform::new(store, signals.clone());
        let device = Device::open(platform)
            .map_err(|e| format!("cannot use the TPM state in {}: {e}", state_path.display()))?;
        Ok(Tpm {
            device: Mutex::new(device),
            signals,
            state_path,
            recorder: None,
            migration_key,
            encrypted,
        })
    }

    pub fn migration_key(&self) -> Option<&Key> {
        self.migration_key.as_deref()
    }

    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// Records every client command executed from now on (`--record`).
    pub fn record_to(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }

    /// The VMGS file holding the state.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// The device, for one request. A connection thread that panicked while holding
    /// it cannot have left the device half-updated (the device does not panic), so a
    /// poisoned lock is still usable.
    pub fn lock(&self) -> MutexGuard<'_, HostDevice> {
        self.device.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The device if no command is executing right now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, HostDevice>> {
        match self.device.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Executes one TPM command from a client; logs only its command code and response
    /// code, and appends the exchange to the record file if there is one.
    pub fn execute(&self, locality: u8, command: &[u8]) -> Vec<u8> {
        self.execute_inner(locality, command, true)
    }

    fn execute_inner(&self, locality: u8, command: &[u8], record: bool) -> Vec<u8> {
        let mut device = self.lock();
        let response = device.execute(locality, command);
        if let (true, Some(recorder)) = (record, &self.recorder) {
            // Still under the device lock: lines are in execution order.
            recorder.record(locality, command, &response);
        }
        drop(device);
        if crate::log::enabled(2) {
            let cc = crate::wire::command_code(command).unwrap_or(0);
            let rc = crate::wire::be_u32(&response, 6).unwrap_or(0);
            vlog!(
                2,
                "TPM command 0x{cc:08x} at locality {locality}: rc 0x{rc:03x}"
            );
        }
        response
    }

    pub fn set_cancel(&self, on: bool) {
        self.signals.cancel.store(on, Ordering::SeqCst);
    }

    /// Asserts or releases physical presence (mssim PHYS_PRES_ON / OFF).
    pub fn set_physical_presence(&self, on: bool) {
        self.signals.presence.store(on, Ordering::SeqCst);
    }

    /// _TPM_Init, then the automatic TPM2_Startup if one is configured.
    pub fn power_on(
        &self,
        delete_volatile: bool,
        startup: Option<StartupType>,
    ) -> Result<(), String> {
        self.set_cancel(false);
        self.lock()
            .power_on(delete_volatile)
            .map_err(|e| format!("power-on failed: {e}"))?;
        if let Some(ty) = startup {
            self.startup(ty);
        }
        Ok(())
    }

    /// Sends TPM2_Startup like swtpm's startup-* flags; its result is only logged
    /// (a TPM already started answers TPM_RC_INITIALIZE, which is fine).
    fn startup(&self, ty: StartupType) {
        // Not a client command: not recorded.
        let response = self.execute_inner(0, &startup_command(ty), false);
        let rc = crate::wire::be_u32(&response, 6).unwrap_or(u32::MAX);
        vlog!(1, "automatic TPM2_Startup({ty:?}): rc 0x{rc:x}");
    }
}

/// TPM2_Startup(CLEAR or STATE).
pub fn startup_command(ty: StartupType) -> [u8; 12] {
    let su = match ty {
        StartupType::Clear => 0,
        StartupType::State => 1,
    };
    [0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x44, 0, su]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_bytes() {
        assert_eq!(
            startup_command(StartupType::Clear),
            [0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0]
        );
        assert_eq!(startup_command(StartupType::State)[11], 1);
    }
}
