//! The case record: one street encounter and everything done about it.

use super::{FollowUp, Place};
use crate::catalogue::{ExemptionKind, MeasureCategory, Method, PartyType, PenaltyKind};
use serde::{Deserialize, Serialize};

/// A case document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Always `case`.
    pub kind: String,
    /// Layout version.
    pub schema_version: i64,
    /// UUIDv7.
    pub id: String,
    /// Unit path, e.g. `luan/jinan/squad-3`; sub-units extend the path.
    pub unit: String,
    /// When the record was made (device clock).
    pub created_at_ms: i64,
    /// Officer number of the author.
    pub created_by: String,
    /// Device that made the record.
    pub created_on_device: String,
    /// When the encounter happened.
    pub occurred_at_ms: i64,
    /// Where.
    pub place: Place,
    /// Officer numbers present (at least one).
    pub officers: Vec<String>,
    /// The party, if known.
    #[serde(default)]
    pub party: Option<PartyRef>,
    /// What was found.
    pub violation: Violation,
    /// Every action taken, in order of recording.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// Exemption from penalty, if granted.
    #[serde(default)]
    pub exemption: Option<Exemption>,
    /// Scheduled follow-ups and their results; one entry per id (see
    /// [`super::follow_ups_once`]).
    #[serde(default, deserialize_with = "super::follow_ups_once")]
    pub follow_ups: Vec<FollowUp>,
    /// Penalty decision, if any.
    #[serde(default)]
    pub decision: Option<Decision>,
    /// Free notes.
    #[serde(default)]
    pub notes: Vec<Note>,
    /// The steps of the penalty procedure (立案, 调查取证, 事先告知, ...), in order of
    /// recording: see `docs/procedure.md`.
    #[serde(default)]
    pub steps: Vec<ProcedureStep>,
    /// The enforcement documents issued, in order of issue (append-only; a correction is a
    /// new entry naming the one it replaces): see `docs/documents.md`.
    #[serde(default)]
    pub documents: Vec<super::IssuedDocument>,
    /// Evidence entries (photos, audio, signatures): [`crate::evidence::EvidenceEntry`].
    #[serde(default)]
    pub evidence: Vec<serde_json::Value>,
    /// Redactions of evidence (hidden, never removed): [`crate::evidence::Redaction`].
    #[serde(default)]
    pub redactions: Vec<serde_json::Value>,
    /// Close and reopen events; the last one decides whether the case is closed.
    #[serde(default)]
    pub lifecycle: Vec<LifecycleEvent>,
    /// Flags set after merges (by the server or a phone's own check).
    #[serde(default)]
    pub flags: Flags,
    /// The case involves a minor: never disclosed.
    #[serde(default)]
    pub involves_minor: bool,
    /// Personal privacy, state or trade secrets: never disclosed.
    #[serde(default)]
    pub privacy_protected: bool,
}

/// Link from a case to its party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyRef {
    /// The party document.
    pub party_id: String,
    /// Person or unit.
    pub party_type: PartyType,
    /// Keyed hash of the normalised identity number: matches the same party across phones
    /// without the number itself.
    pub match_hash: String,
}

/// The violation found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Catalogue code.
    pub code: String,
    /// Circumstance tier.
    pub tier: String,
    /// Catalogue version the code was taken from.
    pub catalogue_version: String,
    /// What the officer saw.
    #[serde(default)]
    pub description: Option<String>,
}

/// One action of a method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// UUIDv7.
    pub id: String,
    /// Method.
    pub method: Method,
    /// 721 class, from the catalogue at the time of recording.
    pub measure_category: MeasureCategory,
    /// When.
    pub at_ms: i64,
    /// Officer or volunteer number.
    pub by: String,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
    /// The method's own fields (see the catalogue's method specs).
    #[serde(default)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// An exemption from penalty and its pledge (免罚不免责).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemption {
    /// Which exemption.
    pub kind: ExemptionKind,
    /// When granted.
    pub decided_at_ms: i64,
    /// By whom.
    pub decided_by: String,
    /// The officer judged the violation minor.
    pub minor: bool,
    /// The officer judged there was no harmful consequence.
    pub no_harm: bool,
    /// What "first offence" was based on.
    #[serde(default)]
    pub first_offence: Option<FirstOffenceCheck>,
    /// The signed pledge to correct.
    #[serde(default)]
    pub pledge: Option<Pledge>,
    /// Catalogue version applied.
    pub catalogue_version: String,
}

/// The evidence behind a "first offence" finding, as known on the device at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstOffenceCheck {
    /// Look-back window applied.
    pub lookback_days: i64,
    /// Prior cases of the same party and violation found in the window (empty when first).
    pub prior_case_ids: Vec<String>,
    /// Number of cases of this party the device held.
    pub cases_checked: i64,
    /// The sync point the device's replica reflected.
    pub as_of: SyncPoint,
}

/// How current a device's replica was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPoint {
    /// Server change cursor at the last successful sync, if any.
    #[serde(default)]
    pub server_cursor: Option<i64>,
    /// When that sync finished (device clock), if any.
    #[serde(default)]
    pub synced_at_ms: Option<i64>,
}

/// A pledge to correct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pledge {
    /// The pledge text the party signed.
    pub text: String,
    /// Evidence entry of the signature image.
    #[serde(default)]
    pub signature_evidence_id: Option<String>,
    /// Deadline to correct.
    pub deadline_ms: i64,
    /// When signed.
    pub signed_at_ms: i64,
}

/// A penalty decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// UUIDv7.
    pub id: String,
    /// When decided.
    pub decided_at_ms: i64,
    /// By whom.
    pub decided_by: String,
    /// Discretion tier applied.
    pub tier: String,
    /// Party type the tier row was taken for.
    pub party_type: PartyType,
    /// Which penalty (警告, 罚款, 没收, ...). Records made before penalty kinds existed
    /// are fines.
    #[serde(default = "fine")]
    pub penalty: PenaltyKind,
    /// The procedure followed; `None` only on records made before procedures existed, which
    /// no new decision may copy.
    #[serde(default)]
    pub procedure: Option<Procedure>,
    /// Fine in whole yuan (0 for a warning; the value confiscated for a confiscation).
    pub amount_yuan: i64,
    /// The construction cost a fine set as its share is computed from (城乡规划法 第六十四条).
    #[serde(default)]
    pub construction_cost_yuan: Option<i64>,
    /// The party has the right to ask for a hearing (行政处罚法 第六十三条), as the catalogue
    /// gives it for this penalty.
    #[serde(default)]
    pub hearing_right: bool,
    /// Written reason (required outside the tier's range).
    #[serde(default)]
    pub reason: Option<String>,
    /// Whether the amount lay inside the tier's range.
    pub within_range: bool,
    /// Whether legal review must approve before it takes effect.
    pub review_required: bool,
    /// Why review is required: `major_amount`, `outside_discretion_range`.
    #[serde(default)]
    pub review_reasons: Vec<String>,
    /// Catalogue version applied.
    pub catalogue_version: String,
    /// The penalty action recorded with it.
    pub action_id: String,
    /// Legal review outcome, written by a reviewer.
    #[serde(default)]
    pub review: Option<Review>,
    /// ed25519 signature (hex) of the deciding device over the decision (see
    /// `evidence::records`); `None` on records made before signing existed.
    #[serde(default)]
    pub signature: Option<String>,
    /// Public key (hex) of the device that signed.
    #[serde(default)]
    pub signed_by_device: Option<String>,
}

fn fine() -> PenaltyKind {
    PenaltyKind::Fine
}

/// The procedure of an administrative penalty (行政处罚法 第五章).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Procedure {
    /// 简易程序: on the spot, a warning or a small fine (第五十一条).
    Simple,
    /// 普通程序: 立案, investigation, prior notice, hearing where due, review, approval.
    Ordinary,
}

impl Procedure {
    /// The identifier used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Procedure::Simple => "simple",
            Procedure::Ordinary => "ordinary",
        }
    }
}

/// A step of the penalty procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// 立案: the case is registered for the ordinary procedure.
    Filing,
    /// 调查取证: investigation by at least two officers, with evidence.
    Investigation,
    /// 事先告知: the party is told the facts, basis, proposed penalty and rights.
    PriorNotice,
    /// 陈述申辩: the party's statement and defence, recorded.
    Statement,
    /// The party asks for a hearing.
    HearingRequest,
    /// The party waives the hearing.
    HearingWaived,
    /// 听证: the hearing held.
    Hearing,
    /// 负责人批准: the head of the bureau approves the decision.
    Approval,
    /// 送达: the decision is served on the party.
    Service,
    /// 执行: the penalty is carried out (fine paid, property confiscated).
    Execution,
}

impl StepKind {
    /// The identifier used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Filing => "filing",
            StepKind::Investigation => "investigation",
            StepKind::PriorNotice => "prior_notice",
            StepKind::Statement => "statement",
            StepKind::HearingRequest => "hearing_request",
            StepKind::HearingWaived => "hearing_waived",
            StepKind::Hearing => "hearing",
            StepKind::Approval => "approval",
            StepKind::Service => "service",
            StepKind::Execution => "execution",
        }
    }
}

/// The penalty a prior notice proposes; the decision may not be heavier (第四十五条).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProposedPenalty {
    /// Which penalty.
    pub penalty: PenaltyKind,
    /// Amount in whole yuan.
    pub amount_yuan: i64,
}

/// One recorded step: who, when, with whom and on what evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProcedureStep {
    /// UUIDv7.
    pub id: String,
    /// Which step.
    pub step: StepKind,
    /// When.
    pub at_ms: i64,
    /// Who recorded it (an officer; the head of the bureau for an approval).
    pub by: String,
    /// Officers who took part (an investigation needs two).
    #[serde(default)]
    pub officers: Vec<String>,
    /// Evidence entries of the step (notices, records, receipts).
    #[serde(default)]
    pub evidence_ids: Vec<String>,
    /// Free text (the statement, the hearing's outcome, how it was served).
    #[serde(default)]
    pub note: Option<String>,
    /// The decision the step belongs to (approval, service, execution).
    #[serde(default)]
    pub decision_id: Option<String>,
    /// A prior notice's proposed penalty.
    #[serde(default)]
    pub proposed: Option<ProposedPenalty>,
    /// A prior notice told the party of a hearing right.
    #[serde(default)]
    pub hearing_right_notified: bool,
}

impl Decision {
    /// A decision takes effect without review, or once approved. Under the ordinary
    /// procedure it also needs the head's approval: see [`CaseRecord::decision_in_effect`].
    pub fn is_effective(&self) -> bool {
        !self.review_required
            || self
                .review
                .as_ref()
                .is_some_and(|r| r.outcome == ReviewOutcome::Approved)
    }
}

/// Outcome of a legal review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// The decision may take effect.
    Approved,
    /// Sent back to its officer with the opinion.
    Returned,
}

/// A reviewer's opinion on a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Review {
    /// Approved or returned.
    pub outcome: ReviewOutcome,
    /// Reviewer's user id.
    pub reviewer: String,
    /// The opinion text.
    pub opinion: String,
    /// When.
    pub at_ms: i64,
    /// What the reviewer checked (法制审核: 主体, 事实, 证据, 依据, 裁量, 程序). Every review
    /// written by this version carries it; `None` only on reviews made before it existed,
    /// which no longer verify.
    #[serde(default)]
    pub checklist: Option<ReviewChecklist>,
    /// The signature of the decision reviewed (hex), so the review approves exactly that
    /// decision: its amount, basis and party.
    #[serde(default)]
    pub decision_signature: Option<String>,
    /// ed25519 signature (hex) over [`crate::evidence::review_payload`].
    #[serde(default)]
    pub signature: Option<String>,
    /// The public key (hex) that signed: the reviewer's device, or the server's review key for
    /// a review written through the review service (the dashboard).
    #[serde(default)]
    pub signed_by_key: Option<String>,
    /// `device` (the reviewer's phone) or `review_service` (the dashboard, on the server).
    #[serde(default)]
    pub via: Option<String>,
}

/// One point of the legal review checklist: passed, or not with a note saying why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckPoint {
    /// Whether the point passed.
    pub passed: bool,
    /// The reviewer's note (required when the point did not pass).
    #[serde(default)]
    pub note: Option<String>,
}

/// The points a legal review (重大执法决定法制审核) examines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewChecklist {
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

impl ReviewChecklist {
    /// The points with their identifiers, in the order of the checklist.
    pub fn points(&self) -> [(&'static str, &CheckPoint); 6] {
        [
            ("subject", &self.subject),
            ("facts", &self.facts),
            ("evidence", &self.evidence),
            ("basis", &self.basis),
            ("discretion", &self.discretion),
            ("procedure", &self.procedure),
        ]
    }

    /// Why the checklist does not fit `outcome`, if it does not: an approval needs every
    /// point passed; a return needs at least one point not passed; a point not passed needs a
    /// note.
    pub fn problem(&self, outcome: ReviewOutcome) -> Option<String> {
        for (name, p) in self.points() {
            let noted = p.note.as_deref().is_some_and(|n| !n.trim().is_empty());
            if !p.passed && !noted {
                return Some(format!(
                    "checklist point {name} did not pass and has no note"
                ));
            }
            if p.note.as_deref().is_some_and(|n| n.chars().count() > 2000) {
                return Some(format!(
                    "checklist note {name} is longer than 2000 characters"
                ));
            }
        }
        let all = self.points().iter().all(|(_, p)| p.passed);
        match outcome {
            ReviewOutcome::Approved if !all => {
                Some("an approval needs every checklist point passed".into())
            }
            ReviewOutcome::Returned if all => {
                Some("a return needs at least one checklist point that did not pass".into())
            }
            _ => None,
        }
    }
}

/// A free note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// UUIDv7.
    pub id: String,
    /// When.
    pub at_ms: i64,
    /// By whom.
    pub by: String,
    /// Text.
    pub text: String,
}

/// Close or reopen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleKind {
    /// Closed (结案).
    Closed,
    /// Reopened.
    Reopened,
}

/// A close or reopen event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// Which.
    pub event: LifecycleKind,
    /// When.
    pub at_ms: i64,
    /// By whom.
    pub by: String,
    /// Why.
    pub reason: String,
    /// The document heads (change hashes, hex, sorted) the event was made on: the signature
    /// covers the whole history up to the close.
    #[serde(default)]
    pub signed_heads: Option<Vec<String>>,
    /// ed25519 signature (hex) of the device over the event; `None` on older records.
    #[serde(default)]
    pub signature: Option<String>,
    /// Public key (hex) of the device that signed.
    #[serde(default)]
    pub signed_by_device: Option<String>,
}

/// Flags raised by cross-record checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    /// Another first-offence exemption of the same party and violation exists in the window.
    #[serde(default)]
    pub exemption_conflict: bool,
    /// The cases it conflicts with.
    #[serde(default)]
    pub conflict_with: Vec<String>,
}

/// Where a case stands, derived from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Recorded, being handled.
    Open,
    /// Exempted on a pledge; correction pending.
    Pledged,
    /// Ordered to correct; correction pending.
    Ordered,
    /// A follow-up found it corrected.
    Corrected,
    /// A penalty decision awaits legal review.
    PendingReview,
    /// A penalty decision was returned by legal review.
    Returned,
    /// An ordinary-procedure decision awaits the head's approval.
    PendingApproval,
    /// A penalty decision is in effect.
    Decided,
    /// Closed.
    Closed,
}

impl CaseStatus {
    /// The identifier stored in projections.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Pledged => "pledged",
            CaseStatus::Ordered => "ordered",
            CaseStatus::Corrected => "corrected",
            CaseStatus::PendingReview => "pending_review",
            CaseStatus::Returned => "returned",
            CaseStatus::PendingApproval => "pending_approval",
            CaseStatus::Decided => "decided",
            CaseStatus::Closed => "closed",
        }
    }
}

impl CaseRecord {
    /// The steps of one kind, in order.
    pub fn steps_of(&self, kind: StepKind) -> impl Iterator<Item = &ProcedureStep> {
        self.steps.iter().filter(move |s| s.step == kind)
    }

    /// The step of a kind that belongs to decision `decision_id`.
    pub fn step_for(&self, kind: StepKind, decision_id: &str) -> Option<&ProcedureStep> {
        self.steps_of(kind)
            .find(|s| s.decision_id.as_deref() == Some(decision_id))
    }

    /// The decision, if it is in effect: reviewed where review is required and, under the
    /// ordinary procedure, approved by the head of the bureau (行政处罚法 第五十七条).
    pub fn decision_in_effect(&self) -> Option<&Decision> {
        let d = self.decision.as_ref()?;
        if !d.is_effective() {
            return None;
        }
        if d.procedure == Some(Procedure::Ordinary)
            && self.step_for(StepKind::Approval, &d.id).is_none()
        {
            return None;
        }
        Some(d)
    }

    /// The case's 721 class: its highest action class (a case with a penalty counts once as
    /// enforcement, however many reminders and visits it also holds); `None` without actions.
    pub fn measure_category(&self) -> Option<MeasureCategory> {
        self.actions.iter().map(|a| a.measure_category).max()
    }

    /// Whether the last lifecycle event is a close.
    pub fn is_closed(&self) -> bool {
        self.lifecycle
            .last()
            .is_some_and(|e| e.event == LifecycleKind::Closed)
    }

    /// Whether a follow-up visit at or before `at_ms` found the violation corrected.
    pub fn is_corrected_before(&self, at_ms: i64) -> bool {
        self.follow_ups.iter().any(|f| {
            f.result
                .as_ref()
                .is_some_and(|r| r.corrected && r.at_ms <= at_ms)
        })
    }

    /// Why the case may not be closed now, if it may not: a decision awaiting review or
    /// approval, returned, or in effect but not yet served and executed (结案 follows 执行);
    /// a correction not yet verified by a visit (免罚不免责).
    pub fn close_blocker(&self) -> Option<&'static str> {
        match self.status() {
            CaseStatus::PendingReview => Some("the decision awaits legal review"),
            CaseStatus::PendingApproval => Some("the decision awaits the head's approval"),
            CaseStatus::Returned => Some("the decision was returned by legal review"),
            CaseStatus::Pledged | CaseStatus::Ordered => {
                Some("the correction has not been verified by a follow-up")
            }
            CaseStatus::Decided => {
                let d = self.decision.as_ref()?;
                // Decisions from before procedures existed close as they did.
                d.procedure?;
                if self.step_for(StepKind::Service, &d.id).is_none() {
                    Some("the decision has not been served (送达)")
                } else if self.step_for(StepKind::Execution, &d.id).is_none() {
                    Some("the penalty has not been executed (执行)")
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Whether a follow-up found the violation corrected.
    pub fn is_corrected(&self) -> bool {
        self.follow_ups
            .iter()
            .any(|f| f.result.as_ref().is_some_and(|r| r.corrected))
    }

    /// The status, derived from content.
    pub fn status(&self) -> CaseStatus {
        if self.is_closed() {
            return CaseStatus::Closed;
        }
        if let Some(d) = &self.decision {
            if self.decision_in_effect().is_some() {
                return CaseStatus::Decided;
            }
            return match d.review.as_ref().map(|r| r.outcome) {
                Some(ReviewOutcome::Returned) => CaseStatus::Returned,
                _ if d.is_effective() => CaseStatus::PendingApproval,
                _ => CaseStatus::PendingReview,
            };
        }
        if self.is_corrected() {
            return CaseStatus::Corrected;
        }
        if self.exemption.is_some() {
            return CaseStatus::Pledged;
        }
        if self
            .actions
            .iter()
            .any(|a| a.method == Method::CorrectionOrder)
        {
            return CaseStatus::Ordered;
        }
        CaseStatus::Open
    }

    /// Whether a penalty decided at `at_ms` is open after the case's exemption, if any: only
    /// once the pledge deadline (or the exemption itself, without a pledge) has passed and no
    /// follow-up found the violation corrected (免罚不免责).
    pub fn penalty_open_after_exemption(&self, at_ms: i64) -> bool {
        let Some(e) = &self.exemption else {
            return true;
        };
        let deadline = e
            .pledge
            .as_ref()
            .map(|p| p.deadline_ms)
            .unwrap_or(e.decided_at_ms);
        !self.is_corrected() && at_ms > deadline
    }

    /// The deadline the party must correct by, if one is running.
    pub fn correction_deadline_ms(&self) -> Option<i64> {
        let pledge = self
            .exemption
            .as_ref()
            .and_then(|e| e.pledge.as_ref())
            .map(|p| p.deadline_ms);
        let order = self
            .actions
            .iter()
            .filter(|a| matches!(a.method, Method::CorrectionOrder | Method::Warning))
            .filter_map(|a| a.fields.get("deadline").and_then(|v| v.as_i64()))
            .max();
        pledge.into_iter().chain(order).max()
    }
}
