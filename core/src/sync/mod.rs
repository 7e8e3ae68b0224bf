//! Sync with the fieldcase server (protocol v1, see `docs/sync-protocol.md`).
//!
//! - [`wire`]: the request and response types, shared with the server.
//! - [`codec`]: their JSON and binary (CBOR) bodies, gzip, and the headers that negotiate them.
//! - [`negotiate`]: which body form a phone sends, learned from the server's replies.
//! - [`catalogue`]: signing and checking the catalogue bundles the server publishes.
//! - [`session`]: the record rounds, no I/O: builds requests from the store, applies replies.
//! - [`machine`]: a whole session (records, device keys, blobs, thumbnails), no I/O: the next
//!   action, what a reply means, retries, cancellation points and progress.
//! - [`client`]: the HTTP shell (reqwest + rustls on tokio): enrolment, and the executor of
//!   the machine's actions; [`transfer`]: one blob's download or upload outside a session.
//! - [`transport`]: what carries each request: the built-in HTTP client, or one the phone app
//!   installs (a platform background session).
//! - [`enrol_link`]: the text of the enrolment QR code (server URL, code, pins).
//! - [`pinning`]: certificate pinning of the server's keys.
//! - [`progress`]: progress snapshots and cancellation of a sync.

pub mod catalogue;
pub mod client;
pub mod codec;
pub mod enrol_link;
pub mod fetch;
pub mod machine;
pub mod negotiate;
pub mod pinning;
pub mod progress;
pub mod session;
pub mod transfer;
pub mod transport;
pub mod wire;
#[cfg(feature = "schema")]
pub mod wire_schema;

pub use client::{ClientConfig, SyncClient};
pub use enrol_link::EnrolLink;
pub use fetch::{EvidenceFetchReport, FetchRefusal};
pub use pinning::SpkiPin;
pub use progress::{CancelToken, NoProgress, SyncObserver, SyncPhase, SyncProgress};
pub use session::{CatalogueRefusal, Rejection, SyncReport, SyncSession};
pub use transport::{HttpReply, HttpRequest, HttpTransport, Method, Purpose, Transport};
