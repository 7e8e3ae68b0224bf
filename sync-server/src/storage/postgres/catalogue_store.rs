//! [`CatalogueStore`] on PostgreSQL: the `catalogues` table of migration 6. A publication
//! locks the table for writes first, so two operators (or two server hosts) publishing at
//! once serialise and the second sees the first's row.

use super::*;
use crate::storage::catalogue::{
    CatalogueStore, PublishedCatalogue, check_publishable, newest, sort_oldest_first,
};

async fn stored_versions(
    c: &impl deadpool_postgres::GenericClient,
) -> Result<Vec<(String, String)>> {
    let rows = c
        .query("SELECT version, digest FROM catalogues", &[])
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| Ok((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?)))
        .collect()
}

#[async_trait]
impl CatalogueStore for PostgresStorage {
    async fn publish_catalogue(&self, catalogue: PublishedCatalogue) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.batch_execute("LOCK TABLE catalogues IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(db)?;
        if !check_publishable(&stored_versions(&tx).await?, &catalogue)? {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO catalogues(version, digest, signature, bundle, published_at_ms)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &catalogue.version,
                &catalogue.digest,
                &catalogue.signature,
                &catalogue.bundle,
                &catalogue.published_at_ms,
            ],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn published_catalogues(&self) -> Result<Vec<PublishedCatalogue>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT version, digest, signature, bundle, published_at_ms FROM catalogues",
                &[],
            )
            .await
            .map_err(db)?;
        let mut out = rows
            .iter()
            .map(|r| {
                let bundle: Vec<u8> = r.try_get(3).map_err(db)?;
                Ok(PublishedCatalogue {
                    version: r.try_get(0).map_err(db)?,
                    digest: r.try_get(1).map_err(db)?,
                    signature: r.try_get(2).map_err(db)?,
                    published_at_ms: r.try_get(4).map_err(db)?,
                    size: bundle.len() as u64,
                    bundle,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        sort_oldest_first(&mut out);
        Ok(out)
    }

    async fn latest_catalogue(&self) -> Result<Option<(String, String)>> {
        let c = self.client().await?;
        Ok(newest(stored_versions(&c).await?))
    }
}
