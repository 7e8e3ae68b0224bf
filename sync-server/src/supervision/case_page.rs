//! The reviewer's case page: server-rendered HTML in Chinese, no scripts, no external
//! resources. Evidence is loaded from this server's own session-checked route
//! (`/dashboard/case/{id}/evidence/{sha256}`), so the page's CSP allows images and media from
//! `'self'` only.

use super::case_view::CaseView;
use super::dashboard::{approval_form, review_form};
use super::disclosure::escape_html;
use super::labels;
use fieldcase_core::evidence::EvidenceKind;
use std::fmt::Write;

/// The page's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                       media-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// Where the page loads an evidence file from.
pub fn evidence_href(case_id: &str, sha256: &str) -> String {
    format!(
        "/dashboard/case/{}/evidence/{}",
        escape_html(case_id),
        escape_html(sha256)
    )
}

/// Where the PDF of an issued document will be served.
pub fn document_href(case_id: &str, doc_id: &str) -> String {
    format!(
        "/dashboard/case/{}/documents/{}.pdf",
        escape_html(case_id),
        escape_html(doc_id)
    )
}

fn row(out: &mut String, label: &str, value: &str) {
    let _ = write!(
        out,
        "<tr><th>{}</th><td>{}</td></tr>",
        escape_html(label),
        escape_html(value)
    );
}

fn facts(v: &CaseView) -> String {
    let mut t = String::from("<table id=\"facts\">");
    row(&mut t, "案件编号", &v.id);
    row(&mut t, "办理单位", &v.unit_name);
    row(&mut t, "状态", &v.status);
    row(
        &mut t,
        "违法行为",
        &format!("{}（{}）", v.violation, v.violation_code),
    );
    row(&mut t, "情节", &v.tier);
    row(&mut t, "发生时间", &v.occurred);
    row(&mut t, "地点", &v.address);
    row(&mut t, "坐标", &v.coordinates);
    row(&mut t, "执法人员", &v.officers.join("、"));
    if let Some(d) = &v.description {
        row(&mut t, "情况描述", d);
    }
    t.push_str("</table>");
    t
}

fn party(v: &CaseView) -> String {
    match &v.party {
        Some(p) => {
            let mut t = String::from("<table id=\"party\">");
            row(&mut t, "类型", &p.party_type);
            row(&mut t, "姓名（名称）", &p.name);
            row(&mut t, "证件号码", &p.id_number);
            row(&mut t, "电话", p.phone.as_deref().unwrap_or("—"));
            t.push_str("</table><p class=\"hint\">个人信息已脱敏。</p>");
            t
        }
        None if v.party_withheld => "<p id=\"party\">当事人信息不可查看。</p>".into(),
        None => "<p id=\"party\">未登记当事人。</p>".into(),
    }
}

fn timeline(v: &CaseView) -> String {
    let mut t = String::from(
        "<table id=\"timeline\"><thead><tr><th>时间</th><th>事项</th><th>人员</th><th>说明</th></tr></thead><tbody>",
    );
    for e in &v.timeline {
        let _ = write!(
            t,
            "<tr data-kind=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.kind,
            escape_html(&e.when),
            escape_html(&e.what),
            escape_html(&e.by),
            escape_html(&e.detail)
        );
    }
    t.push_str("</tbody></table>");
    t
}

fn evidence(v: &CaseView) -> String {
    let mut t = String::from("<div id=\"evidence\">");
    for e in &v.evidence {
        let media = match e.kind {
            EvidenceKind::Photo | EvidenceKind::Signature => {
                match (&e.thumbnail_sha256, &e.display_sha256) {
                    (Some(thumb), display) => format!(
                        "<a href=\"{}\"><img class=\"evidence-thumb\" src=\"{}\" alt=\"{}\"></a>",
                        evidence_href(&v.id, display.as_deref().unwrap_or(thumb)),
                        evidence_href(&v.id, thumb),
                        labels::evidence(e.kind)
                    ),
                    (None, Some(display)) => format!(
                        "<img class=\"evidence-thumb\" src=\"{}\" alt=\"{}\">",
                        evidence_href(&v.id, display),
                        labels::evidence(e.kind)
                    ),
                    (None, None) => "<span>（无预览）</span>".into(),
                }
            }
            EvidenceKind::Audio => format!(
                "<audio class=\"evidence-audio\" controls preload=\"metadata\" src=\"{}\"></audio>",
                evidence_href(&v.id, &e.original_sha256)
            ),
        };
        let duration = e
            .duration_ms
            .map(|ms| format!("，时长 {:.1} 秒", ms as f64 / 1000.0))
            .unwrap_or_default();
        let _ = write!(
            t,
            "<figure class=\"evidence\" data-kind=\"{kind}\" data-id=\"{id}\">{media}<figcaption>{label}　{captured}　{officer}{duration}<br>\
             SHA-256 <code class=\"sha\">{sha}</code><br>签名：<b class=\"signature\">{sig}</b>{note}</figcaption></figure>",
            kind = e.kind.as_str(),
            id = escape_html(&e.id),
            label = labels::evidence(e.kind),
            captured = escape_html(&e.captured),
            officer = escape_html(&e.officer),
            sha = escape_html(&e.original_sha256),
            sig = if e.signature_ok { "有效" } else { "无效" },
            note = e
                .note
                .as_deref()
                .map(|n| format!("<br>{}", escape_html(n)))
                .unwrap_or_default(),
        );
    }
    if v.evidence.is_empty() {
        t.push_str("<p>无证据。</p>");
    }
    if v.redacted > 0 {
        let _ = write!(
            t,
            "<p class=\"hint\" id=\"redacted\">另有 {} 项证据已屏蔽，不予显示。</p>",
            v.redacted
        );
    }
    t.push_str("</div>");
    t
}

fn documents(v: &CaseView) -> String {
    let file = format!(
        "<p><a id=\"case-file\" href=\"/dashboard/case/{}/file.pdf\">打印案卷（封面、目录、文书、证据，PDF）</a></p>",
        escape_html(&v.id)
    );
    if v.documents.is_empty() {
        return format!("<p id=\"documents\">尚未制发文书。</p>{file}");
    }
    let mut t = String::from(
        "<table id=\"documents\"><thead><tr><th>文书</th><th>文号</th><th>日期</th><th>SHA-256</th><th>更正</th><th>文件</th></tr></thead><tbody>",
    );
    for d in &v.documents {
        let _ = write!(
            t,
            "<tr{cls}><td>{kind}{sup}</td><td class=\"number\">{number}</td><td>{day}</td><td><code>{sha}</code>{bad}</td><td>{replaces}</td><td><a href=\"{href}\">PDF</a></td></tr>",
            cls = if d.superseded {
                " class=\"superseded\""
            } else {
                ""
            },
            kind = escape_html(&d.kind),
            sup = if d.superseded {
                "（已被更正）"
            } else {
                ""
            },
            number = escape_html(d.number.as_deref().unwrap_or("—")),
            day = escape_html(&d.issued_day),
            sha = escape_html(&d.sha256),
            bad = if d.hash_ok {
                ""
            } else {
                " <b>哈希不符</b>"
            },
            replaces = d
                .replaces
                .as_deref()
                .map(|r| format!("更正 {}", escape_html(r)))
                .unwrap_or_else(|| "—".into()),
            href = document_href(&v.id, &d.id),
        );
    }
    t.push_str("</tbody></table>");
    t.push_str(&file);
    t
}

fn checks(v: &CaseView) -> String {
    let failed = v.checks.iter().filter(|c| c.ok == Some(false)).count();
    let pending = v.checks.iter().filter(|c| c.ok.is_none()).count();
    let summary = if failed > 0 {
        format!("{failed} 项未通过")
    } else if pending > 0 {
        format!("未发现问题；{pending} 项尚无法核验")
    } else {
        "全部通过".into()
    };
    let mut t = format!(
        "<p>核验结果：<b id=\"verify-summary\" data-failed=\"{failed}\">{summary}</b>（共 {} 项）</p>\
         <table id=\"checks\"><thead><tr><th>核验</th><th>对象</th><th>结果</th><th>说明</th></tr></thead><tbody>",
        v.checks.len()
    );
    for c in &v.checks {
        let (result, class) = match c.ok {
            Some(true) => ("通过", "ok"),
            Some(false) => ("未通过", "failed"),
            None => ("待核验", "pending"),
        };
        let _ = write!(
            t,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{result}</td><td>{}</td></tr>",
            escape_html(&c.what),
            escape_html(&c.subject),
            escape_html(&c.detail)
        );
    }
    t.push_str("</tbody></table>");
    t
}

fn decision(v: &CaseView) -> String {
    let Some(d) = &v.decision else {
        return "<p id=\"decision\">尚无处罚决定。</p>".into();
    };
    let mut t = String::from("<table id=\"decision\">");
    row(&mut t, "处罚", &d.penalty);
    row(&mut t, "程序", &d.procedure);
    row(
        &mut t,
        "审核原因",
        &if d.review_reasons.is_empty() {
            "—".to_string()
        } else {
            d.review_reasons.join("、")
        },
    );
    let _ = write!(
        t,
        "<tr><th>法制审核</th><td><b id=\"review-outcome\">{}</b></td></tr>",
        escape_html(&d.review)
    );
    if let Some(o) = &d.opinion {
        row(&mut t, "审核意见", o);
    }
    t.push_str("</table>");
    if let Some(id) = &v.review_form {
        t.push_str(&review_form(&v.id, id, false, Some("case")));
    }
    if let Some(id) = &v.approval_form {
        t.push_str(&approval_form(&v.id, id, Some("case")));
    }
    t
}

/// The whole page.
pub fn render(v: &CaseView) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>案件 {id}</title>\
         <style>body{{font-family:sans-serif;margin:1.5em;color:#222}}section{{margin:1.2em 0}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #aaa;padding:3px 8px;text-align:left;vertical-align:top}}figure{{display:inline-block;margin:0 1em 1em 0;vertical-align:top;max-width:340px}}\
         img.evidence-thumb{{max-width:320px;border:1px solid #aaa}}code{{font-size:11px;word-break:break-all}}.hint{{color:#666}}\
         tr.failed td{{color:#b00}}tr.superseded td{{color:#888}}fieldset{{margin:.5em 0}}</style>\
         </head><body><p><a href=\"/dashboard\">返回监督看板</a></p><h1>案件详情</h1>\
         <section><h2>基本情况</h2>{facts}</section>\
         <section><h2>当事人</h2>{party}</section>\
         <section><h2>处罚决定与法制审核</h2>{decision}</section>\
         <section><h2>办理过程</h2>{timeline}</section>\
         <section><h2>证据</h2>{evidence}</section>\
         <section><h2>执法文书</h2>{documents}</section>\
         <section><h2>服务器核验</h2>{checks}</section>\
         </body></html>",
        id = escape_html(&v.id),
        facts = facts(v),
        party = party(v),
        decision = decision(v),
        timeline = timeline(v),
        evidence = evidence(v),
        documents = documents(v),
        checks = checks(v),
    )
}

/// The page for a case that does not exist or lies outside the viewer's units: one answer
/// for both.
pub fn not_found() -> String {
    "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>案件不存在</title></head>\
     <body><h1>案件不存在</h1><p>未找到该案件，或该案件不在您的管辖范围内。</p><p><a href=\"/dashboard\">返回监督看板</a></p></body></html>"
        .into()
}
