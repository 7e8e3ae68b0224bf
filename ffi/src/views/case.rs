//! Views of a case and of what is recorded on it: steps, deadlines, actions, follow-ups,
//! decisions, reviews, notes and lifecycle events.

use super::exemption::ExemptionView;
use crate::enums::{
    ActionMethod, CaseStatus, LifecycleKind, MeasureCategory, PartyType, PenaltyKind, Procedure,
    ReviewOutcome, StepKind,
};
use crate::fields::{self, ActionField};
use crate::inputs::Place;
use fieldcase_core::model;

/// A case with everything recorded on it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseView {
    /// Case id (UUIDv7).
    pub id: String,
    /// Unit path.
    pub unit: String,
    /// Where it stands.
    pub status: CaseStatus,
    /// When it happened.
    pub occurred_at_ms: i64,
    /// When recorded (device clock).
    pub created_at_ms: i64,
    /// Officer who recorded it.
    pub created_by: String,
    /// Device it was recorded on.
    pub created_on_device: String,
    /// Where.
    pub place: Place,
    /// Officers present.
    pub officers: Vec<String>,
    /// The party, if identified (see `get_party` for its masked data).
    pub party_id: Option<String>,
    /// Person or unit, if identified.
    pub party_type: Option<PartyType>,
    /// Catalogue code.
    pub violation_code: String,
    /// Circumstance tier.
    pub tier: String,
    /// Catalogue version the code was taken from.
    pub catalogue_version: String,
    /// What the officer saw.
    pub description: Option<String>,
    /// Every action, in order of recording.
    pub actions: Vec<ActionView>,
    /// The exemption, if granted.
    pub exemption: Option<ExemptionView>,
    /// The deadline the party must correct by, if one is running.
    pub correction_deadline_ms: Option<i64>,
    /// Follow-ups, scheduled and made.
    pub follow_ups: Vec<FollowUpView>,
    /// The penalty decision, if any.
    pub decision: Option<DecisionView>,
    /// Notes.
    pub notes: Vec<NoteView>,
    /// Close and reopen events.
    pub lifecycle: Vec<LifecycleEventView>,
    /// Steps of the penalty procedure, in order.
    pub steps: Vec<StepView>,
    /// Number of evidence entries (photos, audio, signatures).
    pub evidence_count: u32,
    /// Another first-offence exemption of the same party and violation exists in the window.
    pub exemption_conflict: bool,
    /// The cases it conflicts with.
    pub conflict_with: Vec<String>,
    /// A minor is involved.
    pub involves_minor: bool,
    /// Privacy or secrets are involved.
    pub privacy_protected: bool,
}

impl From<model::CaseRecord> for CaseView {
    fn from(c: model::CaseRecord) -> Self {
        CaseView {
            status: c.status().into(),
            correction_deadline_ms: c.correction_deadline_ms(),
            id: c.id,
            unit: c.unit,
            occurred_at_ms: c.occurred_at_ms,
            created_at_ms: c.created_at_ms,
            created_by: c.created_by,
            created_on_device: c.created_on_device,
            place: c.place.into(),
            officers: c.officers,
            party_id: c.party.as_ref().map(|p| p.party_id.clone()),
            party_type: c.party.as_ref().map(|p| p.party_type.into()),
            violation_code: c.violation.code,
            tier: c.violation.tier,
            catalogue_version: c.violation.catalogue_version,
            description: c.violation.description,
            actions: c.actions.into_iter().map(Into::into).collect(),
            exemption: c.exemption.map(Into::into),
            follow_ups: c.follow_ups.into_iter().map(Into::into).collect(),
            decision: c.decision.map(Into::into),
            notes: c.notes.into_iter().map(Into::into).collect(),
            lifecycle: c.lifecycle.into_iter().map(Into::into).collect(),
            steps: c.steps.into_iter().map(Into::into).collect(),
            evidence_count: u32::try_from(c.evidence.len()).unwrap_or(u32::MAX),
            exemption_conflict: c.flags.exemption_conflict,
            conflict_with: c.flags.conflict_with,
            involves_minor: c.involves_minor,
            privacy_protected: c.privacy_protected,
        }
    }
}

/// One recorded step of the penalty procedure.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StepView {
    /// Step id.
    pub id: String,
    /// Which step.
    pub step: StepKind,
    /// When.
    pub at_ms: i64,
    /// Who recorded it.
    pub by: String,
    /// Officers who took part.
    pub officers: Vec<String>,
    /// Evidence entries.
    pub evidence_ids: Vec<String>,
    /// Free text.
    pub note: Option<String>,
    /// The decision it belongs to.
    pub decision_id: Option<String>,
    /// A prior notice's proposed penalty and amount.
    pub proposed_penalty: Option<PenaltyKind>,
    /// A prior notice's proposed amount.
    pub proposed_amount_yuan: Option<i64>,
    /// A prior notice told of a hearing right.
    pub hearing_right_notified: bool,
}

impl From<model::ProcedureStep> for StepView {
    fn from(s: model::ProcedureStep) -> Self {
        StepView {
            id: s.id,
            step: s.step.into(),
            at_ms: s.at_ms,
            by: s.by,
            officers: s.officers,
            evidence_ids: s.evidence_ids,
            note: s.note,
            decision_id: s.decision_id,
            proposed_penalty: s.proposed.map(|p| p.penalty.into()),
            proposed_amount_yuan: s.proposed.map(|p| p.amount_yuan),
            hearing_right_notified: s.hearing_right_notified,
        }
    }
}

/// A time limit of the procedure and where it stands.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DeadlineView {
    /// `decision`, `service`, `payment` or `correction`.
    pub what: String,
    /// When it falls due.
    pub due_ms: i64,
    /// When it was met.
    pub met_at_ms: Option<i64>,
    /// Passed unmet, or met late.
    pub overdue: bool,
    /// The article that sets it.
    pub basis: String,
}

impl From<fieldcase_core::rules::Deadline> for DeadlineView {
    fn from(d: fieldcase_core::rules::Deadline) -> Self {
        DeadlineView {
            what: d.what,
            due_ms: d.due_ms,
            met_at_ms: d.met_at_ms,
            overdue: d.overdue,
            basis: d.basis,
        }
    }
}

/// One recorded action.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ActionView {
    /// Action id.
    pub id: String,
    /// The method.
    pub method: ActionMethod,
    /// 721 class at the time of recording.
    pub measure_category: MeasureCategory,
    /// When.
    pub at_ms: i64,
    /// Officer or volunteer number.
    pub by: String,
    /// Free text.
    pub note: Option<String>,
    /// The method's fields.
    pub fields: Vec<ActionField>,
}

impl From<model::Action> for ActionView {
    fn from(a: model::Action) -> Self {
        ActionView {
            fields: fields::from_json(&a.fields),
            id: a.id,
            method: a.method.into(),
            measure_category: a.measure_category.into(),
            at_ms: a.at_ms,
            by: a.by,
            note: a.note,
        }
    }
}

/// A follow-up visit, scheduled and perhaps made.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FollowUpView {
    /// Follow-up id.
    pub id: String,
    /// When due.
    pub due_ms: i64,
    /// Who scheduled it.
    pub scheduled_by: String,
    /// When scheduled.
    pub scheduled_at_ms: i64,
    /// Why.
    pub purpose: Option<String>,
    /// What scheduled it when the record did (a pledge's or an order's deadline); `None` for
    /// a visit scheduled by hand.
    pub source: Option<FollowUpSource>,
    /// The visit, once made.
    pub result: Option<FollowUpResultView>,
}

/// What scheduled a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FollowUpSource {
    /// The deadline of the pledge signed with the exemption.
    Pledge,
    /// The deadline of an order to correct.
    CorrectionOrder,
}

impl From<model::FollowUpSource> for FollowUpSource {
    fn from(s: model::FollowUpSource) -> Self {
        match s {
            model::FollowUpSource::Pledge => FollowUpSource::Pledge,
            model::FollowUpSource::CorrectionOrder => FollowUpSource::CorrectionOrder,
        }
    }
}

impl From<model::FollowUp> for FollowUpView {
    fn from(f: model::FollowUp) -> Self {
        FollowUpView {
            id: f.id,
            due_ms: f.due_ms,
            scheduled_by: f.scheduled_by,
            scheduled_at_ms: f.scheduled_at_ms,
            purpose: f.purpose,
            source: f.source.map(Into::into),
            result: f.result.map(|r| FollowUpResultView {
                at_ms: r.at_ms,
                by: r.by,
                corrected: r.corrected,
                opinion: r.opinion,
                satisfaction: r.satisfaction,
                action_id: r.action_id,
            }),
        }
    }
}

/// What a follow-up visit found.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FollowUpResultView {
    /// When visited.
    pub at_ms: i64,
    /// By whom.
    pub by: String,
    /// Whether corrected.
    pub corrected: bool,
    /// The party's opinion.
    pub opinion: Option<String>,
    /// The party's satisfaction.
    pub satisfaction: Option<String>,
    /// The follow-up action recorded with it.
    pub action_id: String,
}

/// A penalty decision.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DecisionView {
    /// Decision id.
    pub id: String,
    /// When decided.
    pub decided_at_ms: i64,
    /// By whom.
    pub decided_by: String,
    /// Discretion tier applied.
    pub tier: String,
    /// Party type the tier row was taken for.
    pub party_type: PartyType,
    /// Fine in whole yuan.
    pub amount_yuan: i64,
    /// Written reason.
    pub reason: Option<String>,
    /// The amount lies inside the tier's range.
    pub within_range: bool,
    /// Legal review must approve before it takes effect.
    pub review_required: bool,
    /// Why review is required: `major_amount`, `outside_discretion_range`.
    pub review_reasons: Vec<String>,
    /// Through legal review: none needed, or approved. An ordinary-procedure decision is in
    /// effect once the head also approves it (the case's status says `Decided`).
    pub effective: bool,
    /// The legal review, once made.
    pub review: Option<ReviewView>,
    /// Catalogue version applied.
    pub catalogue_version: String,
    /// The penalty action recorded with it.
    pub action_id: String,
    /// Which penalty.
    pub penalty: PenaltyKind,
    /// The procedure followed (absent on records made before procedures existed).
    pub procedure: Option<Procedure>,
    /// The party may ask for a hearing.
    pub hearing_right: bool,
}

impl From<model::Decision> for DecisionView {
    fn from(d: model::Decision) -> Self {
        DecisionView {
            effective: d.is_effective(),
            penalty: d.penalty.into(),
            procedure: d.procedure.map(Into::into),
            hearing_right: d.hearing_right,
            id: d.id,
            decided_at_ms: d.decided_at_ms,
            decided_by: d.decided_by,
            tier: d.tier,
            party_type: d.party_type.into(),
            amount_yuan: d.amount_yuan,
            reason: d.reason,
            within_range: d.within_range,
            review_required: d.review_required,
            review_reasons: d.review_reasons,
            review: d.review.map(|r| ReviewView {
                outcome: r.outcome.into(),
                reviewer: r.reviewer,
                opinion: r.opinion,
                at_ms: r.at_ms,
            }),
            catalogue_version: d.catalogue_version,
            action_id: d.action_id,
        }
    }
}

/// A legal reviewer's opinion.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReviewView {
    /// Approved or returned.
    pub outcome: ReviewOutcome,
    /// Reviewer's user id.
    pub reviewer: String,
    /// The opinion.
    pub opinion: String,
    /// When.
    pub at_ms: i64,
}

/// A note on a case.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NoteView {
    /// Note id.
    pub id: String,
    /// When.
    pub at_ms: i64,
    /// By whom.
    pub by: String,
    /// Text.
    pub text: String,
}

impl From<model::Note> for NoteView {
    fn from(n: model::Note) -> Self {
        NoteView {
            id: n.id,
            at_ms: n.at_ms,
            by: n.by,
            text: n.text,
        }
    }
}

/// A close or reopen event.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LifecycleEventView {
    /// Closed or reopened.
    pub event: LifecycleKind,
    /// When.
    pub at_ms: i64,
    /// By whom.
    pub by: String,
    /// Why.
    pub reason: String,
}

impl From<model::LifecycleEvent> for LifecycleEventView {
    fn from(e: model::LifecycleEvent) -> Self {
        LifecycleEventView {
            event: e.event.into(),
            at_ms: e.at_ms,
            by: e.by,
            reason: e.reason,
        }
    }
}
