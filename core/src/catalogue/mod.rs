//! The catalogue: violation items, their exemption conditions, discretion tiers and review
//! thresholds, and the 721 class of every method.
//!
//! The catalogue is data, not code: the rules in [`crate::rules`] read it and no violation item
//! is named in Rust. The files live in `schemas/catalogue/` and are compiled into the library as
//! the built-in version; a server can send a newer version, which [`Catalogue::from_bundle`]
//! accepts after the same checks.

mod bundle;
mod load;
mod templates;
mod types;

pub use bundle::{BUILTIN_PROFILE, BUNDLE_FORMAT, CatalogueBundle, MAX_BUNDLE_BYTES};
pub use load::TIERS;
pub use templates::*;
pub use types::*;

use crate::{CoreError, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A validated, merged catalogue: the national base with one jurisdiction's profile.
#[derive(Debug, Clone)]
pub struct Catalogue {
    version: String,
    methods: BTreeMap<Method, MethodSpec>,
    items: BTreeMap<String, Item>,
    laws: BTreeMap<String, Law>,
    profile: Profile,
    documents: Option<DocumentTemplates>,
}

impl Catalogue {
    /// The catalogue compiled into this build.
    pub fn builtin() -> Result<Self> {
        Self::from_bundle(&CatalogueBundle::builtin()?)
    }

    /// Validates and merges a bundle: the one check every catalogue passes, on the phone, on
    /// the server and in `admin catalogue check|publish`. Every problem is listed in the
    /// error.
    pub fn from_bundle(bundle: &CatalogueBundle) -> Result<Self> {
        load::from_bundle(bundle)
    }

    /// The catalogue version string, recorded on every case, exemption and decision.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The jurisdiction profile (procedure figures, rights, time limits).
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The document templates; `None` in catalogues published before documents existed.
    pub fn documents(&self) -> Option<&DocumentTemplates> {
        self.documents.as_ref()
    }

    /// A law of the law table.
    pub fn law(&self, id: &str) -> Option<&Law> {
        self.laws.get(id)
    }

    /// Every law, by id.
    pub fn laws(&self) -> impl Iterator<Item = &Law> {
        self.laws.values()
    }

    /// The item with this code.
    pub fn item(&self, code: &str) -> Result<&Item> {
        self.items
            .get(code)
            .ok_or_else(|| CoreError::UnknownViolationCode {
                code: code.to_string(),
            })
    }

    /// Every item, ordered by code.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.values()
    }

    /// The spec of a method (always present: checked at load).
    pub fn method(&self, method: Method) -> Option<&MethodSpec> {
        self.methods.get(&method)
    }

    /// The 721 class of a method.
    pub fn measure_category(&self, method: Method) -> MeasureCategory {
        self.methods
            .get(&method)
            .map(|m| m.measure_category)
            .unwrap_or(method.default_category())
    }

    /// The tier row for (code, tier, party type).
    pub fn tier(&self, code: &str, tier: &str, party_type: PartyType) -> Result<&TierSpec> {
        let item = self.item(code)?;
        item.tiers
            .iter()
            .find(|t| t.tier == tier && t.party_type == party_type)
            .ok_or_else(|| CoreError::UnknownTier {
                code: code.to_string(),
                tier: tier.to_string(),
                party_type: party_type.as_str().to_string(),
            })
    }
}

/// Every catalogue version a replica knows, and the one in force for new cases. A case is
/// judged under the version it recorded, so a newer catalogue never re-judges old cases.
#[derive(Debug, Clone)]
pub struct CatalogueSet {
    current: Arc<Catalogue>,
    by_version: BTreeMap<String, Arc<Catalogue>>,
}

impl CatalogueSet {
    /// A set holding `current` alone.
    pub fn new(current: Arc<Catalogue>) -> Self {
        let mut by_version = BTreeMap::new();
        by_version.insert(current.version().to_string(), current.clone());
        CatalogueSet {
            current,
            by_version,
        }
    }

    /// The built-in catalogue alone.
    pub fn builtin() -> Result<Self> {
        Ok(Self::new(Arc::new(Catalogue::builtin()?)))
    }

    /// Adds a version; `make_current` puts it in force for new cases.
    pub fn insert(&mut self, catalogue: Arc<Catalogue>, make_current: bool) {
        self.by_version
            .insert(catalogue.version().to_string(), catalogue.clone());
        if make_current {
            self.current = catalogue;
        }
    }

    /// The catalogue in force for new cases.
    pub fn current(&self) -> &Arc<Catalogue> {
        &self.current
    }

    /// The catalogue of a version, if known.
    pub fn get(&self, version: &str) -> Option<&Arc<Catalogue>> {
        self.by_version.get(version)
    }

    /// Every known version.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.by_version.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn builtin_catalogue_loads_with_every_method_and_the_luan_profile() -> Result<()> {
        let c = Catalogue::builtin()?;
        assert!(c.items().count() >= 36, "base and profile items");
        for m in Method::ALL {
            assert!(c.method(m).is_some());
        }
        assert_eq!(c.profile().jurisdiction, "CN-AH-LA");
        assert_eq!(
            c.measure_category(Method::Penalty),
            MeasureCategory::Enforcement
        );
        for code in [
            "CG-IC-001",
            "CG-CF-001",
            "CG-WS-001",
            "CG-RD-001",
            "CG-NP-001",
        ] {
            c.item(code)?;
        }
        Ok(())
    }

    #[test]
    fn no_item_cites_another_provinces_law() -> Result<()> {
        let c = Catalogue::builtin()?;
        for item in c.items() {
            for b in item.legal_basis.iter().chain(&item.exemption.basis) {
                let law = c.law(&b.law).ok_or_else(|| CoreError::Catalogue {
                    reason: b.law.clone(),
                })?;
                assert!(
                    ["CN", "CN-AH", "CN-AH-LA"].contains(&law.jurisdiction.as_str()),
                    "{} cites {}",
                    item.code,
                    law.id
                );
            }
        }
        Ok(())
    }

    #[test]
    fn unknown_code_is_a_typed_error() -> Result<()> {
        let c = Catalogue::builtin()?;
        assert!(matches!(
            c.item("CG-XX-999"),
            Err(CoreError::UnknownViolationCode { .. })
        ));
        Ok(())
    }

    #[test]
    fn bundle_bytes_round_trip_and_are_bounded() -> Result<()> {
        let b = CatalogueBundle::builtin()?;
        let bytes = b.to_bytes()?;
        let back = CatalogueBundle::from_bytes(&bytes)?;
        assert_eq!(back, b);
        assert_eq!(back.digest()?, b.digest()?);
        let big = vec![b' '; MAX_BUNDLE_BYTES + 1];
        assert!(CatalogueBundle::from_bytes(&big).is_err());
        Ok(())
    }

    #[test]
    fn the_schemas_folder_is_the_builtin_catalogue() -> Result<()> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/catalogue");
        let from_dir = CatalogueBundle::from_dir(&dir, BUILTIN_PROFILE)?;
        assert_eq!(from_dir, CatalogueBundle::builtin()?);
        Catalogue::from_bundle(&from_dir)?;
        Ok(())
    }

    fn file<'a>(b: &'a mut CatalogueBundle, name: &str) -> &'a mut Value {
        b.files
            .get_mut(&format!("profiles/{BUILTIN_PROFILE}/{name}"))
            .unwrap_or_else(|| panic!("no {name}"))
    }

    fn entry<'a>(v: &'a mut Value, list: &str, code: &str) -> &'a mut Value {
        v[list]
            .as_array_mut()
            .and_then(|a| a.iter_mut().find(|e| e["code"] == code))
            .unwrap_or_else(|| panic!("no {code}"))
    }

    /// Each break of a copy of the shipped catalogue, and the words its refusal must carry.
    #[allow(clippy::type_complexity)]
    fn breaks() -> Vec<(
        &'static str,
        Box<dyn Fn(&mut CatalogueBundle)>,
        &'static str,
    )> {
        vec![
            (
                "tier below the statutory minimum",
                Box::new(|b| {
                    entry(file(b, "benchmarks.json"), "items", "CG-CW-001")["tiers"][0]["min_yuan"] =
                        json!(200)
                }),
                "outside statutory 2000-20000",
            ),
            (
                "fine tier while the law sets no amount",
                Box::new(|b| {
                    let e = entry(file(b, "benchmarks.json"), "items", "CG-AP-001");
                    if let Some(t) = e["tiers"].as_array_mut() {
                        t.push(
                            json!({"tier": "serious", "party_type": "person", "penalty": "fine",
                            "min_yuan": 50, "max_yuan": 100, "conditions": {"zh": "x", "en": "x"}}),
                        );
                    }
                }),
                "no statutory fine with a known maximum",
            ),
            (
                "exempt tier defined by an expired order",
                Box::new(|b| {
                    let e = entry(file(b, "benchmarks.json"), "items", "CG-ST-001");
                    e["tiers"][0]["conditions"]["zh"] = json!("逾期未改正");
                }),
                "defined by a failure to correct",
            ),
            (
                "correction-order-first tier that does not presuppose the order",
                Box::new(|b| {
                    let e = entry(file(b, "benchmarks.json"), "items", "CG-NO-002");
                    e["tiers"][0]["conditions"]["zh"] = json!("首次");
                }),
                "the tier does not say so",
            ),
            (
                "warning tier where the law has no warning",
                Box::new(|b| {
                    let e = entry(file(b, "benchmarks.json"), "items", "CG-ST-001");
                    e["tiers"][0]["penalty"] = json!("warning");
                    e["tiers"][0]["min_yuan"] = json!(0);
                    e["tiers"][0]["max_yuan"] = json!(0);
                }),
                "is not a penalty the item's law prescribes",
            ),
            (
                "version mismatch",
                Box::new(|b| {
                    file(b, "exemption-list.json")["catalogue_version"] = json!("1999.1.1")
                }),
                "is not the bundle's",
            ),
            (
                "another province's law",
                Box::new(|b| {
                    let v = file(b, "local-basis.json");
                    if let Some(basis) = v["entries"][0]["legal_basis"].as_array_mut() {
                        basis.push(json!({"law": "zj-cacs-reg", "article": "第十七条",
                            "role": "penalty", "text": "x", "confirmed": true}));
                    }
                }),
                "unknown law zj-cacs-reg",
            ),
            (
                "another province's law in the law table",
                Box::new(|b| {
                    let v = file(b, "laws.json");
                    if let Some(laws) = v["laws"].as_array_mut() {
                        laws.push(
                            json!({"id": "zj-cacs-reg", "title": {"zh": "浙江", "en": "Zhejiang"},
                            "level": "provincial_regulation", "jurisdiction": "CN-ZJ",
                            "source": "x", "confirmed": true}),
                        );
                    }
                }),
                "does not govern CN-AH-LA",
            ),
            (
                "exempt tier missing from the benchmarks",
                Box::new(|b| {
                    entry(file(b, "exemption-list.json"), "items", "CG-ST-002")["exempt_tiers"] =
                        json!(["trivial"])
                }),
                "has no benchmark row",
            ),
            (
                "exemption for an item fined only after an expired order",
                Box::new(|b| {
                    entry(file(b, "exemption-list.json"), "items", "CG-AP-004")["kinds"] = json!([
                        {"kind": "first_offence", "first_offence_required": true,
                         "conditions": {"zh": "x", "en": "x"}}
                    ])
                }),
                "only after an uncorrected order",
            ),
            (
                "profile item reusing a base code",
                Box::new(|b| {
                    let v = file(b, "items-appearance.json");
                    if let Some(items) = v["items"].as_array_mut() {
                        let mut copy = items[0].clone();
                        copy["code"] = json!("CG-ST-001");
                        items.push(copy);
                    }
                }),
                "item CG-ST-001 defined twice",
            ),
            (
                "document template with an unknown placeholder",
                Box::new(|b| {
                    let f = file(b, "documents.json");
                    f["templates"][0]["blocks"][0]["text"] = json!("{occured_at}");
                }),
                "uses unknown field {occured_at}",
            ),
            (
                "document kind without a template",
                Box::new(|b| {
                    let f = file(b, "documents.json");
                    if let Some(t) = f["templates"].as_array_mut() {
                        t.retain(|t| t["kind"] != "penalty_decision");
                    }
                }),
                "no template for penalty_decision",
            ),
            (
                "document citing a law not in the table",
                Box::new(|b| {
                    let f = file(b, "documents.json");
                    f["templates"][0]["basis"][0]["law"] = json!("hn-some-rule");
                }),
                "cites unknown law hn-some-rule",
            ),
            (
                "two document kinds sharing a number series",
                Box::new(|b| {
                    let f = file(b, "documents.json");
                    if let Some(t) = f["templates"].as_array_mut() {
                        for t in t.iter_mut().filter(|t| t["kind"] == "prior_notice") {
                            t["series"] = json!("罚");
                        }
                    }
                }),
                "series 罚 used by",
            ),
            (
                "no profile",
                Box::new(|b| {
                    b.files
                        .remove(&format!("profiles/{BUILTIN_PROFILE}/profile.json"));
                }),
                "no profile",
            ),
        ]
    }

    #[test]
    fn every_break_of_the_shipped_catalogue_is_refused_with_its_reason() -> Result<()> {
        let shipped = CatalogueBundle::builtin()?;
        for (name, brk, expect) in breaks() {
            let mut b = shipped.clone();
            brk(&mut b);
            match Catalogue::from_bundle(&b) {
                Ok(_) => panic!("{name}: accepted"),
                Err(CoreError::Catalogue { reason }) => {
                    assert!(reason.contains(expect), "{name}: {reason}")
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
        Ok(())
    }
}
