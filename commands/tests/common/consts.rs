//! Constants the raw tests share (Part 2 values).

// TPM_ALG_ID and TPM_ECC_CURVE (Part 2, 6.3, 6.4).
pub const ALG_RSA: u16 = 0x0001;
pub const ECC_NIST_P256: u16 = 0x0003;
pub const ALG_SHA1: u16 = 0x0004;
pub const ALG_HMAC: u16 = 0x0005;
pub const ALG_AES: u16 = 0x0006;
pub const ALG_KEYEDHASH: u16 = 0x0008;
pub const ALG_SHA256: u16 = 0x000B;
pub const ALG_SHA384: u16 = 0x000C;
pub const ALG_NULL: u16 = 0x0010;
pub const ALG_RSASSA: u16 = 0x0014;
pub const ALG_RSAPSS: u16 = 0x0016;
pub const ALG_ECDSA: u16 = 0x0018;
pub const ALG_ECC: u16 = 0x0023;
pub const ALG_SYMCIPHER: u16 = 0x0025;
pub const ALG_CFB: u16 = 0x0043;

// TPM_CC (Part 2, 6.5).
pub const CC_CLEAR: u32 = 0x126;
pub const CC_HIERARCHY_CHANGE_AUTH: u32 = 0x129;
pub const CC_NV_DEFINE_SPACE: u32 = 0x12A;
pub const CC_SET_PRIMARY_POLICY: u32 = 0x12E;
pub const CC_CREATE_PRIMARY: u32 = 0x131;
pub const CC_NV_WRITE: u32 = 0x137;
pub const CC_SEQUENCE_COMPLETE: u32 = 0x13E;
pub const CC_NV_READ: u32 = 0x14E;
pub const CC_NV_READ_LOCK: u32 = 0x14F;
pub const CC_CREATE: u32 = 0x153;
pub const CC_HMAC: u32 = 0x155;
pub const CC_LOAD: u32 = 0x157;
pub const CC_HMAC_START: u32 = 0x15B;
pub const CC_SEQUENCE_UPDATE: u32 = 0x15C;
pub const CC_SIGN: u32 = 0x15D;
pub const CC_UNSEAL: u32 = 0x15E;
pub const CC_CONTEXT_LOAD: u32 = 0x161;
pub const CC_CONTEXT_SAVE: u32 = 0x162;
pub const CC_FLUSH_CONTEXT: u32 = 0x165;
pub const CC_LOAD_EXTERNAL: u32 = 0x167;
pub const CC_NV_READ_PUBLIC: u32 = 0x169;
pub const CC_POLICY_AUTH_VALUE: u32 = 0x16B;
pub const CC_POLICY_COMMAND_CODE: u32 = 0x16C;
pub const CC_POLICY_LOCALITY: u32 = 0x16F;
pub const CC_START_AUTH_SESSION: u32 = 0x176;
pub const CC_VERIFY_SIGNATURE: u32 = 0x177;
pub const CC_POLICY_DUPLICATION_SELECT: u32 = 0x188;
pub const CC_POLICY_GET_DIGEST: u32 = 0x189;

// Response codes with the position the spec attaches (Part 2, 6.6).
/// TPM_RC_ATTRIBUTES (0x082) without a position.
pub const RC_ATTRIBUTES: u32 = 0x082;
pub const RC_HASH: u32 = 0x083;
/// Response codes with their positions.
pub const RC_VALUE: u32 = 0x084;
pub const RC_SIZE: u32 = 0x095;
pub const RC_AUTH_TYPE: u32 = 0x124;
pub const RC_POLICY: u32 = 0x126;
/// TPM_RC_AUTH_UNAVAILABLE (format zero).
pub const RC_AUTH_UNAVAILABLE: u32 = 0x12F;
pub const RC_NV_RANGE: u32 = 0x146;
pub const RC_NV_LOCKED: u32 = 0x148;
pub const RC_NV_AUTHORIZATION: u32 = 0x149;
pub const RC_NV_UNINITIALIZED: u32 = 0x14A;
/// TPM_RC_NV_DEFINED (format zero).
pub const RC_NV_DEFINED: u32 = 0x14C;
pub const RC_ATTRIBUTES_H1: u32 = 0x182;
pub const RC_TYPE_H1: u32 = 0x18A;
/// TPM_RC_HANDLE (0x08B) + handle 1.
pub const RC_HANDLE_H1: u32 = 0x18B;
/// Response codes with their positions.
pub const RC_KEY_H1: u32 = 0x19C;
/// TPM_RC_VALUE (0x084) + parameter 1.
pub const RC_VALUE_P1: u32 = 0x1C4;
/// TPM_RC_HANDLE (0x08B) + parameter 1.
pub const RC_HANDLE_P1: u32 = 0x1CB;
/// TPM_RC_RANGE (0x08D) + parameter 1.
pub const RC_RANGE_P1: u32 = 0x1CD;
/// TPM_RC_SIZE (0x095) + parameter 1.
pub const RC_SIZE_P1: u32 = 0x1D5;
/// TPM_RC_INTEGRITY (0x09F) + parameter 1 (Load's inPrivate, ContextLoad's context).
pub const RC_INTEGRITY_P1: u32 = 0x1DF;
/// TPM_RC_CURVE (0x0A6) + parameter 1.
pub const RC_CURVE_P1: u32 = 0x1E6;
pub const RC_ECC_POINT_P1: u32 = 0x1E7;
pub const RC_TYPE_H2: u32 = 0x28A;
/// TPM_RC_HANDLE (0x08B) + handle 2.
pub const RC_HANDLE_H2: u32 = 0x28B;
/// TPM_RC_ATTRIBUTES (0x082) + parameter 2 (CreateLoaded's inPublic).
pub const RC_ATTRIBUTES_P2: u32 = 0x2C2;
pub const RC_HASH_P2: u32 = 0x2C3;
pub const RC_VALUE_P2: u32 = 0x2C4;
pub const RC_SCHEME_P2: u32 = 0x2D2;
pub const RC_SIZE_P2: u32 = 0x2D5;
pub const RC_SYMMETRIC_P2: u32 = 0x2D6;
pub const RC_ECC_POINT_P2: u32 = 0x2E7;
pub const RC_HASH_P3: u32 = 0x3C3;
pub const RC_VALUE_P3: u32 = 0x3C4;
pub const RC_SCHEME_P3: u32 = 0x3D2;
pub const RC_SIZE_P3: u32 = 0x3D5;
pub const RC_TICKET_P3: u32 = 0x3E0;
pub const RC_VALUE_P4: u32 = 0x4C4;
pub const RC_TAG_P4: u32 = 0x4D7;
/// TPM_RC_OBJECT_MEMORY (warning).
pub const RC_OBJECT_MEMORY: u32 = 0x902;
pub const RC_LOCALITY: u32 = 0x907;
/// TPM_RC_REFERENCE_H0 (warning): a transient handle that names no loaded object.
pub const RC_REFERENCE_H0: u32 = 0x910;
/// TPM_RC_AUTH_FAIL (0x08E) + session 1.
pub const RC_AUTH_FAIL_S1: u32 = 0x98E;
/// TPM_RC_POLICY_FAIL (0x09D) + session 1.
pub const RC_POLICY_FAIL_S1: u32 = 0x99D;
/// TPM_RC_BAD_AUTH (0x0A2) + session 1.
pub const RC_BAD_AUTH_S1: u32 = 0x9A2;

// Handles (Part 2, 7.4).
pub const RH_OWNER: u32 = 0x4000_0001;
pub const RH_NULL: u32 = 0x4000_0007;
pub const RS_PW: u32 = 0x4000_0009;
pub const RH_LOCKOUT: u32 = 0x4000_000A;
pub const RH_ENDORSEMENT: u32 = 0x4000_000B;
pub const RH_PLATFORM: u32 = 0x4000_000C;

// TPM_ST (Part 2, 6.9) and TPM_SE (6.11).
pub const SE_HMAC: u8 = 0x00;
pub const SE_POLICY: u8 = 0x01;
pub const SE_TRIAL: u8 = 3;
pub const ST_VERIFIED: u16 = 0x8022;
pub const ST_HASHCHECK: u16 = 0x8024;

// TPMA_OBJECT bits (Part 2, 8.3).
pub const FIXED_TPM: u32 = 1 << 1;
pub const FIXED_PARENT: u32 = 1 << 4;
pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
pub const USER_WITH_AUTH: u32 = 1 << 6;
/// noDA of TPMA_OBJECT (TPMA_NV's is bit 25: nv.rs keeps its own).
pub const NO_DA: u32 = 1 << 10;
pub const RESTRICTED: u32 = 1 << 16;
pub const DECRYPT: u32 = 1 << 17;
pub const SIGN: u32 = 1 << 18;
/// An SRK: restricted decryption key made by the TPM.
pub const STORAGE: u32 = FIXED_TPM
    | FIXED_PARENT
    | SENSITIVE_DATA_ORIGIN
    | USER_WITH_AUTH
    | NO_DA
    | RESTRICTED
    | DECRYPT;
/// A signing key made by the TPM.
pub const SIGNER: u32 =
    FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | NO_DA | SIGN;

// TPMA_NV bits (Part 2, 13.4).
pub const OWNERWRITE: u32 = 1 << 1;
pub const AUTHWRITE: u32 = 1 << 2;
pub const OWNERREAD: u32 = 1 << 17;
pub const AUTHREAD: u32 = 1 << 18;
pub const READ_STCLEAR: u32 = 1 << 31;
