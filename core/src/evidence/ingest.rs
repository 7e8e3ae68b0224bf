//! Ingest: from a file path the platform gave to a signed evidence entry in a record.
//!
//! One call does the whole capture or nothing: the file is streamed once into the blob store
//! (hash while copying), derivatives are made from the stored copy, and the entry and the blob
//! rows commit in one SQLite transaction. Any error (disk full, I/O, a corrupt file, a closed
//! case) removes the files this call created, so it leaves no entry and no orphan file.

use super::audio::{self, AudioFormat};
use super::blobs::{BlobInfo, DownloadSink, IoStep, StoredBlob, SweepReport};
use super::entry::{
    BlobRef, CaptureTime, EvidenceEntry, EvidenceKind, EvidencePlace, MediaInfo, Redaction, Segment,
};
use super::exif::read_exif;
use super::image::{self as img, ImageFormat};
use super::sealed::BlobReader;
use super::{CLOCK_OFFSET_META_KEY, FaultInjector};
use crate::model::{CaseRecord, Place, RecordKind};
use crate::store::{Change, lock};
use crate::{CoreError, FieldStore, Result, doc, ids};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Who captured, when and where, as the app knows it at capture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaptureInfo {
    /// Officer or volunteer number.
    pub officer: String,
    /// Device wall clock at capture, unix ms.
    pub device_time_ms: i64,
    /// Monotonic clock at capture in ms (Android `SystemClock.elapsedRealtime()`, iOS
    /// `clock_gettime(CLOCK_MONOTONIC_RAW)`; [`MonotonicClock`] in tests).
    pub monotonic_ms: i64,
    /// The phone's location fix, used when the file has no EXIF GPS.
    pub place: Option<Place>,
    /// Free note.
    pub note: Option<String>,
}

/// Position of an audio file within a long recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Id shared by all segments of the recording (e.g. [`ids::new_id`] at record start).
    pub recording_id: String,
    /// 0-based; each segment must follow the last one stored.
    pub index: u32,
    /// The recording ends with this segment (the officer stopped it). No segment may follow.
    #[serde(default, rename = "final")]
    pub last: bool,
}

/// A general ingest request (the convenience methods build one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestRequest {
    /// The case or demonstration.
    pub record_id: String,
    /// What it is.
    pub kind: EvidenceKind,
    /// The captured file; read once, never modified or removed.
    pub path: PathBuf,
    /// Capture context.
    pub capture: CaptureInfo,
    /// Segment position (audio only).
    pub segment: Option<SegmentInfo>,
}

/// A monotonic millisecond clock from [`Instant`], for tests and desktop tools.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    start: Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl MonotonicClock {
    /// A clock starting now at 0.
    pub fn new() -> Self {
        MonotonicClock {
            start: Instant::now(),
        }
    }
    /// Milliseconds since the clock was made.
    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

enum Media {
    Image(ImageFormat),
    Audio(AudioFormat),
}

fn describe(head: &[u8]) -> &'static str {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "jpeg"
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if audio::sniff(head).is_some() {
        "audio"
    } else if head.starts_with(b"GIF8") {
        "gif"
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" {
        "iso-bmff (not audio)"
    } else {
        "unknown"
    }
}

fn sniff_media(kind: EvidenceKind, head: &[u8]) -> Result<Media> {
    let image = if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else {
        None
    };
    let found = match kind {
        EvidenceKind::Photo | EvidenceKind::Signature => image.map(Media::Image),
        EvidenceKind::Audio => audio::sniff(head).map(Media::Audio),
    };
    found.ok_or_else(|| CoreError::UnsupportedMedia {
        kind: kind.as_str().into(),
        detail: describe(head).into(),
    })
}

fn check_capture(c: &CaptureInfo) -> Result<()> {
    if c.officer.trim().is_empty() || c.officer.len() > 64 {
        return Err(CoreError::invalid("officer", "must be 1 to 64 characters"));
    }
    if !(946_684_800_000..7_258_118_400_000).contains(&c.device_time_ms) {
        return Err(CoreError::invalid("device_time_ms", "time out of range"));
    }
    if c.monotonic_ms < 0 {
        return Err(CoreError::invalid("monotonic_ms", "must not be negative"));
    }
    if let Some(p) = &c.place {
        p.check()?;
    }
    if let Some(n) = &c.note
        && n.chars().count() > 4000
    {
        return Err(CoreError::invalid("note", "longer than 4000 characters"));
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` in China Standard Time (UTC+8).
fn china_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + 8 * 3600;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // H. Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The watermark's words: Chinese where the document font is built in, English capitals for
/// the ASCII bitmap font otherwise.
struct WatermarkWords {
    time: &'static str,
    zone: &'static str,
    skew: &'static str,
    place: &'static str,
    none: &'static str,
    accuracy: &'static str,
    metres: &'static str,
    from_exif: &'static str,
    from_device: &'static str,
    officer: &'static str,
    device: &'static str,
    case: &'static str,
}

#[cfg(feature = "bundled-font")]
const WORDS: WatermarkWords = WatermarkWords {
    time: "时间",
    zone: "北京时间",
    skew: "设备时钟偏差",
    place: "位置",
    none: "无",
    accuracy: "精度",
    metres: "米",
    from_exif: "照片EXIF",
    from_device: "设备定位",
    officer: "执法人员",
    device: "设备",
    case: "案件",
};

#[cfg(not(feature = "bundled-font"))]
const WORDS: WatermarkWords = WatermarkWords {
    time: "TIME",
    zone: "UTC+8",
    skew: "CLOCK SKEW",
    place: "GPS",
    none: "NONE",
    accuracy: "ACC",
    metres: "M",
    from_exif: "exif",
    from_device: "device",
    officer: "OFFICER",
    device: "DEVICE",
    case: "CASE",
};

/// The lines burned into a display copy. Characters the watermark font cannot draw come out
/// as `?` ([`img::burn_in`]).
fn watermark_lines(
    record_id: &str,
    capture: &CaptureInfo,
    skew: bool,
    place: Option<&EvidencePlace>,
    device_id: &str,
    sha_hex: &str,
) -> Vec<String> {
    let w = &WORDS;
    let time = format!(
        "{} {} {}{}",
        w.time,
        china_time(capture.device_time_ms),
        w.zone,
        if skew {
            format!(" {}", w.skew)
        } else {
            String::new()
        }
    );
    let gps = match place {
        Some(p) => {
            let acc = p
                .accuracy_m
                .map(|a| format!(" {} {a:.0}{}", w.accuracy, w.metres))
                .unwrap_or_default();
            let source = match p.source.as_str() {
                "exif" => w.from_exif,
                "device" => w.from_device,
                other => other,
            };
            format!(
                "{} {}{:.6} {}{:.6}{acc} ({source})",
                w.place,
                if p.lat < 0.0 { 'S' } else { 'N' },
                p.lat.abs(),
                if p.lon < 0.0 { 'W' } else { 'E' },
                p.lon.abs(),
            )
        }
        None => format!("{} {}", w.place, w.none),
    };
    vec![
        time,
        gps,
        format!(
            "{} {} {} {}",
            w.officer, capture.officer, w.device, device_id
        ),
        format!("{} {}", w.case, record_id),
        format!("SHA256 {}", &sha_hex[..32.min(sha_hex.len())]),
    ]
}

/// A derived file to record in the blobs table.
struct BlobRow {
    blob: StoredBlob,
    mime: String,
    role: &'static str,
}

impl BlobRow {
    fn blob_ref(&self) -> BlobRef {
        BlobRef {
            sha256: self.blob.sha256_hex(),
            size: self.blob.size,
            mime: self.mime.clone(),
        }
    }
}

/// Finds the previous segment and checks the new one follows the stored ones.
fn chain_segment(json: &serde_json::Value, s: &SegmentInfo) -> Result<Segment> {
    let out_of_order = || CoreError::SegmentOutOfOrder {
        recording_id: s.recording_id.clone(),
        index: s.index,
    };
    let mut prev: Option<String> = None;
    let mut max_index: Option<u32> = None;
    let mut ended = false;
    for e in json["evidence"].as_array().into_iter().flatten() {
        let Ok(e) = serde_json::from_value::<EvidenceEntry>(e.clone()) else {
            continue;
        };
        let Some(seg) = e.segment else { continue };
        if seg.recording_id != s.recording_id {
            continue;
        }
        max_index = Some(max_index.map_or(seg.index, |m| m.max(seg.index)));
        ended |= seg.last;
        if s.index > 0 && seg.index == s.index - 1 {
            prev = Some(e.original.sha256);
        }
    }
    let follows = match (s.index, max_index) {
        (0, None) => true,
        (i, Some(m)) => i == m + 1 && prev.is_some(),
        _ => false,
    };
    if !follows || ended {
        return Err(out_of_order());
    }
    Ok(Segment {
        recording_id: s.recording_id.clone(),
        index: s.index,
        prev_sha256: prev,
        last: s.last,
    })
}

impl FieldStore {
    /// Adds a photo (JPEG or PNG) to a case.
    pub fn add_photo(
        &self,
        case_id: &str,
        path: impl AsRef<Path>,
        capture: CaptureInfo,
    ) -> Result<EvidenceEntry> {
        self.ingest_evidence(IngestRequest {
            record_id: case_id.into(),
            kind: EvidenceKind::Photo,
            path: path.as_ref().to_path_buf(),
            capture,
            segment: None,
        })
    }

    /// Adds a signature image (PNG or JPEG from the signing pad) to a case.
    pub fn add_signature_image(
        &self,
        case_id: &str,
        path: impl AsRef<Path>,
        capture: CaptureInfo,
    ) -> Result<EvidenceEntry> {
        self.ingest_evidence(IngestRequest {
            record_id: case_id.into(),
            kind: EvidenceKind::Signature,
            path: path.as_ref().to_path_buf(),
            capture,
            segment: None,
        })
    }

    /// Adds an audio clip (WAV, M4A/AAC, AMR) or one segment of a long recording to a case.
    pub fn add_audio(
        &self,
        case_id: &str,
        path: impl AsRef<Path>,
        capture: CaptureInfo,
        segment: Option<SegmentInfo>,
    ) -> Result<EvidenceEntry> {
        self.ingest_evidence(IngestRequest {
            record_id: case_id.into(),
            kind: EvidenceKind::Audio,
            path: path.as_ref().to_path_buf(),
            capture,
            segment,
        })
    }

    /// Adds a photo to a persuasion demonstration.
    pub fn add_demonstration_photo(
        &self,
        demonstration_id: &str,
        path: impl AsRef<Path>,
        capture: CaptureInfo,
    ) -> Result<EvidenceEntry> {
        self.ingest_evidence(IngestRequest {
            record_id: demonstration_id.into(),
            kind: EvidenceKind::Photo,
            path: path.as_ref().to_path_buf(),
            capture,
            segment: None,
        })
    }

    /// Ingests one captured file into a record: hash, store, derive, sign, commit.
    pub fn ingest_evidence(&self, req: IngestRequest) -> Result<EvidenceEntry> {
        check_capture(&req.capture)?;
        let record_kind = self
            .read(|c| crate::store::doc_kind(c, &req.record_id))?
            .ok_or_else(|| CoreError::not_found("record", &req.record_id))?;
        match (record_kind, req.kind) {
            (RecordKind::Case, _) | (RecordKind::Demonstration, EvidenceKind::Photo) => {}
            _ => {
                return Err(CoreError::not_allowed(
                    "this record does not take this kind of evidence",
                ));
            }
        }
        if let Some(s) = &req.segment {
            if req.kind != EvidenceKind::Audio {
                return Err(CoreError::invalid("segment", "only audio has segments"));
            }
            if s.recording_id.is_empty()
                || s.recording_id.len() > 64
                || !s.recording_id.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(CoreError::invalid(
                    "recording_id",
                    "1 to 64 printable ASCII characters",
                ));
            }
        }
        if record_kind == RecordKind::Case {
            let case: CaseRecord = doc::read(&self.load(&req.record_id)?, &req.record_id)?;
            if case.is_closed() {
                return Err(CoreError::CaseClosed {
                    case_id: req.record_id.clone(),
                });
            }
        }
        let signer = self.signer()?;
        let clock_offset_ms = self.clock_offset_ms()?;
        let _one_at_a_time = lock(&self.evidence.ingest_lock);
        let mut created: Vec<StoredBlob> = Vec::new();
        let result = self.ingest_locked(
            &req,
            record_kind,
            signer.as_ref(),
            clock_offset_ms,
            &mut created,
        );
        if result.is_err() {
            for b in &created {
                // Only files no committed row references: a re-created copy of content that
                // an older entry already holds must stay.
                let referenced = self
                    .read(|c| blob_row_exists(c, &b.sha256_hex()))
                    .unwrap_or(true);
                if !referenced {
                    self.evidence.blobs.remove_uncommitted(b);
                }
            }
        }
        result
    }

    fn ingest_locked(
        &self,
        req: &IngestRequest,
        record_kind: RecordKind,
        signer: &dyn super::Signer,
        clock_offset_ms: Option<i64>,
        created: &mut Vec<StoredBlob>,
    ) -> Result<EvidenceEntry> {
        let blobs = &self.evidence.blobs;
        let f = File::open(&req.path).map_err(|e| CoreError::io(&req.path, e))?;
        let mut src = BufReader::with_capacity(256 * 1024, f);
        let head = src
            .fill_buf()
            .map_err(|e| CoreError::io(&req.path, e))?
            .iter()
            .take(64)
            .copied()
            .collect::<Vec<u8>>();
        let media = sniff_media(req.kind, &head)?;
        let original = blobs.put_reader(&mut src)?;
        created.push(original.clone());
        let sha_hex = original.sha256_hex();
        let stored_path = blobs.path_of(&sha_hex);

        let threshold = self.evidence.skew_threshold_ms.load(Ordering::Relaxed);
        let clock_skew =
            clock_offset_ms.is_some_and(|o| o.unsigned_abs() > threshold.unsigned_abs());
        let device_place = req.capture.place.as_ref().map(|p| EvidencePlace {
            lat: p.lat,
            lon: p.lon,
            accuracy_m: p.accuracy_m,
            source: "device".into(),
        });

        let mut media_info = MediaInfo::default();
        let mut place = device_place;
        let mut rows: Vec<BlobRow> = Vec::new();
        let original_mime = match media {
            Media::Image(fmt) => {
                let mut r = BufReader::new(blobs.open_path(&stored_path)?);
                let exif = read_exif(&mut r);
                if let Some((lat, lon)) = exif.gps {
                    place = Some(EvidencePlace {
                        lat,
                        lon,
                        accuracy_m: None,
                        source: "exif".into(),
                    });
                }
                let decoded = img::decode(blobs.file(&stored_path), fmt, exif.orientation)?;
                media_info.width = Some(decoded.source_width);
                media_info.height = Some(decoded.source_height);
                media_info.orientation = exif.orientation;
                media_info.exif_datetime = exif.datetime_original;
                let thumb = blobs.put_bytes(&img::thumbnail_jpeg(&decoded.image)?)?;
                created.push(thumb.clone());
                rows.push(BlobRow {
                    blob: thumb,
                    mime: "image/jpeg".into(),
                    role: "thumbnail",
                });
                let lines = watermark_lines(
                    &req.record_id,
                    &req.capture,
                    clock_skew,
                    place.as_ref(),
                    self.device_id(),
                    &sha_hex,
                );
                let display = blobs.put_bytes(&img::watermarked_jpeg(decoded.image, &lines)?)?;
                created.push(display.clone());
                rows.push(BlobRow {
                    blob: display,
                    mime: "image/jpeg".into(),
                    role: "display",
                });
                match fmt {
                    ImageFormat::Jpeg => "image/jpeg",
                    ImageFormat::Png => "image/png",
                }
            }
            Media::Audio(fmt) => {
                media_info.duration_ms = audio::duration_ms(blobs.file(&stored_path), fmt)?;
                fmt.mime()
            }
        };
        let original_row = BlobRow {
            blob: original,
            mime: original_mime.into(),
            role: "original",
        };
        let thumbnail = rows
            .iter()
            .find(|r| r.role == "thumbnail")
            .map(BlobRow::blob_ref);
        let display = rows
            .iter()
            .find(|r| r.role == "display")
            .map(BlobRow::blob_ref);
        let original_ref = original_row.blob_ref();
        rows.insert(0, original_row);

        let device_key = hex::encode(signer.public_key());
        let mut entry = EvidenceEntry {
            id: ids::new_id(),
            kind: req.kind,
            record_kind: record_kind.as_str().into(),
            record_id: req.record_id.clone(),
            original: original_ref,
            thumbnail,
            display,
            media: media_info,
            captured: CaptureTime {
                device_time_ms: req.capture.device_time_ms,
                monotonic_ms: req.capture.monotonic_ms,
                clock_offset_ms,
                clock_skew,
            },
            place,
            officer: req.capture.officer.clone(),
            device_id: self.device_id().to_string(),
            device_key,
            segment: None,
            note: req.capture.note.clone(),
            signature: String::new(),
            server_received_at_ms: None,
        };
        let now = ids::now_ms();
        self.write_doc_with(
            &req.record_id,
            Change::Edited,
            "add evidence",
            |doc| {
                let json = doc::read_json(doc)?;
                if record_kind == RecordKind::Case {
                    let case: CaseRecord = crate::doc::read(doc, &req.record_id)?;
                    if case.is_closed() {
                        return Err(CoreError::CaseClosed {
                            case_id: req.record_id.clone(),
                        });
                    }
                }
                if let Some(s) = &req.segment {
                    entry.segment = Some(chain_segment(&json, s)?);
                }
                entry.signature = hex::encode(signer.sign(&entry.signed_payload()?)?);
                doc::append(doc, "evidence", &entry)?;
                Ok(entry)
            },
            |tx| {
                for r in &rows {
                    tx.execute(
                        "INSERT OR IGNORE INTO blobs(sha256, size, mime, role, path, created_at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            r.blob.sha256_hex(),
                            i64::try_from(r.blob.size).unwrap_or(i64::MAX),
                            r.mime,
                            r.role,
                            r.blob.rel_path,
                            now
                        ],
                    )?;
                }
                blobs
                    .fault(IoStep::Commit)
                    .map_err(|e| CoreError::io("database", e))
            },
        )
    }

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
            device_id: self.device_id().into(),
            device_key: hex::encode(signer.public_key()),
            signature: String::new(),
        };
        red.signature = hex::encode(signer.sign(&red.signed_payload()?)?);
        self.write_doc(record_id, Change::Edited, "redact evidence", |doc| {
            if doc::find_in_list(doc, "evidence", evidence_id)?.is_none() {
                return Err(CoreError::not_found("evidence", evidence_id));
            }
            let json = doc::read_json(doc)?;
            let already = json["redactions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["evidence_id"].as_str() == Some(evidence_id));
            if already {
                return Err(CoreError::not_allowed("this evidence is already redacted"));
            }
            doc::append(doc, "redactions", &red)?;
            Ok(red)
        })
    }

    /// The device-to-server clock offset the sync client last measured, if any.
    pub fn clock_offset_ms(&self) -> Result<Option<i64>> {
        Ok(self
            .meta(CLOCK_OFFSET_META_KEY)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.trim().parse().ok()))
    }

    /// Sets the clock-skew threshold (default [`super::DEFAULT_CLOCK_SKEW_THRESHOLD_MS`]).
    pub fn set_clock_skew_threshold_ms(&self, ms: i64) {
        self.evidence
            .skew_threshold_ms
            .store(ms.abs(), Ordering::Relaxed);
    }

    /// The blob folder.
    pub fn blob_dir(&self) -> &Path {
        self.evidence.blobs.root()
    }

    /// The file of a stored blob, if this store holds it.
    pub fn blob_path(&self, sha256: &str) -> Result<Option<PathBuf>> {
        let rel: Option<String> = self.read(|c| {
            Ok(
                c.query_row("SELECT path FROM blobs WHERE sha256 = ?1", [sha256], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })?;
        Ok(rel.map(|r| self.blob_dir().join(r)))
    }

    /// Whether this store holds the file of blob `sha256` (a row and the file on disk).
    pub fn holds_blob(&self, sha256: &str) -> Result<bool> {
        Ok(self.blob_path(sha256)?.is_some_and(|p| p.is_file()))
    }

    /// Where a download of blob `sha256` is written until it is verified.
    pub(crate) fn blob_download_temp(&self, sha256: &str) -> PathBuf {
        self.evidence.blobs.download_temp(sha256)
    }

    /// The sink a download of blob `sha256` writes to (sealed in an encrypted store),
    /// continuing an earlier partial download when `resume` is set.
    pub(crate) fn blob_download_sink(&self, sha256: &str, resume: bool) -> Result<DownloadSink> {
        self.evidence.blobs.download_sink(sha256, resume)
    }

    /// Opens the content of this store's blob `sha256` (unsealed), or `None` when the file
    /// is not here. Readers must check the hash when it matters: see [`Self::read_blob`].
    pub fn open_blob(&self, sha256: &str) -> Result<Option<BlobReader>> {
        if crate::evidence::blobs::parse_sha256(sha256).is_none() {
            return Err(CoreError::invalid(
                "sha256",
                "expected 64 lowercase hex digits",
            ));
        }
        self.evidence.blobs.open(sha256)
    }

    /// Opens a file of this store's blob folder (or any plain file) as content.
    pub fn open_blob_file(&self, path: &Path) -> Result<BlobReader> {
        self.evidence.blobs.open_path(path)
    }

    /// Writes the content of blob `sha256` to the file `out` (temp file, fsync, rename), so
    /// `out` is complete and checked, or absent. Returns false when this store does not hold
    /// the blob.
    pub fn export_blob(&self, sha256: &str, out: &Path) -> Result<bool> {
        let mut tmp_name = out
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        tmp_name.push(".part");
        let tmp = out.with_file_name(tmp_name);
        let written = (|| {
            let mut f = File::create(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
            let held = self.read_blob(sha256, &mut f)?;
            f.sync_all().map_err(|e| CoreError::io(&tmp, e))?;
            Ok::<_, CoreError>(held)
        })();
        match written {
            Ok(Some(_)) => {
                std::fs::rename(&tmp, out).map_err(|e| CoreError::io(out, e))?;
                Ok(true)
            }
            Ok(None) => {
                let _ = std::fs::remove_file(&tmp);
                Ok(false)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Copies the content of blob `sha256` to `out`, checking it against its hash: an
    /// evidence file that was altered on disk is an error, never shown as evidence. Returns
    /// the size. `None` when this store does not hold the file.
    pub fn read_blob(&self, sha256: &str, out: &mut dyn std::io::Write) -> Result<Option<u64>> {
        let Some(mut r) = self.open_blob(sha256)? else {
            return Ok(None);
        };
        let (hash, size) = match super::blobs::copy_hashed(&mut r, out) {
            Ok(x) => x,
            // A sealed chunk that fails authentication: altered content, not a disk error.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(CoreError::BlobHashMismatch {
                    expected: sha256.into(),
                    actual: "a file that fails authentication".into(),
                });
            }
            Err(e) => return Err(CoreError::io(format!("evidence file {sha256}"), e)),
        };
        let actual = hex::encode(hash);
        if actual != sha256 {
            return Err(CoreError::BlobHashMismatch {
                expected: sha256.into(),
                actual,
            });
        }
        Ok(Some(size))
    }

    /// Installs a downloaded file: `tmp` (complete and fsynced, its content hashing to
    /// `sha`) is renamed into the blob folder and recorded as a blob the server already
    /// holds (never uploaded back). Returns the stored file's path.
    pub(crate) fn install_downloaded_blob(
        &self,
        tmp: &Path,
        sha: [u8; 32],
        size: u64,
        mime: &str,
        role: &str,
    ) -> Result<PathBuf> {
        let _one_at_a_time = lock(&self.evidence.ingest_lock);
        let stored = self.evidence.blobs.install(tmp, sha, size)?;
        let now = ids::now_ms();
        let recorded = self.with_writer_conn(|c| {
            c.execute(
                "INSERT OR IGNORE INTO blobs(sha256, size, mime, role, path, created_at_ms,
                    server_confirmed_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![
                    stored.sha256_hex(),
                    i64::try_from(stored.size).unwrap_or(i64::MAX),
                    mime,
                    role,
                    stored.rel_path,
                    now
                ],
            )?;
            Ok(())
        });
        if let Err(e) = recorded {
            self.evidence.blobs.remove_uncommitted(&stored);
            return Err(e);
        }
        Ok(self.blob_dir().join(&stored.rel_path))
    }

    /// Records that the server verified its copy of a blob. Returns false for an unknown hash.
    /// The file is kept either way: the phone never deletes evidence.
    pub fn mark_blob_confirmed(&self, sha256: &str) -> Result<bool> {
        let now = ids::now_ms();
        self.with_writer_conn(|c| {
            let n = c.execute(
                "UPDATE blobs SET server_confirmed_at_ms = ?2
                 WHERE sha256 = ?1 AND server_confirmed_at_ms IS NULL",
                params![sha256, now],
            )?;
            Ok(n > 0 || blob_row_exists(c, sha256)?)
        })
    }

    /// Blobs the server has not confirmed yet, originals first, oldest first.
    pub fn unconfirmed_blobs(&self) -> Result<Vec<BlobInfo>> {
        let root = self.blob_dir().to_path_buf();
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT sha256, size, mime, role, path, created_at_ms, server_confirmed_at_ms
                 FROM blobs WHERE server_confirmed_at_ms IS NULL
                 ORDER BY role <> 'original', created_at_ms, sha256",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(BlobInfo {
                        sha256: r.get(0)?,
                        size: r.get::<_, i64>(1)?.max(0) as u64,
                        mime: r.get(2)?,
                        role: r.get(3)?,
                        path: root.join(r.get::<_, String>(4)?),
                        created_at_ms: r.get(5)?,
                        server_confirmed_at_ms: r.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Removes leftovers of interrupted ingests (temp files; files no row references). Call
    /// at start-up, before any ingest.
    pub fn sweep_blob_dir(&self) -> Result<SweepReport> {
        let _one_at_a_time = lock(&self.evidence.ingest_lock);
        let referenced = self.referenced_blobs()?;
        self.evidence
            .blobs
            .sweep(|sha| Ok(referenced.contains(sha)))
    }

    /// Every hash a blob row names, in one query: a sweep checks every file of the folder,
    /// and a lookup per file would make opening a store with thousands of photos slow.
    /// Read under the ingest lock, so no row is added while the folder is walked.
    fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT sha256 FROM blobs")?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// What [`FieldStore::open`] sweeps by itself: temp files and unreferenced files older
    /// than an hour (a crash's leftovers, never a write in progress), and partial downloads
    /// untouched for a week (younger ones are kept to resume). An app that never calls
    /// [`FieldStore::sweep_blob_dir`] still gets its space back.
    pub(crate) fn sweep_stale_blobs(&self) -> Result<SweepReport> {
        const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);
        let _one_at_a_time = lock(&self.evidence.ingest_lock);
        let referenced = self.referenced_blobs()?;
        self.evidence
            .blobs
            .sweep_aged(|sha| Ok(referenced.contains(sha)), HOUR, HOUR * 24 * 7)
    }

    /// Installs a fault injector on the blob path (fault drills and tests only).
    #[doc(hidden)]
    pub fn set_blob_fault_injector(&self, f: Option<Arc<dyn FaultInjector>>) {
        self.evidence.blobs.set_fault_injector(f);
    }
}

fn blob_row_exists(c: &rusqlite::Connection, sha: &str) -> Result<bool> {
    Ok(
        c.query_row("SELECT 1 FROM blobs WHERE sha256 = ?1", [sha], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_time_formats_utc_plus_8() {
        // 2026-09-21T06:03:05Z is 14:03:05 in Beijing.
        assert_eq!(china_time(1_789_970_585_000), "2026-09-21 14:03:05");
        assert_eq!(china_time(0), "1970-01-01 08:00:00");
    }

    #[test]
    fn segments_must_follow_in_order() -> Result<()> {
        let empty = serde_json::json!({"evidence": []});
        let s0 = SegmentInfo {
            recording_id: "r".into(),
            index: 0,
            last: false,
        };
        let s1 = SegmentInfo {
            recording_id: "r".into(),
            index: 1,
            last: false,
        };
        assert!(chain_segment(&empty, &s0)?.prev_sha256.is_none());
        assert!(matches!(
            chain_segment(&empty, &s1),
            Err(CoreError::SegmentOutOfOrder { .. })
        ));
        // Nothing may follow a final segment.
        let ended = serde_json::json!({"evidence": [{
            "id": "e0", "kind": "audio", "record_kind": "case", "record_id": "c",
            "original": {"sha256": "a".repeat(64), "size": 1, "mime": "audio/wav"},
            "captured": {"device_time_ms": 0, "monotonic_ms": 0, "clock_skew": false},
            "officer": "o", "device_id": "d", "device_key": "b".repeat(64),
            "segment": {"recording_id": "r", "index": 0, "final": true},
            "signature": "00"
        }]});
        assert!(matches!(
            chain_segment(&ended, &s1),
            Err(CoreError::SegmentOutOfOrder { .. })
        ));
        let mut open = ended.clone();
        open["evidence"][0]["segment"]["final"] = serde_json::json!(false);
        assert_eq!(chain_segment(&open, &s1)?.prev_sha256, Some("a".repeat(64)));
        Ok(())
    }
}
