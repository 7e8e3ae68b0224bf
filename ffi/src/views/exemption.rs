//! Views of exemptions: the exemption and pledge on a case, and whether one may be granted.

use crate::enums::ExemptionKind;
use fieldcase_core::{model, rules};

/// A granted exemption.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ExemptionView {
    /// Which exemption.
    pub kind: ExemptionKind,
    /// When granted.
    pub decided_at_ms: i64,
    /// By whom.
    pub decided_by: String,
    /// Judged minor.
    pub minor: bool,
    /// Judged without harmful consequence.
    pub no_harm: bool,
    /// What "first offence" rested on, as known on the device then.
    pub first_offence: Option<FirstOffenceCheck>,
    /// The signed pledge.
    pub pledge: Option<PledgeView>,
    /// Catalogue version applied.
    pub catalogue_version: String,
}

impl From<model::Exemption> for ExemptionView {
    fn from(e: model::Exemption) -> Self {
        ExemptionView {
            kind: e.kind.into(),
            decided_at_ms: e.decided_at_ms,
            decided_by: e.decided_by,
            minor: e.minor,
            no_harm: e.no_harm,
            first_offence: e.first_offence.map(Into::into),
            pledge: e.pledge.map(Into::into),
            catalogue_version: e.catalogue_version,
        }
    }
}

/// A signed pledge.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PledgeView {
    /// The text signed.
    pub text: String,
    /// Evidence entry of the signature image.
    pub signature_evidence_id: Option<String>,
    /// Deadline to correct.
    pub deadline_ms: i64,
    /// When signed.
    pub signed_at_ms: i64,
}

impl From<model::Pledge> for PledgeView {
    fn from(p: model::Pledge) -> Self {
        PledgeView {
            text: p.text,
            signature_evidence_id: p.signature_evidence_id,
            deadline_ms: p.deadline_ms,
            signed_at_ms: p.signed_at_ms,
        }
    }
}

/// The evidence behind a "first offence" finding.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FirstOffenceCheck {
    /// Look-back window applied, days.
    pub lookback_days: i64,
    /// Prior cases of the same party and violation in the window (empty when first).
    pub prior_case_ids: Vec<String>,
    /// Number of cases of this party the device held.
    pub cases_checked: i64,
    /// Server change cursor of the last sync the replica reflected, if any.
    pub as_of_server_cursor: Option<i64>,
    /// When that sync finished, if any.
    pub as_of_synced_at_ms: Option<i64>,
}

impl From<model::FirstOffenceCheck> for FirstOffenceCheck {
    fn from(f: model::FirstOffenceCheck) -> Self {
        FirstOffenceCheck {
            lookback_days: f.lookback_days,
            prior_case_ids: f.prior_case_ids,
            cases_checked: f.cases_checked,
            as_of_server_cursor: f.as_of.server_cursor,
            as_of_synced_at_ms: f.as_of.synced_at_ms,
        }
    }
}

/// Whether an exemption may be granted, and why.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Eligibility {
    /// An exemption may be granted.
    pub eligible: bool,
    /// The exemption that applies, when eligible.
    pub kind: Option<ExemptionKind>,
    /// Every condition checked, met or not.
    pub conditions: Vec<Condition>,
    /// What "first offence" rested on.
    pub first_offence: FirstOffenceCheck,
}

/// One condition of an exemption.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Condition {
    /// Stable identifier: item_exemptable, tier_exemptable, minor, no_harm, first_offence,
    /// pledge, educated, party_identified.
    pub code: String,
    /// Whether it holds.
    pub met: bool,
    /// Explanation a UI can show, in the language set with `set_language` (the catalogue's
    /// `condition.<code>.*` texts).
    pub detail: String,
}

impl From<rules::Eligibility> for Eligibility {
    fn from(e: rules::Eligibility) -> Self {
        Eligibility {
            eligible: e.eligible,
            kind: e.kind.map(Into::into),
            conditions: e
                .conditions
                .into_iter()
                .map(|c| Condition {
                    detail: if c.message.code.is_empty() {
                        c.detail
                    } else {
                        c.message.text(crate::messages::current())
                    },
                    code: c.code,
                    met: c.met,
                })
                .collect(),
            first_offence: e.first_offence.into(),
        }
    }
}
