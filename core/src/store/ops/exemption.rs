//! Exemptions (首违不罚, 轻微免罚): eligibility with its first-offence evidence, and the grant
//! with the party's pledge.

use super::inputs::ExemptionRequest;
use super::{check_person, check_text, check_time, open_case};
use crate::catalogue::ExemptionKind;
use crate::doc::{append, put_root};
use crate::model::*;
use crate::rules::{self, Eligibility, ExemptionFacts};
use crate::store::FieldStore;
use crate::{CoreError, Result, ids};

impl FieldStore {
    /// The prior cases of the case's party and violation within the item's look-back window
    /// that ended in an exemption or a penalty decision (a reminder or a visit is no offence
    /// on record), and how many cases of that party the device holds.
    fn prior_cases(&self, case: &CaseRecord, lookback_days: i64) -> Result<(Vec<String>, i64)> {
        let Some(party) = &case.party else {
            return Ok((vec![], 0));
        };
        let since = case.occurred_at_ms - lookback_days.saturating_mul(86_400_000);
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id FROM cases WHERE party_match_hash = ?1 AND violation_code = ?2
                 AND occurred_at_ms >= ?3 AND occurred_at_ms <= ?4 AND id <> ?5
                 AND (exemption_kind IS NOT NULL OR decision_amount_yuan IS NOT NULL)
                 ORDER BY occurred_at_ms",
            )?;
            let ids = stmt
                .query_map(
                    rusqlite::params![
                        party.match_hash,
                        case.violation.code,
                        since,
                        case.occurred_at_ms,
                        case.id
                    ],
                    |r| r.get::<_, String>(0),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let checked: i64 = c.query_row(
                "SELECT count(*) FROM cases WHERE party_match_hash = ?1",
                [&party.match_hash],
                |r| r.get(0),
            )?;
            Ok((ids, checked))
        })
    }

    /// The sync point the replica reflects (from the sync client's bookkeeping).
    pub fn sync_point(&self) -> Result<SyncPoint> {
        let num = |k: &str| -> Result<Option<i64>> {
            Ok(self
                .meta(k)?
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|s| s.parse().ok()))
        };
        Ok(SyncPoint {
            server_cursor: num("sync_cursor")?,
            synced_at_ms: num("synced_at_ms")?,
        })
    }

    /// Whether the case's party may be exempted, with every condition and the first-offence
    /// evidence. `pledge_offered` says whether the party will sign a pledge.
    pub fn check_exemption(
        &self,
        case_id: &str,
        minor: bool,
        no_harm: bool,
        pledge_offered: bool,
    ) -> Result<Eligibility> {
        self.guard()?;
        let case = self.current_case(case_id)?;
        self.eligibility(&case, minor, no_harm, pledge_offered)
    }

    fn eligibility(
        &self,
        case: &CaseRecord,
        minor: bool,
        no_harm: bool,
        pledge_offered: bool,
    ) -> Result<Eligibility> {
        let catalogue = self.case_catalogue(case)?;
        let item = catalogue.item(&case.violation.code)?;
        let (prior, checked) = self.prior_cases(case, item.exemption.lookback_days())?;
        let educated = case.actions.iter().any(|a| rules::educates(a.method));
        let mut e = rules::assess_exemption(
            item,
            &case.violation.tier,
            ExemptionFacts {
                minor,
                no_harm,
                pledge_offered,
                educated,
            },
            prior,
            checked,
            self.sync_point()?,
        );
        if case.party.is_none() {
            e.eligible = false;
            e.kind = None;
            e.conditions.push(rules::Condition::new(
                "party_identified",
                false,
                crate::messages::Message::new("condition.party_identified.unmet"),
            ));
        }
        Ok(e)
    }

    /// Grants an exemption with its pledge, after checking eligibility. A pledge schedules the
    /// visit that verifies it at its deadline in the same write (see
    /// [`FollowUp::pledge_id`]).
    pub fn grant_exemption(&self, case_id: &str, req: ExemptionRequest) -> Result<Exemption> {
        check_person("by", &req.by)?;
        check_time("at_ms", req.at_ms)?;
        let current = self.current_case(case_id)?;
        if current.is_closed() {
            return Err(CoreError::CaseClosed {
                case_id: case_id.into(),
            });
        }
        if current.exemption.is_some() {
            return Err(CoreError::not_allowed(
                "already_exempted",
                "an exemption was already granted",
            ));
        }
        if current.decision.is_some() {
            return Err(CoreError::not_allowed(
                "penalty_decided",
                "a penalty decision exists",
            ));
        }
        let catalogue = self.case_catalogue(&current)?;
        let item = catalogue.item(&current.violation.code)?;
        let pledge = match &req.pledge {
            Some(p) => {
                check_text("pledge.text", &p.text, 4000)?;
                check_time("pledge.signed_at_ms", p.signed_at_ms)?;
                if let Some(s) = &p.signature_evidence_id
                    && !ids::is_valid_id(s)
                {
                    return Err(CoreError::invalid(
                        "pledge.signature_evidence_id",
                        "not an id",
                    ));
                }
                let deadline = p
                    .deadline_ms
                    .unwrap_or(p.signed_at_ms + item.default_correction_hours * 3_600_000);
                if deadline < p.signed_at_ms {
                    return Err(CoreError::invalid(
                        "pledge.deadline_ms",
                        "before the signature",
                    ));
                }
                Some(Pledge {
                    text: p.text.clone(),
                    signature_evidence_id: p.signature_evidence_id.clone(),
                    deadline_ms: deadline,
                    signed_at_ms: p.signed_at_ms,
                })
            }
            None => None,
        };
        let e = self.eligibility(&current, req.minor, req.no_harm, pledge.is_some())?;
        let kind = match e.kind.filter(|_| e.eligible) {
            Some(k) => k,
            // A test playing a client that is not ours writes what it was asked, for the
            // server to judge.
            None if !self.local_rules_on() => ExemptionKind::FirstOffence,
            None => {
                return Err(CoreError::NotEligible {
                    reasons: e.unmet(),
                    unmet: e.unmet_messages(),
                });
            }
        };
        let exemption = Exemption {
            kind,
            decided_at_ms: req.at_ms,
            decided_by: req.by.clone(),
            minor: req.minor,
            no_harm: req.no_harm,
            first_offence: Some(e.first_offence),
            pledge,
            catalogue_version: catalogue.version().to_string(),
        };
        self.write_doc(case_id, "grant exemption", |doc, current| {
            let case = open_case(current, case_id)?;
            if case.exemption.is_some() || case.decision.is_some() {
                return Err(CoreError::not_allowed(
                    "changed_check_again",
                    "the case changed; check again",
                ));
            }
            put_root(doc, "exemption", &exemption)?;
            match super::follow_ups::pledge_follow_up(case_id, &exemption) {
                Some(visit) if !case.follow_ups.iter().any(|f| f.id == visit.id) => {
                    append(doc, "follow_ups", &visit)
                }
                _ => Ok(()),
            }
        })?;
        Ok(exemption)
    }
}
