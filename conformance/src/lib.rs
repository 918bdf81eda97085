//! Test harness for vtpm: free ports, server processes (vtpm or the swtpm reference peer),
//! tpm2-tools / swtpm_ioctl runners and a raw TCP TPM client.
//!
//! Everything here is for tests: errors are returned as `io::Result` and servers are killed
//! and reaped when their handle is dropped, also while a test panics.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod diff;
pub mod raw;
pub mod report;
pub mod suites;

/// How long a server may take until its data port accepts connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one tool invocation may run before it is killed.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// Read/write timeout of the raw client.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A port P such that P and P+1 are both free on 127.0.0.1 (bind-tested; unique within this process).
pub fn free_port_pair() -> u16 {
    // Spread test binaries over 20000..32000 by pid (below the kernel's ephemeral range, so a
    // client socket in TIME_WAIT never holds a port we pick); step by 2 so pairs never overlap
    // in-process.
    let base = (std::process::id() % 600) * 20;
    loop {
        let n = u32::from(NEXT_PORT.fetch_add(2, Ordering::Relaxed));
        let p = (20_000 + (base + n) % 12_000) as u16;
        let a = TcpListener::bind(("127.0.0.1", p));
        let b = TcpListener::bind(("127.0.0.1", p + 1));
        if a.is_ok() && b.is_ok() {
            return p;
        }
    }
}

/// Which server implementation a test talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// vtpm, with the path of its binary (`env!("CARGO_BIN_EXE_vtpm")` in integration tests).
    Vtpm(PathBuf),
    /// The reference peer `swtpm` found on PATH.
    Swtpm,
}

impl Peer {
    /// Short name for messages ("vtpm" or "swtpm").
    pub fn name(&self) -> &'static str {
        match self {
            Peer::Vtpm(_) => "vtpm",
            Peer::Swtpm => "swtpm",
        }
    }

    /// The program to execute.
    pub fn program(&self) -> PathBuf {
        match self {
            Peer::Vtpm(p) => p.clone(),
            Peer::Swtpm => PathBuf::from("swtpm"),
        }
    }
}

/// Server protocol: swtpm socket (data P, control P+1) or mssim (command P, platform P+1; vtpm only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `socket --tpm2 ... --server ... --ctrl ...`
    Socket,
    /// `mssim --port P --tpmstate dir=D`
    Mssim,
}

/// Where a server keeps its state: a temporary dir it owns, or a path the test keeps owning.
pub enum StateDir {
    /// Deleted with the server handle.
    Temp(TempDir),
    /// Left alone (e.g. to inspect it after a failed start).
    Path(PathBuf),
}

impl From<TempDir> for StateDir {
    fn from(d: TempDir) -> Self {
        StateDir::Temp(d)
    }
}

impl From<PathBuf> for StateDir {
    fn from(p: PathBuf) -> Self {
        StateDir::Path(p)
    }
}

/// A running server process with its own state directory; killed and reaped on drop.
pub struct TpmServer {
    /// The implementation that runs.
    pub peer: Peer,
    /// Protocol spoken on the ports.
    pub mode: Mode,
    /// Data (or mssim command) port; the control (or platform) port is `port + 1`.
    pub port: u16,
    flags: String,
    /// More arguments for the server (e.g. vtpm's `--record FILE`).
    extra_args: Vec<String>,
    state: StateDir,
    logs: TempDir,
    child: Option<Child>,
}

impl TpmServer {
    /// Start `peer` in socket mode with `--flags not-need-init` and a fresh state dir.
    pub fn socket(peer: &Peer) -> io::Result<TpmServer> {
        Self::start(peer, Mode::Socket, "not-need-init", TempDir::new()?)
    }

    /// [`TpmServer::socket`] with more server arguments.
    pub fn socket_with(peer: &Peer, extra_args: &[&str]) -> io::Result<TpmServer> {
        let mut s = TpmServer::new(peer, Mode::Socket, "not-need-init", TempDir::new()?)?;
        s.extra_args = extra_args.iter().map(|a| a.to_string()).collect();
        s.spawn()?;
        Ok(s)
    }

    /// [`TpmServer::start`] with more server arguments (e.g. vtpm's `--key`).
    pub fn start_with(
        peer: &Peer,
        flags: &str,
        state: impl Into<StateDir>,
        extra_args: &[&str],
    ) -> io::Result<TpmServer> {
        let mut s = TpmServer::new(peer, Mode::Socket, flags, state)?;
        s.extra_args = extra_args.iter().map(|a| a.to_string()).collect();
        s.spawn()?;
        Ok(s)
    }

    /// Start vtpm in mssim mode with a fresh state dir.
    pub fn mssim(peer: &Peer) -> io::Result<TpmServer> {
        Self::start(peer, Mode::Mssim, "", TempDir::new()?)
    }

    /// Start `peer` on a free port pair using `state` as the state dir; `flags` is the --flags value.
    pub fn start(
        peer: &Peer,
        mode: Mode,
        flags: &str,
        state: impl Into<StateDir>,
    ) -> io::Result<TpmServer> {
        let mut s = TpmServer::new(peer, mode, flags, state)?;
        s.spawn()?;
        Ok(s)
    }

    fn new(
        peer: &Peer,
        mode: Mode,
        flags: &str,
        state: impl Into<StateDir>,
    ) -> io::Result<TpmServer> {
        Ok(TpmServer {
            peer: peer.clone(),
            mode,
            port: 0,
            flags: flags.to_string(),
            extra_args: Vec::new(),
            state: state.into(),
            logs: TempDir::new()?,
            child: None,
        })
    }

    /// Starts the server on a fresh port pair. Another process may take the
    /// pair between our bind test and the server's bind: a server that exits
    /// during start-up is retried on other ports.
    fn spawn(&mut self) -> io::Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.spawn_once() {
                Err(e) if attempt < 4 && e.kind() == io::ErrorKind::AddrInUse => {}
                r => return r,
            }
        }
    }

    fn spawn_once(&mut self) -> io::Result<()> {
        self.port = free_port_pair();
        let p = self.port;
        let dir = self.state_dir().display().to_string();
        let logs = self.logs.path();
        let mut cmd = Command::new(self.peer.program());
        match self.mode {
            Mode::Socket => {
                cmd.args(["socket", "--tpm2", "--tpmstate", &format!("dir={dir}")]);
                cmd.args(["--server", &format!("type=tcp,port={p},bindaddr=127.0.0.1")]);
                cmd.args([
                    "--ctrl",
                    &format!("type=tcp,port={},bindaddr=127.0.0.1", p + 1),
                ]);
                if !self.flags.is_empty() {
                    cmd.args(["--flags", &self.flags]);
                }
                let log = logs.join("server.log").display().to_string();
                cmd.args(["--log", &format!("file={log},level=5")]);
            }
            Mode::Mssim => {
                cmd.args(["mssim", "--port", &p.to_string(), "--tpmstate"]);
                cmd.arg(format!("dir={dir}"));
            }
        }
        cmd.args(&self.extra_args);
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(logs.join("stdout"))?)
            .stderr(std::fs::File::create(logs.join("stderr"))?);
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {:?}: {e}", cmd)))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let listening = TcpStream::connect(("127.0.0.1", p)).is_ok();
            // A server that exited did not open the port: whoever answers is
            // another process, and the ports are taken.
            if let Some(st) = self.try_wait()? {
                self.child = None;
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{} exited during start-up ({st}): {}",
                        self.peer.name(),
                        self.output()
                    ),
                ));
            }
            if listening {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} did not open port {p}: {}",
                        self.peer.name(),
                        self.output()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The control port (socket mode) or platform port (mssim mode): `port + 1`.
    pub fn ctrl_port(&self) -> u16 {
        self.port + 1
    }

    /// The state directory given to the server.
    pub fn state_dir(&self) -> &Path {
        match &self.state {
            StateDir::Temp(d) => d.path(),
            StateDir::Path(p) => p,
        }
    }

    /// tpm2-tools runner whose TCTI points at this server (swtpm or mssim TCTI by mode).
    pub fn tools(&self) -> Tools {
        match self.mode {
            Mode::Socket => Tools::swtpm(self.port),
            Mode::Mssim => Tools::mssim(self.port),
        }
    }

    /// Run `swtpm_ioctl --tcp 127.0.0.1:<ctrl port> <args>`.
    pub fn ioctl(&self, args: &[&str]) -> Output {
        swtpm_ioctl(self.ctrl_port(), args)
    }

    /// Send one raw command on a new data connection and read the response.
    pub fn transact(&self, cmd: &[u8]) -> io::Result<Vec<u8>> {
        transact(self.port, cmd)
    }

    /// Whatever the server wrote to stdout, stderr and its log file so far.
    pub fn output(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.logs.path().join(n)).unwrap_or_default();
        format!(
            "[stdout] {} [stderr] {} [log] {}",
            read("stdout"),
            read("stderr"),
            read("server.log")
        )
    }

    /// `Some(status)` if the process has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => c.try_wait(),
            None => Ok(None),
        }
    }

    /// Wait up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL the process and reap it (no-op if already gone).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILL, then start the same peer again on the same state dir (new port pair).
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }

    /// SIGKILL the process and hand back its state dir (e.g. to corrupt it or reuse it).
    pub fn into_state(mut self) -> io::Result<StateDir> {
        self.kill();
        let empty = StateDir::Temp(TempDir::new()?);
        Ok(std::mem::replace(&mut self.state, empty))
    }
}

impl Drop for TpmServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Result of one external tool run.
#[derive(Debug)]
pub struct Output {
    /// Exit code; `None` if killed by a signal or on timeout.
    pub code: Option<i32>,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error (plus a note on timeout or spawn failure).
    pub stderr: String,
}

impl Output {
    /// Exit code was 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `program args` with extra environment and working dir, killed after `TOOL_TIMEOUT`.
pub fn run(program: &str, args: &[&str], env: &[(&str, &str)], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Output {
                code: None,
                stdout: String::new(),
                stderr: format!("cannot run {program} (is it installed?): {e}"),
            };
        }
    };
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = pipe(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = pipe(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                timed_out = true;
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let mut stderr = err.join().unwrap_or_default();
    if timed_out {
        stderr.push_str(&format!("\n[killed after {TOOL_TIMEOUT:?}]"));
    }
    Output {
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        stdout: out.join().unwrap_or_default(),
        stderr,
    }
}

/// Runs tpm2-tools binaries with `TPM2TOOLS_TCTI` set to one server.
#[derive(Clone, Debug)]
pub struct Tools {
    /// The TCTI string, e.g. `swtpm:host=127.0.0.1,port=2321`.
    pub tcti: String,
    /// Working directory for the tools (relative file arguments); current dir if `None`.
    pub cwd: Option<PathBuf>,
}

impl Tools {
    /// TCTI `swtpm:host=127.0.0.1,port=P`.
    pub fn swtpm(port: u16) -> Tools {
        Tools {
            tcti: format!("swtpm:host=127.0.0.1,port={port}"),
            cwd: None,
        }
    }

    /// TCTI `mssim:host=127.0.0.1,port=P`.
    pub fn mssim(port: u16) -> Tools {
        Tools {
            tcti: format!("mssim:host=127.0.0.1,port={port}"),
            cwd: None,
        }
    }

    /// Run e.g. `run("tpm2_getrandom", &["8", "--hex"])`.
    pub fn run(&self, tool: &str, args: &[&str]) -> Output {
        run(
            tool,
            args,
            &[("TPM2TOOLS_TCTI", &self.tcti)],
            self.cwd.as_deref(),
        )
    }
}

/// Run `swtpm_ioctl --tcp 127.0.0.1:<ctrl_port> <args>`.
pub fn swtpm_ioctl(ctrl_port: u16, args: &[&str]) -> Output {
    let addr = format!("127.0.0.1:{ctrl_port}");
    let mut all = vec!["--tcp", addr.as_str()];
    all.extend_from_slice(args);
    run("swtpm_ioctl", &all, &[], None)
}

/// Build a TPM command: tag, size, command code, then `params` (handles, auth area, parameters).
pub fn command(tag: u16, cc: u32, params: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(10 + params.len());
    v.extend_from_slice(&tag.to_be_bytes());
    v.extend_from_slice(&((10 + params.len()) as u32).to_be_bytes());
    v.extend_from_slice(&cc.to_be_bytes());
    v.extend_from_slice(params);
    v
}

/// A password authorization area (TPM_RS_PW, empty nonce, no attributes, empty password).
pub fn pw_auth_area() -> Vec<u8> {
    let mut v = 9u32.to_be_bytes().to_vec();
    v.extend_from_slice(&[0x40, 0, 0, 9, 0, 0, 0, 0, 0]);
    v
}

/// The response code (bytes 6..10) of a response, if it has a full header.
pub fn response_code(resp: &[u8]) -> Option<u32> {
    be_u32(resp.get(6..10)?)
}

/// Big-endian u32 from exactly 4 bytes.
pub fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

/// Connect to 127.0.0.1:`port` with `IO_TIMEOUT` read/write timeouts.
pub fn connect(port: u16) -> io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Read one response: the 10-byte header, then `size - 10` more bytes; checks the size field.
pub fn read_response(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = [0u8; 10];
    s.read_exact(&mut head)?;
    let size = be_u32(head.get(2..6).unwrap_or_default()).unwrap_or(0) as usize;
    if !(10..=8192).contains(&size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad size {size}"),
        ));
    }
    let mut rest = vec![0u8; size - 10];
    s.read_exact(&mut rest)?;
    let mut resp = head.to_vec();
    resp.extend_from_slice(&rest);
    Ok(resp)
}

/// Send `cmd` on a new connection to `port` and read one response.
pub fn transact(port: u16, cmd: &[u8]) -> io::Result<Vec<u8>> {
    let mut s = connect(port)?;
    s.write_all(cmd)?;
    read_response(&mut s)
}

/// Send `bytes` on a new connection, half-close it, and return everything the server answers
/// until it closes (possibly nothing: a server may drop the connection on bad input).
pub fn send_and_drain(port: u16, bytes: &[u8]) -> io::Result<Vec<u8>> {
    let dropped = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::NotConnected
        )
    };
    let mut s = connect(port)?;
    match s
        .write_all(bytes)
        .and_then(|()| s.shutdown(Shutdown::Write))
    {
        Err(e) if !dropped(&e) => return Err(e),
        _ => {}
    }
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Err(e) if !dropped(&e) => Err(e),
        _ => Ok(out),
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse hex (any case, optional `0x`) into bytes.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The vtpm binary of this workspace: `$CARGO_TARGET_DIR` (if set; relative to the current
/// directory, as Cargo takes it) or `<workspace>/target`,
/// the newer of `release/vtpm` and `debug/vtpm`; `debug/vtpm` if neither exists.
pub fn vtpm_binary(workspace: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .map(|t| match std::env::current_dir() {
            Ok(cwd) if t.is_relative() => cwd.join(t),
            _ => t,
        })
        .unwrap_or_else(|| workspace.join("target"));
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join("vtpm"))
        .filter_map(|p| modified(&p).map(|t| (t, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
        .unwrap_or_else(|| target.join("debug/vtpm"))
}
