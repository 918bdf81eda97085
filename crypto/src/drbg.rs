//! SP800-90A Rev.1 CTR_DRBG, AES-256, with derivation function, no prediction
//! resistance. Follows the CAVP-tested construction exactly (Block_Cipher_df
//! with BCC, 48-byte Update, 128-bit counter).

use aes::Aes256;
use alloc::vec::Vec;
use cipher::{BlockCipherEncrypt, KeyInit};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

const KEY_LEN: usize = 32;
const BLOCK_LEN: usize = 16;
/// seedlen = keylen + outlen = 384 bits.
const SEED_LEN: usize = KEY_LEN + BLOCK_LEN;
/// Generate calls allowed between reseeds (SP800-90A allows up to 2^48).
const RESEED_INTERVAL: u64 = 1 << 20;
/// max_number_of_bits_per_request = 2^19 bits.
pub(crate) const MAX_REQUEST_BYTES: usize = (1 << 19) / 8;
/// Entropy must carry the full 256-bit security strength.
const MIN_ENTROPY_LEN: usize = 32;

/// Why a DRBG request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrbgError {
    /// The reseed interval is exhausted; call [`CtrDrbg::reseed`].
    ReseedRequired,
    /// The request (output or an input string) exceeds the SP800-90A limits.
    RequestTooLarge,
    /// Fewer than 32 bytes of entropy were supplied.
    EntropyTooShort,
}

/// SP800-90A CTR_DRBG (AES-256, derivation function, no prediction resistance).
/// Key and V are zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct CtrDrbg {
    key: [u8; KEY_LEN],
    v: [u8; BLOCK_LEN],
    reseed_counter: u64,
}

/// Encrypts one block in place.
fn encrypt(cipher: &Aes256, block: &mut [u8; BLOCK_LEN]) {
    cipher.encrypt_block(block.into());
}

/// V = (V + 1) mod 2^128, big-endian.
fn increment(v: &mut [u8; BLOCK_LEN]) {
    let n = u128::from_be_bytes(*v).wrapping_add(1);
    *v = n.to_be_bytes();
}

/// BCC (SP800-90A §10.3.3): CBC-MAC with a zero IV over `blocks`.
fn bcc(cipher: &Aes256, blocks: &[u8]) -> [u8; BLOCK_LEN] {
    let mut chain = [0u8; BLOCK_LEN];
    for chunk in blocks.chunks(BLOCK_LEN) {
        for (c, b) in chain.iter_mut().zip(chunk) {
            *c ^= *b;
        }
        encrypt(cipher, &mut chain);
    }
    chain
}

/// Block_Cipher_df (SP800-90A §10.3.2) returning seedlen bits, over the
/// concatenation of `parts`.
fn block_cipher_df(parts: &[&[u8]]) -> Result<Zeroizing<[u8; SEED_LEN]>, DrbgError> {
    let total: usize = parts
        .iter()
        .try_fold(0usize, |acc, p| acc.checked_add(p.len()))
        .ok_or(DrbgError::RequestTooLarge)?;
    // The df's 32-bit length field caps inputs below 2^32 bytes, inside
    // SP800-90A's max_length of 2^35 bits.
    let l = u32::try_from(total).map_err(|_| DrbgError::RequestTooLarge)?;

    // IV || S, where IV is a block holding the counter i in its first 4 bytes
    // and S = L || N || input || 0x80 || zero padding to a block boundary.
    let mut buf = Zeroizing::new(Vec::with_capacity(BLOCK_LEN + 8 + total + 1 + BLOCK_LEN));
    buf.extend_from_slice(&[0u8; BLOCK_LEN]);
    buf.extend_from_slice(&l.to_be_bytes());
    buf.extend_from_slice(&(SEED_LEN as u32).to_be_bytes());
    for p in parts {
        buf.extend_from_slice(p);
    }
    buf.push(0x80);
    while buf.len() % BLOCK_LEN != 0 {
        buf.push(0);
    }

    // K = leftmost keylen bits of 0x00010203...1F.
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    for (i, b) in k.iter_mut().enumerate() {
        *b = i as u8;
    }
    let df_cipher = Aes256::new((&*k).into());

    let mut temp = Zeroizing::new([0u8; SEED_LEN]);
    for (i, out) in temp.chunks_mut(BLOCK_LEN).enumerate() {
        let counter = (i as u32).to_be_bytes();
        for (dst, src) in buf.iter_mut().zip(counter) {
            *dst = src;
        }
        let chain = bcc(&df_cipher, &buf);
        for (dst, src) in out.iter_mut().zip(chain) {
            *dst = src;
        }
    }

    // K = leftmost keylen of temp, X = next outlen; then X = E(K, X) repeatedly.
    let mut x = Zeroizing::new([0u8; BLOCK_LEN]);
    for (dst, src) in k.iter_mut().zip(temp.iter()) {
        *dst = *src;
    }
    for (dst, src) in x.iter_mut().zip(temp.iter().skip(KEY_LEN)) {
        *dst = *src;
    }
    let cipher = Aes256::new((&*k).into());
    let mut out = Zeroizing::new([0u8; SEED_LEN]);
    for chunk in out.chunks_mut(BLOCK_LEN) {
        encrypt(&cipher, &mut x);
        for (dst, src) in chunk.iter_mut().zip(x.iter()) {
            *dst = *src;
        }
    }
    Ok(out)
}

impl CtrDrbg {
    /// CTR_DRBG_Instantiate_algorithm (§10.2.1.3.2). `entropy` must be at
    /// least 32 bytes; a nonce of at least 16 bytes is recommended.
    pub fn instantiate(
        entropy: &[u8],
        nonce: &[u8],
        personalization: &[u8],
    ) -> Result<CtrDrbg, DrbgError> {
        if entropy.len() < MIN_ENTROPY_LEN {
            return Err(DrbgError::EntropyTooShort);
        }
        let seed = block_cipher_df(&[entropy, nonce, personalization])?;
        let mut drbg = CtrDrbg {
            key: [0; KEY_LEN],
            v: [0; BLOCK_LEN],
            reseed_counter: 1,
        };
        drbg.update(&seed);
        Ok(drbg)
    }

    /// CTR_DRBG_Reseed_algorithm (§10.2.1.4.2).
    pub fn reseed(&mut self, entropy: &[u8], additional: &[u8]) -> Result<(), DrbgError> {
        if entropy.len() < MIN_ENTROPY_LEN {
            return Err(DrbgError::EntropyTooShort);
        }
        let seed = block_cipher_df(&[entropy, additional])?;
        self.update(&seed);
        self.reseed_counter = 1;
        Ok(())
    }

    /// CTR_DRBG_Generate_algorithm (§10.2.1.5.2): fills `out`. On error the
    /// state is unchanged and `out` is untouched.
    pub fn generate(&mut self, out: &mut [u8], additional: &[u8]) -> Result<(), DrbgError> {
        if out.len() > MAX_REQUEST_BYTES {
            return Err(DrbgError::RequestTooLarge);
        }
        if self.reseed_counter > RESEED_INTERVAL {
            return Err(DrbgError::ReseedRequired);
        }
        let add = if additional.is_empty() {
            Zeroizing::new([0u8; SEED_LEN])
        } else {
            let add = block_cipher_df(&[additional])?;
            self.update(&add);
            add
        };
        let cipher = Aes256::new((&self.key).into());
        let mut block = Zeroizing::new([0u8; BLOCK_LEN]);
        for chunk in out.chunks_mut(BLOCK_LEN) {
            increment(&mut self.v);
            *block = self.v;
            encrypt(&cipher, &mut block);
            for (dst, src) in chunk.iter_mut().zip(block.iter()) {
                *dst = *src;
            }
        }
        drop(cipher);
        self.update(&add);
        self.reseed_counter = self.reseed_counter.saturating_add(1);
        Ok(())
    }

    /// Number of generate calls since (re)seeding, plus one (the spec's
    /// reseed_counter).
    pub fn reseed_counter(&self) -> u64 {
        self.reseed_counter
    }

    /// CTR_DRBG_Update (§10.2.1.2) with 48 bytes of provided data.
    fn update(&mut self, provided: &[u8; SEED_LEN]) {
        let cipher = Aes256::new((&self.key).into());
        let mut temp = Zeroizing::new([0u8; SEED_LEN]);
        for chunk in temp.chunks_mut(BLOCK_LEN) {
            increment(&mut self.v);
            let mut block = self.v;
            encrypt(&cipher, &mut block);
            for (dst, src) in chunk.iter_mut().zip(block) {
                *dst = src;
            }
            block.zeroize();
        }
        drop(cipher);
        for (t, p) in temp.iter_mut().zip(provided) {
            *t ^= *p;
        }
        for (dst, src) in self.key.iter_mut().zip(temp.iter()) {
            *dst = *src;
        }
        for (dst, src) in self.v.iter_mut().zip(temp.iter().skip(KEY_LEN)) {
            *dst = *src;
        }
    }
}

impl core::fmt::Debug for CtrDrbg {
    /// Never prints the secret state.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CtrDrbg")
            .field("reseed_counter", &self.reseed_counter)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const E: [u8; 32] = [7; 32];

    #[test]
    fn entropy_too_short() {
        assert_eq!(
            CtrDrbg::instantiate(&[0; 31], &[0; 16], b"").err(),
            Some(DrbgError::EntropyTooShort)
        );
        let mut d = CtrDrbg::instantiate(&E, b"", b"").unwrap();
        assert_eq!(d.reseed(&[0; 31], b""), Err(DrbgError::EntropyTooShort));
    }

    #[test]
    fn request_limit() {
        let mut d = CtrDrbg::instantiate(&E, b"nonce", b"").unwrap();
        let mut big = alloc::vec![0u8; MAX_REQUEST_BYTES + 1];
        assert_eq!(d.generate(&mut big, b""), Err(DrbgError::RequestTooLarge));
        assert!(big.iter().all(|&b| b == 0));
        assert_eq!(d.reseed_counter(), 1);
        assert_eq!(d.generate(&mut big[..MAX_REQUEST_BYTES], b""), Ok(()));
        assert_eq!(d.reseed_counter(), 2);
        // Odd sizes and empty requests are fine.
        assert_eq!(d.generate(&mut [0u8; 17], b"x"), Ok(()));
        assert_eq!(d.generate(&mut [], b""), Ok(()));
        assert_eq!(d.reseed_counter(), 4);
    }

    #[test]
    fn reseed_interval() {
        let mut d = CtrDrbg::instantiate(&E, b"nonce", b"").unwrap();
        d.reseed_counter = RESEED_INTERVAL;
        let mut out = [0u8; 16];
        assert_eq!(d.generate(&mut out, b""), Ok(()));
        assert_eq!(d.generate(&mut out, b""), Err(DrbgError::ReseedRequired));
        assert_eq!(d.generate(&mut out, b""), Err(DrbgError::ReseedRequired));
        d.reseed(&E, b"more").unwrap();
        assert_eq!(d.reseed_counter(), 1);
        assert_eq!(d.generate(&mut out, b""), Ok(()));
    }

    #[test]
    fn counter_wraps_full_128_bits() {
        let mut v = [0xff; BLOCK_LEN];
        increment(&mut v);
        assert_eq!(v, [0; BLOCK_LEN]);
        let mut v = [0; BLOCK_LEN];
        v[11] = 0xff;
        v[12..].copy_from_slice(&[0xff; 4]);
        increment(&mut v);
        assert_eq!(v[10..], [1, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn outputs_differ_and_debug_hides_state() {
        let mut d = CtrDrbg::instantiate(&E, b"nonce", b"pers").unwrap();
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        d.generate(&mut a, b"").unwrap();
        d.generate(&mut b, b"").unwrap();
        assert_ne!(a, b);
        let s = alloc::format!("{d:?}");
        assert_eq!(s, "CtrDrbg { reseed_counter: 3, .. }");
    }
}
