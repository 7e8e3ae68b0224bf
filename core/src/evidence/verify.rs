//! Verification of a record's evidence: what a court (or the server, or an auditor) checks.
//!
//! For one record document it checks that:
//! - the history loads, every change hash is recomputed and the heads match (Automerge's
//!   hash chain; done by the caller that loads the bytes);
//! - every evidence entry parses, names this record, and its signature holds for the device
//!   key it records (`verify_strict`), and that key is trusted when a trust list is given;
//! - every original, thumbnail and display copy is present with the recorded hash and size;
//! - every recording's segments are numbered 0..n with no gap or repeat, each naming the hash
//!   of the one before;
//! - no evidence entry or redaction that ever existed in the history has disappeared;
//! - signed decisions, closes and reopens verify, and the heads a close signed exist.
//!
//! Failures are collected as [`Issue`]s, never raised, so one report shows everything.
//! Issue text names ids and fields only, never personal data.

use super::blobs::parse_sha256;
use super::entry::{EvidenceEntry, Redaction};
use super::records::{check_decision, check_lifecycle, check_review};
use super::signer::verify_hex;
use crate::model::LifecycleEvent;
use crate::{CoreError, FieldStore, Result};
use automerge::{AutoCommit, ChangeHash, ObjType, ROOT, ReadDoc, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What kind of problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The document bytes do not load: a bad checksum or a broken hash chain.
    HistoryInvalid,
    /// The history's heads or content differ from what the store or manifest records.
    HistoryMismatch,
    /// An evidence entry or redaction does not parse.
    MalformedEntry,
    /// Two entries share an id.
    DuplicateEvidenceId,
    /// An entry names another record.
    WrongRecord,
    /// A signature does not verify for the recorded key.
    SignatureInvalid,
    /// The signing key is not in the trust list.
    UnknownDeviceKey,
    /// A referenced file is missing.
    BlobMissing,
    /// The entry was signed by a device key the server revoked, and captured after the
    /// revocation (server receipt time, else device time corrected by its clock offset).
    SignedAfterRevocation,
    /// A referenced file's content does not match its hash.
    BlobHashMismatch,
    /// A referenced file's size differs from the entry.
    BlobSizeMismatch,
    /// A recording's segments have a gap, repeat or wrong previous hash.
    SegmentChainBroken,
    /// A recording has no segment marked final where it can no longer be in progress (a
    /// package, or a closed case): its tail is missing.
    SegmentChainIncomplete,
    /// An entry present earlier in the history is gone.
    EvidenceRemoved,
    /// A redaction present earlier in the history is gone.
    RedactionRemoved,
    /// A redaction's signature fails or it names no evidence.
    RedactionInvalid,
    /// A decision's signature fails.
    DecisionSignatureInvalid,
    /// A legal review is unsigned, its signature fails, or it names another decision.
    ReviewSignatureInvalid,
    /// A close/reopen signature fails, or the heads it signed are not in the history.
    LifecycleSignatureInvalid,
    /// A package manifest is missing or does not parse.
    ManifestInvalid,
    /// A package manifest's signature fails.
    ManifestSignatureInvalid,
    /// A package file does not match the hash the manifest lists.
    FileMismatch,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// What.
    pub kind: IssueKind,
    /// The evidence entry (or redaction) concerned, if any.
    pub evidence_id: Option<String>,
    /// Detail: ids, field names and hashes only.
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationReport {
    /// The record verified.
    pub record_id: String,
    /// Its document heads (hex, sorted).
    pub heads: Vec<String>,
    /// Number of changes in its history.
    pub changes: usize,
    /// Evidence entries checked.
    pub evidence_checked: usize,
    /// Signatures checked (entries, redactions, decisions, closes, manifest).
    pub signatures_checked: usize,
    /// Files hashed.
    pub blobs_checked: usize,
    /// Decisions and lifecycle events without a signature (made before signing existed).
    pub unsigned_records: usize,
    /// Device keys that signed anything here (hex, sorted).
    pub device_keys: Vec<String>,
    /// Whether keys were checked against a trust list.
    pub keys_checked_against_trust_list: bool,
    /// Recordings whose last segment is not marked final, on an open record: still being
    /// recorded, or their tail has not arrived yet. Not an issue by itself.
    #[serde(default)]
    pub open_recordings: Vec<String>,
    /// Everything wrong; empty when clean.
    pub issues: Vec<Issue>,
}

impl VerificationReport {
    /// No issue found.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }

    /// Whether an issue of `kind` was found.
    pub fn has(&self, kind: IssueKind) -> bool {
        self.issues.iter().any(|i| i.kind == kind)
    }

    pub(crate) fn issue(&mut self, kind: IssueKind, evidence_id: Option<&str>, detail: String) {
        self.issues.push(Issue {
            kind,
            evidence_id: evidence_id.map(str::to_string),
            detail,
        });
    }
}

/// Where the files named by hashes are.
pub(crate) trait BlobSource {
    /// SHA-256 and size of the file stored for `sha_hex`; `None` when missing.
    fn rehash(&mut self, sha_hex: &str) -> Result<Option<([u8; 32], u64)>>;
}

/// The ids of the maps in root list `list` as of `heads`.
fn ids_at(doc: &AutoCommit, list: &str, heads: &[ChangeHash]) -> Vec<String> {
    let Ok(Some((Value::Object(ObjType::List), obj))) = doc.get_at(&ROOT, list, heads) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in 0..doc.length_at(&obj, heads) {
        if let Ok(Some((Value::Object(ObjType::Map), item))) = doc.get_at(&obj, i, heads)
            && let Ok(Some((Value::Scalar(s), _))) = doc.get_at(&item, "id", heads)
            && let Some(id) = s.as_str()
        {
            out.push(id.to_string());
        }
    }
    out
}

fn check_blob(
    src: &mut dyn BlobSource,
    report: &mut VerificationReport,
    eid: &str,
    role: &str,
    sha_hex: &str,
    size: u64,
) -> Result<()> {
    let Some(expected) = parse_sha256(sha_hex) else {
        report.issue(
            IssueKind::MalformedEntry,
            Some(eid),
            format!("{role} hash is not a SHA-256"),
        );
        return Ok(());
    };
    report.blobs_checked += 1;
    match src.rehash(sha_hex)? {
        None => report.issue(
            IssueKind::BlobMissing,
            Some(eid),
            format!("{role} {sha_hex} is missing"),
        ),
        Some((actual, _)) if actual != expected => report.issue(
            IssueKind::BlobHashMismatch,
            Some(eid),
            format!(
                "{role} {sha_hex} has content hashing to {}",
                hex::encode(actual)
            ),
        ),
        Some((_, actual_size)) if actual_size != size => report.issue(
            IssueKind::BlobSizeMismatch,
            Some(eid),
            format!("{role} {sha_hex} is {actual_size} bytes, entry says {size}"),
        ),
        Some(_) => {}
    }
    Ok(())
}

/// Whether a recording without a final segment may still be in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recordings {
    /// The record is open: list such recordings in `open_recordings`.
    MayBeOpen,
    /// The record is final (a package, a closed case): report them as incomplete.
    Final,
}

/// Verifies a loaded record document. `trusted`: device keys (hex) to accept; `None` skips
/// the trust check (the report still lists the keys).
pub(crate) fn verify_document(
    record_id: &str,
    doc: &mut AutoCommit,
    src: &mut dyn BlobSource,
    trusted: Option<&HashSet<String>>,
    recordings_mode: Recordings,
) -> Result<VerificationReport> {
    let mut report = VerificationReport {
        record_id: record_id.to_string(),
        keys_checked_against_trust_list: trusted.is_some(),
        ..Default::default()
    };
    let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    report.heads = heads;
    let json = crate::doc::read_json(doc)?;
    let mut keys: BTreeSet<String> = BTreeSet::new();
    let mut check_key = |report: &mut VerificationReport, id: &str, key: &str| {
        keys.insert(key.to_string());
        if let Some(t) = trusted
            && !t.contains(key)
        {
            report.issue(
                IssueKind::UnknownDeviceKey,
                Some(id),
                format!("signed by untrusted key {key}"),
            );
        }
    };

    // Entries.
    let mut entries: Vec<EvidenceEntry> = Vec::new();
    let mut seen_ids = HashSet::new();
    for (i, raw) in json["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let e: EvidenceEntry = match serde_json::from_value(raw.clone()) {
            Ok(e) => e,
            Err(_) => {
                let id = raw["id"].as_str().map(str::to_string);
                report.issue(
                    IssueKind::MalformedEntry,
                    id.as_deref(),
                    format!("evidence entry {i} does not parse"),
                );
                continue;
            }
        };
        report.evidence_checked += 1;
        if !seen_ids.insert(e.id.clone()) {
            report.issue(
                IssueKind::DuplicateEvidenceId,
                Some(&e.id),
                "evidence id appears twice".into(),
            );
        }
        if e.record_id != record_id {
            report.issue(
                IssueKind::WrongRecord,
                Some(&e.id),
                format!("entry names record {}", e.record_id),
            );
        }
        report.signatures_checked += 1;
        let ok = e
            .signed_payload()
            .map(|p| verify_hex(&e.device_key, &p, &e.signature))
            .unwrap_or(false);
        if !ok {
            report.issue(
                IssueKind::SignatureInvalid,
                Some(&e.id),
                "entry signature does not verify".into(),
            );
        }
        check_key(&mut report, &e.id, &e.device_key);
        check_blob(
            src,
            &mut report,
            &e.id,
            "original",
            &e.original.sha256,
            e.original.size,
        )?;
        if let Some(t) = &e.thumbnail {
            check_blob(src, &mut report, &e.id, "thumbnail", &t.sha256, t.size)?;
        }
        if let Some(d) = &e.display {
            check_blob(src, &mut report, &e.id, "display", &d.sha256, d.size)?;
        }
        entries.push(e);
    }

    // Segment chains.
    let mut recordings: BTreeMap<String, Vec<&EvidenceEntry>> = BTreeMap::new();
    for e in &entries {
        if let Some(s) = &e.segment {
            recordings
                .entry(s.recording_id.clone())
                .or_default()
                .push(e);
        }
    }
    for (rec, mut segs) in recordings {
        segs.sort_by_key(|e| e.segment.as_ref().map(|s| s.index));
        let finals = segs
            .iter()
            .filter(|e| e.segment.as_ref().is_some_and(|s| s.last))
            .count();
        let last_is_final = segs
            .last()
            .and_then(|e| e.segment.as_ref())
            .is_some_and(|s| s.last);
        if finals > 1 || (finals == 1 && !last_is_final) {
            report.issue(
                IssueKind::SegmentChainBroken,
                None,
                format!("recording {rec}: a segment marked final is followed by others"),
            );
        } else if finals == 0 {
            match recordings_mode {
                Recordings::MayBeOpen => report.open_recordings.push(rec.clone()),
                Recordings::Final => report.issue(
                    IssueKind::SegmentChainIncomplete,
                    None,
                    format!(
                        "recording {rec}: {} segment(s), none marked final; its tail is missing",
                        segs.len()
                    ),
                ),
            }
        }
        for (pos, e) in segs.iter().enumerate() {
            let Some(s) = &e.segment else { continue };
            let expected_prev = if pos == 0 {
                None
            } else {
                Some(segs[pos - 1].original.sha256.as_str())
            };
            if s.index as usize != pos {
                report.issue(
                    IssueKind::SegmentChainBroken,
                    Some(&e.id),
                    format!(
                        "recording {rec}: segment {} found at position {pos}",
                        s.index
                    ),
                );
            } else if s.prev_sha256.as_deref() != expected_prev {
                report.issue(
                    IssueKind::SegmentChainBroken,
                    Some(&e.id),
                    format!(
                        "recording {rec}: segment {} does not name its predecessor",
                        s.index
                    ),
                );
            }
        }
    }

    // Redactions.
    let evidence_ids: HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    for raw in json["redactions"].as_array().into_iter().flatten() {
        let r: Redaction = match serde_json::from_value(raw.clone()) {
            Ok(r) => r,
            Err(_) => {
                report.issue(
                    IssueKind::MalformedEntry,
                    raw["id"].as_str(),
                    "redaction does not parse".into(),
                );
                continue;
            }
        };
        report.signatures_checked += 1;
        let ok = r
            .signed_payload()
            .map(|p| verify_hex(&r.device_key, &p, &r.signature))
            .unwrap_or(false);
        if !ok || r.record_id != record_id || !evidence_ids.contains(r.evidence_id.as_str()) {
            report.issue(
                IssueKind::RedactionInvalid,
                Some(&r.id),
                "redaction signature, record or evidence does not hold".into(),
            );
        }
        check_key(&mut report, &r.id, &r.device_key);
    }

    // Decision and lifecycle signatures.
    let case = serde_json::from_value::<crate::model::CaseRecord>(json.clone()).ok();
    if let (Some(case), Some(d)) = (&case, case.as_ref().and_then(|c| c.decision.clone())) {
        if let Some(r) = &d.review {
            match check_review(record_id, &d, r) {
                Some(true) => {
                    report.signatures_checked += 1;
                    if let Some(k) = &r.signed_by_key {
                        check_key(&mut report, &d.id, k);
                    }
                }
                _ => report.issue(
                    IssueKind::ReviewSignatureInvalid,
                    Some(&d.id),
                    "the legal review is unsigned, or its signature or the decision it names does not hold"
                        .into(),
                ),
            }
        }
        match check_decision(case, &d) {
            None => report.unsigned_records += 1,
            Some(ok) => {
                report.signatures_checked += 1;
                if !ok {
                    report.issue(
                        IssueKind::DecisionSignatureInvalid,
                        Some(&d.id),
                        "decision signature does not verify".into(),
                    );
                }
                if let Some(k) = &d.signed_by_device {
                    check_key(&mut report, &d.id, k);
                }
            }
        }
    }
    for (i, raw) in json["lifecycle"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Ok(ev) = serde_json::from_value::<LifecycleEvent>(raw.clone()) else {
            report.issue(
                IssueKind::MalformedEntry,
                None,
                format!("lifecycle event {i} does not parse"),
            );
            continue;
        };
        let label = format!("lifecycle-{i}");
        match check_lifecycle(record_id, &ev) {
            None => report.unsigned_records += 1,
            Some(ok) => {
                report.signatures_checked += 1;
                let heads_known = ev.signed_heads.iter().flatten().all(|h| {
                    h.parse::<ChangeHash>()
                        .ok()
                        .and_then(|h| doc.get_change_by_hash(&h))
                        .is_some()
                });
                if !ok || !heads_known {
                    report.issue(
                        IssueKind::LifecycleSignatureInvalid,
                        Some(&label),
                        format!("lifecycle event {i} signature or signed heads do not hold"),
                    );
                }
                if let Some(k) = &ev.signed_by_device {
                    check_key(&mut report, &label, k);
                }
            }
        }
    }

    // Nothing that ever existed may have disappeared.
    let changes = doc.get_changes(&[]);
    report.changes = changes.len();
    let now_ev: HashSet<String> = ids_at_current(&json, "evidence");
    let now_red: HashSet<String> = ids_at_current(&json, "redactions");
    let mut gone_ev = BTreeSet::new();
    let mut gone_red = BTreeSet::new();
    for c in &changes {
        let at = [c.hash()];
        gone_ev.extend(
            ids_at(doc, "evidence", &at)
                .into_iter()
                .filter(|id| !now_ev.contains(id)),
        );
        gone_red.extend(
            ids_at(doc, "redactions", &at)
                .into_iter()
                .filter(|id| !now_red.contains(id)),
        );
    }
    for id in gone_ev {
        report.issue(
            IssueKind::EvidenceRemoved,
            Some(&id),
            "entry present in the history is missing now".into(),
        );
    }
    for id in gone_red {
        report.issue(
            IssueKind::RedactionRemoved,
            Some(&id),
            "redaction present in the history is missing now".into(),
        );
    }
    report.device_keys = keys.into_iter().collect();
    Ok(report)
}

fn ids_at_current(json: &serde_json::Value, list: &str) -> HashSet<String> {
    json[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

/// The best known capture time of an entry on the server's clock: when the server received
/// it if recorded, else the device time corrected by the clock offset the entry carries.
pub fn capture_time_server_ms(e: &EvidenceEntry) -> i64 {
    e.server_received_at_ms.unwrap_or_else(|| {
        e.captured
            .device_time_ms
            .saturating_add(e.captured.clock_offset_ms.unwrap_or(0))
    })
}

/// Reports entries signed by a revoked key and captured after its revocation. Entries
/// captured before stay valid.
fn check_revocations(
    doc: &AutoCommit,
    revoked: &std::collections::HashMap<String, i64>,
    report: &mut VerificationReport,
) -> Result<()> {
    if revoked.is_empty() {
        return Ok(());
    }
    let json = crate::doc::read_json(doc)?;
    for raw in json["evidence"].as_array().into_iter().flatten() {
        let Ok(e) = serde_json::from_value::<EvidenceEntry>(raw.clone()) else {
            continue;
        };
        let Some(&at) = revoked.get(&e.device_key.to_ascii_lowercase()) else {
            continue;
        };
        let captured = capture_time_server_ms(&e);
        if captured > at {
            report.issue(
                IssueKind::SignedAfterRevocation,
                Some(&e.id),
                format!(
                    "signed by key {} revoked at {at}, captured at {captured}",
                    e.device_key
                ),
            );
        }
    }
    Ok(())
}

/// Blobs in this store's folder.
struct StoreBlobs<'a>(&'a super::BlobStore);

impl BlobSource for StoreBlobs<'_> {
    fn rehash(&mut self, sha_hex: &str) -> Result<Option<([u8; 32], u64)>> {
        self.0.rehash(sha_hex)
    }
}

/// A blob source that notes every file asked for and whether it was there.
struct Recorded<'a> {
    inner: StoreBlobs<'a>,
    seen: Vec<(String, bool)>,
}

impl BlobSource for Recorded<'_> {
    fn rehash(&mut self, sha_hex: &str) -> Result<Option<([u8; 32], u64)>> {
        let found = self.inner.rehash(sha_hex)?;
        let sha = sha_hex.to_ascii_lowercase();
        if !self.seen.iter().any(|(s, _)| *s == sha) {
            self.seen.push((sha, found.is_some()));
        }
        Ok(found)
    }
}

impl FieldStore {
    /// Verifies a case (or demonstration) and all its evidence against this store: history,
    /// signatures (against the trusted device keys), files, segment chains, removals.
    pub fn verify_case(&self, record_id: &str) -> Result<VerificationReport> {
        self.verify_against(record_id, &mut StoreBlobs(&self.evidence.blobs))
    }

    /// Every file [`FieldStore::verify_case`] checks for `record_id`, in the order it checks
    /// them, each once, with whether this phone holds it: the list a download of a record's
    /// evidence works through, taken from verification itself so the two cannot differ.
    pub fn verified_blobs(&self, record_id: &str) -> Result<Vec<(String, bool)>> {
        let mut src = Recorded {
            inner: StoreBlobs(&self.evidence.blobs),
            seen: Vec::new(),
        };
        self.verify_against(record_id, &mut src)?;
        Ok(src.seen)
    }

    fn verify_against(
        &self,
        record_id: &str,
        blobs: &mut dyn BlobSource,
    ) -> Result<VerificationReport> {
        let trusted: HashSet<String> = self.trusted_device_keys()?.into_iter().collect();
        let loaded = self.read(|c| {
            let stored_heads: Option<Vec<u8>> = {
                use rusqlite::OptionalExtension;
                c.query_row("SELECT heads FROM docs WHERE id = ?1", [record_id], |r| {
                    r.get(0)
                })
                .optional()?
            };
            let Some(stored_heads) = stored_heads else {
                return Err(CoreError::not_found("record", record_id));
            };
            match crate::store::load_doc(c, record_id) {
                Ok(Some(d)) => Ok(Ok((d, stored_heads))),
                Ok(None) => Err(CoreError::not_found("record", record_id)),
                Err(e) => Ok(Err(e)),
            }
        })?;
        let (mut doc, stored_heads) = match loaded {
            Ok(x) => x,
            Err(e) => {
                let mut report = VerificationReport {
                    record_id: record_id.into(),
                    ..Default::default()
                };
                report.issue(
                    IssueKind::HistoryInvalid,
                    None,
                    format!("document does not load: {e}"),
                );
                return Ok(report);
            }
        };
        // A closed case can gain no segment: a recording without its final segment there
        // is incomplete. On an open record it may still be in progress.
        let closed = crate::doc::read_json(&doc)
            .ok()
            .and_then(|j| {
                j["lifecycle"]
                    .as_array()
                    .and_then(|l| l.last())
                    .and_then(|e| e["event"].as_str())
                    .map(|e| e == "closed")
            })
            .unwrap_or(false);
        let mode = if closed {
            Recordings::Final
        } else {
            Recordings::MayBeOpen
        };
        let mut report = verify_document(record_id, &mut doc, blobs, Some(&trusted), mode)?;
        check_revocations(&doc, &self.revoked_device_keys()?, &mut report)?;
        let heads: Vec<u8> = doc.get_heads().iter().flat_map(|h| h.0).collect();
        let as_set = |b: &[u8]| -> BTreeSet<Vec<u8>> { b.chunks(32).map(<[u8]>::to_vec).collect() };
        if as_set(&heads) != as_set(&stored_heads) {
            report.issue(
                IssueKind::HistoryMismatch,
                None,
                "document heads differ from the heads the store committed".into(),
            );
        }
        Ok(report)
    }
}
