//! Ingest: from a file path the platform gave to a signed evidence entry in a record.
//!
//! One call does the whole capture or nothing: the file is streamed once into the blob store
//! (hash while copying), derivatives are made from the stored copy, and the entry and the blob
//! rows commit in one SQLite transaction. Any error (disk full, I/O, a corrupt file, a closed
//! case) removes the files this call created, so it leaves no entry and no orphan file.

use super::CLOCK_OFFSET_META_KEY;
use super::audio::{self, AudioFormat};
use super::blobs::{IoStep, Pending, StoredBlob};
use super::captions::watermark_lines;
use super::entry::{
    BlobRef, CaptureTime, EvidenceEntry, EvidenceKind, EvidencePlace, MediaInfo, Segment,
};
use super::exif::{ExifInfo, read_exif};
use super::image::{self as img, ImageFormat};
use super::stored_files::blob_row_exists;
use crate::model::{Place, RecordKind};
use crate::store::{lock, side_by_side};
use crate::{CoreError, FieldStore, Result, doc, ids};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
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
fn chain_segment(evidence: &[serde_json::Value], s: &SegmentInfo) -> Result<Segment> {
    let out_of_order = || CoreError::SegmentOutOfOrder {
        recording_id: s.recording_id.clone(),
        index: s.index,
    };
    let mut prev: Option<String> = None;
    let mut max_index: Option<u32> = None;
    let mut ended = false;
    for e in evidence {
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

/// Reads the chunks a [`Tee`] sends, in order; the end of the stream once the sender is gone.
struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.chunk = c;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A reader that also hands every chunk it reads to a decoder on another thread, until that
/// decoder stops listening (it finished or failed). The sender goes with the tee, so the
/// decoder sees the end of the stream when the copy ends, however it ends.
struct Tee<'a, R> {
    inner: &'a mut R,
    tx: Option<SyncSender<Vec<u8>>>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.tx = None;
        } else if let Some(tx) = &self.tx
            && tx.send(buf[..n].to_vec()).is_err()
        {
            self.tx = None;
        }
        Ok(n)
    }
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
                    "evidence_kind_not_taken",
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
            let case = self.current_case(&req.record_id)?;
            if case.is_closed() {
                return Err(CoreError::CaseClosed {
                    case_id: req.record_id.clone(),
                });
            }
        }
        let signer = self.signer()?;
        let clock_offset_ms = self.clock_offset_ms()?;
        // Declared before the ingest lock, so dropped after it: the change observer runs
        // with no store lock held.
        let _announce_after = self.hold_changes();
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

    /// Stores the original of a photo (copied, hashed, synced, not yet in place) and decodes
    /// it for its derivatives, the two overlapping: a JPEG is decoded on a helper thread from
    /// the very chunks being copied and hashed (at most four of them in flight), so the
    /// pixels are those of the stored bytes and the copy, EXIF read and fsync cost no time of
    /// their own. A PNG, or a JPEG when no thread can be started, is decoded from the stored
    /// file afterwards. On error the temp file is removed.
    fn store_and_decode(
        &self,
        src: &mut impl Read,
        fmt: ImageFormat,
        source: &Path,
    ) -> Result<(Pending, ExifInfo, img::Decoded)> {
        let blobs = &self.evidence.blobs;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        std::thread::scope(|s| {
            let decoder = match fmt {
                ImageFormat::Jpeg => std::thread::Builder::new()
                    .name("fieldcase-decode".into())
                    .spawn_scoped(s, move || {
                        let chunks = ChunkReader {
                            rx,
                            chunk: Vec::new(),
                            at: 0,
                        };
                        img::decode_jpeg_scaled(BufReader::with_capacity(64 * 1024, chunks), source)
                    })
                    .ok(),
                ImageFormat::Png => None,
            };
            let pending = blobs.write_pending(&mut Tee {
                inner: src,
                tx: Some(tx),
            })?;
            let read = (|| {
                let tmp = pending.path();
                let exif = read_exif(&mut BufReader::new(blobs.open_path(tmp)?));
                blobs.sync_pending(&pending)?;
                let decoded = match decoder {
                    Some(h) => {
                        let (pixels, w, h) =
                            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
                        img::upright(pixels, w, h, exif.orientation)
                    }
                    None => img::decode(blobs.file(tmp), fmt, exif.orientation)?,
                };
                Ok((exif, decoded))
            })();
            match read {
                Ok((exif, decoded)) => Ok((pending, exif, decoded)),
                Err(e) => {
                    blobs.discard_pending(pending);
                    Err(e)
                }
            }
        })
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
        let (original, original_mime) = match media {
            Media::Image(fmt) => {
                let (pending, exif, decoded) = self.store_and_decode(&mut src, fmt, &req.path)?;
                let original = blobs.install_pending(pending)?;
                created.push(original.clone());
                if let Some((lat, lon)) = exif.gps {
                    place = Some(EvidencePlace {
                        lat,
                        lon,
                        accuracy_m: None,
                        source: "exif".into(),
                    });
                }
                media_info.width = Some(decoded.source_width);
                media_info.height = Some(decoded.source_height);
                media_info.orientation = exif.orientation;
                media_info.exif_datetime = exif.datetime_original;
                let lines = watermark_lines(
                    &req.record_id,
                    &req.capture,
                    clock_skew,
                    place.as_ref(),
                    &self.device_id(),
                    &original.sha256_hex(),
                );
                // Both copies come from the one decoded image: the thumbnail is encoded and
                // stored on a helper thread while the display copy is watermarked and stored.
                // The thumbnail is shrunk first, so the display copy can take the decoded
                // image itself (no second copy of its pixels).
                let thumb_px = img::thumbnail_pixels(&decoded.image);
                let image = decoded.image;
                let (thumb, display) = side_by_side(
                    || img::thumbnail_encode(&thumb_px).and_then(|b| blobs.put_bytes(&b)),
                    || img::watermarked_jpeg(image, &lines).and_then(|b| blobs.put_bytes(&b)),
                );
                // Whatever was stored is removed if the other failed.
                created.extend(thumb.iter().chain(display.iter()).cloned());
                rows.push(BlobRow {
                    blob: thumb?,
                    mime: "image/jpeg".into(),
                    role: "thumbnail",
                });
                rows.push(BlobRow {
                    blob: display?,
                    mime: "image/jpeg".into(),
                    role: "display",
                });
                let mime = match fmt {
                    ImageFormat::Jpeg => "image/jpeg",
                    ImageFormat::Png => "image/png",
                };
                (original, mime)
            }
            Media::Audio(fmt) => {
                let pending = blobs.write_pending(&mut src)?;
                if let Err(e) = blobs.sync_pending(&pending) {
                    blobs.discard_pending(pending);
                    return Err(e);
                }
                let original = blobs.install_pending(pending)?;
                created.push(original.clone());
                let stored_path = blobs.path_of(&original.sha256_hex());
                media_info.duration_ms = audio::duration_ms(blobs.file(&stored_path), fmt)?;
                (original, fmt.mime())
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
            "add evidence",
            |doc, current| {
                if record_kind == RecordKind::Case {
                    let case = current
                        .as_case()
                        .ok_or_else(|| CoreError::MalformedDocument {
                            doc_id: req.record_id.clone(),
                            reason: "not a case".into(),
                        })?;
                    if case.is_closed() {
                        return Err(CoreError::CaseClosed {
                            case_id: req.record_id.clone(),
                        });
                    }
                }
                if let Some(s) = &req.segment {
                    entry.segment = Some(chain_segment(current.evidence_lists().0, s)?);
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let list = |v: &serde_json::Value| v["evidence"].as_array().cloned().unwrap_or_default();
        assert!(chain_segment(&list(&empty), &s0)?.prev_sha256.is_none());
        assert!(matches!(
            chain_segment(&list(&empty), &s1),
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
            chain_segment(&list(&ended), &s1),
            Err(CoreError::SegmentOutOfOrder { .. })
        ));
        let mut open = ended.clone();
        open["evidence"][0]["segment"]["final"] = serde_json::json!(false);
        assert_eq!(
            chain_segment(&list(&open), &s1)?.prev_sha256,
            Some("a".repeat(64))
        );
        Ok(())
    }
}
