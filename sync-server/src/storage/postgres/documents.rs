//! [`Documents`] on PostgreSQL. A batch locks its documents in id order (no deadlock between
//! two batches), takes its feed range last (the counter row is locked only until commit), and
//! reads run in one repeatable-read snapshot.

use super::{PostgresStorage, col0, kinds, map_all, scope_sql};
use crate::storage::documents::{
    DocWrite, Documents, FeedItem, FeedQuery, StoredDoc, WriteOutcome, in_request_order,
};
use crate::storage::error::{StorageError, StorageResult};
use crate::storage::rows::{self, DOC_COLS, FEED_COLS};
use async_trait::async_trait;
use std::collections::HashMap;

#[async_trait]
impl Documents for PostgresStorage {
    async fn load_doc(&self, doc_id: &str) -> StorageResult<Option<StoredDoc>> {
        Ok(self.load_docs(&[doc_id.to_string()]).await?.pop().flatten())
    }

    async fn load_docs(&self, doc_ids: &[String]) -> StorageResult<Vec<Option<StoredDoc>>> {
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
            .await?;
        // A row without `seq` is claimed by a write that has not committed: left out, as if
        // it were not there yet.
        let heads = tx
            .prepare_cached(&format!(
                "SELECT {DOC_COLS} FROM docs WHERE id = ANY($1) AND seq IS NOT NULL"
            ))
            .await?;
        let mut found: HashMap<String, StoredDoc> = HashMap::with_capacity(doc_ids.len());
        for row in tx.query(&heads, &[&doc_ids]).await? {
            let doc = rows::doc_header(&row)?;
            found.insert(doc.doc_id.clone(), doc);
        }
        let chunks = tx
            .prepare_cached(
                "SELECT doc_id, bytes FROM chunks WHERE doc_id = ANY($1) ORDER BY doc_id, n",
            )
            .await?;
        for r in tx.query(&chunks, &[&doc_ids]).await? {
            let id: &str = r.try_get(0)?;
            if let Some(d) = found.get_mut(id) {
                let b: &[u8] = r.try_get(1)?;
                d.bytes.extend_from_slice(b);
            }
        }
        tx.commit().await?;
        Ok(in_request_order(doc_ids, found))
    }

    async fn write_docs(&self, writes: Vec<DocWrite>) -> StorageResult<Vec<WriteOutcome>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
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
                        .await?;
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
                        .await?;
                    (claimed == 1).then_some(0)
                }
                Some(_) => {
                    let lock = tx
                        .prepare_cached(
                            "SELECT heads, next_chunk FROM docs WHERE id = $1 FOR UPDATE",
                        )
                        .await?;
                    match tx.query_opt(&lock, &[&w.doc_id]).await? {
                        Some(row) => {
                            let heads: &[u8] = row.try_get(0)?;
                            if w.applies_over(Some(heads)) {
                                Some(row.try_get(1)?)
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
            .await?;
        let ins = tx
            .prepare_cached("INSERT INTO chunks(doc_id, n, bytes) VALUES ($1, $2, $3)")
            .await?;
        let del_blobs = tx
            .prepare_cached("DELETE FROM doc_blobs WHERE doc_id = $1")
            .await?;
        let ins_blobs = tx
            .prepare_cached(
                "INSERT INTO doc_blobs(sha256, doc_id)
                 SELECT DISTINCT s, $2 FROM unnest($1::text[]) s
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        for (w, next_chunk) in writes.iter().zip(&next_chunks) {
            let Some(next_chunk) = next_chunk else {
                continue;
            };
            if w.replace {
                tx.execute(&del_chunks, &[&w.doc_id]).await?;
            }
            tx.execute(&ins, &[&w.doc_id, next_chunk, &w.chunk]).await?;
            tx.execute(&del_blobs, &[&w.doc_id]).await?;
            if !w.blob_refs.is_empty() {
                tx.execute(&ins_blobs, &[&w.blob_refs, &w.doc_id]).await?;
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
                .await?;
            }
        }
        let written = next_chunks.iter().filter(|n| n.is_some()).count();
        if written == 0 {
            tx.commit().await?;
            return Ok(vec![WriteOutcome::Conflict; writes.len()]);
        }
        // The units the feed query looks documents up by (one statement for the batch).
        let units: Vec<&str> = writes
            .iter()
            .zip(&next_chunks)
            .filter(|(_, n)| n.is_some())
            .map(|(w, _)| w.unit.as_str())
            .collect();
        tx.execute(
            "INSERT INTO doc_units(unit) SELECT DISTINCT u FROM unnest($1::text[]) u
             ON CONFLICT DO NOTHING",
            &[&units],
        )
        .await?;
        // 3. The feed positions, last, so the counter row is locked only until commit: one
        //    range for the batch, handed out in the order of `writes`.
        let written =
            i64::try_from(written).map_err(|_| StorageError::Invalid("batch too large".into()))?;
        let last: i64 = tx
            .query_one(
                "UPDATE feed_counter SET seq = seq + $1 WHERE id = 1 RETURNING seq",
                &[&written],
            )
            .await?
            .try_get(0)?;
        let upd = tx
            .prepare_cached(
                "UPDATE docs SET unit = $2, party_hash = $3, heads = $4,
                    chunk_count = CASE WHEN $5 THEN 1
                                  ELSE (SELECT count(*) FROM chunks WHERE doc_id = $1) END,
                    next_chunk = $6, seq = $7, updated_at_ms = $8
                 WHERE id = $1",
            )
            .await?;
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
            .await?;
            out.push(WriteOutcome::Written(seq));
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn docs_by_party(&self, party_hash: &str) -> StorageResult<Vec<String>> {
        let c = self.client().await?;
        let found = c
            .query(
                "SELECT id FROM docs
                 WHERE party_hash = $1 AND kind = 'case' AND seq IS NOT NULL ORDER BY id",
                &[&party_hash],
            )
            .await?;
        found.into_iter().map(col0).collect()
    }

    async fn latest_seq(&self) -> StorageResult<i64> {
        let c = self.client().await?;
        col0(
            c.query_one("SELECT seq FROM feed_counter WHERE id = 1", &[])
                .await?,
        )
    }

    async fn feed(&self, q: FeedQuery) -> StorageResult<Vec<FeedItem>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {FEED_COLS} FROM docs
                 WHERE unit IN (SELECT unit FROM doc_units WHERE {})
                   AND seq > $1 AND seq <= $2 AND kind = ANY($3::text[])
                 ORDER BY seq LIMIT $5",
                scope_sql("unit", 4)
            ))
            .await?;
        let found = c
            .query(
                &stmt,
                &[
                    &q.after,
                    &q.upto,
                    &kinds(&q.kinds),
                    &q.scopes,
                    &q.sql_limit(),
                ],
            )
            .await?;
        map_all(&found, rows::feed_item)
    }

    async fn doc_count(&self) -> StorageResult<i64> {
        let c = self.client().await?;
        col0(
            c.query_one("SELECT count(*) FROM docs WHERE seq IS NOT NULL", &[])
                .await?,
        )
    }

    async fn doc_ids(&self) -> StorageResult<Vec<String>> {
        let c = self.client().await?;
        let found = c
            .query("SELECT id FROM docs WHERE seq IS NOT NULL ORDER BY id", &[])
            .await?;
        found.into_iter().map(col0).collect()
    }
}
