//! Penalties as the law writes them: which kinds an item's law allows, the statutory range
//! (outside it: refused, whatever the reason), the discretion benchmark (outside it but inside
//! the law: a written reason and legal review), the simple procedure's caps, the hearing right
//! and major-decision review (重大执法决定法制审核).

use super::change::{Refusal, RefusalCode};
use crate::catalogue::{Catalogue, Item, PartyType, PenaltyKind};
use crate::model::Procedure;
use serde::{Deserialize, Serialize};

/// A penalty an officer proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PenaltyProposal<'a> {
    /// Violation item.
    pub code: &'a str,
    /// Benchmark tier applied.
    pub tier: &'a str,
    /// The party's type.
    pub party_type: PartyType,
    /// Which penalty.
    pub penalty: PenaltyKind,
    /// Whole yuan (0 for a warning).
    pub amount_yuan: i64,
    /// Written reason for an amount outside the benchmark.
    pub reason: Option<&'a str>,
    /// Procedure followed.
    pub procedure: Procedure,
    /// Construction cost, for fines set as its share.
    pub construction_cost_yuan: Option<i64>,
    /// A hearing was held (第五十八条第一款第三项: review required).
    pub heard: bool,
}

/// The verdict on a proposed penalty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PenaltyAssessment {
    /// The amount lies within the benchmark tier's range.
    pub within_range: bool,
    /// Legal review must approve before the decision takes effect.
    pub review_required: bool,
    /// `major_amount`, `ordinary_procedure`, `hearing_held`, `outside_discretion_range`.
    pub review_reasons: Vec<String>,
    /// The tier's range (0/0 for a warning; the statutory range where no tier applies).
    pub min_yuan: i64,
    /// The tier's range.
    pub max_yuan: i64,
    /// The statutory range the amount must lie in.
    pub statutory_min_yuan: i64,
    /// The statutory range the amount must lie in.
    pub statutory_max_yuan: i64,
    /// The party may ask for a hearing (第六十三条).
    pub hearing_right: bool,
}

fn unlawful<T>(detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code: RefusalCode::PenaltyUnlawful,
        detail: detail.into(),
    })
}

/// An inclusive range of whole yuan.
type Yuan = (i64, i64);

/// The statutory and benchmark ranges of a fine.
fn fine_ranges(
    item: &Item,
    p: &PenaltyProposal<'_>,
    row: &crate::catalogue::TierSpec,
) -> Result<(Yuan, Yuan), Refusal> {
    if row.is_percent() {
        let Some(cost) = p.construction_cost_yuan.filter(|c| *c > 0) else {
            return unlawful(format!(
                "{}: the fine is a share of the construction cost: record the cost",
                item.code
            ));
        };
        let share = |pct: f64| (cost as f64 * pct / 100.0).round() as i64;
        let law = item
            .penalties
            .fine_percent_of_construction_cost
            .and_then(|c| {
                [c.correctable, c.not_correctable]
                    .into_iter()
                    .flatten()
                    .map(|r| (r.min, r.max))
                    .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
            });
        let (Some((lo, hi)), Some(tlo), Some(thi)) = (law, row.min_percent, row.max_percent) else {
            return unlawful(format!("{}: no percent range in law", item.code));
        };
        return Ok(((share(lo), share(hi)), (share(tlo), share(thi))));
    }
    let Some(statute) = item.statutory_fine(p.party_type, row.on_refusal) else {
        return unlawful(format!(
            "{}: the law sets no fine amount for a {} (a fine needs a confirmed statutory range)",
            item.code,
            p.party_type.as_str()
        ));
    };
    let (Some(a), Some(b)) = (row.min_yuan, row.max_yuan) else {
        return unlawful(format!("{}: tier {} has no amounts", item.code, row.tier));
    };
    Ok((statute, (a, b)))
}

/// Checks a proposed penalty against the catalogue. Refused (`penalty_unlawful`) when the
/// item's law does not prescribe the kind, sets no fine or the amount lies outside the
/// statutory range; refused (`procedure_invalid`) when the simple procedure is asked for
/// beyond its caps. An amount outside the benchmark tier but inside the law needs a written
/// reason (`decision_invalid` without one) and goes to legal review.
pub fn assess_penalty(
    catalogue: &Catalogue,
    p: &PenaltyProposal<'_>,
) -> Result<PenaltyAssessment, Refusal> {
    let item = catalogue.item(p.code).map_err(|e| Refusal {
        code: RefusalCode::UnknownViolation,
        detail: e.to_string(),
    })?;
    if p.amount_yuan < 0 {
        return unlawful("a negative amount");
    }
    if !item.allows(p.penalty) {
        return unlawful(format!(
            "{}: its law does not prescribe {} (it allows: {})",
            item.code,
            p.penalty.as_str(),
            if item.penalties.kinds.is_empty() {
                "no penalty".to_string()
            } else {
                item.penalties
                    .kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    if !item.has_confirmed_penalty_basis() {
        return unlawful(format!("{}: no confirmed penalty article", item.code));
    }
    if !item.applies_to.contains(&p.party_type) {
        return unlawful(format!(
            "{} does not apply to a {}",
            item.code,
            p.party_type.as_str()
        ));
    }
    // A fine where the law sets no amount (left to provincial law not confirmed) has no
    // legal basis, whatever tier is named (行政处罚法 第三十八条).
    if p.penalty == PenaltyKind::Fine
        && item.penalties.fine_percent_of_construction_cost.is_none()
        && item.statutory_fine(p.party_type, false).is_none()
        && item.statutory_fine(p.party_type, true).is_none()
    {
        return unlawful(format!(
            "{}: the law sets no fine amount for a {} (a fine needs a confirmed statutory range)",
            item.code,
            p.party_type.as_str()
        ));
    }
    let profile = catalogue.profile();
    let (statute, tier_range) = match p.penalty {
        PenaltyKind::Warning | PenaltyKind::Fine => {
            let row = catalogue
                .tier(p.code, p.tier, p.party_type)
                .map_err(|e| Refusal {
                    code: RefusalCode::UnknownViolation,
                    detail: e.to_string(),
                })?;
            if row.penalty != p.penalty {
                return unlawful(format!(
                    "tier {} of {} is a {}, not a {}",
                    p.tier,
                    item.code,
                    row.penalty.as_str(),
                    p.penalty.as_str()
                ));
            }
            if p.penalty == PenaltyKind::Warning {
                ((0, 0), (0, 0))
            } else {
                fine_ranges(item, p, row)?
            }
        }
        // Confiscation, suspension and revocation have no benchmark: the amount is the value
        // concerned, recorded for the hearing right and review.
        _ => ((0, i64::MAX), (0, i64::MAX)),
    };
    if !(statute.0..=statute.1).contains(&p.amount_yuan) {
        return unlawful(format!(
            "{} yuan lies outside the statutory range {}..={} of {}",
            p.amount_yuan, statute.0, statute.1, item.code
        ));
    }
    if p.procedure == Procedure::Simple {
        let cap = &profile.simple_procedure_cap;
        let ok = match p.penalty {
            PenaltyKind::Warning => cap.warning_allowed,
            PenaltyKind::Fine => {
                p.construction_cost_yuan.is_none() && p.amount_yuan <= cap.for_party(p.party_type)
            }
            _ => false,
        };
        if !ok {
            return Err(Refusal {
                code: RefusalCode::ProcedureInvalid,
                detail: format!(
                    "the simple procedure allows a warning or a fine up to {} yuan for a {} (行政处罚法 第五十一条): use the ordinary procedure",
                    cap.for_party(p.party_type),
                    p.party_type.as_str()
                ),
            });
        }
    }
    let within_range = (tier_range.0..=tier_range.1).contains(&p.amount_yuan);
    if !within_range && p.reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(Refusal {
            code: RefusalCode::DecisionInvalid,
            detail: format!(
                "{} yuan is outside the benchmark {}..={} of tier {}: a written reason is required",
                p.amount_yuan, tier_range.0, tier_range.1, p.tier
            ),
        });
    }
    let ordinary = p.procedure == Procedure::Ordinary;
    let over = |t: &crate::catalogue::Threshold| {
        t.for_party(p.party_type)
            .map(|limit| p.amount_yuan >= limit)
    };
    let mut review_reasons = Vec::new();
    match over(&profile.review_threshold) {
        Some(true) => review_reasons.push("major_amount".to_string()),
        Some(false) => {}
        // No confirmed threshold: every ordinary-procedure penalty is reviewed.
        None if ordinary => review_reasons.push("ordinary_procedure".to_string()),
        None => {}
    }
    if p.heard {
        review_reasons.push("hearing_held".to_string());
    }
    if !within_range {
        review_reasons.push("outside_discretion_range".to_string());
    }
    let hearing_right = ordinary
        && match p.penalty {
            PenaltyKind::Warning => false,
            PenaltyKind::Fine => over(&profile.hearing_threshold).unwrap_or(true),
            _ => true,
        };
    Ok(PenaltyAssessment {
        within_range,
        review_required: !review_reasons.is_empty(),
        review_reasons,
        min_yuan: tier_range.0,
        max_yuan: tier_range.1,
        statutory_min_yuan: statute.0,
        statutory_max_yuan: statute.1,
        hearing_right,
    })
}
