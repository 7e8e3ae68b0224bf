//! Evidence across the FFI: what the app passes when it hands over a captured file, what it
//! reads back, and the verification report, each converted from core's types.

use crate::inputs::Place;
use crate::{FieldcaseError, FieldcaseStore};
use fieldcase_core::evidence as ev;
use fieldcase_core::model;

/// Who captured a file, when and where, as the app knows it at capture time.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaptureInput {
    /// Officer (or volunteer) number.
    pub officer: String,
    /// Device wall clock at capture, unix ms.
    pub device_time_ms: i64,
    /// Monotonic clock at capture in ms: Android `SystemClock.elapsedRealtime()`, iOS
    /// `clock_gettime(CLOCK_MONOTONIC_RAW)`.
    pub monotonic_ms: i64,
    /// The phone's location fix, used when the file carries no GPS tags.
    #[uniffi(default = None)]
    pub place: Option<Place>,
    /// Free note.
    #[uniffi(default = None)]
    pub note: Option<String>,
}

impl From<CaptureInput> for ev::CaptureInfo {
    fn from(c: CaptureInput) -> Self {
        ev::CaptureInfo {
            officer: c.officer,
            device_time_ms: c.device_time_ms,
            monotonic_ms: c.monotonic_ms,
            place: c.place.map(model::Place::from),
            note: c.note,
        }
    }
}

/// Position of one audio file within a long recording.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SegmentInput {
    /// Id shared by every segment of the recording (make one when recording starts).
    pub recording_id: String,
    /// 0-based; each segment must follow the last one stored.
    pub index: u32,
    /// This segment ends the recording; until one does, verification reports the recording
    /// as incomplete.
    #[uniffi(default = false)]
    pub last: bool,
}

impl From<SegmentInput> for ev::SegmentInfo {
    fn from(s: SegmentInput) -> Self {
        ev::SegmentInfo {
            recording_id: s.recording_id,
            index: s.index,
            last: s.last,
        }
    }
}

/// What was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum EvidenceKind {
    /// A photo (JPEG or PNG).
    Photo,
    /// An audio clip or one segment of a long recording.
    Audio,
    /// A signature image from a signing pad.
    Signature,
}

impl From<ev::EvidenceKind> for EvidenceKind {
    fn from(k: ev::EvidenceKind) -> Self {
        match k {
            ev::EvidenceKind::Photo => EvidenceKind::Photo,
            ev::EvidenceKind::Audio => EvidenceKind::Audio,
            ev::EvidenceKind::Signature => EvidenceKind::Signature,
        }
    }
}

/// One evidence entry of a case or demonstration.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EvidenceView {
    /// Entry id; cite it in actions (e.g. a pledge's signature).
    pub id: String,
    /// Photo, audio or signature.
    pub kind: EvidenceKind,
    /// The case or demonstration.
    pub record_id: String,
    /// SHA-256 (hex) of the original file.
    pub sha256: String,
    /// Size of the original in bytes.
    pub size: u64,
    /// MIME type of the original.
    pub mime: String,
    /// SHA-256 of the thumbnail (images); read it with `read_evidence_file`.
    pub thumbnail_sha256: Option<String>,
    /// SHA-256 of the watermarked display copy (images).
    pub display_sha256: Option<String>,
    /// Pixel size of the original (images).
    pub width: Option<u32>,
    /// Pixel height of the original (images).
    pub height: Option<u32>,
    /// Duration in ms (audio).
    pub duration_ms: Option<i64>,
    /// Device wall clock at capture.
    pub device_time_ms: i64,
    /// Server time minus device time at the last sync, if known.
    pub clock_offset_ms: Option<i64>,
    /// The device clock was off by more than the threshold: do not trust `device_time_ms`.
    pub clock_skew: bool,
    /// Where, if known.
    pub lat: Option<f64>,
    /// Where, if known.
    pub lon: Option<f64>,
    /// `exif` or `device`.
    pub place_source: Option<String>,
    /// Who captured it.
    pub officer: String,
    /// Device that captured and signed it.
    pub device_id: String,
    /// Recording id, for a segment of a long recording.
    pub recording_id: Option<String>,
    /// Segment index, for a segment of a long recording.
    pub segment_index: Option<u32>,
    /// Free note.
    pub note: Option<String>,
    /// When the server received it (server clock), once synced.
    pub server_received_at_ms: Option<i64>,
}

impl From<ev::EvidenceEntry> for EvidenceView {
    fn from(e: ev::EvidenceEntry) -> Self {
        EvidenceView {
            kind: e.kind.into(),
            sha256: e.original.sha256,
            size: e.original.size,
            mime: e.original.mime,
            thumbnail_sha256: e.thumbnail.map(|b| b.sha256),
            display_sha256: e.display.map(|b| b.sha256),
            width: e.media.width,
            height: e.media.height,
            duration_ms: e.media.duration_ms,
            device_time_ms: e.captured.device_time_ms,
            clock_offset_ms: e.captured.clock_offset_ms,
            clock_skew: e.captured.clock_skew,
            lat: e.place.as_ref().map(|p| p.lat),
            lon: e.place.as_ref().map(|p| p.lon),
            place_source: e.place.map(|p| p.source),
            recording_id: e.segment.as_ref().map(|s| s.recording_id.clone()),
            segment_index: e.segment.map(|s| s.index),
            id: e.id,
            record_id: e.record_id,
            officer: e.officer,
            device_id: e.device_id,
            note: e.note,
            server_received_at_ms: e.server_received_at_ms,
        }
    }
}

/// One problem a verification found.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerificationIssue {
    /// What kind of problem (`blob_hash_mismatch`, `signature_invalid`, ...; see
    /// `docs/evidence.md`).
    pub kind: String,
    /// The evidence entry concerned, if any.
    pub evidence_id: Option<String>,
    /// Ids, field names and hashes only.
    pub detail: String,
}

/// The outcome of verifying a case's evidence and history.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerificationView {
    /// The record verified.
    pub record_id: String,
    /// No issue found.
    pub clean: bool,
    /// Changes in the history.
    pub changes: u64,
    /// Evidence entries checked.
    pub evidence_checked: u64,
    /// Signatures checked.
    pub signatures_checked: u64,
    /// Files hashed.
    pub blobs_checked: u64,
    /// Everything wrong; empty when clean.
    pub issues: Vec<VerificationIssue>,
}

impl From<ev::VerificationReport> for VerificationView {
    fn from(r: ev::VerificationReport) -> Self {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        VerificationView {
            clean: r.is_clean(),
            changes: count(r.changes),
            evidence_checked: count(r.evidence_checked),
            signatures_checked: count(r.signatures_checked),
            blobs_checked: count(r.blobs_checked),
            issues: r
                .issues
                .into_iter()
                .map(|i| VerificationIssue {
                    kind: serde_json::to_value(i.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| format!("{:?}", i.kind)),
                    evidence_id: i.evidence_id,
                    detail: i.detail,
                })
                .collect(),
            record_id: r.record_id,
        }
    }
}

/// The ingest, export and verification work each method shares with its `*_async` form.
mod work {
    use super::{CaptureInput, EvidenceView, SegmentInput, VerificationView};
    use crate::FieldcaseError;
    use fieldcase_core::FieldStore;

    pub(super) fn add_photo(
        s: &FieldStore,
        case_id: &str,
        path: String,
        capture: CaptureInput,
    ) -> Result<EvidenceView, FieldcaseError> {
        Ok(s.add_photo(case_id, path, capture.into())?.into())
    }

    pub(super) fn add_signature_image(
        s: &FieldStore,
        case_id: &str,
        path: String,
        capture: CaptureInput,
    ) -> Result<EvidenceView, FieldcaseError> {
        Ok(s.add_signature_image(case_id, path, capture.into())?.into())
    }

    pub(super) fn add_audio(
        s: &FieldStore,
        case_id: &str,
        path: String,
        capture: CaptureInput,
        segment: Option<SegmentInput>,
    ) -> Result<EvidenceView, FieldcaseError> {
        Ok(
            s.add_audio(case_id, path, capture.into(), segment.map(Into::into))?
                .into(),
        )
    }

    pub(super) fn add_demonstration_photo(
        s: &FieldStore,
        demonstration_id: &str,
        path: String,
        capture: CaptureInput,
    ) -> Result<EvidenceView, FieldcaseError> {
        Ok(
            s.add_demonstration_photo(demonstration_id, path, capture.into())?
                .into(),
        )
    }

    pub(super) fn export_case_package(
        s: &FieldStore,
        record_id: &str,
        out_path: String,
    ) -> Result<String, FieldcaseError> {
        Ok(s.export_case_package(record_id, out_path)?.manifest_sha256)
    }

    pub(super) fn read_evidence_file(
        s: &FieldStore,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>, FieldcaseError> {
        let mut out = Vec::new();
        Ok(s.read_blob(sha256, &mut out)?.map(|_| out))
    }

    pub(super) fn export_evidence_file(
        s: &FieldStore,
        sha256: &str,
        out_path: &str,
    ) -> Result<bool, FieldcaseError> {
        Ok(s.export_blob(sha256, std::path::Path::new(out_path))?)
    }

    pub(super) fn verify_case(
        s: &FieldStore,
        record_id: &str,
    ) -> Result<VerificationView, FieldcaseError> {
        Ok(s.verify_case(record_id)?.into())
    }
}

#[uniffi::export]
impl FieldcaseStore {
    /// Adds a photo (JPEG or PNG) the camera saved at `path` to a case. The file is read once
    /// and never changed or removed; the app may delete its own copy afterwards. Hashing,
    /// the thumbnail and the watermarked copy take a noticeable time for a large photo:
    /// `add_photo_async` awaits the same work off the caller's thread.
    pub fn add_photo(
        &self,
        case_id: String,
        path: String,
        capture: CaptureInput,
    ) -> Result<EvidenceView, FieldcaseError> {
        self.with(|s| work::add_photo(s, &case_id, path, capture))
    }

    /// `add_photo`, awaited (Kotlin `suspend`, Swift `async`, a Python coroutine) while it
    /// runs on the library's own threads. Cancelled, the photo is still added (see
    /// `docs/ffi.md`).
    pub async fn add_photo_async(
        &self,
        case_id: String,
        path: String,
        capture: CaptureInput,
    ) -> Result<EvidenceView, FieldcaseError> {
        self.in_background(move |s| work::add_photo(s, &case_id, path, capture))
            .await
    }

    /// Adds a signature image (PNG or JPEG from the signing pad) to a case.
    pub fn add_signature_image(
        &self,
        case_id: String,
        path: String,
        capture: CaptureInput,
    ) -> Result<EvidenceView, FieldcaseError> {
        self.with(|s| work::add_signature_image(s, &case_id, path, capture))
    }

    /// `add_signature_image`, awaited while it runs on the library's own threads.
    pub async fn add_signature_image_async(
        &self,
        case_id: String,
        path: String,
        capture: CaptureInput,
    ) -> Result<EvidenceView, FieldcaseError> {
        self.in_background(move |s| work::add_signature_image(s, &case_id, path, capture))
            .await
    }

    /// Adds an audio clip (WAV, M4A/AAC, AMR), or one segment of a long recording, to a case.
    pub fn add_audio(
        &self,
        case_id: String,
        path: String,
        capture: CaptureInput,
        segment: Option<SegmentInput>,
    ) -> Result<EvidenceView, FieldcaseError> {
        self.with(|s| work::add_audio(s, &case_id, path, capture, segment))
    }

    /// `add_audio`, awaited while it runs on the library's own threads (a long recording's
    /// copy and hash take seconds).
    pub async fn add_audio_async(
        &self,
        case_id: String,
        path: String,
        capture: CaptureInput,
        segment: Option<SegmentInput>,
    ) -> Result<EvidenceView, FieldcaseError> {
        self.in_background(move |s| work::add_audio(s, &case_id, path, capture, segment))
            .await
    }

    /// Adds a photo to a persuasion demonstration.
    pub fn add_demonstration_photo(
        &self,
        demonstration_id: String,
        path: String,
        capture: CaptureInput,
    ) -> Result<EvidenceView, FieldcaseError> {
        self.with(|s| work::add_demonstration_photo(s, &demonstration_id, path, capture))
    }

    /// `add_demonstration_photo`, awaited while it runs on the library's own threads.
    pub async fn add_demonstration_photo_async(
        &self,
        demonstration_id: String,
        path: String,
        capture: CaptureInput,
    ) -> Result<EvidenceView, FieldcaseError> {
        self.in_background(move |s| {
            work::add_demonstration_photo(s, &demonstration_id, path, capture)
        })
        .await
    }

    /// Every evidence entry of a case or demonstration, in order of capture.
    pub fn evidence(&self, record_id: String) -> Result<Vec<EvidenceView>, FieldcaseError> {
        self.with(|s| {
            Ok(s.evidence(&record_id)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Hides an entry from display and disclosure, with a reason; the original is kept and
    /// the redaction is signed and recorded.
    pub fn redact_evidence(
        &self,
        record_id: String,
        evidence_id: String,
        by: String,
        reason: String,
        at_ms: i64,
    ) -> Result<(), FieldcaseError> {
        self.with(|s| {
            s.redact_evidence(&record_id, &evidence_id, &by, &reason, at_ms)?;
            Ok(())
        })
    }

    /// Writes the case file package (zip: manifest, history, originals, thumbnails) to
    /// `out_path`, for a court or an archive; returns the SHA-256 of its manifest. The file
    /// appears complete or not at all.
    pub fn export_case_package(
        &self,
        record_id: String,
        out_path: String,
    ) -> Result<String, FieldcaseError> {
        self.with(|s| work::export_case_package(s, &record_id, out_path))
    }

    /// `export_case_package`, awaited while it runs on the library's own threads (it reads
    /// every original of the case).
    pub async fn export_case_package_async(
        &self,
        record_id: String,
        out_path: String,
    ) -> Result<String, FieldcaseError> {
        self.in_background(move |s| work::export_case_package(s, &record_id, out_path))
            .await
    }

    /// The content of a stored file (original, thumbnail or display copy) by its SHA-256,
    /// for showing it; `None` when this phone does not hold it. Files are sealed on disk in
    /// an encrypted store, so this (or `export_evidence_file`) is the only way to read them;
    /// the content is checked against its hash, and a damaged file is an error, never shown.
    /// Meant for thumbnails and display copies: for a long recording use
    /// `export_evidence_file`, which streams.
    pub fn read_evidence_file(&self, sha256: String) -> Result<Option<Vec<u8>>, FieldcaseError> {
        self.with(|s| work::read_evidence_file(s, &sha256))
    }

    /// `read_evidence_file`, awaited while it runs on the library's own threads (an original
    /// photo is megabytes to unseal and hash).
    pub async fn read_evidence_file_async(
        &self,
        sha256: String,
    ) -> Result<Option<Vec<u8>>, FieldcaseError> {
        self.in_background(move |s| work::read_evidence_file(s, &sha256))
            .await
    }

    /// Writes the content of a stored file to `out_path` (for a player or a share sheet),
    /// checked against its hash; the file appears complete or not at all. Returns false when
    /// this phone does not hold it. The copy is plain: put it in the app's cache and delete
    /// it when done.
    pub fn export_evidence_file(
        &self,
        sha256: String,
        out_path: String,
    ) -> Result<bool, FieldcaseError> {
        self.with(|s| work::export_evidence_file(s, &sha256, &out_path))
    }

    /// `export_evidence_file`, awaited while it runs on the library's own threads.
    pub async fn export_evidence_file_async(
        &self,
        sha256: String,
        out_path: String,
    ) -> Result<bool, FieldcaseError> {
        self.in_background(move |s| work::export_evidence_file(s, &sha256, &out_path))
            .await
    }

    /// Checks a case's history, signatures, files and recording chains.
    pub fn verify_case(&self, record_id: String) -> Result<VerificationView, FieldcaseError> {
        self.with(|s| work::verify_case(s, &record_id))
    }

    /// `verify_case`, awaited while it runs on the library's own threads (it hashes every
    /// file of the case).
    pub async fn verify_case_async(
        &self,
        record_id: String,
    ) -> Result<VerificationView, FieldcaseError> {
        self.in_background(move |s| work::verify_case(s, &record_id))
            .await
    }
}
