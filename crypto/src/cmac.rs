//! AES-CMAC (NIST SP 800-38B), incremental, with a serializable state for
//! MAC sequence contexts (TPM2_MAC_Start / SequenceUpdate / SequenceComplete).
//!
//! The last complete block is held back until [`CmacState::finalize`]:
//! whether it is the final block (XORed with K1) is only known then.

use alloc::vec::Vec;
use zeroize::{Zeroize, Zeroizing};

use crate::sym::{AES_BLOCK, Aes, SymError};

/// A running AES-CMAC computation.
#[derive(Clone)]
pub struct CmacState {
    aes: Aes,
    key: Zeroizing<Vec<u8>>,
    /// The CBC chaining value over the blocks processed so far.
    x: [u8; AES_BLOCK],
    /// Input not yet processed: at most one block.
    pending: Vec<u8>,
}

impl Drop for CmacState {
    fn drop(&mut self) {
        self.x.zeroize();
        self.pending.zeroize();
    }
}

impl core::fmt::Debug for CmacState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CmacState(AES-{})", self.key.len() * 8)
    }
}

/// Doubling in GF(2^128) (SP 800-38B 6.1, the subkey derivation).
fn dbl(b: &[u8; AES_BLOCK]) -> [u8; AES_BLOCK] {
    let mut out = [0u8; AES_BLOCK];
    let mut carry = 0u8;
    for (o, i) in out.iter_mut().zip(b.iter()).rev() {
        *o = (*i << 1) | carry;
        carry = *i >> 7;
    }
    if let Some(last) = out.last_mut() {
        // Constant time in the secret top bit.
        *last ^= 0x87 & 0u8.wrapping_sub(carry);
    }
    out
}

impl CmacState {
    /// A CMAC keyed with an AES key of 16, 24 or 32 bytes.
    pub fn new(key: &[u8]) -> Result<CmacState, SymError> {
        Ok(CmacState {
            aes: Aes::new(key)?,
            key: Zeroizing::new(key.to_vec()),
            x: [0u8; AES_BLOCK],
            pending: Vec::with_capacity(AES_BLOCK),
        })
    }

    /// Absorbs `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.pending.len() == AES_BLOCK {
                for (x, p) in self.x.iter_mut().zip(&self.pending) {
                    *x ^= *p;
                }
                self.aes.encrypt(&mut self.x);
                self.pending.zeroize();
                self.pending.clear();
            }
            let take = (AES_BLOCK - self.pending.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.pending.extend_from_slice(head);
            data = rest;
        }
    }

    /// The 16-byte tag.
    pub fn finalize(mut self) -> [u8; AES_BLOCK] {
        let aes = &self.aes;
        let mut l = [0u8; AES_BLOCK];
        aes.encrypt(&mut l);
        let k1 = dbl(&l);
        let mut last = [0u8; AES_BLOCK];
        let subkey = if self.pending.len() == AES_BLOCK {
            last.copy_from_slice(&self.pending);
            k1
        } else {
            for (d, s) in last.iter_mut().zip(&self.pending) {
                *d = *s;
            }
            if let Some(b) = last.get_mut(self.pending.len()) {
                *b = 0x80;
            }
            dbl(&k1)
        };
        for ((x, m), k) in self.x.iter_mut().zip(&last).zip(&subkey) {
            *x ^= *m ^ *k;
        }
        let mut tag = self.x;
        aes.encrypt(&mut tag);
        l.zeroize();
        last.zeroize();
        tag
    }

    /// The state as bytes: key length, key, chaining value, pending input
    /// (length-prefixed). Secret: it holds the key.
    pub fn export_state(&self) -> Zeroizing<Vec<u8>> {
        let mut o = Zeroizing::new(Vec::with_capacity(2 + self.key.len() + 2 * AES_BLOCK));
        o.push(self.key.len() as u8);
        o.extend_from_slice(&self.key);
        o.extend_from_slice(&self.x);
        o.push(self.pending.len() as u8);
        o.extend_from_slice(&self.pending);
        o
    }

    /// Parses [`CmacState::export_state`]; None if malformed.
    pub fn import_state(bytes: &[u8]) -> Option<CmacState> {
        let (&klen, rest) = bytes.split_first()?;
        let (key, rest) = rest.split_at_checked(usize::from(klen))?;
        let (x, rest) = rest.split_at_checked(AES_BLOCK)?;
        let (&plen, pending) = rest.split_first()?;
        if usize::from(plen) != pending.len() || pending.len() > AES_BLOCK {
            return None;
        }
        // A pending block is only empty before any input.
        let mut st = CmacState::new(key).ok()?;
        st.x.copy_from_slice(x);
        st.pending.extend_from_slice(pending);
        Some(st)
    }
}

/// AES-CMAC of the concatenation of `parts` under `key`.
pub fn aes_cmac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; AES_BLOCK], SymError> {
    let mut st = CmacState::new(key)?;
    for p in parts {
        st.update(p);
    }
    Ok(st.finalize())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn split_updates_match_one_shot_and_survive_export() {
        let key = [7u8; 16];
        let data: Vec<u8> = (0u8..100).collect();
        let whole = aes_cmac(&key, &[&data]).unwrap();
        for cut in [0, 1, 15, 16, 17, 32, 99, 100] {
            let mut st = CmacState::new(&key).unwrap();
            st.update(&data[..cut]);
            let st = CmacState::import_state(&st.export_state()).unwrap();
            let mut st = st;
            st.update(&data[cut..]);
            assert_eq!(st.finalize(), whole, "cut {cut}");
        }
        assert!(CmacState::new(&[0u8; 15]).is_err());
        assert!(CmacState::import_state(&[16]).is_none());
    }
}
