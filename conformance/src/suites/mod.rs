//! Third-party and project suites, each run against one server at a time.

use std::io;
use std::path::Path;

use crate::Peer;
use crate::report::SuiteResult;

pub mod esapi;
pub mod pytss;
pub mod tools;

/// A suite: runs against `peer`, using `work` as its scratch directory.
pub type Runner = fn(peer: &Peer, work: &Path) -> io::Result<SuiteResult>;

/// Every suite, by the name used on the command line and in ratchet file names.
pub const ALL: &[(&str, Runner)] = &[
    ("esapi", esapi::run),
    ("pytss", pytss::run),
    ("tools", tools::run),
];
