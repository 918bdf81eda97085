//! The commit mechanism of the anonymous signing and two-phase key exchange
//! schemes (Part 1, "Commit"; the reference's CryptGenerateR / CryptCommit /
//! CryptEndCommit).
//!
//! A commitment is a random scalar `r` the TPM can recompute later without
//! storing it: `r = KDFa(SHA-256, commitNonce, "ECDAA Commit", name, count)`
//! for the 64-bit commit counter value `count` at commit time (`name` is the
//! signing key's Name for TPM2_Commit, empty for TPM2_EC_Ephemeral). The
//! TPM2_Commit / TPM2_EC_Ephemeral response gives the caller the counter's
//! low 16 bits and sets that count's bit in the commit array; TPM2_Sign
//! (ECDAA) or TPM2_ZGen_2Phase then names the count, recomputes `r` and
//! clears the bit, so each `r` is used once. The array holds
//! [`COMMIT_ARRAY_BITS`] bits, so a commitment older than that many commits
//! is gone (its bit reused).
//!
//! The KDF output is `key_bytes + 8` bytes reduced to `1..n` as keys are
//! (`(c mod (n - 1)) + 1`), where the reference draws `key_bytes` and
//! retries until below `n`; either way `r` is uniform enough and only this
//! TPM ever recomputes it.

use vtpm_crypto::{EccCurve, HashAlg, kdfa};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::platform::Platform;
use crate::rc::Rc;

/// Size of the commit array (the reference's 16 bytes).
pub const COMMIT_ARRAY_BYTES: usize = 16;
pub const COMMIT_ARRAY_BITS: u16 = (COMMIT_ARRAY_BYTES * 8) as u16;
const COMMIT_INDEX_MASK: u16 = COMMIT_ARRAY_BITS - 1;
const COMMIT_LABEL: &[u8] = b"ECDAA Commit";
/// Size of a fresh commitNonce.
const NONCE_SIZE: usize = 32;

fn bit(index: u16) -> (usize, u8) {
    let i = index & COMMIT_INDEX_MASK;
    (usize::from(i / 8), 1u8 << (i % 8))
}

impl Engine {
    /// The full counter value a committed 16-bit `count` stands for, if that
    /// commitment is outstanding (its bit set, and not older than the array).
    fn committed_count(&self, count: u16) -> Option<u64> {
        let (byte, mask) = bit(count);
        if self.gr.commit_array.get(byte)? & mask == 0 {
            return None;
        }
        let mut current = self.gr.commit_counter;
        if count & COMMIT_INDEX_MASK >= (current as u16) & COMMIT_INDEX_MASK {
            // The count is from the array's previous round.
            current = current.wrapping_sub(u64::from(COMMIT_ARRAY_BITS));
        }
        if (current as u16) & !COMMIT_INDEX_MASK != count & !COMMIT_INDEX_MASK {
            return None;
        }
        Some((current & !0xFFFF) | u64::from(count))
    }

    /// The commit random `r` (module docs) on `curve` for `name`: for the
    /// current counter value (`count` None: Commit, EC_Ephemeral), or for an
    /// outstanding commitment (`count` given: ECDAA signing, ZGen_2Phase;
    /// None is returned when it is not outstanding).
    pub(crate) fn commit_random(
        &mut self,
        platform: &mut dyn Platform,
        curve: EccCurve,
        name: &[u8],
        count: Option<u16>,
    ) -> Result<Option<Zeroizing<alloc::vec::Vec<u8>>>, Rc> {
        let value = match count {
            None => self.gr.commit_counter,
            Some(c) => match self.committed_count(c) {
                Some(v) => v,
                None => return Ok(None),
            },
        };
        if self.gr.commit_nonce.is_empty() {
            // State saved before commits existed: start a fresh nonce.
            let mut n = Zeroizing::new(alloc::vec![0u8; NONCE_SIZE]);
            self.random(platform, &mut n)?;
            self.gr.commit_nonce = crate::secret::Secret::new(&n);
        }
        let bits = u32::try_from((curve.key_bytes() + 8) * 8).map_err(|_| Rc::FAILURE)?;
        let c = kdfa(
            HashAlg::Sha256,
            self.gr.commit_nonce.as_bytes(),
            COMMIT_LABEL,
            name,
            &value.to_be_bytes(),
            bits,
        );
        vtpm_crypto::ecc_scalar_from_bytes(curve, &c)
            .map(Some)
            .ok_or(Rc::FAILURE)
    }

    /// Records a commitment for the current counter value and advances the
    /// counter; returns the value's low 16 bits (the caller's `counter`).
    pub(crate) fn commit(&mut self) -> u16 {
        let old = self.gr.commit_counter as u16;
        self.gr.commit_counter = self.gr.commit_counter.wrapping_add(1);
        let (byte, mask) = bit(old);
        if let Some(b) = self.gr.commit_array.get_mut(byte) {
            *b |= mask;
        }
        old
    }

    /// Uses up the commitment `count`.
    pub(crate) fn end_commit(&mut self, count: u16) {
        let (byte, mask) = bit(count);
        if let Some(b) = self.gr.commit_array.get_mut(byte) {
            *b &= !mask;
        }
    }
}
