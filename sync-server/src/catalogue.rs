//! The catalogue versions this server knows and the one it hands to phones, and the
//! operator's `admin catalogue check|publish|list`.
//!
//! A server knows its built-in catalogue and every version an operator published (stored by
//! [`crate::storage::catalogue::CatalogueStore`]). The newest published version is in force
//! for new cases (the built-in one while none is published) and is what phones that lack it
//! receive through sync, signed with the server's ed25519 key (the key that signs audit
//! entries and legal reviews, which phones pin at enrolment). Every version stays known,
//! because the rules judge a case under the version it recorded.
//!
//! Stored bundles are checked at load exactly as a phone checks them (digest, signature,
//! [`Catalogue::from_bundle`]): a row altered in the database is never served or used.
//! Publishing is a CLI command writing to the database, so a running server notices a new
//! version by comparing the newest stored version with its own at most every
//! [`REFRESH_MS`] (one small query on a sync request), and every server host sharing a
//! PostgreSQL database picks it up the same way.

use crate::audit::AuditEvent;
use crate::error::{Result, ServerError};
use crate::storage::Storage;
use crate::storage::catalogue::PublishedCatalogue;
use ed25519_dalek::SigningKey;
use fieldcase_core::CoreError;
use fieldcase_core::catalogue::{Catalogue, CatalogueBundle, CatalogueSet};
use fieldcase_core::sync::catalogue::{compare_versions, parse_version, sign, verify};
use fieldcase_core::sync::wire::SignedCatalogue;
use serde::Serialize;
use std::cmp::Ordering;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock};

/// How often (ms) a running server looks for a newly published catalogue.
pub const REFRESH_MS: i64 = 30_000;

/// What the server holds at one moment: replaced whole, never edited.
#[derive(Debug)]
struct Held {
    set: Arc<CatalogueSet>,
    offer: Arc<SignedCatalogue>,
}

/// The catalogue versions this server knows (see the module docs). Cheap to read: a reader
/// takes the `Arc`s and lets go of the lock at once, never across an `.await`.
#[derive(Debug)]
pub struct ServerCatalogues {
    held: RwLock<Arc<Held>>,
    last_check_ms: AtomicI64,
    /// How often to look for a new publication: [`REFRESH_MS`] unless a test shortens it.
    refresh_ms: AtomicI64,
}

fn invalid(e: CoreError) -> ServerError {
    match e {
        CoreError::Catalogue { reason } => ServerError::BadRequest(format!(
            "the catalogue is refused:\n  {}",
            reason.split("; ").collect::<Vec<_>>().join("\n  ")
        )),
        other => ServerError::Core(other),
    }
}

/// Builds the set from the built-in catalogue and every stored version whose signature holds
/// under `key`.
async fn build(storage: &dyn Storage, key: &SigningKey) -> Result<Held> {
    let builtin = CatalogueBundle::builtin()?;
    let bytes = builtin.to_bytes()?;
    let (digest, signature) = sign(key, &bytes, &builtin.version);
    let mut offer = SignedCatalogue {
        version: builtin.version.clone(),
        digest,
        signature,
        published_at_ms: 0,
        bundle: bytes,
    };
    let mut set = CatalogueSet::new(Arc::new(Catalogue::from_bundle(&builtin)?));
    let public = hex::encode(key.verifying_key().as_bytes());
    for p in storage.published_catalogues().await? {
        let signed = SignedCatalogue {
            version: p.version,
            digest: p.digest,
            signature: p.signature,
            published_at_ms: p.published_at_ms,
            bundle: p.bundle,
        };
        match verify(&signed, &public) {
            // Oldest first: the last one loaded is the newest, in force.
            Ok(c) => {
                set.insert(Arc::new(c), true);
                offer = signed;
            }
            Err(e) => tracing::error!(
                version = %signed.version,
                error = %e,
                "a published catalogue does not verify under this server's key; not used"
            ),
        }
    }
    Ok(Held {
        set: Arc::new(set),
        offer: Arc::new(offer),
    })
}

impl ServerCatalogues {
    /// Loads the built-in catalogue and every published one.
    pub async fn load(storage: &dyn Storage, key: &SigningKey) -> Result<Self> {
        Ok(ServerCatalogues {
            held: RwLock::new(Arc::new(build(storage, key).await?)),
            last_check_ms: AtomicI64::new(fieldcase_core::ids::now_ms()),
            refresh_ms: AtomicI64::new(REFRESH_MS),
        })
    }

    /// Looks for new publications every `ms` instead of [`REFRESH_MS`] (tests).
    pub fn set_refresh_ms(&self, ms: i64) {
        self.refresh_ms.store(ms.max(0), AtomicOrdering::Relaxed);
    }

    fn held(&self) -> Arc<Held> {
        match self.held.read() {
            Ok(h) => h.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Every version known; validation judges each case under the one it recorded.
    pub fn set(&self) -> Arc<CatalogueSet> {
        self.held().set.clone()
    }

    /// The catalogue in force for new cases.
    pub fn current(&self) -> Arc<Catalogue> {
        self.held().set.current().clone()
    }

    /// The signed catalogue in force, as phones receive it.
    pub fn offer(&self) -> Arc<SignedCatalogue> {
        self.held().offer.clone()
    }

    /// Loads every published version again (after a publication).
    pub async fn reload(&self, storage: &dyn Storage, key: &SigningKey) -> Result<()> {
        let fresh = Arc::new(build(storage, key).await?);
        match self.held.write() {
            Ok(mut h) => *h = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        self.last_check_ms
            .store(fieldcase_core::ids::now_ms(), AtomicOrdering::Relaxed);
        Ok(())
    }

    /// Reloads when a newer version was published since the last look, looking at most every
    /// [`REFRESH_MS`]. A failure is logged: the versions held stay in force.
    pub async fn refresh_if_due(&self, storage: &dyn Storage, key: &SigningKey) {
        let now = fieldcase_core::ids::now_ms();
        let last = self.last_check_ms.load(AtomicOrdering::Relaxed);
        if now.saturating_sub(last) < self.refresh_ms.load(AtomicOrdering::Relaxed)
            || self
                .last_check_ms
                .compare_exchange(last, now, AtomicOrdering::Relaxed, AtomicOrdering::Relaxed)
                .is_err()
        {
            return;
        }
        let offer = self.offer();
        let outcome = match storage.latest_catalogue().await {
            Ok(Some((v, d))) if v != offer.version || d != offer.digest => {
                self.reload(storage, key).await
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "could not look for a newly published catalogue");
        }
    }

    /// What a sync reply carries for a phone: the signed catalogue in force when the phone
    /// states its catalogue (older phones do not, and would not use it), lacks this version,
    /// and did not refuse it earlier in the session.
    pub fn for_phone(
        &self,
        phone_version: Option<&str>,
        phone_versions: &[String],
        refused: Option<&str>,
    ) -> (String, Option<SignedCatalogue>) {
        let offer = self.offer();
        let send = phone_version.is_some()
            && !phone_versions.iter().any(|v| *v == offer.version)
            && refused != Some(offer.version.as_str());
        (offer.version.clone(), send.then(|| (*offer).clone()))
    }
}

/// What `admin catalogue check` found in a valid catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// Version.
    pub version: String,
    /// Jurisdiction of the profile.
    pub jurisdiction: String,
    /// SHA-256 of the canonical bytes, hex.
    pub digest: String,
    /// Size of the canonical bytes.
    pub size: u64,
    /// Files in the bundle.
    pub files: usize,
    /// Violation items.
    pub items: usize,
}

/// Reads `DIR/base/` and `DIR/profiles/PROFILE/` and validates them with
/// [`Catalogue::from_bundle`], the check phones run; every problem is listed in the error.
pub fn check(dir: &Path, profile: &str) -> Result<(CatalogueBundle, Checked)> {
    let bundle = CatalogueBundle::from_dir(dir, profile).map_err(invalid)?;
    let catalogue = Catalogue::from_bundle(&bundle).map_err(invalid)?;
    if parse_version(&bundle.version).is_none() {
        return Err(ServerError::BadRequest(format!(
            "catalogue version {:?} is not dotted numbers (e.g. 2026.12.1)",
            bundle.version
        )));
    }
    let bytes = bundle.to_bytes()?;
    let checked = Checked {
        version: bundle.version.clone(),
        jurisdiction: bundle.jurisdiction.clone(),
        digest: hex::encode(fieldcase_core::sync::catalogue::digest_of(&bytes)),
        size: bytes.len() as u64,
        files: bundle.files.len(),
        items: catalogue.items().count(),
    };
    Ok((bundle, checked))
}

/// What `admin catalogue publish` did.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    /// Version.
    pub version: String,
    /// SHA-256 of the bundle, hex.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// False when exactly this version and content was published already (nothing changed).
    pub newly_published: bool,
}

/// Validates the catalogue in `dir`, signs it with `key` (the server's signing key) and
/// stores it as the version in force; audited. Refused, with nothing stored, when it is
/// invalid (every problem listed), its version is not dotted numbers, is published already
/// with other content, or is not newer than the version in force (the newest published, or
/// the built-in one). Publishing exactly the same version and content again changes nothing.
/// Running servers pick it up within [`REFRESH_MS`].
pub async fn publish(
    storage: &dyn Storage,
    key: &SigningKey,
    dir: &Path,
    profile: &str,
) -> Result<Published> {
    let (bundle, checked) = check(dir, profile)?;
    let bytes = bundle.to_bytes()?;
    let (digest, signature) = sign(key, &bytes, &bundle.version);
    // Against published versions the storage decides, inside its transaction; while none is,
    // the built-in version is the one in force.
    if storage.latest_catalogue().await?.is_none() {
        let builtin = CatalogueBundle::builtin()?.version;
        if compare_versions(&bundle.version, &builtin) != Some(Ordering::Greater) {
            return Err(ServerError::Conflict(format!(
                "catalogue {} is not newer than the version in force, the built-in {builtin}",
                bundle.version
            )));
        }
    }
    let now = fieldcase_core::ids::now_ms();
    let newly = storage
        .publish_catalogue(PublishedCatalogue {
            version: bundle.version.clone(),
            digest: digest.clone(),
            signature,
            published_at_ms: now,
            size: bytes.len() as u64,
            bundle: bytes,
        })
        .await?;
    if newly {
        crate::admin::audit(
            storage,
            key,
            AuditEvent {
                at_ms: now,
                actor: "operator".into(),
                action: "catalogue_publish".into(),
                case_id: None,
                detail: format!(
                    "catalogue {} ({}) sha256 {digest}, {} bytes",
                    bundle.version, bundle.jurisdiction, checked.size
                ),
            },
        )
        .await?;
    }
    Ok(Published {
        version: checked.version,
        digest,
        size: checked.size,
        newly_published: newly,
    })
}

/// One line of `admin catalogue list`.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// Version.
    pub version: String,
    /// SHA-256 of the bundle, hex.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// When published (unix ms); 0 for the built-in catalogue.
    pub published_at_ms: i64,
    /// `built-in` or `published`.
    pub source: &'static str,
    /// In force for new cases.
    pub current: bool,
}

/// The built-in catalogue and every published one, oldest first; the last published (or the
/// built-in one, when none is) is in force.
pub async fn list(storage: &dyn Storage) -> Result<Vec<Listed>> {
    let builtin = CatalogueBundle::builtin()?;
    let bytes = builtin.to_bytes()?;
    let published = storage.published_catalogues().await?;
    let mut out = vec![Listed {
        version: builtin.version,
        digest: hex::encode(fieldcase_core::sync::catalogue::digest_of(&bytes)),
        size: bytes.len() as u64,
        published_at_ms: 0,
        source: "built-in",
        current: published.is_empty(),
    }];
    let n = published.len();
    out.extend(published.into_iter().enumerate().map(|(i, p)| Listed {
        version: p.version,
        digest: p.digest,
        size: p.size,
        published_at_ms: p.published_at_ms,
        source: "published",
        current: i + 1 == n,
    }));
    Ok(out)
}
