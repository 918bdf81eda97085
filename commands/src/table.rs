//! The command table: one row per implemented command, sorted by command code.
//!
//! A row holds what the pipeline needs to know before it calls the action: how
//! many handles and which kinds, which handles need authorization and in what
//! role, whether sessions may be present at all, and the TPMA_CC bits reported
//! through GetCapability(TPM_CAP_COMMANDS).

use crate::families::{
    asym, attestation, audit, capability, clock, context, credential, da, duplication, hierarchy,
    misc, nv, object, pcr, policy, random, selftest, sequence, session, signature, startup,
    symmetric,
};
use crate::pipeline::Ctx;
use crate::rc::Rc;

/// An action: typed inputs come from `ctx`, outputs go to `ctx.out`.
pub type Action = fn(&mut Ctx<'_>) -> Result<(), Rc>;

/// Which values a handle in the handle area may take (the TPMI_ type of Part 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleKind {
    /// TPMI_DH_PCR; `null_ok` for TPMI_DH_PCR+.
    Pcr { null_ok: bool },
    /// TPMI_RH_PLATFORM.
    Platform,
    /// TPMI_RH_HIERARCHY(+): owner, endorsement, platform (and null).
    Hierarchy { null_ok: bool },
    /// TPMI_RH_HIERARCHY_AUTH / _POLICY: owner, endorsement, platform, lockout.
    HierarchyAuth,
    /// TPMI_RH_CLEAR: lockout or platform.
    Clear,
    /// TPMI_RH_LOCKOUT.
    Lockout,
    /// TPMI_RH_PROVISION: owner or platform.
    Provision,
    /// TPMI_DH_OBJECT: a loaded transient or persistent object.
    Object,
    /// TPMI_DH_OBJECT+ (a loaded object, or TPM_RH_NULL).
    ObjectOrNull,
    /// TPMI_DH_PARENT+: a loaded object or a hierarchy (null included).
    Parent,
    /// TPMI_DH_CONTEXT: a loaded session or transient object.
    Context,
    /// TPMI_SH_POLICY: a loaded policy (or trial) session.
    PolicySession,
    /// TPMI_SH_HMAC: a loaded HMAC session.
    HmacSession,
    /// TPMI_RH_ENDORSEMENT.
    Endorsement,
    /// TPMI_DH_ENTITY: anything with an authValue.
    Entity,
    /// TPMI_DH_ENTITY+ (anything with an authValue, or TPM_RH_NULL).
    EntityOrNull,
    /// TPMI_RH_NV_INDEX: a defined, accessible NV index.
    NvIndex,
    /// TPMI_RH_NV_AUTH: owner, platform or an NV index.
    NvAuth,
}

/// The authorization a handle needs (Part 3 "Auth Role").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRole {
    None,
    User,
    /// Object and NV administration (ADMIN role).
    Admin,
    /// Duplication of an object (DUP role): a policy session only, whose
    /// commandCode is TPM2_Duplicate.
    Dup,
}

#[derive(Clone, Copy, Debug)]
pub struct HandleSpec {
    pub kind: HandleKind,
    pub auth: AuthRole,
}

pub struct CommandDef {
    pub cc: u32,
    pub name: &'static str,
    pub handles: &'static [HandleSpec],
    /// False for commands that take no sessions at all (tag must be TPM_ST_NO_SESSIONS).
    pub sessions: bool,
    /// TPMA_CC.nv: the command may write NV.
    pub nv: bool,
    /// TPMA_CC.extensive: the command may flush many objects.
    pub extensive: bool,
    /// TPMA_CC.flushed: the command flushes a context.
    pub flushed: bool,
    /// TPMA_CC.rHandle: the response has a handle.
    pub response_handle: bool,
    /// The first command parameter is a TPM2B and may be encrypted.
    pub decrypt: bool,
    /// The first response parameter is a TPM2B and may be encrypted.
    pub encrypt: bool,
    pub action: Action,
}

impl CommandDef {
    /// TPMA_CC of this command (Part 2, section 8.9).
    pub fn attributes(&self) -> u32 {
        let c_handles = (self.handles.len() as u32) & 0x7;
        (self.cc & 0xFFFF)
            | (u32::from(self.nv) << 22)
            | (u32::from(self.extensive) << 23)
            | (u32::from(self.flushed) << 24)
            | (c_handles << 25)
            | (u32::from(self.response_handle) << 28)
    }
}

const fn handle(kind: HandleKind, auth: AuthRole) -> HandleSpec {
    HandleSpec { kind, auth }
}

const PCR_USER: &[HandleSpec] = &[handle(HandleKind::Pcr { null_ok: true }, AuthRole::User)];
const PCR_USER_NO_NULL: &[HandleSpec] =
    &[handle(HandleKind::Pcr { null_ok: false }, AuthRole::User)];
const PLATFORM_USER: &[HandleSpec] = &[handle(HandleKind::Platform, AuthRole::User)];
const HIERARCHY_USER: &[HandleSpec] = &[handle(
    HandleKind::Hierarchy { null_ok: false },
    AuthRole::User,
)];
const HIERARCHY_OR_NULL_USER: &[HandleSpec] = &[handle(
    HandleKind::Hierarchy { null_ok: true },
    AuthRole::User,
)];
const HIERARCHY_AUTH_USER: &[HandleSpec] = &[handle(HandleKind::HierarchyAuth, AuthRole::User)];
const CLEAR_USER: &[HandleSpec] = &[handle(HandleKind::Clear, AuthRole::User)];
const LOCKOUT_USER: &[HandleSpec] = &[handle(HandleKind::Lockout, AuthRole::User)];
const PROVISION_USER: &[HandleSpec] = &[handle(HandleKind::Provision, AuthRole::User)];
const OBJECT_USER: &[HandleSpec] = &[handle(HandleKind::Object, AuthRole::User)];
/// TPMI_DH_OBJECT+ signer (Quote: TPM_RH_NULL is accepted by the handle
/// type, and then fails for want of a hash).
const SIGNER_USER: &[HandleSpec] = &[handle(HandleKind::ObjectOrNull, AuthRole::User)];
const OBJECT_NO_AUTH: &[HandleSpec] = &[handle(HandleKind::Object, AuthRole::None)];
const PARENT_USER: &[HandleSpec] = &[handle(HandleKind::Parent, AuthRole::User)];
const POLICY_SESSION: &[HandleSpec] = &[handle(HandleKind::PolicySession, AuthRole::None)];
/// PolicySecret: the entity whose authorization is proven, then the session.
const ENTITY_USER_AND_POLICY_SESSION: &[HandleSpec] = &[
    handle(HandleKind::Entity, AuthRole::User),
    handle(HandleKind::PolicySession, AuthRole::None),
];
/// PolicySigned: the key that signed (no authorization), then the session.
const OBJECT_AND_POLICY_SESSION: &[HandleSpec] = &[
    handle(HandleKind::Object, AuthRole::None),
    handle(HandleKind::PolicySession, AuthRole::None),
];
/// EventSequenceComplete: the PCR to extend (or null), then the sequence.
const PCR_AND_SEQUENCE_USER: &[HandleSpec] = &[
    handle(HandleKind::Pcr { null_ok: true }, AuthRole::User),
    handle(HandleKind::Object, AuthRole::User),
];
const CONTEXT_NO_AUTH: &[HandleSpec] = &[handle(HandleKind::Context, AuthRole::None)];
const PROVISION_AND_OBJECT: &[HandleSpec] = &[
    handle(HandleKind::Provision, AuthRole::User),
    handle(HandleKind::Object, AuthRole::None),
];
const OBJECT_ADMIN_AND_PARENT: &[HandleSpec] = &[
    handle(HandleKind::Object, AuthRole::Admin),
    handle(HandleKind::Object, AuthRole::None),
];
/// Duplicate: the object (DUP role), then the new parent (or TPM_RH_NULL).
const DUP_OBJECT_AND_NEW_PARENT: &[HandleSpec] = &[
    handle(HandleKind::Object, AuthRole::Dup),
    handle(HandleKind::ObjectOrNull, AuthRole::None),
];
/// Rewrap: the old parent (USER role), then the new one; either may be NULL.
const OLD_AND_NEW_PARENT: &[HandleSpec] = &[
    handle(HandleKind::ObjectOrNull, AuthRole::User),
    handle(HandleKind::ObjectOrNull, AuthRole::None),
];
const ENDORSEMENT_AND_SIGNER: &[HandleSpec] = &[
    handle(HandleKind::Endorsement, AuthRole::User),
    handle(HandleKind::ObjectOrNull, AuthRole::User),
];
const ENDORSEMENT_SIGNER_AND_SESSION: &[HandleSpec] = &[
    handle(HandleKind::Endorsement, AuthRole::User),
    handle(HandleKind::ObjectOrNull, AuthRole::User),
    handle(HandleKind::HmacSession, AuthRole::None),
];
/// ActivateCredential (the object the credential is bound to, then the key
/// that decrypts the seed) and CertifyX509 (the certified object, then a
/// signing key, not NULL).
const OBJECT_ADMIN_AND_KEY_USER: &[HandleSpec] = &[
    handle(HandleKind::Object, AuthRole::Admin),
    handle(HandleKind::Object, AuthRole::User),
];
/// Certify: the certified object (its owner consents), then the signer.
const OBJECT_ADMIN_AND_SIGNER: &[HandleSpec] = &[
    handle(HandleKind::Object, AuthRole::Admin),
    handle(HandleKind::ObjectOrNull, AuthRole::User),
];
/// CertifyCreation: the signer, then the object (no authorization).
const SIGNER_AND_OBJECT: &[HandleSpec] = &[
    handle(HandleKind::ObjectOrNull, AuthRole::User),
    handle(HandleKind::Object, AuthRole::None),
];
const PROVISION_AND_NV: &[HandleSpec] = &[
    handle(HandleKind::Provision, AuthRole::User),
    handle(HandleKind::NvIndex, AuthRole::None),
];
const NV_ADMIN_AND_PLATFORM: &[HandleSpec] = &[
    handle(HandleKind::NvIndex, AuthRole::Admin),
    handle(HandleKind::Platform, AuthRole::User),
];
const NV_AUTH_AND_INDEX: &[HandleSpec] = &[
    handle(HandleKind::NvAuth, AuthRole::User),
    handle(HandleKind::NvIndex, AuthRole::None),
];
/// PolicyNV and PolicyAuthorizeNV: who authorizes reading the index, the
/// index, then the session.
const NV_AUTH_INDEX_AND_POLICY_SESSION: &[HandleSpec] = &[
    handle(HandleKind::NvAuth, AuthRole::User),
    handle(HandleKind::NvIndex, AuthRole::None),
    handle(HandleKind::PolicySession, AuthRole::None),
];
/// NV_Certify: the signer, who authorizes reading the index, the index.
const SIGNER_NV_AUTH_AND_INDEX: &[HandleSpec] = &[
    handle(HandleKind::ObjectOrNull, AuthRole::User),
    handle(HandleKind::NvAuth, AuthRole::User),
    handle(HandleKind::NvIndex, AuthRole::None),
];
const NV_ADMIN: &[HandleSpec] = &[handle(HandleKind::NvIndex, AuthRole::Admin)];
const NV_NO_AUTH: &[HandleSpec] = &[handle(HandleKind::NvIndex, AuthRole::None)];
const KEY_AND_BIND: &[HandleSpec] = &[
    handle(HandleKind::ObjectOrNull, AuthRole::None),
    handle(HandleKind::EntityOrNull, AuthRole::None),
];

macro_rules! cmd {
    ($cc:expr, $name:literal, $handles:expr, sessions: $s:expr, nv: $nv:expr, extensive, $action:path) => {
        CommandDef {
            extensive: true,
            ..cmd!($cc, $name, $handles, sessions: $s, nv: $nv, $action)
        }
    };
    ($cc:expr, $name:literal, $handles:expr, sessions: $s:expr, nv: $nv:expr, $action:path) => {
        cmd!($cc, $name, $handles, sessions: $s, nv: $nv, crypt: (false, false), rhandle: false, $action)
    };
    ($cc:expr, $name:literal, $handles:expr, sessions: $s:expr, nv: $nv:expr, crypt: ($d:expr, $e:expr), rhandle: $r:expr, $action:path) => {
        CommandDef {
            cc: $cc,
            name: $name,
            handles: $handles,
            sessions: $s,
            nv: $nv,
            extensive: false,
            flushed: false,
            response_handle: $r,
            decrypt: $d,
            encrypt: $e,
            action: $action,
        }
    };
}

/// Every implemented command, sorted by command code (checked by a unit test).
pub static COMMANDS: &[CommandDef] = &[
    cmd!(nv::CC_NV_UNDEFINE_SPACE_SPECIAL, "NV_UndefineSpaceSpecial", NV_ADMIN_AND_PLATFORM, sessions: true, nv: true, nv::nv_undefine_space_special),
    cmd!(0x0000_0120, "EvictControl", PROVISION_AND_OBJECT, sessions: true, nv: true, context::evict_control),
    cmd!(0x0000_0121, "HierarchyControl", HIERARCHY_USER, sessions: true, nv: true, extensive, hierarchy::hierarchy_control),
    cmd!(nv::CC_NV_UNDEFINE_SPACE, "NV_UndefineSpace", PROVISION_AND_NV, sessions: true, nv: true, nv::nv_undefine_space),
    cmd!(0x0000_0124, "ChangeEPS", PLATFORM_USER, sessions: true, nv: true, extensive, hierarchy::change_eps),
    cmd!(0x0000_0125, "ChangePPS", PLATFORM_USER, sessions: true, nv: true, extensive, hierarchy::change_pps),
    cmd!(0x0000_0126, "Clear", CLEAR_USER, sessions: true, nv: true, extensive, hierarchy::clear),
    cmd!(0x0000_0127, "ClearControl", CLEAR_USER, sessions: true, nv: true, hierarchy::clear_control),
    cmd!(0x0000_0128, "ClockSet", PROVISION_USER, sessions: true, nv: true, clock::clock_set),
    cmd!(0x0000_0129, "HierarchyChangeAuth", HIERARCHY_AUTH_USER, sessions: true, nv: true, crypt: (true, false), rhandle: false, hierarchy::hierarchy_change_auth),
    cmd!(nv::CC_NV_DEFINE_SPACE, "NV_DefineSpace", PROVISION_USER, sessions: true, nv: true, crypt: (true, false), rhandle: false, nv::nv_define_space),
    cmd!(0x0000_012B, "PCR_Allocate", PLATFORM_USER, sessions: true, nv: true, pcr::pcr_allocate),
    cmd!(0x0000_012C, "PCR_SetAuthPolicy", PLATFORM_USER, sessions: true, nv: true, crypt: (true, false), rhandle: false, pcr::pcr_set_auth_policy),
    cmd!(crate::pp::CC_PP_COMMANDS, "PP_Commands", PLATFORM_USER, sessions: true, nv: true, misc::pp_commands),
    cmd!(0x0000_012E, "SetPrimaryPolicy", HIERARCHY_AUTH_USER, sessions: true, nv: true, crypt: (true, false), rhandle: false, hierarchy::set_primary_policy),
    cmd!(0x0000_0130, "ClockRateAdjust", PROVISION_USER, sessions: true, nv: false, clock::clock_rate_adjust),
    cmd!(0x0000_0131, "CreatePrimary", HIERARCHY_OR_NULL_USER, sessions: true, nv: false, crypt: (true, true), rhandle: true, hierarchy::create_primary),
    cmd!(nv::CC_NV_GLOBAL_WRITE_LOCK, "NV_GlobalWriteLock", PROVISION_USER, sessions: true, nv: true, nv::nv_global_write_lock),
    cmd!(0x0000_0133, "GetCommandAuditDigest", ENDORSEMENT_AND_SIGNER, sessions: true, nv: true, crypt: (true, true), rhandle: false, audit::get_command_audit_digest),
    cmd!(nv::CC_NV_INCREMENT, "NV_Increment", NV_AUTH_AND_INDEX, sessions: true, nv: true, nv::nv_increment),
    cmd!(nv::CC_NV_SET_BITS, "NV_SetBits", NV_AUTH_AND_INDEX, sessions: true, nv: true, nv::nv_set_bits),
    cmd!(nv::CC_NV_EXTEND, "NV_Extend", NV_AUTH_AND_INDEX, sessions: true, nv: true, crypt: (true, false), rhandle: false, nv::nv_extend),
    cmd!(nv::CC_NV_WRITE, "NV_Write", NV_AUTH_AND_INDEX, sessions: true, nv: true, crypt: (true, false), rhandle: false, nv::nv_write),
    cmd!(nv::CC_NV_WRITE_LOCK, "NV_WriteLock", NV_AUTH_AND_INDEX, sessions: true, nv: true, nv::nv_write_lock),
    cmd!(0x0000_0139, "DictionaryAttackLockReset", LOCKOUT_USER, sessions: true, nv: true, da::dictionary_attack_lock_reset),
    cmd!(0x0000_013A, "DictionaryAttackParameters", LOCKOUT_USER, sessions: true, nv: true, da::dictionary_attack_parameters),
    cmd!(nv::CC_NV_CHANGE_AUTH, "NV_ChangeAuth", NV_ADMIN, sessions: true, nv: true, crypt: (true, false), rhandle: false, nv::nv_change_auth),
    cmd!(0x0000_013C, "PCR_Event", PCR_USER, sessions: true, nv: true, crypt: (true, false), rhandle: false, pcr::pcr_event),
    cmd!(0x0000_013D, "PCR_Reset", PCR_USER_NO_NULL, sessions: true, nv: true, pcr::pcr_reset),
    CommandDef {
        flushed: true,
        ..cmd!(0x0000_013E, "SequenceComplete", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, sequence::sequence_complete)
    },
    cmd!(0x0000_013F, "SetAlgorithmSet", PLATFORM_USER, sessions: true, nv: true, misc::set_algorithm_set),
    cmd!(0x0000_0140, "SetCommandCodeAuditStatus", PROVISION_USER, sessions: true, nv: true, audit::set_command_code_audit_status),
    cmd!(0x0000_0142, "IncrementalSelfTest", &[], sessions: true, nv: true, selftest::incremental_self_test),
    cmd!(0x0000_0143, "SelfTest", &[], sessions: true, nv: true, selftest::self_test),
    cmd!(0x0000_0144, "Startup", &[], sessions: false, nv: true, startup::startup),
    cmd!(0x0000_0145, "Shutdown", &[], sessions: true, nv: true, startup::shutdown),
    cmd!(0x0000_0146, "StirRandom", &[], sessions: true, nv: true, crypt: (true, false), rhandle: false, random::stir_random),
    cmd!(0x0000_0147, "ActivateCredential", OBJECT_ADMIN_AND_KEY_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, credential::activate_credential),
    cmd!(0x0000_0148, "Certify", OBJECT_ADMIN_AND_SIGNER, sessions: true, nv: false, crypt: (true, true), rhandle: false, attestation::certify),
    cmd!(policy::CC_POLICY_NV, "PolicyNV", NV_AUTH_INDEX_AND_POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_nv),
    cmd!(0x0000_014A, "CertifyCreation", SIGNER_AND_OBJECT, sessions: true, nv: false, crypt: (true, true), rhandle: false, attestation::certify_creation),
    cmd!(0x0000_014B, "Duplicate", DUP_OBJECT_AND_NEW_PARENT, sessions: true, nv: false, crypt: (true, true), rhandle: false, duplication::duplicate),
    cmd!(0x0000_014C, "GetTime", ENDORSEMENT_AND_SIGNER, sessions: true, nv: false, crypt: (true, true), rhandle: false, attestation::get_time),
    cmd!(0x0000_014D, "GetSessionAuditDigest", ENDORSEMENT_SIGNER_AND_SESSION, sessions: true, nv: false, crypt: (true, true), rhandle: false, audit::get_session_audit_digest),
    cmd!(nv::CC_NV_READ, "NV_Read", NV_AUTH_AND_INDEX, sessions: true, nv: false, crypt: (false, true), rhandle: false, nv::nv_read),
    cmd!(nv::CC_NV_READ_LOCK, "NV_ReadLock", NV_AUTH_AND_INDEX, sessions: true, nv: true, nv::nv_read_lock),
    cmd!(0x0000_0150, "ObjectChangeAuth", OBJECT_ADMIN_AND_PARENT, sessions: true, nv: false, crypt: (true, true), rhandle: false, object::object_change_auth),
    cmd!(0x0000_0151, "PolicySecret", ENTITY_USER_AND_POLICY_SESSION, sessions: true, nv: false, crypt: (true, true), rhandle: false, policy::policy_secret),
    cmd!(0x0000_0152, "Rewrap", OLD_AND_NEW_PARENT, sessions: true, nv: false, crypt: (true, true), rhandle: false, duplication::rewrap),
    cmd!(0x0000_0153, "Create", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, object::create),
    cmd!(0x0000_0154, "ECDH_ZGen", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, asym::ecdh_zgen),
    cmd!(0x0000_0155, "HMAC", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, sequence::hmac),
    cmd!(0x0000_0156, "Import", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, duplication::import),
    cmd!(0x0000_0157, "Load", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: true, object::load),
    cmd!(0x0000_0158, "Quote", SIGNER_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, attestation::quote),
    cmd!(0x0000_0159, "RSA_Decrypt", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, asym::rsa_decrypt),
    cmd!(0x0000_015B, "HMAC_Start", OBJECT_USER, sessions: true, nv: false, crypt: (true, false), rhandle: true, sequence::hmac_start),
    cmd!(0x0000_015C, "SequenceUpdate", OBJECT_USER, sessions: true, nv: false, crypt: (true, false), rhandle: false, sequence::sequence_update),
    cmd!(0x0000_015D, "Sign", OBJECT_USER, sessions: true, nv: false, crypt: (true, false), rhandle: false, signature::sign),
    cmd!(0x0000_015E, "Unseal", OBJECT_USER, sessions: true, nv: false, crypt: (false, true), rhandle: false, object::unseal),
    cmd!(0x0000_0160, "PolicySigned", OBJECT_AND_POLICY_SESSION, sessions: true, nv: false, crypt: (true, true), rhandle: false, policy::policy_signed),
    cmd!(0x0000_0161, "ContextLoad", &[], sessions: false, nv: false, crypt: (false, false), rhandle: true, context::context_load),
    cmd!(0x0000_0162, "ContextSave", CONTEXT_NO_AUTH, sessions: false, nv: false, context::context_save),
    cmd!(0x0000_0163, "ECDH_KeyGen", OBJECT_NO_AUTH, sessions: true, nv: false, crypt: (false, true), rhandle: false, asym::ecdh_keygen),
    cmd!(0x0000_0164, "EncryptDecrypt", OBJECT_USER, sessions: true, nv: false, crypt: (false, true), rhandle: false, symmetric::encrypt_decrypt),
    cmd!(0x0000_0165, "FlushContext", &[], sessions: false, nv: false, context::flush_context),
    cmd!(0x0000_0167, "LoadExternal", &[], sessions: true, nv: false, crypt: (true, true), rhandle: true, object::load_external),
    cmd!(0x0000_0168, "MakeCredential", OBJECT_NO_AUTH, sessions: true, nv: false, crypt: (true, true), rhandle: false, credential::make_credential),
    cmd!(nv::CC_NV_READ_PUBLIC, "NV_ReadPublic", NV_NO_AUTH, sessions: true, nv: false, crypt: (false, true), rhandle: false, nv::nv_read_public),
    cmd!(0x0000_016A, "PolicyAuthorize", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_authorize),
    cmd!(0x0000_016B, "PolicyAuthValue", POLICY_SESSION, sessions: true, nv: false, policy::policy_auth_value),
    cmd!(0x0000_016C, "PolicyCommandCode", POLICY_SESSION, sessions: true, nv: false, policy::policy_command_code),
    cmd!(0x0000_016D, "PolicyCounterTimer", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_counter_timer),
    cmd!(0x0000_016E, "PolicyCpHash", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_cp_hash),
    cmd!(0x0000_016F, "PolicyLocality", POLICY_SESSION, sessions: true, nv: false, policy::policy_locality),
    cmd!(0x0000_0170, "PolicyNameHash", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_name_hash),
    cmd!(0x0000_0171, "PolicyOR", POLICY_SESSION, sessions: true, nv: false, policy::policy_or),
    cmd!(0x0000_0172, "PolicyTicket", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_ticket),
    cmd!(0x0000_0173, "ReadPublic", OBJECT_NO_AUTH, sessions: true, nv: false, crypt: (false, true), rhandle: false, object::read_public_cmd),
    cmd!(0x0000_0174, "RSA_Encrypt", OBJECT_NO_AUTH, sessions: true, nv: false, crypt: (true, true), rhandle: false, asym::rsa_encrypt),
    cmd!(0x0000_0176, "StartAuthSession", KEY_AND_BIND, sessions: true, nv: false, crypt: (true, true), rhandle: true, session::start_auth_session),
    cmd!(0x0000_0177, "VerifySignature", OBJECT_NO_AUTH, sessions: true, nv: false, crypt: (true, false), rhandle: false, signature::verify_signature),
    cmd!(0x0000_0178, "ECC_Parameters", &[], sessions: true, nv: false, asym::ecc_parameters),
    cmd!(0x0000_017A, "GetCapability", &[], sessions: true, nv: false, capability::get_capability),
    cmd!(0x0000_017B, "GetRandom", &[], sessions: true, nv: false, crypt: (false, true), rhandle: false, random::get_random),
    cmd!(0x0000_017C, "GetTestResult", &[], sessions: true, nv: false, crypt: (false, true), rhandle: false, selftest::get_test_result),
    cmd!(0x0000_017D, "Hash", &[], sessions: true, nv: false, crypt: (true, true), rhandle: false, signature::hash),
    cmd!(0x0000_017E, "PCR_Read", &[], sessions: true, nv: false, pcr::pcr_read),
    cmd!(0x0000_017F, "PolicyPCR", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_pcr),
    cmd!(0x0000_0180, "PolicyRestart", POLICY_SESSION, sessions: true, nv: false, policy::policy_restart),
    cmd!(0x0000_0181, "ReadClock", &[], sessions: true, nv: false, clock::read_clock),
    cmd!(0x0000_0182, "PCR_Extend", PCR_USER, sessions: true, nv: true, pcr::pcr_extend),
    cmd!(0x0000_0183, "PCR_SetAuthValue", PCR_USER_NO_NULL, sessions: true, nv: false, crypt: (true, false), rhandle: false, pcr::pcr_set_auth_value),
    cmd!(nv::CC_NV_CERTIFY, "NV_Certify", SIGNER_NV_AUTH_AND_INDEX, sessions: true, nv: false, crypt: (true, true), rhandle: false, nv::nv_certify),
    CommandDef {
        flushed: true,
        ..cmd!(0x0000_0185, "EventSequenceComplete", PCR_AND_SEQUENCE_USER, sessions: true, nv: true, crypt: (true, false), rhandle: false, sequence::event_sequence_complete)
    },
    cmd!(0x0000_0186, "HashSequenceStart", &[], sessions: true, nv: false, crypt: (true, false), rhandle: true, sequence::hash_sequence_start),
    cmd!(0x0000_0187, "PolicyPhysicalPresence", POLICY_SESSION, sessions: true, nv: false, policy::policy_physical_presence),
    cmd!(0x0000_0188, "PolicyDuplicationSelect", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_duplication_select),
    cmd!(0x0000_0189, "PolicyGetDigest", POLICY_SESSION, sessions: true, nv: false, crypt: (false, true), rhandle: false, policy::policy_get_digest),
    cmd!(0x0000_018A, "TestParms", &[], sessions: true, nv: false, capability::test_parms),
    cmd!(0x0000_018B, "Commit", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, signature::commit),
    cmd!(0x0000_018C, "PolicyPassword", POLICY_SESSION, sessions: true, nv: false, policy::policy_password),
    cmd!(0x0000_018D, "ZGen_2Phase", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, asym::zgen_2phase),
    cmd!(0x0000_018E, "EC_Ephemeral", &[], sessions: true, nv: false, crypt: (false, true), rhandle: false, asym::ec_ephemeral),
    cmd!(policy::CC_POLICY_NV_WRITTEN, "PolicyNvWritten", POLICY_SESSION, sessions: true, nv: false, policy::policy_nv_written),
    cmd!(0x0000_0190, "PolicyTemplate", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_template),
    cmd!(0x0000_0191, "CreateLoaded", PARENT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: true, object::create_loaded),
    cmd!(policy::CC_POLICY_AUTHORIZE_NV, "PolicyAuthorizeNV", NV_AUTH_INDEX_AND_POLICY_SESSION, sessions: true, nv: false, policy::policy_authorize_nv),
    cmd!(0x0000_0193, "EncryptDecrypt2", OBJECT_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, symmetric::encrypt_decrypt2),
    cmd!(0x0000_0197, "CertifyX509", OBJECT_ADMIN_AND_KEY_USER, sessions: true, nv: false, crypt: (true, true), rhandle: false, attestation::certify_x509),
    cmd!(0x0000_019B, "PolicyCapability", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_capability),
    cmd!(0x0000_019C, "PolicyParameters", POLICY_SESSION, sessions: true, nv: false, crypt: (true, false), rhandle: false, policy::policy_parameters),
    cmd!(nv::CC_NV_DEFINE_SPACE2, "NV_DefineSpace2", PROVISION_USER, sessions: true, nv: true, crypt: (true, false), rhandle: false, nv::nv_define_space2),
    cmd!(nv::CC_NV_READ_PUBLIC2, "NV_ReadPublic2", NV_NO_AUTH, sessions: true, nv: false, crypt: (false, true), rhandle: false, nv::nv_read_public2),
];

/// The row of a command code, if implemented.
pub fn lookup(cc: u32) -> Option<&'static CommandDef> {
    COMMANDS
        .binary_search_by_key(&cc, |c| c.cc)
        .ok()
        .and_then(|i| COMMANDS.get(i))
}

/// The name of an implemented command (for logs), e.g. "PCR_Extend".
pub fn command_name(cc: u32) -> Option<&'static str> {
    lookup(cc).map(|c| c.name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(COMMANDS.windows(2).all(|w| w[0].cc < w[1].cc));
    }

    #[test]
    fn attributes_follow_tpma_cc() {
        let extend = lookup(0x182).unwrap();
        assert_eq!(extend.attributes(), 0x0000_0182 | (1 << 22) | (1 << 25));
        assert!(lookup(0x1FF).is_none());
    }
}
