//! The offline operations an officer or volunteer performs, each one durable write.
//!
//! Every operation checks its input and the record's current state first (typed errors, nothing
//! written), then makes the smallest edit to the document that expresses it, so concurrent
//! edits from other phones merge without overwriting each other.

use super::Change;
use super::FieldStore;
use crate::catalogue::{Catalogue, ExemptionKind, Method, PartyType, PenaltyKind};
use crate::doc::{self, append, put, put_root};
use crate::model::*;
use crate::rules::{self, Eligibility, ExemptionFacts};
use crate::{CoreError, Result, ids};
use automerge::AutoCommit;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

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
    /// Identity number or unified social credit code.
    pub id_number: String,
    /// Phone.
    pub phone: Option<String>,
    /// Address.
    pub address: Option<String>,
}

impl std::fmt::Debug for NewParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewParty")
            .field("party_type", &self.party_type)
            .field("unit", &self.unit)
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

fn check_unit(unit: &str) -> Result<()> {
    let ok = !unit.is_empty()
        && unit.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "unit",
            "expected a path like city/county/squad",
        ))
    }
}

pub(crate) fn check_person(field: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() || v.len() > 64 {
        return Err(CoreError::invalid(field, "must be 1 to 64 characters"));
    }
    Ok(())
}

pub(crate) fn check_text(field: &str, v: &str, max: usize) -> Result<()> {
    if v.trim().is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!("longer than {max} characters"),
        ));
    }
    Ok(())
}

fn check_time(field: &str, ms: i64) -> Result<()> {
    // 2000-01-01 .. 2200-01-01: anything else is a clock or input fault.
    if !(946_684_800_000..7_258_118_400_000).contains(&ms) {
        return Err(CoreError::invalid(field, "time out of range"));
    }
    Ok(())
}

fn open_case(doc: &AutoCommit, id: &str) -> Result<CaseRecord> {
    let case: CaseRecord = doc::read(doc, id)?;
    if case.is_closed() {
        return Err(CoreError::CaseClosed {
            case_id: id.to_string(),
        });
    }
    Ok(case)
}

impl FieldStore {
    /// An action checked against `catalogue` (the version of the case it goes on).
    fn build_action(&self, a: &NewAction, catalogue: &Catalogue) -> Result<Action> {
        check_person("action.by", &a.by)?;
        check_time("action.at_ms", a.at_ms)?;
        if let Some(n) = &a.note {
            check_text("action.note", n, 4000)?;
        }
        let spec = catalogue
            .method(a.method)
            .ok_or_else(|| CoreError::invalid("method", "not in the catalogue"))?;
        rules::check_fields(spec, &a.fields)?;
        Ok(Action {
            id: ids::new_id(),
            method: a.method,
            measure_category: spec.measure_category,
            at_ms: a.at_ms,
            by: a.by.clone(),
            note: a.note.clone(),
            fields: a.fields.clone(),
        })
    }

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
            created_on_device: self.device_id().to_string(),
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
        self.write_doc(
            &id,
            Change::Created(RecordKind::Case),
            "create case",
            |doc| doc::create(doc, &record),
        )?;
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
        self.write_doc(case_id, Change::Edited, "append action", |doc| {
            let case = open_case(doc, case_id)?;
            let action = self.build_action(&input, &*self.case_catalogue(&case)?)?;
            append(doc, "actions", &action)?;
            Ok(action.id)
        })
    }

    /// Adds a note; returns its id.
    pub fn add_note(&self, case_id: &str, by: &str, at_ms: i64, text: &str) -> Result<String> {
        check_person("by", by)?;
        check_text("text", text, 4000)?;
        let note = Note {
            id: ids::new_id(),
            at_ms,
            by: by.into(),
            text: text.into(),
        };
        let id = note.id.clone();
        self.write_doc(case_id, Change::Edited, "add note", |doc| {
            open_case(doc, case_id)?;
            append(doc, "notes", &note)
        })?;
        Ok(id)
    }

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
        let case: CaseRecord = doc::read(&self.load(case_id)?, case_id)?;
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
            e.conditions.push(rules::Condition {
                code: "party_identified".into(),
                met: false,
                detail: "the party must be identified to check for a first offence".into(),
            });
        }
        Ok(e)
    }

    /// Grants an exemption with its pledge, after checking eligibility.
    pub fn grant_exemption(&self, case_id: &str, req: ExemptionRequest) -> Result<Exemption> {
        check_person("by", &req.by)?;
        check_time("at_ms", req.at_ms)?;
        let current: CaseRecord = doc::read(&self.load(case_id)?, case_id)?;
        if current.is_closed() {
            return Err(CoreError::CaseClosed {
                case_id: case_id.into(),
            });
        }
        if current.exemption.is_some() {
            return Err(CoreError::not_allowed("an exemption was already granted"));
        }
        if current.decision.is_some() {
            return Err(CoreError::not_allowed("a penalty decision exists"));
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
            None => return Err(CoreError::NotEligible { reasons: e.unmet() }),
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
        self.write_doc(case_id, Change::Edited, "grant exemption", |doc| {
            let case = open_case(doc, case_id)?;
            if case.exemption.is_some() || case.decision.is_some() {
                return Err(CoreError::not_allowed("the case changed; check again"));
            }
            put_root(doc, "exemption", &exemption)
        })?;
        Ok(exemption)
    }

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
            result: None,
        };
        let id = f.id.clone();
        self.write_doc(case_id, Change::Edited, "schedule follow-up", |doc| {
            open_case(doc, case_id)?;
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
        self.write_doc(case_id, Change::Edited, "record follow-up", |doc| {
            let case = open_case(doc, case_id)?;
            let action = self.build_action(&new_action, &*self.case_catalogue(&case)?)?;
            let f = case
                .follow_ups
                .iter()
                .find(|f| f.id == follow_up_id)
                .ok_or_else(|| CoreError::not_found("follow-up", follow_up_id))?;
            if f.result.is_some() {
                return Err(CoreError::not_allowed(
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

    /// Orders the party to correct by a deadline (management); returns the action id.
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
        let mut fields = Map::new();
        fields.insert("deadline".into(), json!(deadline_ms));
        if !items.is_empty() {
            fields.insert("items".into(), json!(items));
        }
        self.append_action(
            case_id,
            NewAction {
                method: Method::CorrectionOrder,
                at_ms,
                by: by.into(),
                note: None,
                fields,
            },
        )
    }

    /// Decides a penalty after the discretion check; a major or out-of-range decision is
    /// recorded as awaiting legal review and takes no effect until approved.
    pub fn decide_penalty(&self, case_id: &str, req: PenaltyRequest) -> Result<Decision> {
        check_person("by", &req.by)?;
        self.check_enrolled_author("decided_by", &req.by)?;
        check_time("at_ms", req.at_ms)?;
        if let Some(r) = &req.reason {
            check_text("reason", r, 4000)?;
        }
        let current: CaseRecord = doc::read(&self.load(case_id)?, case_id)?;
        if current.is_closed() {
            return Err(CoreError::CaseClosed {
                case_id: case_id.into(),
            });
        }
        let party = current
            .party
            .clone()
            .ok_or_else(|| CoreError::not_allowed("identify the party before a penalty"))?;
        if let Some(d) = &current.decision
            && d.review.as_ref().map(|r| r.outcome) != Some(ReviewOutcome::Returned)
        {
            return Err(CoreError::not_allowed(
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
        self.write_doc(case_id, Change::Edited, "decide penalty", |doc| {
            open_case(doc, case_id)?;
            put_root(doc, "decision", &decision)?;
            append(doc, "actions", &action)
        })?;
        Ok(decision)
    }

    /// On an enrolled phone, `by` must be the enrolled user: refused as the server would
    /// (`forged_author`) before the law's checks look at anything else.
    fn check_enrolled_author(&self, field: &str, by: &str) -> Result<()> {
        if let Some(a) = self.enrolled_author()?
            && a.user_id != by
        {
            return Err(CoreError::Refused {
                code: rules::RefusalCode::ForgedAuthor.as_str().to_string(),
                detail: format!("{field} must name the author of the change"),
            });
        }
        Ok(())
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
        let current: CaseRecord = doc::read(&self.load(case_id)?, case_id)?;
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
                    .ok_or_else(|| CoreError::not_allowed("the case has no decision"))?,
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
        self.write_doc(case_id, Change::Edited, "record procedure step", |doc| {
            open_case(doc, case_id)?;
            append(doc, "steps", &step)
        })?;
        Ok(id)
    }

    /// The catalogue a case is judged under: the version it recorded.
    fn case_catalogue(
        &self,
        case: &CaseRecord,
    ) -> Result<std::sync::Arc<crate::catalogue::Catalogue>> {
        self.catalogues()
            .get(&case.violation.catalogue_version)
            .cloned()
            .ok_or_else(|| CoreError::Catalogue {
                reason: format!(
                    "catalogue version {} of this case is not on this device",
                    case.violation.catalogue_version
                ),
            })
    }

    /// The time limits the law sets on the case (decision, service, payment, correction),
    /// judged under the catalogue the case recorded, and which are overdue at `now_ms`.
    pub fn procedure_deadlines(&self, case_id: &str, now_ms: i64) -> Result<Vec<rules::Deadline>> {
        self.guard()?;
        let case: CaseRecord = doc::read(&self.load(case_id)?, case_id)?;
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
        self.write_doc(case_id, Change::Edited, "close case", |doc| {
            let case = open_case(doc, case_id)?;
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
        let current: CaseRecord = doc::read(&self.load(case_id)?, case_id)?;
        if current.is_closed() {
            return Err(CoreError::CaseClosed {
                case_id: case_id.into(),
            });
        }
        let Some(decision) = current.decision.as_ref().filter(|d| d.id == decision_id) else {
            return Err(CoreError::not_allowed(
                "the decision was replaced; review the current one",
            ));
        };
        if !decision.review_required {
            return Err(CoreError::not_allowed(
                "this decision needs no legal review",
            ));
        }
        if decision.review.is_some() {
            return Err(CoreError::not_allowed("the decision was already reviewed"));
        }
        if decision.decided_by == review.reviewer {
            return Err(CoreError::not_allowed(
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
        self.write_doc(case_id, Change::Edited, "legal review", |doc| {
            let case = open_case(doc, case_id)?;
            if case.decision.as_ref().map(|d| &d.id) != Some(&decision.id)
                || case.decision.as_ref().is_some_and(|d| d.review.is_some())
            {
                return Err(CoreError::not_allowed("the case changed; review again"));
            }
            let obj = match automerge::ReadDoc::get(doc, automerge::ROOT, "decision") {
                Ok(Some((automerge::Value::Object(_), id))) => id,
                _ => return Err(CoreError::not_allowed("the case has no decision")),
            };
            put(doc, &obj, "review", &doc::to_json(&signed)?)
        })?;
        Ok(signed)
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
        self.write_doc(case_id, Change::Edited, "reopen case", |doc| {
            let case: CaseRecord = doc::read(doc, case_id)?;
            if !case.is_closed() {
                return Err(CoreError::not_allowed("the case is not closed"));
            }
            let ev = crate::evidence::sign_lifecycle(signer.as_ref(), case_id, doc, ev)?;
            append(doc, "lifecycle", &ev)
        })
    }

    /// The keyed match hash of an identity number (HMAC-SHA-256 with the bureau key);
    /// `PartyMatchKeyUnavailable` on a device not given the key.
    pub fn party_match_hash(&self, id_number: &str) -> Result<String> {
        Ok(match_hash(&self.party_key()?, id_number))
    }

    /// The plain personal data of a party, if this device holds the key that sealed it.
    pub fn party_pii(&self, party_id: &str) -> Result<PartyPii> {
        self.guard()?;
        let p = self.party(party_id)?;
        crate::pii::open(&self.pii_keys(), party_id, &p.pii_sealed)
    }

    /// Registers a party, or returns the existing one with the same identity number.
    pub fn register_party(&self, input: NewParty) -> Result<PartyRecord> {
        check_unit(&input.unit)?;
        check_person("by", &input.by)?;
        check_text("name", &input.name, 200)?;
        let id_number = normalise_id_number(&input.id_number);
        let valid_id = (6..=32).contains(&id_number.len())
            && id_number.chars().all(|c| c.is_ascii_alphanumeric());
        if !valid_id {
            return Err(CoreError::invalid("id_number", "6 to 32 letters or digits"));
        }
        if let Some(p) = &input.phone
            && (!(5..=20).contains(&p.len())
                || !p
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '+' || c == '-'))
        {
            return Err(CoreError::invalid("phone", "5 to 20 digits"));
        }
        let hash = self.party_match_hash(&id_number)?;
        if let Some(existing) = self.find_party(&hash)? {
            return Ok(existing);
        }
        let id = ids::new_id();
        let pii = PartyPii {
            name: input.name.trim().to_string(),
            id_number: id_number.clone(),
            phone: input.phone.clone(),
            address: input.address,
        };
        let record = PartyRecord {
            kind: "party".into(),
            schema_version: RECORD_SCHEMA_VERSION,
            id: id.clone(),
            party_type: input.party_type,
            unit: input.unit,
            created_at_ms: ids::now_ms(),
            created_by: input.by,
            match_hash: hash,
            masked: MaskedParty {
                name: mask_name(&input.name),
                id_number: mask_id_number(&id_number),
                phone: input.phone.as_deref().map(mask_phone),
            },
            pii_sealed: crate::pii::seal(&self.sealing_key(), &id, &pii)?,
        };
        self.write_doc(
            &record.id,
            Change::Created(RecordKind::Party),
            "register party",
            |doc| doc::create(doc, &record),
        )?;
        Ok(record)
    }

    fn find_party(&self, hash: &str) -> Result<Option<PartyRecord>> {
        let id: Option<String> = self.read(|c| {
            use rusqlite::OptionalExtension;
            Ok(c.query_row(
                "SELECT id FROM parties WHERE match_hash = ?1 ORDER BY id LIMIT 1",
                [hash],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        match id {
            Some(id) => Ok(Some(self.party(&id)?)),
            None => Ok(None),
        }
    }

    /// The party whose identity number is `id_number`, if registered on this device.
    pub fn find_party_by_id_number(&self, id_number: &str) -> Result<Option<PartyRecord>> {
        self.guard()?;
        self.find_party(&self.party_match_hash(&normalise_id_number(id_number))?)
    }

    /// Records a persuasion demonstration.
    pub fn record_demonstration(&self, input: NewDemonstration) -> Result<DemonstrationRecord> {
        check_unit(&input.unit)?;
        input.place.check()?;
        check_person("by", &input.by)?;
        check_text("team", &input.team, 200)?;
        check_text("topic", &input.topic, 500)?;
        check_time("started_at_ms", input.started_at_ms)?;
        if input.ended_at_ms < input.started_at_ms {
            return Err(CoreError::invalid("ended_at_ms", "before the start"));
        }
        if input.people_persuaded < 0 {
            return Err(CoreError::invalid(
                "people_persuaded",
                "must not be negative",
            ));
        }
        for p in &input.participants {
            check_person("participants", p)?;
        }
        let record = DemonstrationRecord {
            kind: "demonstration".into(),
            schema_version: RECORD_SCHEMA_VERSION,
            id: ids::new_id(),
            unit: input.unit,
            team: input.team,
            participants: input.participants,
            place: input.place,
            started_at_ms: input.started_at_ms,
            ended_at_ms: input.ended_at_ms,
            topic: input.topic,
            people_persuaded: input.people_persuaded,
            note: input.note,
            created_by: input.by,
            created_at_ms: ids::now_ms(),
            evidence: vec![],
            redactions: vec![],
        };
        self.write_doc(
            &record.id,
            Change::Created(RecordKind::Demonstration),
            "record demonstration",
            |doc| doc::create(doc, &record),
        )?;
        Ok(record)
    }

    /// Flags every local case that conflicts with an earlier first-offence exemption of the
    /// same party (after a merge brought in cases from other phones). Returns the flagged ids.
    pub fn flag_exemption_conflicts(&self) -> Result<Vec<String>> {
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
            self.write_doc(&case_id, Change::Edited, "flag exemption conflict", |doc| {
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

/// HMAC-SHA-256 of the normalised identity number under `key`, hex.
pub fn match_hash(key: &[u8; 32], id_number: &str) -> String {
    let normalised = normalise_id_number(id_number);
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"fieldcase-party-v1\0");
    mac.update(normalised.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
