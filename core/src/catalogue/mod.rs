//! The catalogue: violation items, their exemption conditions, discretion tiers and review
//! thresholds, and the 721 class of every method.
//!
//! The catalogue is data, not code: the rules in [`crate::rules`] read it and no violation item
//! is named in Rust. The files live in `schemas/catalogue/` and are compiled into the library as
//! the built-in version; a server can push a newer version, which [`Catalogue::from_parts`]
//! accepts after the same checks.

mod types;

pub use types::*;

use crate::{CoreError, Result};
use std::collections::BTreeMap;

/// The catalogue files compiled into this build (`schemas/catalogue/*.json`).
const BUILTIN: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/catalogue_files.rs"));

/// The merged catalogue a device applies offline.
#[derive(Debug, Clone)]
pub struct Catalogue {
    version: String,
    methods: BTreeMap<Method, MethodSpec>,
    items: BTreeMap<String, Item>,
}

impl Catalogue {
    /// The catalogue compiled into this build.
    pub fn builtin() -> Result<Self> {
        let parts = BUILTIN
            .iter()
            .map(|(name, text)| {
                serde_json::from_str::<CataloguePart>(text).map_err(|e| CoreError::Catalogue {
                    reason: format!("{name}: {e}"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_parts(parts)
    }

    /// Parses one catalogue file (as pushed by a server or read from disk).
    pub fn parse_part(json: &str) -> Result<CataloguePart> {
        serde_json::from_str(json).map_err(|e| CoreError::Catalogue {
            reason: e.to_string(),
        })
    }

    /// Merges catalogue parts, checking what the JSON Schema cannot: one version, unique codes,
    /// every method present once, and sound tiers.
    pub fn from_parts(parts: Vec<CataloguePart>) -> Result<Self> {
        let bad = |reason: String| CoreError::Catalogue { reason };
        let mut version: Option<String> = None;
        let mut methods = BTreeMap::new();
        let mut items = BTreeMap::new();
        for part in parts {
            match &version {
                None => version = Some(part.catalogue_version.clone()),
                Some(v) if *v != part.catalogue_version => {
                    return Err(bad(format!(
                        "mixed versions {v} and {}",
                        part.catalogue_version
                    )));
                }
                Some(_) => {}
            }
            for m in part.methods {
                if methods.insert(m.method, m.clone()).is_some() {
                    return Err(bad(format!("method {} defined twice", m.method.as_str())));
                }
            }
            for item in part.items {
                item.check().map_err(bad)?;
                let code = item.code.clone();
                if items.insert(code.clone(), item).is_some() {
                    return Err(bad(format!("item {code} defined twice")));
                }
            }
        }
        for m in Method::ALL {
            if !methods.contains_key(&m) {
                return Err(bad(format!("method {} missing", m.as_str())));
            }
        }
        Ok(Catalogue {
            version: version.unwrap_or_default(),
            methods,
            items,
        })
    }

    /// The catalogue version string, recorded on every decision made with it.
    pub fn version(&self) -> &str {
        &self.version
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_loads_with_every_method_and_enough_items() -> Result<()> {
        let c = Catalogue::builtin()?;
        assert!(c.items().count() >= 15, "at least 15 items");
        for m in Method::ALL {
            assert!(c.method(m).is_some());
        }
        assert_eq!(
            c.measure_category(Method::Penalty),
            MeasureCategory::Enforcement
        );
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
    fn duplicate_items_are_refused() -> Result<()> {
        let text = BUILTIN
            .iter()
            .find(|(n, _)| n.starts_with("items"))
            .map(|(_, t)| *t)
            .ok_or_else(|| CoreError::Catalogue {
                reason: "no items file".into(),
            })?;
        let a = Catalogue::parse_part(text)?;
        let methods = BUILTIN
            .iter()
            .find(|(n, _)| n.starts_with("methods"))
            .map(|(_, t)| Catalogue::parse_part(t))
            .ok_or_else(|| CoreError::Catalogue {
                reason: "no methods file".into(),
            })??;
        let err = Catalogue::from_parts(vec![methods, a.clone(), a]);
        assert!(matches!(err, Err(CoreError::Catalogue { .. })));
        Ok(())
    }
}
