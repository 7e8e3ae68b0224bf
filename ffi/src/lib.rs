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
//! - `evidence.rs`: capture input, evidence views, verification, and the ingest methods.
//! - `sync.rs`: enrolment and async sync with progress and cancellation.
//! - `messages.rs`: the language of every text, texts by code, enum labels.
//! - `seams.rs`: interfaces apps implement (a platform signer, a progress listener).
//!
//! See `docs/ffi.md` for the Android and iOS integration.

mod documents;
mod enums;
mod error;
mod evidence;
mod fields;
mod inputs;
mod messages;
mod seams;
mod store;
mod sync;
mod views;

pub use documents::*;
pub use enums::*;
pub use error::FieldcaseError;
pub use evidence::*;
pub use fields::{ActionField, FieldValue};
pub use inputs::*;
pub use messages::{EnumLabel, Language, enum_label, labels, language, message, set_language};
pub use seams::{Signer, SyncProgressListener};
pub use store::{FieldcaseStore, StoreOptions};
pub use sync::*;
pub use views::*;

uniffi::setup_scaffolding!();
