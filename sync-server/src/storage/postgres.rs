//! The PostgreSQL backend: several server processes may share one database and serve one
//! fleet.
//!
//! - A connection pool (deadpool-postgres over tokio-postgres), over TLS as the URL's
//!   `sslmode` and `sslrootcert` say ([`super::pg_tls`]: `verify-full` off the host).
//! - Numbered migrations in [`MIGRATIONS`], applied in order under a transaction-scoped
//!   advisory lock and recorded in `schema_migrations`, so two servers starting together
//!   migrate once.
//! - The change feed: one `feed_counter` row, incremented **inside** each document write just
//!   before commit. The row lock is held until commit, so feed order equals commit order across
//!   every process (the same argument as for SQLite's single writer, see the module docs of
//!   [`super`]); the lock is taken last so it is held only for the final statements.
//! - Per-document serialisation: an existing document is locked with `SELECT ... FOR UPDATE`
//!   before its heads are compared; a new document is claimed by inserting its row first
//!   (`ON CONFLICT DO NOTHING`), so two servers creating the same id serialise on the primary
//!   key and the loser gets [`ServerError::Conflict`].
//!
//! The schema lives in the connection's `search_path` (by default `public`). A URL can choose
//! another with `?options=-c%20search_path%3Dname`; tests use [`PostgresStorage::connect_fresh`]
//! to get a private schema that is dropped when the last handle goes.

use super::pg_tls::PgConnect;
use super::*;
use crate::error::ServerError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::Arc;
use tokio_postgres::error::SqlState;

mod catalogue_store;
mod number_store;

/// Numbered migrations; index + 1 is the version each brings the schema to. Never edit one
/// that shipped: add another.
pub const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE settings (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
    CREATE TABLE units (path TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE users (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, unit TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL
    );
    CREATE TABLE enrolment_codes (
        code_hash BYTEA PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
        created_at_ms BIGINT NOT NULL, expires_at_ms BIGINT NOT NULL, used_at_ms BIGINT
    );
    CREATE TABLE devices (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), label TEXT NOT NULL,
        public_key TEXT NOT NULL, credential_hash BYTEA NOT NULL UNIQUE,
        enrolled_at_ms BIGINT NOT NULL, revoked_at_ms BIGINT, last_seen_ms BIGINT
    );
    CREATE TABLE feed_counter (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL);
    INSERT INTO feed_counter(id, seq) VALUES (1, 0);
    CREATE TABLE docs (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, unit TEXT NOT NULL, party_hash TEXT,
        heads BYTEA NOT NULL, chunk_count BIGINT NOT NULL, next_chunk BIGINT NOT NULL,
        seq BIGINT UNIQUE, updated_at_ms BIGINT NOT NULL
    );
    CREATE INDEX docs_party ON docs(party_hash) WHERE party_hash IS NOT NULL;
    CREATE TABLE chunks (
        doc_id TEXT NOT NULL, n BIGINT NOT NULL, bytes BYTEA NOT NULL, PRIMARY KEY (doc_id, n)
    );
    CREATE TABLE doc_blobs (
        sha256 TEXT NOT NULL, doc_id TEXT NOT NULL, PRIMARY KEY (sha256, doc_id)
    );
    CREATE INDEX doc_blobs_doc ON doc_blobs(doc_id);
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY, size BIGINT NOT NULL, stored_at_ms BIGINT NOT NULL,
        device_id TEXT NOT NULL
    );
    CREATE TABLE upload_sessions (
        sha256 TEXT PRIMARY KEY, device_id TEXT NOT NULL, received BIGINT NOT NULL,
        total BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL
    );
"#,
    r#"
    CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, case_id TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL, signature TEXT NOT NULL
    );
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL,
        signature TEXT NOT NULL
    );
    INSERT INTO audit_head(id, seq, hash, signature)
        VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', '');
    CREATE TABLE login_tokens (
        token_hash BYTEA PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
        created_at_ms BIGINT NOT NULL, expires_at_ms BIGINT NOT NULL, used_at_ms BIGINT
    );
    CREATE TABLE web_sessions (
        session_hash BYTEA PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
        created_at_ms BIGINT NOT NULL, expires_at_ms BIGINT NOT NULL
    );
"#,
    // 3: the wipe mode an operator chose at revocation (`all`, `synced_only`); NULL for
    // devices revoked before the choice existed, which erase everything.
    r#"
    ALTER TABLE devices ADD COLUMN revoke_wipe TEXT;
"#,
    // 4: which device authors under which Automerge actor (declared at enrolment or sync),
    // and changes of revoked devices held for an operator's review.
    r#"
    CREATE TABLE device_actors (
        actor TEXT PRIMARY KEY, device_id TEXT NOT NULL REFERENCES devices(id),
        bound_at_ms BIGINT NOT NULL, source TEXT NOT NULL
    );
    CREATE INDEX device_actors_device ON device_actors(device_id);
    CREATE TABLE quarantine (
        id BIGSERIAL PRIMARY KEY, doc_id TEXT NOT NULL, kind TEXT NOT NULL,
        sender_device TEXT NOT NULL, sender_user TEXT NOT NULL, revoked_devices TEXT NOT NULL,
        received_at_ms BIGINT NOT NULL, hashes TEXT NOT NULL, changes BYTEA NOT NULL,
        status TEXT NOT NULL, settled_at_ms BIGINT
    );
    CREATE INDEX quarantine_status_doc ON quarantine(status, doc_id);
"#,
    // 5: the documents a stored blob is bound to (anchored): those that referred to it, and
    // that its uploader could write, when the upload completed. Reading a blob needs one of
    // them (still referring to it) in the reader's scope; a record naming the hash later gets
    // nothing. Blobs stored before this are anchored to the documents referring to them now.
    r#"
    CREATE TABLE blob_anchors (
        sha256 TEXT NOT NULL, doc_id TEXT NOT NULL, device_id TEXT NOT NULL,
        anchored_at_ms BIGINT NOT NULL, PRIMARY KEY (sha256, doc_id)
    );
    INSERT INTO blob_anchors(sha256, doc_id, device_id, anchored_at_ms)
        SELECT b.sha256, r.doc_id, b.device_id, b.stored_at_ms
        FROM blobs b JOIN doc_blobs r ON r.sha256 = b.sha256
        ON CONFLICT DO NOTHING;
"#,
    // 6: catalogues an operator published (`admin catalogue publish`): the canonical bundle
    // bytes and the server's signature over their digest and version. Phones receive the
    // newest through sync; every version stays, to judge the cases recorded under it.
    r#"
    CREATE TABLE catalogues (
        version TEXT PRIMARY KEY, digest TEXT NOT NULL, signature TEXT NOT NULL,
        bundle BYTEA NOT NULL, published_at_ms BIGINT NOT NULL
    );
"#,
    // 7: enforcement documents: officers' certificate numbers (执法证号), the number blocks
    // reserved per device, and the numbers documents took (one row per document, so a
    // number taken twice shows as two rows).
    r#"
    CREATE TABLE officer_certs (
        user_id TEXT PRIMARY KEY REFERENCES users(id), cert_no TEXT NOT NULL
    );
    CREATE TABLE number_blocks (
        series TEXT NOT NULL, year INTEGER NOT NULL, first BIGINT NOT NULL,
        last BIGINT NOT NULL, device_id TEXT NOT NULL, reserved_at_ms BIGINT NOT NULL,
        PRIMARY KEY (series, year, first)
    );
    CREATE INDEX number_blocks_device ON number_blocks(device_id);
    CREATE TABLE document_numbers (
        series TEXT NOT NULL, year INTEGER NOT NULL, seq BIGINT NOT NULL,
        document_id TEXT NOT NULL, case_id TEXT NOT NULL, device_id TEXT NOT NULL,
        PRIMARY KEY (series, year, seq, document_id)
    );
"#,
];

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

/// A database failure as the one server error; unique violations are conflicts.
fn db(e: tokio_postgres::Error) -> ServerError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return ServerError::Conflict("already exists".into());
    }
    ServerError::Database(e.to_string())
}

fn pool_err(e: impl std::fmt::Display) -> ServerError {
    ServerError::Database(format!("connection pool: {e}"))
}

fn bad_row(what: &str) -> ServerError {
    ServerError::Database(format!("stored {what} is invalid"))
}

fn kind_of(s: &str) -> Result<RecordKind> {
    RecordKind::parse(s).ok_or_else(|| bad_row("kind"))
}

fn role_of(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| bad_row("role"))
}

fn hash32(v: Vec<u8>) -> Result<[u8; 32]> {
    v.try_into().map_err(|_| bad_row("hash"))
}

fn user_row(r: &tokio_postgres::Row, base: usize) -> Result<User> {
    Ok(User {
        id: r.try_get(base).map_err(db)?,
        name: r.try_get(base + 1).map_err(db)?,
        role: role_of(r.try_get(base + 2).map_err(db)?)?,
        unit: r.try_get(base + 3).map_err(db)?,
        created_at_ms: r.try_get(base + 4).map_err(db)?,
    })
}

fn device_row(r: &tokio_postgres::Row) -> Result<Device> {
    Ok(Device {
        id: r.try_get(0).map_err(db)?,
        user_id: r.try_get(1).map_err(db)?,
        label: r.try_get(2).map_err(db)?,
        public_key: r.try_get(3).map_err(db)?,
        enrolled_at_ms: r.try_get(4).map_err(db)?,
        revoked_at_ms: r.try_get(5).map_err(db)?,
        last_seen_ms: r.try_get(6).map_err(db)?,
        revoke_wipe: r
            .try_get::<_, Option<String>>(7)
            .map_err(db)?
            .as_deref()
            .and_then(WipeScope::parse),
    })
}

const DEVICE_COLS: &str =
    "d.id, d.user_id, d.label, d.public_key, d.enrolled_at_ms, d.revoked_at_ms, d.last_seen_ms,
     d.revoke_wipe";

const QUARANTINE_COLS: &str = "id, doc_id, kind, sender_device, sender_user, revoked_devices,
     received_at_ms, hashes, status, settled_at_ms, changes";

fn quarantine_row(r: &tokio_postgres::Row) -> Result<QuarantineItem> {
    let status: String = r.try_get(8).map_err(db)?;
    Ok(QuarantineItem {
        id: r.try_get(0).map_err(db)?,
        doc_id: r.try_get(1).map_err(db)?,
        kind: kind_of(&r.try_get::<_, String>(2).map_err(db)?)?,
        sender_device: r.try_get(3).map_err(db)?,
        sender_user: r.try_get(4).map_err(db)?,
        revoked_devices: r.try_get(5).map_err(db)?,
        received_at_ms: r.try_get(6).map_err(db)?,
        hashes: r.try_get(7).map_err(db)?,
        status: QuarantineStatus::parse(&status)
            .ok_or_else(|| ServerError::Database(format!("unknown quarantine status {status}")))?,
        settled_at_ms: r.try_get(9).map_err(db)?,
        changes: r.try_get(10).map_err(db)?,
    })
}

/// `unit` lies in one of the scopes of text-array parameter `$n` (no LIKE, so `_` and `%` in
/// paths are not patterns).
fn scope_sql(col: &str, n: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM unnest(${n}::text[]) s
                 WHERE {col} = s OR left({col}, length(s) + 1) = s || '/')"
    )
}

fn kinds(kinds: &[RecordKind]) -> Vec<&'static str> {
    kinds.iter().map(|k| k.as_str()).collect()
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A random schema name for tests: `t_` and 16 hex digits.
fn random_schema() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| ServerError::Config(format!("random: {e}")))?;
    Ok(format!("t_{}", hex::encode(b)))
}

impl PostgresStorage {
    /// Connects to `url` (a `postgres://` URL or key=value string), creates the pool and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, None, DEFAULT_POOL_SIZE).await
    }

    /// Connects with every pooled connection's `search_path` set to `schema` (created if
    /// missing), with at most `pool_size` connections.
    ///
    /// One connection is opened first, so an unreachable database or a certificate that fails
    /// the URL's `sslmode` check is reported here, typed ([`ServerError::DatabaseTls`]), not
    /// at the first request.
    pub async fn connect_with(url: &str, schema: Option<&str>, pool_size: usize) -> Result<Self> {
        let connect = PgConnect::from_url(url)?;
        let mut config = connect.config.clone();
        let client = connect.connect().await?;
        if let Some(schema) = schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                || schema.is_empty()
            {
                return Err(ServerError::Config(
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
                        Err(db(e))
                    }
                })?;
            config.options(format!("-c search_path={schema}"));
        }
        drop(client);
        let manager = Manager::from_config(
            config,
            connect.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| ServerError::Config(format!("connection pool: {e}")))?;
        let storage = PostgresStorage {
            pool,
            connect,
            schema: schema.map(String::from),
            _guard: None,
        };
        storage.migrate().await?;
        Ok(storage)
    }

    /// A storage in a new, empty schema of its own, dropped when the last clone is dropped.
    /// For tests and simulations.
    pub async fn connect_fresh(url: &str) -> Result<Self> {
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
    pub async fn connection_is_encrypted(&self) -> Result<bool> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .await
            .map_err(db)?;
        row.try_get(0).map_err(db)
    }

    /// The schema every connection uses, when one was chosen.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The schema version applied (the number of migrations).
    pub async fn schema_version(&self) -> Result<i64> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
                &[],
            )
            .await
            .map_err(db)?;
        row.try_get(0).map_err(db)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }

    async fn migrate(&self) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        // One migrator per schema at a time, across processes.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('fieldcase:' || current_schema()))",
            &[],
        )
        .await
        .map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(db)?;
        let found: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
                &[],
            )
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(ServerError::Config(format!(
                "database schema {found} is newer than this build ({known})"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
            tx.batch_execute(sql).await.map_err(db)?;
            tx.execute(
                "INSERT INTO schema_migrations(version) VALUES ($1)",
                &[&(i as i64 + 1)],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }
}

/// Ends a user's dashboard sessions and voids their unredeemed login links.
async fn pg_end_user_sessions(
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: &str,
    at_ms: i64,
) -> Result<u64> {
    let n = tx
        .execute("DELETE FROM web_sessions WHERE user_id = $1", &[&user_id])
        .await
        .map_err(db)?;
    tx.execute(
        "UPDATE login_tokens SET used_at_ms = $2 WHERE user_id = $1 AND used_at_ms IS NULL",
        &[&user_id, &at_ms],
    )
    .await
    .map_err(db)?;
    Ok(n)
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn setting(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT value FROM settings WHERE key = $1", &[&key])
            .await
            .map_err(db)?;
        row.map(|r| r.try_get(0).map_err(db)).transpose()
    }

    async fn setting_or_insert(&self, key: &str, value: Vec<u8>) -> Result<Vec<u8>> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO settings(key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )
        .await
        .map_err(db)?;
        c.query_one("SELECT value FROM settings WHERE key = $1", &[&key])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)
    }

    async fn delete_setting(&self, key: &str) -> Result<bool> {
        let c = self.client().await?;
        let n = c
            .execute("DELETE FROM settings WHERE key = $1", &[&key])
            .await
            .map_err(db)?;
        if n > 0 {
            // Dead tuples keep their bytes until the page is rewritten: rewrite the table.
            c.batch_execute("VACUUM FULL settings").await.map_err(db)?;
        }
        Ok(n > 0)
    }

    async fn create_unit(&self, unit: Unit) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO units(path, name) VALUES ($1, $2)",
            &[&unit.path, &unit.name],
        )
        .await
        .map_err(|e| match db(e) {
            ServerError::Conflict(_) => ServerError::Conflict(format!("unit {} exists", unit.path)),
            e => e,
        })?;
        Ok(())
    }

    async fn units(&self) -> Result<Vec<Unit>> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT path, name FROM units ORDER BY path", &[])
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(Unit {
                    path: r.try_get(0).map_err(db)?,
                    name: r.try_get(1).map_err(db)?,
                })
            })
            .collect()
    }

    async fn create_user(&self, user: User) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO users(id, name, role, unit, created_at_ms) VALUES ($1,$2,$3,$4,$5)",
            &[
                &user.id,
                &user.name,
                &user.role.as_str(),
                &user.unit,
                &user.created_at_ms,
            ],
        )
        .await
        .map_err(|e| match db(e) {
            ServerError::Conflict(_) => ServerError::Conflict(format!("user {} exists", user.id)),
            e => e,
        })?;
        Ok(())
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT id, name, role, unit, created_at_ms FROM users WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(db)?;
        row.map(|r| user_row(&r, 0)).transpose()
    }

    async fn users(&self) -> Result<Vec<User>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, name, role, unit, created_at_ms FROM users ORDER BY id",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter().map(|r| user_row(r, 0)).collect()
    }

    async fn create_enrolment_code(&self, code: EnrolmentCode) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO enrolment_codes(code_hash, user_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
            &[
                &code.code_hash.as_slice(),
                &code.user_id,
                &code.created_at_ms,
                &code.expires_at_ms,
            ],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn redeem_enrolment_code(
        &self,
        code_hash: [u8; 32],
        now_ms: i64,
        device: NewDevice,
    ) -> Result<Device> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let user_id = redeem_once(&tx, OneTime::EnrolmentCode, &code_hash, now_ms).await?;
        tx.execute(
            "INSERT INTO devices(id, user_id, label, public_key, credential_hash, enrolled_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &device.id,
                &user_id,
                &device.label,
                &device.public_key,
                &device.credential_hash.as_slice(),
                &device.enrolled_at_ms,
            ],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Device {
            id: device.id,
            user_id,
            label: device.label,
            public_key: device.public_key,
            enrolled_at_ms: device.enrolled_at_ms,
            revoked_at_ms: None,
            last_seen_ms: None,
            revoke_wipe: None,
        })
    }

    async fn device_by_credential(&self, credential_hash: [u8; 32]) -> Result<Option<DeviceAuth>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLS}, u.id, u.name, u.role, u.unit, u.created_at_ms,
                        d.credential_hash
                 FROM devices d JOIN users u ON u.id = d.user_id
                 WHERE d.credential_hash = $1"
            ))
            .await
            .map_err(db)?;
        let row = c
            .query_opt(&stmt, &[&credential_hash.as_slice()])
            .await
            .map_err(db)?;
        row.map(|r| {
            Ok(DeviceAuth {
                device: device_row(&r)?,
                user: user_row(&r, 8)?,
                credential_hash: hash32(r.try_get(13).map_err(db)?)?,
            })
        })
        .transpose()
    }

    async fn devices(&self) -> Result<Vec<Device>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!("SELECT {DEVICE_COLS} FROM devices d ORDER BY d.enrolled_at_ms, d.id"),
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter().map(device_row).collect()
    }

    async fn revoke_device(&self, id: &str, at_ms: i64, wipe: WipeScope) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let row = tx
            .query_opt(
                "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, $2), revoke_wipe = $3
                 WHERE id = $1 RETURNING user_id",
                &[&id, &at_ms, &wipe.as_str()],
            )
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Ok(false);
        };
        let user: String = row.try_get(0).map_err(db)?;
        pg_end_user_sessions(&tx, &user, at_ms).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn bind_actor(
        &self,
        actor: &str,
        device_id: &str,
        at_ms: i64,
        source: &str,
    ) -> Result<String> {
        let c = self.client().await?;
        // Every sync declares its actor: once bound, answer without writing.
        if let Some(r) = c
            .query_opt(
                "SELECT device_id FROM device_actors WHERE actor = $1",
                &[&actor],
            )
            .await
            .map_err(db)?
        {
            return r.try_get(0).map_err(db);
        }
        c.execute(
            "INSERT INTO device_actors(actor, device_id, bound_at_ms, source)
             VALUES ($1, $2, $3, $4) ON CONFLICT (actor) DO NOTHING",
            &[&actor, &device_id, &at_ms, &source],
        )
        .await
        .map_err(db)?;
        let row = c
            .query_one(
                "SELECT device_id FROM device_actors WHERE actor = $1",
                &[&actor],
            )
            .await
            .map_err(db)?;
        row.try_get(0).map_err(db)
    }

    async fn actor_device(&self, actor: &str) -> Result<Option<String>> {
        let c = self.client().await?;
        let actor = actor.to_ascii_lowercase();
        let row = c
            .query_opt(
                "SELECT device_id FROM device_actors WHERE actor = $1",
                &[&actor],
            )
            .await
            .map_err(db)?;
        row.map(|r| r.try_get(0).map_err(db)).transpose()
    }

    async fn revoked_actors(&self) -> Result<Vec<RevokedActor>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT a.actor, a.device_id, d.revoked_at_ms, d.revoke_wipe FROM device_actors a
                 JOIN devices d ON d.id = a.device_id
                 WHERE d.revoked_at_ms IS NOT NULL ORDER BY a.actor",
            )
            .await
            .map_err(db)?;
        let rows = c.query(&stmt, &[]).await.map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(RevokedActor {
                    actor: r.try_get(0).map_err(db)?,
                    device_id: r.try_get(1).map_err(db)?,
                    revoked_at_ms: r.try_get(2).map_err(db)?,
                    revoke_wipe: r
                        .try_get::<_, Option<String>>(3)
                        .map_err(db)?
                        .as_deref()
                        .and_then(WipeScope::parse),
                })
            })
            .collect()
    }

    async fn add_quarantine(&self, q: NewQuarantine) -> Result<Option<i64>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "INSERT INTO quarantine(doc_id, kind, sender_device, sender_user,
                     revoked_devices, received_at_ms, hashes, changes, status)
                 SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::text,
                        $8::bytea, 'pending'
                 WHERE NOT EXISTS (SELECT 1 FROM quarantine
                     WHERE doc_id = $1::text AND hashes = $7::text AND status = 'pending')
                 RETURNING id",
                &[
                    &q.doc_id,
                    &q.kind.as_str(),
                    &q.sender_device,
                    &q.sender_user,
                    &q.revoked_devices,
                    &q.received_at_ms,
                    &q.hashes,
                    &q.changes,
                ],
            )
            .await
            .map_err(db)?;
        row.map(|r| r.try_get(0).map_err(db)).transpose()
    }

    async fn quarantine(&self, all: bool) -> Result<Vec<QuarantineItem>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {QUARANTINE_COLS} FROM quarantine
                     WHERE $1 OR status = 'pending' ORDER BY id"
                ),
                &[&all],
            )
            .await
            .map_err(db)?;
        rows.iter().map(quarantine_row).collect()
    }

    async fn quarantine_item(&self, id: i64) -> Result<Option<QuarantineItem>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {QUARANTINE_COLS} FROM quarantine WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(db)?;
        row.as_ref().map(quarantine_row).transpose()
    }

    async fn settle_quarantine(
        &self,
        id: i64,
        status: QuarantineStatus,
        at_ms: i64,
    ) -> Result<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE quarantine SET status = $2, settled_at_ms = $3
                 WHERE id = $1 AND status = 'pending'",
                &[&id, &status.as_str(), &at_ms],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn touch_device(&self, id: &str, at_ms: i64) -> Result<()> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("UPDATE devices SET last_seen_ms = $2 WHERE id = $1")
            .await
            .map_err(db)?;
        c.execute(&stmt, &[&id, &at_ms]).await.map_err(db)?;
        Ok(())
    }

    async fn load_doc(&self, doc_id: &str) -> Result<Option<StoredDoc>> {
        Ok(self.load_docs(&[doc_id.to_string()]).await?.pop().flatten())
    }

    async fn load_docs(&self, doc_ids: &[String]) -> Result<Vec<Option<StoredDoc>>> {
        if doc_ids.is_empty() {
            return Ok(vec![]);
        }
        let mut c = self.client().await?;
        // One snapshot for the rows and their chunks.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        // A row without `seq` is claimed by a write that has not committed: left out, as if
        // it were not there yet.
        let heads = tx
            .prepare_cached(
                "SELECT id, kind, unit, heads, chunk_count, seq FROM docs
                 WHERE id = ANY($1) AND seq IS NOT NULL",
            )
            .await
            .map_err(db)?;
        let mut found: std::collections::HashMap<String, StoredDoc> =
            std::collections::HashMap::with_capacity(doc_ids.len());
        for row in tx.query(&heads, &[&doc_ids]).await.map_err(db)? {
            let id: String = row.try_get(0).map_err(db)?;
            let doc = StoredDoc {
                doc_id: id.clone(),
                kind: kind_of(row.try_get(1).map_err(db)?)?,
                unit: row.try_get(2).map_err(db)?,
                heads: row.try_get(3).map_err(db)?,
                bytes: Vec::new(),
                chunk_count: row.try_get(4).map_err(db)?,
                seq: row.try_get(5).map_err(db)?,
            };
            found.insert(id, doc);
        }
        let chunks = tx
            .prepare_cached(
                "SELECT doc_id, bytes FROM chunks WHERE doc_id = ANY($1) ORDER BY doc_id, n",
            )
            .await
            .map_err(db)?;
        for r in tx.query(&chunks, &[&doc_ids]).await.map_err(db)? {
            let id: &str = r.try_get(0).map_err(db)?;
            if let Some(d) = found.get_mut(id) {
                let b: &[u8] = r.try_get(1).map_err(db)?;
                d.bytes.extend_from_slice(b);
            }
        }
        tx.commit().await.map_err(db)?;
        // A document named twice is answered twice (moved out at its last mention).
        let mut left: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for id in doc_ids {
            *left.entry(id.as_str()).or_default() += 1;
        }
        Ok(doc_ids
            .iter()
            .map(|id| {
                let n = left.entry(id.as_str()).or_default();
                *n = n.saturating_sub(1);
                if *n == 0 {
                    found.remove(id)
                } else {
                    found.get(id).cloned()
                }
            })
            .collect())
    }

    async fn write_docs(&self, writes: Vec<DocWrite>) -> Result<Vec<WriteOutcome>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let now = fieldcase_core::ids::now_ms();
        // 1. Lock each document (or claim its id) and check the heads the writer read, in id
        //    order so that two batches touching the same documents cannot deadlock.
        let mut order: Vec<usize> = (0..writes.len()).collect();
        order.sort_by(|a, b| writes[*a].doc_id.cmp(&writes[*b].doc_id));
        let mut next_chunks: Vec<Option<i64>> = vec![None; writes.len()];
        let mut seen = std::collections::HashSet::new();
        for &i in &order {
            let w = &writes[i];
            // The same document again after an accepted write of it: it was prepared against
            // heads that write replaces, so it goes back to the writer (as in SQLite, where
            // the later write sees the earlier one).
            if seen.contains(w.doc_id.as_str()) {
                continue;
            }
            next_chunks[i] = match &w.expected_heads {
                None => {
                    let claim = tx
                        .prepare_cached(
                            "INSERT INTO docs(id, kind, unit, party_hash, heads, chunk_count,
                                              next_chunk, seq, updated_at_ms)
                             VALUES ($1, $2, $3, $4, $5, 0, 0, NULL, $6)
                             ON CONFLICT (id) DO NOTHING",
                        )
                        .await
                        .map_err(db)?;
                    let claimed = tx
                        .execute(
                            &claim,
                            &[
                                &w.doc_id,
                                &w.kind.as_str(),
                                &w.unit,
                                &w.party_hash,
                                &w.new_heads,
                                &now,
                            ],
                        )
                        .await
                        .map_err(db)?;
                    (claimed == 1).then_some(0)
                }
                Some(expected) => {
                    let lock = tx
                        .prepare_cached(
                            "SELECT heads, next_chunk FROM docs WHERE id = $1 FOR UPDATE",
                        )
                        .await
                        .map_err(db)?;
                    match tx.query_opt(&lock, &[&w.doc_id]).await.map_err(db)? {
                        Some(row) => {
                            let heads: &[u8] = row.try_get(0).map_err(db)?;
                            if heads == expected.as_slice() {
                                Some(row.try_get(1).map_err(db)?)
                            } else {
                                None
                            }
                        }
                        None => None,
                    }
                }
            };
            if next_chunks[i].is_some() {
                seen.insert(w.doc_id.as_str());
            }
        }
        // 2. Chunks and blob references.
        let del_chunks = tx
            .prepare_cached("DELETE FROM chunks WHERE doc_id = $1")
            .await
            .map_err(db)?;
        let ins = tx
            .prepare_cached("INSERT INTO chunks(doc_id, n, bytes) VALUES ($1, $2, $3)")
            .await
            .map_err(db)?;
        let del_blobs = tx
            .prepare_cached("DELETE FROM doc_blobs WHERE doc_id = $1")
            .await
            .map_err(db)?;
        let ins_blobs = tx
            .prepare_cached(
                "INSERT INTO doc_blobs(sha256, doc_id)
                 SELECT DISTINCT s, $2 FROM unnest($1::text[]) s
                 ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(db)?;
        for (w, next_chunk) in writes.iter().zip(&next_chunks) {
            let Some(next_chunk) = next_chunk else {
                continue;
            };
            if w.replace {
                tx.execute(&del_chunks, &[&w.doc_id]).await.map_err(db)?;
            }
            tx.execute(&ins, &[&w.doc_id, next_chunk, &w.chunk])
                .await
                .map_err(db)?;
            tx.execute(&del_blobs, &[&w.doc_id]).await.map_err(db)?;
            if !w.blob_refs.is_empty() {
                tx.execute(&ins_blobs, &[&w.blob_refs, &w.doc_id])
                    .await
                    .map_err(db)?;
            }
            for n in &w.numbers {
                tx.execute(
                    "INSERT INTO document_numbers(series, year, seq, document_id, case_id,
                        device_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[
                        &n.series,
                        &n.year,
                        &n.seq,
                        &n.document_id,
                        &w.doc_id,
                        &n.device_id,
                    ],
                )
                .await
                .map_err(db)?;
            }
        }
        let written = next_chunks.iter().filter(|n| n.is_some()).count();
        if written == 0 {
            tx.commit().await.map_err(db)?;
            return Ok(vec![WriteOutcome::Conflict; writes.len()]);
        }
        // 3. The feed positions, last, so the counter row is locked only until commit: one
        //    range for the batch, handed out in the order of `writes`.
        let written =
            i64::try_from(written).map_err(|_| ServerError::Database("batch too large".into()))?;
        let last: i64 = tx
            .query_one(
                "UPDATE feed_counter SET seq = seq + $1 WHERE id = 1 RETURNING seq",
                &[&written],
            )
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        let upd = tx
            .prepare_cached(
                "UPDATE docs SET unit = $2, party_hash = $3, heads = $4,
                    chunk_count = CASE WHEN $5 THEN 1
                                  ELSE (SELECT count(*) FROM chunks WHERE doc_id = $1) END,
                    next_chunk = $6, seq = $7, updated_at_ms = $8
                 WHERE id = $1",
            )
            .await
            .map_err(db)?;
        let mut seq = last - written;
        let mut out = Vec::with_capacity(writes.len());
        for (w, next_chunk) in writes.iter().zip(&next_chunks) {
            let Some(next_chunk) = next_chunk else {
                out.push(WriteOutcome::Conflict);
                continue;
            };
            seq += 1;
            tx.execute(
                &upd,
                &[
                    &w.doc_id,
                    &w.unit,
                    &w.party_hash,
                    &w.new_heads,
                    &w.replace,
                    &(next_chunk + 1),
                    &seq,
                    &now,
                ],
            )
            .await
            .map_err(db)?;
            out.push(WriteOutcome::Written(seq));
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn docs_by_party(&self, party_hash: &str) -> Result<Vec<String>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id FROM docs
                 WHERE party_hash = $1 AND kind = 'case' AND seq IS NOT NULL ORDER BY id",
                &[&party_hash],
            )
            .await
            .map_err(db)?;
        rows.iter().map(|r| r.try_get(0).map_err(db)).collect()
    }

    async fn latest_seq(&self) -> Result<i64> {
        let c = self.client().await?;
        c.query_one("SELECT seq FROM feed_counter WHERE id = 1", &[])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)
    }

    async fn feed(&self, q: FeedQuery) -> Result<Vec<FeedItem>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT seq, id, kind, heads FROM docs
                 WHERE seq > $1 AND seq <= $2 AND kind = ANY($3::text[]) AND {}
                 ORDER BY seq LIMIT $5",
                scope_sql("unit", 4)
            ))
            .await
            .map_err(db)?;
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let rows = c
            .query(
                &stmt,
                &[&q.after, &q.upto, &kinds(&q.kinds), &q.scopes, &limit],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(FeedItem {
                    seq: r.try_get(0).map_err(db)?,
                    doc_id: r.try_get(1).map_err(db)?,
                    kind: kind_of(r.try_get(2).map_err(db)?)?,
                    heads: r.try_get(3).map_err(db)?,
                })
            })
            .collect()
    }

    async fn doc_count(&self) -> Result<i64> {
        let c = self.client().await?;
        c.query_one("SELECT count(*) FROM docs WHERE seq IS NOT NULL", &[])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)
    }

    async fn blob(&self, sha256: &str) -> Result<Option<BlobRecord>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT sha256, size, stored_at_ms, device_id FROM blobs WHERE sha256 = $1",
                &[&sha256],
            )
            .await
            .map_err(db)?;
        row.map(|r| {
            Ok(BlobRecord {
                sha256: r.try_get(0).map_err(db)?,
                size: to_u64(r.try_get(1).map_err(db)?),
                stored_at_ms: r.try_get(2).map_err(db)?,
                device_id: r.try_get(3).map_err(db)?,
            })
        })
        .transpose()
    }

    async fn insert_blob(&self, b: BlobRecord) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute(
            "INSERT INTO blobs(sha256, size, stored_at_ms, device_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256) DO NOTHING",
            &[&b.sha256, &to_i64(b.size), &b.stored_at_ms, &b.device_id],
        )
        .await
        .map_err(db)?;
        tx.execute(
            "DELETE FROM upload_sessions WHERE sha256 = $1",
            &[&b.sha256],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn upload_session(&self, sha256: &str) -> Result<Option<UploadSession>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT sha256, device_id, received, total, updated_at_ms FROM upload_sessions
                 WHERE sha256 = $1",
                &[&sha256],
            )
            .await
            .map_err(db)?;
        row.map(|r| session_row(&r)).transpose()
    }

    async fn claim_upload_session(&self, s: UploadSession, idle_before_ms: i64) -> Result<bool> {
        let c = self.client().await?;
        // One statement: the primary key serialises two claimants; the loser's conflict
        // update sees the winner's fresh row and its WHERE leaves it alone.
        let n = c
            .execute(
                "INSERT INTO upload_sessions(sha256, device_id, received, total, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (sha256) DO UPDATE SET device_id = excluded.device_id,
                    received = excluded.received, total = excluded.total,
                    updated_at_ms = excluded.updated_at_ms
                 WHERE upload_sessions.updated_at_ms < $6",
                &[
                    &s.sha256,
                    &s.device_id,
                    &to_i64(s.received),
                    &to_i64(s.total),
                    &s.updated_at_ms,
                    &idle_before_ms,
                ],
            )
            .await
            .map_err(db)?;
        Ok(n == 1)
    }

    async fn release_upload_session(&self, sha256: &str, device_id: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM upload_sessions WHERE sha256 = $1 AND device_id = $2",
            &[&sha256, &device_id],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn put_upload_session(&self, s: UploadSession) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO upload_sessions(sha256, device_id, received, total, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (sha256) DO UPDATE SET device_id = excluded.device_id,
                received = excluded.received, total = excluded.total,
                updated_at_ms = excluded.updated_at_ms",
            &[
                &s.sha256,
                &s.device_id,
                &to_i64(s.received),
                &to_i64(s.total),
                &s.updated_at_ms,
            ],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn blob_referenced(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds_in: &[RecordKind],
    ) -> Result<bool> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT EXISTS(SELECT 1 FROM doc_blobs b JOIN docs d ON d.id = b.doc_id
             WHERE b.sha256 = $1 AND d.seq IS NOT NULL AND d.kind = ANY($3::text[]) AND {})",
            scope_sql("d.unit", 2)
        );
        let scopes = scopes.to_vec();
        c.query_one(&sql, &[&sha256, &scopes, &kinds(kinds_in)])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)
    }

    async fn anchor_blob(
        &self,
        sha256: &str,
        device_id: &str,
        scopes: &[String],
        kinds_in: &[RecordKind],
        at_ms: i64,
    ) -> Result<u64> {
        let c = self.client().await?;
        let sql = format!(
            "INSERT INTO blob_anchors(sha256, doc_id, device_id, anchored_at_ms)
             SELECT b.sha256, b.doc_id, $4, $5 FROM doc_blobs b JOIN docs d ON d.id = b.doc_id
             WHERE b.sha256 = $1 AND d.seq IS NOT NULL AND d.kind = ANY($3::text[]) AND {}
             ON CONFLICT DO NOTHING",
            scope_sql("d.unit", 2)
        );
        let scopes = scopes.to_vec();
        c.execute(
            &sql,
            &[&sha256, &scopes, &kinds(kinds_in), &device_id, &at_ms],
        )
        .await
        .map_err(db)
    }

    async fn blob_readable(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds_in: &[RecordKind],
    ) -> Result<bool> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT EXISTS(SELECT 1 FROM blob_anchors a
             JOIN doc_blobs b ON b.sha256 = a.sha256 AND b.doc_id = a.doc_id
             JOIN docs d ON d.id = a.doc_id
             WHERE a.sha256 = $1 AND d.seq IS NOT NULL AND d.kind = ANY($3::text[]) AND {})",
            scope_sql("d.unit", 2)
        );
        let scopes = scopes.to_vec();
        c.query_one(&sql, &[&sha256, &scopes, &kinds(kinds_in)])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)
    }

    async fn doc_ids(&self) -> Result<Vec<String>> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT id FROM docs WHERE seq IS NOT NULL ORDER BY id", &[])
            .await
            .map_err(db)?;
        rows.iter().map(|r| r.try_get(0).map_err(db)).collect()
    }

    async fn all_blobs(&self) -> Result<Vec<BlobRecord>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT sha256, size, stored_at_ms, device_id FROM blobs ORDER BY sha256",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(BlobRecord {
                    sha256: r.try_get(0).map_err(db)?,
                    size: to_u64(r.try_get(1).map_err(db)?),
                    stored_at_ms: r.try_get(2).map_err(db)?,
                    device_id: r.try_get(3).map_err(db)?,
                })
            })
            .collect()
    }

    async fn upload_sessions(&self) -> Result<Vec<UploadSession>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT sha256, device_id, received, total, updated_at_ms FROM upload_sessions
                 ORDER BY sha256",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter().map(session_row).collect()
    }

    async fn create_login_token(&self, t: LoginToken) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO login_tokens(token_hash, user_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
            &[
                &t.token_hash.as_slice(),
                &t.user_id,
                &t.created_at_ms,
                &t.expires_at_ms,
            ],
        )
        .await
        .map_err(|e| {
            if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                ServerError::NotFound(format!("user {}", t.user_id))
            } else {
                db(e)
            }
        })?;
        Ok(())
    }

    async fn redeem_login_token(
        &self,
        token_hash: [u8; 32],
        now_ms: i64,
        session: WebSession,
    ) -> Result<User> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let user_id = redeem_once(&tx, OneTime::LoginToken, &token_hash, now_ms).await?;
        tx.execute(
            "INSERT INTO web_sessions(session_hash, user_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
            &[
                &session.session_hash.as_slice(),
                &user_id,
                &session.created_at_ms,
                &session.expires_at_ms,
            ],
        )
        .await
        .map_err(db)?;
        let row = tx
            .query_one(
                "SELECT id, name, role, unit, created_at_ms FROM users WHERE id = $1",
                &[&user_id],
            )
            .await
            .map_err(db)?;
        let user = user_row(&row, 0)?;
        tx.commit().await.map_err(db)?;
        Ok(user)
    }

    async fn session_user(&self, session_hash: [u8; 32], now_ms: i64) -> Result<Option<User>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT u.id, u.name, u.role, u.unit, u.created_at_ms
                 FROM web_sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.session_hash = $1 AND s.expires_at_ms > $2",
                &[&session_hash.as_slice(), &now_ms],
            )
            .await
            .map_err(db)?;
        row.map(|r| user_row(&r, 0)).transpose()
    }

    async fn end_user_sessions(&self, user_id: &str, at_ms: i64) -> Result<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let n = pg_end_user_sessions(&tx, user_id, at_ms).await?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn end_session(&self, session_hash: [u8; 32]) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM web_sessions WHERE session_hash = $1",
            &[&session_hash.as_slice()],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn append_audits(
        &self,
        events: Vec<AuditEvent>,
        key: &SigningKey,
    ) -> Result<Vec<AuditEntry>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let row = tx
            .query_one(
                "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await
            .map_err(db)?;
        let mut seq: i64 = row.try_get(0).map_err(db)?;
        let mut hash: String = row.try_get(1).map_err(db)?;
        let mut written = Vec::with_capacity(events.len());
        for event in events {
            let entry = crate::audit::entry_after(seq, &hash, event, key);
            tx.execute(
                "INSERT INTO audit_log(seq, at_ms, actor, action, case_id, detail, prev_hash, hash,
                                   signature)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &entry.seq,
                    &entry.event.at_ms,
                    &entry.event.actor,
                    &entry.event.action,
                    &entry.event.case_id,
                    &entry.event.detail,
                    &entry.prev_hash,
                    &entry.hash,
                    &entry.signature,
                ],
            )
            .await
            .map_err(db)?;
            seq = entry.seq;
            hash = entry.hash.clone();
            written.push(entry);
        }
        if let Some(last) = written.last() {
            let head = crate::audit::head_for(last, key);
            tx.execute(
                "UPDATE audit_head SET seq = $1, hash = $2, signature = $3 WHERE id = 1",
                &[&head.seq, &head.hash, &head.signature],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(written)
    }

    async fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT seq, at_ms, actor, action, case_id, detail, prev_hash, hash, signature
                 FROM audit_log ORDER BY seq",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.try_get(0).map_err(db)?,
                    event: AuditEvent {
                        at_ms: r.try_get(1).map_err(db)?,
                        actor: r.try_get(2).map_err(db)?,
                        action: r.try_get(3).map_err(db)?,
                        case_id: r.try_get(4).map_err(db)?,
                        detail: r.try_get(5).map_err(db)?,
                    },
                    prev_hash: r.try_get(6).map_err(db)?,
                    hash: r.try_get(7).map_err(db)?,
                    signature: r.try_get(8).map_err(db)?,
                })
            })
            .collect()
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>> {
        let c = self.client().await?;
        let r = c
            .query_one(
                "SELECT seq, hash, signature FROM audit_head WHERE id = 1",
                &[],
            )
            .await
            .map_err(db)?;
        let head = AuditHead {
            seq: r.try_get(0).map_err(db)?,
            hash: r.try_get(1).map_err(db)?,
            signature: r.try_get(2).map_err(db)?,
        };
        Ok((head.seq > 0).then_some(head))
    }
}

fn session_row(r: &tokio_postgres::Row) -> Result<UploadSession> {
    Ok(UploadSession {
        sha256: r.try_get(0).map_err(db)?,
        device_id: r.try_get(1).map_err(db)?,
        received: to_u64(r.try_get(2).map_err(db)?),
        total: to_u64(r.try_get(3).map_err(db)?),
        updated_at_ms: r.try_get(4).map_err(db)?,
    })
}

/// Marks an unused, unexpired one-time secret (an enrolment code or a dashboard login token,
/// by its hash) used and returns its user; `InvalidCode` for one that is unknown, used or
/// expired. One statement, so two redemptions racing (on any instance) cannot both succeed.
async fn redeem_once(
    tx: &tokio_postgres::Transaction<'_>,
    kind: OneTime,
    hash: &[u8; 32],
    now_ms: i64,
) -> Result<String> {
    let sql = match kind {
        OneTime::EnrolmentCode => {
            "UPDATE enrolment_codes SET used_at_ms = $2
             WHERE code_hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2
             RETURNING user_id"
        }
        OneTime::LoginToken => {
            "UPDATE login_tokens SET used_at_ms = $2
             WHERE token_hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2
             RETURNING user_id"
        }
    };
    let row = tx
        .query_opt(sql, &[&hash.as_slice(), &now_ms])
        .await
        .map_err(db)?
        .ok_or(ServerError::InvalidCode)?;
    row.try_get(0).map_err(db)
}
