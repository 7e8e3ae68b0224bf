//! The actions and follow-up visits a change adds.

use super::{MAX_TEXT_CHARS, text_within};
use crate::catalogue::{Catalogue, Method};
use crate::model::*;
use crate::rules::author::Author;
use crate::rules::change::{Refusal, RefusalCode, refuse, same_author};
use std::collections::{HashMap, HashSet};

pub(super) fn check_action(a: &Action, author: &Author, cat: &Catalogue) -> Result<(), Refusal> {
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
    crate::rules::check_fields(spec, &a.fields).map_err(|e| Refusal {
        code: RefusalCode::InvalidAction,
        detail: e.to_string(),
    })
}

pub(super) fn check_follow_ups(
    b: &CaseRecord,
    after: &CaseRecord,
    author: &Author,
) -> Result<(), Refusal> {
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
        check_source(f, after)?;
        if let Some(r) = &f.result {
            check_result(r)?;
        }
    }
    Ok(())
}

/// A follow-up marked as scheduled from a deadline must be the one that deadline calls for:
/// its derived id and due at the deadline, so a later date cannot pass as the pledged one.
fn check_source(f: &FollowUp, after: &CaseRecord) -> Result<(), Refusal> {
    let fits = match f.source {
        None => true,
        Some(FollowUpSource::Pledge) => after
            .exemption
            .as_ref()
            .and_then(|e| e.pledge.as_ref())
            .is_some_and(|p| f.id == FollowUp::pledge_id(&after.id) && f.due_ms == p.deadline_ms),
        Some(FollowUpSource::CorrectionOrder) => after.actions.iter().any(|a| {
            a.method == Method::CorrectionOrder
                && f.id == FollowUp::correction_order_id(&a.id)
                && a.fields.get("deadline").and_then(serde_json::Value::as_i64) == Some(f.due_ms)
        }),
    };
    if fits {
        Ok(())
    } else {
        refuse(
            RefusalCode::InvalidAction,
            format!(
                "a follow-up scheduled from a {} is due at its deadline under the id it derives",
                f.source.map_or("deadline", FollowUpSource::as_str)
            ),
        )
    }
}
