//! vtpm-crypto: the algorithms the TPM engine uses, and nothing about TPM objects.
//!
//! Everything here is total: no function panics on any input, so a malformed
//! command can never take the TPM down through this crate.
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;

mod cfb;
mod ct;
mod drbg;
mod hash;
mod hmac;
mod kdf;

pub use cfb::{CfbError, aes_cfb_decrypt, aes_cfb_encrypt};
pub use ct::ct_eq;
pub use drbg::{CtrDrbg, DrbgError};
pub use hash::{Digest, HashAlg, Hasher, MAX_DIGEST_SIZE};
pub use hmac::{HmacState, hmac};
pub use kdf::{kdfa, kdfe};
