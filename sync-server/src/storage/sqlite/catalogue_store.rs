//! [`CatalogueStore`] on SQLite: the `catalogues` table of migration 6, written on the one
//! writer connection, so two publications serialise there.

use super::*;
use crate::storage::catalogue::{
    CatalogueStore, PublishedCatalogue, check_publishable, newest, sort_oldest_first,
};

fn stored_versions(c: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = c.prepare_cached("SELECT version, digest FROM catalogues")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[async_trait]
impl CatalogueStore for SqliteStorage {
    async fn publish_catalogue(&self, catalogue: PublishedCatalogue) -> Result<bool> {
        self.write(move |tx| {
            if !check_publishable(&stored_versions(tx)?, &catalogue)? {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO catalogues(version, digest, signature, bundle, published_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    catalogue.version,
                    catalogue.digest,
                    catalogue.signature,
                    catalogue.bundle,
                    catalogue.published_at_ms
                ],
            )?;
            Ok(true)
        })
        .await
    }

    async fn published_catalogues(&self) -> Result<Vec<PublishedCatalogue>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT version, digest, signature, bundle, published_at_ms FROM catalogues",
            )?;
            let mut rows = stmt
                .query_map([], |r| {
                    let bundle: Vec<u8> = r.get(3)?;
                    Ok(PublishedCatalogue {
                        version: r.get(0)?,
                        digest: r.get(1)?,
                        signature: r.get(2)?,
                        published_at_ms: r.get(4)?,
                        size: bundle.len() as u64,
                        bundle,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            sort_oldest_first(&mut rows);
            Ok(rows)
        })
        .await
    }

    async fn latest_catalogue(&self) -> Result<Option<(String, String)>> {
        self.read(|c| Ok(newest(stored_versions(c)?))).await
    }
}
