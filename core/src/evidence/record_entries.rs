//! A record's evidence entries and redactions as stored, and redacting an entry (hidden from
//! disclosure and display, never removed).

use super::entry::{EvidenceEntry, Redaction};
use crate::{CoreError, FieldStore, Result, doc, ids};

impl FieldStore {
    /// The evidence entries of a record (entries that do not parse are skipped here and
    /// reported by [`FieldStore::verify_case`]).
    pub fn evidence(&self, record_id: &str) -> Result<Vec<EvidenceEntry>> {
        let json = doc::read_json(&self.load(record_id)?)?;
        Ok(json["evidence"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| serde_json::from_value(e.clone()).ok())
            .collect())
    }

    /// The redactions of a record.
    pub fn redactions(&self, record_id: &str) -> Result<Vec<Redaction>> {
        let json = doc::read_json(&self.load(record_id)?)?;
        Ok(json["redactions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| serde_json::from_value(e.clone()).ok())
            .collect())
    }

    /// Hides an evidence entry from disclosure and display, with who, why and when. The
    /// original, its entry and its files stay; the redaction is signed and kept in history.
    pub fn redact_evidence(
        &self,
        record_id: &str,
        evidence_id: &str,
        by: &str,
        reason: &str,
        at_ms: i64,
    ) -> Result<Redaction> {
        if by.trim().is_empty() || by.len() > 64 {
            return Err(CoreError::invalid("by", "must be 1 to 64 characters"));
        }
        if reason.trim().is_empty() || reason.chars().count() > 1000 {
            return Err(CoreError::invalid("reason", "1 to 1000 characters"));
        }
        let signer = self.signer()?;
        let mut red = Redaction {
            id: ids::new_id(),
            record_id: record_id.into(),
            evidence_id: evidence_id.into(),
            by: by.into(),
            reason: reason.into(),
            at_ms,
            device_id: self.device_id(),
            device_key: hex::encode(signer.public_key()),
            signature: String::new(),
        };
        red.signature = hex::encode(signer.sign(&red.signed_payload()?)?);
        self.write_doc(record_id, "redact evidence", |doc, current| {
            if doc::find_in_list(doc, "evidence", evidence_id)?.is_none() {
                return Err(CoreError::not_found("evidence", evidence_id));
            }
            let already = current
                .evidence_lists()
                .1
                .iter()
                .any(|r| r["evidence_id"].as_str() == Some(evidence_id));
            if already {
                return Err(CoreError::not_allowed(
                    "already_redacted",
                    "this evidence is already redacted",
                ));
            }
            doc::append(doc, "redactions", &red)?;
            Ok(red)
        })
    }
}
