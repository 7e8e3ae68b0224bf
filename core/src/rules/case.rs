//! The rules of a case record: creation, the append-only lists, the exemption, the decision
//! and its review, the lifecycle. Called from [`super::change::check_record`]; every function
//! is pure over (case before, case after, author, catalogue).

use super::author::{Author, Role, unit_in_scope};
use super::change::{
    MAX_OPINION_CHARS, Refusal, RefusalCode, RuleContext, appended_typed, check_evidence, refuse,
    same_author,
};
use crate::catalogue::{Catalogue, Method};
use crate::evidence::records::{check_decision, check_lifecycle, check_review};
use crate::model::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The fields fixed when a case is created.
fn creation_fields(c: &CaseRecord) -> Value {
    serde_json::json!([
        c.kind,
        c.schema_version,
        c.id,
        c.unit,
        c.created_at_ms,
        c.created_by,
        c.created_on_device,
        c.occurred_at_ms,
        c.place,
        c.officers,
        c.party,
        c.violation,
        c.involves_minor,
        c.privacy_protected,
    ])
}

/// Whether an action of `method` counts as educating the party (行政处罚法 第三十三条).
pub fn educates(method: Method) -> bool {
    matches!(
        method,
        Method::Guidance
            | Method::Persuasion
            | Method::Warning
            | Method::Interview
            | Method::Mediation
    )
}

pub(super) fn check_case(
    before: Option<&CaseRecord>,
    after: &CaseRecord,
    author: &Author,
    ctx: &RuleContext<'_>,
) -> Result<(), Refusal> {
    let cat = ctx.catalogue(&after.violation.catalogue_version)?;
    match before {
        None => check_creation(after, author, ctx, cat)?,
        Some(b) => {
            if creation_fields(b) != creation_fields(after) {
                return refuse(
                    RefusalCode::Immutable,
                    "who, when, where, the party and the violation of a case are fixed when it is recorded",
                );
            }
        }
    }
    if author.role == Role::Reviewer {
        return check_reviewer_change(before, after, author);
    }
    if author.role == Role::Supervisor {
        return check_supervisor_change(before, after, author, cat);
    }
    let empty = CaseRecord {
        actions: vec![],
        exemption: None,
        follow_ups: vec![],
        decision: None,
        notes: vec![],
        steps: vec![],
        documents: vec![],
        evidence: vec![],
        redactions: vec![],
        lifecycle: vec![],
        flags: Flags::default(),
        ..after.clone()
    };
    let b = before.unwrap_or(&empty);
    check_closed(b, after)?;
    check_flags(b, after)?;
    let new_actions = appended_typed("actions", &b.actions, &after.actions, |a| &a.id)?;
    for a in &new_actions {
        check_action(a, author, cat)?;
    }
    for n in appended_typed("notes", &b.notes, &after.notes, |n| &n.id)? {
        same_author("notes.by", &n.by, author)?;
        text_within("notes.text", Some(&n.text), MAX_TEXT_CHARS)?;
    }
    check_follow_ups(b, after, author)?;
    check_evidence(
        &after.id,
        &b.evidence,
        &after.evidence,
        &b.redactions,
        &after.redactions,
        author,
    )?;
    check_exemption(b, after, author, cat)?;
    check_decision_change(b, after, author, cat)?;
    check_steps(b, after, author, cat)?;
    super::documents::check_documents(b, after, author, cat, ctx)?;
    check_service_only(after, &new_actions, cat)?;
    check_not_ahead(b, after, ctx.now_ms)?;
    // Penalty and follow-up actions exist only with their decision or visit.
    for a in &new_actions {
        let tied = match a.method {
            Method::Penalty => after.decision.as_ref().is_some_and(|d| d.action_id == a.id),
            Method::FollowUp => after
                .follow_ups
                .iter()
                .any(|f| f.result.as_ref().is_some_and(|r| r.action_id == a.id)),
            _ => true,
        };
        if !tied {
            return refuse(
                RefusalCode::InvalidAction,
                "a penalty or follow-up action is recorded only with its decision or visit",
            );
        }
    }
    check_lifecycle_events(b, after, author)
}

/// Longest free text the phone accepts (notes, descriptions, action notes).
const MAX_TEXT_CHARS: usize = 4000;

/// The input checks the phone's operations make, made again on what arrives: a free text is
/// non-empty and at most `max` characters.
fn text_within(field: &str, text: Option<&str>, max: usize) -> Result<(), Refusal> {
    if text.is_some_and(|t| t.trim().is_empty() || t.chars().count() > max) {
        return refuse(
            RefusalCode::Malformed,
            format!("{field} must be 1 to {max} characters"),
        );
    }
    Ok(())
}

fn check_creation(
    c: &CaseRecord,
    author: &Author,
    ctx: &RuleContext<'_>,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    if author.role != Role::Officer {
        return refuse(RefusalCode::OutOfScope, "only an officer records cases");
    }
    // The place and texts, as the phone's `create_case` checks them.
    if c.place.check().is_err() {
        return refuse(
            RefusalCode::Malformed,
            "the place's coordinates are invalid",
        );
    }
    text_within(
        "violation.description",
        c.violation.description.as_deref(),
        MAX_TEXT_CHARS,
    )?;
    same_author("created_by", &c.created_by, author)?;
    if c.created_on_device != author.device_id {
        return refuse(
            RefusalCode::ForgedAuthor,
            "created_on_device must name the pushing device",
        );
    }
    if !c.officers.iter().any(|o| o == &author.user_id) {
        return refuse(
            RefusalCode::ForgedAuthor,
            "the recording officer must be among the officers present",
        );
    }
    for o in c.officers.iter().filter(|o| **o != author.user_id) {
        match ctx.directory.user(o) {
            Some(u) if u.role == Role::Officer && unit_in_scope(&c.unit, &u.unit) => {}
            Some(_) => {
                return refuse(
                    RefusalCode::UnknownOfficer,
                    "an officer present must be an officer whose unit covers the case",
                );
            }
            None if ctx.directory.complete() => {
                return refuse(RefusalCode::UnknownOfficer, "an officer present is unknown");
            }
            None => {}
        }
    }
    let item = cat.item(&c.violation.code).map_err(|_| Refusal {
        code: RefusalCode::UnknownViolation,
        detail: "violation code is not in the catalogue".into(),
    })?;
    if !crate::catalogue::TIERS.contains(&c.violation.tier.as_str()) {
        return refuse(
            RefusalCode::UnknownViolation,
            "the circumstance tier is not one of trivial, minor, general, serious, severe",
        );
    }
    if let Some(p) = &c.party
        && !item.applies_to.contains(&p.party_type)
    {
        return refuse(
            RefusalCode::UnknownViolation,
            format!(
                "{} does not apply to a {}",
                item.code,
                p.party_type.as_str()
            ),
        );
    }
    Ok(())
}

/// The decision, the steps and the visits a change adds are not dated ahead of the clock.
fn check_not_ahead(b: &CaseRecord, after: &CaseRecord, now_ms: Option<i64>) -> Result<(), Refusal> {
    let Some(now) = now_ms else {
        return Ok(());
    };
    let limit = now + super::change::MAX_CLOCK_AHEAD_MS;
    let old_steps: HashSet<&str> = b.steps.iter().map(|s| s.id.as_str()).collect();
    let new_decision = after
        .decision
        .as_ref()
        .filter(|d| b.decision.as_ref().map(|o| &o.id) != Some(&d.id))
        .map(|d| d.decided_at_ms);
    let new_steps = after
        .steps
        .iter()
        .filter(|s| !old_steps.contains(s.id.as_str()))
        .map(|s| s.at_ms);
    let old_visits: HashSet<&str> = b
        .follow_ups
        .iter()
        .filter(|f| f.result.is_some())
        .map(|f| f.id.as_str())
        .collect();
    let new_visits = after
        .follow_ups
        .iter()
        .filter(|f| !old_visits.contains(f.id.as_str()))
        .filter_map(|f| f.result.as_ref().map(|r| r.at_ms));
    if new_decision
        .into_iter()
        .chain(new_steps)
        .chain(new_visits)
        .any(|t| t > limit)
    {
        return refuse(
            RefusalCode::ProcedureInvalid,
            "a decision, step or visit is dated ahead of the clock: the law's periods run in real time",
        );
    }
    Ok(())
}

/// A case where no violation was found (a service-only item such as 行政指导) carries service
/// measures only: no order, warning or interview, no exemption, penalty or procedure step.
fn check_service_only(
    after: &CaseRecord,
    new_actions: &[&Action],
    cat: &Catalogue,
) -> Result<(), Refusal> {
    if !cat
        .item(&after.violation.code)
        .is_ok_and(|i| i.service_only)
    {
        return Ok(());
    }
    if let Some(a) = new_actions
        .iter()
        .find(|a| cat.measure_category(a.method) != crate::catalogue::MeasureCategory::Service)
    {
        return refuse(
            RefusalCode::InvalidAction,
            format!(
                "no violation was found: a {} is not a service measure",
                a.method.as_str()
            ),
        );
    }
    if after.exemption.is_some() || !after.steps.is_empty() {
        return refuse(
            RefusalCode::InvalidAction,
            "no violation was found: nothing to exempt and no penalty procedure",
        );
    }
    Ok(())
}

/// Steps are appended, never changed, each by its author, in the order the procedure allows.
fn check_steps(
    b: &CaseRecord,
    after: &CaseRecord,
    author: &Author,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    let new = appended_typed("steps", &b.steps, &after.steps, |s| &s.id)?;
    for s in &new {
        same_author("steps.by", &s.by, author)?;
        if s.step == StepKind::Approval {
            return refuse(
                RefusalCode::OutOfScope,
                "the head of the bureau (a supervisor) approves decisions, not an officer",
            );
        }
    }
    let ids = new.iter().map(|s| s.id.as_str()).collect();
    super::procedure::check_new_steps(&ids, after, cat)
}

/// The head of the bureau (a supervisor) approves ordinary-procedure decisions (负责人批准,
/// 第五十七条) and writes nothing else.
fn check_supervisor_change(
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
    super::procedure::check_new_steps(&ids, after, cat)
}

/// A reviewer writes the review of a decision and nothing else.
fn check_reviewer_change(
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

fn check_review_written(
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

fn check_closed(b: &CaseRecord, after: &CaseRecord) -> Result<(), Refusal> {
    if !b.is_closed() {
        return Ok(());
    }
    let reopened = after.lifecycle[b.lifecycle.len().min(after.lifecycle.len())..]
        .iter()
        .any(|e| e.event == LifecycleKind::Reopened);
    let strip = |c: &CaseRecord| CaseRecord {
        lifecycle: vec![],
        flags: Flags::default(),
        ..c.clone()
    };
    if !reopened && strip(b) != strip(after) {
        return refuse(
            RefusalCode::CaseClosed,
            "the case is closed: reopen it before editing",
        );
    }
    Ok(())
}

fn check_flags(b: &CaseRecord, after: &CaseRecord) -> Result<(), Refusal> {
    let kept = !b.flags.exemption_conflict
        || (after.flags.exemption_conflict
            && b.flags
                .conflict_with
                .iter()
                .all(|c| after.flags.conflict_with.contains(c)));
    if !kept {
        return refuse(
            RefusalCode::FlagCleared,
            "an exemption-conflict flag is never cleared",
        );
    }
    Ok(())
}

fn check_action(a: &Action, author: &Author, cat: &Catalogue) -> Result<(), Refusal> {
    same_author("actions.by", &a.by, author)?;
    text_within("actions.note", a.note.as_deref(), MAX_TEXT_CHARS)?;
    let Some(spec) = cat.method(a.method) else {
        return refuse(RefusalCode::InvalidAction, "method is not in the catalogue");
    };
    if a.measure_category != spec.measure_category {
        return refuse(
            RefusalCode::InvalidAction,
            format!(
                "a {} action is {} in the 721 classes, not {}",
                a.method.as_str(),
                spec.measure_category.as_str(),
                a.measure_category.as_str()
            ),
        );
    }
    super::check_fields(spec, &a.fields).map_err(|e| Refusal {
        code: RefusalCode::InvalidAction,
        detail: e.to_string(),
    })
}

fn check_follow_ups(b: &CaseRecord, after: &CaseRecord, author: &Author) -> Result<(), Refusal> {
    let index: HashMap<&str, &FollowUp> = after
        .follow_ups
        .iter()
        .map(|f| (f.id.as_str(), f))
        .collect();
    let action_is = |id: &str| {
        after
            .actions
            .iter()
            .any(|a| a.id == id && a.method == Method::FollowUp)
    };
    let check_result = |r: &FollowUpResult| -> Result<(), Refusal> {
        same_author("follow_ups.result.by", &r.by, author)?;
        if !action_is(&r.action_id) {
            return refuse(
                RefusalCode::InvalidAction,
                "a follow-up visit is recorded with its follow_up action",
            );
        }
        Ok(())
    };
    for o in &b.follow_ups {
        let Some(n) = index.get(o.id.as_str()) else {
            return refuse(
                RefusalCode::HistoryAltered,
                "follow-ups may never be removed",
            );
        };
        let same_plan = FollowUp {
            result: None,
            ..(*n).clone()
        } == FollowUp {
            result: None,
            ..o.clone()
        };
        match (&o.result, &n.result) {
            _ if !same_plan => {
                return refuse(
                    RefusalCode::HistoryAltered,
                    "a scheduled follow-up is not changed",
                );
            }
            (Some(x), Some(y)) if x == y => {}
            (None, None) => {}
            (None, Some(r)) => check_result(r)?,
            _ => {
                return refuse(
                    RefusalCode::HistoryAltered,
                    "a follow-up visit, once recorded, is not changed",
                );
            }
        }
    }
    let old: HashSet<&str> = b.follow_ups.iter().map(|f| f.id.as_str()).collect();
    for f in after
        .follow_ups
        .iter()
        .filter(|f| !old.contains(f.id.as_str()))
    {
        same_author("follow_ups.scheduled_by", &f.scheduled_by, author)?;
        if let Some(r) = &f.result {
            check_result(r)?;
        }
    }
    Ok(())
}

fn check_exemption(
    b: &CaseRecord,
    after: &CaseRecord,
    author: &Author,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    match (&b.exemption, &after.exemption) {
        (None, None) => Ok(()),
        (Some(x), Some(y)) if x == y => Ok(()),
        (Some(_), _) => refuse(
            RefusalCode::ExemptionInvalid,
            "an exemption is never changed or removed once granted",
        ),
        (None, Some(e)) => {
            same_author("exemption.decided_by", &e.decided_by, author)?;
            if b.decision.is_some() {
                return refuse(
                    RefusalCode::ExemptionInvalid,
                    "a penalty decision exists: no exemption",
                );
            }
            if after.party.is_none() {
                return refuse(
                    RefusalCode::ExemptionInvalid,
                    "the party must be identified to check for a first offence",
                );
            }
            let item = cat.item(&after.violation.code).map_err(|_| Refusal {
                code: RefusalCode::UnknownViolation,
                detail: "violation code is not in the catalogue".into(),
            })?;
            let prior = e
                .first_offence
                .as_ref()
                .map(|f| f.prior_case_ids.clone())
                .unwrap_or_default();
            let verdict = super::assess_exemption(
                item,
                &after.violation.tier,
                super::ExemptionFacts {
                    minor: e.minor,
                    no_harm: e.no_harm,
                    pledge_offered: e.pledge.is_some(),
                    educated: after.actions.iter().any(|a| educates(a.method)),
                },
                prior,
                0,
                SyncPoint::default(),
            );
            if !verdict.eligible || verdict.kind != Some(e.kind) {
                let mut unmet = verdict.unmet();
                if unmet.is_empty() {
                    unmet.push(format!(
                        "the exemption that applies is not {}",
                        e.kind.as_str()
                    ));
                }
                return refuse(RefusalCode::ExemptionInvalid, unmet.join("; "));
            }
            if let Some(p) = &e.pledge
                && p.deadline_ms < p.signed_at_ms
            {
                return refuse(
                    RefusalCode::ExemptionInvalid,
                    "the pledge deadline lies before its signature",
                );
            }
            Ok(())
        }
    }
}

/// The decision without its review: what the deciding device signed.
fn unreviewed(d: &Decision) -> Decision {
    Decision {
        review: None,
        ..d.clone()
    }
}

fn check_decision_change(
    b: &CaseRecord,
    after: &CaseRecord,
    author: &Author,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    match (&b.decision, &after.decision) {
        (None, None) => Ok(()),
        (Some(_), None) => refuse(
            RefusalCode::DecisionInvalid,
            "a decision may not be removed",
        ),
        (Some(o), Some(n)) if o.id == n.id => {
            if unreviewed(o) != unreviewed(n) {
                return refuse(
                    RefusalCode::DecisionInvalid,
                    "a decision is not changed after it is made: a returned decision is replaced by a new one",
                );
            }
            if o.review != n.review {
                return refuse(
                    RefusalCode::ReviewInvalid,
                    "only a legal reviewer writes the review of a decision",
                );
            }
            Ok(())
        }
        (old, Some(n)) => {
            if let Some(o) = old
                && o.review.as_ref().map(|r| r.outcome) != Some(ReviewOutcome::Returned)
            {
                return refuse(
                    RefusalCode::DecisionInvalid,
                    "a decision exists; only one returned by legal review may be replaced",
                );
            }
            check_new_decision(after, n, author, cat)
        }
    }
}

fn check_new_decision(
    case: &CaseRecord,
    d: &Decision,
    author: &Author,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    same_author("decision.decided_by", &d.decided_by, author)?;
    if d.review.is_some() {
        return refuse(
            RefusalCode::ReviewInvalid,
            "a decision cannot arrive reviewed: only a legal reviewer writes the review",
        );
    }
    let Some(party) = &case.party else {
        return refuse(
            RefusalCode::DecisionInvalid,
            "identify the party before a penalty",
        );
    };
    if d.party_type != party.party_type {
        return refuse(
            RefusalCode::DecisionInvalid,
            "the decision's party type is not the party's",
        );
    }
    if d.catalogue_version != case.violation.catalogue_version {
        return refuse(
            RefusalCode::DecisionInvalid,
            "a decision is made under the catalogue version its case recorded",
        );
    }
    let assessed = super::procedure::assess_decision(case, d, cat)?;
    if assessed.within_range != d.within_range
        || assessed.review_required != d.review_required
        || assessed.review_reasons != d.review_reasons
        || assessed.hearing_right != d.hearing_right
    {
        return refuse(
            RefusalCode::DecisionInvalid,
            format!(
                "the catalogue gives within_range {}, review_required {} ({}), hearing right {} for this penalty",
                assessed.within_range,
                assessed.review_required,
                assessed.review_reasons.join(", "),
                assessed.hearing_right
            ),
        );
    }
    super::procedure::check_decision_procedure(case, d, cat)?;
    let action_ok = case.actions.iter().any(|a| {
        a.id == d.action_id
            && a.method == Method::Penalty
            && a.by == d.decided_by
            && a.fields.get("amount_yuan").and_then(Value::as_i64) == Some(d.amount_yuan)
            && a.fields.get("tier").and_then(Value::as_str) == Some(d.tier.as_str())
    });
    if !action_ok {
        return refuse(
            RefusalCode::DecisionInvalid,
            "the decision's penalty action is missing or records another amount or tier",
        );
    }
    if !case.penalty_open_after_exemption(d.decided_at_ms) {
        return refuse(
            RefusalCode::DecisionInvalid,
            "exempted on a pledge: a penalty only after the deadline passes uncorrected",
        );
    }
    if let (Some(k), Some(s)) = (author.device_key.as_deref(), d.signed_by_device.as_deref())
        && !s.eq_ignore_ascii_case(k)
    {
        return refuse(
            RefusalCode::ForgedAuthor,
            "the decision is signed by another device's key",
        );
    }
    if check_decision(case, d) != Some(true) {
        return refuse(
            RefusalCode::SignatureInvalid,
            "the decision's signature does not verify over its amount, basis and party",
        );
    }
    Ok(())
}

fn check_lifecycle_events(
    b: &CaseRecord,
    after: &CaseRecord,
    author: &Author,
) -> Result<(), Refusal> {
    if !after.lifecycle.starts_with(&b.lifecycle) {
        return refuse(
            RefusalCode::HistoryAltered,
            "lifecycle events may not be removed or altered",
        );
    }
    for (i, ev) in after.lifecycle.iter().enumerate().skip(b.lifecycle.len()) {
        same_author("lifecycle.by", &ev.by, author)?;
        let closed_before = after.lifecycle[..i]
            .last()
            .is_some_and(|e| e.event == LifecycleKind::Closed);
        match ev.event {
            LifecycleKind::Closed if closed_before => {
                return refuse(RefusalCode::LifecycleInvalid, "the case is already closed");
            }
            LifecycleKind::Reopened if !closed_before => {
                return refuse(RefusalCode::LifecycleInvalid, "the case is not closed");
            }
            LifecycleKind::Closed => {
                let open = CaseRecord {
                    lifecycle: after.lifecycle[..i].to_vec(),
                    ..after.clone()
                };
                let why = open.close_blocker();
                if let Some(why) = why {
                    return refuse(RefusalCode::LifecycleInvalid, why);
                }
            }
            LifecycleKind::Reopened => {}
        }
        if ev.reason.trim().is_empty() {
            return refuse(
                RefusalCode::LifecycleInvalid,
                "a close or reopen needs a reason",
            );
        }
        if let (Some(k), Some(s)) = (author.device_key.as_deref(), ev.signed_by_device.as_deref())
            && !s.eq_ignore_ascii_case(k)
        {
            return refuse(
                RefusalCode::ForgedAuthor,
                "a close or reopen is signed by another device's key",
            );
        }
        if check_lifecycle(&after.id, ev) != Some(true) {
            return refuse(
                RefusalCode::SignatureInvalid,
                "the close or reopen signature does not verify",
            );
        }
    }
    Ok(())
}
