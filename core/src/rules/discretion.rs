//! Discretion benchmarks (裁量基准) and major-decision detection (重大执法决定).

use crate::catalogue::{Catalogue, PartyType};
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};

/// The verdict on a proposed fine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PenaltyAssessment {
    /// The amount lies within the tier's range.
    pub within_range: bool,
    /// Legal review must approve before the decision takes effect.
    pub review_required: bool,
    /// `major_amount` and/or `outside_discretion_range`.
    pub review_reasons: Vec<String>,
    /// The tier's range.
    pub min_yuan: i64,
    /// The tier's range.
    pub max_yuan: i64,
    /// The item's review threshold for this party type.
    pub review_threshold_yuan: i64,
}

/// Checks a fine against the catalogue. An amount outside the tier's range needs a written
/// reason (else [`CoreError::AmountOutsideRange`]) and always goes to legal review; so does an
/// amount at or above the item's review threshold.
pub fn assess_penalty(
    catalogue: &Catalogue,
    code: &str,
    tier: &str,
    party_type: PartyType,
    amount_yuan: i64,
    reason: Option<&str>,
) -> Result<PenaltyAssessment> {
    if amount_yuan < 0 {
        return Err(CoreError::invalid("amount_yuan", "must not be negative"));
    }
    let item = catalogue.item(code)?;
    let row = catalogue.tier(code, tier, party_type)?;
    let within_range = (row.min_yuan..=row.max_yuan).contains(&amount_yuan);
    let has_reason = reason.is_some_and(|r| !r.trim().is_empty());
    if !within_range && !has_reason {
        return Err(CoreError::AmountOutsideRange {
            amount_yuan,
            min_yuan: row.min_yuan,
            max_yuan: row.max_yuan,
            tier: tier.to_string(),
        });
    }
    let threshold = item.review_threshold.for_party(party_type);
    let mut review_reasons = Vec::new();
    if amount_yuan >= threshold {
        review_reasons.push("major_amount".to_string());
    }
    if !within_range {
        review_reasons.push("outside_discretion_range".to_string());
    }
    Ok(PenaltyAssessment {
        within_range,
        review_required: !review_reasons.is_empty(),
        review_reasons,
        min_yuan: row.min_yuan,
        max_yuan: row.max_yuan,
        review_threshold_yuan: threshold,
    })
}
