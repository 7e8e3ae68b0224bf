//! The embedded storage backend: one SQLite file (WAL), one writer connection behind a mutex
//! and a small pool of readers, every call run on tokio's blocking pool.

use super::*;
use crate::error::ServerError;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

mod catalogue_store;
mod number_store;

/// Numbered migrations; index + 1 is the version each brings the file to. Never edit one that
/// shipped: add another.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE settings (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE units (path TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE users (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, unit TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE enrolment_codes (
        code_hash BLOB PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
        created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL, used_at_ms INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE devices (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), label TEXT NOT NULL,
        public_key TEXT NOT NULL, credential_hash BLOB NOT NULL UNIQUE,
        enrolled_at_ms INTEGER NOT NULL, revoked_at_ms INTEGER, last_seen_ms INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE feed_counter (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
    INSERT INTO feed_counter(id, seq) VALUES (1, 0);
    CREATE TABLE docs (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, unit TEXT NOT NULL, party_hash TEXT,
        heads BLOB NOT NULL, chunk_count INTEGER NOT NULL, next_chunk INTEGER NOT NULL,
        seq INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX docs_seq ON docs(seq);
    CREATE INDEX docs_party ON docs(party_hash) WHERE party_hash IS NOT NULL;
    CREATE TABLE chunks (
        doc_id TEXT NOT NULL, n INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (doc_id, n)
    ) WITHOUT ROWID;
    CREATE TABLE doc_blobs (
        sha256 TEXT NOT NULL, doc_id TEXT NOT NULL, PRIMARY KEY (sha256, doc_id)
    ) WITHOUT ROWID;
    CREATE INDEX doc_blobs_doc ON doc_blobs(doc_id);
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, stored_at_ms INTEGER NOT NULL,
        device_id TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE upload_sessions (
        sha256 TEXT PRIMARY KEY, device_id TEXT NOT NULL, received INTEGER NOT NULL,
        total INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
"#,
    r#"
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, case_id TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL, signature TEXT NOT NULL
    );
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL,
        signature TEXT NOT NULL
    );
    INSERT INTO audit_head(id, seq, hash, signature)
        VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', '');
    CREATE TABLE login_tokens (
        token_hash BLOB PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
        created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL, used_at_ms INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE web_sessions (
        session_hash BLOB PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
        created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
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
        bound_at_ms INTEGER NOT NULL, source TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX device_actors_device ON device_actors(device_id);
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, kind TEXT NOT NULL,
        sender_device TEXT NOT NULL, sender_user TEXT NOT NULL, revoked_devices TEXT NOT NULL,
        received_at_ms INTEGER NOT NULL, hashes TEXT NOT NULL, changes BLOB NOT NULL,
        status TEXT NOT NULL, settled_at_ms INTEGER
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
        anchored_at_ms INTEGER NOT NULL, PRIMARY KEY (sha256, doc_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO blob_anchors(sha256, doc_id, device_id, anchored_at_ms)
        SELECT b.sha256, r.doc_id, b.device_id, b.stored_at_ms
        FROM blobs b JOIN doc_blobs r ON r.sha256 = b.sha256;
"#,
    // 6: catalogues an operator published (`admin catalogue publish`): the canonical bundle
    // bytes and the server's signature over their digest and version. Phones receive the
    // newest through sync; every version stays, to judge the cases recorded under it.
    r#"
    CREATE TABLE catalogues (
        version TEXT PRIMARY KEY, digest TEXT NOT NULL, signature TEXT NOT NULL,
        bundle BLOB NOT NULL, published_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
"#,
    // 7: enforcement documents: officers' certificate numbers (执法证号), the number blocks
    // reserved per device, and the numbers documents took (one row per document, so a
    // number taken twice shows as two rows).
    r#"
    CREATE TABLE officer_certs (
        user_id TEXT PRIMARY KEY REFERENCES users(id), cert_no TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE number_blocks (
        series TEXT NOT NULL, year INTEGER NOT NULL, first INTEGER NOT NULL,
        last INTEGER NOT NULL, device_id TEXT NOT NULL, reserved_at_ms INTEGER NOT NULL,
        PRIMARY KEY (series, year, first)
    ) WITHOUT ROWID;
    CREATE INDEX number_blocks_device ON number_blocks(device_id);
    CREATE TABLE document_numbers (
        series TEXT NOT NULL, year INTEGER NOT NULL, seq INTEGER NOT NULL,
        document_id TEXT NOT NULL, case_id TEXT NOT NULL, device_id TEXT NOT NULL,
        PRIMARY KEY (series, year, seq, document_id)
    ) WITHOUT ROWID;
"#,
];

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

fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Err(ServerError::Config(format!(
            "database schema {found} is newer than this build ({known})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn kind_of(s: &str) -> rusqlite::Result<RecordKind> {
    RecordKind::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown kind {s}").into(),
        )
    })
}

fn role_of(s: &str) -> rusqlite::Result<Role> {
    Role::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown role {s}").into(),
        )
    })
}

fn hash32(v: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "hash is not 32 bytes".into(),
        )
    })
}

/// Marks an unused, unexpired one-time secret (an enrolment code or a dashboard login token,
/// by its hash) used and returns its user; `InvalidCode` for one that is unknown, used or
/// expired. One statement, so two redemptions racing cannot both succeed.
fn redeem_once(
    tx: &rusqlite::Transaction<'_>,
    kind: OneTime,
    hash: &[u8; 32],
    now_ms: i64,
) -> Result<String> {
    let sql = match kind {
        OneTime::EnrolmentCode => {
            "UPDATE enrolment_codes SET used_at_ms = ?2
             WHERE code_hash = ?1 AND used_at_ms IS NULL AND expires_at_ms > ?2
             RETURNING user_id"
        }
        OneTime::LoginToken => {
            "UPDATE login_tokens SET used_at_ms = ?2
             WHERE token_hash = ?1 AND used_at_ms IS NULL AND expires_at_ms > ?2
             RETURNING user_id"
        }
    };
    tx.query_row(sql, params![hash.to_vec(), now_ms], |r| r.get(0))
        .optional()?
        .ok_or(ServerError::InvalidCode)
}

fn user_row(r: &rusqlite::Row<'_>, base: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(base)?,
        name: r.get(base + 1)?,
        role: role_of(&r.get::<_, String>(base + 2)?)?,
        unit: r.get(base + 3)?,
        created_at_ms: r.get(base + 4)?,
    })
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        id: r.get(0)?,
        user_id: r.get(1)?,
        label: r.get(2)?,
        public_key: r.get(3)?,
        enrolled_at_ms: r.get(4)?,
        revoked_at_ms: r.get(5)?,
        last_seen_ms: r.get(6)?,
        revoke_wipe: r
            .get::<_, Option<String>>(7)?
            .as_deref()
            .and_then(WipeScope::parse),
    })
}

const DEVICE_COLS: &str =
    "d.id, d.user_id, d.label, d.public_key, d.enrolled_at_ms, d.revoked_at_ms, d.last_seen_ms,
     d.revoke_wipe";

const QUARANTINE_COLS: &str = "id, doc_id, kind, sender_device, sender_user, revoked_devices,
     received_at_ms, hashes, status, settled_at_ms, changes";

fn quarantine_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QuarantineItem> {
    let status: String = r.get(8)?;
    Ok(QuarantineItem {
        id: r.get(0)?,
        doc_id: r.get(1)?,
        kind: kind_of(&r.get::<_, String>(2)?)?,
        sender_device: r.get(3)?,
        sender_user: r.get(4)?,
        revoked_devices: r.get(5)?,
        received_at_ms: r.get(6)?,
        hashes: r.get(7)?,
        status: QuarantineStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                8,
                rusqlite::types::Type::Text,
                format!("unknown quarantine status {status}").into(),
            )
        })?,
        settled_at_ms: r.get(9)?,
        changes: r.get(10)?,
    })
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

/// `unit = ?scope OR unit LIKE scope || '/%'`, written with substr so `_` and `%` in paths
/// are not patterns.
fn scope_sql(scopes: &[String], first_param: usize) -> String {
    if scopes.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = (0..scopes.len())
        .map(|i| {
            let p = first_param + i;
            format!("(unit = ?{p} OR substr(unit, 1, length(?{p}) + 1) = ?{p} || '/')")
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

fn kinds_sql(kinds: &[RecordKind]) -> String {
    if kinds.is_empty() {
        return "0".into();
    }
    let list: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
    format!("kind IN ({})", list.join(","))
}

impl SqliteStorage {
    /// Opens (creating and migrating) the database file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut writer = Connection::open(&path)?;
        writer.busy_timeout(std::time::Duration::from_secs(30))?;
        let mode: String = writer.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(ServerError::Config(format!(
                "journal mode {mode}, expected wal"
            )));
        }
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", true)?;
        migrate(&mut writer)?;
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

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let i = inner
                .next_reader
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                % inner.readers.len();
            let conn = lock(&inner.readers[i]);
            f(&conn)
        })
        .await
        .map_err(|e| ServerError::Task(e.to_string()))?
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| ServerError::Task(e.to_string()))?
    }
}

/// Ends a user's dashboard sessions and voids their unredeemed login links.
fn end_user_sessions(tx: &rusqlite::Transaction<'_>, user_id: &str, at_ms: i64) -> Result<u64> {
    let n = tx.execute("DELETE FROM web_sessions WHERE user_id = ?1", [user_id])?;
    tx.execute(
        "UPDATE login_tokens SET used_at_ms = ?2 WHERE user_id = ?1 AND used_at_ms IS NULL",
        params![user_id, at_ms],
    )?;
    Ok(n as u64)
}

/// One document write inside the caller's transaction: later writes of a batch see earlier
/// ones, so the same document twice in a batch conflicts the second time.
fn write_one(tx: &rusqlite::Transaction<'_>, w: &DocWrite) -> Result<WriteOutcome> {
    let current: Option<(Vec<u8>, i64)> = tx
        .prepare_cached("SELECT heads, next_chunk FROM docs WHERE id = ?1")?
        .query_row([&w.doc_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match (&current, &w.expected_heads) {
        (None, None) => {}
        (Some((h, _)), Some(e)) if h == e => {}
        _ => return Ok(WriteOutcome::Conflict),
    }
    let seq: i64 = tx
        .prepare_cached("UPDATE feed_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq")?
        .query_row([], |r| r.get(0))?;
    let now = fieldcase_core::ids::now_ms();
    let next_chunk = current.as_ref().map(|c| c.1).unwrap_or(0);
    if w.replace {
        tx.prepare_cached("DELETE FROM chunks WHERE doc_id = ?1")?
            .execute([&w.doc_id])?;
    }
    tx.prepare_cached("INSERT INTO chunks(doc_id, n, bytes) VALUES (?1, ?2, ?3)")?
        .execute(params![w.doc_id, next_chunk, w.chunk])?;
    let count_sql = if w.replace {
        "1"
    } else {
        "(SELECT count(*) FROM chunks WHERE doc_id = ?1)"
    };
    tx.prepare_cached(&format!(
        "INSERT INTO docs(id, kind, unit, party_hash, heads, chunk_count, next_chunk,
                          seq, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, {count_sql}, ?6, ?7, ?8)
         ON CONFLICT(id) DO UPDATE SET unit = excluded.unit,
            party_hash = excluded.party_hash, heads = excluded.heads,
            chunk_count = excluded.chunk_count, next_chunk = excluded.next_chunk,
            seq = excluded.seq, updated_at_ms = excluded.updated_at_ms"
    ))?
    .execute(params![
        w.doc_id,
        w.kind.as_str(),
        w.unit,
        w.party_hash,
        w.new_heads,
        next_chunk + 1,
        seq,
        now
    ])?;
    tx.prepare_cached("DELETE FROM doc_blobs WHERE doc_id = ?1")?
        .execute([&w.doc_id])?;
    for sha in &w.blob_refs {
        tx.prepare_cached("INSERT OR IGNORE INTO doc_blobs(sha256, doc_id) VALUES (?1, ?2)")?
            .execute(params![sha, w.doc_id])?;
    }
    for n in &w.numbers {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO document_numbers(series, year, seq, document_id, case_id,
                device_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            n.series,
            n.year,
            n.seq,
            n.document_id,
            w.doc_id,
            n.device_id
        ])?;
    }
    Ok(WriteOutcome::Written(seq))
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn setting(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = key.to_string();
        self.read(move |c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await
    }

    async fn setting_or_insert(&self, key: &str, value: Vec<u8>) -> Result<Vec<u8>> {
        let key = key.to_string();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
                params![key, value],
            )?;
            Ok(
                tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn delete_setting(&self, key: &str) -> Result<bool> {
        let key = key.to_string();
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || -> Result<bool> {
            let mut conn = lock(&inner.writer);
            let exists: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM settings WHERE key = ?1)",
                [&key],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(false);
            }
            // Zero the freed cell in the page, then fold the WAL (which holds older images
            // of the page) into the file and cut it to nothing.
            conn.pragma_update(None, "secure_delete", true)?;
            let deleted = (|| -> Result<()> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute("DELETE FROM settings WHERE key = ?1", [&key])?;
                tx.commit()?;
                Ok(())
            })();
            conn.pragma_update(None, "secure_delete", false)?;
            deleted?;
            let (busy, _, _): (i64, i64, i64) =
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            if busy != 0 {
                tracing::warn!("WAL checkpoint after deleting a setting was blocked by a reader");
            }
            Ok(true)
        })
        .await
        .map_err(|e| ServerError::Task(e.to_string()))?
    }

    async fn create_unit(&self, unit: Unit) -> Result<()> {
        self.write(move |tx| {
            match tx.execute(
                "INSERT INTO units(path, name) VALUES (?1, ?2)",
                params![unit.path, unit.name],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e) => {
                    Err(ServerError::Conflict(format!("unit {} exists", unit.path)))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn units(&self) -> Result<Vec<Unit>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT path, name FROM units ORDER BY path")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(Unit {
                        path: r.get(0)?,
                        name: r.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn create_user(&self, user: User) -> Result<()> {
        self.write(move |tx| {
            match tx.execute(
                "INSERT INTO users(id, name, role, unit, created_at_ms) VALUES (?1,?2,?3,?4,?5)",
                params![
                    user.id,
                    user.name,
                    user.role.as_str(),
                    user.unit,
                    user.created_at_ms
                ],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e) => {
                    Err(ServerError::Conflict(format!("user {} exists", user.id)))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        let id = id.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, name, role, unit, created_at_ms FROM users WHERE id = ?1",
                [id],
                |r| user_row(r, 0),
            )
            .optional()?)
        })
        .await
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, name, role, unit, created_at_ms FROM users ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| user_row(r, 0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn create_enrolment_code(&self, code: EnrolmentCode) -> Result<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO enrolment_codes(code_hash, user_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    code.code_hash.to_vec(),
                    code.user_id,
                    code.created_at_ms,
                    code.expires_at_ms
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn redeem_enrolment_code(
        &self,
        code_hash: [u8; 32],
        now_ms: i64,
        device: NewDevice,
    ) -> Result<Device> {
        self.write(move |tx| {
            let user_id = redeem_once(tx, OneTime::EnrolmentCode, &code_hash, now_ms)?;
            tx.execute(
                "INSERT INTO devices(id, user_id, label, public_key, credential_hash,
                                     enrolled_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    device.id,
                    user_id,
                    device.label,
                    device.public_key,
                    device.credential_hash.to_vec(),
                    device.enrolled_at_ms
                ],
            )?;
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
        })
        .await
    }

    async fn device_by_credential(&self, credential_hash: [u8; 32]) -> Result<Option<DeviceAuth>> {
        self.read(move |c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {DEVICE_COLS}, u.id, u.name, u.role, u.unit, u.created_at_ms,
                            d.credential_hash
                     FROM devices d JOIN users u ON u.id = d.user_id
                     WHERE d.credential_hash = ?1"
                ),
                [credential_hash.to_vec()],
                |r| {
                    Ok(DeviceAuth {
                        device: device_row(r)?,
                        user: user_row(r, 8)?,
                        credential_hash: hash32(r.get(13)?)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<Device>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {DEVICE_COLS} FROM devices d ORDER BY d.enrolled_at_ms, d.id"
            ))?;
            let rows = stmt
                .query_map([], device_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn revoke_device(&self, id: &str, at_ms: i64, wipe: WipeScope) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, ?2), revoke_wipe = ?3
                 WHERE id = ?1",
                params![id, at_ms, wipe.as_str()],
            )?;
            if n > 0 {
                let user: String =
                    tx.query_row("SELECT user_id FROM devices WHERE id = ?1", [&id], |r| {
                        r.get(0)
                    })?;
                end_user_sessions(tx, &user, at_ms)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn bind_actor(
        &self,
        actor: &str,
        device_id: &str,
        at_ms: i64,
        source: &str,
    ) -> Result<String> {
        let (actor, device_id, source) =
            (actor.to_string(), device_id.to_string(), source.to_string());
        // Every sync declares its actor: answer from a reader once bound, so the common
        // case takes no write lock.
        let known = actor.clone();
        let bound: Option<String> = self
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT device_id FROM device_actors WHERE actor = ?1",
                    [&known],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?;
        if let Some(d) = bound {
            return Ok(d);
        }
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO device_actors(actor, device_id, bound_at_ms, source)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(actor) DO NOTHING",
                params![actor, device_id, at_ms, source],
            )?;
            Ok(tx.query_row(
                "SELECT device_id FROM device_actors WHERE actor = ?1",
                [&actor],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn actor_device(&self, actor: &str) -> Result<Option<String>> {
        let actor = actor.to_ascii_lowercase();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT device_id FROM device_actors WHERE actor = ?1",
                [&actor],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn revoked_actors(&self) -> Result<Vec<RevokedActor>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.actor, a.device_id, d.revoked_at_ms, d.revoke_wipe FROM device_actors a
                 JOIN devices d ON d.id = a.device_id
                 WHERE d.revoked_at_ms IS NOT NULL ORDER BY a.actor",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(RevokedActor {
                        actor: r.get(0)?,
                        device_id: r.get(1)?,
                        revoked_at_ms: r.get(2)?,
                        revoke_wipe: r
                            .get::<_, Option<String>>(3)?
                            .as_deref()
                            .and_then(WipeScope::parse),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn add_quarantine(&self, q: NewQuarantine) -> Result<Option<i64>> {
        self.write(move |tx| {
            let dup: Option<i64> = tx
                .query_row(
                    "SELECT id FROM quarantine
                     WHERE doc_id = ?1 AND hashes = ?2 AND status = 'pending'",
                    params![q.doc_id, q.hashes],
                    |r| r.get(0),
                )
                .optional()?;
            if dup.is_some() {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO quarantine(doc_id, kind, sender_device, sender_user,
                     revoked_devices, received_at_ms, hashes, changes, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
                params![
                    q.doc_id,
                    q.kind.as_str(),
                    q.sender_device,
                    q.sender_user,
                    q.revoked_devices,
                    q.received_at_ms,
                    q.hashes,
                    q.changes
                ],
            )?;
            Ok(Some(tx.last_insert_rowid()))
        })
        .await
    }

    async fn quarantine(&self, all: bool) -> Result<Vec<QuarantineItem>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {QUARANTINE_COLS} FROM quarantine
                 WHERE ?1 OR status = 'pending' ORDER BY id"
            ))?;
            let rows = stmt
                .query_map([all], quarantine_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn quarantine_item(&self, id: i64) -> Result<Option<QuarantineItem>> {
        self.read(move |c| {
            Ok(c.query_row(
                &format!("SELECT {QUARANTINE_COLS} FROM quarantine WHERE id = ?1"),
                [id],
                quarantine_row,
            )
            .optional()?)
        })
        .await
    }

    async fn settle_quarantine(
        &self,
        id: i64,
        status: QuarantineStatus,
        at_ms: i64,
    ) -> Result<bool> {
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE quarantine SET status = ?2, settled_at_ms = ?3
                 WHERE id = ?1 AND status = 'pending'",
                params![id, status.as_str(), at_ms],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn touch_device(&self, id: &str, at_ms: i64) -> Result<()> {
        let id = id.to_string();
        self.write(move |tx| {
            tx.execute(
                "UPDATE devices SET last_seen_ms = ?2 WHERE id = ?1",
                params![id, at_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn load_doc(&self, doc_id: &str) -> Result<Option<StoredDoc>> {
        let id = doc_id.to_string();
        self.read(move |c| load_doc_in(c, id)).await
    }

    async fn load_docs(&self, doc_ids: &[String]) -> Result<Vec<Option<StoredDoc>>> {
        let ids = doc_ids.to_vec();
        self.read(move |c| ids.into_iter().map(|id| load_doc_in(c, id)).collect())
            .await
    }

    async fn write_docs(&self, writes: Vec<DocWrite>) -> Result<Vec<WriteOutcome>> {
        self.write(move |tx| writes.iter().map(|w| write_one(tx, w)).collect())
            .await
    }

    async fn docs_by_party(&self, party_hash: &str) -> Result<Vec<String>> {
        let h = party_hash.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id FROM docs WHERE party_hash = ?1 AND kind = 'case' ORDER BY id",
            )?;
            let rows = stmt
                .query_map([h], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn latest_seq(&self) -> Result<i64> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT seq FROM feed_counter WHERE id = 1", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn feed(&self, q: FeedQuery) -> Result<Vec<FeedItem>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT seq, id, kind, heads FROM docs
                 WHERE seq > ?1 AND seq <= ?2 AND {} AND {}
                 ORDER BY seq LIMIT ?3",
                kinds_sql(&q.kinds),
                scope_sql(&q.scopes, 4)
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&q.after, &q.upto];
            let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
            params.push(&limit);
            for s in &q.scopes {
                params.push(s);
            }
            let rows = stmt
                .query_map(params.as_slice(), |r| {
                    Ok(FeedItem {
                        seq: r.get(0)?,
                        doc_id: r.get(1)?,
                        kind: kind_of(&r.get::<_, String>(2)?)?,
                        heads: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn doc_count(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM docs", [], |r| r.get(0))?))
            .await
    }

    async fn blob(&self, sha256: &str) -> Result<Option<BlobRecord>> {
        let sha = sha256.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT sha256, size, stored_at_ms, device_id FROM blobs WHERE sha256 = ?1",
                [sha],
                |r| {
                    Ok(BlobRecord {
                        sha256: r.get(0)?,
                        size: r.get::<_, i64>(1)?.max(0) as u64,
                        stored_at_ms: r.get(2)?,
                        device_id: r.get(3)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    async fn insert_blob(&self, b: BlobRecord) -> Result<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO blobs(sha256, size, stored_at_ms, device_id)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    b.sha256,
                    i64::try_from(b.size).unwrap_or(i64::MAX),
                    b.stored_at_ms,
                    b.device_id
                ],
            )?;
            tx.execute("DELETE FROM upload_sessions WHERE sha256 = ?1", [&b.sha256])?;
            Ok(())
        })
        .await
    }

    async fn upload_session(&self, sha256: &str) -> Result<Option<UploadSession>> {
        let sha = sha256.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT sha256, device_id, received, total, updated_at_ms FROM upload_sessions
                 WHERE sha256 = ?1",
                [sha],
                |r| {
                    Ok(UploadSession {
                        sha256: r.get(0)?,
                        device_id: r.get(1)?,
                        received: r.get::<_, i64>(2)?.max(0) as u64,
                        total: r.get::<_, i64>(3)?.max(0) as u64,
                        updated_at_ms: r.get(4)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    async fn claim_upload_session(&self, s: UploadSession, idle_before_ms: i64) -> Result<bool> {
        self.write(move |tx| {
            let n = tx.execute(
                "INSERT INTO upload_sessions(sha256, device_id, received, total, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(sha256) DO UPDATE SET device_id = excluded.device_id,
                    received = excluded.received, total = excluded.total,
                    updated_at_ms = excluded.updated_at_ms
                 WHERE upload_sessions.updated_at_ms < ?6",
                params![
                    s.sha256,
                    s.device_id,
                    i64::try_from(s.received).unwrap_or(i64::MAX),
                    i64::try_from(s.total).unwrap_or(i64::MAX),
                    s.updated_at_ms,
                    idle_before_ms
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn release_upload_session(&self, sha256: &str, device_id: &str) -> Result<()> {
        let (sha, device) = (sha256.to_string(), device_id.to_string());
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM upload_sessions WHERE sha256 = ?1 AND device_id = ?2",
                params![sha, device],
            )?;
            Ok(())
        })
        .await
    }

    async fn put_upload_session(&self, s: UploadSession) -> Result<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO upload_sessions(sha256, device_id, received, total, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(sha256) DO UPDATE SET device_id = excluded.device_id,
                    received = excluded.received, total = excluded.total,
                    updated_at_ms = excluded.updated_at_ms",
                params![
                    s.sha256,
                    s.device_id,
                    i64::try_from(s.received).unwrap_or(i64::MAX),
                    i64::try_from(s.total).unwrap_or(i64::MAX),
                    s.updated_at_ms
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn blob_referenced(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds: &[RecordKind],
    ) -> Result<bool> {
        let sha = sha256.to_string();
        let scopes = scopes.to_vec();
        let kinds = kinds.to_vec();
        self.read(move |c| {
            let sql = format!(
                "SELECT EXISTS(SELECT 1 FROM doc_blobs b JOIN docs d ON d.id = b.doc_id
                 WHERE b.sha256 = ?1 AND {} AND {})",
                kinds_sql(&kinds).replace("kind", "d.kind"),
                scope_sql(&scopes, 2).replace("unit", "d.unit")
            );
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&sha];
            for s in &scopes {
                params.push(s);
            }
            Ok(c.query_row(&sql, params.as_slice(), |r| r.get(0))?)
        })
        .await
    }

    async fn anchor_blob(
        &self,
        sha256: &str,
        device_id: &str,
        scopes: &[String],
        kinds: &[RecordKind],
        at_ms: i64,
    ) -> Result<u64> {
        let sha = sha256.to_string();
        let device = device_id.to_string();
        let scopes = scopes.to_vec();
        let kinds = kinds.to_vec();
        self.write(move |tx| {
            let sql = format!(
                "INSERT OR IGNORE INTO blob_anchors(sha256, doc_id, device_id, anchored_at_ms)
                 SELECT b.sha256, b.doc_id, ?{dev}, ?{at} FROM doc_blobs b
                 JOIN docs d ON d.id = b.doc_id
                 WHERE b.sha256 = ?1 AND {} AND {}",
                kinds_sql(&kinds).replace("kind", "d.kind"),
                scope_sql(&scopes, 2).replace("unit", "d.unit"),
                dev = scopes.len() + 2,
                at = scopes.len() + 3,
            );
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&sha];
            for s in &scopes {
                params.push(s);
            }
            params.push(&device);
            params.push(&at_ms);
            Ok(tx.execute(&sql, params.as_slice())? as u64)
        })
        .await
    }

    async fn blob_readable(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds: &[RecordKind],
    ) -> Result<bool> {
        let sha = sha256.to_string();
        let scopes = scopes.to_vec();
        let kinds = kinds.to_vec();
        self.read(move |c| {
            let sql = format!(
                "SELECT EXISTS(SELECT 1 FROM blob_anchors a
                 JOIN doc_blobs b ON b.sha256 = a.sha256 AND b.doc_id = a.doc_id
                 JOIN docs d ON d.id = a.doc_id
                 WHERE a.sha256 = ?1 AND {} AND {})",
                kinds_sql(&kinds).replace("kind", "d.kind"),
                scope_sql(&scopes, 2).replace("unit", "d.unit")
            );
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&sha];
            for s in &scopes {
                params.push(s);
            }
            Ok(c.query_row(&sql, params.as_slice(), |r| r.get(0))?)
        })
        .await
    }

    async fn doc_ids(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id FROM docs ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn all_blobs(&self) -> Result<Vec<BlobRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT sha256, size, stored_at_ms, device_id FROM blobs ORDER BY sha256",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(BlobRecord {
                        sha256: r.get(0)?,
                        size: r.get::<_, i64>(1)?.max(0) as u64,
                        stored_at_ms: r.get(2)?,
                        device_id: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn upload_sessions(&self) -> Result<Vec<UploadSession>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT sha256, device_id, received, total, updated_at_ms FROM upload_sessions
                 ORDER BY sha256",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(UploadSession {
                        sha256: r.get(0)?,
                        device_id: r.get(1)?,
                        received: r.get::<_, i64>(2)?.max(0) as u64,
                        total: r.get::<_, i64>(3)?.max(0) as u64,
                        updated_at_ms: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn create_login_token(&self, t: LoginToken) -> Result<()> {
        self.write(move |tx| {
            match tx.execute(
                "INSERT INTO login_tokens(token_hash, user_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    t.token_hash.to_vec(),
                    t.user_id,
                    t.created_at_ms,
                    t.expires_at_ms
                ],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e) => {
                    Err(ServerError::NotFound(format!("user {}", t.user_id)))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn redeem_login_token(
        &self,
        token_hash: [u8; 32],
        now_ms: i64,
        session: WebSession,
    ) -> Result<User> {
        self.write(move |tx| {
            let user_id = redeem_once(tx, OneTime::LoginToken, &token_hash, now_ms)?;
            tx.execute(
                "INSERT INTO web_sessions(session_hash, user_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    session.session_hash.to_vec(),
                    user_id,
                    session.created_at_ms,
                    session.expires_at_ms
                ],
            )?;
            Ok(tx.query_row(
                "SELECT id, name, role, unit, created_at_ms FROM users WHERE id = ?1",
                [user_id],
                |r| user_row(r, 0),
            )?)
        })
        .await
    }

    async fn session_user(&self, session_hash: [u8; 32], now_ms: i64) -> Result<Option<User>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT u.id, u.name, u.role, u.unit, u.created_at_ms
                 FROM web_sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.session_hash = ?1 AND s.expires_at_ms > ?2",
                params![session_hash.to_vec(), now_ms],
                |r| user_row(r, 0),
            )
            .optional()?)
        })
        .await
    }

    async fn end_user_sessions(&self, user_id: &str, at_ms: i64) -> Result<u64> {
        let user_id = user_id.to_string();
        self.write(move |tx| end_user_sessions(tx, &user_id, at_ms))
            .await
    }

    async fn end_session(&self, session_hash: [u8; 32]) -> Result<()> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM web_sessions WHERE session_hash = ?1",
                [session_hash.to_vec()],
            )?;
            Ok(())
        })
        .await
    }

    async fn append_audits(
        &self,
        events: Vec<AuditEvent>,
        key: &SigningKey,
    ) -> Result<Vec<AuditEntry>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let key = key.clone();
        self.write(move |tx| {
            let (mut seq, mut hash): (i64, String) =
                tx.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let mut written = Vec::with_capacity(events.len());
            for event in events {
                let entry = crate::audit::entry_after(seq, &hash, event, &key);
                tx.execute(
                    "INSERT INTO audit_log(seq, at_ms, actor, action, case_id, detail, prev_hash,
                                       hash, signature)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        entry.seq,
                        entry.event.at_ms,
                        entry.event.actor,
                        entry.event.action,
                        entry.event.case_id,
                        entry.event.detail,
                        entry.prev_hash,
                        entry.hash,
                        entry.signature
                    ],
                )?;
                seq = entry.seq;
                hash = entry.hash.clone();
                written.push(entry);
            }
            if let Some(last) = written.last() {
                let head = crate::audit::head_for(last, &key);
                tx.execute(
                    "UPDATE audit_head SET seq = ?1, hash = ?2, signature = ?3 WHERE id = 1",
                    params![head.seq, head.hash, head.signature],
                )?;
            }
            Ok(written)
        })
        .await
    }

    async fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT seq, at_ms, actor, action, case_id, detail, prev_hash, hash, signature
                 FROM audit_log ORDER BY seq",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(AuditEntry {
                        seq: r.get(0)?,
                        event: AuditEvent {
                            at_ms: r.get(1)?,
                            actor: r.get(2)?,
                            action: r.get(3)?,
                            case_id: r.get(4)?,
                            detail: r.get(5)?,
                        },
                        prev_hash: r.get(6)?,
                        hash: r.get(7)?,
                        signature: r.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>> {
        self.read(|c| {
            let head = c.query_row(
                "SELECT seq, hash, signature FROM audit_head WHERE id = 1",
                [],
                |r| {
                    Ok(AuditHead {
                        seq: r.get(0)?,
                        hash: r.get(1)?,
                        signature: r.get(2)?,
                    })
                },
            )?;
            Ok((head.seq > 0).then_some(head))
        })
        .await
    }
}

/// One document read on `c` (a reader connection, or the writer inside a transaction).
fn load_doc_in(c: &Connection, id: String) -> Result<Option<StoredDoc>> {
    let row = c
        .prepare_cached("SELECT kind, unit, heads, chunk_count, seq FROM docs WHERE id = ?1")?
        .query_row([&id], |r| {
            Ok((
                kind_of(&r.get::<_, String>(0)?)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    let Some((kind, unit, heads, chunk_count, seq)) = row else {
        return Ok(None);
    };
    let mut stmt = c.prepare_cached("SELECT bytes FROM chunks WHERE doc_id = ?1 ORDER BY n")?;
    let mut rows = stmt.query([&id])?;
    let mut bytes = Vec::new();
    while let Some(r) = rows.next()? {
        bytes.extend_from_slice(r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
    }
    Ok(Some(StoredDoc {
        doc_id: id,
        kind,
        unit,
        heads,
        bytes,
        chunk_count,
        seq,
    }))
}

#[cfg(test)]
mod upgrade_tests {
    use super::*;

    /// A database left at schema 5 gains the published-catalogue table (6), keeping its rows.
    #[tokio::test]
    async fn schema_5_upgrades_to_6_and_can_publish_catalogues() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("server.db");
        {
            let mut conn = Connection::open(&path)?;
            for (i, sql) in MIGRATIONS.iter().take(5).enumerate() {
                let tx = conn.transaction()?;
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", i as i64 + 1)?;
                tx.commit()?;
            }
            conn.execute(
                "INSERT INTO settings(key, value) VALUES ('server_actor', x'01')",
                [],
            )?;
        }
        let s = SqliteStorage::open(&path)?;
        let version: i64 = s
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await?;
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert_eq!(s.setting("server_actor").await?, Some(vec![1]));
        assert_eq!(s.latest_catalogue().await?, None);
        use crate::storage::catalogue::{CatalogueStore, PublishedCatalogue};
        assert!(
            s.publish_catalogue(PublishedCatalogue {
                version: "2099.1.1".into(),
                digest: "d".into(),
                signature: "s".into(),
                published_at_ms: 1,
                size: 1,
                bundle: vec![1],
            })
            .await?
        );
        Ok(())
    }

    /// A database left at schema 4 (before blob anchors) upgrades to 5 keeping every row, and
    /// its stored blobs stay readable through the documents that referred to them.
    #[tokio::test]
    async fn schema_4_upgrades_to_5_and_old_blobs_stay_readable() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("server.db");
        let sha = format!("{:064x}", 42);
        {
            let mut conn = Connection::open(&path)?;
            for (i, sql) in MIGRATIONS.iter().take(4).enumerate() {
                let tx = conn.transaction()?;
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", i as i64 + 1)?;
                tx.commit()?;
            }
            conn.execute(
                "INSERT INTO docs(id, kind, unit, party_hash, heads, chunk_count, next_chunk,
                                  seq, updated_at_ms)
                 VALUES ('doc-1', 'case', 'luan/x', NULL, x'00', 0, 0, 1, 1)",
                [],
            )?;
            conn.execute(
                "INSERT INTO doc_blobs(sha256, doc_id) VALUES (?1, 'doc-1')",
                [&sha],
            )?;
            conn.execute(
                "INSERT INTO blobs(sha256, size, stored_at_ms, device_id)
                 VALUES (?1, 3, 1, 'dev-1')",
                [&sha],
            )?;
        }
        let s = SqliteStorage::open(&path)?;
        let version: i64 = s
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await?;
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert!(s.blob(&sha).await?.is_some());
        let scopes = vec!["luan".to_string()];
        assert!(s.blob_readable(&sha, &scopes, &[RecordKind::Case]).await?);
        assert!(
            !s.blob_readable(&sha, &scopes, &[RecordKind::Demonstration])
                .await?
        );
        Ok(())
    }
}
