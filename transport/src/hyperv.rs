//! The Hyper-V / OpenHCL vTPM device as register-level logic: the CRB-style control
//! area (MMIO at 0xFED40000, 0x70 bytes), the command port pair (x86 IO ports
//! 0x1040/0x1044, or MMIO 0xFED40080/0xFED40084 on arm64), the shared command and
//! response pages in guest memory, and the Physical Presence Interface commands.
//!
//! Commands run synchronously when the guest writes START: the device reads the
//! command from the shared page, executes it at locality 0 (the only one), writes
//! the response to the page after it and clears START.
//!
//! The PPI state (28 bytes, what OpenHCL keeps in VMGS file id 2) lives behind
//! [`PpiStore`] ([`VmgsPpiStore`]: file id 2 of a VMGS handle, the one that can also
//! hold the vTPM state in file id 3); [`HyperV::boot`] runs a pending operation at
//! the next boot.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use vtpm_nvram::vmgs::{Vmgs, VmgsDisk, VmgsError, VmgsRng, file_id};

use crate::guest::{
    AccessError, GuestMemory, RC_CANCELED, RC_COMMAND_SIZE, RC_FAILURE, TpmBackend, command_size,
    error_response, le_value, put_le,
};

pub const CONTROL_BASE: u64 = 0xFED4_0000;
pub const CONTROL_SIZE: u64 = 0x70;
/// The command ports as MMIO (arm64), relative to the control area.
pub const MMIO_CONTROL_PORT: u64 = 0x80;
pub const MMIO_DATA_PORT: u64 = 0x84;
pub const IO_CONTROL_PORT: u16 = 0x1040;
pub const IO_DATA_PORT: u16 = 0x1044;
/// The command page; the response page follows it.
pub const PAGE_SIZE: usize = 4096;

/// Control area offsets.
pub mod reg {
    pub const LOC_STATE: u64 = 0x00;
    pub const LOC_CTRL: u64 = 0x08;
    pub const LOC_STS: u64 = 0x0C;
    pub const INTF_ID: u64 = 0x30;
    pub const CANCEL: u64 = 0x48;
    pub const START: u64 = 0x4C;
    pub const CMD_SIZE: u64 = 0x58;
    pub const CMD_PA_LO: u64 = 0x5C;
    pub const CMD_PA_HI: u64 = 0x60;
    pub const RSP_SIZE: u64 = 0x64;
    pub const RSP_PA_LO: u64 = 0x68;
    pub const RSP_PA_HI: u64 = 0x6C;
}

/// Command port codes.
pub mod port_cmd {
    pub const VERSION: u32 = 0;
    pub const MAP_SHARED_MEMORY: u32 = 1;
    pub const ESTABLISHED: u32 = 2;
    pub const PPI_GET_PENDING_OPERATION: u32 = 3;
    pub const PPI_GET_LAST_OPERATION: u32 = 5;
    pub const PPI_GET_LAST_RESULT: u32 = 6;
    pub const PPI_SET_OPERATION: u32 = 7;
    pub const PPI_GET_USER_CONFIRMATION: u32 = 8;
    pub const PPI_SET_OPERATION_ARG3_INTEGER2: u32 = 32;
    pub const GET_TCG_PROTOCOL_VERSION: u32 = 64;
    pub const CAPABILITY_HASH_ALG_BITMAP: u32 = 65;
}

/// PPI operations (TCG PC Client PPI 1.3) this device performs.
pub mod ppi_op {
    pub const NO_OP: u32 = 0;
    pub const CLEAR: u32 = 5;
    pub const ENABLE_ACTIVATE_CLEAR: u32 = 14;
    pub const ENABLE_ACTIVATE_CLEAR_ENABLE_ACTIVATE: u32 = 21;
    pub const ENABLE_ACTIVATE_CLEAR_ENABLE_ACTIVATE_2: u32 = 22;
    pub const SET_PCR_BANKS: u32 = 23;
}

/// The interface version the VERSION command reports.
pub const INTERFACE_VERSION: u32 = 1;
/// GET_TCG_PROTOCOL_VERSION: TCG2 (0 would be TrEE).
pub const TCG_PROTOCOL_TCG2: u32 = 1;
/// EFI_TCG2_BOOT_HASH_ALG_* bits of the engine's PCR banks: SHA-1, SHA-256,
/// SHA-384, SHA-512.
pub const SUPPORTED_HASH_ALGS: u32 = 0x0F;
/// Control area values the guest driver checks.
pub const LOC_STATE_IDLE: u32 = 0x81;
pub const LOC_STATE_REQUESTED: u32 = 0x83;
pub const INTF_ID_VALUE: u32 = 0x4011;

/// PPI "submit request" results.
pub const PPI_SUBMIT_OK: u32 = 0;
pub const PPI_SUBMIT_NOT_IMPLEMENTED: u32 = 1;
/// PPI "user confirmation" answers.
pub const PPI_CONFIRM_NOT_IMPLEMENTED: u32 = 0;
/// Allowed, and no physically present user is needed (a VM has none).
pub const PPI_CONFIRM_ALLOWED: u32 = 4;

/// PPI last-operation result when the request itself was unusable ("BIOS failure");
/// otherwise the result is 0 or the TPM response code of the failing command.
pub const PPI_RESULT_FIRMWARE_FAILURE: u32 = 0xFFFF_FFF1;

/// Length of the stored PPI state.
pub const PPI_STATE_LEN: usize = 28;

/// The PPI state, stored as 7 little-endian u32 in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpiState {
    pub pending_op: u32,
    pub in_query_op: u32,
    pub set_op_state: u32,
    pub last_op: u32,
    pub last_state: u32,
    pub arg3_integer2: u32,
    pub hash_alg_bitmap: u32,
}

impl PpiState {
    fn fields(&self) -> [u32; 7] {
        [
            self.pending_op,
            self.in_query_op,
            self.set_op_state,
            self.last_op,
            self.last_state,
            self.arg3_integer2,
            self.hash_alg_bitmap,
        ]
    }

    pub fn to_bytes(&self) -> [u8; PPI_STATE_LEN] {
        let mut out = [0u8; PPI_STATE_LEN];
        for (chunk, v) in out.chunks_exact_mut(4).zip(self.fields()) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// `None` unless `bytes` is exactly 28 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<PpiState> {
        if bytes.len() != PPI_STATE_LEN {
            return None;
        }
        let mut v = bytes
            .chunks_exact(4)
            .filter_map(|c| <[u8; 4]>::try_from(c).ok())
            .map(u32::from_le_bytes);
        Some(PpiState {
            pending_op: v.next()?,
            in_query_op: v.next()?,
            set_op_state: v.next()?,
            last_op: v.next()?,
            last_state: v.next()?,
            arg3_integer2: v.next()?,
            hash_alg_bitmap: v.next()?,
        })
    }
}

/// Why a [`PpiStore`] could not hand back the stored state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PpiStoreError {
    /// Something is stored but it is not a PPI state (its length, not 28): refused
    /// rather than taken for "nothing stored", so a damaged file is not silently
    /// replaced by a fresh state (which would drop a pending request).
    BadLength(usize),
    /// The backing store failed (I/O, a damaged or locked VMGS file).
    Backend(String),
}

impl core::fmt::Display for PpiStoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PpiStoreError::BadLength(n) => {
                write!(f, "stored PPI state is {n} bytes, not {PPI_STATE_LEN}")
            }
            PpiStoreError::Backend(e) => write!(f, "PPI store: {e}"),
        }
    }
}

/// Durable storage of the PPI state (VMGS file id 2 in OpenHCL).
pub trait PpiStore {
    /// The stored state; `Ok(None)` only when nothing is stored.
    fn load(&mut self) -> Result<Option<[u8; PPI_STATE_LEN]>, PpiStoreError>;
    /// Stores the state durably; `false` when that failed.
    fn store(&mut self, state: &[u8; PPI_STATE_LEN]) -> bool;
}

/// A borrowed store, so an embedder can keep owning it (and the VMGS handle in it).
impl<S: PpiStore + ?Sized> PpiStore for &mut S {
    fn load(&mut self) -> Result<Option<[u8; PPI_STATE_LEN]>, PpiStoreError> {
        (**self).load()
    }
    fn store(&mut self, state: &[u8; PPI_STATE_LEN]) -> bool {
        (**self).store(state)
    }
}

/// A PPI store in memory (tests, and VMMs that keep no PPI state).
#[derive(Clone, Debug, Default)]
pub struct MemPpiStore {
    pub bytes: Option<[u8; PPI_STATE_LEN]>,
    pub stores: usize,
}

impl PpiStore for MemPpiStore {
    fn load(&mut self) -> Result<Option<[u8; PPI_STATE_LEN]>, PpiStoreError> {
        Ok(self.bytes)
    }

    fn store(&mut self, state: &[u8; PPI_STATE_LEN]) -> bool {
        self.bytes = Some(*state);
        self.stores += 1;
        true
    }
}

/// The PPI state in file id 2 ([`file_id::TPM_PPI`]) of a VMGS file, as OpenHCL keeps
/// it. The store owns the VMGS handle: a second handle on the same disk would not see
/// this one's commits, so the vTPM state (file id 3) is written through
/// [`VmgsPpiStore::vmgs_mut`] (e.g. `Vmgs::write_vtpm_state`) while the device runs.
/// `rng` supplies the nonces and keys of an encrypted store's commits.
pub struct VmgsPpiStore<D: VmgsDisk, R: VmgsRng> {
    vmgs: Vmgs<D>,
    rng: R,
    last_error: Option<VmgsError>,
}

impl<D: VmgsDisk, R: VmgsRng> VmgsPpiStore<D, R> {
    /// `vmgs` must be unlocked if it is encrypted (a locked one fails `load`).
    pub fn new(vmgs: Vmgs<D>, rng: R) -> Self {
        VmgsPpiStore {
            vmgs,
            rng,
            last_error: None,
        }
    }

    pub fn vmgs(&self) -> &Vmgs<D> {
        &self.vmgs
    }

    /// The shared handle, for the other files (the vTPM state in file id 3).
    pub fn vmgs_mut(&mut self) -> &mut Vmgs<D> {
        &mut self.vmgs
    }

    /// The handle and the randomness source together (a commit needs both).
    pub fn parts_mut(&mut self) -> (&mut Vmgs<D>, &mut R) {
        (&mut self.vmgs, &mut self.rng)
    }

    pub fn into_parts(self) -> (Vmgs<D>, R) {
        (self.vmgs, self.rng)
    }

    /// Why the last [`PpiStore::store`] failed (cleared by a successful one).
    pub fn last_error(&self) -> Option<&VmgsError> {
        self.last_error.as_ref()
    }
}

impl<D: VmgsDisk, R: VmgsRng> PpiStore for VmgsPpiStore<D, R> {
    fn load(&mut self) -> Result<Option<[u8; PPI_STATE_LEN]>, PpiStoreError> {
        if !self.vmgs.has_file(file_id::TPM_PPI) {
            return Ok(None);
        }
        let data = self
            .vmgs
            .read_file(file_id::TPM_PPI)
            .map_err(|e| PpiStoreError::Backend(e.to_string()))?;
        <[u8; PPI_STATE_LEN]>::try_from(data.as_slice())
            .map(Some)
            .map_err(|_| PpiStoreError::BadLength(data.len()))
    }

    fn store(&mut self, state: &[u8; PPI_STATE_LEN]) -> bool {
        match self.vmgs.write_file(file_id::TPM_PPI, state, &mut self.rng) {
            Ok(()) => {
                self.last_error = None;
                true
            }
            Err(e) => {
                self.last_error = Some(e);
                false
            }
        }
    }
}

/// [`HyperV::new`] could not read the stored PPI state; the parts are handed back so
/// the embedder can repair or replace the store and try again.
pub struct PpiLoadError<B, S> {
    pub error: PpiStoreError,
    pub tpm: B,
    pub store: S,
}

impl<B, S> core::fmt::Debug for PpiLoadError<B, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PpiLoadError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<B, S> core::fmt::Display for PpiLoadError<B, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.error.fmt(f)
    }
}

fn ppi_supported(op: u32) -> bool {
    matches!(
        op,
        ppi_op::NO_OP
            | ppi_op::CLEAR
            | ppi_op::ENABLE_ACTIVATE_CLEAR
            | ppi_op::ENABLE_ACTIVATE_CLEAR_ENABLE_ACTIVATE
            | ppi_op::ENABLE_ACTIVATE_CLEAR_ENABLE_ACTIVATE_2
            | ppi_op::SET_PCR_BANKS
    )
}

fn ppi_clears(op: u32) -> bool {
    matches!(
        op,
        ppi_op::CLEAR
            | ppi_op::ENABLE_ACTIVATE_CLEAR
            | ppi_op::ENABLE_ACTIVATE_CLEAR_ENABLE_ACTIVATE
            | ppi_op::ENABLE_ACTIVATE_CLEAR_ENABLE_ACTIVATE_2
    )
}

pub struct HyperV<B: TpmBackend, S: PpiStore> {
    tpm: B,
    store: S,
    ppi: PpiState,
    base: u64,
    locality_requested: bool,
    cancel: u32,
    start: u32,
    shared_gpa: Option<u64>,
    port_command: u32,
}

impl<B: TpmBackend, S: PpiStore> HyperV<B, S> {
    /// The device with its control area at `base` (0xFED40000), the PPI state from
    /// `store` (fresh when none is stored). A store that fails, or holds something
    /// that is not a PPI state, is refused: the device would otherwise overwrite it
    /// with a fresh state at the first PPI write.
    pub fn new(tpm: B, mut store: S, base: u64) -> Result<Self, PpiLoadError<B, S>> {
        let ppi = match store.load() {
            Ok(Some(b)) => PpiState::from_bytes(&b).unwrap_or_default(),
            Ok(None) => PpiState::default(),
            Err(error) => return Err(PpiLoadError { error, tpm, store }),
        };
        Ok(HyperV {
            tpm,
            store,
            ppi,
            base,
            locality_requested: false,
            cancel: 0,
            start: 0,
            shared_gpa: None,
            port_command: 0,
        })
    }

    pub fn tpm(&self) -> &B {
        &self.tpm
    }

    pub fn tpm_mut(&mut self) -> &mut B {
        &mut self.tpm
    }

    pub fn ppi_state(&self) -> PpiState {
        self.ppi
    }

    pub fn ppi_store(&self) -> &S {
        &self.store
    }

    /// The store, e.g. to reach the shared VMGS handle of a [`VmgsPpiStore`].
    pub fn ppi_store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The TPM and the store back (a VM that is torn down).
    pub fn into_parts(self) -> (B, S) {
        (self.tpm, self.store)
    }

    /// A VM reset: the guest maps the shared pages again; the PPI state stays.
    pub fn reset(&mut self) {
        self.locality_requested = false;
        self.cancel = 0;
        self.start = 0;
        self.shared_gpa = None;
        self.port_command = 0;
        self.tpm.set_cancel(false);
    }

    fn persist_ppi(&mut self) {
        // A PPI request that cannot be stored is lost at the next boot; the guest
        // sees it pending until then, as OpenHCL does.
        let _ = self.store.store(&self.ppi.to_bytes());
    }

    fn reg32(&self, off: u64) -> u32 {
        let page = self.shared_gpa.unwrap_or(0);
        let size = if self.shared_gpa.is_some() {
            PAGE_SIZE as u32
        } else {
            0
        };
        let rsp = if self.shared_gpa.is_some() {
            page + PAGE_SIZE as u64
        } else {
            0
        };
        match off {
            reg::LOC_STATE if self.locality_requested => LOC_STATE_REQUESTED,
            reg::LOC_STATE => LOC_STATE_IDLE,
            reg::LOC_STS => 1,
            reg::INTF_ID => INTF_ID_VALUE,
            reg::CANCEL => self.cancel,
            reg::START => self.start,
            reg::CMD_SIZE => size,
            reg::CMD_PA_LO => page as u32,
            reg::CMD_PA_HI => (page >> 32) as u32,
            reg::RSP_SIZE => size,
            reg::RSP_PA_LO => rsp as u32,
            reg::RSP_PA_HI => (rsp >> 32) as u32,
            _ => 0,
        }
    }

    /// An MMIO read in the control area or of the MMIO command ports.
    pub fn mmio_read(&mut self, addr: u64, data: &mut [u8]) -> Result<(), AccessError> {
        let off = addr.checked_sub(self.base).ok_or(AccessError::OutOfRange)?;
        if off == MMIO_CONTROL_PORT || off == MMIO_DATA_PORT {
            return self.port_read(off == MMIO_DATA_PORT, data);
        }
        if off >= CONTROL_SIZE {
            return Err(AccessError::OutOfRange);
        }
        let value = match data.len() {
            // Narrow reads are rounded down to the register (TDX Linux reads bytewise).
            1 | 2 | 4 => u64::from(self.reg32(off & !3)),
            8 if matches!(off, reg::INTF_ID | reg::CMD_PA_LO | reg::RSP_PA_LO) => {
                u64::from(self.reg32(off)) | (u64::from(self.reg32(off + 4)) << 32)
            }
            _ => return Err(AccessError::BadAccess),
        };
        put_le(data, value);
        Ok(())
    }

    /// An MMIO write in the control area or to the MMIO command ports. START runs
    /// the command in `mem` before this returns.
    pub fn mmio_write(
        &mut self,
        addr: u64,
        data: &[u8],
        mem: &mut dyn GuestMemory,
    ) -> Result<(), AccessError> {
        let off = addr.checked_sub(self.base).ok_or(AccessError::OutOfRange)?;
        if off == MMIO_CONTROL_PORT || off == MMIO_DATA_PORT {
            return self.port_write(off == MMIO_DATA_PORT, data);
        }
        if off >= CONTROL_SIZE {
            return Err(AccessError::OutOfRange);
        }
        if data.len() != 4 || off % 4 != 0 {
            return Err(AccessError::BadAccess);
        }
        let value = le_value(data).ok_or(AccessError::BadAccess)? as u32;
        match off {
            reg::LOC_CTRL => {
                if value & 1 != 0 {
                    self.locality_requested = true;
                }
                if value & 2 != 0 {
                    self.locality_requested = false;
                }
            }
            reg::CANCEL => {
                self.cancel = value;
                self.tpm.set_cancel(value != 0);
            }
            reg::START if value != 0 => {
                self.start = value;
                self.execute(mem);
                self.start = 0;
            }
            // The buffers are where MAP_SHARED_MEMORY put them; the rest is read-only.
            _ => {}
        }
        Ok(())
    }

    /// An x86 IO port access (32-bit).
    pub fn io_read(&mut self, port: u16, data: &mut [u8]) -> Result<(), AccessError> {
        match port {
            IO_CONTROL_PORT => self.port_read(false, data),
            IO_DATA_PORT => self.port_read(true, data),
            _ => Err(AccessError::OutOfRange),
        }
    }

    pub fn io_write(&mut self, port: u16, data: &[u8]) -> Result<(), AccessError> {
        match port {
            IO_CONTROL_PORT => self.port_write(false, data),
            IO_DATA_PORT => self.port_write(true, data),
            _ => Err(AccessError::OutOfRange),
        }
    }

    fn port_read(&mut self, data_port: bool, out: &mut [u8]) -> Result<(), AccessError> {
        if out.len() != 4 {
            return Err(AccessError::BadAccess);
        }
        let value = if data_port {
            self.port_data()
        } else {
            self.port_command
        };
        put_le(out, u64::from(value));
        Ok(())
    }

    fn port_data(&self) -> u32 {
        match self.port_command {
            port_cmd::VERSION => INTERFACE_VERSION,
            port_cmd::MAP_SHARED_MEMORY => self.shared_gpa.unwrap_or(0) as u32,
            port_cmd::ESTABLISHED => u32::from(self.tpm.established()),
            port_cmd::PPI_GET_PENDING_OPERATION => self.ppi.pending_op,
            port_cmd::PPI_GET_LAST_OPERATION => self.ppi.last_op,
            port_cmd::PPI_GET_LAST_RESULT => self.ppi.last_state,
            port_cmd::PPI_SET_OPERATION => self.ppi.set_op_state,
            port_cmd::PPI_GET_USER_CONFIRMATION => {
                if ppi_supported(self.ppi.in_query_op) {
                    PPI_CONFIRM_ALLOWED
                } else {
                    PPI_CONFIRM_NOT_IMPLEMENTED
                }
            }
            port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2 => self.ppi.arg3_integer2,
            port_cmd::GET_TCG_PROTOCOL_VERSION => TCG_PROTOCOL_TCG2,
            port_cmd::CAPABILITY_HASH_ALG_BITMAP => SUPPORTED_HASH_ALGS,
            _ => 0,
        }
    }

    fn port_write(&mut self, data_port: bool, data: &[u8]) -> Result<(), AccessError> {
        if data.len() != 4 {
            return Err(AccessError::BadAccess);
        }
        let value = le_value(data).ok_or(AccessError::BadAccess)? as u32;
        if !data_port {
            self.port_command = value;
            return Ok(());
        }
        match self.port_command {
            port_cmd::MAP_SHARED_MEMORY => {
                // Two pages, page aligned; an unaligned address unmaps.
                let gpa = u64::from(value);
                self.shared_gpa = (gpa % PAGE_SIZE as u64 == 0 && gpa != 0).then_some(gpa);
            }
            port_cmd::PPI_SET_OPERATION => {
                if ppi_supported(value) {
                    self.ppi.pending_op = value;
                    self.ppi.set_op_state = PPI_SUBMIT_OK;
                } else {
                    self.ppi.set_op_state = PPI_SUBMIT_NOT_IMPLEMENTED;
                }
                self.persist_ppi();
            }
            port_cmd::PPI_GET_USER_CONFIRMATION => self.ppi.in_query_op = value,
            port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2 => {
                self.ppi.arg3_integer2 = value;
                self.persist_ppi();
            }
            // Read-only commands ignore data writes.
            _ => {}
        }
        Ok(())
    }

    fn execute(&mut self, mem: &mut dyn GuestMemory) {
        let Some(page) = self.shared_gpa else {
            // Nowhere to read a command from or to put a response.
            return;
        };
        let response = self.run(mem, page);
        let response = if response.len() > PAGE_SIZE {
            error_response(RC_FAILURE)
        } else {
            response
        };
        // A failed write leaves the guest's page as it was: its driver times out.
        let _ = mem.write(page + PAGE_SIZE as u64, &response);
    }

    fn run(&mut self, mem: &mut dyn GuestMemory, page: u64) -> Vec<u8> {
        let mut header = [0u8; 10];
        if mem.read(page, &mut header).is_err() {
            return error_response(RC_FAILURE);
        }
        let size = command_size(&header);
        if !(10..=PAGE_SIZE).contains(&size) {
            return error_response(RC_COMMAND_SIZE);
        }
        let mut command = vec![0u8; size];
        if mem.read(page, &mut command).is_err() {
            return error_response(RC_FAILURE);
        }
        if self.cancel != 0 {
            return error_response(RC_CANCELED);
        }
        self.tpm.execute(0, &command)
    }

    /// At boot, after Startup: performs the pending PPI operation (Clear with
    /// platform authorization, or PCR_Allocate followed by a TPM reset and
    /// Startup(CLEAR)), records its result as the last operation and stores the
    /// state. Returns the operation performed (0 when none was pending).
    pub fn boot(&mut self) -> u32 {
        let op = self.ppi.pending_op;
        if op == ppi_op::NO_OP {
            return op;
        }
        let result = if ppi_clears(op) {
            self.clear()
        } else if op == ppi_op::SET_PCR_BANKS {
            self.set_pcr_banks(self.ppi.arg3_integer2)
        } else {
            0
        };
        self.ppi.last_op = op;
        self.ppi.last_state = result;
        self.ppi.pending_op = ppi_op::NO_OP;
        self.persist_ppi();
        op
    }

    /// Executes a platform-authorized command (empty platform auth, as after
    /// Startup(CLEAR)); returns its response code.
    fn platform_command(&mut self, cc: u32, handle: u32, params: &[u8]) -> u32 {
        let mut cmd = Vec::with_capacity(27 + params.len());
        cmd.extend_from_slice(&0x8002u16.to_be_bytes());
        cmd.extend_from_slice(&0u32.to_be_bytes());
        cmd.extend_from_slice(&cc.to_be_bytes());
        cmd.extend_from_slice(&handle.to_be_bytes());
        // One password session with an empty password.
        cmd.extend_from_slice(&9u32.to_be_bytes());
        cmd.extend_from_slice(&0x4000_0009u32.to_be_bytes());
        cmd.extend_from_slice(&[0, 0, 0, 0, 0]);
        cmd.extend_from_slice(params);
        let len = (cmd.len() as u32).to_be_bytes();
        if let Some(size) = cmd.get_mut(2..6) {
            size.copy_from_slice(&len);
        }
        let rsp = self.tpm.execute(0, &cmd);
        rsp.get(6..10)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(RC_FAILURE, u32::from_be_bytes)
    }

    /// TPM2_ClearControl(platform, NO) then TPM2_Clear(platform).
    fn clear(&mut self) -> u32 {
        const TPM_RH_PLATFORM: u32 = 0x4000_000C;
        match self.platform_command(0x127, TPM_RH_PLATFORM, &[0]) {
            0 => self.platform_command(0x126, TPM_RH_PLATFORM, &[]),
            rc => rc,
        }
    }

    /// TPM2_PCR_Allocate(platform) of the banks in `bitmap` (EFI_TCG2 bits), then
    /// a TPM reset and Startup(CLEAR) so the allocation takes effect.
    fn set_pcr_banks(&mut self, bitmap: u32) -> u32 {
        const TPM_RH_PLATFORM: u32 = 0x4000_000C;
        // EFI_TCG2_BOOT_HASH_ALG bit -> TPM_ALG_ID.
        const BANKS: [(u32, u16); 4] = [(1, 0x0004), (2, 0x000B), (4, 0x000C), (8, 0x000D)];
        if bitmap & SUPPORTED_HASH_ALGS == 0 || bitmap & !SUPPORTED_HASH_ALGS != 0 {
            // No bank, or a bank the TPM lacks: refused without touching the TPM.
            return PPI_RESULT_FIRMWARE_FAILURE;
        }
        let mut params = Vec::new();
        params.extend_from_slice(&(BANKS.len() as u32).to_be_bytes());
        for (bit, alg) in BANKS {
            params.extend_from_slice(&alg.to_be_bytes());
            params.push(3);
            let fill = if bitmap & bit != 0 { 0xFF } else { 0 };
            params.extend_from_slice(&[fill; 3]);
        }
        let rc = self.platform_command(0x12B, TPM_RH_PLATFORM, &params);
        if rc != 0 {
            return rc;
        }
        self.ppi.hash_alg_bitmap = bitmap;
        if !self.tpm.reset() {
            return RC_FAILURE;
        }
        let startup = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];
        let rsp = self.tpm.execute(0, &startup);
        rsp.get(6..10)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(RC_FAILURE, u32::from_be_bytes)
    }
}
