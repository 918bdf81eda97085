//! Constants of Part 2 that the engine and its callers share.

// TPM_ST
pub const ST_NULL: u16 = 0x8000;
pub const ST_NO_SESSIONS: u16 = 0x8001;
pub const ST_SESSIONS: u16 = 0x8002;

// TPM_SU
pub const SU_CLEAR: u16 = 0x0000;
pub const SU_STATE: u16 = 0x0001;

// TPM_RH / TPM_RS
pub const RH_OWNER: u32 = 0x4000_0001;
pub const RH_NULL: u32 = 0x4000_0007;
pub const RS_PW: u32 = 0x4000_0009;
pub const RH_LOCKOUT: u32 = 0x4000_000A;
pub const RH_ENDORSEMENT: u32 = 0x4000_000B;
pub const RH_PLATFORM: u32 = 0x4000_000C;
pub const RH_PLATFORM_NV: u32 = 0x4000_000D;

// Handle types (TPM_HT, the top octet of a handle).
pub const HT_PCR: u8 = 0x00;
pub const HT_NV_INDEX: u8 = 0x01;
pub const HT_HMAC_SESSION: u8 = 0x02;
pub const HT_POLICY_SESSION: u8 = 0x03;
pub const HT_PERMANENT: u8 = 0x40;
pub const HT_TRANSIENT: u8 = 0x80;
pub const HT_PERSISTENT: u8 = 0x81;

/// Largest command and response this TPM accepts (TPM_PT_MAX_COMMAND_SIZE).
pub const MAX_COMMAND_SIZE: usize = 4096;
pub const MAX_RESPONSE_SIZE: usize = 4096;
/// TPM_PT_INPUT_BUFFER / MAX_DIGEST_BUFFER.
pub const MAX_DIGEST_BUFFER: usize = 1024;
/// Largest digest of an implemented hash (SHA-512).
pub const MAX_DIGEST_SIZE: usize = 64;
/// MAX_EVENT_SIZE of PCR_Event.
pub const MAX_EVENT_SIZE: usize = 1024;
/// TPM_PT_MAX_CAP_BUFFER: the capability data of one GetCapability answer.
pub const MAX_CAP_BUFFER: usize = 1024;
/// Number of PCRs (PC Client: 24).
pub const PCR_COUNT: usize = 24;
/// Octets in a PCR select bitmap covering [`PCR_COUNT`] PCRs.
pub const PCR_SELECT_MIN: usize = PCR_COUNT.div_ceil(8);
/// Most authorization sessions in one command.
pub const MAX_SESSIONS: usize = 3;

/// Identity reported through TPM_PT_MANUFACTURER and the vendor strings.
pub const MANUFACTURER: [u8; 4] = *b"VTPM";
pub const VENDOR_STRING: [u8; 16] = *b"vtpm rust vTPM\0\0";
/// Spec level this engine follows: Library 1.59 (TPM_PT_REVISION = 159).
pub const SPEC_LEVEL: u32 = 0;
pub const SPEC_REVISION: u32 = 159;
pub const SPEC_DAY_OF_YEAR: u32 = 310;
pub const SPEC_YEAR: u32 = 2019;
/// TPM_PT_FIRMWARE_VERSION_1/2: major.minor and patch of this crate.
pub const FIRMWARE_VERSION_1: u32 = 0x0000_0001;
pub const FIRMWARE_VERSION_2: u32 = 0x0000_0000;
