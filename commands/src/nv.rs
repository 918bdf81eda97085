//! NV indices (Part 1, section 37; Part 2, TPMS_NV_PUBLIC and TPMA_NV): the
//! model the NV commands (`families::nv`) act on, the access rules they share
//! with the authorization pipeline, and the API other commands use.
//!
//! Every index lives in [`crate::state::Permanent::nv`]. An index without
//! TPMA_NV_ORDERLY is committed by the caller before the response (the engine
//! sets `nv_dirty`). An ORDERLY index is kept "in RAM": its live attributes and
//! data change freely, and only `stored` (what the state image holds) is
//! updated at definition, at Shutdown and when an orderly counter rolls over
//! its low bits, as the reference does.
//!
//! API for other commands:
//! - [`Engine::nv_index`]: the index under a handle (public area, data, written flag);
//! - [`NvIndex::name`] / [`NvPublic::name`]: the Name (nameAlg || H(TPMS_NV_PUBLIC));
//! - [`Engine::nv_read_for_policy`]: the bytes PolicyNV compares, after the
//!   NV read rules (NvReadAccessChecks) and the range checks.

use alloc::vec::Vec;
use vtpm_crypto::HashAlg;

use crate::consts::{MAX_DIGEST_SIZE, RH_OWNER, RH_PLATFORM};
use crate::engine::Engine;
use crate::object::public::{Reader, put2b, put16};
use crate::rc::Rc;
use crate::secret::Secret;
use crate::table::AuthRole;

/// TPMI_RH_NV_INDEX range (TPM_HT_NV_INDEX).
pub const NV_INDEX_FIRST: u32 = 0x0100_0000;
pub const NV_INDEX_LAST: u32 = 0x01FF_FFFF;
/// Largest data area of one index (TPM_PT_NV_INDEX_MAX), as libtpms.
pub const MAX_NV_INDEX_SIZE: usize = 2048;
/// Largest TPM2B_MAX_NV_BUFFER (TPM_PT_NV_BUFFER_MAX).
pub const MAX_NV_BUFFER_SIZE: usize = 1024;
/// Octets of NV for indices (public areas, authValues, data) and persistent objects.
pub const NV_INDEX_SPACE: usize = 64 * 1024;
/// Octets charged per index on top of its public area, authValue and data
/// (handle, sizes, the stored copy's bookkeeping).
const INDEX_OVERHEAD: usize = 16;
/// An orderly counter is written to NV when these low bits roll over
/// (TPM_PT_ORDERLY_COUNT).
pub const MAX_ORDERLY_COUNT: u64 = 0xFF;

/// TPMA_NV bits (Part 2, 13.4).
pub mod attr {
    pub const PPWRITE: u32 = 1 << 0;
    pub const OWNERWRITE: u32 = 1 << 1;
    pub const AUTHWRITE: u32 = 1 << 2;
    pub const POLICYWRITE: u32 = 1 << 3;
    /// TPM_NT, bits 4..7.
    pub const TYPE_MASK: u32 = 0xF0;
    pub const POLICY_DELETE: u32 = 1 << 10;
    pub const WRITELOCKED: u32 = 1 << 11;
    pub const WRITEALL: u32 = 1 << 12;
    pub const WRITEDEFINE: u32 = 1 << 13;
    pub const WRITE_STCLEAR: u32 = 1 << 14;
    pub const GLOBALLOCK: u32 = 1 << 15;
    pub const PPREAD: u32 = 1 << 16;
    pub const OWNERREAD: u32 = 1 << 17;
    pub const AUTHREAD: u32 = 1 << 18;
    pub const POLICYREAD: u32 = 1 << 19;
    pub const NO_DA: u32 = 1 << 25;
    pub const ORDERLY: u32 = 1 << 26;
    pub const CLEAR_STCLEAR: u32 = 1 << 27;
    pub const READLOCKED: u32 = 1 << 28;
    pub const WRITTEN: u32 = 1 << 29;
    pub const PLATFORMCREATE: u32 = 1 << 30;
    pub const READ_STCLEAR: u32 = 1 << 31;
    /// Reserved bits 8, 9 and 20..24.
    pub const RESERVED: u32 = 0x01F0_0300;
}

/// TPM_NT: the type of an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NvType {
    Ordinary,
    Counter,
    Bits,
    Extend,
    PinFail,
    PinPass,
}

impl NvType {
    pub fn of(attributes: u32) -> Option<NvType> {
        match (attributes & attr::TYPE_MASK) >> 4 {
            0 => Some(NvType::Ordinary),
            1 => Some(NvType::Counter),
            2 => Some(NvType::Bits),
            4 => Some(NvType::Extend),
            8 => Some(NvType::PinFail),
            9 => Some(NvType::PinPass),
            _ => None,
        }
    }
}

/// TPMS_NV_PUBLIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NvPublic {
    pub index: u32,
    pub name_alg: HashAlg,
    pub attributes: u32,
    pub auth_policy: Vec<u8>,
    pub data_size: u16,
}

impl NvPublic {
    pub fn has(&self, bits: u32) -> bool {
        self.attributes & bits != 0
    }

    /// The index's TPM_NT (validated at definition, so always known).
    pub fn nv_type(&self) -> NvType {
        NvType::of(self.attributes).unwrap_or(NvType::Ordinary)
    }

    /// TPMS_NV_PUBLIC as marshaled.
    pub fn marshal(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(14 + self.auth_policy.len());
        v.extend_from_slice(&self.index.to_be_bytes());
        put16(&mut v, self.name_alg.alg_id());
        v.extend_from_slice(&self.attributes.to_be_bytes());
        put2b(&mut v, &self.auth_policy);
        put16(&mut v, self.data_size);
        v
    }

    /// TPM2B_NV_PUBLIC.
    pub fn marshal_2b(&self) -> Vec<u8> {
        let body = self.marshal();
        let mut v = Vec::with_capacity(2 + body.len());
        put2b(&mut v, &body);
        v
    }

    /// The Name: nameAlg || H_nameAlg(TPMS_NV_PUBLIC) (Part 1, 16).
    pub fn name(&self) -> Vec<u8> {
        let mut name = self.name_alg.alg_id().to_be_bytes().to_vec();
        name.extend_from_slice(self.name_alg.digest(&[&self.marshal()]).as_bytes());
        name
    }

    /// TPMS_NV_PUBLIC as the reference unmarshals it: TPMI_RH_NV_INDEX
    /// (TPM_RC_VALUE), TPMI_ALG_HASH (TPM_RC_HASH), TPMA_NV (reserved bits:
    /// TPM_RC_RESERVED_BITS), TPM2B_DIGEST, dataSize (above the index
    /// maximum: TPM_RC_SIZE).
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<NvPublic, Rc> {
        let index = r.u32()?;
        if !(NV_INDEX_FIRST..=NV_INDEX_LAST).contains(&index) {
            return Err(Rc::VALUE);
        }
        let name_alg = HashAlg::from_alg_id(r.u16()?).ok_or(Rc::HASH)?;
        let attributes = r.u32()?;
        if attributes & attr::RESERVED != 0 {
            return Err(Rc::RESERVED_BITS);
        }
        let auth_policy = r.tpm2b(MAX_DIGEST_SIZE)?.to_vec();
        let data_size = r.u16()?;
        if usize::from(data_size) > MAX_NV_INDEX_SIZE {
            return Err(Rc::SIZE);
        }
        Ok(NvPublic {
            index,
            name_alg,
            attributes,
            auth_policy,
            data_size,
        })
    }
}

/// A defined NV index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NvIndex {
    pub public: NvPublic,
    pub(crate) auth: Secret,
    /// The data area, `dataSize` octets (meaningful once written).
    pub data: Vec<u8>,
    /// ORDERLY indices: the attributes and data as last saved to NV.
    pub(crate) stored: Option<(u32, Vec<u8>)>,
}

impl NvIndex {
    pub(crate) fn new(public: NvPublic, auth: Secret) -> NvIndex {
        // Unwritten data reads as erased NV.
        let data = alloc::vec![0xFF; usize::from(public.data_size)];
        let stored = public
            .has(attr::ORDERLY)
            .then(|| (public.attributes, data.clone()));
        NvIndex {
            public,
            auth,
            data,
            stored,
        }
    }

    /// TPMA_NV_WRITTEN.
    pub fn written(&self) -> bool {
        self.public.has(attr::WRITTEN)
    }

    /// The Name of the index (changes with its attributes, e.g. WRITTEN).
    pub fn name(&self) -> Vec<u8> {
        self.public.name()
    }

    /// The first eight octets as a big-endian u64 (counter, bits, PIN data).
    pub(crate) fn u64_value(&self) -> u64 {
        self.data
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    }

    /// NV octets charged for this index.
    pub(crate) fn cost(&self) -> usize {
        INDEX_OVERHEAD + self.public.marshal().len() + self.auth.len() + self.data.len()
    }

    /// State-image form: TPMS_NV_PUBLIC (with the stored attributes of an
    /// ORDERLY index), TPM2B auth, TPM2B data (the stored data).
    pub(crate) fn marshal_state(&self) -> Vec<u8> {
        let (attributes, data) = match &self.stored {
            Some((a, d)) => (*a, d.as_slice()),
            None => (self.public.attributes, self.data.as_slice()),
        };
        let public = NvPublic {
            attributes,
            ..self.public.clone()
        };
        let mut v = public.marshal();
        put2b(&mut v, self.auth.as_bytes());
        put2b(&mut v, data);
        v
    }

    pub(crate) fn parse_state(bytes: &[u8]) -> Option<NvIndex> {
        let mut r = Reader::new(bytes);
        let public = NvPublic::parse(&mut r).ok()?;
        NvType::of(public.attributes)?;
        let auth = Secret::new(r.tpm2b(MAX_DIGEST_SIZE).ok()?);
        let data = r.tpm2b(MAX_NV_INDEX_SIZE).ok()?.to_vec();
        if !r.is_empty() || data.len() != usize::from(public.data_size) {
            return None;
        }
        let stored = public
            .has(attr::ORDERLY)
            .then(|| (public.attributes, data.clone()));
        Some(NvIndex {
            public,
            auth,
            data,
            stored,
        })
    }
}

/// Commands that write an index: their USER authorization uses AUTHWRITE /
/// POLICYWRITE, the others AUTHREAD / POLICYREAD (the reference's IS_WRITE).
fn is_write_command(cc: u32) -> bool {
    use crate::families::nv::{
        CC_NV_EXTEND, CC_NV_INCREMENT, CC_NV_SET_BITS, CC_NV_WRITE, CC_NV_WRITE_LOCK,
    };
    matches!(
        cc,
        CC_NV_WRITE | CC_NV_INCREMENT | CC_NV_EXTEND | CC_NV_SET_BITS | CC_NV_WRITE_LOCK
    )
}

impl Engine {
    /// The NV index under `handle`, if defined (whether or not its hierarchy
    /// is enabled).
    pub fn nv_index(&self, handle: u32) -> Option<&NvIndex> {
        self.perm.nv.iter().find(|i| i.public.index == handle)
    }

    pub(crate) fn nv_index_mut(&mut self, handle: u32) -> Option<&mut NvIndex> {
        self.perm.nv.iter_mut().find(|i| i.public.index == handle)
    }

    /// The index under `handle` if it is defined and visible: an owner index
    /// disappears while shEnable is CLEAR, a platform one while phEnableNV is
    /// CLEAR (NvIndexIsAccessible). Otherwise TPM_RC_HANDLE.
    pub(crate) fn nv_accessible(&self, handle: u32) -> Result<&NvIndex, Rc> {
        let index = self.nv_index(handle).ok_or(Rc::HANDLE)?;
        let visible = if index.public.has(attr::PLATFORMCREATE) {
            self.gc.ph_enable_nv
        } else {
            self.gc.sh_enable
        };
        if visible { Ok(index) } else { Err(Rc::HANDLE) }
    }

    /// NvWriteAccessChecks: not write-locked, and the authorizing handle is
    /// one the attributes allow (owner: OWNERWRITE, platform: PPWRITE, else
    /// the index itself, whose AUTHWRITE/POLICYWRITE the session check saw).
    pub(crate) fn nv_write_access(&self, auth: u32, index: &NvIndex) -> Result<(), Rc> {
        let p = &index.public;
        if p.has(attr::WRITELOCKED) {
            return Err(Rc::NV_LOCKED);
        }
        let allowed = match auth {
            RH_OWNER => p.has(attr::OWNERWRITE),
            RH_PLATFORM => p.has(attr::PPWRITE),
            h => h == p.index,
        };
        if allowed {
            Ok(())
        } else {
            Err(Rc::NV_AUTHORIZATION)
        }
    }

    /// NvReadAccessChecks: not read-locked, an allowed authorizing handle
    /// (OWNERREAD, PPREAD or the index), then written.
    pub(crate) fn nv_read_access(&self, auth: u32, index: &NvIndex) -> Result<(), Rc> {
        let p = &index.public;
        if p.has(attr::READLOCKED) {
            return Err(Rc::NV_LOCKED);
        }
        let allowed = match auth {
            RH_OWNER => p.has(attr::OWNERREAD),
            RH_PLATFORM => p.has(attr::PPREAD),
            h => h == p.index,
        };
        if !allowed {
            return Err(Rc::NV_AUTHORIZATION);
        }
        if !index.written() {
            return Err(Rc::NV_UNINITIALIZED);
        }
        Ok(())
    }

    /// The `size` octets at `offset` of index `handle`, read with the NV read
    /// rules, for TPM2_PolicyNV (Part 3, 23.9): `auth` is the command's
    /// authHandle. Errors: TPM_RC_HANDLE, TPM_RC_NV_LOCKED,
    /// TPM_RC_NV_AUTHORIZATION, TPM_RC_NV_UNINITIALIZED, TPM_RC_VALUE (offset
    /// beyond the data; the caller adds the parameter number) and
    /// TPM_RC_NV_RANGE (offset + size beyond the data).
    pub(crate) fn nv_read_for_policy(
        &self,
        auth: u32,
        handle: u32,
        offset: u16,
        size: usize,
    ) -> Result<&[u8], Rc> {
        let index = self.nv_accessible(handle)?;
        self.nv_read_access(auth, index)?;
        let offset = usize::from(offset);
        if offset > usize::from(index.public.data_size) {
            return Err(Rc::VALUE);
        }
        index
            .data
            .get(offset..offset.checked_add(size).ok_or(Rc::NV_RANGE)?)
            .ok_or(Rc::NV_RANGE)
    }

    /// May the session kind given authorize NV index `h` in `role` for
    /// command `cc`? (IsPolicySessionRequired, IsAuthValueAvailable and
    /// IsAuthPolicyAvailable for an NV index.) ADMIN always needs a policy
    /// (TPM_RC_AUTH_TYPE); a USER authValue needs AUTHWRITE / AUTHREAD (a PIN
    /// index: written and pinCount < pinLimit), a policy POLICYWRITE /
    /// POLICYREAD and a non-empty authPolicy (TPM_RC_AUTH_UNAVAILABLE).
    pub(crate) fn nv_auth_available(
        &self,
        h: u32,
        role: AuthRole,
        cc: u32,
        policy_session: bool,
    ) -> Result<(), Rc> {
        let Some(index) = self.nv_index(h) else {
            return Ok(());
        };
        let p = &index.public;
        let write = is_write_command(cc);
        if !policy_session {
            if role == AuthRole::Admin {
                return Err(Rc::AUTH_TYPE);
            }
            let available = if write {
                p.has(attr::AUTHWRITE)
            } else if matches!(p.nv_type(), NvType::PinFail | NvType::PinPass) {
                let v = index.u64_value();
                index.written() && (v >> 32) < (v & 0xFFFF_FFFF)
            } else {
                p.has(attr::AUTHREAD)
            };
            return if available {
                Ok(())
            } else {
                Err(Rc::AUTH_UNAVAILABLE)
            };
        }
        let available = !p.auth_policy.is_empty()
            && (role == AuthRole::Admin
                || if write {
                    p.has(attr::POLICYWRITE)
                } else {
                    p.has(attr::POLICYREAD)
                });
        if available {
            Ok(())
        } else {
            Err(Rc::AUTH_UNAVAILABLE)
        }
    }

    /// After the authValue of index `h` was checked (`ok`): a written PIN
    /// Fail index counts the failure or clears its count, a written PIN Pass
    /// index counts the use. The count is durable before the response.
    pub(crate) fn nv_pin_update(&mut self, h: u32, ok: bool) {
        let Some(index) = self.nv_index_mut(h) else {
            return;
        };
        if !index.written() {
            return;
        }
        let v = index.u64_value();
        let (count, limit) = (v >> 32, v & 0xFFFF_FFFF);
        let count = match index.public.nv_type() {
            NvType::PinFail if ok => 0,
            NvType::PinFail => count.wrapping_add(1) & 0xFFFF_FFFF,
            NvType::PinPass if ok => count.wrapping_add(1) & 0xFFFF_FFFF,
            _ => return,
        };
        self.nv_set_data(h, 0, &((count << 32) | limit).to_be_bytes());
    }

    /// Writes `bytes` at `offset` and sets WRITTEN; a non-orderly index is
    /// committed before the response, an orderly one stays in RAM.
    pub(crate) fn nv_set_data(&mut self, h: u32, offset: usize, bytes: &[u8]) {
        let Some(index) = self.nv_index_mut(h) else {
            return;
        };
        if let Some(slot) = index.data.get_mut(offset..offset + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
        let first = !index.written();
        index.public.attributes |= attr::WRITTEN;
        if index.public.has(attr::ORDERLY) && !first {
            self.clear_orderly();
        } else {
            // The first write of an orderly index goes to NV too, so that a
            // counter's value after a power loss is never below one returned.
            if index.stored.is_some() {
                index.stored = Some((index.public.attributes, index.data.clone()));
            }
            self.nv_dirty = true;
        }
    }

    /// Changes an index's attributes (locks), durably unless orderly.
    pub(crate) fn nv_set_attributes(&mut self, h: u32, attributes: u32) {
        let Some(index) = self.nv_index_mut(h) else {
            return;
        };
        index.public.attributes = attributes;
        if index.public.has(attr::ORDERLY) {
            self.clear_orderly();
        } else {
            self.nv_dirty = true;
        }
    }

    /// An orderly index's RAM copy becomes its NV copy (an orderly counter
    /// rolling over its low bits).
    pub(crate) fn nv_store_orderly(&mut self, h: u32) {
        if let Some(index) = self.nv_index_mut(h)
            && index.stored.is_some()
        {
            index.stored = Some((index.public.attributes, index.data.clone()));
            self.nv_dirty = true;
        }
    }

    /// Removes an index; a counter's value raises the TPM's highest counter
    /// value so that a counter defined later never starts below it.
    pub(crate) fn nv_delete(&mut self, h: u32) {
        if let Some(index) = self.nv_index(h)
            && index.public.nv_type() == NvType::Counter
            && index.written()
        {
            let v = index.u64_value();
            self.perm.nv_max_counter = self.perm.nv_max_counter.max(v);
        }
        self.perm.nv.retain(|i| i.public.index != h);
        self.nv_dirty = true;
    }

    /// NV octets in use: indices, and the persistent objects that share the
    /// space with them (TPM_PT_MEMORY.sharedNV).
    pub(crate) fn nv_used(&self) -> usize {
        let objects: usize = self
            .perm
            .persistent
            .iter()
            .map(|o| o.marshal_state().len())
            .sum();
        objects + self.perm.nv.iter().map(NvIndex::cost).sum::<usize>()
    }

    /// TPM_PT_NV_COUNTERS.
    pub(crate) fn nv_counters(&self) -> u32 {
        self.perm
            .nv
            .iter()
            .filter(|i| i.public.nv_type() == NvType::Counter)
            .count() as u32
    }

    /// TPM_PT_NV_COUNTERS_AVAIL: how many more counters (SHA-256 name, no
    /// policy, no authValue) the remaining space holds.
    pub(crate) fn nv_counters_avail(&self) -> u32 {
        let counter = INDEX_OVERHEAD + 14 + 8;
        (NV_INDEX_SPACE.saturating_sub(self.nv_used()) / counter) as u32
    }

    /// TPM2_Clear removes every index not created by the platform.
    pub(crate) fn nv_clear_owner(&mut self) {
        let owner: Vec<u32> = self
            .perm
            .nv
            .iter()
            .filter(|i| !i.public.has(attr::PLATFORMCREATE))
            .map(|i| i.public.index)
            .collect();
        for h in owner {
            self.nv_delete(h);
        }
    }

    /// At Shutdown (either type) the RAM copies of orderly indices are saved.
    pub(crate) fn nv_shutdown(&mut self) {
        for index in &mut self.perm.nv {
            if index.stored.is_some() {
                index.stored = Some((index.public.attributes, index.data.clone()));
            }
        }
        self.nv_dirty = true;
    }

    /// At Startup (NvEntityStartup): orderly indices come back from their
    /// NV copy; at TPM Reset / Restart (not Resume) read locks go, a
    /// non-counter index with CLEAR_STCLEAR (or orderly at TPM Reset) becomes
    /// unwritten, write locks go unless the index is written with WRITEDEFINE,
    /// and after a non-orderly shutdown an orderly counter's low bits are set
    /// so that it never goes back.
    pub(crate) fn nv_startup(&mut self, resume: bool, tpm_reset: bool, prior_orderly: bool) {
        for index in &mut self.perm.nv {
            if let Some((a, d)) = &index.stored {
                index.public.attributes = *a;
                index.data = d.clone();
            }
            if resume {
                continue;
            }
            let p = &mut index.public;
            let mut a = p.attributes & !attr::READLOCKED;
            let counter = NvType::of(a) == Some(NvType::Counter);
            if !counter && (a & attr::CLEAR_STCLEAR != 0 || (a & attr::ORDERLY != 0 && tpm_reset)) {
                a &= !attr::WRITTEN;
            }
            if a & attr::WRITTEN == 0 || a & attr::WRITEDEFINE == 0 {
                a &= !attr::WRITELOCKED;
            }
            p.attributes = a;
            if counter && a & attr::ORDERLY != 0 && !prior_orderly && a & attr::WRITTEN != 0 {
                let v = index.u64_value() | MAX_ORDERLY_COUNT;
                if let Some(slot) = index.data.get_mut(..8) {
                    slot.copy_from_slice(&v.to_be_bytes());
                }
            }
        }
        self.nv_dirty = true;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn public(attributes: u32) -> NvPublic {
        NvPublic {
            index: 0x0150_0000,
            name_alg: HashAlg::Sha256,
            attributes,
            auth_policy: alloc::vec![7; 32],
            data_size: 8,
        }
    }

    #[test]
    fn public_round_trips_and_names_hash_it() {
        let p = public(attr::OWNERREAD | attr::OWNERWRITE | 0x10);
        let bytes = p.marshal();
        assert_eq!(NvPublic::parse(&mut Reader::new(&bytes)).unwrap(), p);
        let name = p.name();
        assert_eq!(&name[..2], &[0, 0x0B]);
        assert_eq!(&name[2..], HashAlg::Sha256.digest(&[&bytes]).as_bytes());
    }

    #[test]
    fn parse_refuses_what_the_reference_refuses() {
        let mut p = public(0);
        p.index = 0x0200_0000;
        assert_eq!(
            NvPublic::parse(&mut Reader::new(&p.marshal())),
            Err(Rc::VALUE)
        );
        let p = public(1 << 8);
        assert_eq!(
            NvPublic::parse(&mut Reader::new(&p.marshal())),
            Err(Rc::RESERVED_BITS)
        );
        let mut p = public(0);
        p.data_size = 2049;
        assert_eq!(
            NvPublic::parse(&mut Reader::new(&p.marshal())),
            Err(Rc::SIZE)
        );
    }

    #[test]
    fn read_for_policy_applies_the_read_rules() {
        let mut e = Engine::manufacture();
        let mut i = NvIndex::new(
            public(attr::OWNERREAD | attr::AUTHWRITE | attr::AUTHREAD),
            Secret::empty(),
        );
        e.perm.nv.push(i.clone());
        let h = i.public.index;
        assert_eq!(e.nv_read_for_policy(h, h, 0, 4), Err(Rc::NV_UNINITIALIZED));
        i.public.attributes |= attr::WRITTEN;
        i.data = alloc::vec![1, 2, 3, 4, 5, 6, 7, 8];
        e.perm.nv = alloc::vec![i.clone()];
        assert_eq!(e.nv_read_for_policy(h, h, 2, 3), Ok(&[3u8, 4, 5][..]));
        assert_eq!(
            e.nv_read_for_policy(RH_OWNER, h, 0, 8).map(|d| d.len()),
            Ok(8)
        );
        assert_eq!(
            e.nv_read_for_policy(RH_PLATFORM, h, 0, 1),
            Err(Rc::NV_AUTHORIZATION)
        );
        assert_eq!(e.nv_read_for_policy(h, h, 9, 0), Err(Rc::VALUE));
        assert_eq!(e.nv_read_for_policy(h, h, 4, 5), Err(Rc::NV_RANGE));
        i.public.attributes |= attr::READLOCKED;
        e.perm.nv = alloc::vec![i];
        assert_eq!(e.nv_read_for_policy(h, h, 0, 1), Err(Rc::NV_LOCKED));
        assert_eq!(e.nv_read_for_policy(h, h + 1, 0, 1), Err(Rc::HANDLE));
    }

    #[test]
    fn orderly_state_keeps_the_stored_copy() {
        let mut i = NvIndex::new(
            public(attr::ORDERLY | attr::AUTHREAD | attr::AUTHWRITE),
            Secret::new(b"pw"),
        );
        i.data[0] = 1;
        i.public.attributes |= attr::WRITTEN;
        let back = NvIndex::parse_state(&i.marshal_state()).unwrap();
        assert!(!back.written());
        assert_eq!(back.data[0], 0xFF);
        assert_eq!(back.auth, Secret::new(b"pw"));
    }
}
