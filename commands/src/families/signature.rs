//! Signing and hashing commands (Part 3, sections 15.4 and 20): Hash,
//! VerifySignature, Sign.

use tpm2_protocol::basic::{TpmUint16, TpmUint32};
use vtpm_crypto::HashAlg;

use crate::consts::{MAX_DIGEST_SIZE, RH_ENDORSEMENT, RH_NULL, RH_OWNER, RH_PLATFORM};
use crate::object::public::{RESTRICTED, SIGN};
use crate::object::{Object, alg};
use crate::pipeline::Ctx;
use crate::rc::{Rc, ValueKind};
use crate::signature::{SigScheme, Signature, select_sign_scheme};
use crate::ticket::{ST_HASHCHECK, ST_VERIFIED, Ticket};

/// TPM2B_MAX_BUFFER (MAX_DIGEST_BUFFER).
const MAX_BUFFER: usize = 1024;
/// TPM_GENERATED_VALUE: data that starts with it gets no hashcheck ticket, so
/// that a restricted key never signs something that looks TPM-made.
const TPM_GENERATED_VALUE: [u8; 4] = 0xff54_4347u32.to_be_bytes();
/// TPMA_OBJECT.x509sign (Part 2, 8.3): such a key signs only certificates.
const X509_SIGN: u32 = 1 << 19;

/// TPMI_RH_HIERARCHY+ (TPM_RC_VALUE otherwise).
fn read_hierarchy(ctx: &mut Ctx<'_>) -> Result<u32, Rc> {
    let h = ctx.params.read::<TpmUint32>()?.value();
    if matches!(h, RH_OWNER | RH_ENDORSEMENT | RH_PLATFORM | RH_NULL) {
        Ok(h)
    } else {
        Err(Rc::VALUE.param(ctx.params.index()))
    }
}

/// TPMI_ALG_HASH (TPM_RC_HASH otherwise).
fn read_hash(ctx: &mut Ctx<'_>) -> Result<HashAlg, Rc> {
    let id = ctx.params.read_as::<TpmUint16>(ValueKind::Hash)?.value();
    HashAlg::from_alg_id(id).ok_or(Rc::HASH.param(ctx.params.index()))
}

/// TPM2_Hash (Part 3, 15.4): the digest of `data`, with a TPMT_TK_HASHCHECK
/// = HMAC(proof, TPM_ST_HASHCHECK || outHash) that lets a restricted key
/// sign it; a NULL ticket for the NULL hierarchy and for data that starts
/// with TPM_GENERATED_VALUE.
pub fn hash(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let data = ctx.params.read_2b(MAX_BUFFER)?;
    let alg = read_hash(ctx)?;
    let hierarchy = read_hierarchy(ctx)?;
    ctx.params.finish()?;
    let digest = alg.digest(&[data]);
    let generated = data.starts_with(&TPM_GENERATED_VALUE);
    let ticket = if hierarchy == RH_NULL || generated {
        Ticket::null(ST_HASHCHECK)
    } else {
        ctx.engine
            .make_ticket(ST_HASHCHECK, hierarchy, &[digest.as_bytes()])
    };
    ctx.out.tpm2b(digest.as_bytes());
    ticket.marshal(&mut ctx.out);
    Ok(())
}

/// TPM2_VerifySignature (Part 3, 20.1): checks a signature with a loaded
/// key and returns a TPMT_TK_VERIFIED = HMAC(proof, TPM_ST_VERIFIED ||
/// digest || keyName) of the key's hierarchy (a NULL ticket for the NULL
/// hierarchy or a key without a nameAlg).
pub fn verify_signature(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let digest = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let signature = ctx.params.read_struct(|r| Signature::parse(r, false))?;
    ctx.params.finish()?;
    let key = ctx.engine.object_or_err(ctx.handles[0])?;
    if !key.public.has(SIGN) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    ctx.engine
        .verify_signature(key, digest, &signature)
        .map_err(|rc| rc.param(2))?;
    let ticket = if key.hierarchy == RH_NULL || key.public.name_alg.is_none() {
        Ticket::null(ST_VERIFIED)
    } else {
        ctx.engine
            .make_ticket(ST_VERIFIED, key.hierarchy, &[digest, &key.name])
    };
    ticket.marshal(&mut ctx.out);
    Ok(())
}

/// A key that may sign: the sign attribute, and not a symmetric cipher.
fn is_signing_object(key: &Object) -> bool {
    key.public.has(SIGN) && key.public.object_type != alg::SYMCIPHER
}

/// TPM2_Sign (Part 3, 20.2): signs a digest. A restricted key signs only a
/// digest the TPM made itself, proven by a TPMT_TK_HASHCHECK from
/// TPM2_Hash or a hash sequence (a NULL ticket is refused); an
/// unrestricted key takes a ticket too, or else a digest of the scheme
/// hash's size.
pub fn sign(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let digest = ctx.params.read_2b(MAX_DIGEST_SIZE)?.to_vec();
    let requested = ctx.params.read_struct(|r| SigScheme::parse(r, true))?;
    let validation = ctx.params.read_struct(|r| Ticket::parse(r, ST_HASHCHECK))?;
    ctx.params.finish()?;
    let key = ctx.engine.object_or_err(ctx.handles[0])?;
    if !is_signing_object(key) {
        return Err(Rc::KEY.handle(1));
    }
    if key.public.has(X509_SIGN) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let scheme = select_sign_scheme(key, requested).map_err(|rc| rc.param(2))?;
    if !validation.digest.is_empty() || key.public.has(RESTRICTED) {
        // The ticket's hierarchy proof vouches for the digest; a NULL ticket
        // (empty HMAC) never matches.
        if !ctx.engine.ticket_valid(&validation, &[&digest]) {
            return Err(Rc::TICKET.param(3));
        }
    } else {
        // Without a ticket, at least the size must fit the scheme's hash.
        let size = scheme.hash_alg().map_or(0, |h| h.digest_size());
        if digest.len() != size {
            return Err(Rc::SIZE.param(1));
        }
    }
    let key = key.clone();
    let signature = ctx
        .engine
        .sign_digest(ctx.platform, &key, &scheme, &digest)?;
    signature.marshal(&mut ctx.out);
    Ok(())
}
