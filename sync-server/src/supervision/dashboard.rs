//! The supervisors' dashboard page: server-rendered HTML in Chinese with inline SVG charts, no
//! scripts, no external fonts or styles, so it renders the same on any browser the bureau has.

use super::disclosure::escape_html;
use super::labels;
use fieldcase_core::catalogue::MeasureCategory;
use fieldcase_core::model::CaseRecord;
use fieldcase_core::model::DemonstrationRecord;
use fieldcase_core::stats::{Stats, StatsScope, case_class};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A follow-up past due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueRow {
    /// Case.
    pub case_id: String,
    /// Unit.
    pub unit: String,
    /// Due day.
    pub due_day: String,
    /// Days overdue.
    pub days_overdue: i64,
}

/// A decision awaiting legal review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReviewRow {
    /// Case.
    pub case_id: String,
    /// Decision.
    pub decision_id: String,
    /// Unit.
    pub unit: String,
    /// Fine.
    pub amount_yuan: i64,
    /// Why review is needed.
    pub reasons: Vec<String>,
    /// Day decided.
    pub decided_day: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardData {
    /// Scope description, e.g. the unit name.
    pub scope_label: String,
    /// When generated (display string).
    pub generated_at: String,
    /// Totals.
    pub overall: Stats,
    /// Per unit.
    pub by_unit: Vec<(String, Stats)>,
    /// Per week: label and actions by class (service, management, enforcement).
    pub weekly: Vec<(String, [i64; 3])>,
    /// Overdue follow-ups.
    pub overdue: Vec<OverdueRow>,
    /// Review queue.
    pub review_queue: Vec<ReviewRow>,
    /// Places with repeat violations: cell and cases.
    pub repeat_places: Vec<(String, i64)>,
    /// The viewer is a legal reviewer: the queue carries approve/return forms.
    #[serde(default)]
    pub can_review: bool,
    /// Decisions awaiting the head's approval.
    #[serde(default)]
    pub approval_queue: Vec<ReviewRow>,
    /// The viewer is a supervisor: the approval queue carries approve forms.
    #[serde(default)]
    pub can_approve: bool,
    /// Procedure time limits passed unmet (decision, service, payment).
    #[serde(default)]
    pub overdue_limits: Vec<super::queues::LimitRow>,
    /// The ledger of document numbers (supervisors): gaps and numbers taken twice.
    #[serde(default, skip_deserializing)]
    pub number_ledger: Vec<crate::storage::numbers::SeriesLedger>,
}

/// Everything the dashboard shows of `scope` as of `now_ms`, from the same functions as the
/// statistics API, the reports and the queues (so the numbers agree).
pub fn assemble(
    scope: &StatsScope,
    scope_label: &str,
    cases: &[CaseRecord],
    demos: &[DemonstrationRecord],
    catalogues: &fieldcase_core::catalogue::CatalogueSet,
    now_ms: i64,
) -> DashboardData {
    let report = super::report::Report::compute(scope, cases, demos);
    let follow = super::queues::follow_ups(scope, cases, now_ms);
    let queue = super::queues::review_queue(scope, cases);
    let minutes = (now_ms.div_euclid(60_000) + 8 * 60).rem_euclid(24 * 60);
    DashboardData {
        scope_label: scope_label.to_string(),
        generated_at: format!(
            "{} {:02}:{:02}",
            fieldcase_core::store::china_day(now_ms),
            minutes / 60,
            minutes % 60
        ),
        overall: report.total,
        by_unit: report.by_unit,
        weekly: weekly_counts(scope, cases, demos, now_ms, 8),
        overdue: follow.overdue_rows(),
        review_queue: queue.pending,
        approval_queue: queue.awaiting_approval,
        can_approve: false,
        overdue_limits: super::queues::overdue_limits(scope, cases, catalogues, now_ms),
        repeat_places: fieldcase_core::stats::repeat_places(scope, cases),
        can_review: false,
        number_ledger: vec![],
    }
}

const COLORS: [&str; 3] = ["#2e7d32", "#f9a825", "#c62828"];
const LABELS: [&str; 3] = ["服务", "管理", "执法"];
const CLASSES: [MeasureCategory; 3] = [
    MeasureCategory::Service,
    MeasureCategory::Management,
    MeasureCategory::Enforcement,
];

/// Cases per week of their occurrence (weeks start on Monday, China time) for the last `weeks`
/// weeks ending at `now_ms`, by 721 class (each case once, in its highest class, as the
/// statistics count it). Demonstration records count as service.
pub fn weekly_counts(
    scope: &StatsScope,
    cases: &[CaseRecord],
    demos: &[DemonstrationRecord],
    now_ms: i64,
    weeks: i64,
) -> Vec<(String, [i64; 3])> {
    const WEEK: i64 = 7 * 86_400_000;
    const CST: i64 = 8 * 3_600_000;
    // 1970-01-05 was a Monday.
    let monday0 = 4 * 86_400_000 - CST;
    let week_of = |ms: i64| (ms - monday0).div_euclid(WEEK);
    let last = week_of(now_ms);
    let first = last - weeks + 1;
    let mut counts: BTreeMap<i64, [i64; 3]> = (first..=last).map(|w| (w, [0; 3])).collect();
    let idx = |c: MeasureCategory| CLASSES.iter().position(|x| *x == c).unwrap_or(0);
    for c in cases.iter().filter(|c| scope.covers_unit(&c.unit)) {
        if let (Some(class), Some(slot)) =
            (case_class(c), counts.get_mut(&week_of(c.occurred_at_ms)))
        {
            slot[idx(class)] += 1;
        }
    }
    for d in demos.iter().filter(|d| scope.covers_unit(&d.unit)) {
        if let Some(slot) = counts.get_mut(&week_of(d.started_at_ms)) {
            slot[idx(MeasureCategory::Service)] += 1;
        }
    }
    counts
        .into_iter()
        .map(|(w, c)| {
            (
                fieldcase_core::store::china_day(monday0 + w * WEEK + CST),
                c,
            )
        })
        .collect()
}

fn shares(s: &Stats) -> [(i64, f64, f64); 3] {
    let mut out = [(0, 0.0, 0.0); 3];
    for (i, c) in CLASSES.iter().enumerate() {
        if let Some(m) = s.measures.iter().find(|m| m.category == *c) {
            out[i] = (m.count, m.share, m.target);
        }
    }
    out
}

/// The 721 donut: actual shares in the inner ring, the 70/20/10 target in the outer ring.
pub fn donut_svg(s: &Stats) -> String {
    let sh = shares(s);
    let mut svg = String::from(
        "<svg id=\"donut721\" xmlns=\"http://www.w3.org/2000/svg\" width=\"260\" height=\"260\" viewBox=\"0 0 260 260\" role=\"img\" aria-label=\"721 占比\">",
    );
    for (ring, r, width, pick) in [
        ("target", 110.0, 10.0, 2usize),
        ("actual", 80.0, 34.0, 1usize),
    ] {
        let circ = 2.0 * std::f64::consts::PI * r;
        let mut offset = 0.0;
        for (i, v) in sh.iter().enumerate() {
            let frac = if pick == 1 { v.1 } else { v.2 };
            let len = frac * circ;
            let _ = write!(
                svg,
                "<circle class=\"{ring}\" data-class=\"{}\" cx=\"130\" cy=\"130\" r=\"{r}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\" stroke-dasharray=\"{len:.2} {:.2}\" stroke-dashoffset=\"{:.2}\" transform=\"rotate(-90 130 130)\"/>",
                LABELS[i],
                COLORS[i],
                circ - len,
                -offset
            );
            offset += len;
        }
    }
    let total: i64 = sh.iter().map(|v| v.0).sum();
    let _ = write!(
        svg,
        "<text x=\"130\" y=\"125\" text-anchor=\"middle\" font-size=\"22\">{:.0}%</text><text x=\"130\" y=\"150\" text-anchor=\"middle\" font-size=\"13\">服务类 / 共 {total} 项</text></svg>",
        sh[0].1 * 100.0
    );
    svg
}

/// Stacked weekly bars.
pub fn trend_svg(weekly: &[(String, [i64; 3])]) -> String {
    let max = weekly
        .iter()
        .map(|(_, c)| c.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let bw = 36.0;
    let h = 160.0;
    let width = 40.0 + weekly.len() as f64 * (bw + 12.0);
    let mut svg = format!(
        "<svg id=\"trend\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"210\" role=\"img\" aria-label=\"每周趋势\">"
    );
    for (i, (label, c)) in weekly.iter().enumerate() {
        let x = 30.0 + i as f64 * (bw + 12.0);
        let mut y = h + 10.0;
        for (k, n) in c.iter().enumerate() {
            let bh = *n as f64 / max as f64 * h;
            y -= bh;
            let _ = write!(
                svg,
                "<rect class=\"bar\" data-week=\"{}\" data-class=\"{}\" data-count=\"{n}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw}\" height=\"{bh:.1}\" fill=\"{}\"/>",
                escape_html(label),
                LABELS[k],
                COLORS[k]
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x + bw / 2.0,
            h + 28.0,
            escape_html(label.get(5..).unwrap_or(label))
        );
    }
    svg.push_str("</svg>");
    svg
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// A case id linked to its case page.
pub fn case_link(case_id: &str) -> String {
    format!(
        "<a class=\"case\" href=\"/dashboard/case/{c}\">{c}</a>",
        c = escape_html(case_id)
    )
}

/// The legal review form (approve or return, with the checklist), posted to
/// `/dashboard/review`. `ticked`: the checklist boxes start ticked (the queue's quick form);
/// the case page leaves them for the reviewer to tick. `back`: `case` returns to the case page
/// after the review.
pub fn review_form(case_id: &str, decision_id: &str, ticked: bool, back: Option<&str>) -> String {
    let checked = if ticked { " checked" } else { "" };
    format!(
        "<form class=\"review\" method=\"post\" action=\"/dashboard/review\">\
         <input type=\"hidden\" name=\"case_id\" value=\"{c}\">\
         <input type=\"hidden\" name=\"decision_id\" value=\"{dec}\">{back}\
         <fieldset class=\"checklist\"><legend>审核要点</legend>{points}</fieldset>\
         <input name=\"opinion\" required maxlength=\"4000\" placeholder=\"审核意见\">\
         <button name=\"outcome\" value=\"approved\">批准</button>\
         <button name=\"outcome\" value=\"returned\">退回</button></form>",
        c = escape_html(case_id),
        dec = escape_html(decision_id),
        back = back_field(back),
        points = labels::CHECKLIST_POINTS
            .iter()
            .map(|(name, label)| format!(
                "<label><input type=\"checkbox\" name=\"pass_{name}\"{checked}> {label}</label>\
                 <input name=\"note_{name}\" maxlength=\"2000\" placeholder=\"{label}：未通过的说明\">"
            ))
            .collect::<String>()
    )
}

/// The head's approval form, posted to `/dashboard/approve` (`back` as for [`review_form`]).
pub fn approval_form(case_id: &str, decision_id: &str, back: Option<&str>) -> String {
    format!(
        "<form class=\"approval\" method=\"post\" action=\"/dashboard/approve\">\
         <input type=\"hidden\" name=\"case_id\" value=\"{c}\">\
         <input type=\"hidden\" name=\"decision_id\" value=\"{dec}\">{back}\
         <input name=\"note\" maxlength=\"4000\" placeholder=\"批示（可选）\">\
         <button>批准</button></form>",
        c = escape_html(case_id),
        dec = escape_html(decision_id),
        back = back_field(back),
    )
}

fn back_field(back: Option<&str>) -> String {
    back.map(|b| {
        format!(
            "<input type=\"hidden\" name=\"back\" value=\"{}\">",
            escape_html(b)
        )
    })
    .unwrap_or_default()
}

/// The whole page.
pub fn render(d: &DashboardData) -> String {
    let sh = shares(&d.overall);
    let mut legend = String::new();
    for i in 0..3 {
        let _ = write!(
            legend,
            "<li><span style=\"color:{}\">■</span> {}：<b class=\"share\" data-class=\"{}\">{}</b>（目标 {}，{} 项）</li>",
            COLORS[i],
            LABELS[i],
            LABELS[i],
            pct(sh[i].1),
            pct(sh[i].2),
            sh[i].0
        );
    }
    let mut units = String::new();
    for (u, s) in &d.by_unit {
        let us = shares(s);
        let _ = write!(
            units,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(u),
            s.cases,
            pct(us[0].1),
            pct(us[1].1),
            pct(us[2].1),
            s.exemptions_granted,
            pct(s.correction_within_deadline.rate),
            pct(s.follow_up_completion.rate)
        );
    }
    let mut overdue = String::new();
    for o in &d.overdue {
        let _ = write!(
            overdue,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            case_link(&o.case_id),
            escape_html(&o.unit),
            escape_html(&o.due_day),
            o.days_overdue
        );
    }
    let mut reviews = String::new();
    for r in &d.review_queue {
        let reasons: Vec<&str> = r.reasons.iter().map(|x| labels::review_reason(x)).collect();
        let action = if d.can_review {
            review_form(&r.case_id, &r.decision_id, true, None)
        } else {
            "—".to_string()
        };
        let _ = write!(
            reviews,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            case_link(&r.case_id),
            escape_html(&r.unit),
            r.amount_yuan,
            reasons.join("、"),
            escape_html(&r.decided_day)
        );
    }
    let mut approvals = String::new();
    for r in &d.approval_queue {
        let action = if d.can_approve {
            approval_form(&r.case_id, &r.decision_id, None)
        } else {
            "—".to_string()
        };
        let _ = write!(
            approvals,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            case_link(&r.case_id),
            escape_html(&r.unit),
            r.amount_yuan,
            escape_html(&r.decided_day)
        );
    }
    let mut limits = String::new();
    for l in &d.overdue_limits {
        let what = match l.what.as_str() {
            "decision" => "作出决定（立案后90日）",
            "service" => "送达（7个工作日）",
            "payment" => "缴纳罚款（15日）",
            _ => "其他",
        };
        let _ = write!(
            limits,
            "<tr><td>{}</td><td>{}</td><td>{what}</td><td>{}</td><td>{}</td></tr>",
            case_link(&l.case_id),
            escape_html(&l.unit),
            escape_html(&l.due_day),
            l.days_overdue
        );
    }
    let mut numbers = String::new();
    for l in &d.number_ledger {
        let list = |v: &[i64]| {
            let shown: Vec<String> = v.iter().take(50).map(i64::to_string).collect();
            let more = if v.len() > 50 { "……" } else { "" };
            format!("{}{more}", shown.join("、"))
        };
        let _ = write!(
            numbers,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&l.series),
            l.year,
            l.reserved,
            l.taken,
            l.held,
            escape_html(&list(&l.gaps)),
            escape_html(&list(&l.duplicates)),
        );
    }
    let numbers = if d.number_ledger.is_empty() {
        String::new()
    } else {
        format!(
            "<section><h2>文号台账</h2><table id=\"numbers\"><thead><tr><th>类别</th><th>年度</th><th>已分配</th><th>已使用</th><th>设备持有</th><th>空号</th><th>重号</th></tr></thead><tbody>{numbers}</tbody></table></section>"
        )
    };
    let mut places = String::new();
    for (cell, n) in &d.repeat_places {
        let _ = write!(
            places,
            "<tr><td>{}</td><td>{n}</td></tr>",
            escape_html(cell)
        );
    }
    let o = &d.overall;
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>柔性执法监督看板</title>\
    <style>body{{font-family:sans-serif;margin:1.5em;color:#222}}section{{margin:1.2em 0}}table{{border-collapse:collapse}}td,th{{border:1px solid #aaa;padding:3px 8px}}.cards span{{display:inline-block;margin-right:2em}}ul{{list-style:none;padding:0}}</style>\
    </head><body><h1>柔性执法监督看板</h1><p>范围：{scope}　生成时间：{gen}</p>\
    <section class=\"cards\"><span>案件 <b id=\"cases\">{cases}</b></span><span>免罚 <b id=\"exemptions\">{ex}</b></span><span>按期整改率 <b id=\"correction\">{corr}</b></span><span>回访完成率 <b id=\"followup\">{fu}</b></span><span>劝导示范 <b id=\"demos\">{demos}</b> 次，劝导 <b id=\"persuaded\">{pers}</b> 人</span><span>免罚冲突 <b id=\"conflicts\">{conf}</b></span></section>\
    <section><h2>721 占比（内环实际，外环目标）</h2>{donut}<ul>{legend}</ul></section>\
    <section><h2>每周趋势</h2>{trend}</section>\
    <section><h2>各单位</h2><table id=\"units\"><thead><tr><th>单位</th><th>案件</th><th>服务</th><th>管理</th><th>执法</th><th>免罚</th><th>按期整改率</th><th>回访完成率</th></tr></thead><tbody>{units}</tbody></table></section>\
    <section><h2>逾期回访（{n_over}）</h2><table id=\"overdue\"><thead><tr><th>案件</th><th>单位</th><th>应回访日</th><th>逾期天数</th></tr></thead><tbody>{overdue}</tbody></table></section>\
    <section><h2>法制审核队列（{n_rev}）</h2><table id=\"reviews\"><thead><tr><th>案件</th><th>单位</th><th>罚款（元）</th><th>审核原因</th><th>决定日期</th><th>审核</th></tr></thead><tbody>{reviews}</tbody></table></section>\
    <section><h2>负责人批准（{n_appr}）</h2><table id=\"approvals\"><thead><tr><th>案件</th><th>单位</th><th>罚款（元）</th><th>决定日期</th><th>批准</th></tr></thead><tbody>{approvals}</tbody></table></section>\
    <section><h2>程序时限逾期（{n_lim}）</h2><table id=\"limits\"><thead><tr><th>案件</th><th>单位</th><th>时限</th><th>到期日</th><th>逾期天数</th></tr></thead><tbody>{limits}</tbody></table></section>\
    <section><h2>重复违法地点</h2><table id=\"places\"><thead><tr><th>地点（约 110 米网格）</th><th>案件</th></tr></thead><tbody>{places}</tbody></table></section>{numbers}\
    </body></html>",
        scope = escape_html(&d.scope_label),
        gen = escape_html(&d.generated_at),
        cases = o.cases,
        ex = o.exemptions_granted,
        corr = pct(o.correction_within_deadline.rate),
        fu = pct(o.follow_up_completion.rate),
        demos = o.demonstrations,
        pers = o.people_persuaded,
        conf = o.exemption_conflicts,
        donut = donut_svg(o),
        legend = legend,
        trend = trend_svg(&d.weekly),
        units = units,
        n_over = d.overdue.len(),
        overdue = overdue,
        n_rev = d.review_queue.len(),
        reviews = reviews,
        n_appr = d.approval_queue.len(),
        n_lim = d.overdue_limits.len(),
        limits = limits,
        approvals = approvals,
        places = places,
        numbers = numbers,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::stats::compute;

    #[test]
    fn page_is_self_contained_and_escapes_text() {
        let scope = StatsScope {
            unit: None,
            from_ms: None,
            to_ms: None,
        };
        let s = compute(&scope, &[], &[]);
        let d = DashboardData {
            scope_label: "<script>alert(1)</script>".into(),
            generated_at: "2026-11-26".into(),
            overall: s.clone(),
            by_unit: vec![("luan".into(), s)],
            weekly: weekly_counts(&scope, &[], &[], 1_790_000_000_000, 8),
            overdue: vec![],
            review_queue: vec![],
            repeat_places: vec![],
            can_review: false,
            approval_queue: vec![ReviewRow {
                case_id: "c\"><script>".into(),
                decision_id: "d-1".into(),
                unit: "luan/jinan".into(),
                amount_yuan: 300,
                reasons: vec!["ordinary_procedure".into()],
                decided_day: "2026-11-12".into(),
            }],
            can_approve: false,
            overdue_limits: vec![],
            number_ledger: vec![],
        };
        let html = render(&d);
        assert!(!html.contains("<script"));
        // A reviewer sees the approval queue without the form; the head gets the form.
        assert!(html.contains("负责人批准（1）") && !html.contains("/dashboard/approve"));
        let html = render(&DashboardData {
            can_approve: true,
            ..d.clone()
        });
        assert!(html.contains("action=\"/dashboard/approve\"") && !html.contains("<script"));
        assert!(
            !html.contains("http://")
                || html.matches("http://").count()
                    == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        assert!(html.contains("id=\"donut721\"") && html.contains("id=\"trend\""));
        assert_eq!(d.weekly.len(), 8);
    }
}
