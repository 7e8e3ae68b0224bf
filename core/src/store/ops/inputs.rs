//! The inputs of the offline operations, as the app fills them in (and the FFI passes them).

use crate::catalogue::{Method, PartyType, PenaltyKind};
use crate::model::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A case to record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewCase {
    /// Unit path of the recording officer.
    pub unit: String,
    /// When it happened.
    pub occurred_at_ms: i64,
    /// Where.
    pub place: Place,
    /// Officers present (at least one).
    pub officers: Vec<String>,
    /// Officer recording it.
    pub recorded_by: String,
    /// The party, if identified (see [`FieldStore::register_party`]).
    pub party_id: Option<String>,
    /// Catalogue code.
    pub violation_code: String,
    /// Circumstance tier.
    pub tier: String,
    /// What the officer saw.
    pub description: Option<String>,
    /// Actions taken on the spot, recorded with the case in one write.
    pub actions: Vec<NewAction>,
    /// A minor is involved (never disclosed).
    pub involves_minor: bool,
    /// Privacy or secrets are involved (never disclosed).
    pub privacy_protected: bool,
}

/// An action to append.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewAction {
    /// Method (penalty and follow-up have their own operations).
    pub method: Method,
    /// When.
    pub at_ms: i64,
    /// Officer or volunteer number.
    pub by: String,
    /// Free text.
    pub note: Option<String>,
    /// The method's fields.
    pub fields: Map<String, Value>,
}

/// A party to register.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewParty {
    /// Person or unit.
    pub party_type: PartyType,
    /// Registering unit.
    pub unit: String,
    /// Officer registering.
    pub by: String,
    /// Full name or business name.
    pub name: String,
    /// The number of the party's document: an identity number, a unified social credit
    /// code, or the number of the document `id_document` names.
    pub id_number: String,
    /// The document the number comes from; the party type's default (identity card for a
    /// person, credit code for a unit) when `None`. A non-mainland document is the officer's
    /// deliberate choice: its number is checked loosely and its phone may be international.
    #[serde(default)]
    pub id_document: Option<crate::identity::IdDocument>,
    /// Phone (blank is the same as none).
    pub phone: Option<String>,
    /// Address.
    pub address: Option<String>,
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

/// A pledge the party signs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PledgeInput {
    /// The text signed.
    pub text: String,
    /// Evidence entry of the signature image.
    pub signature_evidence_id: Option<String>,
    /// Deadline; the item's default correction time after `signed_at_ms` when `None`.
    pub deadline_ms: Option<i64>,
    /// When signed.
    pub signed_at_ms: i64,
}

/// An exemption to grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExemptionRequest {
    /// Officer deciding.
    pub by: String,
    /// When.
    pub at_ms: i64,
    /// The violation is minor.
    pub minor: bool,
    /// No harmful consequence.
    pub no_harm: bool,
    /// The pledge.
    pub pledge: Option<PledgeInput>,
}

/// A penalty decision to make.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PenaltyRequest {
    /// Officer deciding.
    pub by: String,
    /// When.
    pub at_ms: i64,
    /// Tier; the case's tier when `None`.
    pub tier: Option<String>,
    /// Fine in whole yuan (0 for a warning; the value concerned for a confiscation).
    pub amount_yuan: i64,
    /// Written reason (required outside the tier's range).
    pub reason: Option<String>,
    /// Which penalty; a fine when absent.
    #[serde(default = "default_penalty")]
    pub penalty: PenaltyKind,
    /// The procedure followed.
    pub procedure: Procedure,
    /// The construction cost, for fines set as its share.
    #[serde(default)]
    pub construction_cost_yuan: Option<i64>,
}

fn default_penalty() -> PenaltyKind {
    PenaltyKind::Fine
}

/// A step of the penalty procedure to record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepInput {
    /// Which step.
    pub step: StepKind,
    /// When.
    pub at_ms: i64,
    /// Who records it (the enrolled user).
    pub by: String,
    /// Officers who took part.
    #[serde(default)]
    pub officers: Vec<String>,
    /// Evidence entries of the step.
    #[serde(default)]
    pub evidence_ids: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
    /// The decision an approval, service or execution belongs to; the case's decision when
    /// `None`.
    #[serde(default)]
    pub decision_id: Option<String>,
    /// A prior notice's proposed penalty.
    #[serde(default)]
    pub proposed: Option<ProposedPenalty>,
    /// A prior notice tells the party of a hearing right.
    #[serde(default)]
    pub hearing_right_notified: bool,
}

/// A legal review written on a reviewer's phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewInput {
    /// The reviewer's user id (the enrolled user).
    pub reviewer: String,
    /// Approved or returned.
    pub outcome: ReviewOutcome,
    /// The opinion.
    pub opinion: String,
    /// What was checked.
    pub checklist: ReviewChecklist,
    /// When.
    pub at_ms: i64,
}

/// A follow-up visit's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FollowUpInput {
    /// When visited.
    pub at_ms: i64,
    /// By whom.
    pub by: String,
    /// Whether corrected.
    pub corrected: bool,
    /// The party's opinion.
    pub opinion: Option<String>,
    /// satisfied, neutral or dissatisfied.
    pub satisfaction: Option<String>,
}

/// A demonstration to record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewDemonstration {
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
    /// Who records it.
    pub by: String,
}
