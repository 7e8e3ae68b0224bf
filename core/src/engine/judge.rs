//! The rules on a merged record, and what the server keeps of an accepted one.

use crate::catalogue::ExemptionKind;
use crate::model::{CaseRecord, RecordKind};
use crate::rules::{Author, Refusal, RefusalCode, RuleContext, unit_in_scope};
use serde_json::Value;

/// What the server needs to know of an accepted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Unit after the change.
    pub unit: String,
    /// Party match hash of a case with a party.
    pub party_hash: Option<String>,
    /// Blob hashes the evidence entries name.
    pub blob_refs: Vec<String>,
    /// A case with a first-offence exemption (run the conflict rule).
    pub first_offence: bool,
}

/// The blobs a record's evidence entries name: each entry's `original`, `thumbnail` and
/// `display` (`{sha256, ...}`), and the flat `blob_sha256` of older entries.
pub fn blob_refs(json: &Value) -> Vec<String> {
    let is_sha = |s: &&str| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit());
    let mut out: Vec<String> = Vec::new();
    for e in json
        .get("evidence")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
    {
        let nested = ["original", "thumbnail", "display"]
            .iter()
            .filter_map(|k| e.get(*k).and_then(|b| b.get("sha256")));
        for s in nested
            .chain(e.get("blob_sha256"))
            .filter_map(|s| s.as_str())
            .filter(is_sha)
        {
            out.push(s.to_ascii_lowercase());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Checks the merged record `new` (over the stored `old`, if any) written by `author`, with
/// the rules every phone applied before it wrote the change, and says what the server keeps
/// of it. A refusal names the rule broken, never personal data.
pub fn judge(
    author: &Author,
    ctx: &RuleContext<'_>,
    doc_id: &str,
    kind: RecordKind,
    old: Option<&Value>,
    new: &Value,
) -> Result<Accepted, Refusal> {
    if let Some(old) = old {
        let old_unit = old.get("unit").and_then(Value::as_str).unwrap_or("");
        if !unit_in_scope(old_unit, &author.unit) {
            return Err(Refusal {
                code: RefusalCode::OutOfScope,
                detail: "the stored record is outside the device's unit".into(),
            });
        }
    }
    crate::rules::check_record(kind, doc_id, old, new, author, ctx)?;
    let unit = new
        .get("unit")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut accepted = Accepted {
        unit,
        party_hash: None,
        blob_refs: blob_refs(new),
        first_offence: false,
    };
    if kind == RecordKind::Case {
        // Parsed from the borrowed value (the rules parsed it already; no copy of the tree).
        let case = <CaseRecord as serde::Deserialize>::deserialize(new).map_err(|e| Refusal {
            code: RefusalCode::Malformed,
            detail: format!("not a valid case record: {e}"),
        })?;
        accepted.party_hash = case.party.as_ref().map(|p| p.match_hash.clone());
        accepted.first_offence = case
            .exemption
            .as_ref()
            .is_some_and(|e| e.kind == ExemptionKind::FirstOffence);
    }
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blob_refs_take_nested_and_flat_hashes_once_in_lower_case() {
        let a = "A".repeat(64);
        let b = "b".repeat(64);
        let json = json!({"evidence": [
            {"original": {"sha256": a}, "thumbnail": {"sha256": b}},
            {"blob_sha256": b},
            {"original": {"sha256": "not-a-hash"}},
        ]});
        assert_eq!(blob_refs(&json), vec!["a".repeat(64), b.clone()]);
    }
}
