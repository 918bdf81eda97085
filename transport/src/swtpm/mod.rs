//! `vtpm socket`: the swtpm socket server, a data channel and a control channel
//! served concurrently against one device.

pub mod ctrl;
pub mod data;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32};

use crate::cli::SocketConfig;
use crate::daemon::{self, ExitSender};
use crate::host;
use crate::net::Stream;
use crate::server;
use crate::storage::StateLocation;
use crate::tpm::Tpm;

/// Everything the channels share.
pub struct Swtpm {
    pub tpm: Arc<Tpm>,
    /// The locality of raw data-channel commands (SET_LOCALITY).
    pub locality: AtomicU8,
    /// The largest command accepted (SET_BUFFERSIZE).
    pub buffer_size: AtomicU32,
    pub reject_locality_4: bool,
    pub disconnect: bool,
    pub terminate: bool,
    pub exit: ExitSender,
    /// SET_DATAFD needs SCM_RIGHTS, so a Unix control socket.
    pub ctrl_is_unix: bool,
    pub has_data_server: bool,
    pub datafd_taken: AtomicBool,
}

impl Swtpm {
    /// Serves `stream` as a data channel on its own thread (SET_DATAFD).
    pub fn spawn_data(self: &Arc<Self>, stream: Stream) -> std::io::Result<()> {
        let sw = self.clone();
        std::thread::Builder::new()
            .name("data channel (fd)".into())
            .spawn(move || data::serve(&sw, stream))?;
        Ok(())
    }
}

/// Runs the server until SHUTDOWN or a termination signal.
pub fn run(cfg: SocketConfig) -> Result<(), String> {
    let location = state_location(&cfg)?;
    let tpm = server::open_tpm(&cfg.common, &location)?;
    let data = cfg
        .server
        .as_ref()
        .map(|e| server::bind(e, "data channel"))
        .transpose()?;
    let ctrl = cfg
        .ctrl
        .as_ref()
        .map(|e| server::bind(e, "control channel"))
        .transpose()?;
    if cfg.not_need_init {
        tpm.power_on(false, cfg.startup)?;
    }
    let mut files: Vec<PathBuf> = [data.as_ref(), ctrl.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|l| l.socket_path().map(PathBuf::from))
        .collect();
    files.extend(daemon::pid_file_path(cfg.common.pid.as_ref()).map(PathBuf::from));
    let (exit, exits) = server::go_live(&cfg.common)?;
    let sw = Arc::new(Swtpm {
        tpm: tpm.clone(),
        locality: AtomicU8::new(0),
        buffer_size: AtomicU32::new(data::MAX_COMMAND_SIZE),
        reject_locality_4: cfg.reject_locality_4,
        disconnect: cfg.disconnect,
        terminate: cfg.terminate,
        exit,
        ctrl_is_unix: ctrl.as_ref().is_some_and(|l| l.is_unix()),
        has_data_server: data.is_some(),
        datafd_taken: AtomicBool::new(false),
    });
    if let Some(listener) = data {
        let sw = sw.clone();
        server::spawn_acceptor("data channel", listener, move |s| data::serve(&sw, s))?;
    }
    if let Some(listener) = ctrl {
        let sw = sw.clone();
        server::spawn_acceptor("control channel", listener, move |s| ctrl::serve(&sw, s))?;
    }
    if cfg.banner {
        print_banner(&cfg, tpm.state_path());
    }
    server::wait_for_exit(&tpm, &exits, &files);
    Ok(())
}

/// --tpmstate, else $TPM_PATH (as swtpm), else the default location when started
/// without arguments.
fn state_location(cfg: &SocketConfig) -> Result<StateLocation, String> {
    if let Some(file) = &cfg.common.state_file {
        return Ok(StateLocation::File(file.clone()));
    }
    if let Some(dir) = &cfg.common.state_dir {
        return Ok(StateLocation::Dir(dir.clone()));
    }
    if let Some(dir) = std::env::var_os("TPM_PATH").filter(|v| !v.is_empty()) {
        return Ok(StateLocation::Dir(PathBuf::from(dir)));
    }
    if cfg.banner {
        return host::default_state_dir().map(StateLocation::Dir);
    }
    Err("missing --tpmstate dir=DIR (or TPM_PATH)".into())
}

fn print_banner(cfg: &SocketConfig, state_dir: &std::path::Path) {
    let port = match &cfg.server {
        Some(crate::cli::Endpoint::Tcp { port, .. }) => *port,
        _ => crate::cli::DEFAULT_PORT,
    };
    eprintln!(
        "vtpm {}: TPM 2.0 listening on 127.0.0.1:{port} (control channel on port {}), state in {}\n\
         The TPM is powered on but not started. To use it with tpm2-tools:\n\n    \
         export TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port={port}\n    tpm2_startup -c\n\n\
         Stop it with Ctrl-C.",
        env!("CARGO_PKG_VERSION"),
        port.saturating_add(1),
        state_dir.display()
    );
}
