//! Symmetric encryption (Part 3, 15.2 and 15.3): EncryptDecrypt and
//! EncryptDecrypt2 with AES keys in CFB, CBC, CTR, OFB or ECB.

use tpm2_protocol::basic::{TpmUint8, TpmUint16};
use vtpm_crypto::{AES_BLOCK, SymError, SymMode};
use zeroize::Zeroizing;

use crate::object::alg;
use crate::object::public::{DECRYPT, Parms, RESTRICTED, SIGN};
use crate::pipeline::Ctx;
use crate::rc::{Rc, ValueKind};

/// TPM2B_MAX_BUFFER.
const MAX_BUFFER: usize = 1024;

/// Parameter numbers of mode, ivIn and inData in each command.
struct Positions {
    mode: usize,
    iv: usize,
    data: usize,
}

const ENCRYPT_DECRYPT: Positions = Positions {
    mode: 2,
    iv: 3,
    data: 4,
};
const ENCRYPT_DECRYPT2: Positions = Positions {
    data: 1,
    mode: 3,
    iv: 4,
};

fn sym_mode(id: u16) -> Option<SymMode> {
    Some(match id {
        alg::CFB => SymMode::Cfb,
        alg::CBC => SymMode::Cbc,
        alg::CTR => SymMode::Ctr,
        alg::OFB => SymMode::Ofb,
        alg::ECB => SymMode::Ecb,
        _ => return None,
    })
}

/// TPMI_YES_NO (TPM_RC_VALUE otherwise).
fn read_yes_no(ctx: &mut Ctx<'_>) -> Result<bool, Rc> {
    match ctx.params.read::<TpmUint8>()?.value() {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Rc::VALUE.param(ctx.params.index())),
    }
}

/// TPMI_ALG_CIPHER_MODE+ (TPM_RC_MODE otherwise).
fn read_mode(ctx: &mut Ctx<'_>) -> Result<u16, Rc> {
    let m = ctx.params.read_as::<TpmUint16>(ValueKind::Mode)?.value();
    if m == alg::NULL || sym_mode(m).is_some() {
        Ok(m)
    } else {
        Err(Rc::MODE.param(ctx.params.index()))
    }
}

/// EncryptDecryptShared: the key checks, the mode choice (the key's own
/// mode wins; the command's must then be NULL or the same, and a key
/// without one needs the command's), the IV size (one block, none for ECB)
/// and whole blocks for CBC/ECB; then the operation with ivOut.
fn run(
    ctx: &mut Ctx<'_>,
    pos: &Positions,
    decrypt: bool,
    mode_in: u16,
    iv_in: &[u8],
    data: &[u8],
) -> Result<(), Rc> {
    let key = ctx.engine.object_or_err(ctx.handles[0])?;
    let Parms::SymCipher { sym } = &key.public.parms else {
        return Err(Rc::KEY.handle(1));
    };
    // For a symmetric key, `sign` is what allows encryption.
    let allowed = if decrypt { DECRYPT } else { SIGN };
    if key.public.has(RESTRICTED) || !key.public.has(allowed) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let key_mode = sym.mode;
    let mode_id = if key_mode != alg::NULL {
        if mode_in != alg::NULL && mode_in != key_mode {
            return Err(Rc::MODE.param(pos.mode));
        }
        key_mode
    } else if mode_in == alg::NULL {
        return Err(Rc::MODE.param(pos.mode));
    } else {
        mode_in
    };
    let mode = sym_mode(mode_id).ok_or(Rc::MODE.handle(1))?;
    let iv_ok = if mode == SymMode::Ecb {
        iv_in.is_empty()
    } else {
        iv_in.len() == AES_BLOCK
    };
    if !iv_ok {
        return Err(Rc::SIZE.param(pos.iv));
    }
    if matches!(mode, SymMode::Cbc | SymMode::Ecb) && !data.len().is_multiple_of(AES_BLOCK) {
        return Err(Rc::SIZE.param(pos.data));
    }
    let secret = key.sensitive.as_ref().ok_or(Rc::KEY.handle(1))?;
    let mut out = Zeroizing::new(data.to_vec());
    let mut iv = iv_in.to_vec();
    vtpm_crypto::aes_crypt(mode, decrypt, secret.secret.as_bytes(), &mut iv, &mut out).map_err(
        |e| match e {
            SymError::Key => Rc::KEY.handle(1),
            SymError::Iv => Rc::SIZE.param(pos.iv),
            SymError::Length => Rc::SIZE.param(pos.data),
        },
    )?;
    ctx.out.tpm2b(&out);
    ctx.out.tpm2b(&iv);
    Ok(())
}

/// TPM2_EncryptDecrypt (Part 3, 15.2): decrypt, mode, ivIn, inData.
pub fn encrypt_decrypt(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let decrypt = read_yes_no(ctx)?;
    let mode = read_mode(ctx)?;
    let iv = ctx.params.read_2b(AES_BLOCK)?.to_vec();
    let data = Zeroizing::new(ctx.params.read_2b(MAX_BUFFER)?.to_vec());
    ctx.params.finish()?;
    run(ctx, &ENCRYPT_DECRYPT, decrypt, mode, &iv, &data)
}

/// TPM2_EncryptDecrypt2 (Part 3, 15.3): the same with inData first, so that
/// it can travel encrypted in a session.
pub fn encrypt_decrypt2(ctx: &mut Ctx<'_>) -> Result<(), Rc> {
    let data = Zeroizing::new(ctx.params.read_2b(MAX_BUFFER)?.to_vec());
    let decrypt = read_yes_no(ctx)?;
    let mode = read_mode(ctx)?;
    let iv = ctx.params.read_2b(AES_BLOCK)?.to_vec();
    ctx.params.finish()?;
    run(ctx, &ENCRYPT_DECRYPT2, decrypt, mode, &iv, &data)
}
