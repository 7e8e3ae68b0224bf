//! The head's approval and the reviewer's review: what a supervisor and a reviewer may write.

use crate::catalogue::Catalogue;
use crate::evidence::records::{check_decision, check_review};
use crate::model::*;
use crate::rules::author::{Author, unit_in_scope};
use crate::rules::change::{
    MAX_OPINION_CHARS, Refusal, RefusalCode, appended_typed, refuse, same_author,
};

/// The head of the bureau (a supervisor) approves ordinary-procedure decisions (负责人批准,
/// 第五十七条) and writes nothing else.
pub(super) fn check_supervisor_change(
    before: Option<&CaseRecord>,
    after: &CaseRecord,
    author: &Author,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    let Some(b) = before else {
        return refuse(
            RefusalCode::OutOfScope,
            "a supervisor does not record cases",
        );
    };
    if !unit_in_scope(&after.unit, &author.unit) {
        return refuse(
            RefusalCode::OutOfScope,
            "the case lies outside the supervisor's unit",
        );
    }
    let without_steps = |c: &CaseRecord| CaseRecord {
        steps: vec![],
        ..c.clone()
    };
    if without_steps(b) != without_steps(after) {
        return refuse(
            RefusalCode::OutOfScope,
            "a supervisor may only approve a decision",
        );
    }
    if after.is_closed() {
        return refuse(RefusalCode::CaseClosed, "the case is closed");
    }
    let new = appended_typed("steps", &b.steps, &after.steps, |s| &s.id)?;
    for s in &new {
        same_author("steps.by", &s.by, author)?;
        if s.step != StepKind::Approval {
            return refuse(
                RefusalCode::OutOfScope,
                "a supervisor may only approve a decision",
            );
        }
        if after
            .decision
            .as_ref()
            .is_some_and(|d| d.decided_by == author.user_id)
        {
            return refuse(
                RefusalCode::ProcedureInvalid,
                "the head approves another officer's decision, not their own",
            );
        }
    }
    let ids = new.iter().map(|s| s.id.as_str()).collect();
    crate::rules::procedure::check_new_steps(&ids, after, cat)
}

/// A reviewer writes the review of a decision and nothing else.
pub(super) fn check_reviewer_change(
    before: Option<&CaseRecord>,
    after: &CaseRecord,
    author: &Author,
) -> Result<(), Refusal> {
    let Some(b) = before else {
        return refuse(RefusalCode::OutOfScope, "a reviewer does not record cases");
    };
    let strip = |c: &CaseRecord| {
        let mut c = c.clone();
        if let Some(d) = c.decision.as_mut() {
            d.review = None;
        }
        c
    };
    if strip(b) != strip(after) {
        return refuse(
            RefusalCode::OutOfScope,
            "a reviewer may change only the review of a decision",
        );
    }
    let (Some(bd), Some(ad)) = (&b.decision, &after.decision) else {
        return Ok(());
    };
    match (&bd.review, &ad.review) {
        (None, None) => Ok(()),
        (None, Some(r)) => check_review_written(b, ad, r, author),
        (Some(x), Some(y)) if x == y => Ok(()),
        _ => refuse(
            RefusalCode::ReviewInvalid,
            "a review is never changed or removed",
        ),
    }
}

pub(super) fn check_review_written(
    case: &CaseRecord,
    d: &Decision,
    r: &Review,
    author: &Author,
) -> Result<(), Refusal> {
    same_author("review.reviewer", &r.reviewer, author)?;
    if case.is_closed() {
        return refuse(RefusalCode::CaseClosed, "the case is closed");
    }
    if !d.review_required {
        return refuse(
            RefusalCode::ReviewInvalid,
            "this decision needs no legal review",
        );
    }
    if d.decided_by == author.user_id {
        return refuse(
            RefusalCode::ReviewInvalid,
            "a reviewer may not review their own decision",
        );
    }
    let opinion = r.opinion.trim();
    if opinion.is_empty() || r.opinion.chars().count() > MAX_OPINION_CHARS {
        return refuse(
            RefusalCode::ReviewInvalid,
            format!("a review needs an opinion of 1 to {MAX_OPINION_CHARS} characters"),
        );
    }
    let Some(list) = &r.checklist else {
        return refuse(
            RefusalCode::ReviewInvalid,
            "a review carries the checklist (主体, 事实, 证据, 依据, 裁量, 程序)",
        );
    };
    if let Some(p) = list.problem(r.outcome) {
        return refuse(RefusalCode::ReviewInvalid, p);
    }
    let key_ok = r
        .signed_by_key
        .as_deref()
        .is_some_and(|k| author.review_keys.iter().any(|a| a.eq_ignore_ascii_case(k)));
    if !key_ok {
        return refuse(
            RefusalCode::SignatureInvalid,
            "a review is signed by the reviewer's own device key (or the review service)",
        );
    }
    if check_review(&case.id, d, r) != Some(true) {
        return refuse(
            RefusalCode::SignatureInvalid,
            "the review's signature does not verify, or it names another decision",
        );
    }
    if check_decision(case, d) != Some(true) {
        return refuse(
            RefusalCode::SignatureInvalid,
            "the decision reviewed carries no valid signature",
        );
    }
    Ok(())
}
