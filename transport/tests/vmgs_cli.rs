//! `vtpm vmgs` end to end: create, write, read back, info, rekey (old key refused,
//! new key works), verify, tamper detection, and the reference VMGS vectors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vtpm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vtpm"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> Vec<u8> {
    let out = vtpm(args);
    assert!(
        out.status.success(),
        "vtpm {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn fails(args: &[&str], message: &str) {
    let out = vtpm(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "vtpm {args:?} should fail");
    assert!(err.contains(message), "vtpm {args:?}: {err}");
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../nvram/tests/vectors/vmgs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn create_write_read_info_rekey_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (file, k1, k2, input) = (
        d.join("g.vmgs"),
        d.join("k1"),
        d.join("k2.hex"),
        d.join("in"),
    );
    std::fs::write(&k1, [0x11u8; 32]).unwrap();
    std::fs::write(&k2, format!("{}\n", hex(&[0x22u8; 32]))).unwrap();
    let payload: Vec<u8> = (0..12345u32).map(|i| (i * 31) as u8).collect();
    std::fs::write(&input, &payload).unwrap();
    let key1 = format!("file={}", s(&k1));
    let key2 = format!("file={},format=hex", s(&k2));

    let out = ok(&[
        "vmgs",
        "create",
        s(&file),
        "--capacity",
        "1M",
        "--key",
        &key1,
    ]);
    assert!(String::from_utf8_lossy(&out).contains("encrypted"));
    // A fixed VHD1: 1 MiB and the footer.
    let raw = std::fs::read(&file).unwrap();
    assert_eq!(raw.len(), (1 << 20) + 512);
    assert_eq!(&raw[1 << 20..(1 << 20) + 8], b"conectix");
    fails(&["vmgs", "create", s(&file), "--key", &key1], "File exists");

    ok(&[
        "vmgs",
        "write",
        s(&file),
        "--file-id",
        "3",
        "--input",
        s(&input),
        "--key",
        &key1,
    ]);
    ok(&[
        "vmgs",
        "write",
        s(&file),
        "--file-id=2",
        "--input",
        s(&input),
        "--key",
        &key1,
    ]);
    // Read back, to stdout and to a file.
    let back = ok(&["vmgs", "read", s(&file), "--file-id", "3", "--key", &key1]);
    assert_eq!(back, payload);
    let out = d.join("out");
    ok(&[
        "vmgs",
        "read",
        s(&file),
        "--file-id",
        "2",
        "--key",
        &key1,
        "-o",
        s(&out),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), payload);

    let info = String::from_utf8(ok(&["vmgs", "info", s(&file)])).unwrap();
    assert!(
        info.contains("VMGS 3.0, fixed VHD1, capacity 1048576"),
        "{info}"
    );
    assert!(info.contains("encryption: AES-256-GCM"), "{info}");
    // Format, then two writes: three headers.
    assert!(info.contains("(active): sequence 3"), "{info}");
    assert!(
        info.contains("TPM_NVRAM") && info.contains("12345  encrypted"),
        "{info}"
    );

    // Without a key or with the wrong one: refused, clearly.
    fails(
        &["vmgs", "read", s(&file), "--file-id", "3"],
        "datastore key is needed",
    );
    fails(
        &[
            "vmgs",
            "write",
            s(&file),
            "--file-id",
            "3",
            "--input",
            s(&input),
        ],
        "--key file=K is needed",
    );
    fails(
        &["vmgs", "read", s(&file), "--file-id", "3", "--key", &key2],
        "wrong datastore key",
    );
    fails(
        &["vmgs", "read", s(&file), "--file-id", "7", "--key", &key1],
        "holds no data",
    );

    ok(&[
        "vmgs",
        "rekey",
        s(&file),
        "--key",
        &key1,
        "--new-key",
        &key2,
    ]);
    fails(
        &["vmgs", "verify", s(&file), "--key", &key1],
        "wrong datastore key",
    );
    let v = String::from_utf8(ok(&["vmgs", "verify", s(&file), "--key", &key2])).unwrap();
    assert!(v.contains("OK") && v.contains("files [2, 3]"), "{v}");
    assert_eq!(
        ok(&["vmgs", "read", s(&file), "--file-id", "3", "--key", &key2]),
        payload
    );

    // Tampering is reported and the file is left as it was.
    let mut bytes = std::fs::read(&file).unwrap();
    let info = String::from_utf8(ok(&["vmgs", "info", s(&file)])).unwrap();
    let line = info.lines().find(|l| l.contains("TPM_NVRAM")).unwrap();
    let block: usize = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    bytes[block * 4096 + 100] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    fails(
        &["vmgs", "verify", s(&file), "--key", &key2],
        "file 3 fails authentication",
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    // A damaged header: info still shows both slots, and says what is wrong.
    bytes[512 + 0x30] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let out = vtpm(&["vmgs", "info", s(&file)]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("header 2 at byte 512: invalid: CRC-32 mismatch"),
        "{stdout}"
    );
    assert!(stdout.contains("header 1 at byte 0: sequence"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("corrupt or tampered with: header 2: CRC-32 mismatch"),
        "{stderr}"
    );
}

#[test]
fn raw_plain_files_and_bad_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let file = d.join("raw.img");
    ok(&["vmgs", "create", s(&file), "--capacity", "64K", "--raw"]);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 65536);
    let input = d.join("in");
    std::fs::write(&input, b"ppi").unwrap();
    ok(&[
        "vmgs",
        "write",
        s(&file),
        "--file-id",
        "2",
        "--input",
        s(&input),
    ]);
    assert_eq!(ok(&["vmgs", "read", s(&file), "--file-id", "2"]), b"ppi");
    let info = String::from_utf8(ok(&["vmgs", "info", s(&file)])).unwrap();
    assert!(
        info.contains("raw image") && info.contains("encryption: none"),
        "{info}"
    );
    assert!(
        String::from_utf8(ok(&["vmgs", "verify", s(&file)]))
            .unwrap()
            .contains("OK")
    );

    let short = d.join("short");
    std::fs::write(&short, [1u8; 31]).unwrap();
    let spec = format!("file={}", s(&short));
    fails(&["vmgs", "verify", s(&file), "--key", &spec], "is 32 bytes");
    fails(
        &["vmgs", "create", s(&d.join("x")), "--capacity", "1000"],
        "4096-byte blocks",
    );
    fails(&["vmgs", "frobnicate", s(&file)], "unknown vmgs subcommand");
    fails(&["vmgs", "info", s(&d.join("missing"))], "No such file");
    assert!(
        String::from_utf8(ok(&["vmgs", "--help"]))
            .unwrap()
            .contains("rekey")
    );
}

#[test]
fn reference_vectors() {
    let v = vectors();
    let key1 = format!("file={}", s(&v.join("key1.bin")));
    let key2 = format!("file={}", s(&v.join("key2.bin")));
    let nvram_a = std::fs::read(v.join("nvram-a.bin")).unwrap();
    let nvram_b = std::fs::read(v.join("nvram-b.bin")).unwrap();
    assert_eq!(
        hex(&Sha256::digest(&nvram_a)),
        "b9f2a559a70918df73c89928af84f52f6a45c7826c2ee8267bbd5bb39bd8cf8b"
    );
    let read = |name: &str, id: &str, key: Option<&str>| {
        let f = v.join(name);
        let mut args = vec!["vmgs", "read", s(&f), "--file-id", id];
        if let Some(k) = key {
            args.extend(["--key", k]);
        }
        ok(&args)
    };
    assert_eq!(read("plain.vmgs", "3", None), nvram_a);
    assert_eq!(read("plain.vmgs", "2", None), (0u8..28).collect::<Vec<_>>());
    assert_eq!(read("plain-rewritten.vmgs", "3", None), nvram_b);
    assert_eq!(read("enc.vmgs", "3", Some(&key1)), nvram_a);
    assert_eq!(read("enc-rotated.vmgs", "3", Some(&key2)), nvram_a);
    fails(
        &[
            "vmgs",
            "read",
            s(&v.join("enc-rotated.vmgs")),
            "--file-id",
            "3",
            "--key",
            &key1,
        ],
        "wrong datastore key",
    );
    fails(
        &[
            "vmgs",
            "read",
            s(&v.join("enc.vmgs")),
            "--file-id",
            "3",
            "--key",
            &key2,
        ],
        "wrong datastore key",
    );
    for name in ["empty.vmgs", "plain.vmgs", "plain-rewritten.vmgs"] {
        ok(&["vmgs", "verify", s(&v.join(name))]);
    }
    ok(&["vmgs", "verify", s(&v.join("enc.vmgs")), "--key", &key1]);
    ok(&[
        "vmgs",
        "verify",
        s(&v.join("enc-rotated.vmgs")),
        "--key",
        &key2,
    ]);
    let info = String::from_utf8(ok(&["vmgs", "info", s(&v.join("enc-rotated.vmgs"))])).unwrap();
    assert!(info.contains("(active): sequence 6"), "{info}");
    assert!(info.contains("key slots [empty, used]"), "{info}");
}
