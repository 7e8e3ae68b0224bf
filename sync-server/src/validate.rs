//! Validation after merge: the server merges a device's changes into a fork of its copy, reads
//! the resulting record and decides whether to keep it with core's
//! [`fieldcase_core::rules::check_record`], the same rules the phone applied before it wrote
//! the change. A refusal names the rule broken (never personal data), and nothing is stored.

use crate::storage::{User, unit_in_scope};
use fieldcase_core::catalogue::{CatalogueSet, ExemptionKind};
use fieldcase_core::model::{CaseRecord, RecordKind};
use fieldcase_core::rules::{
    Author, Directory, DocumentLedger, Refusal, RefusalCode, RuleContext, UserInfo,
};
use serde_json::Value;
use std::collections::HashMap;

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
pub(crate) fn blob_refs(json: &Value) -> Vec<String> {
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

/// Users the server knows, as the rules look them up: complete, so an unknown id is refused.
#[derive(Debug, Clone, Default)]
pub struct Users(pub HashMap<String, UserInfo>);

impl Directory for Users {
    fn user(&self, id: &str) -> Option<UserInfo> {
        self.0.get(id).cloned()
    }

    fn complete(&self) -> bool {
        true
    }
}

impl Users {
    /// Adds a user.
    pub fn insert(&mut self, u: &User) {
        self.insert_with_cert(u, None);
    }

    /// Adds a user with its certificate number (what documents print).
    pub fn insert_with_cert(&mut self, u: &User, cert_no: Option<String>) {
        self.0.insert(
            u.id.clone(),
            UserInfo {
                role: u.role,
                unit: u.unit.clone(),
                name: u.name.clone(),
                cert_no,
            },
        );
    }
}

/// The ids of the officers a case record names (what [`Users`] must hold to check it).
pub fn named_officers(json: &Value) -> Vec<String> {
    json.get("officers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The author a device's push is checked as: its user, and the device's key for everything it
/// signs (reviews included).
pub fn device_author(user: &User, device_id: &str, device_key: &str) -> Author {
    Author::device(
        user.id.clone(),
        user.role,
        user.unit.clone(),
        device_id,
        Some(device_key.to_ascii_lowercase()),
    )
}

/// Checks the merged record `new` (and the stored `old`, if any) written by `author`, and says
/// what the server needs to know of it.
// The lookups are the rules' context, passed apart because each caller holds its own; the
// one merge step of the sync engine will carry them together.
#[allow(clippy::too_many_arguments)]
pub fn check(
    author: &Author,
    catalogues: &CatalogueSet,
    users: &dyn Directory,
    numbers: &dyn DocumentLedger,
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
    let ctx = RuleContext {
        catalogues,
        directory: users,
        now_ms: Some(fieldcase_core::ids::now_ms()),
        numbers,
    };
    fieldcase_core::rules::check_record(kind, doc_id, old, new, author, &ctx)?;
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
        let case: CaseRecord = serde_json::from_value(new.clone()).map_err(|e| Refusal {
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
