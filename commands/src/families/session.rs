//! Session commands (Part 3, section 11).

use tpm2_protocol::basic::TpmUint16;
use vtpm_crypto::HashAlg;

use crate::consts::{HT_HMAC_SESSION, HT_POLICY_SESSION, MAX_DIGEST_SIZE, RH_NULL};

use crate::object::public::DECRYPT;
use crate::object::share::secret_decrypt;
use crate::pipeline::{Ctx, trim_trailing_zeros};
use crate::rc::{Rc, ValueKind};
use crate::session::{MAX_LOADED_SESSIONS, SE_HMAC, SE_POLICY, SE_TRIAL, Session, SymDef};

const ALG_XOR: u16 = 0x000A;
const ALG_AES: u16 = 0x0006;
const ALG_NULL: u16 = 0x0010;
const ALG_CFB: u16 = 0x0043;

/// Reads TPMT_SYM_DEF (parameter 4 of StartAuthSession).
fn read_symmetric(ctx: &mut Ctx<'_>) -> Result<SymDef, Rc> {
    let alg = ctx
        .params
        .read_as::<TpmUint16>(ValueKind::Symmetric)?
        .value();
    let n = ctx.params.index();
    match alg {
        ALG_NULL => Ok(SymDef::Null),
        ALG_XOR => {
            let hash = ctx.params.read_as::<TpmUint16>(ValueKind::Hash)?.value();
            HashAlg::from_alg_id(hash)
                .map(SymDef::Xor)
                .ok_or(Rc::HASH.param(n))
        }
        ALG_AES => {
            let key_bits = ctx.params.read::<TpmUint16>()?.value();
            let mode = ctx.params.read_as::<TpmUint16>(ValueKind::Mode)?.value();
            if !matches!(key_bits, 128 | 192 | 256) {
                return Err(Rc::KEY_SIZE.param(n));
            }
            // Parameter encryption uses CFB only (Part 1, 21.3).
            if mode != ALG_CFB {
                return Err(Rc::MODE.param(n));
            }
            Ok(SymDef::AesCfb { key_bits })
        }
        _ => Err(Rc::SYMMETRIC.param(n)),
    }
}

/// The salt of a salted session (Part 1, 24.x "Secret sharing"): RSA-OAEP with
/// label "SECRET", or ECDH + KDFe("SECRET") with the caller's ephemeral point.
fn decrypt_salt(
    ctx: &mut Ctx<'_>,
    tpm_key: u32,
    encrypted: &[u8],
) -> Result<zeroize::Zeroizing<alloc::vec::Vec<u8>>, Rc> {
    let engine = &mut *ctx.engine;
    let key = engine.object_or_err(tpm_key)?.clone();
    if key.sensitive.is_none() {
        return Err(Rc::HANDLE.handle(1));
    }
    if !key.public.has(DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    if encrypted.is_empty() {
        return Err(Rc::VALUE.param(2));
    }
    let mut rng = engine.fresh_drbg(ctx.platform)?;
    secret_decrypt(&key, b"SECRET", encrypted, &mut rng).map_err(|rc| match rc {
        Rc::SCHEME | Rc::KEY => rc.handle(1),
        Rc::TYPE => Rc::KEY.handle(1),
        // StartAuthSession reports every other failure to recover the salt
        // as a bad encryptedSalt (Part 3, 11.1).
        _ => Rc::VALUE.param(2),
    })
}

/// TPM2_StartAuthSession (Part 3, 11.1): a new HMAC, policy or trial session,
/// bound (the bind entity's authValue keys it) and/or salted (a secret sent
/// encrypted to `tpmKey`).
pub fn start_auth_session(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let [tpm_key, bind, _] = ctx.handles;
    let nonce_caller = ctx.params.read_2b(MAX_DIGEST_SIZE)?.to_vec();
    let encrypted_salt = ctx.params.read_2b(512)?.to_vec();
    let session_type = ctx.params.read::<tpm2_protocol::basic::TpmUint8>()?.value();
    let symmetric = read_symmetric(ctx)?;
    let auth_hash_id = ctx.params.read_as::<TpmUint16>(ValueKind::Hash)?.value();
    ctx.params.finish()?;
    if nonce_caller.len() < 16 {
        return Err(Rc::SIZE.param(1));
    }
    if tpm_key == RH_NULL && !encrypted_salt.is_empty() {
        return Err(Rc::VALUE.param(2));
    }
    if !matches!(session_type, SE_HMAC | SE_POLICY | SE_TRIAL) {
        return Err(Rc::VALUE.param(3));
    }
    let auth_hash = HashAlg::from_alg_id(auth_hash_id).ok_or(Rc::HASH.param(5))?;
    if ctx.engine.sessions.len() >= MAX_LOADED_SESSIONS {
        return Err(Rc::SESSION_MEMORY);
    }
    let salt = if tpm_key == RH_NULL {
        zeroize::Zeroizing::new(alloc::vec::Vec::new())
    } else {
        decrypt_salt(ctx, tpm_key, &encrypted_salt)?
    };
    let engine = &mut *ctx.engine;
    if engine.sessions.len() + engine.saved_sessions.len() >= crate::session::MAX_ACTIVE_SESSIONS {
        return Err(Rc::SESSION_HANDLES);
    }
    let bind_handle = (bind != RH_NULL).then_some(bind);
    let bind_auth = match bind_handle {
        Some(h) => engine.entity_auth_value(h)?,
        None => alloc::vec::Vec::new(),
    };
    // nonceTPM is as long as nonceCaller (Part 3, 11.1).
    let mut nonce_tpm = alloc::vec![0u8; nonce_caller.len()];
    engine.random(ctx.platform, &mut nonce_tpm)?;
    let session_key = Session::derive_key(
        auth_hash,
        bind_handle.is_some() || tpm_key != RH_NULL,
        trim_trailing_zeros(&bind_auth),
        &salt,
        &nonce_tpm,
        &nonce_caller,
    );
    let ht = if session_type == SE_HMAC {
        HT_HMAC_SESSION
    } else {
        HT_POLICY_SESSION
    };
    let handle = free_handle(engine, ht);
    // Relative policy expirations count from here (Part 3, 23.3).
    let start_time = engine.tpm_time(ctx.platform.monotonic_ms());
    let epoch = engine.time_epoch();
    ctx.out.tpm2b(&nonce_tpm);
    engine.sessions.push(Session {
        handle,
        kind: session_type,
        auth_hash,
        session_key,
        nonce_tpm,
        nonce_caller,
        bind: bind_handle.map(|h| {
            crate::session::BindEntity::new(engine.entity_name(h), trim_trailing_zeros(&bind_auth))
        }),
        symmetric,
        policy: crate::session::PolicyState::started(auth_hash, start_time, epoch),
        audit_digest: None,
    });
    ctx.response_handle = Some(handle);
    Ok(())
}

/// The lowest session handle of type `ht` not in use.
fn free_handle(engine: &crate::engine::Engine, ht: u8) -> u32 {
    let base = u32::from(ht) << 24;
    (0..)
        .map(|i| base | i)
        .find(|h| {
            !engine
                .sessions
                .iter()
                .map(|s| s.handle)
                .chain(engine.saved_sessions.iter().map(|s| s.0))
                .any(|s| s & 0x00FF_FFFF == h & 0x00FF_FFFF)
        })
        .unwrap_or(base)
}
