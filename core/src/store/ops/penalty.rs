//! The penalty procedure: the decision after the discretion check, its steps (立案 to 执行)
//! and the legal review written on a reviewer's phone.

use super::inputs::{NewAction, PenaltyRequest, ReviewInput, StepInput};
use super::{check_person, check_text, check_time, open_case};
use crate::catalogue::Method;
use crate::doc::{self, append, put, put_root};
use crate::model::*;
use crate::rules;
use crate::store::FieldStore;
use crate::{CoreError, Result, ids};
use serde_json::{Map, json};

impl FieldStore {
    /// Decides a penalty after the discretion check; a major or out-of-range decision is
    /// recorded as awaiting legal review and takes no effect until approved.
    pub fn decide_penalty(&self, case_id: &str, req: PenaltyRequest) -> Result<Decision> {
        check_person("by", &req.by)?;
        self.check_enrolled_author("decided_by", &req.by)?;
        check_time("at_ms", req.at_ms)?;
        if let Some(r) = &req.reason {
            check_text("reason", r, 4000)?;
        }
        let current = self.current_case(case_id)?;
        if current.is_closed() {
            return Err(CoreError::CaseClosed {
                case_id: case_id.into(),
            });
        }
        let party = current.party.clone().ok_or_else(|| {
            CoreError::not_allowed("party_unidentified", "identify the party before a penalty")
        })?;
        if let Some(d) = &current.decision
            && d.review.as_ref().map(|r| r.outcome) != Some(ReviewOutcome::Returned)
        {
            return Err(CoreError::not_allowed(
                "decision_exists",
                "a decision exists; only a returned one may be revised",
            ));
        }
        if !current.penalty_open_after_exemption(req.at_ms) && self.local_rules_on() {
            return Err(CoreError::Refused {
                code: rules::RefusalCode::DecisionInvalid.as_str().to_string(),
                detail:
                    "exempted on a pledge: a penalty only after the deadline passes uncorrected"
                        .into(),
            });
        }
        let tier = req
            .tier
            .clone()
            .unwrap_or_else(|| current.violation.tier.clone());
        let catalogue = self.case_catalogue(&current)?;
        if req.amount_yuan < 0 {
            return Err(CoreError::invalid("amount_yuan", "must not be negative"));
        }
        if let Some(c) = req.construction_cost_yuan
            && c <= 0
        {
            return Err(CoreError::invalid(
                "construction_cost_yuan",
                "must be positive",
            ));
        }
        let mut fields = Map::new();
        fields.insert("tier".into(), json!(tier));
        fields.insert("amount_yuan".into(), json!(req.amount_yuan));
        fields.insert(
            "reason".into(),
            json!(
                req.reason
                    .clone()
                    .unwrap_or_else(|| "within the discretion benchmark".into())
            ),
        );
        let action = self.build_action(
            &NewAction {
                method: Method::Penalty,
                at_ms: req.at_ms,
                by: req.by.clone(),
                note: None,
                fields,
            },
            &catalogue,
        )?;
        let mut decision = Decision {
            id: ids::new_id(),
            decided_at_ms: req.at_ms,
            decided_by: req.by,
            tier,
            party_type: party.party_type,
            penalty: req.penalty,
            procedure: Some(req.procedure),
            amount_yuan: req.amount_yuan,
            construction_cost_yuan: req.construction_cost_yuan,
            hearing_right: false,
            reason: req.reason,
            within_range: false,
            review_required: false,
            review_reasons: vec![],
            catalogue_version: catalogue.version().to_string(),
            action_id: action.id.clone(),
            review: None,
            signature: None,
            signed_by_device: None,
        };
        // The law's checks, made here whether or not the phone is enrolled: the same
        // functions the server runs on the merged case.
        let mut draft = current.clone();
        draft.actions.push(action.clone());
        let assessed = if self.local_rules_on() {
            Some(
                rules::check_decision_draft(&draft, &decision, &catalogue)
                    .map_err(CoreError::from)?,
            )
        } else {
            // A test playing a client that is not ours writes the decision whatever its
            // procedure, with the flags the catalogue gives where it gives any.
            rules::assess_decision_draft(&draft, &decision, &catalogue).ok()
        };
        if let Some(a) = assessed {
            decision.within_range = a.within_range;
            decision.review_required = a.review_required;
            decision.review_reasons = a.review_reasons;
            decision.hearing_right = a.hearing_right;
        }
        let decision = self.sign_decision(&current, decision)?;
        self.write_doc(case_id, "decide penalty", |doc, current| {
            open_case(current, case_id)?;
            put_root(doc, "decision", &decision)?;
            append(doc, "actions", &action)
        })?;
        Ok(decision)
    }

    /// Records a step of the penalty procedure (立案, 调查取证, 事先告知, 陈述申辩, 听证,
    /// 负责人批准, 送达, 执行); returns its id. Refused (`procedure_invalid`) out of order, and
    /// (`penalty_unlawful`) for a notice proposing what the law does not allow.
    pub fn record_step(&self, case_id: &str, input: StepInput) -> Result<String> {
        check_person("by", &input.by)?;
        self.check_enrolled_author("steps.by", &input.by)?;
        check_time("at_ms", input.at_ms)?;
        for o in &input.officers {
            check_person("officers", o)?;
        }
        if let Some(n) = &input.note {
            check_text("note", n, 4000)?;
        }
        if let Some(p) = &input.proposed
            && p.amount_yuan < 0
        {
            return Err(CoreError::invalid(
                "proposed.amount_yuan",
                "must not be negative",
            ));
        }
        let current = self.current_case(case_id)?;
        if current.is_closed() {
            return Err(CoreError::CaseClosed {
                case_id: case_id.into(),
            });
        }
        let decision_id = match input.step {
            StepKind::Approval | StepKind::Service | StepKind::Execution => Some(
                input
                    .decision_id
                    .clone()
                    .or_else(|| current.decision.as_ref().map(|d| d.id.clone()))
                    .ok_or_else(|| {
                        CoreError::not_allowed("no_decision", "the case has no decision")
                    })?,
            ),
            _ => None,
        };
        let step = ProcedureStep {
            id: ids::new_id(),
            step: input.step,
            at_ms: input.at_ms,
            by: input.by,
            officers: input.officers,
            evidence_ids: input.evidence_ids,
            note: input.note,
            decision_id,
            proposed: input.proposed,
            hearing_right_notified: input.hearing_right_notified,
        };
        let catalogue = self.case_catalogue(&current)?;
        let mut draft = current;
        draft.steps.push(step.clone());
        if let Err(r) = rules::check_step_draft(&draft, &step.id, &catalogue)
            && self.local_rules_on()
        {
            return Err(r.into());
        }
        let id = step.id.clone();
        self.write_doc(case_id, "record procedure step", |doc, current| {
            open_case(current, case_id)?;
            append(doc, "steps", &step)
        })?;
        Ok(id)
    }

    /// Writes a legal review of the case's decision from a reviewer's phone (重大执法决定法制审核):
    /// the outcome, an opinion and the checklist, signed with this device's key over the
    /// decision's own signature. The server accepts it only from a reviewer whose unit covers
    /// the case, and re-checks every rule ([`crate::rules::check_record`]).
    pub fn review_decision(
        &self,
        case_id: &str,
        decision_id: &str,
        review: ReviewInput,
    ) -> Result<Review> {
        check_person("reviewer", &review.reviewer)?;
        check_text("opinion", &review.opinion, crate::rules::MAX_OPINION_CHARS)?;
        if let Some(p) = review.checklist.problem(review.outcome) {
            return Err(CoreError::invalid("checklist", p));
        }
        let current = self.current_case(case_id)?;
        if current.is_closed() {
            return Err(CoreError::CaseClosed {
                case_id: case_id.into(),
            });
        }
        let Some(decision) = current.decision.as_ref().filter(|d| d.id == decision_id) else {
            return Err(CoreError::not_allowed(
                "decision_replaced",
                "the decision was replaced; review the current one",
            ));
        };
        if !decision.review_required {
            return Err(CoreError::not_allowed(
                "review_not_required",
                "this decision needs no legal review",
            ));
        }
        if decision.review.is_some() {
            return Err(CoreError::not_allowed(
                "already_reviewed",
                "the decision was already reviewed",
            ));
        }
        if decision.decided_by == review.reviewer {
            return Err(CoreError::not_allowed(
                "own_decision",
                "a reviewer may not review their own decision",
            ));
        }
        let signer = self.signer()?;
        let signed = crate::evidence::records::sign_review(
            signer.as_ref(),
            case_id,
            decision,
            Review {
                outcome: review.outcome,
                reviewer: review.reviewer,
                opinion: review.opinion.trim().to_string(),
                at_ms: review.at_ms,
                checklist: Some(review.checklist),
                decision_signature: None,
                signature: None,
                signed_by_key: None,
                via: Some("device".into()),
            },
        )?;
        self.write_doc(case_id, "legal review", |doc, current| {
            let case = open_case(current, case_id)?;
            if case.decision.as_ref().map(|d| &d.id) != Some(&decision.id)
                || case.decision.as_ref().is_some_and(|d| d.review.is_some())
            {
                return Err(CoreError::not_allowed(
                    "changed_review_again",
                    "the case changed; review again",
                ));
            }
            let obj = match automerge::ReadDoc::get(doc, automerge::ROOT, "decision") {
                Ok(Some((automerge::Value::Object(_), id))) => id,
                _ => {
                    return Err(CoreError::not_allowed(
                        "no_decision",
                        "the case has no decision",
                    ));
                }
            };
            put(doc, &obj, "review", &doc::to_json(&signed)?)
        })?;
        Ok(signed)
    }
}
