//! The record rounds of a sync session, without I/O: it reads the store, builds the next
//! request, and applies a response. [`super::machine::SyncMachine`] runs it as the first
//! phase of a whole session; the HTTP shell in [`super::client`] only moves the bytes.
//!
//! One session runs rounds until nothing is left to push, nothing the feed announced is
//! missing, and the server has no more feed pages:
//!
//! 1. The request carries the dirty documents (each as `save_after(server_heads)`, capped by
//!    bytes) and "wants" (empty changes) for documents the previous feed announced with heads
//!    this store does not hold.
//! 2. The response's per-document results are merged with the sync bookkeeping in one
//!    transaction each; feed entries whose heads are already here only update `server_heads`.
//! 3. The cursor is persisted only when every document announced up to it is held, so a crash
//!    or a lost response at any point repeats work but never skips a document.

use super::wire::{
    DEFAULT_BATCH_BYTES, DocPush, DocStatus, FEED_PAGE, PROTOCOL_VERSION, SignedCatalogue,
    SyncRequest, SyncResponse,
};
use crate::model::RecordKind;
use crate::store::{FieldStore, SyncApply};
use crate::{CoreError, Result};
use std::collections::{HashMap, HashSet, VecDeque};

/// Meta key of the persisted feed cursor.
pub const META_CURSOR: &str = "sync_cursor";
/// Meta key of the time (device clock, ms) the last complete sync finished.
pub const META_SYNCED_AT: &str = "synced_at_ms";
/// Meta key of the server clock minus the device clock, in ms.
pub const META_CLOCK_OFFSET: &str = "clock_offset_ms";
/// Meta key of the server's restore epoch this phone last synced under.
pub const META_RESTORE_EPOCH: &str = "sync_restore_epoch";

/// What a reply's restore epoch means for the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochStep {
    /// No epoch (an older server), or the one recorded: nothing to do.
    Same,
    /// The first epoch this phone hears: recorded, nothing else (it has never synced under
    /// another one, so it cannot have lost anything to a restore).
    Record,
    /// Another epoch than the one recorded: the server was restored from a backup and may
    /// lack what this phone sent since. Forget what the server was believed to hold, read the
    /// feed from 0 and offer everything again.
    Reset,
    /// Another epoch again after a reset in this session (servers behind one address that
    /// disagree): not acted on, the recorded one kept, so the next session decides again.
    /// Bounds the resets to one per session.
    Ignore,
}

/// Decides [`EpochStep`] from the epoch recorded on the phone, the one in a reply, and
/// whether this session has reset already.
pub fn epoch_step(recorded: Option<&str>, announced: Option<&str>, reset_done: bool) -> EpochStep {
    let Some(announced) = announced.filter(|e| !e.is_empty()) else {
        return EpochStep::Same;
    };
    match recorded.filter(|e| !e.is_empty()) {
        None => EpochStep::Record,
        Some(r) if r == announced => EpochStep::Same,
        Some(_) if reset_done => EpochStep::Ignore,
        Some(_) => EpochStep::Reset,
    }
}

/// Wants carried by one request at most: a whole feed page, so a first sync takes about one
/// round trip per page. The server answers as many as fit its reply budget; the rest stay
/// queued for the next request.
const WANTS_PER_REQUEST: usize = FEED_PAGE;
/// Rounds one session runs at most (a guard against a misbehaving server).
const MAX_ROUNDS: u32 = 10_000;

/// What one session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Requests sent (round trips).
    pub round_trips: u32,
    /// Documents pushed with changes.
    pub pushed: u32,
    /// Pushed documents the server accepted.
    pub accepted: u32,
    /// Pushed documents the server rejected (kept locally, marked rejected).
    pub rejected: u32,
    /// Pushed documents of which the server merged only this device's own changes, leaving
    /// changes relayed from another phone for that phone to push (sent again next sync).
    pub deferred: u32,
    /// Documents that gained changes from the server.
    pub received: u32,
    /// Feed entries seen.
    pub feed_entries: u32,
    /// Request body bytes (filled by the shell).
    pub bytes_sent: u64,
    /// Response body bytes (filled by the shell).
    pub bytes_received: u64,
    /// The cursor persisted at the end.
    pub cursor: i64,
    /// Whether the session ended with everything exchanged.
    pub complete: bool,
    /// Evidence files the server verified and stored in this session.
    pub blobs_uploaded: u32,
    /// Evidence files still not confirmed by the server after this session (refused for now,
    /// e.g. because the record naming them was rejected, or unreadable locally).
    pub blobs_pending: u32,
    /// Device keys learned from the server that this phone did not trust before.
    pub device_keys_learned: u32,
    /// Thumbnails of evidence in documents received in this session, downloaded because
    /// this phone did not hold them.
    pub thumbnails_fetched: u32,
    /// Every pushed document the server rejected, with its reason.
    pub rejections: Vec<Rejection>,
    /// Documents the server sent that this phone could not merge (bytes that do not parse,
    /// or content that is not the record the server named), with the reason. Everything
    /// else in the same reply is merged; the session ends incomplete and the cursor stays
    /// where it was, so the next sync asks for them again.
    pub unreadable: Vec<Rejection>,
    /// The catalogue version received in this session, verified, stored and put in force for
    /// new cases.
    pub catalogue_received: Option<String>,
    /// A catalogue the server sent that this phone refused (signature, content, or no server
    /// key pinned), with the reason. Nothing was stored or changed; the server offers it
    /// again at the next sync.
    pub catalogue_refused: Option<CatalogueRefusal>,
    /// The server announced a new restore epoch (it was restored from a backup): this
    /// session read the feed from 0 and offered every document and evidence file again.
    pub server_restored: bool,
}

/// A catalogue bundle the phone refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueRefusal {
    /// The version the server announced.
    pub version: String,
    /// Why it was refused.
    pub reason: String,
}

/// A pushed document the server refused (kept on the phone, marked rejected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The document.
    pub doc_id: String,
    /// The server's reason.
    pub reason: String,
    /// The server's stable refusal code (`decision_invalid`, `procedure_invalid`, ...), which
    /// an app maps to its own words.
    pub code: Option<String>,
}

/// What was in flight for one document.
#[derive(Debug, Clone)]
struct Sent {
    /// `Some(local_change)` for a push, `None` for a want.
    acked: Option<i64>,
}

/// One sync session (see the module docs).
#[derive(Debug)]
pub struct SyncSession {
    device_id: String,
    batch_bytes: usize,
    /// The newest cursor a response gave.
    cursor: i64,
    /// Whether the last response said more feed pages follow.
    more: bool,
    /// Announced documents not yet held, in feed order.
    wants: VecDeque<(String, RecordKind)>,
    want_set: HashSet<String>,
    /// Documents pushed in this session (not pushed again unless the server asks).
    pushed: HashSet<String>,
    /// Documents the server asked to receive whole.
    need_full: HashSet<String>,
    /// The request in flight.
    in_flight: Option<(String, HashMap<String, Sent>)>,
    report: SyncReport,
    finished: bool,
    /// Documents that gained changes from the server in this session, in arrival order.
    received_docs: Vec<(String, RecordKind)>,
    /// A catalogue that arrived before this phone had the server's key to check it against:
    /// checked after the key fetch of the same sync ([`SyncSession::install_pending_catalogue`]).
    pending_catalogue: Option<SignedCatalogue>,
    /// The version refused (or held pending) in this session, so the server does not send it
    /// again with every round trip.
    catalogue_refused: Option<String>,
    /// Whether a new restore epoch already reset this session (at most once per session).
    reset_done: bool,
}

fn read_i64(store: &FieldStore, key: &str) -> Result<Option<i64>> {
    Ok(store
        .meta(key)?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse().ok()))
}

impl SyncSession {
    /// A session for `device_id`, starting at the store's persisted cursor.
    pub fn new(store: &FieldStore, device_id: impl Into<String>) -> Result<Self> {
        let cursor = read_i64(store, META_CURSOR)?.unwrap_or(0);
        Ok(SyncSession {
            device_id: device_id.into(),
            batch_bytes: DEFAULT_BATCH_BYTES,
            cursor,
            more: false,
            wants: VecDeque::new(),
            want_set: HashSet::new(),
            pushed: HashSet::new(),
            need_full: HashSet::new(),
            in_flight: None,
            report: SyncReport {
                cursor,
                ..SyncReport::default()
            },
            finished: false,
            received_docs: Vec::new(),
            pending_catalogue: None,
            catalogue_refused: None,
            reset_done: false,
        })
    }

    /// Caps the Automerge bytes per request (at least one document is always sent).
    pub fn with_batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes.max(1);
        self
    }

    /// What the session did so far.
    pub fn report(&self) -> &SyncReport {
        &self.report
    }

    /// Documents that gained changes from the server in this session (id, kind), each once.
    pub fn received_docs(&self) -> &[(String, RecordKind)] {
        &self.received_docs
    }

    /// Mutable access for the shell's byte counters.
    pub fn report_mut(&mut self) -> &mut SyncReport {
        &mut self.report
    }

    /// The next request, or `None` when the session is complete. Calling it again before
    /// [`SyncSession::apply_response`] rebuilds the same request (a retry after a lost reply).
    pub fn next_request(&mut self, store: &FieldStore) -> Result<Option<SyncRequest>> {
        if self.finished {
            return Ok(None);
        }
        if self.report.round_trips >= MAX_ROUNDS {
            return Err(CoreError::Protocol {
                reason: format!("sync did not settle after {MAX_ROUNDS} rounds"),
            });
        }
        let mut docs = Vec::new();
        let mut sent = HashMap::new();
        for (id, kind) in self.wants.iter().take(WANTS_PER_REQUEST) {
            docs.push(DocPush {
                doc_id: id.clone(),
                kind: *kind,
                have_heads: store.doc_heads(id)?.unwrap_or_default(),
                server_heads: vec![],
                changes: vec![],
            });
            sent.insert(id.clone(), Sent { acked: None });
        }
        let mut bytes = 0usize;
        let mut exclude: HashSet<String> =
            self.pushed.difference(&self.need_full).cloned().collect();
        exclude.extend(sent.keys().cloned());
        'fill: loop {
            let batch = store.dirty_docs(64, &exclude)?;
            if batch.is_empty() {
                break;
            }
            for d in batch {
                exclude.insert(d.doc_id.clone());
                let full = self.need_full.contains(&d.doc_id);
                let server_heads = if full { vec![] } else { d.server_heads };
                let changes = store.changes_after(&d.doc_id, &server_heads)?;
                if bytes > 0 && bytes + changes.len() > self.batch_bytes {
                    break 'fill;
                }
                bytes += changes.len();
                sent.insert(
                    d.doc_id.clone(),
                    Sent {
                        acked: Some(d.local_change),
                    },
                );
                docs.push(DocPush {
                    doc_id: d.doc_id,
                    kind: d.kind,
                    have_heads: d.heads,
                    server_heads,
                    changes,
                });
                if bytes >= self.batch_bytes {
                    break 'fill;
                }
            }
        }
        if docs.is_empty() && self.report.round_trips > 0 && !self.more {
            self.finish(store)?;
            return Ok(None);
        }
        let request_id = match &self.in_flight {
            Some((id, _)) => id.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        self.in_flight = Some((request_id.clone(), sent));
        Ok(Some(SyncRequest {
            protocol: PROTOCOL_VERSION,
            device_id: self.device_id.clone(),
            request_id,
            cursor: self.cursor,
            docs,
            actor_id: Some(store.actor_hex()),
            catalogue_version: Some(store.catalogue().version().to_string()),
            catalogue_versions: store.catalogue_versions(),
            catalogue_refused: self.catalogue_refused.clone(),
            roster_digest: store.roster_digest()?,
        }))
    }

    /// Applies the server's reply to the request last built.
    pub fn apply_response(&mut self, store: &FieldStore, resp: SyncResponse) -> Result<()> {
        if resp.protocol != PROTOCOL_VERSION {
            return Err(CoreError::Protocol {
                reason: format!("server speaks protocol {}", resp.protocol),
            });
        }
        let Some((_, sent)) = self.in_flight.take() else {
            return Err(CoreError::Protocol {
                reason: "a response arrived with no request in flight".into(),
            });
        };
        self.report.round_trips += 1;
        // Before the reply's documents: their results are the restored server's own state,
        // recorded over the forgotten one.
        let reset = self.follow_epoch(store, resp.restore_epoch.as_deref())?;
        let offset = resp.server_time_ms - crate::ids::now_ms();
        store.set_meta(META_CLOCK_OFFSET, offset.to_string().as_bytes())?;
        self.apply_catalogue(
            store,
            resp.catalogue_version.as_deref(),
            resp.catalogue.as_ref(),
        )?;
        if !resp.number_blocks.is_empty() {
            store.add_number_blocks(&resp.number_blocks)?;
        }
        if let (Some(roster), Some(digest)) = (&resp.roster, &resp.roster_digest) {
            store.set_roster(roster, digest)?;
        }

        // Every accepted document of the reply is merged in one transaction.
        let mut accepted = Vec::new();
        for r in &resp.docs {
            let Some(s) = sent.get(&r.doc_id) else {
                continue;
            };
            let is_push = s.acked.is_some();
            if is_push {
                self.pushed.insert(r.doc_id.clone());
            } else {
                self.want_set.remove(&r.doc_id);
            }
            match r.status {
                DocStatus::Accepted => {
                    // A deferred push merged only this device's own changes: it stays
                    // unacknowledged, so the next sync sends the rest again.
                    let deferred = r.code.as_deref() == Some(crate::sync::wire::CODE_DEFERRED);
                    if is_push {
                        if deferred {
                            self.report.deferred += 1;
                        } else {
                            self.report.accepted += 1;
                        }
                        self.need_full.remove(&r.doc_id);
                    }
                    accepted.push(SyncApply {
                        doc_id: &r.doc_id,
                        kind: r.kind,
                        changes: &r.changes,
                        server_heads: &r.server_heads,
                        acked_change: if deferred { None } else { s.acked },
                    });
                }
                DocStatus::Rejected => {
                    let reason = r.reason.clone().unwrap_or_else(|| "rejected".into());
                    if let Some(acked) = s.acked {
                        if r.code.as_deref() == Some(crate::sync::wire::CODE_QUARANTINED) {
                            // Part of the push merged: take the server's state without
                            // acknowledging the held part.
                            store.apply_sync_result(
                                &r.doc_id,
                                r.kind,
                                &r.changes,
                                &r.server_heads,
                                None,
                            )?;
                        }
                        self.report.rejected += 1;
                        self.report.rejections.push(Rejection {
                            doc_id: r.doc_id.clone(),
                            reason: reason.clone(),
                            code: r.code.clone(),
                        });
                        self.need_full.remove(&r.doc_id);
                        store.mark_sync_rejected(&r.doc_id, acked, &reason)?;
                    } else {
                        tracing::warn!(doc = %r.doc_id, "server refused a requested document");
                    }
                }
                DocStatus::NeedFull => {
                    if is_push && !self.need_full.contains(&r.doc_id) {
                        // Send the whole document in the next round.
                        self.need_full.insert(r.doc_id.clone());
                    } else {
                        self.need_full.remove(&r.doc_id);
                        tracing::warn!(doc = %r.doc_id, "server still lacks dependencies");
                    }
                }
            }
        }
        // Answered wants leave the queue (one pass, not one per document).
        let want_set = &self.want_set;
        self.wants.retain(|(id, _)| want_set.contains(id));
        let changed = self.apply_mergeable(store, &mut accepted)?;
        let mut received: HashSet<&str> = self
            .received_docs
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        let mut newly = Vec::new();
        for (a, changed) in accepted.iter().zip(changed) {
            if changed {
                self.report.received += 1;
                if received.insert(a.doc_id) {
                    newly.push((a.doc_id.to_string(), a.kind));
                }
            }
        }
        self.received_docs.extend(newly);
        // Wants the server did not answer at all stay queued; pushes it did not answer are
        // retried in a later session (they stay dirty).
        let answered: HashSet<&str> = resp.docs.iter().map(|r| r.doc_id.as_str()).collect();
        for (id, s) in &sent {
            if s.acked.is_some() && !answered.contains(id.as_str()) {
                self.pushed.insert(id.clone());
            }
        }
        let pushes = sent.values().filter(|s| s.acked.is_some()).count();
        self.report.pushed = self
            .report
            .pushed
            .saturating_add(u32::try_from(pushes).unwrap_or(u32::MAX));

        // Feed entries whose heads are already here only update `server_heads`, all in one
        // transaction.
        let mut held = Vec::new();
        for f in &resp.feed {
            self.report.feed_entries += 1;
            if self.want_set.contains(&f.doc_id) {
                continue;
            }
            if store.has_heads(&f.doc_id, &f.heads)? {
                if store.doc_kind(&f.doc_id)?.is_some() {
                    held.push(SyncApply {
                        doc_id: &f.doc_id,
                        kind: f.kind,
                        changes: &[],
                        server_heads: &f.heads,
                        acked_change: None,
                    });
                }
            } else {
                self.want_set.insert(f.doc_id.clone());
                self.wants.push_back((f.doc_id.clone(), f.kind));
            }
        }
        store.apply_sync_results(&held)?;
        if !reset {
            self.cursor = resp.cursor;
            self.more = resp.more;
        }
        if self.wants.is_empty() && self.report.unreadable.is_empty() {
            store.set_meta(META_CURSOR, self.cursor.to_string().as_bytes())?;
            self.report.cursor = self.cursor;
        }
        Ok(())
    }

    /// Acts on the reply's restore epoch ([`epoch_step`]); true when this reply reset the
    /// session. After a reset the session goes on from cursor 0 with `more` set, so at least
    /// one more round reads the feed from the start even when nothing is dirty, and every
    /// document goes up again (the server answers `accepted` at once for what it holds).
    fn follow_epoch(&mut self, store: &FieldStore, announced: Option<&str>) -> Result<bool> {
        let recorded = store
            .meta(META_RESTORE_EPOCH)?
            .and_then(|v| String::from_utf8(v).ok());
        match epoch_step(recorded.as_deref(), announced, self.reset_done) {
            EpochStep::Same => Ok(false),
            EpochStep::Record => {
                if let Some(e) = announced {
                    store.set_meta(META_RESTORE_EPOCH, e.as_bytes())?;
                }
                Ok(false)
            }
            EpochStep::Ignore => {
                tracing::warn!("restore epoch changed twice in one session; left for the next");
                Ok(false)
            }
            EpochStep::Reset => {
                let epoch = announced.unwrap_or_default();
                tracing::warn!("the server was restored from a backup: offering everything again");
                store.forget_server_state(epoch)?;
                self.reset_done = true;
                self.report.server_restored = true;
                self.cursor = 0;
                self.report.cursor = 0;
                self.more = true;
                self.pushed.clear();
                self.need_full.clear();
                Ok(true)
            }
        }
    }

    /// Takes the server's catalogue: a signed bundle is checked and stored (or refused, and
    /// recorded in the report), and the server's current version is put in force when this
    /// phone holds it. A bundle that arrives before the server key is pinned waits for
    /// [`SyncSession::install_pending_catalogue`].
    fn apply_catalogue(
        &mut self,
        store: &FieldStore,
        current: Option<&str>,
        offer: Option<&SignedCatalogue>,
    ) -> Result<()> {
        if let Some(offer) = offer {
            self.catalogue_refused = Some(offer.version.clone());
            if store.server_signing_key()?.is_none() {
                self.pending_catalogue = Some(offer.clone());
            } else {
                self.install(store, offer)?;
            }
        }
        if let Some(v) = current
            && store.use_catalogue(v)?
        {
            tracing::info!(version = v, "catalogue put in force by the server");
        }
        Ok(())
    }

    fn install(&mut self, store: &FieldStore, offer: &SignedCatalogue) -> Result<()> {
        match store.install_catalogue(offer) {
            Ok(v) => {
                tracing::info!(version = %v, "catalogue received");
                self.report.catalogue_received = Some(v);
                self.report.catalogue_refused = None;
                self.catalogue_refused = None;
            }
            Err(CoreError::Catalogue { reason }) => {
                tracing::warn!(version = %offer.version, %reason, "catalogue refused");
                self.report.catalogue_refused = Some(CatalogueRefusal {
                    version: offer.version.clone(),
                    reason,
                });
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Whether a catalogue waits for the server's key (the shell then fetches the keys).
    pub fn has_pending_catalogue(&self) -> bool {
        self.pending_catalogue.is_some()
    }

    /// Checks a catalogue that arrived before the server key was pinned, now that the key
    /// fetch may have pinned it; without a key it is refused (nothing stored) and offered
    /// again at the next sync.
    pub fn install_pending_catalogue(&mut self, store: &FieldStore) -> Result<()> {
        if let Some(offer) = self.pending_catalogue.take() {
            self.install(store, &offer)?;
        }
        Ok(())
    }

    /// Merges the accepted documents of a reply in one transaction. A document that does not
    /// merge is set aside in `report.unreadable` and left out of that transaction, so one bad
    /// document cannot hold back the others (and costs no second pass over the reply).
    fn apply_mergeable(
        &mut self,
        store: &FieldStore,
        accepted: &mut Vec<SyncApply<'_>>,
    ) -> Result<Vec<bool>> {
        let (changed, aside) = store.apply_sync_results_setting_aside(accepted)?;
        if aside.is_empty() {
            return Ok(changed);
        }
        let mut bad = vec![false; accepted.len()];
        for (n, reason) in aside {
            let Some(a) = accepted.get(n) else { continue };
            tracing::warn!(doc = %a.doc_id, %reason, "the server sent a document that does not merge");
            bad[n] = true;
            self.report.unreadable.push(Rejection {
                doc_id: a.doc_id.to_string(),
                reason,
                code: None,
            });
        }
        let mut keep = bad.iter().map(|b| !b);
        accepted.retain(|_| keep.next().unwrap_or(true));
        Ok(changed
            .into_iter()
            .zip(&bad)
            .filter(|(_, b)| !**b)
            .map(|(c, _)| c)
            .collect())
    }

    fn finish(&mut self, store: &FieldStore) -> Result<()> {
        self.finished = true;
        if self.wants.is_empty() && self.report.unreadable.is_empty() {
            store.set_metas(&[
                (META_CURSOR, self.cursor.to_string().as_bytes()),
                (META_SYNCED_AT, crate::ids::now_ms().to_string().as_bytes()),
            ])?;
            self.report.cursor = self.cursor;
            self.report.complete = true;
        }
        Ok(())
    }
}
