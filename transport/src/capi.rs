//! The C ABI: how firmware and paravisors written in C drive a vtpm.
//!
//! The declarations are in `transport/include/vtpm.h` (hand-written, checked
//! against this file by `transport/tests/capi.rs`). This module uses only `core`
//! and `alloc`: the same source is built into the `no_std` static library of
//! `conformance/nostd-check/` for firmware without an operating system.
//!
//! Conventions: every function returns a `VTPM_*` result (0 = success, negative =
//! error) unless it cannot fail; a TPM response code is a separate out-parameter,
//! because a TPM error is a successful exchange. Buffers are (pointer, length) pairs;
//! an in/out `len` holds the capacity on entry and the length used on return.
#![allow(unsafe_code)]
// FFI entry points take raw pointers by design; each one checks them for NULL.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ffi::c_void;

use vtpm::{Device, DeviceError, PlatformError};

pub const VTPM_OK: i32 = 0;
/// A NULL pointer, a locality above 4 or another invalid argument.
pub const VTPM_E_INVALID_ARG: i32 = -1;
/// The output buffer is too small; `*len` holds the size needed.
pub const VTPM_E_BUFFER_TOO_SMALL: i32 = -2;
/// A platform callback (NV load or commit) failed.
pub const VTPM_E_PLATFORM: i32 = -3;
/// The state image is unusable (corrupt, tampered, from a newer vtpm).
pub const VTPM_E_STATE: i32 = -4;
/// Not allowed in this state (e.g. resetting the established flag below locality 3).
pub const VTPM_E_NOT_ALLOWED: i32 = -5;

/// `nv_load` results (besides negative errors).
pub const VTPM_NV_OK: i32 = 0;
pub const VTPM_NV_EMPTY: i32 = 1;
pub const VTPM_NV_SHORT: i32 = 2;

/// The largest response a vtpm produces (TPM_PT_MAX_RESPONSE_SIZE).
pub const VTPM_RESPONSE_MAX: usize = 4096;

/// The host services of a TPM, as C callbacks sharing one context pointer.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VtpmPlatform {
    /// Passed as the first argument of every callback.
    pub ctx: *mut c_void,
    /// Fills `buf` with `len` bytes of conditioned entropy; 0 on success.
    pub entropy: Option<unsafe extern "C" fn(ctx: *mut c_void, buf: *mut u8, len: usize) -> i32>,
    /// A monotonic millisecond count.
    pub monotonic_ms: Option<unsafe extern "C" fn(ctx: *mut c_void) -> u64>,
    /// Loads the stored state image. On entry `*len` is the capacity of `buf`
    /// (`buf` may be NULL when it is 0). Returns VTPM_NV_OK with `*len` = size,
    /// VTPM_NV_EMPTY when nothing is stored, VTPM_NV_SHORT with `*len` = size
    /// needed when `buf` is too small, or a negative error.
    pub nv_load:
        Option<unsafe extern "C" fn(ctx: *mut c_void, buf: *mut u8, len: *mut usize) -> i32>,
    /// Stores the state image durably (returns once durable); 0 on success.
    pub nv_commit:
        Option<unsafe extern "C" fn(ctx: *mut c_void, buf: *const u8, len: usize) -> i32>,
    /// Optional (may be NULL): true while the host asks to cancel the command.
    pub cancel_requested: Option<unsafe extern "C" fn(ctx: *mut c_void) -> bool>,
    /// Optional (may be NULL): true while physical presence is asserted.
    pub physical_presence: Option<unsafe extern "C" fn(ctx: *mut c_void) -> bool>,
}

/// The platform the device sees: the C callbacks.
struct CPlatform(VtpmPlatform);

impl vtpm_commands::Platform for CPlatform {
    fn entropy(&mut self, out: &mut [u8]) -> bool {
        match self.0.entropy {
            // SAFETY: the callback contract: `out` is valid for `out.len()` bytes.
            Some(f) => unsafe { f(self.0.ctx, out.as_mut_ptr(), out.len()) == 0 },
            None => false,
        }
    }

    fn monotonic_ms(&self) -> u64 {
        match self.0.monotonic_ms {
            // SAFETY: the callback contract.
            Some(f) => unsafe { f(self.0.ctx) },
            None => 0,
        }
    }

    fn cancel_requested(&self) -> bool {
        match self.0.cancel_requested {
            // SAFETY: the callback contract.
            Some(f) => unsafe { f(self.0.ctx) },
            None => false,
        }
    }

    fn physical_presence(&self) -> bool {
        match self.0.physical_presence {
            // SAFETY: the callback contract.
            Some(f) => unsafe { f(self.0.ctx) },
            None => false,
        }
    }
}

impl vtpm::Platform for CPlatform {
    fn load_state(&mut self) -> Result<Option<Vec<u8>>, PlatformError> {
        let Some(load) = self.0.nv_load else {
            return Err(PlatformError(String::from("no nv_load callback")));
        };
        let mut buf: Vec<u8> = Vec::new();
        // The image may grow between the size query and the read: retry a few times.
        for _ in 0..4 {
            let mut len = buf.len();
            let ptr = if buf.is_empty() {
                core::ptr::null_mut()
            } else {
                buf.as_mut_ptr()
            };
            // SAFETY: `ptr` is NULL with capacity 0, or valid for `len` bytes.
            let r = unsafe { load(self.0.ctx, ptr, &mut len) };
            match r {
                VTPM_NV_OK if len <= buf.len() => {
                    buf.truncate(len);
                    return Ok(Some(buf));
                }
                VTPM_NV_EMPTY => return Ok(None),
                VTPM_NV_SHORT if len > buf.len() => buf = vec![0; len],
                _ => break,
            }
        }
        Err(PlatformError(String::from("nv_load failed")))
    }

    fn commit_state(&mut self, image: &[u8]) -> Result<(), PlatformError> {
        let Some(commit) = self.0.nv_commit else {
            return Err(PlatformError(String::from("no nv_commit callback")));
        };
        // SAFETY: `image` is valid for its length during the call.
        match unsafe { commit(self.0.ctx, image.as_ptr(), image.len()) } {
            0 => Ok(()),
            _ => Err(PlatformError(String::from("nv_commit failed"))),
        }
    }
}

/// The opaque TPM handle of the C API.
pub struct Vtpm {
    device: Device<CPlatform>,
}

fn device_error(e: &DeviceError) -> i32 {
    match e {
        DeviceError::Image(_) | DeviceError::State(_) => VTPM_E_STATE,
        DeviceError::Platform(_) => VTPM_E_PLATFORM,
        DeviceError::NotAllowed => VTPM_E_NOT_ALLOWED,
    }
}

/// Copies `data` to (`buf`, `*len`): VTPM_E_BUFFER_TOO_SMALL (with the size needed
/// in `*len`) when it does not fit.
///
/// # Safety
/// `len` is valid; `buf` is valid for `*len` bytes (or NULL with `*len` 0).
unsafe fn copy_out(data: &[u8], buf: *mut u8, len: *mut usize) -> i32 {
    // SAFETY: caller's contract.
    let cap = unsafe { *len };
    // SAFETY: caller's contract.
    unsafe { *len = data.len() };
    if data.len() > cap || (buf.is_null() && !data.is_empty()) {
        return VTPM_E_BUFFER_TOO_SMALL;
    }
    // SAFETY: `buf` holds at least `data.len()` bytes (checked above).
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len()) };
    VTPM_OK
}

/// # Safety
/// `ptr` is valid for `len` bytes, or `len` is 0.
unsafe fn slice<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: caller's contract.
    Some(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// Opens the TPM stored through `platform->nv_load`, or manufactures a new one and
/// commits it. The TPM is powered off: call `vtpm_init` next. `*out` receives the
/// handle (free it with `vtpm_destroy`).
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_create(platform: *const VtpmPlatform, out: *mut *mut Vtpm) -> i32 {
    if platform.is_null() || out.is_null() {
        return VTPM_E_INVALID_ARG;
    }
    // SAFETY: non-NULL, and the caller passes a valid platform struct.
    let platform = unsafe { *platform };
    if platform.entropy.is_none()
        || platform.monotonic_ms.is_none()
        || platform.nv_load.is_none()
        || platform.nv_commit.is_none()
    {
        return VTPM_E_INVALID_ARG;
    }
    match Device::open(CPlatform(platform)) {
        Ok(device) => {
            // SAFETY: `out` is non-NULL and writable.
            unsafe { *out = Box::into_raw(Box::new(Vtpm { device })) };
            VTPM_OK
        }
        Err(e) => device_error(&e),
    }
}

/// Frees a handle from `vtpm_create` (NULL is ignored). The state is already durable.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_destroy(tpm: *mut Vtpm) {
    if !tpm.is_null() {
        // SAFETY: `tpm` came from vtpm_create and is not used again.
        drop(unsafe { Box::from_raw(tpm) });
    }
}

/// # Safety
/// `tpm` is NULL or a live handle from vtpm_create.
unsafe fn handle<'a>(tpm: *mut Vtpm) -> Option<&'a mut Vtpm> {
    // SAFETY: caller's contract.
    unsafe { tpm.as_mut() }
}

/// Power on or reset: _TPM_Init. Volatile state saved by `vtpm_save_state` or
/// restored by `vtpm_restore_state` resumes unless `delete_volatile`.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_init(tpm: *mut Vtpm, delete_volatile: bool) -> i32 {
    // SAFETY: a handle from vtpm_create.
    let Some(t) = (unsafe { handle(tpm) }) else {
        return VTPM_E_INVALID_ARG;
    };
    match t.device.power_on(delete_volatile) {
        Ok(()) => VTPM_OK,
        Err(e) => device_error(&e),
    }
}

/// Power loss; commands answer TPM_RC_FAILURE until the next `vtpm_init`.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_power_off(tpm: *mut Vtpm) {
    // SAFETY: a handle from vtpm_create.
    if let Some(t) = unsafe { handle(tpm) } {
        t.device.power_off();
    }
}

/// Sends a 12-byte command with one u16 parameter (Startup, Shutdown) at locality 0.
fn su_command(tpm: *mut Vtpm, cc: u32, su: u16, tpm_rc: *mut u32) -> i32 {
    // SAFETY: a handle from vtpm_create.
    let Some(t) = (unsafe { handle(tpm) }) else {
        return VTPM_E_INVALID_ARG;
    };
    let mut cmd = Vec::with_capacity(12);
    cmd.extend_from_slice(&0x8001u16.to_be_bytes());
    cmd.extend_from_slice(&12u32.to_be_bytes());
    cmd.extend_from_slice(&cc.to_be_bytes());
    cmd.extend_from_slice(&su.to_be_bytes());
    let rsp = t.device.execute(0, &cmd);
    let rc = rsp
        .get(6..10)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(u32::MAX, u32::from_be_bytes);
    if !tpm_rc.is_null() {
        // SAFETY: non-NULL and writable.
        unsafe { *tpm_rc = rc };
    }
    VTPM_OK
}

/// TPM2_Startup(`startup_type`: 0 CLEAR, 1 STATE); `*tpm_rc` (may be NULL) gets its
/// response code.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_startup(tpm: *mut Vtpm, startup_type: u16, tpm_rc: *mut u32) -> i32 {
    su_command(tpm, 0x144, startup_type, tpm_rc)
}

/// TPM2_Shutdown(`shutdown_type`: 0 CLEAR, 1 STATE); `*tpm_rc` as for vtpm_startup.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_shutdown(tpm: *mut Vtpm, shutdown_type: u16, tpm_rc: *mut u32) -> i32 {
    su_command(tpm, 0x145, shutdown_type, tpm_rc)
}

/// Executes one command at `locality` (0..4). On entry `*rsp_len` is the capacity
/// of `rsp` (VTPM_RESPONSE_MAX always suffices); on return the response length. NV
/// changes are durable before this returns.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_execute(
    tpm: *mut Vtpm,
    locality: u8,
    cmd: *const u8,
    cmd_len: usize,
    rsp: *mut u8,
    rsp_len: *mut usize,
) -> i32 {
    // SAFETY: a handle from vtpm_create.
    let Some(t) = (unsafe { handle(tpm) }) else {
        return VTPM_E_INVALID_ARG;
    };
    // SAFETY: `cmd` is valid for `cmd_len` bytes.
    let Some(command) = (unsafe { slice(cmd, cmd_len) }) else {
        return VTPM_E_INVALID_ARG;
    };
    if locality > 4 || rsp_len.is_null() {
        return VTPM_E_INVALID_ARG;
    }
    let response = t.device.execute(locality, command);
    // SAFETY: `rsp` is valid for `*rsp_len` bytes.
    unsafe { copy_out(&response, rsp, rsp_len) }
}

/// The whole TPM for a save or a migration: the volatile state is stored first (as
/// swtpm's STORE_VOLATILE), then the state image is copied to `buf` (`*len` in:
/// capacity, out: size; query with `buf` NULL and `*len` 0).
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_save_state(tpm: *mut Vtpm, buf: *mut u8, len: *mut usize) -> i32 {
    // SAFETY: a handle from vtpm_create.
    let Some(t) = (unsafe { handle(tpm) }) else {
        return VTPM_E_INVALID_ARG;
    };
    if len.is_null() {
        return VTPM_E_INVALID_ARG;
    }
    if let Err(e) = t.device.store_volatile() {
        return device_error(&e);
    }
    let image = t.device.state_image();
    // SAFETY: `buf` is valid for `*len` bytes.
    unsafe { copy_out(&image, buf, len) }
}

/// Replaces the TPM with a state image from `vtpm_save_state` and commits it. The
/// TPM is then powered off; `vtpm_init(tpm, false)` resumes the saved volatile state.
/// An unusable image is refused (VTPM_E_STATE) and the TPM is left unchanged.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_restore_state(tpm: *mut Vtpm, buf: *const u8, len: usize) -> i32 {
    // SAFETY: a handle from vtpm_create.
    let Some(t) = (unsafe { handle(tpm) }) else {
        return VTPM_E_INVALID_ARG;
    };
    // SAFETY: `buf` is valid for `len` bytes.
    let Some(image) = (unsafe { slice(buf, len) }) else {
        return VTPM_E_INVALID_ARG;
    };
    match t.device.restore(image) {
        Ok(()) => VTPM_OK,
        Err(e) => device_error(&e),
    }
}

/// _TPM_Hash_Start: a DRTM (or H-CRTM before Startup) measurement begins at locality 4.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_hash_start(tpm: *mut Vtpm) -> i32 {
    // SAFETY: a handle from vtpm_create.
    let Some(t) = (unsafe { handle(tpm) }) else {
        return VTPM_E_INVALID_ARG;
    };
    t.device.hash_start();
    VTPM_OK
}

/// _TPM_Hash_Data: `len` bytes of the measured code.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_hash_data(tpm: *mut Vtpm, data: *const u8, len: usize) -> i32 {
    // SAFETY: a handle from vtpm_create.
    let Some(t) = (unsafe { handle(tpm) }) else {
        return VTPM_E_INVALID_ARG;
    };
    // SAFETY: `data` is valid for `len` bytes.
    let Some(data) = (unsafe { slice(data, len) }) else {
        return VTPM_E_INVALID_ARG;
    };
    t.device.hash_data(data);
    VTPM_OK
}

/// _TPM_Hash_End: the measurement is extended into PCR 17 (PCR 0 before Startup)
/// and the established flag is set.
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_hash_end(tpm: *mut Vtpm) -> i32 {
    // SAFETY: a handle from vtpm_create.
    let Some(t) = (unsafe { handle(tpm) }) else {
        return VTPM_E_INVALID_ARG;
    };
    match t.device.hash_end() {
        Ok(()) => VTPM_OK,
        Err(e) => device_error(&e),
    }
}

/// The PC Client TPM established flag (false for a NULL handle).
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_established(tpm: *mut Vtpm) -> bool {
    // SAFETY: a handle from vtpm_create.
    unsafe { handle(tpm) }.is_some_and(|t| t.device.tpm_established())
}

/// Clears the established flag; only from localities 3 and 4 (else VTPM_E_NOT_ALLOWED).
#[unsafe(no_mangle)]
pub extern "C" fn vtpm_reset_established(tpm: *mut Vtpm, locality: u8) -> i32 {
    // SAFETY: a handle from vtpm_create.
    let Some(t) = (unsafe { handle(tpm) }) else {
        return VTPM_E_INVALID_ARG;
    };
    match t.device.reset_established(locality) {
        Ok(()) => VTPM_OK,
        Err(e) => device_error(&e),
    }
}
