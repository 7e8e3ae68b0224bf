//! fieldcase sync server: the hub phones sync their record documents with.
//!
//! - [`app`]: state, router, starting a server (plain HTTP on loopback, or TLS).
//! - [`sync`]: `POST /v1/sync`, merge then validate then persist, and the change feed;
//!   [`sync_body`]: its body in JSON or CBOR, gzip or not, as the phone negotiated.
//! - [`validate`]: the rules a merged record must pass; [`access`]: roles and unit scope.
//! - [`enrol`], [`auth`]: one-time codes, device credentials, the bearer extractor.
//! - [`blobs`]: resumable, verified, content-addressed evidence upload.
//! - [`storage`]: the storage trait, its SQLite backend and the backend conformance suite.
//! - [`ops`]: health, readiness, metrics, the route list; [`openapi`]: `GET /openapi.json`; [`telemetry`]: latency histograms and the
//!   access log; [`config`]: the settings file; [`admin`]: the operator commands.
//! - [`error`]: the one error type and its HTTP mapping.
//! - [`restore_epoch`]: the id a restore renews, so phones offer again what a restore lost;
//!   [`pg_backup`]: PostgreSQL backup and restore with `pg_dump`/`pg_restore`.
//! - [`keys`]: the server's keys, kept in a key folder (or the environment), not the database.
//! - [`supervision`]: reports, disclosure and the dashboard; [`audit`]: the access audit trail.
//!
//! The server depends on `fieldcase-core` for the record model, the wire types and the rules;
//! core knows nothing of the server.

pub mod access;
pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod catalogue;
pub mod config;
pub mod enrol;
pub mod error;
pub mod inflate;
pub mod keys;
pub mod maintenance;
pub mod merge;
pub mod numbering;
pub mod openapi;
pub mod ops;
pub mod pg_backup;
pub mod pii_rotation;
mod pusher;
pub mod quarantine;
pub mod ratelimit;
pub mod restore_epoch;
pub mod sealed_backup;
pub mod seen;
pub mod storage;
pub mod supervision;
pub mod sync;
pub mod sync_body;
pub mod telemetry;
pub mod validate;

pub use app::{AppState, Listen, RunningServer, router, start};
pub use error::{Result, ServerError};
