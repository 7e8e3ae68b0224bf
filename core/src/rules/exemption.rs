//! Exemption eligibility (首违不罚 / 轻微不罚 with 告知承诺).

use crate::catalogue::{ExemptionKind, Item};
use crate::model::{FirstOffenceCheck, SyncPoint};
use serde::{Deserialize, Serialize};

/// What the officer judged on the spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExemptionFacts {
    /// The violation is minor.
    pub minor: bool,
    /// There was no harmful consequence.
    pub no_harm: bool,
    /// The party signs a pledge to correct by a deadline.
    pub pledge_offered: bool,
    /// The party was educated about the rule (an education action is on the case); the
    /// Administrative Penalty Law art. 33 requires it of every exemption.
    pub educated: bool,
}

/// One condition checked, met or not, with words a UI can show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Stable identifier: item_exemptable, tier_exemptable, minor, no_harm, first_offence,
    /// pledge, educated.
    pub code: String,
    /// Whether it holds.
    pub met: bool,
    /// Explanation.
    pub detail: String,
}

/// The verdict with every condition and the first-offence evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eligibility {
    /// Whether an exemption may be granted.
    pub eligible: bool,
    /// The exemption that applies (first offence preferred).
    pub kind: Option<ExemptionKind>,
    /// Every condition checked.
    pub conditions: Vec<Condition>,
    /// What "first offence" rested on.
    pub first_offence: FirstOffenceCheck,
}

impl Eligibility {
    /// The details of the conditions not met.
    pub fn unmet(&self) -> Vec<String> {
        self.conditions
            .iter()
            .filter(|c| !c.met)
            .map(|c| c.detail.clone())
            .collect()
    }
}

fn cond(code: &str, met: bool, detail: String) -> Condition {
    Condition {
        code: code.to_string(),
        met,
        detail,
    }
}

/// Assesses an exemption for a case of `item` in `tier`, given the prior cases of the same
/// party and violation the device found in the look-back window.
pub fn assess_exemption(
    item: &Item,
    tier: &str,
    facts: ExemptionFacts,
    prior_case_ids: Vec<String>,
    cases_checked: i64,
    as_of: SyncPoint,
) -> Eligibility {
    let rule = &item.exemption;
    let tier_ok = rule.exempt_tiers.is_empty() || rule.exempt_tiers.iter().any(|t| t == tier);
    let mut conditions = vec![
        cond(
            "item_exemptable",
            !rule.kinds.is_empty(),
            format!(
                "{} is {}on the exemption list",
                item.code,
                if rule.kinds.is_empty() { "not " } else { "" }
            ),
        ),
        cond(
            "tier_exemptable",
            tier_ok,
            if rule.exempt_tiers.is_empty() {
                format!("tier {tier}: the item's exemption conditions apply at any tier")
            } else {
                format!(
                    "tier {tier} {} exemptable (exemptable: {})",
                    if tier_ok { "is" } else { "is not" },
                    rule.exempt_tiers.join(", ")
                )
            },
        ),
    ];
    if rule.requires_minor {
        conditions.push(cond(
            "minor",
            facts.minor,
            if facts.minor {
                "the violation is minor".into()
            } else {
                "the violation is not minor".into()
            },
        ));
    }
    if rule.requires_no_harm {
        conditions.push(cond(
            "no_harm",
            facts.no_harm,
            if facts.no_harm {
                "no harmful consequence".into()
            } else {
                "a harmful consequence occurred".into()
            },
        ));
    }
    // Prior cases are those of the same party and item that ended in a penalty or an
    // exemption: a reminder or a visit is no offence on record. A kind that requires a first
    // offence (as published 免罚清单 do for either kind) is out once one exists.
    let first = prior_case_ids.is_empty();
    let open = |k: ExemptionKind| {
        rule.kind(k)
            .is_some_and(|r| first || !r.first_offence_required)
    };
    let kind = [ExemptionKind::FirstOffence, ExemptionKind::MinorNoPenalty]
        .into_iter()
        .find(|k| open(*k));
    if !rule.kinds.is_empty() && rule.kinds.iter().any(|k| k.first_offence_required) {
        let lookback = rule.lookback_days();
        conditions.push(cond(
            "first_offence",
            kind.is_some(),
            if first {
                format!("no prior penalised or exempted case in the last {lookback} days")
            } else if kind.is_some() {
                format!(
                    "{} prior case(s) in the last {lookback} days; {} does not require a first offence",
                    prior_case_ids.len(),
                    kind.map(|k| k.as_str()).unwrap_or_default()
                )
            } else {
                format!(
                    "{} prior penalised or exempted case(s) in the last {lookback} days: every exemption of this item requires a first offence",
                    prior_case_ids.len()
                )
            },
        ));
    }
    if rule.pledge_required || rule.requires_correction_by_deadline {
        conditions.push(cond(
            "pledge",
            facts.pledge_offered,
            if facts.pledge_offered {
                "the party pledges to correct by the deadline".into()
            } else {
                "a signed pledge to correct by a deadline is required".into()
            },
        ));
    }
    conditions.push(cond(
        "educated",
        facts.educated,
        if facts.educated {
            "the party was educated about the rule".into()
        } else {
            "record guidance, persuasion or a warning first (education is required)".into()
        },
    ));
    let eligible = kind.is_some() && conditions.iter().all(|c| c.met);
    Eligibility {
        eligible,
        kind: if eligible { kind } else { None },
        conditions,
        first_offence: FirstOffenceCheck {
            lookback_days: rule.lookback_days(),
            prior_case_ids,
            cases_checked,
            as_of,
        },
    }
}
