//! The access audit trail: who viewed, exported, published, reviewed, enrolled or revoked what.
//!
//! Entries form a hash chain (each entry's hash covers its sequence number, its event and the
//! previous entry's hash) and each is signed with the server's ed25519 key. A signed head
//! (last sequence number and hash), kept apart from the entries, catches a removed tail.
//! [`verify`] detects an altered, removed, inserted or reordered entry.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What happened. `detail` must never hold personal data of the public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When (server clock, unix ms).
    pub at_ms: i64,
    /// Who: a user id, a device id, or `operator`.
    pub actor: String,
    /// view, export, disclosure, review, enrol, revoke, ...
    pub action: String,
    /// The case concerned, if any.
    pub case_id: Option<String>,
    /// Free detail (ids and counts only).
    pub detail: String,
}

/// A chained, signed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, ... without gaps.
    pub seq: i64,
    /// The event.
    pub event: AuditEvent,
    /// Hash of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over the canonical bytes, hex.
    pub hash: String,
    /// ed25519 signature over the hash bytes, hex.
    pub signature: String,
}

/// The signed head of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Last sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// Signature over `seq || hash`.
    pub signature: String,
}

/// Why a chain failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// An entry's sequence number is not the next one (removed, inserted or reordered).
    #[error("entry {found} found where {expected} was expected")]
    Sequence {
        /// Expected.
        expected: i64,
        /// Found.
        found: i64,
    },
    /// An entry's content does not match its hash (altered).
    #[error("entry {seq} was altered")]
    Altered {
        /// The entry.
        seq: i64,
    },
    /// An entry does not link to the previous one.
    #[error("entry {seq} does not follow the previous entry")]
    BrokenLink {
        /// The entry.
        seq: i64,
    },
    /// An entry's or the head's signature is not valid.
    #[error("bad signature on entry {seq}")]
    BadSignature {
        /// The entry (0 for the head).
        seq: i64,
    },
    /// The chain ends before the signed head (entries removed at the end).
    #[error("chain ends at {last}, the signed head says {head}")]
    Truncated {
        /// Last entry present.
        last: i64,
        /// The head's sequence number.
        head: i64,
    },
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The canonical bytes an entry's hash covers: length-prefixed fields in a fixed order.
pub fn canonical_bytes(seq: i64, event: &AuditEvent, prev_hash: &str) -> Vec<u8> {
    let mut out = b"fieldcase-audit-v1".to_vec();
    field(&mut out, &seq.to_be_bytes());
    field(&mut out, prev_hash.as_bytes());
    field(&mut out, &event.at_ms.to_be_bytes());
    field(&mut out, event.actor.as_bytes());
    field(&mut out, event.action.as_bytes());
    field(&mut out, event.case_id.as_deref().unwrap_or("").as_bytes());
    field(&mut out, event.detail.as_bytes());
    out
}

fn head_bytes(seq: i64, hash: &str) -> Vec<u8> {
    let mut out = b"fieldcase-audit-head-v1".to_vec();
    field(&mut out, &seq.to_be_bytes());
    field(&mut out, hash.as_bytes());
    out
}

/// The entry that follows `prev` (or the first one).
pub fn next_entry(prev: Option<&AuditEntry>, event: AuditEvent, key: &SigningKey) -> AuditEntry {
    match prev {
        Some(p) => entry_after(p.seq, &p.hash, event, key),
        None => entry_after(0, GENESIS, event, key),
    }
}

/// The hash the chain starts from (the "previous hash" of entry 1).
pub const GENESIS_HASH: &str = GENESIS;

/// The entry that follows the entry `prev_seq` with hash `prev_hash` (`0` and
/// [`GENESIS_HASH`] for the first entry); what a storage backend calls under its lock.
pub fn entry_after(
    prev_seq: i64,
    prev_hash: &str,
    event: AuditEvent,
    key: &SigningKey,
) -> AuditEntry {
    let seq = prev_seq + 1;
    let prev_hash = prev_hash.to_string();
    let hash = hex::encode(Sha256::digest(canonical_bytes(seq, &event, &prev_hash)));
    let signature = hex::encode(key.sign(hash.as_bytes()).to_bytes());
    AuditEntry {
        seq,
        event,
        prev_hash,
        hash,
        signature,
    }
}

/// The signed head for the last entry.
pub fn head_for(last: &AuditEntry, key: &SigningKey) -> AuditHead {
    AuditHead {
        seq: last.seq,
        hash: last.hash.clone(),
        signature: hex::encode(key.sign(&head_bytes(last.seq, &last.hash)).to_bytes()),
    }
}

fn sig_ok(key: &VerifyingKey, msg: &[u8], sig_hex: &str) -> bool {
    let Ok(bytes) = hex::decode(sig_hex) else {
        return false;
    };
    let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    key.verify(msg, &Signature::from_bytes(&arr)).is_ok()
}

/// Verifies a whole chain against the signed head; returns the number of entries.
pub fn verify(
    entries: &[AuditEntry],
    head: Option<&AuditHead>,
    key: &VerifyingKey,
) -> Result<i64, AuditError> {
    let mut prev_hash = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let expected = i as i64 + 1;
        if e.seq != expected {
            return Err(AuditError::Sequence {
                expected,
                found: e.seq,
            });
        }
        if e.prev_hash != prev_hash {
            return Err(AuditError::BrokenLink { seq: e.seq });
        }
        let hash = hex::encode(Sha256::digest(canonical_bytes(
            e.seq,
            &e.event,
            &e.prev_hash,
        )));
        if hash != e.hash {
            return Err(AuditError::Altered { seq: e.seq });
        }
        if !sig_ok(key, e.hash.as_bytes(), &e.signature) {
            return Err(AuditError::BadSignature { seq: e.seq });
        }
        prev_hash = hash;
    }
    let last = entries.last().map_or(0, |e| e.seq);
    if let Some(h) = head {
        if !sig_ok(key, &head_bytes(h.seq, &h.hash), &h.signature) {
            return Err(AuditError::BadSignature { seq: 0 });
        }
        if h.seq > last {
            return Err(AuditError::Truncated { last, head: h.seq });
        }
        let at = entries.get((h.seq - 1).max(0) as usize);
        if h.seq > 0 && at.map(|e| &e.hash) != Some(&h.hash) {
            return Err(AuditError::Altered { seq: h.seq });
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize, key: &SigningKey) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let ev = AuditEvent {
                at_ms: 1_000 + i as i64,
                actor: format!("user-{}", i % 3),
                action: ["view", "export", "review"][i % 3].into(),
                case_id: Some(format!("case-{i}")),
                detail: String::new(),
            };
            let e = next_entry(out.last(), ev, key);
            out.push(e);
        }
        out
    }

    #[test]
    fn untouched_chain_verifies_and_every_tampering_is_caught() {
        let key = SigningKey::from_bytes(&[5u8; 32]);
        let vk = key.verifying_key();
        let entries = chain(20, &key);
        let head = head_for(entries.last().expect("last"), &key);
        assert_eq!(verify(&entries, Some(&head), &vk), Ok(20));

        let mut altered = entries.clone();
        altered[7].event.actor = "someone-else".into();
        assert_eq!(
            verify(&altered, Some(&head), &vk),
            Err(AuditError::Altered { seq: 8 })
        );

        let mut removed = entries.clone();
        removed.remove(5);
        assert!(matches!(
            verify(&removed, Some(&head), &vk),
            Err(AuditError::Sequence { .. })
        ));

        let mut reordered = entries.clone();
        reordered.swap(3, 4);
        assert!(verify(&reordered, Some(&head), &vk).is_err());

        let mut truncated = entries.clone();
        truncated.truncate(18);
        assert_eq!(
            verify(&truncated, Some(&head), &vk),
            Err(AuditError::Truncated { last: 18, head: 20 })
        );

        // Re-hashing an altered entry without the key breaks the signature.
        let mut forged = entries.clone();
        forged[2].event.detail = "x".into();
        forged[2].hash = hex::encode(Sha256::digest(canonical_bytes(
            3,
            &forged[2].event,
            &forged[2].prev_hash,
        )));
        assert!(verify(&forged, None, &vk).is_err());

        let other = SigningKey::from_bytes(&[6u8; 32]).verifying_key();
        assert_eq!(
            verify(&entries, None, &other),
            Err(AuditError::BadSignature { seq: 1 })
        );
    }
}
