//! The decision a change records or amends.

use crate::catalogue::{Catalogue, Method};
use crate::evidence::records::check_decision;
use crate::model::*;
use crate::rules::author::Author;
use crate::rules::change::{Refusal, RefusalCode, refuse, same_author};
use serde_json::Value;

/// The decision without its review: what the deciding device signed.
pub(super) fn unreviewed(d: &Decision) -> Decision {
    Decision {
        review: None,
        ..d.clone()
    }
}

pub(super) fn check_decision_change(
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

pub(super) fn check_new_decision(
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
    let assessed = crate::rules::procedure::assess_decision(case, d, cat)?;
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
    crate::rules::procedure::check_decision_procedure(case, d, cat)?;
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
