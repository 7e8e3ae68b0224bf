//! The head of the bureau's approval of an ordinary-procedure decision (负责人批准, 行政处罚法
//! 第五十七条) through the dashboard and `POST /v1/approvals`.
//!
//! A supervisor whose unit covers the case approves a decision that passed legal review (or
//! needed none). The server appends an `approval` step to the case as a change of its own
//! actor, after the same rules a phone's change passes ([`fieldcase_core::rules::check_record`]
//! as the supervisor): the step only after review, once, never by the decision's own officer.
//! The decision is in effect from then on ([`fieldcase_core::model::CaseRecord::decision_in_effect`]).

use super::review::edit_case;
use crate::AppState;
use crate::audit::AuditEvent;
use crate::error::{Result, ServerError};
use crate::storage::{Role, User};
use fieldcase_core::model::{ProcedureStep, StepKind};
use serde::{Deserialize, Serialize};

/// Longest note of an approval.
const MAX_NOTE_CHARS: usize = 4000;

/// `POST /v1/approvals` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// The case.
    pub case_id: String,
    /// The decision approved (must still be the case's decision).
    pub decision_id: String,
    /// An optional note (collective discussion, conditions).
    #[serde(default)]
    pub note: Option<String>,
}

/// Approves the case's decision as `head`; returns the step written.
pub async fn apply(state: &AppState, head: &User, req: &ApprovalRequest) -> Result<ProcedureStep> {
    if head.role != Role::Supervisor {
        return Err(ServerError::Forbidden(
            "only the head of the bureau (a supervisor) approves decisions".into(),
        ));
    }
    if let Some(n) = &req.note
        && (n.trim().is_empty() || n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(ServerError::BadRequest(format!(
            "a note has 1 to {MAX_NOTE_CHARS} characters"
        )));
    }
    let step = edit_case(
        state,
        head,
        vec![],
        &req.case_id,
        "server: approval",
        |doc, case| {
            let Some(d) = &case.decision else {
                return Err(ServerError::Conflict("the case has no decision".into()));
            };
            if d.id != req.decision_id {
                return Err(ServerError::Conflict(
                    "the decision was replaced; approve the current one".into(),
                ));
            }
            if case.step_for(StepKind::Approval, &d.id).is_some() {
                return Err(ServerError::Conflict(
                    "the decision is already approved".into(),
                ));
            }
            let step = ProcedureStep {
                id: fieldcase_core::ids::new_id(),
                step: StepKind::Approval,
                at_ms: fieldcase_core::ids::now_ms().max(d.decided_at_ms),
                by: head.id.clone(),
                officers: vec![],
                evidence_ids: vec![],
                note: req.note.clone(),
                decision_id: Some(d.id.clone()),
                proposed: None,
                hearing_right_notified: false,
            };
            fieldcase_core::doc::append(doc, "steps", &step)?;
            Ok((step.at_ms, step))
        },
    )
    .await?;
    state
        .audit(AuditEvent {
            at_ms: step.at_ms,
            actor: head.id.clone(),
            action: "approval".into(),
            case_id: Some(req.case_id.clone()),
            detail: format!("decision {} approved", req.decision_id),
        })
        .await?;
    Ok(step)
}
