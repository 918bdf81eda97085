//! TPM_RC response codes (Part 2, section 6.6) and their format-one decorations.
//!
//! Format-one codes (`RC_FMT1` set) may carry the number of the handle, session or
//! parameter that caused the error; [`Rc::param`], [`Rc::handle`] and [`Rc::session`]
//! add that number exactly as Part 2, table 16 lays it out.

/// A TPM_RC value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rc(pub u32);

const RC_VER1: u32 = 0x100;
const RC_FMT1: u32 = 0x080;
const RC_WARN: u32 = 0x900;
const RC_P: u32 = 0x040;
const RC_S: u32 = 0x800;

impl Rc {
    pub const SUCCESS: Rc = Rc(0);
    /// TPM 1.2 tag on a TPM 2.0 command (the only 1.2 code a TPM 2.0 returns).
    pub const BAD_TAG: Rc = Rc(0x01E);

    // Format zero, version 1 errors.
    pub const INITIALIZE: Rc = Rc(RC_VER1);
    pub const FAILURE: Rc = Rc(RC_VER1 + 0x001);
    pub const SEQUENCE: Rc = Rc(RC_VER1 + 0x003);
    pub const PRIVATE: Rc = Rc(RC_VER1 + 0x00B);
    pub const HMAC: Rc = Rc(RC_VER1 + 0x019);
    pub const DISABLED: Rc = Rc(RC_VER1 + 0x020);
    pub const EXCLUSIVE: Rc = Rc(RC_VER1 + 0x021);
    pub const AUTH_TYPE: Rc = Rc(RC_VER1 + 0x024);
    pub const AUTH_MISSING: Rc = Rc(RC_VER1 + 0x025);
    pub const POLICY: Rc = Rc(RC_VER1 + 0x026);
    pub const PCR: Rc = Rc(RC_VER1 + 0x027);
    pub const PCR_CHANGED: Rc = Rc(RC_VER1 + 0x028);
    pub const UPGRADE: Rc = Rc(RC_VER1 + 0x02D);
    pub const TOO_MANY_CONTEXTS: Rc = Rc(RC_VER1 + 0x02E);
    pub const AUTH_UNAVAILABLE: Rc = Rc(RC_VER1 + 0x02F);
    pub const REBOOT: Rc = Rc(RC_VER1 + 0x030);
    pub const UNBALANCED: Rc = Rc(RC_VER1 + 0x031);
    pub const COMMAND_SIZE: Rc = Rc(RC_VER1 + 0x042);
    pub const COMMAND_CODE: Rc = Rc(RC_VER1 + 0x043);
    pub const AUTHSIZE: Rc = Rc(RC_VER1 + 0x044);
    pub const AUTH_CONTEXT: Rc = Rc(RC_VER1 + 0x045);
    pub const NV_RANGE: Rc = Rc(RC_VER1 + 0x046);
    pub const NV_SIZE: Rc = Rc(RC_VER1 + 0x047);
    pub const NV_LOCKED: Rc = Rc(RC_VER1 + 0x048);
    pub const NV_AUTHORIZATION: Rc = Rc(RC_VER1 + 0x049);
    pub const NV_UNINITIALIZED: Rc = Rc(RC_VER1 + 0x04A);
    pub const NV_SPACE: Rc = Rc(RC_VER1 + 0x04B);
    pub const NV_DEFINED: Rc = Rc(RC_VER1 + 0x04C);
    pub const BAD_CONTEXT: Rc = Rc(RC_VER1 + 0x050);
    pub const CPHASH: Rc = Rc(RC_VER1 + 0x051);
    pub const PARENT: Rc = Rc(RC_VER1 + 0x052);
    pub const NEEDS_TEST: Rc = Rc(RC_VER1 + 0x053);
    pub const NO_RESULT: Rc = Rc(RC_VER1 + 0x054);
    pub const SENSITIVE: Rc = Rc(RC_VER1 + 0x055);

    // Format one errors (may carry a handle, session or parameter number).
    pub const ASYMMETRIC: Rc = Rc(RC_FMT1 + 0x001);
    pub const ATTRIBUTES: Rc = Rc(RC_FMT1 + 0x002);
    pub const HASH: Rc = Rc(RC_FMT1 + 0x003);
    pub const VALUE: Rc = Rc(RC_FMT1 + 0x004);
    pub const HIERARCHY: Rc = Rc(RC_FMT1 + 0x005);
    pub const KEY_SIZE: Rc = Rc(RC_FMT1 + 0x007);
    pub const MGF: Rc = Rc(RC_FMT1 + 0x008);
    pub const MODE: Rc = Rc(RC_FMT1 + 0x009);
    pub const TYPE: Rc = Rc(RC_FMT1 + 0x00A);
    pub const HANDLE: Rc = Rc(RC_FMT1 + 0x00B);
    pub const KDF: Rc = Rc(RC_FMT1 + 0x00C);
    pub const RANGE: Rc = Rc(RC_FMT1 + 0x00D);
    pub const AUTH_FAIL: Rc = Rc(RC_FMT1 + 0x00E);
    pub const NONCE: Rc = Rc(RC_FMT1 + 0x00F);
    pub const PP: Rc = Rc(RC_FMT1 + 0x010);
    pub const SCHEME: Rc = Rc(RC_FMT1 + 0x012);
    pub const SIZE: Rc = Rc(RC_FMT1 + 0x015);
    pub const SYMMETRIC: Rc = Rc(RC_FMT1 + 0x016);
    pub const TAG: Rc = Rc(RC_FMT1 + 0x017);
    pub const SELECTOR: Rc = Rc(RC_FMT1 + 0x018);
    pub const INSUFFICIENT: Rc = Rc(RC_FMT1 + 0x01A);
    pub const SIGNATURE: Rc = Rc(RC_FMT1 + 0x01B);
    pub const KEY: Rc = Rc(RC_FMT1 + 0x01C);
    pub const POLICY_FAIL: Rc = Rc(RC_FMT1 + 0x01D);
    pub const INTEGRITY: Rc = Rc(RC_FMT1 + 0x01F);
    pub const TICKET: Rc = Rc(RC_FMT1 + 0x020);
    pub const RESERVED_BITS: Rc = Rc(RC_FMT1 + 0x021);
    pub const BAD_AUTH: Rc = Rc(RC_FMT1 + 0x022);
    pub const EXPIRED: Rc = Rc(RC_FMT1 + 0x023);
    pub const POLICY_CC: Rc = Rc(RC_FMT1 + 0x024);
    pub const BINDING: Rc = Rc(RC_FMT1 + 0x025);
    pub const CURVE: Rc = Rc(RC_FMT1 + 0x026);
    pub const ECC_POINT: Rc = Rc(RC_FMT1 + 0x027);

    // Warnings.
    pub const CONTEXT_GAP: Rc = Rc(RC_WARN + 0x001);
    pub const OBJECT_MEMORY: Rc = Rc(RC_WARN + 0x002);
    pub const SESSION_MEMORY: Rc = Rc(RC_WARN + 0x003);
    pub const MEMORY: Rc = Rc(RC_WARN + 0x004);
    pub const SESSION_HANDLES: Rc = Rc(RC_WARN + 0x005);
    pub const OBJECT_HANDLES: Rc = Rc(RC_WARN + 0x006);
    pub const LOCALITY: Rc = Rc(RC_WARN + 0x007);
    pub const YIELDED: Rc = Rc(RC_WARN + 0x008);
    pub const CANCELED: Rc = Rc(RC_WARN + 0x009);
    pub const TESTING: Rc = Rc(RC_WARN + 0x00A);
    pub const REFERENCE_H0: Rc = Rc(RC_WARN + 0x010);
    pub const REFERENCE_S0: Rc = Rc(RC_WARN + 0x018);
    pub const NV_RATE: Rc = Rc(RC_WARN + 0x020);
    pub const LOCKOUT: Rc = Rc(RC_WARN + 0x021);
    pub const RETRY: Rc = Rc(RC_WARN + 0x022);
    pub const NV_UNAVAILABLE: Rc = Rc(RC_WARN + 0x023);

    /// True for format-one codes, the only ones that can carry a position.
    pub const fn is_format_one(self) -> bool {
        self.0 & RC_FMT1 != 0
    }

    /// True when a position number is already attached.
    const fn has_position(self) -> bool {
        self.0 & 0xF00 != 0
    }

    /// Attaches parameter number `n` (1-based, 1..=15) to a format-one code.
    pub const fn param(self, n: usize) -> Rc {
        if !self.is_format_one() || self.has_position() || n == 0 || n > 15 {
            return self;
        }
        Rc(self.0 | RC_P | ((n as u32) << 8))
    }

    /// Attaches handle number `n` (1-based, 1..=7) to a format-one code.
    pub const fn handle(self, n: usize) -> Rc {
        if !self.is_format_one() || self.has_position() || n == 0 || n > 7 {
            return self;
        }
        Rc(self.0 | ((n as u32) << 8))
    }

    /// Attaches session number `n` (1-based, 1..=7) to a format-one code.
    pub const fn session(self, n: usize) -> Rc {
        if !self.is_format_one() || self.has_position() || n == 0 || n > 7 {
            return self;
        }
        Rc(self.0 | RC_S | ((n as u32) << 8))
    }
}

/// Maps a codec error to the TPM_RC that the unmarshaling code of the reference
/// engine returns for the same fault, before the position number is attached.
///
/// This is the one place where `tpm2-protocol` errors become response codes.
pub fn from_codec(err: tpm2_protocol::TpmError, kind: ValueKind) -> Rc {
    use tpm2_protocol::TpmError as E;
    match err {
        E::UnexpectedEnd { .. } => Rc::INSUFFICIENT,
        E::TooManyBytes { .. } | E::TooManyItems { .. } | E::TrailingData { .. } => Rc::SIZE,
        E::IntegerTooLarge { .. } | E::BufferOverflow { .. } => Rc::SIZE,
        E::InvalidTag { .. } => Rc::TAG,
        _ => kind.invalid(),
    }
}

/// What kind of value a field holds, which decides the code for an out-of-range value
/// (Part 2: a bad TPMI_ALG_HASH is TPM_RC_HASH, a bad union selector TPM_RC_SELECTOR, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Value,
    Hash,
    Type,
    Selector,
    Symmetric,
    Scheme,
    Mode,
    Kdf,
    Curve,
}

impl ValueKind {
    const fn invalid(self) -> Rc {
        match self {
            ValueKind::Value => Rc::VALUE,
            ValueKind::Hash => Rc::HASH,
            ValueKind::Type => Rc::TYPE,
            ValueKind::Selector => Rc::SELECTOR,
            ValueKind::Symmetric => Rc::SYMMETRIC,
            ValueKind::Scheme => Rc::SCHEME,
            ValueKind::Mode => Rc::MODE,
            ValueKind::Kdf => Rc::KDF,
            ValueKind::Curve => Rc::CURVE,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_part2_table_16() {
        assert_eq!(Rc::VALUE.param(1).0, 0x1C4);
        assert_eq!(Rc::HASH.param(2).0, 0x2C3);
        assert_eq!(Rc::VALUE.handle(1).0, 0x184);
        assert_eq!(Rc::AUTH_FAIL.session(1).0, 0x98E);
        assert_eq!(Rc::BAD_AUTH.session(1).0, 0x9A2);
        // Format-zero codes and warnings never carry a position.
        assert_eq!(Rc::INITIALIZE.param(1), Rc::INITIALIZE);
        assert_eq!(Rc::LOCALITY.handle(1), Rc::LOCALITY);
        // A position is attached once.
        assert_eq!(Rc::VALUE.param(1).param(2).0, 0x1C4);
    }
}
