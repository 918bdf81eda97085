//! The server log (swtpm's `--log`). Level 0 messages are errors and always written;
//! level 1 adds connections and control commands, level 2 and more TPM command and
//! response codes. Command and response bytes are never logged: they can hold secrets.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::cli::{LogConfig, LogTarget};

struct Logger {
    level: u8,
    prefix: String,
    sink: Mutex<Sink>,
}

enum Sink {
    Stderr,
    File(File),
    Discard,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up the log once; before that (and if never called) errors go to stderr.
pub fn init(config: &LogConfig) -> io::Result<()> {
    let sink = match &config.target {
        LogTarget::Stderr => Sink::Stderr,
        LogTarget::Discard => Sink::Discard,
        LogTarget::File { path, truncate } => Sink::File(open_log_file(path, *truncate)?),
        // Opening /dev/fd/N duplicates the inherited descriptor without unsafe code.
        LogTarget::Fd(fd) => Sink::File(
            OpenOptions::new()
                .append(true)
                .open(format!("/dev/fd/{fd}"))?,
        ),
    };
    let logger = Logger {
        level: config.level,
        prefix: config.prefix.clone(),
        sink: Mutex::new(sink),
    };
    // A second init (not done by vtpm itself) keeps the first logger.
    let _ = LOGGER.set(logger);
    Ok(())
}

fn open_log_file(path: &std::path::Path, truncate: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true);
    if truncate {
        options.write(true).truncate(true);
    } else {
        options.append(true);
    }
    options.open(path)
}

/// Whether messages of `level` are written.
pub fn enabled(level: u8) -> bool {
    LOGGER.get().is_some_and(|l| level <= l.level)
}

/// Writes one line at `level` (0 = error, always written).
pub fn write(level: u8, args: fmt::Arguments) {
    let Some(logger) = LOGGER.get() else {
        if level == 0 {
            eprintln!("vtpm: {args}");
        }
        return;
    };
    if level > logger.level {
        return;
    }
    let line = format!("{}{args}\n", logger.prefix);
    let mut sink = logger.sink.lock().unwrap_or_else(PoisonError::into_inner);
    // A log that cannot be written must not stop the TPM; the error is dropped.
    let _ = match &mut *sink {
        Sink::Stderr => io::stderr().write_all(line.as_bytes()),
        Sink::File(f) => f.write_all(line.as_bytes()),
        Sink::Discard => Ok(()),
    };
}

/// Whether log lines go to stderr (so a caller need not print them again).
pub fn is_stderr() -> bool {
    LOGGER.get().is_none_or(|l| {
        matches!(
            *l.sink.lock().unwrap_or_else(PoisonError::into_inner),
            Sink::Stderr
        )
    })
}

/// An error message (level 0).
pub fn error(args: fmt::Arguments) {
    write(0, args);
}

/// `vlog!(level, "format", args...)`.
#[macro_export]
macro_rules! vlog {
    ($level:expr, $($arg:tt)*) => {
        $crate::log::write($level, format_args!($($arg)*))
    };
}
