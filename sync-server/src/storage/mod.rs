//! The server's storage, split into the parts it holds, each a trait of its own:
//!
//! | part | trait | holds |
//! |---|---|---|
//! | [`settings`] | [`Settings`] | named values (server actor, key fingerprints) |
//! | [`directory`] | [`Directory`] | units, users, enrolment codes, devices, revocations, actor bindings |
//! | [`sessions`] | [`Sessions`] | dashboard login links and sessions |
//! | [`documents`] | [`Documents`] | documents (chunks, heads), the feed, the party index, blob references |
//! | [`blobs`] | [`Blobs`] | blob rows, upload sessions, blob anchors |
//! | [`quarantine`] | [`QuarantineStore`] | changes held from revoked devices |
//! | [`audit`] | [`AuditTrail`] | the chained, signed audit log and its head |
//! | [`catalogue`] | [`CatalogueStore`] | published catalogues |
//! | [`numbers`] | [`NumberStore`] | certificate numbers, number blocks, the ledger |
//!
//! [`Storage`] is every part at once, implemented for any type that has them all, so the
//! server holds one `Arc<dyn Storage>`; code that needs one part can take that part alone.
//! Every method returns [`StorageError`], which the HTTP layer maps to a reply in one place.
//!
//! Two backends implement every part: the embedded default [`sqlite::SqliteStorage`] (one file
//! under the data folder) and [`postgres::PostgresStorage`] (several server processes on one
//! database), each split into one file per part. What they do alike is written once here:
//! row mapping ([`rows`]), the audit chain ([`audit::extend_chain`]), the expected-heads check
//! of a write ([`DocWrite`]), the catalogue publication rule. Both must pass the
//! [`conformance`] suite. Blob *contents* live in files (see `crate::blobs`).

pub mod audit;
pub mod blobs;
pub mod catalogue;
pub mod conformance;
pub mod directory;
pub mod documents;
pub mod error;
pub mod numbers;
pub mod pg_tls;
pub mod postgres;
pub mod quarantine;
pub(crate) mod rows;
pub mod sessions;
pub mod settings;
pub mod sqlite;

pub use audit::AuditTrail;
pub use blobs::{BlobRecord, Blobs, UploadSession};
pub use catalogue::CatalogueStore;
pub use directory::{
    Device, DeviceAuth, Directory, EnrolmentCode, NewDevice, RevokedActor, Role, Unit, User,
};
pub use documents::{DocWrite, Documents, FeedItem, FeedQuery, StoredDoc, WriteOutcome};
pub use error::{StorageError, StorageResult};
pub use numbers::NumberStore;
pub use quarantine::{NewQuarantine, QuarantineItem, QuarantineStatus, QuarantineStore};
pub use sessions::{LoginToken, Sessions, WebSession};
pub use settings::Settings;

pub use fieldcase_core::rules::unit_in_scope;

/// Every part of the server's storage (see the module docs). All methods are safe to call
/// concurrently. Implemented for every type that implements the parts.
pub trait Storage:
    Settings
    + Directory
    + Sessions
    + Documents
    + Blobs
    + QuarantineStore
    + AuditTrail
    + CatalogueStore
    + NumberStore
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
}

impl<T> Storage for T where
    T: Settings
        + Directory
        + Sessions
        + Documents
        + Blobs
        + QuarantineStore
        + AuditTrail
        + CatalogueStore
        + NumberStore
        + Send
        + Sync
        + std::fmt::Debug
        + 'static
{
}

/// Opens the storage an operator chose: PostgreSQL when `database_url` is given, else the
/// embedded SQLite file `DATA/server.db` (the folder is created).
pub async fn open_storage(
    data: &std::path::Path,
    database_url: Option<&str>,
) -> StorageResult<std::sync::Arc<dyn Storage>> {
    open_storage_with(data, database_url, postgres::DEFAULT_POOL_SIZE).await
}

/// [`open_storage`] with `pool_size` PostgreSQL connections (ignored for SQLite).
pub async fn open_storage_with(
    data: &std::path::Path,
    database_url: Option<&str>,
    pool_size: usize,
) -> StorageResult<std::sync::Arc<dyn Storage>> {
    match database_url {
        Some(url) => Ok(std::sync::Arc::new(
            postgres::PostgresStorage::connect_with(url, None, pool_size).await?,
        )),
        None => {
            std::fs::create_dir_all(data)?;
            Ok(std::sync::Arc::new(sqlite::SqliteStorage::open(
                data.join("server.db"),
            )?))
        }
    }
}

/// Every part's trait, for code that calls storage methods on a backend's own type (tests, the
/// restore that opens a SQLite file): `use fieldcase_server::storage::prelude::*;`. Code that
/// holds a `dyn Storage` needs none of them.
pub mod prelude {
    pub use super::{
        AuditTrail, Blobs, CatalogueStore, Directory, Documents, NumberStore, QuarantineStore,
        Sessions, Settings, Storage,
    };
}
