//! The tpm2-pytss 1.2.0 test suite against one server.
//!
//! The tests come from tpm2-pytss's source distribution on PyPI (pinned by version and
//! SHA-256, fetched once with `pip download` into `target/conformance/cache`); the library
//! under test is Debian's python3-tpm2-pytss 1.2.0, run by Debian's `/usr/bin/python3` with
//! pytest. The sdist's `test/` package is copied into the work dir next to
//! `conformance/pytss/conftest.py`, which swaps the suite's own simulator launcher for one that
//! starts the server under test: a fresh process and state dir per test (per class for the
//! FAPI tests, whose fixture is module-wide), reached through the suite's own swtpm TCTI and
//! started up by the suite itself. Only the tests that talk to a TPM are run (the pure library
//! tests do not depend on the server).
//!
//! Each test class runs in its own pytest process. Outcomes come from pytest's junit XML, or,
//! when pytest dies before writing it (a crash in the C library, the time limit), from its
//! `-v` progress lines, and the class goes on with the tests not yet reported. Test names are
//! `module.Class.test`, e.g. `test_esapi.TestEsys.test_get_random`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Peer;
use crate::report::{Outcome, SuiteResult};

/// The pinned sdist.
pub const VERSION: &str = "1.2.0";
const SDIST_SHA256: &str = "3a05964e3723dd0778752682c18f9fb914292d2167e3ef68d7590f47d9fc6b9e";
/// Debian's interpreter, which sees python3-tpm2-pytss (a pyenv python on PATH would not).
const PYTHON: &str = "/usr/bin/python3";
const CONFTEST: &str = include_str!("../../pytss/conftest.py");
const PYTEST_INI: &str = "[pytest]\n# Written by conformance/src/suites/pytss.rs: this dir is pytest's rootdir.\njunit_family = xunit2\n";
/// All pytest runs against one server together, collection included (they take well under
/// a minute; the bound keeps vtpm + swtpm under 7 minutes).
const SUITE_TIMEOUT: Duration = Duration::from_secs(200);
/// pytest processes per test class: the first, plus restarts after crashes.
const MAX_ATTEMPTS: usize = 4;
/// pytest-timeout's limit per test; the conftest kills a hung test's servers earlier.
const TEST_TIMEOUT_SECS: u32 = 90;
const SERVER_KILL_SECS: u32 = 60;
const PIP_TIMEOUT: Duration = Duration::from_secs(300);

/// Run the suite against `peer` in `work`.
pub fn run(peer: &Peer, work: &Path) -> io::Result<SuiteResult> {
    if !python_has("tpm2_pytss, pytest") {
        return Err(io::Error::other(format!(
            "{PYTHON} cannot import tpm2_pytss and pytest (apt-get install python3-tpm2-pytss python3-pytest)"
        )));
    }
    let sdist = sdist(&cache_dir())?;
    copy_dir(&sdist.join("test"), &work.join("test"))?;
    std::fs::write(work.join("conftest.py"), CONFTEST)?;
    std::fs::write(work.join("pytest.ini"), PYTEST_INI)?;
    let tmp = work.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let server = [
        peer.program().display().to_string(),
        "socket".into(),
        "--tpm2".into(),
    ]
    .iter()
    .map(|a| shell_quote(a))
    .collect::<Vec<_>>()
    .join(" ");
    let timeout_plugin = python_has("pytest_timeout");
    let pytest = |args: &[String]| {
        let mut cmd = Command::new(PYTHON);
        cmd.args(["-m", "pytest", "-p", "no:cacheprovider"])
            .arg(format!("--rootdir={}", work.display()));
        if timeout_plugin {
            cmd.args(["-p", "pytest_timeout"])
                .arg(format!("--timeout={TEST_TIMEOUT_SECS}"));
        }
        cmd.args(args)
            .current_dir(work)
            .env("VTPM_CONFORMANCE_SERVER", &server)
            .env(
                "VTPM_CONFORMANCE_TEST_TIMEOUT",
                SERVER_KILL_SECS.to_string(),
            )
            .env("VTPM_CONFORMANCE_TMP", &tmp)
            .env("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONNOUSERSITE", "1")
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME");
        cmd
    };
    let deadline = Instant::now() + SUITE_TIMEOUT;

    // Collect the node ids (the conftest keeps only the tests that use a TPM).
    let log = work.join("collect.log");
    let collect = pytest(&["--collect-only".into(), "-q".into(), "test".into()]);
    run_bounded(collect, &log, SUITE_TIMEOUT)?;
    let ids = parse_collected(&std::fs::read_to_string(&log).unwrap_or_default());
    if ids.is_empty() {
        return Err(io::Error::other(format!(
            "pytest collected no tests; see {}",
            log.display()
        )));
    }

    // One pytest process per test class, so that a crash of the library (it happens: a
    // segfault in tss2-fapi) costs one test, not the rest of the run: after an abnormal
    // exit the class goes on from the tests not yet reported.
    let mut result = SuiteResult::new("pytss", peer.name());
    let mut runs = 0;
    for (_class, group) in by_class(&ids) {
        let mut todo = group;
        for _attempt in 0..MAX_ATTEMPTS {
            let left = deadline.saturating_duration_since(Instant::now());
            if todo.is_empty() || left.is_zero() {
                break;
            }
            runs += 1;
            let junit = work.join(format!("junit-{runs}.xml"));
            let log = work.join(format!("pytest-{runs}.log"));
            let mut args = vec!["-v".to_string(), "-rA".to_string()];
            args.push(format!("--junitxml={}", junit.display()));
            args.extend(todo.iter().cloned());
            let status = run_bounded(pytest(&args), &log, left)?;
            let mut got = std::fs::read_to_string(&junit)
                .map(|x| parse_junit(&x))
                .unwrap_or_default();
            if got.is_empty() {
                got = parse_verbose(&std::fs::read_to_string(&log).unwrap_or_default());
            }
            for (name, outcome) in got {
                merge(&mut result.tests, name, outcome);
            }
            todo.retain(|id| !result.tests.contains_key(&node_name(id)));
            match status {
                Some(st) if matches!(st.code(), Some(0 | 1)) => break,
                Some(st) if !todo.is_empty() => eprintln!(
                    "pytss: pytest against {} ended with {st}; going on with {} test(s), log {}",
                    peer.name(),
                    todo.len(),
                    log.display()
                ),
                Some(_) => {}
                None => eprintln!(
                    "pytss: pytest against {} killed: the suite ran out of its {SUITE_TIMEOUT:?}; log {}",
                    peer.name(),
                    log.display()
                ),
            }
        }
        // Tests that never got to report (repeated crashes, time out) count as failed.
        for id in todo {
            merge(&mut result.tests, node_name(&id), Outcome::Failed);
        }
    }
    Ok(result)
}

/// `import modules` works in Debian's python.
fn python_has(modules: &str) -> bool {
    Command::new(PYTHON)
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Node ids from `pytest --collect-only -q` output.
pub fn parse_collected(out: &str) -> Vec<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("test/") && l.contains("::"))
        .map(str::to_string)
        .collect()
}

/// Node ids grouped by class (`file::Class`, or the file for module-level tests), in order.
fn by_class(ids: &[String]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for id in ids {
        let class = id.rsplit_once("::").map_or(id.as_str(), |(c, _)| c);
        match groups.iter_mut().find(|(c, _)| c == class) {
            Some((_, g)) => g.push(id.clone()),
            None => groups.push((class.to_string(), vec![id.clone()])),
        }
    }
    groups
}

/// Where the sdist is kept between runs: `$VTPM_CONFORMANCE_CACHE`, else
/// `<workspace>/target/conformance/cache`.
fn cache_dir() -> PathBuf {
    std::env::var_os("VTPM_CONFORMANCE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/conformance/cache")
        })
}

/// The unpacked sdist in `cache`, downloaded and unpacked on first use.
fn sdist(cache: &Path) -> io::Result<PathBuf> {
    let name = format!("tpm2-pytss-{VERSION}");
    let dest = cache.join(&name);
    if dest.join("test/TSS2_BaseTest.py").is_file() {
        return Ok(dest);
    }
    let tmp = cache.join(format!("{name}.download"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let req = tmp.join("requirements.txt");
    std::fs::write(
        &req,
        format!("tpm2-pytss=={VERSION} --hash=sha256:{SDIST_SHA256}\n"),
    )?;
    // `--no-binary tpm2-pytss`: the sdist, not a wheel; its build dependencies (needed for
    // pip's metadata step) may come as wheels, which keeps this to seconds.
    let mut pip = Command::new(PYTHON);
    pip.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        "tpm2-pytss",
    ])
    .args(["--require-hashes", "-r"])
    .arg(&req)
    .arg("-d")
    .arg(&tmp)
    .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    let log = tmp.join("pip.log");
    let ok = run_bounded(pip, &log, PIP_TIMEOUT)?.is_some_and(|s| s.success());
    let tarball = tmp.join(format!("{name}.tar.gz"));
    if !ok || !tarball.is_file() {
        return Err(io::Error::other(format!(
            "pip download of tpm2-pytss {VERSION} failed (needs python3-pip and PyPI); see {}",
            log.display()
        )));
    }
    let mut tar = Command::new("tar");
    tar.arg("-xzf").arg(&tarball).arg("-C").arg(&tmp);
    if !run_bounded(tar, &tmp.join("tar.log"), PIP_TIMEOUT)?.is_some_and(|s| s.success()) {
        return Err(io::Error::other(format!(
            "cannot unpack {}",
            tarball.display()
        )));
    }
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(tmp.join(&name), &dest)?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(dest)
}

/// Run `cmd` in its own process group with stdout and stderr to `log`. After `timeout` the
/// whole group (the command and e.g. servers it started) is killed and `None` returned.
fn run_bounded(mut cmd: Command, log: &Path, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    use std::os::unix::process::CommandExt;
    let out = File::create(log)?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {cmd:?}: {e}")))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if Instant::now() > deadline {
            // The child is not reaped yet, so its pid still names our group.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Copy the directory tree `from` to `to` (regular files and directories).
fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// `s` as one POSIX shell word (the conftest splits the server command with `shlex`).
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Record `outcome` for `name`; a test reported twice (e.g. passed, then an error in
/// teardown) keeps the worst outcome.
fn merge(tests: &mut BTreeMap<String, Outcome>, name: String, outcome: Outcome) {
    let rank = |o: &Outcome| match o {
        Outcome::Passed => 0,
        Outcome::Skipped => 1,
        Outcome::Failed => 2,
    };
    let e = tests.entry(name).or_insert(outcome);
    if rank(&outcome) > rank(e) {
        *e = outcome;
    }
}

/// Test name from a junit classname (`test.test_esapi.TestEsys`) and name.
fn junit_name(classname: &str, name: &str) -> String {
    let class = classname.strip_prefix("test.").unwrap_or(classname);
    format!("{class}.{name}")
}

/// Test name from a pytest node id (`test/test_esapi.py::TestEsys::test_get_random`).
fn node_name(nodeid: &str) -> String {
    let id = nodeid.strip_prefix("test/").unwrap_or(nodeid);
    id.replacen(".py::", ".", 1).replace("::", ".")
}

/// Outcomes of every `<testcase>` in pytest's junit XML: a `<failure>` or `<error>` child
/// fails it, a `<skipped>` child skips it, none passes it.
pub fn parse_junit(xml: &str) -> Vec<(String, Outcome)> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<testcase") {
        rest = rest.get(i + "<testcase".len()..).unwrap_or_default();
        if !rest.starts_with(|c: char| c.is_whitespace() || c == '/' || c == '>') {
            continue; // e.g. <testcases>
        }
        let Some(end) = tag_end(rest) else { break };
        let attrs = rest.get(..end).unwrap_or_default();
        rest = rest.get(end + 1..).unwrap_or_default();
        let body = if attrs.ends_with('/') {
            ""
        } else {
            let close = rest.find("</testcase>").unwrap_or(rest.len());
            let body = rest.get(..close).unwrap_or_default();
            rest = rest.get(close..).unwrap_or_default();
            body
        };
        let (Some(class), Some(name)) = (attr(attrs, "classname"), attr(attrs, "name")) else {
            continue;
        };
        let outcome = if body.contains("<failure") || body.contains("<error") {
            Outcome::Failed
        } else if body.contains("<skipped") {
            Outcome::Skipped
        } else {
            Outcome::Passed
        };
        out.push((junit_name(&class, &name), outcome));
    }
    out
}

/// Index of the `>` closing a start tag whose attributes begin `s` (quotes respected).
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// The unescaped value of attribute `key` in a start tag's attribute text.
fn attr(attrs: &str, key: &str) -> Option<String> {
    let mut rest = attrs;
    loop {
        rest = rest.trim_start();
        let eq = rest.find('=')?;
        let k = rest.get(..eq)?.trim();
        let after = rest.get(eq + 1..)?.trim_start();
        let q = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value_len = after.get(1..)?.find(q)?;
        let value = after.get(1..1 + value_len)?;
        if k == key {
            return Some(unescape(value));
        }
        rest = after.get(value_len + 2..)?;
    }
}

/// XML character and entity references.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or_default());
        rest = rest.get(i..).unwrap_or_default();
        let decoded = rest.find(';').and_then(|semi| {
            let ent = rest.get(1..semi)?;
            let c = match ent {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let code = match ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => ent.strip_prefix('#')?.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = rest.get(len..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = rest.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// Outcomes from pytest's `-v` progress lines (`test/x.py::C::t PASSED [ 1%]`), for a run that
/// died before writing its XML. A last node id without an outcome (the test that was running
/// when pytest was killed) counts as failed.
pub fn parse_verbose(log: &str) -> Vec<(String, Outcome)> {
    let mut out = Vec::new();
    for line in log.lines() {
        let mut words = line.split_whitespace();
        let (Some(id), outcome) = (words.next(), words.next()) else {
            continue;
        };
        if !id.starts_with("test/") || !id.contains("::") {
            continue;
        }
        let outcome = match outcome {
            Some("PASSED" | "XPASS") => Outcome::Passed,
            Some("SKIPPED" | "XFAIL") => Outcome::Skipped,
            Some("FAILED" | "ERROR") | None => Outcome::Failed,
            Some(_) => continue,
        };
        out.push((node_name(id), outcome));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn junit_outcomes_and_names() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5">
<testcase classname="test.test_esapi.TestEsys" name="test_get_random" time="0.03" />
<testcase classname="test.test_esapi.TestEsys" name="test_sign" time="0.1"><failure message="tpm:error(2.0): command code &lt;0x15d&gt;">Traceback
 x &lt; y</failure><system-err>ERROR:esys</system-err></testcase>
<testcase classname="test.test_fapi.TestFapiECC" name="test_sign" time="0"><error message="failed on setup with &quot;x&quot;">e</error></testcase>
<testcase classname="test.test_tcti.TestTCTI" name="test_cancel" time="0"><skipped type="pytest.skip" message="cancel supported by swtpm">skip</skipped></testcase>
<testcase classname='test.test_x.C' time="0" name="test_p[a&amp;b&#62;c]"></testcase>
</testsuite></testsuites>"#;
        let r = parse_junit(xml);
        assert_eq!(
            r,
            vec![
                (
                    "test_esapi.TestEsys.test_get_random".to_string(),
                    Outcome::Passed
                ),
                ("test_esapi.TestEsys.test_sign".to_string(), Outcome::Failed),
                (
                    "test_fapi.TestFapiECC.test_sign".to_string(),
                    Outcome::Failed
                ),
                (
                    "test_tcti.TestTCTI.test_cancel".to_string(),
                    Outcome::Skipped
                ),
                ("test_x.C.test_p[a&b>c]".to_string(), Outcome::Passed),
            ]
        );
        assert!(parse_junit("").is_empty());
        assert!(parse_junit("<testsuites><testcase classname=\"a\"").is_empty());
    }

    #[test]
    fn attributes_and_entities() {
        assert_eq!(attr(r#"classname="c" name="n""#, "name").unwrap(), "n");
        assert_eq!(attr(r#"name="a>b" x='1'"#, "x").unwrap(), "1");
        assert_eq!(attr(r#"name="n""#, "classname"), None);
        assert_eq!(tag_end(r#"a="x>y" b='>'>rest"#), Some(13));
        assert_eq!(unescape("&lt;&#x41;&#66;&bogus; & &amp;"), "<AB&bogus; & &");
    }

    #[test]
    fn verbose_lines() {
        let log = "\
============================= test session starts ==============================
collecting ... collected 522 items / 160 deselected / 362 selected

test/test_crypto.py::CryptoTest::test_kdfa PASSED                        [  1%]
test/test_crypto.py::CryptoTest::test_nv_getname FAILED                  [  2%]
test/test_fapi.py::TestFapiECC::test_get_random ERROR                    [  3%]
test/test_tcti.py::TestTCTI::test_cancel SKIPPED (cancel supported b...) [  4%]
test/test_crypto.py::CryptoTest::test_kdfa ERROR                         [  4%]
FAILED test/test_crypto.py::CryptoTest::test_nv_getname - tpm:error
test/test_esapi.py::TestEsys::test_hang";
        let mut m = BTreeMap::new();
        for (n, o) in parse_verbose(log) {
            merge(&mut m, n, o);
        }
        let want: BTreeMap<String, Outcome> = [
            ("test_crypto.CryptoTest.test_kdfa", Outcome::Failed),
            ("test_crypto.CryptoTest.test_nv_getname", Outcome::Failed),
            ("test_fapi.TestFapiECC.test_get_random", Outcome::Failed),
            ("test_tcti.TestTCTI.test_cancel", Outcome::Skipped),
            ("test_esapi.TestEsys.test_hang", Outcome::Failed),
        ]
        .into_iter()
        .map(|(n, o)| (n.to_string(), o))
        .collect();
        assert_eq!(m, want);
    }

    #[test]
    fn collected_ids_by_class() {
        let out = "\
test/test_esapi.py::TestEsys::test_a
test/test_fapi.py::TestFapiECC::test_b
test/test_esapi.py::TestEsys::test_c
test/test_mod.py::test_free

361/522 tests collected (161 deselected) in 0.52s
";
        let ids = parse_collected(out);
        assert_eq!(ids.len(), 4);
        let groups = by_class(&ids);
        let keys: Vec<&str> = groups.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            keys,
            [
                "test/test_esapi.py::TestEsys",
                "test/test_fapi.py::TestFapiECC",
                "test/test_mod.py"
            ]
        );
        assert_eq!(groups.first().map(|g| g.1.len()), Some(2));
    }

    #[test]
    fn bounded_run_kills_the_whole_group() {
        let dir = tempfile::TempDir::new().unwrap();
        let pid_file = dir.path().join("pid");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("sleep 30 & echo $! > {}; wait", pid_file.display()));
        let start = Instant::now();
        let st = run_bounded(cmd, &dir.path().join("log"), Duration::from_millis(300)).unwrap();
        assert!(st.is_none());
        assert!(start.elapsed() < Duration::from_secs(10));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // The background sleep is gone (or a zombie of the reaped shell's init).
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        assert!(stat.is_empty() || stat.contains(") Z"), "{stat}");

        let mut ok = Command::new("sh");
        ok.args(["-c", "echo hi; exit 3"]);
        let st = run_bounded(ok, &dir.path().join("log2"), Duration::from_secs(10)).unwrap();
        assert_eq!(st.and_then(|s| s.code()), Some(3));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("log2")).unwrap(),
            "hi\n"
        );
    }

    #[test]
    fn merge_keeps_the_worst() {
        let mut m = BTreeMap::new();
        merge(&mut m, "a".into(), Outcome::Failed);
        merge(&mut m, "a".into(), Outcome::Passed);
        merge(&mut m, "b".into(), Outcome::Passed);
        merge(&mut m, "b".into(), Outcome::Skipped);
        assert_eq!(m.get("a"), Some(&Outcome::Failed));
        assert_eq!(m.get("b"), Some(&Outcome::Skipped));
    }

    #[test]
    fn quoting_and_names() {
        assert_eq!(shell_quote("/x/target/debug/vtpm"), "/x/target/debug/vtpm");
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            node_name("test/test_esapi.py::TestEsys::test_x[1]"),
            "test_esapi.TestEsys.test_x[1]"
        );
        assert_eq!(
            junit_name("test.test_utils.TestUtils", "test_y"),
            "test_utils.TestUtils.test_y"
        );
    }
}
