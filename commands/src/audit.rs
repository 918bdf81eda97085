//! Audit (Part 1, "Audit"): the command audit digest over the commands in the
//! audit list, and per-session audit digests.
//!
//! Both digests are extended after a command succeeds with
//! H(digest || cpHash || rpHash), each hash taken with the digest's algorithm
//! over the parameters as they travelled (encrypted, if they were).

use alloc::vec::Vec;
use vtpm_crypto::HashAlg;

use crate::engine::Engine;

/// TPM2_SetCommandCodeAuditStatus: always audited, never removable (Part 3, 21.2).
pub const CC_SET_COMMAND_CODE_AUDIT_STATUS: u32 = 0x0000_0140;

/// The permanent part of command audit: the list, its digest algorithm and
/// the counter of audit digest restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandAudit {
    pub alg: HashAlg,
    /// Incremented each time an audited command finds the digest cleared.
    pub counter: u64,
    /// Audited command codes, ascending and unique.
    pub list: Vec<u32>,
}

impl Default for CommandAudit {
    fn default() -> Self {
        CommandAudit {
            alg: HashAlg::Sha256,
            counter: 0,
            list: alloc::vec![CC_SET_COMMAND_CODE_AUDIT_STATUS],
        }
    }
}

impl CommandAudit {
    pub fn is_audited(&self, cc: u32) -> bool {
        self.list.binary_search(&cc).is_ok()
    }

    /// Adds `cc`; true if the list changed. Unimplemented commands are ignored.
    pub fn set(&mut self, cc: u32) -> bool {
        if crate::table::lookup(cc).is_none() {
            return false;
        }
        match self.list.binary_search(&cc) {
            Ok(_) => false,
            Err(i) => {
                self.list.insert(i, cc);
                true
            }
        }
    }

    /// Removes `cc`; true if the list changed. SetCommandCodeAuditStatus stays.
    pub fn clear(&mut self, cc: u32) -> bool {
        if cc == CC_SET_COMMAND_CODE_AUDIT_STATUS {
            return false;
        }
        match self.list.binary_search(&cc) {
            Ok(i) => {
                self.list.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// commandDigest of TPMS_COMMAND_AUDIT_INFO: H(the audited codes, ascending).
    pub fn list_digest(&self) -> Vec<u8> {
        let bytes: Vec<u8> = self.list.iter().flat_map(|cc| cc.to_be_bytes()).collect();
        self.alg.digest(&[&bytes]).as_bytes().to_vec()
    }

    /// The permanent state field: alg, counter, the codes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.alg.alg_id().to_be_bytes().to_vec();
        v.extend_from_slice(&self.counter.to_be_bytes());
        for cc in &self.list {
            v.extend_from_slice(&cc.to_be_bytes());
        }
        v
    }

    pub fn decode(v: &[u8]) -> Option<CommandAudit> {
        let (alg, rest) = v.split_at_checked(2)?;
        let alg = HashAlg::from_alg_id(u16::from_be_bytes(alg.try_into().ok()?))?;
        let (counter, rest) = rest.split_at_checked(8)?;
        let counter = u64::from_be_bytes(counter.try_into().ok()?);
        if rest.len() % 4 != 0 {
            return None;
        }
        let list: Vec<u32> = rest
            .chunks_exact(4)
            .filter_map(|c| c.try_into().ok().map(u32::from_be_bytes))
            .collect();
        if !list.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
            return None;
        }
        Some(CommandAudit { alg, counter, list })
    }
}

/// What a command contributes to audit digests: its code, the Names of its
/// handles and its parameters, and the response parameters.
pub(crate) struct AuditRecord<'a> {
    pub cc: u32,
    pub names: &'a [u8],
    pub command_params: &'a [u8],
    pub response_params: &'a [u8],
}

impl AuditRecord<'_> {
    /// H(digest || cpHash || rpHash) with `alg`; an empty digest starts from zeros.
    pub fn extend(&self, alg: HashAlg, digest: &mut Vec<u8>) {
        let cc = self.cc.to_be_bytes();
        let cp = alg.digest(&[&cc, self.names, self.command_params]);
        let rp = alg.digest(&[&0u32.to_be_bytes(), &cc, self.response_params]);
        if digest.len() != alg.digest_size() {
            *digest = alloc::vec![0; alg.digest_size()];
        }
        *digest = alg
            .digest(&[digest.as_slice(), cp.as_bytes(), rp.as_bytes()])
            .as_bytes()
            .to_vec();
    }
}

impl Engine {
    /// Command audit after a successful command in the audit list: the first
    /// audited command after the digest was cleared increments the counter.
    pub(crate) fn audit_command(&mut self, record: &AuditRecord<'_>) {
        if !self.perm.audit.is_audited(record.cc) {
            return;
        }
        if self.gr.command_audit_digest.is_empty() {
            self.perm.audit.counter = self.perm.audit.counter.wrapping_add(1);
            self.nv_dirty = true;
        }
        let alg = self.perm.audit.alg;
        record.extend(alg, &mut self.gr.command_audit_digest);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn list_stays_sorted_and_keeps_its_own_command() {
        let mut a = CommandAudit::default();
        assert!(a.set(0x17B));
        assert!(a.set(0x146));
        assert!(!a.set(0x17B));
        assert!(!a.set(0x1FFF), "unimplemented codes are ignored");
        assert_eq!(a.list, [0x140, 0x146, 0x17B]);
        assert!(!a.clear(CC_SET_COMMAND_CODE_AUDIT_STATUS));
        assert!(a.clear(0x146));
        assert_eq!(CommandAudit::decode(&a.encode()), Some(a));
        assert_eq!(CommandAudit::decode(&[0, 0x0B, 0, 0, 0]), None);
    }

    #[test]
    fn extend_follows_the_formula() {
        let r = AuditRecord {
            cc: 0x17B,
            names: &[],
            command_params: &[0, 8],
            response_params: &[0, 1, 0xAA],
        };
        let mut d = Vec::new();
        r.extend(HashAlg::Sha256, &mut d);
        let cp = HashAlg::Sha256.digest(&[&[0, 0, 1, 0x7B, 0, 8]]);
        let rp = HashAlg::Sha256.digest(&[&[0, 0, 0, 0, 0, 0, 1, 0x7B, 0, 1, 0xAA]]);
        let want = HashAlg::Sha256.digest(&[&[0; 32], cp.as_bytes(), rp.as_bytes()]);
        assert_eq!(d, want.as_bytes());
    }
}
