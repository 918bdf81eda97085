//! vtpm-crypto: the algorithms the TPM engine uses, and nothing about TPM objects.
#![no_std]
extern crate alloc;
