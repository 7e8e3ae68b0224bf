//! The storage conformance suite on the PostgreSQL backend, each test in a fresh schema.
//!
//! PostgreSQL must be reachable at `FIELDCASE_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`): these tests fail, never skip, without it.

use fieldcase_server::storage::postgres::PostgresStorage;

fn url() -> String {
    std::env::var("FIELDCASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn fresh() -> PostgresStorage {
    PostgresStorage::connect_fresh(&url())
        .await
        .expect("PostgreSQL must be reachable at FIELDCASE_TEST_PG_URL")
}

fieldcase_server::storage_conformance_tests!(fresh());

/// A schema left at version 4 (before blob anchors) upgrades to 5 keeping every row, and its
/// stored blobs stay readable through the documents that referred to them.
#[tokio::test]
async fn schema_4_upgrades_to_5_and_old_blobs_stay_readable() -> fieldcase_server::Result<()> {
    use fieldcase_core::model::RecordKind;
    use fieldcase_server::storage::postgres::MIGRATIONS;
    use fieldcase_server::storage::prelude::*;
    let db = |e: tokio_postgres::Error| fieldcase_server::ServerError::Database(e.to_string());
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| fieldcase_server::ServerError::Config(e.to_string()))?;
    let schema = format!("t_up5_{}", hex::encode(b));
    let sha = format!("{:064x}", 42);
    let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .map_err(db)?;
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path = {schema};
             CREATE TABLE schema_migrations (
                version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
        ))
        .await
        .map_err(db)?;
    let result = async {
        for (i, sql) in MIGRATIONS.iter().take(4).enumerate() {
            client.batch_execute(sql).await.map_err(db)?;
            client
                .execute(
                    "INSERT INTO schema_migrations(version) VALUES ($1)",
                    &[&(i as i64 + 1)],
                )
                .await
                .map_err(db)?;
        }
        client
            .execute(
                "INSERT INTO docs(id, kind, unit, party_hash, heads, chunk_count, next_chunk,
                                  seq, updated_at_ms)
                 VALUES ('doc-1', 'case', 'luan/x', NULL, '\\x00', 0, 0, 1, 1)",
                &[],
            )
            .await
            .map_err(db)?;
        client
            .execute(
                "INSERT INTO doc_blobs(sha256, doc_id) VALUES ($1, 'doc-1')",
                &[&sha],
            )
            .await
            .map_err(db)?;
        client
            .execute(
                "INSERT INTO blobs(sha256, size, stored_at_ms, device_id)
                 VALUES ($1, 3, 1, 'dev-1')",
                &[&sha],
            )
            .await
            .map_err(db)?;
        let s = PostgresStorage::connect_with(&url(), Some(&schema), 2).await?;
        assert_eq!(s.schema_version().await?, MIGRATIONS.len() as i64);
        assert!(s.blob(&sha).await?.is_some());
        let scopes = vec!["luan".to_string()];
        assert!(s.blob_readable(&sha, &scopes, &[RecordKind::Case]).await?);
        assert!(
            !s.blob_readable(&sha, &scopes, &[RecordKind::Demonstration])
                .await?
        );
        fieldcase_server::Result::Ok(())
    }
    .await;
    let _ = client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
    drop(client);
    let _ = task.await;
    result
}

/// A schema left at version 5 gains the published-catalogue table (6), keeping its rows.
#[tokio::test]
async fn schema_5_upgrades_to_6_and_can_publish_catalogues() -> fieldcase_server::Result<()> {
    use fieldcase_server::storage::catalogue::PublishedCatalogue;
    use fieldcase_server::storage::postgres::MIGRATIONS;
    use fieldcase_server::storage::prelude::*;
    let db = |e: tokio_postgres::Error| fieldcase_server::ServerError::Database(e.to_string());
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| fieldcase_server::ServerError::Config(e.to_string()))?;
    let schema = format!("t_up6_{}", hex::encode(b));
    let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .map_err(db)?;
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path = {schema};
             CREATE TABLE schema_migrations (
                version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
        ))
        .await
        .map_err(db)?;
    let result = async {
        for (i, sql) in MIGRATIONS.iter().take(5).enumerate() {
            client.batch_execute(sql).await.map_err(db)?;
            client
                .execute(
                    "INSERT INTO schema_migrations(version) VALUES ($1)",
                    &[&(i as i64 + 1)],
                )
                .await
                .map_err(db)?;
        }
        client
            .execute(
                "INSERT INTO settings(key, value) VALUES ('server_actor', '\\x01')",
                &[],
            )
            .await
            .map_err(db)?;
        let s = PostgresStorage::connect_with(&url(), Some(&schema), 2).await?;
        assert_eq!(
            s.schema_version().await?,
            fieldcase_server::storage::postgres::MIGRATIONS.len() as i64
        );
        assert_eq!(s.setting("server_actor").await?, Some(vec![1]));
        assert_eq!(s.latest_catalogue().await?, None);
        assert!(
            s.publish_catalogue(PublishedCatalogue {
                version: "2099.1.1".into(),
                digest: "d".into(),
                signature: "s".into(),
                published_at_ms: 1,
                size: 1,
                bundle: vec![1],
            })
            .await?
        );
        fieldcase_server::Result::Ok(())
    }
    .await;
    let _ = client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
    drop(client);
    let _ = task.await;
    result
}

/// A pooled connection the database dropped (as a restart or failover drops every one) is
/// replaced before it is handed out: the first request after the drop succeeds instead of
/// failing on the dead connection. The drop is `pg_terminate_backend` on this test's own
/// connections only (found by their application name), so other users of the database are
/// left alone.
#[tokio::test]
async fn a_dropped_pooled_connection_is_replaced_not_failed() -> fieldcase_server::Result<()> {
    use fieldcase_server::storage::prelude::*;
    use fieldcase_server::storage::{Unit, User};
    let db = |e: tokio_postgres::Error| fieldcase_server::ServerError::Database(e.to_string());
    let s = fresh().await;
    let schema = s.schema().unwrap_or_default().to_string();
    let (admin, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .map_err(db)?;
    let task = tokio::spawn(conn);
    for round in 0..3 {
        // Several requests at once, so the pool holds several connections.
        let unit = |i: usize| Unit {
            path: format!("u{round}-{i}"),
            name: "U".into(),
        };
        let (a, b, c) = tokio::join!(
            s.create_unit(unit(0)),
            s.create_unit(unit(1)),
            s.create_unit(unit(2))
        );
        a?;
        b?;
        c?;
        let killed = admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1",
                &[&format!("fieldcase-server:{schema}")],
            )
            .await
            .map_err(db)?;
        assert!(
            !killed.is_empty(),
            "round {round}: the pool had connections"
        );
        // The very next requests, at once, on the pool whose connections all died.
        let (units, user) = tokio::join!(s.units(), s.user("nobody"));
        assert_eq!(units?.len(), 3 * (round + 1), "round {round}");
        assert_eq!(user?, None::<User>);
    }
    drop(admin);
    let _ = task.await;
    Ok(())
}
