//! The storage conformance suite on the SQLite backend.

use fieldcase_server::storage::sqlite::SqliteStorage;

async fn fresh() -> SqliteStorage {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.keep().join("server.db");
    SqliteStorage::open(path).expect("open")
}

fieldcase_server::storage_conformance_tests!(fresh());
