//! Follow-up visits (跟踪回访): the plan, what the visit found, and the visits the record
//! schedules itself from a pledge's or an order's deadline (免罚不免责: someone goes back).
//!
//! A follow-up scheduled from a deadline has an id derived from what it verifies, so two
//! phones that each wrote it (a grant made on both while offline) write the same id; the list
//! then holds one entry twice after the merge, and [`follow_ups_once`] keeps one when the
//! record is read, so every reader (lists, rules, the server) sees a single visit.

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A scheduled follow-up visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    /// UUIDv7, or for one scheduled from a deadline the id derived from what it verifies
    /// ([`FollowUp::pledge_id`], [`FollowUp::correction_order_id`]).
    pub id: String,
    /// When it is due.
    pub due_ms: i64,
    /// Who scheduled it.
    pub scheduled_by: String,
    /// When.
    pub scheduled_at_ms: i64,
    /// Why.
    #[serde(default)]
    pub purpose: Option<String>,
    /// What scheduled it when the record did, not an officer by hand: absent on records
    /// written before the field existed and on visits scheduled by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<FollowUpSource>,
    /// The visit, once made.
    #[serde(default)]
    pub result: Option<FollowUpResult>,
}

/// What a follow-up was scheduled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpSource {
    /// The deadline of the pledge signed with the exemption (承诺书).
    Pledge,
    /// The deadline of an order to correct (责令改正).
    CorrectionOrder,
}

impl FollowUpSource {
    /// The identifier used in records and the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpSource::Pledge => "pledge",
            FollowUpSource::CorrectionOrder => "correction_order",
        }
    }
}

/// What a follow-up visit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpResult {
    /// When visited.
    pub at_ms: i64,
    /// By whom.
    pub by: String,
    /// Whether the party corrected.
    pub corrected: bool,
    /// The party's opinion.
    #[serde(default)]
    pub opinion: Option<String>,
    /// The party's satisfaction: satisfied, neutral or dissatisfied.
    #[serde(default)]
    pub satisfaction: Option<String>,
    /// The follow_up action recorded with it.
    pub action_id: String,
}

impl FollowUp {
    /// The id of the follow-up that verifies the pledge of case `case_id` (a case holds one
    /// exemption, so one pledge).
    pub fn pledge_id(case_id: &str) -> String {
        derived_id("pledge", case_id)
    }

    /// The id of the follow-up that verifies the order to correct recorded as `action_id`.
    pub fn correction_order_id(action_id: &str) -> String {
        derived_id("correction_order", action_id)
    }
}

/// A UUID (version 8, RFC 9562) from SHA-256 over a domain and `of`: the same on every phone,
/// and never equal to a UUIDv7 made by [`crate::ids::new_id`].
fn derived_id(domain: &str, of: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"fieldcase/follow-up/");
    h.update(domain.as_bytes());
    h.update([0]);
    h.update(of.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Reads the follow-up list keeping one entry per id, at the place of its first occurrence:
/// the first entry with a result if one has it, else the first. Concurrent writes of one
/// derived follow-up merge into two list entries; this is where they become one again.
pub fn follow_ups_once<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FollowUp>, D::Error> {
    let all = Option::<Vec<FollowUp>>::deserialize(d)?.unwrap_or_default();
    Ok(dedupe(all))
}

fn dedupe(all: Vec<FollowUp>) -> Vec<FollowUp> {
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<FollowUp> = Vec::with_capacity(all.len());
    for f in all {
        match at.get(&f.id) {
            Some(&i) => {
                if out[i].result.is_none() && f.result.is_some() {
                    out[i] = f;
                }
            }
            None => {
                at.insert(f.id.clone(), out.len());
                out.push(f);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, due: i64, done: bool) -> FollowUp {
        FollowUp {
            id: id.into(),
            due_ms: due,
            scheduled_by: "OF-1".into(),
            scheduled_at_ms: 1,
            purpose: None,
            source: None,
            result: done.then(|| FollowUpResult {
                at_ms: 2,
                by: "OF-1".into(),
                corrected: true,
                opinion: None,
                satisfaction: None,
                action_id: "a".into(),
            }),
        }
    }

    #[test]
    fn derived_ids_are_stable_distinct_uuids() {
        let a = FollowUp::pledge_id("0190f1a2-0000-7000-8000-000000000001");
        assert_eq!(
            a,
            FollowUp::pledge_id("0190f1a2-0000-7000-8000-000000000001")
        );
        assert!(crate::ids::is_valid_id(&a));
        assert_eq!(a.as_bytes()[14], b'8', "version 8: {a}");
        assert_ne!(
            a,
            FollowUp::correction_order_id("0190f1a2-0000-7000-8000-000000000001")
        );
        assert_ne!(
            a,
            FollowUp::pledge_id("0190f1a2-0000-7000-8000-000000000002")
        );
    }

    #[test]
    fn a_doubled_entry_reads_once_keeping_the_visit() {
        let out = dedupe(vec![f("x", 1, false), f("y", 2, false), f("x", 3, true)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].id, "x");
        assert!(out[0].result.is_some(), "the visit made is kept");
        assert_eq!(out[1].id, "y");
        let out = dedupe(vec![f("x", 1, false), f("x", 3, false)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].due_ms, 1, "without a visit the first entry stays");
    }

    #[test]
    fn a_record_without_source_reads_and_writes_as_before() {
        let v = serde_json::json!({"id": "x", "due_ms": 1, "scheduled_by": "a",
                                    "scheduled_at_ms": 1, "purpose": null, "result": null});
        let back: FollowUp = serde_json::from_value(v.clone()).expect("read");
        assert_eq!(back.source, None);
        assert_eq!(serde_json::to_value(&back).expect("write"), v);
    }
}
