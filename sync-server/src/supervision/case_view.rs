//! What the reviewer's case page shows of one case: its facts, every step in time order, the
//! party as the viewer's role may see it, the evidence (redacted entries left out), the
//! documents issued and the server's checks. A pure function of the record, the party record,
//! the catalogues and the names of units and users; [`super::case_page`] renders it.

use super::case_check::{self, Check};
use super::labels;
use crate::storage::Role;
use fieldcase_core::catalogue::{CatalogueSet, PartyType};
use fieldcase_core::evidence::EvidenceKind;
use fieldcase_core::model::{
    CaseRecord, CaseStatus, IssuedDocument, LifecycleKind, PartyRecord, ReviewOutcome,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Who is looking.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// User id.
    pub user_id: String,
    /// Role.
    pub role: Role,
}

/// The party as the viewer may see it: the masked forms the party record keeps (personal
/// data stays sealed; the server never opens it for a page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartyView {
    /// 个人 or 单位.
    pub party_type: String,
    /// Masked name (张**).
    pub name: String,
    /// Masked identity number (stars only).
    pub id_number: String,
    /// Masked phone number (138****5678).
    pub phone: Option<String>,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// When (unix ms), the sort key.
    pub at_ms: i64,
    /// When, China time.
    pub when: String,
    /// A stable kind for styling and tests: occurred, action, exemption, pledge, step,
    /// decision, review, follow_up, visit, lifecycle, document, note, recorded.
    pub kind: &'static str,
    /// What happened, in Chinese.
    pub what: String,
    /// Who (user ids, with names where known).
    pub by: String,
    /// More.
    pub detail: String,
}

/// One evidence entry shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceRow {
    /// Entry id.
    pub id: String,
    /// Photo, audio or signature.
    pub kind: EvidenceKind,
    /// Capture time (device clock, China time).
    pub captured: String,
    /// Who captured it.
    pub officer: String,
    /// SHA-256 of the original.
    pub original_sha256: String,
    /// MIME type of the original.
    pub mime: String,
    /// Thumbnail hash (images).
    pub thumbnail_sha256: Option<String>,
    /// Display copy hash (images).
    pub display_sha256: Option<String>,
    /// Whether the device's signature holds.
    pub signature_ok: bool,
    /// Audio duration.
    pub duration_ms: Option<i64>,
    /// Free note.
    pub note: Option<String>,
}

/// One issued document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentRow {
    /// Entry id.
    pub id: String,
    /// Kind, in Chinese.
    pub kind: String,
    /// 文号, if numbered.
    pub number: Option<String>,
    /// Issue day (China time).
    pub issued_day: String,
    /// The document's hash.
    pub sha256: String,
    /// Whether the hash matches the content.
    pub hash_ok: bool,
    /// The document it replaces (its 文号, or kind and day).
    pub replaces: Option<String>,
    /// Another document replaces this one.
    pub superseded: bool,
}

/// The decision, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionView {
    /// Decision id (the form posts it).
    pub id: String,
    /// Penalty and amount, in words.
    pub penalty: String,
    /// Procedure, in words.
    pub procedure: String,
    /// Why review is needed, in words.
    pub review_reasons: Vec<String>,
    /// Review outcome, in words (`待审核` when none).
    pub review: String,
    /// The reviewer's opinion.
    pub opinion: Option<String>,
}

/// Everything the case page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseView {
    /// Case id.
    pub id: String,
    /// Unit path.
    pub unit: String,
    /// Unit name (the path when unnamed).
    pub unit_name: String,
    /// Status, in words.
    pub status: String,
    /// Violation code.
    pub violation_code: String,
    /// Violation item name in Chinese.
    pub violation: String,
    /// Tier in words, with its conditions when the catalogue has them.
    pub tier: String,
    /// When it happened (China time).
    pub occurred: String,
    /// The address as recorded.
    pub address: String,
    /// Coordinates.
    pub coordinates: String,
    /// Officers present, with names where known.
    pub officers: Vec<String>,
    /// What the officer saw.
    pub description: Option<String>,
    /// The party, if there is one and the role may see it.
    pub party: Option<PartyView>,
    /// The case names a party the viewer may not see, or whose record is not here.
    pub party_withheld: bool,
    /// Every step, in time order.
    pub timeline: Vec<TimelineEntry>,
    /// Evidence entries shown (redacted ones left out).
    pub evidence: Vec<EvidenceRow>,
    /// How many entries are redacted.
    pub redacted: usize,
    /// Documents issued.
    pub documents: Vec<DocumentRow>,
    /// The decision.
    pub decision: Option<DecisionView>,
    /// The server's checks.
    pub checks: Vec<Check>,
    /// The viewer may approve or return the decision: its id.
    pub review_form: Option<String>,
    /// The viewer may approve the decision as head of the bureau: its id.
    pub approval_form: Option<String>,
}

/// What [`assemble`] reads besides the case.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The catalogues known.
    pub catalogues: &'a CatalogueSet,
    /// Unit path to name.
    pub unit_names: &'a BTreeMap<String, String>,
    /// User id to name.
    pub user_names: &'a BTreeMap<String, String>,
    /// The case's party record, if read.
    pub party: Option<&'a PartyRecord>,
    /// Checks of the case ([`case_check::verify`]).
    pub checks: &'a [Check],
}

fn who(names: &BTreeMap<String, String>, id: &str) -> String {
    match names.get(id) {
        Some(n) if !n.is_empty() => format!("{id} {n}"),
        _ => id.to_string(),
    }
}

fn document_label(d: &IssuedDocument) -> String {
    match &d.number {
        Some(n) => n.text.clone(),
        None => format!(
            "{}（{}）",
            labels::document(d.kind),
            fieldcase_core::store::china_day(d.issued_at_ms)
        ),
    }
}

fn party_view(viewer: &Viewer, p: &PartyRecord) -> Option<PartyView> {
    if !crate::access::may_read_pii(viewer.role) {
        return None;
    }
    Some(PartyView {
        party_type: match p.party_type {
            PartyType::Person => "个人".into(),
            PartyType::Unit => "单位".into(),
        },
        name: p.masked.name.clone(),
        id_number: p.masked.id_number.clone(),
        phone: p.masked.phone.clone(),
    })
}

fn timeline(case: &CaseRecord, cx: &Context<'_>) -> Vec<TimelineEntry> {
    let names = cx.user_names;
    let catalogue = cx
        .catalogues
        .get(&case.violation.catalogue_version)
        .unwrap_or(cx.catalogues.current());
    let mut t: Vec<TimelineEntry> = Vec::new();
    let mut push = |at_ms: i64, kind: &'static str, what: String, by: String, detail: String| {
        t.push(TimelineEntry {
            at_ms,
            when: labels::china_time(at_ms),
            kind,
            what,
            by,
            detail,
        });
    };
    push(
        case.occurred_at_ms,
        "occurred",
        "发现违法行为".into(),
        case.officers
            .iter()
            .map(|o| who(names, o))
            .collect::<Vec<_>>()
            .join("、"),
        case.place.address.clone().unwrap_or_default(),
    );
    push(
        case.created_at_ms,
        "recorded",
        "记录案件".into(),
        who(names, &case.created_by),
        String::new(),
    );
    for a in &case.actions {
        let name = catalogue
            .method(a.method)
            .map_or_else(|| a.method.as_str().to_string(), |m| m.name.zh.clone());
        push(
            a.at_ms,
            "action",
            format!("{name}（{}类）", labels::measure(a.measure_category)),
            who(names, &a.by),
            a.note.clone().unwrap_or_default(),
        );
    }
    if let Some(e) = &case.exemption {
        push(
            e.decided_at_ms,
            "exemption",
            format!("免予处罚：{}", labels::exemption(e.kind)),
            who(names, &e.decided_by),
            format!(
                "情节轻微：{}；无危害后果：{}",
                if e.minor { "是" } else { "否" },
                if e.no_harm { "是" } else { "否" }
            ),
        );
        if let Some(p) = &e.pledge {
            push(
                p.signed_at_ms,
                "pledge",
                "当事人签署整改承诺".into(),
                String::new(),
                format!(
                    "{}（整改期限 {}）",
                    p.text,
                    labels::china_time(p.deadline_ms)
                ),
            );
        }
    }
    for s in &case.steps {
        let mut detail: Vec<String> = Vec::new();
        if !s.officers.is_empty() {
            detail.push(format!(
                "参与：{}",
                s.officers
                    .iter()
                    .map(|o| who(names, o))
                    .collect::<Vec<_>>()
                    .join("、")
            ));
        }
        if let Some(p) = &s.proposed {
            detail.push(format!(
                "拟处：{} {} 元",
                labels::penalty(p.penalty),
                p.amount_yuan
            ));
        }
        if s.hearing_right_notified {
            detail.push("已告知听证权利".into());
        }
        if let Some(n) = &s.note {
            detail.push(n.clone());
        }
        push(
            s.at_ms,
            "step",
            labels::step(s.step).to_string(),
            who(names, &s.by),
            detail.join("；"),
        );
    }
    if let Some(d) = &case.decision {
        push(
            d.decided_at_ms,
            "decision",
            format!(
                "作出处罚决定：{} {} 元",
                labels::penalty(d.penalty),
                d.amount_yuan
            ),
            who(names, &d.decided_by),
            [
                d.procedure.map(labels::procedure).unwrap_or_default(),
                d.reason.as_deref().unwrap_or_default(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("；"),
        );
        if let Some(r) = &d.review {
            let failed: Vec<String> = r
                .checklist
                .iter()
                .flat_map(|c| c.points())
                .filter(|(_, p)| !p.passed)
                .map(|(n, p)| {
                    format!(
                        "{}未通过：{}",
                        labels::checklist_point(n),
                        p.note.as_deref().unwrap_or_default()
                    )
                })
                .collect();
            push(
                r.at_ms,
                "review",
                match r.outcome {
                    ReviewOutcome::Approved => "法制审核：批准".into(),
                    ReviewOutcome::Returned => "法制审核：退回".into(),
                },
                who(names, &r.reviewer),
                std::iter::once(r.opinion.clone())
                    .chain(failed)
                    .collect::<Vec<_>>()
                    .join("；"),
            );
        }
    }
    for f in &case.follow_ups {
        push(
            f.scheduled_at_ms,
            "follow_up",
            "安排回访".into(),
            who(names, &f.scheduled_by),
            format!(
                "应回访日 {}{}",
                fieldcase_core::store::china_day(f.due_ms),
                f.purpose
                    .as_deref()
                    .map(|p| format!("；{p}"))
                    .unwrap_or_default()
            ),
        );
        if let Some(r) = &f.result {
            push(
                r.at_ms,
                "visit",
                if r.corrected {
                    "回访：已整改".into()
                } else {
                    "回访：未整改".into()
                },
                who(names, &r.by),
                r.opinion.clone().unwrap_or_default(),
            );
        }
    }
    for e in &case.lifecycle {
        push(
            e.at_ms,
            "lifecycle",
            match e.event {
                LifecycleKind::Closed => "结案".into(),
                LifecycleKind::Reopened => "重新办理".into(),
            },
            who(names, &e.by),
            e.reason.clone(),
        );
    }
    for d in &case.documents {
        push(
            d.issued_at_ms,
            "document",
            format!("制发{}", labels::document(d.kind)),
            who(names, &d.issued_by),
            d.number
                .as_ref()
                .map(|n| n.text.clone())
                .unwrap_or_default(),
        );
    }
    for n in &case.notes {
        push(
            n.at_ms,
            "note",
            "备注".into(),
            who(names, &n.by),
            n.text.clone(),
        );
    }
    // Stable: equal times keep the order of recording.
    t.sort_by_key(|e| e.at_ms);
    t
}

/// Everything the case page shows of `case` to `viewer`.
pub fn assemble(case: &CaseRecord, viewer: &Viewer, cx: &Context<'_>) -> CaseView {
    let catalogue = cx
        .catalogues
        .get(&case.violation.catalogue_version)
        .unwrap_or(cx.catalogues.current());
    let item = catalogue.item(&case.violation.code).ok();
    let party_type = case
        .party
        .as_ref()
        .map(|p| p.party_type)
        .or(case.decision.as_ref().map(|d| d.party_type))
        .unwrap_or(PartyType::Person);
    let tier = match catalogue.tier(&case.violation.code, &case.violation.tier, party_type) {
        Ok(t) => format!(
            "{}（{}）",
            labels::tier(&case.violation.tier),
            t.conditions.zh
        ),
        Err(_) => labels::tier(&case.violation.tier).to_string(),
    };
    let redacted: HashSet<String> = case_check::redactions(case)
        .into_iter()
        .filter(|r| r.record_id == case.id)
        .map(|r| r.evidence_id)
        .collect();
    let signature_ok: HashSet<&str> = cx
        .checks
        .iter()
        .filter(|c| c.what == "证据签名" && c.ok == Some(true))
        .map(|c| c.subject.as_str())
        .collect();
    let all = case_check::entries(case);
    let evidence: Vec<EvidenceRow> = all
        .iter()
        .filter(|e| !redacted.contains(&e.id))
        .map(|e| EvidenceRow {
            id: e.id.clone(),
            kind: e.kind,
            captured: labels::china_time(e.captured.device_time_ms),
            officer: who(cx.user_names, &e.officer),
            original_sha256: e.original.sha256.clone(),
            mime: e.original.mime.clone(),
            thumbnail_sha256: e.thumbnail.as_ref().map(|b| b.sha256.clone()),
            display_sha256: e.display.as_ref().map(|b| b.sha256.clone()),
            signature_ok: signature_ok.contains(e.id.as_str()),
            duration_ms: e.media.duration_ms,
            note: e.note.clone(),
        })
        .collect();
    let superseded = fieldcase_core::model::superseded_ids(&case.documents);
    let documents = case
        .documents
        .iter()
        .map(|d| DocumentRow {
            id: d.id.clone(),
            kind: labels::document(d.kind).into(),
            number: d.number.as_ref().map(|n| n.text.clone()),
            issued_day: fieldcase_core::store::china_day(d.issued_at_ms),
            sha256: d.sha256.clone(),
            hash_ok: d.compute_sha256() == d.sha256,
            replaces: d.replaces.as_ref().map(|r| {
                case.documents
                    .iter()
                    .find(|o| &o.id == r)
                    .map_or_else(|| r.clone(), document_label)
            }),
            superseded: superseded.contains(d.id.as_str()),
        })
        .collect();
    let status = case.status();
    let decision = case.decision.as_ref().map(|d| DecisionView {
        id: d.id.clone(),
        penalty: format!("{} {} 元", labels::penalty(d.penalty), d.amount_yuan),
        procedure: d.procedure.map(labels::procedure).unwrap_or("—").into(),
        review_reasons: d
            .review_reasons
            .iter()
            .map(|r| labels::review_reason(r).to_string())
            .collect(),
        review: match (&d.review, d.review_required) {
            (Some(r), _) if r.outcome == ReviewOutcome::Approved => "批准".into(),
            (Some(_), _) => "退回".into(),
            (None, true) => "待审核".into(),
            (None, false) => "无需审核".into(),
        },
        opinion: d.review.as_ref().map(|r| r.opinion.clone()),
    });
    let review_form = case
        .decision
        .as_ref()
        .filter(|d| {
            viewer.role == Role::Reviewer
                && d.review_required
                && d.review.is_none()
                && !case.is_closed()
                && d.decided_by != viewer.user_id
        })
        .map(|d| d.id.clone());
    let approval_form = case
        .decision
        .as_ref()
        .filter(|d| {
            viewer.role == Role::Supervisor
                && status == CaseStatus::PendingApproval
                && d.decided_by != viewer.user_id
        })
        .map(|d| d.id.clone());
    let party = cx.party.and_then(|p| party_view(viewer, p));
    CaseView {
        id: case.id.clone(),
        unit: case.unit.clone(),
        unit_name: cx
            .unit_names
            .get(&case.unit)
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| case.unit.clone()),
        status: labels::status(status).into(),
        violation_code: case.violation.code.clone(),
        violation: item.map(|i| i.name.zh.clone()).unwrap_or_default(),
        tier,
        occurred: labels::china_time(case.occurred_at_ms),
        address: case.place.address.clone().unwrap_or_default(),
        coordinates: format!("{:.5}, {:.5}", case.place.lat, case.place.lon),
        officers: case
            .officers
            .iter()
            .map(|o| who(cx.user_names, o))
            .collect(),
        description: case.violation.description.clone(),
        party_withheld: case.party.is_some() && party.is_none(),
        party,
        timeline: timeline(case, cx),
        evidence,
        redacted: all.iter().filter(|e| redacted.contains(&e.id)).count(),
        documents,
        decision,
        checks: cx.checks.to_vec(),
        review_form,
        approval_form,
    }
}
