//! The control channel as QEMU's tpm-emulator backend drives it (QEMU 7.2,
//! backends/tpm/tpm_emulator.c): a Unix control socket, the data channel handed over
//! by SET_DATAFD (SCM_RIGHTS), the pre-INIT probe, GET_CAPABILITY, STOP +
//! SET_BUFFERSIZE + INIT at start-up and at every VM reset, SET_LOCALITY with its
//! padding, SHUTDOWN when QEMU quits. Raw bytes, no QEMU needed: runs by default.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

const GET_CAPABILITY: u32 = 1;
const INIT: u32 = 2;
const SHUTDOWN: u32 = 3;
const GET_TPMESTABLISHED: u32 = 4;
const SET_LOCALITY: u32 = 5;
const STOP: u32 = 14;
const SET_DATAFD: u32 = 16;
const SET_BUFFERSIZE: u32 = 17;
const LOCK_STORAGE: u32 = 19;

/// What QEMU requires of a TPM 2.0 emulator (tpm_emulator_check_caps): INIT,
/// SHUTDOWN, GET_TPMESTABLISHED, SET_LOCALITY, RESET_TPMESTABLISHED, SET_DATAFD,
/// STOP, SET_BUFFERSIZE.
const QEMU_TPM2_CAPS: u64 = 0x1 | 0x2 | 0x4 | 0x8 | 0x80 | 0x1000 | 0x400 | 0x2000;
const CAP_LOCK_STORAGE: u64 = 1 << 16;

const TPM_BAD_ORDINAL: u32 = 10;

/// A server with only a Unix control socket, as libvirt starts swtpm for QEMU.
struct UnixTpm {
    child: Child,
    ctrl_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl UnixTpm {
    fn start(peer: &Peer) -> UnixTpm {
        let dir = tempfile::TempDir::new().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let ctrl_path = dir.path().join("ctrl.sock");
        let child = Command::new(peer.program())
            .args(["socket", "--tpm2", "--tpmstate"])
            .arg(format!("dir={}", state.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", ctrl_path.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let tpm = UnixTpm {
            child,
            ctrl_path,
            _dir: dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while UnixStream::connect(&tpm.ctrl_path).is_err() {
            assert!(Instant::now() < deadline, "{} did not listen", peer.name());
            std::thread::sleep(Duration::from_millis(20));
        }
        tpm
    }

    fn connect(&self) -> Ctrl {
        let s = UnixStream::connect(&self.ctrl_path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Ctrl(s)
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for UnixTpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One control connection (QEMU keeps one for the life of the VM).
struct Ctrl(UnixStream);

impl Ctrl {
    /// One request in one write, the reply from one read (as QEMU's chardev gets it).
    fn request(&mut self, command: u32, payload: &[u8]) -> Vec<u8> {
        let mut req = command.to_be_bytes().to_vec();
        req.extend_from_slice(payload);
        self.0.write_all(&req).unwrap();
        self.reply()
    }

    fn reply(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        let n = self.0.read(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn result(&mut self, command: u32, payload: &[u8]) -> u32 {
        let reply = self.request(command, payload);
        u32::from_be_bytes(reply[..4].try_into().unwrap())
    }

    /// SET_DATAFD with `fd` passed as SCM_RIGHTS (or without any descriptor).
    fn set_datafd(&mut self, fd: Option<&UnixStream>) -> u32 {
        match fd {
            Some(fd) => send_with_fd(&self.0, &SET_DATAFD.to_be_bytes(), fd).unwrap(),
            None => self.0.write_all(&SET_DATAFD.to_be_bytes()).unwrap(),
        }
        let reply = self.reply();
        u32::from_be_bytes(reply[..4].try_into().unwrap())
    }
}

/// sendmsg of `bytes` with one descriptor attached (what QEMU's
/// qio_channel_writev_full does for SET_DATAFD).
#[allow(unsafe_code)]
fn send_with_fd(sock: &UnixStream, bytes: &[u8], fd: &impl AsRawFd) -> std::io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // u64 words: aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: msg points at `iov` (describing `bytes`) and `control`, both alive for
    // the call; the control buffer is larger than CMSG_SPACE(one int).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd.as_raw_fd());
        if libc::sendmsg(sock.as_raw_fd(), &msg, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One TPM command on the data socket: one write, then the 10-byte header and the
/// rest (QEMU's tpm_emulator_unix_tx_bufs).
fn transact_data(data: &mut UnixStream, cmd: &[u8]) -> Vec<u8> {
    data.write_all(cmd).unwrap();
    let mut resp = vec![0u8; 10];
    data.read_exact(&mut resp).unwrap();
    let size = u32::from_be_bytes(resp[2..6].try_into().unwrap()) as usize;
    assert!((10..=4096).contains(&size), "response size {}", hex(&resp));
    resp.resize(size, 0);
    data.read_exact(&mut resp[10..]).unwrap();
    resp
}

fn startup_clear() -> Vec<u8> {
    command(0x8001, 0x144, &[0, 0])
}

fn get_random(n: u16) -> Vec<u8> {
    command(0x8001, 0x17B, &n.to_be_bytes())
}

/// QEMU's start-up (tpm_emulator_startup_tpm_resume): STOP, SET_BUFFERSIZE(0) to
/// query (itself after a STOP), SET_BUFFERSIZE(wanted) after another STOP, INIT.
fn qemu_startup(ctrl: &mut Ctrl, wanted: u32, who: &str) -> u32 {
    assert_eq!(ctrl.result(STOP, &[]), 0, "{who}: STOP");
    let query = ctrl.request(SET_BUFFERSIZE, &0u32.to_be_bytes());
    assert_eq!(query.len(), 16, "{who}: SET_BUFFERSIZE(0) {}", hex(&query));
    let word = |b: &[u8], i: usize| u32::from_be_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
    assert_eq!(word(&query, 0), 0, "{who}");
    let (min, max) = (word(&query, 2), word(&query, 3));
    assert!(min <= wanted && wanted <= max, "{who}: limits {min}..{max}");
    assert_eq!(ctrl.result(STOP, &[]), 0, "{who}: STOP");
    let set = ctrl.request(SET_BUFFERSIZE, &wanted.to_be_bytes());
    assert_eq!(word(&set, 0), 0, "{who}: SET_BUFFERSIZE({wanted})");
    assert_eq!(word(&set, 1), wanted, "{who}: SET_BUFFERSIZE({wanted})");
    assert_eq!(ctrl.result(INIT, &0u32.to_be_bytes()), 0, "{who}: INIT");
    word(&set, 1)
}

/// The whole life of a VM as QEMU drives the emulator: probe, capabilities,
/// start-up, firmware commands, a VM reset, SHUTDOWN.
fn qemu_lifecycle(peer: Peer) {
    let who = peer.name();
    let mut tpm = UnixTpm::start(&peer);
    let mut ctrl = tpm.connect();
    let (mut data, theirs) = UnixStream::pair().unwrap();
    data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ctrl.set_datafd(Some(&theirs)), 0, "{who}: SET_DATAFD");
    drop(theirs);

    // The probe (tpm_util_test_tpmdev) before INIT: a TPM 2.0 tag back within 1 s.
    let start = Instant::now();
    let probe = transact_data(&mut data, &command(0x8001, 0x181, &[]));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{who}: probe took {:?}",
        start.elapsed()
    );
    assert_eq!(hex(&probe), "80010000000a00000101", "{who}: probe");

    let caps = ctrl.request(GET_CAPABILITY, &[]);
    assert_eq!(caps.len(), 8, "{who}: GET_CAPABILITY {}", hex(&caps));
    let caps = u64::from_be_bytes(caps.try_into().unwrap());
    assert_eq!(
        caps & QEMU_TPM2_CAPS,
        QEMU_TPM2_CAPS,
        "{who}: caps {caps:#x}"
    );

    assert_eq!(qemu_startup(&mut ctrl, 4096, who), 4096);
    // QEMU sends SET_LOCALITY as a u8 and three bytes of padding.
    assert_eq!(
        ctrl.result(SET_LOCALITY, &[0, 0, 0, 0]),
        0,
        "{who}: SET_LOCALITY"
    );
    let est = ctrl.request(GET_TPMESTABLISHED, &[]);
    assert_eq!(est.len(), 8, "{who}: GET_TPMESTABLISHED {}", hex(&est));
    assert_eq!(&est[..4], &[0; 4], "{who}");
    assert_eq!(
        response_code(&transact_data(&mut data, &startup_clear())),
        Some(0)
    );
    let r = transact_data(&mut data, &get_random(16));
    assert_eq!(
        (response_code(&r), r.len()),
        (Some(0), 28),
        "{who}: {}",
        hex(&r)
    );

    // VM reset: the same sequence on a running TPM; it then waits for Startup again.
    assert_eq!(qemu_startup(&mut ctrl, 3968, who), 3968);
    let r = transact_data(&mut data, &get_random(16));
    assert_eq!(
        response_code(&r),
        Some(0x100),
        "{who}: after INIT {}",
        hex(&r)
    );
    assert_eq!(
        response_code(&transact_data(&mut data, &startup_clear())),
        Some(0)
    );
    // The smaller buffer is in force: a command above it is refused.
    let mut big = command(0x8001, 0x17B, &[0, 16]);
    big.resize(4000, 0);
    big[2..6].copy_from_slice(&4000u32.to_be_bytes());
    data.write_all(&big).unwrap();
    let mut resp = Vec::new();
    let _ = data.read_to_end(&mut resp);
    assert_eq!(
        response_code(&resp),
        Some(0x142),
        "{who}: 4000-byte command {}",
        hex(&resp)
    );

    // QEMU quits: SHUTDOWN, answered, then the server exits.
    assert_eq!(ctrl.result(SHUTDOWN, &[]), 0, "{who}: SHUTDOWN");
    let st = tpm.wait_exit(Duration::from_secs(5));
    assert!(
        st.is_some_and(|s| s.success()),
        "{who}: after SHUTDOWN {st:?}"
    );
}

/// SET_DATAFD needs the descriptor; once the data channel is set up the TPM is used
/// through it.
fn datafd_needs_a_descriptor(peer: Peer) {
    let who = peer.name();
    let tpm = UnixTpm::start(&peer);
    let mut ctrl = tpm.connect();
    assert_ne!(
        ctrl.set_datafd(None),
        0,
        "{who}: SET_DATAFD without a descriptor"
    );
    let (mut data, theirs) = UnixStream::pair().unwrap();
    data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ctrl.set_datafd(Some(&theirs)), 0, "{who}: SET_DATAFD");
    assert_eq!(ctrl.result(INIT, &0u32.to_be_bytes()), 0, "{who}: INIT");
    assert_eq!(
        response_code(&transact_data(&mut data, &startup_clear())),
        Some(0)
    );
}

/// LOCK_STORAGE (QEMU sends it after a failed outgoing migration when the capability
/// is offered): vtpm holds its state directory's lock from start to exit, so the
/// storage is locked. swtpm 0.7.1 predates the command (TPM_BAD_ORDINAL).
fn lock_storage(peer: Peer) {
    let who = peer.name();
    let tpm = UnixTpm::start(&peer);
    let mut ctrl = tpm.connect();
    let caps = u64::from_be_bytes(ctrl.request(GET_CAPABILITY, &[]).try_into().unwrap());
    let rc = ctrl.result(LOCK_STORAGE, &300u32.to_be_bytes());
    if caps & CAP_LOCK_STORAGE != 0 {
        assert_eq!(rc, 0, "{who}: LOCK_STORAGE offered but failed");
    } else {
        assert_eq!(rc, TPM_BAD_ORDINAL, "{who}: LOCK_STORAGE not offered");
    }
    if let Peer::Vtpm(_) = peer {
        assert_ne!(caps & CAP_LOCK_STORAGE, 0, "vtpm offers LOCK_STORAGE");
        // Short request: the retries count is missing.
        assert_ne!(
            ctrl.result(LOCK_STORAGE, &[]),
            0,
            "LOCK_STORAGE without retries"
        );
    }
}

both!(qemu_lifecycle, datafd_needs_a_descriptor, lock_storage);
