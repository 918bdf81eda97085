//! The host side of the device: entropy from the OS, a monotonic clock, the cancel
//! flag shared with the transport, and the state image in a VMGS file
//! ([`crate::storage`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use vtpm::PlatformError;

use crate::storage::Store;

/// Platform signals a transport raises while the engine runs.
#[derive(Default)]
pub struct Signals {
    /// Cancel the command in progress (swtpm CANCEL_TPM_CMD, mssim CANCEL_ON).
    pub cancel: AtomicBool,
    /// Physical presence is asserted (mssim PHYS_PRES_ON).
    pub presence: AtomicBool,
}

pub struct HostPlatform {
    store: Store,
    started: Instant,
    signals: Arc<Signals>,
}

impl HostPlatform {
    /// A platform storing its state in an opened store.
    pub fn new(store: Store, signals: Arc<Signals>) -> HostPlatform {
        HostPlatform {
            store,
            started: Instant::now(),
            signals,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl vtpm_commands::Platform for HostPlatform {
    fn entropy(&mut self, out: &mut [u8]) -> bool {
        getrandom::fill(out).is_ok()
    }

    fn monotonic_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn cancel_requested(&self) -> bool {
        self.signals.cancel.load(Ordering::SeqCst)
    }

    fn physical_presence(&self) -> bool {
        self.signals.presence.load(Ordering::SeqCst)
    }
}

impl vtpm::Platform for HostPlatform {
    fn load_state(&mut self) -> Result<Option<Vec<u8>>, PlatformError> {
        self.store
            .load()
            .map_err(|e| PlatformError(format!("reading the state: {e}")))
    }

    /// Durable on return: the VMGS writer flushes the data, flips the header and
    /// flushes again.
    fn commit_state(&mut self, image: &[u8]) -> Result<(), PlatformError> {
        self.store
            .commit(image)
            .map_err(|e| PlatformError(format!("writing the state: {e}")))
    }
}

/// Name of the lock file that keeps two servers off one state directory.
const LOCK_FILE: &str = ".lock";

/// Takes the state directory's lock for the life of the returned file: two TPMs
/// writing one image would corrupt each other's state.
pub fn lock_state_dir(dir: &Path) -> Result<File, String> {
    // The image holds the TPM's seeds: a directory vtpm creates is private to the user.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create state directory {}: {e}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(format!(
            "state directory {} is in use by another TPM",
            dir.display()
        )),
        Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// The default state directory: $XDG_STATE_HOME/vtpm, else ~/.local/state/vtpm.
pub fn default_state_dir() -> Result<PathBuf, String> {
    if let Some(xdg) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("vtpm"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/vtpm")),
        None => Err(
            "no state directory: give --tpmstate dir=DIR (neither XDG_STATE_HOME nor HOME is set)"
                .into(),
        ),
    }
}
