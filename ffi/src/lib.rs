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
//! - `seams.rs`: interfaces apps implement for evidence signing and sync, which land next.
//!
//! See `docs/ffi.md` for the Android and iOS integration.

mod enums;
mod error;
mod fields;
mod inputs;
mod seams;
mod store;
mod views;

pub use enums::*;
pub use error::FieldcaseError;
pub use fields::{ActionField, FieldValue};
pub use inputs::*;
pub use seams::{Signer, SyncProgressListener};
pub use store::FieldcaseStore;
pub use views::*;

uniffi::setup_scaffolding!();
