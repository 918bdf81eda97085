//! The command pipeline, once for every command (Part 3, section 5):
//! header -> handle area -> authorization area -> action -> response.
//!
//! Actions never parse sessions and never write response headers; everything they
//! share happens here.

use alloc::vec::Vec;
use vtpm_crypto::ct_eq;

use crate::codec::{Out, Params, be_u16, be_u32};
use crate::consts::{self, MAX_COMMAND_SIZE, MAX_SESSIONS, PCR_COUNT};
use crate::engine::Engine;
use crate::platform::Platform;
use crate::rc::Rc;
use crate::table::{self, AuthRole, CommandDef, HandleKind};

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
        if !self.started && def.cc != crate::families::startup::CC_STARTUP {
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
            .ok_or(Rc::INSUFFICIENT)?;
        for (i, spec) in def.handles.iter().enumerate() {
            let h = be_u32(handle_area, i * 4).ok_or(Rc::INSUFFICIENT)?;
            check_handle(spec.kind, h).map_err(|rc| rc.handle(i + 1))?;
            if let Some(slot) = handles.get_mut(i) {
                *slot = h;
            }
        }

        // Authorization area.
        let (sessions, params) = if has_sessions {
            if !def.sessions {
                return Err(Rc::AUTH_CONTEXT);
            }
            parse_auth_area(rest)?
        } else {
            (Vec::new(), rest)
        };
        let auth_count = def
            .handles
            .iter()
            .filter(|h| h.auth != AuthRole::None)
            .count();
        if sessions.len() < auth_count {
            return Err(Rc::AUTH_MISSING);
        }
        for (i, session) in sessions.iter().enumerate() {
            if matches!(
                (session.handle >> 24) as u8,
                consts::HT_HMAC_SESSION | consts::HT_POLICY_SESSION
            ) {
                // No session is loaded under this handle (a warning, numbered from 0).
                return Err(Rc(Rc::REFERENCE_S0.0 + i as u32));
            }
            let entity = def
                .handles
                .iter()
                .zip(handles)
                .filter(|(s, _)| s.auth != AuthRole::None)
                .nth(i);
            self.authorize(session, entity.map(|(_, h)| h))
                .map_err(|rc| rc.session(i + 1))?;
        }

        // Action.
        let mut ctx = Ctx {
            engine: self,
            platform,
            locality,
            handles,
            params: Params::new(params),
            out: Out::new(),
        };
        (def.action)(&mut ctx)?;
        let out = ctx.out.into_vec();

        // Response.
        Ok(build_response(&sessions, &out))
    }

    /// Checks one authorization session against the entity it authorizes. Only
    /// password sessions exist so far; HMAC and policy sessions arrive with their
    /// session slots, and are then looked up here.
    fn authorize(&mut self, session: &AuthSession<'_>, entity: Option<u32>) -> Result<(), Rc> {
        if session.attributes & ATTR_RESERVED != 0 {
            return Err(Rc::RESERVED_BITS);
        }
        match session.handle {
            consts::RS_PW => {
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
                let auth = self.entity_auth(entity)?;
                // Trailing zeros are not significant in an authValue (Part 1, 19.6.4).
                if ct_eq(
                    trim_trailing_zeros(session.hmac),
                    trim_trailing_zeros(&auth),
                ) {
                    Ok(())
                } else {
                    // PCRs and the platform hierarchy are not protected by the
                    // dictionary-attack logic: TPM_RC_BAD_AUTH, not TPM_RC_AUTH_FAIL.
                    Err(Rc::BAD_AUTH)
                }
            }
            _ => Err(Rc::HANDLE),
        }
    }

    /// The authValue of an entity (empty for PCRs and, until HierarchyChangeAuth
    /// exists, for the hierarchies).
    fn entity_auth(&self, handle: u32) -> Result<Vec<u8>, Rc> {
        match handle {
            h if (h as usize) < PCR_COUNT => Ok(Vec::new()),
            consts::RH_PLATFORM => Ok(Vec::new()),
            _ => Err(Rc::HANDLE),
        }
    }
}

fn trim_trailing_zeros(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    v.get(..end).unwrap_or_default()
}

/// Checks a handle's value against its TPMI_ type.
fn check_handle(kind: HandleKind, h: u32) -> Result<(), Rc> {
    let ok = match kind {
        HandleKind::Pcr { null_ok } => {
            (h as usize) < PCR_COUNT || (null_ok && h == consts::RH_NULL)
        }
        HandleKind::Platform => h == consts::RH_PLATFORM,
    };
    if ok { Ok(()) } else { Err(Rc::VALUE) }
}

/// Splits the authorization area (after the handles) into sessions and the
/// parameter area.
fn parse_auth_area(rest: &[u8]) -> Result<(Vec<AuthSession<'_>>, &[u8]), Rc> {
    let auth_size = be_u32(rest, 0).ok_or(Rc::AUTHSIZE)? as usize;
    let area = rest.get(4..).unwrap_or_default();
    if auth_size > area.len() {
        return Err(Rc::AUTHSIZE);
    }
    // The smallest session is 9 bytes: handle, two empty TPM2Bs, attributes.
    if auth_size < 9 {
        return Err(Rc::SIZE);
    }
    let (mut auth, params) = area.split_at(auth_size);
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

/// Builds a success response: header, parameterSize and session area when the
/// command had sessions.
fn build_response(sessions: &[AuthSession<'_>], params: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(params.len() + 16);
    let tag = if sessions.is_empty() {
        body.extend_from_slice(params);
        consts::ST_NO_SESSIONS
    } else {
        body.extend_from_slice(&(params.len() as u32).to_be_bytes());
        body.extend_from_slice(params);
        for _ in sessions {
            // Password session: empty nonce, continueSession, empty HMAC.
            body.extend_from_slice(&[0, 0, ATTR_CONTINUE_SESSION, 0, 0]);
        }
        consts::ST_SESSIONS
    };
    let mut out = Vec::with_capacity(HEADER_SIZE + body.len());
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(&((HEADER_SIZE + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&body);
    out
}
