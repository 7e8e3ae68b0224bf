//! Merging and checking a bundle: the one validator of the catalogue, run by the phone when
//! it loads or receives a catalogue, by the server when an operator publishes one, and by the
//! tests over `schemas/catalogue/`. It checks what a schema cannot: that the law cited is
//! in the law table and of the right jurisdiction, that every benchmark lies inside the
//! statutory range, and that exemptions do not contradict the law's own conditions.

use super::types::*;
use super::{Catalogue, CatalogueBundle};
use crate::{CoreError, Result};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};

/// Tier names in rising order.
pub const TIERS: [&str; 5] = ["trivial", "minor", "general", "serious", "severe"];
const ROLES: [&str; 5] = [
    "prohibition",
    "penalty",
    "correction_order",
    "exemption",
    "procedure",
];
const LEVELS: [&str; 7] = [
    "national_law",
    "state_council_regulation",
    "provincial_regulation",
    "municipal_regulation",
    "provincial_rule",
    "municipal_rule",
    "normative_document",
];
/// Words by which a tier presupposes an order to correct that was not obeyed.
const UNCORRECTED: [&str; 3] = ["逾期", "拒不改正", "未在期限内"];
/// An exemptable tier may not be defined by disobedience: exemption needs prompt correction.
const NOT_EXEMPTABLE: [&str; 3] = ["逾期未改正", "拒不改正", "逾期不改正"];

#[derive(Deserialize)]
struct Header {
    catalogue_version: String,
    part: String,
    jurisdiction: String,
}

#[derive(Deserialize)]
struct LawsFile {
    laws: Vec<Law>,
}

#[derive(Deserialize)]
struct MethodsFile {
    methods: Vec<MethodSpec>,
}

#[derive(Deserialize)]
struct ItemsFile {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct BenchmarkEntry {
    code: String,
    tiers: Vec<TierSpec>,
}

#[derive(Deserialize)]
struct BenchmarksFile {
    items: Vec<BenchmarkEntry>,
}

#[derive(Deserialize)]
struct ExemptionEntry {
    code: String,
    #[serde(flatten)]
    rule: ExemptionRule,
}

#[derive(Deserialize)]
struct ExemptionFile {
    items: Vec<ExemptionEntry>,
}

#[derive(Deserialize)]
struct LocalBasisEntry {
    code: String,
    #[serde(default)]
    legal_basis: Vec<LegalBasis>,
    #[serde(default)]
    penalties: Option<Penalties>,
}

#[derive(Deserialize)]
struct LocalBasisFile {
    entries: Vec<LocalBasisEntry>,
}

/// Collects every problem, so an operator sees all of them at once.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }
}

fn parse<T: DeserializeOwned>(name: &str, v: &serde_json::Value) -> Result<T> {
    T::deserialize(v).map_err(|e| CoreError::Catalogue {
        reason: format!("{name}: {e}"),
    })
}

/// Whether a law of `law_jurisdiction` may be cited in a catalogue for `profile`: national law
/// always, and the profile's own province and city (`CN-AH` and `CN-AH-LA` for `CN-AH-LA`),
/// never another province's.
fn jurisdiction_covers(profile: &str, law_jurisdiction: &str) -> bool {
    law_jurisdiction == "CN"
        || profile == law_jurisdiction
        || profile
            .strip_prefix(law_jurisdiction)
            .is_some_and(|rest| rest.starts_with('-'))
}

pub(super) fn from_bundle(bundle: &CatalogueBundle) -> Result<Catalogue> {
    let mut p = Problems::default();
    let mut laws: BTreeMap<String, Law> = BTreeMap::new();
    let mut methods = BTreeMap::new();
    let mut items: BTreeMap<String, (bool, Item)> = BTreeMap::new();
    let mut benchmarks: BTreeMap<String, Vec<TierSpec>> = BTreeMap::new();
    let mut exemptions: BTreeMap<String, ExemptionRule> = BTreeMap::new();
    let mut local: Vec<LocalBasisEntry> = Vec::new();
    let mut profile: Option<Profile> = None;
    let mut documents: Option<super::templates::DocumentTemplates> = None;

    for (name, value) in &bundle.files {
        let h: Header = parse(name, value)?;
        if h.catalogue_version != bundle.version {
            p.add(format!(
                "{name}: version {} is not the bundle's {}",
                h.catalogue_version, bundle.version
            ));
        }
        let in_base = name.starts_with("base/");
        let expected = if in_base { "CN" } else { &bundle.jurisdiction };
        if h.jurisdiction != expected {
            p.add(format!(
                "{name}: jurisdiction {} where {expected} is expected",
                h.jurisdiction
            ));
        }
        match h.part.as_str() {
            "laws" => {
                for law in parse::<LawsFile>(name, value)?.laws {
                    if !LEVELS.contains(&law.level.as_str()) {
                        p.add(format!("{name}: law {} has unknown level", law.id));
                    }
                    let ok = if in_base {
                        law.jurisdiction == "CN"
                    } else {
                        jurisdiction_covers(&bundle.jurisdiction, &law.jurisdiction)
                    };
                    if !ok {
                        p.add(format!(
                            "{name}: law {} is of jurisdiction {}, which does not govern {}",
                            law.id, law.jurisdiction, bundle.jurisdiction
                        ));
                    }
                    if law.confirmed && law.source.as_deref().is_none_or(str::is_empty) {
                        p.add(format!(
                            "{name}: law {} is confirmed with no source",
                            law.id
                        ));
                    }
                    if laws.insert(law.id.clone(), law.clone()).is_some() {
                        p.add(format!("{name}: law {} defined twice", law.id));
                    }
                }
            }
            "methods" => {
                for m in parse::<MethodsFile>(name, value)?.methods {
                    if methods.insert(m.method, m.clone()).is_some() {
                        p.add(format!("method {} defined twice", m.method.as_str()));
                    }
                }
            }
            "items" => {
                for item in parse::<ItemsFile>(name, value)?.items {
                    let code = item.code.clone();
                    if items.insert(code.clone(), (in_base, item)).is_some() {
                        p.add(format!("item {code} defined twice"));
                    }
                }
            }
            "benchmarks" => {
                for e in parse::<BenchmarksFile>(name, value)?.items {
                    if benchmarks.insert(e.code.clone(), e.tiers).is_some() {
                        p.add(format!("benchmarks: {} listed twice", e.code));
                    }
                }
            }
            "exemption-list" => {
                for e in parse::<ExemptionFile>(name, value)?.items {
                    if exemptions.insert(e.code.clone(), e.rule).is_some() {
                        p.add(format!("exemption-list: {} listed twice", e.code));
                    }
                }
            }
            "local-basis" => local.extend(parse::<LocalBasisFile>(name, value)?.entries),
            "profile" => {
                if profile.is_some() {
                    p.add("two profile files");
                }
                profile = Some(parse(name, value)?);
            }
            "documents" => {
                if in_base || documents.is_some() {
                    p.add(format!(
                        "{name}: document templates belong once in the profile"
                    ));
                }
                documents = Some(parse(name, value)?);
            }
            other => p.add(format!("{name}: unknown part {other:?}")),
        }
    }

    for m in Method::ALL {
        if !methods.contains_key(&m) {
            p.add(format!("method {} missing", m.as_str()));
        }
    }
    let Some(profile) = profile else {
        return Err(CoreError::Catalogue {
            reason: "no profile".into(),
        });
    };

    // Base items rest on national law only; the jurisdiction's articles come next.
    for (code, (in_base, item)) in &items {
        if *in_base {
            check_basis(
                code,
                &item.legal_basis,
                &laws,
                true,
                &bundle.jurisdiction,
                &mut p,
            );
        }
    }
    // The jurisdiction's additions to base items.
    for e in local {
        match items.get_mut(&e.code) {
            None => p.add(format!("local-basis: unknown item {}", e.code)),
            Some((_, item)) => {
                check_basis(
                    &format!("local-basis {}", e.code),
                    &e.legal_basis,
                    &laws,
                    false,
                    &bundle.jurisdiction,
                    &mut p,
                );
                item.legal_basis.extend(e.legal_basis);
                if let Some(pen) = e.penalties {
                    item.penalties = pen;
                }
            }
        }
    }
    for code in benchmarks.keys().chain(exemptions.keys()) {
        if !items.contains_key(code) {
            p.add(format!(
                "benchmarks or exemption list name unknown item {code}"
            ));
        }
    }
    let mut merged = BTreeMap::new();
    for (code, (in_base, mut item)) in items {
        item.tiers = benchmarks.remove(&code).unwrap_or_else(|| {
            p.add(format!("benchmarks: no entry for {code}"));
            Vec::new()
        });
        item.exemption = exemptions.remove(&code).unwrap_or_else(|| {
            p.add(format!("exemption-list: no entry for {code}"));
            ExemptionRule::default()
        });
        check_item(&item, in_base, &laws, &bundle.jurisdiction, &mut p);
        merged.insert(code, item);
    }
    check_profile(&profile, &mut p);
    if let Some(d) = &documents {
        for problem in d.problems(&|id| laws.contains_key(id)) {
            p.add(problem);
        }
    }

    if !p.0.is_empty() {
        return Err(CoreError::Catalogue {
            reason: p.0.join("; "),
        });
    }
    Ok(Catalogue {
        version: bundle.version.clone(),
        methods,
        items: merged,
        laws,
        profile,
        documents,
    })
}

fn check_basis(
    where_: &str,
    basis: &[LegalBasis],
    laws: &BTreeMap<String, Law>,
    national_only: bool,
    jurisdiction: &str,
    p: &mut Problems,
) {
    for b in basis {
        match laws.get(&b.law) {
            None => p.add(format!("{where_}: unknown law {}", b.law)),
            Some(law) => {
                if national_only && law.jurisdiction != "CN" {
                    p.add(format!(
                        "{where_}: a base item cites national law only, not {}",
                        b.law
                    ));
                }
                if !jurisdiction_covers(jurisdiction, &law.jurisdiction) {
                    p.add(format!("{where_}: {} is another jurisdiction's law", b.law));
                }
                if b.confirmed && !law.confirmed && law.level == "national_law" {
                    // A national law is confirmed when read; an article of it can only be
                    // confirmed if the law itself was.
                    p.add(format!(
                        "{where_}: article confirmed in unconfirmed {}",
                        b.law
                    ));
                }
            }
        }
        if !ROLES.contains(&b.role.as_str()) {
            p.add(format!("{where_}: unknown role {}", b.role));
        }
        if b.confirmed
            && (b.article.as_deref().is_none_or(str::is_empty)
                || b.text.as_deref().is_none_or(str::is_empty))
        {
            p.add(format!(
                "{where_}: confirmed basis in {} has no article or no text",
                b.law
            ));
        }
    }
}

fn check_item(
    item: &Item,
    in_base: bool,
    laws: &BTreeMap<String, Law>,
    jurisdiction: &str,
    p: &mut Problems,
) {
    let code = &item.code;
    if !in_base {
        check_basis(code, &item.legal_basis, laws, false, jurisdiction, p);
    }
    if item.service_only {
        if !item.penalties.kinds.is_empty()
            || !item.tiers.is_empty()
            || !item.exemption.kinds.is_empty()
            || item.penalties.correction_order_first
        {
            p.add(format!(
                "{code}: a service-only item has no penalty, tier or exemption"
            ));
        }
    } else if in_base
        && !item
            .legal_basis
            .iter()
            .any(|b| b.confirmed && laws.get(&b.law).is_some_and(|l| l.jurisdiction == "CN"))
    {
        p.add(format!(
            "{code}: base item without a confirmed national article"
        ));
    }
    let pen = &item.penalties;
    if pen.kinds.contains(&PenaltyKind::Fine) != pen.fine.is_some() {
        p.add(format!(
            "{code}: 'fine' in penalty kinds must match a statutory fine"
        ));
    }
    if !pen.kinds.is_empty() && !item.has_confirmed_penalty_basis() {
        p.add(format!(
            "{code}: penalties listed but no confirmed penalty article"
        ));
    }
    for ranges in [pen.fine, pen.fine_on_refusal].into_iter().flatten() {
        for r in [ranges.person, ranges.unit].into_iter().flatten() {
            if r.min_yuan < 0 || r.max_yuan.is_some_and(|m| m < r.min_yuan) {
                p.add(format!("{code}: statutory range min > max"));
            }
        }
    }

    let mut seen = BTreeSet::new();
    for t in &item.tiers {
        let w = format!("{code} tier {} {}", t.tier, t.party_type.as_str());
        if !TIERS.contains(&t.tier.as_str()) {
            p.add(format!("{w}: unknown tier"));
        }
        if !seen.insert((t.tier.clone(), t.party_type)) {
            p.add(format!("{w}: two rows"));
        }
        if !item.applies_to.contains(&t.party_type) {
            p.add(format!("{w}: party type not in applies_to"));
        }
        if !matches!(t.penalty, PenaltyKind::Warning | PenaltyKind::Fine) {
            p.add(format!("{w}: a tier is a warning or a fine"));
        }
        if !item.allows(t.penalty) {
            p.add(format!(
                "{w}: {} is not a penalty the item's law prescribes",
                t.penalty.as_str()
            ));
        }
        match t.penalty {
            PenaltyKind::Warning => {
                if t.min_yuan != Some(0) || t.max_yuan != Some(0) {
                    p.add(format!("{w}: a warning tier carries 0/0 yuan"));
                }
            }
            _ if t.is_percent() => {
                let cost = pen.fine_percent_of_construction_cost;
                let ok = match (cost, t.min_percent, t.max_percent) {
                    (Some(c), Some(lo), Some(hi)) => [c.correctable, c.not_correctable]
                        .into_iter()
                        .flatten()
                        .any(|r| r.min <= lo && lo <= hi && hi <= r.max),
                    _ => false,
                };
                if !ok {
                    p.add(format!("{w}: percent range outside the law's"));
                }
            }
            _ => match (
                item.statutory_fine(t.party_type, t.on_refusal),
                t.min_yuan,
                t.max_yuan,
            ) {
                (None, _, _) => p.add(format!(
                    "{w}: no statutory fine with a known maximum for this party"
                )),
                (Some((lo, hi)), Some(a), Some(b)) => {
                    if a < lo || b > hi || a > b {
                        p.add(format!("{w}: {a}-{b} outside statutory {lo}-{hi}"));
                    }
                }
                _ => p.add(format!("{w}: a fine tier needs both amounts")),
            },
        }
        if pen.correction_order_first && !UNCORRECTED.iter().any(|m| t.conditions.zh.contains(m)) {
            p.add(format!(
                "{w}: the law fines only after an order expired, but the tier does not say so"
            ));
        }
    }

    let ex = &item.exemption;
    if !ex.kinds.is_empty() {
        if pen.correction_order_first {
            p.add(format!(
                "{code}: exemptable, but the law allows a penalty only after an uncorrected order"
            ));
        }
        if ex.first_offence_lookback_days.is_none_or(|d| d <= 0) {
            p.add(format!("{code}: exemptable without a look-back window"));
        }
    } else if !ex.exempt_tiers.is_empty() {
        p.add(format!("{code}: exempt tiers without exemption kinds"));
    }
    for et in &ex.exempt_tiers {
        if et != "trivial" && et != "minor" {
            p.add(format!("{code}: exempt tier {et} must be trivial or minor"));
        }
        let rows: Vec<_> = item.tiers.iter().filter(|t| &t.tier == et).collect();
        if rows.is_empty() {
            p.add(format!("{code}: exempt tier {et} has no benchmark row"));
        }
        if rows
            .iter()
            .any(|t| NOT_EXEMPTABLE.iter().any(|m| t.conditions.zh.contains(m)))
        {
            p.add(format!(
                "{code}: exempt tier {et} is defined by a failure to correct"
            ));
        }
    }
    check_basis(
        &format!("{code} exemption"),
        &ex.basis,
        laws,
        false,
        jurisdiction,
        p,
    );
}

fn check_profile(profile: &Profile, p: &mut Problems) {
    if profile.procedure_rules.officers_min.value < 1 {
        p.add("profile: officers_min below 1");
    }
    let cap = &profile.simple_procedure_cap;
    if cap.person_yuan < 0 || cap.unit_yuan < 0 {
        p.add("profile: negative simple-procedure cap");
    }
    for (name, period) in [
        ("statement_days", &profile.rights.statement_days),
        ("hearing_request_days", &profile.rights.hearing_request_days),
        ("decision_days", &profile.time_limits.decision_days),
        ("service_days", &profile.time_limits.service_days),
        (
            "hearing_notice_days",
            &profile.time_limits.hearing_notice_days,
        ),
        ("fine_payment_days", &profile.time_limits.fine_payment_days),
    ] {
        if period.days.is_none_or(|d| d < 0) {
            p.add(format!("profile: {name} has no length"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jurisdictions_cover_their_own_province_and_the_nation_only() {
        assert!(jurisdiction_covers("CN-AH-LA", "CN"));
        assert!(jurisdiction_covers("CN-AH-LA", "CN-AH"));
        assert!(jurisdiction_covers("CN-AH-LA", "CN-AH-LA"));
        assert!(!jurisdiction_covers("CN-AH-LA", "CN-ZJ"));
        assert!(!jurisdiction_covers("CN-AH-LA", "CN-AH-HF"));
        assert!(!jurisdiction_covers("CN-AH-LA", "CN-A"));
    }
}
