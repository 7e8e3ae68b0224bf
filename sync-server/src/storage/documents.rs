//! Documents and the change feed: each record's Automerge bytes as chunks with its heads, unit
//! and kind; the feed position of its last write; the party index the exemption-conflict rule
//! reads; which blobs a document names; the document numbers its write took.
//!
//! The change feed: every document write takes the next value of one counter **inside the write
//! transaction** and stores it as the document's `seq`. Because the counter row is locked until
//! commit, feed order equals commit order, so a device that has seen every `seq <= c` never
//! misses a later commit with a smaller number. `latest_seq` read before a feed query is
//! therefore a safe cursor to hand out when the page is not full.
//!
//! A document is read in one snapshot on both backends (its row and its chunks), so the heads,
//! the chunk count and the bytes of a [`StoredDoc`] always belong to one committed write.

use super::error::{StorageError, StorageResult};
use super::numbers::UsedNumber;
use async_trait::async_trait;
use fieldcase_core::model::RecordKind;
use std::collections::HashMap;

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Unit path of the record.
    pub unit: String,
    /// Heads, concatenated 32-byte hashes.
    pub heads: Vec<u8>,
    /// Automerge bytes: the chunks concatenated in order (loadable with `AutoCommit::load`).
    pub bytes: Vec<u8>,
    /// Number of chunks stored.
    pub chunk_count: i64,
    /// Feed position of the last write.
    pub seq: i64,
}

/// A document write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocWrite {
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Unit path after the write.
    pub unit: String,
    /// Party match hash (cases with a party), for the exemption-conflict rule.
    pub party_hash: Option<String>,
    /// Heads the writer read: `None` for a new document. The write fails with
    /// [`StorageError::Conflict`] if the stored heads differ (a concurrent write).
    pub expected_heads: Option<Vec<u8>>,
    /// Heads after the write.
    pub new_heads: Vec<u8>,
    /// The new chunk (incremental changes), or with `replace` the whole document.
    pub chunk: Vec<u8>,
    /// Replace every stored chunk by `chunk` (compaction, or a new document).
    pub replace: bool,
    /// Blob SHA-256s (hex) the document refers to after the write.
    pub blob_refs: Vec<String>,
    /// Document numbers the write's new documents took.
    pub numbers: Vec<UsedNumber>,
}

impl DocWrite {
    /// Whether this write may go on over the stored heads (`None`: no such document): a new
    /// document needs none stored, an edit the very heads its writer read.
    pub(crate) fn applies_over(&self, stored: Option<&[u8]>) -> bool {
        match (stored, self.expected_heads.as_deref()) {
            (None, None) => true,
            (Some(stored), Some(expected)) => stored == expected,
            _ => false,
        }
    }
}

/// What became of one document of [`Documents::write_docs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Committed at this feed position.
    Written(i64),
    /// The stored heads were not the `expected_heads` (a concurrent write, or the same document
    /// earlier in the batch): nothing of this document was written; the writer reloads and
    /// retries.
    Conflict,
}

/// A feed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedQuery {
    /// Entries with `seq > after`.
    pub after: i64,
    /// ...and `seq <= upto`.
    pub upto: i64,
    /// Unit subtrees the reader may read.
    pub scopes: Vec<String>,
    /// Kinds the reader may read.
    pub kinds: Vec<RecordKind>,
    /// Page size.
    pub limit: usize,
}

impl FeedQuery {
    /// The page size as SQL takes it.
    pub(crate) fn sql_limit(&self) -> i64 {
        i64::try_from(self.limit).unwrap_or(i64::MAX)
    }
}

/// One feed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItem {
    /// Feed position.
    pub seq: i64,
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Heads, concatenated.
    pub heads: Vec<u8>,
}

/// Documents, their blob references and the feed.
#[async_trait]
pub trait Documents: Send + Sync {
    /// A document, read in one snapshot.
    async fn load_doc(&self, doc_id: &str) -> StorageResult<Option<StoredDoc>>;
    /// Several documents in one storage round and one snapshot (one read transaction on
    /// SQLite, one repeatable-read transaction on PostgreSQL), in the order of `doc_ids`.
    async fn load_docs(&self, doc_ids: &[String]) -> StorageResult<Vec<Option<StoredDoc>>>;
    /// Writes documents in one transaction (one commit, one fsync, for a whole sync request).
    /// Each write is checked like [`Documents::write_doc`]; one whose heads changed is left out
    /// as [`WriteOutcome::Conflict`] while the others are written. The outcomes follow the
    /// order of `writes`, and so do the feed positions of the written ones. Any other error
    /// writes nothing at all.
    async fn write_docs(&self, writes: Vec<DocWrite>) -> StorageResult<Vec<WriteOutcome>>;
    /// Writes a document and returns its new feed position (see [`DocWrite`]);
    /// [`StorageError::Conflict`] if its heads changed concurrently.
    async fn write_doc(&self, write: DocWrite) -> StorageResult<i64> {
        match self.write_docs(vec![write]).await?.pop() {
            Some(WriteOutcome::Written(seq)) => Ok(seq),
            Some(WriteOutcome::Conflict) => Err(StorageError::Conflict(
                "document changed concurrently".into(),
            )),
            None => Err(StorageError::Database(
                "document write wrote nothing".into(),
            )),
        }
    }
    /// Ids of case documents whose party has this match hash.
    async fn docs_by_party(&self, party_hash: &str) -> StorageResult<Vec<String>>;
    /// The highest feed position committed.
    async fn latest_seq(&self) -> StorageResult<i64>;
    /// A page of the feed, by position.
    async fn feed(&self, query: FeedQuery) -> StorageResult<Vec<FeedItem>>;
    /// Number of documents.
    async fn doc_count(&self) -> StorageResult<i64>;
    /// Every document id, sorted (for `admin verify` and backups).
    async fn doc_ids(&self) -> StorageResult<Vec<String>>;
}

/// The answer to [`Documents::load_docs`] from the documents found: in the order asked, a
/// missing one as `None`, one named twice answered twice (moved out at its last mention).
pub(crate) fn in_request_order(
    doc_ids: &[String],
    mut found: HashMap<String, StoredDoc>,
) -> Vec<Option<StoredDoc>> {
    let mut left: HashMap<&str, usize> = HashMap::new();
    for id in doc_ids {
        *left.entry(id.as_str()).or_default() += 1;
    }
    doc_ids
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
        .collect()
}
