//! Public disclosure of enforcement decisions (行政执法公示), with privacy protected.
//!
//! Only what the public may see leaves this module: the deciding unit, the violation and its
//! legal basis, the outcome, a masked party name and a generalised place. Never an identity or
//! phone number, a full name, a street address, a party id or a match hash. Cases involving a
//! minor or marked privacy-protected are never published; a decision that is not (or no longer)
//! in effect is withdrawn.

use fieldcase_core::catalogue::{CatalogueSet, PartyType};
use fieldcase_core::model::{CaseRecord, Decision, IssuedDocument, LifecycleKind, mask_name};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Entries per page when the query names no `per_page`.
pub const DEFAULT_PER_PAGE: usize = 50;
/// The most entries one page carries.
pub const MAX_PER_PAGE: usize = 200;

/// One published decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DisclosureEntry {
    /// Decision id (public reference).
    pub decision_id: String,
    /// Deciding unit.
    pub unit: String,
    /// The deciding unit's name (its path when the unit has no name on record).
    #[serde(default)]
    pub unit_name: String,
    /// When decided (unix ms).
    pub decided_at_ms: i64,
    /// The day decided, China time (YYYY-MM-DD).
    #[serde(default)]
    pub decided_day: String,
    /// The number (文号) of the decision document, when one was issued.
    #[serde(default)]
    pub document_number: Option<String>,
    /// Violation code.
    pub violation_code: String,
    /// Violation name in Chinese.
    pub violation_zh: String,
    /// Violation name in English.
    pub violation_en: String,
    /// Legal basis, e.g. 《…条例》第十七条.
    pub legal_basis: Vec<String>,
    /// person or unit.
    pub party_type: String,
    /// Masked name (张**).
    pub party: String,
    /// Generalised place (district level).
    pub place: String,
    /// Fine in yuan.
    pub amount_yuan: i64,
}

/// Suffixes of administrative units and the levels they may stand at: 0 province (or a
/// city under the State Council), 1 prefecture, 2 county, 3 township. `市` is all three.
const ADMIN_SUFFIXES: [(&str, &[u8]); 12] = [
    ("自治区", &[0]),
    ("省", &[0]),
    ("自治州", &[1]),
    ("地区", &[1]),
    ("盟", &[1]),
    ("州", &[1]),
    ("市", &[0, 1, 2]),
    ("区", &[2]),
    ("县", &[2]),
    ("街道", &[3]),
    ("镇", &[3]),
    ("乡", &[3]),
];

/// Words that end like an administrative unit but are places inside one: residential
/// compounds, communities, parks, campuses, zones, markets. A segment holding one is not an
/// administrative unit, and nothing after it is kept.
const NOT_ADMIN: [&str; 24] = [
    "小区",
    "社区",
    "园区",
    "景区",
    "校区",
    "厂区",
    "院区",
    "片区",
    "营区",
    "库区",
    "商区",
    "开发区",
    "高新区",
    "工业区",
    "保税区",
    "住宅区",
    "生活区",
    "服务区",
    "超市",
    "菜市",
    "夜市",
    "集市",
    "早市",
    "门市",
];

/// Characters that never occur in the name of an administrative unit but do in roads,
/// numbers, buildings and villages.
const NOT_IN_NAME: [&str; 14] = [
    "路", "街", "巷", "号", "栋", "幢", "楼", "弄", "村", "组", "单元", "大道", "广场", "大厦",
];

/// Longest name (without its suffix) accepted: 黔东南苗族侗族自治州 is 9 and 州.
const MAX_NAME_CHARS: usize = 10;

/// The admin unit that starts at byte `pos` of `address` and lies below `prev` (the level of
/// the unit before it): its end and level. The shortest valid segment wins.
fn next_admin_unit(address: &str, pos: usize, prev: Option<u8>) -> Option<(usize, u8)> {
    let rest = &address[pos..];
    for (i, _) in rest.char_indices().take(MAX_NAME_CHARS + 1).skip(1) {
        for (suffix, levels) in ADMIN_SUFFIXES {
            if !rest[i..].starts_with(suffix) {
                continue;
            }
            let end = i + suffix.len();
            let name = &rest[..i];
            let segment = &rest[..end];
            let after = &rest[end..];
            let word_goes_on = (suffix == "市" && after.starts_with('场'))
                || (suffix == "区" && after.starts_with('域'));
            let plausible = !word_goes_on
                && !name
                    .chars()
                    .any(|c| c.is_ascii_alphanumeric() || c.is_numeric())
                && !NOT_IN_NAME.iter().any(|w| name.contains(w))
                && !NOT_ADMIN.iter().any(|w| segment.contains(w));
            if !plausible {
                continue;
            }
            if let Some(level) = levels.iter().copied().find(|l| prev.is_none_or(|p| *l > p)) {
                return Some((pos + end, level));
            }
        }
    }
    None
}

/// Generalises an address to the administrative units it starts with (province, city,
/// district or county, street office or town), in that order, and drops everything from the
/// first part that is not one: residential compounds (锦绣小区), communities, parks, roads,
/// numbers, buildings. An address that does not start with an administrative unit becomes
/// "（地点已概括）".
pub fn generalise_address(address: &str) -> String {
    let address = address.trim();
    let (mut pos, mut level) = (0, None);
    while let Some((end, l)) = next_admin_unit(address, pos, level) {
        pos = end;
        level = Some(l);
    }
    if pos == 0 {
        "（地点已概括）".to_string()
    } else {
        address[..pos].to_string()
    }
}

/// Whether the case's decision should be published now, and if so its entry.
///
/// `party_masked_name` is the masked name from the party record (already masked at capture);
/// it is masked again here so that a full name passed by mistake cannot leak.
pub fn disclose(
    case: &CaseRecord,
    party_masked_name: Option<&str>,
    catalogues: &CatalogueSet,
) -> Option<DisclosureEntry> {
    if case.involves_minor || case.privacy_protected {
        return None;
    }
    // Only a decision in effect whose signatures hold (the device's over the amount, basis
    // and party; the approving review's over that decision).
    let decision = fieldcase_core::evidence::records::standing_decision(case)?;
    let reopened_after = case
        .lifecycle
        .last()
        .is_some_and(|e| e.event == LifecycleKind::Reopened && e.at_ms >= decision.decided_at_ms);
    if reopened_after {
        return None;
    }
    let catalogue = catalogues
        .get(&case.violation.catalogue_version)
        .unwrap_or(catalogues.current());
    let item = catalogue.item(&case.violation.code).ok();
    let party = match party_masked_name {
        Some(n) => public_name(n),
        None => "（当事人）".to_string(),
    };
    Some(DisclosureEntry {
        decision_id: decision.id.clone(),
        unit: case.unit.clone(),
        unit_name: case.unit.clone(),
        decided_at_ms: decision.decided_at_ms,
        decided_day: fieldcase_core::store::china_day(decision.decided_at_ms),
        document_number: decision_document(case, decision)
            .and_then(|d| d.number.as_ref())
            .map(|n| n.text.clone()),
        violation_code: case.violation.code.clone(),
        violation_zh: item.map(|i| i.name.zh.clone()).unwrap_or_default(),
        violation_en: item.map(|i| i.name.en.clone()).unwrap_or_default(),
        legal_basis: item
            .map(|i| {
                // Only articles read in a public text are published as the basis.
                i.legal_basis
                    .iter()
                    .filter(|b| b.confirmed && matches!(b.role.as_str(), "prohibition" | "penalty"))
                    .filter_map(|b| {
                        let law = catalogue.law(&b.law)?;
                        Some(format!("{}{}", law.title.zh, b.article.as_deref()?))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        party_type: match decision.party_type {
            PartyType::Person => "person".into(),
            PartyType::Unit => "unit".into(),
        },
        party,
        place: case
            .place
            .address
            .as_deref()
            .map(generalise_address)
            .unwrap_or_default(),
        amount_yuan: decision.amount_yuan,
    })
}

/// The document that carries `decision`: the latest decision document (行政处罚决定书, 当场
/// 行政处罚决定书, 不予行政处罚决定书) of the case that no other entry replaces and that names
/// this decision or none.
pub fn decision_document<'a>(
    case: &'a CaseRecord,
    decision: &Decision,
) -> Option<&'a IssuedDocument> {
    let superseded = fieldcase_core::model::superseded_ids(&case.documents);
    case.documents
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            d.kind.is_decision()
                && !superseded.contains(d.id.as_str())
                && d.decision_id.as_deref().is_none_or(|id| id == decision.id)
        })
        .max_by_key(|(i, d)| (d.issued_at_ms, *i))
        .map(|(_, d)| d)
}

impl DisclosureEntry {
    /// Names the deciding unit from `names` (unit path to name); an unnamed unit keeps its
    /// path.
    pub fn name_unit(&mut self, names: &BTreeMap<String, String>) {
        if let Some(n) = names.get(&self.unit).filter(|n| !n.trim().is_empty()) {
            self.unit_name = n.clone();
        }
    }
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DisclosurePage {
    /// The page, from 1.
    pub page: usize,
    /// Entries per page.
    pub per_page: usize,
    /// Entries in the whole feed.
    pub total: usize,
    /// Pages in the whole feed (0 when it is empty).
    pub pages: usize,
    /// This page's entries, newest first.
    pub entries: Vec<DisclosureEntry>,
}

impl DisclosurePage {
    /// Page `page` (from 1; 0 is read as 1) of `per_page` entries (1 to [`MAX_PER_PAGE`]) of
    /// the whole feed `all`. A page past the end is empty.
    pub fn of(all: &[DisclosureEntry], page: usize, per_page: usize) -> Self {
        let page = page.max(1);
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let start = (page - 1).saturating_mul(per_page);
        DisclosurePage {
            page,
            per_page,
            total: all.len(),
            pages: all.len().div_ceil(per_page),
            entries: all.iter().skip(start).take(per_page).cloned().collect(),
        }
    }
}

/// The query of the disclosure routes as the API description states it. The handlers read it
/// leniently ([`paging`]): a malformed value is the default, never an error, so a link with a
/// stray parameter still shows the feed.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
pub struct PagingQuery {
    /// The page, from 1.
    #[schemars(range(min = 1))]
    pub page: Option<u64>,
    /// Entries per page, 1 to [`MAX_PER_PAGE`] (more is read as that).
    #[schemars(range(min = 1))]
    pub per_page: Option<u64>,
}

/// The page and page size a query asks for, leniently: a missing, malformed or zero `page` is
/// 1; a missing or malformed `per_page` is [`DEFAULT_PER_PAGE`], and one above
/// [`MAX_PER_PAGE`] is that. Every other parameter is ignored.
pub fn paging(query: &std::collections::HashMap<String, String>) -> (usize, usize) {
    let num = |k: &str| {
        query
            .get(k)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
    };
    (
        num("page").unwrap_or(1),
        num("per_page")
            .unwrap_or(DEFAULT_PER_PAGE)
            .min(MAX_PER_PAGE),
    )
}

/// The published form of a name: its first character and two stars, whatever its length, so
/// neither the given name nor its length is revealed (张三丰 and 欧阳金花 give 张** and 欧**).
pub fn public_name(name: &str) -> String {
    let masked = mask_name(name);
    match masked.chars().next() {
        Some(first) => format!("{first}**"),
        None => "（当事人）".to_string(),
    }
}

/// Escapes text for HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The public disclosure page (Chinese, no scripts, no external resources): one page of the
/// feed with links to the pages before and after it. No record id appears on it.
pub fn render_html(p: &DisclosurePage) -> String {
    let mut rows = String::new();
    for e in &p.entries {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>罚款 {} 元</td></tr>\n",
            escape_html(&e.decided_day),
            escape_html(&e.unit_name),
            escape_html(e.document_number.as_deref().unwrap_or("—")),
            escape_html(&e.party),
            escape_html(&e.violation_zh),
            escape_html(&e.legal_basis.join("；")),
            escape_html(&e.place),
            e.amount_yuan
        ));
    }
    let link = |page: usize, rel: &str, text: &str| {
        format!(
            "<a rel=\"{rel}\" href=\"/disclosure?page={page}&amp;per_page={}\">{text}</a>",
            p.per_page
        )
    };
    let mut nav = Vec::new();
    if p.page > 1 {
        nav.push(link((p.page - 1).min(p.pages.max(1)), "prev", "上一页"));
    }
    if p.page < p.pages {
        nav.push(link(p.page + 1, "next", "下一页"));
    }
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>行政执法公示</title>\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px}}nav a{{margin-right:1em}}</style>\
</head><body><h1>行政执法决定公示</h1><p>共 <b id=\"total\">{total}</b> 条，第 <b id=\"page\">{page}</b> / {pages} 页。当事人姓名、身份证号、电话已隐去，地址已概括；涉及未成年人及个人隐私的案件不予公开。</p>\
<table><thead><tr><th>决定日期</th><th>执法单位</th><th>决定书文号</th><th>当事人</th><th>违法行为</th><th>依据</th><th>地点</th><th>处理结果</th></tr></thead><tbody>\n{rows}</tbody></table><nav>{nav}</nav></body></html>",
        total = p.total,
        page = p.page,
        pages = p.pages.max(1),
        nav = nav.join(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_generalised_to_the_district() {
        assert_eq!(
            generalise_address("安徽省六安市金安区梅山中路18号"),
            "安徽省六安市金安区"
        );
        assert_eq!(
            generalise_address("六安市裕安区西市街道解放路3号"),
            "六安市裕安区西市街道"
        );
        assert_eq!(generalise_address("梅山中路18号"), "（地点已概括）");
    }

    #[test]
    fn only_administrative_units_survive_generalisation() {
        let table = [
            ("六安市金安区锦绣小区3栋2单元501", "六安市金安区"),
            ("金安区锦绣小区", "金安区"),
            ("锦绣小区", "（地点已概括）"),
            ("六安市锦绣小区5号楼", "六安市"),
            ("安徽省六安市锦绣园区", "安徽省六安市"),
            (
                "六安市金安区三里桥街道锦绣社区居委会",
                "六安市金安区三里桥街道",
            ),
            ("六安市裕安区西市街道解放路3号", "六安市裕安区西市街道"),
            ("六安市金安区东市街道", "六安市金安区东市街道"),
            ("霍山县衡山镇迎驾大道88号", "霍山县衡山镇"),
            ("霍山县衡山镇迎驾村三组", "霍山县衡山镇"),
            ("裕安区城南镇", "裕安区城南镇"),
            ("六安市叶集区孙岗乡", "六安市叶集区孙岗乡"),
            ("六安市经济技术开发区皋城路", "六安市"),
            ("合肥高新区创新大道", "（地点已概括）"),
            ("六安市金安区大润发超市旁", "六安市金安区"),
            ("六安市农贸市场东门", "六安市"),
            ("六安市金安区万达广场", "六安市金安区"),
            ("六安市金安区阳光花园小区", "六安市金安区"),
            ("上海市浦东新区张江镇", "上海市浦东新区张江镇"),
            (
                "新疆维吾尔自治区乌鲁木齐市天山区",
                "新疆维吾尔自治区乌鲁木齐市天山区",
            ),
            ("安徽省巢湖市", "安徽省巢湖市"),
            ("六安市金安区8号", "六安市金安区"),
            ("  六安市金安区  ", "六安市金安区"),
            ("", "（地点已概括）"),
        ];
        for (address, want) in table {
            assert_eq!(generalise_address(address), want, "{address}");
        }
    }

    #[test]
    fn names_are_masked_even_if_a_full_name_slips_in() {
        assert_eq!(public_name("张三丰"), "张**");
        assert_eq!(public_name("欧***"), "欧**");
        assert_eq!(escape_html("<b>&"), "&lt;b&gt;&amp;");
    }
}
