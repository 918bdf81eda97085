//! How vtpm is reached from outside the process: an swtpm-compatible socket server
//! (data and control channel), the Microsoft simulator (mssim) protocol, and the
//! `vtpm` command line that starts either.

extern crate alloc;

use std::ffi::OsString;

pub mod capi;
pub mod cli;
pub mod crb;
pub mod daemon;
pub mod guest;
pub mod host;
pub mod hyperv;
pub mod log;
pub mod mssim;
pub mod net;
pub mod record;
pub mod server;
pub mod storage;
pub mod swtpm;
pub mod tpm;
pub mod vmgs;
pub mod wire;

use cli::Command;

/// Runs the `vtpm` command with `args` (without the program name); returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let args = match utf8_args(args) {
        Ok(a) => a,
        Err(msg) => return usage_error(&msg),
    };
    let command = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.0),
    };
    let result = match command {
        Command::Help => {
            print!("{}", cli::HELP);
            Ok(())
        }
        Command::Version => {
            println!("vtpm {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Socket(cfg) => swtpm::run(cfg),
        Command::Mssim(cfg) => mssim::run(cfg),
        Command::Vmgs(args) => vmgs::run(&args),
    };
    match result {
        Ok(()) => 0,
        Err(msg) => {
            // Into the log (the only output of a daemon) and onto the terminal, once.
            if !log::is_stderr() {
                log::error(format_args!("{msg}"));
            }
            eprintln!("vtpm: {msg}");
            1
        }
    }
}

fn utf8_args(args: Vec<OsString>) -> Result<Vec<String>, String> {
    args.into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("argument is not UTF-8: {}", a.to_string_lossy()))
        })
        .collect()
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("vtpm: {msg}\nTry 'vtpm --help' for more information.");
    1
}
