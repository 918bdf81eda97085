//! The swtpm data channel: raw TPM commands, or commands in the TPM_SEND_COMMAND
//! frame {u32 8, u8 locality, u32 length, command} answered as {u32 length, response, u32 0}.

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;

use super::Swtpm;
use crate::daemon::ExitReason;
use crate::net::{self, Stream};
use crate::wire::{self, TPM_RC_COMMAND_SIZE, be_u32, frame_response};

/// Largest command accepted (and the default SET_BUFFERSIZE).
pub const MAX_COMMAND_SIZE: u32 = 4096;
pub const HEADER_SIZE: u32 = 10;
/// First word of a TPM_SEND_COMMAND frame; never the start of a raw TPM 2.0
/// command, whose tag is 0x8001 or 0x8002.
const SEND_COMMAND: [u8; 4] = [0, 0, 0, 8];

#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Raw(Vec<u8>),
    Framed { locality: u8, command: Vec<u8> },
}

#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection between commands.
    Closed,
    /// The size is below a header or above `max`, or the client closed its side
    /// before the whole command arrived; answered (TPM_RC_COMMAND_SIZE, like swtpm),
    /// then the connection closes.
    BadSize {
        framed: bool,
    },
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Whether a command of `size` bytes (header included) can be accepted.
pub fn size_ok(size: u32, max: u32) -> bool {
    (HEADER_SIZE..=max).contains(&size)
}

/// Reads one command, framed or raw, of at most `max` bytes.
pub fn read_request(stream: &mut impl Read, max: u32) -> Result<Request, ReadError> {
    let mut first = [0u8; 4];
    if !net::read_full_or_eof(stream, &mut first)? {
        return Err(ReadError::Closed);
    }
    if first == SEND_COMMAND {
        let mut head = [0u8; 5];
        read_rest(stream, &mut head, true)?;
        let [locality, ..] = head;
        let size = be_u32(&head, 1).unwrap_or(0);
        if !size_ok(size, max) {
            return Err(ReadError::BadSize { framed: true });
        }
        let mut command = vec![0u8; size as usize];
        read_rest(stream, &mut command, true)?;
        return Ok(Request::Framed { locality, command });
    }
    let mut header = [0u8; HEADER_SIZE as usize];
    let (start, rest) = header.split_at_mut(4);
    start.copy_from_slice(&first);
    read_rest(stream, rest, false)?;
    let size = be_u32(&header, 2).unwrap_or(0);
    if !size_ok(size, max) {
        return Err(ReadError::BadSize { framed: false });
    }
    let mut command = header.to_vec();
    command.resize(size as usize, 0);
    if let Some(body) = command.get_mut(HEADER_SIZE as usize..) {
        read_rest(stream, body, false)?;
    }
    Ok(Request::Raw(command))
}

/// Reads the rest of a command that has begun; the end of input here is a
/// command shorter than announced.
fn read_rest(stream: &mut impl Read, buf: &mut [u8], framed: bool) -> Result<(), ReadError> {
    match net::read_full_or_eof(stream, buf) {
        Ok(true) => Ok(()),
        Ok(false) if buf.is_empty() => Ok(()),
        Ok(false) => Err(ReadError::BadSize { framed }),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ReadError::BadSize { framed }),
        Err(e) => Err(ReadError::Io(e)),
    }
}

/// The reply to a command whose size is out of range.
pub fn size_error(framed: bool) -> Vec<u8> {
    let response = wire::tpm_error_response(TPM_RC_COMMAND_SIZE);
    if framed {
        frame_response(&response)
    } else {
        response
    }
}

/// Serves one data connection until the client closes it (or sends garbage).
pub fn serve(sw: &Swtpm, mut stream: Stream) {
    if serve_commands(sw, &mut stream) {
        stream.close_after_reply();
    }
    if sw.terminate {
        let _ = sw.exit.send(ExitReason::DataClosed);
    }
}

/// Returns true when the connection ends with an error reply (to be delivered
/// before closing).
fn serve_commands(sw: &Swtpm, stream: &mut Stream) -> bool {
    // Header and body come out of one buffer: one read per command, not three.
    // The protocol is strictly request/response, so nothing is read ahead of
    // a reply the client still waits for.
    let mut reader = io::BufReader::with_capacity(8192, stream);
    loop {
        let max = sw.buffer_size.load(Ordering::SeqCst);
        let reply = match read_request(&mut reader, max) {
            Ok(Request::Raw(command)) => execute(sw, sw.locality.load(Ordering::SeqCst), &command),
            Ok(Request::Framed { locality, command }) => {
                frame_response(&execute(sw, locality, &command))
            }
            Err(ReadError::BadSize { framed }) => {
                crate::vlog!(1, "data channel: command size out of range; closing");
                return reader.get_mut().write_all(&size_error(framed)).is_ok();
            }
            Err(ReadError::Closed) => return false,
            Err(ReadError::Io(e)) => {
                crate::vlog!(1, "data channel: {e}; closing");
                return false;
            }
        };
        if reader.get_mut().write_all(&reply).is_err() || sw.disconnect {
            return false;
        }
    }
}

fn execute(sw: &Swtpm, locality: u8, command: &[u8]) -> Vec<u8> {
    // A CANCEL_TPM_CMD applies to the command in progress, not to later ones.
    sw.tpm.set_cancel(false);
    sw.tpm.execute(locality, command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Request, ReadError> {
        read_request(&mut &bytes[..], MAX_COMMAND_SIZE)
    }

    #[test]
    fn raw_command() {
        let cmd = [0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x44, 0, 0];
        assert_eq!(read(&cmd).ok(), Some(Request::Raw(cmd.to_vec())));
    }

    #[test]
    fn framed_command() {
        let mut bytes = vec![0, 0, 0, 8, 3, 0, 0, 0, 10];
        bytes.extend_from_slice(&[0x80, 1, 0, 0, 0, 10, 0, 0, 1, 0x81]);
        match read(&bytes) {
            Ok(Request::Framed {
                locality: 3,
                command,
            }) => assert_eq!(command.len(), 10),
            other => unreachable!("{other:?}"),
        }
        assert_eq!(frame_response(&[1, 2]), [0, 0, 0, 2, 1, 2, 0, 0, 0, 0]);
    }

    #[test]
    fn sizes_out_of_range() {
        assert!(matches!(
            read(&[0x80, 1, 0, 0, 0, 9, 0, 0, 1, 0x44]),
            Err(ReadError::BadSize { framed: false })
        ));
        assert!(matches!(
            read(&[0x80, 1, 0, 0, 0x10, 1, 0, 0, 1, 0x44]),
            Err(ReadError::BadSize { framed: false })
        ));
        assert!(matches!(
            read(&[0x80, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0x44]),
            Err(ReadError::BadSize { .. })
        ));
        assert!(matches!(
            read(&[0, 0, 0, 8, 0, 0, 0, 0x10, 1]),
            Err(ReadError::BadSize { framed: true })
        ));
        assert!(matches!(
            read(&[0, 0, 0, 8, 0, 0, 0, 0, 2]),
            Err(ReadError::BadSize { framed: true })
        ));
        assert!(size_ok(4096, MAX_COMMAND_SIZE) && !size_ok(4097, MAX_COMMAND_SIZE));
        assert_eq!(size_error(false), [0x80, 1, 0, 0, 0, 10, 0, 0, 1, 0x42]);
        assert_eq!(size_error(true).len(), 18);
    }

    #[test]
    fn truncated_and_empty() {
        assert!(matches!(read(&[]), Err(ReadError::Closed)));
        assert!(matches!(read(&[0x80, 1, 0]), Err(ReadError::Io(_))));
        assert!(matches!(
            read(&[0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x44, 0]),
            Err(ReadError::BadSize { framed: false })
        ));
        assert!(matches!(
            read(&[0x80, 1, 0, 0, 0, 12]),
            Err(ReadError::BadSize { framed: false })
        ));
        assert!(matches!(
            read(&[0, 0, 0, 8, 0, 0, 0, 0, 10, 0x80]),
            Err(ReadError::BadSize { framed: true })
        ));
    }
}
