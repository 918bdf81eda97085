//! The Hyper-V device's PPI state in VMGS file id 2 ([`VmgsPpiStore`]), driven through
//! the IO ports against the real engine, next to the vTPM state in file id 3 of the
//! same VMGS file, and read from the OpenVMM-written reference vector.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod devmodel;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use devmodel::*;
use vtpm_nvram::vmgs::file::{Container, VmgsFile};
use vtpm_nvram::vmgs::{MemDisk, Vmgs, VmgsDisk, VmgsError, file_id};
use vtpm_transport::guest::TpmBackend;
use vtpm_transport::hyperv::{
    self, HyperV, PpiState, PpiStore, PpiStoreError, VmgsPpiStore, port_cmd, ppi_op,
};

const BASE: u64 = hyperv::CONTROL_BASE;
const PAGES: u64 = 0x10_0000;
const CAPACITY: u64 = 1 << 20;

type Rng = fn(&mut [u8]) -> bool;

fn os_rng(out: &mut [u8]) -> bool {
    getrandom::fill(out).is_ok()
}

type Dev<D> = HyperV<Recorder, VmgsPpiStore<D, Rng>>;

fn device<D: VmgsDisk>(tpm: Recorder, vmgs: Vmgs<D>) -> Dev<D> {
    HyperV::new(tpm, VmgsPpiStore::new(vmgs, os_rng as Rng), BASE).unwrap()
}

/// Control port = `cmd`, then read the data port (x86 IO ports).
fn query<D: VmgsDisk>(dev: &mut Dev<D>, cmd: u32) -> u32 {
    dev.io_write(hyperv::IO_CONTROL_PORT, &cmd.to_le_bytes())
        .unwrap();
    let mut b = [0u8; 4];
    dev.io_read(hyperv::IO_DATA_PORT, &mut b).unwrap();
    u32::from_le_bytes(b)
}

/// Control port = `cmd`, then write `value` to the data port.
fn submit<D: VmgsDisk>(dev: &mut Dev<D>, cmd: u32, value: u32) {
    dev.io_write(hyperv::IO_CONTROL_PORT, &cmd.to_le_bytes())
        .unwrap();
    dev.io_write(hyperv::IO_DATA_PORT, &value.to_le_bytes())
        .unwrap();
}

/// A command through the shared pages, as the guest driver sends it.
fn transact<D: VmgsDisk>(dev: &mut Dev<D>, ram: &mut Ram, command: &[u8]) -> Vec<u8> {
    submit(dev, port_cmd::MAP_SHARED_MEMORY, PAGES as u32);
    ram.put(PAGES, command);
    ram.put(PAGES + 0x1000, &[0; 10]);
    dev.mmio_write(BASE + hyperv::reg::START, &1u32.to_le_bytes(), ram)
        .unwrap();
    let header = ram.get(PAGES + 0x1000, 10);
    ram.get(PAGES + 0x1000, rsp_size(&header))
}

fn ram() -> Ram {
    Ram::new(PAGES, 2 * hyperv::PAGE_SIZE)
}

/// File id 2 as the 7 little-endian u32 it must be, decoded here independently of
/// `PpiState`.
fn file2<D: VmgsDisk>(vmgs: &mut Vmgs<D>) -> [u32; 7] {
    let bytes = vmgs.read_file(file_id::TPM_PPI).unwrap();
    assert_eq!(bytes.len(), 28, "file id 2 is exactly 7 u32");
    let mut out = [0u32; 7];
    for (v, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *v = u32::from_le_bytes(c.try_into().unwrap());
    }
    out
}

fn mem_vmgs() -> Vmgs<MemDisk> {
    Vmgs::format(MemDisk(vec![0; CAPACITY as usize]), None, &mut os_rng).unwrap()
}

/// The vTPM's current state image (the device commits it after every command).
fn state_image(tpm: &Recorder) -> Vec<u8> {
    tpm.device.platform().image.clone().unwrap()
}

#[test]
fn ppi_request_through_the_ports_lands_in_file_2() {
    let mut dev = device(started_tpm(), mem_vmgs());
    // Nothing stored: fresh state, and loading wrote nothing.
    assert_eq!(dev.ppi_state(), PpiState::default());
    assert!(!dev.ppi_store().vmgs().has_file(file_id::TPM_PPI));

    submit(&mut dev, port_cmd::PPI_GET_USER_CONFIRMATION, ppi_op::CLEAR);
    assert_eq!(
        query(&mut dev, port_cmd::PPI_GET_USER_CONFIRMATION),
        hyperv::PPI_CONFIRM_ALLOWED
    );
    submit(&mut dev, port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2, 0x0B);
    submit(&mut dev, port_cmd::PPI_SET_OPERATION, ppi_op::CLEAR);
    assert_eq!(
        query(&mut dev, port_cmd::PPI_SET_OPERATION),
        hyperv::PPI_SUBMIT_OK
    );
    // pending, in-query, set-op state, last op, last result, arg3, hash bitmap.
    assert_eq!(
        file2(dev.ppi_store_mut().vmgs_mut()),
        [ppi_op::CLEAR, ppi_op::CLEAR, 0, 0, 0, 0x0B, 0]
    );
    assert!(dev.ppi_store().last_error().is_none());

    // An unsupported request is recorded as refused, the pending one stays.
    submit(&mut dev, port_cmd::PPI_SET_OPERATION, 99);
    assert_eq!(
        file2(dev.ppi_store_mut().vmgs_mut()),
        [
            ppi_op::CLEAR,
            ppi_op::CLEAR,
            hyperv::PPI_SUBMIT_NOT_IMPLEMENTED,
            0,
            0,
            0x0B,
            0
        ]
    );
    // The commits left a valid VMGS file: it reopens with the same file 2.
    let (vmgs, _) = dev.into_parts().1.into_parts();
    let mut again = Vmgs::open(vmgs.into_disk()).unwrap();
    assert_eq!(file2(&mut again)[0], ppi_op::CLEAR);
}

struct TempVmgs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TempVmgs {
    fn new() -> TempVmgs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guest.vmgs");
        let file = VmgsFile::create(&path, CAPACITY, Container::Vhd1, &mut os_rng).unwrap();
        Vmgs::format(file, None, &mut os_rng).unwrap();
        TempVmgs { _dir: dir, path }
    }

    /// The VMGS file as a VM start opens it.
    fn open(&self) -> Vmgs<VmgsFile> {
        Vmgs::open(VmgsFile::open(&self.path, true).unwrap()).unwrap()
    }
}

/// A VM start: the TPM from file id 3 (a new one when absent), the device with the
/// PPI state from file id 2 of the same handle.
fn power_on(vmgs: &TempVmgs) -> Dev<VmgsFile> {
    let mut v = vmgs.open();
    let image = v.read_vtpm_state().unwrap().map(|i| i.to_vec());
    device(started_tpm_from(image), v)
}

/// Stores the vTPM state in file id 3 through the device's VMGS handle.
fn save_tpm(dev: &mut Dev<VmgsFile>) {
    let image = state_image(dev.tpm());
    let (vmgs, rng) = dev.ppi_store_mut().parts_mut();
    vmgs.write_vtpm_state(&image, rng).unwrap();
}

#[test]
fn pending_clear_survives_a_restart_and_runs_at_boot_next_to_file_3() {
    let vmgs = TempVmgs::new();
    let mut ram = ram();

    // First run: take ownership, store the TPM (file 3), request a Clear (file 2).
    let mut dev = power_on(&vmgs);
    assert_eq!(dev.boot(), ppi_op::NO_OP);
    assert_eq!(
        rc(&transact(
            &mut dev,
            &mut ram,
            &owner_change_auth(b"", b"owner")
        )),
        RC_SUCCESS
    );
    save_tpm(&mut dev);
    submit(&mut dev, port_cmd::PPI_SET_OPERATION, ppi_op::CLEAR);
    let tpm_image = state_image(dev.tpm());
    drop(dev);

    // Second run, from the file alone: both files are there.
    let mut dev = power_on(&vmgs);
    {
        let v = dev.ppi_store_mut().vmgs_mut();
        assert!(v.has_file(file_id::TPM_PPI) && v.has_file(file_id::TPM_NVRAM));
        assert_eq!(v.read_vtpm_state().unwrap().unwrap().as_slice(), tpm_image);
        assert_eq!(file2(v), [ppi_op::CLEAR, 0, 0, 0, 0, 0, 0]);
    }
    assert_eq!(
        query(&mut dev, port_cmd::PPI_GET_PENDING_OPERATION),
        ppi_op::CLEAR
    );
    // The owner auth came back from file 3.
    assert_eq!(
        rc(&transact(&mut dev, &mut ram, &owner_change_auth(b"", b"x"))),
        RC_BAD_AUTH_S1
    );
    // The firmware's boot step runs the Clear and records the result in file 2.
    assert_eq!(dev.boot(), ppi_op::CLEAR);
    assert_eq!(
        file2(dev.ppi_store_mut().vmgs_mut()),
        [0, 0, 0, ppi_op::CLEAR, 0, 0, 0]
    );
    save_tpm(&mut dev);
    drop(dev);

    // Third run: nothing pending; the cleared TPM came from file 3.
    let mut dev = power_on(&vmgs);
    assert_eq!(query(&mut dev, port_cmd::PPI_GET_PENDING_OPERATION), 0);
    assert_eq!(
        query(&mut dev, port_cmd::PPI_GET_LAST_OPERATION),
        ppi_op::CLEAR
    );
    assert_eq!(query(&mut dev, port_cmd::PPI_GET_LAST_RESULT), 0);
    assert_eq!(dev.boot(), ppi_op::NO_OP);
    assert_eq!(
        rc(&transact(
            &mut dev,
            &mut ram,
            &owner_change_auth(b"", b"new")
        )),
        RC_SUCCESS,
        "TPM2_Clear emptied the owner auth"
    );
    // Every file the two writers left is intact.
    let ids = dev.ppi_store_mut().vmgs_mut().verify().unwrap();
    assert!(ids.contains(&file_id::TPM_PPI) && ids.contains(&file_id::TPM_NVRAM));
}

#[test]
fn set_pcr_banks_result_and_bitmap_are_stored() {
    let mut dev = device(started_tpm(), mem_vmgs());
    submit(&mut dev, port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2, 0x02);
    submit(&mut dev, port_cmd::PPI_SET_OPERATION, ppi_op::SET_PCR_BANKS);
    assert_eq!(dev.boot(), ppi_op::SET_PCR_BANKS);
    assert_eq!(dev.tpm().resets, 1, "the allocation takes a TPM reset");
    assert_eq!(
        file2(dev.ppi_store_mut().vmgs_mut()),
        [0, 0, 0, ppi_op::SET_PCR_BANKS, 0, 0x02, 0x02]
    );
}

fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../nvram/tests/vectors/vmgs")
        .join(name)
}

#[test]
fn reference_vector_file_2_is_a_ppi_state() {
    // plain.vmgs (OpenVMM's VMGS tool): file id 2 = bytes 0x00..0x1b.
    let file = VmgsFile::open(&vector("plain.vmgs"), false).unwrap();
    let mut store = VmgsPpiStore::new(Vmgs::open(file).unwrap(), os_rng as Rng);
    let expected: [u8; 28] = core::array::from_fn(|i| i as u8);
    assert_eq!(store.load().unwrap(), Some(expected));
    assert_eq!(
        PpiState::from_bytes(&expected).unwrap(),
        PpiState {
            pending_op: 0x0302_0100,
            in_query_op: 0x0706_0504,
            set_op_state: 0x0B0A_0908,
            last_op: 0x0F0E_0D0C,
            last_state: 0x1312_1110,
            arg3_integer2: 0x1716_1514,
            hash_alg_bitmap: 0x1B1A_1918,
        }
    );
    // The device reports it through the ports (read-only file: nothing is written).
    let mut dev = HyperV::new(started_tpm(), store, BASE).unwrap();
    assert_eq!(
        query(&mut dev, port_cmd::PPI_GET_PENDING_OPERATION),
        0x0302_0100
    );
    assert_eq!(
        query(&mut dev, port_cmd::PPI_GET_LAST_OPERATION),
        0x0F0E_0D0C
    );
    assert_eq!(query(&mut dev, port_cmd::PPI_GET_LAST_RESULT), 0x1312_1110);
    assert_eq!(
        query(&mut dev, port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2),
        0x1716_1514
    );
    // Its file id 3 is another engine's NV image: not taken for a vtpm state.
    assert_eq!(
        dev.ppi_store_mut().vmgs_mut().read_vtpm_state(),
        Err(VmgsError::ForeignTpmState)
    );
}

#[test]
fn reference_vector_encrypted_file_2_needs_the_datastore_key() {
    // enc.vmgs: the same file id 2, AES-256-GCM under key1.bin.
    let key: [u8; 32] = std::fs::read(vector("key1.bin"))
        .unwrap()
        .try_into()
        .unwrap();
    let open = || Vmgs::open(VmgsFile::open(&vector("enc.vmgs"), false).unwrap()).unwrap();
    let mut unlocked = open();
    unlocked.unlock(&key).unwrap();
    let mut store = VmgsPpiStore::new(unlocked, os_rng as Rng);
    let expected: [u8; 28] = core::array::from_fn(|i| i as u8);
    assert_eq!(store.load().unwrap(), Some(expected));
    let mut locked = VmgsPpiStore::new(open(), os_rng as Rng);
    assert!(matches!(locked.load(), Err(PpiStoreError::Backend(_))));
}

#[test]
fn file_2_of_the_wrong_length_is_refused_and_left_alone() {
    for len in [27usize, 29, 56] {
        let mut v = mem_vmgs();
        let junk: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5A).collect();
        v.write_file(file_id::TPM_PPI, &junk, &mut os_rng).unwrap();
        let err = HyperV::new(started_tpm(), VmgsPpiStore::new(v, os_rng as Rng), BASE)
            .err()
            .expect("a corrupt PPI file is refused");
        assert_eq!(err.error, PpiStoreError::BadLength(len));
        // The parts come back and the file is untouched.
        let mut store = err.store;
        assert_eq!(
            store
                .vmgs_mut()
                .read_file(file_id::TPM_PPI)
                .unwrap()
                .as_slice(),
            junk
        );
        assert_eq!(store.load(), Err(PpiStoreError::BadLength(len)));
    }
}

#[test]
fn encrypted_vmgs_holds_file_2_and_a_locked_one_is_refused() {
    let key = [0x42u8; 32];
    let v = Vmgs::format(MemDisk(vec![0; CAPACITY as usize]), Some(&key), &mut os_rng).unwrap();
    let mut dev = device(started_tpm(), v);
    submit(&mut dev, port_cmd::PPI_SET_OPERATION, ppi_op::CLEAR);
    assert!(dev.ppi_store().last_error().is_none());
    let disk = dev.into_parts().1.into_parts().0.into_disk();

    // Without the datastore key: an error, not "nothing stored".
    let locked = Vmgs::open(disk.clone()).unwrap();
    let err = HyperV::new(
        started_tpm(),
        VmgsPpiStore::new(locked, os_rng as Rng),
        BASE,
    )
    .err()
    .expect("a locked store is refused");
    assert!(matches!(err.error, PpiStoreError::Backend(_)), "{err}");

    // With it: the request is there.
    let unlocked = Vmgs::open_with_key(disk, Some(&key)).unwrap();
    let mut dev = device(started_tpm(), unlocked);
    assert_eq!(
        query(&mut dev, port_cmd::PPI_GET_PENDING_OPERATION),
        ppi_op::CLEAR
    );
}

/// A disk whose writes fail while `fail` is set.
struct FlakyDisk {
    inner: MemDisk,
    fail: Rc<Cell<bool>>,
}

impl VmgsDisk for FlakyDisk {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), VmgsError> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VmgsError> {
        if self.fail.get() {
            return Err(VmgsError::Io("injected write failure".into()));
        }
        self.inner.write_at(offset, data)
    }
    fn flush(&mut self) -> Result<(), VmgsError> {
        self.inner.flush()
    }
}

#[test]
fn a_failing_commit_is_reported_and_the_device_keeps_running() {
    let fail = Rc::new(Cell::new(false));
    let disk = FlakyDisk {
        inner: MemDisk(vec![0; CAPACITY as usize]),
        fail: fail.clone(),
    };
    let v = Vmgs::format(disk, None, &mut os_rng).unwrap();
    let mut dev = device(started_tpm(), v);
    fail.set(true);
    submit(&mut dev, port_cmd::PPI_SET_OPERATION, ppi_op::CLEAR);
    assert!(matches!(
        dev.ppi_store().last_error(),
        Some(VmgsError::Io(_))
    ));
    // The request is still pending in the running device, not in the file.
    assert_eq!(
        query(&mut dev, port_cmd::PPI_GET_PENDING_OPERATION),
        ppi_op::CLEAR
    );
    assert!(!dev.tpm().failed());
    // Once the disk works again the next PPI write stores the whole state.
    fail.set(false);
    submit(&mut dev, port_cmd::PPI_SET_OPERATION_ARG3_INTEGER2, 7);
    assert!(dev.ppi_store().last_error().is_none());
    let (vmgs, _) = dev.into_parts().1.into_parts();
    let mut reopened = Vmgs::open(vmgs.into_disk()).unwrap();
    assert_eq!(file2(&mut reopened), [ppi_op::CLEAR, 0, 0, 0, 0, 7, 0]);
}
