//! The swtpm control channel: request = u32 command + payload, reply = payload,
//! big-endian, results in TPM 1.2 codes.
//!
//! Requests are delimited like swtpm does it: what one read returns is one request,
//! topped up for at most 500 ms while it is shorter than its command's minimum.
//! Clients (swtpm_ioctl, tcti-swtpm, QEMU) write each request with one write and
//! wait for the reply, and swtpm's answers to malformed requests (TPM_BAD_PARAMETER
//! for surplus bytes) follow from this rule.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Swtpm;
use crate::daemon::ExitReason;
use crate::net::Stream;
use crate::vlog;
use crate::wire::{be_u32, be_u64, u32s};

pub const GET_CAPABILITY: u32 = 1;
pub const INIT: u32 = 2;
pub const SHUTDOWN: u32 = 3;
pub const GET_TPMESTABLISHED: u32 = 4;
pub const SET_LOCALITY: u32 = 5;
pub const HASH_START: u32 = 6;
pub const HASH_DATA: u32 = 7;
pub const HASH_END: u32 = 8;
pub const CANCEL_TPM_CMD: u32 = 9;
pub const STORE_VOLATILE: u32 = 10;
pub const RESET_TPMESTABLISHED: u32 = 11;
pub const GET_STATEBLOB: u32 = 12;
pub const SET_STATEBLOB: u32 = 13;
pub const STOP: u32 = 14;
pub const GET_CONFIG: u32 = 15;
pub const SET_DATAFD: u32 = 16;
pub const SET_BUFFERSIZE: u32 = 17;
pub const GET_INFO: u32 = 18;
pub const LOCK_STORAGE: u32 = 19;

/// TPM 1.2 result codes used by the protocol.
pub const TPM_SUCCESS: u32 = 0;
pub const TPM_BAD_PARAMETER: u32 = 3;
pub const TPM_FAIL: u32 = 9;
pub const TPM_BAD_ORDINAL: u32 = 10;
pub const TPM_IOERROR: u32 = 0x1f;
pub const TPM_BAD_LOCALITY: u32 = 0x3d;

/// Capability bits (swtpm's PTM_CAP_*); the three hash commands share one.
const CAP_INIT: u64 = 1;
const CAP_SHUTDOWN: u64 = 1 << 1;
const CAP_GET_TPMESTABLISHED: u64 = 1 << 2;
const CAP_SET_LOCALITY: u64 = 1 << 3;
const CAP_HASHING: u64 = 1 << 4;
const CAP_CANCEL_TPM_CMD: u64 = 1 << 5;
const CAP_STORE_VOLATILE: u64 = 1 << 6;
const CAP_RESET_TPMESTABLISHED: u64 = 1 << 7;
const CAP_GET_STATEBLOB: u64 = 1 << 8;
const CAP_SET_STATEBLOB: u64 = 1 << 9;
const CAP_STOP: u64 = 1 << 10;
const CAP_GET_CONFIG: u64 = 1 << 11;
const CAP_SET_DATAFD: u64 = 1 << 12;
const CAP_SET_BUFFERSIZE: u64 = 1 << 13;
const CAP_GET_INFO: u64 = 1 << 14;
const CAP_SEND_COMMAND_HEADER: u64 = 1 << 15;
const CAP_LOCK_STORAGE: u64 = 1 << 16;

/// Largest request: the command word and a HASH_DATA body of 4096 bytes, like swtpm.
pub const MAX_REQUEST: usize = 4 + 4096;
/// How long a request shorter than its minimum may take to arrive.
const REQUEST_DEADLINE: Duration = Duration::from_millis(500);

/// SET_BUFFERSIZE limits (swtpm's, for a TPM 2.0).
pub const MIN_BUFFER_SIZE: u32 = 2808;
pub const MAX_BUFFER_SIZE: u32 = super::data::MAX_COMMAND_SIZE;

/// Blob types of GET/SET_STATEBLOB (swtpm's PTM_BLOB_TYPE_*).
pub const BLOB_PERMANENT: u32 = 1;
pub const BLOB_VOLATILE: u32 = 2;
pub const BLOB_SAVESTATE: u32 = 3;
/// State flags: the blob is encrypted (with the migration key).
pub const STATE_FLAG_ENCRYPTED: u32 = 2;
/// GET_CONFIG flags.
const CONFIG_FLAG_FILE_KEY: u32 = 1;
const CONFIG_FLAG_MIGRATION_KEY: u32 = 2;
/// The largest state blob SET_STATEBLOB accepts.
pub const MAX_BLOB: u32 = 16 << 20;
/// How long the rest of a SET_STATEBLOB blob may take between two reads.
const BLOB_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// GET_INFO flags.
const INFO_TPM_SPECIFICATION: u64 = 1;
const INFO_TPM_ATTRIBUTES: u64 = 2;
/// Room for the JSON text in one GET_INFO reply (swtpm's buffer).
const INFO_CHUNK: usize = 4096 - 12;

/// A well-formed control request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    GetCapability,
    Init {
        delete_volatile: bool,
    },
    Shutdown,
    GetTpmEstablished,
    SetLocality(u8),
    HashStart,
    /// `first` is the part of the data that came with the request (at most `length`).
    HashData {
        length: u32,
        first: &'a [u8],
    },
    HashEnd,
    CancelTpmCmd,
    StoreVolatile,
    ResetTpmEstablished(u8),
    GetStateBlob {
        kind: u32,
        offset: u32,
    },
    /// `first` is the part of the blob that came with the request.
    SetStateBlob {
        kind: u32,
        length: u32,
        first: &'a [u8],
    },
    Stop,
    GetConfig,
    SetDataFd,
    SetBufferSize(u32),
    GetInfo {
        flags: u64,
        offset: u32,
    },
    /// u32 retries (10 ms apart) to take the state lock.
    LockStorage(u32),
    Unknown(u32),
}

/// Bytes a request must have before it is processed (swtpm's rule: the command word,
/// plus the fixed payload of INIT, SET_LOCALITY, RESET_TPMESTABLISHED, and HASH_DATA's
/// length and data).
pub fn needed_len(buf: &[u8]) -> usize {
    let Some(command) = be_u32(buf, 0) else {
        return 4;
    };
    match command {
        INIT => 8,
        SET_LOCALITY | RESET_TPMESTABLISHED => 5,
        GET_STATEBLOB => 16,
        SET_STATEBLOB => match be_u32(buf, 12) {
            Some(length) => 16usize.saturating_add(length as usize),
            None => 16,
        },
        HASH_DATA => match be_u32(buf, 4) {
            Some(length) => 8usize.saturating_add(length as usize),
            None => 8,
        },
        _ => 4,
    }
}

/// Whether `command` is refused (TPM_BAD_ORDINAL) while the TPM is not running.
pub fn needs_running(command: u32) -> bool {
    matches!(
        command,
        GET_TPMESTABLISHED
            | RESET_TPMESTABLISHED
            | HASH_START
            | HASH_DATA
            | HASH_END
            | CANCEL_TPM_CMD
            | STORE_VOLATILE
            | GET_STATEBLOB
    )
}

/// Parses one request; `Err` is the TPM 1.2 result for a malformed one.
pub fn parse(buf: &[u8]) -> Result<Request<'_>, u32> {
    let command = be_u32(buf, 0).ok_or(TPM_BAD_PARAMETER)?;
    let payload = buf.get(4..).unwrap_or_default();
    let empty = |r: Request<'static>| {
        if payload.is_empty() {
            Ok(r)
        } else {
            Err(TPM_BAD_PARAMETER)
        }
    };
    let first_byte = || payload.first().copied().ok_or(TPM_BAD_PARAMETER);
    match command {
        // swtpm ignores surplus bytes here.
        GET_CAPABILITY => Ok(Request::GetCapability),
        INIT if payload.len() == 4 => Ok(Request::Init {
            delete_volatile: be_u32(payload, 0).unwrap_or(0) & 1 != 0,
        }),
        INIT => Err(TPM_BAD_PARAMETER),
        SHUTDOWN => empty(Request::Shutdown),
        GET_TPMESTABLISHED => empty(Request::GetTpmEstablished),
        SET_LOCALITY => first_byte().map(Request::SetLocality),
        HASH_START => empty(Request::HashStart),
        HASH_DATA => parse_hash_data(payload),
        HASH_END => empty(Request::HashEnd),
        CANCEL_TPM_CMD => empty(Request::CancelTpmCmd),
        STORE_VOLATILE => empty(Request::StoreVolatile),
        RESET_TPMESTABLISHED => first_byte().map(Request::ResetTpmEstablished),
        GET_STATEBLOB => match (be_u32(payload, 4), be_u32(payload, 8)) {
            (Some(kind), Some(offset)) => Ok(Request::GetStateBlob { kind, offset }),
            _ => Err(TPM_BAD_PARAMETER),
        },
        SET_STATEBLOB => {
            let (Some(kind), Some(length)) = (be_u32(payload, 4), be_u32(payload, 8)) else {
                return Err(TPM_BAD_PARAMETER);
            };
            let first = payload.get(12..).unwrap_or_default();
            // More bytes than announced: swtpm's TPM_BAD_PARAMETER.
            if first.len() > length as usize {
                return Err(TPM_BAD_PARAMETER);
            }
            Ok(Request::SetStateBlob {
                kind,
                length,
                first,
            })
        }
        STOP => empty(Request::Stop),
        GET_CONFIG => empty(Request::GetConfig),
        SET_DATAFD => Ok(Request::SetDataFd),
        SET_BUFFERSIZE => be_u32(payload, 0)
            .map(Request::SetBufferSize)
            .ok_or(TPM_BAD_PARAMETER),
        GET_INFO => match (be_u64(payload, 0), be_u32(payload, 8), payload.len() >= 16) {
            (Some(flags), Some(offset), true) => Ok(Request::GetInfo { flags, offset }),
            _ => Err(TPM_BAD_PARAMETER),
        },
        LOCK_STORAGE => be_u32(payload, 0)
            .map(Request::LockStorage)
            .ok_or(TPM_BAD_PARAMETER),
        other => Ok(Request::Unknown(other)),
    }
}

fn parse_hash_data(payload: &[u8]) -> Result<Request<'_>, u32> {
    let length = be_u32(payload, 0).ok_or(TPM_BAD_PARAMETER)?;
    let data = payload.get(4..).unwrap_or_default();
    let first = data
        .get(..data.len().min(length as usize))
        .unwrap_or_default();
    Ok(Request::HashData { length, first })
}

/// The GET_CAPABILITY bitmap: exactly the commands this server implements.
pub fn capabilities(set_datafd: bool) -> u64 {
    let caps = CAP_INIT
        | CAP_SHUTDOWN
        | CAP_GET_TPMESTABLISHED
        | CAP_SET_LOCALITY
        | CAP_HASHING
        | CAP_CANCEL_TPM_CMD
        | CAP_STORE_VOLATILE
        | CAP_RESET_TPMESTABLISHED
        | CAP_GET_STATEBLOB
        | CAP_SET_STATEBLOB
        | CAP_STOP
        | CAP_GET_CONFIG
        | CAP_SET_BUFFERSIZE
        | CAP_GET_INFO
        | CAP_SEND_COMMAND_HEADER
        | CAP_LOCK_STORAGE;
    if set_datafd {
        caps | CAP_SET_DATAFD
    } else {
        caps
    }
}

/// The GET_INFO JSON text (without the terminating NUL) for `flags`.
pub fn info_json(flags: u64) -> String {
    use vtpm_commands::consts;
    let mut parts = Vec::new();
    if flags & INFO_TPM_SPECIFICATION != 0 {
        parts.push(format!(
            "\"TPMSpecification\":{{\"family\":\"2.0\",\"level\":{},\"revision\":{}}}",
            consts::SPEC_LEVEL,
            consts::SPEC_REVISION
        ));
    }
    if flags & INFO_TPM_ATTRIBUTES != 0 {
        parts.push(format!(
            "\"TPMAttributes\":{{\"manufacturer\":\"id:{:08X}\",\"version\":\"id:{:08X}\",\"model\":\"vtpm\"}}",
            u32::from_be_bytes(consts::MANUFACTURER),
            consts::FIRMWARE_VERSION_1
        ));
    }
    format!("{{{}}}", parts.join(","))
}

/// The GET_INFO reply: result, total length, chunk length, chunk; the text counts
/// its terminating NUL, as swtpm's does.
pub fn info_reply(flags: u64, offset: u32) -> Vec<u8> {
    let mut text = info_json(flags).into_bytes();
    let visible = text.len();
    text.push(0);
    let offset = offset as usize;
    if offset >= visible {
        return u32s(&[TPM_BAD_PARAMETER]);
    }
    let chunk = text.get(offset..).unwrap_or_default();
    let chunk = chunk.get(..chunk.len().min(INFO_CHUNK)).unwrap_or_default();
    let as_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut out = u32s(&[TPM_SUCCESS, as_u32(text.len()), as_u32(chunk.len())]);
    out.extend_from_slice(chunk);
    out
}

/// SET_BUFFERSIZE: 0 queries; other sizes are clamped to the limits.
pub fn clamp_buffer_size(requested: u32) -> u32 {
    requested.clamp(MIN_BUFFER_SIZE, MAX_BUFFER_SIZE)
}

/// What to do after a reply has been written.
enum After {
    Continue,
    Exit,
}

/// Serves one control connection: one or many requests.
pub fn serve(sw: &Arc<Swtpm>, mut stream: Stream) {
    let mut buf = vec![0u8; MAX_REQUEST];
    loop {
        let (len, fd) = match receive(&mut stream, &mut buf) {
            Ok(Some(received)) => received,
            Ok(None) => return,
            Err(e) => {
                vlog!(1, "control channel: {e}; closing");
                return;
            }
        };
        let request = buf.get(..len).unwrap_or_default();
        let (reply, after) = respond(sw, request, &mut stream, fd);
        if stream.write_all(&reply).is_err() {
            return;
        }
        if let After::Exit = after {
            let _ = sw.exit.send(ExitReason::Shutdown);
            return;
        }
    }
}

/// Receives one request into `buf`: one read, topped up until the command's minimum
/// length within [`REQUEST_DEADLINE`]. `None`: the client closed or timed out.
fn receive(stream: &mut Stream, buf: &mut [u8]) -> io::Result<Option<(usize, Option<OwnedFd>)>> {
    stream.set_read_timeout(None)?;
    let (mut got, fd) = loop {
        match stream.read_with_fd(buf) {
            Ok((0, _)) => return Ok(None),
            Ok(received) => break received,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    let deadline = Instant::now() + REQUEST_DEADLINE;
    while got < needed_len(buf.get(..got).unwrap_or_default()).min(buf.len()) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(buf.get_mut(got..).unwrap_or_default()) {
            Ok(0) => return Ok(None),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Some((got, fd)))
}

fn respond(
    sw: &Arc<Swtpm>,
    buf: &[u8],
    stream: &mut Stream,
    fd: Option<OwnedFd>,
) -> (Vec<u8>, After) {
    let command = be_u32(buf, 0).unwrap_or(0);
    vlog!(1, "control command {} ({command})", command_name(command));
    let running = || sw.tpm.try_lock().is_none_or(|d| d.is_powered());
    if needs_running(command) && !running() {
        return (u32s(&[TPM_BAD_ORDINAL]), After::Continue);
    }
    match parse(buf) {
        Ok(Request::Shutdown) => (shutdown(sw), After::Exit),
        Ok(Request::GetStateBlob { kind, offset }) => {
            (get_state_blob(sw, kind, offset), After::Continue)
        }
        Ok(Request::SetStateBlob {
            kind,
            length,
            first,
        }) => (
            u32s(&[set_state_blob(sw, kind, length, first, stream)]),
            After::Continue,
        ),
        Ok(request) => (execute(sw, request, stream, fd), After::Continue),
        Err(code) => (u32s(&[code]), After::Continue),
    }
}

fn execute(
    sw: &Arc<Swtpm>,
    request: Request<'_>,
    stream: &mut Stream,
    fd: Option<OwnedFd>,
) -> Vec<u8> {
    match request {
        Request::GetCapability => capabilities(sw.ctrl_is_unix).to_be_bytes().to_vec(),
        Request::Init { delete_volatile } => u32s(&[init(sw, delete_volatile)]),
        Request::GetTpmEstablished => u32s(&[
            TPM_SUCCESS,
            u32::from(sw.tpm.lock().tpm_established()) << 24,
        ]),
        Request::SetLocality(locality) => u32s(&[set_locality(sw, locality)]),
        Request::HashStart => {
            sw.tpm.lock().hash_start();
            u32s(&[TPM_SUCCESS])
        }
        Request::HashData { length, first } => u32s(&[hash_data(sw, length, first, stream)]),
        Request::HashEnd => u32s(&[device_result(sw.tpm.lock().hash_end())]),
        Request::CancelTpmCmd => {
            sw.tpm.set_cancel(true);
            u32s(&[TPM_SUCCESS])
        }
        Request::StoreVolatile => u32s(&[device_result(sw.tpm.lock().store_volatile())]),
        Request::ResetTpmEstablished(locality) => u32s(&[reset_established(sw, locality)]),
        Request::Stop => {
            sw.tpm.lock().power_off();
            u32s(&[TPM_SUCCESS])
        }
        Request::GetConfig => {
            let mut flags = 0;
            if sw.tpm.encrypted() {
                flags |= CONFIG_FLAG_FILE_KEY;
            }
            if sw.tpm.migration_key().is_some() {
                flags |= CONFIG_FLAG_MIGRATION_KEY;
            }
            u32s(&[TPM_SUCCESS, flags])
        }
        Request::SetDataFd => u32s(&[set_datafd(sw, fd)]),
        Request::SetBufferSize(size) => set_buffer_size(sw, size),
        Request::GetInfo { flags, offset } => info_reply(flags, offset),
        // The state's lock is taken at start and held until the process
        // exits (nothing releases it, unlike swtpm's --migration
        // release-lock-outgoing), so the storage is locked already.
        Request::LockStorage(_retries) => u32s(&[TPM_SUCCESS]),
        Request::Shutdown
        | Request::GetStateBlob { .. }
        | Request::SetStateBlob { .. }
        | Request::Unknown(_) => u32s(&[TPM_BAD_ORDINAL]),
    }
}

/// INIT: _TPM_Init. The TPM then waits for TPM2_Startup: swtpm 0.7.1 sends its
/// automatic Startup (--flags startup-*) once at process start, not after INIT
/// (measured: GetRandom after INIT answers TPM_RC_INITIALIZE).
///
/// swtpm resumes from volatile state stored by STORE_VOLATILE even when bit 0
/// (delete volatile state) is set: it deletes the state file only after loading it.
/// The device consumes stored volatile state at power-on, which is that behaviour;
/// asking it to discard the state first would lose the resume.
fn init(sw: &Arc<Swtpm>, delete_volatile: bool) -> u32 {
    vlog!(
        1,
        "INIT (delete volatile state after use: {delete_volatile})"
    );
    match sw.tpm.power_on(false, None) {
        Ok(()) => TPM_SUCCESS,
        Err(e) => {
            crate::log::error(format_args!("INIT: {e}"));
            TPM_FAIL
        }
    }
}

fn shutdown(sw: &Arc<Swtpm>) -> Vec<u8> {
    sw.tpm.lock().power_off();
    u32s(&[TPM_SUCCESS])
}

fn set_locality(sw: &Arc<Swtpm>, locality: u8) -> u32 {
    if locality > 4 || (locality == 4 && sw.reject_locality_4) {
        return TPM_BAD_LOCALITY;
    }
    sw.locality.store(locality, Ordering::SeqCst);
    TPM_SUCCESS
}

fn reset_established(sw: &Arc<Swtpm>, locality: u8) -> u32 {
    match sw.tpm.lock().reset_established(locality) {
        Ok(()) => TPM_SUCCESS,
        Err(vtpm::DeviceError::NotAllowed) => TPM_BAD_LOCALITY,
        Err(e) => device_result(Err(e)),
    }
}

/// Hashes `length` bytes: those that came with the request, then the rest as it
/// arrives (HASH_DATA may be larger than one request).
fn hash_data(sw: &Arc<Swtpm>, length: u32, first: &[u8], stream: &mut Stream) -> u32 {
    sw.tpm.lock().hash_data(first);
    let mut remaining = (length as usize).saturating_sub(first.len());
    let mut chunk = vec![0u8; MAX_REQUEST];
    while remaining > 0 {
        let want = chunk
            .get_mut(..remaining.min(MAX_REQUEST))
            .unwrap_or_default();
        match stream.read(want) {
            Ok(0) | Err(_) => return TPM_IOERROR,
            Ok(n) => {
                sw.tpm.lock().hash_data(want.get(..n).unwrap_or_default());
                remaining = remaining.saturating_sub(n);
            }
        }
    }
    TPM_SUCCESS
}

fn blob_kind(kind: u32) -> Option<vtpm::BlobKind> {
    match kind {
        BLOB_PERMANENT => Some(vtpm::BlobKind::Permanent),
        BLOB_VOLATILE => Some(vtpm::BlobKind::Volatile),
        BLOB_SAVESTATE => Some(vtpm::BlobKind::Savestate),
        _ => None,
    }
}

/// GET_STATEBLOB: result, state flags, total length, length, then the blob from
/// `offset` (swtpm sends the whole rest at once on a socket). The blob is a vtpm
/// state image of that part, sealed with the migration key if there is one.
fn get_state_blob(sw: &Arc<Swtpm>, kind: u32, offset: u32) -> Vec<u8> {
    let Some(which) = blob_kind(kind) else {
        return u32s(&[TPM_BAD_PARAMETER, 0, 0, 0]);
    };
    let blob = match sw.tpm.lock().export_blob(which) {
        Ok(b) => b,
        Err(e) => return u32s(&[device_result(Err(e)), 0, 0, 0]),
    };
    let (blob, flags) = match sw.tpm.migration_key() {
        Some(key) => {
            let mut rng = |out: &mut [u8]| getrandom::fill(out).is_ok();
            match vtpm_nvram::blob::seal(key, kind, &blob, &mut rng) {
                Ok(sealed) => (sealed, STATE_FLAG_ENCRYPTED),
                Err(e) => {
                    crate::log::error(format_args!("GET_STATEBLOB: {e}"));
                    return u32s(&[TPM_FAIL, 0, 0, 0]);
                }
            }
        }
        None => (blob, 0),
    };
    let rest = blob.get(offset as usize..).unwrap_or_default();
    let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
    let mut out = u32s(&[TPM_SUCCESS, flags, len, len]);
    out.extend_from_slice(rest);
    out
}

/// SET_STATEBLOB: only while the TPM is stopped; the blob is the part that came with
/// the request and the rest read from the stream.
fn set_state_blob(
    sw: &Arc<Swtpm>,
    kind: u32,
    length: u32,
    first: &[u8],
    stream: &mut Stream,
) -> u32 {
    if sw.tpm.lock().is_powered() {
        return TPM_BAD_ORDINAL;
    }
    if length > MAX_BLOB {
        return TPM_BAD_PARAMETER;
    }
    let mut blob = zeroize::Zeroizing::new(first.to_vec());
    let mut chunk = zeroize::Zeroizing::new(vec![0u8; 64 * 1024]);
    if stream.set_read_timeout(Some(BLOB_READ_TIMEOUT)).is_err() {
        return TPM_IOERROR;
    }
    while blob.len() < length as usize {
        let want = (length as usize - blob.len()).min(chunk.len());
        match stream.read(chunk.get_mut(..want).unwrap_or_default()) {
            Ok(0) => return TPM_BAD_PARAMETER,
            Ok(n) => blob.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return TPM_IOERROR,
        }
    }
    let Some(which) = blob_kind(kind) else {
        return TPM_BAD_PARAMETER;
    };
    let sealed = blob.get(..8) == Some(&vtpm_nvram::blob::MAGIC[..]);
    let plain = match (sw.tpm.migration_key(), sealed) {
        (Some(key), _) => match vtpm_nvram::blob::open(key, kind, &blob) {
            Ok(p) => p,
            Err(e) => {
                crate::log::error(format_args!("SET_STATEBLOB: {e}"));
                return TPM_FAIL;
            }
        },
        (None, true) => {
            crate::log::error(format_args!(
                "SET_STATEBLOB: the blob is encrypted with a migration key: start with --migration-key"
            ));
            return TPM_FAIL;
        }
        (None, false) => blob,
    };
    device_result(sw.tpm.lock().import_blob(which, &plain))
}

/// SET_DATAFD: the passed socket becomes the data channel (QEMU). Only on a Unix
/// control socket, only without a data listener, and only once.
fn set_datafd(sw: &Arc<Swtpm>, fd: Option<OwnedFd>) -> u32 {
    if !sw.ctrl_is_unix || sw.has_data_server || sw.datafd_taken.load(Ordering::SeqCst) {
        return TPM_IOERROR;
    }
    let Some(fd) = fd else {
        return TPM_BAD_PARAMETER;
    };
    sw.datafd_taken.store(true, Ordering::SeqCst);
    match sw.spawn_data(Stream::Unix(std::os::unix::net::UnixStream::from(fd))) {
        Ok(()) => TPM_SUCCESS,
        Err(e) => {
            crate::log::error(format_args!("SET_DATAFD: {e}"));
            sw.datafd_taken.store(false, Ordering::SeqCst);
            TPM_IOERROR
        }
    }
}

/// SET_BUFFERSIZE: 0 queries; setting is allowed only while the TPM is stopped.
fn set_buffer_size(sw: &Arc<Swtpm>, requested: u32) -> Vec<u8> {
    if requested != 0 {
        if sw.tpm.lock().is_powered() {
            return u32s(&[TPM_BAD_ORDINAL]);
        }
        sw.buffer_size
            .store(clamp_buffer_size(requested), Ordering::SeqCst);
    }
    u32s(&[
        TPM_SUCCESS,
        sw.buffer_size.load(Ordering::SeqCst),
        MIN_BUFFER_SIZE,
        MAX_BUFFER_SIZE,
    ])
}

fn device_result(result: Result<(), vtpm::DeviceError>) -> u32 {
    match result {
        Ok(()) => TPM_SUCCESS,
        Err(vtpm::DeviceError::Platform(e)) => {
            crate::log::error(format_args!("control channel: {}", e.0));
            TPM_IOERROR
        }
        Err(e) => {
            crate::log::error(format_args!("control channel: {e}"));
            TPM_FAIL
        }
    }
}

fn command_name(command: u32) -> &'static str {
    match command {
        GET_CAPABILITY => "GET_CAPABILITY",
        INIT => "INIT",
        SHUTDOWN => "SHUTDOWN",
        GET_TPMESTABLISHED => "GET_TPMESTABLISHED",
        SET_LOCALITY => "SET_LOCALITY",
        HASH_START => "HASH_START",
        HASH_DATA => "HASH_DATA",
        HASH_END => "HASH_END",
        CANCEL_TPM_CMD => "CANCEL_TPM_CMD",
        STORE_VOLATILE => "STORE_VOLATILE",
        RESET_TPMESTABLISHED => "RESET_TPMESTABLISHED",
        GET_STATEBLOB => "GET_STATEBLOB",
        SET_STATEBLOB => "SET_STATEBLOB",
        STOP => "STOP",
        GET_CONFIG => "GET_CONFIG",
        SET_DATAFD => "SET_DATAFD",
        SET_BUFFERSIZE => "SET_BUFFERSIZE",
        GET_INFO => "GET_INFO",
        LOCK_STORAGE => "LOCK_STORAGE",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .filter_map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect()
    }

    #[test]
    fn parses_fixed_requests() {
        assert_eq!(parse(&bytes("00000001")), Ok(Request::GetCapability));
        assert_eq!(parse(&bytes("0000000100")), Ok(Request::GetCapability));
        assert_eq!(
            parse(&bytes("0000000200000001")),
            Ok(Request::Init {
                delete_volatile: true
            })
        );
        assert_eq!(
            parse(&bytes("0000000200000000")),
            Ok(Request::Init {
                delete_volatile: false
            })
        );
        assert_eq!(parse(&bytes("0000000504")), Ok(Request::SetLocality(4)));
        assert_eq!(parse(&bytes("000000050300")), Ok(Request::SetLocality(3)));
        assert_eq!(
            parse(&bytes("0000000b03")),
            Ok(Request::ResetTpmEstablished(3))
        );
        assert_eq!(
            parse(&bytes("0000001100001000")),
            Ok(Request::SetBufferSize(4096))
        );
        assert_eq!(
            parse(&bytes("00000012000000000000000100000002ffffffff")),
            Ok(Request::GetInfo {
                flags: 1,
                offset: 2
            })
        );
        assert_eq!(
            parse(&bytes("000000130000012c")),
            Ok(Request::LockStorage(300))
        );
        assert_eq!(parse(&bytes("00000063")), Ok(Request::Unknown(0x63)));
    }

    #[test]
    fn malformed_requests_are_bad_parameter() {
        for hex in [
            "000000",
            "0000000200000000ff",
            "00000002",
            "00000004ff",
            "0000000e00",
            "0000000300",
            "00000005",
            "000000110000",
            "0000001200000000000000010000000000000",
            "00000007000000",
            "0000000f00",
            "00000013",
            "00000013000001",
        ] {
            assert_eq!(parse(&bytes(hex)), Err(TPM_BAD_PARAMETER), "{hex}");
        }
    }

    #[test]
    fn hash_data_takes_at_most_its_length() {
        assert_eq!(
            parse(&bytes("0000000700000002aabbcc")),
            Ok(Request::HashData {
                length: 2,
                first: &[0xaa, 0xbb]
            })
        );
        assert_eq!(
            parse(&bytes("0000000700000004aa")),
            Ok(Request::HashData {
                length: 4,
                first: &[0xaa]
            })
        );
    }

    #[test]
    fn needed_lengths() {
        assert_eq!(needed_len(&[]), 4);
        assert_eq!(needed_len(&bytes("00000005")), 5);
        assert_eq!(needed_len(&bytes("00000002")), 8);
        assert_eq!(needed_len(&bytes("00000007")), 8);
        assert_eq!(needed_len(&bytes("0000000700000010")), 24);
        assert_eq!(needed_len(&bytes("00000007ffffffff")), 8 + 0xffff_ffff);
        assert_eq!(needed_len(&bytes("00000011")), 4);
    }

    #[test]
    fn capability_bits() {
        assert_eq!(capabilities(false), 0x1_efff);
        assert_eq!(capabilities(true), 0x1_ffff);
    }

    #[test]
    fn info_replies() {
        let reply = info_reply(0, 0);
        assert_eq!(reply, [0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, b'{', b'}', 0]);
        let spec = info_reply(INFO_TPM_SPECIFICATION, 0);
        let text = String::from_utf8_lossy(spec.get(12..).unwrap_or_default()).to_string();
        assert!(
            text.starts_with("{\"TPMSpecification\":{\"family\":\"2.0\",\"level\":"),
            "{text}"
        );
        let attrs = info_json(INFO_TPM_ATTRIBUTES);
        assert!(
            attrs.contains("\"manufacturer\":\"id:5654504D\""),
            "{attrs}"
        );
        let partial = info_reply(INFO_TPM_SPECIFICATION, 16);
        assert_eq!(be_u32(&partial, 4), be_u32(&spec, 4));
        assert_eq!(be_u32(&partial, 8).map(|l| l + 16), be_u32(&spec, 8));
        assert_eq!(info_reply(0, 2), u32s(&[TPM_BAD_PARAMETER]));
    }

    #[test]
    fn buffer_size_limits() {
        assert_eq!(clamp_buffer_size(1), MIN_BUFFER_SIZE);
        assert_eq!(clamp_buffer_size(3000), 3000);
        assert_eq!(clamp_buffer_size(0x2000), MAX_BUFFER_SIZE);
    }
}
