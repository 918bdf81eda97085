//! The engine as firmware links it: `#![no_std]`, `alloc` from an allocator the
//! firmware provides, panic=abort with our own panic handler, and the vtpm C ABI
//! (the same source as transport's `capi` module).
//!
//! The firmware supplies three symbols: `vtpm_fw_alloc(size, align)`,
//! `vtpm_fw_free(ptr, size, align)` and `vtpm_fw_abort()`.
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};

unsafe extern "C" {
    fn vtpm_fw_alloc(size: usize, align: usize) -> *mut u8;
    fn vtpm_fw_free(ptr: *mut u8, size: usize, align: usize);
    fn vtpm_fw_abort() -> !;
}

/// Every allocation goes to the firmware's heap.
struct FirmwareHeap;

unsafe impl GlobalAlloc for FirmwareHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the firmware's allocator contract is GlobalAlloc's.
        unsafe { vtpm_fw_alloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from vtpm_fw_alloc with this layout.
        unsafe { vtpm_fw_free(ptr, layout.size(), layout.align()) }
    }
}

#[global_allocator]
static HEAP: FirmwareHeap = FirmwareHeap;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // The engine crates deny panicking code; this is the last line of defence.
    // SAFETY: provided by the firmware; never returns.
    unsafe { vtpm_fw_abort() }
}

#[path = "../../../transport/src/capi.rs"]
#[allow(dead_code)]
pub mod capi;

/// The prebuilt `core`/`alloc` of the host target were compiled with unwinding and
/// keep a reference to the personality routine; with panic=abort nothing unwinds,
/// so it is never called. (Targets built for firmware, e.g. x86_64-unknown-none,
/// do not need it.)
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

// The device models are no_std too (a paravisor without std can use them).
#[path = "../../../transport/src/guest.rs"]
pub mod guest;

#[path = "../../../transport/src/crb.rs"]
pub mod crb;

#[path = "../../../transport/src/hyperv.rs"]
pub mod hyperv;
