//! The legal reviewer's list: the decisions on this phone waiting for a review, each with
//! what `review_decision` needs (the case and the decision) and why it needs review.

use crate::views::DecisionView;
use crate::{FieldcaseError, FieldcaseStore};

/// A decision waiting for legal review.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PendingReviewView {
    /// The case.
    pub case_id: String,
    /// Its unit.
    pub unit: String,
    /// Its violation code.
    pub violation_code: String,
    /// When the encounter happened (unix ms).
    pub occurred_at_ms: i64,
    /// The decision: its `id` for `review_decision`, and `review_reasons` for why it needs
    /// review.
    pub decision: DecisionView,
}

impl From<fieldcase_core::store::PendingReview> for PendingReviewView {
    fn from(p: fieldcase_core::store::PendingReview) -> Self {
        PendingReviewView {
            case_id: p.case_id,
            unit: p.unit,
            violation_code: p.violation_code,
            occurred_at_ms: p.occurred_at_ms,
            decision: p.decision.into(),
        }
    }
}

#[uniffi::export]
impl FieldcaseStore {
    /// Decisions of open cases of a unit and its sub-units (every unit when `None`) that wait
    /// for a legal review, oldest first; the enrolled user's own decisions are left out. A
    /// reviewer's phone lists them after a sync and answers each with `review_decision`.
    pub fn pending_reviews(
        &self,
        unit: Option<String>,
    ) -> Result<Vec<PendingReviewView>, FieldcaseError> {
        self.with(|s| {
            Ok(s.pending_reviews(unit.as_deref())?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }
}
