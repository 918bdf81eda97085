//! The mssim command-port framing parser (`mssim::read_command_request`) over a
//! byte stream delivered in input-chosen pieces, and the shared wire helpers.
//!
//! Nothing may panic; requests are read until the stream ends or a request is
//! refused; every request must account for exactly the bytes it consumed, lengths
//! above MAX_BUFFER must be refused, and framing a response must round-trip.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use vtpm_transport::mssim::{self, CommandRequest, ReadError};
use vtpm_transport::wire;

struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    turn: usize,
    interrupted: bool,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self
            .sizes
            .get(self.turn % self.sizes.len().max(1))
            .copied()
            .unwrap_or(0);
        self.turn += 1;
        // An EINTR, never twice in a row (a retrying reader must make progress).
        if size == 0xFF && !self.interrupted {
            self.interrupted = true;
            return Err(io::ErrorKind::Interrupted.into());
        }
        self.interrupted = false;
        let n = usize::from(size).max(1).min(buf.len()).min(self.data.len());
        let (a, b) = self.data.split_at(n);
        buf[..n].copy_from_slice(a);
        self.data = b;
        Ok(n)
    }
}

/// Bytes a request occupies on the wire.
fn wire_len(request: &CommandRequest) -> usize {
    match request {
        CommandRequest::Send { command, .. } => 4 + 1 + 4 + command.len(),
        CommandRequest::Handshake { .. } | CommandRequest::SetAlternativeResult => 8,
        CommandRequest::HashData(d) => 8 + d.len(),
        _ => 4,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (sizes, stream) = rest.split_at(usize::from(n % 8).min(rest.len()));
    let mut reader = Chunked {
        data: stream,
        sizes,
        turn: 0,
        interrupted: false,
    };
    let mut consumed = 0usize;
    for _ in 0..64 {
        let before = reader.data.len();
        match mssim::read_command_request(&mut reader) {
            Ok(request) => {
                assert_eq!(
                    before - reader.data.len(),
                    wire_len(&request),
                    "{request:?}"
                );
                match &request {
                    CommandRequest::Send { locality, command } => {
                        assert!(command.len() <= mssim::MAX_BUFFER as usize);
                        assert_eq!(stream.get(consumed + 4), Some(locality));
                        let framed = wire::frame_response(command);
                        assert_eq!(wire::be_u32(&framed, 0), Some(command.len() as u32));
                        assert_eq!(framed.get(4..4 + command.len()), Some(&command[..]));
                        assert_eq!(framed.len(), command.len() + 8);
                        let _ = wire::command_code(command);
                    }
                    CommandRequest::HashData(d) => {
                        assert!(d.len() <= mssim::MAX_BUFFER as usize);
                    }
                    CommandRequest::Unknown(code) => {
                        // The server closes the connection: stop here.
                        assert!(!matches!(
                            *code,
                            mssim::SEND_COMMAND
                                | mssim::REMOTE_HANDSHAKE
                                | mssim::SIGNAL_HASH_START
                                | mssim::SIGNAL_HASH_DATA
                                | mssim::SIGNAL_HASH_END
                                | mssim::SET_ALTERNATIVE_RESULT
                                | mssim::SESSION_END
                                | mssim::STOP
                        ));
                        break;
                    }
                    _ => {}
                }
                consumed += before - reader.data.len();
            }
            Err(ReadError::TooLarge) => {
                // The refused length is the word after the command (and locality).
                let at = consumed
                    + if stream.get(consumed..consumed + 4) == Some(&[0, 0, 0, 8]) {
                        5
                    } else {
                        4
                    };
                let len = wire::be_u32(stream, at);
                assert!(
                    len.is_some_and(|l| l > mssim::MAX_BUFFER),
                    "TooLarge for {len:?}"
                );
                break;
            }
            Err(ReadError::Closed) => {
                assert_eq!(before, 0, "Closed only at a request boundary");
                break;
            }
            Err(ReadError::Io(_)) => break,
        }
    }
});
