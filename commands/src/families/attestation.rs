//! Attestation commands (Part 3, section 18): Certify, CertifyCreation, Quote,
//! GetTime and CertifyX509. The first four build the attested part of a TPMS_ATTEST and leaves the
//! common header, the signing and the privacy rules to
//! [`Engine::attest_and_sign`](crate::engine::Engine).

use alloc::vec::Vec;

use crate::attest::{
    MAX_EXTRA_DATA, ST_ATTEST_CERTIFY, ST_ATTEST_CREATION, ST_ATTEST_QUOTE, ST_ATTEST_TIME,
};
use crate::codec::Out;
use crate::consts::{FIRMWARE_VERSION_1, FIRMWARE_VERSION_2, MAX_DIGEST_SIZE};
use crate::families::audit::read_attest_params;
use crate::families::pcr::read_selections;
use crate::pipeline::Ctx;
use crate::rc::Rc;
use crate::signature::{SigScheme, Signature};
use crate::ticket::{ST_CREATION, Ticket};
use crate::x509;

/// Writes the response every attestation command shares: TPM2B_ATTEST and
/// TPMT_SIGNATURE.
fn respond(ctx: &mut Ctx<'_>, attest: &[u8], signature: &Signature) {
    ctx.out.tpm2b(attest);
    signature.marshal(&mut ctx.out);
}

/// TPM2_Certify (Part 3, 18.2): the signer vouches that the object is
/// loaded in this TPM: TPMS_CERTIFY_INFO = its Name and Qualified Name. The
/// object's ADMIN authorization shows its owner consents.
pub fn certify(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [object_handle, sign_handle, _] = ctx.handles;
    let (qualifying_data, scheme) = read_attest_params(ctx)?;
    let engine = &mut *ctx.engine;
    let object = engine
        .object_or_err(object_handle)
        .map_err(|rc| rc.handle(1))?;
    let mut info = Out::new();
    info.tpm2b(&object.name).tpm2b(&object.qualified_name);
    let (attest, signature) = engine.attest_and_sign(
        ctx.platform,
        (sign_handle, 2),
        (scheme, 2),
        qualifying_data,
        ST_ATTEST_CERTIFY,
        &info.into_vec(),
    )?;
    respond(ctx, &attest, &signature);
    Ok(())
}

/// TPM2_CertifyCreation (Part 3, 18.3): the signer vouches that the object
/// was created by this TPM with the creation data whose hash is given, as
/// the creation ticket proves (TPM_RC_TICKET otherwise):
/// TPMS_CREATION_INFO = the object's Name and creationHash.
pub fn certify_creation(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [sign_handle, object_handle, _] = ctx.handles;
    let qualifying_data = ctx.params.read_2b(MAX_EXTRA_DATA)?;
    let creation_hash = ctx.params.read_2b(MAX_DIGEST_SIZE)?;
    let scheme = ctx.params.read_struct(|r| SigScheme::parse(r, true))?;
    let ticket = ctx.params.read_struct(|r| Ticket::parse(r, ST_CREATION))?;
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    // The signer is checked first, as the reference does.
    engine.attest_scheme((sign_handle, 1), (scheme, 3))?;
    let object = engine
        .object_or_err(object_handle)
        .map_err(|rc| rc.handle(2))?;
    // TPMT_TK_CREATION = HMAC(proof, TPM_ST_CREATION || name || creationHash),
    // recomputed under the proof of the hierarchy the ticket names.
    if !engine.ticket_valid(&ticket, &[&object.name, creation_hash]) {
        return Err(Rc::TICKET.param(4));
    }
    let mut info = Out::new();
    info.tpm2b(&object.name).tpm2b(creation_hash);
    let (attest, signature) = engine.attest_and_sign(
        ctx.platform,
        (sign_handle, 1),
        (scheme, 3),
        qualifying_data,
        ST_ATTEST_CREATION,
        &info.into_vec(),
    )?;
    respond(ctx, &attest, &signature);
    Ok(())
}

/// TPM2_Quote (Part 3, 18.4): the signer vouches for the current PCR values.
/// TPMS_QUOTE_INFO = the selection (narrowed to the allocated PCRs) and
/// pcrDigest = H_scheme(the selected values, in selection order), with the
/// signing scheme's hash. TPM_RH_NULL is a valid signHandle, but without a
/// key there is no scheme and so no hash: TPM_RC_SCHEME (as the reference).
pub fn quote(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let sign_handle = ctx.handles[0];
    let qualifying_data = ctx.params.read_2b(MAX_EXTRA_DATA)?;
    let scheme = ctx.params.read_struct(|r| SigScheme::parse(r, true))?;
    let selections = read_selections(ctx)?;
    ctx.params.finish()?;
    let engine = &mut *ctx.engine;
    let selected = engine.attest_scheme((sign_handle, 1), (scheme, 2))?;
    // Without a hash the PCRs cannot be digested.
    let hash = selected.hash_alg().ok_or(Rc::SCHEME.param(2))?;
    let (pcr_select, pcr_digest) = engine.pcr_digest(hash, &selections);
    let mut info = Out::new();
    info.bytes(&pcr_select).tpm2b(pcr_digest.as_bytes());
    let (attest, signature) = engine.attest_and_sign(
        ctx.platform,
        (sign_handle, 1),
        (scheme, 2),
        qualifying_data,
        ST_ATTEST_QUOTE,
        &info.into_vec(),
    )?;
    respond(ctx, &attest, &signature);
    Ok(())
}

/// TPM2_GetTime (Part 3, 18.7): the signer vouches for Time and Clock.
/// TPMS_TIME_ATTEST_INFO carries them, the reset and restart counts and the
/// firmware version in plain text: the privacy administrator (endorsement)
/// authorized revealing them.
pub fn get_time(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let sign_handle = ctx.handles[1];
    let (qualifying_data, scheme) = read_attest_params(ctx)?;
    let engine = &mut *ctx.engine;
    let now = ctx.platform.monotonic_ms();
    let mut info = Out::new();
    info.u64(engine.tpm_time(now))
        .u64(engine.clock_now(now))
        .u32(engine.perm.reset_count)
        .u32(engine.perm.restart_count)
        .u8(u8::from(engine.perm.clock_safe))
        .u64(u64::from(FIRMWARE_VERSION_1) << 32 | u64::from(FIRMWARE_VERSION_2));
    let (attest, signature) = engine.attest_and_sign(
        ctx.platform,
        (sign_handle, 2),
        (scheme, 2),
        qualifying_data,
        ST_ATTEST_TIME,
        &info.into_vec(),
    )?;
    respond(ctx, &attest, &signature);
    Ok(())
}

/// TPM2B_MAX_BUFFER (partialCertificate, addedToCertificate).
const MAX_BUFFER: usize = 1024;
/// The longest serial number the TPM makes (SIZE_OF_X509_SERIAL_NUMBER).
const SERIAL_SIZE: usize = 20;
/// version [0] EXPLICIT INTEGER 2: X.509 v3.
const X509_V3: &[u8] = &[0xA0, 0x03, 0x02, 0x01, 0x02];

/// TPM2_CertifyX509 (Part 3, 18.8): the signer completes and signs an X.509
/// certificate for the object. The caller sends a partial certificate:
/// SEQUENCE { [signature AlgorithmIdentifier], issuer, validity, subject,
/// extensions [3] }; the TPM checks the KeyUsage and TPMA_OBJECT extensions
/// against the object and returns what it adds (SEQUENCE { version,
/// serialNumber, [signature], subjectPublicKeyInfo }), the digest of the
/// whole TBSCertificate and its signature.
///
/// serialNumber = H_signer.nameAlg(signature || issuer || validity ||
/// subject || subjectPublicKeyInfo || extensions || signer's Name ||
/// object's Name), at most 20 octets, so that it is unique per certificate.
pub fn certify_x509(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [object_handle, sign_handle, _] = ctx.handles;
    let reserved = ctx.params.read_2b(MAX_EXTRA_DATA)?;
    let scheme = ctx.params.read_struct(|r| SigScheme::parse(r, true))?;
    let partial = ctx.params.read_2b(MAX_BUFFER)?;
    ctx.params.finish()?;
    if !reserved.is_empty() {
        return Err(Rc::SIZE.param(1));
    }
    let engine = &mut *ctx.engine;
    let scheme = engine.attest_scheme((sign_handle, 2), (scheme, 2))?;
    let key = engine.object_or_err(sign_handle)?.clone();
    let object = engine
        .object_or_err(object_handle)
        .map_err(|rc| rc.handle(1))?;
    let spki = x509::public_key_info(object).ok_or(Rc::ASYMMETRIC.handle(1))?;

    // The partial certificate: one SEQUENCE that is all of the parameter.
    if partial.is_empty() {
        return Err(Rc::VALUE.param(3));
    }
    let mut input = partial;
    let outer = match x509::next_element(&mut input) {
        Some(e) if e.tag == x509::SEQUENCE && input.is_empty() => e,
        _ => return Err(Rc::SIZE.param(3)),
    };
    let mut sequences: Vec<&[u8]> = Vec::new();
    let mut extensions = None;
    let mut rest = outer.contents;
    while !rest.is_empty() {
        let e = x509::next_element(&mut rest).ok_or(Rc::VALUE.param(3))?;
        match e.tag {
            x509::SEQUENCE if sequences.len() < 4 => sequences.push(e.encoded),
            x509::EXTENSIONS if extensions.is_none() => extensions = Some(e.encoded),
            _ => return Err(Rc::VALUE.param(3)),
        }
    }
    let (Some(extensions), [given @ .., issuer, validity, subject]) =
        (extensions, sequences.as_slice())
    else {
        return Err(Rc::VALUE.param(3));
    };
    // Without the caller's signature algorithm the TPM names its own.
    let added_algorithm = match given {
        [] => Some(x509::signing_algorithm(&key, &scheme).ok_or(Rc::SCHEME.handle(2))?),
        _ => None,
    };
    let algorithm: &[u8] = match (given, &added_algorithm) {
        ([alg], _) => alg,
        (_, Some(alg)) => alg,
        _ => return Err(Rc::VALUE.param(3)),
    };
    x509::check_extensions(object, extensions).map_err(|rc| {
        if rc == Rc::ATTRIBUTES {
            rc.handle(1)
        } else {
            rc.param(3)
        }
    })?;

    let name_alg = key.public.name_alg.unwrap_or(vtpm_crypto::HashAlg::Sha256);
    let digest = name_alg.digest(&[
        algorithm,
        issuer,
        validity,
        subject,
        &spki,
        extensions,
        &key.name,
        &object.name,
    ]);
    let serial_bytes = digest.as_bytes();
    let serial = x509::integer(
        serial_bytes
            .get(..SERIAL_SIZE.min(serial_bytes.len()))
            .unwrap_or_default(),
    );
    let added = match &added_algorithm {
        Some(alg) => x509::wrap(x509::SEQUENCE, &[X509_V3, &serial, alg, &spki]),
        None => x509::wrap(x509::SEQUENCE, &[X509_V3, &serial, &spki]),
    };
    let parts: [&[u8]; 8] = [
        X509_V3, &serial, algorithm, issuer, validity, subject, &spki, extensions,
    ];
    let tbs_len = parts.iter().map(|p| p.len()).sum();
    let hash = scheme.hash_alg().ok_or(Rc::SCHEME.param(2))?;
    let mut h = vtpm_crypto::Hasher::new(hash);
    h.update(&x509::sequence_header(tbs_len));
    for p in parts {
        h.update(p);
    }
    let tbs_digest = h.finalize();
    let signature = engine
        .sign_digest(ctx.platform, &key, &scheme, tbs_digest.as_bytes())
        .map_err(|rc| {
            if rc == Rc::SCHEME {
                rc.param(2)
            } else {
                rc.handle(2)
            }
        })?;
    ctx.out.tpm2b(&added).tpm2b(tbs_digest.as_bytes());
    signature.marshal(&mut ctx.out);
    Ok(())
}
