//! [`Documents`] on SQLite. Writes run on the one writer, so a batch's documents and the feed
//! counter serialise there; reads run in one snapshot (see [`SqliteStorage::read`]).

use super::{SqliteStorage, all, first, kinds_sql, scope_sql};
use crate::storage::documents::{
    DocWrite, Documents, FeedItem, FeedQuery, StoredDoc, WriteOutcome,
};
use crate::storage::error::StorageResult;
use crate::storage::rows::{self, DOC_COLS, FEED_COLS};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

/// One document read on `c`, inside the caller's transaction: its row and its chunks come from
/// one snapshot.
fn load_doc_in(c: &Connection, id: &str) -> StorageResult<Option<StoredDoc>> {
    let sql = format!("SELECT {DOC_COLS} FROM docs WHERE id = ?1");
    let Some(mut doc) = first(c, &sql, [id], |r| rows::doc_header(r))? else {
        return Ok(None);
    };
    let mut stmt = c.prepare_cached("SELECT bytes FROM chunks WHERE doc_id = ?1 ORDER BY n")?;
    let mut chunks = stmt.query([id])?;
    while let Some(r) = chunks.next()? {
        doc.bytes
            .extend_from_slice(r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
    }
    Ok(Some(doc))
}

/// One document write inside the caller's transaction: later writes of a batch see earlier
/// ones, so the same document twice in a batch conflicts the second time.
fn write_one(tx: &rusqlite::Transaction<'_>, w: &DocWrite) -> StorageResult<WriteOutcome> {
    let current: Option<(Vec<u8>, i64)> = tx
        .prepare_cached("SELECT heads, next_chunk FROM docs WHERE id = ?1")?
        .query_row([&w.doc_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if !w.applies_over(current.as_ref().map(|c| c.0.as_slice())) {
        return Ok(WriteOutcome::Conflict);
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
    tx.prepare_cached("INSERT OR IGNORE INTO doc_units(unit) VALUES (?1)")?
        .execute([&w.unit])?;
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
impl Documents for SqliteStorage {
    async fn load_doc(&self, doc_id: &str) -> StorageResult<Option<StoredDoc>> {
        let id = doc_id.to_string();
        self.read(move |c| load_doc_in(c, &id)).await
    }

    async fn load_docs(&self, doc_ids: &[String]) -> StorageResult<Vec<Option<StoredDoc>>> {
        let ids = doc_ids.to_vec();
        self.read(move |c| ids.iter().map(|id| load_doc_in(c, id)).collect())
            .await
    }

    async fn write_docs(&self, writes: Vec<DocWrite>) -> StorageResult<Vec<WriteOutcome>> {
        self.write(move |tx| writes.iter().map(|w| write_one(tx, w)).collect())
            .await
    }

    async fn docs_by_party(&self, party_hash: &str) -> StorageResult<Vec<String>> {
        let h = party_hash.to_string();
        self.read(move |c| {
            all(
                c,
                "SELECT id FROM docs WHERE party_hash = ?1 AND kind = 'case' ORDER BY id",
                [h],
                |r| Ok(r.get(0)?),
            )
        })
        .await
    }

    async fn latest_seq(&self) -> StorageResult<i64> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT seq FROM feed_counter WHERE id = 1", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn feed(&self, q: FeedQuery) -> StorageResult<Vec<FeedItem>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {FEED_COLS} FROM docs INDEXED BY docs_unit_seq
                 WHERE unit IN (SELECT unit FROM doc_units WHERE {})
                   AND seq > ?1 AND seq <= ?2 AND {}
                 ORDER BY seq LIMIT ?3",
                scope_sql("unit", &q.scopes, 4),
                kinds_sql("kind", &q.kinds)
            );
            let limit = q.sql_limit();
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&q.after, &q.upto, &limit];
            for s in &q.scopes {
                params.push(s);
            }
            all(c, &sql, params.as_slice(), |r| rows::feed_item(r))
        })
        .await
    }

    async fn doc_count(&self) -> StorageResult<i64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM docs", [], |r| r.get(0))?))
            .await
    }

    async fn doc_ids(&self) -> StorageResult<Vec<String>> {
        self.read(|c| all(c, "SELECT id FROM docs ORDER BY id", [], |r| Ok(r.get(0)?)))
            .await
    }
}
