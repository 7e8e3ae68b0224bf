//! Sync bookkeeping of the phone store: which documents are dirty, what the server is known to
//! hold, and applying the server's answer in the same transaction as the merge.
//!
//! A document is dirty while `local_change > synced_change`. The sync client reads
//! `local_change` when it builds a request and, once the server accepted the document and the
//! reply was applied, raises `synced_change` to that value, so an edit made while a request was
//! in flight stays dirty and goes out with the next one.

use super::ChangeOrigin as Origin;
use super::FieldStore;
use super::docs::{decode_heads, doc_kind, encode_heads, load_doc};
use crate::model::RecordKind;
use crate::{CoreError, Result};
use automerge::ChangeHash;
use rusqlite::{OptionalExtension, params};

/// A document with local changes the server has not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyDoc {
    /// Record id.
    pub doc_id: String,
    /// Record kind.
    pub kind: RecordKind,
    /// The `local_change` counter when read; acknowledged up to this value.
    pub local_change: i64,
    /// Current heads, hex.
    pub heads: Vec<String>,
    /// Last heads the server was known to hold, hex (empty if none).
    pub server_heads: Vec<String>,
}

/// A document the server refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedDoc {
    /// Record id.
    pub doc_id: String,
    /// The server's reason.
    pub reason: String,
}

fn hex_heads(bytes: &[u8]) -> Result<Vec<String>> {
    Ok(decode_heads(bytes)?.iter().map(|h| h.to_string()).collect())
}

/// Parses hex change hashes.
pub(crate) fn parse_heads(hex: &[String]) -> Result<Vec<ChangeHash>> {
    hex.iter()
        .map(|h| {
            h.parse::<ChangeHash>()
                .map_err(|e| CoreError::invalid("heads", e.to_string()))
        })
        .collect()
}

/// The server's answer for one document, to apply with [`FieldStore::apply_sync_results`].
#[derive(Debug, Clone, Copy)]
pub struct SyncApply<'a> {
    /// Record id.
    pub doc_id: &'a str,
    /// Record kind.
    pub kind: RecordKind,
    /// Changes the server sent (may be empty).
    pub changes: &'a [u8],
    /// The server's heads, hex.
    pub server_heads: &'a [String],
    /// For a push the server accepted: the `local_change` it acknowledges.
    pub acked_change: Option<i64>,
}

/// Records the server heads of a document just merged (only those whose changes are here:
/// when the heads are not ours, the hashes are looked up in a fresh load of the document)
/// and, for an acknowledged push, that local changes up to `acked` are on the server.
fn record_server_heads(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    server: &[ChangeHash],
    acked_change: Option<i64>,
    merged: bool,
) -> Result<()> {
    let ours: Vec<u8> = tx
        .prepare_cached("SELECT heads FROM docs WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    let ours = decode_heads(&ours)?;
    let known: Vec<ChangeHash> = if server.iter().all(|h| ours.contains(h)) {
        server.to_vec()
    } else {
        match load_doc(tx, id)? {
            Some(mut d) => server
                .iter()
                .filter(|h| d.get_change_by_hash(h).is_some())
                .copied()
                .collect(),
            None => vec![],
        }
    };
    let bump = i64::from(merged);
    match acked_change {
        Some(acked) => tx
            .prepare_cached(
                "UPDATE docs SET server_heads = ?2, rejected = NULL,
                 synced_change = max(synced_change, ?3 + ?4) WHERE id = ?1",
            )?
            .execute(params![id, encode_heads(&known), acked, bump])?,
        None => tx
            .prepare_cached("UPDATE docs SET server_heads = ?2 WHERE id = ?1")?
            .execute(params![id, encode_heads(&known)])?,
    };
    Ok(())
}

impl FieldStore {
    /// Up to `limit` dirty documents, oldest id first, skipping `exclude`.
    pub fn dirty_docs(
        &self,
        limit: usize,
        exclude: &std::collections::HashSet<String>,
    ) -> Result<Vec<DirtyDoc>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, kind, local_change, heads, server_heads FROM docs
                 WHERE local_change > synced_change ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                if out.len() >= limit {
                    break;
                }
                let id: String = r.get(0)?;
                if exclude.contains(&id) {
                    continue;
                }
                let kind: String = r.get(1)?;
                let Some(kind) = RecordKind::parse(&kind) else {
                    continue;
                };
                let heads: Vec<u8> = r.get(3)?;
                let server: Option<Vec<u8>> = r.get(4)?;
                out.push(DirtyDoc {
                    doc_id: id,
                    kind,
                    local_change: r.get(2)?,
                    heads: hex_heads(&heads)?,
                    server_heads: match server {
                        Some(b) => hex_heads(&b)?,
                        None => vec![],
                    },
                });
            }
            Ok(out)
        })
    }

    /// How many documents are dirty.
    pub fn dirty_count(&self) -> Result<i64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM docs WHERE local_change > synced_change",
                [],
                |r| r.get(0),
            )?)
        })
    }

    /// The document's changes not covered by `heads` (all of it when `heads` is empty or names
    /// a change this store does not have).
    pub fn changes_after(&self, doc_id: &str, heads: &[String]) -> Result<Vec<u8>> {
        if heads.is_empty() {
            // Everything: the stored chunks as they are, without loading the document.
            return self.read(|c| {
                super::docs::stored_bytes(c, doc_id)?
                    .ok_or_else(|| CoreError::not_found("record", doc_id))
            });
        }
        let mut doc = self.load(doc_id)?;
        let heads = parse_heads(heads)?;
        if heads.iter().all(|h| doc.get_change_by_hash(h).is_some()) {
            Ok(doc.save_after(&heads))
        } else {
            Ok(doc.save())
        }
    }

    /// The document's heads (hex), if this store has it.
    pub fn doc_heads(&self, doc_id: &str) -> Result<Option<Vec<String>>> {
        self.read(|c| {
            let heads: Option<Vec<u8>> = c
                .query_row("SELECT heads FROM docs WHERE id = ?1", [doc_id], |r| {
                    r.get(0)
                })
                .optional()?;
            heads.map(|h| hex_heads(&h)).transpose()
        })
    }

    /// Whether this store holds every change named by `heads`.
    pub fn has_heads(&self, doc_id: &str, heads: &[String]) -> Result<bool> {
        let Some(ours) = self.doc_heads(doc_id)? else {
            return Ok(heads.is_empty());
        };
        if heads.iter().all(|h| ours.contains(h)) {
            return Ok(true);
        }
        let mut doc = self.load(doc_id)?;
        let heads = parse_heads(heads)?;
        Ok(heads.iter().all(|h| doc.get_change_by_hash(h).is_some()))
    }

    /// Merges what the server sent for a document and records, in the same transaction, the
    /// server's heads and (when `acked_change` is given) that local changes up to that counter
    /// are on the server. Server heads this store cannot verify (changes still missing) are
    /// not recorded. Returns whether the document changed.
    pub fn apply_sync_result(
        &self,
        doc_id: &str,
        kind: RecordKind,
        changes: &[u8],
        server_heads: &[String],
        acked_change: Option<i64>,
    ) -> Result<bool> {
        let mut changed = self.apply_sync_results(&[SyncApply {
            doc_id,
            kind,
            changes,
            server_heads,
            acked_change,
        }])?;
        Ok(changed.pop().unwrap_or(false))
    }

    /// [`FieldStore::apply_sync_result`] for every document of a server reply in one
    /// transaction, so a reply of a thousand documents costs one durable commit, not a
    /// thousand. All or nothing: on any error nothing is recorded and the session repeats
    /// the work later. Returns, per item, whether the document changed.
    pub fn apply_sync_results(&self, items: &[SyncApply<'_>]) -> Result<Vec<bool>> {
        self.apply_sync_results_inner(items, None)
    }

    /// [`FieldStore::apply_sync_results`], setting aside the documents that do not merge
    /// instead of failing the reply: each is returned by index with the reason, and the rest
    /// are merged in the same one transaction (one pass, whatever the number set aside).
    pub fn apply_sync_results_setting_aside(
        &self,
        items: &[SyncApply<'_>],
    ) -> Result<(Vec<bool>, SetAside)> {
        let mut aside = Vec::new();
        let changed = self.apply_sync_results_inner(items, Some(&mut aside))?;
        Ok((changed, aside))
    }

    fn apply_sync_results_inner(
        &self,
        items: &[SyncApply<'_>],
        mut aside: Option<&mut Vec<(usize, String)>>,
    ) -> Result<Vec<bool>> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        let servers = items
            .iter()
            .map(|i| parse_heads(i.server_heads))
            .collect::<Result<Vec<_>>>()?;
        // The server's bytes are bounded before Automerge inflates them (a compromised or
        // impersonated server must not exhaust the phone's memory either).
        let budget = crate::doc::bounded::InflateBudget::per_request();
        // A refusal names the document, so the session sets it aside (`report.unreadable`)
        // and merges the rest instead of failing the whole reply.
        let mut refused = vec![false; items.len()];
        for (n, i) in items.iter().enumerate() {
            if let Err(e) = crate::doc::bounded::check(
                i.changes,
                crate::doc::bounded::MAX_CHUNK_INFLATED,
                &budget,
            ) {
                match aside.as_deref_mut() {
                    Some(a) => {
                        a.push((n, e.to_string()));
                        refused[n] = true;
                    }
                    None => {
                        return Err(CoreError::MalformedDocument {
                            doc_id: i.doc_id.to_string(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        // A document set aside before the merge is merged as empty (nothing to change), so the
        // indexes stay those of `items`; its bookkeeping is skipped below.
        let merges: Vec<(&str, RecordKind, &[u8])> = items
            .iter()
            .zip(&refused)
            .map(|(i, r)| (i.doc_id, i.kind, if *r { &[][..] } else { i.changes }))
            .collect();
        self.merge_docs_setting_aside(&merges, Origin::Sync, aside, |tx, n, merged| {
            if refused[n] {
                return Ok(());
            }
            let (item, server) = (&items[n], &servers[n]);
            record_server_heads(tx, item.doc_id, server, item.acked_change, merged)
        })
    }

    /// Marks a document as refused by the server: its local changes stay (nothing recorded is
    /// ever dropped), it is not pushed again until it is edited again, and `reason` is kept for
    /// the user to see.
    pub fn mark_sync_rejected(&self, doc_id: &str, acked_change: i64, reason: &str) -> Result<()> {
        self.write_tx(|tx| {
            tx.execute(
                "UPDATE docs SET rejected = ?2, synced_change = max(synced_change, ?3)
                 WHERE id = ?1",
                params![doc_id, reason, acked_change],
            )?;
            Ok(())
        })
    }

    /// Documents the server refused, with the reasons.
    pub fn rejected_docs(&self) -> Result<Vec<RejectedDoc>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, rejected FROM docs WHERE rejected IS NOT NULL ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(RejectedDoc {
                        doc_id: r.get(0)?,
                        reason: r.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Forgets everything this phone believed the server holds, because the server was
    /// restored from a backup (its restore epoch changed to `epoch`): every document not
    /// refused becomes dirty with no known server heads (so it goes up whole), every evidence
    /// file unconfirmed (so its status is asked again and what the server lacks is uploaded),
    /// the feed cursor goes back to 0, and `epoch` is recorded. One transaction: a crash
    /// before it commits leaves the old epoch, and the next sync resets again.
    ///
    /// Refused documents stay as they are: the same rules would refuse them again.
    pub fn forget_server_state(&self, epoch: &str) -> Result<()> {
        self.write_tx(|tx| {
            tx.execute(
                "UPDATE docs SET server_heads = NULL,
                 synced_change = CASE WHEN rejected IS NULL THEN 0 ELSE synced_change END",
                [],
            )?;
            tx.execute("UPDATE blobs SET server_confirmed_at_ms = NULL", [])?;
            super::set_meta(tx, crate::sync::session::META_CURSOR, b"0")?;
            super::set_meta(
                tx,
                crate::sync::session::META_RESTORE_EPOCH,
                epoch.as_bytes(),
            )?;
            Ok(())
        })
    }

    /// The record kind of a stored document.
    pub fn doc_kind(&self, doc_id: &str) -> Result<Option<RecordKind>> {
        self.read(|c| doc_kind(c, doc_id))
    }
}

/// Documents of a reply set aside, by index, with the reason each did not merge.
pub type SetAside = Vec<(usize, String)>;
