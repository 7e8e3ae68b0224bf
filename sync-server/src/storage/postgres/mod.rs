//! The PostgreSQL backend: several server processes may share one database and serve one
//! fleet.
//!
//! - A connection pool (deadpool-postgres over tokio-postgres), over TLS as the URL's
//!   `sslmode` and `sslrootcert` say ([`super::pg_tls`]: `verify-full` off the host). A pooled
//!   connection is checked with a round trip before it is handed out, so one the database
//!   dropped (a restart, a failover, an idle timeout) is replaced instead of failing the
//!   request that drew it.
//! - Numbered migrations in [`MIGRATIONS`] (`migrations.rs`).
//! - The change feed: one `feed_counter` row, incremented **inside** each document write just
//!   before commit. The row lock is held until commit, so feed order equals commit order across
//!   every process (the same argument as for SQLite's single writer, see
//!   [`super::documents`]); the lock is taken last so it is held only for the final statements.
//! - Per-document serialisation: an existing document is locked with `SELECT ... FOR UPDATE`
//!   before its heads are compared; a new document is claimed by inserting its row first
//!   (`ON CONFLICT DO NOTHING`), so two servers creating the same id serialise on the primary
//!   key and the loser gets a conflict.
//!
//! The schema lives in the connection's `search_path` (by default `public`). A URL can choose
//! another with `?options=-c%20search_path%3Dname`; tests use [`PostgresStorage::connect_fresh`]
//! to get a private schema that is dropped when the last handle goes. One file per part of the
//! storage, as the traits are split.

use super::error::{MISSING_REFERENCE, StorageError, StorageResult};
use super::pg_tls::PgConnect;
use super::rows::Cells;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::Arc;
use tokio_postgres::error::SqlState;

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

pub use migrations::MIGRATIONS;

/// Default pool size.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// Drops a test schema when the last storage handle using it is dropped.
#[derive(Debug)]
struct SchemaGuard {
    connect: PgConnect,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let connect = self.connect.clone();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        // Drop runs inside or outside a runtime; a thread of its own works in both.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let client = connect.connect().await.ok()?;
                client.batch_execute(&sql).await.ok()
            })
        })
        .join();
    }
}

/// PostgreSQL storage (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct PostgresStorage {
    pool: Pool,
    connect: PgConnect,
    schema: Option<String>,
    _guard: Option<Arc<SchemaGuard>>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never print it.
        f.debug_struct("PostgresStorage")
            .field("schema", &self.schema)
            .field("pool", &self.pool.status())
            .finish()
    }
}

/// PostgreSQL's errors in the storage's terms, by SQLSTATE: a unique key taken or a lost
/// serialisation is a conflict (as on SQLite), an integrity violation invalid input, a
/// connection that failed or a database shutting down unavailable.
impl From<tokio_postgres::Error> for StorageError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(code) = e.code() else {
            if e.is_closed()
                || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
            {
                return StorageError::Unavailable(e.to_string());
            }
            return StorageError::Database(e.to_string());
        };
        match code {
            c if *c == SqlState::UNIQUE_VIOLATION => {
                StorageError::Conflict("already exists".into())
            }
            c if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                StorageError::Conflict("a concurrent transaction won".into())
            }
            c if *c == SqlState::FOREIGN_KEY_VIOLATION => {
                StorageError::Invalid(MISSING_REFERENCE.into())
            }
            c if c.code().starts_with("23") => StorageError::Invalid(e.to_string()),
            c if c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::TOO_MANY_CONNECTIONS =>
            {
                StorageError::Unavailable(e.to_string())
            }
            // The server's message names the statement's constraint or column, never the
            // values (those are in its DETAIL, left out here).
            _ => StorageError::Database(match e.as_db_error() {
                Some(db) => format!("{}: {}", code.code(), db.message()),
                None => e.to_string(),
            }),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            e => StorageError::Unavailable(format!("connection pool: {e}")),
        }
    }
}

impl Cells for tokio_postgres::Row {
    fn text(&self, i: usize) -> StorageResult<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> StorageResult<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> StorageResult<i64> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> StorageResult<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn int32(&self, i: usize) -> StorageResult<i32> {
        Ok(self.try_get(i)?)
    }
    fn bytes(&self, i: usize) -> StorageResult<Vec<u8>> {
        Ok(self.try_get(i)?)
    }
}

/// Maps every row with `f` (one of [`super::rows`]).
fn map_all<T>(
    rows: &[tokio_postgres::Row],
    f: impl Fn(&tokio_postgres::Row) -> StorageResult<T>,
) -> StorageResult<Vec<T>> {
    rows.iter().map(f).collect()
}

/// Column 0 of a row that is there, as `T`.
fn col0<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    row: tokio_postgres::Row,
) -> StorageResult<T> {
    Ok(row.try_get(0)?)
}

/// `col` lies in one of the scopes of text-array parameter `$n` (no LIKE, so `_` and `%` in
/// paths are not patterns).
fn scope_sql(col: &str, n: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM unnest(${n}::text[]) s
                 WHERE {col} = s OR left({col}, length(s) + 1) = s || '/')"
    )
}

/// Kinds as the text array `kind = ANY($n)` takes.
fn kinds(kinds: &[fieldcase_core::model::RecordKind]) -> Vec<&'static str> {
    kinds.iter().map(|k| k.as_str()).collect()
}

/// A random schema name for tests: `t_` and 16 hex digits.
fn random_schema() -> StorageResult<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| StorageError::Config(format!("random: {e}")))?;
    Ok(format!("t_{}", hex::encode(b)))
}

impl PostgresStorage {
    /// Connects to `url` (a `postgres://` URL or key=value string), creates the pool and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> StorageResult<Self> {
        Self::connect_with(url, None, DEFAULT_POOL_SIZE).await
    }

    /// Connects with every pooled connection's `search_path` set to `schema` (created if
    /// missing), with at most `pool_size` connections.
    ///
    /// One connection is opened first, so an unreachable database or a certificate that fails
    /// the URL's `sslmode` check is reported here, typed ([`StorageError::Tls`]), not at the
    /// first request.
    pub async fn connect_with(
        url: &str,
        schema: Option<&str>,
        pool_size: usize,
    ) -> StorageResult<Self> {
        let connect = PgConnect::from_url(url)?;
        let mut config = connect.config.clone();
        let client = connect.connect().await?;
        if let Some(schema) = schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                || schema.is_empty()
            {
                return Err(StorageError::Config(
                    "schema name must be lowercase letters, digits and '_'".into(),
                ));
            }
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .or_else(|e| {
                    // Two servers creating the same schema at once: one wins, both go on.
                    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?;
            config.options(format!("-c search_path={schema}"));
        }
        drop(client);
        // Name the connections in `pg_stat_activity`, unless the URL does: an operator (or a
        // test) can tell the server's connections, and a schema's, from others.
        if config.get_application_name().is_none() {
            config.application_name(match schema {
                Some(schema) => format!("fieldcase-server:{schema}"),
                None => "fieldcase-server".to_string(),
            });
        }
        let manager = Manager::from_config(
            config,
            connect.tls.clone(),
            ManagerConfig {
                // A round trip before each use: a connection the database dropped since its
                // last use is replaced, not handed to a request to fail on.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| StorageError::Config(format!("connection pool: {e}")))?;
        let storage = PostgresStorage {
            pool,
            connect,
            schema: schema.map(String::from),
            _guard: None,
        };
        let mut c = storage.client().await?;
        migrations::migrate(&mut c).await?;
        Ok(storage)
    }

    /// A storage in a new, empty schema of its own, dropped when the last clone is dropped.
    /// For tests and simulations.
    pub async fn connect_fresh(url: &str) -> StorageResult<Self> {
        let schema = random_schema()?;
        let mut s = Self::connect_with(url, Some(&schema), 8).await?;
        s._guard = Some(Arc::new(SchemaGuard {
            connect: s.connect.clone(),
            schema,
        }));
        Ok(s)
    }

    /// Whether the pooled connection a query gets is encrypted (PostgreSQL's own view,
    /// `pg_stat_ssl`), for operators' checks and the TLS tests.
    pub async fn connection_is_encrypted(&self) -> StorageResult<bool> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .await?;
        col0(row)
    }

    /// The schema every connection uses, when one was chosen.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The schema version applied (the number of migrations).
    pub async fn schema_version(&self) -> StorageResult<i64> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
                &[],
            )
            .await?;
        col0(row)
    }

    async fn client(&self) -> StorageResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }
}
