//! Cases: recording one with its on-the-spot actions, appending actions, closing and
//! reopening, the law's time limits, and flagging conflicting first-offence exemptions.

use super::inputs::*;
use super::{as_case, check_person, check_text, check_time, check_unit, open_case};
use crate::catalogue::{Method, PartyType};
use crate::doc::{append, put};
use crate::model::*;
use crate::rules;
use crate::store::FieldStore;
use crate::{CoreError, Result, ids};
use automerge::AutoCommit;
use serde_json::json;

impl FieldStore {
    fn party_ref(&self, party_id: &str) -> Result<PartyRef> {
        self.read(|c| {
            c.query_row(
                "SELECT party_type, match_hash FROM parties WHERE id = ?1",
                [party_id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => CoreError::not_found("party", party_id),
                e => e.into(),
            })
        })
        .map(|(t, h)| PartyRef {
            party_id: party_id.to_string(),
            party_type: if t == "unit" {
                PartyType::Unit
            } else {
                PartyType::Person
            },
            match_hash: h,
        })
    }

    /// Records a new case (with any on-the-spot actions) and returns it.
    pub fn create_case(&self, input: NewCase) -> Result<CaseRecord> {
        check_unit(&input.unit)?;
        input.place.check()?;
        check_time("occurred_at_ms", input.occurred_at_ms)?;
        check_person("recorded_by", &input.recorded_by)?;
        if input.officers.is_empty() {
            return Err(CoreError::invalid("officers", "at least one officer"));
        }
        for o in &input.officers {
            check_person("officers", o)?;
        }
        if let Some(d) = &input.description {
            check_text("description", d, 4000)?;
        }
        let catalogue = self.catalogue();
        let item = catalogue.item(&input.violation_code)?;
        let party = match &input.party_id {
            Some(p) => Some(self.party_ref(p)?),
            None => None,
        };
        if !crate::catalogue::TIERS.contains(&input.tier.as_str()) {
            return Err(CoreError::UnknownTier {
                code: item.code.clone(),
                tier: input.tier.clone(),
                party_type: "any".into(),
            });
        }
        if let Some(p) = &party
            && !item.applies_to.contains(&p.party_type)
        {
            return Err(CoreError::invalid(
                "party_id",
                format!(
                    "{} does not apply to a {}",
                    item.code,
                    p.party_type.as_str()
                ),
            ));
        }
        let mut actions = Vec::with_capacity(input.actions.len());
        for a in &input.actions {
            if matches!(a.method, Method::Penalty | Method::FollowUp) {
                return Err(CoreError::invalid(
                    "actions",
                    "penalties and follow-ups are recorded with their own operations",
                ));
            }
            actions.push(self.build_action(a, &catalogue)?);
        }
        let id = ids::new_id();
        let record = CaseRecord {
            kind: "case".into(),
            schema_version: RECORD_SCHEMA_VERSION,
            id: id.clone(),
            unit: input.unit,
            created_at_ms: ids::now_ms(),
            created_by: input.recorded_by,
            created_on_device: self.device_id(),
            occurred_at_ms: input.occurred_at_ms,
            place: input.place,
            officers: input.officers,
            party,
            violation: Violation {
                code: item.code.clone(),
                tier: input.tier,
                catalogue_version: catalogue.version().to_string(),
                description: input.description,
            },
            actions,
            exemption: None,
            follow_ups: vec![],
            decision: None,
            notes: vec![],
            steps: vec![],
            documents: vec![],
            evidence: vec![],
            redactions: vec![],
            lifecycle: vec![],
            flags: Flags::default(),
            involves_minor: input.involves_minor,
            privacy_protected: input.privacy_protected,
        };
        self.create_doc(Record::Case(Box::new(record.clone())), "create case")?;
        Ok(record)
    }

    /// Appends an action of any method but penalty and follow-up; returns its id.
    pub fn append_action(&self, case_id: &str, input: NewAction) -> Result<String> {
        if matches!(input.method, Method::Penalty | Method::FollowUp) {
            return Err(CoreError::invalid(
                "method",
                "penalties and follow-ups are recorded with their own operations",
            ));
        }
        // Checked against the catalogue version of the case, read once, inside the write.
        self.write_doc(case_id, "append action", |doc, current| {
            let case = open_case(current, case_id)?;
            let action = self.build_action(&input, &*self.case_catalogue(case)?)?;
            append(doc, "actions", &action)?;
            Ok(action.id)
        })
    }

    /// The time limits the law sets on the case (decision, service, payment, correction),
    /// judged under the catalogue the case recorded, and which are overdue at `now_ms`.
    pub fn procedure_deadlines(&self, case_id: &str, now_ms: i64) -> Result<Vec<rules::Deadline>> {
        self.guard()?;
        let case = self.current_case(case_id)?;
        let cat = self.case_catalogue(&case)?;
        Ok(rules::procedure_deadlines(&case, &cat, now_ms))
    }

    /// Closes a case. Refused while a decision awaits review or was returned, and while a
    /// pledge or order awaits a verified correction (免罚不免责).
    pub fn close_case(&self, case_id: &str, by: &str, at_ms: i64, reason: &str) -> Result<()> {
        check_person("by", by)?;
        check_text("reason", reason, 1000)?;
        let ev = LifecycleEvent {
            event: LifecycleKind::Closed,
            at_ms,
            by: by.into(),
            reason: reason.into(),
            signed_heads: None,
            signature: None,
            signed_by_device: None,
        };
        let signer = self.signer()?;
        self.write_doc(case_id, "close case", |doc, current| {
            let case = open_case(current, case_id)?;
            // The same refusal the server gives (`lifecycle_invalid`), before signing.
            if let Some(why) = case.close_blocker()
                && self.local_rules_on()
            {
                return Err(CoreError::Refused {
                    code: rules::RefusalCode::LifecycleInvalid.as_str().to_string(),
                    detail: why.to_string(),
                });
            }
            let ev = crate::evidence::sign_lifecycle(signer.as_ref(), case_id, doc, ev)?;
            append(doc, "lifecycle", &ev)
        })
    }

    /// Reopens a closed case with a reason.
    pub fn reopen_case(&self, case_id: &str, by: &str, at_ms: i64, reason: &str) -> Result<()> {
        check_person("by", by)?;
        check_text("reason", reason, 1000)?;
        let ev = LifecycleEvent {
            event: LifecycleKind::Reopened,
            at_ms,
            by: by.into(),
            reason: reason.into(),
            signed_heads: None,
            signature: None,
            signed_by_device: None,
        };
        let signer = self.signer()?;
        self.write_doc(case_id, "reopen case", |doc, current| {
            let case = as_case(current, case_id)?;
            if !case.is_closed() {
                return Err(CoreError::not_allowed(
                    "case_not_closed",
                    "the case is not closed",
                ));
            }
            let ev = crate::evidence::sign_lifecycle(signer.as_ref(), case_id, doc, ev)?;
            append(doc, "lifecycle", &ev)
        })
    }

    /// Flags every local case that conflicts with an earlier first-offence exemption of the
    /// same party (after a merge brought in cases from other phones). Returns the flagged ids.
    pub fn flag_exemption_conflicts(&self) -> Result<Vec<String>> {
        // The change observer hears every case flagged as one batch.
        let _one_batch = self.hold_changes();
        let catalogue = self.catalogue();
        let rows: Vec<(String, String, String, i64, bool)> = self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, party_match_hash, violation_code, occurred_at_ms, exemption_conflict
                 FROM cases WHERE exemption_kind = 'first_offence' AND party_match_hash IS NOT NULL",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        let summaries: Vec<rules::ExemptionSummary> = rows
            .iter()
            .map(|(id, h, code, at, _)| rules::ExemptionSummary {
                case_id: id.clone(),
                match_hash: h.clone(),
                code: code.clone(),
                occurred_at_ms: *at,
                lookback_days: catalogue
                    .item(code)
                    .map(|i| i.exemption.lookback_days())
                    .unwrap_or(365),
            })
            .collect();
        let conflicts = rules::exemption_conflicts(&summaries);
        let mut flagged = Vec::new();
        for (case_id, with) in conflicts {
            let already = rows.iter().any(|r| r.0 == case_id && r.4);
            if already {
                continue;
            }
            self.write_doc(&case_id, "flag exemption conflict", |doc, _| {
                set_conflict_flag(doc, &with)
            })?;
            flagged.push(case_id);
        }
        Ok(flagged)
    }
}

/// Sets the exemption-conflict flag on a case document (used by phones and the server).
pub fn set_conflict_flag(doc: &mut AutoCommit, with: &[String]) -> Result<()> {
    let flags = json!({"exemption_conflict": true, "conflict_with": with});
    put(doc, &automerge::ROOT, "flags", &flags)
}
