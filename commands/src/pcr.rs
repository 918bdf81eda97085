//! PCR banks and the PC Client PCR attributes (PC Client Platform TPM Profile,
//! table "PCR attributes"): who may extend and reset each PCR, and its reset value.

use vtpm_crypto::{Digest, HashAlg};

use crate::consts::PCR_COUNT;

/// Per-PCR attributes: whether it is saved by Shutdown(STATE), and the localities
/// (bit n = locality n) allowed to reset and to extend it.
#[derive(Clone, Copy)]
pub struct PcrAttributes {
    pub state_save: bool,
    pub reset_localities: u8,
    pub extend_localities: u8,
}

const fn attrs(state_save: bool, reset: u8, extend: u8) -> PcrAttributes {
    PcrAttributes {
        state_save,
        reset_localities: reset,
        extend_localities: extend,
    }
}

/// PCR 0-15: static, saved; 16: debug; 17-22: dynamic (DRTM); 23: application.
pub const PCR_ATTRIBUTES: [PcrAttributes; PCR_COUNT] = [
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(true, 0, 0x1F),
    attrs(false, 0x0F, 0x1F), // 16: debug, reset at localities 0-3, extended at any
    attrs(false, 0x10, 0x1C), // 17: reset at locality 4 only
    attrs(false, 0x10, 0x1C),
    attrs(false, 0x10, 0x0C),
    attrs(false, 0x14, 0x0E), // 20: reset at localities 2 and 4
    attrs(false, 0x14, 0x04),
    attrs(false, 0x14, 0x04),
    attrs(false, 0x0F, 0x1F), // 23: application, reset at localities 0-3
];

/// PCRs whose change does not increment pcrUpdateCounter (debug, 21-22, application).
pub const NO_INCREMENT: u32 = (1 << 16) | (1 << 21) | (1 << 22) | (1 << 23);

/// The value a PCR holds after TPM Reset: all ones for the dynamic PCRs 17-22
/// (they are zeroed only by a DRTM event), zero otherwise.
pub fn reset_value(alg: HashAlg, pcr: usize) -> Digest {
    let fill = if (17..=22).contains(&pcr) { 0xFF } else { 0x00 };
    Digest::filled(alg, fill)
}

/// The PCRs whose authValue TPM2_PCR_SetAuthValue may set: one group, PCR
/// 20-22, as in the reference's (and libtpms') PC Client configuration.
pub const AUTH_GROUP: u32 = 0x0070_0000;
/// The PCRs whose authPolicy TPM2_PCR_SetAuthPolicy may set: one group, PCR 20-22.
pub const POLICY_GROUP: u32 = 0x0070_0000;

/// Whether PCR `pcr` belongs to `group` (a bitmap).
pub fn in_group(group: u32, pcr: u32) -> bool {
    pcr < 32 && group & (1 << pcr) != 0
}

/// Bitmap of all PCRs.
pub const ALL_PCRS: u32 = (1 << PCR_COUNT) - 1;

/// One bank: the values of all PCRs for one hash algorithm.
#[derive(Clone)]
pub struct Bank {
    pub alg: HashAlg,
    pub values: [Digest; PCR_COUNT],
}

impl Bank {
    pub fn new(alg: HashAlg) -> Self {
        Bank {
            alg,
            values: core::array::from_fn(|pcr| reset_value(alg, pcr)),
        }
    }

    /// PCR[n] := H(PCR[n] || digest).
    pub fn extend(&mut self, pcr: usize, digest: &[u8]) {
        if let Some(v) = self.values.get_mut(pcr) {
            *v = self.alg.digest(&[v.as_bytes(), digest]);
        }
    }
}

/// Index of an implemented hash in [`HashAlg::ALL`] (the bank order).
pub fn bank_index(alg: HashAlg) -> usize {
    HashAlg::ALL.iter().position(|a| *a == alg).unwrap_or(0)
}
