//! Signed catalogue bundles: what the server signs when an operator publishes a catalogue, and
//! the checks a phone runs before it takes one into force.
//!
//! The signature covers `SIGNING_CONTEXT || SHA-256(bundle bytes) || version` under the
//! server's ed25519 key. The context string keeps a catalogue signature from ever being
//! mistaken for a signature over something else the same key signs (audit entries, legal
//! reviews), and the version is signed beside the digest so a bundle cannot be announced under
//! another version than the one the operator published. The phone checks the digest over the
//! bytes it received (not over a re-encoding), so what it verified is exactly what it stores.

use super::wire::SignedCatalogue;
use crate::catalogue::{Catalogue, CatalogueBundle};
use crate::{CoreError, Result};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;

/// Domain separation of catalogue signatures.
pub const SIGNING_CONTEXT: &[u8] = b"fieldcase catalogue bundle v1\0";

fn refused(reason: impl Into<String>) -> CoreError {
    CoreError::Catalogue {
        reason: reason.into(),
    }
}

/// The bytes a catalogue signature covers.
pub fn signed_payload(digest: &[u8; 32], version: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNING_CONTEXT.len() + 32 + version.len());
    out.extend_from_slice(SIGNING_CONTEXT);
    out.extend_from_slice(digest);
    out.extend_from_slice(version.as_bytes());
    out
}

/// SHA-256 of bundle bytes.
pub fn digest_of(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Signs canonical bundle bytes of `version`: returns the digest (hex) and the signature (hex).
pub fn sign(key: &SigningKey, bytes: &[u8], version: &str) -> (String, String) {
    let digest = digest_of(bytes);
    let sig = key.sign(&signed_payload(&digest, version));
    (hex::encode(digest), hex::encode(sig.to_bytes()))
}

/// Checks a signed catalogue from the server against the server key the phone pinned
/// (`server_key_hex`, 64 hex digits), then validates it with [`Catalogue::from_bundle`].
/// Refused, as [`CoreError::Catalogue`] saying why, when the bytes do not hash to the signed
/// digest, the signature does not verify, the bundle's version is not the signed one, or the
/// catalogue is invalid.
pub fn verify(offer: &SignedCatalogue, server_key_hex: &str) -> Result<Catalogue> {
    let key: [u8; 32] = hex::decode(server_key_hex)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| refused("the pinned server key is not 32 bytes of hex"))?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| refused("the pinned server key is not an ed25519 key"))?;
    let digest = digest_of(&offer.bundle);
    if hex::encode(digest) != offer.digest.to_ascii_lowercase() {
        return Err(refused(
            "the bundle's bytes do not hash to the signed digest",
        ));
    }
    let sig: [u8; 64] = hex::decode(&offer.signature)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| refused("the signature is not 64 bytes of hex"))?;
    key.verify(
        &signed_payload(&digest, &offer.version),
        &Signature::from_bytes(&sig),
    )
    .map_err(|_| refused("the signature does not verify under the server's key"))?;
    let bundle = CatalogueBundle::from_bytes(&offer.bundle)?;
    if bundle.version != offer.version {
        return Err(refused(format!(
            "the bundle holds version {}, signed as {}",
            bundle.version, offer.version
        )));
    }
    let catalogue = Catalogue::from_bundle(&bundle)?;
    if catalogue.version() != offer.version {
        return Err(refused("the catalogue's version is not the signed one"));
    }
    Ok(catalogue)
}

/// Parses a version of dotted numbers (`2026.12.1`); `None` for anything else.
pub fn parse_version(v: &str) -> Option<Vec<u64>> {
    if v.is_empty() || v.len() > 64 {
        return None;
    }
    v.split('.')
        .map(|p| {
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
                None
            } else {
                p.parse().ok()
            }
        })
        .collect()
}

/// Orders two versions as dotted numbers (`2026.9.1 < 2026.12.1`; missing parts count as 0,
/// so `1.2 = 1.2.0`); `None` when either is not dotted numbers.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse_version(a)?, parse_version(b)?);
    let n = a.len().max(b.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    Some(
        (0..n)
            .map(|i| at(&a, i).cmp(&at(&b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(key: &SigningKey, bundle: &CatalogueBundle) -> Result<SignedCatalogue> {
        let bytes = bundle.to_bytes()?;
        let (digest, signature) = sign(key, &bytes, &bundle.version);
        Ok(SignedCatalogue {
            version: bundle.version.clone(),
            digest,
            signature,
            published_at_ms: 1,
            bundle: bytes,
        })
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn pub_hex(k: &SigningKey) -> String {
        hex::encode(k.verifying_key().to_bytes())
    }

    #[test]
    fn a_signed_bundle_verifies_and_every_alteration_is_refused() -> Result<()> {
        let k = key(7);
        let bundle = CatalogueBundle::builtin()?;
        let good = offer(&k, &bundle)?;
        assert_eq!(verify(&good, &pub_hex(&k))?.version(), bundle.version);

        let mut flipped = good.clone();
        let at = flipped.bundle.len() / 2;
        flipped.bundle[at] ^= 1;
        let other_key = offer(&key(8), &bundle)?;
        let mut renamed = good.clone();
        renamed.version = "9999.1.1".into();
        let mut redigested = flipped.clone();
        redigested.digest = hex::encode(digest_of(&redigested.bundle));
        for (name, bad, key_hex) in [
            ("bytes changed after signing", &flipped, pub_hex(&k)),
            ("signed by another key", &other_key, pub_hex(&k)),
            ("announced under another version", &renamed, pub_hex(&k)),
            (
                "digest recomputed over altered bytes",
                &redigested,
                pub_hex(&k),
            ),
        ] {
            match verify(bad, &key_hex) {
                Err(CoreError::Catalogue { reason }) => {
                    assert!(!reason.is_empty(), "{name}")
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        Ok(())
    }

    #[test]
    fn a_signature_over_another_context_does_not_verify() -> Result<()> {
        let k = key(9);
        let bundle = CatalogueBundle::builtin()?;
        let bytes = bundle.to_bytes()?;
        let digest = digest_of(&bytes);
        let mut bare = digest.to_vec();
        bare.extend_from_slice(bundle.version.as_bytes());
        let sig = k.sign(&bare);
        let o = SignedCatalogue {
            version: bundle.version.clone(),
            digest: hex::encode(digest),
            signature: hex::encode(sig.to_bytes()),
            published_at_ms: 1,
            bundle: bytes,
        };
        assert!(verify(&o, &pub_hex(&k)).is_err());
        Ok(())
    }

    #[test]
    fn versions_compare_as_dotted_numbers() {
        use Ordering::*;
        assert_eq!(compare_versions("2026.9.1", "2026.12.1"), Some(Less));
        assert_eq!(compare_versions("2026.12.10", "2026.12.9"), Some(Greater));
        assert_eq!(compare_versions("1.2", "1.2.0"), Some(Equal));
        assert_eq!(compare_versions("2027", "2026.12.1"), Some(Greater));
        for bad in ["", "1..2", "v1", "1.2-rc", "1.-2", " 1"] {
            assert_eq!(compare_versions(bad, "1"), None, "{bad:?}");
        }
    }
}
