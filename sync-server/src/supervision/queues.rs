//! Work queues computed from the merged records, deterministic for a given "now": follow-ups
//! due and overdue per squad, pledges escalated after their deadline passed uncorrected, and
//! decisions awaiting (or returned by) legal review.

use super::dashboard::{OverdueRow, ReviewRow};
use fieldcase_core::model::{CaseRecord, ReviewOutcome};
use fieldcase_core::stats::StatsScope;
use fieldcase_core::store::china_day;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;
/// Follow-ups due within this many days count as "due".
pub const DUE_HORIZON_DAYS: i64 = 7;

/// A scheduled follow-up without a recorded visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FollowUpItem {
    /// Case.
    pub case_id: String,
    /// Follow-up.
    pub follow_up_id: String,
    /// Due (unix ms).
    pub due_ms: i64,
    /// Due day (China time).
    pub due_day: String,
    /// Whole days past due (0 when not yet due).
    pub days_overdue: i64,
}

/// A pledge whose correction deadline passed with no correction recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EscalatedPledge {
    /// Case.
    pub case_id: String,
    /// Deadline (unix ms).
    pub deadline_ms: i64,
    /// Deadline day (China time).
    pub deadline_day: String,
    /// Whole days past the deadline.
    pub days_overdue: i64,
}

/// One squad's (unit's) queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SquadQueue {
    /// Unit path of the cases.
    pub unit: String,
    /// Follow-ups due within [`DUE_HORIZON_DAYS`] days.
    pub due: Vec<FollowUpItem>,
    /// Follow-ups past due.
    pub overdue: Vec<FollowUpItem>,
    /// Pledges escalated to the squad: deadline passed, no correction recorded, no decision.
    pub escalated: Vec<EscalatedPledge>,
}

/// Follow-up queues of a scope at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FollowUps {
    /// The instant the queues were computed for (unix ms).
    pub as_of_ms: i64,
    /// Squads with something in a queue, by unit path.
    pub squads: Vec<SquadQueue>,
}

impl FollowUps {
    /// Every overdue follow-up, most overdue first (for the dashboard).
    pub fn overdue_rows(&self) -> Vec<OverdueRow> {
        let mut rows: Vec<OverdueRow> = self
            .squads
            .iter()
            .flat_map(|s| {
                s.overdue.iter().map(|f| OverdueRow {
                    case_id: f.case_id.clone(),
                    unit: s.unit.clone(),
                    due_day: f.due_day.clone(),
                    days_overdue: f.days_overdue,
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            b.days_overdue
                .cmp(&a.days_overdue)
                .then_with(|| a.case_id.cmp(&b.case_id))
        });
        rows
    }

    /// Number of escalated pledges.
    pub fn escalated_count(&self) -> usize {
        self.squads.iter().map(|s| s.escalated.len()).sum()
    }
}

/// Computes the follow-up queues of the cases in `scope`'s unit subtree as of `now_ms`
/// (closed cases have no queue). The period of the scope is not applied: a queue is a state.
pub fn follow_ups(scope: &StatsScope, cases: &[CaseRecord], now_ms: i64) -> FollowUps {
    let mut squads: BTreeMap<String, SquadQueue> = BTreeMap::new();
    let mut sorted: Vec<&CaseRecord> = cases
        .iter()
        .filter(|c| scope.covers_unit(&c.unit) && !c.is_closed())
        .collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for c in sorted {
        let entry = || SquadQueue {
            unit: c.unit.clone(),
            due: vec![],
            overdue: vec![],
            escalated: vec![],
        };
        for f in c.follow_ups.iter().filter(|f| f.result.is_none()) {
            let item = FollowUpItem {
                case_id: c.id.clone(),
                follow_up_id: f.id.clone(),
                due_ms: f.due_ms,
                due_day: china_day(f.due_ms),
                days_overdue: if f.due_ms < now_ms {
                    (now_ms - f.due_ms) / DAY_MS
                } else {
                    0
                },
            };
            if f.due_ms < now_ms {
                squads
                    .entry(c.unit.clone())
                    .or_insert_with(entry)
                    .overdue
                    .push(item);
            } else if f.due_ms < now_ms + DUE_HORIZON_DAYS * DAY_MS {
                squads
                    .entry(c.unit.clone())
                    .or_insert_with(entry)
                    .due
                    .push(item);
            }
        }
        if let Some(p) = c.exemption.as_ref().and_then(|e| e.pledge.as_ref())
            && p.deadline_ms < now_ms
            && !c.is_corrected()
            && c.decision.is_none()
        {
            squads
                .entry(c.unit.clone())
                .or_insert_with(entry)
                .escalated
                .push(EscalatedPledge {
                    case_id: c.id.clone(),
                    deadline_ms: p.deadline_ms,
                    deadline_day: china_day(p.deadline_ms),
                    days_overdue: (now_ms - p.deadline_ms) / DAY_MS,
                });
        }
    }
    for q in squads.values_mut() {
        q.due.sort_by(|a, b| {
            a.due_ms
                .cmp(&b.due_ms)
                .then_with(|| a.case_id.cmp(&b.case_id))
        });
        q.overdue.sort_by(|a, b| {
            a.due_ms
                .cmp(&b.due_ms)
                .then_with(|| a.case_id.cmp(&b.case_id))
        });
    }
    FollowUps {
        as_of_ms: now_ms,
        squads: squads.into_values().collect(),
    }
}

/// A decision returned by legal review, as its officer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReturnedRow {
    /// Case.
    pub case_id: String,
    /// Unit.
    pub unit: String,
    /// Decision.
    pub decision_id: String,
    /// Officer who decided.
    pub decided_by: String,
    /// Reviewer's user id.
    pub reviewer: String,
    /// The reviewer's opinion.
    pub opinion: String,
    /// Day of the review.
    pub reviewed_day: String,
}

/// Decisions awaiting legal review and decisions returned by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReviewQueue {
    /// Awaiting review, oldest first.
    pub pending: Vec<ReviewRow>,
    /// Returned to their officers, newest first.
    pub returned: Vec<ReturnedRow>,
    /// Ordinary-procedure decisions through review (or needing none) that await the head's
    /// approval (负责人批准), oldest first.
    #[serde(default)]
    pub awaiting_approval: Vec<ReviewRow>,
}

/// A time limit of the penalty procedure that has passed unmet (or was met late).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRow {
    /// Case.
    pub case_id: String,
    /// Unit.
    pub unit: String,
    /// `decision` (90 days from 立案), `service` (7 working days) or `payment` (15 days).
    pub what: String,
    /// Day it fell due (China time).
    pub due_day: String,
    /// Whole days past it at `now_ms`.
    pub days_overdue: i64,
    /// The article that sets it.
    pub basis: String,
}

/// The procedure time limits of open cases in `scope` that are overdue at `now_ms`, most
/// overdue first, each judged under the catalogue version its case recorded (correction
/// deadlines are in the follow-up queue).
pub fn overdue_limits(
    scope: &StatsScope,
    cases: &[CaseRecord],
    catalogues: &fieldcase_core::catalogue::CatalogueSet,
    now_ms: i64,
) -> Vec<LimitRow> {
    let mut rows = Vec::new();
    for c in cases
        .iter()
        .filter(|c| scope.covers_unit(&c.unit) && !c.is_closed())
    {
        let cat = catalogues
            .get(&c.violation.catalogue_version)
            .unwrap_or(catalogues.current());
        for d in fieldcase_core::rules::procedure_deadlines(c, cat, now_ms) {
            if d.what == "correction" || !d.overdue || d.met_at_ms.is_some() {
                continue;
            }
            rows.push(LimitRow {
                case_id: c.id.clone(),
                unit: c.unit.clone(),
                days_overdue: (now_ms - d.due_ms) / 86_400_000,
                due_day: china_day(d.due_ms),
                what: d.what,
                basis: d.basis,
            });
        }
    }
    rows.sort_by(|a, b| {
        b.days_overdue
            .cmp(&a.days_overdue)
            .then_with(|| a.case_id.cmp(&b.case_id))
    });
    rows
}

/// The review queue of `scope`'s unit subtree (closed cases excluded).
pub fn review_queue(scope: &StatsScope, cases: &[CaseRecord]) -> ReviewQueue {
    let mut pending = Vec::new();
    let mut returned = Vec::new();
    let mut approval = Vec::new();
    for c in cases
        .iter()
        .filter(|c| scope.covers_unit(&c.unit) && !c.is_closed())
    {
        let Some(d) = &c.decision else { continue };
        if c.status() == fieldcase_core::model::CaseStatus::PendingApproval {
            approval.push((
                d.decided_at_ms,
                ReviewRow {
                    case_id: c.id.clone(),
                    decision_id: d.id.clone(),
                    unit: c.unit.clone(),
                    amount_yuan: d.amount_yuan,
                    reasons: d.review_reasons.clone(),
                    decided_day: china_day(d.decided_at_ms),
                },
            ));
        }
        match &d.review {
            None if d.review_required => pending.push((
                d.decided_at_ms,
                ReviewRow {
                    case_id: c.id.clone(),
                    decision_id: d.id.clone(),
                    unit: c.unit.clone(),
                    amount_yuan: d.amount_yuan,
                    reasons: d.review_reasons.clone(),
                    decided_day: china_day(d.decided_at_ms),
                },
            )),
            Some(r) if r.outcome == ReviewOutcome::Returned => returned.push((
                r.at_ms,
                ReturnedRow {
                    case_id: c.id.clone(),
                    unit: c.unit.clone(),
                    decision_id: d.id.clone(),
                    decided_by: d.decided_by.clone(),
                    reviewer: r.reviewer.clone(),
                    opinion: r.opinion.clone(),
                    reviewed_day: china_day(r.at_ms),
                },
            )),
            _ => {}
        }
    }
    pending.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.case_id.cmp(&b.1.case_id)));
    returned.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.case_id.cmp(&b.1.case_id)));
    approval.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.case_id.cmp(&b.1.case_id)));
    ReviewQueue {
        awaiting_approval: approval.into_iter().map(|p| p.1).collect(),
        pending: pending.into_iter().map(|p| p.1).collect(),
        returned: returned.into_iter().map(|p| p.1).collect(),
    }
}
