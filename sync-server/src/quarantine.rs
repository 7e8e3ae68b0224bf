//! Changes authored by a revoked device are kept out of the stored documents.
//!
//! A revoked phone is refused at the door, but its changes can still arrive: phones exchange
//! changes without a server (`core/src/store/exchange.rs`) and an honest phone then pushes
//! everything it holds. Each phone store writes under its own Automerge actor, and the server
//! binds actors to devices: declared at enrolment and, for phones enrolled before that, on
//! each sync request (the first device to declare an actor keeps it).
//!
//! At ingest, [`screen`] splits a pushed document's new changes: those under an actor of a
//! revoked device, and every change depending on one of those, are held in the quarantine
//! table for an operator ([`release`] merges them, `reject` keeps them out for good); the rest
//! merge as usual, so nothing the honest phone recorded itself is lost. Changes the server
//! already holds are never held, whoever authored them.
//!
//! Which changes of a revoked actor are held depends on the wipe the operator chose. A phone
//! revoked with `all` is lost or stolen: its clock is the thief's, so a change's own
//! timestamp proves nothing and every change the server does not hold is held, including
//! ones written before the revocation and carried late. A phone revoked with `synced_only`
//! is in the bureau's hands for a handover: its unsynced work is meant to reach the server
//! (exported to a colleague's phone, or sent after a new enrolment, which writes under a new
//! actor), so changes stamped at or before the revocation merge and only later ones are held.

use crate::AppState;
use crate::audit::AuditEvent;
use crate::error::{Result, ServerError};
use crate::storage::{
    DocWrite, NewQuarantine, QuarantineItem, QuarantineStatus, RevokedActor, Storage,
};
use automerge::{AutoCommit, ChangeHash};
use fieldcase_core::model::RecordKind;
use fieldcase_core::sync::wire::{DocResult, DocStatus, WipeScope};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The `code` of a document result whose changes were (partly) held.
pub const QUARANTINED: &str = fieldcase_core::sync::wire::CODE_QUARANTINED;

/// Changes held back from one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Revoked devices whose actors authored them.
    pub devices: BTreeSet<String>,
    /// Their hashes.
    pub hashes: Vec<ChangeHash>,
    /// Change chunks, concatenated, in causal order.
    pub bytes: Vec<u8>,
}

/// Binds the actor a device declares (hex, 32 characters) to it unless another device has
/// it. An actor that is not hex of 16 bytes is ignored: it cannot be anyone's.
pub async fn bind_declared(
    s: &dyn Storage,
    device_id: &str,
    actor: Option<&str>,
    source: &str,
) -> Result<()> {
    let Some(actor) = actor.map(str::to_ascii_lowercase) else {
        return Ok(());
    };
    if actor.len() != 32 || !actor.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    let owner = s
        .bind_actor(&actor, device_id, fieldcase_core::ids::now_ms(), source)
        .await?;
    if owner != device_id {
        tracing::warn!(device = %device_id, owner = %owner, "device declared an actor bound to another device");
    }
    Ok(())
}

/// Where one new change of a push goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Merge: authored under the pushing device's own actor (`None`), or handover work of a
    /// device revoked `synced_only` (`Some(device)`), checked as that device's user.
    Merge(Option<String>),
    /// Authored under a revoked device's actor: hold for an operator (the device's id).
    Hold(String),
    /// Authored under another device's actor, or one no device declared: leave it out for
    /// that device to push itself (the server cannot tell who wrote it).
    Defer,
}

/// A push split by [`split`].
#[derive(Debug)]
pub struct Split {
    /// The changes to merge, in causal order, grouped in runs of one author: `None` the
    /// pusher, `Some(device)` a revoked device's handover work.
    pub stages: Vec<(Option<String>, Vec<u8>)>,
    /// What was held, if anything.
    pub held: Option<Held>,
    /// How many changes were left out for their own device to push.
    pub deferred: usize,
}

/// How a revoked actor's change is routed: held, unless it is handover work the operator
/// chose to keep (see the module docs).
pub fn route_revoked(r: &RevokedActor, timestamp_s: i64) -> Route {
    if handed_over(r, timestamp_s) {
        Route::Merge(Some(r.device_id.clone()))
    } else {
        Route::Hold(r.device_id.clone())
    }
}

/// Splits new changes (in causal order) by `route`; a change depending on a held change is
/// held, one depending on a deferred change is deferred.
pub fn split(changes: &[automerge::Change], route: impl Fn(&automerge::Change) -> Route) -> Split {
    let mut held_hashes: HashSet<ChangeHash> = HashSet::new();
    let mut deferred_hashes: HashSet<ChangeHash> = HashSet::new();
    let mut held = Held {
        devices: BTreeSet::new(),
        hashes: vec![],
        bytes: vec![],
    };
    let mut stages: Vec<(Option<String>, Vec<u8>)> = Vec::new();
    for c in changes {
        let mut r = route(c);
        if c.deps().iter().any(|d| held_hashes.contains(d)) {
            r = match r {
                Route::Hold(d) => Route::Hold(d),
                _ => Route::Hold(String::new()),
            };
        } else if matches!(r, Route::Merge(_))
            && c.deps().iter().any(|d| deferred_hashes.contains(d))
        {
            r = Route::Defer;
        }
        match r {
            Route::Merge(by) => match stages.last_mut() {
                Some((last, bytes)) if *last == by => bytes.extend_from_slice(c.raw_bytes()),
                _ => stages.push((by, c.raw_bytes().to_vec())),
            },
            Route::Defer => {
                deferred_hashes.insert(c.hash());
            }
            Route::Hold(device) => {
                if !device.is_empty() {
                    held.devices.insert(device);
                }
                held_hashes.insert(c.hash());
                held.hashes.push(c.hash());
                held.bytes.extend_from_slice(c.raw_bytes());
            }
        }
    }
    Split {
        stages,
        held: (!held.hashes.is_empty()).then_some(held),
        deferred: deferred_hashes.len(),
    }
}

/// The revoked actors by actor id.
pub fn revoked_by_actor(revoked: &[RevokedActor]) -> BTreeMap<&str, &RevokedActor> {
    revoked.iter().map(|r| (r.actor.as_str(), r)).collect()
}

/// Whether a change of a revoked actor stamped `timestamp_s` (the author's clock, seconds)
/// is handover work the operator chose to keep (see the module docs).
fn handed_over(r: &RevokedActor, timestamp_s: i64) -> bool {
    r.revoke_wipe == Some(WipeScope::SyncedOnly)
        && timestamp_s.saturating_mul(1000) <= r.revoked_at_ms
}

/// After the rest of a push was merged (or found already held): stores the held changes for
/// review, audits it, and turns the document's result into a refusal with the code
/// [`QUARANTINED`], which clients treat as "not acknowledged; do not send again until edited".
/// The result keeps the server's heads and changes, so the sender still learns what merged.
pub async fn hold(
    state: &AppState,
    sender_device: &str,
    sender_user: &str,
    held: Option<Held>,
    mut result: DocResult,
) -> Result<DocResult> {
    let Some(held) = held else {
        return Ok(result);
    };
    let mut hashes: Vec<String> = held.hashes.iter().map(|h| h.to_string()).collect();
    hashes.sort();
    let devices = held.devices.iter().cloned().collect::<Vec<_>>().join(",");
    let now = fieldcase_core::ids::now_ms();
    let added = state
        .storage
        .add_quarantine(NewQuarantine {
            doc_id: result.doc_id.clone(),
            kind: result.kind,
            sender_device: sender_device.into(),
            sender_user: sender_user.into(),
            revoked_devices: devices.clone(),
            received_at_ms: now,
            hashes: hashes.join(" "),
            changes: held.bytes,
        })
        .await?;
    if let Some(id) = added {
        state.metrics.inc(&state.metrics.docs_rejected);
        tracing::warn!(doc = %result.doc_id, quarantine = id, "changes of a revoked device held");
        state
            .audit_all(vec![AuditEvent {
                at_ms: now,
                actor: sender_user.into(),
                action: "quarantine".into(),
                case_id: (result.kind == RecordKind::Case).then(|| result.doc_id.clone()),
                detail: format!(
                    "item {id}: {} change(s) of revoked device {devices} in {} {} from device {sender_device}",
                    hashes.len(),
                    result.kind.as_str(),
                    result.doc_id
                ),
            }])
            .await?;
    }
    result.status = DocStatus::Rejected;
    result.code = Some(QUARANTINED.into());
    result.reason =
        Some("changes written on a revoked phone are held for review by the operator".into());
    Ok(result)
}

/// Every item awaiting review (or every item with `all`).
pub async fn list(s: &dyn Storage, all: bool) -> Result<Vec<QuarantineItem>> {
    s.quarantine(all).await
}

async fn pending(s: &dyn Storage, id: i64) -> Result<QuarantineItem> {
    let item = s
        .quarantine_item(id)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("quarantine item {id}")))?;
    if item.status != QuarantineStatus::Pending {
        return Err(ServerError::Conflict(format!(
            "quarantine item {id} is already {}",
            item.status.as_str()
        )));
    }
    Ok(item)
}

/// Merges held changes into their document (an operator found them sound). The merged
/// document is validated like a push by the revoked device's user would be; audited.
pub async fn release(
    s: &dyn Storage,
    key: &ed25519_dalek::SigningKey,
    id: i64,
) -> Result<QuarantineItem> {
    let item = pending(s, id).await?;
    // Every version known, so a case is judged under the one it recorded.
    let catalogue = crate::catalogue::ServerCatalogues::load(s, key)
        .await?
        .set();
    let (author, device) = first_author(s, &item).await?;
    for _ in 0..5 {
        let Some(stored) = s.load_doc(&item.doc_id).await? else {
            return Err(ServerError::NotFound(format!("document {}", item.doc_id)));
        };
        let mut doc = AutoCommit::load(&stored.bytes)
            .map_err(|_| ServerError::Database("stored document does not load".into()))?;
        let old_json = fieldcase_core::doc::read_json(&doc)?;
        let before = doc.get_heads();
        doc.load_incremental(&item.changes)
            .map_err(|_| ServerError::Database("held changes do not load".into()))?;
        if !doc.get_missing_deps(&[]).is_empty() {
            return Err(ServerError::Conflict(
                "the held changes depend on changes the server does not hold".into(),
            ));
        }
        let after = doc.get_heads();
        if after != before {
            let new_json = fieldcase_core::doc::read_json(&doc)?;
            // Numbers of documents the revoked phone issued are checked like any push's.
            let mut numbers = crate::numbering::Numbers::default();
            numbers.learn_numbers(s, Some(&old_json), &new_json).await?;
            let accepted = crate::validate::check(
                &crate::validate::device_author(&author, &device.id, &device.public_key),
                &catalogue,
                &crate::validate::Users::default(),
                &numbers,
                &item.doc_id,
                item.kind,
                Some(&old_json),
                &new_json,
            )
            .map_err(|r| ServerError::BadRequest(format!("held changes are invalid: {r}")))?;
            let write = DocWrite {
                doc_id: item.doc_id.clone(),
                kind: item.kind,
                unit: accepted.unit,
                party_hash: accepted.party_hash,
                expected_heads: Some(stored.heads.clone()),
                new_heads: after.iter().flat_map(|h| h.0).collect(),
                chunk: doc.save_after(&before),
                replace: false,
                blob_refs: accepted.blob_refs,
                numbers: crate::numbering::new_numbers(Some(&old_json), &new_json),
            };
            match s.write_doc(write).await {
                Ok(_) => {}
                Err(ServerError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        return settle(s, key, item, QuarantineStatus::Released).await;
    }
    Err(ServerError::Conflict(
        "document is being written concurrently; retry".into(),
    ))
}

/// Keeps held changes out for good (they stay in the table for the record); audited.
pub async fn reject(
    s: &dyn Storage,
    key: &ed25519_dalek::SigningKey,
    id: i64,
) -> Result<QuarantineItem> {
    let item = pending(s, id).await?;
    settle(s, key, item, QuarantineStatus::Rejected).await
}

async fn settle(
    s: &dyn Storage,
    key: &ed25519_dalek::SigningKey,
    mut item: QuarantineItem,
    status: QuarantineStatus,
) -> Result<QuarantineItem> {
    let now = fieldcase_core::ids::now_ms();
    if !s.settle_quarantine(item.id, status, now).await? {
        return Err(ServerError::Conflict(format!(
            "quarantine item {} was settled concurrently",
            item.id
        )));
    }
    let action = match status {
        QuarantineStatus::Released => "quarantine_release",
        _ => "quarantine_reject",
    };
    crate::admin::audit(
        s,
        key,
        AuditEvent {
            at_ms: now,
            actor: "operator".into(),
            action: action.into(),
            case_id: (item.kind == RecordKind::Case).then(|| item.doc_id.clone()),
            detail: format!(
                "item {} of revoked device {} in {} {}",
                item.id,
                item.revoked_devices,
                item.kind.as_str(),
                item.doc_id
            ),
        },
    )
    .await?;
    item.status = status;
    item.settled_at_ms = Some(now);
    Ok(item)
}

/// The user and device of the first revoked device named by an item: whose rights the release
/// is checked against.
async fn first_author(
    s: &dyn Storage,
    item: &QuarantineItem,
) -> Result<(crate::storage::User, crate::storage::Device)> {
    let id = item.revoked_devices.split(',').next().unwrap_or_default();
    let device = s
        .devices()
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ServerError::NotFound(format!("device {id}")))?;
    let user = s
        .user(&device.user_id)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("user {}", device.user_id)))?;
    Ok((user, device))
}
