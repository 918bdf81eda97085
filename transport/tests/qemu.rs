//! QEMU guests on vtpm and swtpm: `-tpmdev emulator` with the control channel on a
//! Unix socket (`--ctrl type=unixio`), the data channel passed by SET_DATAFD, and the
//! TPM behind `tpm-tis` or `tpm-crb`.
//!
//! Each scenario boots the Debian kernel (software emulation, `-accel tcg`) with a
//! tiny busybox initramfs built here, under SeaBIOS or OVMF. The guest's /init sends
//! raw TPM2_GetRandom and TPM2_PCR_Read commands through /dev/tpm0, prints the
//! responses, the kernel's own PCR view (sysfs) and the firmware's event log
//! (binary_bios_measurements) on the serial console, then powers off. The host
//! replays the event log with tpm2_eventlog and compares every replayed PCR with what
//! the TPM reported.
//!
//! Slow and needs QEMU, OVMF, busybox-static and a kernel: ignored by default, and
//! even with `--ignored` they only run when VTPM_QEMU=1. Run them with
//! conformance/qemu/run.sh (which installs all that), or by hand:
//! `VTPM_QEMU=1 VTPM_QEMU_KERNEL=/path/vmlinuz cargo test -p vtpm-transport --test qemu -- --ignored`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// How long one guest may run (boot, measure, power off).
const GUEST_TIMEOUT: Duration = Duration::from_secs(240);

#[derive(Clone, Copy, Debug)]
enum Iface {
    Tis,
    Crb,
}

impl Iface {
    fn device(self) -> &'static str {
        match self {
            Iface::Tis => "tpm-tis",
            Iface::Crb => "tpm-crb",
        }
    }
    fn driver(self) -> &'static str {
        match self {
            Iface::Tis => "tpm_tis",
            Iface::Crb => "tpm_crb",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Firmware {
    /// QEMU's default BIOS; boots the kernel directly.
    SeaBios,
    /// UEFI: the kernel runs as an EFI stub application loaded (and measured) by OVMF.
    Ovmf,
}

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn kernel() -> PathBuf {
    let k = std::env::var_os("VTPM_QEMU_KERNEL")
        .map(PathBuf::from)
        .expect("VTPM_QEMU_KERNEL=/path/to/vmlinuz (conformance/qemu/run.sh sets it)");
    assert!(k.is_file(), "kernel {} not found", k.display());
    k
}

// --- the guest -----------------------------------------------------------------

/// The guest's /init: everything it learns goes to the serial console as
/// `VTPM-<WHAT> ...` lines.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t securityfs securityfs /sys/kernel/security
# Kernel messages must not land inside the long report lines.
dmesg -n 1
i=0; while [ ! -e /dev/tpm0 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
echo "VTPM-DRIVER $(basename "$(readlink /sys/class/tpm/tpm0/device/driver)")"
# One open file: /dev/tpm0 answers a command on the descriptor that wrote it.
exec 3<>/dev/tpm0
for c in /cmd/*; do
  cat "$c" >&3
  echo "VTPM-RESP $(basename "$c") $(dd bs=4096 count=1 <&3 2>/dev/null | od -An -v -tx1 | tr -d ' \n')"
done
exec 3>&-
for p in 0 1 2 3 4 5 6 7; do echo "VTPM-SYSPCR $p $(cat /sys/class/tpm/tpm0/pcr-sha256/$p)"; done
f=/sys/kernel/security/tpm0/binary_bios_measurements
[ -e $f ] && echo "VTPM-EVENTLOG $(od -An -v -tx1 $f | tr -d ' \n')"
echo VTPM-DONE
if grep -q vtpm.wait /proc/cmdline; then sleep 600; fi
poweroff -f
"#;

const BANKS: [(&str, u16); 4] = [
    ("sha1", 0x0004),
    ("sha256", 0x000b),
    ("sha384", 0x000c),
    ("sha512", 0x000d),
];

/// The raw commands the guest sends, by file name (run in name order).
fn guest_commands() -> Vec<(String, Vec<u8>)> {
    let mut cmds = vec![
        ("0-getrandom".to_string(), command(0x8001, 0x17B, &[0, 16])),
        ("1-getrandom".to_string(), command(0x8001, 0x17B, &[0, 16])),
    ];
    for (name, alg) in BANKS {
        // PCR_Read answers at most 8 digests: PCRs 0-7, then 8-15.
        for (half, select) in [("lo", [0xff, 0, 0]), ("hi", [0, 0xff, 0])] {
            let mut p = 1u32.to_be_bytes().to_vec();
            p.extend_from_slice(&alg.to_be_bytes());
            p.push(3);
            p.extend_from_slice(&select);
            cmds.push((
                format!("2-pcrread-{name}-{half}"),
                command(0x8001, 0x17E, &p),
            ));
        }
    }
    cmds
}

/// A newc cpio archive (what the kernel unpacks as initramfs).
struct Cpio(Vec<u8>);

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        let ino = self.0.len() as u32 + 1;
        let fields = [
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.0.extend_from_slice(b"070701");
        for f in fields {
            self.0.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(0);
        self.pad();
        self.0.extend_from_slice(data);
        self.pad();
    }
    fn pad(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }
    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, (0, 0), &[]);
    }
    fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, 0o100000 | mode, (0, 0), data);
    }
    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        while !self.0.len().is_multiple_of(512) {
            self.0.push(0);
        }
        self.0
    }
}

fn build_initramfs(dir: &Path) -> PathBuf {
    let busybox_path = env_path("VTPM_QEMU_BUSYBOX", "/usr/bin/busybox");
    let busybox = std::fs::read(&busybox_path)
        .unwrap_or_else(|e| panic!("{}: {e} (busybox-static)", busybox_path.display()));
    let mut c = Cpio(Vec::new());
    for d in ["bin", "cmd", "dev", "proc", "sys", "tmp"] {
        c.dir(d);
    }
    // The console node, so init's output reaches the serial port whatever the
    // kernel's built-in initramfs holds.
    c.entry("dev/console", 0o020600, (5, 1), &[]);
    c.file("bin/busybox", 0o755, &busybox);
    c.file("init", 0o755, INIT.as_bytes());
    for (name, bytes) in guest_commands() {
        c.file(&format!("cmd/{name}"), 0o644, &bytes);
    }
    let path = dir.join("initramfs.cpio");
    std::fs::write(&path, c.finish()).unwrap();
    path
}

// --- the TPM and QEMU processes ----------------------------------------------------

/// A TPM server whose only channel is a Unix control socket (as libvirt starts swtpm
/// for QEMU); killed on drop.
struct UnixTpm {
    child: Child,
    ctrl: PathBuf,
    log: PathBuf,
}

impl UnixTpm {
    fn start(peer: &Peer, dir: &Path) -> UnixTpm {
        let state = dir.join("state");
        std::fs::create_dir_all(&state).unwrap();
        let ctrl = dir.join("ctrl.sock");
        let log = dir.join("tpm.log");
        let level = if matches!(peer, Peer::Swtpm) { 1 } else { 2 };
        let child = Command::new(peer.program())
            .args(["socket", "--tpm2", "--tpmstate"])
            .arg(format!("dir={}", state.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", ctrl.display()))
            .arg("--log")
            .arg(format!("file={},level={level}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", peer.name()));
        let mut tpm = UnixTpm { child, ctrl, log };
        let deadline = Instant::now() + START_TIMEOUT;
        while UnixStream::connect(&tpm.ctrl).is_err() {
            if let Ok(Some(st)) = tpm.child.try_wait() {
                panic!("{} exited at start ({st}): {}", peer.name(), tpm.log_text());
            }
            assert!(Instant::now() < deadline, "{} did not listen", peer.name());
            std::thread::sleep(Duration::from_millis(20));
        }
        tpm
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the server exits by itself (QEMU sends SHUTDOWN when it quits).
    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for UnixTpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Guest {
    serial: String,
    elapsed: Duration,
}

/// How a run ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    /// The guest powers off after reporting; QEMU quits and sends SHUTDOWN.
    PowerOff,
    /// After each report the host resets the VM through the monitor (the TPM sees
    /// STOP, SET_BUFFERSIZE, INIT again), this many times; then QEMU quits.
    Resets(usize),
    /// The host kills QEMU while the guest waits after its report: the TPM keeps
    /// running with its state (no SHUTDOWN), for the host to read.
    Kill,
}

/// Boots the guest and runs it until `end`.
fn boot(
    dir: &Path,
    tpm: &UnixTpm,
    iface: Iface,
    fw: Firmware,
    initramfs: &Path,
    end: End,
) -> Guest {
    let serial = dir.join("serial.txt");
    let monitor = dir.join("monitor.sock");
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-accel", "tcg", "-m", "256", "-nographic", "-nodefaults"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", monitor.display()))
        .arg("-chardev")
        .arg(format!("socket,id=chrtpm,path={}", tpm.ctrl.display()))
        .args(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm"])
        .args(["-device", &format!("{},tpmdev=tpm0", iface.device())])
        .arg("-kernel")
        .arg(kernel())
        .arg("-initrd")
        .arg(initramfs);
    let mut append = "console=ttyS0 quiet loglevel=1 panic=-1".to_string();
    if end == End::PowerOff {
        cmd.arg("-no-reboot");
    } else {
        append.push_str(" vtpm.wait");
    }
    cmd.args(["-append", &append]);
    if let Firmware::Ovmf = fw {
        cmd.arg("-bios")
            .arg(env_path("VTPM_QEMU_OVMF", "/usr/share/ovmf/OVMF.fd"));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .expect("qemu-system-x86_64 (apt-get install qemu-system-x86)");
    let read_serial = || std::fs::read_to_string(&serial).unwrap_or_default();
    let mut resets_done = 0;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        let done = read_serial().matches("VTPM-DONE").count();
        if end == End::Kill && done > 0 {
            let _ = child.kill();
            let _ = child.wait();
            return Guest {
                serial: read_serial(),
                elapsed: start.elapsed(),
            };
        }
        let resets = match end {
            End::Resets(n) => n,
            _ => 0,
        };
        if resets > 0 && done > resets_done {
            // The guest reported and waits: reset it, or end the run after the last boot.
            let cmd = if resets_done < resets {
                "system_reset\n"
            } else {
                "quit\n"
            };
            if let Ok(mut m) = UnixStream::connect(&monitor) {
                let _ = m.write_all(cmd.as_bytes());
                std::thread::sleep(Duration::from_millis(200));
            }
            resets_done += 1;
        }
        if start.elapsed() > GUEST_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "guest still running after {GUEST_TIMEOUT:?}\n--- serial\n{}\n--- tpm log\n{}",
                read_serial(),
                tpm.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let serial_text = read_serial();
    assert!(
        status.success(),
        "qemu {status}: {}{}\n--- serial\n{serial_text}\n--- tpm log\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tpm.log_text()
    );
    Guest {
        serial: serial_text,
        elapsed: start.elapsed(),
    }
}

// --- what the guest reported ---------------------------------------------------------

/// One boot's report.
#[derive(Debug, Default)]
struct Report {
    driver: String,
    responses: BTreeMap<String, Vec<u8>>,
    sys_pcrs: BTreeMap<u32, Vec<u8>>,
    event_log: Option<Vec<u8>>,
}

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    assert!(s.len().is_multiple_of(2), "odd hex: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("hex: {s}")))
        .collect()
}

/// The reports of every boot in the serial output, in order.
fn parse_reports(serial: &str) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut cur = Report::default();
    for line in serial.lines() {
        let line = line.trim_end_matches('\r');
        let Some(start) = line.find("VTPM-") else {
            continue;
        };
        let mut words = line[start..].split_whitespace();
        match words.next() {
            Some("VTPM-DRIVER") => cur.driver = words.next().unwrap_or_default().to_string(),
            Some("VTPM-RESP") => {
                let name = words.next().unwrap().to_string();
                cur.responses
                    .insert(name, unhex(words.next().unwrap_or("")));
            }
            Some("VTPM-SYSPCR") => {
                let pcr = words.next().unwrap().parse().unwrap();
                cur.sys_pcrs.insert(pcr, unhex(words.next().unwrap_or("")));
            }
            Some("VTPM-EVENTLOG") => cur.event_log = Some(unhex(words.next().unwrap_or(""))),
            Some("VTPM-DONE") => reports.push(std::mem::take(&mut cur)),
            _ => {}
        }
    }
    reports
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(b[at..at + 2].try_into().unwrap())
}

/// A successful response's parameters (after the 10-byte header).
fn params<'a>(name: &str, resp: &'a [u8]) -> &'a [u8] {
    assert!(resp.len() >= 10, "{name}: short response {}", hex(resp));
    assert_eq!(be16(resp, 0), 0x8001, "{name}: tag {}", hex(resp));
    assert_eq!(
        be32(resp, 2) as usize,
        resp.len(),
        "{name}: size {}",
        hex(resp)
    );
    assert_eq!(be32(resp, 6), 0, "{name}: rc {}", hex(resp));
    &resp[10..]
}

/// (bank, pcr) -> value, from the guest's PCR_Read responses.
fn tpm_pcrs(r: &Report) -> BTreeMap<(String, u32), Vec<u8>> {
    let mut pcrs = BTreeMap::new();
    for (bank, alg) in BANKS {
        for (half, base) in [("lo", 0u32), ("hi", 8)] {
            let name = format!("2-pcrread-{bank}-{half}");
            let resp = r
                .responses
                .get(&name)
                .unwrap_or_else(|| panic!("no {name}"));
            let p = params(&name, resp);
            // updateCounter, TPML_PCR_SELECTION, TPML_DIGEST
            let count = be32(p, 4);
            if count == 0 {
                // Bank not allocated: no digests either.
                assert_eq!(be32(p, 8), 0, "{name}");
                continue;
            }
            assert_eq!(count, 1, "{name}");
            assert_eq!(be16(p, 8), alg, "{name}");
            assert_eq!(p[10], 3, "{name}");
            let mut at = 14;
            let digests = be32(p, at);
            at += 4;
            let mut selected = (0..8).filter(|i| p[11 + (base as usize / 8)] & (1 << i) != 0);
            for _ in 0..digests {
                let n = be16(p, at) as usize;
                let digest = p[at + 2..at + 2 + n].to_vec();
                at += 2 + n;
                let i = selected.next().expect("more digests than selected PCRs");
                pcrs.insert((bank.to_string(), base + i), digest);
            }
            assert_eq!(at, p.len(), "{name}: trailing bytes");
        }
    }
    assert!(
        pcrs.keys().any(|(b, _)| b == "sha256"),
        "sha256 bank not reported"
    );
    pcrs
}

/// The PCR values tpm2_eventlog computes by replaying `log`.
fn replay(dir: &Path, log: &[u8]) -> BTreeMap<(String, u32), Vec<u8>> {
    let path = dir.join("binary_bios_measurements");
    std::fs::write(&path, log).unwrap();
    let out = run("tpm2_eventlog", &[path.to_str().unwrap()], &[], None);
    assert!(out.ok(), "tpm2_eventlog: {out}");
    let mut pcrs = BTreeMap::new();
    let mut bank = None;
    let mut in_pcrs = false;
    for line in out.stdout.lines() {
        if line == "pcrs:" {
            in_pcrs = true;
            continue;
        }
        if !in_pcrs {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        match indent {
            2 => bank = Some(t.trim_end_matches(':').to_string()),
            4 => {
                let (pcr, value) = t.split_once(':').unwrap();
                let value = value.trim().trim_start_matches("0x");
                pcrs.insert(
                    (bank.clone().unwrap(), pcr.trim().parse().unwrap()),
                    unhex(value),
                );
            }
            _ => in_pcrs = false,
        }
    }
    assert!(
        !pcrs.is_empty(),
        "no PCRs in tpm2_eventlog output:\n{}",
        out.stdout
    );
    pcrs
}

/// Checks one boot's report; returns the TPM's PCR values.
fn check_report(
    dir: &Path,
    peer: &Peer,
    iface: Iface,
    r: &Report,
) -> BTreeMap<(String, u32), Vec<u8>> {
    let who = peer.name();
    assert_eq!(r.driver, iface.driver(), "{who}: the guest's TPM driver");
    let r0 = params("getrandom", &r.responses["0-getrandom"]);
    let r1 = params("getrandom", &r.responses["1-getrandom"]);
    assert_eq!(be16(r0, 0), 16, "{who}: GetRandom size");
    assert_eq!(r0.len(), 18);
    assert_ne!(r0, r1, "{who}: two GetRandom answers alike");

    let tpm = tpm_pcrs(r);
    // The kernel's own reads (its driver, its session-less PCR_Read) agree.
    for (pcr, value) in &r.sys_pcrs {
        assert_eq!(
            Some(value),
            tpm.get(&("sha256".to_string(), *pcr)),
            "{who}: sysfs pcr-sha256/{pcr}"
        );
    }
    assert_eq!(r.sys_pcrs.len(), 8, "{who}: sysfs PCRs");

    let log = r
        .event_log
        .as_ref()
        .unwrap_or_else(|| panic!("{who}: no event log"));
    let replayed = replay(dir, log);
    for pcr in 0..8 {
        assert!(
            replayed.contains_key(&("sha256".to_string(), pcr)),
            "{who}: the firmware did not measure into PCR {pcr}: {replayed:?}"
        );
    }
    for ((bank, pcr), value) in &replayed {
        let Some(reported) = tpm.get(&(bank.clone(), *pcr)) else {
            continue; // a bank the TPM does not have, or a PCR above 15
        };
        assert_eq!(
            hex(reported),
            hex(value),
            "{who}: {bank} PCR {pcr}: the TPM's value vs the event log's replay"
        );
    }
    tpm
}

/// After QEMU was killed: STORE_VOLATILE and SHUTDOWN on a new control connection,
/// then the same state served on TCP (resuming the stored volatile state at
/// power-on) and its PCRs read by tpm2_pcrread from the host.
fn host_pcrs(peer: &Peer, dir: &Path, tpm: &mut UnixTpm) -> BTreeMap<(String, u32), Vec<u8>> {
    let who = peer.name();
    let mut ctrl = UnixStream::connect(&tpm.ctrl).unwrap();
    ctrl.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for (name, code) in [("STORE_VOLATILE", 10u32), ("SHUTDOWN", 3)] {
        ctrl.write_all(&code.to_be_bytes()).unwrap();
        let mut result = [0u8; 4];
        std::io::Read::read_exact(&mut ctrl, &mut result).unwrap();
        assert_eq!(result, [0; 4], "{who}: {name}: {}", tpm.log_text());
    }
    let st = tpm.wait_exit(Duration::from_secs(10));
    assert!(
        st.is_some_and(|s| s.success()),
        "{who}: after SHUTDOWN {st:?}"
    );
    let server = TpmServer::start(peer, Mode::Socket, "not-need-init", dir.join("state"))
        .unwrap_or_else(|e| panic!("{who} on the guest's state: {e}"));
    let list: Vec<String> = BANKS
        .iter()
        .map(|(b, _)| format!("{b}:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"))
        .collect();
    let out = server.tools().run("tpm2_pcrread", &[&list.join("+")]);
    assert!(out.ok(), "{who}: tpm2_pcrread on the guest's state: {out}");
    parse_pcrread(&out.stdout)
}

fn scenario(peer: Peer, iface: Iface, fw: Firmware, end: End) {
    let dir = tempfile::TempDir::new().unwrap();
    let initramfs = build_initramfs(dir.path());
    let mut tpm = UnixTpm::start(&peer, dir.path());
    let guest = boot(dir.path(), &tpm, iface, fw, &initramfs, end);
    let resets = match end {
        End::Resets(n) => n,
        _ => 0,
    };
    let reports = parse_reports(&guest.serial);
    assert_eq!(
        reports.len(),
        resets + 1,
        "{}: boots reported\n--- serial\n{}\n--- tpm log\n{}",
        peer.name(),
        guest.serial,
        tpm.log_text()
    );
    let first = check_report(dir.path(), &peer, iface, &reports[0]);
    for r in &reports[1..] {
        // After a VM reset the TPM was re-initialized: the same measurements again.
        assert_eq!(
            check_report(dir.path(), &peer, iface, r),
            first,
            "{}",
            peer.name()
        );
    }
    if end == End::Kill {
        // The same values read from the host, with tpm2-tools: the guest's raw
        // PCR_Read went through the VM's interface, these do not.
        let host = host_pcrs(&peer, dir.path(), &mut tpm);
        assert_eq!(
            host.len(),
            first.len(),
            "{}: PCRs read by the host",
            peer.name()
        );
        for (key, value) in &first {
            assert_eq!(
                host.get(key).map(|v| hex(v)),
                Some(hex(value)),
                "{}: {key:?} on the host vs in the guest",
                peer.name()
            );
        }
    } else {
        // QEMU sends SHUTDOWN as it quits: the server exits by itself, successfully.
        let st = tpm.wait_exit(Duration::from_secs(10));
        assert!(
            st.is_some_and(|s| s.success()),
            "{}: server after QEMU quit: {st:?}\n{}",
            peer.name(),
            tpm.log_text()
        );
    }
    eprintln!(
        "qemu scenario {} {:?} {:?} {end:?}: {:.1} s",
        peer.name(),
        iface,
        fw,
        guest.elapsed.as_secs_f64()
    );
}

fn seabios_tis(peer: Peer) {
    scenario(peer, Iface::Tis, Firmware::SeaBios, End::PowerOff);
}
fn seabios_crb(peer: Peer) {
    scenario(peer, Iface::Crb, Firmware::SeaBios, End::PowerOff);
}
/// OVMF runs end with the host reading the PCRs itself.
fn ovmf_tis(peer: Peer) {
    scenario(peer, Iface::Tis, Firmware::Ovmf, End::Kill);
}
fn ovmf_crb(peer: Peer) {
    scenario(peer, Iface::Crb, Firmware::Ovmf, End::Kill);
}
/// A VM reset in the middle: QEMU's STOP, SET_BUFFERSIZE, INIT on a running TPM.
fn seabios_tis_reset(peer: Peer) {
    scenario(peer, Iface::Tis, Firmware::SeaBios, End::Resets(1));
}

/// VTPM_QEMU=1: the QEMU tests were asked for (a workspace-wide `--ignored` run
/// does not boot guests).
fn wanted() -> bool {
    let on = std::env::var("VTPM_QEMU").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("QEMU test skipped: set VTPM_QEMU=1 (conformance/qemu/run.sh does)");
    }
    on
}

/// Like `both!`, but the tests are ignored unless asked for (`-- --ignored` and
/// VTPM_QEMU=1).
macro_rules! qemu_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            #[ignore = "boots QEMU guests: conformance/qemu/run.sh"]
            fn vtpm() {
                if super::wanted() {
                    super::$name(super::common::vtpm())
                }
            }
            #[test]
            #[ignore = "boots QEMU guests: conformance/qemu/run.sh"]
            fn swtpm() {
                if super::wanted() {
                    super::$name(vtpm_conformance::Peer::Swtpm)
                }
            }
        }
    )*};
}

qemu_both!(
    seabios_tis,
    seabios_crb,
    ovmf_tis,
    ovmf_crb,
    seabios_tis_reset
);
