//! Bureau reports (报市城管局): per-unit statistics as CSV, XLSX or JSON with Chinese headers.

use fieldcase_core::catalogue::MeasureCategory;
use fieldcase_core::model::{CaseRecord, DemonstrationRecord};
use fieldcase_core::stats::{self, Stats, StatsScope};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde::{Deserialize, Serialize};

/// Column headers, in the order of [`row`].
pub const HEADERS: [&str; 24] = [
    "单位",
    "案件数",
    "服务类措施",
    "管理类措施",
    "执法类措施",
    "服务类占比",
    "管理类占比",
    "执法类占比",
    "免罚数",
    "承诺到期数",
    "承诺履行数",
    "整改到期数",
    "按期整改数",
    "回访到期数",
    "回访完成数",
    "重复违法当事人数",
    "重复违法地点数",
    "劝导示范次数",
    "劝导人数",
    "免罚冲突数",
    "生效处罚决定数",
    "生效罚款金额（元）",
    "待法制审核决定数",
    "法制审核退回数",
];

/// A report cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Int(i64),
    /// A share between 0 and 1 (shown as a percentage).
    Share(f64),
}

fn class(s: &Stats, c: MeasureCategory) -> (i64, f64) {
    s.measures
        .iter()
        .find(|m| m.category == c)
        .map(|m| (m.count, m.share))
        .unwrap_or((0, 0.0))
}

/// One unit's row.
pub fn row(unit: &str, s: &Stats) -> Vec<Cell> {
    let (sv, svs) = class(s, MeasureCategory::Service);
    let (mg, mgs) = class(s, MeasureCategory::Management);
    let (en, ens) = class(s, MeasureCategory::Enforcement);
    vec![
        Cell::Text(unit.to_string()),
        Cell::Int(s.cases),
        Cell::Int(sv),
        Cell::Int(mg),
        Cell::Int(en),
        Cell::Share(svs),
        Cell::Share(mgs),
        Cell::Share(ens),
        Cell::Int(s.exemptions_granted),
        Cell::Int(s.pledges_fulfilled.of),
        Cell::Int(s.pledges_fulfilled.count),
        Cell::Int(s.correction_within_deadline.of),
        Cell::Int(s.correction_within_deadline.count),
        Cell::Int(s.follow_up_completion.of),
        Cell::Int(s.follow_up_completion.count),
        Cell::Int(s.repeat_by_party.count),
        Cell::Int(s.repeat_by_place.count),
        Cell::Int(s.demonstrations),
        Cell::Int(s.people_persuaded),
        Cell::Int(s.exemption_conflicts),
        Cell::Int(s.decisions_effective),
        Cell::Int(s.fines_effective_yuan),
        Cell::Int(s.decisions_pending_review),
        Cell::Int(s.decisions_returned),
    ]
}

/// A bureau report: one row per unit that has records in scope, then the total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    /// What the report covers (unit, period).
    pub scope: StatsScope,
    /// Label of the total row, e.g. `合计（luan/jinan）`.
    pub total_label: String,
    /// Per unit, by path.
    pub by_unit: Vec<(String, Stats)>,
    /// The whole scope.
    pub total: Stats,
}

impl Report {
    /// Computes the report of `scope` over the records.
    pub fn compute(
        scope: &StatsScope,
        cases: &[CaseRecord],
        demonstrations: &[DemonstrationRecord],
    ) -> Report {
        let by_unit = stats::units(cases, demonstrations)
            .into_iter()
            .filter(|u| scope.covers_unit(u))
            .map(|u| {
                // Exactly this unit's own records (sub-units have rows of their own).
                let own: Vec<CaseRecord> = cases.iter().filter(|c| c.unit == u).cloned().collect();
                let own_demos: Vec<DemonstrationRecord> = demonstrations
                    .iter()
                    .filter(|d| d.unit == u)
                    .cloned()
                    .collect();
                let unit_scope = StatsScope {
                    unit: Some(u.clone()),
                    ..scope.clone()
                };
                let s = stats::compute(&unit_scope, &own, &own_demos);
                (u, s)
            })
            .collect();
        Report {
            scope: scope.clone(),
            total_label: format!("合计（{}）", scope.unit.as_deref().unwrap_or("全市")),
            by_unit,
            total: stats::compute(scope, cases, demonstrations),
        }
    }

    /// The rows of the CSV and XLSX forms: every unit, then the total.
    pub fn rows(&self) -> Vec<(String, Stats)> {
        let mut rows = self.by_unit.clone();
        rows.push((self.total_label.clone(), self.total.clone()));
        rows
    }

    /// The title line of the XLSX form.
    pub fn title(&self) -> String {
        let day = |ms: Option<i64>, end: bool| match ms {
            Some(ms) => fieldcase_core::store::china_day(if end { ms - 1 } else { ms }),
            None => "—".to_string(),
        };
        format!(
            "柔性执法统计报表　范围：{}　期间：{} 至 {}",
            self.scope.unit.as_deref().unwrap_or("全市"),
            day(self.scope.from_ms, false),
            day(self.scope.to_ms, true)
        )
    }
}

fn csv_field(c: &Cell) -> String {
    match c {
        Cell::Text(t) => {
            if t.contains([',', '"', '\n']) {
                format!("\"{}\"", t.replace('"', "\"\""))
            } else {
                t.clone()
            }
        }
        Cell::Int(i) => i.to_string(),
        Cell::Share(f) => format!("{:.1}%", f * 100.0),
    }
}

/// CSV with a UTF-8 byte-order mark so spreadsheet programs read the Chinese headers.
pub fn to_csv(rows: &[(String, Stats)]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&HEADERS.join(","));
    out.push_str("\r\n");
    for (unit, s) in rows {
        let cells: Vec<String> = row(unit, s).iter().map(csv_field).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// An XLSX workbook: a title line, the header row, one row per unit.
pub fn to_xlsx(title: &str, rows: &[(String, Stats)]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("柔性执法统计")?;
    let bold = Format::new().set_bold();
    let pct = Format::new().set_num_format("0.0%");
    ws.write_string_with_format(0, 0, title, &bold)?;
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, *h, &bold)?;
    }
    for (r, (unit, s)) in rows.iter().enumerate() {
        let r = r as u32 + 3;
        for (c, cell) in row(unit, s).iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Text(t) => ws.write_string(r, c, t)?,
                Cell::Int(i) => ws.write_number(r, c, *i as f64)?,
                Cell::Share(f) => ws.write_number_with_format(r, c, *f, &pct)?,
            };
        }
    }
    ws.set_column_width(0, 28)?;
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::stats::compute;

    #[test]
    fn csv_has_chinese_headers_and_one_row_per_unit() {
        let s = compute(
            &StatsScope {
                unit: None,
                from_ms: None,
                to_ms: None,
            },
            &[],
            &[],
        );
        let csv = to_csv(&[
            ("luan/jinan".into(), s.clone()),
            ("luan,\"x\"".into(), s.clone()),
        ]);
        let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("\u{feff}单位,案件数,服务类措施"));
        assert!(lines[1].starts_with("luan/jinan,0,0,0,0,0.0%"));
        assert!(lines[2].starts_with("\"luan,\"\"x\"\"\","));
        assert_eq!(lines[1].split(',').count(), HEADERS.len());
        let xlsx = to_xlsx("测试", &[("luan".into(), s)]).expect("xlsx");
        assert!(xlsx.starts_with(b"PK") && xlsx.len() > 1000);
    }
}
