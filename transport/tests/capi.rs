//! The C ABI: builds transport/tests/c/capi_test.c with the machine's C compiler
//! against the staticlib (libvtpm_transport.a) and runs it; checks that the
//! hand-written header include/vtpm.h declares exactly what src/capi.rs defines.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The static library Cargo built for this test run: the newest
/// libvtpm_transport-*.a next to this test binary (Cargo does not copy a test
/// dependency's staticlib out of deps/).
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let newest = std::fs::read_dir(deps)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("libvtpm_transport-") && name.ends_with(".a")
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    newest
        .map(|e| e.path())
        .unwrap_or_else(|| panic!("no libvtpm_transport-*.a in {}", deps.display()))
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "gcc".into())
}

fn build_c_test(out: &Path) {
    let dir = manifest_dir();
    let status = Command::new(cc())
        .args([
            "-std=c11",
            "-D_POSIX_C_SOURCE=200809L",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
        ])
        .arg("-I")
        .arg(dir.join("include"))
        .arg(dir.join("tests/c/capi_test.c"))
        .arg(staticlib())
        // What Rust's std needs from the C library (rustc --print native-static-libs).
        .args([
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ])
        .arg("-o")
        .arg(out)
        .status()
        .expect("running the C compiler");
    assert!(status.success(), "compiling capi_test.c failed");
}

#[test]
fn c_program_provisions_and_runs_a_tpm() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("capi_test");
    build_c_test(&exe);
    let out = Command::new(&exe).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "capi_test failed: {}\n{stdout}{stderr}",
        out.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}{stderr}");
}

// ---- header vs Rust declarations ----

/// `name` and normalized C types of a parameter list `a: T, b: U` (Rust) or `T a, U b` (C).
type Sig = (String, Vec<String>, String);

/// The C spelling of a Rust FFI type, without spaces.
fn c_type(rust: &str) -> String {
    let t = rust.trim();
    if let Some(rest) = t.strip_prefix("*const ") {
        return format!("const{}*", c_type(rest));
    }
    if let Some(rest) = t.strip_prefix("*mut ") {
        return format!("{}*", c_type(rest));
    }
    match t {
        "u8" => "uint8_t",
        "u16" => "uint16_t",
        "u32" => "uint32_t",
        "u64" => "uint64_t",
        "i32" => "int32_t",
        "usize" => "size_t",
        "bool" => "bool",
        "c_void" => "void",
        "Vtpm" => "vtpm",
        "VtpmPlatform" => "vtpm_platform",
        "" => "void",
        other => panic!("no C spelling for Rust type {other}"),
    }
    .to_string()
}

fn split_params(s: &str) -> Vec<&str> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn rust_params(params: &str) -> Vec<String> {
    split_params(params)
        .into_iter()
        .map(|p| {
            let (name, ty) = p.split_once(':').unwrap();
            format!("{}:{}", name.trim(), c_type(ty))
        })
        .collect()
}

fn c_params(params: &str) -> Vec<String> {
    if params.trim() == "void" {
        return Vec::new();
    }
    split_params(params)
        .into_iter()
        .map(|p| {
            let name_start = p
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap();
            let (ty, name) = p.split_at(name_start + 1);
            format!("{}:{}", name, ty.replace(' ', ""))
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text between `open` at `from` and its matching `close`.
fn balanced(s: &str, from: usize, open: char, close: char) -> (usize, usize) {
    let mut depth = 0;
    let mut start = from;
    for (i, c) in s[from..].char_indices() {
        if c == open {
            if depth == 0 {
                start = from + i;
            }
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return (start, from + i);
            }
        }
    }
    panic!("unbalanced");
}

fn rust_functions(src: &str) -> Vec<Sig> {
    let src = one_line(src);
    let mut out = Vec::new();
    for (at, _) in src.match_indices("pub extern \"C\" fn ") {
        let rest = &src[at + "pub extern \"C\" fn ".len()..];
        let name = rest[..rest.find('(').unwrap()].to_string();
        let open = at + "pub extern \"C\" fn ".len() + name.len();
        let (a, b) = balanced(&src, open, '(', ')');
        let params = rust_params(&src[a + 1..b]);
        let after = &src[b + 1..];
        let ret = after[..after.find('{').unwrap()].trim();
        let ret = c_type(ret.strip_prefix("->").unwrap_or(ret));
        out.push((name, params, ret));
    }
    out
}

/// The header without comments and preprocessor lines.
fn c_code(header: &str) -> String {
    let mut out = String::new();
    let mut rest = header;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("*/").unwrap() + start + 2;
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

fn c_functions(header: &str) -> Vec<Sig> {
    let header = one_line(&c_code(header));
    let mut out = Vec::new();
    for decl in header.split(';') {
        let decl = decl.trim();
        let Some(open) = decl
            .match_indices("vtpm_")
            .map(|(i, _)| i)
            .find(|&i| i > 0 && matches!(decl.as_bytes()[i - 1], b' ' | b'*'))
        else {
            continue;
        };
        let Some(paren) = decl[open..].find('(') else {
            continue;
        };
        if decl.contains("typedef") || decl.contains("#define") || decl.contains("(*") {
            continue;
        }
        let name = decl[open..open + paren].to_string();
        let ret_text = decl[..open].trim();
        let (a, b) = balanced(decl, open + paren, '(', ')');
        out.push((name, c_params(&decl[a + 1..b]), ret_text.replace(' ', "")));
    }
    out
}

/// `pub const VTPM_X: T = V;` in Rust and `#define VTPM_X V` in C, as (name, value).
fn rust_consts(src: &str) -> Vec<(String, i64)> {
    src.lines()
        .filter_map(|l| l.trim().strip_prefix("pub const VTPM_"))
        .map(|l| {
            let (name, rest) = l.split_once(':').unwrap();
            let value = rest.split_once('=').unwrap().1.trim().trim_end_matches(';');
            (format!("VTPM_{name}"), value.parse().unwrap())
        })
        .collect()
}

fn c_consts(header: &str) -> Vec<(String, i64)> {
    header
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#define VTPM_"))
        .filter(|l| !l.starts_with("H"))
        .map(|l| {
            let (name, value) = l.split_once(' ').unwrap();
            let value = value.trim().trim_start_matches('(').trim_end_matches(')');
            (format!("VTPM_{name}"), value.parse().unwrap())
        })
        .collect()
}

/// The platform struct's fields: (name, C type or callback signature).
fn rust_platform_fields(src: &str) -> Vec<String> {
    let src = one_line(src);
    let start = src.find("pub struct VtpmPlatform {").unwrap();
    let (a, b) = balanced(&src, start, '{', '}');
    let body = &src[a + 1..b];
    let mut out = Vec::new();
    for part in body.split("pub ").skip(1) {
        let part = part.trim().trim_end_matches(',');
        // Doc comments end up inline after one_line: drop them.
        let part = part
            .split(" ///")
            .next()
            .unwrap()
            .trim()
            .trim_end_matches(',');
        let (name, ty) = part.split_once(':').unwrap();
        let ty = ty.trim();
        if let Some(inner) = ty
            .strip_prefix("Option<unsafe extern \"C\" fn(")
            .and_then(|t| t.strip_suffix('>'))
        {
            let (params, ret) = inner.rsplit_once(')').unwrap();
            let ret = c_type(ret.trim().strip_prefix("->").unwrap_or("").trim());
            out.push(format!(
                "{name}:{ret}(*)({})",
                rust_params(params).join(",")
            ));
        } else {
            out.push(format!("{name}:{}", c_type(ty)));
        }
    }
    out
}

fn c_platform_fields(header: &str) -> Vec<String> {
    let header = one_line(&c_code(header));
    let start = header.find("typedef struct vtpm_platform {").unwrap();
    let (a, b) = balanced(&header, start, '{', '}');
    let body = &header[a + 1..b];
    body.split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            if let Some(open) = d.find("(*") {
                let ret = d[..open].replace(' ', "");
                let close = d[open..].find(')').unwrap() + open;
                let name = &d[open + 2..close];
                let (pa, pb) = balanced(d, close + 1, '(', ')');
                format!("{name}:{ret}(*)({})", c_params(&d[pa + 1..pb]).join(","))
            } else {
                c_params(d).join(",")
            }
        })
        .collect()
}

#[test]
fn header_matches_the_rust_declarations() {
    let dir = manifest_dir();
    let src = std::fs::read_to_string(dir.join("src/capi.rs")).unwrap();
    // Comments can mention anything: compare code only.
    let code: String = src
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let header = std::fs::read_to_string(dir.join("include/vtpm.h")).unwrap();

    let mut rust = rust_functions(&code);
    let mut c: Vec<Sig> = c_functions(&header)
        .into_iter()
        .filter(|(n, _, _)| !n.starts_with("vtpm_fw_"))
        .collect();
    rust.sort();
    c.sort();
    assert!(rust.len() >= 11, "parsed too few Rust functions: {rust:?}");
    assert_eq!(rust, c, "vtpm.h functions differ from src/capi.rs");

    let mut rc = rust_consts(&code);
    let mut cc = c_consts(&header);
    rc.sort();
    cc.sort();
    assert!(rc.len() >= 10, "{rc:?}");
    assert_eq!(rc, cc, "vtpm.h constants differ from src/capi.rs");

    let rf = rust_platform_fields(&code);
    let cf = c_platform_fields(&header);
    assert_eq!(rf.len(), 7, "{rf:?}");
    assert_eq!(rf, cf, "vtpm_platform differs from VtpmPlatform");
}

#[test]
fn firmware_hooks_match_the_nostd_library() {
    // The three symbols libvtpm_nostd_check.a imports are declared in the header.
    let root = manifest_dir().parent().unwrap().to_path_buf();
    let src = std::fs::read_to_string(root.join("conformance/nostd-check/src/lib.rs")).unwrap();
    let header = std::fs::read_to_string(manifest_dir().join("include/vtpm.h")).unwrap();
    let code = one_line(&src);
    let mut rust = Vec::new();
    for name in ["vtpm_fw_alloc", "vtpm_fw_free", "vtpm_fw_abort"] {
        let at = code.find(&format!("fn {name}(")).unwrap() + 3 + name.len();
        let (a, b) = balanced(&code, at, '(', ')');
        rust.push((name.to_string(), rust_params(&code[a + 1..b])));
    }
    let c: Vec<_> = c_functions(&header)
        .into_iter()
        .filter(|(n, _, _)| n.starts_with("vtpm_fw_"))
        .map(|(n, p, _)| (n, p))
        .collect();
    rust.sort();
    let mut c = c;
    c.sort();
    // Rust spells the C `void *` as `*mut u8` for the heap hooks.
    let c: Vec<_> = c
        .into_iter()
        .map(|(n, p)| {
            (
                n,
                p.into_iter()
                    .map(|x| x.replace("void*", "uint8_t*"))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(rust, c);
}
