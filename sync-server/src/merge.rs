//! The server around core's merge step ([`fieldcase_core::engine`]): a pushed document's
//! access checks and the lookups the step asks for ([`ingest_doc`]), and the one loop that
//! writes a server-made edit of one document, merged again when a concurrent writer wins
//! ([`rewrite`]), used by reviews, approvals and conflict flags. A new party's sealed
//! identity is checked here too ([`party_identity`]), the one rule that needs the bureau's
//! keys.

use crate::AppState;
use crate::access;
use crate::error::{Result, ServerError};
use crate::pusher::Pusher;
use crate::storage::{DocWrite, Storage, StorageError, StoredDoc};
use fieldcase_core::engine::{self, Outcome, Step};
use fieldcase_core::model::RecordKind;
use fieldcase_core::rules::{Refusal, RefusalCode};
use fieldcase_core::sync::wire::{CODE_DEFERRED, DocPush, DocResult, DocStatus};

/// Attempts of a write that lost a race with a concurrent writer.
pub(crate) const WRITE_ATTEMPTS: usize = 5;
/// Lookups the merge step may ask for per document before the server gives up: one per
/// actor batch, revoked author and run, far more than any honest push needs.
const NEEDS_MAX: usize = 32;

/// What ingesting one pushed document decided.
pub(crate) enum Ingest {
    /// Answered without writing (a want, nothing new, rejected, or changes missing deps).
    Done(DocResult),
    /// Accepted: the write to commit, and the answer to give once it is committed.
    Write(Box<PendingWrite>),
}

/// An accepted document waiting for the request's one write transaction.
pub(crate) struct PendingWrite {
    pub write: DocWrite,
    pub result: DocResult,
    /// The party whose first-offence cases to check once written.
    pub party_check: Option<String>,
    /// Changes of revoked devices held back from the merge, recorded once the write commits.
    pub held: Option<engine::Held>,
}

/// A stored document as the engine reads it.
pub(crate) fn view(s: &StoredDoc) -> engine::Stored<'_> {
    engine::Stored {
        bytes: &s.bytes,
        heads: &s.heads,
        chunk_count: s.chunk_count,
    }
}

pub(crate) fn result(push: &DocPush, status: DocStatus, reason: Option<String>) -> DocResult {
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

/// A refused push: the rule's code and detail.
fn refused(push: &DocPush, refusal: Refusal) -> DocResult {
    let mut r = result(push, DocStatus::Rejected, Some(refusal.detail));
    r.code = Some(refusal.code.as_str().to_string());
    r
}

/// A stored document that does not load is the server's fault, never the device's.
fn unloadable(doc_id: &str, e: fieldcase_core::CoreError) -> ServerError {
    tracing::error!(doc = %doc_id, error = %e, "stored document does not load");
    ServerError::Database("stored document does not load".into())
}

/// Checks one pushed document against who may write it, then runs the merge step on it,
/// looking up what the step asks for. Nothing is written here: accepted documents are written
/// together by the caller, and a document that lost a race comes back here to merge again.
pub(crate) async fn ingest_doc(
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
        r.server_heads = engine::decode_heads(&s.heads);
        r.changes = engine::missing_for_stored(view(s), &push.have_heads)
            .map_err(|e| unloadable(&s.doc_id, e))?;
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
    let step = engine::Push {
        doc_id: &push.doc_id,
        kind: push.kind,
        changes: &push.changes,
        have_heads: &push.have_heads,
    };
    let mut outcome = None;
    for _ in 0..NEEDS_MAX {
        match engine::ingest(stored.as_ref().map(view), &step, &*who)
            .map_err(|e| unloadable(&push.doc_id, e))?
        {
            Step::Done(o) => {
                outcome = Some(o);
                break;
            }
            Step::Need(need) => who.fetch(state, need).await?,
        }
    }
    let outcome = outcome
        .ok_or_else(|| ServerError::Database("the merge step kept asking for lookups".into()))?;
    let merged = match outcome {
        Outcome::Malformed => {
            state.metrics.inc(&state.metrics.docs_rejected);
            return Ok(Ingest::Done(refused(
                push,
                Refusal {
                    code: RefusalCode::Malformed,
                    detail: "changes are not valid Automerge data".into(),
                },
            )));
        }
        Outcome::NeedFull { server_heads } => {
            state.metrics.inc(&state.metrics.docs_need_full);
            let mut r = result(push, DocStatus::NeedFull, None);
            r.server_heads = server_heads;
            return Ok(Ingest::Done(r));
        }
        Outcome::Refused(refusal) => {
            state.metrics.inc(&state.metrics.docs_rejected);
            tracing::info!(doc = %push.doc_id, code = refusal.code.as_str(), "change refused");
            who.refused(push, &refusal);
            return Ok(Ingest::Done(refused(push, refusal)));
        }
        Outcome::Merged(m) => *m,
    };
    if push.kind == RecordKind::Party
        && merged.old.is_none()
        && let Some(refusal) = merged.new.as_ref().and_then(|j| party_identity(state, j))
    {
        state.metrics.inc(&state.metrics.docs_rejected);
        tracing::info!(doc = %push.doc_id, code = refusal.code.as_str(), "party refused");
        who.refused(push, &refusal);
        return Ok(Ingest::Done(refused(push, refusal)));
    }
    if push.kind == RecordKind::Party
        && let Some(json) = &merged.new
    {
        who.numbers.note_party(state, &push.doc_id, json);
    }
    let mut r = result(push, DocStatus::Accepted, None);
    r.code = (merged.deferred > 0).then(|| CODE_DEFERRED.to_string());
    r.server_heads = merged.server_heads;
    r.changes = merged.reply;
    let (Some((accepted, w)), Some(new)) = (merged.write, merged.new.as_ref()) else {
        // Nothing new merged (everything was known, held or left out).
        state.metrics.inc(&state.metrics.docs_accepted);
        let r = crate::quarantine::hold(state, who.device_id, &user.id, merged.held, r).await?;
        return Ok(Ingest::Done(r));
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
        new_heads: w.new_heads,
        chunk: w.chunk,
        replace: w.replace,
        blob_refs: accepted.blob_refs,
        numbers: crate::numbering::new_numbers(merged.old.as_ref(), new),
    };
    Ok(Ingest::Write(Box::new(PendingWrite {
        write,
        result: r,
        party_check,
        held: merged.held,
    })))
}

/// The refusal of a new party whose sealed number fails its document's check, whose sealed
/// phone fails its rules, or whose match hash is not that of its number: the checks the phone
/// makes at registration (`fieldcase_core::identity`), made again because a client that is not
/// ours skips them, and a wrong hash would hide the party from the first-offence rule. `None`
/// when it passes, or when the server cannot open the seal (a party sealed under a phone's
/// own key before enrolment, which no one at the bureau can read either). Registered parties
/// never change, so only a new one is checked, and parties stored before the check are kept.
fn party_identity(state: &AppState, json: &serde_json::Value) -> Option<Refusal> {
    let record: fieldcase_core::model::PartyRecord = serde_json::from_value(json.clone()).ok()?;
    let keys: Vec<fieldcase_core::pii::PiiKey> = state
        .pii_ring
        .iter()
        .map(|k| fieldcase_core::pii::PiiKey::from_bytes(*k))
        .collect();
    let pii = fieldcase_core::pii::open(&keys, &record.id, &record.pii_sealed).ok()?;
    fieldcase_core::identity::check_sealed_party(
        &record,
        &pii,
        &state.party_key,
        fieldcase_core::ids::now_ms(),
    )
    .err()
}

/// Loads document `doc_id`, lets `make` build the write (with the loaded heads as the expected
/// ones) and what to return once written, and writes it; when a concurrent
/// writer changed the document meanwhile, loads it again and lets `make` decide again, up to
/// [`WRITE_ATTEMPTS`] times. `None` when the document does not exist.
pub(crate) async fn rewrite<T>(
    storage: &dyn Storage,
    doc_id: &str,
    mut make: impl FnMut(&StoredDoc) -> Result<(DocWrite, T)>,
) -> Result<Option<T>> {
    for _ in 0..WRITE_ATTEMPTS {
        let Some(stored) = storage.load_doc(doc_id).await? else {
            return Ok(None);
        };
        let (w, out) = make(&stored)?;
        match storage.write_doc(w).await {
            Ok(_) => return Ok(Some(out)),
            Err(StorageError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServerError::Conflict(
        "the document is being written concurrently; retry".into(),
    ))
}

/// The write of a server-made edit `w` of `stored`, with what the server keeps of the record.
pub(crate) fn edit_write(
    stored: &StoredDoc,
    w: engine::Write,
    party_hash: Option<String>,
    unit: String,
    blob_refs: Vec<String>,
) -> DocWrite {
    DocWrite {
        doc_id: stored.doc_id.clone(),
        kind: stored.kind,
        unit,
        party_hash,
        expected_heads: Some(stored.heads.clone()),
        new_heads: w.new_heads,
        chunk: w.chunk,
        replace: w.replace,
        blob_refs,
        numbers: vec![],
    }
}
