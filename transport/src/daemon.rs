//! Process life: running in the background (-d), the pid file, and turning SIGTERM,
//! SIGINT, control-channel SHUTDOWN and mssim STOP into one orderly exit.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};

use crate::cli::PidTarget;

/// Why the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    Signal(i32),
    /// swtpm control channel SHUTDOWN.
    Shutdown,
    /// mssim STOP.
    Stop,
    /// `--terminate`: the data connection was closed.
    DataClosed,
}

/// Any thread may ask the main thread to end the process.
pub type ExitSender = Sender<ExitReason>;

pub fn exit_channel() -> (ExitSender, Receiver<ExitReason>) {
    mpsc::channel()
}

/// SIGTERM and SIGINT: the signals that ask the server to stop.
#[allow(unsafe_code)]
fn termination_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data and sigemptyset initializes it; sigaddset only
    // writes the set we own, with valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Blocks the termination signals in this thread and every thread it spawns later,
/// so that only [`spawn_signal_waiter`]'s sigwait receives them: no handler runs
/// in the middle of a command.
#[allow(unsafe_code)]
pub fn block_termination_signals() -> io::Result<()> {
    let set = termination_signals();
    // SAFETY: a valid, initialized set; the old mask is not wanted (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

#[allow(unsafe_code)]
fn wait_for_termination_signal() -> io::Result<i32> {
    let set = termination_signals();
    let mut signal: libc::c_int = 0;
    // SAFETY: a valid set and a pointer to a live c_int.
    let rc = unsafe { libc::sigwait(&set, &mut signal) };
    if rc == 0 {
        Ok(signal)
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// A thread that turns SIGTERM/SIGINT into an [`ExitReason::Signal`].
pub fn spawn_signal_waiter(exit: ExitSender) -> io::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(signal) = wait_for_termination_signal() {
                let _ = exit.send(ExitReason::Signal(signal));
            }
        })?;
    Ok(())
}

#[allow(unsafe_code)]
fn fork() -> io::Result<Option<libc::pid_t>> {
    // SAFETY: called before any thread is spawned, so the child (a copy of this one
    // thread) cannot inherit a lock held by another thread.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        child => Ok(Some(child)),
    }
}

#[allow(unsafe_code)]
fn setsid() -> io::Result<()> {
    // SAFETY: no arguments; fails only if already a group leader, which a fresh child is not.
    if unsafe { libc::setsid() } == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[allow(unsafe_code)]
fn redirect_stdio_to_null() -> io::Result<()> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which this process owns;
        // `null` stays open for the duration of the call.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Continues in a background child (new session, stdio on /dev/null); the parent
/// writes the child's pid file and exits, so the caller can connect (the sockets are
/// already listening) and read the pid file as soon as the parent is gone.
pub fn daemonize(pid: Option<&PidTarget>) -> io::Result<()> {
    if let Some(child) = fork()? {
        let code = match pid.map(|p| write_pid(p, child)).transpose() {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("vtpm: cannot write pid file: {e}");
                1
            }
        };
        std::process::exit(code);
    }
    setsid()?;
    redirect_stdio_to_null()
}

/// Writes `pid` followed by a newline.
pub fn write_pid(target: &PidTarget, pid: libc::pid_t) -> io::Result<()> {
    let path = match target {
        PidTarget::File(p) => p.clone(),
        // /dev/fd/N reopens the inherited descriptor without unsafe code.
        PidTarget::Fd(fd) => PathBuf::from(format!("/dev/fd/{fd}")),
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(format!("{pid}\n").as_bytes())
}

/// Removes files this server created (pid file, Unix socket files) at exit.
pub fn remove_files<'a>(paths: impl IntoIterator<Item = &'a Path>) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

/// The files to remove at exit for a pid target.
pub fn pid_file_path(target: Option<&PidTarget>) -> Option<&Path> {
    match target {
        Some(PidTarget::File(p)) => Some(p),
        _ => None,
    }
}
