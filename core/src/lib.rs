//! fieldcase core: the library inside the phone apps.
//!
//! Officers record street encounters, the soft-enforcement methods used, exemption pledges,
//! follow-ups and evidence with no network at all. Every record is an Automerge document kept
//! in SQLite ([`store::FieldStore`]), so offline edits from many phones merge without loss; the
//! rules of the notice run on the phone from catalogue data ([`catalogue`], [`rules`]).
//!
//! Layering: this crate has no UI, no platform code and no knowledge of the FFI or the server;
//! `fieldcase-ffi` and `fieldcase-server` depend on it, never the reverse.

pub mod catalogue;
pub mod doc;
pub mod documents;
pub mod engine;
mod error;
pub mod evidence;
pub mod identity;
pub mod ids;
pub mod messages;
pub mod model;
pub mod pii;
pub mod rules;
pub mod stats;
pub mod store;
pub mod sync;

pub use error::{CoreError, Result};
pub use store::{FieldStore, StoreConfig};
