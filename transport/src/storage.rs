//! Where a server keeps its TPM: one VMGS file (nvram/src/vmgs), optionally encrypted.
//!
//! - `--tpmstate dir=DIR`: `DIR/tpm-state.vmgs`, with `DIR/.lock` held for the life
//!   of the server. A DIR that still holds the image of the old directory store
//!   (`vtpm-state.img`) is migrated into the VMGS file on first use; the old file is
//!   kept as `vtpm-state.img.migrated`.
//! - `--tpmstate backend-uri=file://PATH`: the VMGS file PATH, locked itself (flock).
//!
//! Keys (`--key`, `--migration-key`): `file=F[,format=binary|hex]` (32 bytes, or 64 hex
//! digits), `fd=N[,format=...]` (the same, read from an inherited descriptor),
//! `pwdfile=F` / `pwdfd=N` (a passphrase stretched with Argon2id; the parameters and
//! salt sit in a small header beside the VMGS file, `FILE.kdf`, so the key can be
//! derived again). Key material is zeroized after use.
//!
//! Every commit goes through the VMGS copy-on-write writer (data, tables, flush, header
//! flip, flush), so the state is durable when `commit` returns. The store scrubs what a
//! commit leaves unreferenced, and refuses at open a file with any byte set outside the
//! active data ([`Vmgs::check_unallocated`]): with the VMGS CRCs and AES-GCM tags that
//! makes any flipped byte of a file this server wrote a startup error.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Read;
use std::path::{Path, PathBuf};

use vtpm_nvram::image::Image;
use vtpm_nvram::vmgs::file::{Container, VmgsFile};
use vtpm_nvram::vmgs::{Key, Vmgs, VmgsError};
use zeroize::Zeroizing;

/// The VMGS file inside a state directory.
pub const VMGS_FILE: &str = "tpm-state.vmgs";
/// The image file of the old directory store (before VMGS).
pub const LEGACY_IMAGE: &str = "vtpm-state.img";
/// Size of a new VMGS file: room for a state image and its copy-on-write successor.
pub const CAPACITY: u64 = 4 << 20;

/// Where the state lives (`--tpmstate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateLocation {
    Dir(PathBuf),
    File(PathBuf),
}

impl StateLocation {
    /// The VMGS file.
    pub fn vmgs_path(&self) -> PathBuf {
        match self {
            StateLocation::Dir(d) => d.join(VMGS_FILE),
            StateLocation::File(f) => f.clone(),
        }
    }

    /// What to show the operator.
    pub fn display(&self) -> String {
        self.vmgs_path().display().to_string()
    }
}

/// Where a key comes from (`--key`, `--migration-key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    File { path: PathBuf, hex: bool },
    Fd { fd: i32, hex: bool },
    PwdFile(PathBuf),
    PwdFd(i32),
}

impl KeySource {
    pub fn is_password(&self) -> bool {
        matches!(self, KeySource::PwdFile(_) | KeySource::PwdFd(_))
    }

    /// Parses `file=F[,format=hex|binary]`, `fd=N[,...]`, `pwdfile=F`, `pwdfd=N`.
    /// swtpm's `mode=aes-256-cbc` and `remove` are not meaningful here: `mode`
    /// names swtpm's cipher, vtpm always uses the VMGS AES-256-GCM; both are refused
    /// except `mode=aes-256-cbc` and `remove=false`, which change nothing.
    pub fn parse(option: &str, value: &str) -> Result<KeySource, String> {
        let mut src = None;
        let mut hex = false;
        for part in value.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let fd = || -> Result<i32, String> {
                v.parse::<i32>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or(format!("{option}: invalid file descriptor '{v}'"))
            };
            match k {
                "file" if !v.is_empty() => src = Some(("file", PathBuf::from(v), 0)),
                "pwdfile" if !v.is_empty() => src = Some(("pwdfile", PathBuf::from(v), 0)),
                "fd" => src = Some(("fd", PathBuf::new(), fd()?)),
                "pwdfd" => src = Some(("pwdfd", PathBuf::new(), fd()?)),
                "format" if v == "hex" => hex = true,
                "format" if v == "binary" => hex = false,
                "mode" if v == "aes-256-cbc" => {}
                "remove" if v == "false" => {}
                _ => {
                    return Err(format!(
                        "{option}: unsupported parameter '{part}' (file=F|fd=N[,format=hex|binary], pwdfile=F, pwdfd=N)"
                    ));
                }
            }
        }
        match src {
            Some(("file", path, _)) => Ok(KeySource::File { path, hex }),
            Some(("fd", _, fd)) => Ok(KeySource::Fd { fd, hex }),
            Some(("pwdfile", path, _)) => Ok(KeySource::PwdFile(path)),
            Some((_, _, fd)) => Ok(KeySource::PwdFd(fd)),
            None => Err(format!("{option} needs file=F, fd=N, pwdfile=F or pwdfd=N")),
        }
    }

    fn read(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        let (what, path) = match self {
            KeySource::File { path, .. } | KeySource::PwdFile(path) => {
                (path.display().to_string(), path.clone())
            }
            // The inherited descriptor, without unsafe code.
            KeySource::Fd { fd, .. } | KeySource::PwdFd(fd) => (
                format!("fd {fd}"),
                PathBuf::from(format!("/proc/self/fd/{fd}")),
            ),
        };
        let mut bytes = Zeroizing::new(Vec::new());
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| format!("cannot read the key from {what}: {e}"))?;
        Ok(bytes)
    }

    /// A raw key (not a password) as 32 bytes.
    pub fn raw_key(&self) -> Result<Zeroizing<Key>, String> {
        let hex = match self {
            KeySource::File { hex, .. } | KeySource::Fd { hex, .. } => *hex,
            _ => return Err("a passphrase is not a raw key".into()),
        };
        let bytes = self.read()?;
        key_from_bytes(&bytes, hex)
    }

    /// The passphrase of `pwdfile=` / `pwdfd=`, without one trailing newline.
    fn password(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        let mut bytes = self.read()?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        if bytes.is_empty() {
            return Err("the passphrase is empty".into());
        }
        Ok(bytes)
    }
}

/// 32 key bytes from a key file's contents (binary, or 64 hex digits).
pub fn key_from_bytes(bytes: &[u8], hex: bool) -> Result<Zeroizing<Key>, String> {
    let mut key = Zeroizing::new([0u8; 32]);
    if hex {
        let text: Zeroizing<Vec<u8>> = Zeroizing::new(
            bytes
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect(),
        );
        if text.len() != 64 || !text.iter().all(u8::is_ascii_hexdigit) {
            return Err("a hex key is 64 hex digits".into());
        }
        for (k, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            *k = digit(pair.first().copied().unwrap_or(b'0')) << 4
                | digit(pair.get(1).copied().unwrap_or(b'0'));
        }
    } else {
        if bytes.len() != 32 {
            return Err(format!(
                "a key is 32 bytes, this one has {} (format=hex for 64 hex digits)",
                bytes.len()
            ));
        }
        key.copy_from_slice(bytes);
    }
    Ok(key)
}

/// The key-derivation header of a passphrase-protected store (`FILE.kdf`):
/// `"VTPMKDF1" | u8 algorithm (1 = Argon2id v1.3) | u32 m_cost (KiB) | u32 t_cost |
/// u32 p_cost | u8 salt length | salt`, big-endian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdfHeader {
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    pub salt: Vec<u8>,
}

const KDF_MAGIC: &[u8; 8] = b"VTPMKDF1";
const KDF_ARGON2ID: u8 = 1;
/// Parameters of new stores: Argon2id with 19 MiB, 2 passes, 1 lane (the OWASP
/// password storage recommendation's first choice).
pub const KDF_M_COST: u32 = 19 * 1024;
pub const KDF_T_COST: u32 = 2;
pub const KDF_P_COST: u32 = 1;

impl KdfHeader {
    pub fn new_random() -> Result<KdfHeader, String> {
        let mut salt = vec![0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
        Ok(KdfHeader {
            m_cost: KDF_M_COST,
            t_cost: KDF_T_COST,
            p_cost: KDF_P_COST,
            salt,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = KDF_MAGIC.to_vec();
        v.push(KDF_ARGON2ID);
        for x in [self.m_cost, self.t_cost, self.p_cost] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.push(self.salt.len() as u8);
        v.extend_from_slice(&self.salt);
        v
    }

    pub fn decode(b: &[u8]) -> Result<KdfHeader, String> {
        let bad = || "the key-derivation header is damaged or not a vtpm one".to_string();
        if b.get(..8) != Some(&KDF_MAGIC[..]) || b.get(8) != Some(&KDF_ARGON2ID) {
            return Err(bad());
        }
        let word = |off: usize| -> Result<u32, String> {
            Ok(u32::from_be_bytes(
                b.get(off..off + 4)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            ))
        };
        let (m_cost, t_cost, p_cost) = (word(9)?, word(13)?, word(17)?);
        let salt_len = usize::from(*b.get(21).ok_or_else(bad)?);
        let salt = b.get(22..22 + salt_len).ok_or_else(bad)?.to_vec();
        // Bounds keep a forged header from making startup take forever.
        if b.len() != 22 + salt_len
            || salt_len < 8
            || !(8..=(1 << 21)).contains(&m_cost)
            || !(1..=16).contains(&t_cost)
            || !(1..=16).contains(&p_cost)
        {
            return Err(bad());
        }
        Ok(KdfHeader {
            m_cost,
            t_cost,
            p_cost,
            salt,
        })
    }

    /// The 32-byte key of `password` under these parameters.
    pub fn derive(&self, password: &[u8]) -> Result<Zeroizing<Key>, String> {
        let params = argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| format!("key derivation parameters: {e}"))?;
        let kdf = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        kdf.hash_password_into(password, &self.salt, key.as_mut())
            .map_err(|e| format!("key derivation failed: {e}"))?;
        Ok(key)
    }
}

fn kdf_path(vmgs: &Path) -> PathBuf {
    let mut name = vmgs.as_os_str().to_owned();
    name.push(".kdf");
    PathBuf::from(name)
}

/// The datastore key for the VMGS file at `vmgs`; `creating`: a passphrase gets a new
/// key-derivation header (written durably before the VMGS file is formatted).
fn datastore_key(src: &KeySource, vmgs: &Path, creating: bool) -> Result<Zeroizing<Key>, String> {
    if !src.is_password() {
        return src.raw_key().map_err(|e| format!("--key: {e}"));
    }
    let password = src.password().map_err(|e| format!("--key: {e}"))?;
    let path = kdf_path(vmgs);
    let header = if creating {
        let h = KdfHeader::new_random()?;
        write_durably(&path, &h.encode())?;
        h
    } else {
        let bytes = fs::read(&path).map_err(|e| {
            format!(
                "--key: the passphrase needs the key-derivation header {}: {e}",
                path.display()
            )
        })?;
        KdfHeader::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
    };
    header.derive(&password)
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = {
        let mut n = path.as_os_str().to_owned();
        n.push(".tmp");
        PathBuf::from(n)
    };
    let io = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io)?;
        std::io::Write::write_all(&mut f, bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    sync_parent(path).map_err(io)
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

fn rng() -> impl FnMut(&mut [u8]) -> bool {
    |out: &mut [u8]| getrandom::fill(out).is_ok()
}

/// An open, locked VMGS store.
pub struct Store {
    vmgs: Vmgs<VmgsFile>,
    path: PathBuf,
    encrypted: bool,
    /// Held (locked) for the life of the store.
    _lock: File,
}

impl Store {
    /// Opens (or creates) the store at `location`, locked against other processes.
    /// A file that cannot be opened (damaged, tampered, wrong key, newer format) is an
    /// error and is left untouched.
    pub fn open(location: &StateLocation, key: Option<&KeySource>) -> Result<Store, String> {
        let path = location.vmgs_path();
        let dir_lock = match location {
            StateLocation::Dir(dir) => Some(crate::host::lock_state_dir(dir)?),
            StateLocation::File(f) => {
                if let Some(parent) = f.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs::create_dir_all(parent).map_err(|e| {
                        format!("cannot create directory {}: {e}", parent.display())
                    })?;
                }
                None
            }
        };
        let show = |e: VmgsError| format!("{}: {e}", path.display());
        let exists = fs::metadata(&path).map(|m| m.len() > 0).unwrap_or(false);
        let (vmgs, lock) = if exists {
            let lock = match dir_lock {
                Some(l) => l,
                None => lock_file(&path)?,
            };
            let file = VmgsFile::open(&path, true).map_err(show)?;
            let mut vmgs = Vmgs::open(file).map_err(show)?;
            match (vmgs.encrypted(), key) {
                (true, Some(src)) => {
                    let k = datastore_key(src, &path, false)?;
                    vmgs.unlock(&k).map_err(show)?;
                }
                (true, None) => {
                    return Err(format!(
                        "{} is encrypted: start with the --key it was created with",
                        path.display()
                    ));
                }
                (false, Some(_)) => {
                    return Err(format!(
                        "{} stores the TPM state in the clear, but --key was given: \
                         start without --key (or move the file away to start a new, encrypted TPM)",
                        path.display()
                    ));
                }
                (false, None) => {}
            }
            vmgs.check_unallocated().map_err(show)?;
            (vmgs, lock)
        } else {
            let _ = fs::remove_file(&path); // an empty placeholder file
            let k = key.map(|src| datastore_key(src, &path, true)).transpose()?;
            let file =
                VmgsFile::create(&path, CAPACITY, Container::Vhd1, &mut rng()).map_err(show)?;
            sync_parent(&path).map_err(|e| show(VmgsError::Io(e.to_string())))?;
            let lock = match dir_lock {
                Some(l) => l,
                None => lock_file(&path)?,
            };
            let vmgs = Vmgs::format(file, k.as_deref(), &mut rng()).map_err(show)?;
            (vmgs, lock)
        };
        let encrypted = vmgs.encrypted();
        let mut store = Store {
            vmgs,
            path,
            encrypted,
            _lock: lock,
        };
        store.vmgs.set_scrub(true);
        if let StateLocation::Dir(dir) = location {
            store.migrate_legacy(dir)?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// The stored state image, if any.
    pub fn load(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.vmgs.read_vtpm_state() {
            Ok(v) => Ok(v.map(|v| v.to_vec())),
            Err(e) => Err(format!("{}: {e}", self.path.display())),
        }
    }

    /// Durably replaces the stored state image.
    pub fn commit(&mut self, image: &[u8]) -> Result<(), String> {
        self.vmgs
            .write_vtpm_state(image, &mut rng())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }

    /// A state directory of the old directory store: its image moves into the VMGS
    /// file (checked first), then the old file is renamed, so it is never used twice
    /// and never silently dropped.
    fn migrate_legacy(&mut self, dir: &Path) -> Result<(), String> {
        let legacy = dir.join(LEGACY_IMAGE);
        let bytes = match fs::read(&legacy) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot read {}: {e}", legacy.display())),
        };
        if let Err(e) = Image::decode(&bytes) {
            return Err(format!(
                "{} (the state of an older vtpm) cannot be migrated: {e}; \
                 move it away to start a new TPM",
                legacy.display()
            ));
        }
        match self.load()? {
            None => {
                self.commit(&bytes)?;
            }
            Some(current) if current == bytes => {} // migrated before the rename
            Some(_) => {
                return Err(format!(
                    "{} and {} both hold a TPM state: move one of them away",
                    legacy.display(),
                    self.path.display()
                ));
            }
        }
        let done = dir.join(format!("{LEGACY_IMAGE}.migrated"));
        fs::rename(&legacy, &done)
            .and_then(|()| sync_parent(&done))
            .map_err(|e| format!("cannot rename {}: {e}", legacy.display()))?;
        crate::log::error(format_args!(
            "migrated the TPM state of {} into {} (the old file is kept as {})",
            legacy.display(),
            self.path.display(),
            done.display()
        ));
        Ok(())
    }
}

/// Locks the VMGS file itself (`backend-uri=file://`): a second server on it fails.
fn lock_file(path: &Path) -> Result<File, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(format!(
            "state file {} is in use by another TPM",
            path.display()
        )),
        Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn key_sources_parse() {
        assert_eq!(
            KeySource::parse("--key", "file=/k,format=hex"),
            Ok(KeySource::File {
                path: "/k".into(),
                hex: true
            })
        );
        assert_eq!(
            KeySource::parse("--key", "fd=5"),
            Ok(KeySource::Fd { fd: 5, hex: false })
        );
        assert_eq!(
            KeySource::parse("--key", "pwdfile=/p"),
            Ok(KeySource::PwdFile("/p".into()))
        );
        assert_eq!(
            KeySource::parse("--key", "pwdfd=3"),
            Ok(KeySource::PwdFd(3))
        );
        for bad in ["", "format=hex", "file=/k,mode=aes-cbc", "fd=-1", "frob=1"] {
            assert!(KeySource::parse("--key", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hex_and_binary_keys() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
        let k = key_from_bytes(hex.as_bytes(), true).unwrap_or_default();
        assert_eq!(k[1], 0x11);
        assert_eq!(k[31], 0xff);
        assert!(key_from_bytes(b"abc", true).is_err());
        assert!(key_from_bytes(&[1; 31], false).is_err());
        assert_eq!(
            *key_from_bytes(&[7; 32], false).unwrap_or_default(),
            [7; 32]
        );
    }

    #[test]
    fn kdf_header_round_trip_and_bounds() {
        let h = KdfHeader {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
            salt: vec![9; 16],
        };
        assert_eq!(KdfHeader::decode(&h.encode()), Ok(h.clone()));
        let a = h.derive(b"pw").unwrap_or_default();
        assert_eq!(a, h.derive(b"pw").unwrap_or_default());
        assert_ne!(a, h.derive(b"pW").unwrap_or_default());
        let mut huge = h.encode();
        huge[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(KdfHeader::decode(&huge).is_err());
        assert!(KdfHeader::decode(&h.encode()[..20]).is_err());
    }
}
