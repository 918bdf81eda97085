//! A directory store: the state image in one file, replaced atomically.
//!
//! A write goes to a temporary file, is fsynced, renamed over the old image and the
//! directory is fsynced, so a crash leaves either the old or the new image, never a
//! torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// File name of the state image inside the state directory.
pub const IMAGE_FILE: &str = "vtpm-state.img";

pub struct DirStore {
    dir: PathBuf,
}

impl DirStore {
    /// Opens (creating if needed) a state directory.
    pub fn open(dir: &Path) -> io::Result<DirStore> {
        fs::create_dir_all(dir)?;
        Ok(DirStore {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(IMAGE_FILE)
    }

    /// The stored image, or `None` when the directory holds none yet.
    pub fn load(&self) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path()) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Durably replaces the stored image.
    pub fn commit(&self, image: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{IMAGE_FILE}.tmp"));
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(image)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.path())?;
        File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_then_load() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = DirStore::open(dir.path())?;
        assert_eq!(store.load()?, None);
        store.commit(b"one")?;
        store.commit(b"two")?;
        assert_eq!(store.load()?, Some(b"two".to_vec()));
        Ok(())
    }
}
