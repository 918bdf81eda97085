//! TPM 2.0 key derivation functions (Part 1, section 11.4.10).

use crate::hash::{HashAlg, Hasher};
use crate::hmac::HmacState;
use alloc::vec::Vec;
use zeroize::{Zeroize, Zeroizing};

/// The label as hashed: the spec wants a zero-terminated string, callers pass
/// it without the terminator, so add one unless it is already there.
fn terminator(label: &[u8]) -> &'static [u8] {
    if label.last() == Some(&0) { &[] } else { &[0] }
}

/// Output length in bytes for a request of `bits` bits.
fn out_len(bits: u32) -> usize {
    usize::try_from(bits.div_ceil(8)).unwrap_or(0)
}

/// When `bits` is not a whole number of bytes the spec keeps the *trailing*
/// bits of the stream, i.e. clears the unused high bits of the first byte.
fn mask_leading(out: &mut [u8], bits: u32) {
    let rem = bits % 8;
    if rem != 0
        && let Some(first) = out.first_mut()
    {
        *first &= (1u8 << rem) - 1;
    }
}

/// Appends up to `want - out.len()` bytes of `block` to `out`.
fn append_truncated(out: &mut Vec<u8>, block: &[u8], want: usize) {
    let take = want.saturating_sub(out.len());
    out.extend(block.iter().take(take));
}

/// TPM 2.0 Part 1 §11.4.10.2 KDFa: SP800-108 counter mode with HMAC,
/// `K(i) = HMAC(key, [i]_32 || label || 0x00 || contextU || contextV || [bits]_32)`,
/// concatenated and truncated to `bits` (leading bits of the first byte masked).
///
/// `label` is given without its terminating zero (one already present is not
/// doubled). Callers bound `bits` (TPM sizes are small); the output is
/// allocated up front.
pub fn kdfa(
    alg: HashAlg,
    key: &[u8],
    label: &[u8],
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let want = out_len(bits);
    let mut out = Zeroizing::new(Vec::with_capacity(want));
    let keyed = HmacState::new(alg, key);
    let zero = terminator(label);
    let bits_be = bits.to_be_bytes();
    let mut counter: u32 = 1;
    while out.len() < want {
        let mut st = keyed.clone();
        for part in [
            &counter.to_be_bytes()[..],
            label,
            zero,
            context_u,
            context_v,
            &bits_be[..],
        ] {
            st.update(part);
        }
        let mut block = st.finalize();
        append_truncated(&mut out, block.as_bytes(), want);
        block.zeroize();
        counter = counter.wrapping_add(1);
    }
    mask_leading(&mut out, bits);
    out
}

/// TPM 2.0 Part 1 §11.4.10.3 KDFe: SP800-56A concatenation KDF,
/// `K(i) = H([i]_32 || Z || label || 0x00 || partyUInfo || partyVInfo)`,
/// truncated to `bits` with the same label and masking rules as [`kdfa`].
pub fn kdfe(
    alg: HashAlg,
    z: &[u8],
    label: &[u8],
    party_u: &[u8],
    party_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let want = out_len(bits);
    let mut out = Zeroizing::new(Vec::with_capacity(want));
    let zero = terminator(label);
    let mut counter: u32 = 1;
    while out.len() < want {
        let mut h = Hasher::new(alg);
        for part in [&counter.to_be_bytes()[..], z, label, zero, party_u, party_v] {
            h.update(part);
        }
        let mut block = h.finalize();
        append_truncated(&mut out, block.as_bytes(), want);
        block.zeroize();
        counter = counter.wrapping_add(1);
    }
    mask_leading(&mut out, bits);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_zero_bits() {
        for alg in HashAlg::ALL {
            assert!(kdfa(alg, b"k", b"L", b"", b"", 0).is_empty());
            assert!(kdfe(alg, b"z", b"L", b"", b"", 0).is_empty());
            for bits in [1u32, 7, 8, 9, 160, 255, 256, 257, 1000] {
                let want = bits.div_ceil(8) as usize;
                assert_eq!(kdfa(alg, b"k", b"L", b"u", b"v", bits).len(), want);
                assert_eq!(kdfe(alg, b"z", b"L", b"u", b"v", bits).len(), want);
            }
        }
    }

    #[test]
    fn terminating_zero_not_doubled() {
        let a = kdfa(HashAlg::Sha256, b"key", b"STORAGE", b"u", b"v", 256);
        let b = kdfa(HashAlg::Sha256, b"key", b"STORAGE\0", b"u", b"v", 256);
        assert_eq!(a, b);
        let a = kdfe(HashAlg::Sha256, b"z", b"DUPLICATE", b"u", b"v", 256);
        let b = kdfe(HashAlg::Sha256, b"z", b"DUPLICATE\0", b"u", b"v", 256);
        assert_eq!(a, b);
    }

    #[test]
    fn bit_masking() {
        // Same counter/label/context but a different [bits]_32 changes the
        // HMAC input, so compare masking against the spec rule directly.
        for bits in 1u32..=16 {
            let out = kdfa(HashAlg::Sha256, b"key", b"L", b"", b"", bits);
            let rem = bits % 8;
            if rem != 0 {
                assert_eq!(out[0] >> rem, 0, "bits={bits}");
            }
        }
        let out = kdfe(HashAlg::Sha1, b"z", b"L", b"", b"", 3);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0] & 0xf8, 0);
        // First byte masked value equals the unmasked HMAC byte & mask.
        let full = crate::hmac::hmac(
            HashAlg::Sha256,
            b"key",
            &[&1u32.to_be_bytes(), b"L\0", &12u32.to_be_bytes()],
        );
        let out = kdfa(HashAlg::Sha256, b"key", b"L", b"", b"", 12);
        assert_eq!(out[0], full.as_bytes()[0] & 0x0f);
        assert_eq!(out[1], full.as_bytes()[1]);
    }
}
