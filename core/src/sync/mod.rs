//! Sync with the fieldcase server (protocol v1, see `docs/sync-protocol.md`).
//!
//! - [`wire`]: the JSON request and response types, shared with the server.
//! - [`session`]: the state machine, no I/O: builds requests from the store, applies replies.
//! - [`client`]: the HTTP shell (reqwest + rustls on tokio): enrolment, sync, blob upload.

pub mod client;
pub mod session;
pub mod wire;

pub use client::{ClientConfig, SyncClient};
pub use session::{SyncReport, SyncSession};
