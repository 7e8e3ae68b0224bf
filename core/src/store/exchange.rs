//! Exchanging changes between stores without a server: a phone exports what another lacks,
//! the other imports it. The same merge path serves sync.

use super::FieldStore;
use super::docs::{decode_heads, load_doc};
use crate::model::RecordKind;
use crate::{CoreError, Result};
use automerge::{AutoCommit, ChangeHash};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Changes of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocChanges {
    /// Document id.
    pub doc_id: String,
    /// Record kind.
    pub kind: RecordKind,
    /// Automerge bytes (a document or change chunks), base64 in JSON.
    #[serde(with = "b64")]
    pub bytes: Vec<u8>,
    /// The sender's heads of the document (hex): after a merge every one must be present, so a
    /// corrupted or cut change is refused instead of merged as something else.
    pub heads: Vec<String>,
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

/// A set of document changes, as exchanged between stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBundle {
    /// Per-document changes.
    pub docs: Vec<DocChanges>,
}

impl ChangeBundle {
    /// JSON bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| CoreError::invalid("bundle", e.to_string()))
    }

    /// Parses JSON bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| CoreError::invalid("bundle", e.to_string()))
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Documents that gained changes.
    pub changed: Vec<String>,
    /// Documents that were already up to date.
    pub unchanged: usize,
}

impl FieldStore {
    /// Heads of every document (hex), to tell another store what this one has.
    pub fn heads(&self) -> Result<BTreeMap<String, Vec<String>>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id, heads FROM docs")?;
            let mut rows = stmt.query([])?;
            let mut out = BTreeMap::new();
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let heads: Vec<u8> = r.get(1)?;
                out.insert(
                    id,
                    decode_heads(&heads)?
                        .iter()
                        .map(|h| h.to_string())
                        .collect(),
                );
            }
            Ok(out)
        })
    }

    /// The changes another store lacks, given its heads (empty map: everything).
    pub fn export_changes(&self, theirs: &BTreeMap<String, Vec<String>>) -> Result<ChangeBundle> {
        self.guard()?;
        let ours = self.heads()?;
        let mut bundle = ChangeBundle::default();
        for (id, heads) in &ours {
            if theirs.get(id) == Some(heads) {
                continue;
            }
            let (kind, mut doc) = self.read(|c| {
                let kind = super::docs::doc_kind(c, id)?
                    .ok_or_else(|| CoreError::not_found("record", id))?;
                let doc = load_doc(c, id)?.ok_or_else(|| CoreError::not_found("record", id))?;
                Ok((kind, doc))
            })?;
            let bytes = match theirs.get(id).map(|h| parse_heads(h)) {
                Some(Ok(their_heads)) if has_all(&mut doc, &their_heads) => {
                    doc.save_after(&their_heads)
                }
                _ => doc.save(),
            };
            if !bytes.is_empty() {
                bundle.docs.push(DocChanges {
                    doc_id: id.clone(),
                    kind,
                    bytes,
                    heads: heads.clone(),
                });
            }
        }
        Ok(bundle)
    }

    /// Merges a bundle. Every document is checked first; if any is malformed nothing is
    /// written and the error names it.
    pub fn import_changes(&self, bundle: &ChangeBundle) -> Result<ImportReport> {
        // Bytes from another phone are bounded before Automerge inflates them.
        let budget = crate::doc::bounded::InflateBudget::per_request();
        for d in &bundle.docs {
            // Bytes that are not Automerge chunks are a damaged bundle, like any other
            // malformed document; only a size past the limits keeps its own error.
            crate::doc::bounded::check(&d.bytes, crate::doc::bounded::MAX_CHUNK_INFLATED, &budget)
                .map_err(|e| match e {
                    e @ CoreError::TooLarge { .. } => e,
                    other => CoreError::MalformedDocument {
                        doc_id: d.doc_id.clone(),
                        reason: other.to_string(),
                    },
                })?;
            self.check_incoming(d)?;
        }
        let mut report = ImportReport::default();
        // The change observer hears the whole import as one batch.
        let _one_batch = self.hold_changes();
        for d in &bundle.docs {
            if self.merge_doc(&d.doc_id, d.kind, &d.bytes, super::ChangeOrigin::Import)? {
                report.changed.push(d.doc_id.clone());
            } else {
                report.unchanged += 1;
            }
        }
        Ok(report)
    }

    /// Checks that merging `d` would give a well-formed record, without writing.
    pub(crate) fn check_incoming(&self, d: &DocChanges) -> Result<()> {
        if !crate::ids::is_valid_id(&d.doc_id) {
            return Err(CoreError::MalformedDocument {
                doc_id: d.doc_id.chars().take(64).collect(),
                reason: "not a record id".into(),
            });
        }
        let mut doc = self
            .read(|c| load_doc(c, &d.doc_id))?
            .unwrap_or_else(AutoCommit::new);
        doc.load_incremental(&d.bytes)
            .map_err(|e| CoreError::MalformedDocument {
                doc_id: d.doc_id.clone(),
                reason: e.to_string(),
            })?;
        let expected = parse_heads(&d.heads).map_err(|_| CoreError::MalformedDocument {
            doc_id: d.doc_id.clone(),
            reason: "heads are not change hashes".into(),
        })?;
        if expected.is_empty()
            || !has_all(&mut doc, &expected)
            || !doc.get_missing_deps(&[]).is_empty()
        {
            return Err(CoreError::MalformedDocument {
                doc_id: d.doc_id.clone(),
                reason: "the changes do not produce the sender's heads (corrupted or incomplete)"
                    .into(),
            });
        }
        let json = crate::doc::read_json(&doc)?;
        let kind_ok = json.get("kind").and_then(|k| k.as_str()) == Some(d.kind.as_str());
        let id_ok = json.get("id").and_then(|k| k.as_str()) == Some(d.doc_id.as_str());
        if !kind_ok || !id_ok {
            return Err(CoreError::MalformedDocument {
                doc_id: d.doc_id.clone(),
                reason: "content is not a record of the declared kind and id".into(),
            });
        }
        match d.kind {
            RecordKind::Case => drop(super::projection::parse::<crate::model::CaseRecord>(
                &d.doc_id, &json,
            )?),
            RecordKind::Party => drop(super::projection::parse::<crate::model::PartyRecord>(
                &d.doc_id, &json,
            )?),
            RecordKind::Demonstration => drop(super::projection::parse::<
                crate::model::DemonstrationRecord,
            >(&d.doc_id, &json)?),
        }
        Ok(())
    }
}

fn parse_heads(hex: &[String]) -> Result<Vec<ChangeHash>> {
    hex.iter()
        .map(|h| {
            h.parse::<ChangeHash>()
                .map_err(|e| CoreError::invalid("heads", e.to_string()))
        })
        .collect()
}

fn has_all(doc: &mut AutoCommit, heads: &[ChangeHash]) -> bool {
    heads.iter().all(|h| doc.get_change_by_hash(h).is_some())
}
