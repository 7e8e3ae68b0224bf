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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreConfig;
    use crate::sync::session::SyncSession;
    use crate::sync::wire::{PROTOCOL_VERSION, SyncResponse};
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    const NEXT: &str = "2099.1.1";

    /// The built-in bundle under another version, with one benchmark tier changed.
    fn bumped(version: &str) -> Result<CatalogueBundle> {
        let mut b = CatalogueBundle::builtin()?;
        for v in b.files.values_mut() {
            if v.get("catalogue_version").is_some() {
                v["catalogue_version"] = json!(version);
            }
        }
        b.version = version.to_string();
        let bench = b
            .files
            .get_mut("profiles/cn-ah-la/benchmarks.json")
            .ok_or_else(|| refused("no benchmarks"))?;
        let tier = bench["items"]
            .as_array_mut()
            .and_then(|items| items.iter_mut().find(|i| i["code"] == "CG-ST-001"))
            .and_then(|i| i["tiers"].as_array_mut())
            .and_then(|t| {
                t.iter_mut()
                    .find(|t| t["tier"] == "minor" && t["party_type"] == "person")
            })
            .ok_or_else(|| refused("no CG-ST-001 minor tier"))?;
        tier["min_yuan"] = json!(100);
        Ok(b)
    }

    fn signed(key: &SigningKey, b: &CatalogueBundle) -> Result<SignedCatalogue> {
        let bytes = b.to_bytes()?;
        let (digest, signature) = crate::sync::catalogue::sign(key, &bytes, &b.version);
        Ok(SignedCatalogue {
            version: b.version.clone(),
            digest,
            signature,
            published_at_ms: 1,
            bundle: bytes,
        })
    }

    fn server_key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn store(dir: &std::path::Path) -> Result<FieldStore> {
        FieldStore::open(
            dir.join("p.db"),
            StoreConfig::insecure_plain_for_tests("DEV-1"),
        )
    }

    fn pinned(dir: &std::path::Path) -> Result<FieldStore> {
        let s = store(dir)?;
        let key = hex::encode(server_key().verifying_key().as_bytes());
        assert!(s.pin_server_signing_key(&key)?);
        Ok(s)
    }

    fn rows(s: &FieldStore) -> Result<i64> {
        s.read(|c| Ok(c.query_row("SELECT count(*) FROM catalogues", [], |r| r.get(0))?))
    }

    #[test]
    fn a_verified_catalogue_is_stored_put_in_force_and_loaded_again_on_open() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
        let builtin = Catalogue::builtin()?.version().to_string();
        {
            let s = pinned(dir.path())?;
            let v = s.install_catalogue(&signed(&server_key(), &bumped(NEXT)?)?)?;
            assert_eq!(v, NEXT);
            assert_eq!(s.catalogue().version(), NEXT);
            assert_eq!(
                s.catalogue_versions(),
                vec![builtin.clone(), NEXT.to_string()]
            );
            // The changed tier is the one in force; the built-in one is kept.
            let tier = |c: &Catalogue| {
                c.tier("CG-ST-001", "minor", crate::catalogue::PartyType::Person)
                    .map(|t| t.min_yuan)
            };
            assert_eq!(tier(&s.catalogue())?, Some(100));
            let set = s.catalogues();
            let old = set.get(&builtin).ok_or_else(|| refused("built-in gone"))?;
            assert_eq!(tier(old)?, Some(50));
            // Installing the same again changes nothing.
            s.install_catalogue(&signed(&server_key(), &bumped(NEXT)?)?)?;
            assert_eq!(rows(&s)?, 1);
        }
        let s = store(dir.path())?;
        assert_eq!(s.catalogue().version(), NEXT);
        assert_eq!(s.catalogue_versions().len(), 2);
        // The server may put a held version back in force.
        assert!(s.use_catalogue(&builtin)?);
        assert!(!s.use_catalogue("1.0.0")?);
        drop(s);
        assert_eq!(store(dir.path())?.catalogue().version(), builtin);
        Ok(())
    }

    #[test]
    fn a_tampered_foreign_or_unpinned_bundle_is_refused_with_nothing_stored() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
        let good = signed(&server_key(), &bumped(NEXT)?)?;
        let builtin = Catalogue::builtin()?.version().to_string();
        // No server key pinned yet: nothing can be checked, nothing is taken.
        {
            let s = store(dir.path())?;
            assert!(matches!(
                s.install_catalogue(&good),
                Err(CoreError::Catalogue { .. })
            ));
            assert_eq!(rows(&s)?, 0);
        }
        let s = pinned(dir.path())?;
        let mut altered = good.clone();
        let at = altered
            .bundle
            .windows(4)
            .position(|w| w == b"100,")
            .ok_or_else(|| refused("no amount to alter"))?;
        altered.bundle[at] = b'9';
        let foreign = signed(&SigningKey::from_bytes(&[4; 32]), &bumped(NEXT)?)?;
        // A valid catalogue, signed, but claiming the built-in version with other content.
        let mut same_version = bumped(&builtin)?;
        same_version.version = builtin.clone();
        let clash = signed(&server_key(), &same_version)?;
        // Signed, but not a valid catalogue.
        let mut broken = bumped(NEXT)?;
        broken.files.remove("profiles/cn-ah-la/profile.json");
        let invalid = signed(&server_key(), &broken)?;
        for (name, offer) in [
            ("bytes changed after signing", &altered),
            ("signed by another key", &foreign),
            ("built-in version with other content", &clash),
            ("invalid catalogue", &invalid),
        ] {
            match s.install_catalogue(offer) {
                Err(CoreError::Catalogue { .. }) => {}
                other => panic!("{name}: {other:?}"),
            }
            assert_eq!(rows(&s)?, 0, "{name}");
            assert_eq!(s.catalogue().version(), builtin, "{name}");
            assert_eq!(s.meta(META_CATALOGUE_CURRENT)?, None, "{name}");
        }
        // A later key from the server does not replace the pinned one.
        let other = hex::encode(SigningKey::from_bytes(&[4; 32]).verifying_key().as_bytes());
        assert!(!s.pin_server_signing_key(&other)?);
        assert!(s.install_catalogue(&foreign).is_err());
        Ok(())
    }

    #[test]
    fn a_refused_bundle_is_reported_and_not_asked_for_again_in_the_session() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
        let s = pinned(dir.path())?;
        let mut session = SyncSession::new(&s, "DEV-1")?;
        let first = session
            .next_request(&s)?
            .ok_or_else(|| refused("no request"))?;
        assert_eq!(
            first.catalogue_version.as_deref(),
            Some(s.catalogue().version())
        );
        assert_eq!(first.catalogue_versions, s.catalogue_versions());
        assert_eq!(first.catalogue_refused, None);
        let mut tampered = signed(&server_key(), &bumped(NEXT)?)?;
        tampered.version = "2099.1.2".into();
        let reply = SyncResponse {
            number_blocks: vec![],
            roster: None,
            roster_digest: None,
            restore_epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 0,
            docs: vec![],
            feed: vec![],
            more: true,
            server_time_ms: crate::ids::now_ms(),
            catalogue_version: Some("2099.1.2".into()),
            catalogue: Some(tampered),
        };
        session.apply_response(&s, reply)?;
        let refusal = session
            .report()
            .catalogue_refused
            .clone()
            .ok_or_else(|| refused("not reported"))?;
        assert_eq!(refusal.version, "2099.1.2");
        assert_eq!(session.report().catalogue_received, None);
        assert_eq!(rows(&s)?, 0);
        let next = session
            .next_request(&s)?
            .ok_or_else(|| refused("no request"))?;
        assert_eq!(next.catalogue_refused.as_deref(), Some("2099.1.2"));

        // A good bundle in a later reply is taken.
        let reply = SyncResponse {
            number_blocks: vec![],
            roster: None,
            roster_digest: None,
            restore_epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 0,
            docs: vec![],
            feed: vec![],
            more: false,
            server_time_ms: crate::ids::now_ms(),
            catalogue_version: Some(NEXT.into()),
            catalogue: Some(signed(&server_key(), &bumped(NEXT)?)?),
        };
        session.apply_response(&s, reply)?;
        assert_eq!(session.report().catalogue_received.as_deref(), Some(NEXT));
        assert_eq!(s.catalogue().version(), NEXT);
        Ok(())
    }
}
