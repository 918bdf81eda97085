//! Self-test state and the known-answer tests behind TPM2_SelfTest (Part 1,
//! section 12.x "Self-test modes"): each algorithm is untested after _TPM_Init and
//! is tested on request (SelfTest, IncrementalSelfTest); a failed test puts the
//! TPM in failure mode.

use vtpm_crypto::{CtrDrbg, HashAlg, hmac};

/// Algorithms that have a self-test, with their TPM_ALG_ID.
pub const TESTABLE: [(u16, Kat); 6] = [
    (0x0004, Kat::Hash(HashAlg::Sha1)),
    (0x0005, Kat::Hmac),
    (0x000B, Kat::Hash(HashAlg::Sha256)),
    (0x000C, Kat::Hash(HashAlg::Sha384)),
    (0x000D, Kat::Hash(HashAlg::Sha512)),
    // The DRBG (and the AES-256 inside it) has no TPM_ALG_ID of its own as long as
    // AES is not offered for objects: id 0 keeps it out of the toDoList.
    (DRBG_ID, Kat::Drbg),
];

/// Pseudo algorithm id of the DRBG's test (TPM_ALG_ERROR, never reported).
pub const DRBG_ID: u16 = 0x0000;

#[derive(Clone, Copy, Debug)]
pub enum Kat {
    Hash(HashAlg),
    Hmac,
    Drbg,
}

/// Which algorithms have passed their test since _TPM_Init (bit i = TESTABLE[i]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SelfTests {
    passed: u32,
}

impl SelfTests {
    pub const fn new() -> Self {
        SelfTests { passed: 0 }
    }

    #[cfg(test)]
    pub fn all_passed(&self) -> bool {
        self.passed == (1 << TESTABLE.len()) - 1
    }

    /// Algorithm ids still untested.
    pub fn untested(&self) -> impl Iterator<Item = u16> + '_ {
        TESTABLE
            .iter()
            .enumerate()
            .filter(|(i, (id, _))| *id != DRBG_ID && self.passed & (1 << i) == 0)
            .map(|(_, (id, _))| *id)
    }

    /// Runs the test of one algorithm (again, if `force`). `false` = it failed.
    pub fn test(&mut self, alg_id: u16, force: bool) -> bool {
        let Some(i) = TESTABLE.iter().position(|(id, _)| *id == alg_id) else {
            return true;
        };
        if !force && self.passed & (1 << i) != 0 {
            return true;
        }
        let ok = TESTABLE.get(i).is_some_and(|(_, kat)| run(*kat));
        if ok {
            self.passed |= 1 << i;
        }
        ok
    }

    /// Tests everything (`full`) or only what is untested; `false` = a test failed.
    pub fn test_all(&mut self, full: bool) -> bool {
        TESTABLE.iter().all(|(id, _)| self.test(*id, full))
    }

    /// True if `alg_id` is one of the testable algorithms.
    pub fn is_testable(alg_id: u16) -> bool {
        TESTABLE.iter().any(|(id, _)| *id == alg_id)
    }
}

/// FIPS 180-4 example digests of "abc" (first 8 bytes suffice to catch a broken core).
fn hash_kat(alg: HashAlg) -> bool {
    let expected: &[u8] = match alg {
        HashAlg::Sha1 => &[0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a],
        HashAlg::Sha256 => &[0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea],
        HashAlg::Sha384 => &[0xcb, 0x00, 0x75, 0x3f, 0x45, 0xa3, 0x5e, 0x8b],
        HashAlg::Sha512 => &[0xdd, 0xaf, 0x35, 0xa1, 0x93, 0x61, 0x7a, 0xba],
    };
    alg.digest(&[b"abc"]).as_bytes().get(..8) == Some(expected)
}

/// RFC 4231 test case 2 (key "Jefe"), HMAC-SHA-256.
fn hmac_kat() -> bool {
    let mac = hmac(
        HashAlg::Sha256,
        b"Jefe",
        &[b"what do ya want ", b"for nothing?"],
    );
    mac.as_bytes().get(..8) == Some(&[0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e][..])
}

/// NIST CAVP CTR_DRBG AES-256 use-df, COUNT 0 (no reseed, no additional input).
fn drbg_kat() -> bool {
    const ENTROPY: [u8; 32] = [
        0x36, 0x40, 0x19, 0x40, 0xfa, 0x8b, 0x1f, 0xba, 0x91, 0xa1, 0x66, 0x1f, 0x21, 0x1d, 0x78,
        0xa0, 0xb9, 0x38, 0x9a, 0x74, 0xe5, 0xbc, 0xcf, 0xec, 0xe8, 0xd7, 0x66, 0xaf, 0x1a, 0x6d,
        0x3b, 0x14,
    ];
    const NONCE: [u8; 16] = [
        0x49, 0x6f, 0x25, 0xb0, 0xf1, 0x30, 0x1b, 0x4f, 0x50, 0x1b, 0xe3, 0x03, 0x80, 0xa1, 0x37,
        0xeb,
    ];
    const EXPECTED: [u8; 16] = [
        0x58, 0x62, 0xeb, 0x38, 0xbd, 0x55, 0x8d, 0xd9, 0x78, 0xa6, 0x96, 0xe6, 0xdf, 0x16, 0x47,
        0x82,
    ];
    let Ok(mut drbg) = CtrDrbg::instantiate(&ENTROPY, &NONCE, &[]) else {
        return false;
    };
    let mut out = [0u8; 64];
    if drbg.generate(&mut out, &[]).is_err() || drbg.generate(&mut out, &[]).is_err() {
        return false;
    }
    out.get(..16) == Some(&EXPECTED[..])
}

fn run(kat: Kat) -> bool {
    match kat {
        Kat::Hash(alg) => hash_kat(alg),
        Kat::Hmac => hmac_kat(),
        Kat::Drbg => drbg_kat(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_known_answer_test_passes() {
        let mut t = SelfTests::new();
        assert!(!t.all_passed());
        assert!(t.test_all(true));
        assert!(t.all_passed());
        assert_eq!(t.untested().count(), 0);
    }
}
