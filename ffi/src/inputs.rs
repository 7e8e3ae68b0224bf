//! What an app sends: the inputs of each operation, as records with native field types.
//! Each converts into its core twin field by field; core does every check.
//!
//! Times are unix milliseconds (`Long` in Kotlin, `Int64` in Swift). Optional fields default
//! to absent, so apps name only what they have.

use crate::FieldcaseError;
use crate::enums::{ActionMethod, IdDocument, PartyType, PenaltyKind, Procedure, StepKind};
use crate::fields::{self, ActionField};
use fieldcase_core::{model, store};

/// Where something happened (WGS-84).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Place {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Horizontal accuracy in metres, if the platform gave one.
    #[uniffi(default = None)]
    pub accuracy_m: Option<f64>,
    /// Street address as written or as the map gave it.
    #[uniffi(default = None)]
    pub address: Option<String>,
}

impl From<Place> for model::Place {
    fn from(p: Place) -> Self {
        model::Place {
            lat: p.lat,
            lon: p.lon,
            accuracy_m: p.accuracy_m,
            address: p.address,
        }
    }
}

impl From<model::Place> for Place {
    fn from(p: model::Place) -> Self {
        Place {
            lat: p.lat,
            lon: p.lon,
            accuracy_m: p.accuracy_m,
            address: p.address,
        }
    }
}

/// An action of one of the methods, recorded with a new case or appended to one.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NewAction {
    /// The method (penalty and follow-up have their own operations).
    pub method: ActionMethod,
    /// When.
    pub at_ms: i64,
    /// Officer or volunteer number.
    pub by: String,
    /// The method's fields, as its catalogue spec lists them (`method_specs`).
    #[uniffi(default)]
    pub fields: Vec<ActionField>,
    /// Free text.
    #[uniffi(default = None)]
    pub note: Option<String>,
}

impl TryFrom<NewAction> for store::NewAction {
    type Error = FieldcaseError;
    fn try_from(a: NewAction) -> Result<Self, FieldcaseError> {
        Ok(store::NewAction {
            method: a.method.into(),
            at_ms: a.at_ms,
            by: a.by,
            note: a.note,
            fields: fields::to_json(a.fields)?,
        })
    }
}

/// A case to record: one street encounter, with the actions taken on the spot.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NewCase {
    /// Unit path of the recording officer, e.g. `luan/jinan/squad-1`.
    pub unit: String,
    /// When it happened.
    pub occurred_at_ms: i64,
    /// Where.
    pub place: Place,
    /// Officer numbers present (at least one).
    pub officers: Vec<String>,
    /// Officer recording it.
    pub recorded_by: String,
    /// Catalogue code of the violation.
    pub violation_code: String,
    /// Circumstance tier (a tier of the item in the catalogue).
    pub tier: String,
    /// The party, if identified (see `register_party`).
    #[uniffi(default = None)]
    pub party_id: Option<String>,
    /// What the officer saw.
    #[uniffi(default = None)]
    pub description: Option<String>,
    /// Actions taken on the spot, written with the case in one step.
    #[uniffi(default)]
    pub actions: Vec<NewAction>,
    /// A minor is involved (never disclosed).
    #[uniffi(default = false)]
    pub involves_minor: bool,
    /// Privacy or secrets are involved (never disclosed).
    #[uniffi(default = false)]
    pub privacy_protected: bool,
}

impl TryFrom<NewCase> for store::NewCase {
    type Error = FieldcaseError;
    fn try_from(c: NewCase) -> Result<Self, FieldcaseError> {
        Ok(store::NewCase {
            unit: c.unit,
            occurred_at_ms: c.occurred_at_ms,
            place: c.place.into(),
            officers: c.officers,
            recorded_by: c.recorded_by,
            party_id: c.party_id,
            violation_code: c.violation_code,
            tier: c.tier,
            description: c.description,
            actions: c
                .actions
                .into_iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
            involves_minor: c.involves_minor,
            privacy_protected: c.privacy_protected,
        })
    }
}

/// A person or business to register (行政相对人). Holds personal data: do not log it.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct NewParty {
    /// Person or unit.
    pub party_type: PartyType,
    /// Registering unit.
    pub unit: String,
    /// Officer registering.
    pub by: String,
    /// Full name or business name.
    pub name: String,
    /// The document's number: an identity number, a unified social credit code, or the
    /// number of the document `id_document` names.
    pub id_number: String,
    /// Phone: a mainland mobile or landline (`+86`, spaces and hyphens allowed, extension
    /// after `转`); an international one only with a non-mainland `id_document`. Blank is
    /// the same as none.
    #[uniffi(default = None)]
    pub phone: Option<String>,
    /// Address.
    #[uniffi(default = None)]
    pub address: Option<String>,
    /// The document the number comes from; by party type when absent (`MainlandId` for a
    /// person, `CreditCode` for a unit).
    #[uniffi(default = None)]
    pub id_document: Option<IdDocument>,
}

impl std::fmt::Debug for NewParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewParty")
            .field("party_type", &self.party_type)
            .field("unit", &self.unit)
            .field("id_document", &self.id_document)
            .finish_non_exhaustive()
    }
}

impl From<NewParty> for store::NewParty {
    fn from(p: NewParty) -> Self {
        store::NewParty {
            party_type: p.party_type.into(),
            unit: p.unit,
            by: p.by,
            name: p.name,
            id_number: p.id_number,
            id_document: p.id_document.map(Into::into),
            phone: p.phone,
            address: p.address,
        }
    }
}

/// The pledge to correct that the party signs (告知承诺).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PledgeInput {
    /// The text signed.
    pub text: String,
    /// When signed.
    pub signed_at_ms: i64,
    /// Deadline to correct; the item's default correction time when absent.
    #[uniffi(default = None)]
    pub deadline_ms: Option<i64>,
    /// Evidence entry of the signature image.
    #[uniffi(default = None)]
    pub signature_evidence_id: Option<String>,
}

impl From<PledgeInput> for store::PledgeInput {
    fn from(p: PledgeInput) -> Self {
        store::PledgeInput {
            text: p.text,
            signature_evidence_id: p.signature_evidence_id,
            deadline_ms: p.deadline_ms,
            signed_at_ms: p.signed_at_ms,
        }
    }
}

/// An exemption from penalty to grant, with the officer's judgement and the pledge.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ExemptionRequest {
    /// Officer deciding.
    pub by: String,
    /// When.
    pub at_ms: i64,
    /// The violation is minor.
    pub minor: bool,
    /// No harmful consequence.
    pub no_harm: bool,
    /// The signed pledge.
    #[uniffi(default = None)]
    pub pledge: Option<PledgeInput>,
}

impl From<ExemptionRequest> for store::ExemptionRequest {
    fn from(r: ExemptionRequest) -> Self {
        store::ExemptionRequest {
            by: r.by,
            at_ms: r.at_ms,
            minor: r.minor,
            no_harm: r.no_harm,
            pledge: r.pledge.map(Into::into),
        }
    }
}

/// A penalty decision to make (checked against the discretion benchmark).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PenaltyRequest {
    /// Officer deciding.
    pub by: String,
    /// When.
    pub at_ms: i64,
    /// Fine in whole yuan.
    pub amount_yuan: i64,
    /// Tier; the case's tier when absent.
    #[uniffi(default = None)]
    pub tier: Option<String>,
    /// Written reason (required outside the tier's range).
    #[uniffi(default = None)]
    pub reason: Option<String>,
    /// Which penalty.
    pub penalty: PenaltyKind,
    /// The procedure followed.
    pub procedure: Procedure,
    /// The construction cost, for fines set as its share.
    #[uniffi(default = None)]
    pub construction_cost_yuan: Option<i64>,
}

impl From<PenaltyRequest> for store::PenaltyRequest {
    fn from(r: PenaltyRequest) -> Self {
        store::PenaltyRequest {
            by: r.by,
            at_ms: r.at_ms,
            tier: r.tier,
            amount_yuan: r.amount_yuan,
            reason: r.reason,
            penalty: r.penalty.into(),
            procedure: r.procedure.into(),
            construction_cost_yuan: r.construction_cost_yuan,
        }
    }
}

/// A step of the penalty procedure to record.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StepInput {
    /// Which step.
    pub step: StepKind,
    /// When.
    pub at_ms: i64,
    /// Who records it (the enrolled user).
    pub by: String,
    /// Officers who took part (an investigation needs two).
    #[uniffi(default = [])]
    pub officers: Vec<String>,
    /// Evidence entries of the step.
    #[uniffi(default = [])]
    pub evidence_ids: Vec<String>,
    /// Free text.
    #[uniffi(default = None)]
    pub note: Option<String>,
    /// The decision an approval, service or execution belongs to (the case's when absent).
    #[uniffi(default = None)]
    pub decision_id: Option<String>,
    /// A prior notice's proposed penalty.
    #[uniffi(default = None)]
    pub proposed_penalty: Option<PenaltyKind>,
    /// A prior notice's proposed amount.
    #[uniffi(default = None)]
    pub proposed_amount_yuan: Option<i64>,
    /// A prior notice tells the party of a hearing right.
    #[uniffi(default = false)]
    pub hearing_right_notified: bool,
}

impl From<StepInput> for store::StepInput {
    fn from(s: StepInput) -> Self {
        store::StepInput {
            step: s.step.into(),
            at_ms: s.at_ms,
            by: s.by,
            officers: s.officers,
            evidence_ids: s.evidence_ids,
            note: s.note,
            decision_id: s.decision_id,
            proposed: s
                .proposed_penalty
                .map(|p| fieldcase_core::model::ProposedPenalty {
                    penalty: p.into(),
                    amount_yuan: s.proposed_amount_yuan.unwrap_or(0),
                }),
            hearing_right_notified: s.hearing_right_notified,
        }
    }
}

/// What a follow-up visit found.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FollowUpInput {
    /// When visited.
    pub at_ms: i64,
    /// By whom.
    pub by: String,
    /// Whether the party corrected.
    pub corrected: bool,
    /// The party's opinion.
    #[uniffi(default = None)]
    pub opinion: Option<String>,
    /// `satisfied`, `neutral` or `dissatisfied` (catalogue values of `follow_up.satisfaction`).
    #[uniffi(default = None)]
    pub satisfaction: Option<String>,
}

impl From<FollowUpInput> for store::FollowUpInput {
    fn from(f: FollowUpInput) -> Self {
        store::FollowUpInput {
            at_ms: f.at_ms,
            by: f.by,
            corrected: f.corrected,
            opinion: f.opinion,
            satisfaction: f.satisfaction,
        }
    }
}

/// One point of the legal review checklist: passed, or not with a note saying why.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CheckPoint {
    /// Whether the point passed.
    pub passed: bool,
    /// Why it did not pass (required then).
    #[uniffi(default = None)]
    pub note: Option<String>,
}

impl From<CheckPoint> for fieldcase_core::model::CheckPoint {
    fn from(p: CheckPoint) -> Self {
        fieldcase_core::model::CheckPoint {
            passed: p.passed,
            note: p.note,
        }
    }
}

/// A legal review written on a reviewer's phone (重大执法决定法制审核): every checklist point
/// passed for an approval; at least one not passed, each with a note, for a return.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReviewInput {
    /// The reviewer's user id (the enrolled user).
    pub reviewer: String,
    /// Approved or returned.
    pub outcome: crate::enums::ReviewOutcome,
    /// The opinion (required).
    pub opinion: String,
    /// When.
    pub at_ms: i64,
    /// 主体: the enforcing body has the power and the officers are qualified.
    pub subject: CheckPoint,
    /// 事实: the facts are clear.
    pub facts: CheckPoint,
    /// 证据: the evidence is sufficient and lawfully obtained.
    pub evidence: CheckPoint,
    /// 依据: the legal basis applied is correct.
    pub basis: CheckPoint,
    /// 裁量: the discretion is appropriate.
    pub discretion: CheckPoint,
    /// 程序: the procedure was lawful.
    pub procedure: CheckPoint,
}

impl From<ReviewInput> for store::ReviewInput {
    fn from(r: ReviewInput) -> Self {
        store::ReviewInput {
            reviewer: r.reviewer,
            outcome: r.outcome.into(),
            opinion: r.opinion,
            at_ms: r.at_ms,
            checklist: fieldcase_core::model::ReviewChecklist {
                subject: r.subject.into(),
                facts: r.facts.into(),
                evidence: r.evidence.into(),
                basis: r.basis.into(),
                discretion: r.discretion.into(),
                procedure: r.procedure.into(),
            },
        }
    }
}

/// A persuasion demonstration (劝导示范) by volunteers or officers; no personal data.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NewDemonstration {
    /// Unit path.
    pub unit: String,
    /// Team name.
    pub team: String,
    /// Volunteer or officer numbers taking part.
    pub participants: Vec<String>,
    /// Where.
    pub place: Place,
    /// Start.
    pub started_at_ms: i64,
    /// End.
    pub ended_at_ms: i64,
    /// Topic, e.g. 门前三包.
    pub topic: String,
    /// How many people were persuaded.
    pub people_persuaded: i64,
    /// Who records it.
    pub by: String,
    /// Free text.
    #[uniffi(default = None)]
    pub note: Option<String>,
}

impl From<NewDemonstration> for store::NewDemonstration {
    fn from(d: NewDemonstration) -> Self {
        store::NewDemonstration {
            unit: d.unit,
            team: d.team,
            participants: d.participants,
            place: d.place.into(),
            started_at_ms: d.started_at_ms,
            ended_at_ms: d.ended_at_ms,
            topic: d.topic,
            people_persuaded: d.people_persuaded,
            note: d.note,
            by: d.by,
        }
    }
}
