//! `fieldcase-ffi`: the phone-facing API of fieldcase, generated for Kotlin, Swift and Python
//! by UniFFI.
//!
//! A thin layer over `fieldcase-core` and nothing else: records and enums that feel native in
//! the apps, one object ([`FieldcaseStore`]) whose methods each delegate to core in one line,
//! and one error type ([`FieldcaseError`]) converted from core's errors in one place
//! (`error.rs`). Behaviour that is missing belongs in core first.
//!
//! - `store.rs`: the exported object.
//! - `inputs.rs` / `views.rs`: what apps send and what they read (masked party data only).
//! - `fields.rs`: action fields as typed values.
//! - `enums.rs`: the domain's closed sets.
//! - `identity.rs`: checks of a party's document number and phone a form runs as the officer
//!   types.
//! - `evidence.rs`: capture input, evidence views, verification, and the ingest methods.
//! - `sync.rs`: enrolment and async sync with progress and cancellation.
//! - `fetch.rs`: downloading a received record's evidence files for verification.
//! - `review.rs`: the legal reviewer's list of decisions awaiting review.
//! - `messages.rs`: the language of every text, texts by code, enum labels.
//! - `seams.rs`: interfaces apps implement (a platform signer, a progress listener).
//! - `transport.rs`: the networking seam (an app's background sessions carry requests).
//! - `background.rs`: the `*_async` forms' run on the library's blocking pool.
//! - `changes.rs`: the change listener (which records changed, from where).
//! - `logging.rs`: the library's log lines forwarded to the app's sink.
//!
//! See `docs/ffi.md` for the Android and iOS integration.

mod background;
mod changes;
mod documents;
mod enums;
mod error;
mod evidence;
mod fetch;
mod fields;
mod identity;
mod inputs;
mod logging;
mod messages;
mod review;
mod seams;
mod store;
mod sync;
mod transport;
mod views;

pub use changes::{ChangeListener, ChangeOrigin, RecordChange, RecordKind};
pub use documents::*;
pub use enums::*;
pub use error::FieldcaseError;
pub use evidence::*;
pub use fetch::*;
pub use fields::{ActionField, FieldValue};
pub use identity::{IdentityIssue, default_id_document, validate_id_number, validate_phone};
pub use inputs::*;
pub use logging::{LogLevel, LogRecord, LogSink, set_log_sink};
pub use messages::{EnumLabel, Language, enum_label, labels, language, message, set_language};
pub use review::*;
pub use seams::{Signer, SyncProgressListener};
pub use store::{FieldcaseStore, StoreOptions};
pub use sync::*;
pub use transport::*;
pub use views::*;

uniffi::setup_scaffolding!();
