//! vtpm-nvram: durable storage that knows nothing of TPM internals.
//!
//! - [`image`]: the versioned state image envelope (magic, format version, feature
//!   level, sections with ids and lengths, an integrity digest). `no_std`.
//! - [`blob`]: migration blobs sealed with a migration key (AES-256-GCM).
//! - [`dir`] (feature `std`): a directory store that replaces its file atomically.
//! - [`vmgs`]: the VMGS v3 guest-state container (format core `no_std`; the host file
//!   backend, raw or fixed VHD1, behind `std`).
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
// An engine crate answers every input with a result, never a panic: these lints are
// errors here whatever the workspace says (test modules allow what they need).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

extern crate alloc;

pub mod blob;
#[cfg(feature = "std")]
pub mod dir;
pub mod image;
pub mod vmgs;
