//! The fields a document is filled with, derived from the case, the catalogue and the roster.
//!
//! One function, [`derived_fields`], computes them: the phone calls it to issue a document,
//! and the rules call it again on every document a replica merges, so an entry whose amount,
//! basis, facts or officers differ from what its case gives is refused, whoever wrote it.
//! Everything here depends only on what is fixed by the time the document may be issued (the
//! violation, the signed decision, the exemption, recorded steps and actions), never on the
//! clock of the replica that checks.

use super::words::{count_zh, yuan_in_words, yuan_text};
use crate::catalogue::{Catalogue, ExemptionKind, Item, Method, PenaltyKind};
use crate::model::{CaseRecord, DocumentKind, IssuedDocument, Procedure, StepKind};
use crate::rules::{Directory, Refusal, RefusalCode};
use crate::store::projection::china_time;
use std::collections::BTreeMap;

/// What identifies a document apart from its fields.
#[derive(Debug, Clone, Copy)]
pub struct DocumentFrame<'a> {
    /// Which document.
    pub kind: DocumentKind,
    /// When it is issued.
    pub issued_at_ms: i64,
    /// Its number as printed, if numbered.
    pub number: Option<&'a str>,
    /// The document a receipt proves served.
    pub serves: Option<&'a str>,
}

impl<'a> DocumentFrame<'a> {
    /// The frame of an issued entry.
    pub fn of(d: &'a IssuedDocument) -> Self {
        DocumentFrame {
            kind: d.kind,
            issued_at_ms: d.issued_at_ms,
            number: d.number.as_ref().map(|n| n.text.as_str()),
            serves: d.serves.as_deref(),
        }
    }
}

fn refuse<T>(detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code: RefusalCode::DocumentInvalid,
        detail: detail.into(),
    })
}

/// `2026年12月6日`.
pub fn date_zh(ms: i64) -> String {
    let (y, m, d, _, _) = china_time(ms);
    format!("{y}年{m}月{d}日")
}

/// `2026年12月6日 14时05分`.
pub fn datetime_zh(ms: i64) -> String {
    let (y, m, d, h, min) = china_time(ms);
    format!("{y}年{m}月{d}日 {h}时{min:02}分")
}

/// The year (CST) a document issued at `ms` is numbered in.
pub fn number_year(ms: i64) -> i32 {
    china_time(ms).0 as i32
}

/// The confirmed articles of `item` with `role`, as `《title》第N条、…`.
fn basis(item: &Item, cat: &Catalogue, role: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for b in item
        .legal_basis
        .iter()
        .filter(|b| b.role == role && b.confirmed)
    {
        let title = cat
            .law(&b.law)
            .map(|l| l.title.zh.clone())
            .unwrap_or_else(|| b.law.clone());
        let cited = format!("{title}{}", b.article.as_deref().unwrap_or(""));
        if !out.contains(&cited) {
            out.push(cited);
        }
    }
    out.join("、")
}

/// The text of a penalty: 警告, 罚款人民币贰佰元整（¥200.00）, ...
pub fn penalty_text(kind: PenaltyKind, amount_yuan: i64) -> String {
    match kind {
        PenaltyKind::Warning => "警告".into(),
        PenaltyKind::Fine => format!("罚款{}", yuan_text(amount_yuan)),
        PenaltyKind::ConfiscateIllegalGains => format!("没收违法所得{}", yuan_text(amount_yuan)),
        PenaltyKind::ConfiscateIllegalProperty => {
            format!("没收非法财物（价值{}）", yuan_text(amount_yuan))
        }
        PenaltyKind::Suspend => "责令停产停业".into(),
        PenaltyKind::Revoke => "吊销许可证件".into(),
    }
}

/// The first segment of a profile text, before any bracketed remark.
fn plain(v: &serde_json::Value) -> Option<String> {
    let zh = v.get("zh")?.as_str()?;
    let cut = zh.find('（').unwrap_or(zh.len());
    let s = zh[..cut].trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The party's rights of reconsideration and litigation, with the bodies and periods of the
/// profile (行政处罚法 第五十二条第二款、第五十九条第一款第五项).
fn rights_text(cat: &Catalogue, on_the_spot: bool) -> Result<String, Refusal> {
    let r = &cat.profile().rights;
    let body = r.reconsideration.get("body").and_then(plain);
    let days = r
        .reconsideration
        .get("days")
        .and_then(serde_json::Value::as_i64);
    let court = r.litigation.get("court").and_then(plain);
    let months = r
        .litigation
        .get("months")
        .and_then(serde_json::Value::as_i64);
    let after = r
        .litigation
        .get("after_reconsideration_days")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(15);
    let (Some(body), Some(days), Some(court), Some(months)) = (body, days, court, months) else {
        return refuse("the catalogue's profile names no reconsideration body or court");
    };
    let (days, months, after) = (count_zh(days), count_zh(months), count_zh(after));
    Ok(if on_the_spot {
        format!(
            "如不服本决定，可以在收到本决定书之日起{days}日内向{body}申请行政复议（对当场作出的行政处罚决定不服的，应当先申请行政复议）；对行政复议决定不服的，可以在收到行政复议决定书之日起{after}日内向{court}提起行政诉讼。行政复议期间，本决定不停止执行。"
        )
    } else {
        format!(
            "如不服本决定，可以在收到本决定书之日起{days}日内向{body}申请行政复议，或者在{months}个月内向{court}提起行政诉讼。行政复议和行政诉讼期间，本决定不停止执行。"
        )
    })
}

fn officers(case: &CaseRecord, roster: &dyn Directory) -> Result<String, Refusal> {
    let mut out = Vec::new();
    for id in &case.officers {
        let Some(card) = roster.user(id).filter(|u| !u.name.trim().is_empty()) else {
            return refuse(format!("officer {id} is not on the roster"));
        };
        let Some(cert) = card.cert_no.filter(|c| !c.trim().is_empty()) else {
            return refuse(format!(
                "officer {id} has no enforcement certificate number (执法证号) on the roster"
            ));
        };
        out.push(format!("{}（执法证号：{cert}）", card.name));
    }
    Ok(out.join("、"))
}

/// The fields of a document of `frame.kind` on `case`: `case_cat` is the catalogue the case
/// was recorded under (item, laws), `doc_cat` the one whose templates draw the document
/// (profile, rights). Refuses when the case does not support the document.
pub fn derived_fields(
    frame: DocumentFrame<'_>,
    case: &CaseRecord,
    existing: &[IssuedDocument],
    case_cat: &Catalogue,
    doc_cat: &Catalogue,
    roster: &dyn Directory,
) -> Result<BTreeMap<String, String>, Refusal> {
    let item = case_cat.item(&case.violation.code).map_err(|e| Refusal {
        code: RefusalCode::UnknownViolation,
        detail: e.to_string(),
    })?;
    // Every field the templates may use exists; a kind fills its own.
    let mut f: BTreeMap<String, String> = crate::catalogue::KNOWN_FIELDS
        .iter()
        .map(|k| (k.to_string(), String::new()))
        .collect();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    let profile = doc_cat.profile();
    put("authority", profile.bureau.zh.clone());
    put("issued_date", date_zh(frame.issued_at_ms));
    put("issued_at", datetime_zh(frame.issued_at_ms));
    put("case_ref", case.id.clone());
    put(
        "document_number",
        frame.number.unwrap_or_default().to_string(),
    );
    put("occurred_at", datetime_zh(case.occurred_at_ms));
    put(
        "place",
        case.place
            .address
            .clone()
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| format!("北纬{:.5}度、东经{:.5}度", case.place.lat, case.place.lon)),
    );
    put("violation_name", item.name.zh.clone());
    put(
        "violation_facts",
        case.violation
            .description
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| item.name.zh.clone()),
    );
    put("officers", officers(case, roster)?);
    put("basis_prohibition", basis(item, case_cat, "prohibition"));
    let on_penalty = basis(item, case_cat, "penalty");
    put("basis_penalty", on_penalty.clone());
    let correction = basis(item, case_cat, "correction_order");
    put(
        "basis_correction",
        if correction.is_empty() {
            "《中华人民共和国行政处罚法》第二十八条第一款".into()
        } else {
            correction
        },
    );
    let exemption_basis = basis(item, case_cat, "exemption");
    const APL_33: &str = "《中华人民共和国行政处罚法》第三十三条第一款";
    put(
        "basis_exemption",
        if exemption_basis.is_empty() {
            APL_33.into()
        } else if exemption_basis.contains("第三十三条") {
            exemption_basis
        } else {
            format!("{APL_33}、{exemption_basis}")
        },
    );
    let statement = profile.rights.statement_days.days.unwrap_or(3);
    put("statement_days", count_zh(statement));
    let hearing_days = profile.rights.hearing_request_days.days.unwrap_or(5);

    let hearing_text = format!(
        "根据《中华人民共和国行政处罚法》第六十三条、第六十四条的规定，你（单位）有权要求举行听证，可在收到本告知书之日起{}个工作日内向本机关提出；逾期未提出的，视为放弃听证权利。",
        count_zh(hearing_days)
    );
    let payment_days = profile.time_limits.fine_payment_days.days.unwrap_or(15);
    let payment_text = format!(
        "你（单位）应当自收到本决定书之日起{}日内，到指定的银行或者通过电子支付系统缴纳罚款。到期不缴纳罚款的，本机关可以每日按罚款数额的百分之三加处罚款，加处罚款的数额不得超出罚款的数额。",
        count_zh(payment_days)
    );

    match frame.kind {
        DocumentKind::InspectionRecord | DocumentKind::InquiryRecord => {}
        DocumentKind::CorrectionOrder => {
            let Some(order) = case
                .actions
                .iter()
                .rev()
                .find(|a| a.method == Method::CorrectionOrder)
            else {
                return refuse("an order to correct needs a correction_order action on the case");
            };
            let Some(deadline) = order.fields.get("deadline").and_then(|v| v.as_i64()) else {
                return refuse("the correction_order action has no deadline");
            };
            put("correction_deadline", datetime_zh(deadline));
            let items: Vec<String> = order
                .fields
                .get("items")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            put(
                "correction_items",
                if items.is_empty() {
                    "停止违法行为，恢复原状".into()
                } else {
                    items.join("；")
                },
            );
        }
        DocumentKind::PledgeNotice | DocumentKind::NoPenaltyDecision => {
            let Some(e) = &case.exemption else {
                return refuse("the case has no exemption from penalty");
            };
            put(
                "exemption_reason",
                match e.kind {
                    ExemptionKind::FirstOffence => {
                        "属于初次违法且危害后果轻微，并已及时改正或者承诺限期改正".into()
                    }
                    ExemptionKind::MinorNoPenalty => {
                        "违法行为轻微并及时改正，没有造成危害后果".to_string()
                    }
                },
            );
            match (&e.pledge, frame.kind) {
                (Some(p), _) => {
                    put("pledge_text", p.text.clone());
                    put("pledge_deadline", datetime_zh(p.deadline_ms));
                }
                (None, DocumentKind::PledgeNotice) => {
                    return refuse("the exemption carries no pledge to print");
                }
                (None, _) => {}
            }
            put("rights_text", rights_text(doc_cat, false)?);
        }
        DocumentKind::PriorNotice => {
            let Some(step) = case
                .steps
                .iter()
                .rev()
                .find(|s| s.step == StepKind::PriorNotice)
            else {
                return refuse("a prior notice needs the prior_notice step recorded first");
            };
            let Some(p) = step.proposed else {
                return refuse("the prior_notice step proposes no penalty");
            };
            if on_penalty.is_empty() {
                return refuse("the item has no confirmed penalty article to cite");
            }
            put(
                "proposed_penalty_text",
                penalty_text(p.penalty, p.amount_yuan),
            );
            put("amount_yuan", p.amount_yuan.to_string());
            put("amount_words", yuan_in_words(p.amount_yuan));
            if step.hearing_right_notified {
                put("hearing_text", hearing_text);
            }
        }
        DocumentKind::OnTheSpotDecision | DocumentKind::PenaltyDecision => {
            let Some(d) = &case.decision else {
                return refuse("the case has no penalty decision");
            };
            let want = if frame.kind == DocumentKind::OnTheSpotDecision {
                Procedure::Simple
            } else {
                Procedure::Ordinary
            };
            if d.procedure != Some(want) {
                return refuse(format!(
                    "a {} is issued only under the {} procedure",
                    frame.kind.as_str(),
                    want.as_str()
                ));
            }
            if case.decision_in_effect().is_none() {
                return refuse("the decision is not in effect (review or approval pending)");
            }
            if on_penalty.is_empty() {
                return refuse("the item has no confirmed penalty article to cite");
            }
            put("penalty_text", penalty_text(d.penalty, d.amount_yuan));
            put("amount_yuan", d.amount_yuan.to_string());
            put("amount_words", yuan_in_words(d.amount_yuan));
            if d.penalty == PenaltyKind::Fine {
                put("payment_text", payment_text);
            }
            if let Some(s) = case.steps.iter().find(|s| s.step == StepKind::PriorNotice) {
                put("prior_notice_date", date_zh(s.at_ms));
            }
            put(
                "rights_text",
                rights_text(doc_cat, frame.kind == DocumentKind::OnTheSpotDecision)?,
            );
        }
        DocumentKind::ServiceReceipt => {
            let Some(served) = frame
                .serves
                .and_then(|id| existing.iter().find(|d| d.id == id))
            else {
                return refuse("a service receipt names a document issued on this case");
            };
            if served.kind == DocumentKind::ServiceReceipt {
                return refuse("a service receipt cannot serve another receipt");
            }
            let title = doc_cat
                .documents()
                .and_then(|t| t.get(served.kind))
                .map(|t| t.title.clone())
                .unwrap_or_else(|| served.kind.as_str().to_string());
            put("served_title", title);
            put(
                "served_number",
                served
                    .number
                    .as_ref()
                    .map(|n| n.text.clone())
                    .unwrap_or_default(),
            );
        }
    }
    Ok(f)
}
