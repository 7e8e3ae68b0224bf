//! Rows of the case lists and the follow-ups that fall due.

use crate::FieldcaseError;
use crate::enums::{CaseStatus, ExemptionKind};
use fieldcase_core::store;

/// A case as lists show it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseSummary {
    /// Case id.
    pub id: String,
    /// Unit path.
    pub unit: String,
    /// Where it stands.
    pub status: CaseStatus,
    /// Violation code.
    pub violation_code: String,
    /// Tier.
    pub tier: String,
    /// The party, if identified.
    pub party_id: Option<String>,
    /// When it happened.
    pub occurred_at_ms: i64,
    /// Local day (UTC+8), `YYYY-MM-DD`.
    pub day: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Exemption kind, if exempted.
    pub exemption_kind: Option<ExemptionKind>,
    /// Running correction deadline.
    pub correction_deadline_ms: Option<i64>,
    /// Flagged as an exemption conflict.
    pub exemption_conflict: bool,
    /// Number of actions.
    pub action_count: i64,
    /// Number of evidence entries.
    pub evidence_count: i64,
}

impl TryFrom<store::CaseSummary> for CaseSummary {
    type Error = FieldcaseError;
    fn try_from(s: store::CaseSummary) -> Result<Self, FieldcaseError> {
        let status = CaseStatus::parse(&s.status).ok_or_else(|| FieldcaseError::Internal {
            reason: format!("case list holds an unknown status {:?}", s.status),
        })?;
        let exemption_kind = match s.exemption_kind.as_deref() {
            None => None,
            Some("first_offence") => Some(ExemptionKind::FirstOffence),
            Some("minor_no_penalty") => Some(ExemptionKind::MinorNoPenalty),
            Some(other) => {
                return Err(FieldcaseError::Internal {
                    reason: format!("case list holds an unknown exemption kind {other:?}"),
                });
            }
        };
        Ok(CaseSummary {
            id: s.id,
            unit: s.unit,
            status,
            violation_code: s.violation_code,
            tier: s.tier,
            party_id: s.party_id,
            occurred_at_ms: s.occurred_at_ms,
            day: s.day,
            lat: s.lat,
            lon: s.lon,
            exemption_kind,
            correction_deadline_ms: s.correction_deadline_ms,
            exemption_conflict: s.exemption_conflict,
            action_count: s.action_count,
            evidence_count: s.evidence_count,
        })
    }
}

/// Converts a core list of summaries.
pub(crate) fn summaries(v: Vec<store::CaseSummary>) -> Result<Vec<CaseSummary>, FieldcaseError> {
    v.into_iter().map(TryInto::try_into).collect()
}

/// A follow-up that is due.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DueFollowUp {
    /// The case.
    pub case_id: String,
    /// The follow-up.
    pub follow_up_id: String,
    /// When due.
    pub due_ms: i64,
    /// Unit of the case.
    pub unit: String,
    /// Already past due at the time asked.
    pub overdue: bool,
}

impl From<store::DueFollowUp> for DueFollowUp {
    fn from(d: store::DueFollowUp) -> Self {
        DueFollowUp {
            case_id: d.case_id,
            follow_up_id: d.follow_up_id,
            due_ms: d.due_ms,
            unit: d.unit,
            overdue: d.overdue,
        }
    }
}
