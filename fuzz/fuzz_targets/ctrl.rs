//! The swtpm control-channel request parser (`swtpm::ctrl::parse`, `needed_len`,
//! the GET_INFO and SET_BUFFERSIZE helpers) and the swtpm data-channel framing
//! (`swtpm::data::read_request`), without sockets.
//!
//! Nothing may panic; a parsed request must be consistent with its bytes (it
//! re-encodes to them, up to the surplus bytes swtpm ignores), and the data channel
//! must return exactly the command it framed, whatever the chunking of the stream.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use vtpm_transport::swtpm::ctrl::{self, Request};
use vtpm_transport::swtpm::data;

/// The bytes a request is made of (the fixed part; what `parse` needs).
fn encode(request: &Request<'_>) -> Vec<u8> {
    let word = |c: u32| c.to_be_bytes().to_vec();
    match request {
        Request::GetCapability => word(ctrl::GET_CAPABILITY),
        Request::Init { delete_volatile } => {
            [word(ctrl::INIT), word(u32::from(*delete_volatile))].concat()
        }
        Request::Shutdown => word(ctrl::SHUTDOWN),
        Request::GetTpmEstablished => word(ctrl::GET_TPMESTABLISHED),
        Request::SetLocality(l) => [word(ctrl::SET_LOCALITY), vec![*l]].concat(),
        Request::HashStart => word(ctrl::HASH_START),
        Request::HashData { length, first } => {
            [word(ctrl::HASH_DATA), word(*length), first.to_vec()].concat()
        }
        Request::HashEnd => word(ctrl::HASH_END),
        Request::CancelTpmCmd => word(ctrl::CANCEL_TPM_CMD),
        Request::StoreVolatile => word(ctrl::STORE_VOLATILE),
        Request::ResetTpmEstablished(l) => [word(ctrl::RESET_TPMESTABLISHED), vec![*l]].concat(),
        Request::Stop => word(ctrl::STOP),
        Request::GetConfig => word(ctrl::GET_CONFIG),
        Request::SetDataFd => word(ctrl::SET_DATAFD),
        Request::SetBufferSize(n) => [word(ctrl::SET_BUFFERSIZE), word(*n)].concat(),
        Request::GetInfo { flags, offset } => [
            word(ctrl::GET_INFO),
            flags.to_be_bytes().to_vec(),
            word(*offset),
            word(0), // swtpm's request has a u32 more (not used)
        ]
        .concat(),
        // The flags word (blob encryption, swtpm's) is not kept: 0 here.
        Request::GetStateBlob { kind, offset } => [
            word(ctrl::GET_STATEBLOB),
            word(0),
            word(*kind),
            word(*offset),
        ]
        .concat(),
        Request::SetStateBlob {
            kind,
            length,
            first,
        } => [
            word(ctrl::SET_STATEBLOB),
            word(0),
            word(*kind),
            word(*length),
            first.to_vec(),
        ]
        .concat(),
        Request::LockStorage(retries) => [word(ctrl::LOCK_STORAGE), word(*retries)].concat(),
        Request::Unknown(c) => word(*c),
    }
}

/// A reader that hands out the stream in pieces of the sizes the input chose
/// (sockets deliver partial reads), with an occasional EINTR.
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

fuzz_target!(|data: &[u8]| {
    // Control channel: the whole input is one request.
    let needed = ctrl::needed_len(data);
    assert!(needed >= 4);
    match ctrl::parse(data) {
        Ok(request) => {
            let bytes = encode(&request);
            // INIT keeps one flag bit of its word, GET_INFO ignores its last word,
            // the state-blob requests their flags word.
            let significant = match request {
                Request::Init { .. } => 4,
                Request::GetInfo { .. } => 16,
                _ => bytes.len(),
            };
            let skip_flags = matches!(
                request,
                Request::GetStateBlob { .. } | Request::SetStateBlob { .. }
            );
            if skip_flags {
                assert_eq!(data[..4], bytes[..4]);
                assert!(
                    data[8..].starts_with(&bytes[8..]),
                    "{request:?} re-encodes to its bytes but the flags"
                );
            } else {
                assert!(
                    data.starts_with(&bytes[..significant]),
                    "{request:?} re-encodes to a prefix of its bytes"
                );
            }
            assert_eq!(ctrl::parse(&bytes).as_ref(), Ok(&request), "re-parsed");
            match request {
                Request::HashData { length, first } => {
                    assert!(first.len() <= length as usize);
                }
                Request::GetInfo { flags, offset } => {
                    let reply = ctrl::info_reply(flags, offset);
                    assert!(reply.len() >= 4);
                    if reply.len() > 4 {
                        let total = u32::from_be_bytes([reply[4], reply[5], reply[6], reply[7]]);
                        let chunk = u32::from_be_bytes([reply[8], reply[9], reply[10], reply[11]]);
                        assert_eq!(chunk as usize, reply.len() - 12);
                        assert!(offset as usize + chunk as usize <= total as usize);
                    }
                }
                Request::SetBufferSize(n) => {
                    let size = ctrl::clamp_buffer_size(n);
                    assert!((ctrl::MIN_BUFFER_SIZE..=ctrl::MAX_BUFFER_SIZE).contains(&size));
                }
                Request::SetLocality(_) | Request::ResetTpmEstablished(_) => {
                    assert!(data.len() >= 5);
                }
                _ => {}
            }
        }
        Err(code) => assert_eq!(code, ctrl::TPM_BAD_PARAMETER),
    }

    // Data channel: the first byte splits chunk sizes from the stream; commands
    // are read until the stream ends or is refused.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (sizes, stream) = rest.split_at(usize::from(n % 8).min(rest.len()));
    let max = if n & 0x80 != 0 {
        ctrl::MIN_BUFFER_SIZE
    } else {
        data::MAX_COMMAND_SIZE
    };
    let mut reader = Chunked {
        data: stream,
        sizes,
        turn: 0,
        interrupted: false,
    };
    let mut consumed = 0usize;
    for _ in 0..64 {
        let before = reader.data.len();
        match data::read_request(&mut reader, max) {
            Ok(data::Request::Raw(command)) => {
                assert!(data::size_ok(command.len() as u32, max));
                let whole = stream.get(consumed..consumed + command.len());
                assert_eq!(whole, Some(&command[..]), "raw command = its bytes");
                let size = u32::from_be_bytes([command[2], command[3], command[4], command[5]]);
                assert_eq!(size as usize, command.len());
            }
            Ok(data::Request::Framed { locality, command }) => {
                assert!(data::size_ok(command.len() as u32, max));
                assert_eq!(stream.get(consumed + 4), Some(&locality));
                assert_eq!(
                    stream.get(consumed + 9..consumed + 9 + command.len()),
                    Some(&command[..])
                );
            }
            Err(_) => break,
        }
        consumed += before - reader.data.len();
    }
});
