//! [`Blobs`] on PostgreSQL: blob rows, upload sessions and anchors. Documents still being
//! created by an uncommitted write (no `seq` yet) grant nothing.

use super::{PostgresStorage, col0, kinds, map_all, scope_sql};
use crate::storage::blobs::{BlobRecord, Blobs, UploadSession};
use crate::storage::error::StorageResult;
use crate::storage::rows::{self, BLOB_COLS, UPLOAD_COLS, to_sql_int};
use async_trait::async_trait;
use fieldcase_core::model::RecordKind;

/// The condition that a document `d` joined to the blob is committed and of one of the kinds
/// in `$3` in one of the scopes in `$2`.
fn readable_by() -> String {
    format!(
        "d.seq IS NOT NULL AND d.kind = ANY($3::text[]) AND {}",
        scope_sql("d.unit", 2)
    )
}

#[async_trait]
impl Blobs for PostgresStorage {
    async fn blob(&self, sha256: &str) -> StorageResult<Option<BlobRecord>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {BLOB_COLS} FROM blobs WHERE sha256 = $1"),
                &[&sha256],
            )
            .await?;
        row.as_ref().map(rows::blob).transpose()
    }

    async fn insert_blob(&self, b: BlobRecord) -> StorageResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            &format!(
                "INSERT INTO blobs({BLOB_COLS}) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sha256) DO NOTHING"
            ),
            &[
                &b.sha256,
                &to_sql_int(b.size),
                &b.stored_at_ms,
                &b.device_id,
            ],
        )
        .await?;
        tx.execute(
            "DELETE FROM upload_sessions WHERE sha256 = $1",
            &[&b.sha256],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn all_blobs(&self) -> StorageResult<Vec<BlobRecord>> {
        let c = self.client().await?;
        let found = c
            .query(
                &format!("SELECT {BLOB_COLS} FROM blobs ORDER BY sha256"),
                &[],
            )
            .await?;
        map_all(&found, rows::blob)
    }

    async fn upload_session(&self, sha256: &str) -> StorageResult<Option<UploadSession>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {UPLOAD_COLS} FROM upload_sessions WHERE sha256 = $1"),
                &[&sha256],
            )
            .await?;
        row.as_ref().map(rows::upload_session).transpose()
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
        let c = self.client().await?;
        c.execute(
            "DELETE FROM upload_sessions WHERE sha256 = $1 AND device_id = $2",
            &[&sha256, &device_id],
        )
        .await?;
        Ok(())
    }

    async fn upload_sessions(&self) -> StorageResult<Vec<UploadSession>> {
        let c = self.client().await?;
        let found = c
            .query(
                &format!("SELECT {UPLOAD_COLS} FROM upload_sessions ORDER BY sha256"),
                &[],
            )
            .await?;
        map_all(&found, rows::upload_session)
    }

    async fn device_upload_sessions(&self, device_id: &str) -> StorageResult<Vec<UploadSession>> {
        let c = self.client().await?;
        let found = c
            .query(
                &format!(
                    "SELECT {UPLOAD_COLS} FROM upload_sessions WHERE device_id = $1 ORDER BY sha256"
                ),
                &[&device_id],
            )
            .await?;
        map_all(&found, rows::upload_session)
    }

    async fn blob_referenced(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds_in: &[RecordKind],
    ) -> StorageResult<bool> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT EXISTS(SELECT 1 FROM doc_blobs b JOIN docs d ON d.id = b.doc_id
             WHERE b.sha256 = $1 AND {})",
            readable_by()
        );
        col0(
            c.query_one(&sql, &[&sha256, &scopes, &kinds(kinds_in)])
                .await?,
        )
    }

    async fn anchor_blob(
        &self,
        sha256: &str,
        device_id: &str,
        scopes: &[String],
        kinds_in: &[RecordKind],
        at_ms: i64,
    ) -> StorageResult<u64> {
        let c = self.client().await?;
        let sql = format!(
            "INSERT INTO blob_anchors(sha256, doc_id, device_id, anchored_at_ms)
             SELECT b.sha256, b.doc_id, $4, $5 FROM doc_blobs b JOIN docs d ON d.id = b.doc_id
             WHERE b.sha256 = $1 AND {}
             ON CONFLICT DO NOTHING",
            readable_by()
        );
        Ok(c.execute(
            &sql,
            &[&sha256, &scopes, &kinds(kinds_in), &device_id, &at_ms],
        )
        .await?)
    }

    async fn blob_readable(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds_in: &[RecordKind],
    ) -> StorageResult<bool> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT EXISTS(SELECT 1 FROM blob_anchors a
             JOIN doc_blobs b ON b.sha256 = a.sha256 AND b.doc_id = a.doc_id
             JOIN docs d ON d.id = a.doc_id
             WHERE a.sha256 = $1 AND {})",
            readable_by()
        );
        col0(
            c.query_one(&sql, &[&sha256, &scopes, &kinds(kinds_in)])
                .await?,
        )
    }
}

impl PostgresStorage {
    /// Writes an upload session: always (`idle_before_ms` `None`), or only over no session or
    /// one idle since before `idle_before_ms` (a claim). One statement: the primary key
    /// serialises two claimants; the loser's conflict update sees the winner's fresh row and
    /// its WHERE leaves it alone. Returns whether the row was written.
    async fn claim_or_put(
        &self,
        s: UploadSession,
        idle_before_ms: Option<i64>,
    ) -> StorageResult<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                &format!(
                    "INSERT INTO upload_sessions({UPLOAD_COLS}) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (sha256) DO UPDATE SET device_id = excluded.device_id,
                        received = excluded.received, total = excluded.total,
                        updated_at_ms = excluded.updated_at_ms
                     WHERE $6::bigint IS NULL OR upload_sessions.updated_at_ms < $6::bigint"
                ),
                &[
                    &s.sha256,
                    &s.device_id,
                    &to_sql_int(s.received),
                    &to_sql_int(s.total),
                    &s.updated_at_ms,
                    &idle_before_ms,
                ],
            )
            .await?;
        Ok(n == 1)
    }
}
