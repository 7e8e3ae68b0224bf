//! Legal review of major decisions (重大执法决定法制审核) through the review service: the
//! dashboard's form and `POST /v1/reviews`.
//!
//! A reviewer approves or returns a decision with an opinion and the checklist (主体, 事实,
//! 证据, 依据, 裁量, 程序). The server writes the review into the case's document as a change
//! of its own actor, so it reaches phones by the ordinary sync. The review is signed with the
//! server's review key on behalf of the reviewer, whose session or credential the server
//! authenticated ([`fieldcase_core::evidence::records::review_payload`]: the case, the
//! decision's own signature, the outcome, opinion, checklist, reviewer and time), and an entry
//! is appended to the audit chain. A reviewer's phone may instead write the review itself,
//! signed with its device key, over sync; both pass the same rules
//! ([`fieldcase_core::rules::check_record`]). A decision that needs review takes effect only
//! once approved ([`fieldcase_core::model::Decision::is_effective`]).

use crate::AppState;
use crate::audit::AuditEvent;
use crate::error::{Result, ServerError};
use crate::storage::{Role, User, unit_in_scope};
use automerge::{AutoCommit, ObjType, ReadDoc, Value};
use fieldcase_core::engine;
use fieldcase_core::evidence::SoftwareSigner;
use fieldcase_core::model::{CaseRecord, RecordKind, Review, ReviewChecklist, ReviewOutcome};
use fieldcase_core::rules::{Author, RuleContext};
use serde::{Deserialize, Serialize};

/// Longest opinion accepted.
pub const MAX_OPINION_CHARS: usize = fieldcase_core::rules::MAX_OPINION_CHARS;
/// `Review::via` of a review written by the review service.
pub const VIA_REVIEW_SERVICE: &str = "review_service";

/// `POST /v1/reviews` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// What was checked: every point passed for an approval; at least one not passed, each
    /// with a note, for a return.
    pub checklist: ReviewChecklist,
}

/// The review service's public key (hex): what phones trust for reviews written through it.
pub fn service_key_hex(state: &AppState) -> String {
    hex::encode(state.signing_key.verifying_key().as_bytes())
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
pub async fn apply(state: &AppState, reviewer: &User, req: &ReviewRequest) -> Result<Review> {
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
    if let Some(p) = req.checklist.problem(req.outcome) {
        return Err(ServerError::BadRequest(p));
    }
    if !fieldcase_core::ids::is_valid_id(&req.case_id) {
        return Err(ServerError::BadRequest("case_id is not a record id".into()));
    }
    let service_key = service_key_hex(state);
    let signer = SoftwareSigner::from_secret(&state.signing_key.to_bytes());
    let review = edit_case(
        state,
        reviewer,
        vec![service_key],
        &req.case_id,
        "server: legal review",
        |doc, case| {
            check(reviewer, req, case)?;
            let Some(decision) = &case.decision else {
                return Err(ServerError::Conflict("the case has no decision".into()));
            };
            let review = fieldcase_core::evidence::records::sign_review(
                &signer,
                &req.case_id,
                decision,
                Review {
                    outcome: req.outcome,
                    reviewer: reviewer.id.clone(),
                    opinion: opinion.to_string(),
                    at_ms: fieldcase_core::ids::now_ms(),
                    checklist: Some(req.checklist.clone()),
                    decision_signature: None,
                    signature: None,
                    signed_by_key: None,
                    via: Some(VIA_REVIEW_SERVICE.into()),
                },
            )?;
            let decision_obj = match doc.get(automerge::ROOT, "decision") {
                Ok(Some((Value::Object(ObjType::Map), id))) => id,
                _ => return Err(ServerError::Conflict("the case has no decision".into())),
            };
            let json = serde_json::to_value(&review)
                .map_err(|e| ServerError::Config(format!("review: {e}")))?;
            fieldcase_core::doc::put(doc, &decision_obj, "review", &json)?;
            Ok((review.at_ms, review))
        },
    )
    .await?;
    let outcome = match review.outcome {
        ReviewOutcome::Approved => "approved",
        ReviewOutcome::Returned => "returned",
    };
    let sig = review.signature.as_deref().unwrap_or_default();
    state
        .audit(AuditEvent {
            at_ms: review.at_ms,
            actor: reviewer.id.clone(),
            action: "review".into(),
            case_id: Some(req.case_id.clone()),
            detail: format!(
                "decision {} {outcome}; signature {}",
                req.decision_id,
                &sig[..sig.len().min(16)]
            ),
        })
        .await?;
    Ok(review)
}

/// Writes an edit of case `case_id` made through a server service on behalf of `user` (a
/// review, an approval): loads the stored case, lets `edit` change it as a change of the
/// server's actor, checks the result with the rules every phone change passes (as `user`,
/// through the service channel), and writes it, retrying on a concurrent write. `edit`
/// returns the change's time (ms) and what the caller wants back.
pub(super) async fn edit_case<T>(
    state: &AppState,
    user: &User,
    review_keys: Vec<String>,
    case_id: &str,
    message: &str,
    mut edit: impl FnMut(&mut AutoCommit, &CaseRecord) -> Result<(i64, T)>,
) -> Result<T> {
    if !fieldcase_core::ids::is_valid_id(case_id) {
        return Err(ServerError::BadRequest("case_id is not a record id".into()));
    }
    let not_found = || ServerError::NotFound(format!("case {case_id}"));
    let author = Author {
        user_id: user.id.clone(),
        role: user.role,
        unit: user.unit.clone(),
        device_id: VIA_REVIEW_SERVICE.into(),
        device_key: None,
        review_keys,
    };
    let catalogues = state.catalogues.set();
    let written = crate::merge::rewrite(state.storage.as_ref(), case_id, |stored| {
        if stored.kind != RecordKind::Case || !unit_in_scope(&stored.unit, &user.unit) {
            return Err(not_found());
        }
        let edited = engine::edit(
            crate::merge::view(stored),
            state.server_actor.clone(),
            message,
            |doc| {
                let case: CaseRecord = fieldcase_core::doc::read(doc, case_id)?;
                edit(doc, &case)
            },
        )?;
        let ctx = RuleContext {
            catalogues: &catalogues,
            directory: &crate::validate::Users::default(),
            now_ms: Some(fieldcase_core::ids::now_ms()),
            numbers: &fieldcase_core::rules::NoLedger,
        };
        let accepted = engine::judge(
            &author,
            &ctx,
            case_id,
            RecordKind::Case,
            Some(&edited.old),
            &edited.new,
        )
        .map_err(|r| ServerError::Forbidden(r.to_string()))?;
        let (w, out) = edited.into_write();
        Ok((
            crate::merge::edit_write(
                stored,
                w,
                accepted.party_hash,
                stored.unit.clone(),
                accepted.blob_refs,
            ),
            out,
        ))
    })
    .await?;
    written.ok_or_else(not_found)
}
