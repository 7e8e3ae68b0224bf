//! Interfaces the app implements, for features that land next. Nothing in this crate calls
//! them yet; they are exported now so that apps can build their implementations (a
//! hardware-keystore signer, a progress bar) against the final shapes.
//!
//! - [`Signer`] will sign evidence entries and sync requests once core's evidence and sync
//!   modules take a signer; core will see it through an adapter from this trait to its own.
//! - [`SyncProgressListener`] will be passed to the async `sync` method (see the note in
//!   `store.rs`), called on a Rust worker thread.

use crate::FieldcaseError;

/// The device's signing key, held by the platform (Android Keystore, iOS Secure Enclave),
/// so the private key never enters this library. Ed25519: 32-byte public key, 64-byte
/// signatures.
#[uniffi::export(foreign)]
pub trait Signer: Send + Sync {
    /// The public key, as registered with the server at enrolment.
    fn public_key(&self) -> Vec<u8>;
    /// Signs `message`; an error (e.g. the key was invalidated) aborts the operation that
    /// asked for it, which then writes nothing.
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, FieldcaseError>;
}

/// Progress of a sync, for a progress bar. Called from a Rust worker thread: hop to the
/// UI thread before touching views.
#[uniffi::export(foreign)]
pub trait SyncProgressListener: Send + Sync {
    /// `done` of `total` records exchanged so far.
    fn on_progress(&self, done: u64, total: u64);
}
