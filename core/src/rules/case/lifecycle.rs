//! Closing and reopening a case, and the flags that stay once raised.

use crate::evidence::records::check_lifecycle;
use crate::model::*;
use crate::rules::author::Author;
use crate::rules::change::{Refusal, RefusalCode, refuse, same_author};

pub(super) fn check_closed(b: &CaseRecord, after: &CaseRecord) -> Result<(), Refusal> {
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

pub(super) fn check_flags(b: &CaseRecord, after: &CaseRecord) -> Result<(), Refusal> {
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

pub(super) fn check_lifecycle_events(
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
