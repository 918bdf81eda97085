//! What the engine needs from its host and cannot make itself.
//!
//! The engine is pure: no I/O, no clock and no entropy of its own. A server, a
//! paravisor or firmware implements this trait (the `vtpm` crate adds NV load and
//! commit on top of it).

/// Host services used while executing commands.
pub trait Platform {
    /// Fills `out` with fresh entropy from a conditioned source. `false` means the
    /// source failed; the engine then enters failure mode (Part 1, section 12.x).
    fn entropy(&mut self, out: &mut [u8]) -> bool;

    /// A monotonic millisecond count. It only has to advance while the TPM is
    /// powered; the engine derives TPMS_TIME_INFO.time and Clock from differences.
    fn monotonic_ms(&self) -> u64;

    /// True when the host asked to cancel the command in progress
    /// (swtpm CANCEL_TPM_CMD, mssim CANCEL_ON, CRB CTRL_CANCEL).
    fn cancel_requested(&self) -> bool {
        false
    }

    /// True while the platform asserts physical presence (Part 1, 19.7.x;
    /// PolicyPhysicalPresence). Hosts without a presence signal never assert it.
    fn physical_presence(&self) -> bool {
        false
    }
}
