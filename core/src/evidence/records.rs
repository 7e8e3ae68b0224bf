//! Device signatures on penalty decisions, legal reviews and on closing or reopening a case.
//!
//! A decision is signed over its own fields and over what it rests on: the case's violation
//! code (the legal basis) and its party, so neither the amount nor the basis nor the party can
//! change under the signature. A review is signed over the decision's signature, so it
//! approves exactly the decision the reviewer saw, and over its checklist and opinion. A close or reopen is signed over the event and the document heads it was made
//! on, so the closing officer's device vouches for the entire history up to the close: any
//! later rewrite of that history no longer matches the signed heads.

use super::entry::{Canon, DECISION_DOMAIN, LIFECYCLE_DOMAIN, REVIEW_DOMAIN};
use super::signer::{Signer, verify_hex};
use crate::model::{CaseRecord, Decision, LifecycleEvent, LifecycleKind, Review, ReviewOutcome};
use crate::{FieldStore, Result};
use automerge::AutoCommit;

/// The bytes a decision's signature covers: the decision and the case's violation code and
/// party.
pub fn decision_payload(case: &CaseRecord, d: &Decision, device_key: &str) -> Result<Vec<u8>> {
    let mut c = Canon::new(DECISION_DOMAIN);
    c.str(&case.id)
        .str(&case.violation.code)
        .present(case.party.is_some());
    if let Some(p) = &case.party {
        c.str(&p.party_id)
            .str(p.party_type.as_str())
            .str(&p.match_hash);
    }
    c.str(&d.id)
        .i64(d.decided_at_ms)
        .str(&d.decided_by)
        .str(&d.tier)
        .str(d.party_type.as_str())
        .i64(d.amount_yuan)
        .opt_str(d.reason.as_deref())
        .bool(d.within_range)
        .bool(d.review_required)
        .u32(u32::try_from(d.review_reasons.len()).unwrap_or(u32::MAX));
    for r in &d.review_reasons {
        c.str(r);
    }
    c.str(&d.catalogue_version).str(&d.action_id);
    // Decisions with a procedure also sign their penalty kind, procedure, cost basis and
    // hearing right; older decisions keep their bytes (and no new decision may omit them).
    if let Some(p) = d.procedure {
        c.str(d.penalty.as_str())
            .str(p.as_str())
            .present(d.construction_cost_yuan.is_some())
            .i64(d.construction_cost_yuan.unwrap_or(0))
            .bool(d.hearing_right);
    }
    c.hash("signed_by_device", device_key)?;
    Ok(c.finish())
}

/// The bytes a review's signature covers: the case, the decision's own signature (which
/// covers its amount, basis and party), the outcome, opinion, checklist, reviewer, time and
/// the signing key.
pub fn review_payload(
    case_id: &str,
    decision: &Decision,
    r: &Review,
    key: &str,
) -> Result<Vec<u8>> {
    let mut c = Canon::new(REVIEW_DOMAIN);
    let outcome = match r.outcome {
        ReviewOutcome::Approved => "approved",
        ReviewOutcome::Returned => "returned",
    };
    c.str(case_id)
        .str(&decision.id)
        .opt_str(decision.signature.as_deref())
        .str(outcome)
        .str(&r.opinion)
        .str(&r.reviewer)
        .i64(r.at_ms)
        .opt_str(r.via.as_deref())
        .present(r.checklist.is_some());
    if let Some(list) = &r.checklist {
        for (name, p) in list.points() {
            c.str(name).bool(p.passed).opt_str(p.note.as_deref());
        }
    }
    c.hash("signed_by_key", key)?;
    Ok(c.finish())
}

/// Signs a review with `signer`, binding it to `decision` as it stands.
pub fn sign_review(
    signer: &dyn Signer,
    case_id: &str,
    decision: &Decision,
    mut r: Review,
) -> Result<Review> {
    let key = hex::encode(signer.public_key());
    r.decision_signature = decision.signature.clone();
    let sig = signer.sign(&review_payload(case_id, decision, &r, &key)?)?;
    r.signed_by_key = Some(key);
    r.signature = Some(hex::encode(sig));
    Ok(r)
}

/// Whether a review's signature holds for `decision` and it names that decision's signature;
/// `None` when it carries no signature.
pub fn check_review(case_id: &str, decision: &Decision, r: &Review) -> Option<bool> {
    let (Some(key), Some(sig)) = (&r.signed_by_key, &r.signature) else {
        return None;
    };
    if r.decision_signature.is_none() || r.decision_signature != decision.signature {
        return Some(false);
    }
    Some(
        review_payload(case_id, decision, r, key)
            .map(|p| verify_hex(key, &p, sig))
            .unwrap_or(false),
    )
}

/// The bytes a close or reopen signature covers.
pub fn lifecycle_payload(
    case_id: &str,
    e: &LifecycleEvent,
    heads: &[String],
    device_key: &str,
) -> Result<Vec<u8>> {
    let mut c = Canon::new(LIFECYCLE_DOMAIN);
    let event = match e.event {
        LifecycleKind::Closed => "closed",
        LifecycleKind::Reopened => "reopened",
    };
    c.str(case_id)
        .str(event)
        .i64(e.at_ms)
        .str(&e.by)
        .str(&e.reason)
        .u32(u32::try_from(heads.len()).unwrap_or(u32::MAX));
    for h in heads {
        c.hash("signed_heads", h)?;
    }
    c.hash("signed_by_device", device_key)?;
    Ok(c.finish())
}

/// Signs a lifecycle event over the document's current heads (sorted hex).
pub(crate) fn sign_lifecycle(
    signer: &dyn Signer,
    case_id: &str,
    doc: &mut AutoCommit,
    mut ev: LifecycleEvent,
) -> Result<LifecycleEvent> {
    let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    let key = hex::encode(signer.public_key());
    let sig = signer.sign(&lifecycle_payload(case_id, &ev, &heads, &key)?)?;
    ev.signed_heads = Some(heads);
    ev.signed_by_device = Some(key);
    ev.signature = Some(hex::encode(sig));
    Ok(ev)
}

/// Whether a signed decision's signature holds; `None` when it carries none.
pub fn check_decision(case: &CaseRecord, d: &Decision) -> Option<bool> {
    let (Some(key), Some(sig)) = (&d.signed_by_device, &d.signature) else {
        return None;
    };
    Some(
        decision_payload(case, d, key)
            .map(|p| verify_hex(key, &p, sig))
            .unwrap_or(false),
    )
}

/// The case's decision, if it is in effect and its signatures hold: the deciding device's over
/// its amount, basis and party, and, where review is required, the approving review's over that
/// decision. What disclosure publishes; a decision whose signature no longer matches what it
/// says (an amount changed after signing) is as good as a draft.
pub fn standing_decision(case: &CaseRecord) -> Option<&Decision> {
    let d = case.decision_in_effect()?;
    if check_decision(case, d) != Some(true) {
        return None;
    }
    if d.review_required {
        let r = d.review.as_ref()?;
        if check_review(&case.id, d, r) != Some(true) {
            return None;
        }
    }
    Some(d)
}

/// Whether a signed lifecycle event's signature holds; `None` when it carries none.
pub fn check_lifecycle(case_id: &str, e: &LifecycleEvent) -> Option<bool> {
    let (Some(key), Some(sig), Some(heads)) = (&e.signed_by_device, &e.signature, &e.signed_heads)
    else {
        return None;
    };
    Some(
        lifecycle_payload(case_id, e, heads, key)
            .map(|p| verify_hex(key, &p, sig))
            .unwrap_or(false),
    )
}

impl FieldStore {
    /// Signs a decision of `case` with this device's key.
    pub(crate) fn sign_decision(&self, case: &CaseRecord, mut d: Decision) -> Result<Decision> {
        let signer = self.signer()?;
        let key = hex::encode(signer.public_key());
        let sig = signer.sign(&decision_payload(case, &d, &key)?)?;
        d.signed_by_device = Some(key);
        d.signature = Some(hex::encode(sig));
        Ok(d)
    }
}
