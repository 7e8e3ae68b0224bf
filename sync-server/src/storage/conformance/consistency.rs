//! Read consistency under concurrent writers: every read of a document is one committed state
//! (its heads are the heads of the bytes read, its chunk count the chunks written up to that
//! write), a batch is seen whole or not at all, and no acknowledged write is lost.
//!
//! The writers edit real Automerge documents, append incremental chunks with the heads they
//! read and now and then compact (replace every chunk), so a read that took its row and its
//! chunks from two different commits shows up as bytes whose heads are not the stored heads.

use super::*;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Writer tasks per document, and successful writes each makes.
const WRITERS: usize = 3;
const WRITES_EACH: usize = 12;

fn heads_of(doc: &mut AutoCommit) -> Vec<u8> {
    doc.get_heads().iter().flat_map(|h| h.0).collect()
}

fn load(bytes: &[u8]) -> StorageResult<AutoCommit> {
    AutoCommit::load(bytes).map_err(|e| StorageError::Database(format!("unloadable: {e}")))
}

fn new_doc_write(id: &str, doc: &mut AutoCommit) -> DocWrite {
    DocWrite {
        doc_id: id.into(),
        kind: RecordKind::Case,
        unit: "u".into(),
        party_hash: None,
        expected_heads: None,
        new_heads: heads_of(doc),
        chunk: doc.save(),
        replace: true,
        blob_refs: vec![],
        numbers: vec![],
    }
}

/// Applies one edit (key `key` set) to the document as stored and returns the write: an
/// incremental chunk over the heads read, or every third time the whole document (compaction).
fn edit(stored: &StoredDoc, key: &str, compact: bool) -> StorageResult<DocWrite> {
    let mut doc = load(&stored.bytes)?;
    let before = doc.get_heads();
    doc.put(automerge::ROOT, key, 1_i64)
        .map_err(|e| StorageError::Database(e.to_string()))?;
    doc.commit();
    let chunk = if compact {
        doc.save()
    } else {
        doc.save_after(&before)
    };
    Ok(DocWrite {
        doc_id: stored.doc_id.clone(),
        kind: stored.kind,
        unit: stored.unit.clone(),
        party_hash: None,
        expected_heads: Some(stored.heads.clone()),
        new_heads: heads_of(&mut doc),
        chunk,
        replace: compact,
        blob_refs: vec![],
        numbers: vec![],
    })
}

/// The chunk count each committed state (by its heads) must be read with.
type Counts = Arc<Mutex<HashMap<Vec<u8>, i64>>>;

fn record(counts: &Counts, heads: Vec<u8>, chunk_count: i64) {
    counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(heads, chunk_count);
}

/// One writer: `WRITES_EACH` acknowledged edits of `id`, each retried on a conflict with a
/// fresh read. Returns the keys it wrote.
async fn writer(
    s: Arc<dyn Storage>,
    id: &str,
    w: usize,
    counts: Counts,
) -> StorageResult<Vec<String>> {
    let mut written = Vec::new();
    let mut tries = 0;
    while written.len() < WRITES_EACH {
        tries += 1;
        assert!(tries < 2_000, "writer {w} starved");
        let stored = s
            .load_doc(id)
            .await?
            .ok_or_else(|| StorageError::NotFound(id.into()))?;
        let key = format!("w{w}-{}", written.len());
        let compact = (written.len() + w).is_multiple_of(3);
        let write = edit(&stored, &key, compact)?;
        let count = if compact { 1 } else { stored.chunk_count + 1 };
        let heads = write.new_heads.clone();
        match s.write_doc(write).await {
            Ok(_) => {
                record(&counts, heads, count);
                written.push(key);
            }
            Err(StorageError::Conflict(_)) => tokio::task::yield_now().await,
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// What a reader saw: the stored heads, the heads of the bytes, the chunk count.
type Seen = Vec<(Vec<u8>, Vec<u8>, i64)>;

/// Many writers of one document and readers of it at once: every read is one committed state,
/// every acknowledged write is in the final document.
pub async fn read_consistency(s: Arc<dyn Storage>) -> StorageResult<()> {
    let id = "consistent";
    let mut doc = AutoCommit::new();
    doc.put(automerge::ROOT, "created", 1_i64)
        .map_err(|e| StorageError::Database(e.to_string()))?;
    doc.commit();
    let first = new_doc_write(id, &mut doc);
    let counts: Counts = Arc::default();
    record(&counts, first.new_heads.clone(), 1);
    s.write_doc(first).await?;

    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (s, done) = (s.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut seen: Seen = Vec::new();
            while !done.load(Ordering::Relaxed) || seen.is_empty() {
                // The single read and the batched read must both be one snapshot.
                let one = s.load_doc(id).await?;
                let many = s.load_docs(&[id.to_string()]).await?;
                for d in one.into_iter().chain(many.into_iter().flatten()) {
                    let mut loaded = load(&d.bytes)?;
                    seen.push((d.heads, heads_of(&mut loaded), d.chunk_count));
                }
                tokio::task::yield_now().await;
            }
            StorageResult::Ok(seen)
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (s, counts) = (s.clone(), counts.clone());
        writers.push(tokio::spawn(async move { writer(s, id, w, counts).await }));
    }
    let mut keys = Vec::new();
    for t in writers {
        keys.extend(t.await.map_err(|e| StorageError::Task(e.to_string()))??);
    }
    done.store(true, Ordering::Relaxed);
    let counts = counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut reads = 0;
    for t in readers {
        for (stored, loaded, chunk_count) in
            t.await.map_err(|e| StorageError::Task(e.to_string()))??
        {
            reads += 1;
            assert_eq!(
                stored, loaded,
                "the heads read are the heads of the bytes read"
            );
            assert_eq!(
                counts.get(&stored),
                Some(&chunk_count),
                "the chunk count read is the one its write left"
            );
        }
    }
    assert!(reads > 0);
    // No acknowledged write is lost.
    let last = s
        .load_doc(id)
        .await?
        .ok_or_else(|| StorageError::NotFound(id.into()))?;
    let last_doc = load(&last.bytes)?;
    assert_eq!(keys.len(), WRITERS * WRITES_EACH);
    for key in &keys {
        assert!(
            last_doc
                .get(automerge::ROOT, key.as_str())
                .map_err(|e| StorageError::Database(e.to_string()))?
                .is_some(),
            "write {key} lost"
        );
    }
    Ok(())
}

/// A batch that writes two documents is read whole: a reader of both at once sees both
/// before it or both after it, never one of each.
pub async fn batch_read_consistency(s: Arc<dyn Storage>) -> StorageResult<()> {
    let ids = ["pair-a".to_string(), "pair-b".to_string()];
    let mut docs: Vec<AutoCommit> = Vec::new();
    let mut first = Vec::new();
    for id in &ids {
        let mut d = AutoCommit::new();
        d.put(automerge::ROOT, "n", 0_i64)
            .map_err(|e| StorageError::Database(e.to_string()))?;
        d.commit();
        first.push(new_doc_write(id, &mut d));
        docs.push(d);
    }
    s.write_docs(first).await?;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (s, done, ids) = (s.clone(), done.clone(), ids.to_vec());
        tokio::spawn(async move {
            let mut pairs = 0;
            while !done.load(Ordering::Relaxed) || pairs == 0 {
                let both = s.load_docs(&ids).await?;
                let mut ns = Vec::new();
                for d in both.into_iter().flatten() {
                    let loaded = load(&d.bytes)?;
                    let n = match loaded.get(automerge::ROOT, "n") {
                        Ok(Some((automerge::Value::Scalar(v), _))) => v.as_i64(),
                        _ => None,
                    };
                    ns.push(n);
                }
                assert_eq!(ns.len(), 2);
                assert_eq!(ns[0], ns[1], "one batch seen half-written");
                pairs += 1;
                tokio::task::yield_now().await;
            }
            StorageResult::Ok(pairs)
        })
    };
    for n in 1..=20_i64 {
        let mut batch = Vec::new();
        for (id, d) in ids.iter().zip(docs.iter_mut()) {
            let before = d.get_heads();
            let expected: Vec<u8> = before.iter().flat_map(|h| h.0).collect();
            d.put(automerge::ROOT, "n", n)
                .map_err(|e| StorageError::Database(e.to_string()))?;
            d.commit();
            batch.push(DocWrite {
                doc_id: id.clone(),
                kind: RecordKind::Case,
                unit: "u".into(),
                party_hash: None,
                expected_heads: Some(expected),
                new_heads: heads_of(d),
                chunk: d.save_after(&before),
                replace: false,
                blob_refs: vec![],
                numbers: vec![],
            });
        }
        let out = s.write_docs(batch).await?;
        assert!(out.iter().all(|o| matches!(o, WriteOutcome::Written(_))));
        tokio::task::yield_now().await;
    }
    done.store(true, Ordering::Relaxed);
    let pairs = reader
        .await
        .map_err(|e| StorageError::Task(e.to_string()))??;
    assert!(pairs > 0);
    Ok(())
}
