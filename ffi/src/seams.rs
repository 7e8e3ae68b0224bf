//! Interfaces the app implements: a hardware-backed [`Signer`] and a [`SyncProgressListener`],
//! with the adapters that let core call them as its own.

use crate::FieldcaseError;
use fieldcase_core::CoreError;
use std::sync::Arc;

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
/// UI thread before touching views. Keep it quick; the sync waits for it.
#[uniffi::export(foreign)]
pub trait SyncProgressListener: Send + Sync {
    /// Called after every request of the sync and at each change of phase.
    fn on_progress(&self, progress: crate::sync::SyncProgress);
}

/// Core's view of an app signer. The public key is read once, when it is installed, so a
/// key that is not 32 bytes is refused up front instead of failing each signature.
pub(crate) struct PlatformSigner {
    inner: Arc<dyn Signer>,
    public_key: [u8; 32],
}

impl PlatformSigner {
    pub(crate) fn new(inner: Arc<dyn Signer>) -> Result<Self, FieldcaseError> {
        let public_key = <[u8; 32]>::try_from(inner.public_key().as_slice()).map_err(|_| {
            FieldcaseError::invalid("signer", "public key must be 32 bytes (ed25519)")
        })?;
        Ok(PlatformSigner { inner, public_key })
    }
}

impl std::fmt::Debug for PlatformSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSigner")
            .field("public_key", &hex_key(&self.public_key))
            .finish_non_exhaustive()
    }
}

fn hex_key(k: &[u8; 32]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

impl fieldcase_core::evidence::Signer for PlatformSigner {
    fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    fn sign(&self, msg: &[u8]) -> fieldcase_core::Result<[u8; 64]> {
        let sig = self
            .inner
            .sign(msg.to_vec())
            .map_err(|e| CoreError::Signing {
                reason: format!("platform signer: {e}"),
            })?;
        let sig = <[u8; 64]>::try_from(sig.as_slice()).map_err(|_| CoreError::Signing {
            reason: "platform signer returned a signature that is not 64 bytes".into(),
        })?;
        // A keystore that signs with another key than it reports would make every entry
        // unverifiable later; refuse now, while nothing is written.
        if !fieldcase_core::evidence::signer::verify_signature(&self.public_key, msg, &sig) {
            return Err(CoreError::Signing {
                reason: "platform signature does not verify with its public key".into(),
            });
        }
        Ok(sig)
    }
}
