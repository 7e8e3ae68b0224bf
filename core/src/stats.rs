//! Soft-enforcement statistics (统计分析) for a unit and period, computed from records.
//!
//! One pure function over the merged records serves the phone (its own unit) and the server
//! (any unit), so every number a bureau sees can be recomputed from the documents themselves.

use crate::catalogue::{MeasureCategory, Method};
use crate::model::{Action, CaseRecord, DemonstrationRecord, ReviewOutcome};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The 721 target shares.
pub const TARGET_721: [(MeasureCategory, f64); 3] = [
    (MeasureCategory::Service, 0.70),
    (MeasureCategory::Management, 0.20),
    (MeasureCategory::Enforcement, 0.10),
];

/// Which records count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StatsScope {
    /// Unit path (with its sub-units); the whole city when `None`.
    pub unit: Option<String>,
    /// Period start, inclusive (unix ms); open when `None`.
    pub from_ms: Option<i64>,
    /// Period end, exclusive (unix ms); open when `None`.
    pub to_ms: Option<i64>,
}

impl StatsScope {
    /// Whether `unit` lies in the scope's unit subtree.
    pub fn covers_unit(&self, unit: &str) -> bool {
        match &self.unit {
            None => true,
            Some(u) => {
                unit == u
                    || unit
                        .strip_prefix(u.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            }
        }
    }

    /// Whether an instant lies in the period.
    pub fn covers_time(&self, ms: i64) -> bool {
        self.from_ms.is_none_or(|f| ms >= f) && self.to_ms.is_none_or(|t| ms < t)
    }
}

/// Count and share of one 721 class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MeasureShare {
    /// service, management or enforcement.
    pub category: MeasureCategory,
    /// Cases (and demonstrations) of the class.
    pub count: i64,
    /// Share of all counted cases and demonstrations (0 when there are none).
    pub share: f64,
    /// Target share.
    pub target: f64,
}

/// A numerator over a denominator, with the rate (0 when the denominator is 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rate {
    /// Numerator.
    pub count: i64,
    /// Denominator.
    pub of: i64,
    /// count / of.
    pub rate: f64,
}

impl Rate {
    fn new(count: i64, of: i64) -> Rate {
        Rate {
            count,
            of,
            rate: if of > 0 {
                count as f64 / of as f64
            } else {
                0.0
            },
        }
    }
}

/// The statistics of a scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Stats {
    /// What was counted.
    pub scope: StatsScope,
    /// Cases that occurred in the period.
    pub cases: i64,
    /// Actions by method identifier (demonstration records count as demonstration actions).
    pub actions_by_method: BTreeMap<String, i64>,
    /// The 721 shares against the 70/20/10 target, counted per case (each case once, in the
    /// highest class of its measures) and per demonstration (service).
    pub measures: Vec<MeasureShare>,
    /// Exemptions granted in the period.
    pub exemptions_granted: i64,
    /// Pledges whose deadline fell in the period, and how many were corrected by it.
    pub pledges_fulfilled: Rate,
    /// Penalty decisions in effect, in the period, on cases where softer measures were tried
    /// first.
    pub escalations: i64,
    /// Correction deadlines that fell in the period, and how many were met.
    pub correction_within_deadline: Rate,
    /// Follow-ups due in the period, and how many were made.
    pub follow_up_completion: Rate,
    /// Parties with a case in the period, and how many had two or more.
    pub repeat_by_party: Rate,
    /// Places (cells of about 110 m) with a case in the period, and how many had two or more.
    pub repeat_by_place: Rate,
    /// Demonstrations that started in the period.
    pub demonstrations: i64,
    /// People persuaded in them.
    pub people_persuaded: i64,
    /// Cases flagged as exemption conflicts.
    pub exemption_conflicts: i64,
    /// Penalty decisions awaiting legal review.
    pub decisions_pending_review: i64,
    /// Penalty decisions in the period that are in effect (no review needed, or approved).
    #[serde(default)]
    pub decisions_effective: i64,
    /// Penalty decisions returned by legal review (not in effect).
    #[serde(default)]
    pub decisions_returned: i64,
    /// Fines of the decisions in effect, in yuan.
    #[serde(default)]
    pub fines_effective_yuan: i64,
}

/// Whether an action counts in the statistics. A penalty counts only as the action of the
/// case's current decision and only while that decision is in effect: a major decision not
/// (yet) approved by legal review, a returned one, or one replaced after a return is no
/// enforcement measure taken.
pub fn action_counts(case: &CaseRecord, action: &Action) -> bool {
    if action.method != Method::Penalty {
        return true;
    }
    case.decision_in_effect()
        .is_some_and(|d| d.action_id == action.id)
}

/// The 721 class of a case: the highest class of its counted actions (a penalty counts only
/// while in effect); `None` for a case with no counted action.
pub fn case_class(case: &CaseRecord) -> Option<MeasureCategory> {
    case.actions
        .iter()
        .filter(|a| action_counts(case, a))
        .map(|a| a.measure_category)
        .max()
}

/// A place cell: coordinates rounded to 0.001 degree (about 110 m north-south).
pub fn place_cell(lat: f64, lon: f64) -> String {
    format!("{:.3},{:.3}", lat, lon)
}

fn soft_measure_before(case: &CaseRecord, at_ms: i64) -> bool {
    case.exemption.is_some()
        || case.actions.iter().any(|a| {
            a.at_ms <= at_ms
                && matches!(
                    a.method,
                    Method::Warning | Method::CorrectionOrder | Method::Interview
                )
        })
}

/// Computes the statistics of `scope` over the given records (records outside the scope are
/// ignored, so callers may pass more).
pub fn compute(
    scope: &StatsScope,
    cases: &[CaseRecord],
    demonstrations: &[DemonstrationRecord],
) -> Stats {
    let in_unit: Vec<&CaseRecord> = cases
        .iter()
        .filter(|c| scope.covers_unit(&c.unit))
        .collect();
    let mut by_method: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_class: BTreeMap<MeasureCategory, i64> = BTreeMap::new();
    let mut stats = Stats {
        scope: scope.clone(),
        cases: 0,
        actions_by_method: BTreeMap::new(),
        measures: vec![],
        exemptions_granted: 0,
        pledges_fulfilled: Rate::new(0, 0),
        escalations: 0,
        correction_within_deadline: Rate::new(0, 0),
        follow_up_completion: Rate::new(0, 0),
        repeat_by_party: Rate::new(0, 0),
        repeat_by_place: Rate::new(0, 0),
        demonstrations: 0,
        people_persuaded: 0,
        exemption_conflicts: 0,
        decisions_pending_review: 0,
        decisions_effective: 0,
        decisions_returned: 0,
        fines_effective_yuan: 0,
    };
    let (mut pledges, mut pledges_ok) = (0, 0);
    let (mut deadlines, mut deadlines_ok) = (0, 0);
    let (mut fu_due, mut fu_done) = (0, 0);
    let mut party_cases: BTreeMap<&str, i64> = BTreeMap::new();
    let mut place_cases: BTreeMap<String, i64> = BTreeMap::new();

    for c in &in_unit {
        for a in c
            .actions
            .iter()
            .filter(|a| scope.covers_time(a.at_ms) && action_counts(c, a))
        {
            *by_method.entry(a.method.as_str().to_string()).or_default() += 1;
        }
        // 721 per case: a case counts once, in its highest class, so the visits and reminders
        // of a penalised case do not swell the service share.
        if scope.covers_time(c.occurred_at_ms)
            && let Some(class) = case_class(c)
        {
            *by_class.entry(class).or_default() += 1;
        }
        let corrected_at = c
            .follow_ups
            .iter()
            .filter_map(|f| f.result.as_ref())
            .filter(|r| r.corrected)
            .map(|r| r.at_ms)
            .min();
        if scope.covers_time(c.occurred_at_ms) {
            stats.cases += 1;
            if let Some(p) = &c.party {
                *party_cases.entry(p.match_hash.as_str()).or_default() += 1;
            }
            *place_cases
                .entry(place_cell(c.place.lat, c.place.lon))
                .or_default() += 1;
            if c.flags.exemption_conflict {
                stats.exemption_conflicts += 1;
            }
        }
        if let Some(e) = &c.exemption {
            if scope.covers_time(e.decided_at_ms) {
                stats.exemptions_granted += 1;
            }
            if let Some(p) = &e.pledge
                && scope.covers_time(p.deadline_ms)
            {
                pledges += 1;
                if corrected_at.is_some_and(|t| t <= p.deadline_ms) {
                    pledges_ok += 1;
                }
            }
        }
        if let Some(deadline) = c.correction_deadline_ms()
            && scope.covers_time(deadline)
        {
            deadlines += 1;
            if corrected_at.is_some_and(|t| t <= deadline) {
                deadlines_ok += 1;
            }
        }
        for f in c.follow_ups.iter().filter(|f| scope.covers_time(f.due_ms)) {
            fu_due += 1;
            if f.result.is_some() {
                fu_done += 1;
            }
        }
        if let Some(d) = &c.decision {
            let in_period = scope.covers_time(d.decided_at_ms);
            if in_period && c.decision_in_effect().is_some() {
                stats.decisions_effective += 1;
                stats.fines_effective_yuan += d.amount_yuan;
                if soft_measure_before(c, d.decided_at_ms) {
                    stats.escalations += 1;
                }
            }
            if d.review_required && d.review.is_none() {
                stats.decisions_pending_review += 1;
            }
            if in_period && d.review.as_ref().map(|r| r.outcome) == Some(ReviewOutcome::Returned) {
                stats.decisions_returned += 1;
            }
        }
    }
    for d in demonstrations
        .iter()
        .filter(|d| scope.covers_unit(&d.unit) && scope.covers_time(d.started_at_ms))
    {
        stats.demonstrations += 1;
        stats.people_persuaded += d.people_persuaded;
        *by_method
            .entry(Method::Demonstration.as_str().to_string())
            .or_default() += 1;
        *by_class.entry(MeasureCategory::Service).or_default() += 1;
    }
    let total: i64 = by_class.values().sum();
    stats.measures = TARGET_721
        .iter()
        .map(|(cat, target)| {
            let count = by_class.get(cat).copied().unwrap_or(0);
            MeasureShare {
                category: *cat,
                count,
                share: if total > 0 {
                    count as f64 / total as f64
                } else {
                    0.0
                },
                target: *target,
            }
        })
        .collect();
    stats.actions_by_method = by_method;
    stats.pledges_fulfilled = Rate::new(pledges_ok, pledges);
    stats.correction_within_deadline = Rate::new(deadlines_ok, deadlines);
    stats.follow_up_completion = Rate::new(fu_done, fu_due);
    stats.repeat_by_party = Rate::new(
        party_cases.values().filter(|n| **n >= 2).count() as i64,
        party_cases.len() as i64,
    );
    stats.repeat_by_place = Rate::new(
        place_cases.values().filter(|n| **n >= 2).count() as i64,
        place_cases.len() as i64,
    );
    stats
}

/// Places with two or more cases in scope, most first: (cell, cases).
pub fn repeat_places(scope: &StatsScope, cases: &[CaseRecord]) -> Vec<(String, i64)> {
    let mut cells: BTreeMap<String, i64> = BTreeMap::new();
    for c in cases
        .iter()
        .filter(|c| scope.covers_unit(&c.unit) && scope.covers_time(c.occurred_at_ms))
    {
        *cells
            .entry(place_cell(c.place.lat, c.place.lon))
            .or_default() += 1;
    }
    let mut out: Vec<(String, i64)> = cells.into_iter().filter(|(_, n)| *n >= 2).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Distinct units appearing in the records, for per-unit tables.
pub fn units(cases: &[CaseRecord], demonstrations: &[DemonstrationRecord]) -> BTreeSet<String> {
    cases
        .iter()
        .map(|c| c.unit.clone())
        .chain(demonstrations.iter().map(|d| d.unit.clone()))
        .collect()
}

impl crate::FieldStore {
    /// Statistics of the records this store holds, for a unit and period.
    pub fn stats(&self, scope: &StatsScope) -> crate::Result<Stats> {
        self.guard()?;
        let (cases, demos) = self.records_in_scope(scope)?;
        Ok(compute(scope, &cases, &demos))
    }

    /// Every case and demonstration record of the scope's unit subtree.
    pub fn records_in_scope(
        &self,
        scope: &StatsScope,
    ) -> crate::Result<(Vec<CaseRecord>, Vec<DemonstrationRecord>)> {
        self.guard()?;
        let ids: Vec<(String, String)> = self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, kind FROM docs WHERE kind IN ('case', 'demonstration') ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let mut cases = Vec::new();
        let mut demos = Vec::new();
        for (id, kind) in ids {
            if kind == "case" {
                let c = self.case(&id)?;
                if scope.covers_unit(&c.unit) {
                    cases.push(c);
                }
            } else {
                let d = self.demonstration(&id)?;
                if scope.covers_unit(&d.unit) {
                    demos.push(d);
                }
            }
        }
        Ok((cases, demos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_covers_sub_units_only() {
        let s = StatsScope {
            unit: Some("luan/jinan".into()),
            from_ms: Some(10),
            to_ms: Some(20),
        };
        assert!(s.covers_unit("luan/jinan"));
        assert!(s.covers_unit("luan/jinan/squad-1"));
        assert!(!s.covers_unit("luan/jinanx"));
        assert!(!s.covers_unit("luan"));
        assert!(s.covers_time(10) && !s.covers_time(20) && !s.covers_time(9));
    }
}
