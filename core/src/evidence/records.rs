//! Device signatures on penalty decisions and on closing or reopening a case.
//!
//! A decision is signed over its own fields (the reviewer's later opinion carries its own
//! signature). A close or reopen is signed over the event and the document heads it was made
//! on, so the closing officer's device vouches for the entire history up to the close: any
//! later rewrite of that history no longer matches the signed heads.

use super::entry::{Canon, DECISION_DOMAIN, LIFECYCLE_DOMAIN};
use super::signer::{Signer, verify_hex};
use crate::model::{Decision, LifecycleEvent, LifecycleKind};
use crate::{FieldStore, Result};
use automerge::AutoCommit;

/// The bytes a decision's signature covers.
pub fn decision_payload(case_id: &str, d: &Decision, device_key: &str) -> Result<Vec<u8>> {
    let mut c = Canon::new(DECISION_DOMAIN);
    c.str(case_id)
        .str(&d.id)
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
    c.hash("signed_by_device", device_key)?;
    Ok(c.finish())
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
pub fn check_decision(case_id: &str, d: &Decision) -> Option<bool> {
    let (Some(key), Some(sig)) = (&d.signed_by_device, &d.signature) else {
        return None;
    };
    Some(
        decision_payload(case_id, d, key)
            .map(|p| verify_hex(key, &p, sig))
            .unwrap_or(false),
    )
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
    /// Signs a decision with this device's key.
    pub(crate) fn sign_decision(&self, case_id: &str, mut d: Decision) -> Result<Decision> {
        let signer = self.signer()?;
        let key = hex::encode(signer.public_key());
        let sig = signer.sign(&decision_payload(case_id, &d, &key)?)?;
        d.signed_by_device = Some(key);
        d.signature = Some(hex::encode(sig));
        Ok(d)
    }
}
