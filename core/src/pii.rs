//! Personal data of the public, sealed inside party documents.
//!
//! A party's name, identity number, phone and address are encrypted (XChaCha20-Poly1305) under
//! the bureau's PII key before they enter the document, bound to the party id as associated
//! data. The key is given at enrolment only to roles entitled to personal data (officers,
//! reviewers, supervisors), and volunteers' phones never receive party documents at all.
//! Lists and rules use the masked forms and the keyed match hash that sit beside the
//! ciphertext. Each seal names its key (`key_id`), so after a rotation (the server re-seals
//! its parties under a new key and sends entitled phones every key with the device keys) a
//! store opens a party with whichever key of its ring sealed it: every key ever held is kept.

use crate::model::PartyPii;
use crate::{CoreError, Result};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The sealed form stored in a party document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedPii {
    /// Always `xchacha20poly1305`.
    pub alg: String,
    /// Which key sealed it (first 8 bytes of SHA-256 of the key, hex).
    pub key_id: String,
    /// 24-byte nonce, base64.
    pub nonce: String,
    /// Ciphertext with tag, base64.
    pub ciphertext: String,
}

/// A PII key. Its bytes never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct PiiKey([u8; 32]);

impl std::fmt::Debug for PiiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PiiKey({})", self.id())
    }
}

impl PiiKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PiiKey(bytes)
    }

    /// The raw bytes (for keeping in the platform keystore).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key's public identifier.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0)[..8])
    }
}

const ALG: &str = "xchacha20poly1305";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Seals `pii` for the party `party_id` under `key`.
pub fn seal(key: &PiiKey, party_id: &str, pii: &PartyPii) -> Result<SealedPii> {
    let plain = serde_json::to_vec(pii).map_err(|e| CoreError::invalid("pii", e.to_string()))?;
    let mut nonce = [0u8; 24];
    crate::ids::random_bytes(&mut nonce)?;
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: party_id.as_bytes(),
            },
        )
        .map_err(|_| CoreError::invalid("pii", "encryption failed"))?;
    Ok(SealedPii {
        alg: ALG.into(),
        key_id: key.id(),
        nonce: b64().encode(nonce),
        ciphertext: b64().encode(ct),
    })
}

/// Opens sealed PII with whichever of `keys` sealed it.
pub fn open(keys: &[PiiKey], party_id: &str, sealed: &SealedPii) -> Result<PartyPii> {
    let unavailable = || CoreError::PiiUnavailable {
        party_id: party_id.to_string(),
    };
    if sealed.alg != ALG {
        return Err(unavailable());
    }
    let key = keys
        .iter()
        .find(|k| k.id() == sealed.key_id)
        .ok_or_else(unavailable)?;
    let nonce = b64().decode(&sealed.nonce).map_err(|_| unavailable())?;
    let ct = b64()
        .decode(&sealed.ciphertext)
        .map_err(|_| unavailable())?;
    if nonce.len() != 24 {
        return Err(unavailable());
    }
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    let plain = cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: party_id.as_bytes(),
            },
        )
        .map_err(|_| unavailable())?;
    serde_json::from_slice(&plain).map_err(|_| unavailable())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pii() -> PartyPii {
        PartyPii {
            name: "张三丰".into(),
            id_number: "34150219900101128X".into(),
            phone: Some("13812345678".into()),
            address: None,
        }
    }

    #[test]
    fn seals_and_opens_and_refuses_the_wrong_key_or_party() -> Result<()> {
        let k = PiiKey::from_bytes([1; 32]);
        let s = seal(&k, "party-1", &pii())?;
        assert!(!s.ciphertext.contains("张三丰"));
        assert_eq!(open(std::slice::from_ref(&k), "party-1", &s)?, pii());
        let other = PiiKey::from_bytes([2; 32]);
        assert!(matches!(
            open(&[other], "party-1", &s),
            Err(CoreError::PiiUnavailable { .. })
        ));
        assert!(
            open(std::slice::from_ref(&k), "party-2", &s).is_err(),
            "bound to the party id"
        );
        assert!(!format!("{k:?}").contains("1, 1"));
        Ok(())
    }
}
