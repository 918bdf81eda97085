//! The server's storage: the VMGS file and its lock, backend-uri=file://, keys of each
//! kind (wrong key refused, warning without one), tamper evidence (startup fails and the
//! file is left as it was), and durability under SIGKILL during an NV write loop.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::*;

const VMGS: &str = "tpm-state.vmgs";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vtpm")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Runs `vtpm socket` with `args` until it exits (or `wait` passes: then it is
/// killed); returns (exited, success, stdout+stderr).
fn run_server(args: &[&str], wait: Duration) -> (bool, bool, String) {
    let out = tempfile::tempdir().unwrap();
    let port = free_port_pair();
    let mut child = Command::new(bin())
        .args(["socket", "--tpm2", "--flags", "not-need-init"])
        .args(["--server", &format!("type=tcp,port={port}")])
        .args(["--ctrl", &format!("type=tcp,port={}", port + 1)])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out.path().join("o")).unwrap())
        .stderr(std::fs::File::create(out.path().join("e")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + wait;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = std::fs::read_to_string(out.path().join("o")).unwrap_or_default()
        + &std::fs::read_to_string(out.path().join("e")).unwrap_or_default();
    (status.is_some(), status.is_some_and(|s| s.success()), text)
}

/// The server must refuse to start, saying `why`.
fn refuses(args: &[&str], why: &str) -> String {
    let (exited, ok, text) = run_server(args, Duration::from_secs(20));
    assert!(exited && !ok, "started anyway with {args:?}: {text}");
    assert!(
        text.to_lowercase().contains(&why.to_lowercase()),
        "{args:?}: expected '{why}' in: {text}"
    );
    text
}

fn vtpm_server(state: impl Into<StateDir>, extra: &[&str]) -> TpmServer {
    TpmServer::start_with(&vtpm(), "not-need-init", state, extra)
        .unwrap_or_else(|e| panic!("vtpm: {e}"))
}

fn write_nv(t: &TpmServer, dir: &Path, index: &str, data: &[u8]) {
    must(
        t,
        "tpm2_nvdefine",
        &[
            index,
            "-C",
            "o",
            "-s",
            &data.len().to_string(),
            "-a",
            "ownerread|ownerwrite",
        ],
    );
    let f = dir.join("nvdata");
    std::fs::write(&f, data).unwrap();
    must(t, "tpm2_nvwrite", &[index, "-C", "o", "-i", &s(&f)]);
}

fn read_nv(t: &TpmServer, dir: &Path, index: &str, len: usize) -> Vec<u8> {
    let f = dir.join("nvout");
    must(
        t,
        "tpm2_nvread",
        &[index, "-C", "o", "-s", &len.to_string(), "-o", &s(&f)],
    );
    std::fs::read(&f).unwrap()
}

#[test]
fn the_state_directory_holds_a_locked_vmgs_file() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_path_buf();
    let t = vtpm_server(dir.clone(), &[]);
    assert!(dir.join(VMGS).is_file());
    // The file is a VMGS file the operator tool reads (file id 3: the state image).
    let out = Command::new(bin())
        .args(["vmgs", "info", &s(&dir.join(VMGS))])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("TPM_NVRAM"), "{text}");
    // A second server on the same state gets a clear error.
    refuses(&["--tpmstate", &format!("dir={}", s(&dir))], "in use");
    drop(t);
}

#[test]
fn backend_uri_names_one_vmgs_file_and_locks_it() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("sub").join("guest.vmgs");
    let uri = format!("backend-uri=file://{}", s(&file));
    let mut t = vtpm_server(work.path().join("unused"), &["--tpmstate", &uri]);
    must(&t, "tpm2_startup", &["-c"]);
    write_nv(&t, work.path(), "0x1500020", b"in one file");
    assert!(file.is_file());
    refuses(&["--tpmstate", &uri], "in use");
    t.restart().unwrap();
    must(&t, "tpm2_startup", &["-c"]);
    assert_eq!(read_nv(&t, work.path(), "0x1500020", 11), b"in one file");
    // Nothing went into the --tpmstate dir= the harness also passed.
    assert!(!work.path().join("unused").join(VMGS).exists());
}

fn key_round_trip(key_args: Vec<String>, work: &Path) {
    let state = work.join("state");
    let args: Vec<&str> = key_args.iter().map(String::as_str).collect();
    let mut t = vtpm_server(state.clone(), &args);
    assert!(
        !t.output().contains("in the clear"),
        "no clear-text warning with a key: {}",
        t.output()
    );
    must(&t, "tpm2_startup", &["-c"]);
    write_nv(&t, work, "0x1500021", b"secret data!");
    t.restart().unwrap();
    must(&t, "tpm2_startup", &["-c"]);
    assert_eq!(read_nv(&t, work, "0x1500021", 12), b"secret data!");
    drop(t);
    // Encrypted: neither the state image magic nor the NV data appear in the file.
    let bytes = std::fs::read(state.join(VMGS)).unwrap();
    assert!(!bytes.windows(8).any(|w| w == b"VTPMSTAT"));
    assert!(!bytes.windows(12).any(|w| w == b"secret data!"));
}

#[test]
fn keys_of_each_kind() {
    let work = tempfile::tempdir().unwrap();
    // Binary key file.
    let bin_key = work.path().join("k.bin");
    std::fs::write(&bin_key, [0x42u8; 32]).unwrap();
    let w = work.path().join("bin");
    std::fs::create_dir(&w).unwrap();
    key_round_trip(vec!["--key".into(), format!("file={}", s(&bin_key))], &w);
    // Hex key file.
    let hex_key = work.path().join("k.hex");
    std::fs::write(&hex_key, format!("{}\n", hex(&[0x17; 32]))).unwrap();
    let w = work.path().join("hex");
    std::fs::create_dir(&w).unwrap();
    key_round_trip(
        vec!["--key".into(), format!("file={},format=hex", s(&hex_key))],
        &w,
    );
    // Passphrase file: the Argon2id header sits beside the VMGS file.
    let pwd = work.path().join("pwd");
    std::fs::write(&pwd, "correct horse battery staple\n").unwrap();
    let w = work.path().join("pwd-state");
    std::fs::create_dir(&w).unwrap();
    key_round_trip(vec!["--key".into(), format!("pwdfile={}", s(&pwd))], &w);
    let kdf = w.join("state").join(format!("{VMGS}.kdf"));
    assert!(kdf.is_file(), "key-derivation header");
    // Another passphrase is refused.
    let other = work.path().join("pwd2");
    std::fs::write(&other, "incorrect horse").unwrap();
    refuses(
        &[
            "--tpmstate",
            &format!("dir={}", s(&w.join("state"))),
            "--key",
            &format!("pwdfile={}", s(&other)),
        ],
        "wrong datastore key",
    );
}

/// `--key fd=N`: the key comes from an inherited descriptor (as libvirt passes it).
#[test]
fn key_from_a_file_descriptor() {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("k.bin");
    std::fs::write(&key, [0x99u8; 32]).unwrap();
    let state = work.path().join("state");
    let port = free_port_pair();
    let script = format!(
        "exec {} socket --tpm2 --tpmstate dir={} --server type=tcp,port={port} \
         --ctrl type=tcp,port={} --flags not-need-init --key fd=7 7<{}",
        bin(),
        s(&state),
        port + 1,
        s(&key)
    );
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let tools = Tools::swtpm(port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tools.run("tpm2_startup", &["-c"]).ok() {
        assert!(
            Instant::now() < deadline,
            "server with --key fd=7 did not come up"
        );
        assert!(child.try_wait().unwrap().is_none(), "server exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(tools.run("tpm2_getrandom", &["8"]).ok());
    let _ = child.kill();
    let _ = child.wait();
    // The same key, now from a file, opens the state; another does not.
    let (exited, _, text) = run_server(
        &[
            "--tpmstate",
            &format!("dir={}", s(&state)),
            "--key",
            &format!("file={}", s(&key)),
        ],
        Duration::from_secs(2),
    );
    assert!(
        !exited,
        "the key from the fd opens the state with --key file: {text}"
    );
    let wrong = work.path().join("wrong.bin");
    std::fs::write(&wrong, [0x98u8; 32]).unwrap();
    refuses(
        &[
            "--tpmstate",
            &format!("dir={}", s(&state)),
            "--key",
            &format!("file={}", s(&wrong)),
        ],
        "wrong datastore key",
    );
}

#[test]
fn wrong_or_missing_key_is_refused_and_the_file_kept() {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("k");
    std::fs::write(&key, [1u8; 32]).unwrap();
    let wrong = work.path().join("w");
    std::fs::write(&wrong, [2u8; 32]).unwrap();
    let state = work.path().join("state");
    let t = vtpm_server(state.clone(), &["--key", &format!("file={}", s(&key))]);
    must(&t, "tpm2_startup", &["-c"]);
    drop(t);
    let before = std::fs::read(state.join(VMGS)).unwrap();
    let dir = format!("dir={}", s(&state));
    refuses(
        &["--tpmstate", &dir, "--key", &format!("file={}", s(&wrong))],
        "wrong datastore key",
    );
    refuses(&["--tpmstate", &dir], "encrypted");
    assert!(std::fs::read(state.join(VMGS)).unwrap() == before);
    // A key for a state kept in the clear is refused too (not silently ignored).
    let clear = work.path().join("clear");
    drop(vtpm_server(clear.clone(), &[]));
    refuses(
        &[
            "--tpmstate",
            &format!("dir={}", s(&clear)),
            "--key",
            &format!("file={}", s(&key)),
        ],
        "in the clear",
    );
}

#[test]
fn warns_that_state_without_a_key_is_in_the_clear() {
    let t = vtpm_server(tempfile::tempdir().unwrap(), &[]);
    assert!(t.output().contains("stored in the clear"), "{}", t.output());
}

/// A directory of the old directory store: its image is migrated into the VMGS file,
/// deliberately (the old file is renamed), never reset.
#[test]
fn an_old_state_directory_is_migrated() {
    let work = tempfile::tempdir().unwrap();
    let mut t = vtpm_server(work.path().join("s"), &[]);
    must(&t, "tpm2_startup", &["-c"]);
    write_nv(&t, work.path(), "0x1500022", b"old store");
    t.kill();
    // Make it look like a directory of the old store: just the image file.
    let state = work.path().join("s");
    let image = Command::new(bin())
        .args(["vmgs", "read", &s(&state.join(VMGS)), "--file-id", "3"])
        .args(["-o", &s(&state.join("vtpm-state.img"))])
        .output()
        .unwrap();
    assert!(image.status.success());
    std::fs::remove_file(state.join(VMGS)).unwrap();
    t.restart().unwrap();
    assert!(t.output().contains("migrated"), "{}", t.output());
    must(&t, "tpm2_startup", &["-c"]);
    assert_eq!(read_nv(&t, work.path(), "0x1500022", 9), b"old store");
    assert!(!state.join("vtpm-state.img").exists());
    assert!(state.join("vtpm-state.img.migrated").exists());
    // A corrupt old image is refused with what to do, and left alone.
    t.kill();
    let old = state.join("vtpm-state.img");
    std::fs::write(&old, b"VTPMSTAT garbage").unwrap();
    refuses(
        &["--tpmstate", &format!("dir={}", s(&state))],
        "move it away",
    );
    assert_eq!(std::fs::read(&old).unwrap(), b"VTPMSTAT garbage");
}

/// Offsets to flip: the header sectors, the first blocks (tables and data), a spread
/// over the whole file (free space included), and the VHD footer.
fn tamper_offsets(len: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..168).step_by(7).collect();
    v.extend((512..680).step_by(11));
    v.extend((4096..8 * 4096).step_by(509));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x % len as u64) as usize);
    }
    v.extend((len - 512..len).step_by(37));
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn a_flipped_byte_of_an_encrypted_state_fails_startup_and_the_file_is_kept() {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("k");
    std::fs::write(&key, [5u8; 32]).unwrap();
    let key_arg = format!("file={}", s(&key));
    let state = work.path().join("state");
    let t = vtpm_server(state.clone(), &["--key", &key_arg]);
    must(&t, "tpm2_startup", &["-c"]);
    write_nv(&t, work.path(), "0x1500023", b"tamper me");
    must(&t, "tpm2_shutdown", &["-c"]);
    drop(t);
    let path = state.join(VMGS);
    let good = std::fs::read(&path).unwrap();
    let dir = format!("dir={}", s(&state));
    let offsets = tamper_offsets(good.len());
    assert!(offsets.len() > 150);
    for off in offsets {
        let mut bad = good.clone();
        bad[off] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let (exited, ok, text) = run_server(
            &["--tpmstate", &dir, "--key", &key_arg],
            Duration::from_secs(20),
        );
        assert!(exited && !ok, "flip at {off} went unnoticed: {text}");
        assert!(
            ["corrupt", "tamper", "VHD", "key", "not supported"]
                .iter()
                .any(|w| text.contains(w)),
            "flip at {off}: unclear error: {text}"
        );
        assert!(
            std::fs::read(&path).unwrap() == bad,
            "flip at {off}: the file was rewritten"
        );
    }
    // The original still opens.
    std::fs::write(&path, &good).unwrap();
    let mut t = vtpm_server(state.clone(), &["--key", &key_arg]);
    must(&t, "tpm2_startup", &["-c"]);
    assert_eq!(read_nv(&t, work.path(), "0x1500023", 9), b"tamper me");
    t.kill();
}

/// SIGKILL at random moments while a client increments an NV counter and rewrites an
/// NV index: after each restart every acknowledged value is there (the one in flight
/// may or may not be).
fn sigkill_during_nv_writes(peer: Peer) {
    let work = tempfile::tempdir().unwrap();
    let mut t = started(&peer);
    must(
        &t,
        "tpm2_nvdefine",
        &[
            "0x1500030",
            "-C",
            "o",
            "-s",
            "8",
            "-a",
            "ownerread|ownerwrite|nt=counter",
        ],
    );
    must(
        &t,
        "tpm2_nvdefine",
        &[
            "0x1500031",
            "-C",
            "o",
            "-s",
            "8",
            "-a",
            "ownerread|ownerwrite",
        ],
    );
    must(&t, "tpm2_nvincrement", &["0x1500030", "-C", "o"]);
    let mut acked_counter = 1u64;
    let mut acked_write: Option<u64> = None;
    let mut seed: u64 = 0x1234_5678;
    for round in 0..5 {
        let tools = t.tools();
        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicU64::new(acked_counter));
        let written = Arc::new(AtomicU64::new(acked_write.map_or(u64::MAX, |v| v)));
        let worker = {
            let (stop, counter, written) = (stop.clone(), counter.clone(), written.clone());
            let dir = work.path().to_path_buf();
            std::thread::spawn(move || {
                let mut i = written.load(Ordering::SeqCst).wrapping_add(1) % 1_000_000;
                while !stop.load(Ordering::SeqCst) {
                    if !tools
                        .run("tpm2_nvincrement", &["0x1500030", "-C", "o"])
                        .ok()
                    {
                        return;
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let f = dir.join(format!("w{i}"));
                    std::fs::write(&f, i.to_be_bytes()).unwrap();
                    if !tools
                        .run("tpm2_nvwrite", &["0x1500031", "-C", "o", "-i", &s(&f)])
                        .ok()
                    {
                        return;
                    }
                    written.store(i, Ordering::SeqCst);
                    i += 1;
                }
            })
        };
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 700));
        t.kill();
        stop.store(true, Ordering::SeqCst);
        worker.join().unwrap();
        acked_counter = counter.load(Ordering::SeqCst);
        let w = written.load(Ordering::SeqCst);
        acked_write = (w != u64::MAX).then_some(w);

        t.restart().unwrap();
        must(&t, "tpm2_startup", &["-c"]);
        let f = work.path().join("counter.out");
        must(
            &t,
            "tpm2_nvread",
            &["0x1500030", "-C", "o", "-s", "8", "-o", &s(&f)],
        );
        let value = u64::from_be_bytes(std::fs::read(&f).unwrap().try_into().unwrap());
        // Counters of a fresh index start at the highest value ever used (0 here).
        assert!(
            value >= acked_counter && value <= acked_counter + 1,
            "{} round {round}: counter {value}, acknowledged {acked_counter}",
            peer.name()
        );
        acked_counter = value;
        if let Some(w) = acked_write {
            let f = work.path().join("write.out");
            must(
                &t,
                "tpm2_nvread",
                &["0x1500031", "-C", "o", "-s", "8", "-o", &s(&f)],
            );
            let got = u64::from_be_bytes(std::fs::read(&f).unwrap().try_into().unwrap());
            assert!(
                got == w || got == w + 1,
                "{} round {round}: NV data {got}, acknowledged {w}",
                peer.name()
            );
            acked_write = Some(got);
        }
    }
    assert!(acked_counter > 5, "{}: the loop made progress", peer.name());
}

both!(sigkill_during_nv_writes);
