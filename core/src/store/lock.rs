//! One open handle per store file. Two `FieldStore`s over one file would each keep their own
//! document cache, lease clock and sync cursor, and the later writer would silently undo the
//! other's cached view; SQLite's own locking only orders their transactions. So `open` takes
//! an exclusive advisory lock on a file beside the database (`<db>.lock`) and holds it for the
//! store's life: a second open, from this process or another, is [`CoreError::StoreInUse`].
//! The lock goes with the file handle, so a crashed app never leaves it held.

use crate::{CoreError, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Attempts before a held lock is reported, and the pause between them (1 s in all).
const RETRIES: u32 = 20;
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// The held lock; released when dropped (with the store).
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock of the store at `db`, or fails with [`CoreError::StoreInUse`].
    pub(crate) fn acquire(db: &Path) -> Result<Self> {
        let path = lock_path(db);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| CoreError::io(&path, e))?;
        // A handle closed a moment ago can still hold the lock for a few milliseconds: a
        // process forked meanwhile (to run a tool) shares the descriptor until it execs. So a
        // refusal is only final after a short wait.
        for _ in 0..RETRIES {
            match file.try_lock() {
                Ok(()) => return Ok(StoreLock { _file: file }),
                Err(TryLockError::WouldBlock) => std::thread::sleep(RETRY_PAUSE),
                Err(TryLockError::Error(e)) => return Err(CoreError::io(&path, e)),
            }
        }
        Err(CoreError::StoreInUse)
    }
}

/// `<db>.lock`.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_file_is_refused_until_the_first_goes() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io(Path::new("."), e))?;
        let db = dir.path().join("s.db");
        let first = StoreLock::acquire(&db)?;
        assert!(matches!(
            StoreLock::acquire(&db),
            Err(CoreError::StoreInUse)
        ));
        // Another file is another store.
        let _other = StoreLock::acquire(&dir.path().join("t.db"))?;
        drop(first);
        let _again = StoreLock::acquire(&db)?;
        Ok(())
    }
}
