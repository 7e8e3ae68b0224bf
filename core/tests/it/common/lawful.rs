//! Lawful penalty decisions through the phone API, for tests whose subject is something else
//! (sync, evidence, signatures, statistics): the order to correct every penalty comes with, the
//! simple procedure within its caps, or the ordinary procedure's steps with its periods waited
//! out. Shared by the core tests and the end-to-end crate (included by path).

#![allow(dead_code)] // each including crate uses a part

use fieldcase_core::catalogue::{PartyType, PenaltyKind};
use fieldcase_core::model::{Decision, Procedure, ProposedPenalty, StepKind};
use fieldcase_core::store::{PenaltyRequest, StepInput};
use fieldcase_core::{FieldStore, Result};

const DAY_MS: i64 = 86_400_000;

/// The party type of a case (a person when none is identified).
fn party_type(store: &FieldStore, case_id: &str) -> Result<PartyType> {
    Ok(store
        .case(case_id)?
        .party
        .map(|p| p.party_type)
        .unwrap_or(PartyType::Person))
}

/// Orders the party to correct, due `hours` after `at_ms`; returns the action id.
pub fn order(store: &FieldStore, case_id: &str, by: &str, at_ms: i64) -> Result<String> {
    store.order_correction(case_id, by, at_ms, at_ms + 3_600_000, vec!["整改".into()])
}

/// The penalty and amount the case's own tier gives at its lowest.
pub fn tier_penalty(store: &FieldStore, case_id: &str) -> Result<(PenaltyKind, i64)> {
    let case = store.case(case_id)?;
    let row = store
        .catalogue()
        .tier(
            &case.violation.code,
            &case.violation.tier,
            party_type(store, case_id)?,
        )?
        .clone();
    Ok((row.penalty, row.min_yuan.unwrap_or(0)))
}

/// A simple-procedure (当场) decision at the tier's lowest amount, after an order to correct.
pub fn simple(store: &FieldStore, case_id: &str, by: &str, at_ms: i64) -> Result<Decision> {
    order(store, case_id, by, at_ms)?;
    let (penalty, amount) = tier_penalty(store, case_id)?;
    store.decide_penalty(
        case_id,
        PenaltyRequest {
            by: by.into(),
            at_ms: at_ms + 1,
            tier: None,
            amount_yuan: amount,
            reason: None,
            penalty,
            procedure: Procedure::Simple,
            construction_cost_yuan: None,
        },
    )
}

fn step(step: StepKind, at_ms: i64, by: &str) -> StepInput {
    StepInput {
        step,
        at_ms,
        by: by.into(),
        officers: vec![],
        evidence_ids: vec![],
        note: None,
        decision_id: None,
        proposed: None,
        hearing_right_notified: false,
    }
}

/// The ordinary procedure up to its decision: order to correct, 立案, investigation with
/// `colleague`, prior notice of `amount` (or the tier's lowest) with the hearing right, the
/// hearing waived, and the decision ten days on (the statement period passed). Under the
/// Lu'an profile every such decision goes to legal review. Returns the decision.
pub fn ordinary(
    store: &FieldStore,
    case_id: &str,
    by: &str,
    colleague: &str,
    at_ms: i64,
    amount: Option<i64>,
    reason: Option<&str>,
) -> Result<Decision> {
    order(store, case_id, by, at_ms)?;
    let (penalty, lowest) = tier_penalty(store, case_id)?;
    let amount = amount.unwrap_or(lowest);
    store.record_step(case_id, step(StepKind::Filing, at_ms + 1, by))?;
    store.record_step(
        case_id,
        StepInput {
            officers: vec![by.into(), colleague.into()],
            ..step(StepKind::Investigation, at_ms + 2, by)
        },
    )?;
    store.record_step(
        case_id,
        StepInput {
            proposed: Some(ProposedPenalty {
                penalty,
                amount_yuan: amount,
            }),
            hearing_right_notified: true,
            ..step(StepKind::PriorNotice, at_ms + 3, by)
        },
    )?;
    store.record_step(case_id, step(StepKind::HearingWaived, at_ms + 4, by))?;
    store.decide_penalty(
        case_id,
        PenaltyRequest {
            by: by.into(),
            at_ms: at_ms + 10 * DAY_MS,
            tier: None,
            amount_yuan: amount,
            reason: reason.map(str::to_string),
            penalty,
            procedure: Procedure::Ordinary,
            construction_cost_yuan: None,
        },
    )
}

/// The head's approval of the case's decision (on a supervisor's store).
pub fn approve(store: &FieldStore, case_id: &str, head: &str, at_ms: i64) -> Result<String> {
    store.record_step(case_id, step(StepKind::Approval, at_ms, head))
}

/// Serves and executes the case's decision, so the case may be closed.
pub fn serve_and_execute(store: &FieldStore, case_id: &str, by: &str, at_ms: i64) -> Result<()> {
    store.record_step(case_id, step(StepKind::Service, at_ms, by))?;
    store.record_step(case_id, step(StepKind::Execution, at_ms + 1, by))?;
    Ok(())
}
