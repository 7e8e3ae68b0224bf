//! The exemption a change grants.

use super::educates;
use crate::catalogue::Catalogue;
use crate::model::*;
use crate::rules::author::Author;
use crate::rules::change::{Refusal, RefusalCode, refuse, same_author};

pub(super) fn check_exemption(
    b: &CaseRecord,
    after: &CaseRecord,
    author: &Author,
    cat: &Catalogue,
) -> Result<(), Refusal> {
    match (&b.exemption, &after.exemption) {
        (None, None) => Ok(()),
        (Some(x), Some(y)) if x == y => Ok(()),
        (Some(_), _) => refuse(
            RefusalCode::ExemptionInvalid,
            "an exemption is never changed or removed once granted",
        ),
        (None, Some(e)) => {
            same_author("exemption.decided_by", &e.decided_by, author)?;
            if b.decision.is_some() {
                return refuse(
                    RefusalCode::ExemptionInvalid,
                    "a penalty decision exists: no exemption",
                );
            }
            if after.party.is_none() {
                return refuse(
                    RefusalCode::ExemptionInvalid,
                    "the party must be identified to check for a first offence",
                );
            }
            let item = cat.item(&after.violation.code).map_err(|_| Refusal {
                code: RefusalCode::UnknownViolation,
                detail: "violation code is not in the catalogue".into(),
            })?;
            let prior = e
                .first_offence
                .as_ref()
                .map(|f| f.prior_case_ids.clone())
                .unwrap_or_default();
            let verdict = crate::rules::assess_exemption(
                item,
                &after.violation.tier,
                crate::rules::ExemptionFacts {
                    minor: e.minor,
                    no_harm: e.no_harm,
                    pledge_offered: e.pledge.is_some(),
                    educated: after.actions.iter().any(|a| educates(a.method)),
                },
                prior,
                0,
                SyncPoint::default(),
            );
            if !verdict.eligible || verdict.kind != Some(e.kind) {
                let mut unmet = verdict.unmet();
                if unmet.is_empty() {
                    unmet.push(format!(
                        "the exemption that applies is not {}",
                        e.kind.as_str()
                    ));
                }
                return refuse(RefusalCode::ExemptionInvalid, unmet.join("; "));
            }
            if let Some(p) = &e.pledge
                && p.deadline_ms < p.signed_at_ms
            {
                return refuse(
                    RefusalCode::ExemptionInvalid,
                    "the pledge deadline lies before its signature",
                );
            }
            Ok(())
        }
    }
}
