//! The embedded storage backend: one SQLite file (WAL), one writer connection behind a mutex
//! and a small pool of readers, every call run on tokio's blocking pool.
//!
//! Every call runs in one transaction: writes in a `BEGIN IMMEDIATE` on the writer, reads in
//! a deferred transaction on a reader, so a read of several statements (a document's row and
//! its chunks, several documents at once) sees one snapshot even while the writer commits.
//! One file per part of the storage, as the traits are split.

use super::error::{MISSING_REFERENCE, StorageError, StorageResult};
use super::rows::Cells;
use fieldcase_core::model::RecordKind;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

mod audit;
mod blobs;
mod catalogue_store;
mod directory;
mod documents;
mod migrations;
mod number_store;
mod quarantine;
mod sessions;
mod settings;

/// Readers kept open.
const READERS: usize = 4;

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
}

/// SQLite storage (see the module docs).
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a call cannot leave SQLite half-written (transactions roll back on drop).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// SQLite's errors in the storage's terms: a unique or primary key taken is a conflict (as on
/// PostgreSQL), a broken reference or check invalid input, a database busy past the timeout or
/// unopenable unavailable.
impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        match &e {
            rusqlite::Error::SqliteFailure(f, _) => match (f.code, f.extended_code) {
                (_, ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                    StorageError::Conflict("already exists".into())
                }
                (_, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                    StorageError::Invalid(MISSING_REFERENCE.into())
                }
                (rusqlite::ErrorCode::ConstraintViolation, _) => {
                    StorageError::Invalid(e.to_string())
                }
                (
                    rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen,
                    _,
                ) => StorageError::Unavailable(e.to_string()),
                _ => StorageError::Database(e.to_string()),
            },
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => {
                StorageError::Corrupt(format!("row ({e})"))
            }
            _ => StorageError::Database(e.to_string()),
        }
    }
}

impl Cells for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> StorageResult<String> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> StorageResult<Option<String>> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> StorageResult<i64> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> StorageResult<Option<i64>> {
        Ok(self.get(i)?)
    }
    fn int32(&self, i: usize) -> StorageResult<i32> {
        Ok(self.get(i)?)
    }
    fn bytes(&self, i: usize) -> StorageResult<Vec<u8>> {
        Ok(self.get(i)?)
    }
}

/// Every row of a query, mapped with `f` (one of [`super::rows`]).
fn all<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl Fn(&rusqlite::Row<'_>) -> StorageResult<T>,
) -> StorageResult<Vec<T>> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(r)?);
    }
    Ok(out)
}

/// The first row of a query, if any, mapped with `f`.
fn first<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> StorageResult<T>,
) -> StorageResult<Option<T>> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    match rows.next()? {
        Some(r) => Ok(Some(f(r)?)),
        None => Ok(None),
    }
}

/// `unit = ?scope OR unit LIKE scope || '/%'`, written with substr so `_` and `%` in paths
/// are not patterns; the scopes are parameters `first_param..`.
fn scope_sql(col: &str, scopes: &[String], first_param: usize) -> String {
    if scopes.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = (0..scopes.len())
        .map(|i| {
            let p = first_param + i;
            format!("({col} = ?{p} OR substr({col}, 1, length(?{p}) + 1) = ?{p} || '/')")
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

/// `col IN (...)` over kinds, which are identifiers of our own (never input text).
fn kinds_sql(col: &str, kinds: &[RecordKind]) -> String {
    if kinds.is_empty() {
        return "0".into();
    }
    let list: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
    format!("{col} IN ({})", list.join(","))
}

impl SqliteStorage {
    /// Opens (creating and migrating) the database file.
    pub fn open(path: impl AsRef<Path>) -> StorageResult<Self> {
        let path = path.as_ref().to_path_buf();
        let mut writer = Connection::open(&path)?;
        writer.busy_timeout(std::time::Duration::from_secs(30))?;
        let mode: String = writer.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Config(format!(
                "journal mode {mode}, expected wal"
            )));
        }
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", true)?;
        migrations::migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(30))?;
            readers.push(Mutex::new(r));
        }
        Ok(SqliteStorage {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers,
                next_reader: std::sync::atomic::AtomicUsize::new(0),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a reader inside one deferred transaction: every statement of `f` reads the
    /// same snapshot, however many the writer commits meanwhile.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let i = inner
                .next_reader
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                % inner.readers.len();
            let mut conn = lock(&inner.readers[i]);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
    }

    /// Runs `f` on the writer inside one `BEGIN IMMEDIATE` transaction, committed if `f`
    /// succeeds.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<T> {
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` with the writer connection itself, for work that manages its own transaction
    /// and pragmas.
    async fn with_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&inner.writer)))
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
    }
}
