//! Bureau reports (报市城管局): per-unit statistics as CSV, XLSX or JSON with Chinese headers.

use fieldcase_core::catalogue::MeasureCategory;
use fieldcase_core::stats::Stats;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

/// Column headers, in the order of [`row`].
pub const HEADERS: [&str; 20] = [
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
    ]
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
    use fieldcase_core::stats::{StatsScope, compute};

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
