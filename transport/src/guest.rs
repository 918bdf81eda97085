//! What the device models (`crb`, `hyperv`) need from the virtual machine monitor:
//! guest memory, and a TPM to send commands to. Pure logic, no sockets or threads;
//! only `core` and `alloc`, so a paravisor without std can use the models too.

use alloc::vec::Vec;

/// Guest-physical memory as the device sees it.
pub trait GuestMemory {
    /// Reads `buf.len()` bytes at guest-physical address `gpa`.
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError>;
    /// Writes `data` at guest-physical address `gpa`.
    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError>;
}

/// The access touched memory the guest does not have (or the device may not use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryError;

/// A register access the device refuses (the VMM turns it into the platform's bus
/// error, or ignores it, as its bus does for unclaimed accesses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// Not an address of this device.
    OutOfRange,
    /// A width the register does not support, or an access straddling registers.
    BadAccess,
}

/// The TPM behind a device model.
pub trait TpmBackend {
    /// Executes one command at `locality`; returns the response.
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8>;
    /// The platform's cancel signal while a command executes (CRB CTRL_CANCEL).
    fn set_cancel(&mut self, on: bool);
    /// The PC Client established flag.
    fn established(&self) -> bool;
    /// Clears the established flag; `false` when `locality` may not.
    fn reset_established(&mut self, locality: u8) -> bool;
    /// _TPM_Init (a TPM reset), discarding volatile state.
    fn reset(&mut self) -> bool;
    /// True while the TPM is in failure mode.
    fn failed(&self) -> bool {
        false
    }
}

/// A platform whose cancel signal a device model drives.
pub trait CancelSignal {
    fn set_cancel(&mut self, on: bool);
}

impl<P: vtpm::Platform + CancelSignal> TpmBackend for vtpm::Device<P> {
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        vtpm::Device::execute(self, locality, command)
    }

    fn set_cancel(&mut self, on: bool) {
        self.platform_mut().set_cancel(on);
    }

    fn established(&self) -> bool {
        self.tpm_established()
    }

    fn reset_established(&mut self, locality: u8) -> bool {
        vtpm::Device::reset_established(self, locality).is_ok()
    }

    fn reset(&mut self) -> bool {
        self.power_on(true).is_ok()
    }

    fn failed(&self) -> bool {
        self.engine().failure().is_some()
    }
}

/// The 10-byte response of a command that did not run, with response code `rc`.
pub(crate) fn error_response(rc: u32) -> Vec<u8> {
    let mut r = Vec::with_capacity(10);
    r.extend_from_slice(&0x8001u16.to_be_bytes());
    r.extend_from_slice(&10u32.to_be_bytes());
    r.extend_from_slice(&rc.to_be_bytes());
    r
}

/// TPM_RC_CANCELED.
pub(crate) const RC_CANCELED: u32 = 0x909;
/// TPM_RC_FAILURE.
pub(crate) const RC_FAILURE: u32 = 0x101;
/// TPM_RC_COMMAND_SIZE.
pub(crate) const RC_COMMAND_SIZE: u32 = 0x142;

/// The commandSize field of a command header (0 when the header is short).
pub(crate) fn command_size(header: &[u8]) -> usize {
    header
        .get(2..6)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_be_bytes(b) as usize)
}

/// A little-endian register value from an access of 1, 2, 4 or 8 bytes.
pub(crate) fn le_value(data: &[u8]) -> Option<u64> {
    match data.len() {
        1 | 2 | 4 | 8 => {
            let mut b = [0u8; 8];
            b.get_mut(..data.len())?.copy_from_slice(data);
            Some(u64::from_le_bytes(b))
        }
        _ => None,
    }
}

/// Writes the low `out.len()` bytes of `value`, little-endian.
pub(crate) fn put_le(out: &mut [u8], value: u64) {
    let b = value.to_le_bytes();
    for (o, v) in out.iter_mut().zip(b.iter()) {
        *o = *v;
    }
}
