//! Validation after merge: the server merges a device's changes into a fork of its copy, reads
//! the resulting record and decides whether to keep it. A refusal names the rule broken (never
//! personal data), and nothing is stored.

use crate::access;
use crate::storage::{Role, User, unit_in_scope};
use fieldcase_core::catalogue::{Catalogue, ExemptionKind};
use fieldcase_core::model::{
    CaseRecord, DemonstrationRecord, PartyRecord, RecordKind, ReviewOutcome,
};
use serde_json::Value;

/// What the server needs to know of an accepted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Unit after the change.
    pub unit: String,
    /// Party match hash of a case with a party.
    pub party_hash: Option<String>,
    /// Blob hashes the evidence entries name.
    pub blob_refs: Vec<String>,
    /// A case with a first-offence exemption (run the conflict rule).
    pub first_offence: bool,
}

/// Why a change was refused.
pub type Refusal = String;

fn unit_of(json: &Value) -> Option<&str> {
    json.get("unit").and_then(|u| u.as_str())
}

/// The blobs a record's evidence entries name: each entry's `original`, `thumbnail` and
/// `display` (`{sha256, ...}`), and the flat `blob_sha256` of older entries.
pub(crate) fn blob_refs(json: &Value) -> Vec<String> {
    let is_sha = |s: &&str| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit());
    let mut out: Vec<String> = Vec::new();
    for e in json
        .get("evidence")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
    {
        let nested = ["original", "thumbnail", "display"]
            .iter()
            .filter_map(|k| e.get(*k).and_then(|b| b.get("sha256")));
        for s in nested
            .chain(e.get("blob_sha256"))
            .filter_map(|s| s.as_str())
            .filter(is_sha)
        {
            out.push(s.to_ascii_lowercase());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every evidence entry of `old` is still in `new`, unchanged (matched by `id`, or by
/// position for entries without one).
fn evidence_kept(old: &Value, new: &Value) -> bool {
    let empty = vec![];
    let old_list = old
        .get("evidence")
        .and_then(|e| e.as_array())
        .unwrap_or(&empty);
    let new_list = new
        .get("evidence")
        .and_then(|e| e.as_array())
        .unwrap_or(&empty);
    old_list.iter().enumerate().all(|(i, o)| match o.get("id") {
        Some(id) => new_list.iter().any(|n| n.get("id") == Some(id) && n == o),
        None => new_list.get(i) == Some(o),
    })
}

fn without(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

/// How a change reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Pushed by a device over sync.
    Sync,
    /// Written by the review service (`POST /v1/reviews`, the dashboard), which signs the
    /// review with the server's key and audits it.
    ReviewService,
}

/// Checks the merged record `new` (and the stored `old`, if any) that `user` pushed over sync.
pub fn check(
    user: &User,
    catalogue: &Catalogue,
    doc_id: &str,
    kind: RecordKind,
    old: Option<&Value>,
    new: &Value,
) -> Result<Accepted, Refusal> {
    check_via(Channel::Sync, user, catalogue, doc_id, kind, old, new)
}

/// Checks the merged record `new` (and the stored `old`, if any) written for `user` through
/// `channel`.
pub fn check_via(
    channel: Channel,
    user: &User,
    catalogue: &Catalogue,
    doc_id: &str,
    kind: RecordKind,
    old: Option<&Value>,
    new: &Value,
) -> Result<Accepted, Refusal> {
    if new.get("kind").and_then(|k| k.as_str()) != Some(kind.as_str()) {
        return Err("record kind does not match the declared kind".into());
    }
    if new.get("id").and_then(|k| k.as_str()) != Some(doc_id) {
        return Err("record id does not match the document id".into());
    }
    let unit = unit_of(new).ok_or("record has no unit")?.to_string();
    if !access::can_write(user, kind, &unit) {
        return Err(format!(
            "a {} may not write a {} of this unit",
            user.role.as_str(),
            kind.as_str()
        ));
    }
    if let Some(old) = old {
        let old_unit = unit_of(old).unwrap_or("");
        if !unit_in_scope(old_unit, &user.unit) {
            return Err("the stored record is outside the device's unit".into());
        }
        if !evidence_kept(old, new) {
            return Err("evidence entries may never be removed or altered".into());
        }
    }
    let mut accepted = Accepted {
        unit,
        party_hash: None,
        blob_refs: blob_refs(new),
        first_offence: false,
    };
    match kind {
        RecordKind::Case => {
            let case: CaseRecord = serde_json::from_value(new.clone())
                .map_err(|e| format!("not a valid case record: {e}"))?;
            if catalogue.item(&case.violation.code).is_err() {
                return Err("violation code is not in the catalogue".into());
            }
            if let Some(old) = old {
                let old_case: CaseRecord = serde_json::from_value(old.clone())
                    .map_err(|_| "the stored case is not readable".to_string())?;
                check_case_change(channel, user, &old_case, &case, old, new)?;
            } else if user.role == Role::Reviewer {
                return Err("a reviewer may not create cases".into());
            }
            accepted.party_hash = case.party.as_ref().map(|p| p.match_hash.clone());
            accepted.first_offence = case
                .exemption
                .as_ref()
                .is_some_and(|e| e.kind == ExemptionKind::FirstOffence);
        }
        RecordKind::Party => {
            let _: PartyRecord = serde_json::from_value(new.clone())
                .map_err(|e| format!("not a valid party record: {e}"))?;
        }
        RecordKind::Demonstration => {
            let _: DemonstrationRecord = serde_json::from_value(new.clone())
                .map_err(|e| format!("not a valid demonstration record: {e}"))?;
        }
    }
    Ok(accepted)
}

fn check_case_change(
    channel: Channel,
    user: &User,
    old: &CaseRecord,
    new: &CaseRecord,
    old_json: &Value,
    new_json: &Value,
) -> Result<(), Refusal> {
    // The review as raw JSON, so that fields the typed record does not know (the server's
    // signature over the reviewed heads) are protected too.
    let review_of = |v: &Value| v.get("decision").and_then(|d| d.get("review")).cloned();
    let old_review = review_of(old_json).filter(|r| !r.is_null());
    let new_review = review_of(new_json).filter(|r| !r.is_null());
    if old_review != new_review && user.role != Role::Reviewer {
        // The one change of a review an officer makes: a decision returned by legal review
        // replaced by a new, unreviewed decision (the returned one stays in the history).
        let replaced_returned = match (&old.decision, &new.decision) {
            (Some(o), Some(n)) => {
                o.review.as_ref().map(|r| r.outcome) == Some(ReviewOutcome::Returned)
                    && n.id != o.id
                    && new_review.is_none()
            }
            _ => false,
        };
        if !replaced_returned {
            return Err("only a legal reviewer may write the review of a decision".into());
        }
    }
    if user.role != Role::Reviewer
        && let (Some(o), Some(_)) = (&old.decision, &old_review)
        && o.review.as_ref().map(|r| r.outcome) == Some(ReviewOutcome::Approved)
        && old_json.get("decision") != new_json.get("decision")
    {
        return Err("an approved decision may not be changed".into());
    }
    if old.decision.is_some() && new.decision.is_none() {
        return Err("a decision may not be removed".into());
    }
    if user.role == Role::Reviewer && old_review != new_review {
        if channel == Channel::Sync {
            // Not even from a reviewer's own phone: a review that did not pass the review
            // service carries neither the server's signature nor an audit entry.
            return Err(
                "a review is written only through the review service, which signs and audits it"
                    .into(),
            );
        }
        let Some(review) = new.decision.as_ref().and_then(|d| d.review.as_ref()) else {
            return Err("a review may not be removed".into());
        };
        if review.reviewer != user.id {
            return Err("a reviewer may sign a review only with their own id".into());
        }
        if review.opinion.trim().is_empty() {
            return Err("a review needs an opinion".into());
        }
        if !new.decision.as_ref().is_some_and(|d| d.review_required) {
            return Err("this decision needs no legal review".into());
        }
    }
    if user.role == Role::Reviewer {
        // A reviewer writes the review and nothing else of the case.
        let strip = |v: &Value| {
            let mut v = without(v, &["flags"]);
            if let Some(d) = v.get_mut("decision").and_then(|d| d.as_object_mut()) {
                d.remove("review");
            }
            v
        };
        if strip(old_json) != strip(new_json) {
            return Err("a reviewer may change only the review of a decision".into());
        }
    }
    if !new.lifecycle.starts_with(&old.lifecycle) {
        return Err("lifecycle events may not be removed or altered".into());
    }
    if old.is_closed()
        && without(old_json, &["lifecycle", "flags"]) != without(new_json, &["lifecycle", "flags"])
    {
        return Err("the case is closed: reopen it before editing".into());
    }
    Ok(())
}
