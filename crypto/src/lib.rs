//! vtpm-crypto: the algorithms the TPM engine uses, and nothing about TPM objects.
//!
//! Everything here is total: no function panics on any input, so a malformed
//! command can never take the TPM down through this crate.
#![no_std]
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

mod asym;
mod cfb;
mod cmac;
mod ct;
mod drbg;
mod ecc;
mod ecdaa;
mod hash;
mod hmac;
mod kdf;
mod keygen;
mod prime;
mod rsa;
mod sign;
mod sym;

pub use asym::{
    AsymError, EcPoint, ecdh_shared_point, ecdh_shared_x, rsa_oaep_decrypt, rsa_oaep_encrypt,
    rsa_pkcs1v15_decrypt, rsa_pkcs1v15_encrypt, rsa_raw_decrypt, rsa_raw_encrypt,
};
pub use cfb::{CfbError, aes_cfb_decrypt, aes_cfb_encrypt};
pub use cmac::{CmacState, aes_cmac};
pub use ct::ct_eq;
pub use drbg::{CtrDrbg, DrbgError};
pub use ecc::{
    EccCurve, EccKeyPair, EccParameters, ecc_from_private, ecc_generate, ecc_point_valid,
};
pub use ecdaa::{
    ecc_mul, ecc_order, ecc_prime, ecc_reduce, ecc_scalar_from_bytes, ecdaa_sign, ecdaa_verify,
};
pub use hash::{Digest, HashAlg, Hasher, MAX_DIGEST_SIZE};
pub use hmac::{HmacState, hmac};
pub use kdf::{kdfa, kdfe};
pub use keygen::{KeyGenError, KeyRng};
pub use rsa::{RsaKeyPair, rsa_from_prime, rsa_generate, rsa_public_valid};
pub use sign::{
    SignError, ecdsa_sign, ecdsa_verify, ecschnorr_sign, ecschnorr_verify, pss_salt_len,
    rsa_pkcs1v15_sign, rsa_pkcs1v15_verify, rsa_pss_sign, rsa_pss_verify,
};
pub use sym::{AES_BLOCK, SymError, SymMode, aes_crypt};
