//! AES in CFB mode with a 128-bit segment (SP800-38A 6.3), as TPM 2.0 uses it
//! for parameter encryption (Part 1, 21.3). Any data length; the last partial
//! block uses the leading bytes of the key stream.

use aes::{Aes128, Aes192, Aes256};
use cipher::{BlockCipherEncrypt, KeyInit};

/// Why a CFB operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CfbError {
    /// The key is not 16, 24 or 32 bytes, or the IV not 16.
    BadKeyOrIv,
}

enum AnyAes {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

impl AnyAes {
    fn new(key: &[u8]) -> Result<AnyAes, CfbError> {
        Ok(match key.len() {
            16 => AnyAes::A128(Aes128::new_from_slice(key).map_err(|_| CfbError::BadKeyOrIv)?),
            24 => AnyAes::A192(Aes192::new_from_slice(key).map_err(|_| CfbError::BadKeyOrIv)?),
            32 => AnyAes::A256(Aes256::new_from_slice(key).map_err(|_| CfbError::BadKeyOrIv)?),
            _ => return Err(CfbError::BadKeyOrIv),
        })
    }

    fn encrypt(&self, block: &mut [u8; 16]) {
        match self {
            AnyAes::A128(c) => c.encrypt_block(block.into()),
            AnyAes::A192(c) => c.encrypt_block(block.into()),
            AnyAes::A256(c) => c.encrypt_block(block.into()),
        }
    }
}

fn cfb(key: &[u8], iv: &[u8], data: &mut [u8], decrypt: bool) -> Result<(), CfbError> {
    let cipher = AnyAes::new(key)?;
    let mut feedback: [u8; 16] = iv.try_into().map_err(|_| CfbError::BadKeyOrIv)?;
    for chunk in data.chunks_mut(16) {
        let mut stream = feedback;
        cipher.encrypt(&mut stream);
        let mut next = [0u8; 16];
        for ((byte, s), n) in chunk.iter_mut().zip(stream).zip(next.iter_mut()) {
            let input = *byte;
            *byte ^= s;
            *n = if decrypt { input } else { *byte };
        }
        feedback = next;
    }
    Ok(())
}

/// Encrypts `data` in place.
pub fn aes_cfb_encrypt(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CfbError> {
    cfb(key, iv, data, false)
}

/// Decrypts `data` in place.
pub fn aes_cfb_decrypt(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CfbError> {
    cfb(key, iv, data, true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// SP800-38A F.3.13 CFB128-AES128.Encrypt, first two blocks.
    #[test]
    fn sp800_38a_vector() {
        let key = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let plain = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93,
            0x17, 0x2a, 0xae, 0x2d, 0x8a, 0x57, 0x1e, 0x03, 0xac, 0x9c, 0x9e, 0xb7, 0x6f, 0xac,
            0x45, 0xaf, 0x8e, 0x51,
        ];
        let expected = [
            0x3b, 0x3f, 0xd9, 0x2e, 0xb7, 0x2d, 0xad, 0x20, 0x33, 0x34, 0x49, 0xf8, 0xe8, 0x3c,
            0xfb, 0x4a, 0xc8, 0xa6, 0x45, 0x37, 0xa0, 0xb3, 0xa9, 0x3f, 0xcd, 0xe3, 0xcd, 0xad,
            0x9f, 0x1c, 0xe5, 0x8b,
        ];
        let mut data = plain;
        aes_cfb_encrypt(&key, &iv, &mut data).unwrap();
        assert_eq!(data, expected);
        aes_cfb_decrypt(&key, &iv, &mut data).unwrap();
        assert_eq!(data, plain);
        // A partial last block round-trips too.
        let mut short = [1u8; 21];
        aes_cfb_encrypt(&key, &iv, &mut short).unwrap();
        assert_eq!(&short[..16], &{
            let mut b = [1u8; 16];
            aes_cfb_encrypt(&key, &iv, &mut b).unwrap();
            b
        });
        aes_cfb_decrypt(&key, &iv, &mut short).unwrap();
        assert_eq!(short, [1u8; 21]);
    }
}
