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
