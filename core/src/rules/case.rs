//! The rules of a case record: creation, the append-only lists, the exemption, the decision
//! and its review, the lifecycle. Called from [`super::change::check_record`]; every function
//! is pure over (case before, case after, author, catalogue).

mod actions;
mod decision;
mod exemption;
mod lifecycle;
mod review;

use super::author::{Author, Role, unit_in_scope};
use super::change::{
    Refusal, RefusalCode, RuleContext, appended_typed, check_evidence, refuse, same_author,
};
use crate::catalogue::{Catalogue, Method};
use crate::model::*;
use actions::{check_action, check_follow_ups};
use decision::check_decision_change;
use exemption::check_exemption;
use lifecycle::{check_closed, check_flags, check_lifecycle_events};
use review::{check_reviewer_change, check_supervisor_change};
use serde_json::Value;
use std::collections::HashSet;

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
