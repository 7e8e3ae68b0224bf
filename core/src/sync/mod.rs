//! Sync with the fieldcase server (protocol v1, see `docs/sync-protocol.md`).
//!
//! - [`wire`]: the JSON request and response types, shared with the server.
//! - [`catalogue`]: signing and checking the catalogue bundles the server publishes.
//! - [`session`]: the state machine, no I/O: builds requests from the store, applies replies.
//! - [`client`]: the HTTP shell (reqwest + rustls on tokio): enrolment, sync, blob upload.
//! - [`enrol_link`]: the text of the enrolment QR code (server URL, code, pins).
//! - [`pinning`]: certificate pinning of the server's keys.
//! - [`progress`]: progress snapshots and cancellation of a sync.

pub mod catalogue;
pub mod client;
pub mod enrol_link;
pub mod pinning;
pub mod progress;
pub mod session;
pub mod wire;

pub use client::{ClientConfig, SyncClient};
pub use enrol_link::EnrolLink;
pub use pinning::SpkiPin;
pub use progress::{CancelToken, NoProgress, SyncObserver, SyncPhase, SyncProgress};
pub use session::{CatalogueRefusal, Rejection, SyncReport, SyncSession};
