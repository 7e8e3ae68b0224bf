//! Changes authored by a revoked device are kept out of the stored documents.
//!
//! A revoked phone is refused at the door, but its changes can still arrive: phones exchange
//! changes without a server (`core/src/store/exchange.rs`) and an honest phone then pushes
//! everything it holds. Each phone store writes under its own Automerge actor, and the server
//! binds actors to devices: declared at enrolment and, for phones enrolled before that, on
//! each sync request (the first device to declare an actor keeps it).
//!
//! At ingest, the merge step ([`fieldcase_core::engine::ingest`]) splits a pushed document's new changes: those under an actor of a
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
    DocWrite, NewQuarantine, QuarantineItem, QuarantineStatus, RevokedActor, Storage, StorageError,
};
use fieldcase_core::engine;
use fieldcase_core::model::RecordKind;
use fieldcase_core::sync::wire::{DocResult, DocStatus, WipeScope};

/// The `code` of a document result whose changes were (partly) held.
pub const QUARANTINED: &str = fieldcase_core::sync::wire::CODE_QUARANTINED;

pub use fieldcase_core::engine::{Held, Route};

/// Binds the actor a device declares (hex, 32 characters) to it unless another device has
/// it, and returns the actor (lower case) with the device it is bound to. An actor that is not
/// hex of 16 bytes is ignored: it cannot be anyone's.
pub async fn bind_declared(
    s: &dyn Storage,
    device_id: &str,
    actor: Option<&str>,
    source: &str,
) -> Result<Option<(String, String)>> {
    let Some(actor) = actor.map(str::to_ascii_lowercase) else {
        return Ok(None);
    };
    if actor.len() != 32 || !actor.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let owner = s
        .bind_actor(&actor, device_id, fieldcase_core::ids::now_ms(), source)
        .await?;
    if owner != device_id {
        tracing::warn!(device = %device_id, owner = %owner, "device declared an actor bound to another device");
    }
    Ok(Some((actor, owner)))
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
    Ok(s.quarantine(all).await?)
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
    let mut policy = Release {
        author: crate::validate::device_author(&author, &device.id, &device.public_key),
        catalogues: catalogue,
        numbers: crate::numbering::Numbers::default(),
        users: crate::validate::Users::default(),
        learned: false,
    };
    for _ in 0..crate::merge::WRITE_ATTEMPTS {
        policy.learned = false;
        let Some(stored) = s.load_doc(&item.doc_id).await? else {
            return Err(ServerError::NotFound(format!("document {}", item.doc_id)));
        };
        let push = engine::Push {
            doc_id: &item.doc_id,
            kind: item.kind,
            changes: &item.changes,
            have_heads: &[],
        };
        let mut outcome = None;
        // The policy asks for nothing but the numbers of documents the held changes add.
        for _ in 0..4 {
            match engine::ingest(Some(crate::merge::view(&stored)), &push, &policy)
                .map_err(|_| ServerError::Database("stored document does not load".into()))?
            {
                engine::Step::Done(o) => {
                    outcome = Some(o);
                    break;
                }
                engine::Step::Need(engine::Need::Lookups { old, new }) => {
                    policy.numbers.learn_numbers(s, old.as_ref(), &new).await?;
                    policy.learned = true;
                }
                engine::Step::Need(_) => {
                    return Err(ServerError::Database(
                        "release asked for an unknown lookup".into(),
                    ));
                }
            }
        }
        let merged = match outcome {
            Some(engine::Outcome::Merged(m)) => *m,
            Some(engine::Outcome::Malformed) => {
                return Err(ServerError::Database("held changes do not load".into()));
            }
            Some(engine::Outcome::NeedFull { .. }) => {
                return Err(ServerError::Conflict(
                    "the held changes depend on changes the server does not hold".into(),
                ));
            }
            Some(engine::Outcome::Refused(r)) => {
                return Err(ServerError::BadRequest(format!(
                    "held changes are invalid: {r}"
                )));
            }
            None => {
                return Err(ServerError::Database(
                    "release kept asking for lookups".into(),
                ));
            }
        };
        if let (Some((accepted, w)), Some(new)) = (merged.write, merged.new.as_ref()) {
            let write = DocWrite {
                doc_id: item.doc_id.clone(),
                kind: item.kind,
                unit: accepted.unit,
                party_hash: accepted.party_hash,
                expected_heads: Some(stored.heads.clone()),
                new_heads: w.new_heads,
                chunk: w.chunk,
                replace: w.replace,
                blob_refs: accepted.blob_refs,
                // Numbers of documents the revoked phone issued are recorded like any push's.
                numbers: crate::numbering::new_numbers(merged.old.as_ref(), new),
            };
            match s.write_doc(write).await {
                Ok(_) => {}
                Err(StorageError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        return settle(s, key, item, QuarantineStatus::Released).await;
    }
    Err(ServerError::Conflict(
        "document is being written concurrently; retry".into(),
    ))
}

/// The policy held changes are released under: every change merges, checked as the revoked
/// device's user, with the numbers of the documents they add looked up like a push's.
struct Release {
    author: fieldcase_core::rules::Author,
    catalogues: std::sync::Arc<fieldcase_core::catalogue::CatalogueSet>,
    numbers: crate::numbering::Numbers,
    /// Nobody else's user is looked up: a held change names the officers it named.
    users: crate::validate::Users,
    learned: bool,
}

impl engine::Policy for Release {
    fn route(
        &self,
        _actor: &str,
        _timestamp_s: i64,
    ) -> std::result::Result<engine::Route, engine::Need> {
        Ok(engine::Route::Merge(None))
    }
    fn author(
        &self,
        _by: Option<&str>,
    ) -> std::result::Result<fieldcase_core::rules::Author, engine::Need> {
        Ok(self.author.clone())
    }
    fn context(
        &self,
        old: Option<&serde_json::Value>,
        new: &serde_json::Value,
    ) -> std::result::Result<fieldcase_core::rules::RuleContext<'_>, engine::Need> {
        if !self.learned {
            return Err(engine::Need::Lookups {
                old: old.cloned(),
                new: new.clone(),
            });
        }
        Ok(fieldcase_core::rules::RuleContext {
            catalogues: &self.catalogues,
            directory: &self.users,
            now_ms: Some(fieldcase_core::ids::now_ms()),
            numbers: &self.numbers,
        })
    }
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
