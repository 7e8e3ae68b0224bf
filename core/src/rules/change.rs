//! The rules every change to a record must pass, as one pure function of (record before,
//! record after, catalogue, author): [`check_record`].
//!
//! The phone runs it on each local edit before committing (once it knows who it is, after
//! enrolment); the server runs it on every document it merges from a phone and refuses, with
//! a [`RefusalCode`], whatever the phone's own rules would have refused. The server trusts
//! nothing a phone asserts: amounts, ranges and review flags are recomputed from the
//! catalogue, exemptions re-assessed, signatures checked under the pushing device's key, and
//! every author field must name the pusher.
//!
//! The rules are stated over states, not over operations, so a push that carries several
//! offline edits at once (create, act, decide, close) is judged by what it leaves and by what
//! it added: entries present before must be unchanged, entries added must be the author's.
//! What each rule rests on in law is in `docs/procedure.md`.

use super::author::{Author, Directory, Role, unit_in_scope};
use crate::catalogue::{Catalogue, CatalogueSet};
use crate::evidence::{EvidenceEntry, Redaction, signer::verify_hex};
use crate::model::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Longest opinion of a review.
pub const MAX_OPINION_CHARS: usize = 4000;

/// The stable reason a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// The record does not parse as its kind, or its kind or id differ from the document's.
    Malformed,
    /// The author's role may not write this kind or this change, or the record's unit lies
    /// outside the author's unit.
    OutOfScope,
    /// A field fixed at creation changed (id, unit, creator, time, place, party, violation).
    Immutable,
    /// An entry of an append-only list (actions, notes, evidence, lifecycle, ...) was altered
    /// or removed.
    HistoryAltered,
    /// An author field (`by`, `created_by`, `decided_by`, `reviewer`, ...) names someone other
    /// than the author, or a device field another device.
    ForgedAuthor,
    /// An officer named on the case is unknown, not an officer, or outside the case's unit.
    UnknownOfficer,
    /// The violation code or tier is not in the catalogue.
    UnknownViolation,
    /// An action's method, class or fields do not fit the catalogue.
    InvalidAction,
    /// The exemption does not meet its conditions, or changed after it was granted.
    ExemptionInvalid,
    /// The decision is not what the catalogue gives (range, review flag), or it changed
    /// without a legal return, or was removed.
    DecisionInvalid,
    /// A signature does not verify under the author's device key.
    SignatureInvalid,
    /// A review not written by a reviewer, unsigned, without its checklist, on a decision that
    /// needs none or was made by the reviewer, or changed after it was written.
    ReviewInvalid,
    /// The case is closed: only reopening is allowed.
    CaseClosed,
    /// A close or reopen the case's state does not allow.
    LifecycleInvalid,
    /// A flag raised by a cross-record check was cleared.
    FlagCleared,
    /// Changes authored under an Automerge actor that is not the pushing device's.
    ForeignActor,
    /// A penalty the item's law does not allow: a kind it does not prescribe, a fine where it
    /// sets none, an amount outside the statutory range, a fine before the order to correct
    /// the law requires expired.
    PenaltyUnlawful,
    /// A step of the procedure out of order, missing, late where the law bars it, or taken
    /// by fewer officers than the law requires; the simple procedure beyond its caps.
    ProcedureInvalid,
    /// An enforcement document the case does not support (no decision, no pledge), whose
    /// fields differ from what the case gives, whose number the issuing device does not hold
    /// or another document took, or that altered or removed an issued one.
    DocumentInvalid,
}

impl RefusalCode {
    /// The identifier used on the wire, in the audit trail and in translations.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::Malformed => "malformed",
            RefusalCode::OutOfScope => "out_of_scope",
            RefusalCode::Immutable => "immutable",
            RefusalCode::HistoryAltered => "history_altered",
            RefusalCode::ForgedAuthor => "forged_author",
            RefusalCode::UnknownOfficer => "unknown_officer",
            RefusalCode::UnknownViolation => "unknown_violation",
            RefusalCode::InvalidAction => "invalid_action",
            RefusalCode::ExemptionInvalid => "exemption_invalid",
            RefusalCode::DecisionInvalid => "decision_invalid",
            RefusalCode::SignatureInvalid => "signature_invalid",
            RefusalCode::ReviewInvalid => "review_invalid",
            RefusalCode::CaseClosed => "case_closed",
            RefusalCode::LifecycleInvalid => "lifecycle_invalid",
            RefusalCode::FlagCleared => "flag_cleared",
            RefusalCode::ForeignActor => "foreign_actor",
            RefusalCode::PenaltyUnlawful => "penalty_unlawful",
            RefusalCode::ProcedureInvalid => "procedure_invalid",
            RefusalCode::DocumentInvalid => "document_invalid",
        }
    }
}

/// Why a change was refused: a stable code and a detail in our own words (ids and field names,
/// never personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// What kind of rule was broken.
    pub code: RefusalCode,
    /// Which, in words.
    pub detail: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

pub(super) fn refuse<T>(code: RefusalCode, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code,
        detail: detail.into(),
    })
}

/// What the rules look things up in.
#[derive(Clone, Copy)]
pub struct RuleContext<'a> {
    /// Every catalogue version known; a case is judged under the version it recorded.
    pub catalogues: &'a CatalogueSet,
    /// Other users.
    pub directory: &'a dyn Directory,
    /// The checking replica's clock (unix ms): a decision, step or visit dated more than
    /// [`MAX_CLOCK_AHEAD_MS`] after it is refused, so the law's waiting periods (statement,
    /// hearing request) cannot be skipped by dating the decision ahead. `None` skips it.
    pub now_ms: Option<i64>,
    /// Who holds and who used document numbers.
    pub numbers: &'a dyn super::documents::DocumentLedger,
}

/// How far ahead of the checking replica's clock a record may be dated (phones' clocks
/// drift; an hour is far more than drift and far less than any period of the law).
pub const MAX_CLOCK_AHEAD_MS: i64 = 3_600_000;

impl RuleContext<'_> {
    /// The catalogue of `version`; a version this replica does not know is refused (it was
    /// never published to it, or the record was made up).
    pub fn catalogue(&self, version: &str) -> Result<&Catalogue, Refusal> {
        self.catalogues
            .get(version)
            .map(|c| c.as_ref())
            .ok_or_else(|| Refusal {
                code: RefusalCode::UnknownViolation,
                detail: format!("catalogue version {version} is not known here"),
            })
    }
}

impl std::fmt::Debug for RuleContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleContext")
            .field(
                "catalogues",
                &self.catalogues.versions().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Kinds a role may write. Reviewers write cases only to review decisions.
pub fn writable_kinds(role: Role) -> &'static [RecordKind] {
    match role {
        Role::Officer => &[
            RecordKind::Case,
            RecordKind::Party,
            RecordKind::Demonstration,
        ],
        Role::Volunteer => &[RecordKind::Demonstration],
        // Reviewers write reviews, supervisors approvals (负责人批准), on cases only.
        Role::Reviewer | Role::Supervisor => &[RecordKind::Case],
        Role::Operator => &[],
    }
}

/// Checks that `after` (and the stored `before`, if any) of document `doc_id` may be written
/// by `author`. `Ok` means every rule holds.
pub fn check_record(
    kind: RecordKind,
    doc_id: &str,
    before: Option<&Value>,
    after: &Value,
    author: &Author,
    ctx: &RuleContext<'_>,
) -> Result<(), Refusal> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    check_header(
        kind,
        doc_id,
        Header {
            kind: after.get("kind").and_then(Value::as_str),
            id: after.get("id").and_then(Value::as_str),
            unit: after.get("unit").and_then(Value::as_str),
        },
        before.map(|b| text(b, "unit")),
        author,
    )?;
    let what = |stored: bool| match (kind, stored) {
        (RecordKind::Case, false) => "case",
        (RecordKind::Case, true) => "stored case",
        (RecordKind::Party, false) => "party",
        (RecordKind::Party, true) => "stored party",
        (RecordKind::Demonstration, false) => "demonstration",
        (RecordKind::Demonstration, true) => "stored demonstration",
    };
    let parsed = |v: &Value, stored: bool| {
        Record::parse(kind, v).map_err(|e| Refusal {
            code: RefusalCode::Malformed,
            detail: format!("not a valid {} record: {e}", what(stored)),
        })
    };
    let after = parsed(after, false)?;
    let before = before.map(|b| parsed(b, true)).transpose()?;
    check_body(before.as_ref(), &after, author, ctx)
}

/// [`check_record`] over records already parsed: the same rules, in the same order, for the
/// phone's write path, which keeps each record typed beside its document.
pub fn check_typed(
    kind: RecordKind,
    doc_id: &str,
    before: Option<&Record>,
    after: &Record,
    author: &Author,
    ctx: &RuleContext<'_>,
) -> Result<(), Refusal> {
    check_header(
        kind,
        doc_id,
        Header {
            kind: Some(after.kind_field()),
            id: Some(after.id()),
            unit: Some(after.unit()),
        },
        before.map(|b| Some(b.unit().to_string())),
        author,
    )?;
    if after.kind() != kind || before.is_some_and(|b| b.kind() != kind) {
        return refuse(
            RefusalCode::Malformed,
            "record kind does not match the declared kind",
        );
    }
    check_body(before, after, author, ctx)
}

/// The fields every record has, as the document holds them.
struct Header<'a> {
    kind: Option<&'a str>,
    id: Option<&'a str>,
    unit: Option<&'a str>,
}

/// The checks on kind, id, unit and the author's scope, which come before any content rule.
fn check_header(
    kind: RecordKind,
    doc_id: &str,
    after: Header<'_>,
    before_unit: Option<Option<String>>,
    author: &Author,
) -> Result<(), Refusal> {
    if after.kind != Some(kind.as_str()) {
        return refuse(
            RefusalCode::Malformed,
            "record kind does not match the declared kind",
        );
    }
    if after.id != Some(doc_id) {
        return refuse(
            RefusalCode::Malformed,
            "record id does not match the document id",
        );
    }
    let unit = after.unit.ok_or_else(|| Refusal {
        code: RefusalCode::Malformed,
        detail: "record has no unit".into(),
    })?;
    if !writable_kinds(author.role).contains(&kind) || !unit_in_scope(unit, &author.unit) {
        return refuse(
            RefusalCode::OutOfScope,
            format!(
                "a {} may not write a {} of this unit",
                author.role.as_str(),
                kind.as_str()
            ),
        );
    }
    if let Some(b) = before_unit
        && b.as_deref() != Some(unit)
    {
        return refuse(RefusalCode::Immutable, "the unit of a record never changes");
    }
    Ok(())
}

/// The content rules of each kind, over the parsed records (both of one kind).
fn check_body(
    before: Option<&Record>,
    after: &Record,
    author: &Author,
    ctx: &RuleContext<'_>,
) -> Result<(), Refusal> {
    match (after, before) {
        (Record::Case(a), None) => super::case::check_case(None, a, author, ctx),
        (Record::Case(a), Some(Record::Case(b))) => {
            super::case::check_case(Some(b), a, author, ctx)
        }
        (Record::Party(a), None) => check_party(None, a, author),
        (Record::Party(a), Some(Record::Party(b))) => check_party(Some(b), a, author),
        (Record::Demonstration(a), None) => check_demonstration(None, a, author),
        (Record::Demonstration(a), Some(Record::Demonstration(b))) => {
            check_demonstration(Some(b), a, author)
        }
        _ => refuse(
            RefusalCode::Malformed,
            "record kind does not match the declared kind",
        ),
    }
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, Refusal> {
    T::deserialize(v).map_err(|e| Refusal {
        code: RefusalCode::Malformed,
        detail: format!("not a valid {what} record: {e}"),
    })
}

pub(super) fn same_author(field: &str, value: &str, author: &Author) -> Result<(), Refusal> {
    if value != author.user_id {
        return refuse(
            RefusalCode::ForgedAuthor,
            format!("{field} must name the author of the change"),
        );
    }
    Ok(())
}

/// The entries of `after` not in `before`, after checking that every entry of `before` is in
/// `after` unchanged (matched by `id`, by position where an entry has none).
fn appended<'a>(
    list: &str,
    before: &[Value],
    after: &'a [Value],
) -> Result<Vec<&'a Value>, Refusal> {
    let id = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_string);
    let index: HashMap<String, &Value> = after.iter().filter_map(|v| Some((id(v)?, v))).collect();
    for (i, o) in before.iter().enumerate() {
        let kept = match id(o) {
            Some(k) => index.get(&k).is_some_and(|n| *n == o),
            None => after.get(i) == Some(o),
        };
        if !kept {
            return refuse(
                RefusalCode::HistoryAltered,
                format!("{list} entries may never be removed or altered"),
            );
        }
    }
    let old: HashSet<String> = before.iter().filter_map(id).collect();
    Ok(after
        .iter()
        .enumerate()
        .filter(|(i, v)| match id(v) {
            Some(k) => !old.contains(&k),
            None => *i >= before.len(),
        })
        .map(|(_, v)| v)
        .collect())
}

/// Typed form of [`appended`] for lists with an `id` field.
pub(super) fn appended_typed<'a, T, F>(
    list: &str,
    before: &[T],
    after: &'a [T],
    id: F,
) -> Result<Vec<&'a T>, Refusal>
where
    T: PartialEq,
    F: Fn(&T) -> &str,
{
    let index: HashMap<&str, &T> = after.iter().map(|v| (id(v), v)).collect();
    for o in before {
        if index.get(id(o)).is_none_or(|n| *n != o) {
            return refuse(
                RefusalCode::HistoryAltered,
                format!("{list} entries may never be removed or altered"),
            );
        }
    }
    let old: HashSet<&str> = before.iter().map(&id).collect();
    Ok(after.iter().filter(|v| !old.contains(id(v))).collect())
}

pub(super) fn check_evidence(
    record_id: &str,
    before: &[Value],
    after: &[Value],
    before_red: &[Value],
    after_red: &[Value],
    author: &Author,
) -> Result<(), Refusal> {
    for raw in appended("evidence", before, after)? {
        let e: EvidenceEntry = parse(raw, "evidence entry")?;
        same_author("evidence.officer", &e.officer, author)?;
        if e.device_id != author.device_id {
            return refuse(
                RefusalCode::ForgedAuthor,
                "evidence.device_id must name the pushing device",
            );
        }
        if e.record_id != record_id {
            return refuse(RefusalCode::Malformed, "evidence names another record");
        }
        signed_by_author(
            "evidence",
            &e.device_key,
            e.signed_payload().ok().as_deref(),
            &e.signature,
            author,
        )?;
    }
    for raw in appended("redactions", before_red, after_red)? {
        let r: Redaction = parse(raw, "redaction")?;
        same_author("redaction.by", &r.by, author)?;
        if r.device_id != author.device_id {
            return refuse(
                RefusalCode::ForgedAuthor,
                "redaction.device_id must name the pushing device",
            );
        }
        signed_by_author(
            "redaction",
            &r.device_key,
            r.signed_payload().ok().as_deref(),
            &r.signature,
            author,
        )?;
    }
    Ok(())
}

/// A signature made by the author's own device key over `payload`.
fn signed_by_author(
    what: &str,
    key: &str,
    payload: Option<&[u8]>,
    signature: &str,
    author: &Author,
) -> Result<(), Refusal> {
    if author
        .device_key
        .as_deref()
        .is_some_and(|k| !k.eq_ignore_ascii_case(key))
    {
        return refuse(
            RefusalCode::ForgedAuthor,
            format!("{what} is signed by another device's key"),
        );
    }
    if !payload.is_some_and(|p| verify_hex(key, p, signature)) {
        return refuse(
            RefusalCode::SignatureInvalid,
            format!("{what} signature does not verify"),
        );
    }
    Ok(())
}

fn check_party(
    before: Option<&PartyRecord>,
    after: &PartyRecord,
    author: &Author,
) -> Result<(), Refusal> {
    match before {
        None => {
            if author.role != Role::Officer {
                return refuse(RefusalCode::OutOfScope, "only an officer registers parties");
            }
            same_author("created_by", &after.created_by, author)
        }
        Some(b) if b != after => refuse(
            RefusalCode::Immutable,
            "a party record is not changed after registration",
        ),
        Some(_) => Ok(()),
    }
}

fn check_demonstration(
    before: Option<&DemonstrationRecord>,
    after: &DemonstrationRecord,
    author: &Author,
) -> Result<(), Refusal> {
    match before {
        None => same_author("created_by", &after.created_by, author)?,
        Some(b) => {
            let strip = |d: &DemonstrationRecord| DemonstrationRecord {
                evidence: vec![],
                redactions: vec![],
                ..d.clone()
            };
            if strip(b) != strip(after) {
                return refuse(
                    RefusalCode::Immutable,
                    "a demonstration changes only by added evidence",
                );
            }
        }
    }
    let empty = (vec![], vec![]);
    let (be, br) = before.map_or((&empty.0, &empty.1), |b| (&b.evidence, &b.redactions));
    check_evidence(
        &after.id,
        be,
        &after.evidence,
        br,
        &after.redactions,
        author,
    )
}
