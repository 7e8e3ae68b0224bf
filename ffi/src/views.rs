//! What an app reads: views of records and lists, converted from core's records. A view holds
//! what a screen needs and never a party's personal data (only masked forms).

use crate::FieldcaseError;
use crate::enums::{
    ActionMethod, CaseStatus, ExemptionKind, FieldType, LifecycleKind, MeasureCategory, PartyType,
    PenaltyKind, Procedure, ReviewOutcome, StepKind,
};
use crate::fields::{self, ActionField};
use crate::inputs::Place;
use fieldcase_core::{catalogue as cat, model, rules, store};

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
    /// The visit, once made.
    pub result: Option<FollowUpResultView>,
}

impl From<model::FollowUp> for FollowUpView {
    fn from(f: model::FollowUp) -> Self {
        FollowUpView {
            id: f.id,
            due_ms: f.due_ms,
            scheduled_by: f.scheduled_by,
            scheduled_at_ms: f.scheduled_at_ms,
            purpose: f.purpose,
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

/// A case as lists show it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseSummary {
    /// Case id.
    pub id: String,
    /// Unit path.
    pub unit: String,
    /// Where it stands.
    pub status: CaseStatus,
    /// Violation code.
    pub violation_code: String,
    /// Tier.
    pub tier: String,
    /// The party, if identified.
    pub party_id: Option<String>,
    /// When it happened.
    pub occurred_at_ms: i64,
    /// Local day (UTC+8), `YYYY-MM-DD`.
    pub day: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Exemption kind, if exempted.
    pub exemption_kind: Option<ExemptionKind>,
    /// Running correction deadline.
    pub correction_deadline_ms: Option<i64>,
    /// Flagged as an exemption conflict.
    pub exemption_conflict: bool,
    /// Number of actions.
    pub action_count: i64,
    /// Number of evidence entries.
    pub evidence_count: i64,
}

impl TryFrom<store::CaseSummary> for CaseSummary {
    type Error = FieldcaseError;
    fn try_from(s: store::CaseSummary) -> Result<Self, FieldcaseError> {
        let status = CaseStatus::parse(&s.status).ok_or_else(|| FieldcaseError::Internal {
            reason: format!("case list holds an unknown status {:?}", s.status),
        })?;
        let exemption_kind = match s.exemption_kind.as_deref() {
            None => None,
            Some("first_offence") => Some(ExemptionKind::FirstOffence),
            Some("minor_no_penalty") => Some(ExemptionKind::MinorNoPenalty),
            Some(other) => {
                return Err(FieldcaseError::Internal {
                    reason: format!("case list holds an unknown exemption kind {other:?}"),
                });
            }
        };
        Ok(CaseSummary {
            id: s.id,
            unit: s.unit,
            status,
            violation_code: s.violation_code,
            tier: s.tier,
            party_id: s.party_id,
            occurred_at_ms: s.occurred_at_ms,
            day: s.day,
            lat: s.lat,
            lon: s.lon,
            exemption_kind,
            correction_deadline_ms: s.correction_deadline_ms,
            exemption_conflict: s.exemption_conflict,
            action_count: s.action_count,
            evidence_count: s.evidence_count,
        })
    }
}

/// Converts a core list of summaries.
pub(crate) fn summaries(v: Vec<store::CaseSummary>) -> Result<Vec<CaseSummary>, FieldcaseError> {
    v.into_iter().map(TryInto::try_into).collect()
}

/// A follow-up that is due.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DueFollowUp {
    /// The case.
    pub case_id: String,
    /// The follow-up.
    pub follow_up_id: String,
    /// When due.
    pub due_ms: i64,
    /// Unit of the case.
    pub unit: String,
    /// Already past due at the time asked.
    pub overdue: bool,
}

impl From<store::DueFollowUp> for DueFollowUp {
    fn from(d: store::DueFollowUp) -> Self {
        DueFollowUp {
            case_id: d.case_id,
            follow_up_id: d.follow_up_id,
            due_ms: d.due_ms,
            unit: d.unit,
            overdue: d.overdue,
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
    /// Explanation a UI can show.
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
                    code: c.code,
                    met: c.met,
                    detail: c.detail,
                })
                .collect(),
            first_offence: e.first_offence.into(),
        }
    }
}

/// A party as the app may show it: masked forms only.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PartyView {
    /// Party id.
    pub id: String,
    /// Person or unit.
    pub party_type: PartyType,
    /// Unit that registered the party.
    pub unit: String,
    /// When registered.
    pub created_at_ms: i64,
    /// By whom.
    pub created_by: String,
    /// e.g. 张**
    pub masked_name: String,
    /// Stars only, one per character (nothing of the number is kept)
    pub masked_id_number: String,
    /// e.g. 138****5678
    pub masked_phone: Option<String>,
}

impl From<model::PartyRecord> for PartyView {
    fn from(p: model::PartyRecord) -> Self {
        PartyView {
            id: p.id,
            party_type: p.party_type.into(),
            unit: p.unit,
            created_at_ms: p.created_at_ms,
            created_by: p.created_by,
            masked_name: p.masked.name,
            masked_id_number: p.masked.id_number,
            masked_phone: p.masked.phone,
        }
    }
}

/// A persuasion demonstration.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DemonstrationView {
    /// Demonstration id.
    pub id: String,
    /// Unit path.
    pub unit: String,
    /// Team.
    pub team: String,
    /// Participants.
    pub participants: Vec<String>,
    /// Where.
    pub place: Place,
    /// Start.
    pub started_at_ms: i64,
    /// End.
    pub ended_at_ms: i64,
    /// Topic.
    pub topic: String,
    /// People persuaded.
    pub people_persuaded: i64,
    /// Free text.
    pub note: Option<String>,
    /// Who recorded it.
    pub created_by: String,
    /// When.
    pub created_at_ms: i64,
    /// Number of photos.
    pub evidence_count: u32,
}

impl From<model::DemonstrationRecord> for DemonstrationView {
    fn from(d: model::DemonstrationRecord) -> Self {
        DemonstrationView {
            evidence_count: u32::try_from(d.evidence.len()).unwrap_or(u32::MAX),
            id: d.id,
            unit: d.unit,
            team: d.team,
            participants: d.participants,
            place: d.place.into(),
            started_at_ms: d.started_at_ms,
            ended_at_ms: d.ended_at_ms,
            topic: d.topic,
            people_persuaded: d.people_persuaded,
            note: d.note,
            created_by: d.created_by,
            created_at_ms: d.created_at_ms,
        }
    }
}

/// What merging a bundle did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportReport {
    /// Records that gained changes.
    pub changed: Vec<String>,
    /// Records that were already up to date.
    pub unchanged: u64,
}

impl From<store::ImportReport> for ImportReport {
    fn from(r: store::ImportReport) -> Self {
        ImportReport {
            changed: r.changed,
            unchanged: u64::try_from(r.unchanged).unwrap_or(u64::MAX),
        }
    }
}

/// A text in both languages of the user interface.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Label {
    /// Simplified Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

impl From<&cat::Label> for Label {
    fn from(l: &cat::Label) -> Self {
        Label {
            zh: l.zh.clone(),
            en: l.en.clone(),
        }
    }
}

/// A violation item of the catalogue, for pickers.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ViolationItem {
    /// Stable code, e.g. CG-ST-001.
    pub code: String,
    /// Name.
    pub name: Label,
    /// Exemptions the item allows (empty: none).
    pub exemption_kinds: Vec<ExemptionKind>,
    /// Tiers that may be exempted.
    pub exempt_tiers: Vec<String>,
    /// Default correction deadline in hours (0: on the spot).
    pub default_correction_hours: i64,
    /// Discretion tiers.
    pub tiers: Vec<TierView>,
    /// Party types it applies to.
    pub applies_to: Vec<PartyType>,
    /// The penalties its law prescribes (empty: service methods only).
    pub penalty_kinds: Vec<PenaltyKind>,
    /// The law fines only after an order to correct expired uncorrected.
    pub correction_order_first: bool,
    /// Not a violation: a service record (行政指导 where nothing unlawful was found); only
    /// service measures may be recorded on it.
    pub service_only: bool,
    /// Its legal basis as `law title + article`, with whether each was confirmed.
    pub legal_basis: Vec<BasisView>,
}

/// One article an item rests on.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BasisView {
    /// The law's id.
    pub law: String,
    /// The article, if known.
    pub article: Option<String>,
    /// prohibition, penalty, correction_order, exemption or procedure.
    pub role: String,
    /// Whether it was read in a public text; an unconfirmed basis must be shown as such.
    pub confirmed: bool,
}

/// A discretion benchmark row.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TierView {
    /// Tier id.
    pub tier: String,
    /// Who the row applies to.
    pub party_type: PartyType,
    /// warning or fine.
    pub penalty: PenaltyKind,
    /// Lowest fine, whole yuan (absent for a share of the construction cost).
    pub min_yuan: Option<i64>,
    /// Highest fine, whole yuan.
    pub max_yuan: Option<i64>,
    /// When the tier applies.
    pub conditions: Label,
}

impl From<&cat::Item> for ViolationItem {
    fn from(i: &cat::Item) -> Self {
        ViolationItem {
            code: i.code.clone(),
            name: (&i.name).into(),
            exemption_kinds: i.exemption.kinds.iter().map(|k| k.kind.into()).collect(),
            penalty_kinds: i.penalties.kinds.iter().map(|k| (*k).into()).collect(),
            correction_order_first: i.penalties.correction_order_first,
            service_only: i.service_only,
            legal_basis: i
                .legal_basis
                .iter()
                .map(|b| BasisView {
                    law: b.law.clone(),
                    article: b.article.clone(),
                    role: b.role.clone(),
                    confirmed: b.confirmed,
                })
                .collect(),
            exempt_tiers: i.exemption.exempt_tiers.clone(),
            default_correction_hours: i.default_correction_hours,
            tiers: i
                .tiers
                .iter()
                .map(|t| TierView {
                    tier: t.tier.clone(),
                    party_type: t.party_type.into(),
                    penalty: t.penalty.into(),
                    min_yuan: t.min_yuan,
                    max_yuan: t.max_yuan,
                    conditions: (&t.conditions).into(),
                })
                .collect(),
            applies_to: i.applies_to.iter().map(|p| (*p).into()).collect(),
        }
    }
}

/// A method's catalogue entry: its 721 class and the fields its actions take, so forms can be
/// built from data.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MethodSpec {
    /// The method.
    pub method: ActionMethod,
    /// Its name.
    pub name: Label,
    /// Its 721 class.
    pub measure_category: MeasureCategory,
    /// Its fields.
    pub fields: Vec<FieldSpec>,
}

/// One field of a method.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldSpec {
    /// Name to use in [`ActionField::name`].
    pub name: String,
    /// Type, telling which `FieldValue` to send.
    pub field_type: FieldType,
    /// Whether an action must carry it.
    pub required: bool,
    /// Label.
    pub label: Label,
    /// Allowed values of an enum field.
    pub values: Vec<String>,
}

impl From<&cat::MethodSpec> for MethodSpec {
    fn from(m: &cat::MethodSpec) -> Self {
        MethodSpec {
            method: m.method.into(),
            name: (&m.name).into(),
            measure_category: m.measure_category.into(),
            fields: m
                .fields
                .iter()
                .map(|f| FieldSpec {
                    name: f.name.clone(),
                    field_type: f.field_type.into(),
                    required: f.required,
                    label: (&f.label).into(),
                    values: f.values.clone(),
                })
                .collect(),
        }
    }
}

/// A party's personal data, for a screen that must show it (a decision to print, a pledge to
/// sign). Only on phones entitled to the bureau's personal-data key; never log it (`Debug`
/// hides it, but the generated Kotlin and Swift types print their fields).
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct PartyDetails {
    /// Full name or business name.
    pub name: String,
    /// Identity number or unified social credit code.
    pub id_number: String,
    /// Phone number.
    pub phone: Option<String>,
    /// Address.
    pub address: Option<String>,
}

impl std::fmt::Debug for PartyDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartyDetails { <personal data> }")
    }
}

impl From<model::PartyPii> for PartyDetails {
    fn from(p: model::PartyPii) -> Self {
        PartyDetails {
            name: p.name,
            id_number: p.id_number,
            phone: p.phone,
            address: p.address,
        }
    }
}
