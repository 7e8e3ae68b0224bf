//! The catalogue as one unit of data: the national base plus one jurisdiction profile, each
//! file kept as JSON under its path. This is what an operator publishes, the server signs and
//! phones receive; [`super::Catalogue::from_bundle`] validates and merges it.

use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The bundle format this build reads.
pub const BUNDLE_FORMAT: u32 = 2;

/// Largest bundle accepted (bytes of its JSON): the whole Lu'an catalogue is about 0.4 MB.
pub const MAX_BUNDLE_BYTES: usize = 8 * 1024 * 1024;

/// The files compiled into this build: `schemas/catalogue/base/*.json` and the default
/// profile's `schemas/catalogue/profiles/<id>/*.json`, under those relative paths.
const BUILTIN: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/catalogue_files.rs"));

/// The profile compiled into this build.
pub const BUILTIN_PROFILE: &str = "cn-ah-la";

/// One catalogue version: its files by relative path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: u32,
    /// The version every file carries.
    pub version: String,
    /// The profile's jurisdiction, e.g. `CN-AH-LA`.
    pub jurisdiction: String,
    /// `base/<name>.json` and `profiles/<id>/<name>.json`, parsed.
    pub files: BTreeMap<String, serde_json::Value>,
}

fn bad(reason: impl Into<String>) -> CoreError {
    CoreError::Catalogue {
        reason: reason.into(),
    }
}

impl CatalogueBundle {
    /// The bundle compiled into this build.
    pub fn builtin() -> Result<Self> {
        let files = BUILTIN
            .iter()
            .map(|(name, text)| {
                serde_json::from_str(text)
                    .map(|v| (name.to_string(), v))
                    .map_err(|e| bad(format!("{name}: {e}")))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        Self::from_files(files)
    }

    /// Reads `DIR/base/*.json` and `DIR/profiles/PROFILE/*.json` (the layout of
    /// `schemas/catalogue/`).
    pub fn from_dir(dir: &Path, profile: &str) -> Result<Self> {
        if profile.is_empty()
            || !profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(format!("profile id {profile:?} is not a folder name")));
        }
        let mut files = BTreeMap::new();
        for sub in ["base".to_string(), format!("profiles/{profile}")] {
            let folder = dir.join(&sub);
            let entries = std::fs::read_dir(&folder)
                .map_err(|e| bad(format!("{}: {e}", folder.display())))?;
            for entry in entries {
                let path = entry.map_err(|e| bad(e.to_string()))?.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| bad(format!("{}: file name not UTF-8", path.display())))?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| bad(format!("{}: {e}", path.display())))?;
                let value =
                    serde_json::from_str(&text).map_err(|e| bad(format!("{sub}/{name}: {e}")))?;
                files.insert(format!("{sub}/{name}"), value);
            }
        }
        Self::from_files(files)
    }

    /// Builds the bundle from parsed files, taking version and jurisdiction from the profile.
    pub fn from_files(files: BTreeMap<String, serde_json::Value>) -> Result<Self> {
        let profile = files
            .iter()
            .find(|(_, v)| v.get("part").and_then(|p| p.as_str()) == Some("profile"))
            .map(|(_, v)| v)
            .ok_or_else(|| bad("no profile file (part \"profile\")"))?;
        let text = |k: &str| {
            profile
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| bad(format!("profile: no {k}")))
        };
        Ok(CatalogueBundle {
            format: BUNDLE_FORMAT,
            version: text("catalogue_version")?,
            jurisdiction: text("jurisdiction")?,
            files,
        })
    }

    /// The canonical bytes (keys sorted, no spaces): what is signed and sent.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| bad(e.to_string()))
    }

    /// Parses bytes from another replica, bounded in size.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(bad(format!(
                "bundle of {} bytes exceeds {MAX_BUNDLE_BYTES}",
                bytes.len()
            )));
        }
        let b: CatalogueBundle = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if b.format != BUNDLE_FORMAT {
            return Err(bad(format!(
                "bundle format {} is not {BUNDLE_FORMAT}",
                b.format
            )));
        }
        Ok(b)
    }

    /// SHA-256 (hex) of the canonical bytes: identifies exactly this content.
    pub fn digest(&self) -> Result<String> {
        Ok(hex::encode(Sha256::digest(self.to_bytes()?)))
    }
}
