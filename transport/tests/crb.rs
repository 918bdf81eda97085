//! The TCG CRB device model at register level, driven the way a guest driver
//! (Linux tpm_crb, EDK2 Tcg2 CRB) drives it, against the real vtpm engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod devmodel;

use devmodel::*;
use vtpm_transport::crb::{self, Crb, reg};
use vtpm_transport::guest::{AccessError, TpmBackend};

const BASE: u64 = crb::CRB_BASE;

fn window(loc: u8) -> u64 {
    BASE + u64::from(loc) * crb::LOCALITY_STRIDE
}

struct Guest {
    crb: Crb<Recorder>,
    ram: Ram,
}

impl Guest {
    fn new() -> Guest {
        Guest {
            crb: Crb::new(started_tpm(), BASE),
            ram: Ram::new(0x1_0000, 0x4000),
        }
    }

    fn r32(&self, loc: u8, off: u64) -> u32 {
        let mut b = [0u8; 4];
        self.crb.read(window(loc) + off, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    fn r64(&self, loc: u8, off: u64) -> u64 {
        let mut b = [0u8; 8];
        self.crb.read(window(loc) + off, &mut b).unwrap();
        u64::from_le_bytes(b)
    }

    fn w32(&mut self, loc: u8, off: u64, v: u32) {
        self.crb.write(window(loc) + off, &v.to_le_bytes()).unwrap();
    }

    fn request(&mut self, loc: u8) {
        self.w32(loc, reg::LOC_CTRL, crb::LOC_CTRL_REQUEST);
    }

    fn relinquish(&mut self, loc: u8) {
        self.w32(loc, reg::LOC_CTRL, crb::LOC_CTRL_RELINQUISH);
    }

    /// Copies `bytes` into the data buffer with 4-byte writes (memcpy_toio).
    fn put_buffer(&mut self, loc: u8, bytes: &[u8]) {
        for (i, chunk) in bytes.chunks(4).enumerate() {
            let addr = window(loc) + crb::DATA_BUFFER + 4 * i as u64;
            if chunk.len() == 4 {
                self.crb.write(addr, chunk).unwrap();
            } else {
                // A short tail: byte writes.
                for (j, b) in chunk.iter().enumerate() {
                    self.crb.write(addr + j as u64, &[*b]).unwrap();
                }
            }
        }
    }

    /// Reads the response from the data buffer: the header, then the rest.
    fn get_buffer(&self, loc: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        for i in 0..10 {
            self.crb
                .read(window(loc) + crb::DATA_BUFFER + i, &mut b)
                .unwrap();
            out.push(b[0]);
        }
        let size = rsp_size(&out);
        assert!(size <= crb::BUFFER_SIZE, "responseSize {size}");
        for i in 10..size as u64 {
            self.crb
                .read(window(loc) + crb::DATA_BUFFER + i, &mut b)
                .unwrap();
            out.push(b[0]);
        }
        out
    }

    /// The Linux tpm_crb sequence: cmdReady, write the command, clear CANCEL, START,
    /// (the VMM runs it), wait for START to clear, read the response.
    fn transact(&mut self, loc: u8, command: &[u8]) -> Vec<u8> {
        self.w32(loc, reg::CTRL_REQ, crb::CTRL_REQ_CMD_READY);
        assert_eq!(self.r32(loc, reg::CTRL_STS) & crb::CTRL_STS_IDLE, 0);
        self.put_buffer(loc, command);
        self.w32(loc, reg::CTRL_CANCEL, 0);
        self.w32(loc, reg::CTRL_START, 1);
        assert_eq!(
            self.r32(loc, reg::CTRL_START),
            1,
            "START reads 1 until done"
        );
        assert!(self.crb.command_pending());
        assert!(self.crb.process(&mut self.ram));
        assert_eq!(self.r32(loc, reg::CTRL_START), 0, "START clears when done");
        self.get_buffer(loc)
    }
}

#[test]
fn reset_state_and_identity_registers() {
    let g = Guest::new();
    let intf = g.r32(0, reg::INTF_ID);
    assert_eq!(intf & 0xF, 1, "interface type: CRB active");
    assert_eq!((intf >> 4) & 0xF, 1, "CRB interface version");
    assert_ne!(intf & (1 << 8), 0, "CapLocality: five localities");
    assert_eq!((intf >> 11) & 3, 3, "64-byte transfers");
    assert_eq!(intf & (1 << 13), 0, "no FIFO");
    assert_ne!(intf & (1 << 14), 0, "CapCRB");
    assert_eq!((intf >> 17) & 3, 1, "interface selector: CRB");
    assert_eq!(g.r64(0, reg::INTF_ID) as u32, intf);
    for loc in 0..5 {
        assert_eq!(
            g.r32(loc, reg::INTF_ID),
            intf,
            "every window has the identity"
        );
        assert_eq!(
            g.r32(loc, reg::LOC_STATE),
            crb::LOC_STATE_REG_VALID,
            "no locality assigned"
        );
        assert_eq!(g.r32(loc, reg::LOC_STS), 0);
    }
    assert_eq!(
        g.r32(0, reg::CTRL_STS),
        crb::CTRL_STS_IDLE,
        "idle, not fatal"
    );
    assert_eq!(g.r32(0, reg::CTRL_START), 0);
    assert_eq!(g.r32(0, reg::CTRL_CANCEL), 0);
    assert_eq!(g.r32(0, reg::CMD_SIZE), crb::BUFFER_SIZE as u32);
    assert_eq!(g.r32(0, reg::RSP_SIZE), crb::BUFFER_SIZE as u32);
    assert_eq!(g.r32(0, reg::CMD_ADDR_LO), (BASE + 0x80) as u32);
    assert_eq!(g.r32(0, reg::CMD_ADDR_HI), 0);
    assert_eq!(g.r64(0, reg::RSP_ADDR), BASE + 0x80);
    assert_eq!(g.r32(0, reg::LOC_CTRL), 0, "write-only");
    assert_eq!(g.r32(0, reg::CTRL_REQ), 0, "write-only");
}

#[test]
fn command_at_locality_0() {
    let mut g = Guest::new();
    g.request(0);
    assert_eq!(
        g.r32(0, reg::LOC_STATE),
        crb::LOC_STATE_REG_VALID | crb::LOC_STATE_ASSIGNED
    );
    assert_eq!(g.r32(0, reg::LOC_STS), crb::LOC_STS_GRANTED);
    let rsp = g.transact(0, &get_random(16));
    assert_eq!(rc(&rsp), RC_SUCCESS);
    assert_eq!(rsp.len(), 10 + 2 + 16);
    assert_eq!(g.crb.tpm().localities, [0]);
    // A second command: different random bytes.
    let rsp2 = g.transact(0, &get_random(16));
    assert_eq!(rc(&rsp2), RC_SUCCESS);
    assert_ne!(rsp[12..], rsp2[12..]);
    // goIdle, relinquish.
    g.w32(0, reg::CTRL_REQ, crb::CTRL_REQ_GO_IDLE);
    assert_eq!(g.r32(0, reg::CTRL_STS), crb::CTRL_STS_IDLE);
    g.relinquish(0);
    assert_eq!(g.r32(0, reg::LOC_STATE), crb::LOC_STATE_REG_VALID);
    assert_eq!(g.r32(0, reg::LOC_STS), 0);
    assert_eq!(g.crb.active_locality(), None);
}

#[test]
fn interrupts_report_completion_and_clear_on_write() {
    let mut g = Guest::new();
    g.request(0);
    g.w32(0, reg::INT_STS, 0xFFFF_FFFF);
    g.w32(
        0,
        reg::INT_ENABLE,
        crb::INT_GLOBAL_ENABLE | crb::INT_START | crb::INT_CMD_READY,
    );
    assert_eq!(
        g.r32(0, reg::INT_ENABLE),
        crb::INT_GLOBAL_ENABLE | crb::INT_START | crb::INT_CMD_READY
    );
    assert!(!g.crb.interrupt());
    g.w32(0, reg::CTRL_REQ, crb::CTRL_REQ_CMD_READY);
    assert_ne!(g.r32(0, reg::INT_STS) & crb::INT_CMD_READY, 0);
    assert!(g.crb.interrupt());
    g.w32(0, reg::INT_STS, crb::INT_CMD_READY);
    assert!(!g.crb.interrupt(), "write 1 to clear");
    g.transact(0, &get_random(4));
    assert_ne!(g.r32(0, reg::INT_STS) & crb::INT_START, 0);
    assert!(g.crb.interrupt());
    g.w32(0, reg::INT_STS, crb::INT_START);
    assert_eq!(g.r32(0, reg::INT_STS) & crb::INT_START, 0);
    // Without the global enable, no interrupt.
    g.w32(0, reg::INT_ENABLE, crb::INT_START);
    g.transact(0, &get_random(4));
    assert!(!g.crb.interrupt());
}

#[test]
fn start_needs_cmd_ready_and_the_active_locality() {
    let mut g = Guest::new();
    g.request(0);
    g.put_buffer(0, &get_random(8));
    // Still idle: START is ignored.
    g.w32(0, reg::CTRL_START, 1);
    assert_eq!(g.r32(0, reg::CTRL_START), 0);
    assert!(!g.crb.command_pending());
    assert!(!g.crb.process(&mut g.ram));
    // A locality that is not active cannot start (or wake) the TPM.
    g.w32(1, reg::CTRL_REQ, crb::CTRL_REQ_CMD_READY);
    assert_eq!(g.r32(0, reg::CTRL_STS), crb::CTRL_STS_IDLE);
    g.w32(0, reg::CTRL_REQ, crb::CTRL_REQ_CMD_READY);
    g.w32(1, reg::CTRL_START, 1);
    assert!(!g.crb.command_pending());
    // Software cannot clear START, and goIdle waits for the command.
    g.w32(0, reg::CTRL_START, 1);
    g.w32(0, reg::CTRL_START, 0);
    assert_eq!(g.r32(0, reg::CTRL_START), 1);
    g.w32(0, reg::CTRL_REQ, crb::CTRL_REQ_GO_IDLE);
    assert_eq!(g.r32(0, reg::CTRL_STS) & crb::CTRL_STS_IDLE, 0);
    // Buffer writes while the TPM owns it are dropped.
    g.put_buffer(0, &[0xEE; 12]);
    assert!(g.crb.process(&mut g.ram));
    let rsp = g.get_buffer(0);
    assert_eq!(rc(&rsp), RC_SUCCESS);
    assert_eq!(rsp.len(), 10 + 2 + 8);
    assert_eq!(g.crb.tpm().executed(), 1);
    // Both request bits at once: ignored.
    g.w32(0, reg::CTRL_REQ, 3);
    assert_eq!(g.r32(0, reg::CTRL_STS) & crb::CTRL_STS_IDLE, 0);
}

#[test]
fn cancel_before_the_command_runs() {
    let mut g = Guest::new();
    g.request(0);
    g.w32(0, reg::CTRL_REQ, crb::CTRL_REQ_CMD_READY);
    g.put_buffer(0, &get_random(8));
    g.w32(0, reg::CTRL_START, 1);
    g.w32(0, reg::CTRL_CANCEL, 1);
    assert_eq!(g.r32(0, reg::CTRL_CANCEL), 1);
    assert!(
        g.crb.tpm().cancel_signal(),
        "the platform's cancel signal is raised"
    );
    assert!(g.crb.process(&mut g.ram));
    assert_eq!(g.r32(0, reg::CTRL_START), 0);
    let rsp = g.get_buffer(0);
    assert_eq!(rsp.len(), 10);
    assert_eq!(rc(&rsp), RC_CANCELED);
    assert_eq!(
        g.crb.tpm().executed(),
        0,
        "a canceled command never reached the TPM"
    );
    // Linux clears CANCEL before the next START; the next command runs.
    let rsp = g.transact(0, &get_random(8));
    assert!(!g.crb.tpm().cancel_signal());
    assert_eq!(rc(&rsp), RC_SUCCESS);
    assert_eq!(g.crb.tpm().executed(), 1);
    // CANCEL from a locality that is not active does nothing.
    g.w32(2, reg::CTRL_CANCEL, 1);
    assert_eq!(g.r32(0, reg::CTRL_CANCEL), 0);
    assert!(!g.crb.tpm().cancel_signal());
}

#[test]
fn locality_request_queue_relinquish_and_seize() {
    let mut g = Guest::new();
    g.request(0);
    g.request(2);
    // 2 waits: 0 keeps the TPM.
    assert_eq!(g.r32(2, reg::LOC_STS), 0);
    assert_eq!(
        g.r32(2, reg::LOC_STATE) >> crb::LOC_STATE_ACTIVE_SHIFT & 7,
        0
    );
    // A waiting locality cannot use the buffer: it reads a floating bus.
    g.w32(0, reg::CTRL_REQ, crb::CTRL_REQ_CMD_READY);
    g.put_buffer(0, &get_random(8));
    let mut b = [0u8; 4];
    g.crb.read(window(2) + crb::DATA_BUFFER, &mut b).unwrap();
    assert_eq!(b, [0xFF; 4]);
    g.crb.read(window(0) + crb::DATA_BUFFER, &mut b).unwrap();
    assert_eq!(b, [0x80, 0x01, 0, 0]);

    // PCR 20 resets at localities 2 and 4 only: refused at 0.
    let rsp = g.transact(0, &pcr_reset(20));
    assert_eq!(rc(&rsp), RC_LOCALITY);

    // 0 relinquishes: the waiting 2 gets the TPM.
    g.relinquish(0);
    assert_eq!(g.crb.active_locality(), Some(2));
    assert_eq!(g.r32(2, reg::LOC_STS), crb::LOC_STS_GRANTED);
    assert_eq!(g.r32(0, reg::LOC_STS), 0);
    assert_eq!(
        g.r32(0, reg::LOC_STATE),
        crb::LOC_STATE_REG_VALID | crb::LOC_STATE_ASSIGNED | (2 << crb::LOC_STATE_ACTIVE_SHIFT)
    );
    let rsp = g.transact(2, &pcr_reset(20));
    assert_eq!(rc(&rsp), RC_SUCCESS, "locality 2 reaches the TPM");
    assert_eq!(g.crb.tpm().localities, [0, 2]);

    // A lower locality cannot seize; a higher one can, and the loser learns it.
    g.w32(1, reg::LOC_CTRL, crb::LOC_CTRL_SEIZE);
    assert_eq!(g.crb.active_locality(), Some(2));
    g.w32(4, reg::LOC_CTRL, crb::LOC_CTRL_SEIZE);
    assert_eq!(g.crb.active_locality(), Some(4));
    assert_eq!(g.r32(2, reg::LOC_STS), crb::LOC_STS_SEIZED);
    assert_eq!(g.r32(4, reg::LOC_STS), crb::LOC_STS_GRANTED);
    let rsp = g.transact(4, &pcr_reset(17));
    assert_eq!(rc(&rsp), RC_SUCCESS, "PCR 17 resets at locality 4");
    assert_eq!(*g.crb.tpm().localities.last().unwrap(), 4);

    // Relinquish with nobody waiting: no locality. 2 asks again and is granted,
    // which clears its beenSeized.
    g.relinquish(4);
    assert_eq!(g.crb.active_locality(), None);
    g.request(2);
    assert_eq!(g.r32(2, reg::LOC_STS), crb::LOC_STS_GRANTED);
    // Relinquishing a locality that is not active changes nothing.
    g.relinquish(3);
    assert_eq!(g.crb.active_locality(), Some(2));
    // A withdrawn request is not granted later.
    g.request(3);
    g.relinquish(3);
    g.relinquish(2);
    assert_eq!(g.crb.active_locality(), None);
}

#[test]
fn reset_establishment_only_from_localities_3_and_4() {
    let mut g = Guest::new();
    g.crb.tpm_mut().device.hash_start();
    g.crb.tpm_mut().device.hash_data(b"dynamic launch");
    g.crb.tpm_mut().device.hash_end().unwrap();
    assert_ne!(g.r32(0, reg::LOC_STATE) & crb::LOC_STATE_ESTABLISHED, 0);
    for loc in 0..3 {
        g.w32(loc, reg::LOC_CTRL, crb::LOC_CTRL_RESET_ESTABLISHMENT);
        assert_ne!(
            g.r32(0, reg::LOC_STATE) & crb::LOC_STATE_ESTABLISHED,
            0,
            "locality {loc}"
        );
    }
    g.w32(3, reg::LOC_CTRL, crb::LOC_CTRL_RESET_ESTABLISHMENT);
    assert_eq!(g.r32(0, reg::LOC_STATE) & crb::LOC_STATE_ESTABLISHED, 0);
    assert!(!g.crb.tpm().established());
}

#[test]
fn bad_accesses() {
    let mut g = Guest::new();
    let mut b4 = [0u8; 4];
    let mut b8 = [0u8; 8];
    let mut b3 = [0u8; 3];
    assert_eq!(g.crb.read(BASE - 4, &mut b4), Err(AccessError::OutOfRange));
    assert_eq!(g.crb.read(window(5), &mut b4), Err(AccessError::OutOfRange));
    assert_eq!(
        g.crb.write(window(5), &[1, 0, 0, 0]),
        Err(AccessError::OutOfRange)
    );
    assert_eq!(g.crb.read(window(0), &mut b3), Err(AccessError::BadAccess));
    assert_eq!(
        g.crb.write(window(0) + reg::LOC_CTRL, &[1, 0, 0]),
        Err(AccessError::BadAccess)
    );
    // Straddling two registers.
    assert_eq!(
        g.crb.read(window(0) + 0x0E, &mut b4),
        Err(AccessError::BadAccess)
    );
    assert_eq!(
        g.crb.read(window(0) + reg::CMD_ADDR_LO, &mut b8),
        Err(AccessError::BadAccess)
    );
    // Straddling the end of the window.
    assert_eq!(
        g.crb.read(window(0) + 0xFFC, &mut b8),
        Err(AccessError::BadAccess)
    );
    // Narrow reads inside a register are fine: the bytes of INTF_ID.
    let intf = g.r32(0, reg::INTF_ID).to_le_bytes();
    let mut b1 = [0u8; 1];
    let mut b2 = [0u8; 2];
    g.crb.read(window(0) + reg::INTF_ID + 1, &mut b1).unwrap();
    assert_eq!(b1[0], intf[1]);
    g.crb.read(window(0) + reg::INTF_ID + 2, &mut b2).unwrap();
    assert_eq!(b2, [intf[2], intf[3]]);
    // A byte write to LOC_CTRL requests the locality.
    g.crb.write(window(1) + reg::LOC_CTRL, &[1]).unwrap();
    assert_eq!(g.crb.active_locality(), Some(1));
    // Read-only registers ignore writes.
    g.w32(1, reg::INTF_ID, 0);
    g.w32(1, reg::CTRL_STS, 0);
    g.w32(1, reg::LOC_STS, 0);
    assert_eq!(g.r32(1, reg::INTF_ID), u32::from_le_bytes(intf));
    assert_eq!(g.r32(1, reg::CTRL_STS), crb::CTRL_STS_IDLE);
    assert_eq!(g.r32(1, reg::LOC_STS), crb::LOC_STS_GRANTED);
}

#[test]
fn malformed_command_sizes_never_reach_the_tpm() {
    let mut g = Guest::new();
    g.request(0);
    // commandSize larger than the buffer.
    let mut big = get_random(8);
    big[2..6].copy_from_slice(&0x2000u32.to_be_bytes());
    let rsp = g.transact(0, &big);
    assert_eq!(rc(&rsp), RC_COMMAND_SIZE);
    // commandSize below a header.
    let mut small = get_random(8);
    small[2..6].copy_from_slice(&4u32.to_be_bytes());
    let rsp = g.transact(0, &small);
    assert_eq!(rc(&rsp), RC_COMMAND_SIZE);
    assert_eq!(g.crb.tpm().executed(), 0);
    // A size that fits but disagrees with the parameters: the engine's answer.
    let mut off = get_random(8);
    off[2..6].copy_from_slice(&11u32.to_be_bytes());
    let rsp = g.transact(0, &off);
    assert_ne!(rc(&rsp), RC_SUCCESS);
    assert_eq!(g.crb.tpm().executed(), 1);
}

#[test]
fn buffers_moved_into_guest_memory() {
    let mut g = Guest::new();
    g.request(0);
    let cmd_at = 0x1_0000u64;
    let rsp_at = 0x1_2000u64;
    g.w32(0, reg::CMD_ADDR_LO, cmd_at as u32);
    g.w32(0, reg::CMD_ADDR_HI, 0);
    g.w32(0, reg::CMD_SIZE, 0x1000);
    g.crb
        .write(window(0) + reg::RSP_ADDR, &rsp_at.to_le_bytes())
        .unwrap();
    g.w32(0, reg::RSP_SIZE, 0x1000);
    assert_eq!(g.r64(0, reg::RSP_ADDR), rsp_at);
    assert_eq!(g.r32(0, reg::CMD_ADDR_LO), cmd_at as u32);
    g.ram.put(cmd_at, &get_random(32));
    g.w32(0, reg::CTRL_REQ, crb::CTRL_REQ_CMD_READY);
    g.w32(0, reg::CTRL_START, 1);
    assert!(g.crb.process(&mut g.ram));
    let header = g.ram.get(rsp_at, 10);
    assert_eq!(rc(&header), RC_SUCCESS);
    assert_eq!(rsp_size(&header), 10 + 2 + 32);
    // The buffer addresses cannot move while a command is pending.
    g.w32(0, reg::CTRL_START, 1);
    g.w32(0, reg::CMD_ADDR_LO, 0x5000);
    assert_eq!(g.r32(0, reg::CMD_ADDR_LO), cmd_at as u32);
    assert!(g.crb.process(&mut g.ram));

    // A response buffer too small for the response: TPM_RC_FAILURE in its place.
    g.w32(0, reg::RSP_SIZE, 16);
    g.ram.put(cmd_at, &get_random(32));
    g.w32(0, reg::CTRL_START, 1);
    assert!(g.crb.process(&mut g.ram));
    assert_eq!(rc(&g.ram.get(rsp_at, 10)), RC_FAILURE);

    // A buffer outside guest memory: the interface reports a fatal error.
    g.w32(0, reg::RSP_ADDR, 0x9000_0000);
    g.w32(0, reg::RSP_SIZE, 0x1000);
    g.w32(0, reg::CTRL_START, 1);
    assert!(g.crb.process(&mut g.ram));
    assert_ne!(g.r32(0, reg::CTRL_STS) & crb::CTRL_STS_FATAL, 0);

    // A platform reset restores the registers.
    g.crb.reset();
    assert_eq!(g.r32(0, reg::CTRL_STS), crb::CTRL_STS_IDLE);
    assert_eq!(g.r64(0, reg::RSP_ADDR), BASE + 0x80);
    assert_eq!(g.crb.active_locality(), None);
}
