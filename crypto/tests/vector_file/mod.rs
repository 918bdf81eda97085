//! The known-answer vector file format shared by the test suites of crypto
//! and commands: records separated by blank lines, each line `name = value`
//! (values hex unless noted), `#` starts a comment line. A malformed file
//! fails the test loudly.
#![allow(
    dead_code,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test harness: each suite uses part of it; a bad vector file must fail loudly"
)]

use std::collections::HashMap;

pub type Record = HashMap<String, String>;

/// The records of a vector file; a field given twice in a record is an error.
pub fn records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cur = Record::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let (k, v) = line.split_once('=').expect("name = value");
        let old = cur.insert(k.trim().to_owned(), v.trim().to_owned());
        assert!(old.is_none(), "duplicate field {k}");
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A hex field of a record.
pub fn field(r: &Record, k: &str) -> Vec<u8> {
    hex(r.get(k).unwrap_or_else(|| panic!("missing {k} in {r:?}")))
}

/// The records whose `kind` field is `kind`; fewer than `min` is an error
/// (a vector file that lost its records must not pass silently).
pub fn records_of_kind(text: &str, kind: &str, min: usize) -> Vec<Record> {
    let recs: Vec<Record> = records(text)
        .into_iter()
        .filter(|r| r.get("kind").is_some_and(|k| k == kind))
        .collect();
    assert!(
        recs.len() >= min,
        "{} {kind} records, expected at least {min}",
        recs.len()
    );
    recs
}
