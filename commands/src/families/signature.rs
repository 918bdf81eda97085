//! Signing and hashing commands (Part 3, sections 15.4, 19.2 and 20): Hash,
//! Commit, VerifySignature, Sign.

use alloc::vec::Vec;
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

/// TPM2B_SENSITIVE_DATA (MAX_SYM_DATA).
const MAX_SENSITIVE_DATA: usize = 128;

/// TPM2_Commit (Part 3, 19.2): the TPM's first phase of an anonymous (ECDAA)
/// signature with the ECC key signHandle, whose scheme must be ECDAA. With a
/// commit random `r` for this key (see [`crate::commit`]) and the key's `d`:
/// - with `s2` and `y2`: `P2 = (H_nameAlg(s2) mod p, y2)`, `K = [d]P2` and
///   `L = [r]P2`;
/// - with `P1`: `E = [r]P1`; with neither `P1` nor `P2`: `E = [r]G`;
///
/// points not computed are empty. `counter` names the commitment for the
/// TPM2_Sign that completes the signature.
pub fn commit(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    use crate::families::asym::{put_point, read_point};
    use crate::object::public::Parms;
    // No P1 is the "empty point" (two empty coordinates, size 4): a size of 0
    // does not unmarshal (as in libtpms, and as tpm2-tools send it).
    let p1 = read_point(ctx)?
        .ok_or(Rc::SIZE.param(1))
        .map(|(x, y)| (!x.is_empty() || !y.is_empty()).then_some((x, y)))?;
    let s2 = ctx.params.read_2b(MAX_SENSITIVE_DATA)?.to_vec();
    let y2 = ctx
        .params
        .read_2b(crate::object::public::MAX_ECC_KEY_BYTES)?
        .to_vec();
    ctx.params.finish()?;
    let key = ctx.engine.object_or_err(ctx.handles[0])?.clone();
    let Parms::Ecc { curve, scheme, .. } = &key.public.parms else {
        return Err(Rc::KEY.handle(1));
    };
    let curve = *curve;
    if scheme.scheme != alg::ECDAA {
        return Err(Rc::SCHEME.handle(1));
    }
    if s2.is_empty() != y2.is_empty() {
        return Err(Rc::SIZE.param(3));
    }
    let r = ctx
        .engine
        .commit_random(ctx.platform, curve, &key.name, None)?
        .ok_or(Rc::NO_RESULT)?;
    let p2 = if s2.is_empty() {
        None
    } else {
        let name_alg = key.public.name_alg.ok_or(Rc::HASH.handle(1))?;
        let h = name_alg.digest(&[&s2]);
        let x2 = vtpm_crypto::ecc_reduce(vtpm_crypto::ecc_prime(curve), h.as_bytes())
            .ok_or(Rc::NO_RESULT)?;
        if !vtpm_crypto::ecc_point_valid(curve, &x2, &y2) {
            return Err(Rc::ECC_POINT.param(2));
        }
        Some((x2, y2))
    };
    if let Some((x, y)) = &p1
        && !vtpm_crypto::ecc_point_valid(curve, x, y)
    {
        return Err(Rc::ECC_POINT.param(1));
    }
    let empty = || {
        (
            zeroize::Zeroizing::new(Vec::new()),
            zeroize::Zeroizing::new(Vec::new()),
        )
    };
    let (k, l) = match &p2 {
        Some((x2, y2)) => {
            let d = key.sensitive.as_ref().ok_or(Rc::KEY.handle(1))?;
            let p = Some((x2.as_slice(), y2.as_slice()));
            let k =
                vtpm_crypto::ecc_mul(curve, d.secret.as_bytes(), p).map_err(|_| Rc::NO_RESULT)?;
            let l = vtpm_crypto::ecc_mul(curve, &r, p).map_err(|_| Rc::NO_RESULT)?;
            (k, l)
        }
        None => (empty(), empty()),
    };
    let e = if p1.is_some() || p2.is_none() {
        let base = p1.as_ref().map(|(x, y)| (x.as_slice(), y.as_slice()));
        vtpm_crypto::ecc_mul(curve, &r, base).map_err(|_| Rc::NO_RESULT)?
    } else {
        empty()
    };
    let counter = ctx.engine.commit();
    put_point(ctx, &k.0, &k.1);
    put_point(ctx, &l.0, &l.1);
    put_point(ctx, &e.0, &e.1);
    ctx.out.u16(counter);
    Ok(())
}
