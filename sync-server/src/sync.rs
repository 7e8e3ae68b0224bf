//! `POST /v1/sync`: merge what the device pushed, validate, persist, answer with what the device
//! lacks, and page the change feed from the device's cursor.

use crate::access;
use crate::auth::Authed;
use crate::error::{Result, ServerError};
use crate::storage::{DocWrite, FeedQuery, StoredDoc, User, WriteOutcome};
use crate::{AppState, validate};
use automerge::{AutoCommit, ChangeHash, transaction::CommitOptions};
use axum::extract::State;
use fieldcase_core::model::{CaseRecord, RecordKind};
use fieldcase_core::rules::{Author, Refusal, RefusalCode};
use fieldcase_core::sync::wire::{
    CODE_DEFERRED, DocPush, DocResult, DocStatus, FEED_PAGE, FeedEntry, PROTOCOL_VERSION,
    SyncResponse,
};
use std::collections::{BTreeSet, HashMap};

/// Documents per request at most.
const MAX_DOCS: usize = 2000;
/// Chunks a stored document may grow to before it is rewritten as one snapshot.
const COMPACT_AFTER: i64 = 16;
/// Largest push of a new document stored as sent; a larger one is re-encoded, so that
/// padding (changes repeated in one push) cannot grow what every other phone downloads.
const VERBATIM_MAX: usize = 16 * 1024;
/// Bytes of changes a reply carries before further wants are left for the next request.
const REPLY_BUDGET: usize = 2 * 1024 * 1024;
/// Documents read from storage in one round while ingesting a request.
const LOAD_SLICE: usize = 100;
/// Attempts of a write that lost a race with a concurrent writer.
const WRITE_ATTEMPTS: usize = 5;

pub(crate) fn heads_hex(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            ChangeHash(h).to_string()
        })
        .collect()
}

fn encode(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

fn load(stored: Option<&StoredDoc>) -> Result<AutoCommit> {
    match stored {
        Some(s) => AutoCommit::load(&s.bytes).map_err(|e| {
            tracing::error!(doc = %s.doc_id, error = %e, "stored document does not load");
            ServerError::Database("stored document does not load".into())
        }),
        None => Ok(AutoCommit::new()),
    }
}

/// What the device lacks: everything after the heads it named that we know.
fn missing_for(doc: &mut AutoCommit, have: &[String]) -> Vec<u8> {
    let ours = doc.get_heads();
    // The usual answer to a push: the device names our heads (looking a change up by hash
    // rebuilds it, so the plain comparison comes first).
    if !ours.is_empty() && ours.iter().all(|h| have.contains(&h.to_string())) {
        return vec![];
    }
    let known: Vec<ChangeHash> = have
        .iter()
        .filter_map(|h| h.parse::<ChangeHash>().ok())
        .filter(|h| doc.get_change_by_hash(h).is_some())
        .collect();
    let have_all = known.len() == have.len();
    if have_all && !ours.is_empty() && ours.iter().all(|h| known.contains(h)) {
        return vec![];
    }
    doc.save_after(&known)
}

/// [`missing_for`] on a stored document, without loading it when the answer is plain: a
/// device that has nothing gets the stored bytes as they are (snapshot and chunks, which
/// `load_incremental` accepts), and a device that names every stored head gets nothing. Only
/// a device part-way behind costs an Automerge load.
fn missing_for_stored(stored: &StoredDoc, ours: &[String], have: &[String]) -> Result<Vec<u8>> {
    if have.is_empty() {
        return Ok(stored.bytes.clone());
    }
    if !ours.is_empty() && ours.iter().all(|h| have.contains(h)) {
        return Ok(vec![]);
    }
    let mut doc = load(Some(stored))?;
    Ok(missing_for(&mut doc, have))
}

fn result(push: &DocPush, status: DocStatus, reason: Option<String>) -> DocResult {
    DocResult {
        doc_id: push.doc_id.clone(),
        kind: push.kind,
        status,
        reason,
        code: None,
        server_heads: vec![],
        changes: vec![],
    }
}

/// What ingesting one pushed document decided.
enum Ingest {
    /// Answered without writing (a want, nothing new, rejected, or changes missing deps).
    Done(DocResult),
    /// Accepted: the write to commit, and the answer to give once it is committed.
    Write(Box<PendingWrite>),
}

/// An accepted document waiting for the request's one write transaction.
struct PendingWrite {
    write: DocWrite,
    result: DocResult,
    /// The party whose first-offence cases to check once written.
    party_check: Option<String>,
    /// Changes of revoked devices held back from the merge, recorded once the write commits.
    held: Option<crate::quarantine::Held>,
}

/// Who pushed a request, and what every document of it is screened against. Read once per
/// request: the revoked actors are one storage query, not one per document, and actors and
/// users are looked up once each.
struct Pusher<'a> {
    device_id: &'a str,
    user: &'a User,
    /// The author every pushed change is checked as.
    author: Author,
    revoked: Vec<crate::storage::RevokedActor>,
    /// Actor (hex) -> the device it is bound to, as looked up so far.
    actors: HashMap<String, Option<String>>,
    /// Users named in pushed cases, as looked up so far.
    users: validate::Users,
    /// Users looked up and not found.
    unknown_users: BTreeSet<String>,
    /// Officers' certificate numbers, loaded at the first pushed case.
    certs: Option<std::collections::BTreeMap<String, String>>,
    /// Document numbers named in pushed cases, as looked up so far.
    numbers: crate::numbering::Numbers,
    /// Refusals to write to the audit trail once the request is answered.
    refusals: Vec<crate::audit::AuditEvent>,
    /// Decoded bytes the request's pushes may still inflate to (see [`crate::inflate`]).
    budget: fieldcase_core::doc::bounded::InflateBudget,
}

/// Whose a pushed change is.
enum Owner<'r> {
    /// The pushing device's own actor.
    Own,
    /// A revoked device's actor.
    Revoked(&'r crate::storage::RevokedActor),
    /// Another device's actor, or one no device declared.
    Other,
}

impl Pusher<'_> {
    /// Looks up the devices of `actors` not yet known.
    async fn learn_actors(&mut self, state: &AppState, actors: &BTreeSet<String>) -> Result<()> {
        for a in actors {
            if !self.actors.contains_key(a) {
                let d = state.storage.actor_device(a).await?;
                self.actors.insert(a.clone(), d);
            }
        }
        Ok(())
    }

    fn owner(&self, actor: &str) -> Owner<'_> {
        if let Some(r) = self.revoked.iter().find(|r| r.actor == actor) {
            return Owner::Revoked(r);
        }
        match self.actors.get(actor) {
            Some(Some(d)) if d == self.device_id => Owner::Own,
            _ => Owner::Other,
        }
    }

    /// Looks up the officers a pushed case names, so the rules can check them.
    async fn learn_users(
        &mut self,
        state: &AppState,
        old: Option<&serde_json::Value>,
        json: &serde_json::Value,
    ) -> Result<()> {
        self.numbers.learn(state, old, json).await?;
        // Certificate numbers matter only to new documents: loaded once per request, at the
        // first case that adds one, and given to the users looked up before.
        if self.certs.is_none() && crate::numbering::adds_documents(old, json) {
            let certs = state.storage.cert_nos().await?;
            for (id, info) in self.users.0.iter_mut() {
                info.cert_no = certs.get(id).cloned();
            }
            self.certs = Some(certs);
        }
        for id in validate::named_officers(json) {
            if self.users.0.contains_key(&id) || self.unknown_users.contains(&id) {
                continue;
            }
            match state.storage.user(&id).await? {
                Some(u) => {
                    let cert = self.certs.as_ref().and_then(|c| c.get(&u.id).cloned());
                    self.users.insert_with_cert(&u, cert);
                }
                None => {
                    self.unknown_users.insert(id);
                }
            }
        }
        Ok(())
    }

    fn refused(&mut self, push: &DocPush, refusal: &Refusal) {
        self.refusals.push(crate::audit::AuditEvent {
            at_ms: fieldcase_core::ids::now_ms(),
            actor: self.user.id.clone(),
            action: "sync_refused".into(),
            case_id: (push.kind == RecordKind::Case).then(|| push.doc_id.clone()),
            detail: format!(
                "{} {} from device {}: {}",
                push.kind.as_str(),
                push.doc_id,
                self.device_id,
                refusal.code.as_str()
            ),
        });
    }
}

/// Checks, merges and validates one document of a request against the stored state. Nothing
/// is written here: accepted documents are written together by [`write_batch`], and a document
/// that lost a race with a concurrent writer comes back here to be merged again.
async fn ingest_doc(
    state: &AppState,
    who: &mut Pusher<'_>,
    push: &DocPush,
    stored: Option<StoredDoc>,
) -> Result<Ingest> {
    if let Some(refused) = crate::inflate::refuse_oversized(state, &who.budget, push)? {
        return Ok(Ingest::Done(refused));
    }
    let user = who.user;
    if !fieldcase_core::ids::is_valid_id(&push.doc_id) {
        return Ok(Ingest::Done(result(
            push,
            DocStatus::Rejected,
            Some("not a record id".into()),
        )));
    }
    let unavailable = || {
        Ingest::Done(result(
            push,
            DocStatus::Rejected,
            Some("no such document for this device".into()),
        ))
    };
    if let Some(s) = &stored
        && (s.kind != push.kind || !access::can_read(user, s.kind, &s.unit))
    {
        return Ok(unavailable());
    }
    if push.changes.is_empty() {
        // A want: answer with what the device lacks.
        let Some(s) = &stored else {
            return Ok(unavailable());
        };
        let mut r = result(push, DocStatus::Accepted, None);
        r.server_heads = heads_hex(&s.heads);
        r.changes = missing_for_stored(s, &r.server_heads, &push.have_heads)?;
        return Ok(Ingest::Done(r));
    }
    if !access::writable_kinds(user.role).contains(&push.kind) {
        state.metrics.inc(&state.metrics.docs_rejected);
        let refusal = Refusal {
            code: RefusalCode::OutOfScope,
            detail: format!(
                "a {} may not write {} records",
                user.role.as_str(),
                push.kind.as_str()
            ),
        };
        who.refused(push, &refusal);
        return Ok(Ingest::Done(refused(push, refusal)));
    }
    let mut doc = load(stored.as_ref())?;
    let old_json = match &stored {
        Some(_) => Some(fieldcase_core::doc::read_json(&doc)?),
        None => None,
    };
    let before = doc.get_heads();
    let not_automerge = || {
        Ingest::Done(refused(
            push,
            Refusal {
                code: RefusalCode::Malformed,
                detail: "changes are not valid Automerge data".into(),
            },
        ))
    };
    // A new document is loaded strictly (every byte must parse): its bytes may be stored as
    // sent. Into an existing one, what merged is re-encoded, so a lenient merge is enough.
    if merge_into(&mut doc, stored.is_none(), &push.changes).is_err() {
        state.metrics.inc(&state.metrics.docs_rejected);
        return Ok(not_automerge());
    }
    if !doc.get_missing_deps(&[]).is_empty() {
        state.metrics.inc(&state.metrics.docs_need_full);
        let mut r = result(push, DocStatus::NeedFull, None);
        r.server_heads = stored
            .as_ref()
            .map(|s| heads_hex(&s.heads))
            .unwrap_or_default();
        return Ok(Ingest::Done(r));
    }
    // Who wrote the new changes: every one must be the pushing device's own. A revoked
    // device's are held for an operator; another device's (relayed by phone-to-phone
    // exchange, or forged under its actor) are left for that device to push.
    let actors: BTreeSet<String> = doc
        .get_changes_meta(&before)
        .iter()
        .map(|m| m.actor.to_hex_string())
        .collect();
    who.learn_actors(state, &actors).await?;
    let mut held = None;
    let mut deferred = 0;
    // The runs of the merged changes by author, when more than the pusher wrote them.
    let mut stages = Vec::new();
    if actors.iter().any(|a| !matches!(who.owner(a), Owner::Own)) {
        let changes = doc.get_changes(&before);
        let split = crate::quarantine::split(&changes, |c| {
            match who.owner(&c.actor_id().to_hex_string()) {
                Owner::Own => crate::quarantine::Route::Merge(None),
                Owner::Revoked(r) => crate::quarantine::route_revoked(r, c.timestamp()),
                Owner::Other => crate::quarantine::Route::Defer,
            }
        });
        doc = load(stored.as_ref())?;
        held = split.held;
        deferred = split.deferred;
        stages = split.stages;
    }
    let code = (deferred > 0).then(|| CODE_DEFERRED.to_string());
    // Each run is checked as its own author: handover work of a revoked device as that
    // device's user, the rest as the pusher.
    let mut prev_json = old_json.clone();
    let mut accepted = None;
    let mut new_json = None;
    let staged = !stages.is_empty();
    let runs: Vec<(Option<String>, Option<Vec<u8>>)> = if staged {
        stages.into_iter().map(|(by, b)| (by, Some(b))).collect()
    } else {
        vec![(None, None)]
    };
    for (by, bytes) in runs {
        if let Some(bytes) = bytes {
            let fresh = prev_json.is_none() && doc.get_heads().is_empty();
            if merge_into(&mut doc, fresh, &bytes).is_err() || !doc.get_missing_deps(&[]).is_empty()
            {
                state.metrics.inc(&state.metrics.docs_rejected);
                return Ok(not_automerge());
            }
        }
        if doc.get_heads() == before {
            continue;
        }
        let json = fieldcase_core::doc::read_json(&doc)?;
        if push.kind == RecordKind::Case {
            who.learn_users(state, prev_json.as_ref(), &json).await?;
        }
        let author = match &by {
            None => who.author.clone(),
            Some(device) => revoked_author(state, device).await?,
        };
        match validate::check(
            &author,
            &state.catalogues.set(),
            &who.users,
            &who.numbers,
            &push.doc_id,
            push.kind,
            prev_json.as_ref(),
            &json,
        ) {
            Ok(a) => accepted = Some(a),
            Err(refusal) => {
                state.metrics.inc(&state.metrics.docs_rejected);
                tracing::info!(doc = %push.doc_id, code = refusal.code.as_str(), "change refused");
                who.refused(push, &refusal);
                return Ok(Ingest::Done(refused(push, refusal)));
            }
        }
        prev_json = Some(json.clone());
        new_json = Some(json);
    }
    let after = doc.get_heads();
    if push.kind == RecordKind::Party
        && let Some(json) = &new_json
    {
        who.numbers.note_party(state, &push.doc_id, json);
    }
    let (Some(accepted), Some(final_json)) = (accepted, new_json) else {
        // Nothing new merged (everything was known, held or left out).
        let mut r = result(push, DocStatus::Accepted, None);
        r.code = code;
        r.server_heads = after.iter().map(|h| h.to_string()).collect();
        r.changes = missing_for(&mut doc, &push.have_heads);
        state.metrics.inc(&state.metrics.docs_accepted);
        let r = crate::quarantine::hold(state, who.device_id, &user.id, held, r).await?;
        return Ok(Ingest::Done(r));
    };
    let compact = stored
        .as_ref()
        .is_none_or(|s| s.chunk_count + 1 > COMPACT_AFTER);
    let verbatim = stored.is_none()
        && !staged
        && held.is_none()
        && deferred == 0
        && push.changes.len() <= VERBATIM_MAX;
    let chunk = if verbatim {
        // A new document whose pushed bytes all merged: they load to exactly this document,
        // so they are stored as sent instead of re-encoded.
        push.changes.clone()
    } else if compact {
        doc.save()
    } else {
        doc.save_after(&before)
    };
    let party_check = accepted
        .party_hash
        .clone()
        .filter(|_| accepted.first_offence);
    let write = DocWrite {
        doc_id: push.doc_id.clone(),
        kind: push.kind,
        unit: accepted.unit,
        party_hash: accepted.party_hash,
        expected_heads: stored.as_ref().map(|s| s.heads.clone()),
        new_heads: encode(&after),
        chunk,
        replace: compact,
        blob_refs: accepted.blob_refs,
        numbers: crate::numbering::new_numbers(old_json.as_ref(), &final_json),
    };
    let mut r = result(push, DocStatus::Accepted, None);
    r.code = code;
    r.server_heads = after.iter().map(|h| h.to_string()).collect();
    r.changes = missing_for(&mut doc, &push.have_heads);
    Ok(Ingest::Write(Box::new(PendingWrite {
        write,
        result: r,
        party_check,
        held,
    })))
}

/// Merges pushed bytes into `doc`: strictly when the document is new (its bytes may be stored
/// as sent), leniently into an existing one (what merged is re-encoded).
fn merge_into(doc: &mut AutoCommit, new: bool, bytes: &[u8]) -> std::result::Result<(), ()> {
    if new {
        *doc = fieldcase_core::doc::load_strict(bytes).map_err(drop)?;
        Ok(())
    } else {
        doc.load_incremental(bytes).map(drop).map_err(drop)
    }
}

/// The author handover work of the revoked device `device_id` is checked as: its user and key.
async fn revoked_author(state: &AppState, device_id: &str) -> Result<Author> {
    let device = state
        .storage
        .devices()
        .await?
        .into_iter()
        .find(|d| d.id == device_id)
        .ok_or_else(|| ServerError::Database("a bound actor's device vanished".into()))?;
    let user = state
        .storage
        .user(&device.user_id)
        .await?
        .ok_or_else(|| ServerError::Database("a device's user vanished".into()))?;
    Ok(validate::device_author(
        &user,
        &device.id,
        &device.public_key,
    ))
}

/// A refused push: the rule's code and detail.
fn refused(push: &DocPush, refusal: Refusal) -> DocResult {
    let mut r = result(push, DocStatus::Rejected, Some(refusal.detail));
    r.code = Some(refusal.code.as_str().to_string());
    r
}

/// Ingests every document of a request and commits the accepted ones in one storage
/// transaction (one fsync per request instead of one per document). A document is answered
/// `Accepted` only after that commit. Documents that lost a race with a concurrent writer
/// (another request, or another server instance on PostgreSQL) are merged again against the
/// new stored state and written in a further transaction, up to `WRITE_ATTEMPTS` times.
async fn write_batch(
    state: &AppState,
    who: &mut Pusher<'_>,
    pushes: &[DocPush],
    party_checks: &mut BTreeSet<String>,
) -> Result<Vec<DocResult>> {
    let mut results: Vec<Option<DocResult>> = vec![None; pushes.len()];
    let mut pending: Vec<usize> = (0..pushes.len()).collect();
    // Wants are answered until the reply holds `REPLY_BUDGET` bytes of changes; the device
    // asks again for those left out. Pushes are always answered.
    let mut reply_bytes = 0usize;
    let mut answered_want = false;
    for _ in 0..WRITE_ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        let mut writes = Vec::new();
        let mut waiting = Vec::new();
        let todo: Vec<usize> = std::mem::take(&mut pending);
        for slice in todo.chunks(LOAD_SLICE) {
            let over_budget = answered_want && reply_bytes >= REPLY_BUDGET;
            let slice: Vec<usize> = slice
                .iter()
                .copied()
                .filter(|&i| !(over_budget && pushes[i].changes.is_empty()))
                .collect();
            let ids: Vec<String> = slice.iter().map(|&i| pushes[i].doc_id.clone()).collect();
            let loaded = state.storage.load_docs(&ids).await?;
            for (&i, stored) in slice.iter().zip(loaded) {
                let is_want = pushes[i].changes.is_empty();
                if is_want && answered_want && reply_bytes >= REPLY_BUDGET {
                    continue;
                }
                match ingest_doc(state, who, &pushes[i], stored).await? {
                    Ingest::Done(r) => {
                        reply_bytes += r.changes.len();
                        answered_want |= is_want;
                        results[i] = Some(r);
                    }
                    Ingest::Write(p) => {
                        let PendingWrite {
                            write,
                            result,
                            party_check,
                            held,
                        } = *p;
                        reply_bytes += result.changes.len();
                        writes.push(write);
                        waiting.push((i, result, party_check, held));
                    }
                }
            }
        }
        if writes.is_empty() {
            break;
        }
        let outcomes = state.storage.write_docs(writes).await?;
        for ((i, r, party_check, held), outcome) in waiting.into_iter().zip(outcomes) {
            match outcome {
                WriteOutcome::Written(_) => {
                    if let Some(h) = party_check {
                        party_checks.insert(h);
                    }
                    state.metrics.inc(&state.metrics.docs_accepted);
                    let r = crate::quarantine::hold(state, who.device_id, &who.user.id, held, r)
                        .await?;
                    results[i] = Some(r);
                }
                WriteOutcome::Conflict => pending.push(i),
            }
        }
    }
    if !pending.is_empty() {
        return Err(ServerError::Conflict(
            "document is being written concurrently; retry".into(),
        ));
    }
    // Only wants past the budget are left out; every push has its answer.
    let mut out = Vec::with_capacity(results.len());
    for (r, push) in results.into_iter().zip(pushes) {
        match r {
            Some(r) => out.push(r),
            None if push.changes.is_empty() => {}
            None => {
                return Err(ServerError::Database(
                    "a document was left unanswered".into(),
                ));
            }
        }
    }
    Ok(out)
}

/// Runs the exemption-conflict rule over the cases of a party and writes the flag into every
/// case it flags, as the server's own actor.
pub(crate) async fn check_party_conflicts(state: &AppState, party_hash: &str) -> Result<()> {
    let ids = state.storage.docs_by_party(party_hash).await?;
    let mut summaries = Vec::new();
    let mut flagged_already = BTreeSet::new();
    let catalogues = state.catalogues.set();
    for id in &ids {
        let Some(stored) = state.storage.load_doc(id).await? else {
            continue;
        };
        let doc = load(Some(&stored))?;
        let Ok(case) = fieldcase_core::doc::read::<CaseRecord>(&doc, id) else {
            continue;
        };
        let first = case
            .exemption
            .as_ref()
            .is_some_and(|e| e.kind == fieldcase_core::catalogue::ExemptionKind::FirstOffence);
        let Some(party) = case.party.as_ref().filter(|_| first) else {
            continue;
        };
        if case.flags.exemption_conflict {
            flagged_already.insert(id.clone());
        }
        summaries.push(fieldcase_core::rules::ExemptionSummary {
            case_id: id.clone(),
            match_hash: party.match_hash.clone(),
            code: case.violation.code.clone(),
            occurred_at_ms: case.occurred_at_ms,
            lookback_days: catalogues
                .get(&case.violation.catalogue_version)
                .unwrap_or(catalogues.current())
                .item(&case.violation.code)
                .map(|i| i.exemption.lookback_days())
                .unwrap_or(365),
        });
    }
    for (case_id, with) in fieldcase_core::rules::exemption_conflicts(&summaries) {
        if flagged_already.contains(&case_id) {
            continue;
        }
        for _ in 0..WRITE_ATTEMPTS {
            let Some(stored) = state.storage.load_doc(&case_id).await? else {
                break;
            };
            let mut doc = load(Some(&stored))?.with_actor(state.server_actor.clone());
            let before = doc.get_heads();
            fieldcase_core::store::set_conflict_flag(&mut doc, &with)?;
            doc.commit_with(
                CommitOptions::default()
                    .with_message("server: flag exemption conflict")
                    .with_time(fieldcase_core::ids::now_ms() / 1000),
            );
            let after = doc.get_heads();
            let compact = stored.chunk_count + 1 > COMPACT_AFTER;
            let write = DocWrite {
                doc_id: case_id.clone(),
                kind: RecordKind::Case,
                unit: stored.unit.clone(),
                party_hash: Some(party_hash.to_string()),
                expected_heads: Some(stored.heads.clone()),
                new_heads: encode(&after),
                chunk: if compact {
                    doc.save()
                } else {
                    doc.save_after(&before)
                },
                replace: compact,
                blob_refs: validate_blob_refs(&doc)?,
                numbers: vec![],
            };
            match state.storage.write_doc(write).await {
                Ok(_) => {
                    state.metrics.inc(&state.metrics.conflicts_flagged);
                    break;
                }
                Err(ServerError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The blobs the document's evidence entries name (original, thumbnail, display and the
/// flat `blob_sha256` of older entries), as validation extracts them.
fn validate_blob_refs(doc: &AutoCommit) -> Result<Vec<String>> {
    let json = fieldcase_core::doc::read_json(doc)?;
    Ok(crate::validate::blob_refs(&json))
}

/// The route.
pub async fn sync(
    State(state): State<AppState>,
    Authed(auth): Authed,
    crate::sync_body::SyncBody(req, negotiated): crate::sync_body::SyncBody,
) -> Result<crate::sync_body::SyncReply> {
    state.metrics.inc(&state.metrics.sync_requests);
    if req.protocol != PROTOCOL_VERSION {
        return Err(ServerError::BadRequest(format!(
            "protocol {} is not supported; this server speaks {PROTOCOL_VERSION}",
            req.protocol
        )));
    }
    if req.device_id != auth.device.id {
        return Err(ServerError::Forbidden(
            "device_id does not match the credential".into(),
        ));
    }
    if req.docs.len() > MAX_DOCS {
        return Err(ServerError::TooLarge(format!(
            "at most {MAX_DOCS} documents per request"
        )));
    }
    let now = fieldcase_core::ids::now_ms();
    state.storage.touch_device(&auth.device.id, now).await?;
    // A catalogue published since the last look is in force before this request is judged.
    state
        .catalogues
        .refresh_if_due(state.storage.as_ref(), &state.signing_key)
        .await;
    let declared = req.actor_id.as_deref();
    crate::quarantine::bind_declared(state.storage.as_ref(), &auth.device.id, declared, "sync")
        .await?;
    let user = &auth.user;
    let mut pusher = Pusher {
        budget: fieldcase_core::doc::bounded::InflateBudget::per_request(),
        device_id: &auth.device.id,
        user,
        author: validate::device_author(user, &auth.device.id, &auth.device.public_key),
        revoked: if req.docs.iter().any(|d| !d.changes.is_empty()) {
            state.storage.revoked_actors().await?
        } else {
            vec![]
        },
        actors: HashMap::new(),
        users: validate::Users::default(),
        unknown_users: BTreeSet::new(),
        certs: None,
        numbers: crate::numbering::Numbers::default(),
        refusals: Vec::new(),
    };
    let mut party_checks = BTreeSet::new();
    let docs = write_batch(&state, &mut pusher, &req.docs, &mut party_checks).await?;
    for h in &party_checks {
        check_party_conflicts(&state, h).await?;
    }
    // A case or party document sent to a phone is a view of it: one audit entry per
    // document, all written in one transaction.
    // Every refusal is on the record with the device that pushed it, so forged attempts are
    // visible to supervisors (`admin audit show --case`).
    let mut reads: Vec<crate::audit::AuditEvent> = std::mem::take(&mut pusher.refusals);
    reads.extend(
        docs.iter()
            .filter(|r| {
                !r.changes.is_empty() && matches!(r.kind, RecordKind::Case | RecordKind::Party)
            })
            .map(|r| crate::audit::AuditEvent {
                at_ms: now,
                actor: user.id.clone(),
                action: "sync_read".into(),
                case_id: (r.kind == RecordKind::Case).then(|| r.doc_id.clone()),
                detail: format!(
                    "{} {} to device {}",
                    r.kind.as_str(),
                    r.doc_id,
                    auth.device.id
                ),
            }),
    );
    state.audit_all(reads).await?;
    let latest = state.storage.latest_seq().await?;
    let after = req.cursor.clamp(0, latest);
    let items = state
        .storage
        .feed(FeedQuery {
            after,
            upto: latest,
            scopes: access::scopes(user),
            kinds: access::readable_kinds(user.role).to_vec(),
            limit: FEED_PAGE,
        })
        .await?;
    let more = items.len() >= FEED_PAGE;
    let cursor = if more {
        items.last().map(|i| i.seq).unwrap_or(latest)
    } else {
        latest
    };
    state
        .metrics
        .add(&state.metrics.feed_entries, items.len() as u64);
    let feed = items
        .into_iter()
        .map(|i| FeedEntry {
            doc_id: i.doc_id,
            kind: i.kind,
            heads: heads_hex(&i.heads),
        })
        .collect();
    // The catalogue in force, signed, to a phone that lacks it (once per session at most).
    let (catalogue_version, catalogue) = state.catalogues.for_phone(
        req.catalogue_version.as_deref(),
        &req.catalogue_versions,
        req.catalogue_refused.as_deref(),
    );
    let number_blocks = crate::numbering::blocks_for(&state, &auth.device.id, &auth.user).await?;
    // Only officers issue documents: other roles' phones need no roster.
    let (roster, roster_digest) = if auth.user.role == fieldcase_core::rules::Role::Officer {
        let (r, d) =
            crate::numbering::roster_for(&state, &auth.user, req.roster_digest.as_deref()).await?;
        (r, Some(d))
    } else {
        (None, None)
    };
    Ok(crate::sync_body::SyncReply::new(
        negotiated,
        SyncResponse {
            number_blocks,
            roster,
            roster_digest,
            protocol: PROTOCOL_VERSION,
            cursor,
            docs,
            feed,
            more,
            server_time_ms: now,
            catalogue_version: Some(catalogue_version),
            catalogue,
        },
    ))
}
