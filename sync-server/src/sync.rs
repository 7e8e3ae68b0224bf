//! `POST /v1/sync`: merge what the device pushed, validate, persist, answer with what the device
//! lacks, and page the change feed from the device's cursor.

use crate::AppState;
use crate::access;
use crate::auth::Authed;
use crate::error::{Result, ServerError};
use crate::merge::{Ingest, PendingWrite, ingest_doc};
use crate::pusher::Pusher;
use crate::storage::{FeedQuery, WriteOutcome};
use crate::telemetry::{SyncStage, SyncTimer};
use automerge::AutoCommit;
use axum::extract::State;
use fieldcase_core::engine;
use fieldcase_core::model::{CaseRecord, RecordKind};
use fieldcase_core::sync::wire::{
    DocPush, DocResult, FEED_PAGE, FeedEntry, PROTOCOL_VERSION, SyncResponse,
};
use std::collections::BTreeSet;

/// Documents read from storage in one round while ingesting a request.
const LOAD_SLICE: usize = 100;

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
    // Wants are answered until the reply holds `limits.reply_budget_bytes` of changes; the
    // device asks again for those left out. Pushes are always answered.
    let budget = state.limits.reply_budget_bytes;
    let mut reply_bytes = 0usize;
    let mut answered_want = false;
    for _ in 0..crate::merge::WRITE_ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        let mut writes = Vec::new();
        let mut waiting = Vec::new();
        let todo: Vec<usize> = std::mem::take(&mut pending);
        for slice in todo.chunks(LOAD_SLICE) {
            let over_budget = answered_want && reply_bytes >= budget;
            let slice: Vec<usize> = slice
                .iter()
                .copied()
                .filter(|&i| !(over_budget && pushes[i].changes.is_empty()))
                .collect();
            let ids: Vec<String> = slice.iter().map(|&i| pushes[i].doc_id.clone()).collect();
            let loaded = state.storage.load_docs(&ids).await?;
            for (&i, stored) in slice.iter().zip(loaded) {
                let is_want = pushes[i].changes.is_empty();
                if is_want && answered_want && reply_bytes >= budget {
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
        let Ok(doc) = AutoCommit::load(&stored.bytes) else {
            tracing::error!(doc = %id, "stored document does not load");
            continue;
        };
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
        let flagged = crate::merge::rewrite(state.storage.as_ref(), &case_id, |stored| {
            let edited = engine::edit(
                crate::merge::view(stored),
                state.server_actor.clone(),
                "server: flag exemption conflict",
                |doc| {
                    fieldcase_core::store::set_conflict_flag(doc, &with)?;
                    Ok::<_, ServerError>((fieldcase_core::ids::now_ms(), ()))
                },
            )?;
            let blob_refs = engine::blob_refs(&edited.new);
            let (w, ()) = edited.into_write();
            Ok((
                crate::merge::edit_write(
                    stored,
                    w,
                    Some(party_hash.to_string()),
                    stored.unit.clone(),
                    blob_refs,
                ),
                (),
            ))
        })
        .await?;
        if flagged.is_some() {
            state.metrics.inc(&state.metrics.conflicts_flagged);
        }
    }
    Ok(())
}

/// The route.
pub async fn sync(
    State(state): State<AppState>,
    Authed(auth): Authed,
    crate::sync_body::SyncBody(req, negotiated): crate::sync_body::SyncBody,
) -> Result<crate::sync_body::SyncReply> {
    state.metrics.inc(&state.metrics.sync_requests);
    let mut timer = SyncTimer::start(&state.telemetry);
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
    let max_docs = state.limits.max_docs_per_sync;
    if req.docs.len() > max_docs {
        return Err(ServerError::TooLarge(format!(
            "at most {max_docs} documents per request"
        )));
    }
    let now = fieldcase_core::ids::now_ms();
    if state.last_seen.due(&auth.device.id, now) {
        state.storage.touch_device(&auth.device.id, now).await?;
    }
    // A catalogue published since the last look is in force before this request is judged.
    state
        .catalogues
        .refresh_if_due(state.storage.as_ref(), &state.signing_key)
        .await;
    let declared = req.actor_id.as_deref();
    let bound =
        crate::quarantine::bind_declared(state.storage.as_ref(), &auth.device.id, declared, "sync")
            .await?;
    let user = &auth.user;
    let mut pusher = Pusher::new(
        &state,
        &auth.device.id,
        &auth.device.public_key,
        user,
        bound,
        req.docs.iter().any(|d| !d.changes.is_empty()),
    )
    .await?;
    timer.stage(SyncStage::Prepare);
    let mut party_checks = BTreeSet::new();
    let docs = write_batch(&state, &mut pusher, &req.docs, &mut party_checks).await?;
    timer.stage(SyncStage::Merge);
    for h in &party_checks {
        check_party_conflicts(&state, h).await?;
    }
    timer.stage(SyncStage::Conflicts);
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
    timer.stage(SyncStage::Audit);
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
    timer.stage(SyncStage::Feed);
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
            heads: engine::decode_heads(&i.heads),
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
    timer.stage(SyncStage::Extras);
    let restore_epoch = Some(crate::restore_epoch::cached(&state.storage).await?);
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
            restore_epoch,
        },
    ))
}
