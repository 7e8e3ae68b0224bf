//! Device identity: an ed25519 key per device behind the [`Signer`] interface.
//!
//! Phones plug in a hardware-backed key (Android Keystore, iOS Secure Enclave via a platform
//! signer passed through the FFI); the default [`SoftwareSigner`] keeps its secret in the
//! store's `meta` table (key `device_signing_key`), which is encrypted at rest once the store
//! runs on SQLCipher. Verification always uses `verify_strict` (no small-order keys, no
//! malleable signatures).

use crate::store::{get_meta, set_meta};
use crate::{CoreError, FieldStore, Result};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use std::sync::Arc;

/// Meta key of the software signer's secret.
const SIGNING_KEY_META: &str = "device_signing_key";

/// A device key that signs evidence, decisions and closures.
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// The ed25519 public key.
    fn public_key(&self) -> [u8; 32];
    /// An ed25519 signature of `msg`.
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64]>;
}

/// An ed25519 key held in memory.
pub struct SoftwareSigner {
    key: SigningKey,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl SoftwareSigner {
    /// A signer from a 32-byte secret.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        SoftwareSigner {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// A fresh random key.
    pub fn generate() -> Result<(Self, [u8; 32])> {
        let mut secret = [0u8; 32];
        crate::ids::random_bytes(&mut secret)?;
        Ok((Self::from_secret(&secret), secret))
    }
}

impl Signer for SoftwareSigner {
    fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    fn sign(&self, msg: &[u8]) -> Result<[u8; 64]> {
        use ed25519_dalek::Signer as _;
        Ok(self.key.sign(msg).to_bytes())
    }
}

/// Checks an ed25519 signature strictly. False for a malformed key or signature.
pub fn verify_signature(public_key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify_strict(msg, &Signature::from_bytes(signature))
        .is_ok()
}

/// Checks a hex-encoded key and signature; false when either does not parse.
pub fn verify_hex(public_key_hex: &str, msg: &[u8], signature_hex: &str) -> bool {
    let (mut k, mut s) = ([0u8; 32], [0u8; 64]);
    hex::decode_to_slice(public_key_hex, &mut k).is_ok()
        && hex::decode_to_slice(signature_hex, &mut s).is_ok()
        && verify_signature(&k, msg, &s)
}

impl FieldStore {
    /// The signer in use: the one installed with [`FieldStore::set_signer`], else the
    /// software key kept in the store (created on first use). Its public key is recorded as
    /// trusted in `device_keys`.
    pub fn signer(&self) -> Result<Arc<dyn Signer>> {
        if let Some(s) = self.current_signer() {
            return Ok(s);
        }
        let secret = self.with_writer_conn(|conn| match get_meta(conn, SIGNING_KEY_META)? {
            Some(v) if v.len() == 32 => {
                let mut k = [0u8; 32];
                k.copy_from_slice(&v);
                Ok(k)
            }
            _ => {
                let (_, secret) = SoftwareSigner::generate()?;
                set_meta(conn, SIGNING_KEY_META, &secret)?;
                Ok(secret)
            }
        })?;
        let signer: Arc<dyn Signer> = Arc::new(SoftwareSigner::from_secret(&secret));
        self.install_signer(signer.clone(), "software")?;
        Ok(signer)
    }

    /// Installs a platform signer (a hardware-backed key); its public key is recorded as
    /// trusted. Entries signed earlier by another key of this device stay valid.
    pub fn set_signer(&self, signer: Arc<dyn Signer>) -> Result<()> {
        self.install_signer(signer, "platform")
    }

    fn current_signer(&self) -> Option<Arc<dyn Signer>> {
        match self.evidence.signer.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn install_signer(&self, signer: Arc<dyn Signer>, source: &str) -> Result<()> {
        let device = self.device_id().to_string();
        self.trust_device_key_from(&device, &signer.public_key(), source)?;
        match self.evidence.signer.write() {
            Ok(mut g) => *g = Some(signer),
            Err(p) => *p.into_inner() = Some(signer),
        }
        Ok(())
    }

    /// This device's public key (hex).
    pub fn device_public_key(&self) -> Result<String> {
        Ok(hex::encode(self.signer()?.public_key()))
    }

    /// Records the public key of an enrolled device (learned from the server), so evidence it
    /// signed verifies as trusted on this phone.
    pub fn trust_device_key(&self, device_id: &str, public_key: &[u8; 32]) -> Result<()> {
        self.trust_device_key_from(device_id, public_key, "enrolment")
    }

    fn trust_device_key_from(&self, device_id: &str, key: &[u8; 32], source: &str) -> Result<()> {
        if VerifyingKey::from_bytes(key).is_err() {
            return Err(CoreError::invalid("public_key", "not an ed25519 key"));
        }
        self.with_writer_conn(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO device_keys(public_key, device_id, source, added_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![hex::encode(key), device_id, source, crate::ids::now_ms()],
            )?;
            Ok(())
        })
    }

    /// Records when the server revoked a device key learned from it (server clock, unix ms;
    /// `None` clears it). Keys this device holds itself are never marked. Returns whether a
    /// key row changed.
    pub fn set_device_key_revoked(
        &self,
        public_key_hex: &str,
        revoked_at_ms: Option<i64>,
    ) -> Result<bool> {
        let key = public_key_hex.to_ascii_lowercase();
        self.with_writer_conn(|conn| {
            let n = conn.execute(
                "UPDATE device_keys SET revoked_at_ms = ?2
                 WHERE public_key = ?1 AND source = 'enrolment' AND revoked_at_ms IS NOT ?2",
                rusqlite::params![key, revoked_at_ms],
            )?;
            Ok(n > 0)
        })
    }

    /// Trusted device keys the server revoked, with the revocation time (server clock, ms).
    pub fn revoked_device_keys(&self) -> Result<std::collections::HashMap<String, i64>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT public_key, revoked_at_ms FROM device_keys WHERE revoked_at_ms IS NOT NULL",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// Every trusted device key (hex).
    pub fn trusted_device_keys(&self) -> Result<Vec<String>> {
        // Make sure this device's own key is among them.
        self.signer()?;
        self.read(|c| {
            let mut stmt = c.prepare("SELECT public_key FROM device_keys ORDER BY public_key")?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_strictly_and_detect_any_change() -> Result<()> {
        let (s, _) = SoftwareSigner::generate()?;
        let sig = s.sign(b"payload")?;
        assert!(verify_signature(&s.public_key(), b"payload", &sig));
        assert!(!verify_signature(&s.public_key(), b"payloaD", &sig));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!verify_signature(&s.public_key(), b"payload", &bad));
        assert!(!verify_hex("zz", b"payload", &hex::encode(sig)));
        Ok(())
    }

    #[test]
    fn debug_never_shows_the_secret() -> Result<()> {
        let s = SoftwareSigner::from_secret(&[9u8; 32]);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(&hex::encode([9u8; 32])));
        Ok(())
    }
}
