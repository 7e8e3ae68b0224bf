//! The SQLite schema: numbered migrations, applied in order at open, each in its own
//! transaction with `PRAGMA user_version` recording how far the file has come.

use crate::storage::error::{StorageError, StorageResult};
use rusqlite::Connection;

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
    // 8: the feed by scope: a phone's feed query reads the documents of the units in its
    // scope written after its cursor through (unit, seq), so its cost follows what the phone
    // may read, not every write since its last sync. `doc_units` lists the units documents
    // were written in (a unit is never renamed).
    r#"
    CREATE INDEX docs_unit_seq ON docs(unit, seq);
    CREATE TABLE doc_units (unit TEXT PRIMARY KEY) WITHOUT ROWID;
    INSERT OR IGNORE INTO doc_units(unit) SELECT DISTINCT unit FROM docs;
"#,
    // 9: a device's unfinished uploads by device (the quota check of every new upload read
    // every device's sessions).
    r#"
    CREATE INDEX upload_sessions_device ON upload_sessions(device_id);
"#,
];

/// Brings the file to the newest schema; refuses a file from a newer build.
pub(super) fn migrate(conn: &mut Connection) -> StorageResult<()> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Err(StorageError::Config(format!(
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

#[cfg(test)]
mod upgrade_tests {
    use super::super::SqliteStorage;
    use super::*;
    use crate::storage::{Blobs, CatalogueStore, Settings};
    use fieldcase_core::model::RecordKind;

    /// A database left at schema 5 gains the published-catalogue table (6), keeping its rows.
    #[tokio::test]
    async fn schema_5_upgrades_to_6_and_can_publish_catalogues()
    -> Result<(), Box<dyn std::error::Error>> {
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
        use crate::storage::catalogue::PublishedCatalogue;
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
    async fn schema_4_upgrades_to_5_and_old_blobs_stay_readable()
    -> Result<(), Box<dyn std::error::Error>> {
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
        // A document stored before the feed looked documents up by unit is still in the feed.
        let feed = crate::storage::Documents::feed(
            &s,
            crate::storage::FeedQuery {
                after: 0,
                upto: 10,
                scopes: vec!["luan".into()],
                kinds: vec![RecordKind::Case],
                limit: 10,
            },
        )
        .await?;
        assert_eq!(feed.len(), 1);
        let scopes = vec!["luan".to_string()];
        assert!(s.blob_readable(&sha, &scopes, &[RecordKind::Case]).await?);
        assert!(
            !s.blob_readable(&sha, &scopes, &[RecordKind::Demonstration])
                .await?
        );
        Ok(())
    }
}
