//! vtpm-nvram: durable storage that knows nothing of TPM internals.
//!
//! - [`image`]: the versioned state image envelope (magic, format version, feature
//!   level, sections with ids and lengths, an integrity digest). `no_std`.
//! - [`dir`] (feature `std`): a directory store that replaces its file atomically.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

#[cfg(feature = "std")]
pub mod dir;
pub mod image;
