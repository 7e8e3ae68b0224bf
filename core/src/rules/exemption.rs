//! Exemption eligibility (首违不罚 / 轻微不罚 with 告知承诺).

use crate::catalogue::{ExemptionKind, Item};
use crate::messages::{Lang, Message};
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
    /// Explanation, in English.
    pub detail: String,
    /// The explanation as a catalogue message (`condition.<code>.<state>`), to show in the
    /// user's language.
    #[serde(default)]
    pub message: Message,
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

    /// The conditions not met, as messages.
    pub fn unmet_messages(&self) -> Vec<Message> {
        self.conditions
            .iter()
            .filter(|c| !c.met)
            .map(|c| c.message.clone())
            .collect()
    }
}

impl Condition {
    /// A condition whose English detail is the catalogue's text of its message.
    pub fn new(code: &str, met: bool, message: Message) -> Self {
        Condition {
            code: code.to_string(),
            met,
            detail: message.text(Lang::En),
            message,
        }
    }
}

fn cond(code: &str, met: bool, message: Message) -> Condition {
    Condition::new(code, met, message)
}

/// A condition said one way when met and another when not (`condition.<code>.met|unmet`).
fn met_or_not(code: &str, met: bool) -> Condition {
    let state = if met { "met" } else { "unmet" };
    cond(code, met, Message::new(format!("condition.{code}.{state}")))
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
            Message::new(if rule.kinds.is_empty() {
                "condition.item_exemptable.unmet"
            } else {
                "condition.item_exemptable.met"
            })
            .arg("item", &item.code),
        ),
        cond(
            "tier_exemptable",
            tier_ok,
            if rule.exempt_tiers.is_empty() {
                Message::new("condition.tier_exemptable.any")
            } else {
                Message::new(if tier_ok {
                    "condition.tier_exemptable.met"
                } else {
                    "condition.tier_exemptable.unmet"
                })
                .labels(
                    "tiers",
                    rule.exempt_tiers
                        .iter()
                        .map(|t| format!("label.tier.{t}"))
                        .collect(),
                )
            }
            .label("tier", format!("label.tier.{tier}")),
        ),
    ];
    if rule.requires_minor {
        conditions.push(met_or_not("minor", facts.minor));
    }
    if rule.requires_no_harm {
        conditions.push(met_or_not("no_harm", facts.no_harm));
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
        let message = match kind {
            _ if first => Message::new("condition.first_offence.met"),
            Some(k) => Message::new("condition.first_offence.not_required")
                .label("kind", format!("label.exemption_kind.{}", k.as_str())),
            None => Message::new("condition.first_offence.unmet"),
        };
        conditions.push(cond(
            "first_offence",
            kind.is_some(),
            message
                .arg("lookback_days", lookback)
                .arg("count", prior_case_ids.len()),
        ));
    }
    if rule.pledge_required || rule.requires_correction_by_deadline {
        conditions.push(met_or_not("pledge", facts.pledge_offered));
    }
    conditions.push(met_or_not("educated", facts.educated));
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
