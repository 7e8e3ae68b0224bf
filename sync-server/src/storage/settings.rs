//! Settings: small named values the server keeps in its database (its Automerge actor id, key
//! fingerprints). A part of its own because deleting one is a storage-level act on both
//! backends: the bytes must leave the database files, not only the table.

use super::error::StorageResult;
use async_trait::async_trait;

/// Named values of the server.
#[async_trait]
pub trait Settings: Send + Sync {
    /// A setting (server actor id, bureau party key, ...).
    async fn setting(&self, key: &str) -> StorageResult<Option<Vec<u8>>>;
    /// Stores `value` under `key` unless a value exists; returns the value in force.
    async fn setting_or_insert(&self, key: &str, value: Vec<u8>) -> StorageResult<Vec<u8>>;
    /// Deletes a setting and, as far as the backend can, every trace of its bytes in the
    /// database files (for keys moved out of the database); true if it existed. SQLite
    /// overwrites the deleted cell (`secure_delete`) and truncates the WAL; PostgreSQL
    /// rewrites the table (`VACUUM FULL settings`), while its WAL and older dumps keep the
    /// old row until they age out.
    async fn delete_setting(&self, key: &str) -> StorageResult<bool>;
}
