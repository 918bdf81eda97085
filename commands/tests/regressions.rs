//! Inputs the fuzzers found (fuzz/README.md: "A crash becomes a regression test"),
//! with their bytes inline. Each once panicked the engine; each must now get a
//! well-formed response.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;
use common::*;

/// fuzz `execute` (and `sequence`): GetCapability(TPM_CAP_TPM_PROPERTIES) with
/// property 0xFFFFFFFF overflowed computing the end of the property's group
/// (`(start / 0x100 + 1) * 0x100`, a panic with overflow checks on).
#[test]
fn get_capability_properties_in_the_last_group() {
    let mut t = Tpm::started();
    // Byte for byte the crashing command (count 0xFFFFFFF1).
    let command = [
        0x80, 0x01, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x01, 0x7a, 0x00, 0x00, 0x00, 0x06, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf1,
    ];
    let r = t.run(&command);
    assert_eq!(rc(&r), 0);
    // No property from 0xFFFFFFFF on: moreData NO, TPM_CAP_TPM_PROPERTIES, empty list.
    assert_eq!(params(&r), [0, 0, 0, 0, 6, 0, 0, 0, 0]);
    for property in [0xFFFF_FF00u32, 0xFFFF_FFFF, 0x8000_0000] {
        let mut p = 6u32.to_be_bytes().to_vec();
        p.extend_from_slice(&property.to_be_bytes());
        p.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            rc(&t.run(&plain(CC_GET_CAPABILITY, &p))),
            0,
            "{property:#x}"
        );
    }
}
