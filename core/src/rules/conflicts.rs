//! Exemption conflicts across phones: two first-offence exemptions of the same party and
//! violation inside the look-back window, each granted offline on a different phone.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the check needs of a case with a first-offence exemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExemptionSummary {
    /// The case.
    pub case_id: String,
    /// Party match hash.
    pub match_hash: String,
    /// Violation code.
    pub code: String,
    /// When the encounter happened.
    pub occurred_at_ms: i64,
    /// The item's look-back window.
    pub lookback_days: i64,
}

/// For every case that should be flagged (the later of each conflicting pair, by occurrence
/// time then id), the earlier cases it conflicts with. Deterministic, so every replica that
/// runs it on the same cases flags the same ones.
pub fn exemption_conflicts(cases: &[ExemptionSummary]) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<(&str, &str), Vec<&ExemptionSummary>> = BTreeMap::new();
    for c in cases {
        groups
            .entry((c.match_hash.as_str(), c.code.as_str()))
            .or_default()
            .push(c);
    }
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, mut group) in groups {
        group.sort_by(|a, b| (a.occurred_at_ms, &a.case_id).cmp(&(b.occurred_at_ms, &b.case_id)));
        for (i, later) in group.iter().enumerate() {
            let window = later.lookback_days.saturating_mul(86_400_000);
            for earlier in &group[..i] {
                if later.occurred_at_ms - earlier.occurred_at_ms <= window {
                    out.entry(later.case_id.clone())
                        .or_default()
                        .push(earlier.case_id.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, hash: &str, at: i64) -> ExemptionSummary {
        ExemptionSummary {
            case_id: id.into(),
            match_hash: hash.into(),
            code: "CG-ST-001".into(),
            occurred_at_ms: at,
            lookback_days: 365,
        }
    }

    #[test]
    fn later_of_two_in_window_is_flagged_once() {
        let day = 86_400_000;
        let out = exemption_conflicts(&[s("b", "h", 10 * day), s("a", "h", day), s("c", "x", day)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out.get("b"), Some(&vec!["a".to_string()]));
        let far = exemption_conflicts(&[s("a", "h", 0), s("b", "h", 400 * day)]);
        assert!(far.is_empty());
    }
}
