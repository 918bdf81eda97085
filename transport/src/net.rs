//! Listening sockets and connections, TCP or Unix, and the one Unix-only operation
//! the control channel needs: receiving a file descriptor (SCM_RIGHTS).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::Endpoint;

pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    pub fn bind(endpoint: &Endpoint) -> io::Result<Listener> {
        match endpoint {
            Endpoint::Tcp { bindaddr, port } => Ok(Listener::Tcp(TcpListener::bind((
                bindaddr.as_str(),
                *port,
            ))?)),
            Endpoint::Unix { path, mode } => bind_unix(path, *mode),
        }
    }

    pub fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                // Requests and replies are small and latency-bound.
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            Listener::Unix(l, _) => Ok(Stream::Unix(l.accept()?.0)),
        }
    }

    pub fn is_unix(&self) -> bool {
        matches!(self, Listener::Unix(..))
    }

    /// The socket file to remove at exit.
    pub fn socket_path(&self) -> Option<&Path> {
        match self {
            Listener::Unix(_, path) => Some(path),
            Listener::Tcp(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "tcp".into(), |a| format!("tcp {a}")),
            Listener::Unix(_, path) => format!("unix {}", path.display()),
        }
    }
}

/// Binds a Unix socket, replacing a stale socket file (never any other kind of file).
fn bind_unix(path: &Path, mode: Option<u32>) -> io::Result<Listener> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(Listener::Unix(listener, path.to_path_buf()))
}

/// How long a closing connection's unread input is drained (see [`Stream::close_after_reply`]).
const DRAIN_TIME: Duration = Duration::from_millis(200);
const DRAIN_LIMIT: usize = 64 * 1024;

impl Stream {
    /// Closes after a final reply without losing it: closing a TCP socket with unread
    /// input sends a reset, which can discard the reply before the client reads it.
    /// So: end our side, then discard what the client still sends, briefly.
    pub fn close_after_reply(mut self) {
        let _ = match &self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
        let deadline = std::time::Instant::now() + DRAIN_TIME;
        let mut buf = [0u8; 4096];
        let mut drained = 0;
        while drained < DRAIN_LIMIT {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || self.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match self.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Reads like `read`, and on a Unix socket also collects a descriptor passed with
    /// the data (control channel SET_DATAFD).
    pub fn read_with_fd(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
        match self {
            Stream::Tcp(s) => Ok((s.read(buf)?, None)),
            Stream::Unix(s) => recv_with_fd(s, buf),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// Fills `buf` completely; `Ok(false)` when the peer closed before the first byte.
pub fn read_full_or_eof(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match stream.read(rest) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Room for the control messages of one recvmsg: a few descriptors (extra ones are
/// closed). u64 elements keep the buffer aligned for cmsghdr.
const CMSG_BUFFER_WORDS: usize = 16;

/// recvmsg with room for SCM_RIGHTS; returns the first passed descriptor.
#[allow(unsafe_code)]
fn recv_with_fd(stream: &UnixStream, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; CMSG_BUFFER_WORDS];
    // SAFETY: msghdr is plain data; all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    loop {
        // SAFETY: msg points at `iov` (describing `buf`) and `control`, all alive and
        // exclusively borrowed for the call; the lengths are theirs.
        let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            let mut fds = passed_fds(&msg);
            let first = if fds.is_empty() {
                None
            } else {
                Some(fds.swap_remove(0))
            };
            return Ok((usize::try_from(n).unwrap_or(0), first));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Takes ownership of every descriptor in the SCM_RIGHTS messages recvmsg returned,
/// so none leaks.
#[allow(unsafe_code)]
fn passed_fds(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    // SAFETY: the CMSG_* functions walk the control buffer recvmsg filled, bounded by
    // msg_controllen; each SCM_RIGHTS payload holds descriptors the kernel just
    // installed in this process, owned by nobody else.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let payload =
                    ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                for i in 0..payload / std::mem::size_of::<libc::c_int>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    fds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_a_descriptor() -> io::Result<()> {
        let (a, b) = UnixStream::pair()?;
        let (data_a, mut data_b) = UnixStream::pair()?;
        send_fd(&a, &data_a)?;
        let mut stream = Stream::Unix(b);
        let mut buf = [0u8; 16];
        let (n, fd) = stream.read_with_fd(&mut buf)?;
        assert_eq!(buf.get(..n), Some(&[0u8, 0, 0, 16][..]));
        let mut passed = UnixStream::from(fd.ok_or(io::ErrorKind::NotFound)?);
        passed.write_all(b"hi")?;
        let mut got = [0u8; 2];
        data_b.read_exact(&mut got)?;
        assert_eq!(&got, b"hi");
        Ok(())
    }

    #[allow(unsafe_code)]
    fn send_fd(sock: &UnixStream, fd: &impl AsRawFd) -> io::Result<()> {
        let payload = [0u8, 0, 0, 16];
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr() as *mut _,
            iov_len: payload.len(),
        };
        let mut control = [0u64; CMSG_BUFFER_WORDS];
        // SAFETY: test helper; all pointers refer to live local buffers.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd.as_raw_fd());
            if libc::sendmsg(sock.as_raw_fd(), &msg, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}
