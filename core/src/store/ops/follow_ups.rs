//! Follow-ups: scheduling a visit, recording its result, and ordering a correction. An order
//! to correct and a pledge (see `exemption.rs`) schedule their own visit at the deadline, in
//! the same write, so nobody has to remember to go back (免罚不免责).

use super::inputs::{FollowUpInput, NewAction};
use super::{check_person, check_time, open_case};
use crate::catalogue::Method;
use crate::doc::{self, append, put};
use crate::model::*;
use crate::store::FieldStore;
use crate::{CoreError, Result, ids};
use serde_json::{Map, json};

impl FieldStore {
    /// Schedules a follow-up visit; returns its id.
    pub fn schedule_follow_up(
        &self,
        case_id: &str,
        by: &str,
        due_ms: i64,
        purpose: Option<&str>,
    ) -> Result<String> {
        check_person("by", by)?;
        check_time("due_ms", due_ms)?;
        let f = FollowUp {
            id: ids::new_id(),
            due_ms,
            scheduled_by: by.into(),
            scheduled_at_ms: ids::now_ms(),
            purpose: purpose.map(str::to_string),
            source: None,
            result: None,
        };
        let id = f.id.clone();
        self.write_doc(case_id, "schedule follow-up", |doc, current| {
            open_case(current, case_id)?;
            append(doc, "follow_ups", &f)
        })?;
        Ok(id)
    }

    /// Records a follow-up visit's result (and its follow_up action).
    pub fn record_follow_up(
        &self,
        case_id: &str,
        follow_up_id: &str,
        input: FollowUpInput,
    ) -> Result<()> {
        let mut fields = Map::new();
        fields.insert("corrected".into(), json!(input.corrected));
        if let Some(o) = &input.opinion {
            fields.insert("opinion".into(), json!(o));
        }
        if let Some(s) = &input.satisfaction {
            fields.insert("satisfaction".into(), json!(s));
        }
        let new_action = NewAction {
            method: Method::FollowUp,
            at_ms: input.at_ms,
            by: input.by.clone(),
            note: None,
            fields,
        };
        // Checked against the catalogue version of the case, read once, inside the write.
        self.write_doc(case_id, "record follow-up", |doc, current| {
            let case = open_case(current, case_id)?;
            let action = self.build_action(&new_action, &*self.case_catalogue(case)?)?;
            let f = case
                .follow_ups
                .iter()
                .find(|f| f.id == follow_up_id)
                .ok_or_else(|| CoreError::not_found("follow-up", follow_up_id))?;
            if f.result.is_some() {
                return Err(CoreError::not_allowed(
                    "follow_up_recorded",
                    "this follow-up was already recorded",
                ));
            }
            let result = FollowUpResult {
                at_ms: input.at_ms,
                by: input.by,
                corrected: input.corrected,
                opinion: input.opinion,
                satisfaction: input.satisfaction,
                action_id: action.id.clone(),
            };
            let obj = doc::find_in_list(doc, "follow_ups", follow_up_id)?
                .ok_or_else(|| CoreError::not_found("follow-up", follow_up_id))?;
            put(doc, &obj, "result", &doc::to_json(&result)?)?;
            append(doc, "actions", &action)
        })
    }

    /// Orders the party to correct by a deadline (management) and schedules the visit that
    /// verifies it, due at the deadline, in one write; returns the action id.
    pub fn order_correction(
        &self,
        case_id: &str,
        by: &str,
        at_ms: i64,
        deadline_ms: i64,
        items: Vec<String>,
    ) -> Result<String> {
        if deadline_ms < at_ms {
            return Err(CoreError::invalid("deadline", "before the order"));
        }
        check_time("deadline", deadline_ms)?;
        let mut fields = Map::new();
        fields.insert("deadline".into(), json!(deadline_ms));
        if !items.is_empty() {
            fields.insert("items".into(), json!(items));
        }
        let new_action = NewAction {
            method: Method::CorrectionOrder,
            at_ms,
            by: by.into(),
            note: None,
            fields,
        };
        self.write_doc(case_id, "order correction", |doc, current| {
            let case = open_case(current, case_id)?;
            let action = self.build_action(&new_action, &*self.case_catalogue(case)?)?;
            let visit = FollowUp {
                id: FollowUp::correction_order_id(&action.id),
                due_ms: deadline_ms,
                scheduled_by: action.by.clone(),
                scheduled_at_ms: at_ms,
                purpose: Some("verify the ordered correction (责令改正复查)".into()),
                source: Some(FollowUpSource::CorrectionOrder),
                result: None,
            };
            append(doc, "actions", &action)?;
            append(doc, "follow_ups", &visit)?;
            Ok(action.id)
        })
    }
}

/// The visit that verifies a pledge, due at its deadline, scheduled by the officer who granted
/// the exemption: written with the grant.
pub(super) fn pledge_follow_up(case_id: &str, exemption: &Exemption) -> Option<FollowUp> {
    let pledge = exemption.pledge.as_ref()?;
    Some(FollowUp {
        id: FollowUp::pledge_id(case_id),
        due_ms: pledge.deadline_ms,
        scheduled_by: exemption.decided_by.clone(),
        scheduled_at_ms: exemption.decided_at_ms,
        purpose: Some("verify the pledged correction (承诺整改复查)".into()),
        source: Some(FollowUpSource::Pledge),
        result: None,
    })
}
