//! Public disclosure of enforcement decisions (行政执法公示), with privacy protected.
//!
//! Only what the public may see leaves this module: the deciding unit, the violation and its
//! legal basis, the outcome, a masked party name and a generalised place. Never an identity or
//! phone number, a full name, a street address, a party id or a match hash. Cases involving a
//! minor or marked privacy-protected are never published; a decision that is not (or no longer)
//! in effect is withdrawn.

use fieldcase_core::catalogue::{Catalogue, PartyType};
use fieldcase_core::model::{CaseRecord, LifecycleKind, mask_name};
use serde::{Deserialize, Serialize};

/// One published decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureEntry {
    /// Decision id (public reference).
    pub decision_id: String,
    /// Deciding unit.
    pub unit: String,
    /// When decided (unix ms).
    pub decided_at_ms: i64,
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

/// Generalises an address to its administrative area: keeps the text up to the last
/// province/city/district/county/town suffix and drops roads, numbers and buildings.
pub fn generalise_address(address: &str) -> String {
    const SUFFIXES: [&str; 7] = ["街道", "省", "市", "区", "县", "镇", "乡"];
    let mut cut = 0;
    for (i, _) in address.char_indices() {
        for s in SUFFIXES {
            if address[i..].starts_with(s) {
                cut = cut.max(i + s.len());
            }
        }
        // Stop looking once a road or number starts: "…区梅山中路18号" keeps "…区".
        if address[i..].starts_with('路')
            || address[i..].starts_with('街') && !address[i..].starts_with("街道")
        {
            break;
        }
    }
    if cut == 0 {
        "（地点已概括）".to_string()
    } else {
        address[..cut].to_string()
    }
}

/// Whether the case's decision should be published now, and if so its entry.
///
/// `party_masked_name` is the masked name from the party record (already masked at capture);
/// it is masked again here so that a full name passed by mistake cannot leak.
pub fn disclose(
    case: &CaseRecord,
    party_masked_name: Option<&str>,
    catalogue: &Catalogue,
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
    let item = catalogue.item(&case.violation.code).ok();
    let party = match party_masked_name {
        Some(n) => public_name(n),
        None => "（当事人）".to_string(),
    };
    Some(DisclosureEntry {
        decision_id: decision.id.clone(),
        unit: case.unit.clone(),
        decided_at_ms: decision.decided_at_ms,
        violation_code: case.violation.code.clone(),
        violation_zh: item.map(|i| i.name.zh.clone()).unwrap_or_default(),
        violation_en: item.map(|i| i.name.en.clone()).unwrap_or_default(),
        legal_basis: item
            .map(|i| {
                i.legal_basis
                    .iter()
                    .map(|b| format!("{}{}", b.law.zh, b.article))
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

/// The public disclosure page (Chinese, no scripts, no external resources).
pub fn render_html(entries: &[DisclosureEntry], day: impl Fn(i64) -> String) -> String {
    let mut rows = String::new();
    for e in entries {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>罚款 {} 元</td></tr>\n",
            escape_html(&day(e.decided_at_ms)),
            escape_html(&e.unit),
            escape_html(&e.party),
            escape_html(&e.violation_zh),
            escape_html(&e.legal_basis.join("；")),
            escape_html(&e.place),
            e.amount_yuan
        ));
    }
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>行政执法公示</title>\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px}}</style>\
</head><body><h1>行政执法决定公示</h1><p>共 {} 条。当事人姓名、身份证号、电话已隐去，地址已概括；涉及未成年人及个人隐私的案件不予公开。</p>\
<table><thead><tr><th>决定日期</th><th>执法单位</th><th>当事人</th><th>违法行为</th><th>依据</th><th>地点</th><th>处理结果</th></tr></thead><tbody>\n{}</tbody></table></body></html>",
        entries.len(),
        rows
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
    fn names_are_masked_even_if_a_full_name_slips_in() {
        assert_eq!(public_name("张三丰"), "张**");
        assert_eq!(public_name("欧***"), "欧**");
        assert_eq!(escape_html("<b>&"), "&lt;b&gt;&amp;");
    }
}
