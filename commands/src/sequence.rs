//! Sequence objects (Part 1, "Sequence objects"): hash, MAC (HMAC or
//! AES-CMAC) and event sequences. They live in transient object slots beside the loaded objects
//! (same handle range, same MAX_LOADED_OBJECTS budget) but are no keys: they
//! have no public area, their Name is their handle, and the only thing they
//! hold besides the running hash state is the authValue given at start.
//!
//! A saved sequence context carries the running hash state itself (the digest
//! crates' serialized form, through [`Hasher::export_state`]) rather than the
//! data absorbed so far: the state has a fixed small size whatever the amount
//! of data, while buffered input would grow without bound and make large
//! sequences unsaveable.

use alloc::vec::Vec;
use vtpm_crypto::{CmacState, HashAlg, Hasher, HmacState};
use zeroize::Zeroizing;

use crate::consts::HT_TRANSIENT;
use crate::engine::Engine;
use crate::object::MAX_LOADED_OBJECTS;
use crate::object::public::{Reader, put2b};
use crate::rc::Rc;
use crate::secret::Secret;

/// What a sequence computes. Variants differ in size, but at most
/// MAX_LOADED_OBJECTS of these exist: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum SeqState {
    /// TPM2_HashSequenceStart with a hash: a digest and, at completion, a
    /// hashcheck ticket if the first block was safe to sign.
    Hash {
        hasher: Hasher,
        /// A first block has been received (by SequenceUpdate).
        first_block: bool,
        /// That first block did not start with TPM_GENERATED_VALUE.
        ticket_safe: bool,
    },
    /// TPM2_HMAC_Start: the key is folded into the state, so the key object
    /// may be flushed meanwhile.
    Hmac(HmacState),
    /// TPM2_MAC_Start with a symmetric key: AES-CMAC, the key folded into
    /// the state likewise.
    Cmac(CmacState),
    /// TPM2_HashSequenceStart with TPM_ALG_NULL: one hash per implemented
    /// algorithm, in [`HashAlg::ALL`] order.
    Event(Vec<Hasher>),
}

/// A loaded sequence object.
#[derive(Clone)]
pub(crate) struct SequenceObject {
    pub handle: u32,
    pub auth: Secret,
    pub state: SeqState,
}

const KIND_HASH: u8 = 1;
const KIND_HMAC: u8 = 2;
const KIND_EVENT: u8 = 3;
const KIND_CMAC: u8 = 4;
/// Largest exported hash state (SHA-512: 64-byte chaining value, 128-bit
/// length, 128-byte block buffer and its position) with room to spare.
const MAX_STATE: usize = 512;

impl SequenceObject {
    /// The updates every kind shares: data goes into every running hash.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            SeqState::Hash {
                hasher,
                first_block,
                ticket_safe,
            } => {
                if !*first_block {
                    *first_block = true;
                    *ticket_safe = ticket_is_safe(data);
                }
                hasher.update(data);
            }
            SeqState::Hmac(h) => h.update(data),
            SeqState::Cmac(c) => c.update(data),
            SeqState::Event(hs) => hs.iter_mut().for_each(|h| h.update(data)),
        }
    }

    /// The context form: handle, authValue, kind, then the state(s).
    pub fn marshal(&self) -> Zeroizing<Vec<u8>> {
        let mut o = Zeroizing::new(Vec::new());
        o.extend_from_slice(&self.handle.to_be_bytes());
        put2b(&mut o, self.auth.as_bytes());
        match &self.state {
            SeqState::Hash {
                hasher,
                first_block,
                ticket_safe,
            } => {
                o.push(KIND_HASH);
                o.push(u8::from(*first_block) | u8::from(*ticket_safe) << 1);
                put2b(&mut o, &hasher.export_state());
            }
            SeqState::Hmac(h) => {
                o.push(KIND_HMAC);
                put2b(&mut o, &h.export_state());
            }
            SeqState::Cmac(c) => {
                o.push(KIND_CMAC);
                put2b(&mut o, &c.export_state());
            }
            SeqState::Event(hs) => {
                o.push(KIND_EVENT);
                o.push(hs.len() as u8);
                for h in hs {
                    put2b(&mut o, &h.export_state());
                }
            }
        }
        o
    }

    /// Parses [`SequenceObject::marshal`]; anything malformed is TPM_RC_INTEGRITY
    /// to the caller (the blob already passed its integrity check).
    pub fn parse(bytes: &[u8]) -> Result<SequenceObject, Rc> {
        let mut r = Reader::new(bytes);
        let handle = r.u32()?;
        let auth = Secret::new(r.tpm2b(crate::consts::MAX_DIGEST_SIZE)?);
        let hasher = |r: &mut Reader<'_>| -> Result<Hasher, Rc> {
            Hasher::import_state(r.tpm2b(MAX_STATE)?).ok_or(Rc::INTEGRITY)
        };
        let state = match r.u8()? {
            KIND_HASH => {
                let flags = r.u8()?;
                SeqState::Hash {
                    first_block: flags & 1 != 0,
                    ticket_safe: flags & 2 != 0,
                    hasher: hasher(&mut r)?,
                }
            }
            KIND_HMAC => SeqState::Hmac(
                HmacState::import_state(r.tpm2b(2 * MAX_STATE)?).ok_or(Rc::INTEGRITY)?,
            ),
            KIND_CMAC => {
                SeqState::Cmac(CmacState::import_state(r.tpm2b(MAX_STATE)?).ok_or(Rc::INTEGRITY)?)
            }
            KIND_EVENT => {
                let n = usize::from(r.u8()?);
                let hs = (0..n)
                    .map(|_| hasher(&mut r))
                    .collect::<Result<Vec<_>, _>>()?;
                let algs: Vec<HashAlg> = hs.iter().map(Hasher::alg).collect();
                if algs != HashAlg::ALL {
                    return Err(Rc::INTEGRITY);
                }
                SeqState::Event(hs)
            }
            _ => return Err(Rc::INTEGRITY),
        };
        if !r.is_empty() {
            return Err(Rc::INTEGRITY);
        }
        Ok(SequenceObject {
            handle,
            auth,
            state,
        })
    }
}

/// Whether a hash sequence's first block may earn a hashcheck ticket: it must
/// be long enough to show that it does not start with TPM_GENERATED_VALUE
/// (the reference's TicketIsSafe; a shorter first block gets no ticket).
pub(crate) fn ticket_is_safe(first: &[u8]) -> bool {
    first.len() >= 4 && !first.starts_with(&TPM_GENERATED_VALUE)
}

/// TPM_GENERATED_VALUE, the tag of TPM-made structures that a restricted key signs.
const TPM_GENERATED_VALUE: [u8; 4] = 0xff54_4347u32.to_be_bytes();

impl Engine {
    /// Transient slots in use, by objects and sequences together.
    pub(crate) fn transient_in_use(&self) -> usize {
        self.objects.len() + self.sequences.len()
    }

    /// A free transient handle (TPM_RC_OBJECT_MEMORY when every slot is taken).
    pub(crate) fn free_transient_handle(&self) -> Result<u32, Rc> {
        if self.transient_in_use() >= MAX_LOADED_OBJECTS {
            return Err(Rc::OBJECT_MEMORY);
        }
        let base = u32::from(HT_TRANSIENT) << 24;
        (0..MAX_LOADED_OBJECTS as u32)
            .map(|i| base | i)
            .find(|h| {
                !self.objects.iter().any(|o| o.handle == *h)
                    && !self.sequences.iter().any(|s| s.handle == *h)
            })
            .ok_or(Rc::OBJECT_MEMORY)
    }

    /// Puts a sequence in a free transient slot and returns its handle.
    pub(crate) fn load_sequence(&mut self, mut seq: SequenceObject) -> Result<u32, Rc> {
        let handle = self.free_transient_handle()?;
        seq.handle = handle;
        self.sequences.push(seq);
        Ok(handle)
    }

    /// The loaded sequence object under `handle`.
    pub(crate) fn sequence(&self, handle: u32) -> Option<&SequenceObject> {
        self.sequences.iter().find(|s| s.handle == handle)
    }

    pub(crate) fn sequence_mut(&mut self, handle: u32) -> Option<&mut SequenceObject> {
        self.sequences.iter_mut().find(|s| s.handle == handle)
    }

    /// Removes a sequence (completion, FlushContext); whether it was there.
    pub(crate) fn flush_sequence(&mut self, handle: u32) -> Option<SequenceObject> {
        let i = self.sequences.iter().position(|s| s.handle == handle)?;
        Some(self.sequences.remove(i))
    }
}
