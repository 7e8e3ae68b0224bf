//! What the server can verify of one case for the reviewer's case page.
//!
//! The phone's `verify_case` checks a record against the phone's own store; the server holds
//! the same document and the uploaded files, so it checks what it can hold to account:
//! - every evidence entry parses, names this case, and its signature holds for the key it
//!   records, and that key is a device key the server enrolled;
//! - every file an entry names (original, thumbnail, display copy) is in the blob store with
//!   the recorded SHA-256 and size (a file not uploaded yet is reported as such, not as
//!   altered);
//! - redactions, the decision, the legal review and closes or reopens are signed and their
//!   signatures hold (the heads a close signed are in the history);
//! - every issued document's hash matches its content.
//!
//! Each check is a row with its result, so the page shows all of them; hashing the files is
//! the only part that reads the blob store ([`blob_states`]).

use crate::blobs::BlobStore;
use automerge::{AutoCommit, ChangeHash};
use fieldcase_core::evidence::records::{check_decision, check_lifecycle, check_review};
use fieldcase_core::evidence::signer::verify_hex;
use fieldcase_core::evidence::{EvidenceEntry, Redaction};
use fieldcase_core::model::CaseRecord;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A file named by an evidence entry, as found in the blob store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobState {
    /// Present with the recorded hash.
    Intact {
        /// Its size in bytes.
        size: u64,
    },
    /// Not in the blob store (not uploaded yet, or lost).
    Missing,
    /// Present, but its content hashes to something else.
    Altered,
    /// Could not be read.
    Unreadable,
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, in Chinese (证据签名, 证据文件, ...).
    pub what: String,
    /// What it was checked on: an evidence id, a document number, `处罚决定`.
    pub subject: String,
    /// Passed (`Some(true)`), failed (`Some(false)`), or could not be judged yet
    /// (`None`: an unsigned record of an older release, a file not uploaded yet).
    pub ok: Option<bool>,
    /// The result in words; ids and hashes only.
    pub detail: String,
}

fn check(what: &str, subject: &str, ok: Option<bool>, detail: impl Into<String>) -> Check {
    Check {
        what: what.into(),
        subject: subject.into(),
        ok,
        detail: detail.into(),
    }
}

/// The evidence entries of a case that parse (the rest are reported by [`verify`]).
pub fn entries(case: &CaseRecord) -> Vec<EvidenceEntry> {
    case.evidence
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect()
}

/// The redactions of a case that parse.
pub fn redactions(case: &CaseRecord) -> Vec<Redaction> {
    case.redactions
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect()
}

/// Every file (hash, recorded size) the case's evidence entries name.
pub fn named_blobs(case: &CaseRecord) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in entries(case) {
        for b in [Some(&e.original), e.thumbnail.as_ref(), e.display.as_ref()]
            .into_iter()
            .flatten()
        {
            out.insert(b.sha256.clone(), b.size);
        }
    }
    out
}

/// Hashes each named file in the blob store, streamed.
pub async fn blob_states(
    blobs: &BlobStore,
    wanted: &BTreeMap<String, u64>,
) -> BTreeMap<String, BlobState> {
    let mut out = BTreeMap::new();
    for sha in wanted.keys() {
        let valid = sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit());
        let state = if !valid {
            BlobState::Missing
        } else {
            match blobs.hash_stored(sha).await {
                Ok(Some((hash, size))) if hash == sha.to_ascii_lowercase() => {
                    BlobState::Intact { size }
                }
                Ok(Some(_)) => BlobState::Altered,
                Ok(None) => BlobState::Missing,
                Err(_) => BlobState::Unreadable,
            }
        };
        out.insert(sha.clone(), state);
    }
    out
}

/// Every check of `case` (its loaded document `doc`; mutable only because Automerge looks
/// changes up through a cache) against the files found (`blobs`) and
/// the device keys the server enrolled (`device_keys`, lowercase hex).
pub fn verify(
    case: &CaseRecord,
    doc: &mut AutoCommit,
    blobs: &BTreeMap<String, BlobState>,
    device_keys: &HashSet<String>,
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, raw) in case.evidence.iter().enumerate() {
        let Ok(e) = serde_json::from_value::<EvidenceEntry>(raw.clone()) else {
            out.push(check(
                "证据条目",
                &format!("第 {} 项", i + 1),
                Some(false),
                "无法解析",
            ));
            continue;
        };
        if !seen.insert(e.id.clone()) {
            out.push(check("证据条目", &e.id, Some(false), "证据编号重复"));
        }
        let signed = e
            .signed_payload()
            .map(|p| verify_hex(&e.device_key, &p, &e.signature))
            .unwrap_or(false);
        let own = e.record_id == case.id;
        out.push(check(
            "证据签名",
            &e.id,
            Some(signed && own),
            match (signed, own) {
                (true, true) => "签名有效".to_string(),
                (false, _) => "签名无效".to_string(),
                (true, false) => format!("条目属于另一记录 {}", e.record_id),
            },
        ));
        let known = device_keys.contains(&e.device_key.to_ascii_lowercase());
        out.push(check(
            "签名设备",
            &e.id,
            Some(known),
            if known {
                "已登记设备的密钥"
            } else {
                "密钥不属于任何已登记设备"
            },
        ));
        for (role, b) in [
            ("原件", Some(&e.original)),
            ("缩略图", e.thumbnail.as_ref()),
            ("展示图", e.display.as_ref()),
        ] {
            let Some(b) = b else { continue };
            let (ok, detail) = match blobs.get(&b.sha256) {
                Some(BlobState::Intact { size }) if *size == b.size => {
                    (Some(true), format!("{role}哈希一致"))
                }
                Some(BlobState::Intact { size }) => (
                    Some(false),
                    format!("{role}大小为 {size} 字节，条目记载 {}", b.size),
                ),
                Some(BlobState::Altered) => (Some(false), format!("{role}内容与哈希不符")),
                Some(BlobState::Unreadable) => (Some(false), format!("{role}无法读取")),
                Some(BlobState::Missing) | None => (None, format!("{role}尚未上传到服务器")),
            };
            out.push(check("证据文件", &e.id, ok, detail));
        }
    }
    let evidence_ids: HashSet<String> = entries(case).into_iter().map(|e| e.id).collect();
    for raw in &case.redactions {
        let Ok(r) = serde_json::from_value::<Redaction>(raw.clone()) else {
            out.push(check("屏蔽记录", "—", Some(false), "无法解析"));
            continue;
        };
        let ok = r
            .signed_payload()
            .map(|p| verify_hex(&r.device_key, &p, &r.signature))
            .unwrap_or(false)
            && r.record_id == case.id
            && evidence_ids.contains(&r.evidence_id);
        out.push(check(
            "屏蔽记录",
            &r.evidence_id,
            Some(ok),
            if ok {
                "签名有效"
            } else {
                "签名、记录或证据不符"
            },
        ));
    }
    if let Some(d) = &case.decision {
        let sig = check_decision(case, d);
        out.push(check(
            "决定签名",
            "处罚决定",
            sig,
            match sig {
                Some(true) => "决定设备签名有效（金额、依据、当事人）",
                Some(false) => "决定签名无效",
                None => "旧版本记录，未签名",
            },
        ));
        if let Some(r) = &d.review {
            let sig = check_review(&case.id, d, r);
            out.push(check(
                "审核签名",
                "法制审核",
                Some(sig == Some(true)),
                match sig {
                    Some(true) => "审核签名有效，且针对本决定",
                    Some(false) => "审核签名无效或针对其他决定",
                    None => "审核未签名",
                },
            ));
        }
    }
    for (i, ev) in case.lifecycle.iter().enumerate() {
        let subject = format!("结案/重开 第 {} 项", i + 1);
        let sig = check_lifecycle(&case.id, ev);
        let heads_known = ev.signed_heads.iter().flatten().all(|h| {
            h.parse::<ChangeHash>()
                .ok()
                .and_then(|h| doc.get_change_by_hash(&h))
                .is_some()
        });
        let ok = sig.map(|s| s && heads_known);
        out.push(check(
            "结案签名",
            &subject,
            ok,
            match ok {
                Some(true) => "签名有效，所签历史完整",
                Some(false) => "签名或所签历史不符",
                None => "旧版本记录，未签名",
            },
        ));
    }
    for d in &case.documents {
        let ok = d.compute_sha256() == d.sha256;
        let subject = d.number.as_ref().map_or_else(
            || super::labels::document(d.kind).to_string(),
            |n| n.text.clone(),
        );
        out.push(check(
            "文书哈希",
            &subject,
            Some(ok),
            if ok {
                "文书内容与哈希一致"
            } else {
                "文书内容与哈希不符"
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_hashed_and_missing_ones_are_told_apart() -> crate::error::Result<()> {
        use sha2::Digest;
        let dir = tempfile::tempdir()?;
        let dir = crate::blobs::BlobDir::open(dir.path().join("b"), 1 << 20)?;
        let content = b"evidence bytes".to_vec();
        let sha = hex::encode(sha2::Sha256::digest(&content));
        dir.append(&sha, 0, content.len() as u64, &content)?;
        let path = dir.final_path(&sha);
        let blobs = BlobStore::folder(dir);
        let other = "ab".repeat(32);
        let wanted = BTreeMap::from([(sha.clone(), 14), (other.clone(), 3)]);
        let states = blob_states(&blobs, &wanted).await;
        assert_eq!(states[&sha], BlobState::Intact { size: 14 });
        assert_eq!(states[&other], BlobState::Missing);
        std::fs::write(path, b"altered")?;
        assert_eq!(blob_states(&blobs, &wanted).await[&sha], BlobState::Altered);
        Ok(())
    }
}
