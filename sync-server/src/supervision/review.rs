//! Legal review of major decisions (重大执法决定法制审核), written by the server.
//!
//! A reviewer approves or returns a decision with an opinion. The server writes the review into
//! the case's document as a change of its own actor, so it reaches phones by the ordinary sync;
//! the review carries an ed25519 signature of the server's key over the case id, the decision
//! id, the document heads the reviewer saw, the outcome, the opinion, the reviewer and the time
//! ([`signing_bytes`]); and an entry is appended to the audit chain. A decision that needs
//! review takes effect only once approved ([`fieldcase_core::model::Decision::is_effective`]).

use crate::AppState;
use crate::audit::AuditEvent;
use crate::error::{Result, ServerError};
use crate::storage::{DocWrite, Role, User, unit_in_scope};
use automerge::transaction::CommitOptions;
use automerge::{AutoCommit, ChangeHash, ObjType, ReadDoc, Value};
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use fieldcase_core::model::{CaseRecord, RecordKind, ReviewOutcome};
use serde::{Deserialize, Serialize};

/// Longest opinion accepted.
pub const MAX_OPINION_CHARS: usize = 4000;
const WRITE_ATTEMPTS: usize = 5;
const COMPACT_AFTER: i64 = 16;

/// `POST /v1/reviews` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The case.
    pub case_id: String,
    /// The decision reviewed (must still be the case's decision).
    pub decision_id: String,
    /// approved or returned.
    pub outcome: ReviewOutcome,
    /// The opinion (required, also for an approval).
    pub opinion: String,
}

/// The review as written into the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReview {
    /// approved or returned.
    pub outcome: ReviewOutcome,
    /// Reviewer's user id.
    pub reviewer: String,
    /// Opinion.
    pub opinion: String,
    /// When (server clock).
    pub at_ms: i64,
    /// ed25519 signature (hex) over [`signing_bytes`].
    pub signature: String,
    /// Document heads (hex, sorted) the review was made on.
    pub signed_heads: Vec<String>,
    /// The server's public key (hex) that signed.
    pub signed_by_key: String,
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The bytes a review's signature covers: length-prefixed fields in a fixed order.
pub fn signing_bytes(case_id: &str, decision_id: &str, review: &SignedReview) -> Vec<u8> {
    let mut out = b"fieldcase-review-v1".to_vec();
    field(&mut out, case_id.as_bytes());
    field(&mut out, decision_id.as_bytes());
    field(&mut out, review.signed_heads.join(",").as_bytes());
    let outcome = match review.outcome {
        ReviewOutcome::Approved => "approved",
        ReviewOutcome::Returned => "returned",
    };
    field(&mut out, outcome.as_bytes());
    field(&mut out, review.opinion.as_bytes());
    field(&mut out, review.reviewer.as_bytes());
    field(&mut out, &review.at_ms.to_be_bytes());
    out
}

/// Whether a review's signature is valid under `key`.
pub fn verify(case_id: &str, decision_id: &str, review: &SignedReview, key: &VerifyingKey) -> bool {
    let Ok(bytes) = hex::decode(&review.signature) else {
        return false;
    };
    let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    key.verify_strict(
        &signing_bytes(case_id, decision_id, review),
        &Signature::from_bytes(&arr),
    )
    .is_ok()
}

/// Checks a request against the stored case; the case as read.
fn check(reviewer: &User, req: &ReviewRequest, case: &CaseRecord) -> Result<()> {
    let Some(d) = &case.decision else {
        return Err(ServerError::Conflict("the case has no decision".into()));
    };
    if d.id != req.decision_id {
        return Err(ServerError::Conflict(
            "the decision was replaced; review the current one".into(),
        ));
    }
    if !d.review_required {
        return Err(ServerError::Conflict(
            "this decision needs no legal review".into(),
        ));
    }
    if d.review.is_some() {
        return Err(ServerError::Conflict(
            "the decision was already reviewed".into(),
        ));
    }
    if case.is_closed() {
        return Err(ServerError::Conflict("the case is closed".into()));
    }
    if d.decided_by == reviewer.id {
        return Err(ServerError::Forbidden(
            "a reviewer may not review their own decision".into(),
        ));
    }
    Ok(())
}

/// Reviews a decision as `reviewer`: checks, signs, writes the change, audits. Returns the
/// review written.
pub async fn apply(state: &AppState, reviewer: &User, req: &ReviewRequest) -> Result<SignedReview> {
    if reviewer.role != Role::Reviewer {
        return Err(ServerError::Forbidden(
            "only a legal reviewer may review decisions".into(),
        ));
    }
    let opinion = req.opinion.trim();
    if opinion.is_empty() {
        return Err(ServerError::BadRequest("an opinion is required".into()));
    }
    if opinion.chars().count() > MAX_OPINION_CHARS {
        return Err(ServerError::BadRequest(format!(
            "the opinion is longer than {MAX_OPINION_CHARS} characters"
        )));
    }
    if !fieldcase_core::ids::is_valid_id(&req.case_id) {
        return Err(ServerError::BadRequest("case_id is not a record id".into()));
    }
    let not_found = || ServerError::NotFound(format!("case {}", req.case_id));
    for _ in 0..WRITE_ATTEMPTS {
        let stored = state
            .storage
            .load_doc(&req.case_id)
            .await?
            .ok_or_else(not_found)?;
        if stored.kind != RecordKind::Case || !unit_in_scope(&stored.unit, &reviewer.unit) {
            return Err(not_found());
        }
        let mut doc = AutoCommit::load(&stored.bytes)
            .map_err(|_| ServerError::Database("stored document does not load".into()))?
            .with_actor(state.server_actor.clone());
        let case: CaseRecord = fieldcase_core::doc::read(&doc, &req.case_id)?;
        check(reviewer, req, &case)?;
        let before = doc.get_heads();
        let mut heads: Vec<String> = before.iter().map(ChangeHash::to_string).collect();
        heads.sort();
        let mut review = SignedReview {
            outcome: req.outcome,
            reviewer: reviewer.id.clone(),
            opinion: opinion.to_string(),
            at_ms: fieldcase_core::ids::now_ms(),
            signature: String::new(),
            signed_heads: heads,
            signed_by_key: hex::encode(state.signing_key.verifying_key().as_bytes()),
        };
        review.signature = hex::encode(
            state
                .signing_key
                .sign(&signing_bytes(&req.case_id, &req.decision_id, &review))
                .to_bytes(),
        );
        let decision_obj = match doc.get(automerge::ROOT, "decision") {
            Ok(Some((Value::Object(ObjType::Map), id))) => id,
            _ => return Err(ServerError::Conflict("the case has no decision".into())),
        };
        let json = serde_json::to_value(&review)
            .map_err(|e| ServerError::Config(format!("review: {e}")))?;
        fieldcase_core::doc::put(&mut doc, &decision_obj, "review", &json)?;
        doc.commit_with(
            CommitOptions::default()
                .with_message("server: legal review")
                .with_time(review.at_ms / 1000),
        );
        // The rules every review passes (own id, an opinion, a decision that needs one).
        let new_json = fieldcase_core::doc::read_json(&doc)?;
        let old_raw = {
            let old_doc = AutoCommit::load(&stored.bytes)
                .map_err(|_| ServerError::Database("stored document does not load".into()))?;
            fieldcase_core::doc::read_json(&old_doc)?
        };
        let accepted = crate::validate::check_via(
            crate::validate::Channel::ReviewService,
            reviewer,
            &state.catalogue,
            &req.case_id,
            RecordKind::Case,
            Some(&old_raw),
            &new_json,
        )
        .map_err(ServerError::Forbidden)?;
        let after = doc.get_heads();
        let compact = stored.chunk_count + 1 > COMPACT_AFTER;
        let write = DocWrite {
            doc_id: req.case_id.clone(),
            kind: RecordKind::Case,
            unit: stored.unit.clone(),
            party_hash: accepted.party_hash.clone(),
            expected_heads: Some(stored.heads.clone()),
            new_heads: after.iter().flat_map(|h| h.0).collect(),
            chunk: if compact {
                doc.save()
            } else {
                doc.save_after(&before)
            },
            replace: compact,
            blob_refs: accepted.blob_refs.clone(),
        };
        match state.storage.write_doc(write).await {
            Ok(_) => {}
            Err(ServerError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
        let outcome = match review.outcome {
            ReviewOutcome::Approved => "approved",
            ReviewOutcome::Returned => "returned",
        };
        state
            .audit(AuditEvent {
                at_ms: review.at_ms,
                actor: reviewer.id.clone(),
                action: "review".into(),
                case_id: Some(req.case_id.clone()),
                detail: format!(
                    "decision {} {outcome}; signature {}",
                    req.decision_id,
                    &review.signature[..16]
                ),
            })
            .await?;
        return Ok(review);
    }
    Err(ServerError::Conflict(
        "the case is being written concurrently; retry".into(),
    ))
}
