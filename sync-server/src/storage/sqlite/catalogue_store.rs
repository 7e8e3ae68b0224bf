//! [`CatalogueStore`] on SQLite: the `catalogues` table of migration 6, written on the one
//! writer connection, so two publications serialise there.

use super::{SqliteStorage, all};
use crate::storage::catalogue::{
    CATALOGUE_COLS, CatalogueStore, PublishedCatalogue, check_publishable, newest,
    published_catalogue, sort_oldest_first,
};
use crate::storage::error::StorageResult;
use async_trait::async_trait;
use rusqlite::{Connection, params};

fn stored_versions(c: &Connection) -> StorageResult<Vec<(String, String)>> {
    all(c, "SELECT version, digest FROM catalogues", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

#[async_trait]
impl CatalogueStore for SqliteStorage {
    async fn publish_catalogue(&self, catalogue: PublishedCatalogue) -> StorageResult<bool> {
        self.write(move |tx| {
            if !check_publishable(&stored_versions(tx)?, &catalogue)? {
                return Ok(false);
            }
            tx.execute(
                &format!("INSERT INTO catalogues({CATALOGUE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
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

    async fn published_catalogues(&self) -> StorageResult<Vec<PublishedCatalogue>> {
        self.read(|c| {
            let sql = format!("SELECT {CATALOGUE_COLS} FROM catalogues");
            let mut rows = all(c, &sql, [], |r| published_catalogue(r))?;
            sort_oldest_first(&mut rows);
            Ok(rows)
        })
        .await
    }

    async fn latest_catalogue(&self) -> StorageResult<Option<(String, String)>> {
        self.read(|c| Ok(newest(stored_versions(c)?))).await
    }
}
