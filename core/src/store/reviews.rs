//! The legal reviewer's queue (重大执法决定法制审核): the decisions on this phone that wait
//! for a review, so a reviewer's phone can find what to review after a sync without knowing
//! case ids.

use super::FieldStore;
use crate::Result;
use crate::model::{CaseStatus, Decision};

/// A decision waiting for legal review.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingReview {
    /// The case.
    pub case_id: String,
    /// Its unit.
    pub unit: String,
    /// Its violation code.
    pub violation_code: String,
    /// When the encounter happened.
    pub occurred_at_ms: i64,
    /// The decision to review (with `review_reasons`).
    pub decision: Decision,
}

impl FieldStore {
    /// Decisions of open cases of `unit` and its sub-units (every unit when `None`) that
    /// need a legal review and have none, oldest decision first. On an enrolled phone the
    /// user's own decisions are left out: nobody reviews their own decision.
    pub fn pending_reviews(&self, unit: Option<&str>) -> Result<Vec<PendingReview>> {
        self.guard()?;
        let ids: Vec<String> = self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id FROM cases WHERE closed = 0 AND status = ?2
                 AND (?1 IS NULL OR unit = ?1 OR unit LIKE ?1 || '/%')",
            )?;
            let rows = stmt.query_map(
                rusqlite::params![unit, CaseStatus::PendingReview.as_str()],
                |r| r.get::<_, String>(0),
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let me = self.enrolled_identity()?.map(|a| a.user_id);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let case = self.case(&id)?;
            let Some(decision) = case.decision else {
                continue;
            };
            if !decision.review_required
                || decision.review.is_some()
                || me.as_deref() == Some(decision.decided_by.as_str())
            {
                continue;
            }
            out.push(PendingReview {
                case_id: case.id,
                unit: case.unit,
                violation_code: case.violation.code,
                occurred_at_ms: case.occurred_at_ms,
                decision,
            });
        }
        out.sort_by(|a, b| {
            (a.decision.decided_at_ms, &a.case_id).cmp(&(b.decision.decided_at_ms, &b.case_id))
        });
        Ok(out)
    }
}
