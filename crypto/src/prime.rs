//! Primality helpers for RSA key generation: the small-prime table, trial
//! division, remainders by small moduli and the Miller-Rabin test.
//!
//! The arithmetic (Montgomery exponentiation) comes from `crypto-bigint`;
//! every decision (which primes, which bases, what counts as a pass) is here.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Limb, NonZero, Odd, U64, U512, U1024, U1536, U2048, Uint, Word};
use zeroize::Zeroize;

/// Trial division uses every odd prime below this bound: the 2047 odd primes
/// 3, 5, 7, ..., 17863, i.e. the first 2048 primes without 2.
pub(crate) const TRIAL_DIVISION_BOUND: usize = 17864;
/// Number of odd primes below [`TRIAL_DIVISION_BOUND`].
pub(crate) const SMALL_PRIME_COUNT: usize = 2047;

/// Sieve of Eratosthenes, evaluated at compile time.
#[allow(
    clippy::indexing_slicing,
    reason = "const evaluation: an out-of-range index is a compile error, never a runtime panic"
)]
const fn odd_primes_below_bound() -> [u16; SMALL_PRIME_COUNT] {
    let mut composite = [false; TRIAL_DIVISION_BOUND];
    let mut out = [0u16; SMALL_PRIME_COUNT];
    let mut count = 0;
    let mut i = 3;
    while i < TRIAL_DIVISION_BOUND {
        if !composite[i] {
            out[count] = i as u16;
            count += 1;
            let mut j = i * i;
            while j < TRIAL_DIVISION_BOUND {
                composite[j] = true;
                j += 2 * i;
            }
        }
        i += 2;
    }
    assert!(count == SMALL_PRIME_COUNT);
    out
}

/// The odd primes 3..=17863, ascending.
pub(crate) static SMALL_ODD_PRIMES: [u16; SMALL_PRIME_COUNT] = odd_primes_below_bound();

/// `value mod m` for a big-endian byte string (any length). `m == 0` gives 0.
pub(crate) fn rem_be(bytes: &[u8], m: u64) -> u64 {
    if m == 0 {
        return 0;
    }
    let m = u128::from(m);
    let r = bytes.chunks(8).fold(0u128, |r, chunk| {
        // r < m < 2^64 and the chunk holds at most 64 bits: no overflow.
        let v = chunk
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
        ((r << (8 * chunk.len())) | v) % m
    });
    r as u64
}

/// Greatest common divisor (Euclid). `gcd(0, 0) == 0`.
pub(crate) fn gcd_u64(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// True when some odd prime 3 <= p <= 17863 divides the big-endian value.
/// (For a value above 17863 that means it is composite.)
///
/// Works on groups of four primes (product below 2^60): one remainder of
/// the whole value per group, then the four small remainders.
pub(crate) fn has_small_factor(bytes: &[u8]) -> bool {
    SMALL_ODD_PRIMES.chunks(4).any(|group| {
        let m = group.iter().fold(1u64, |acc, p| acc * u64::from(*p));
        let r = rem_be(bytes, m);
        group.iter().any(|p| r.is_multiple_of(u64::from(*p)))
    })
}

/// Big-endian bytes into a fixed-size integer; `None` if they do not fit.
fn uint_from_be<const L: usize>(bytes: &[u8]) -> Option<Uint<L>> {
    let mut words = [0 as Word; L];
    let mut chunks = bytes.rchunks(Limb::BYTES);
    for w in words.iter_mut() {
        if let Some(c) = chunks.next() {
            *w = c.iter().fold(0, |acc: Word, b| (acc << 8) | Word::from(*b));
        }
    }
    let fits = chunks.all(|c| c.iter().all(|b| *b == 0));
    let out = Uint::from_words(words);
    words.zeroize();
    fits.then_some(out)
}

/// The strong probable-prime test (Miller-Rabin) of the odd value `n >= 3`
/// (big-endian, at most 256 bytes) to each base in turn; true when `n`
/// passes for every base. A base that is a multiple of `n` says nothing and
/// counts as a pass. Even values, 1 and longer inputs give false.
pub(crate) fn miller_rabin(n: &[u8], bases: &[u32]) -> bool {
    match n.len() {
        0..=8 => mr_fixed::<{ U64::LIMBS }>(n, bases),
        9..=64 => mr_fixed::<{ U512::LIMBS }>(n, bases),
        65..=128 => mr_fixed::<{ U1024::LIMBS }>(n, bases),
        129..=192 => mr_fixed::<{ U1536::LIMBS }>(n, bases),
        193..=256 => mr_fixed::<{ U2048::LIMBS }>(n, bases),
        _ => false,
    }
}

fn mr_fixed<const L: usize>(n_bytes: &[u8], bases: &[u32]) -> bool {
    let Some(mut n) = uint_from_be::<L>(n_bytes) else {
        return false;
    };
    // n >= 3 and odd (this also keeps n - 1 nonzero, so the shift below is
    // in range).
    if n < Uint::from_u32(3) {
        n.zeroize();
        return false;
    }
    let Some(odd) = Odd::new(n).into_option() else {
        n.zeroize();
        return false;
    };
    let Some(nz) = NonZero::new(n).into_option() else {
        n.zeroize();
        return false;
    };
    let mut n_minus_1 = n.wrapping_sub(&Uint::ONE);
    // n - 1 = 2^s * d with d odd; 1 <= s < BITS because n - 1 is even and nonzero.
    let s = n_minus_1.trailing_zeros();
    let mut d = n_minus_1.shr(s);
    let mut params = FixedMontyParams::new(odd);

    let mut pass = true;
    for &base in bases {
        let mut a = Uint::<L>::from_u32(base).rem(&nz);
        if a == Uint::ZERO {
            continue;
        }
        let mut x = FixedMontyForm::new(&a, &params).pow(&d);
        let mut v = x.retrieve();
        let mut witness_passes = v == Uint::ONE || v == n_minus_1;
        let mut i = 1;
        while !witness_passes && i < s {
            x = x.square();
            v = x.retrieve();
            if v == n_minus_1 {
                witness_passes = true;
            } else if v == Uint::ONE {
                break;
            }
            i += 1;
        }
        a.zeroize();
        x.zeroize();
        v.zeroize();
        if !witness_passes {
            pass = false;
            break;
        }
    }
    n.zeroize();
    n_minus_1.zeroize();
    d.zeroize();
    params.zeroize();
    pass
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn be(v: u128) -> alloc::vec::Vec<u8> {
        let b = v.to_be_bytes();
        let first = b.iter().position(|x| *x != 0).unwrap_or(b.len() - 1);
        b[first..].to_vec()
    }

    const FIRST_PRIMES: [u32; 14] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43];

    #[test]
    fn small_prime_table() {
        assert_eq!(SMALL_ODD_PRIMES[0], 3);
        assert_eq!(SMALL_ODD_PRIMES[1], 5);
        assert_eq!(SMALL_ODD_PRIMES[SMALL_PRIME_COUNT - 1], 17863);
        assert!(SMALL_ODD_PRIMES.windows(2).all(|w| w[0] < w[1]));
        // Every entry is prime (naive check) and no odd prime is missing.
        let naive = |n: u32| {
            n >= 2
                && (2..n)
                    .take_while(|d| d * d <= n)
                    .all(|d| !n.is_multiple_of(d))
        };
        assert!(SMALL_ODD_PRIMES.iter().all(|p| naive(u32::from(*p))));
        let count = (3..17864u32).filter(|n| n % 2 == 1 && naive(*n)).count();
        assert_eq!(count, SMALL_PRIME_COUNT);
    }

    #[test]
    fn remainders_and_gcd() {
        let v: u128 = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
        for m in [
            1u64,
            2,
            3,
            65537,
            17863 * 17851 * 17851,
            u64::MAX,
            (1 << 63) + 5,
        ] {
            assert_eq!(
                u128::from(rem_be(&v.to_be_bytes(), m)),
                v % u128::from(m),
                "{m}"
            );
            // Odd lengths, leading zeros.
            assert_eq!(u128::from(rem_be(&be(v >> 4), m)), (v >> 4) % u128::from(m));
        }
        assert_eq!(rem_be(&[], 7), 0);
        assert_eq!(rem_be(&[5], 0), 0);
        assert_eq!(gcd_u64(12, 18), 6);
        assert_eq!(gcd_u64(65537, 65536), 1);
        assert_eq!(gcd_u64(0, 9), 9);
        assert_eq!(gcd_u64(9, 0), 9);
        assert_eq!(gcd_u64(0, 0), 0);
    }

    #[test]
    fn trial_division() {
        // Products of table primes and of primes just above the bound.
        assert!(has_small_factor(&be(3 * 17863)));
        assert!(has_small_factor(&be(17863 * 17863)));
        assert!(has_small_factor(&be(17851)));
        assert!(!has_small_factor(&be(17881 * 17891)));
        assert!(!has_small_factor(&be(1 << 100)));
        assert!(!has_small_factor(&be(1)));
        // 2^127 - 1 is prime.
        assert!(!has_small_factor(&be((1u128 << 127) - 1)));
        // A big even value is not flagged: the table has odd primes only.
        assert!(!has_small_factor(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(has_small_factor(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 3 * 5]));
    }

    #[test]
    fn miller_rabin_primes() {
        for p in [
            3u128,
            5,
            7,
            11,
            13,
            17863,
            2_147_483_647,
            (1 << 61) - 1,
            (1 << 89) - 1,
            (1 << 127) - 1,
        ] {
            assert!(miller_rabin(&be(p), &FIRST_PRIMES), "{p}");
        }
        // Leading zeros do not matter.
        assert!(miller_rabin(&[0, 0, 0, 7], &FIRST_PRIMES));
        // A base that is a multiple of n is skipped.
        assert!(miller_rabin(&be(13), &[13, 26]));
    }

    #[test]
    fn miller_rabin_composites() {
        // Carmichael numbers: Fermat liars for every coprime base, not MR.
        for c in [
            561u128,
            1105,
            1729,
            2465,
            2821,
            6601,
            8911,
            41041,
            825_265,
            321_197_185,
        ] {
            assert!(!miller_rabin(&be(c), &[2]), "{c}");
        }
        // Strong pseudoprimes to base 2.
        for c in [2047u128, 3277, 4033, 4681, 8321] {
            assert!(miller_rabin(&be(c), &[2]), "{c}");
            assert!(!miller_rabin(&be(c), &[2, 3]), "{c}");
        }
        // 3215031751 = 151 * 751 * 28351 is a strong pseudoprime to bases 2, 3, 5, 7.
        assert!(miller_rabin(&be(3_215_031_751), &[2, 3, 5, 7]));
        assert!(!miller_rabin(&be(3_215_031_751), &[2, 3, 5, 7, 11]));
        // The smallest strong pseudoprimes to the first 9..11, 12 and 13
        // prime bases: each passes exactly that many bases, not the next.
        let psi = [
            (3_825_123_056_546_413_051u128, 11usize),
            (318_665_857_834_031_151_167_461, 12),
            (3_317_044_064_679_887_385_961_981, 13),
        ];
        for (c, k) in psi {
            assert!(miller_rabin(&be(c), &FIRST_PRIMES[..k]), "{c}");
            assert!(!miller_rabin(&be(c), &FIRST_PRIMES[..=k]), "{c}");
            assert!(!miller_rabin(&be(c), &FIRST_PRIMES[k..=k]), "{c}");
        }
        // Even values, tiny values and oversized inputs.
        for c in [0u128, 1, 2, 4, 9, 1 << 70] {
            assert!(!miller_rabin(&be(c), &FIRST_PRIMES), "{c}");
        }
        assert!(!miller_rabin(&[], &[2]));
        assert!(!miller_rabin(&[0xff; 257], &[2]));
    }
}
