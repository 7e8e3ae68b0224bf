//! The storage's own error, [`StorageError`]: what a backend reports, in terms a caller can act
//! on (retry after a lost race, tell the operator the database is down), without HTTP in it.
//!
//! Both backends map their driver's errors here in one place each (`sqlite/mod.rs`,
//! `postgres/mod.rs`), so the same failure reads the same on SQLite and PostgreSQL: a unique
//! key taken twice is [`StorageError::Conflict`] on both, a dropped connection
//! [`StorageError::Unavailable`]. The HTTP layer maps the variants to replies in one place
//! (`impl From<StorageError> for ServerError` in `crate::error`). Messages are for logs and
//! operators: they name tables and ids, never personal data of the public.

/// Result alias of the storage traits.
pub type StorageResult<T> = std::result::Result<T, StorageError>;

/// Every failure of a storage backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Lost a race or met a row that is there already: a document's heads changed since they
    /// were read, a unique key is taken, a catalogue version is published with other content.
    /// Nothing was written; the caller reloads and retries, or reports the conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row the operation needs is missing (a login token for an unknown user).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request breaks a rule of the schema or of the stored data (a value that is not a
    /// dotted version, a reference to a row that does not exist, a check constraint).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The one-time enrolment code or login token is unknown, used or expired.
    #[error("one-time code is unknown, used or expired")]
    Unredeemable,
    /// The database cannot be reached now (a dropped or refused connection, a pool that timed
    /// out, a database shutting down or busy past the timeout); a retry later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored row cannot be read back (an unknown kind or role, a hash of the wrong length):
    /// the database was changed outside the server.
    #[error("stored {0} is invalid")]
    Corrupt(String),
    /// The database's schema or the connection settings are unusable (a schema newer than
    /// this build, a malformed URL).
    #[error("configuration: {0}")]
    Config(String),
    /// TLS to PostgreSQL failed or is misconfigured; `kind` says which check.
    #[error("database TLS, {kind}: {detail}")]
    Tls {
        /// What failed.
        kind: super::pg_tls::DbTlsKind,
        /// For logs and the operator (no secrets: the URL is never echoed).
        detail: String,
    },
    /// A file operation of the backend failed (creating the data folder).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The blocking task that ran a SQLite call died.
    #[error("task failed: {0}")]
    Task(String),
    /// Any other database failure (its message, for logs only).
    #[error("database error: {0}")]
    Database(String),
}

impl StorageError {
    /// The same error, with a conflict (a unique key taken) re-worded to say what exists.
    pub(crate) fn conflict_as(self, what: impl FnOnce() -> String) -> Self {
        match self {
            StorageError::Conflict(_) => StorageError::Conflict(what()),
            e => e,
        }
    }

    /// The same error, with a broken reference (a foreign key to no row) reported as the
    /// missing row.
    pub(crate) fn missing_as(self, what: impl FnOnce() -> String) -> Self {
        match self {
            StorageError::Invalid(m) if m == MISSING_REFERENCE => StorageError::NotFound(what()),
            e => e,
        }
    }
}

/// The message of [`StorageError::Invalid`] for a foreign key to no row, on both backends.
pub(crate) const MISSING_REFERENCE: &str = "refers to a row that does not exist";
