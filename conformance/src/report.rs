//! Suite results, the side-by-side table, the markdown report and the ratchet.
//!
//! The ratchet is a committed list of tests that must pass on vtpm, one file per suite
//! (`conformance/ratchet/<suite>.txt`, one test name per line, `#` comments). It only grows:
//! a listed test that does not pass fails the run; a passing test that is not listed is
//! reported so it can be added.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// How one test of a suite ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// One suite run against one server.
#[derive(Clone, Debug)]
pub struct SuiteResult {
    pub suite: String,
    /// "vtpm" or "swtpm".
    pub peer: String,
    /// Test name -> outcome, sorted by name.
    pub tests: BTreeMap<String, Outcome>,
}

impl SuiteResult {
    pub fn new(suite: &str, peer: &str) -> SuiteResult {
        SuiteResult {
            suite: suite.to_string(),
            peer: peer.to_string(),
            tests: BTreeMap::new(),
        }
    }

    pub fn count(&self, o: Outcome) -> usize {
        self.tests.values().filter(|v| **v == o).count()
    }

    pub fn passed(&self, name: &str) -> bool {
        self.tests.get(name) == Some(&Outcome::Passed)
    }
}

/// The table: one row per suite and server.
pub fn table(results: &[SuiteResult]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<12} {:<6} {:>6} {:>7} {:>7} {:>8}",
        "suite", "server", "tests", "passed", "failed", "skipped"
    );
    for r in results {
        let _ = writeln!(
            t,
            "{:<12} {:<6} {:>6} {:>7} {:>7} {:>8}",
            r.suite,
            r.peer,
            r.tests.len(),
            r.count(Outcome::Passed),
            r.count(Outcome::Failed),
            r.count(Outcome::Skipped)
        );
    }
    t
}

/// The markdown report: the table, then per suite the tests whose outcome differs
/// between vtpm and swtpm.
pub fn markdown(results: &[SuiteResult]) -> String {
    let mut m = String::from("# vtpm conformance report\n\n");
    m.push_str(
        "| suite | server | tests | passed | failed | skipped |\n|---|---|---:|---:|---:|---:|\n",
    );
    for r in results {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} |",
            r.suite,
            r.peer,
            r.tests.len(),
            r.count(Outcome::Passed),
            r.count(Outcome::Failed),
            r.count(Outcome::Skipped)
        );
    }
    let mut suites: Vec<&str> = results.iter().map(|r| r.suite.as_str()).collect();
    suites.dedup();
    for suite in suites {
        let of = |peer: &str| results.iter().find(|r| r.suite == suite && r.peer == peer);
        let (Some(v), Some(s)) = (of("vtpm"), of("swtpm")) else {
            continue;
        };
        let diffs: Vec<String> = v
            .tests
            .iter()
            .filter(|(name, o)| s.tests.get(*name) != Some(o))
            .map(|(name, o)| format!("| {name} | {o:?} | {:?} |", s.tests.get(name)))
            .collect();
        if !diffs.is_empty() {
            let _ = writeln!(
                m,
                "\n## {suite}: vtpm and swtpm differ\n\n| test | vtpm | swtpm |\n|---|---|---|"
            );
            for d in diffs {
                m.push_str(&d);
                m.push('\n');
            }
        }
    }
    m
}

/// The ratchet list of a suite (missing file: empty list).
pub fn ratchet(dir: &Path, suite: &str) -> io::Result<Vec<String>> {
    let path = dir.join(format!("{suite}.txt"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// What the ratchet says of a vtpm result: listed tests that did not pass (regressions)
/// and passing tests not yet listed (gains to lock in).
pub fn check_ratchet(listed: &[String], vtpm: &SuiteResult) -> (Vec<String>, Vec<String>) {
    let regressions = listed.iter().filter(|n| !vtpm.passed(n)).cloned().collect();
    let gains = vtpm
        .tests
        .iter()
        .filter(|(n, o)| **o == Outcome::Passed && !listed.contains(n))
        .map(|(n, _)| n.clone())
        .collect();
    (regressions, gains)
}

/// Appends `gains` to the ratchet file of `suite` (the list only grows).
pub fn grow_ratchet(dir: &Path, suite: &str, gains: &[String]) -> io::Result<()> {
    if gains.is_empty() {
        return Ok(());
    }
    let path = dir.join(format!("{suite}.txt"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for g in gains {
        text.push_str(g);
        text.push('\n');
    }
    std::fs::write(path, text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ratchet_finds_regressions_and_gains() {
        let mut v = SuiteResult::new("s", "vtpm");
        v.tests.insert("a".into(), Outcome::Passed);
        v.tests.insert("b".into(), Outcome::Failed);
        v.tests.insert("c".into(), Outcome::Passed);
        let (reg, gains) = check_ratchet(&["a".into(), "b".into()], &v);
        assert_eq!(reg, vec!["b".to_string()]);
        assert_eq!(gains, vec!["c".to_string()]);
        assert!(table(&[v.clone()]).contains("s "));
        assert!(markdown(&[v]).contains("| s | vtpm | 3 | 2 | 1 | 0 |"));
    }
}
