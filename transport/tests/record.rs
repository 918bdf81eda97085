//! `--record FILE`: tpm2-tools commands against `vtpm socket|mssim --record` end up in FILE,
//! one `<locality> <command hex> <response hex>` line per exchange, and stay there after a
//! SIGKILL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// A vtpm process, SIGKILLed and reaped on drop.
struct Vtpm(Child);

impl Drop for Vtpm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `vtpm <args>` with its command (or data) port `port` open.
fn start(args: &[String], port: u16) -> Vtpm {
    let child = Command::new(env!("CARGO_BIN_EXE_vtpm"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut v = Vtpm(child);
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(v.0.try_wait().unwrap().is_none(), "vtpm {args:?} exited");
        assert!(Instant::now() < deadline, "vtpm {args:?} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    v
}

/// The exchanges of a record file: (locality, command, response).
fn exchanges(path: &Path) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "every exchange is a complete line");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 3, "line {l:?}");
            let (c, r) = (unhex(f[1]).unwrap(), unhex(f[2]).unwrap());
            assert_eq!(
                be_u32(&c[2..6]),
                Some(c.len() as u32),
                "command size in {l:?}"
            );
            assert_eq!(
                be_u32(&r[2..6]),
                Some(r.len() as u32),
                "response size in {l:?}"
            );
            (f[0].parse().unwrap(), c, r)
        })
        .collect()
}

fn cc(cmd: &[u8]) -> u32 {
    be_u32(&cmd[6..10]).unwrap()
}

fn tools(tcti: String) -> Tools {
    Tools { tcti, cwd: None }
}

fn run(t: &Tools, tool: &str, args: &[&str]) -> String {
    let out = t.run(tool, args);
    assert!(out.ok(), "{tool} {args:?}: {out}");
    out.stdout
}

#[test]
fn socket_records_tool_commands_and_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("session.rec");
    let port = free_port_pair();
    let args: Vec<String> = [
        "socket",
        "--tpm2",
        "--tpmstate",
        &format!("dir={}", dir.path().join("state").display()),
        "--server",
        &format!("type=tcp,port={port},bindaddr=127.0.0.1"),
        "--ctrl",
        &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1),
        "--flags",
        "not-need-init",
        "--record",
        rec.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let mut v = start(&args, port);
    let t = tools(format!("swtpm:host=127.0.0.1,port={port}"));
    run(&t, "tpm2_startup", &["-c"]);
    let random = unhex(&run(&t, "tpm2_getrandom", &["8", "--hex"])).unwrap();
    run(
        &t,
        "tpm2_pcrextend",
        &[&format!("16:sha256={}", hex(&[0x5A; 32]))],
    );
    // A raw command with a size the transport refuses is not a TPM exchange: not recorded.
    let _ = send_and_drain(port, &[0x80, 1, 0, 0, 0, 9, 0, 0, 1, 0x44]);
    // Control channel requests are not recorded either.
    assert!(swtpm_ioctl(port + 1, &["-g"]).ok());

    // SIGKILL: what was answered is in the file.
    v.0.kill().unwrap();
    v.0.wait().unwrap();
    let mode = std::fs::metadata(&rec).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the record holds secrets");
    let ex = exchanges(&rec);
    let codes: Vec<u32> = ex.iter().map(|(_, c, _)| cc(c)).collect();
    assert_eq!(codes.first(), Some(&0x144), "Startup first: {codes:x?}");
    assert_eq!(
        codes.iter().filter(|c| **c == 0x144).count(),
        1,
        "{codes:x?}"
    );
    assert!(codes.contains(&0x182), "PCR_Extend recorded: {codes:x?}");
    let (loc, _, resp) = ex.iter().find(|(_, c, _)| cc(c) == 0x17B).unwrap();
    assert_eq!(*loc, 0);
    assert_eq!(response_code(resp), Some(0));
    assert_eq!(&resp[12..], &random[..], "the response the client got");
    assert!(ex.iter().all(|(_, c, _)| c.len() >= 10));

    // A restarted server appends to the same file.
    let _v = start(&args, port);
    let r = transact(port, &command(0x8001, 0x17B, &[0, 4])).unwrap();
    let again = exchanges(&rec);
    assert_eq!(again.len(), ex.len() + 1);
    assert_eq!(again.last().unwrap().2, r);
}

#[test]
fn mssim_records_with_locality() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("mssim.rec");
    let port = free_port_pair();
    let args: Vec<String> = [
        "mssim",
        "--port",
        &port.to_string(),
        "--tpmstate",
        &format!("dir={}", dir.path().join("state").display()),
        "--record",
        rec.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let _v = start(&args, port);
    let t = tools(format!("mssim:host=127.0.0.1,port={port}"));
    run(&t, "tpm2_startup", &["-c"]);
    run(&t, "tpm2_getrandom", &["16", "--hex"]);
    // SEND_COMMAND at locality 3: {u32 8, u8 locality, u32 size, command}.
    let getrandom = command(0x8001, 0x17B, &[0, 2]);
    let mut framed = vec![0, 0, 0, 8, 3];
    framed.extend_from_slice(&(getrandom.len() as u32).to_be_bytes());
    framed.extend_from_slice(&getrandom);
    framed.extend_from_slice(&[0, 0, 0, 20]); // SESSION_END
    let out = send_and_drain(port, &framed).unwrap();
    // {u32 size, response, u32 0}; GetRandom(2) answers 14 bytes.
    assert_eq!(out.len(), 4 + 14 + 4, "{}", hex(&out));

    let ex = exchanges(&rec);
    let codes: Vec<u32> = ex.iter().map(|(_, c, _)| cc(c)).collect();
    assert_eq!(codes.first(), Some(&0x144), "{codes:x?}");
    assert!(codes.contains(&0x17B), "{codes:x?}");
    let (loc, c, r) = ex.last().unwrap();
    assert_eq!((*loc, c), (3, &getrandom));
    assert_eq!(r[..], out[4..18]);
}
