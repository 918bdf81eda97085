//! `--record FILE`: every TPM command the server executes for a client (swtpm data
//! channel, raw or TPM_SEND_COMMAND framed; mssim SEND_COMMAND) and the response it
//! sends back, appended to FILE for replay (the `differential` runner of the
//! conformance crate reads it).
//!
//! # Format
//!
//! A text file, one exchange per line, in execution order:
//!
//! ```text
//! <locality> <command hex> <response hex>\n
//! ```
//!
//! - `locality`: the command's locality in decimal (0..=255, as the transport gave it);
//! - `command hex`: the whole command (header included) as lower-case hex, no separators;
//! - `response hex`: the whole response the device produced, same encoding. The
//!   transport framing (TPM_SEND_COMMAND length words) is in neither.
//!
//! Fields are separated by one space. Lines starting with `#` are comments: the
//! server writes none, but readers skip them (committed streams describe themselves
//! with them), as they skip empty lines.
//!
//! What is not recorded: control-channel and platform-port requests (power, cancel,
//! locality, _TPM_Hash_*), the automatic TPM2_Startup of `--flags startup-*` (it was
//! not received from a client), and commands the transport refused before they reached
//! the device (a size out of range, answered TPM_RC_COMMAND_SIZE).
//!
//! The file is opened for appending (created with mode 0600: commands and responses
//! can hold secrets, e.g. passwords in authorization areas and unsealed data). Each
//! exchange is written with a single `write` while the device is still locked, so
//! exchanges of concurrent connections never interleave, the order is the execution
//! order, and a line is in the file (kernel page cache) before the response is sent:
//! a SIGKILL loses nothing that was answered. Recording never changes a response;
//! a write error is logged once and recording stops.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// An open record file.
pub struct Recorder {
    file: File,
    failed: AtomicBool,
}

impl Recorder {
    /// Opens `path` for appending (creating it with mode 0600).
    pub fn open(path: &Path) -> io::Result<Recorder> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(Recorder {
            file,
            failed: AtomicBool::new(false),
        })
    }

    /// Appends one exchange. The caller holds the device lock.
    pub fn record(&self, locality: u8, command: &[u8], response: &[u8]) {
        if self.failed.load(Ordering::Relaxed) {
            return;
        }
        let line = line(locality, command, response);
        if let Err(e) = (&self.file)
            .write_all(line.as_bytes())
            .and_then(|()| (&self.file).flush())
        {
            self.failed.store(true, Ordering::Relaxed);
            crate::log::error(format_args!(
                "--record: cannot write the record file ({e}); recording stops"
            ));
        }
    }
}

/// One line of the record format, newline included.
pub fn line(locality: u8, command: &[u8], response: &[u8]) -> String {
    let mut s = String::with_capacity(6 + 2 * (command.len() + response.len()));
    let _ = write!(s, "{locality} ");
    hex_into(&mut s, command);
    s.push(' ');
    hex_into(&mut s, response);
    s.push('\n');
    s
}

fn hex_into(s: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        assert_eq!(
            line(3, &[0x80, 1, 0, 0, 0, 10, 0, 0, 1, 0x81], &[0xAB]),
            "3 80010000000a00000181 ab\n"
        );
    }

    #[test]
    fn appends_and_survives_reopen() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("rec");
        Recorder::open(&path)?.record(0, &[1, 2], &[3]);
        Recorder::open(&path)?.record(4, &[], &[0xFF]);
        assert_eq!(std::fs::read_to_string(&path)?, "0 0102 03\n4  ff\n");
        Ok(())
    }
}
