//! Tickets (Part 2, 10.7; Part 1, "Tickets"): an HMAC under a hierarchy's proof
//! by which the TPM later trusts something it checked once — a signature
//! (TPMT_TK_VERIFIED), a digest of data it hashed (TPMT_TK_HASHCHECK), an
//! authorization (TPMT_TK_AUTH) or an object's creation data (TPMT_TK_CREATION).
//!
//! Every kind is HMAC(proof(hierarchy), tag || kind-specific fields) with the
//! context integrity hash; the callers know the fields (Part 3 names them per
//! command) and whether the command returns a NULL ticket instead.
// Shared by the object, signature and policy families as they land.
#![allow(dead_code)]

use alloc::vec::Vec;
use vtpm_crypto::{HashAlg, ct_eq, hmac};

use crate::consts::RH_NULL;
use crate::engine::Engine;
use crate::object::public::Reader;
use crate::rc::Rc;

pub const ST_CREATION: u16 = 0x8021;
pub const ST_VERIFIED: u16 = 0x8022;
pub const ST_AUTH_SECRET: u16 = 0x8023;
pub const ST_HASHCHECK: u16 = 0x8024;
pub const ST_AUTH_SIGNED: u16 = 0x8025;

/// The hash of ticket HMACs (the context integrity hash, TPM_PT_CONTEXT_HASH).
const TICKET_HASH: HashAlg = HashAlg::Sha256;

/// A ticket as it travels: TPMT_TK_* = tag, hierarchy, TPM2B_DIGEST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub tag: u16,
    pub hierarchy: u32,
    pub digest: Vec<u8>,
}

impl Ticket {
    /// A NULL ticket (Part 2, 10.7): the tag, TPM_RH_NULL and an empty digest.
    pub fn null(tag: u16) -> Ticket {
        Ticket {
            tag,
            hierarchy: RH_NULL,
            digest: Vec::new(),
        }
    }

    /// Whether this is a NULL ticket (hierarchy TPM_RH_NULL, empty digest).
    pub fn is_null(&self) -> bool {
        self.hierarchy == RH_NULL && self.digest.is_empty()
    }

    /// TPMT_TK_* on the wire.
    pub fn marshal(&self, out: &mut crate::codec::Out) {
        out.u16(self.tag).u32(self.hierarchy).tpm2b(&self.digest);
    }

    /// TPMT_TK_* as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = crate::codec::Out::new();
        self.marshal(&mut out);
        out.into_vec()
    }

    /// Reads a TPMT_TK_* whose tag must be `tag` (TPM_RC_TAG otherwise) from a
    /// structure reader; the hierarchy must be one of the four hierarchies.
    pub fn parse(r: &mut Reader<'_>, tag: u16) -> Result<Ticket, Rc> {
        if r.u16()? != tag {
            return Err(Rc::TAG);
        }
        let hierarchy = r.u32()?;
        if !matches!(
            hierarchy,
            crate::consts::RH_OWNER
                | crate::consts::RH_ENDORSEMENT
                | crate::consts::RH_PLATFORM
                | RH_NULL
        ) {
            return Err(Rc::VALUE);
        }
        let digest = r.tpm2b(crate::consts::MAX_DIGEST_SIZE)?.to_vec();
        Ok(Ticket {
            tag,
            hierarchy,
            digest,
        })
    }
}

impl Engine {
    /// A ticket of kind `tag` in `hierarchy` over `fields` (what follows the tag
    /// in the HMAC, in Part 3's order).
    pub(crate) fn make_ticket(&self, tag: u16, hierarchy: u32, fields: &[&[u8]]) -> Ticket {
        Ticket {
            tag,
            hierarchy,
            digest: self.ticket_hmac(tag, hierarchy, fields),
        }
    }

    /// Whether `ticket` is the one this TPM would make over `fields` now
    /// (constant-time; a changed proof invalidates old tickets).
    pub(crate) fn ticket_valid(&self, ticket: &Ticket, fields: &[&[u8]]) -> bool {
        let expected = self.ticket_hmac(ticket.tag, ticket.hierarchy, fields);
        ct_eq(&expected, &ticket.digest)
    }

    fn ticket_hmac(&self, tag: u16, hierarchy: u32, fields: &[&[u8]]) -> Vec<u8> {
        let tag = tag.to_be_bytes();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(fields.len() + 1);
        parts.push(&tag);
        parts.extend_from_slice(fields);
        hmac(TICKET_HASH, self.proof(hierarchy), &parts)
            .as_bytes()
            .to_vec()
    }
}
