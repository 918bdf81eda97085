//! `vtpm mssim`: the Microsoft TPM simulator protocol (tpm2-tss TCTI "mssim", IBM
//! TSS). Commands on port P, platform signals (power, cancel, NV...) on port P+1.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use crate::cli::{Endpoint, MssimConfig};
use crate::daemon::{self, ExitReason, ExitSender};
use crate::net::{self, Stream};
use crate::server;
use crate::tpm::Tpm;
use crate::vlog;
use crate::wire::{self, be_u32, u32s};

// Command port.
pub const SIGNAL_HASH_START: u32 = 5;
pub const SIGNAL_HASH_DATA: u32 = 6;
pub const SIGNAL_HASH_END: u32 = 7;
pub const SEND_COMMAND: u32 = 8;
pub const REMOTE_HANDSHAKE: u32 = 15;
pub const SET_ALTERNATIVE_RESULT: u32 = 16;
pub const SESSION_END: u32 = 20;
pub const STOP: u32 = 21;
// Platform port.
pub const SIGNAL_POWER_ON: u32 = 1;
pub const SIGNAL_POWER_OFF: u32 = 2;
pub const SIGNAL_PHYS_PRES_ON: u32 = 3;
pub const SIGNAL_PHYS_PRES_OFF: u32 = 4;
pub const SIGNAL_CANCEL_ON: u32 = 9;
pub const SIGNAL_CANCEL_OFF: u32 = 10;
pub const SIGNAL_NV_ON: u32 = 11;
pub const SIGNAL_NV_OFF: u32 = 12;
pub const SIGNAL_KEY_CACHE_ON: u32 = 13;
pub const SIGNAL_KEY_CACHE_OFF: u32 = 14;
pub const SIGNAL_RESET: u32 = 17;
pub const SIGNAL_RESTART: u32 = 18;
pub const GET_COMMAND_RESPONSE_SIZES: u32 = 25;
pub const ACT_GET_SIGNALED: u32 = 26;
pub const TEST_FAILURE_MODE: u32 = 30;

/// The simulator's protocol version and its REMOTE_HANDSHAKE flags: platform
/// available (1) | raw mode (4) | supports physical presence (8).
const SERVER_VERSION: u32 = 1;
const HANDSHAKE_FLAGS: u32 = 0x0d;
/// Largest command or HASH_DATA accepted.
pub const MAX_BUFFER: u32 = 4096;

/// What the simulator reports in GET_COMMAND_RESPONSE_SIZES.
#[derive(Default)]
struct Largest {
    command_size: u32,
    command_code: u32,
    response_size: u32,
    response_code: u32,
}

struct Mssim {
    tpm: Arc<Tpm>,
    largest: Mutex<Largest>,
    exit: ExitSender,
}

/// One request on the command port.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandRequest {
    Send {
        locality: u8,
        command: Vec<u8>,
    },
    Handshake {
        client_version: u32,
    },
    HashStart,
    HashData(Vec<u8>),
    HashEnd,
    SetAlternativeResult,
    SessionEnd,
    Stop,
    /// Unknown command: the simulator closes the connection without a reply.
    Unknown(u32),
}

#[derive(Debug)]
pub enum ReadError {
    Closed,
    /// A length above [`MAX_BUFFER`]: the connection is closed (as the simulator does).
    TooLarge,
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn read_u32(stream: &mut impl Read) -> Result<u32, ReadError> {
    let mut word = [0u8; 4];
    if !net::read_full_or_eof(stream, &mut word)? {
        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(u32::from_be_bytes(word))
}

/// {u32 length, bytes}, refusing lengths above [`MAX_BUFFER`].
fn read_var_bytes(stream: &mut impl Read) -> Result<Vec<u8>, ReadError> {
    let length = read_u32(stream)?;
    if length > MAX_BUFFER {
        return Err(ReadError::TooLarge);
    }
    let mut bytes = vec![0u8; length as usize];
    if !bytes.is_empty() && !net::read_full_or_eof(stream, &mut bytes)? {
        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(bytes)
}

/// Reads one command-port request.
pub fn read_command_request(stream: &mut impl Read) -> Result<CommandRequest, ReadError> {
    let mut word = [0u8; 4];
    if !net::read_full_or_eof(stream, &mut word)? {
        return Err(ReadError::Closed);
    }
    Ok(match u32::from_be_bytes(word) {
        SEND_COMMAND => {
            let mut locality = [0u8; 1];
            if !net::read_full_or_eof(stream, &mut locality)? {
                return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            let [locality] = locality;
            CommandRequest::Send {
                locality,
                command: read_var_bytes(stream)?,
            }
        }
        REMOTE_HANDSHAKE => CommandRequest::Handshake {
            client_version: read_u32(stream)?,
        },
        SIGNAL_HASH_START => CommandRequest::HashStart,
        SIGNAL_HASH_DATA => CommandRequest::HashData(read_var_bytes(stream)?),
        SIGNAL_HASH_END => CommandRequest::HashEnd,
        SET_ALTERNATIVE_RESULT => {
            read_u32(stream)?;
            CommandRequest::SetAlternativeResult
        }
        SESSION_END => CommandRequest::SessionEnd,
        STOP => CommandRequest::Stop,
        other => CommandRequest::Unknown(other),
    })
}

pub fn run(cfg: MssimConfig) -> Result<(), String> {
    let location = match (&cfg.common.state_file, &cfg.common.state_dir) {
        (Some(file), _) => crate::storage::StateLocation::File(file.clone()),
        (None, Some(dir)) => crate::storage::StateLocation::Dir(dir.clone()),
        (None, None) => crate::storage::StateLocation::Dir(crate::host::default_state_dir()?),
    };
    let tpm = server::open_tpm(&cfg.common, &location)?;
    let command_port = Endpoint::Tcp {
        bindaddr: cfg.bindaddr.clone(),
        port: cfg.port,
    };
    let platform_port = Endpoint::Tcp {
        bindaddr: cfg.bindaddr.clone(),
        port: cfg.port.saturating_add(1),
    };
    let commands = server::bind(&command_port, "mssim command port")?;
    let platform = server::bind(&platform_port, "mssim platform port")?;
    let files: Vec<PathBuf> = daemon::pid_file_path(cfg.common.pid.as_ref())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let (exit, exits) = server::go_live(&cfg.common)?;
    let sim = Arc::new(Mssim {
        tpm: tpm.clone(),
        largest: Mutex::new(Largest::default()),
        exit,
    });
    let s = sim.clone();
    server::spawn_acceptor("mssim command port", commands, move |stream| {
        serve_commands(&s, stream)
    })?;
    let s = sim.clone();
    server::spawn_acceptor("mssim platform port", platform, move |stream| {
        serve_platform(&s, stream)
    })?;
    server::wait_for_exit(&tpm, &exits, &files);
    Ok(())
}

fn serve_commands(sim: &Mssim, mut stream: Stream) {
    loop {
        let reply = match read_command_request(&mut stream) {
            Ok(CommandRequest::SessionEnd) | Err(ReadError::Closed) => return,
            Ok(CommandRequest::Stop) => {
                let _ = sim.exit.send(ExitReason::Stop);
                return;
            }
            Ok(CommandRequest::Unknown(code)) => {
                vlog!(1, "mssim: unknown command {code}; closing");
                return;
            }
            Ok(CommandRequest::Handshake { client_version: 0 }) => return,
            Ok(request) => command_reply(sim, request),
            Err(e) => {
                vlog!(1, "mssim command port: {e:?}; closing");
                return;
            }
        };
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}

fn command_reply(sim: &Mssim, request: CommandRequest) -> Vec<u8> {
    match request {
        CommandRequest::Send { locality, command } => {
            let response = sim.tpm.execute(locality, &command);
            sim.record_sizes(&command, &response);
            wire::frame_response(&response)
        }
        CommandRequest::Handshake { .. } => u32s(&[SERVER_VERSION, HANDSHAKE_FLAGS, 0]),
        CommandRequest::HashStart => {
            sim.tpm.lock().hash_start();
            u32s(&[0])
        }
        CommandRequest::HashData(data) => {
            sim.tpm.lock().hash_data(&data);
            u32s(&[0])
        }
        CommandRequest::HashEnd => {
            if let Err(e) = sim.tpm.lock().hash_end() {
                crate::log::error(format_args!("mssim HASH_END: {e}"));
            }
            u32s(&[0])
        }
        // The alternative result is a simulator test hook that does not apply here.
        _ => u32s(&[0]),
    }
}

impl Mssim {
    fn record_sizes(&self, command: &[u8], response: &[u8]) {
        let mut largest = self.largest.lock().unwrap_or_else(PoisonError::into_inner);
        let size = |b: &[u8]| u32::try_from(b.len()).unwrap_or(u32::MAX);
        if size(command) > largest.command_size {
            largest.command_size = size(command);
            largest.command_code = be_u32(command, 6).unwrap_or(0);
        }
        if size(response) > largest.response_size {
            largest.response_size = size(response);
            largest.response_code = be_u32(response, 6).unwrap_or(0);
        }
    }

    /// The simulator sends its host-order struct {largest command size, code,
    /// largest response size, code} as 16 bytes; the sizes are little-endian on
    /// the hosts it runs on, the codes are copied from the big-endian headers.
    fn take_sizes(&self) -> Vec<u8> {
        let mut largest = self.largest.lock().unwrap_or_else(PoisonError::into_inner);
        let l = std::mem::take(&mut *largest);
        let mut out = u32s(&[16]);
        out.extend_from_slice(&l.command_size.to_le_bytes());
        out.extend_from_slice(&l.command_code.to_be_bytes());
        out.extend_from_slice(&l.response_size.to_le_bytes());
        out.extend_from_slice(&l.response_code.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out
    }
}

/// What the platform port does after a signal.
#[derive(Debug, PartialEq, Eq)]
enum PlatformAfter {
    Reply(Vec<u8>),
    Close,
    /// Unknown signal: u32 1, then close.
    RefuseAndClose,
    Stop,
}

fn serve_platform(sim: &Mssim, mut stream: Stream) {
    loop {
        let signal = match read_u32(&mut stream) {
            Ok(s) => s,
            Err(_) => return,
        };
        vlog!(1, "mssim platform signal {signal}");
        match platform_signal(sim, signal, &mut stream) {
            PlatformAfter::Reply(reply) => {
                if stream.write_all(&reply).is_err() {
                    return;
                }
            }
            PlatformAfter::Close => return,
            PlatformAfter::RefuseAndClose => {
                let _ = stream.write_all(&u32s(&[1]));
                return;
            }
            PlatformAfter::Stop => {
                let _ = sim.exit.send(ExitReason::Stop);
                return;
            }
        }
    }
}

fn platform_signal(sim: &Mssim, signal: u32, stream: &mut Stream) -> PlatformAfter {
    let ok = || PlatformAfter::Reply(u32s(&[0]));
    match signal {
        SIGNAL_POWER_ON => power_on(sim, false),
        SIGNAL_POWER_OFF => {
            sim.tpm.lock().power_off();
            ok()
        }
        // A reset or restart is _TPM_Init of a powered TPM; without power it does nothing.
        SIGNAL_RESET | SIGNAL_RESTART => power_on(sim, true),
        SIGNAL_PHYS_PRES_ON | SIGNAL_PHYS_PRES_OFF => {
            sim.tpm.set_physical_presence(signal == SIGNAL_PHYS_PRES_ON);
            ok()
        }
        SIGNAL_CANCEL_ON | SIGNAL_CANCEL_OFF => {
            sim.tpm.set_cancel(signal == SIGNAL_CANCEL_ON);
            ok()
        }
        // NV is always available and there is no key cache to switch.
        SIGNAL_NV_ON | SIGNAL_NV_OFF | SIGNAL_KEY_CACHE_ON | SIGNAL_KEY_CACHE_OFF => ok(),
        TEST_FAILURE_MODE => {
            sim.tpm.lock().force_failure();
            ok()
        }
        GET_COMMAND_RESPONSE_SIZES => PlatformAfter::Reply(sim.take_sizes()),
        ACT_GET_SIGNALED => match read_u32(stream) {
            // No authenticated countdown timer ever signals.
            Ok(_handle) => PlatformAfter::Reply(u32s(&[0, 0])),
            Err(_) => PlatformAfter::Close,
        },
        SESSION_END => PlatformAfter::Close,
        STOP => PlatformAfter::Stop,
        _ => PlatformAfter::RefuseAndClose,
    }
}

/// POWER_ON powers an unpowered TPM (a powered one stays as it is, so each new
/// client's POWER_ON does not undo the previous client's TPM2_Startup); RESET and
/// RESTART re-initialize a powered one.
fn power_on(sim: &Mssim, reset: bool) -> PlatformAfter {
    let powered = sim.tpm.lock().is_powered();
    if powered == reset
        && let Err(e) = sim.tpm.power_on(false, None)
    {
        crate::log::error(format_args!("mssim: {e}"));
    }
    PlatformAfter::Reply(u32s(&[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<CommandRequest, ReadError> {
        read_command_request(&mut &bytes[..])
    }

    #[test]
    fn send_command_framing() {
        let mut bytes = vec![0, 0, 0, 8, 2, 0, 0, 0, 10];
        bytes.extend_from_slice(&[0x80, 1, 0, 0, 0, 10, 0, 0, 1, 0x81]);
        match read(&bytes) {
            Ok(CommandRequest::Send {
                locality: 2,
                command,
            }) => assert_eq!(command.len(), 10),
            other => unreachable!("{other:?}"),
        }
        assert_eq!(
            wire::frame_response(&[9, 9]),
            [0, 0, 0, 2, 9, 9, 0, 0, 0, 0]
        );
    }

    #[test]
    fn other_requests() {
        assert_eq!(
            read(&[0, 0, 0, 15, 0, 0, 0, 1]).ok(),
            Some(CommandRequest::Handshake { client_version: 1 })
        );
        assert_eq!(
            read(&[0, 0, 0, 6, 0, 0, 0, 2, 7, 7]).ok(),
            Some(CommandRequest::HashData(vec![7, 7]))
        );
        assert_eq!(
            read(&[0, 0, 0, 16, 0, 0, 0, 0]).ok(),
            Some(CommandRequest::SetAlternativeResult)
        );
        assert_eq!(read(&[0, 0, 0, 20]).ok(), Some(CommandRequest::SessionEnd));
        assert_eq!(read(&[0, 0, 0, 99]).ok(), Some(CommandRequest::Unknown(99)));
    }

    #[test]
    fn truncated_and_oversized() {
        assert!(matches!(read(&[]), Err(ReadError::Closed)));
        assert!(matches!(read(&[0, 0]), Err(ReadError::Io(_))));
        assert!(matches!(read(&[0, 0, 0, 8]), Err(ReadError::Io(_))));
        assert!(matches!(
            read(&[0, 0, 0, 8, 0, 0, 0, 0, 12, 0x80]),
            Err(ReadError::Io(_))
        ));
        assert!(matches!(
            read(&[0, 0, 0, 8, 0, 0, 0, 0x10, 1]),
            Err(ReadError::TooLarge)
        ));
        assert!(matches!(
            read(&[0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff]),
            Err(ReadError::TooLarge)
        ));
        assert!(matches!(read(&[0, 0, 0, 15, 0]), Err(ReadError::Io(_))));
    }
}
