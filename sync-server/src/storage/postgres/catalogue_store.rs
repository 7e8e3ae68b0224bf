//! [`CatalogueStore`] on PostgreSQL: the `catalogues` table of migration 6. A publication
//! locks the table for writes first, so two operators (or two server hosts) publishing at
//! once serialise and the second sees the first's row.

use super::{PostgresStorage, map_all};
use crate::storage::catalogue::{
    CATALOGUE_COLS, CatalogueStore, PublishedCatalogue, check_publishable, newest,
    published_catalogue, sort_oldest_first,
};
use crate::storage::error::StorageResult;
use async_trait::async_trait;

async fn stored_versions(
    c: &impl deadpool_postgres::GenericClient,
) -> StorageResult<Vec<(String, String)>> {
    let found = c
        .query("SELECT version, digest FROM catalogues", &[])
        .await?;
    map_all(&found, |r| Ok((r.try_get(0)?, r.try_get(1)?)))
}

#[async_trait]
impl CatalogueStore for PostgresStorage {
    async fn publish_catalogue(&self, catalogue: PublishedCatalogue) -> StorageResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.batch_execute("LOCK TABLE catalogues IN SHARE ROW EXCLUSIVE MODE")
            .await?;
        if !check_publishable(&stored_versions(&tx).await?, &catalogue)? {
            return Ok(false);
        }
        tx.execute(
            &format!("INSERT INTO catalogues({CATALOGUE_COLS}) VALUES ($1, $2, $3, $4, $5)"),
            &[
                &catalogue.version,
                &catalogue.digest,
                &catalogue.signature,
                &catalogue.bundle,
                &catalogue.published_at_ms,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn published_catalogues(&self) -> StorageResult<Vec<PublishedCatalogue>> {
        let c = self.client().await?;
        let found = c
            .query(&format!("SELECT {CATALOGUE_COLS} FROM catalogues"), &[])
            .await?;
        let mut out = map_all(&found, published_catalogue)?;
        sort_oldest_first(&mut out);
        Ok(out)
    }

    async fn latest_catalogue(&self) -> StorageResult<Option<(String, String)>> {
        let c = self.client().await?;
        Ok(newest(stored_versions(&c).await?))
    }
}
