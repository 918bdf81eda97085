//! The `vtpm` command line: `vtpm socket` takes swtpm's options (so harnesses written
//! for `swtpm socket` work unchanged), `vtpm mssim` the simulator's, and no arguments
//! at all starts a socket server with defaults suitable for tpm2-tools.

use std::path::PathBuf;

use crate::storage::KeySource;

pub const HELP: &str = "\
Usage: vtpm [socket OPTIONS | mssim OPTIONS | vmgs SUBCOMMAND | --help | --version]

With no arguments: an swtpm-compatible server on 127.0.0.1:2321 (data) and 2322
(control), state in $XDG_STATE_HOME/vtpm (or ~/.local/state/vtpm), powered on but not
started (run tpm2_startup -c first).

vtpm socket: a drop-in replacement for `swtpm socket`
  --tpm2                          accepted; TPM 2.0 is the only mode
  --tpmstate dir=DIR[,mode=0600]  state directory (or $TPM_PATH): the VMGS file
                                  DIR/tpm-state.vmgs; backend-uri=dir://DIR, or
                                  backend-uri=file://PATH for one VMGS file
  --key file=F[,format=binary|hex] | fd=N[,format=..] | pwdfile=F | pwdfd=N
                                  encrypt the state (AES-256-GCM; a passphrase is
                                  stretched with Argon2id, parameters in FILE.kdf);
                                  without it the state is stored in the clear
  --migration-key file=F[,format=binary|hex] | fd=N
                                  encrypt state blobs exported by GET_STATEBLOB
  --server type=tcp,port=P[,bindaddr=A][,disconnect] | type=unixio,path=S[,mode=0600]
  -p, --port P                    same as --server type=tcp,port=P
  --ctrl type=tcp,port=P[,bindaddr=A] | type=unixio,path=S[,mode=0600]
  --flags [not-need-init][,startup-clear|startup-state|startup-none]
                                  startup-clear/state: power on and send TPM2_Startup
                                  once at start (implies not-need-init)
  --locality reject-locality-4    refuse SET_LOCALITY 4
  --pid file=F | fd=N             write the process id
  --log file=F|fd=N[,level=N][,prefix=P][,truncate]
                                  level 1 logs connections and control commands,
                                  level 2 and more also TPM command and response codes
  -t, --terminate                 exit when the data connection is closed
  --record FILE                   append every TPM command from a client and its
                                  response to FILE, one hex line each (see
                                  transport/src/record.rs); FILE holds secrets
  -d, --daemon                    run in the background once the sockets are bound
  The bind address defaults to 127.0.0.1.

vtpm mssim: the Microsoft TPM simulator protocol (tpm2-tss TCTI mssim, IBM TSS)
  --port P                        command port P (default 2321), platform port P+1
  --bindaddr A                    default 127.0.0.1
  --tpmstate dir=DIR              default as without arguments (or backend-uri=...)
  --key ...                       as for vtpm socket
  --pid, --log, --record, -d      as for vtpm socket

vtpm vmgs: VMGS guest-state files (create, info, read, write, rekey, verify);
  vtpm vmgs --help for details

  -h, --help      this text
  -V, --version   the version
";

/// A command-line error, shown to the user as is.
#[derive(Debug, PartialEq, Eq)]
pub struct CliError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, CliError> {
    Err(CliError(msg.into()))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Socket(SocketConfig),
    Mssim(MssimConfig),
    /// `vtpm vmgs ...`: the VMGS file tool (its own parser, transport/src/vmgs.rs).
    Vmgs(Vec<String>),
}

/// Where a channel listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Tcp { bindaddr: String, port: u16 },
    Unix { path: PathBuf, mode: Option<u32> },
}

/// The TPM2_Startup a server sends by itself after each power-on (swtpm's startup-*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupType {
    Clear,
    State,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PidTarget {
    File(PathBuf),
    Fd(i32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File { path: PathBuf, truncate: bool },
    Fd(i32),
    Discard,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    pub target: LogTarget,
    pub level: u8,
    pub prefix: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            target: LogTarget::Stderr,
            level: 0,
            prefix: String::new(),
        }
    }
}

/// Options common to both servers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Common {
    pub state_dir: Option<PathBuf>,
    /// `--tpmstate backend-uri=file://PATH`: one VMGS file.
    pub state_file: Option<PathBuf>,
    /// `--key`: encrypts the state file.
    pub key: Option<KeySource>,
    /// `--migration-key`: encrypts exported state blobs.
    pub migration_key: Option<KeySource>,
    pub pid: Option<PidTarget>,
    pub log: LogConfig,
    pub daemon: bool,
    /// `--record FILE`: append client commands and responses to FILE.
    pub record: Option<PathBuf>,
    /// Non-fatal remarks about the command line (ignored keys), printed at start.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketConfig {
    pub common: Common,
    pub server: Option<Endpoint>,
    pub ctrl: Option<Endpoint>,
    /// Close the data connection after every response (`--server ...,disconnect`).
    pub disconnect: bool,
    /// Power on at start instead of waiting for INIT.
    pub not_need_init: bool,
    pub startup: Option<StartupType>,
    pub reject_locality_4: bool,
    pub terminate: bool,
    /// Print how to point tpm2-tools at the server (the no-argument mode).
    pub banner: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MssimConfig {
    pub common: Common,
    pub bindaddr: String,
    pub port: u16,
}

pub const DEFAULT_BINDADDR: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 2321;

pub fn parse(args: &[String]) -> Result<Command, CliError> {
    let Some((first, rest)) = args.split_first() else {
        return Ok(Command::Socket(default_socket_config()));
    };
    match first.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "-V" | "--version" => Ok(Command::Version),
        "socket" => parse_socket(rest).map(Command::Socket),
        "mssim" => parse_mssim(rest).map(Command::Mssim),
        "vmgs" => Ok(Command::Vmgs(rest.to_vec())),
        other => err(format!("unknown command or option '{other}'")),
    }
}

/// `vtpm` without arguments: ports 2321/2322, default state, powered on, not started.
pub fn default_socket_config() -> SocketConfig {
    SocketConfig {
        server: Some(Endpoint::Tcp {
            bindaddr: DEFAULT_BINDADDR.into(),
            port: DEFAULT_PORT,
        }),
        ctrl: Some(Endpoint::Tcp {
            bindaddr: DEFAULT_BINDADDR.into(),
            port: DEFAULT_PORT + 1,
        }),
        not_need_init: true,
        banner: true,
        ..SocketConfig::default()
    }
}

/// Splits `--opt=value` into its parts; `--opt value` takes the next argument.
struct Args<'a> {
    items: std::slice::Iter<'a, String>,
}

impl<'a> Args<'a> {
    fn next_option(&mut self) -> Option<(&'a str, Option<&'a str>)> {
        let arg = self.items.next()?;
        match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => Some((name, Some(value))),
            _ => Some((arg.as_str(), None)),
        }
    }

    fn value(&mut self, name: &str, inline: Option<&'a str>) -> Result<&'a str, CliError> {
        match inline {
            Some(v) => Ok(v),
            None => match self.items.next() {
                Some(v) => Ok(v.as_str()),
                None => err(format!("option '{name}' needs a value")),
            },
        }
    }
}

fn parse_socket(args: &[String]) -> Result<SocketConfig, CliError> {
    let mut cfg = SocketConfig::default();
    let mut it = Args { items: args.iter() };
    while let Some((name, inline)) = it.next_option() {
        match name {
            "--tpm2" => {}
            "-d" | "--daemon" => cfg.common.daemon = true,
            "-t" | "--terminate" => cfg.terminate = true,
            "-h" | "--help" => return err("--help is an option of vtpm itself: vtpm --help"),
            "--tpmstate" => parse_tpmstate(it.value(name, inline)?, &mut cfg.common)?,
            "--key" => cfg.common.key = Some(parse_key(name, it.value(name, inline)?)?),
            "--migration-key" => {
                cfg.common.migration_key = Some(parse_key(name, it.value(name, inline)?)?);
                if cfg
                    .common
                    .migration_key
                    .as_ref()
                    .is_some_and(KeySource::is_password)
                {
                    return err("--migration-key: give a key (file=F or fd=N), not a passphrase");
                }
            }
            "--server" => parse_server(it.value(name, inline)?, &mut cfg)?,
            "-p" | "--port" => {
                let port = parse_port(it.value(name, inline)?)?;
                cfg.server = Some(Endpoint::Tcp {
                    bindaddr: DEFAULT_BINDADDR.into(),
                    port,
                });
            }
            "--ctrl" => {
                cfg.ctrl =
                    Some(parse_endpoint("--ctrl", it.value(name, inline)?, &mut cfg.common)?.0)
            }
            "--flags" => parse_flags(it.value(name, inline)?, &mut cfg)?,
            "--locality" => parse_locality(it.value(name, inline)?, &mut cfg)?,
            "--pid" => cfg.common.pid = Some(parse_pid(it.value(name, inline)?)?),
            "--log" => cfg.common.log = parse_log(it.value(name, inline)?, &mut cfg.common)?,
            "--record" => cfg.common.record = Some(PathBuf::from(it.value(name, inline)?)),
            "--seccomp" => {
                // vtpm installs no seccomp profile; accepting the option keeps harnesses working.
                it.value(name, inline)?;
            }
            other => return err(format!("unknown option '{other}' for vtpm socket")),
        }
    }
    if cfg.server.is_none() && cfg.ctrl.is_none() {
        return err("vtpm socket needs --server or --ctrl (or --port)");
    }
    Ok(cfg)
}

fn parse_mssim(args: &[String]) -> Result<MssimConfig, CliError> {
    let mut cfg = MssimConfig {
        common: Common::default(),
        bindaddr: DEFAULT_BINDADDR.into(),
        port: DEFAULT_PORT,
    };
    let mut it = Args { items: args.iter() };
    while let Some((name, inline)) = it.next_option() {
        match name {
            "--tpm2" => {}
            "-d" | "--daemon" => cfg.common.daemon = true,
            "-p" | "--port" => cfg.port = parse_port(it.value(name, inline)?)?,
            "--bindaddr" => cfg.bindaddr = it.value(name, inline)?.to_string(),
            "--tpmstate" => parse_tpmstate(it.value(name, inline)?, &mut cfg.common)?,
            "--key" => cfg.common.key = Some(parse_key(name, it.value(name, inline)?)?),
            "--pid" => cfg.common.pid = Some(parse_pid(it.value(name, inline)?)?),
            "--log" => cfg.common.log = parse_log(it.value(name, inline)?, &mut cfg.common)?,
            "--record" => cfg.common.record = Some(PathBuf::from(it.value(name, inline)?)),
            other => return err(format!("unknown option '{other}' for vtpm mssim")),
        }
    }
    if cfg.port == u16::MAX {
        return err("the mssim platform port (port + 1) must fit in 16 bits");
    }
    Ok(cfg)
}

/// `key=value,key,...` as swtpm writes its option values; a bare key has an empty value.
fn key_values(value: &str) -> Vec<(&str, &str)> {
    value
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| part.split_once('=').unwrap_or((part, "")))
        .collect()
}

fn ignore_key(option: &str, key: &str, common: &mut Common) {
    common
        .warnings
        .push(format!("{option}: ignoring unsupported parameter '{key}'"));
}

fn parse_port(value: &str) -> Result<u16, CliError> {
    match value.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => err(format!("invalid port '{value}'")),
    }
}

fn parse_mode(value: &str) -> Result<u32, CliError> {
    match u32::from_str_radix(value, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => err(format!("invalid file mode '{value}' (octal expected)")),
    }
}

fn parse_key(option: &str, value: &str) -> Result<KeySource, CliError> {
    KeySource::parse(option, value).map_err(CliError)
}

/// `--tpmstate dir=DIR | backend-uri=dir://DIR | backend-uri=file://PATH`.
fn parse_tpmstate(value: &str, common: &mut Common) -> Result<(), CliError> {
    let (mut dir, mut file) = (None, None);
    for (key, v) in key_values(value) {
        match key {
            "dir" if !v.is_empty() => dir = Some(PathBuf::from(v)),
            "backend-uri" => {
                if let Some(path) = v.strip_prefix("dir://").filter(|p| !p.is_empty()) {
                    dir = Some(PathBuf::from(path));
                } else if let Some(path) = v.strip_prefix("file://").filter(|p| !p.is_empty()) {
                    file = Some(PathBuf::from(path));
                } else {
                    return err(format!(
                        "--tpmstate: unsupported backend-uri '{v}' (dir://DIR or file://PATH)"
                    ));
                }
            }
            // The state file's mode: vtpm's directory store uses the umask.
            "mode" => {
                parse_mode(v)?;
                ignore_key("--tpmstate", key, common);
            }
            _ => ignore_key("--tpmstate", key, common),
        }
    }
    match (dir, file) {
        (Some(d), None) => common.state_dir = Some(d),
        (None, Some(f)) => common.state_file = Some(f),
        (Some(_), Some(_)) => return err("--tpmstate: give dir= or backend-uri=, not both"),
        (None, None) => return err("--tpmstate needs dir=DIR or backend-uri=file://PATH"),
    }
    Ok(())
}

fn parse_server(value: &str, cfg: &mut SocketConfig) -> Result<(), CliError> {
    let (endpoint, disconnect) = parse_endpoint("--server", value, &mut cfg.common)?;
    cfg.server = Some(endpoint);
    cfg.disconnect = disconnect;
    Ok(())
}

/// A `--server` or `--ctrl` value; the bool is swtpm's `disconnect` flag.
fn parse_endpoint(
    option: &str,
    value: &str,
    common: &mut Common,
) -> Result<(Endpoint, bool), CliError> {
    let pairs = key_values(value);
    let kind = pairs
        .iter()
        .find(|(k, _)| *k == "type")
        .map_or("tcp", |(_, v)| *v);
    let (mut port, mut bindaddr, mut path, mut mode, mut disconnect) =
        (None, None, None, None, false);
    for (key, v) in pairs {
        match key {
            "type" => {}
            "port" => port = Some(parse_port(v)?),
            "bindaddr" => bindaddr = Some(v.to_string()),
            "path" => path = Some(PathBuf::from(v)),
            "mode" => mode = Some(parse_mode(v)?),
            "disconnect" if option == "--server" => disconnect = true,
            "fd" | "clientfd" => {
                return err(format!(
                    "{option}: passing a socket by {key}= is not supported"
                ));
            }
            _ => ignore_key(option, key, common),
        }
    }
    let endpoint = match (kind, port, path) {
        ("tcp", Some(port), None) => Endpoint::Tcp {
            bindaddr: bindaddr.unwrap_or_else(|| DEFAULT_BINDADDR.into()),
            port,
        },
        ("tcp", None, _) => return err(format!("{option}: type=tcp needs port=P")),
        ("unixio", None, Some(path)) if bindaddr.is_none() => Endpoint::Unix { path, mode },
        ("unixio", _, None) => return err(format!("{option}: type=unixio needs path=S")),
        ("tcp" | "unixio", _, _) => {
            return err(format!("{option}: parameters do not fit type={kind}"));
        }
        _ => return err(format!("{option}: unknown type '{kind}' (tcp or unixio)")),
    };
    Ok((endpoint, disconnect))
}

fn parse_flags(value: &str, cfg: &mut SocketConfig) -> Result<(), CliError> {
    for (key, _) in key_values(value) {
        match key {
            "not-need-init" => cfg.not_need_init = true,
            // As in swtpm, an automatic Startup implies powering on at start.
            "startup-clear" => (cfg.startup, cfg.not_need_init) = (Some(StartupType::Clear), true),
            "startup-state" => (cfg.startup, cfg.not_need_init) = (Some(StartupType::State), true),
            "startup-none" => cfg.startup = None,
            other => return err(format!("--flags: unsupported flag '{other}'")),
        }
    }
    Ok(())
}

fn parse_locality(value: &str, cfg: &mut SocketConfig) -> Result<(), CliError> {
    for (key, _) in key_values(value) {
        match key {
            "reject-locality-4" => cfg.reject_locality_4 = true,
            _ => ignore_key("--locality", key, &mut cfg.common),
        }
    }
    Ok(())
}

fn parse_fd(value: &str) -> Result<i32, CliError> {
    match value.parse::<i32>() {
        Ok(fd) if fd >= 0 => Ok(fd),
        _ => err(format!("invalid file descriptor '{value}'")),
    }
}

fn parse_pid(value: &str) -> Result<PidTarget, CliError> {
    let mut target = None;
    for (key, v) in key_values(value) {
        match key {
            "file" if !v.is_empty() => target = Some(PidTarget::File(PathBuf::from(v))),
            "fd" => target = Some(PidTarget::Fd(parse_fd(v)?)),
            _ => return err(format!("--pid: unsupported parameter '{key}'")),
        }
    }
    target.ok_or_else(|| CliError("--pid needs file=F or fd=N".into()))
}

fn parse_log(value: &str, common: &mut Common) -> Result<LogConfig, CliError> {
    let mut log = LogConfig {
        level: 1,
        ..LogConfig::default()
    };
    let mut truncate = false;
    let mut file = None;
    for (key, v) in key_values(value) {
        match key {
            "file" if v == "-" => log.target = LogTarget::Discard,
            "file" if !v.is_empty() => file = Some(PathBuf::from(v)),
            "fd" => log.target = LogTarget::Fd(parse_fd(v)?),
            "level" => {
                log.level = v
                    .parse()
                    .map_err(|_| CliError(format!("--log: invalid level '{v}'")))?
            }
            "prefix" => log.prefix = v.to_string(),
            "truncate" => truncate = true,
            _ => ignore_key("--log", key, common),
        }
    }
    if let Some(path) = file {
        log.target = LogTarget::File { path, truncate };
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn socket(line: &str) -> SocketConfig {
        match parse(&args(line)) {
            Ok(Command::Socket(cfg)) => cfg,
            other => unreachable!("not a socket config: {other:?}"),
        }
    }

    #[test]
    fn harness_command_line() {
        let cfg = socket(
            "socket --tpm2 --tpmstate dir=/tmp/s,mode=0600 --server type=tcp,port=2321 \
             --ctrl type=tcp,port=2322,bindaddr=0.0.0.0 --flags not-need-init,startup-clear \
             --pid file=/tmp/p --log file=/tmp/l,level=20 -d",
        );
        assert_eq!(cfg.common.state_dir, Some(PathBuf::from("/tmp/s")));
        assert_eq!(
            cfg.server,
            Some(Endpoint::Tcp {
                bindaddr: "127.0.0.1".into(),
                port: 2321
            })
        );
        assert_eq!(
            cfg.ctrl,
            Some(Endpoint::Tcp {
                bindaddr: "0.0.0.0".into(),
                port: 2322
            })
        );
        assert!(cfg.not_need_init);
        assert_eq!(cfg.startup, Some(StartupType::Clear));
        assert_eq!(cfg.common.pid, Some(PidTarget::File("/tmp/p".into())));
        assert_eq!(cfg.common.log.level, 20);
        assert_eq!(
            cfg.common.log.target,
            LogTarget::File {
                path: "/tmp/l".into(),
                truncate: false
            }
        );
        assert!(cfg.common.daemon);
        assert_eq!(
            cfg.common.warnings.len(),
            1,
            "mode= of --tpmstate is ignored with a warning"
        );
    }

    #[test]
    fn qemu_unixio_ctrl_and_equals_form() {
        let cfg = socket(
            "socket --tpm2 --tpmstate=dir=/s --ctrl=type=unixio,path=/s/sock,mode=0600 --log level=20",
        );
        assert_eq!(
            cfg.ctrl,
            Some(Endpoint::Unix {
                path: "/s/sock".into(),
                mode: Some(0o600)
            })
        );
        assert_eq!(cfg.server, None);
        assert_eq!(cfg.common.log.target, LogTarget::Stderr);
    }

    #[test]
    fn startup_flags() {
        assert_eq!(
            socket("socket --port 5 --flags startup-state").startup,
            Some(StartupType::State)
        );
        assert_eq!(
            socket("socket --port 5 --flags startup-clear,startup-none").startup,
            None
        );
        assert!(
            socket("socket --port 5 --flags startup-clear").not_need_init,
            "startup-* implies not-need-init"
        );
        assert!(!socket("socket --port 5 --flags startup-none").not_need_init);
        assert!(parse(&args("socket --port 5 --flags startup-deactivated")).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        for line in [
            "socket --bogus",
            "socket --tpmstate dir=/x",
            "socket --server type=tcp",
            "socket --server type=tcp,port=0",
            "socket --server type=tcp,port=70000",
            "socket --server type=udp,port=5",
            "socket --server type=unixio",
            "socket --ctrl type=unixio,path=/x,mode=999",
            "socket --port 5 --pid",
            "socket --port 5 --pid fd=-1",
            "socket --port 5 --log level=x",
            "socket --port",
            "mssim --port 65535",
            "mssim --unknown",
            "frobnicate",
        ] {
            assert!(parse(&args(line)).is_err(), "{line}");
        }
    }

    #[test]
    fn unknown_keys_warn() {
        let cfg = socket("socket --server type=tcp,port=5,ifname=lo --log file=/l,level=2,foo");
        assert_eq!(cfg.common.warnings.len(), 2);
    }

    #[test]
    fn no_arguments_is_default_server() {
        let cfg = socket("");
        assert!(cfg.not_need_init && cfg.banner);
        assert_eq!(cfg.startup, None);
        assert_eq!(
            cfg.ctrl,
            Some(Endpoint::Tcp {
                bindaddr: "127.0.0.1".into(),
                port: 2322
            })
        );
    }

    #[test]
    fn help_version_mssim() {
        assert_eq!(parse(&args("--help")), Ok(Command::Help));
        assert_eq!(parse(&args("--version")), Ok(Command::Version));
        match parse(&args("mssim --port 4000 --bindaddr ::1 --tpmstate dir=/d")) {
            Ok(Command::Mssim(cfg)) => {
                assert_eq!((cfg.port, cfg.bindaddr.as_str()), (4000, "::1"));
                assert_eq!(cfg.common.state_dir, Some(PathBuf::from("/d")));
            }
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn server_disconnect_and_backend_uri() {
        let cfg = socket(
            "socket --server type=tcp,port=5,disconnect --tpmstate backend-uri=dir:///var/t",
        );
        assert!(cfg.disconnect);
        assert_eq!(cfg.common.state_dir, Some(PathBuf::from("/var/t")));
    }

    #[test]
    fn record_option() {
        assert_eq!(
            socket("socket --port 5 --record /tmp/r").common.record,
            Some(PathBuf::from("/tmp/r"))
        );
        assert_eq!(socket("socket --port 5").common.record, None);
        match parse(&args("mssim --record=/tmp/m")) {
            Ok(Command::Mssim(cfg)) => assert_eq!(cfg.common.record, Some("/tmp/m".into())),
            other => unreachable!("{other:?}"),
        }
        assert!(parse(&args("socket --port 5 --record")).is_err());
    }
}
