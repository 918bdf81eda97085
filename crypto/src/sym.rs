//! AES in the block cipher modes of TPM2_EncryptDecrypt (SP800-38A: CFB with
//! a 128-bit segment, CBC, CTR, OFB, ECB), carrying the chaining value in
//! and out the way the TPM returns it as ivOut (Part 3, 15.2; the reference
//! CryptSymmetricEncrypt/Decrypt):
//! - CBC: the last ciphertext block;
//! - CFB: the last ciphertext block, a partial one padded with zeros;
//! - OFB: the last key-stream block;
//! - CTR: the counter after one increment per (possibly partial) block;
//! - ECB: no IV.

use aes::{Aes128, Aes192, Aes256};
use cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use zeroize::Zeroize;

/// The block size of AES.
pub const AES_BLOCK: usize = 16;

/// A block cipher mode (TPM_ALG_CFB, _CBC, _CTR, _OFB, _ECB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymMode {
    Cfb,
    Cbc,
    Ctr,
    Ofb,
    Ecb,
}

/// Why a symmetric operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymError {
    /// The key is not 16, 24 or 32 bytes.
    Key,
    /// The IV is not one block (or not empty for ECB).
    Iv,
    /// CBC and ECB take whole blocks only.
    Length,
}

#[derive(Clone)]
pub(crate) enum Aes {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

impl Aes {
    pub(crate) fn new(key: &[u8]) -> Result<Aes, SymError> {
        Ok(match key.len() {
            16 => Aes::A128(Aes128::new_from_slice(key).map_err(|_| SymError::Key)?),
            24 => Aes::A192(Aes192::new_from_slice(key).map_err(|_| SymError::Key)?),
            32 => Aes::A256(Aes256::new_from_slice(key).map_err(|_| SymError::Key)?),
            _ => return Err(SymError::Key),
        })
    }

    pub(crate) fn encrypt(&self, block: &mut [u8; AES_BLOCK]) {
        match self {
            Aes::A128(c) => c.encrypt_block(block.into()),
            Aes::A192(c) => c.encrypt_block(block.into()),
            Aes::A256(c) => c.encrypt_block(block.into()),
        }
    }

    fn decrypt(&self, block: &mut [u8; AES_BLOCK]) {
        match self {
            Aes::A128(c) => c.decrypt_block(block.into()),
            Aes::A192(c) => c.decrypt_block(block.into()),
            Aes::A256(c) => c.decrypt_block(block.into()),
        }
    }
}

fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= *s;
    }
}

fn to_block(chunk: &[u8]) -> [u8; AES_BLOCK] {
    let mut b = [0u8; AES_BLOCK];
    for (d, s) in b.iter_mut().zip(chunk) {
        *d = *s;
    }
    b
}

/// Encrypts (`decrypt` false) or decrypts `data` in place with AES `key` in
/// `mode`; `iv` is the chaining value in and ivOut after.
pub fn aes_crypt(
    mode: SymMode,
    decrypt: bool,
    key: &[u8],
    iv: &mut [u8],
    data: &mut [u8],
) -> Result<(), SymError> {
    let aes = Aes::new(key)?;
    if mode == SymMode::Ecb {
        if !iv.is_empty() {
            return Err(SymError::Iv);
        }
    } else if iv.len() != AES_BLOCK {
        return Err(SymError::Iv);
    }
    if matches!(mode, SymMode::Cbc | SymMode::Ecb) && !data.len().is_multiple_of(AES_BLOCK) {
        return Err(SymError::Length);
    }
    let mut chain = to_block(iv);
    for chunk in data.chunks_mut(AES_BLOCK) {
        match mode {
            SymMode::Ecb => {
                let mut b = to_block(chunk);
                if decrypt {
                    aes.decrypt(&mut b);
                } else {
                    aes.encrypt(&mut b);
                }
                chunk.copy_from_slice(b.get(..chunk.len()).unwrap_or_default());
                b.zeroize();
            }
            SymMode::Cbc => {
                let mut b = to_block(chunk);
                if decrypt {
                    let cipher_block = b;
                    aes.decrypt(&mut b);
                    xor_into(&mut b, &chain);
                    chain = cipher_block;
                } else {
                    xor_into(&mut b, &chain);
                    aes.encrypt(&mut b);
                    chain = b;
                }
                chunk.copy_from_slice(b.get(..chunk.len()).unwrap_or_default());
                b.zeroize();
            }
            SymMode::Cfb => {
                aes.encrypt(&mut chain);
                let mut next = [0u8; AES_BLOCK];
                for ((byte, s), n) in chunk.iter_mut().zip(chain).zip(next.iter_mut()) {
                    let input = *byte;
                    *byte ^= s;
                    *n = if decrypt { input } else { *byte };
                }
                // A partial last block leaves zeros behind its ciphertext.
                chain = next;
            }
            SymMode::Ofb => {
                aes.encrypt(&mut chain);
                xor_into(chunk, &chain);
            }
            SymMode::Ctr => {
                let mut stream = chain;
                aes.encrypt(&mut stream);
                xor_into(chunk, &stream);
                stream.zeroize();
                // Big-endian increment of the whole block.
                for b in chain.iter_mut().rev() {
                    *b = b.wrapping_add(1);
                    if *b != 0 {
                        break;
                    }
                }
            }
        }
    }
    if mode != SymMode::Ecb {
        iv.copy_from_slice(&chain);
    }
    chain.zeroize();
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// ivOut chains: two calls equal one call over the concatenation.
    #[test]
    fn chaining_splits() {
        let key = [7u8; 16];
        for mode in [SymMode::Cfb, SymMode::Cbc, SymMode::Ctr, SymMode::Ofb] {
            let data: [u8; 64] = core::array::from_fn(|i| i as u8);
            let mut whole = data;
            let mut iv = [1u8; 16];
            aes_crypt(mode, false, &key, &mut iv, &mut whole).unwrap();
            let mut parts = data;
            let mut iv2 = [1u8; 16];
            let (a, b) = parts.split_at_mut(32);
            aes_crypt(mode, false, &key, &mut iv2, a).unwrap();
            aes_crypt(mode, false, &key, &mut iv2, b).unwrap();
            assert_eq!(whole, parts, "{mode:?}");
            assert_eq!(iv, iv2, "{mode:?}");
            let mut back = whole;
            let mut iv3 = [1u8; 16];
            aes_crypt(mode, true, &key, &mut iv3, &mut back).unwrap();
            assert_eq!(back, data, "{mode:?}");
            assert_eq!(iv3, iv, "{mode:?} ivOut of decryption");
        }
    }

    #[test]
    fn refusals() {
        let mut d = [0u8; 15];
        assert_eq!(
            aes_crypt(SymMode::Cbc, false, &[0; 16], &mut [0; 16], &mut d),
            Err(SymError::Length)
        );
        assert_eq!(
            aes_crypt(SymMode::Ecb, false, &[0; 16], &mut [0; 16], &mut [0; 16]),
            Err(SymError::Iv)
        );
        assert_eq!(
            aes_crypt(SymMode::Cfb, false, &[0; 15], &mut [0; 16], &mut d),
            Err(SymError::Key)
        );
    }
}
