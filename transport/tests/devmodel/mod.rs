//! Shared by the device-model tests (crb.rs, hyperv_device.rs): a real vtpm device
//! on an in-memory platform, guest RAM, and raw TPM commands.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use vtpm::{Device, PlatformError};
use vtpm_transport::guest::{CancelSignal, GuestMemory, MemoryError, TpmBackend};

/// Entropy from the OS, a real clock, NV in memory, and the cancel signal.
pub struct MemPlatform {
    pub image: Option<Vec<u8>>,
    pub commits: usize,
    pub cancel: bool,
    started: Instant,
}

impl vtpm_commands::Platform for MemPlatform {
    fn entropy(&mut self, out: &mut [u8]) -> bool {
        getrandom::fill(out).is_ok()
    }
    fn monotonic_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
    fn cancel_requested(&self) -> bool {
        self.cancel
    }
}

impl vtpm::Platform for MemPlatform {
    fn load_state(&mut self) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(self.image.clone())
    }
    fn commit_state(&mut self, image: &[u8]) -> Result<(), PlatformError> {
        self.image = Some(image.to_vec());
        self.commits += 1;
        Ok(())
    }
}

impl CancelSignal for MemPlatform {
    fn set_cancel(&mut self, on: bool) {
        self.cancel = on;
    }
}

/// The real device, with a record of what reached it.
pub struct Recorder {
    pub device: Device<MemPlatform>,
    /// Locality of every command the TPM executed.
    pub localities: Vec<u8>,
    pub resets: usize,
}

impl Recorder {
    pub fn executed(&self) -> usize {
        self.localities.len()
    }
    pub fn cancel_signal(&self) -> bool {
        self.device.platform().cancel
    }
}

impl TpmBackend for Recorder {
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        self.localities.push(locality);
        TpmBackend::execute(&mut self.device, locality, command)
    }
    fn set_cancel(&mut self, on: bool) {
        TpmBackend::set_cancel(&mut self.device, on);
    }
    fn established(&self) -> bool {
        TpmBackend::established(&self.device)
    }
    fn reset_established(&mut self, locality: u8) -> bool {
        TpmBackend::reset_established(&mut self.device, locality)
    }
    fn reset(&mut self) -> bool {
        self.resets += 1;
        TpmBackend::reset(&mut self.device)
    }
    fn failed(&self) -> bool {
        TpmBackend::failed(&self.device)
    }
}

/// A manufactured TPM, powered on and started (Startup(CLEAR) not recorded).
pub fn started_tpm() -> Recorder {
    started_tpm_from(None)
}

/// The TPM stored in `image` (a fresh one when `None`), powered on and started.
pub fn started_tpm_from(image: Option<Vec<u8>>) -> Recorder {
    let platform = MemPlatform {
        image,
        commits: 0,
        cancel: false,
        started: Instant::now(),
    };
    let mut device = Device::open(platform).unwrap();
    device.power_on(true).unwrap();
    assert_eq!(rc(&device.execute(0, &startup_clear())), 0);
    Recorder {
        device,
        localities: Vec::new(),
        resets: 0,
    }
}

/// Guest RAM from `base`, `len` bytes; anything else is not memory.
pub struct Ram {
    pub base: u64,
    pub bytes: Vec<u8>,
}

impl Ram {
    pub fn new(base: u64, len: usize) -> Ram {
        Ram {
            base,
            bytes: vec![0; len],
        }
    }
    fn range(&self, gpa: u64, len: usize) -> Result<std::ops::Range<usize>, MemoryError> {
        let start = gpa.checked_sub(self.base).ok_or(MemoryError)? as usize;
        let end = start.checked_add(len).ok_or(MemoryError)?;
        if end > self.bytes.len() {
            return Err(MemoryError);
        }
        Ok(start..end)
    }
    pub fn get(&self, gpa: u64, len: usize) -> Vec<u8> {
        self.bytes[self.range(gpa, len).unwrap()].to_vec()
    }
    pub fn put(&mut self, gpa: u64, data: &[u8]) {
        let r = self.range(gpa, data.len()).unwrap();
        self.bytes[r].copy_from_slice(data);
    }
}

impl GuestMemory for Ram {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let r = self.range(gpa, buf.len())?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }
    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let r = self.range(gpa, data.len())?;
        self.bytes[r].copy_from_slice(data);
        Ok(())
    }
}

// ---- raw commands ----

pub const RC_SUCCESS: u32 = 0;
pub const RC_LOCALITY: u32 = 0x907;
pub const RC_CANCELED: u32 = 0x909;
pub const RC_COMMAND_SIZE: u32 = 0x142;
pub const RC_FAILURE: u32 = 0x101;
pub const RC_BAD_AUTH_S1: u32 = 0x9A2;

pub fn rc(response: &[u8]) -> u32 {
    u32::from_be_bytes(response[6..10].try_into().unwrap())
}

/// The responseSize field.
pub fn rsp_size(header: &[u8]) -> usize {
    u32::from_be_bytes(header[2..6].try_into().unwrap()) as usize
}

fn command(tag: u16, cc: u32, body: &[u8]) -> Vec<u8> {
    let mut c = tag.to_be_bytes().to_vec();
    c.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    c.extend_from_slice(&cc.to_be_bytes());
    c.extend_from_slice(body);
    c
}

pub fn startup_clear() -> Vec<u8> {
    command(0x8001, 0x144, &[0, 0])
}

pub fn get_random(n: u16) -> Vec<u8> {
    command(0x8001, 0x17B, &n.to_be_bytes())
}

/// A password session carrying `pw`, as an authorization area.
fn pw_area(pw: &[u8]) -> Vec<u8> {
    let mut s = ((9 + pw.len()) as u32).to_be_bytes().to_vec();
    s.extend_from_slice(&0x4000_0009u32.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0]);
    s.extend_from_slice(&(pw.len() as u16).to_be_bytes());
    s.extend_from_slice(pw);
    s
}

/// TPM2_PCR_Reset(pcr) with an empty password.
pub fn pcr_reset(pcr: u32) -> Vec<u8> {
    let mut body = pcr.to_be_bytes().to_vec();
    body.extend(pw_area(b""));
    command(0x8002, 0x13D, &body)
}

/// TPM2_HierarchyChangeAuth(owner) from `old` to `new`.
pub fn owner_change_auth(old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut body = 0x4000_0001u32.to_be_bytes().to_vec();
    body.extend(pw_area(old));
    body.extend_from_slice(&(new.len() as u16).to_be_bytes());
    body.extend_from_slice(new);
    command(0x8002, 0x129, &body)
}

/// TPM2_GetCapability(TPM_CAP_PCRS).
pub fn get_cap_pcrs() -> Vec<u8> {
    let mut body = 5u32.to_be_bytes().to_vec();
    body.extend_from_slice(&0u32.to_be_bytes());
    body.extend_from_slice(&1u32.to_be_bytes());
    command(0x8001, 0x17A, &body)
}

/// The banks of a GetCapability(PCRS) response: (hash alg, selected PCR count).
pub fn pcr_banks(response: &[u8]) -> Vec<(u16, u32)> {
    assert_eq!(rc(response), 0);
    // header 10, moreData 1, capability 4, count 4.
    let count = u32::from_be_bytes(response[15..19].try_into().unwrap());
    let mut at = 19;
    let mut out = Vec::new();
    for _ in 0..count {
        let alg = u16::from_be_bytes(response[at..at + 2].try_into().unwrap());
        let n = response[at + 2] as usize;
        let bits = response[at + 3..at + 3 + n]
            .iter()
            .map(|b| b.count_ones())
            .sum();
        out.push((alg, bits));
        at += 3 + n;
    }
    out
}
