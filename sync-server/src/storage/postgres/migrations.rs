//! The PostgreSQL schema: numbered migrations, applied in order under a transaction-scoped
//! advisory lock and recorded in `schema_migrations`, so two servers starting together
//! migrate once.

use crate::storage::error::{StorageError, StorageResult};

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
    // 8: the feed by scope (see the SQLite migration of the same number).
    r#"
    CREATE INDEX docs_unit_seq ON docs(unit, seq);
    CREATE TABLE doc_units (unit TEXT PRIMARY KEY);
    INSERT INTO doc_units(unit) SELECT DISTINCT unit FROM docs ON CONFLICT DO NOTHING;
"#,
    // 9: a device's unfinished uploads by device (see the SQLite migration).
    r#"
    CREATE INDEX upload_sessions_device ON upload_sessions(device_id);
"#,
];

/// Brings the connection's schema to the newest version; refuses a schema from a newer build.
pub(super) async fn migrate(c: &mut tokio_postgres::Client) -> StorageResult<()> {
    let tx = c.transaction().await?;
    // One migrator per schema at a time, across processes.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('fieldcase:' || current_schema()))",
        &[],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await?;
    let found: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Err(StorageError::Config(format!(
            "database schema {found} is newer than this build ({known})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations(version) VALUES ($1)",
            &[&(i as i64 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
