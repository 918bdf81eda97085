//! What both servers (swtpm socket, mssim) do around their protocol: open the TPM,
//! bind, go to the background, accept connections on threads, and exit in order.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::thread;

use crate::cli::{Common, Endpoint};
use crate::daemon::{self, ExitReason, ExitSender};
use crate::net::{Listener, Stream};
use crate::record::Recorder;
use crate::storage::StateLocation;
use crate::tpm::Tpm;
use crate::{log, vlog};

/// Sets up the log, reports command-line warnings and opens the TPM at `location`.
pub fn open_tpm(common: &Common, location: &StateLocation) -> Result<Arc<Tpm>, String> {
    log::init(&common.log).map_err(|e| format!("cannot open the log: {e}"))?;
    for warning in &common.warnings {
        log::error(format_args!("warning: {warning}"));
    }
    let mut tpm = Tpm::open(location, common.key.as_ref(), common.migration_key.as_ref())?;
    if let Some(path) = &common.record {
        let recorder = Recorder::open(path)
            .map_err(|e| format!("cannot open the record file {}: {e}", path.display()))?;
        tpm.record_to(recorder);
    }
    Ok(Arc::new(tpm))
}

pub fn bind(endpoint: &Endpoint, what: &str) -> Result<Listener, String> {
    let listener = Listener::bind(endpoint)
        .map_err(|e| format!("cannot listen for the {what} ({endpoint:?}): {e}"))?;
    vlog!(1, "{what} listening on {}", listener.describe());
    Ok(listener)
}

/// Goes to the background if asked (sockets are bound by now), writes the pid file,
/// and routes termination signals to the returned receiver. Must run before any
/// thread is spawned.
pub fn go_live(common: &Common) -> Result<(ExitSender, Receiver<ExitReason>), String> {
    if common.daemon {
        daemon::daemonize(common.pid.as_ref())
            .map_err(|e| format!("cannot run in the background: {e}"))?;
    } else if let Some(pid) = &common.pid {
        daemon::write_pid(pid, std::process::id().try_into().unwrap_or(0))
            .map_err(|e| format!("cannot write pid file: {e}"))?;
    }
    daemon::block_termination_signals().map_err(|e| format!("cannot block signals: {e}"))?;
    let (tx, rx) = daemon::exit_channel();
    daemon::spawn_signal_waiter(tx.clone())
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok((tx, rx))
}

/// Accepts connections on `listener` forever, each served on its own thread by
/// `serve`, so a client that stalls cannot block the others.
pub fn spawn_acceptor<F>(what: &'static str, listener: Listener, serve: F) -> Result<(), String>
where
    F: Fn(Stream) + Send + Sync + 'static,
{
    let serve = Arc::new(serve);
    thread::Builder::new()
        .name(what.into())
        .spawn(move || accept_loop(what, &listener, &serve))
        .map(|_| ())
        .map_err(|e| format!("cannot start the {what} thread: {e}"))
}

fn accept_loop<F>(what: &'static str, listener: &Listener, serve: &Arc<F>)
where
    F: Fn(Stream) + Send + Sync + 'static,
{
    loop {
        match listener.accept() {
            Ok(stream) => {
                vlog!(1, "{what}: connection accepted");
                let serve = serve.clone();
                let spawned = thread::Builder::new()
                    .name(format!("{what} connection"))
                    .spawn(move || {
                        serve(stream);
                        vlog!(1, "{what}: connection closed");
                    });
                if let Err(e) = spawned {
                    log::error(format_args!(
                        "{what}: cannot start a connection thread: {e}"
                    ));
                }
            }
            // e.g. EMFILE or ECONNABORTED: the listener stays usable; back off briefly.
            Err(e) => {
                log::error(format_args!("{what}: accept failed: {e}"));
                thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// Waits for the exit request, lets a command in progress finish (its state is
/// then durable), removes the files the server created and returns.
pub fn wait_for_exit(tpm: &Tpm, exits: &Receiver<ExitReason>, files: &[PathBuf]) {
    let reason = exits.recv().unwrap_or(ExitReason::Shutdown);
    vlog!(1, "exiting: {reason:?}");
    let device = tpm.lock();
    daemon::remove_files(files.iter().map(PathBuf::as_path));
    // The device stays locked until the process exits: no command starts after this.
    std::mem::forget(device);
}
