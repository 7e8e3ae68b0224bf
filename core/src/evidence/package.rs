//! Case-file export (卷宗导出) and its offline verifier.
//!
//! A package is a zip holding:
//! - `manifest.json`: the record as JSON, its history (heads and every change's hash, deps,
//!   actor, seq, time, message), the evidence entries with their hashes, signatures and device
//!   keys, the redactions, the devices, and every file with its SHA-256;
//! - `manifest.sig`: the exporting device's ed25519 signature over
//!   `"fieldcase/package/v1\n" || SHA-256(manifest.json)`;
//! - `history.automerge`: the full document history (`save()` bytes), from which the record is
//!   rebuilt and every change hash recomputed;
//! - `originals/<sha256>.<ext>` and `derived/<sha256>.jpg` (thumbnails, display copies);
//! - `SHA256SUMS`: `sha256sum -c` format, for checking by hand.
//!
//! [`verify_package`] needs no database: it rebuilds everything from the zip. The format is in
//! docs/evidence.md, with a Python verifier in `scripts/verify_package.py`.

use super::blobs::{hash_reader, parse_sha256};
use super::entry::{EvidenceEntry, PACKAGE_DOMAIN};
use super::signer::verify_hex;
use super::verify::{BlobSource, IssueKind, VerificationReport, verify_document};
use crate::{CoreError, FieldStore, Result, doc, ids};
use automerge::AutoCommit;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// Format name in the manifest.
pub const PACKAGE_FORMAT: &str = "fieldcase-case-package";
/// Format version in the manifest.
pub const PACKAGE_VERSION: u32 = 1;
/// Largest manifest or history accepted by the verifier.
const MAX_META_BYTES: u64 = 256 * 1024 * 1024;

/// One change of the history as listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeInfo {
    /// Change hash (hex).
    pub hash: String,
    /// Parent change hashes.
    pub deps: Vec<String>,
    /// Actor id (hex).
    pub actor: String,
    /// Sequence number of the change for its actor.
    pub seq: u64,
    /// Commit time as recorded (seconds, device clock; advisory).
    pub time: i64,
    /// Commit message.
    pub message: Option<String>,
}

/// The history section of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryInfo {
    /// File in the package.
    pub file: String,
    /// SHA-256 of that file.
    pub sha256: String,
    /// Heads (hex, sorted).
    pub heads: Vec<String>,
    /// Every change.
    pub changes: Vec<ChangeInfo>,
}

/// A file in the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Path in the zip.
    pub path: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// `original`, `thumbnail` or `display`.
    pub role: String,
    /// The entry it belongs to (the first, when content is shared).
    pub evidence_id: String,
}

/// A device that signed something in the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Public key (hex).
    pub public_key: String,
    /// Device ids the entries give for it.
    pub device_ids: Vec<String>,
}

/// Who exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedBy {
    /// Device id.
    pub device_id: String,
    /// Public key (hex) that signed `manifest.sig`.
    pub public_key: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`PACKAGE_FORMAT`].
    pub format: String,
    /// [`PACKAGE_VERSION`].
    pub format_version: u32,
    /// `case` or `demonstration`.
    pub record_kind: String,
    /// The record.
    pub record_id: String,
    /// When exported (device clock).
    pub exported_at_ms: i64,
    /// Who exported.
    pub exported_by: ExportedBy,
    /// The history.
    pub history: HistoryInfo,
    /// The record as JSON (as rebuilt from the history).
    pub record: serde_json::Value,
    /// The evidence entries (the record's `evidence` list).
    pub evidence: Vec<serde_json::Value>,
    /// The redactions.
    pub redactions: Vec<serde_json::Value>,
    /// Devices that signed.
    pub devices: Vec<DeviceInfo>,
    /// Every evidence file.
    pub files: Vec<FileInfo>,
}

/// `manifest.sig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSignature {
    /// Always `ed25519`.
    pub algorithm: String,
    /// Public key (hex).
    pub public_key: String,
    /// Signature (hex) over `"fieldcase/package/v1\n" || SHA-256(manifest.json)`.
    pub signature: String,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSummary {
    /// The zip.
    pub path: PathBuf,
    /// The record.
    pub record_id: String,
    /// Evidence files included.
    pub files: usize,
    /// Total bytes of evidence files.
    pub bytes: u64,
    /// SHA-256 of `manifest.json`.
    pub manifest_sha256: String,
}

fn pkg_err(reason: impl Into<String>) -> CoreError {
    CoreError::Package {
        reason: reason.into(),
    }
}

fn ext_of(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "audio/wav" => "wav",
        "audio/mp4" => "m4a",
        "audio/aac" => "aac",
        "audio/amr" | "audio/amr-wb" => "amr",
        _ => "bin",
    }
}

/// The bytes `manifest.sig` signs.
pub fn manifest_signed_bytes(manifest_json: &[u8]) -> Vec<u8> {
    let mut v = PACKAGE_DOMAIN.to_vec();
    v.extend_from_slice(&Sha256::digest(manifest_json));
    v
}

impl FieldStore {
    /// Exports a record with its history, evidence files and signatures as a zip at `out`
    /// (written to a temp file, fsynced and renamed, so `out` is complete or absent).
    pub fn export_case_package(
        &self,
        record_id: &str,
        out: impl AsRef<Path>,
    ) -> Result<PackageSummary> {
        let out = out.as_ref();
        let mut d = self.load(record_id)?;
        let json = doc::read_json(&d)?;
        let history = d.save();
        let mut heads: Vec<String> = d.get_heads().iter().map(|h| h.to_string()).collect();
        heads.sort();
        let changes = d
            .get_changes(&[])
            .iter()
            .map(|c| ChangeInfo {
                hash: c.hash().to_string(),
                deps: c.deps().iter().map(|h| h.to_string()).collect(),
                actor: c.actor_id().to_hex_string(),
                seq: c.seq(),
                time: c.timestamp(),
                message: c.message().map(str::to_string),
            })
            .collect();
        let evidence: Vec<serde_json::Value> =
            json["evidence"].as_array().cloned().unwrap_or_default();
        let redactions: Vec<serde_json::Value> =
            json["redactions"].as_array().cloned().unwrap_or_default();

        let mut files: Vec<FileInfo> = Vec::new();
        let mut seen = HashSet::new();
        let mut devices: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for raw in &evidence {
            let Ok(e) = serde_json::from_value::<EvidenceEntry>(raw.clone()) else {
                continue;
            };
            let ids = devices.entry(e.device_key.clone()).or_default();
            if !ids.contains(&e.device_id) {
                ids.push(e.device_id.clone());
            }
            let parts = [
                Some(("original", &e.original)),
                e.thumbnail.as_ref().map(|b| ("thumbnail", b)),
                e.display.as_ref().map(|b| ("display", b)),
            ];
            for (role, b) in parts.into_iter().flatten() {
                if !seen.insert(b.sha256.clone()) {
                    continue;
                }
                let dir = if role == "original" {
                    "originals"
                } else {
                    "derived"
                };
                files.push(FileInfo {
                    path: format!("{dir}/{}.{}", b.sha256, ext_of(&b.mime)),
                    sha256: b.sha256.clone(),
                    size: b.size,
                    role: role.into(),
                    evidence_id: e.id.clone(),
                });
            }
        }
        let signer = self.signer()?;
        let manifest = Manifest {
            format: PACKAGE_FORMAT.into(),
            format_version: PACKAGE_VERSION,
            record_kind: json["kind"].as_str().unwrap_or("case").into(),
            record_id: record_id.into(),
            exported_at_ms: ids::now_ms(),
            exported_by: ExportedBy {
                device_id: self.device_id(),
                public_key: hex::encode(signer.public_key()),
            },
            history: HistoryInfo {
                file: "history.automerge".into(),
                sha256: hex::encode(Sha256::digest(&history)),
                heads,
                changes,
            },
            record: json.clone(),
            evidence,
            redactions,
            devices: devices
                .into_iter()
                .map(|(public_key, device_ids)| DeviceInfo {
                    public_key,
                    device_ids,
                })
                .collect(),
            files,
        };
        let manifest_bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|e| pkg_err(format!("manifest: {e}")))?;
        let sig = ManifestSignature {
            algorithm: "ed25519".into(),
            public_key: hex::encode(signer.public_key()),
            signature: hex::encode(signer.sign(&manifest_signed_bytes(&manifest_bytes))?),
        };
        let sig_bytes =
            serde_json::to_vec_pretty(&sig).map_err(|e| pkg_err(format!("signature: {e}")))?;

        let tmp = out.with_extension("zip.part");
        let result = self.write_zip(&tmp, &manifest, &manifest_bytes, &sig_bytes, &history);
        let bytes = match result {
            Ok(b) => b,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, out).map_err(|e| CoreError::io(out, e))?;
        Ok(PackageSummary {
            path: out.to_path_buf(),
            record_id: record_id.into(),
            files: manifest.files.len(),
            bytes,
            manifest_sha256: hex::encode(Sha256::digest(&manifest_bytes)),
        })
    }

    fn write_zip(
        &self,
        tmp: &Path,
        manifest: &Manifest,
        manifest_bytes: &[u8],
        sig_bytes: &[u8],
        history: &[u8],
    ) -> Result<u64> {
        let io = |e: std::io::Error| CoreError::io(tmp, e);
        let zerr = |e: zip::result::ZipError| match e {
            zip::result::ZipError::Io(e) => CoreError::io(tmp, e),
            e => pkg_err(e.to_string()),
        };
        let f = File::create(tmp).map_err(io)?;
        let mut zip = ZipWriter::new(std::io::BufWriter::new(f));
        let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        let mut sums = String::new();
        let mut add_small = |zip: &mut ZipWriter<_>, name: &str, bytes: &[u8]| -> Result<()> {
            zip.start_file(name, deflated).map_err(zerr)?;
            zip.write_all(bytes).map_err(io)?;
            sums.push_str(&format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))));
            Ok(())
        };
        add_small(&mut zip, "manifest.json", manifest_bytes)?;
        add_small(&mut zip, "manifest.sig", sig_bytes)?;
        add_small(&mut zip, "history.automerge", history)?;
        let mut total = 0u64;
        for fi in &manifest.files {
            let src = self.evidence.blobs.path_of(&fi.sha256);
            let mut f = self.evidence.blobs.open_path(&src)?;
            // Already-compressed media are stored as is; WAV is deflated.
            let method = if fi.path.ends_with(".wav") {
                CompressionMethod::Deflated
            } else {
                CompressionMethod::Stored
            };
            let opts = SimpleFileOptions::default()
                .compression_method(method)
                .large_file(fi.size > u64::from(u32::MAX));
            zip.start_file(fi.path.as_str(), opts).map_err(zerr)?;
            total += std::io::copy(&mut f, &mut zip).map_err(io)?;
            sums.push_str(&format!("{}  {}\n", fi.sha256, fi.path));
        }
        zip.start_file("SHA256SUMS", deflated).map_err(zerr)?;
        zip.write_all(sums.as_bytes()).map_err(io)?;
        let w = zip.finish().map_err(zerr)?;
        let f = w.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        Ok(total)
    }
}

/// Evidence files inside a package, found by the hash in their name.
struct ZipBlobs<'a, R: Read + Seek> {
    zip: &'a mut ZipArchive<R>,
    names: HashMap<String, String>,
}

impl<R: Read + Seek> BlobSource for ZipBlobs<'_, R> {
    fn rehash(&mut self, sha_hex: &str) -> Result<Option<([u8; 32], u64)>> {
        let Some(name) = self.names.get(sha_hex) else {
            return Ok(None);
        };
        let mut f = match self.zip.by_name(name) {
            Ok(f) => f,
            Err(_) => return Ok(None),
        };
        match hash_reader(&mut f) {
            Ok(h) => Ok(Some(h)),
            // A corrupt member (bad CRC, truncated) cannot match any hash.
            Err(_) => Ok(Some(([0u8; 32], 0))),
        }
    }
}

fn read_member<R: Read + Seek>(zip: &mut ZipArchive<R>, name: &str) -> Option<Vec<u8>> {
    let f = zip.by_name(name).ok()?;
    let mut out = Vec::new();
    f.take(MAX_META_BYTES).read_to_end(&mut out).ok()?;
    Some(out)
}

/// Verifies a package offline; device keys are listed but not checked against a trust list.
pub fn verify_package(path: impl AsRef<Path>) -> Result<VerificationReport> {
    verify_inner(path.as_ref(), None)
}

/// Verifies a package offline and checks every signing key (and the exporter's) against
/// `trusted` (the bureau's register of enrolled device keys, hex).
pub fn verify_package_with_keys(
    path: impl AsRef<Path>,
    trusted: &[String],
) -> Result<VerificationReport> {
    let set: HashSet<String> = trusted.iter().cloned().collect();
    verify_inner(path.as_ref(), Some(&set))
}

fn verify_inner(path: &Path, trusted: Option<&HashSet<String>>) -> Result<VerificationReport> {
    let f = File::open(path).map_err(|e| CoreError::io(path, e))?;
    let mut zip = ZipArchive::new(BufReader::new(f)).map_err(|e| pkg_err(e.to_string()))?;
    let manifest_bytes =
        read_member(&mut zip, "manifest.json").ok_or_else(|| pkg_err("no manifest.json"))?;
    let mut pre = VerificationReport::default();
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            pre.issue(
                IssueKind::ManifestInvalid,
                None,
                format!("manifest does not parse: {e}"),
            );
            return Ok(pre);
        }
    };
    if manifest.format != PACKAGE_FORMAT || manifest.format_version != PACKAGE_VERSION {
        return Err(pkg_err("unknown package format or version"));
    }
    pre.record_id = manifest.record_id.clone();
    // Manifest signature.
    pre.signatures_checked += 1;
    let sig_ok = read_member(&mut zip, "manifest.sig")
        .and_then(|b| serde_json::from_slice::<ManifestSignature>(&b).ok())
        .is_some_and(|s| {
            s.algorithm == "ed25519"
                && s.public_key == manifest.exported_by.public_key
                && verify_hex(
                    &s.public_key,
                    &manifest_signed_bytes(&manifest_bytes),
                    &s.signature,
                )
        });
    if !sig_ok {
        pre.issue(
            IssueKind::ManifestSignatureInvalid,
            None,
            "manifest.sig does not verify for the exporting device".into(),
        );
    }
    if let Some(t) = trusted
        && !t.contains(&manifest.exported_by.public_key)
    {
        pre.issue(
            IssueKind::UnknownDeviceKey,
            None,
            "package exported by an untrusted key".into(),
        );
    }
    // History.
    let history = read_member(&mut zip, &manifest.history.file);
    let mut doc = match history.as_deref().map(AutoCommit::load) {
        Some(Ok(d)) => d,
        _ => {
            pre.issue(
                IssueKind::HistoryInvalid,
                None,
                "history.automerge is missing or does not load".into(),
            );
            return Ok(pre);
        }
    };
    if let Some(h) = &history
        && hex::encode(Sha256::digest(h)) != manifest.history.sha256
    {
        pre.issue(
            IssueKind::FileMismatch,
            None,
            "history.automerge does not match the manifest hash".into(),
        );
    }
    let mut names = HashMap::new();
    for name in zip.file_names().flatten() {
        if let Some(rest) = name
            .strip_prefix("originals/")
            .or_else(|| name.strip_prefix("derived/"))
        {
            let stem = rest.split('.').next().unwrap_or("");
            if parse_sha256(stem).is_some() {
                names.insert(stem.to_string(), name.to_string());
            }
        }
    }
    let mut report = {
        let mut src = ZipBlobs {
            zip: &mut zip,
            names,
        };
        verify_document(
            &manifest.record_id,
            &mut doc,
            &mut src,
            trusted,
            super::verify::Recordings::Final,
        )?
    };
    report.signatures_checked += pre.signatures_checked;
    let mut issues = pre.issues;
    issues.append(&mut report.issues);
    report.issues = issues;

    // The manifest must say what the history says.
    let rebuilt = doc::read_json(&doc)?;
    if report.heads != manifest.history.heads {
        report.issue(
            IssueKind::HistoryMismatch,
            None,
            "manifest heads differ from the history".into(),
        );
    }
    let listed: Vec<String> = manifest
        .history
        .changes
        .iter()
        .map(|c| c.hash.clone())
        .collect();
    let actual: Vec<String> = doc
        .get_changes(&[])
        .iter()
        .map(|c| c.hash().to_string())
        .collect();
    if listed != actual {
        report.issue(
            IssueKind::HistoryMismatch,
            None,
            "manifest change list differs from the history".into(),
        );
    }
    if rebuilt != manifest.record
        || Some(&manifest.evidence) != rebuilt["evidence"].as_array()
        || rebuilt["redactions"]
            .as_array()
            .map_or(!manifest.redactions.is_empty(), |r| {
                *r != manifest.redactions
            })
    {
        report.issue(
            IssueKind::HistoryMismatch,
            None,
            "manifest record or evidence differs from the history".into(),
        );
    }
    // Listed files.
    for fi in &manifest.files {
        let ok = zip
            .by_name(&fi.path)
            .ok()
            .and_then(|mut f| hash_reader(&mut f).ok())
            .is_some_and(|(h, n)| hex::encode(h) == fi.sha256 && n == fi.size);
        if !ok {
            report.issue(
                IssueKind::FileMismatch,
                Some(&fi.evidence_id),
                format!("{} does not match the manifest", fi.path),
            );
        }
    }
    Ok(report)
}
