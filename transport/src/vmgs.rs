//! `vtpm vmgs`: operator access to VMGS v3 guest-state files (raw or fixed VHD1).
//!
//! ```text
//! vtpm vmgs create FILE [--capacity N[K|M|G]] [--raw] [--key file=K[,format=hex]]
//! vtpm vmgs info FILE
//! vtpm vmgs read FILE --file-id N [--key file=K] [-o OUT]
//! vtpm vmgs write FILE --file-id N --input IN [--key file=K]
//! vtpm vmgs rekey FILE --key file=OLD --new-key file=NEW
//! vtpm vmgs verify FILE [--key file=K]
//! ```
//! Keys are 32-byte files (binary, or 64 hex digits with `format=hex`).

use std::io::Write;
use std::path::{Path, PathBuf};

use vtpm_nvram::vmgs::file::{Container, VmgsFile};
use vtpm_nvram::vmgs::format::{ATTR_ENCRYPTED, FileEntry, Slot};
use vtpm_nvram::vmgs::{Key, Vmgs, VmgsError, header_slots};
use zeroize::Zeroizing;

pub const HELP: &str = "\
vtpm vmgs: VMGS 3.0 guest-state files (fixed VHD1 .vmgs, or raw images)
  create FILE [--capacity N[K|M|G]] [--raw] [--key file=K[,format=hex]]
                           a new file (default 4M, fixed VHD1; --raw: no footer),
                           encrypted (AES-256-GCM) when a datastore key is given
  info FILE                headers, key slots and file table
  read FILE --file-id N [--key file=K] [-o OUT]
                           a file id's contents to OUT (default: stdout)
  write FILE --file-id N --input IN [--key file=K]
                           replace a file id (copy-on-write, then the header flip)
  rekey FILE --key file=OLD --new-key file=NEW
                           rotate the datastore key (re-encrypts every file)
  verify FILE [--key file=K]
                           check headers, tables and authenticate every file
  Keys: 32-byte binary files, or 64 hex digits with format=hex.
";

#[derive(Default)]
struct Args {
    sub: String,
    file: Option<PathBuf>,
    capacity: Option<u64>,
    raw: bool,
    key: Option<Zeroizing<Key>>,
    new_key: Option<Zeroizing<Key>>,
    file_id: Option<u32>,
    input: Option<PathBuf>,
    output: Option<PathBuf>,
}

fn parse_capacity(v: &str) -> Result<u64, String> {
    let (num, mult) = match v.char_indices().last() {
        Some((i, 'K' | 'k')) => (&v[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&v[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&v[..i], 1 << 30),
        _ => (v, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("--capacity: '{v}' is not a size"))
}

fn parse_key(option: &str, v: &str) -> Result<Zeroizing<Key>, String> {
    let mut path = None;
    let mut hex = false;
    for kv in v.split(',') {
        match kv.split_once('=') {
            Some(("file", p)) => path = Some(p),
            Some(("format", "hex")) => hex = true,
            Some(("format", "binary")) => hex = false,
            _ => return Err(format!("{option}: expected file=PATH[,format=hex|binary]")),
        }
    }
    let path = path.ok_or_else(|| format!("{option}: file=PATH is required"))?;
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| format!("{option} {path}: {e}"))?);
    let mut key = Zeroizing::new([0u8; 32]);
    if hex {
        let text: Zeroizing<String> = Zeroizing::new(
            String::from_utf8_lossy(&bytes)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect(),
        );
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{option} {path}: expected 64 hex digits"));
        }
        for (i, k) in key.iter_mut().enumerate() {
            *k = u8::from_str_radix(text.get(2 * i..2 * i + 2).unwrap_or("00"), 16)
                .map_err(|_| format!("{option} {path}: bad hex"))?;
        }
    } else {
        if bytes.len() != 32 {
            return Err(format!(
                "{option} {path}: a datastore key is 32 bytes, the file has {} (format=hex for hex keys)",
                bytes.len()
            ));
        }
        key.copy_from_slice(&bytes);
    }
    Ok(key)
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let mut a = Args {
        sub: it
            .next()
            .ok_or("vtpm vmgs needs a subcommand (create, info, read, write, rekey, verify)")?
            .clone(),
        ..Args::default()
    };
    if matches!(a.sub.as_str(), "-h" | "--help" | "help") {
        a.sub = "help".into();
        return Ok(a);
    }
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().cloned().ok_or(format!("{name} needs a value")),
            }
        };
        match name {
            "--capacity" => a.capacity = Some(parse_capacity(&value()?)?),
            "--raw" => a.raw = true,
            "--key" => a.key = Some(parse_key(name, &value()?)?),
            "--new-key" => a.new_key = Some(parse_key(name, &value()?)?),
            "--file-id" => {
                let v = value()?;
                a.file_id = Some(
                    v.parse()
                        .map_err(|_| format!("--file-id: '{v}' is not a number"))?,
                );
            }
            "--input" | "-i" => a.input = Some(value()?.into()),
            "--output" | "-o" => a.output = Some(value()?.into()),
            "-h" | "--help" => a.sub = "help".into(),
            other if other.starts_with('-') => {
                return Err(format!("unknown option '{other}' for vtpm vmgs"));
            }
            path if a.file.is_none() => a.file = Some(path.into()),
            extra => return Err(format!("unexpected argument '{extra}'")),
        }
    }
    Ok(a)
}

fn rng() -> impl FnMut(&mut [u8]) -> bool {
    |out: &mut [u8]| getrandom::fill(out).is_ok()
}

fn describe(e: VmgsError) -> String {
    e.to_string()
}

fn open(path: &Path, writable: bool, key: Option<&Key>) -> Result<Vmgs<VmgsFile>, String> {
    let f = VmgsFile::open(path, writable).map_err(describe)?;
    let mut v = Vmgs::open(f).map_err(|e| format!("{}: {e}", path.display()))?;
    match key {
        Some(k) => v.unlock(k).map_err(describe)?,
        None if v.encrypted() && writable => {
            return Err(format!(
                "{} is encrypted: --key file=K is needed",
                path.display()
            ));
        }
        None => {}
    }
    Ok(v)
}

fn file_name(id: u32) -> &'static str {
    match id {
        0 => "FILE_TABLE",
        1 => "BIOS_NVRAM",
        2 => "TPM_PPI",
        3 => "TPM_NVRAM",
        4 => "RTC_SKEW",
        5 => "ATTEST",
        6 => "KEY_PROTECTOR",
        7 => "VM_UNIQUE_ID",
        8 => "GUEST_FIRMWARE",
        9 => "CUSTOM_UEFI",
        10 => "GUEST_WATCHDOG",
        11 => "HW_KEY_PROTECTOR",
        13 => "GUEST_SECRET_KEY",
        14 => "HIBERNATION_TOKEN",
        15 => "PLATFORM_SEED",
        16 => "PROVENANCE_DOC",
        17 => "TPM_NVRAM_BACKUP",
        18 => "PROVISIONING_MARKER",
        63 => "EXTENDED_FILE_TABLE",
        _ => "",
    }
}

fn slot_line(slot: &Slot) -> String {
    match slot {
        Slot::Empty => "empty".to_string(),
        Slot::Invalid(p) => format!("invalid: {p}"),
        Slot::Valid(h) => format!(
            "sequence {}, file table at block {}, encryption {}, markers {:#x}, key slots [{}, {}]",
            h.sequence,
            h.file_table_offset,
            h.encryption_algorithm,
            h.markers,
            if h.key_slots[0].is_empty() {
                "empty"
            } else {
                "used"
            },
            if h.key_slots[1].is_empty() {
                "empty"
            } else {
                "used"
            },
        ),
    }
}

fn info(path: &Path) -> Result<(), String> {
    let v = match open(path, false, None) {
        Ok(v) => v,
        Err(e) => {
            // Still show what the header slots hold: that is what an operator needs.
            if let Ok(slots) = VmgsFile::open(path, false).and_then(|mut f| header_slots(&mut f)) {
                for (n, h) in slots.iter().enumerate() {
                    println!(
                        "header {} at byte {}: {}",
                        n + 1,
                        h.offset,
                        slot_line(&h.slot)
                    );
                }
            }
            return Err(e);
        }
    };
    let i = v.info();
    let mut out = String::new();
    let container = match VmgsFile::open(path, false).map(|f| f.container()) {
        Ok(Container::Vhd1) => "fixed VHD1",
        _ => "raw image",
    };
    out += &format!(
        "{}: VMGS 3.0, {container}, capacity {} bytes ({} blocks), sector size {}\n",
        path.display(),
        i.capacity,
        i.capacity / 4096,
        i.sector_size
    );
    out += &format!(
        "encryption: {}\n",
        if i.encrypted { "AES-256-GCM" } else { "none" }
    );
    for (n, h) in i.headers.iter().enumerate() {
        let active = if n == i.active { " (active)" } else { "" };
        let line = slot_line(&h.slot);
        out += &format!("header {} at byte {}{active}: {line}\n", n + 1, h.offset);
    }
    out += "files:\n  id  name                  block  blocks       bytes  attributes\n";
    for (id, e) in &i.files {
        let FileEntry {
            offset,
            allocation_size,
            valid_data_size,
            attributes,
            ..
        } = e;
        let attrs = if attributes & ATTR_ENCRYPTED != 0 {
            "encrypted, authenticated"
        } else {
            "plain"
        };
        out += &format!(
            "  {id:>2}  {:<20}  {offset:>5}  {allocation_size:>6}  {valid_data_size:>10}  {attrs}\n",
            file_name(*id)
        );
    }
    print!("{out}");
    Ok(())
}

fn need<T>(v: Option<T>, what: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("vtpm vmgs: {what} is required"))
}

/// Runs `vtpm vmgs ARGS`.
pub fn run(args: &[String]) -> Result<(), String> {
    let a = parse(args)?;
    if a.sub == "help" {
        print!("{HELP}");
        return Ok(());
    }
    let path = need(a.file.clone(), "FILE")?;
    let key = a.key.as_deref();
    match a.sub.as_str() {
        "create" => {
            let capacity = a.capacity.unwrap_or(4 << 20);
            let container = if a.raw {
                Container::Raw
            } else {
                Container::Vhd1
            };
            let mut r = rng();
            let f = VmgsFile::create(&path, capacity, container, &mut r).map_err(describe)?;
            Vmgs::format(f, key, &mut r).map_err(describe)?;
            println!(
                "created {} ({capacity} bytes, {})",
                path.display(),
                if key.is_some() {
                    "encrypted"
                } else {
                    "not encrypted"
                }
            );
            Ok(())
        }
        "info" => info(&path),
        "read" => {
            let id = need(a.file_id, "--file-id N")?;
            let mut v = open(&path, false, key)?;
            let data = v.read_file(id).map_err(describe)?;
            match &a.output {
                Some(out) => {
                    std::fs::write(out, &*data).map_err(|e| format!("{}: {e}", out.display()))
                }
                None => std::io::stdout()
                    .write_all(&data)
                    .map_err(|e| format!("stdout: {e}")),
            }
        }
        "write" => {
            let id = need(a.file_id, "--file-id N")?;
            let input = need(a.input.clone(), "--input IN")?;
            let data = Zeroizing::new(
                std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?,
            );
            let mut v = open(&path, true, key)?;
            v.write_file(id, &data, &mut rng()).map_err(describe)
        }
        "rekey" => {
            let old = need(key, "--key file=OLD")?;
            let new = need(a.new_key.as_deref(), "--new-key file=NEW")?;
            let mut v = open(&path, true, Some(old))?;
            v.rotate_key(new, &mut rng()).map_err(describe)
        }
        "verify" => {
            let mut v = open(&path, false, key)?;
            if v.encrypted() && !v.unlocked() {
                return Err(format!(
                    "{} is encrypted: --key file=K is needed to verify its files",
                    path.display()
                ));
            }
            let ids = v.verify().map_err(describe)?;
            let list: Vec<String> = ids.iter().map(u32::to_string).collect();
            println!(
                "{}: OK (headers, tables{}; files [{}] read back)",
                path.display(),
                if v.encrypted() {
                    ", key chain and every file authenticated"
                } else {
                    ""
                },
                list.join(", ")
            );
            Ok(())
        }
        other => Err(format!(
            "unknown vmgs subcommand '{other}' (create, info, read, write, rekey, verify)"
        )),
    }
}
