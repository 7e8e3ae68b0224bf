//! Document persistence: loading a record's Automerge document from its chunks, and the one
//! write path every edit and merge goes through.

use super::{ChangeOrigin, FieldStore, RecordChange, Writer, lock, projection};
use crate::model::{CaseRecord, Record, RecordKind};
use crate::{CoreError, Result};
use automerge::{AutoCommit, ChangeHash, transaction::CommitOptions};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value as Json;
use std::collections::HashMap;

/// Past this many incremental chunks a document is compacted into one snapshot.
const COMPACT_AFTER_CHUNKS: i64 = 16;
/// Loaded documents kept in memory by the writer.
const CACHE_DOCS: usize = 256;

/// A document held in memory and, once known, the record it holds as typed values (as of the
/// document's heads): the next write's "before" for the rules and the state its edit checks,
/// without reading the document back.
pub(super) struct Loaded {
    doc: AutoCommit,
    record: Option<Record>,
}

/// Recently used documents, so a burst of edits to one case does not reload it each time.
#[derive(Default)]
pub(super) struct DocCache {
    docs: HashMap<String, Loaded>,
}

impl DocCache {
    fn take(&mut self, id: &str) -> Option<Loaded> {
        self.docs.remove(id)
    }

    fn put(&mut self, id: String, doc: AutoCommit, record: Option<Record>) {
        if self.docs.len() >= CACHE_DOCS {
            // Dropping everything is crude but keeps memory bounded without bookkeeping;
            // reloading a small document costs well under a millisecond.
            self.docs.clear();
        }
        self.docs.insert(id, Loaded { doc, record });
    }
}

/// Encodes heads as concatenated 32-byte hashes.
pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// Decodes [`encode_heads`] output; malformed input yields an error.
pub(crate) fn decode_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(CoreError::invalid(
            "heads",
            "length is not a multiple of 32",
        ));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            ChangeHash(h)
        })
        .collect())
}

/// The kind of a stored document, if it exists.
pub(crate) fn doc_kind(conn: &Connection, id: &str) -> Result<Option<RecordKind>> {
    let kind: Option<String> = conn
        .prepare_cached("SELECT kind FROM docs WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(kind.and_then(|k| RecordKind::parse(&k)))
}

/// The document's stored chunks concatenated in order (what `AutoCommit::load` takes), or
/// `None` if there is no such document.
pub(crate) fn stored_bytes(conn: &Connection, id: &str) -> Result<Option<Vec<u8>>> {
    let mut stmt =
        conn.prepare_cached("SELECT bytes FROM chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([id])?;
    let mut bytes = Vec::new();
    let mut any = false;
    while let Some(row) = rows.next()? {
        let b: Vec<u8> = row.get(0)?;
        bytes.extend_from_slice(&b);
        any = true;
    }
    Ok(any.then_some(bytes))
}

/// Loads a document from its chunks.
pub(crate) fn load_doc(conn: &Connection, id: &str) -> Result<Option<AutoCommit>> {
    let Some(bytes) = stored_bytes(conn, id)? else {
        return Ok(None);
    };
    let doc = AutoCommit::load(&bytes).map_err(|e| CoreError::MalformedDocument {
        doc_id: id.to_string(),
        reason: e.to_string(),
    })?;
    Ok(Some(doc))
}

/// The record a document holds, parsed as its kind: the typed form an edit sees.
fn parse_record(id: &str, kind: RecordKind, json: &Json) -> Result<Record> {
    Record::parse(kind, json).map_err(|e| CoreError::MalformedDocument {
        doc_id: id.to_string(),
        reason: projection::record_error(&e),
    })
}

/// Takes document `id` out of the cache (or loads it) with the record it holds, reading the
/// document back only when the cache did not know the record.
fn take_loaded(
    conn: &Connection,
    cache: &mut DocCache,
    id: &str,
    kind: RecordKind,
) -> Result<(AutoCommit, Record)> {
    let (doc, record) = match cache.take(id) {
        Some(Loaded { doc, record }) => (doc, record),
        None => (
            load_doc(conn, id)?.ok_or_else(|| CoreError::not_found("record", id))?,
            None,
        ),
    };
    let record = match record {
        Some(r) => r,
        None => parse_record(id, kind, &crate::doc::read_json(&doc)?)?,
    };
    Ok((doc, record))
}

/// Commits the pending operations with a message and the time in seconds (Automerge's default
/// time is 0).
fn commit(doc: &mut AutoCommit, message: &str) {
    let time = crate::ids::now_ms() / 1000;
    doc.commit_with(
        CommitOptions::default()
            .with_message(message)
            .with_time(time),
    );
}

impl FieldStore {
    /// The single write path of local edits: edits document `id` with `edit`, which sees the
    /// document and the record it holds now, validates and projects the result, and commits
    /// the new chunk durably. On any error nothing is written and the cached document is
    /// dropped, so the next call starts from disk.
    pub(crate) fn write_doc<R>(
        &self,
        id: &str,
        message: &str,
        edit: impl FnOnce(&mut AutoCommit, &Record) -> Result<R>,
    ) -> Result<R> {
        self.write_doc_with(id, message, edit, |_| Ok(()))
    }

    /// [`FieldStore::write_doc`] with `also`, run inside the same transaction after the chunk
    /// and projection are written: rows that must commit (or roll back) with the edit, such as
    /// the blob rows of new evidence.
    ///
    /// The document is read back once, after the edit, because the edit is made with
    /// Automerge operations; the record before it comes from the cache (or one read when the
    /// document was not in memory). The rules and the projection share that one parsed record.
    pub(crate) fn write_doc_with<R>(
        &self,
        id: &str,
        message: &str,
        edit: impl FnOnce(&mut AutoCommit, &Record) -> Result<R>,
        also: impl FnOnce(&Transaction<'_>) -> Result<()>,
    ) -> Result<R> {
        let (out, kind) = self.write_doc_locked(id, message, edit, also)?;
        self.announce(vec![RecordChange::new(id, kind, ChangeOrigin::Local)]);
        Ok(out)
    }

    /// [`FieldStore::write_doc_with`] up to its commit, under the writer lock; returns the
    /// edit's result and the record's kind.
    fn write_doc_locked<R>(
        &self,
        id: &str,
        message: &str,
        edit: impl FnOnce(&mut AutoCommit, &Record) -> Result<R>,
        also: impl FnOnce(&Transaction<'_>) -> Result<()>,
    ) -> Result<(R, RecordKind)> {
        self.guard()?;
        // The rules the server will apply to this change, applied here first, as the enrolled
        // user (before enrolment the phone does not know who it is, and the operations' own
        // checks stand alone). Read before the writer lock: the signer may need it.
        let author = self.enrolled_author()?;
        let mut guard = lock(&self.writer);
        let w: &mut Writer = &mut guard;
        let kind = doc_kind(&w.conn, id)?.ok_or_else(|| CoreError::not_found("record", id))?;
        let (doc, before) = take_loaded(&w.conn, &mut w.cache, id, kind)?;
        let mut doc = doc.with_actor(w.actor.clone());
        let heads_before = doc.get_heads();
        let out = edit(&mut doc, &before)?;
        commit(&mut doc, message);
        let json = crate::doc::read_json(&doc)?;
        let after = match Record::parse(kind, &json) {
            Ok(r) => r,
            Err(e) => {
                // What the rules say of a record that does not parse, as the server would say
                // it; without an author, the projection's error.
                if let Some(author) = &author {
                    let before_json = crate::doc::to_json(&before)?;
                    self.check_json(&w.conn, kind, id, Some(&before_json), &json, author)?;
                }
                return Err(CoreError::MalformedDocument {
                    doc_id: id.to_string(),
                    reason: projection::record_error(&e),
                });
            }
        };
        if let Some(author) = &author {
            self.check_typed(&w.conn, id, Some(&before), &after, author)?;
        }
        let bytes = doc.save_after(&heads_before);
        let tx = w
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        projection::project_record(&tx, &after)?;
        persist_chunk(&tx, id, kind, &mut doc, &bytes, false, true)?;
        also(&tx)?;
        tx.commit()?;
        w.cache.put(id.to_string(), doc, Some(after));
        Ok((out, kind))
    }

    /// Creates document `record.id()` holding `record`: checked by the rules, projected and
    /// committed durably like an edit. The record is what the document holds (written from
    /// its JSON, whose every value the document stores exactly), so it is not read back.
    pub(crate) fn create_doc(&self, record: Record, message: &str) -> Result<()> {
        let change = RecordChange::new(record.id(), record.kind(), ChangeOrigin::Local);
        self.create_doc_locked(record, message)?;
        self.announce(vec![change]);
        Ok(())
    }

    /// [`FieldStore::create_doc`] up to its commit, under the writer lock.
    fn create_doc_locked(&self, record: Record, message: &str) -> Result<()> {
        self.guard()?;
        let author = self.enrolled_author()?;
        let id = record.id().to_string();
        let kind = record.kind();
        let json = crate::doc::to_json(&record)?;
        let mut guard = lock(&self.writer);
        let w: &mut Writer = &mut guard;
        if doc_kind(&w.conn, &id)?.is_some() {
            return Err(CoreError::not_allowed(
                "record_exists",
                format!("record {id} already exists"),
            ));
        }
        let mut doc = AutoCommit::new().with_actor(w.actor.clone());
        crate::doc::create_from_json(&mut doc, &json)?;
        commit(&mut doc, message);
        // A value the document would not store exactly (an integer beyond i64) is read back,
        // so the rules and the projection see what was stored, as for any edit.
        let record = if crate::doc::stored_exactly(&json) {
            record
        } else {
            parse_record(&id, kind, &crate::doc::read_json(&doc)?)?
        };
        #[cfg(debug_assertions)]
        {
            let stored = Record::parse(kind, &crate::doc::read_json(&doc)?).ok();
            debug_assert_eq!(stored.as_ref(), Some(&record), "{id} reads back as written");
        }
        if let Some(author) = &author {
            self.check_typed(&w.conn, &id, None, &record, author)?;
        }
        // The first chunk is the compressed document: setting up DEFLATE for each of its
        // larger columns costs about as much as the projection's inserts, so the two run side
        // by side.
        let conn = &mut w.conn;
        let (bytes, tx) = super::side_by_side(
            || doc.save(),
            || -> Result<Transaction<'_>> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                projection::project_record(&tx, &record)?;
                Ok(tx)
            },
        );
        let tx = tx?;
        persist_chunk(&tx, &id, kind, &mut doc, &bytes, true, true)?;
        tx.commit()?;
        w.cache.put(id, doc, Some(record));
        Ok(())
    }

    /// The record `id` as it stands, from the writer's cache when the document is in memory
    /// (no load, no read-back); otherwise loaded once and kept there for the write that
    /// usually follows.
    pub(crate) fn current_record(&self, id: &str) -> Result<Record> {
        let mut guard = lock(&self.writer);
        let w: &mut Writer = &mut guard;
        let kind = doc_kind(&w.conn, id)?.ok_or_else(|| CoreError::not_found("record", id))?;
        let (doc, record) = take_loaded(&w.conn, &mut w.cache, id, kind)?;
        w.cache.put(id.to_string(), doc, Some(record.clone()));
        Ok(record)
    }

    /// [`FieldStore::current_record`] of a case; any other record is malformed as a case.
    pub(crate) fn current_case(&self, id: &str) -> Result<CaseRecord> {
        match self.current_record(id)? {
            Record::Case(c) => Ok(*c),
            other => Err(CoreError::MalformedDocument {
                doc_id: id.to_string(),
                reason: format!("a {} record, not a case", other.kind().as_str()),
            }),
        }
    }

    fn rule_context_check(
        &self,
        conn: &Connection,
        author: &crate::rules::Author,
        check: impl FnOnce(
            &crate::rules::RuleContext<'_>,
        ) -> std::result::Result<(), crate::rules::Refusal>,
    ) -> Result<()> {
        let catalogues = self.catalogues();
        let directory = super::documents::PhoneRoster { conn };
        let ledger = super::documents::PhoneLedger {
            conn,
            device_id: &author.device_id,
        };
        let ctx = crate::rules::RuleContext {
            catalogues: &catalogues,
            directory: &directory,
            now_ms: Some(crate::ids::now_ms()),
            numbers: &ledger,
        };
        check(&ctx).map_err(CoreError::from)
    }

    fn check_typed(
        &self,
        conn: &Connection,
        id: &str,
        before: Option<&Record>,
        after: &Record,
        author: &crate::rules::Author,
    ) -> Result<()> {
        self.rule_context_check(conn, author, |ctx| {
            crate::rules::check_typed(after.kind(), id, before, after, author, ctx)
        })
    }

    fn check_json(
        &self,
        conn: &Connection,
        kind: RecordKind,
        id: &str,
        before: Option<&Json>,
        after: &Json,
        author: &crate::rules::Author,
    ) -> Result<()> {
        self.rule_context_check(conn, author, |ctx| {
            crate::rules::check_record(kind, id, before, after, author, ctx)
        })
    }

    /// Merges change bytes from another replica into document `id` (created if new), then
    /// re-projects it. Returns whether the document changed. Used by import and sync.
    ///
    /// `origin` says where the bytes came from: changes received from the server
    /// ([`ChangeOrigin::Sync`]) are recorded as the server's, anything else (an import from
    /// another phone) as work this phone still has to send up.
    pub(crate) fn merge_doc(
        &self,
        id: &str,
        kind: RecordKind,
        bytes: &[u8],
        origin: ChangeOrigin,
    ) -> Result<bool> {
        self.merge_doc_with(id, kind, bytes, origin, |_, _| Ok(()))
    }

    /// [`FieldStore::merge_doc`], running `bookkeeping(tx, merged)` in the same transaction as
    /// the merge (or in a transaction of its own when nothing was new), so sync state and
    /// document content can never disagree after a crash.
    pub(crate) fn merge_doc_with(
        &self,
        id: &str,
        kind: RecordKind,
        bytes: &[u8],
        origin: ChangeOrigin,
        bookkeeping: impl FnOnce(&Transaction<'_>, bool) -> Result<()>,
    ) -> Result<bool> {
        let mut once = Some(bookkeeping);
        let mut merged = self.merge_docs_with(&[(id, kind, bytes)], origin, |tx, _, m| {
            once.take().map_or(Ok(()), |f| f(tx, m))
        })?;
        Ok(merged.pop().unwrap_or(false))
    }

    /// [`FieldStore::merge_doc_with`] for many documents in one transaction (one commit for a
    /// whole sync reply): `bookkeeping(tx, index, merged)` runs after each merge. All or
    /// nothing: on any error no document and no bookkeeping is written, and the documents
    /// touched are dropped from the cache.
    pub(crate) fn merge_docs_with(
        &self,
        items: &[(&str, RecordKind, &[u8])],
        origin: ChangeOrigin,
        bookkeeping: impl FnMut(&Transaction<'_>, usize, bool) -> Result<()>,
    ) -> Result<Vec<bool>> {
        self.merge_docs_setting_aside(items, origin, None, bookkeeping)
    }

    /// [`FieldStore::merge_docs_with`], and with `aside` a document that does not merge
    /// (bytes that do not parse, content that is not the declared record) is left out of the
    /// transaction and noted there with the reason, instead of undoing the others: nothing of
    /// it was written when the merge found that out.
    ///
    /// The documents that changed are announced as one batch, after the commit and the
    /// writer lock.
    pub(crate) fn merge_docs_setting_aside(
        &self,
        items: &[(&str, RecordKind, &[u8])],
        origin: ChangeOrigin,
        aside: Option<&mut Vec<(usize, String)>>,
        bookkeeping: impl FnMut(&Transaction<'_>, usize, bool) -> Result<()>,
    ) -> Result<Vec<bool>> {
        let out =
            self.merge_docs_locked(items, origin != ChangeOrigin::Sync, aside, bookkeeping)?;
        let changed = items
            .iter()
            .zip(&out)
            .filter(|(_, merged)| **merged)
            .map(|((id, kind, _), _)| RecordChange::new(*id, *kind, origin))
            .collect();
        self.announce(changed);
        Ok(out)
    }

    /// [`FieldStore::merge_docs_setting_aside`] up to its commit, under the writer lock.
    fn merge_docs_locked(
        &self,
        items: &[(&str, RecordKind, &[u8])],
        mark_dirty: bool,
        mut aside: Option<&mut Vec<(usize, String)>>,
        mut bookkeeping: impl FnMut(&Transaction<'_>, usize, bool) -> Result<()>,
    ) -> Result<Vec<bool>> {
        let mut guard = lock(&self.writer);
        let w: &mut Writer = &mut guard;
        let tx = w
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(items.len());
        let mut loaded = Vec::new();
        for (i, (id, kind, bytes)) in items.iter().enumerate() {
            let m = match merge_in(&tx, &mut w.cache, &w.actor, id, *kind, bytes, mark_dirty) {
                Ok(m) => m,
                Err(CoreError::MalformedDocument { reason, .. }) if aside.is_some() => {
                    if let Some(a) = aside.as_deref_mut() {
                        a.push((i, reason));
                    }
                    out.push(false);
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Bookkeeping belongs to documents that exist, merged or not.
            if m.exists {
                bookkeeping(&tx, i, m.merged)?;
            }
            if let Some(doc) = m.doc {
                loaded.push((id.to_string(), doc, m.record));
            }
            out.push(m.merged);
        }
        tx.commit()?;
        for (id, doc, record) in loaded {
            w.cache.put(id, doc, record);
        }
        Ok(out)
    }

    /// Loads a document read-only (through the reader connection).
    pub(crate) fn load(&self, id: &str) -> Result<AutoCommit> {
        self.read(|c| load_doc(c, id)?.ok_or_else(|| CoreError::not_found("record", id)))
    }
}

/// Appends `bytes` as the document's next chunk (or its first snapshot), updates the docs row,
/// and compacts when the chunk list grows long.
/// What [`merge_in`] did.
struct Merged {
    /// The document changed.
    merged: bool,
    /// The document exists here after the merge.
    exists: bool,
    /// The document to cache once the transaction commits.
    doc: Option<AutoCommit>,
    /// The record it holds, when known.
    record: Option<Record>,
}

/// One merge inside the caller's transaction. An existing document with no new bytes is not
/// loaded at all (nothing can change).
fn merge_in(
    tx: &Transaction<'_>,
    cache: &mut DocCache,
    actor: &automerge::ActorId,
    id: &str,
    kind: RecordKind,
    bytes: &[u8],
    mark_dirty: bool,
) -> Result<Merged> {
    let existing = doc_kind(tx, id)?;
    if let Some(k) = existing
        && k != kind
    {
        return Err(CoreError::MalformedDocument {
            doc_id: id.to_string(),
            reason: format!(
                "kind {} does not match stored {}",
                kind.as_str(),
                k.as_str()
            ),
        });
    }
    let is_new = existing.is_none();
    if bytes.is_empty() {
        return Ok(Merged {
            merged: false,
            exists: !is_new,
            doc: None,
            record: None,
        });
    }
    let malformed = |e: automerge::AutomergeError| CoreError::MalformedDocument {
        doc_id: id.to_string(),
        reason: e.to_string(),
    };
    // A new document is loaded strictly (every byte must parse), so that its bytes may be
    // stored as received.
    let (mut doc, before, known) = if is_new {
        let doc = crate::doc::load_strict(bytes).map_err(malformed)?;
        (doc.with_actor(actor.clone()), vec![], None)
    } else {
        let (doc, known) = match cache.take(id) {
            Some(Loaded { doc, record }) => (doc, record),
            None => (
                load_doc(tx, id)?.ok_or_else(|| CoreError::not_found("record", id))?,
                None,
            ),
        };
        let mut doc = doc.with_actor(actor.clone());
        let before = doc.get_heads();
        doc.load_incremental(bytes).map_err(malformed)?;
        (doc, before, known)
    };
    let after = doc.get_heads();
    if after == before {
        // Nothing new: the record known before still holds.
        return Ok(Merged {
            merged: false,
            exists: !is_new,
            doc: (!is_new).then_some(doc),
            record: known,
        });
    }
    let json = crate::doc::read_json(&doc)?;
    let found_kind = json
        .get("kind")
        .and_then(|k| k.as_str())
        .and_then(RecordKind::parse);
    if found_kind != Some(kind) || json.get("id").and_then(|v| v.as_str()) != Some(id) {
        return Err(CoreError::MalformedDocument {
            doc_id: id.to_string(),
            reason: "merged content is not a record of the declared kind and id".into(),
        });
    }
    let record = parse_record(id, kind, &json)?;
    projection::project_record(tx, &record)?;
    let chunk = if is_new && doc.get_missing_deps(&[]).is_empty() {
        // The bytes as received load to exactly this document: storing them skips a
        // re-encode per document on a first sync.
        bytes.to_vec()
    } else if is_new {
        doc.save()
    } else {
        doc.save_after(&before)
    };
    persist_chunk(tx, id, kind, &mut doc, &chunk, is_new, mark_dirty)?;
    Ok(Merged {
        merged: true,
        exists: true,
        doc: Some(doc),
        record: Some(record),
    })
}

fn persist_chunk(
    tx: &Transaction<'_>,
    id: &str,
    kind: RecordKind,
    doc: &mut AutoCommit,
    bytes: &[u8],
    is_new: bool,
    mark_dirty: bool,
) -> Result<()> {
    let now = crate::ids::now_ms();
    let heads = encode_heads(&doc.get_heads());
    if is_new {
        tx.prepare_cached("INSERT INTO chunks(doc_id, seq, kind, bytes) VALUES (?1, 0, 0, ?2)")?
            .execute(params![id, bytes])?;
        tx.prepare_cached(
            "INSERT INTO docs(id, kind, heads, chunk_count, next_seq, updated_at_ms,
                              local_change, synced_change)
             VALUES (?1, ?2, ?3, 1, 1, ?4, 1, ?5)",
        )?
        .execute(params![
            id,
            kind.as_str(),
            heads,
            now,
            if mark_dirty { 0 } else { 1 }
        ])?;
        return Ok(());
    }
    let (count, next_seq): (i64, i64) = tx
        .prepare_cached("SELECT chunk_count, next_seq FROM docs WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let dirty_sql = if mark_dirty {
        "local_change = local_change + 1"
    } else {
        "local_change = local_change + 1, synced_change = synced_change + 1"
    };
    if count + 1 > COMPACT_AFTER_CHUNKS {
        let snapshot = doc.save();
        tx.execute("DELETE FROM chunks WHERE doc_id = ?1", [id])?;
        tx.execute(
            "INSERT INTO chunks(doc_id, seq, kind, bytes) VALUES (?1, ?2, 0, ?3)",
            params![id, next_seq, snapshot],
        )?;
        tx.execute(
            &format!(
                "UPDATE docs SET heads = ?2, chunk_count = 1, next_seq = ?3, updated_at_ms = ?4,
                 {dirty_sql} WHERE id = ?1"
            ),
            params![id, heads, next_seq + 1, now],
        )?;
    } else {
        tx.prepare_cached("INSERT INTO chunks(doc_id, seq, kind, bytes) VALUES (?1, ?2, 1, ?3)")?
            .execute(params![id, next_seq, bytes])?;
        tx.prepare_cached(&format!(
            "UPDATE docs SET heads = ?2, chunk_count = chunk_count + 1, next_seq = ?3,
             updated_at_ms = ?4, {dirty_sql} WHERE id = ?1"
        ))?
        .execute(params![id, heads, next_seq + 1, now])?;
    }
    Ok(())
}
