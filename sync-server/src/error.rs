//! The one error type of the server, and its mapping to HTTP replies.
//!
//! Replies carry a stable code and a short message; storage, I/O and CRDT details are logged
//! (without personal data) and never sent to the client.

use crate::storage::StorageError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fieldcase_core::sync::wire::{ErrorBody, WipeScope};

/// Result alias used across the server.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

/// Every failure of the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// No valid credential, or the device was revoked (`wipe`).
    #[error("unauthorized")]
    Unauthorized {
        /// Tell the device to erase its data, and what of it.
        wipe: Option<WipeScope>,
    },
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is malformed; the text says how.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No such thing.
    #[error("not found: {0}")]
    NotFound(String),
    /// A concurrent write changed the row first, or the request conflicts with state
    /// (e.g. a blob offset that does not match).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The body or blob exceeds a limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// A sync body that does not decode in the form its `Content-Type` names (truncated or
    /// malformed CBOR or JSON, wrong field types, a broken gzip stream): `400 bad_request`,
    /// nothing read or written.
    #[error("malformed {format} sync request: {reason}")]
    MalformedBody {
        /// `JSON`, `CBOR` or `gzip`.
        format: &'static str,
        /// What the decoder said (positions and expected types, never content).
        reason: String,
    },
    /// A `Content-Type` or `Content-Encoding` the route does not take: `415`.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// Another device's upload of this blob is in progress: uploads are bound to the device
    /// that began them (`409 upload_in_progress`; retry later, not at another offset).
    #[error("another device is uploading this blob")]
    UploadInProgress,
    /// The enrolment code is unknown, used or expired.
    #[error("enrolment code is invalid, used or expired")]
    InvalidCode,
    /// Too many requests from one device or address; retry after the given seconds.
    #[error("rate limited; retry after {retry_after_s} s")]
    RateLimited {
        /// Seconds until a request will be accepted again.
        retry_after_s: u64,
    },
    /// The SQLite backend failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database cannot be reached now (`503`; a retry later may succeed).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Another backend failed (its message, for logs only).
    #[error("database error: {0}")]
    Database(String),
    /// The object store holding the blobs failed or cannot be reached (`503`; a retry later
    /// may succeed). The text is for logs only.
    #[error("blob store: {0}")]
    BlobStore(String),
    /// A file operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The core library refused something.
    #[error("core error: {0}")]
    Core(#[from] fieldcase_core::CoreError),
    /// A background task died.
    #[error("task failed: {0}")]
    Task(String),
    /// Startup configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// TLS to the PostgreSQL server failed or is misconfigured; `kind` says which check
    /// (`sslmode` / `sslrootcert` of the database URL, see `storage::pg_tls`).
    #[error("database TLS, {kind}: {detail}")]
    DatabaseTls {
        /// What failed.
        kind: crate::storage::pg_tls::DbTlsKind,
        /// For logs and the operator (no secrets: the URL is never echoed).
        detail: String,
    },
    /// A PostgreSQL client tool a backup or restore runs (`pg_dump`, `pg_restore`) is not
    /// installed where the server looks.
    #[error(
        "{tool} not found on PATH nor in /usr/lib/postgresql/*/bin; install the PostgreSQL \
         client tools (the major version of the database server or newer)"
    )]
    ToolMissing {
        /// The program.
        tool: &'static str,
    },
    /// A PostgreSQL client tool ran and failed.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        /// The program.
        tool: &'static str,
        /// Its exit status.
        status: String,
        /// The end of what it wrote to stderr (the password is never on its command line).
        stderr: String,
    },
    /// A restore was pointed at a database that already holds fieldcase tables: nothing was
    /// changed (a restore only fills an empty database).
    #[error(
        "the database already holds fieldcase tables ({tables}); restore into a new, empty \
         database (createdb), nothing was changed"
    )]
    RestoreTargetNotEmpty {
        /// The tables found.
        tables: String,
    },
}

impl ServerError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ServerError::Unauthorized { .. } => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing, unknown or revoked credential".into(),
            ),
            ServerError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            ServerError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            ServerError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            ServerError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            ServerError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", m.clone()),
            ServerError::MalformedBody { .. } => {
                (StatusCode::BAD_REQUEST, "bad_request", self.to_string())
            }
            ServerError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m.clone(),
            ),
            ServerError::UploadInProgress => (
                StatusCode::CONFLICT,
                "upload_in_progress",
                "another device is uploading this blob; retry later".into(),
            ),
            ServerError::InvalidCode => (
                StatusCode::FORBIDDEN,
                "invalid_code",
                "enrolment code is invalid, used or expired".into(),
            ),
            ServerError::RateLimited { retry_after_s } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry after {retry_after_s} s"),
            ),
            ServerError::Core(fieldcase_core::CoreError::TooLarge { what, limit }) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("{what} exceeds the limit of {limit} bytes"),
            ),
            ServerError::Core(fieldcase_core::CoreError::MalformedDocument { .. }) => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "malformed document".into(),
            ),
            ServerError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable; try again later".into(),
            ),
            ServerError::BlobStore(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the evidence store is unavailable; try again later".into(),
            ),
            ServerError::Sqlite(_)
            | ServerError::Database(_)
            | ServerError::Io(_)
            | ServerError::Core(_)
            | ServerError::Task(_)
            | ServerError::Config(_)
            | ServerError::DatabaseTls { .. }
            | ServerError::ToolMissing { .. }
            | ServerError::ToolFailed { .. }
            | ServerError::RestoreTargetNotEmpty { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; try again later".into(),
            ),
        }
    }
}

/// The storage's errors at the HTTP boundary: a lost race stays a `409` the client retries, a
/// broken rule a `400`, an unredeemable code the enrolment's `403 invalid_code`, a database
/// that is away a `503`; the rest are internal errors, logged and never sent.
impl From<StorageError> for ServerError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Conflict(m) => ServerError::Conflict(m),
            StorageError::NotFound(m) => ServerError::NotFound(m),
            StorageError::Invalid(m) => ServerError::BadRequest(m),
            StorageError::Unredeemable => ServerError::InvalidCode,
            StorageError::Unavailable(m) => ServerError::Unavailable(m),
            StorageError::Config(m) => ServerError::Config(m),
            StorageError::Tls { kind, detail } => ServerError::DatabaseTls { kind, detail },
            StorageError::Io(e) => ServerError::Io(e),
            StorageError::Task(m) => ServerError::Task(m),
            e @ (StorageError::Corrupt(_) | StorageError::Database(_)) => {
                ServerError::Database(e.to_string())
            }
        }
    }
}

/// A failure of the object store holding the blobs: an absent object is `NotFound` (the
/// callers that expect absence ask for it and never see this); anything else means the store
/// cannot be used now (`BlobStore`, a `503` clients retry).
impl From<object_store::Error> for ServerError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => {
                ServerError::NotFound(format!("no object {path}"))
            }
            e => ServerError::BlobStore(e.to_string()),
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = ErrorBody {
            error: code.into(),
            message,
            wipe: matches!(self, ServerError::Unauthorized { wipe: Some(_) }),
            wipe_mode: match self {
                ServerError::Unauthorized { wipe } => wipe,
                _ => None,
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let ServerError::RateLimited { retry_after_s } = self {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_s),
            );
        }
        resp
    }
}

/// A query string decoded into `T`, refused as `400 bad_request` with the JSON error body:
/// axum's own `Query` refuses in plain text, and every error reply of this API is JSON (the
/// schemathesis run of `scripts/test-extra.d` found a blob chunk's missing `total` answered
/// in text).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for JsonQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| JsonQuery(q))
            .map_err(|e| ServerError::BadRequest(format!("query: {}", e.body_text())))
    }
}
