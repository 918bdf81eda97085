//! The project's own tpm2-tools scenario suite: `conformance/tools/<family>.sh`.
//!
//! Each script runs against a fresh server (socket mode, `not-need-init`; the script sends
//! `TPM2_Startup` itself) with `TPM2TOOLS_TCTI`, `TPM_CTRL` (the control channel),
//! `TPM_PEER` and `WORK` (its scratch directory) set, and prints one line per case:
//! `CASE <name> PASS|FAIL|SKIP [reason]`. Case `x` of `crypto.sh` becomes test `crypto/x`;
//! `<family>/script completed` records whether the script ran to its end (exit status 0
//! within [`SCRIPT_TIMEOUT`]): cases after a crash are simply not listed.
//!
//! Scripts run in parallel (up to [`PARALLEL`] at a time), each with its own server. Per
//! family, `WORK/<family>.out` keeps the script's standard output (every CASE line, with
//! the failure reasons) and `WORK/<family>.err` its standard error; each case leaves its
//! files and a log of every tool it ran in `WORK/<family>/<case>/`.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::report::{Outcome, SuiteResult};
use crate::{Peer, TpmServer};

/// How long one script may run before it (and everything it started) is killed.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// How many scripts run at the same time.
pub const PARALLEL: usize = 4;
/// The test recording whether a script ran to its end.
pub const COMPLETED: &str = "script completed";

/// Where the scripts live: `conformance/tools`.
pub fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools")
}

/// The scenario scripts (every `*.sh` but the shared `lib.sh`), sorted.
pub fn scripts(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .filter(|p| p.file_name().is_some_and(|n| n != "lib.sh"))
        .collect();
    v.sort();
    Ok(v)
}

/// One parsed `CASE` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub outcome: Outcome,
    /// The reason given after the verdict (empty for most passes).
    pub reason: String,
}

/// The `CASE <name> <verdict> [reason]` lines of a script's output, in order. Other lines
/// are ignored; a verdict other than PASS/SKIP counts as a failure.
pub fn parse_cases(output: &str) -> Vec<Case> {
    output
        .lines()
        .filter_map(|line| {
            let rest = line.trim_end().strip_prefix("CASE ")?;
            let mut parts = rest.splitn(3, ' ');
            let name = parts.next().filter(|n| !n.is_empty())?;
            let outcome = match parts.next()? {
                "PASS" => Outcome::Passed,
                "SKIP" => Outcome::Skipped,
                _ => Outcome::Failed,
            };
            Some(Case {
                name: name.to_string(),
                outcome,
                reason: parts.next().unwrap_or("").trim().to_string(),
            })
        })
        .collect()
}

/// How a script run ended.
#[derive(Debug)]
struct ScriptRun {
    family: String,
    cases: Vec<Case>,
    completed: bool,
    note: String,
}

/// Runs every script against its own fresh `peer` server, `PARALLEL` at a time.
pub fn run(peer: &Peer, work: &Path) -> io::Result<SuiteResult> {
    let scripts = scripts(&scripts_dir())?;
    if scripts.is_empty() {
        return Err(io::Error::other(format!(
            "no scripts in {}",
            scripts_dir().display()
        )));
    }
    let queue = Mutex::new(scripts.into_iter().rev().collect::<Vec<_>>());
    let runs: Mutex<Vec<io::Result<ScriptRun>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let Some(script) = next else { break };
                    let r = run_script(peer, &script, work);
                    runs.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                }
            });
        }
    });
    let mut result = SuiteResult::new("tools", peer.name());
    for r in runs.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let r = r?;
        let (mut p, mut f, mut k) = (0, 0, 0);
        for c in &r.cases {
            match c.outcome {
                Outcome::Passed => p += 1,
                Outcome::Failed => f += 1,
                Outcome::Skipped => k += 1,
            }
            result
                .tests
                .insert(format!("{}/{}", r.family, c.name), c.outcome);
        }
        let done = if r.completed {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        result
            .tests
            .insert(format!("{}/{COMPLETED}", r.family), done);
        eprintln!(
            "conformance: tools/{} on {}: {p} passed, {f} failed, {k} skipped{}",
            r.family,
            peer.name(),
            if r.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.note)
            }
        );
    }
    Ok(result)
}

/// Start a server (a few attempts: a port picked as free may be taken by the time the
/// server binds it), run one script against it, collect its cases.
fn run_script(peer: &Peer, script: &Path, work: &Path) -> io::Result<ScriptRun> {
    let family = script
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut server = None;
    let mut last = None;
    for _ in 0..3 {
        match TpmServer::socket(peer) {
            Ok(s) => {
                server = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(server) = server else {
        return Err(last.unwrap_or_else(|| io::Error::other("no server")));
    };
    let out_path = work.join(format!("{family}.out"));
    let err_path = work.join(format!("{family}.err"));
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(script)
        .current_dir(work)
        .env(
            "TPM2TOOLS_TCTI",
            format!("swtpm:host=127.0.0.1,port={}", server.port),
        )
        .env("TPM_CTRL", format!("127.0.0.1:{}", server.ctrl_port()))
        .env("TPM_PEER", peer.name())
        .env("WORK", work)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run bash {}: {e}", script.display()),
            )
        })?;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait()? {
            Some(st) => break Some(st),
            None if started.elapsed() > SCRIPT_TIMEOUT => {
                // The script and every tool it started share the process group we made.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                timed_out = true;
                break child.wait().ok();
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    drop(server);
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    let cases = dedup(parse_cases(&output));
    let secs = started.elapsed().as_secs();
    let completed = !timed_out && status.is_some_and(|s| s.success());
    let note = if timed_out {
        format!("killed after {SCRIPT_TIMEOUT:?}")
    } else if !completed {
        format!("script ended early: {status:?}, see {}", err_path.display())
    } else {
        format!("{secs} s")
    };
    Ok(ScriptRun {
        family,
        cases,
        completed,
        note,
    })
}

/// A case reported twice counts once, failed if any report failed.
fn dedup(cases: Vec<Case>) -> Vec<Case> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Case> = Vec::new();
    for c in cases {
        match seen.get(&c.name) {
            Some(&i) => {
                if c.outcome == Outcome::Failed
                    && let Some(prev) = out.get_mut(i)
                {
                    *prev = c;
                }
            }
            None => {
                seen.insert(c.name.clone(), out.len());
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_lines() {
        let out = "noise before\n\
                   CASE sign_rsassa PASS\n\
                   CASE hash_large FAIL line 238: tpm2_hash -g sha256 -- ERROR: Esys_Hash(0x143) - x\n\
                   CASE rsa4096 SKIP libtpms 0.9 has no RSA-4096\r\n\
                   CASE odd MAYBE what\n\
                   CASE  PASS\n\
                   CASE lonely\n\
                   XCASE not_a_case PASS\n\
                   CASE trailing PASS   \n";
        let cases = parse_cases(out);
        let got: Vec<(&str, Outcome, &str)> = cases
            .iter()
            .map(|c| (c.name.as_str(), c.outcome, c.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("sign_rsassa", Outcome::Passed, ""),
                (
                    "hash_large",
                    Outcome::Failed,
                    "line 238: tpm2_hash -g sha256 -- ERROR: Esys_Hash(0x143) - x"
                ),
                ("rsa4096", Outcome::Skipped, "libtpms 0.9 has no RSA-4096"),
                ("odd", Outcome::Failed, "what"),
                ("trailing", Outcome::Passed, ""),
            ]
        );
    }

    #[test]
    fn parses_nothing_from_empty_output() {
        assert!(parse_cases("").is_empty());
        assert!(parse_cases("startup failed: connection refused\n").is_empty());
    }

    #[test]
    fn duplicate_cases_keep_a_failure() {
        let cases = dedup(parse_cases(
            "CASE a PASS\nCASE b PASS\nCASE a FAIL again\nCASE b SKIP later\n",
        ));
        let got: Vec<(&str, Outcome, &str)> = cases
            .iter()
            .map(|c| (c.name.as_str(), c.outcome, c.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("a", Outcome::Failed, "again"), ("b", Outcome::Passed, "")]
        );
    }

    #[test]
    fn finds_the_scripts() {
        let s = scripts(&scripts_dir()).unwrap();
        assert!(!s.is_empty());
        assert!(s.iter().all(|p| p.extension().unwrap() == "sh"));
        assert!(!s.iter().any(|p| p.ends_with("lib.sh")));
        // Every script sources lib.sh and ends with finish.
        for p in &s {
            let text = std::fs::read_to_string(p).unwrap();
            assert!(text.contains("lib.sh"), "{}", p.display());
            assert!(text.trim_end().ends_with("finish"), "{}", p.display());
        }
    }
}
