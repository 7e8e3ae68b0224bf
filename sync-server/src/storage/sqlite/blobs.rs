//! [`Blobs`] on SQLite: blob rows, upload sessions and anchors.

use super::{SqliteStorage, all, first, kinds_sql, scope_sql};
use crate::storage::blobs::{BlobRecord, Blobs, UploadSession};
use crate::storage::error::StorageResult;
use crate::storage::rows::{self, BLOB_COLS, UPLOAD_COLS, to_sql_int};
use async_trait::async_trait;
use fieldcase_core::model::RecordKind;
use rusqlite::params;

/// The condition that a document `d` joined to the blob is of one of `kinds` in one of
/// `scopes` (parameters 2..), and its parameter list after the hash.
fn readable_by(kinds: &[RecordKind], scopes: &[String]) -> String {
    format!(
        "{} AND {}",
        kinds_sql("d.kind", kinds),
        scope_sql("d.unit", scopes, 2)
    )
}

/// The hash followed by the scopes: parameters 1.. of [`readable_by`].
fn hash_and_scopes<'a>(
    sha: &'a dyn rusqlite::ToSql,
    scopes: &'a [String],
) -> Vec<&'a dyn rusqlite::ToSql> {
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![sha];
    for s in scopes {
        params.push(s);
    }
    params
}

#[async_trait]
impl Blobs for SqliteStorage {
    async fn blob(&self, sha256: &str) -> StorageResult<Option<BlobRecord>> {
        let sha = sha256.to_string();
        self.read(move |c| {
            first(
                c,
                &format!("SELECT {BLOB_COLS} FROM blobs WHERE sha256 = ?1"),
                [sha],
                |r| rows::blob(r),
            )
        })
        .await
    }

    async fn insert_blob(&self, b: BlobRecord) -> StorageResult<()> {
        self.write(move |tx| {
            tx.execute(
                &format!("INSERT OR IGNORE INTO blobs({BLOB_COLS}) VALUES (?1, ?2, ?3, ?4)"),
                params![b.sha256, to_sql_int(b.size), b.stored_at_ms, b.device_id],
            )?;
            tx.execute("DELETE FROM upload_sessions WHERE sha256 = ?1", [&b.sha256])?;
            Ok(())
        })
        .await
    }

    async fn all_blobs(&self) -> StorageResult<Vec<BlobRecord>> {
        self.read(|c| {
            all(
                c,
                &format!("SELECT {BLOB_COLS} FROM blobs ORDER BY sha256"),
                [],
                |r| rows::blob(r),
            )
        })
        .await
    }

    async fn upload_session(&self, sha256: &str) -> StorageResult<Option<UploadSession>> {
        let sha = sha256.to_string();
        self.read(move |c| {
            first(
                c,
                &format!("SELECT {UPLOAD_COLS} FROM upload_sessions WHERE sha256 = ?1"),
                [sha],
                |r| rows::upload_session(r),
            )
        })
        .await
    }

    async fn put_upload_session(&self, s: UploadSession) -> StorageResult<()> {
        self.claim_or_put(s, None).await.map(|_| ())
    }

    async fn claim_upload_session(
        &self,
        s: UploadSession,
        idle_before_ms: i64,
    ) -> StorageResult<bool> {
        self.claim_or_put(s, Some(idle_before_ms)).await
    }

    async fn release_upload_session(&self, sha256: &str, device_id: &str) -> StorageResult<()> {
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

    async fn upload_sessions(&self) -> StorageResult<Vec<UploadSession>> {
        self.upload_sessions_where(None).await
    }

    async fn device_upload_sessions(&self, device_id: &str) -> StorageResult<Vec<UploadSession>> {
        self.upload_sessions_where(Some(device_id.to_string()))
            .await
    }

    async fn blob_referenced(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds: &[RecordKind],
    ) -> StorageResult<bool> {
        let (sha, scopes, kinds) = (sha256.to_string(), scopes.to_vec(), kinds.to_vec());
        self.read(move |c| {
            let sql = format!(
                "SELECT EXISTS(SELECT 1 FROM doc_blobs b JOIN docs d ON d.id = b.doc_id
                 WHERE b.sha256 = ?1 AND {})",
                readable_by(&kinds, &scopes)
            );
            Ok(
                c.query_row(&sql, hash_and_scopes(&sha, &scopes).as_slice(), |r| {
                    r.get(0)
                })?,
            )
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
    ) -> StorageResult<u64> {
        let (sha, device) = (sha256.to_string(), device_id.to_string());
        let (scopes, kinds) = (scopes.to_vec(), kinds.to_vec());
        self.write(move |tx| {
            let sql = format!(
                "INSERT OR IGNORE INTO blob_anchors(sha256, doc_id, device_id, anchored_at_ms)
                 SELECT b.sha256, b.doc_id, ?{dev}, ?{at} FROM doc_blobs b
                 JOIN docs d ON d.id = b.doc_id
                 WHERE b.sha256 = ?1 AND {}",
                readable_by(&kinds, &scopes),
                dev = scopes.len() + 2,
                at = scopes.len() + 3,
            );
            let mut params = hash_and_scopes(&sha, &scopes);
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
    ) -> StorageResult<bool> {
        let (sha, scopes, kinds) = (sha256.to_string(), scopes.to_vec(), kinds.to_vec());
        self.read(move |c| {
            let sql = format!(
                "SELECT EXISTS(SELECT 1 FROM blob_anchors a
                 JOIN doc_blobs b ON b.sha256 = a.sha256 AND b.doc_id = a.doc_id
                 JOIN docs d ON d.id = a.doc_id
                 WHERE a.sha256 = ?1 AND {})",
                readable_by(&kinds, &scopes)
            );
            Ok(
                c.query_row(&sql, hash_and_scopes(&sha, &scopes).as_slice(), |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }
}

impl SqliteStorage {
    /// Writes an upload session: always (`idle_before_ms` `None`), or only over no session or
    /// one idle since before `idle_before_ms` (a claim). One statement either way; returns
    /// whether the row was written.
    async fn claim_or_put(
        &self,
        s: UploadSession,
        idle_before_ms: Option<i64>,
    ) -> StorageResult<bool> {
        self.write(move |tx| {
            let n = tx.execute(
                &format!(
                    "INSERT INTO upload_sessions({UPLOAD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(sha256) DO UPDATE SET device_id = excluded.device_id,
                        received = excluded.received, total = excluded.total,
                        updated_at_ms = excluded.updated_at_ms
                     WHERE ?6 IS NULL OR upload_sessions.updated_at_ms < ?6"
                ),
                params![
                    s.sha256,
                    s.device_id,
                    to_sql_int(s.received),
                    to_sql_int(s.total),
                    s.updated_at_ms,
                    idle_before_ms
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }
}

impl SqliteStorage {
    /// Unfinished uploads by hash: every device's, or one device's (a plain equality, so
    /// the `upload_sessions_device` index serves it).
    async fn upload_sessions_where(
        &self,
        device_id: Option<String>,
    ) -> StorageResult<Vec<UploadSession>> {
        let filter = if device_id.is_some() {
            "WHERE device_id = ?1"
        } else {
            ""
        };
        self.read(move |c| {
            all(
                c,
                &format!("SELECT {UPLOAD_COLS} FROM upload_sessions {filter} ORDER BY sha256"),
                rusqlite::params_from_iter(device_id),
                |r| rows::upload_session(r),
            )
        })
        .await
    }
}
