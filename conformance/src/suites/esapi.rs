//! The `tss-esapi` crate's own integration tests (pinned to [`VERSION`], the 7.6 line that
//! builds against the system's tpm2-tss 3.x with its pre-generated bindings, so no clang),
//! run against one server.
//!
//! The crate's source comes through cargo: a throwaway project that depends on
//! `tss-esapi = "=VERSION"` is fetched, `cargo metadata` says where the registry unpacked the
//! crate, and the source is copied to a writable cache dir (made a workspace of its own, with
//! the crate's frozen `tests/Cargo.lock.frozen` as its lock file so the dependency versions
//! never drift). The integration test binary is built there once and shared by the vtpm and
//! swtpm runs (cache: `target/conformance/cache/esapi`, next to the runner's work dirs, or
//! `$VTPM_CONFORMANCE_CACHE/esapi`).
//!
//! Every test runs in its own test-binary process against its own fresh server (after a
//! `TPM2_Startup(CLEAR)`), with a timeout: a failing test cannot leave objects, sessions or
//! changed authorizations behind for the next one, and a hang or a crash costs one test.
//! Tests run [`JOBS`] at a time. Libtest's own `test NAME ... ok|FAILED|ignored` lines give
//! the outcomes; the output of every failed test is kept under `work/failed/`.
//!
//! Needs the system packages `libtss2-dev` and `pkg-config` (see `.ci/run`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::report::{Outcome, SuiteResult};
use crate::{Peer, TpmServer};

/// The pinned `tss-esapi` release.
pub const VERSION: &str = "7.6.0";
/// The crate's integration test target.
const TEST_TARGET: &str = "integration_tests";
/// Fetching the crate and building its test binary (first run only; ~30 s warm).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// One test, including its own server start-up.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// All tests against one server; tests not started by then count as failed.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);
/// Tests run in parallel, each with its own server.
const JOBS: usize = 4;

/// TPM2_Startup(TPM_SU_CLEAR).
const STARTUP_CLEAR: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];

/// Run the tss-esapi integration tests against `peer`.
pub fn run(peer: &Peer, work: &Path) -> io::Result<SuiteResult> {
    let cache = cache_dir(work);
    std::fs::create_dir_all(&cache)?;
    let bin = build(&cache)?;
    let all = parse_list(&list(&bin, &cache, false)?);
    let ignored = parse_list(&list(&bin, &cache, true)?);
    if all.is_empty() {
        return Err(io::Error::other(format!(
            "{} --list found no tests",
            bin.display()
        )));
    }
    let mut result = SuiteResult::new("esapi", peer.name());
    let todo: Vec<&String> = all.iter().filter(|t| !ignored.contains(t)).collect();
    for t in &ignored {
        result.tests.insert(t.clone(), Outcome::Skipped);
    }
    let failed_dir = work.join("failed");
    std::fs::create_dir_all(&failed_dir)?;
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..JOBS.min(todo.len()) {
            s.spawn(|| {
                while let Some(name) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (outcome, log) = if start.elapsed() > SUITE_TIMEOUT {
                        (
                            Outcome::Failed,
                            format!("not run: the suite exceeded {SUITE_TIMEOUT:?}\n"),
                        )
                    } else {
                        run_one(peer, &bin, &cache, name)
                    };
                    if outcome == Outcome::Failed {
                        let _ = std::fs::write(failed_dir.join(format!("{name}.txt")), log);
                    }
                    if let Ok(mut o) = outcomes.lock() {
                        o.insert((*name).clone(), outcome);
                    }
                }
            });
        }
    });
    let outcomes = outcomes
        .into_inner()
        .map_err(|_| io::Error::other("a test worker panicked"))?;
    result.tests.extend(outcomes);
    let summary = format!(
        "tss-esapi {VERSION} against {}: {} passed, {} failed, {} skipped in {:.1?}; failed tests' output in {}\n",
        peer.name(),
        result.count(Outcome::Passed),
        result.count(Outcome::Failed),
        result.count(Outcome::Skipped),
        start.elapsed(),
        failed_dir.display()
    );
    eprint!("esapi: {summary}");
    std::fs::write(work.join("summary.txt"), summary)?;
    Ok(result)
}

/// Where the crate's source copy and its build live (shared by the vtpm and swtpm runs).
/// The runner's work dir is `target/conformance/<suite>/<peer>`, so this is
/// `target/conformance/cache/esapi` unless `VTPM_CONFORMANCE_CACHE` says otherwise.
fn cache_dir(work: &Path) -> PathBuf {
    let base = std::env::var_os("VTPM_CONFORMANCE_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            work.parent()
                .and_then(Path::parent)
                .map(|p| p.join("cache"))
        })
        .unwrap_or_else(|| work.join("cache"));
    base.join("esapi")
}

/// The cargo that runs us (`cargo run` sets `CARGO`), else the one on PATH.
fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // Build flags meant for the workspace that started us do not apply to this crate.
    for v in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET"] {
        c.env_remove(v);
    }
    c
}

/// Fetch, copy and build the crate's integration tests once; the test binary's path.
fn build(cache: &Path) -> io::Result<PathBuf> {
    let src = cache.join(format!("tss-esapi-{VERSION}"));
    if !src.join("Cargo.toml").exists() {
        let from = fetch(cache)?;
        let tmp = cache.join(format!("tss-esapi-{VERSION}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        copy_dir(&from, &tmp)?;
        // A workspace of its own: the copy lives inside our workspace's target dir.
        let mut manifest = std::fs::read_to_string(tmp.join("Cargo.toml"))?;
        manifest.push_str("\n[workspace]\n");
        std::fs::write(tmp.join("Cargo.toml"), manifest)?;
        let frozen = tmp.join("tests/Cargo.lock.frozen");
        if frozen.exists() {
            std::fs::copy(&frozen, tmp.join("Cargo.lock"))?;
        }
        if let Err(e) = std::fs::rename(&tmp, &src) {
            // Another run may have put its copy in place first.
            let _ = std::fs::remove_dir_all(&tmp);
            if !src.join("Cargo.toml").exists() {
                return Err(e);
            }
        }
    }
    let mut c = cargo();
    c.args([
        "test",
        "--no-run",
        "--message-format=json",
        "--test",
        TEST_TARGET,
    ])
    .arg("--manifest-path")
    .arg(src.join("Cargo.toml"))
    .env("CARGO_TARGET_DIR", cache.join("target"));
    let out = run_cmd(c, BUILD_TIMEOUT)?;
    if out.code != Some(0) {
        return Err(io::Error::other(format!(
            "building the tss-esapi {VERSION} tests failed (needs libtss2-dev and pkg-config): {}",
            tail(&out.stderr, 3000)
        )));
    }
    executable(&out.stdout, TEST_TARGET).ok_or_else(|| {
        io::Error::other(format!(
            "cargo built no {TEST_TARGET} executable: {}",
            tail(&out.stderr, 3000)
        ))
    })
}

/// `cargo fetch` a project depending on exactly `tss-esapi VERSION`; the crate's unpacked
/// source dir in the cargo registry.
fn fetch(cache: &Path) -> io::Result<PathBuf> {
    let dir = cache.join("fetch");
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"esapi-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\ntss-esapi = \"={VERSION}\"\n\n[workspace]\n"
        ),
    )?;
    std::fs::write(dir.join("src/lib.rs"), "")?;
    let manifest = dir.join("Cargo.toml");
    let mut c = cargo();
    c.arg("fetch").arg("--manifest-path").arg(&manifest);
    let out = run_cmd(c, BUILD_TIMEOUT)?;
    if out.code != Some(0) {
        return Err(io::Error::other(format!(
            "cargo fetch tss-esapi {VERSION} failed: {}",
            tail(&out.stderr, 3000)
        )));
    }
    let mut c = cargo();
    c.args(["metadata", "--format-version", "1", "--offline"])
        .arg("--manifest-path")
        .arg(&manifest);
    let out = run_cmd(c, BUILD_TIMEOUT)?;
    let src = manifest_dir(&out.stdout, &format!("tss-esapi-{VERSION}"));
    src.filter(|p| p.join("Cargo.toml").exists())
        .ok_or_else(|| {
            io::Error::other(format!(
                "cargo metadata does not show where tss-esapi {VERSION} is: {}",
                tail(&out.stderr, 3000)
            ))
        })
}

/// From `cargo metadata` JSON: the directory of the manifest whose dir is named `dir_name`.
pub fn manifest_dir(metadata: &str, dir_name: &str) -> Option<PathBuf> {
    let needle = format!("{dir_name}/Cargo.toml\"");
    let end = metadata.find(&needle)?;
    let start = metadata.get(..end)?.rfind('"')? + 1;
    let path = metadata.get(start..end + needle.len() - 1)?;
    Path::new(path).parent().map(Path::to_path_buf)
}

/// From `cargo test --no-run --message-format=json`: the executable of test target `target`.
pub fn executable(messages: &str, target: &str) -> Option<PathBuf> {
    let name = format!("\"name\":\"{target}\"");
    messages
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\"") && l.contains(&name))
        .find_map(|l| {
            let rest = l.split("\"executable\":\"").nth(1)?;
            rest.split('"').next().map(PathBuf::from)
        })
}

/// Copy a directory tree (files and dirs; the registry holds nothing else).
fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}

/// `bin --list` (or `--list --ignored`) output.
fn list(bin: &Path, cwd: &Path, ignored: bool) -> io::Result<String> {
    let mut c = Command::new(bin);
    c.args(["--list", "--format", "terse"]).current_dir(cwd);
    if ignored {
        c.arg("--ignored");
    }
    let out = run_cmd(c, TEST_TIMEOUT)?;
    if out.code != Some(0) {
        return Err(io::Error::other(format!(
            "{} --list failed: {}",
            bin.display(),
            tail(&out.stderr, 2000)
        )));
    }
    Ok(out.stdout)
}

/// Test names from libtest's `--list` output (`NAME: test` lines).
pub fn parse_list(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

/// Outcomes from libtest's per-test lines `test NAME ... ok|FAILED|ignored[, reason]`.
pub fn parse_results(out: &str) -> BTreeMap<String, Outcome> {
    let mut m = BTreeMap::new();
    for line in out.lines() {
        let Some((name, result)) = line
            .strip_prefix("test ")
            .and_then(|l| l.rsplit_once(" ... "))
        else {
            continue;
        };
        let outcome = match result.trim_end() {
            "ok" => Outcome::Passed,
            "FAILED" => Outcome::Failed,
            r if r == "ignored" || r.starts_with("ignored, ") => Outcome::Skipped,
            _ => continue,
        };
        m.insert(name.to_string(), outcome);
    }
    m
}

/// One test in its own process against its own fresh, started-up server.
fn run_one(peer: &Peer, bin: &Path, cwd: &Path, name: &str) -> (Outcome, String) {
    let server = match ready_server(peer) {
        Ok(s) => s,
        Err(e) => return (Outcome::Failed, e),
    };
    let mut c = Command::new(bin);
    c.args(["--exact", name, "--test-threads=1"])
        .current_dir(cwd)
        .env(
            "TEST_TCTI",
            format!("swtpm:host=127.0.0.1,port={}", server.port),
        )
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "0");
    let out = match run_cmd(c, TEST_TIMEOUT) {
        Ok(o) => o,
        Err(e) => {
            return (
                Outcome::Failed,
                format!("cannot run {}: {e}\n", bin.display()),
            );
        }
    };
    let outcome = parse_results(&out.stdout)
        .get(name)
        .copied()
        .unwrap_or(Outcome::Failed);
    let mut log = format!("{name} against {}: {outcome:?}", peer.name());
    if out.timed_out {
        let _ = write!(log, " (killed after {TEST_TIMEOUT:?})");
    }
    let _ = write!(
        log,
        ", exit {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- server\n{}\n",
        out.code,
        out.stdout,
        out.stderr,
        server.output()
    );
    (outcome, log)
}

/// A fresh server that answered TPM2_Startup(CLEAR). Retried: a port picked as free can be
/// taken by another process before the server binds it (the server then exits).
fn ready_server(peer: &Peer) -> Result<TpmServer, String> {
    let mut why = String::new();
    for _ in 0..3 {
        let mut server = match TpmServer::socket(peer) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(why, "server start failed: {e}");
                continue;
            }
        };
        let r = startup(&server);
        match server.try_wait() {
            Ok(None) => {}
            st => {
                let _ = writeln!(why, "server gone ({st:?}): {}", server.output());
                continue;
            }
        }
        match r {
            // TPM_RC_INITIALIZE: a retried Startup whose first try got through.
            Ok(r) if matches!(crate::response_code(&r), Some(0 | 0x100)) => return Ok(server),
            r => {
                let _ = writeln!(
                    why,
                    "TPM2_Startup(CLEAR) failed: {r:?}\n{}",
                    server.output()
                );
            }
        }
    }
    Err(why)
}

/// Send TPM2_Startup(CLEAR); a fresh swtpm now and then resets the first data connection
/// (right after the harness's readiness probe), so connection errors are retried.
fn startup(server: &TpmServer) -> io::Result<Vec<u8>> {
    let mut attempt = 0;
    loop {
        match server.transact(&STARTUP_CLEAR) {
            Err(e)
                if attempt < 4
                    && matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset
                            | io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::BrokenPipe
                            | io::ErrorKind::UnexpectedEof
                    ) =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(50 * attempt));
            }
            r => return r,
        }
    }
}

/// What a child process left behind.
struct Ran {
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

/// Run `cmd` with piped output, killed after `timeout`.
fn run_cmd(mut cmd: Command, timeout: Duration) -> io::Result<Ran> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {cmd:?}: {e}")))?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            timed_out = true;
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Ran {
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        timed_out,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// The last `n` bytes (or so) of `s`.
fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    s.get(i..).unwrap_or(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_output() {
        let out = "abstraction_tests::ak_tests::test_create_ak_rsa_rsa: test\n\
                   utils_tests::get_tpm_vendor_test::get_tpm_vendor: test\n\
                   \n404 tests, 0 benchmarks\n";
        assert_eq!(
            parse_list(out),
            vec![
                "abstraction_tests::ak_tests::test_create_ak_rsa_rsa".to_string(),
                "utils_tests::get_tpm_vendor_test::get_tpm_vendor".to_string(),
            ]
        );
        assert!(parse_list("0 tests, 0 benchmarks\n").is_empty());
    }

    #[test]
    fn parses_result_lines() {
        let out = "\nrunning 5 tests\n\
                   test a::b ... ok\n\
                   test a::c ... FAILED\n\
                   test a::d ... ignored\n\
                   test a::e ... ignored, needs hardware\n\
                   test a::f ... \n\
                   some test ... output printed by a test\n\
                   \nfailures:\n\n---- a::c stdout ----\npanicked\n\nfailures:\n    a::c\n\n\
                   test result: FAILED. 1 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out\n";
        let r = parse_results(out);
        assert_eq!(r.len(), 4);
        assert_eq!(r.get("a::b"), Some(&Outcome::Passed));
        assert_eq!(r.get("a::c"), Some(&Outcome::Failed));
        assert_eq!(r.get("a::d"), Some(&Outcome::Skipped));
        assert_eq!(r.get("a::e"), Some(&Outcome::Skipped));
        assert_eq!(r.get("a::f"), None);
    }

    #[test]
    fn finds_the_test_executable() {
        let json = concat!(
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"tss_esapi"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"integration_tests"},"profile":{},"executable":"/c/target/debug/deps/integration_tests-0123abcd","fresh":true}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            executable(json, "integration_tests"),
            Some(PathBuf::from(
                "/c/target/debug/deps/integration_tests-0123abcd"
            ))
        );
        assert_eq!(executable(json, "other"), None);
    }

    #[test]
    fn finds_the_crate_source_dir() {
        let json = r#"{"packages":[{"name":"log","manifest_path":"/h/.cargo/registry/src/index-1/log-0.4.20/Cargo.toml"},{"name":"tss-esapi","manifest_path":"/h/.cargo/registry/src/index-1/tss-esapi-7.6.0/Cargo.toml"}]}"#;
        assert_eq!(
            manifest_dir(json, "tss-esapi-7.6.0"),
            Some(PathBuf::from(
                "/h/.cargo/registry/src/index-1/tss-esapi-7.6.0"
            ))
        );
        assert_eq!(manifest_dir(json, "tss-esapi-7.5.1"), None);
    }

    #[test]
    fn tail_keeps_char_boundaries() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 10), "ab");
        assert_eq!(tail("aé", 1), "");
    }
}
