//! Published catalogues: the signed bundles an operator published, one row per version
//! (storage migration 6 on both backends).
//!
//! A trait of its own, which [`super::Storage`] requires, so the catalogue's storage can be
//! read and tested apart from the rest. Both backends apply the same rule inside their write
//! transaction ([`check_publishable`]): a version is published once, with one content, and
//! each new version must be newer than every stored one, compared as dotted numbers; two
//! operators publishing at once cannot both pass it.

use super::error::{StorageError, StorageResult};
use super::rows::Cells;
use async_trait::async_trait;
use fieldcase_core::sync::catalogue::compare_versions;
use serde::Serialize;
use std::cmp::Ordering;

/// A published catalogue as stored.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PublishedCatalogue {
    /// Version (dotted numbers).
    pub version: String,
    /// SHA-256 of `bundle`, hex.
    pub digest: String,
    /// The server's ed25519 signature (hex) over the catalogue signing payload.
    pub signature: String,
    /// When it was published (unix ms).
    pub published_at_ms: i64,
    /// Size of the bundle in bytes.
    pub size: u64,
    /// The bundle's canonical bytes (not printed).
    #[serde(skip)]
    pub bundle: Vec<u8>,
}

/// The bytes are left out: a bundle is hundreds of KB.
impl std::fmt::Debug for PublishedCatalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedCatalogue")
            .field("version", &self.version)
            .field("digest", &self.digest)
            .field("published_at_ms", &self.published_at_ms)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Storage of published catalogues.
#[async_trait]
pub trait CatalogueStore: Send + Sync {
    /// Stores a published catalogue in one transaction. `Ok(true)` when stored now,
    /// `Ok(false)` when the same version with the same digest is stored already (publishing
    /// twice is harmless). [`StorageError::Conflict`] when the version is stored with another
    /// digest, or a stored version is not older than it; nothing is written then.
    async fn publish_catalogue(&self, catalogue: PublishedCatalogue) -> StorageResult<bool>;
    /// Every published catalogue with its bytes, oldest version first.
    async fn published_catalogues(&self) -> StorageResult<Vec<PublishedCatalogue>>;
    /// The newest published version and its digest, without the bytes: what a running
    /// server compares to notice a publication (`None` when nothing was published).
    async fn latest_catalogue(&self) -> StorageResult<Option<(String, String)>>;
}

/// The rule both backends apply inside their transaction, over the stored `(version, digest)`
/// rows: `Ok(false)` if exactly this is stored, `Ok(true)` if it may be stored.
pub(crate) fn check_publishable(
    stored: &[(String, String)],
    new: &PublishedCatalogue,
) -> StorageResult<bool> {
    for (version, digest) in stored {
        if *version == new.version {
            if *digest == new.digest {
                return Ok(false);
            }
            return Err(StorageError::Conflict(format!(
                "catalogue {version} is published already with other content; give it a new version"
            )));
        }
    }
    for (version, _) in stored {
        match compare_versions(&new.version, version) {
            Some(Ordering::Greater) => {}
            Some(_) => {
                return Err(StorageError::Conflict(format!(
                    "catalogue {} is not newer than the published {version}",
                    new.version
                )));
            }
            None => {
                return Err(StorageError::Invalid(format!(
                    "catalogue version {} or {version} is not dotted numbers",
                    new.version
                )));
            }
        }
    }
    Ok(true)
}

/// Columns of [`published_catalogue`].
pub(crate) const CATALOGUE_COLS: &str = "version, digest, signature, bundle, published_at_ms";

/// [`CATALOGUE_COLS`].
pub(crate) fn published_catalogue(r: &impl Cells) -> StorageResult<PublishedCatalogue> {
    let bundle = r.bytes(3)?;
    Ok(PublishedCatalogue {
        version: r.text(0)?,
        digest: r.text(1)?,
        signature: r.text(2)?,
        published_at_ms: r.int(4)?,
        size: bundle.len() as u64,
        bundle,
    })
}

/// The newest of stored `(version, digest)` rows by dotted-number order.
pub(crate) fn newest(rows: Vec<(String, String)>) -> Option<(String, String)> {
    rows.into_iter()
        .max_by(|a, b| compare_versions(&a.0, &b.0).unwrap_or_else(|| a.0.cmp(&b.0)))
}

/// Sorts published catalogues oldest version first.
pub(crate) fn sort_oldest_first(rows: &mut [PublishedCatalogue]) {
    rows.sort_by(|a, b| {
        compare_versions(&a.version, &b.version).unwrap_or_else(|| a.version.cmp(&b.version))
    });
}
