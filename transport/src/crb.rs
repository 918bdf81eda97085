//! The TCG CRB interface (PC Client Platform TPM Profile, Command Response Buffer)
//! as register-level device logic: five locality windows of 4 KiB at `base`
//! (0xFED40000 on PCs), locality arbitration (request, relinquish, seize), the
//! cmdReady/goIdle power states, start and cancel, and the command/response buffer.
//!
//! The VMM forwards guest MMIO to [`Crb::read`] / [`Crb::write`] and, when
//! [`Crb::command_pending`] turns true after a write, calls [`Crb::process`] (at once
//! or from a worker): the command executes with the locality that started it and
//! the response lands in the response buffer, then CTRL_START reads 0. A guest
//! that writes CTRL_CANCEL before the command runs gets TPM_RC_CANCELED without it
//! running; while it runs, the cancel reaches the TPM as the platform's signal.
//!
//! The command and response buffers are the 0xF80-byte data buffer at offset 0x80
//! of every locality window (one buffer, visible to the active locality) unless
//! firmware points CMD_ADDR/RSP_ADDR elsewhere: then they are guest memory.

use alloc::vec;
use alloc::vec::Vec;

use crate::guest::{
    AccessError, GuestMemory, RC_CANCELED, RC_COMMAND_SIZE, RC_FAILURE, TpmBackend, command_size,
    error_response, le_value, put_le,
};

/// Where PCs put the TPM.
pub const CRB_BASE: u64 = 0xFED4_0000;
/// One window per locality.
pub const LOCALITY_STRIDE: u64 = 0x1000;
pub const LOCALITIES: u8 = 5;
/// The data buffer inside each window.
pub const DATA_BUFFER: u64 = 0x80;
pub const BUFFER_SIZE: usize = 0xF80;

/// Register offsets inside a locality window.
pub mod reg {
    pub const LOC_STATE: u64 = 0x00;
    pub const LOC_CTRL: u64 = 0x08;
    pub const LOC_STS: u64 = 0x0C;
    pub const INTF_ID: u64 = 0x30;
    pub const INTF_ID_HI: u64 = 0x34;
    pub const CTRL_EXT: u64 = 0x38;
    pub const CTRL_REQ: u64 = 0x40;
    pub const CTRL_STS: u64 = 0x44;
    pub const CTRL_CANCEL: u64 = 0x48;
    pub const CTRL_START: u64 = 0x4C;
    pub const INT_ENABLE: u64 = 0x50;
    pub const INT_STS: u64 = 0x54;
    pub const CMD_SIZE: u64 = 0x58;
    pub const CMD_ADDR_LO: u64 = 0x5C;
    pub const CMD_ADDR_HI: u64 = 0x60;
    pub const RSP_SIZE: u64 = 0x64;
    pub const RSP_ADDR: u64 = 0x68;
    pub const RSP_ADDR_HI: u64 = 0x6C;
}

/// LOC_STATE bits.
pub const LOC_STATE_ESTABLISHED: u32 = 1 << 0;
pub const LOC_STATE_ASSIGNED: u32 = 1 << 1;
pub const LOC_STATE_ACTIVE_SHIFT: u32 = 2;
pub const LOC_STATE_REG_VALID: u32 = 1 << 7;
/// LOC_CTRL bits.
pub const LOC_CTRL_REQUEST: u32 = 1 << 0;
pub const LOC_CTRL_RELINQUISH: u32 = 1 << 1;
pub const LOC_CTRL_SEIZE: u32 = 1 << 2;
pub const LOC_CTRL_RESET_ESTABLISHMENT: u32 = 1 << 3;
/// LOC_STS bits.
pub const LOC_STS_GRANTED: u32 = 1 << 0;
pub const LOC_STS_SEIZED: u32 = 1 << 1;
/// CTRL_REQ / CTRL_STS bits.
pub const CTRL_REQ_CMD_READY: u32 = 1 << 0;
pub const CTRL_REQ_GO_IDLE: u32 = 1 << 1;
pub const CTRL_STS_FATAL: u32 = 1 << 0;
pub const CTRL_STS_IDLE: u32 = 1 << 1;
/// INT_ENABLE / INT_STS bits.
pub const INT_START: u32 = 1 << 0;
pub const INT_CMD_READY: u32 = 1 << 1;
pub const INT_LOCALITY_CHANGE: u32 = 1 << 3;
pub const INT_GLOBAL_ENABLE: u32 = 1 << 31;

/// INTF_ID: CRB interface active (type 1), CRB version 1, more than one locality,
/// 64-byte transfers, CRB capable, CRB selected.
pub const INTF_ID_VALUE: u32 = 1 | (1 << 4) | (1 << 8) | (3 << 11) | (1 << 14) | (1 << 17);

pub struct Crb<B: TpmBackend> {
    tpm: B,
    base: u64,
    active: Option<u8>,
    /// Localities waiting for access (bit n = locality n).
    requests: u8,
    /// Localities that lost access to a seize since they last had it.
    seized: u8,
    idle: bool,
    start: bool,
    cancel: bool,
    fatal: bool,
    start_locality: u8,
    int_enable: u32,
    int_sts: u32,
    cmd_size: u32,
    cmd_addr: u64,
    rsp_size: u32,
    rsp_addr: u64,
    buffer: Vec<u8>,
}

impl<B: TpmBackend> Crb<B> {
    /// A CRB device at `base` in its reset state: no locality active, idle.
    pub fn new(tpm: B, base: u64) -> Self {
        Crb {
            tpm,
            base,
            active: None,
            requests: 0,
            seized: 0,
            idle: true,
            start: false,
            cancel: false,
            fatal: false,
            start_locality: 0,
            int_enable: 0,
            int_sts: 0,
            cmd_size: BUFFER_SIZE as u32,
            cmd_addr: base + DATA_BUFFER,
            rsp_size: BUFFER_SIZE as u32,
            rsp_addr: base + DATA_BUFFER,
            buffer: vec![0; BUFFER_SIZE],
        }
    }

    /// A platform reset: registers back to their reset values and the buffer
    /// cleared (the TPM itself is reset by the VMM through its backend).
    pub fn reset(&mut self) {
        self.active = None;
        self.requests = 0;
        self.seized = 0;
        self.idle = true;
        self.start = false;
        self.cancel = false;
        self.fatal = false;
        self.start_locality = 0;
        self.int_enable = 0;
        self.int_sts = 0;
        self.cmd_size = BUFFER_SIZE as u32;
        self.cmd_addr = self.base + DATA_BUFFER;
        self.rsp_size = BUFFER_SIZE as u32;
        self.rsp_addr = self.base + DATA_BUFFER;
        self.buffer.fill(0);
        self.tpm.set_cancel(false);
    }

    pub fn tpm(&self) -> &B {
        &self.tpm
    }

    pub fn tpm_mut(&mut self) -> &mut B {
        &mut self.tpm
    }

    /// The active locality, if any.
    pub fn active_locality(&self) -> Option<u8> {
        self.active
    }

    /// CTRL_START is set: a command waits for [`Crb::process`].
    pub fn command_pending(&self) -> bool {
        self.start
    }

    /// The interrupt line: an enabled status bit is set and interrupts are on.
    pub fn interrupt(&self) -> bool {
        self.int_enable & INT_GLOBAL_ENABLE != 0 && self.int_enable & self.int_sts & 0xF != 0
    }

    fn split(&self, addr: u64) -> Result<(u8, u64), AccessError> {
        let off = addr
            .checked_sub(self.base)
            .filter(|o| *o < LOCALITY_STRIDE * u64::from(LOCALITIES))
            .ok_or(AccessError::OutOfRange)?;
        Ok(((off / LOCALITY_STRIDE) as u8, off % LOCALITY_STRIDE))
    }

    /// An MMIO read of 1, 2, 4 or 8 bytes.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> Result<(), AccessError> {
        let (loc, off) = self.split(addr)?;
        let len = data.len() as u64;
        if !matches!(len, 1 | 2 | 4 | 8) {
            return Err(AccessError::BadAccess);
        }
        if off >= DATA_BUFFER {
            if off + len > LOCALITY_STRIDE {
                return Err(AccessError::BadAccess);
            }
            // Only the active locality sees the buffer; others read a floating bus.
            let start = (off - DATA_BUFFER) as usize;
            match self.buffer.get(start..start + data.len()) {
                Some(b) if self.active == Some(loc) => data.copy_from_slice(b),
                _ => data.fill(0xFF),
            }
            return Ok(());
        }
        let aligned = off & !3;
        let value = match len {
            8 if off % 8 == 0 => {
                u64::from(self.reg32(loc, off)) | (u64::from(self.reg32(loc, off + 4)) << 32)
            }
            8 => return Err(AccessError::BadAccess),
            _ if off % 4 + len > 4 => return Err(AccessError::BadAccess),
            _ => u64::from(self.reg32(loc, aligned) >> (8 * (off % 4))),
        };
        put_le(data, value);
        Ok(())
    }

    fn reg32(&self, loc: u8, off: u64) -> u32 {
        match off {
            reg::LOC_STATE => {
                let mut v = LOC_STATE_REG_VALID;
                if self.tpm.established() {
                    v |= LOC_STATE_ESTABLISHED;
                }
                if let Some(a) = self.active {
                    v |= LOC_STATE_ASSIGNED | (u32::from(a) << LOC_STATE_ACTIVE_SHIFT);
                }
                v
            }
            reg::LOC_STS => {
                let mut v = 0;
                if self.active == Some(loc) {
                    v |= LOC_STS_GRANTED;
                }
                if self.seized & (1 << loc) != 0 {
                    v |= LOC_STS_SEIZED;
                }
                v
            }
            reg::INTF_ID => INTF_ID_VALUE,
            reg::CTRL_STS => {
                let mut v = 0;
                if self.fatal || self.tpm.failed() {
                    v |= CTRL_STS_FATAL;
                }
                if self.idle {
                    v |= CTRL_STS_IDLE;
                }
                v
            }
            reg::CTRL_CANCEL => u32::from(self.cancel),
            reg::CTRL_START => u32::from(self.start),
            reg::INT_ENABLE => self.int_enable,
            reg::INT_STS => self.int_sts,
            reg::CMD_SIZE => self.cmd_size,
            reg::CMD_ADDR_LO => self.cmd_addr as u32,
            reg::CMD_ADDR_HI => (self.cmd_addr >> 32) as u32,
            reg::RSP_SIZE => self.rsp_size,
            reg::RSP_ADDR => self.rsp_addr as u32,
            reg::RSP_ADDR_HI => (self.rsp_addr >> 32) as u32,
            // LOC_CTRL and CTRL_REQ are write-only actions (they read 0 once done,
            // which is at once here); reserved registers read 0.
            _ => 0,
        }
    }

    /// An MMIO write of 1, 2, 4 or 8 bytes.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), AccessError> {
        let (loc, off) = self.split(addr)?;
        let value = le_value(data).ok_or(AccessError::BadAccess)?;
        let len = data.len() as u64;
        if off >= DATA_BUFFER {
            if off + len > LOCALITY_STRIDE {
                return Err(AccessError::BadAccess);
            }
            // The buffer belongs to the active locality, and to the TPM while it runs.
            if self.active == Some(loc) && !self.start {
                let start = (off - DATA_BUFFER) as usize;
                if let Some(b) = self.buffer.get_mut(start..start + data.len()) {
                    b.copy_from_slice(data);
                }
            }
            return Ok(());
        }
        match len {
            8 if off % 8 == 0 => {
                self.write32(loc, off, value as u32, u32::MAX);
                self.write32(loc, off + 4, (value >> 32) as u32, u32::MAX);
            }
            8 => return Err(AccessError::BadAccess),
            _ if off % 4 + len > 4 => return Err(AccessError::BadAccess),
            _ => {
                let shift = 8 * (off % 4);
                let mask = (u32::MAX >> (32 - 8 * len)) << shift;
                self.write32(loc, off & !3, (value as u32) << shift, mask);
            }
        }
        Ok(())
    }

    fn write32(&mut self, loc: u8, off: u64, value: u32, mask: u32) {
        let v = value & mask;
        if off == reg::LOC_CTRL {
            self.locality_control(loc, v);
            return;
        }
        // The control area belongs to the active locality.
        if self.active != Some(loc) {
            return;
        }
        let merge = |old: u32| (old & !mask) | v;
        match off {
            reg::CTRL_REQ => {
                // Both at once is undefined: ignored. goIdle waits for the command.
                if v == CTRL_REQ_CMD_READY {
                    if self.idle {
                        self.int_sts |= INT_CMD_READY;
                    }
                    self.idle = false;
                } else if v == CTRL_REQ_GO_IDLE && !self.start {
                    self.idle = true;
                }
            }
            reg::CTRL_CANCEL if mask & 1 != 0 => {
                self.cancel = v & 1 != 0;
                self.tpm.set_cancel(self.cancel);
            }
            // Software only sets START; the TPM clears it. Not while idle.
            reg::CTRL_START if v & 1 != 0 && !self.start && !self.idle => {
                self.start = true;
                self.start_locality = loc;
            }
            reg::INT_ENABLE => self.int_enable = merge(self.int_enable),
            reg::INT_STS => self.int_sts &= !v,
            // Buffers move only while no command runs (firmware sets them up).
            reg::CMD_SIZE if !self.start => self.cmd_size = merge(self.cmd_size),
            reg::CMD_ADDR_LO if !self.start => {
                self.cmd_addr =
                    (self.cmd_addr & !0xFFFF_FFFF) | u64::from(merge(self.cmd_addr as u32));
            }
            reg::CMD_ADDR_HI if !self.start => {
                let hi = merge((self.cmd_addr >> 32) as u32);
                self.cmd_addr = (self.cmd_addr & 0xFFFF_FFFF) | (u64::from(hi) << 32);
            }
            reg::RSP_SIZE if !self.start => self.rsp_size = merge(self.rsp_size),
            reg::RSP_ADDR if !self.start => {
                self.rsp_addr =
                    (self.rsp_addr & !0xFFFF_FFFF) | u64::from(merge(self.rsp_addr as u32));
            }
            reg::RSP_ADDR_HI if !self.start => {
                let hi = merge((self.rsp_addr >> 32) as u32);
                self.rsp_addr = (self.rsp_addr & 0xFFFF_FFFF) | (u64::from(hi) << 32);
            }
            // Read-only and reserved registers ignore writes.
            _ => {}
        }
    }

    fn grant(&mut self, loc: u8) {
        self.active = Some(loc);
        self.requests &= !(1 << loc);
        self.seized &= !(1 << loc);
        self.int_sts |= INT_LOCALITY_CHANGE;
    }

    fn locality_control(&mut self, loc: u8, v: u32) {
        if v & LOC_CTRL_RESET_ESTABLISHMENT != 0 {
            // Allowed from localities 3 and 4 only; the backend enforces it.
            self.tpm.reset_established(loc);
        }
        if v & LOC_CTRL_RELINQUISH != 0 {
            self.requests &= !(1 << loc);
            if self.active == Some(loc) {
                self.active = None;
                // The highest waiting locality gets the TPM next.
                if let Some(next) = (0..LOCALITIES)
                    .rev()
                    .find(|l| self.requests & (1 << l) != 0)
                {
                    self.grant(next);
                } else {
                    self.int_sts |= INT_LOCALITY_CHANGE;
                }
            }
        }
        if v & LOC_CTRL_SEIZE != 0 {
            match self.active {
                None => self.grant(loc),
                // Only a higher locality may seize (PTP 6.5.3.x).
                Some(a) if loc > a => {
                    self.seized |= 1 << a;
                    self.grant(loc);
                }
                Some(_) => {}
            }
        }
        if v & LOC_CTRL_REQUEST != 0 {
            match self.active {
                None => self.grant(loc),
                Some(a) if a == loc => {}
                Some(_) => self.requests |= 1 << loc,
            }
        }
    }

    /// Where a buffer address points: the data buffer (an offset in it) or guest memory.
    fn buffer_offset(&self, addr: u64, len: usize) -> Option<usize> {
        let (_, off) = self.split(addr).ok()?;
        let start = off.checked_sub(DATA_BUFFER)? as usize;
        (start + len <= BUFFER_SIZE).then_some(start)
    }

    fn fetch(&self, mem: &dyn GuestMemory, addr: u64, len: usize) -> Option<Vec<u8>> {
        if self.split(addr).is_ok() {
            let start = self.buffer_offset(addr, len)?;
            return self.buffer.get(start..start + len).map(<[u8]>::to_vec);
        }
        let mut out = vec![0; len];
        mem.read(addr, &mut out).ok()?;
        Some(out)
    }

    fn store(&mut self, mem: &mut dyn GuestMemory, addr: u64, data: &[u8]) -> Option<()> {
        if self.split(addr).is_ok() {
            let start = self.buffer_offset(addr, data.len())?;
            self.buffer
                .get_mut(start..start + data.len())?
                .copy_from_slice(data);
            return Some(());
        }
        mem.write(addr, data).ok()
    }

    /// Runs the pending command (if any) and completes it: the response is in the
    /// response buffer and CTRL_START reads 0. Returns whether a command completed.
    pub fn process(&mut self, mem: &mut dyn GuestMemory) -> bool {
        if !self.start {
            return false;
        }
        let response = self.run(mem);
        let response = if response.len() > self.rsp_size as usize {
            error_response(RC_FAILURE)
        } else {
            response
        };
        if self.store(mem, self.rsp_addr, &response).is_none() {
            // The response cannot be delivered: the interface is broken for the guest.
            self.fatal = true;
        }
        self.start = false;
        self.int_sts |= INT_START;
        true
    }

    fn run(&mut self, mem: &mut dyn GuestMemory) -> Vec<u8> {
        let Some(header) = self.fetch(mem, self.cmd_addr, 10) else {
            self.fatal = true;
            return error_response(RC_FAILURE);
        };
        let size = command_size(&header);
        if size < 10 || size > self.cmd_size as usize {
            return error_response(RC_COMMAND_SIZE);
        }
        let Some(command) = self.fetch(mem, self.cmd_addr, size) else {
            self.fatal = true;
            return error_response(RC_FAILURE);
        };
        if self.cancel {
            // Canceled before it ran: nothing happened.
            return error_response(RC_CANCELED);
        }
        self.tpm.execute(self.start_locality, &command)
    }
}
