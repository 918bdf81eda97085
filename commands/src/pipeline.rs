//! The command pipeline, once for every command (Part 3, section 5):
//! header -> handle area -> authorization area -> action -> response.
//!
//! Actions never parse sessions and never write response headers; everything they
//! share happens here.

use alloc::vec::Vec;
use vtpm_crypto::ct_eq;

use crate::audit::AuditRecord;
use crate::codec::{Out, Params, be_u16, be_u32};
use crate::consts::{self, MAX_COMMAND_SIZE, MAX_SESSIONS, PCR_COUNT};
use crate::engine::Engine;
use crate::platform::Platform;
use crate::rc::Rc;
use crate::session::{self, Session};
use crate::table::{self, AuthRole, CommandDef, HandleKind};
use zeroize::Zeroizing;

const HEADER_SIZE: usize = 10;
/// sessionAttributes.continueSession.
const ATTR_CONTINUE_SESSION: u8 = 0x01;
/// Attributes a password session may carry: continueSession only (Part 1, 19.6.x).
const PW_ALLOWED_ATTRIBUTES: u8 = ATTR_CONTINUE_SESSION;
/// Bits of TPMA_SESSION that are reserved (bits 3 and 4).
const ATTR_RESERVED: u8 = 0x18;

/// What an action sees of its command.
pub struct Ctx<'a> {
    pub engine: &'a mut Engine,
    pub platform: &'a mut dyn Platform,
    pub locality: u8,
    /// The handle area, validated against the command's handle kinds.
    pub handles: [u32; 3],
    pub params: Params<'a>,
    /// Response parameters.
    pub out: Out,
    /// The handle the response returns (TPMA_CC.rHandle commands).
    pub response_handle: Option<u32>,
}

/// What the deferred policy checks compare against, besides the command:
/// where it came from and when.
struct PolicyEnv {
    locality: u8,
    /// TPM time (ms since _TPM_Init).
    time: u64,
    /// The platform asserts physical presence.
    pp: bool,
}

/// One parsed entry of the authorization area.
struct AuthSession<'a> {
    handle: u32,
    nonce: &'a [u8],
    attributes: u8,
    hmac: &'a [u8],
}

/// A complete error response: header only (Part 3, section 5.x).
pub fn error_response(rc: Rc) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE);
    out.extend_from_slice(&consts::ST_NO_SESSIONS.to_be_bytes());
    out.extend_from_slice(&(HEADER_SIZE as u32).to_be_bytes());
    out.extend_from_slice(&rc.0.to_be_bytes());
    out
}

impl Engine {
    /// Executes one command received at `locality` and returns the response bytes.
    /// Every input, however malformed, gets a well-formed response.
    pub fn execute(
        &mut self,
        platform: &mut dyn Platform,
        locality: u8,
        command: &[u8],
    ) -> Vec<u8> {
        match self.run(platform, locality, command) {
            Ok(response) => response,
            Err(rc) => error_response(rc),
        }
    }

    fn run(
        &mut self,
        platform: &mut dyn Platform,
        locality: u8,
        command: &[u8],
    ) -> Result<Vec<u8>, Rc> {
        // Header.
        if command.len() < HEADER_SIZE {
            return Err(if self.failure.is_some() {
                Rc::FAILURE
            } else {
                Rc::INSUFFICIENT
            });
        }
        let tag = be_u16(command, 0).ok_or(Rc::INSUFFICIENT)?;
        let size = be_u32(command, 2).ok_or(Rc::INSUFFICIENT)?;
        let cc = be_u32(command, 6).ok_or(Rc::INSUFFICIENT)?;
        // Part 3, 5.2: a tag other than TPM_ST_SESSIONS / TPM_ST_NO_SESSIONS is
        // TPM_RC_BAD_TAG (libtpms answers TPM_RC_VALUE here).
        if tag != consts::ST_NO_SESSIONS && tag != consts::ST_SESSIONS {
            return Err(Rc::BAD_TAG);
        }
        if usize::try_from(size).ok() != Some(command.len()) || command.len() > MAX_COMMAND_SIZE {
            return Err(Rc::COMMAND_SIZE);
        }
        let def = table::lookup(cc);
        if self.failure.is_some() {
            return self.run_in_failure_mode(platform, locality, cc, command);
        }
        let def = def.ok_or(Rc::COMMAND_CODE)?;
        // Startup is checked before anything else: refused once started, and
        // the only command before it (Part 3, 9.3).
        if self.started == (def.cc == crate::families::startup::CC_STARTUP) {
            return Err(Rc::INITIALIZE);
        }
        if locality > 4 {
            return Err(Rc::LOCALITY);
        }
        self.run_command(platform, locality, def, tag == consts::ST_SESSIONS, command)
    }

    /// Failure mode: only GetTestResult and GetCapability are served.
    fn run_in_failure_mode(
        &mut self,
        platform: &mut dyn Platform,
        locality: u8,
        cc: u32,
        command: &[u8],
    ) -> Result<Vec<u8>, Rc> {
        let def = table::lookup(cc).ok_or(Rc::FAILURE)?;
        let allowed = [
            crate::families::selftest::CC_GET_TEST_RESULT,
            crate::families::capability::CC_GET_CAPABILITY,
        ];
        if !allowed.contains(&def.cc) {
            return Err(Rc::FAILURE);
        }
        let tag_sessions = be_u16(command, 0) == Some(consts::ST_SESSIONS);
        self.run_command(platform, locality, def, tag_sessions, command)
    }

    fn run_command(
        &mut self,
        platform: &mut dyn Platform,
        locality: u8,
        def: &'static CommandDef,
        has_sessions: bool,
        command: &[u8],
    ) -> Result<Vec<u8>, Rc> {
        let body = command.get(HEADER_SIZE..).unwrap_or_default();

        // Handle area.
        let mut handles = [0u32; 3];
        let handle_bytes = def.handles.len() * 4;
        let (handle_area, rest) = body
            .split_at_checked(handle_bytes)
            .ok_or(Rc::INSUFFICIENT.handle(body.len() / 4 + 1))?;
        // As the reference: every handle is unmarshaled (its value checked, TPM_RC_VALUE)
        // before any is looked up (not loaded, undefined, hierarchy disabled).
        let mut not_loaded = None;
        for (i, spec) in def.handles.iter().enumerate() {
            let h = be_u32(handle_area, i * 4).ok_or(Rc::INSUFFICIENT)?;
            if let Err(rc) = self.check_handle(spec.kind, h) {
                // Warnings count handles from 0 (TPM_RC_REFERENCE_H0 + i).
                let rc = if rc == Rc::REFERENCE_H0 {
                    Rc(rc.0 + i as u32)
                } else {
                    rc.handle(i + 1)
                };
                if rc == Rc::VALUE.handle(i + 1) {
                    return Err(rc);
                }
                not_loaded.get_or_insert(rc);
            }
            if let Some(slot) = handles.get_mut(i) {
                *slot = h;
            }
        }
        if let Some(rc) = not_loaded {
            return Err(rc);
        }
        // cpHash covers the Names of the handles, not their values.
        let mut names = Vec::new();
        for h in handles.iter().take(def.handles.len()) {
            names.extend_from_slice(&self.entity_name(*h));
        }

        // Authorization area.
        let (sessions, params) = if has_sessions {
            // The area's size is checked before the command's refusal of
            // sessions, as the reference does.
            let split = split_auth_area(rest)?;
            if !def.sessions {
                return Err(Rc::AUTH_CONTEXT);
            }
            parse_auth_area(split)?
        } else {
            (Vec::new(), rest)
        };
        let entities: Vec<(u32, AuthRole)> = def
            .handles
            .iter()
            .zip(handles)
            .filter(|(s, _)| s.auth != AuthRole::None)
            .map(|(s, h)| (h, s.auth))
            .collect();
        if sessions.len() < entities.len() {
            return Err(Rc::AUTH_MISSING);
        }
        let now = self.clock_now(platform.monotonic_ms());
        let env = PolicyEnv {
            locality,
            time: self.tpm_time(platform.monotonic_ms()),
            pp: platform.physical_presence(),
        };
        let plan = self.check_sessions(def, &sessions, &entities, &names, params, now, &env)?;
        // The entities' Names as authorized: an NV index's Name changes when the
        // command writes it first, but a session bound to it stays bound.
        let entity_names: Vec<Vec<u8>> =
            entities.iter().map(|(h, _)| self.entity_name(*h)).collect();

        // Parameter decryption: the last step of session processing. Audit
        // digests cover the parameters as they travelled.
        let sent_params = params;
        let mut params = params.to_vec();
        if let Some((i, key)) = &plan.decrypt {
            let data = first_2b_mut(&mut params).ok_or(Rc::SIZE)?;
            self.session(session_handle(&sessions, *i))?
                .decrypt_parameter(key, data)?;
        }

        // Action.
        let mut ctx = Ctx {
            engine: self,
            platform,
            locality,
            handles,
            params: Params::new(&params),
            out: Out::new(),
            response_handle: None,
        };
        (def.action)(&mut ctx)?;
        let response_handle = ctx.response_handle;
        let mut out = ctx.out.into_vec();

        // Response: new nonces, parameter encryption, response HMACs.
        // A command that changed an entity's authValue (HierarchyChangeAuth)
        // answers with an HMAC keyed by the new value.
        let mut plan = plan;
        for (i, session) in sessions.iter().enumerate() {
            if let (Some((entity, _)), Some(loaded)) = (
                entities.get(i),
                self.sessions.iter().find(|s| s.handle == session.handle),
            ) && let Some(key) = plan.keys.get_mut(i)
            {
                // An entity deleted by the command (NV_UndefineSpaceSpecial)
                // no longer contributes an authValue.
                let auth = self.entity_auth_value(*entity).unwrap_or_default();
                let name = entity_names.get(i).cloned().unwrap_or_default();
                let id = session::BindEntity::new(name, trim_trailing_zeros(&auth));
                *key = loaded.hmac_key(Some(&id), trim_trailing_zeros(&auth));
            }
        }
        let auths = self.finish_sessions(
            platform,
            def,
            &sessions,
            &plan,
            &mut out,
            (&names, sent_params),
        )?;
        self.audit_command(&AuditRecord {
            cc: def.cc,
            names: &names,
            command_params: sent_params,
            response_params: &out,
        });
        Ok(build_response(response_handle, &auths, has_sessions, &out))
    }

    /// Verifies every session of a command and works out the parameter-encryption
    /// keys (Part 1, 19.6 and 21).
    #[allow(clippy::too_many_arguments)]
    fn check_sessions(
        &mut self,
        def: &CommandDef,
        sessions: &[AuthSession<'_>],
        entities: &[(u32, AuthRole)],
        names: &[u8],
        params: &[u8],
        now: u64,
        env: &PolicyEnv,
    ) -> Result<SessionPlan, Rc> {
        let mut plan = SessionPlan {
            keys: Vec::new(),
            decrypt: None,
            encrypt: None,
            audit: None,
            policy_used: Vec::new(),
            password_policy: Vec::new(),
        };
        // Which session decrypts / encrypts / audits: at most one each.
        for (i, s) in sessions.iter().enumerate() {
            if s.handle == consts::RS_PW {
                continue;
            }
            if s.attributes & session::ATTR_AUDIT != 0 {
                if plan.audit.is_some() {
                    return Err(Rc::ATTRIBUTES.session(i + 1));
                }
                plan.audit = Some(i);
            } else if s.attributes & (session::ATTR_AUDIT_EXCLUSIVE | session::ATTR_AUDIT_RESET)
                != 0
            {
                // auditExclusive and auditReset qualify audit (Part 2, TPMA_SESSION).
                return Err(Rc::ATTRIBUTES.session(i + 1));
            }
            if s.attributes & session::ATTR_DECRYPT != 0 {
                if !def.decrypt || plan.decrypt.is_some() {
                    return Err(Rc::ATTRIBUTES.session(i + 1));
                }
                plan.decrypt = Some((i, Zeroizing::new(Vec::new())));
            }
            if s.attributes & session::ATTR_ENCRYPT != 0 {
                if !def.encrypt || plan.encrypt.is_some() {
                    return Err(Rc::ATTRIBUTES.session(i + 1));
                }
                plan.encrypt = Some((i, Zeroizing::new(Vec::new())));
            }
        }
        for (i, session) in sessions.iter().enumerate() {
            let n = i + 1;
            let role = entities.get(i).map(|e| e.1);
            let entity = entities.get(i).map(|e| e.0);
            if session.attributes & ATTR_RESERVED != 0 {
                return Err(Rc::RESERVED_BITS.session(n));
            }
            // A command in the PP list authorized with the platform hierarchy
            // needs physical presence, whatever the session type (the
            // reference's CheckAuthSession).
            if entity == Some(consts::RH_PLATFORM) && self.pp_required(def.cc) && !env.pp {
                return Err(Rc::PP.session(n));
            }
            if let (Some(h), Some(role)) = (entity, role)
                && session.handle >> 24 != u32::from(consts::HT_POLICY_SESSION)
                && self.requires_policy(h, role)
            {
                // The entity may be authorized by a policy session only. The
                // DUP role is one by definition, a PCR with an authPolicy set
                // has no other way (TPM_RC_AUTH_TYPE, as the reference);
                // otherwise the authValue is not available.
                return Err(if role == AuthRole::Dup || (h as usize) < PCR_COUNT {
                    Rc::AUTH_TYPE
                } else {
                    Rc::AUTH_UNAVAILABLE.session(n)
                });
            }
            if let Some(h) = entity {
                self.da_check(h, self.da_protected(h), now)?;
            }
            if let (Some(h), Some(role)) = (entity, role)
                && (h >> 24) as u8 == consts::HT_NV_INDEX
            {
                let policy = session.handle >> 24 == u32::from(consts::HT_POLICY_SESSION);
                self.nv_auth_available(h, role, def.cc, policy)?;
            }
            if session.handle == consts::RS_PW {
                let result = self.check_password(session, entity);
                // Only a checked password counts for a PIN index (not a malformed session).
                if let Some(h) = entity
                    && matches!(result, Ok(()) | Err(Rc::BAD_AUTH | Rc::AUTH_FAIL))
                {
                    self.nv_pin_update(h, result.is_ok());
                }
                if let Err(rc) = result {
                    if let Some(h) = entity
                        && rc == Rc::AUTH_FAIL
                    {
                        self.da_failure(h, now);
                    }
                    return Err(rc.session(n));
                }
                plan.keys.push(Zeroizing::new(Vec::new()));
                continue;
            }
            // TPMI_SH_AUTH_SESSION: a password, HMAC or policy session handle.
            if !matches!(
                (session.handle >> 24) as u8,
                consts::HT_HMAC_SESSION | consts::HT_POLICY_SESSION
            ) || session.handle & 0x00FF_FFFF >= session::MAX_ACTIVE_SESSIONS as u32
            {
                return Err(Rc::VALUE.session(n));
            }
            let Some(loaded) = self.sessions.iter().find(|s| s.handle == session.handle) else {
                // No session is loaded under this handle (a warning, numbered from 0).
                return Err(Rc(Rc::REFERENCE_S0.0 + i as u32));
            };
            let uses = session::ATTR_AUDIT | session::ATTR_DECRYPT | session::ATTR_ENCRYPT;
            if entity.is_none() && session.attributes & uses == 0 {
                // A session that authorizes nothing must at least audit or encrypt.
                return Err(Rc::ATTRIBUTES.session(n));
            }
            if entity.is_some() && loaded.kind == session::SE_TRIAL {
                return Err(Rc::AUTH_TYPE.session(n));
            }
            // auditExclusive: no command ran since this session's audit digest
            // started that it did not audit. A command that starts (or with
            // auditReset restarts) the digest is exclusive by definition.
            if session.attributes & session::ATTR_AUDIT_EXCLUSIVE != 0
                && session.attributes & session::ATTR_AUDIT_RESET == 0
                && loaded.audit_digest.is_some()
                && self.exclusive_audit != Some(session.handle)
            {
                return Err(Rc::EXCLUSIVE);
            }
            if let (Some(h), Some(role)) = (entity, role)
                && loaded.kind == session::SE_POLICY
            {
                let cmd = PolicyCommand {
                    cc: def.cc,
                    role,
                    names,
                    params,
                };
                self.check_policy_session(h, loaded, &cmd, env)
                    .map_err(|rc| {
                        if rc == Rc::AUTH_UNAVAILABLE {
                            rc
                        } else {
                            rc.session(n)
                        }
                    })?;
                plan.policy_used.push(session.handle);
            }
            let auth_value = match entity {
                Some(h) => self.entity_auth_value(h)?,
                None => Vec::new(),
            };
            let id = entity.map(|h| {
                session::BindEntity::new(self.entity_name(h), trim_trailing_zeros(&auth_value))
            });
            let key = loaded.hmac_key(id.as_ref(), trim_trailing_zeros(&auth_value));
            let cp_hash = loaded
                .auth_hash
                .digest(&[&def.cc.to_be_bytes(), names, params]);
            let extra = extra_nonces(i, sessions, &plan, &self.sessions);
            let expected = loaded.command_hmac(
                &key,
                cp_hash.as_bytes(),
                session.nonce,
                &extra,
                session.attributes,
            );
            // After PolicyPassword the HMAC field carries the authValue itself.
            let password = loaded.kind == session::SE_POLICY
                && loaded.policy.password_needed
                && entity.is_some();
            // With an empty HMAC key an empty HMAC is accepted (Part 1, 19.6.x).
            let empty_ok = key.is_empty() && session.hmac.is_empty();
            let ok = if password {
                ct_eq(
                    trim_trailing_zeros(session.hmac),
                    trim_trailing_zeros(&auth_value),
                )
            } else {
                empty_ok || ct_eq(expected.as_bytes(), session.hmac)
            };
            if password {
                plan.password_policy.push(session.handle);
            }
            // A PIN index counts the uses and failures of its authValue.
            if let Some(h) = entity {
                let auth_used = if loaded.kind == session::SE_HMAC {
                    id.as_ref() != loaded.bind.as_ref()
                } else {
                    loaded.policy.auth_value_needed || loaded.policy.password_needed
                };
                if auth_used {
                    self.nv_pin_update(h, ok);
                }
            }
            if !ok {
                let rc = self.auth_failure(entity);
                if let Some(h) = entity
                    && rc == Rc::AUTH_FAIL
                {
                    self.da_failure(h, now);
                }
                return Err(rc.session(n));
            }
            for (j, slot) in [&mut plan.decrypt, &mut plan.encrypt].into_iter().flatten() {
                if *j == i {
                    *slot = key.clone();
                }
            }
            plan.keys.push(key);
        }
        // The checks passed: the caller's nonces become the sessions' nonceCaller.
        for session in sessions {
            if let Some(loaded) = self
                .sessions
                .iter_mut()
                .find(|s| s.handle == session.handle)
            {
                loaded.nonce_caller = session.nonce.to_vec();
            }
        }
        Ok(plan)
    }

    /// A password session: an empty nonce, continueSession only, and the
    /// entity's authValue in the clear.
    fn check_password(&self, session: &AuthSession<'_>, entity: Option<u32>) -> Result<(), Rc> {
        // A password session must sit in a position that authorizes a handle.
        let Some(entity) = entity else {
            return Err(Rc::HANDLE);
        };
        if !session.nonce.is_empty() {
            return Err(Rc::NONCE);
        }
        if session.attributes & !PW_ALLOWED_ATTRIBUTES != 0 {
            return Err(Rc::ATTRIBUTES);
        }
        let auth = self.entity_auth_value(entity)?;
        // Trailing zeros are not significant in an authValue (Part 1, 19.6.4).
        if ct_eq(
            trim_trailing_zeros(session.hmac),
            trim_trailing_zeros(&auth),
        ) {
            Ok(())
        } else {
            Err(self.auth_failure(Some(entity)))
        }
    }

    /// Session audit after a successful command: the audit session's digest is
    /// started (or restarted by auditReset), which makes it the exclusive audit
    /// session, then extended; any command it did not audit ends exclusivity.
    fn audit_session(&mut self, audit: Option<(u32, u8)>, record: &AuditRecord<'_>) {
        let Some((handle, attributes)) = audit else {
            self.exclusive_audit = None;
            return;
        };
        let Some(s) = self.sessions.iter_mut().find(|s| s.handle == handle) else {
            return;
        };
        let digest = match &mut s.audit_digest {
            Some(d) if attributes & session::ATTR_AUDIT_RESET == 0 => {
                if self.exclusive_audit != Some(handle) {
                    self.exclusive_audit = None;
                }
                d
            }
            slot => {
                self.exclusive_audit = Some(handle);
                slot.insert(Vec::new())
            }
        };
        record.extend(s.auth_hash, digest);
    }

    fn session(&self, handle: u32) -> Result<&Session, Rc> {
        self.sessions
            .iter()
            .find(|s| s.handle == handle)
            .ok_or(Rc::FAILURE)
    }

    /// Rolls the TPM nonces, encrypts the first response parameter and computes
    /// the response authorizations; sessions without continueSession end here.
    fn finish_sessions(
        &mut self,
        platform: &mut dyn Platform,
        def: &CommandDef,
        sessions: &[AuthSession<'_>],
        plan: &SessionPlan,
        out: &mut [u8],
        (names, sent_params): (&[u8], &[u8]),
    ) -> Result<Vec<Vec<u8>>, Rc> {
        for h in &plan.policy_used {
            if let Some(s) = self.sessions.iter_mut().find(|s| s.handle == *h) {
                s.policy.restart();
            }
        }
        for session in sessions.iter().filter(|s| s.handle != consts::RS_PW) {
            // nonceTPM keeps the size it got at StartAuthSession (that of nonceCaller).
            let size = self.session(session.handle)?.nonce_tpm.len();
            let mut nonce = alloc::vec![0u8; size];
            self.random(platform, &mut nonce)?;
            if let Some(s) = self
                .sessions
                .iter_mut()
                .find(|s| s.handle == session.handle)
            {
                s.nonce_tpm = nonce;
            }
        }
        if let Some((i, key)) = &plan.encrypt
            && let Some(data) = first_2b_mut(out)
        {
            self.session(session_handle(sessions, *i))?
                .encrypt_parameter(key, data)?;
        }
        self.audit_session(
            plan.audit.map(|i| {
                (
                    session_handle(sessions, i),
                    sessions.get(i).map_or(0, |s| s.attributes),
                )
            }),
            &AuditRecord {
                cc: def.cc,
                names,
                command_params: sent_params,
                response_params: out,
            },
        );
        let mut auths = Vec::new();
        for (i, session) in sessions.iter().enumerate() {
            let mut auth = Vec::new();
            if session.handle == consts::RS_PW {
                // Password session: empty nonce, continueSession, empty HMAC.
                auth.extend_from_slice(&[0, 0, ATTR_CONTINUE_SESSION, 0, 0]);
            } else {
                let s = self.session(session.handle)?;
                let rp_hash =
                    s.auth_hash
                        .digest(&[&0u32.to_be_bytes(), &def.cc.to_be_bytes(), out]);
                let key = plan.keys.get(i).map(|k| k.as_slice()).unwrap_or_default();
                push_2b(&mut auth, &s.nonce_tpm);
                auth.push(session.attributes);
                if (key.is_empty() && session.hmac.is_empty())
                    || plan.password_policy.contains(&session.handle)
                {
                    // The caller sent an empty HMAC under an empty key: so does the TPM.
                    push_2b(&mut auth, &[]);
                } else {
                    let mac = s.response_hmac(key, rp_hash.as_bytes(), session.attributes);
                    push_2b(&mut auth, mac.as_bytes());
                }
                if session.attributes & session::ATTR_CONTINUE == 0 {
                    self.sessions.retain(|s| s.handle != session.handle);
                }
            }
            auths.push(auth);
        }
        Ok(auths)
    }

    /// The authValue of an entity that can be authorized or bound: a PCR's
    /// is its authorization group's (empty outside the group); hierarchies
    /// and objects have theirs.
    pub(crate) fn entity_auth_value(&self, handle: u32) -> Result<Vec<u8>, Rc> {
        if (handle as usize) < PCR_COUNT {
            return Ok(self.pcr_auth_value(handle).to_vec());
        }
        if handle == consts::RH_NULL {
            return Ok(Vec::new());
        }
        if let Some(auth) = self.hierarchy_auth(handle) {
            return Ok(auth.as_bytes().to_vec());
        }
        if let Some(s) = self.sequence(handle) {
            return Ok(s.auth.as_bytes().to_vec());
        }
        if let Some(index) = self.nv_index(handle) {
            return Ok(index.auth.as_bytes().to_vec());
        }
        match self.object(handle) {
            Some(o) => Ok(o.auth_value().to_vec()),
            None => Err(Rc::HANDLE),
        }
    }

    /// The Name of an entity: an object's nameAlg || H(public), a sequence's
    /// empty Name; for PCRs,
    /// permanent handles and sessions, the handle itself.
    pub(crate) fn entity_name(&self, handle: u32) -> Vec<u8> {
        if self.sequence(handle).is_some() {
            // A sequence object has no nameAlg: its Name is the Empty Buffer
            // (the reference's EntityGetName; ESAPI computes cpHash with it).
            return Vec::new();
        }
        if let Some(index) = self.nv_index(handle) {
            return index.name();
        }
        match self.object(handle) {
            Some(o) => o.name.clone(),
            None => handle.to_be_bytes().to_vec(),
        }
    }

    /// Whether authorizing `handle` in `role` needs a policy session: an
    /// object's USER role without userWithAuth, ADMIN role with
    /// adminWithPolicy, or DUP role (Part 1, 19.7).
    fn requires_policy(&self, handle: u32, role: AuthRole) -> bool {
        if (handle as usize) < PCR_COUNT {
            // A PCR whose group has an authPolicy is authorized by it only.
            return self
                .pcr_policy(handle)
                .is_some_and(|p| p.alg != crate::object::alg::NULL);
        }
        let Some(o) = self.object(handle) else {
            return false;
        };
        // A public-only object has no authValue to prove.
        if o.sensitive.is_none() && role != AuthRole::None {
            return true;
        }
        match role {
            AuthRole::User => !o.public.has(crate::object::public::USER_WITH_AUTH),
            AuthRole::Admin => o.public.has(crate::object::public::ADMIN_WITH_POLICY),
            // DUP is never proven with the authValue (Part 1, 19.2).
            AuthRole::Dup => true,
            AuthRole::None => false,
        }
    }

    /// The authPolicy of an entity and its hash, if it has one.
    fn entity_policy(&self, h: u32) -> Option<(u16, Vec<u8>)> {
        if (h as usize) < PCR_COUNT {
            // Outside a policy group a PCR has no policy; inside, an unset
            // (NULL) policy never matches (TPM_RC_POLICY_FAIL).
            return self.pcr_policy(h).map(|p| (p.alg, p.digest.clone()));
        }
        if let Some(p) = self.hierarchy_policy(h) {
            return (p.alg != crate::object::alg::NULL).then(|| (p.alg, p.digest.clone()));
        }
        if let Some(index) = self.nv_index(h) {
            let p = &index.public;
            return Some((p.name_alg.alg_id(), p.auth_policy.clone()));
        }
        // An object's policy is always "available": an empty authPolicy simply
        // never matches (TPM_RC_POLICY_FAIL), as in the reference.
        let o = self.object(h)?;
        Some((o.public.name_alg?.alg_id(), o.public.auth_policy.clone()))
    }

    /// A policy session authorizing `entity` for a command: its digest must
    /// equal the entity's authPolicy and every check the policy deferred must
    /// hold (Part 1, 19.7; the reference's CheckPolicyAuthSession, same order).
    fn check_policy_session(
        &self,
        entity: u32,
        s: &Session,
        cmd: &PolicyCommand<'_>,
        env: &PolicyEnv,
    ) -> Result<(), Rc> {
        let p = &s.policy;
        // PolicySecret through a policy session must itself prove the authValue.
        if cmd.cc == crate::families::policy::CC_POLICY_SECRET
            && !p.password_needed
            && !p.auth_value_needed
        {
            return Err(Rc::MODE);
        }
        if p.pcr_counter.is_some_and(|c| c != self.pcr_update_counter) {
            return Err(Rc::PCR_CHANGED);
        }
        let Some((alg, digest)) = self.entity_policy(entity) else {
            return Err(Rc::AUTH_UNAVAILABLE);
        };
        if alg != s.auth_hash.alg_id() || !ct_eq(&digest, &p.digest) {
            return Err(Rc::POLICY_FAIL);
        }
        if p.timeout
            .is_some_and(|t| t < env.time || p.epoch != self.time_epoch())
        {
            return Err(Rc::EXPIRED);
        }
        match p.command_code {
            Some(c) if c != cmd.cc => return Err(Rc::POLICY_CC),
            // ADMIN- and DUP-role authorizations name their command.
            None if matches!(cmd.role, AuthRole::Admin | AuthRole::Dup) => {
                return Err(Rc::POLICY_FAIL);
            }
            _ => {}
        }
        if let Some(l) = p.locality {
            // TPMA_LOCALITY: bits for localities 0-4, or one extended locality.
            let allowed = if l < 32 {
                l & (1 << env.locality) != 0
            } else {
                l == env.locality
            };
            if !allowed {
                return Err(Rc::LOCALITY);
            }
        }
        if p.pp_required && !env.pp {
            return Err(Rc::PP);
        }
        // PolicyNvWritten: only an NV index in the written state asked for.
        if let Some(want) = p.nv_written
            && self.nv_index(entity).is_none_or(|i| i.written() != want)
        {
            return Err(Rc::POLICY_FAIL);
        }
        if let Some((kind, bound)) = &p.bound_hash {
            let h = s.auth_hash;
            let cc = cmd.cc.to_be_bytes();
            let actual = match kind {
                session::BoundHash::Cp => Some(h.digest(&[&cc, cmd.names, cmd.params])),
                session::BoundHash::Name => Some(h.digest(&[cmd.names])),
                session::BoundHash::Params => Some(h.digest(&[&cc, cmd.params])),
                session::BoundHash::Template => template_of(cmd).map(|t| h.digest(&[t])),
            };
            if !actual.is_some_and(|a| ct_eq(a.as_bytes(), bound)) {
                return Err(Rc::POLICY_FAIL);
            }
        }
        Ok(())
    }

    /// The code of a failed authorization: TPM_RC_AUTH_FAIL for entities the
    /// dictionary-attack logic protects (lockout, objects without noDA),
    /// TPM_RC_BAD_AUTH for the others.
    fn auth_failure(&self, entity: Option<u32>) -> Rc {
        if entity.is_some_and(|h| self.da_protected(h)) {
            Rc::AUTH_FAIL
        } else {
            Rc::BAD_AUTH
        }
    }

    /// Of the permanent handles only lockout is DA-protected; objects are
    /// unless they have noDA (Part 1, 19.8).
    pub(crate) fn da_protected(&self, h: u32) -> bool {
        if let Some(index) = self.nv_index(h) {
            return !index.public.has(crate::nv::attr::NO_DA);
        }
        h == consts::RH_LOCKOUT
            || self
                .object(h)
                .is_some_and(|o| !o.public.has(crate::object::public::NO_DA))
    }

    /// TPMI_SH_HMAC / TPMI_SH_POLICY: a session handle of type `ht` in range
    /// (TPM_RC_VALUE), of a loaded session (TPM_RC_REFERENCE_H0).
    fn check_session_handle(&self, h: u32, ht: u8) -> Result<(), Rc> {
        if (h >> 24) as u8 != ht || h & 0x00FF_FFFF >= session::MAX_ACTIVE_SESSIONS as u32 {
            Err(Rc::VALUE)
        } else if self.sessions.iter().any(|s| s.handle == h) {
            Ok(())
        } else {
            Err(Rc::REFERENCE_H0)
        }
    }

    /// Checks a handle's value against its TPMI_ type, and that the entity it
    /// names is there and enabled.
    fn check_handle(&self, kind: HandleKind, h: u32) -> Result<(), Rc> {
        let ht = (h >> 24) as u8;
        let is_object = matches!(ht, consts::HT_TRANSIENT | consts::HT_PERSISTENT);
        let hierarchy = |allowed: &[u32]| -> Result<(), Rc> {
            if !allowed.contains(&h) {
                return Err(Rc::VALUE);
            }
            if self.hierarchy_enabled(h) || matches!(h, consts::RH_LOCKOUT | consts::RH_NULL) {
                Ok(())
            } else {
                Err(Rc::HIERARCHY)
            }
        };
        use consts::{
            RH_ENDORSEMENT as E, RH_LOCKOUT as L, RH_NULL as N, RH_OWNER as O, RH_PLATFORM as P,
        };
        match kind {
            HandleKind::Pcr { null_ok } => {
                if (h as usize) < PCR_COUNT || (null_ok && h == N) {
                    Ok(())
                } else {
                    Err(Rc::VALUE)
                }
            }
            HandleKind::Platform => hierarchy(&[P]),
            HandleKind::Hierarchy { null_ok: true } => hierarchy(&[O, E, P, N]),
            HandleKind::Hierarchy { null_ok: false } => hierarchy(&[O, E, P]),
            HandleKind::HierarchyAuth => hierarchy(&[O, E, P, L]),
            HandleKind::Clear => hierarchy(&[L, P]),
            HandleKind::Lockout => hierarchy(&[L]),
            HandleKind::Provision => hierarchy(&[O, P]),
            HandleKind::Object => self.check_object_handle(h),
            HandleKind::ObjectOrNull => {
                if is_object {
                    self.check_object_handle(h)
                } else if h == N {
                    Ok(())
                } else {
                    Err(Rc::VALUE)
                }
            }
            HandleKind::Parent => {
                if is_object {
                    self.check_object_handle(h)
                } else {
                    hierarchy(&[O, E, P, N])
                }
            }
            HandleKind::Context => match ht {
                consts::HT_TRANSIENT => self.check_object_handle(h),
                consts::HT_HMAC_SESSION | consts::HT_POLICY_SESSION => {
                    if h & 0x00FF_FFFF >= session::MAX_ACTIVE_SESSIONS as u32 {
                        Err(Rc::VALUE)
                    } else if self.sessions.iter().any(|s| s.handle == h) {
                        Ok(())
                    } else {
                        Err(Rc::REFERENCE_H0)
                    }
                }
                _ => Err(Rc::VALUE),
            },
            HandleKind::Endorsement => hierarchy(&[E]),
            HandleKind::HmacSession => self.check_session_handle(h, consts::HT_HMAC_SESSION),
            HandleKind::PolicySession => self.check_session_handle(h, consts::HT_POLICY_SESSION),
            HandleKind::Entity | HandleKind::EntityOrNull => {
                if is_object {
                    return self.check_object_handle(h);
                }
                if ht == consts::HT_NV_INDEX {
                    return self.nv_accessible(h).map(|_| ());
                }
                if (h as usize) < PCR_COUNT {
                    return Ok(());
                }
                if kind == HandleKind::EntityOrNull {
                    hierarchy(&[O, E, P, L, N])
                } else {
                    hierarchy(&[O, E, P, L])
                }
            }
            HandleKind::NvIndex => {
                if ht != consts::HT_NV_INDEX {
                    return Err(Rc::VALUE);
                }
                self.nv_accessible(h).map(|_| ())
            }
            HandleKind::NvAuth => {
                if ht == consts::HT_NV_INDEX {
                    return self.nv_accessible(h).map(|_| ());
                }
                hierarchy(&[O, P])
            }
        }
    }

    /// A transient handle must name a loaded object (else a warning); a
    /// persistent one an object in NV whose hierarchy is enabled.
    fn check_object_handle(&self, h: u32) -> Result<(), Rc> {
        match (h >> 24) as u8 {
            // TPMI_DH_OBJECT admits TRANSIENT_FIRST..TRANSIENT_LAST only.
            consts::HT_TRANSIENT if h & 0x00FF_FFFF >= crate::object::MAX_LOADED_OBJECTS as u32 => {
                Err(Rc::VALUE)
            }
            consts::HT_TRANSIENT => {
                if self.objects.iter().any(|o| o.handle == h) || self.sequence(h).is_some() {
                    Ok(())
                } else {
                    Err(Rc::REFERENCE_H0)
                }
            }
            consts::HT_PERSISTENT => match self.perm.persistent.iter().find(|o| o.handle == h) {
                Some(o) if self.hierarchy_enabled(o.hierarchy) => Ok(()),
                _ => Err(Rc::HANDLE),
            },
            _ => Err(Rc::VALUE),
        }
    }

    /// The loaded transient or persistent object under `handle`.
    pub(crate) fn object(&self, handle: u32) -> Option<&crate::object::Object> {
        match (handle >> 24) as u8 {
            consts::HT_TRANSIENT => self.objects.iter().find(|o| o.handle == handle),
            consts::HT_PERSISTENT => self.perm.persistent.iter().find(|o| o.handle == handle),
            _ => None,
        }
    }
}

/// An authValue without its trailing zeros, which are not significant (Part 1, 19.6.4).
pub(crate) fn trim_trailing_zeros(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    v.get(..end).unwrap_or_default()
}

/// Splits the authorization area (after the handles) into sessions and the
/// parameter area.
/// Splits off the authorization area by its size field.
fn split_auth_area(rest: &[u8]) -> Result<(&[u8], &[u8]), Rc> {
    let auth_size = be_u32(rest, 0).ok_or(Rc::AUTHSIZE)? as usize;
    let area = rest.get(4..).unwrap_or_default();
    if auth_size > area.len() {
        return Err(Rc::AUTHSIZE);
    }
    // The smallest session is 9 bytes: handle, two empty TPM2Bs, attributes.
    if auth_size < 9 {
        return Err(Rc::SIZE);
    }
    Ok(area.split_at(auth_size))
}

/// Parses the sessions of an authorization area split off by [`split_auth_area`].
fn parse_auth_area<'a>(
    (mut auth, params): (&'a [u8], &'a [u8]),
) -> Result<(Vec<AuthSession<'a>>, &'a [u8]), Rc> {
    let mut sessions = Vec::new();
    while !auth.is_empty() {
        if sessions.len() == MAX_SESSIONS {
            return Err(Rc::AUTHSIZE);
        }
        let n = sessions.len() + 1;
        let handle = be_u32(auth, 0).ok_or(Rc::AUTHSIZE)?;
        let (nonce, tail) = take_2b(auth.get(4..).unwrap_or_default()).ok_or(Rc::AUTHSIZE)?;
        let (&attributes, tail) = tail.split_first().ok_or(Rc::AUTHSIZE)?;
        let (hmac, tail) = take_2b(tail).ok_or(Rc::AUTHSIZE)?;
        if nonce.len() > consts::MAX_DIGEST_SIZE || hmac.len() > consts::MAX_DIGEST_SIZE {
            return Err(Rc::SIZE.session(n));
        }
        sessions.push(AuthSession {
            handle,
            nonce,
            attributes,
            hmac,
        });
        auth = tail;
    }
    Ok((sessions, params))
}

fn take_2b(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = usize::from(be_u16(b, 0)?);
    b.get(2..)?.split_at_checked(len)
}

/// Keys worked out while checking the sessions, used again for the response.
struct SessionPlan {
    /// HMAC key of each session, by position (empty for password sessions).
    keys: Vec<Zeroizing<Vec<u8>>>,
    /// The session that decrypts the first command parameter, and its key.
    decrypt: Option<(usize, Zeroizing<Vec<u8>>)>,
    /// The session that encrypts the first response parameter, and its key.
    encrypt: Option<(usize, Zeroizing<Vec<u8>>)>,
    /// The session that audits the command, by position.
    audit: Option<usize>,
    /// Policy sessions that authorized the command: restarted afterwards.
    policy_used: Vec<u32>,
    /// Policy sessions that authorized by PolicyPassword: their response HMAC
    /// is empty (the caller has no HMAC key to check it with).
    password_policy: Vec<u32>,
}

/// The command a policy session authorizes, as its deferred checks see it.
struct PolicyCommand<'a> {
    cc: u32,
    role: AuthRole,
    /// The Names of all handles, concatenated.
    names: &'a [u8],
    /// The parameter area as sent.
    params: &'a [u8],
}

/// The template of Create / CreatePrimary / CreateLoaded (the reference's
/// CompareTemplateHash): the second parameter, a TPM2B after inSensitive.
fn template_of<'a>(cmd: &PolicyCommand<'a>) -> Option<&'a [u8]> {
    const CC_CREATE_PRIMARY: u32 = 0x131;
    const CC_CREATE: u32 = 0x153;
    const CC_CREATE_LOADED: u32 = 0x191;
    if !matches!(cmd.cc, CC_CREATE | CC_CREATE_PRIMARY | CC_CREATE_LOADED) {
        return None;
    }
    let (_, rest) = take_2b(cmd.params)?;
    take_2b(rest).map(|(template, _)| template)
}

fn session_handle(sessions: &[AuthSession<'_>], i: usize) -> u32 {
    sessions.get(i).map_or(0, |s| s.handle)
}

/// nonceDecrypt / nonceEncrypt: the first session's HMAC also covers the
/// nonceTPM of a different session that decrypts or encrypts (Part 1, 19.6.13).
fn extra_nonces(
    i: usize,
    sessions: &[AuthSession<'_>],
    plan: &SessionPlan,
    loaded: &[Session],
) -> Vec<u8> {
    let mut extra = Vec::new();
    if i != 0 {
        return extra;
    }
    let nonce_of = |j: usize| {
        let h = session_handle(sessions, j);
        loaded
            .iter()
            .find(|s| s.handle == h)
            .map(|s| s.nonce_tpm.clone())
            .unwrap_or_default()
    };
    let d = plan.decrypt.as_ref().map(|(j, _)| *j).filter(|j| *j != 0);
    let e = plan
        .encrypt
        .as_ref()
        .map(|(j, _)| *j)
        .filter(|j| *j != 0 && Some(*j) != d);
    for j in [d, e].into_iter().flatten() {
        extra.extend_from_slice(&nonce_of(j));
    }
    extra
}

/// The data of the TPM2B at the start of a parameter area.
fn first_2b_mut(params: &mut [u8]) -> Option<&mut [u8]> {
    let len = usize::from(be_u16(params, 0)?);
    params.get_mut(2..2 + len)
}

fn push_2b(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// Builds a success response: header, handle, parameterSize and the session
/// area when the command had sessions.
fn build_response(
    handle: Option<u32>,
    auths: &[Vec<u8>],
    has_sessions: bool,
    params: &[u8],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(params.len() + 64);
    if let Some(h) = handle {
        body.extend_from_slice(&h.to_be_bytes());
    }
    let tag = if has_sessions {
        body.extend_from_slice(&(params.len() as u32).to_be_bytes());
        body.extend_from_slice(params);
        for auth in auths {
            body.extend_from_slice(auth);
        }
        consts::ST_SESSIONS
    } else {
        body.extend_from_slice(params);
        consts::ST_NO_SESSIONS
    };
    let mut out = Vec::with_capacity(HEADER_SIZE + body.len());
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(&((HEADER_SIZE + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&body);
    out
}
