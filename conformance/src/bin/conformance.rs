//! `conformance [SUITE...] [--vtpm PATH] [--report FILE] [--check-ratchet] [--grow-ratchet]`
//!
//! Runs each suite (default: all) against a vtpm instance and against swtpm in the same
//! run, prints the side-by-side table, writes the markdown report, and checks the ratchet.

use std::path::PathBuf;
use std::process::ExitCode;

use vtpm_conformance::Peer;
use vtpm_conformance::report::{self, SuiteResult};
use vtpm_conformance::suites;

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = root
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.clone());
    let mut vtpm = None;
    let mut report_path = workspace.join("target/conformance/report.md");
    let mut check = false;
    let mut grow = false;
    let mut selected: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--vtpm" => vtpm = args.next().map(PathBuf::from),
            "--report" => {
                if let Some(p) = args.next() {
                    report_path = PathBuf::from(p);
                }
            }
            "--check-ratchet" => check = true,
            "--grow-ratchet" => grow = true,
            "-h" | "--help" => {
                println!(
                    "usage: conformance [{}] [--vtpm PATH] [--report FILE] [--check-ratchet] [--grow-ratchet]",
                    suites::ALL
                        .iter()
                        .map(|s| s.0)
                        .collect::<Vec<_>>()
                        .join("|")
                );
                return ExitCode::SUCCESS;
            }
            s => selected.push(s.to_string()),
        }
    }
    let vtpm = vtpm.unwrap_or_else(|| vtpm_conformance::vtpm_binary(&workspace));
    if !vtpm.exists() {
        eprintln!(
            "conformance: no vtpm binary at {} (cargo build -p vtpm-transport first, or --vtpm PATH)",
            vtpm.display()
        );
        return ExitCode::FAILURE;
    }
    let ratchet_dir = root.join("ratchet");
    let mut results: Vec<SuiteResult> = Vec::new();
    let mut failed = false;
    for (name, runner) in suites::ALL {
        if !selected.is_empty() && !selected.iter().any(|s| s == name) {
            continue;
        }
        for peer in [Peer::Vtpm(vtpm.clone()), Peer::Swtpm] {
            let work = workspace
                .join("target/conformance")
                .join(name)
                .join(peer.name());
            let _ = std::fs::remove_dir_all(&work);
            if let Err(e) = std::fs::create_dir_all(&work) {
                eprintln!("conformance: {}: {e}", work.display());
                return ExitCode::FAILURE;
            }
            eprintln!("conformance: running {name} against {}", peer.name());
            match runner(&peer, &work) {
                Ok(r) => results.push(r),
                Err(e) => {
                    eprintln!(
                        "conformance: {name} against {} could not run: {e}",
                        peer.name()
                    );
                    failed = true;
                }
            }
        }
    }
    println!("{}", report::table(&results));
    if let Some(dir) = report_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&report_path, report::markdown(&results)) {
        Ok(()) => println!("report: {}", report_path.display()),
        Err(e) => eprintln!("conformance: cannot write {}: {e}", report_path.display()),
    }
    for r in results.iter().filter(|r| r.peer == "vtpm") {
        let listed = match report::ratchet(&ratchet_dir, &r.suite) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("conformance: ratchet for {}: {e}", r.suite);
                failed = true;
                continue;
            }
        };
        let (regressions, gains) = report::check_ratchet(&listed, r);
        if !regressions.is_empty() {
            println!(
                "{}: {} ratchet test(s) no longer pass:",
                r.suite,
                regressions.len()
            );
            for t in &regressions {
                println!("  {t}");
            }
            if check {
                failed = true;
            }
        }
        if !gains.is_empty() {
            println!(
                "{}: {} passing test(s) not yet on the ratchet",
                r.suite,
                gains.len()
            );
            if grow && let Err(e) = report::grow_ratchet(&ratchet_dir, &r.suite, &gains) {
                eprintln!("conformance: cannot grow the ratchet of {}: {e}", r.suite);
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
