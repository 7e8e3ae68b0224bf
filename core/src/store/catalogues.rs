//! The catalogue versions a phone holds: the built-in one, and every signed version the server
//! sent, kept as the bytes that were verified (table `catalogues`, migration 4).
//!
//! Every version stays, because a case is judged under the version it recorded: a newer
//! catalogue must never re-judge a case made under an older one. The version in force for new
//! cases is the one the server last put in force (meta `catalogue_current`), so phones record
//! under a version their server knows. A bundle is stored only after its signature verified
//! under the server key pinned at enrolment and [`Catalogue::from_bundle`] accepted it; a
//! refused bundle changes nothing.

use super::{FieldStore, get_meta, lock, set_meta};
use crate::catalogue::{Catalogue, CatalogueBundle, CatalogueSet};
use crate::sync::client::META_SERVER_SIGNING_KEY;
use crate::sync::wire::SignedCatalogue;
use crate::{CoreError, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;

/// Meta key of the catalogue version in force for new cases, once the server chose one.
pub const META_CATALOGUE_CURRENT: &str = "catalogue_current";

fn refused(reason: impl Into<String>) -> CoreError {
    CoreError::Catalogue {
        reason: reason.into(),
    }
}

/// Adds every stored version to `set` and, unless `keep_current`, puts the one the server
/// last chose in force. A stored bundle this build no longer accepts (its validator grew
/// stricter) is left out with a warning rather than keeping the officer from the store; cases
/// recorded under it are then refused as of an unknown version until the server sends it again.
pub(crate) fn load_stored(
    conn: &Connection,
    set: &mut CatalogueSet,
    keep_current: bool,
) -> Result<()> {
    let mut stmt = conn.prepare("SELECT version, bundle FROM catalogues ORDER BY version")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    for (version, bytes) in rows {
        match CatalogueBundle::from_bytes(&bytes).and_then(|b| Catalogue::from_bundle(&b)) {
            Ok(c) if c.version() == version => set.insert(Arc::new(c), false),
            Ok(_) => tracing::warn!(%version, "stored catalogue holds another version; skipped"),
            Err(e) => {
                tracing::warn!(%version, error = %e, "stored catalogue no longer loads; skipped")
            }
        }
    }
    if !keep_current
        && let Some(v) =
            get_meta(conn, META_CATALOGUE_CURRENT)?.and_then(|v| String::from_utf8(v).ok())
        && let Some(c) = set.get(&v).cloned()
    {
        set.insert(c, true);
    }
    Ok(())
}

impl FieldStore {
    /// Every catalogue version this store holds (the built-in one and those received).
    pub fn catalogue_versions(&self) -> Vec<String> {
        self.catalogues().versions().map(str::to_string).collect()
    }

    /// The server's signing key (hex) pinned at enrolment or at the first key refresh.
    pub fn server_signing_key(&self) -> Result<Option<String>> {
        Ok(self
            .meta(META_SERVER_SIGNING_KEY)?
            .and_then(|v| String::from_utf8(v).ok())
            .filter(|k| !k.is_empty()))
    }

    /// Pins the server's signing key if none is pinned yet; a different key later is ignored
    /// (logged), so whoever answers a later request cannot swap the key catalogues are checked
    /// against. Returns whether the key was pinned now.
    pub(crate) fn pin_server_signing_key(&self, key_hex: &str) -> Result<bool> {
        let key = key_hex.to_ascii_lowercase();
        let ok = key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            tracing::warn!("server sent a malformed signing key; ignored");
            return Ok(false);
        }
        match self.server_signing_key()? {
            Some(k) if k == key => Ok(false),
            Some(_) => {
                tracing::warn!("server sent another signing key than the one pinned; ignored");
                Ok(false)
            }
            None => {
                self.set_meta(META_SERVER_SIGNING_KEY, key.as_bytes())?;
                Ok(true)
            }
        }
    }

    /// Checks a signed catalogue from the server (signature under the pinned server key, then
    /// [`Catalogue::from_bundle`]), stores it and puts it in force for new cases; returns its
    /// version. Refused ([`CoreError::Catalogue`]) with nothing stored or changed when no
    /// server key is pinned, the signature or content fails, or the version is already held
    /// with other content (cases recorded under it must keep their meaning).
    pub fn install_catalogue(&self, offer: &SignedCatalogue) -> Result<String> {
        let key = self
            .server_signing_key()?
            .ok_or_else(|| refused("no server signing key is pinned yet"))?;
        let catalogue = crate::sync::catalogue::verify(offer, &key)?;
        let version = catalogue.version().to_string();
        let digest = offer.digest.to_ascii_lowercase();
        let held = self.catalogues().get(&version).is_some();
        let stored: Option<String> = self.read(|c| {
            Ok(c.query_row(
                "SELECT digest FROM catalogues WHERE version = ?1",
                [&version],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        match &stored {
            Some(d) if *d != digest => {
                return Err(refused(format!(
                    "version {version} is already held with other content"
                )));
            }
            None if held && CatalogueBundle::builtin()?.digest()? != digest => {
                return Err(refused(format!(
                    "version {version} is built in with other content"
                )));
            }
            _ => {}
        }
        self.write_tx(|tx| {
            tx.execute(
                "INSERT INTO catalogues(version, digest, signature, bundle, published_at_ms,
                                        received_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(version) DO NOTHING",
                params![
                    version,
                    digest,
                    offer.signature,
                    offer.bundle,
                    offer.published_at_ms,
                    crate::ids::now_ms()
                ],
            )?;
            set_meta(tx, META_CATALOGUE_CURRENT, version.as_bytes())
        })?;
        let c = match self.catalogues().get(&version) {
            Some(c) => c.clone(),
            None => Arc::new(catalogue),
        };
        self.with_catalogues(|set| set.insert(c, true));
        Ok(version)
    }

    /// Puts a version this store already holds in force for new cases (the server's current
    /// one); returns whether anything changed. An unknown version changes nothing.
    pub fn use_catalogue(&self, version: &str) -> Result<bool> {
        let set = self.catalogues();
        let Some(c) = set.get(version).cloned() else {
            return Ok(false);
        };
        if set.current().version() == version {
            return Ok(false);
        }
        {
            let w = lock(&self.writer);
            set_meta(&w.conn, META_CATALOGUE_CURRENT, version.as_bytes())?;
        }
        self.with_catalogues(|s| s.insert(c, true));
        Ok(true)
    }

    fn with_catalogues(&self, f: impl FnOnce(&mut CatalogueSet)) {
        match self.catalogue.write() {
            Ok(mut set) => f(&mut set),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}
