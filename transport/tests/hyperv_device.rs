//! The Hyper-V / OpenHCL vTPM device model at register level, driven the way the
//! UEFI driver and the guest OS drive it (IO ports on x86, MMIO ports on arm64,
//! the CRB-style control area, the shared pages, PPI), against the real engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod devmodel;

use devmodel::*;
use vtpm_transport::guest::{AccessError, TpmBackend};
use vtpm_transport::hyperv::{
    self, HyperV, MemPpiStore, PpiState, PpiStore, PpiStoreError, port_cmd, ppi_op, reg,
};

const BASE: u64 = hyperv::CONTROL_BASE;
const PAGES: u64 = 0x10_0000;

/// How the guest reaches the command ports.
#[derive(Clone, Copy)]
enum Ports {
    Io,
    Mmio,
}

struct Guest {
    dev: HyperV<Recorder, MemPpiStore>,
    ram: Ram,
    ports: Ports,
}

impl Guest {
    fn new() -> Guest {
        Guest::with(started_tpm(), MemPpiStore::default(), Ports::Io)
    }

    fn with(tpm: Recorder, store: MemPpiStore, ports: Ports) -> Guest {
        Guest {
            dev: HyperV::new(tpm, store, BASE).unwrap(),
            ram: Ram::new(PAGES, 2 * hyperv::PAGE_SIZE),
            ports,
        }
    }

    fn r32(&mut self, off: u64) -> u32 {
        let mut b = [0u8; 4];
        self.dev.mmio_read(BASE + off, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    fn r64(&mut self, off: u64) -> u64 {
        let mut b = [0u8; 8];
        self.dev.mmio_read(BASE + off, &mut b).unwrap();
        u64::from_le_bytes(b)
    }

    fn w32(&mut self, off: u64, v: u32) {
        self.dev
            .mmio_write(BASE + off, &v.to_le_bytes(), &mut self.ram)
            .unwrap();
    }

    fn port_write(&mut self, data_port: bool, v: u32) {
        let b = v.to_le_bytes();
        match self.ports {
            Ports::Io => {
                let port = if data_port {
                    hyperv::IO_DATA_PORT
                } else {
                    hyperv::IO_CONTROL_PORT
                };
                self.dev.io_write(port, &b).unwrap();
            }
            Ports::Mmio => {
                let off = if data_port {
                    hyperv::MMIO_DATA_PORT
                } else {
                    hyperv::MMIO_CONTROL_PORT
                };
                self.dev.mmio_write(BASE + off, &b, &mut self.ram).unwrap();
            }
        }
    }

    fn port_read(&mut self, data_port: bool) -> u32 {
        let mut b = [0u8; 4];
        match self.ports {
            Ports::Io => {
                let port = if data_port {
                    hyperv::IO_DATA_PORT
                } else {
                    hyperv::IO_CONTROL_PORT
                };
                self.dev.io_read(port, &mut b).unwrap();
            }
            Ports::Mmio => {
                let off = if data_port {
                    hyperv::MMIO_DATA_PORT
                } else {
                    hyperv::MMIO_CONTROL_PORT
                };
                self.dev.mmio_read(BASE + off, &mut b).unwrap();
            }
        }
        u32::from_le_bytes(b)
    }

    /// Control port = `cmd`, then read the data port.
    fn query(&mut self, cmd: u32) -> u32 {
        self.port_write(false, cmd);
        assert_eq!(self.port_read(false), cmd);
        self.port_read(true)
    }

    /// Control port = `cmd`, then write `value` to the data port.
    fn submit(&mut self, cmd: u32, value: u32) {
        self.port_write(false, cmd);
        self.port_write(true, value);
    }

    fn map(&mut self) {
        self.submit(port_cmd::MAP_SHARED_MEMORY, PAGES as u32);
    }

    /// The guest driver's exchange: command into the shared page, START, response.
    fn transact(&mut self, command: &[u8]) -> Vec<u8> {
        self.ram.put(PAGES, command);
        self.ram.put(PAGES + 0x1000, &[0; 10]);
        self.w32(reg::START, 1);
        assert_eq!(
            self.r32(reg::START),
            0,
            "START is clear when the response is there"
        );
        let header = self.ram.get(PAGES + 0x1000, 10);
        self.ram.get(PAGES + 0x1000, rsp_size(&header))
    }
}

#[test]
fn control_area_registers() {
    let mut g = Guest::new();
    assert_eq!(g.r32(reg::LOC_STATE), hyperv::LOC_STATE_IDLE);
    assert_eq!(g.r32(reg::LOC_STS), 1);
    assert_eq!(g.r32(reg::INTF_ID), 0x4011);
    assert_eq!(g.r64(reg::INTF_ID), 0x4011);
    // Nothing mapped yet: no buffers.
    assert_eq!(g.r32(reg::CMD_SIZE), 0);
    assert_eq!(g.r64(reg::CMD_PA_LO), 0);
    // Locality request: 0x83; relinquish: 0x81 again.
    g.w32(reg::LOC_CTRL, 1);
    assert_eq!(g.r32(reg::LOC_STATE), hyperv::LOC_STATE_REQUESTED);
    g.w32(reg::LOC_CTRL, 2);
    assert_eq!(g.r32(reg::LOC_STATE), hyperv::LOC_STATE_IDLE);
    g.w32(reg::LOC_CTRL, 1);
    // Narrow reads are rounded down to the 4-byte register (TDX Linux reads bytewise).
    let mut b1 = [0u8; 1];
    for off in 0..4 {
        g.dev.mmio_read(BASE + off, &mut b1).unwrap();
        assert_eq!(b1[0], 0x83, "byte read at {off}");
    }
    let mut b2 = [0u8; 2];
    g.dev.mmio_read(BASE + reg::INTF_ID + 2, &mut b2).unwrap();
    assert_eq!(u16::from_le_bytes(b2), 0x4011);
    // Writes to read-only registers change nothing.
    g.w32(reg::INTF_ID, 0);
    g.w32(reg::CMD_PA_LO, 0x1234_0000);
    assert_eq!(g.r32(reg::INTF_ID), 0x4011);
    assert_eq!(g.r32(reg::CMD_PA_LO), 0);
}

#[test]
fn bad_accesses() {
    let mut g = Guest::new();
    let mut b8 = [0u8; 8];
    let mut b3 = [0u8; 3];
    let mut b4 = [0u8; 4];
    // 8-byte reads only at INTF_ID, CMD_PA and RSP_PA.
    for off in [reg::LOC_STATE, reg::START, reg::CMD_SIZE, reg::RSP_SIZE] {
        assert_eq!(
            g.dev.mmio_read(BASE + off, &mut b8),
            Err(AccessError::BadAccess)
        );
    }
    assert_eq!(g.dev.mmio_read(BASE, &mut b3), Err(AccessError::BadAccess));
    assert_eq!(
        g.dev.mmio_read(BASE + 0x70, &mut b4),
        Err(AccessError::OutOfRange)
    );
    assert_eq!(
        g.dev.mmio_read(BASE - 4, &mut b4),
        Err(AccessError::OutOfRange)
    );
    assert_eq!(
        g.dev.mmio_read(BASE + 0x88, &mut b4),
        Err(AccessError::OutOfRange)
    );
    // Writes: 32-bit, aligned.
    assert_eq!(
        g.dev.mmio_write(BASE + reg::START, &[1], &mut g.ram),
        Err(AccessError::BadAccess)
    );
    assert_eq!(
        g.dev
            .mmio_write(BASE + reg::START + 1, &[1, 0, 0, 0], &mut g.ram),
        Err(AccessError::BadAccess)
    );
    assert_eq!(
        g.dev.mmio_write(BASE + 0x70, &[1, 0, 0, 0], &mut g.ram),
        Err(AccessError::OutOfRange)
    );
    // Ports: 32-bit only; other ports are not the device's.
    assert_eq!(
        g.dev.io_write(hyperv::IO_CONTROL_PORT, &[0]),
        Err(AccessError::BadAccess)
    );
    assert_eq!(
        g.dev.io_read(hyperv::IO_DATA_PORT, &mut b8),
        Err(AccessError::BadAccess)
    );
    assert_eq!(g.dev.io_read(0x1048, &mut b4), Err(AccessError::OutOfRange));
    assert_eq!(
        g.dev
            .mmio_write(BASE + hyperv::MMIO_DATA_PORT, &[0, 0], &mut g.ram),
        Err(AccessError::BadAccess)
    );
    // START before the pages are mapped: nothing runs, START reads 0.
    g.w32(reg::START, 1);
    assert_eq!(g.r32(reg::START), 0);
    assert_eq!(g.dev.tpm().executed(), 0);
    // An unaligned page address is refused (unmaps).
    g.submit(port_cmd::MAP_SHARED_MEMORY, PAGES as u32 + 8);
    assert_eq!(g.query(port_cmd::MAP_SHARED_MEMORY), 0);
    assert_eq!(g.r32(reg::CMD_SIZE), 0);
}

fn info_ports(ports: Ports) {
    let mut g = Guest::with(started_tpm(), MemPpiStore::default(), ports);
    assert_eq!(g.query(port_cmd::VERSION), hyperv::INTERFACE_VERSION);
    assert_eq!(g.query(port_cmd::GET_TCG_PROTOCOL_VERSION), 1, "TCG2");
    assert_eq!(g.query(port_cmd::CAPABILITY_HASH_ALG_BITMAP), 0x0F);
    assert_eq!(g.query(port_cmd::ESTABLISHED), 0);
    g.dev.tpm_mut().device.hash_start();
    g.dev.tpm_mut().device.hash_end().unwrap();
    assert_eq!(g.query(port_cmd::ESTABLISHED), 1);
    assert_eq!(g.query(0x7777), 0, "unknown command reads 0");
    // Writing the data port of a read-only command changes nothing.
    g.submit(port_cmd::VERSION, 9);
    assert_eq!(g.query(port_cmd::VERSION), hyperv::INTERFACE_VERSION);
}

#[test]
fn info_commands_over_io_ports() {
    info_ports(Ports::Io);
}

#[test]
fn info_commands_over_mmio_ports() {
    info_ports(Ports::Mmio);
}

fn command_flow(ports: Ports) {
    let mut g = Guest::with(started_tpm(), MemPpiStore::default(), ports);
    g.map();
    assert_eq!(g.query(port_cmd::MAP_SHARED_MEMORY), PAGES as u32);
    assert_eq!(g.r32(reg::CMD_SIZE), 4096);
    assert_eq!(g.r32(reg::RSP_SIZE), 4096);
    assert_eq!(g.r64(reg::CMD_PA_LO), PAGES);
    assert_eq!(g.r64(reg::RSP_PA_LO), PAGES + 4096);
    assert_eq!(g.r32(reg::RSP_PA_LO), (PAGES + 4096) as u32);
    assert_eq!(g.r32(reg::RSP_PA_HI), 0);
    g.w32(reg::LOC_CTRL, 1);
    let rsp = g.transact(&get_random(32));
    assert_eq!(rc(&rsp), RC_SUCCESS);
    assert_eq!(rsp.len(), 10 + 2 + 32);
    // Locality 0 only: PCR 20 (localities 2 and 4) is refused.
    let rsp = g.transact(&pcr_reset(20));
    assert_eq!(rc(&rsp), RC_LOCALITY);
    assert_eq!(g.dev.tpm().localities, [0, 0]);
    // NV changes are durable when the response is there.
    let commits = g.dev.tpm().device.platform().commits;
    let rsp = g.transact(&owner_change_auth(b"", b"owner"));
    assert_eq!(rc(&rsp), RC_SUCCESS);
    assert!(g.dev.tpm().device.platform().commits > commits);
    // A command whose size does not fit the page never reaches the TPM.
    let mut big = get_random(8);
    big[2..6].copy_from_slice(&5000u32.to_be_bytes());
    assert_eq!(rc(&g.transact(&big)), RC_COMMAND_SIZE);
    assert_eq!(g.dev.tpm().executed(), 3);
}

#[test]
fn commands_through_the_shared_pages_io() {
    command_flow(Ports::Io);
}

#[test]
fn commands_through_the_shared_pages_mmio() {
    command_flow(Ports::Mmio);
}

#[test]
fn cancel() {
    let mut g = Guest::new();
    g.map();
    g.w32(reg::CANCEL, 1);
    assert_eq!(g.r32(reg::CANCEL), 1);
    assert!(
        g.dev.tpm().cancel_signal(),
        "CANCEL sets the engine's cancel flag"
    );
    let rsp = g.transact(&get_random(8));
    assert_eq!(rc(&rsp), RC_CANCELED);
    assert_eq!(g.dev.tpm().executed(), 0);
    g.w32(reg::CANCEL, 0);
    assert!(!g.dev.tpm().cancel_signal());
    assert_eq!(rc(&g.transact(&get_random(8))), RC_SUCCESS);
    // A VM reset drops the mapping and the cancel.
    g.w32(reg::CANCEL, 7);
    g.dev.reset();
    assert!(!g.dev.tpm().cancel_signal());
    assert_eq!(g.r32(reg::CANCEL), 0);
    assert_eq!(g.r32(reg::CMD_SIZE), 0);
}

#[test]
fn ppi_state_bytes() {
    let s = PpiState {
        pending_op: 5,
        in_query_op: 14,
        set_op_state: 1,
        last_op: 23,
        last_state: 0x9A2,
        arg3_integer2: 2,
        hash_alg_bitmap: 3,
    };
    let b = s.to_bytes();
    assert_eq!(b.len(), 28);
    assert_eq!(&b[..8], &[5, 0, 0, 0, 14, 0, 0, 0]);
    assert_eq!(&b[16..20], &0x9A2u32.to_le_bytes());
    assert_eq!(PpiState::from_bytes(&b), Some(s));
    assert_eq!(PpiState::from_bytes(&b[..27]), None);
    // A stored state that is not 28 bytes long never gets this far (the store type
    // has a fixed length); a fresh device starts from zero.
    let g = Guest::new();
    assert_eq!(g.dev.ppi_state(), PpiState::default());
}

#[test]
fn ppi_requests_confirmation_and_persistence() {
    let mut g = Guest::new();
    // User confirmation: supported operations need no physically present user.
    for op in [0, 5, 14, 21, 22, 23] {
        g.submit(port_cmd::PPI_GET_USER_CONFIRMATION, op);
        assert_eq!(g.query(port_cmd::PPI_GET_USER_CONFIRMATION), 4, "op {op}");
    }
    for op in [1, 2, 18, 24, 99] {
        g.submit(port_cmd::PPI_GET_USER_CONFIRMATION, op);
        assert_eq!(g.query(port_cmd::PPI_GET_USER_CONFIRMATION), 0, "op {op}");
    }
    // An unsupported request: not implemented, nothing pending.
    g.submit(port_cmd::PPI_SET_OPERATION, 99);
    assert_eq!(
        g.query(port_cmd::PPI_SET_OPERATION),
        hyperv::PPI_SUBMIT_NOT_IMPLEMENTED
    );
    assert_eq!(g.query(port_cmd::PPI_GET_PENDING_OPERATION), 0);
    // Clear requested: pending, and stored.
    g.submit(port_cmd::PPI_SET_OPERATION, ppi_op::CLEAR);
    assert_eq!(g.query(port_cmd::PPI_SET_OPERATION), hyperv::PPI_SUBMIT_OK);
    assert_eq!(g.query(port_cmd::PPI_GET_PENDING_OPERATION), ppi_op::CLEAR);
    let stored = g.dev.ppi_store().bytes.unwrap();
    assert_eq!(
        PpiState::from_bytes(&stored).unwrap().pending_op,
        ppi_op::CLEAR
    );
    g.submit(port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2, 6);
    assert_eq!(g.query(port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2), 6);
    let stored = g.dev.ppi_store().bytes.unwrap();
    assert_eq!(PpiState::from_bytes(&stored).unwrap().arg3_integer2, 6);
    // A new device (next boot) reads the same state from the store.
    let store = g.dev.ppi_store().clone();
    let mut g2 = Guest::with(started_tpm(), store, Ports::Mmio);
    assert_eq!(g2.query(port_cmd::PPI_GET_PENDING_OPERATION), ppi_op::CLEAR);
    assert_eq!(g2.query(port_cmd::PPI_GET_LAST_OPERATION), 0);
}

#[test]
fn ppi_clear_runs_at_the_next_boot() {
    let mut g = Guest::new();
    g.map();
    assert_eq!(
        rc(&g.transact(&owner_change_auth(b"", b"owner"))),
        RC_SUCCESS
    );
    g.submit(port_cmd::PPI_SET_OPERATION, ppi_op::ENABLE_ACTIVATE_CLEAR);
    // Nothing happens until the boot.
    assert_eq!(
        rc(&g.transact(&owner_change_auth(b"", b"x"))),
        RC_BAD_AUTH_S1,
        "the owner auth is still set"
    );
    assert_eq!(g.dev.boot(), ppi_op::ENABLE_ACTIVATE_CLEAR);
    assert_eq!(g.query(port_cmd::PPI_GET_PENDING_OPERATION), 0);
    assert_eq!(
        g.query(port_cmd::PPI_GET_LAST_OPERATION),
        ppi_op::ENABLE_ACTIVATE_CLEAR
    );
    assert_eq!(g.query(port_cmd::PPI_GET_LAST_RESULT), 0);
    // TPM2_Clear reset the owner auth to empty.
    assert_eq!(rc(&g.transact(&owner_change_auth(b"", b"new"))), RC_SUCCESS);
    // The result is stored; the next boot has nothing to do.
    let stored = PpiState::from_bytes(&g.dev.ppi_store().bytes.unwrap()).unwrap();
    assert_eq!(stored.pending_op, 0);
    assert_eq!(stored.last_op, ppi_op::ENABLE_ACTIVATE_CLEAR);
    assert_eq!(g.dev.boot(), 0);
}

#[test]
fn ppi_clear_failure_is_reported() {
    // Platform auth is not empty (firmware set it): ClearControl fails and the TPM
    // response code becomes the last result.
    let mut tpm = started_tpm();
    let mut cmd = Vec::new();
    cmd.extend_from_slice(&0x8002u16.to_be_bytes());
    cmd.extend_from_slice(&0u32.to_be_bytes());
    cmd.extend_from_slice(&0x129u32.to_be_bytes());
    cmd.extend_from_slice(&0x4000_000Cu32.to_be_bytes());
    cmd.extend_from_slice(&9u32.to_be_bytes());
    cmd.extend_from_slice(&0x4000_0009u32.to_be_bytes());
    cmd.extend_from_slice(&[0, 0, 0, 0, 0, 0, 2, b'p', b'w']);
    let len = (cmd.len() as u32).to_be_bytes();
    cmd[2..6].copy_from_slice(&len);
    assert_eq!(rc(&tpm.execute(0, &cmd)), RC_SUCCESS);
    let mut g = Guest::with(tpm, MemPpiStore::default(), Ports::Io);
    g.submit(port_cmd::PPI_SET_OPERATION, ppi_op::CLEAR);
    g.dev.boot();
    assert_eq!(g.query(port_cmd::PPI_GET_LAST_OPERATION), ppi_op::CLEAR);
    assert_eq!(g.query(port_cmd::PPI_GET_LAST_RESULT), RC_BAD_AUTH_S1);
    assert_eq!(g.query(port_cmd::PPI_GET_PENDING_OPERATION), 0);
}

#[test]
fn ppi_set_pcr_banks() {
    let mut g = Guest::new();
    g.map();
    let before = pcr_banks(&g.transact(&get_cap_pcrs()));
    assert!(before.contains(&(0x000B, 24)), "{before:?}");
    // SHA-256 only (EFI_TCG2_BOOT_HASH_ALG_SHA256 = 2).
    g.submit(port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2, 2);
    g.submit(port_cmd::PPI_SET_OPERATION, ppi_op::SET_PCR_BANKS);
    assert_eq!(g.dev.boot(), ppi_op::SET_PCR_BANKS);
    assert_eq!(g.query(port_cmd::PPI_GET_LAST_RESULT), 0);
    assert_eq!(
        g.dev.tpm().resets,
        1,
        "the allocation takes effect after a TPM reset"
    );
    assert_eq!(g.dev.ppi_state().hash_alg_bitmap, 2);
    let after = pcr_banks(&g.transact(&get_cap_pcrs()));
    for (alg, n) in &after {
        let want = if *alg == 0x000B { 24 } else { 0 };
        assert_eq!(*n, want, "bank {alg:#06x}: {after:?}");
    }
    // An unsupported bank: refused before the TPM sees anything.
    let executed = g.dev.tpm().executed();
    g.submit(port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2, 0x10);
    g.submit(port_cmd::PPI_SET_OPERATION, ppi_op::SET_PCR_BANKS);
    g.dev.boot();
    assert_eq!(
        g.query(port_cmd::PPI_GET_LAST_RESULT),
        hyperv::PPI_RESULT_FIRMWARE_FAILURE
    );
    assert_eq!(g.dev.tpm().executed(), executed);
    assert_eq!(g.dev.tpm().resets, 1);
}

#[test]
fn ppi_store_trait_is_what_the_device_uses() {
    // A store that refuses writes: the device keeps working from memory.
    struct Refusing(usize);
    impl PpiStore for Refusing {
        fn load(&mut self) -> Result<Option<[u8; hyperv::PPI_STATE_LEN]>, PpiStoreError> {
            let s = PpiState {
                pending_op: ppi_op::CLEAR,
                ..PpiState::default()
            };
            Ok(Some(s.to_bytes()))
        }
        fn store(&mut self, _: &[u8; hyperv::PPI_STATE_LEN]) -> bool {
            self.0 += 1;
            false
        }
    }
    let mut dev = HyperV::new(started_tpm(), Refusing(0), BASE).unwrap();
    assert_eq!(dev.ppi_state().pending_op, ppi_op::CLEAR);
    assert_eq!(dev.boot(), ppi_op::CLEAR);
    assert_eq!(dev.ppi_state().last_op, ppi_op::CLEAR);
    assert_eq!(dev.ppi_store().0, 1);
}
