//! The penalty procedure as a state machine over a case's recorded steps (行政处罚法 第五章):
//! the simple procedure (第五十一至五十三条) and the ordinary one (立案 → 调查取证 → 事先告知
//! → 陈述申辩 / 听证 → 法制审核 → 负责人批准 → 决定 → 送达 → 执行). Each rule is checked on
//! the state a change leaves, the same way on the phone and on the server; the diagram and the
//! article behind each rule are in `docs/procedure.md`.

use super::change::{Refusal, RefusalCode, refuse};
use super::discretion::{PenaltyProposal, assess_penalty};
use crate::catalogue::{Catalogue, Method, PenaltyKind, Period};
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

const DAY_MS: i64 = 86_400_000;
/// China Standard Time, for counting working days by the local calendar.
const CST_OFFSET_MS: i64 = 8 * 3_600_000;

fn invalid<T>(detail: impl Into<String>) -> Result<T, Refusal> {
    refuse(RefusalCode::ProcedureInvalid, detail)
}

/// `start` plus `n` working days (Monday to Friday, China time). Public holidays and
/// make-up working days are not modelled: a period may end a holiday early, never late.
pub fn add_working_days(start_ms: i64, n: i64) -> i64 {
    let mut t = start_ms;
    let mut left = n;
    while left > 0 {
        t += DAY_MS;
        // 1970-01-01 was a Thursday: day index 0 → Thursday.
        let weekday = ((t + CST_OFFSET_MS).div_euclid(DAY_MS) + 3).rem_euclid(7); // 0 = Monday
        if weekday < 5 {
            left -= 1;
        }
    }
    t
}

/// When a period that starts at `start_ms` ends.
pub fn period_end(start_ms: i64, p: &Period) -> i64 {
    let days = p.days.unwrap_or(0);
    if p.working_days {
        add_working_days(start_ms, days)
    } else {
        start_ms + days * DAY_MS
    }
}

/// The steps recorded before position `i` of the case's list.
fn before(case: &CaseRecord, i: usize) -> &[ProcedureStep] {
    &case.steps[..i]
}

fn last_of(steps: &[ProcedureStep], kind: StepKind) -> Option<&ProcedureStep> {
    steps.iter().rev().find(|s| s.step == kind)
}

/// Whether the penalty proposed carries a hearing right under the catalogue.
fn hearing_due(cat: &Catalogue, case: &CaseRecord, p: &ProposedPenalty) -> bool {
    let Some(party) = &case.party else {
        return false;
    };
    match p.penalty {
        PenaltyKind::Warning => false,
        PenaltyKind::Fine => cat
            .profile()
            .hearing_threshold
            .for_party(party.party_type)
            .is_none_or(|limit| p.amount_yuan >= limit),
        _ => true,
    }
}

/// Checks every step appended by this change against the steps before it.
pub(super) fn check_new_steps(
    new_ids: &BTreeSet<&str>,
    after: &CaseRecord,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    let evidence: BTreeSet<&str> = after
        .evidence
        .iter()
        .filter_map(|e| e.get("id").and_then(|v| v.as_str()))
        .collect();
    for (i, s) in after.steps.iter().enumerate() {
        if !new_ids.contains(s.id.as_str()) {
            continue;
        }
        let prior = before(after, i);
        if s.at_ms < after.occurred_at_ms || prior.last().is_some_and(|p| s.at_ms < p.at_ms) {
            return invalid(format!(
                "{} is dated before the encounter or the step before it",
                s.step.as_str()
            ));
        }
        if s.note.as_deref().is_some_and(|n| n.chars().count() > 4000) {
            return refuse(
                RefusalCode::Malformed,
                "a step's note exceeds 4000 characters",
            );
        }
        if let Some(e) = s
            .evidence_ids
            .iter()
            .find(|e| !evidence.contains(e.as_str()))
        {
            return invalid(format!(
                "{} names evidence {e} the case does not hold",
                s.step.as_str()
            ));
        }
        if let Some(o) = s.officers.iter().find(|o| !after.officers.contains(o)) {
            return invalid(format!(
                "{o} took part in a step but is not an officer of the case"
            ));
        }
        check_step(s, prior, after, cat)?;
    }
    Ok(())
}

fn check_step(
    s: &ProcedureStep,
    prior: &[ProcedureStep],
    case: &CaseRecord,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    let has = |k: StepKind| prior.iter().any(|p| p.step == k);
    let profile = cat.profile();
    match s.step {
        StepKind::Filing => {
            if has(StepKind::Filing) {
                return invalid("the case is already registered (立案)");
            }
            if case.decision.as_ref().is_some_and(|d| {
                d.decided_at_ms <= s.at_ms
                    && d.review.as_ref().map(|r| r.outcome) != Some(ReviewOutcome::Returned)
            }) {
                return invalid("立案 comes before the decision");
            }
        }
        StepKind::Investigation => {
            if !has(StepKind::Filing) {
                return invalid("调查取证 follows 立案");
            }
            let mut who: BTreeSet<&str> = s.officers.iter().map(String::as_str).collect();
            who.insert(s.by.as_str());
            let min = profile.procedure_rules.officers_min.value;
            if (who.len() as i64) < min {
                return invalid(format!(
                    "an investigation is made by at least {min} officers (行政处罚法 第四十二条)"
                ));
            }
        }
        StepKind::PriorNotice => {
            if !has(StepKind::Investigation) {
                return invalid("事先告知 follows the investigation");
            }
            let Some(p) = &s.proposed else {
                return invalid("a prior notice states the penalty proposed (第四十四条)");
            };
            if p.amount_yuan < 0 {
                return refuse(RefusalCode::Malformed, "a proposed amount is not negative");
            }
            let item = cat.item(&case.violation.code).map_err(|e| Refusal {
                code: RefusalCode::UnknownViolation,
                detail: e.to_string(),
            })?;
            if !item.allows(p.penalty) {
                return refuse(
                    RefusalCode::PenaltyUnlawful,
                    format!(
                        "{} is not a penalty the item's law prescribes",
                        p.penalty.as_str()
                    ),
                );
            }
            if hearing_due(cat, case, p) && !s.hearing_right_notified {
                return invalid(
                    "the party has a right to a hearing for this penalty; the notice must say so (第六十三、六十四条)",
                );
            }
        }
        StepKind::Statement | StepKind::HearingWaived => {
            if !has(StepKind::PriorNotice) {
                return invalid(format!("{} follows the prior notice", s.step.as_str()));
            }
        }
        StepKind::HearingRequest => {
            let Some(n) = last_of(prior, StepKind::PriorNotice) else {
                return invalid("a hearing is asked for after the prior notice");
            };
            if !n.hearing_right_notified {
                return invalid("the notice gave no hearing right");
            }
            let end = period_end(n.at_ms, &profile.rights.hearing_request_days);
            if s.at_ms > end {
                return invalid(
                    "the period to ask for a hearing has passed (五日内, 第六十四条第一项)",
                );
            }
        }
        StepKind::Hearing => {
            if !has(StepKind::HearingRequest) {
                return invalid("a hearing is held when the party asks for one");
            }
        }
        StepKind::Approval => {
            let Some(d) = case
                .decision
                .as_ref()
                .filter(|d| s.decision_id.as_deref() == Some(d.id.as_str()))
            else {
                return invalid("an approval names the case's decision");
            };
            if d.procedure != Some(Procedure::Ordinary) {
                return invalid("only an ordinary-procedure decision needs the head's approval");
            }
            if !d.is_effective() {
                return invalid(
                    "the decision awaits or failed legal review: approval comes after it",
                );
            }
            if prior
                .iter()
                .any(|p| p.step == StepKind::Approval && p.decision_id == s.decision_id)
            {
                return invalid("the decision is already approved");
            }
            if s.at_ms < d.decided_at_ms {
                return invalid("the approval is dated before the decision");
            }
        }
        StepKind::Service => {
            let Some(d) = case
                .decision
                .as_ref()
                .filter(|d| s.decision_id.as_deref() == Some(d.id.as_str()))
            else {
                return invalid("a service names the case's decision");
            };
            let approved = d.procedure != Some(Procedure::Ordinary)
                || prior
                    .iter()
                    .any(|p| p.step == StepKind::Approval && p.decision_id == s.decision_id);
            if !d.is_effective() || !approved {
                return invalid("only a decision in effect is served (审核、批准 first)");
            }
            if prior
                .iter()
                .any(|p| p.step == StepKind::Service && p.decision_id == s.decision_id)
            {
                return invalid("the decision is already served");
            }
        }
        StepKind::Execution => {
            if !prior
                .iter()
                .any(|p| p.step == StepKind::Service && p.decision_id == s.decision_id)
            {
                return invalid("a penalty is executed after its decision is served");
            }
        }
    }
    Ok(())
}

/// The procedure a new decision must have followed.
pub(super) fn check_decision_procedure(
    case: &CaseRecord,
    d: &Decision,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    let Some(procedure) = d.procedure else {
        return invalid("a decision records its procedure (simple or ordinary)");
    };
    let profile = cat.profile();
    let rules = &profile.procedure_rules;
    let officers: BTreeSet<&str> = case.officers.iter().map(String::as_str).collect();
    if (officers.len() as i64) < rules.officers_min.value {
        return invalid(format!(
            "a penalty is imposed by at least {} officers (行政处罚法 第四十二条)",
            rules.officers_min.value
        ));
    }
    let orders: Vec<&Action> = case
        .actions
        .iter()
        .filter(|a| a.method == Method::CorrectionOrder && a.at_ms <= d.decided_at_ms)
        .collect();
    if rules.correction_order_with_every_penalty.value && orders.is_empty() {
        return invalid("a penalty comes with an order to correct (责令改正, 第二十八条)");
    }
    let item = cat.item(&case.violation.code).map_err(|e| Refusal {
        code: RefusalCode::UnknownViolation,
        detail: e.to_string(),
    })?;
    let on_refusal = cat
        .tier(&case.violation.code, &d.tier, d.party_type)
        .is_ok_and(|t| t.on_refusal);
    let fine = d.penalty == PenaltyKind::Fine;
    if fine && (item.penalties.correction_order_first || on_refusal) {
        // "责令限期改正；逾期不改正的，处……罚款": the deadline must have passed and a visit
        // after it found the violation uncorrected.
        let expired = orders.iter().filter_map(|a| {
            a.fields
                .get("deadline")
                .and_then(|v| v.as_i64())
                .filter(|dl| *dl < d.decided_at_ms)
        });
        let verified = expired.into_iter().any(|dl| {
            case.follow_ups.iter().any(|f| {
                f.result
                    .as_ref()
                    .is_some_and(|r| !r.corrected && r.at_ms >= dl && r.at_ms <= d.decided_at_ms)
            })
        });
        if !verified {
            return refuse(
                RefusalCode::PenaltyUnlawful,
                "the law fines only after the order to correct expired uncorrected: record the order's deadline and a visit after it that found it uncorrected",
            );
        }
    }
    if case.is_corrected_before(d.decided_at_ms) && item.penalties.correction_order_first {
        return refuse(
            RefusalCode::PenaltyUnlawful,
            "the party corrected within the order: the law allows no fine",
        );
    }
    let steps: Vec<&ProcedureStep> = case
        .steps
        .iter()
        .filter(|s| s.at_ms <= d.decided_at_ms)
        .collect();
    let has = |k: StepKind| steps.iter().any(|s| s.step == k);
    match procedure {
        Procedure::Simple => {
            if has(StepKind::Filing) {
                return invalid("a registered case (立案) follows the ordinary procedure");
            }
        }
        Procedure::Ordinary => {
            for (k, what) in [
                (StepKind::Filing, "立案"),
                (StepKind::Investigation, "调查取证"),
                (StepKind::PriorNotice, "事先告知"),
            ] {
                if !has(k) {
                    return invalid(format!(
                        "the ordinary procedure needs {what} before the decision"
                    ));
                }
            }
            let Some(notice) = steps.iter().rev().find(|s| s.step == StepKind::PriorNotice) else {
                return invalid("no prior notice");
            };
            if let Some(p) = notice.proposed
                && (p.penalty != d.penalty || d.amount_yuan > p.amount_yuan)
            {
                return invalid(
                    "the decision is heavier than, or other than, the penalty the prior notice proposed: notify again (第四十五条)",
                );
            }
            let after_notice =
                |k: StepKind| steps.iter().any(|s| s.step == k && s.at_ms >= notice.at_ms);
            let stated = after_notice(StepKind::Statement);
            if !stated && d.decided_at_ms < period_end(notice.at_ms, &profile.rights.statement_days)
            {
                return invalid(
                    "the party's period to state and defend has not passed and no statement is recorded (第四十四、四十五条)",
                );
            }
            if d.hearing_right {
                if !notice.hearing_right_notified {
                    return invalid("the party was not told of the hearing right (第六十四条)");
                }
                if after_notice(StepKind::HearingRequest) {
                    if !after_notice(StepKind::Hearing) {
                        return invalid("the party asked for a hearing: hold it before deciding");
                    }
                } else if !after_notice(StepKind::HearingWaived)
                    && d.decided_at_ms
                        <= period_end(notice.at_ms, &profile.rights.hearing_request_days)
                {
                    return invalid(
                        "the period to ask for a hearing has not passed (第六十四条第一项)",
                    );
                }
            }
        }
    }
    Ok(())
}

/// The assessment of the case's decision, as the rules recompute it.
pub(super) fn assess_decision(
    case: &CaseRecord,
    d: &Decision,
    cat: &Catalogue,
) -> Result<super::PenaltyAssessment, Refusal> {
    let heard = case
        .steps
        .iter()
        .any(|s| s.step == StepKind::Hearing && s.at_ms <= d.decided_at_ms);
    assess_penalty(
        cat,
        &PenaltyProposal {
            code: &case.violation.code,
            tier: &d.tier,
            party_type: d.party_type,
            penalty: d.penalty,
            amount_yuan: d.amount_yuan,
            reason: d.reason.as_deref(),
            procedure: d.procedure.unwrap_or(Procedure::Ordinary),
            construction_cost_yuan: d.construction_cost_yuan,
            heard,
        },
    )
}

/// A time limit of the procedure and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// `decision` (90 days from 立案), `service` (7 working days from the decision in effect),
    /// `payment` (15 days from service), `correction` (the order's or pledge's deadline).
    pub what: String,
    /// When it falls due.
    pub due_ms: i64,
    /// When it was met, if it was.
    pub met_at_ms: Option<i64>,
    /// Passed unmet at `now_ms`, or met late.
    pub overdue: bool,
    /// The article that sets it.
    pub basis: String,
}

fn deadline(what: &str, due: i64, met: Option<i64>, now: i64, basis: &Option<String>) -> Deadline {
    Deadline {
        what: what.into(),
        due_ms: due,
        met_at_ms: met,
        overdue: met.map_or(now > due, |m| m > due),
        basis: basis.clone().unwrap_or_default(),
    }
}

/// The time limits the law sets on this case, and which are overdue at `now_ms`.
pub fn procedure_deadlines(case: &CaseRecord, cat: &Catalogue, now_ms: i64) -> Vec<Deadline> {
    let limits = &cat.profile().time_limits;
    let mut out = Vec::new();
    if let Some(f) = case.steps_of(StepKind::Filing).next() {
        let met = case.decision.as_ref().map(|d| d.decided_at_ms);
        out.push(deadline(
            "decision",
            period_end(f.at_ms, &limits.decision_days),
            met,
            now_ms,
            &limits.decision_days.basis,
        ));
    }
    if let Some(d) = case.decision_in_effect() {
        let from = case
            .step_for(StepKind::Approval, &d.id)
            .map(|s| s.at_ms)
            .or_else(|| d.review.as_ref().map(|r| r.at_ms))
            .unwrap_or(d.decided_at_ms)
            .max(d.decided_at_ms);
        let served = case.step_for(StepKind::Service, &d.id).map(|s| s.at_ms);
        out.push(deadline(
            "service",
            period_end(from, &limits.service_days),
            served,
            now_ms,
            &limits.service_days.basis,
        ));
        if let (Some(at), PenaltyKind::Fine) = (served, d.penalty) {
            out.push(deadline(
                "payment",
                period_end(at, &limits.fine_payment_days),
                case.step_for(StepKind::Execution, &d.id).map(|s| s.at_ms),
                now_ms,
                &limits.fine_payment_days.basis,
            ));
        }
    }
    if let Some(due) = case.correction_deadline_ms() {
        let met = case
            .follow_ups
            .iter()
            .filter_map(|f| f.result.as_ref())
            .filter(|r| r.corrected)
            .map(|r| r.at_ms)
            .min();
        out.push(deadline(
            "correction",
            due,
            met,
            now_ms,
            &Some("行政处罚法 第二十八条".into()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_skip_weekends_in_china_time() {
        // Friday 2026-12-04 10:00 CST = 02:00 UTC.
        let fri = 1_764_813_600_000 + 365 * DAY_MS;
        let wd = ((fri + CST_OFFSET_MS).div_euclid(DAY_MS) + 3).rem_euclid(7);
        assert_eq!(wd, 4, "the fixture is a Friday");
        // One working day after Friday is Monday, three calendar days on.
        assert_eq!(add_working_days(fri, 1), fri + 3 * DAY_MS);
        // Five working days after Friday is the next Friday.
        assert_eq!(add_working_days(fri, 5), fri + 7 * DAY_MS);
        assert_eq!(add_working_days(fri, 0), fri);
    }
}
