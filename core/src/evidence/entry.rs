//! The evidence entry kept in a record document, and the exact bytes its signature covers.
//!
//! The signature is over a canonical binary encoding, not over JSON, so that any verifier in
//! any language rebuilds the same bytes (docs/evidence.md gives the layout and a Python
//! verifier). Encoding rules: integers big-endian; a string is a u32 byte length then UTF-8; a
//! hash or key is its 32 raw bytes; an optional value is a 0x00 byte when absent, else 0x01
//! then the value; a float is its IEEE-754 binary64 bits as a u64; a bool is one byte 0 or 1.
//! Every field of the entry is covered except `signature` itself and
//! `server_received_at_ms`, which the server adds later.

use super::blobs::parse_sha256;
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};

/// Domain tag of the evidence payload.
pub const EVIDENCE_DOMAIN: &[u8] = b"fieldcase/evidence/v1\n";
/// Domain tag of the redaction payload.
pub const REDACTION_DOMAIN: &[u8] = b"fieldcase/redaction/v1\n";
/// Domain tag of the decision payload.
pub const DECISION_DOMAIN: &[u8] = b"fieldcase/decision/v2\n";
/// Domain tag of the legal review payload.
pub const REVIEW_DOMAIN: &[u8] = b"fieldcase/review/v2\n";
/// Domain tag of the close/reopen payload.
pub const LIFECYCLE_DOMAIN: &[u8] = b"fieldcase/lifecycle/v1\n";
/// Domain tag of a package manifest signature.
pub const PACKAGE_DOMAIN: &[u8] = b"fieldcase/package/v1\n";

/// What was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// A photo (JPEG or PNG).
    Photo,
    /// An audio clip or one segment of a long recording.
    Audio,
    /// A signature image from a signing pad.
    Signature,
}

impl EvidenceKind {
    /// The identifier used in documents and payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Photo => "photo",
            EvidenceKind::Audio => "audio",
            EvidenceKind::Signature => "signature",
        }
    }
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type.
    pub mime: String,
}

/// What the file itself says about its content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Pixel width of the original as stored.
    #[serde(default)]
    pub width: Option<u32>,
    /// Pixel height of the original as stored.
    #[serde(default)]
    pub height: Option<u32>,
    /// EXIF orientation 1..=8.
    #[serde(default)]
    pub orientation: Option<u16>,
    /// Audio duration in ms.
    #[serde(default)]
    pub duration_ms: Option<i64>,
    /// EXIF `DateTimeOriginal` as written by the camera (a claim, not a clock reading).
    #[serde(default)]
    pub exif_datetime: Option<String>,
}

/// When the capture happened, as the device knew it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureTime {
    /// Device wall clock, unix ms.
    pub device_time_ms: i64,
    /// Monotonic clock reading in ms (e.g. Android `elapsedRealtime`): orders captures made
    /// since boot even when the wall clock jumps.
    pub monotonic_ms: i64,
    /// Server time minus device time, learned at the last sync; `None` when never synced.
    #[serde(default)]
    pub clock_offset_ms: Option<i64>,
    /// The known offset exceeded the skew threshold: the device time is not to be trusted.
    pub clock_skew: bool,
}

/// Where the capture happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidencePlace {
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Horizontal accuracy in metres, if known.
    #[serde(default)]
    pub accuracy_m: Option<f64>,
    /// `exif` (the camera's GPS tags) or `device` (the phone's location fix at capture).
    pub source: String,
}

/// One segment of a long recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The recording all segments share.
    pub recording_id: String,
    /// 0-based position.
    pub index: u32,
    /// SHA-256 (hex) of segment `index - 1`; `None` for the first.
    #[serde(default)]
    pub prev_sha256: Option<String>,
    /// This is the recording's last segment: the recording was stopped normally. A chain
    /// whose last segment is not marked final lost its tail or is still being recorded.
    #[serde(default, rename = "final")]
    pub last: bool,
}

/// An evidence entry in a record's `evidence` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceEntry {
    /// UUIDv7.
    pub id: String,
    /// Photo, audio or signature.
    pub kind: EvidenceKind,
    /// `case` or `demonstration`.
    pub record_kind: String,
    /// The record it belongs to.
    pub record_id: String,
    /// The original file.
    pub original: BlobRef,
    /// Thumbnail (images).
    #[serde(default)]
    pub thumbnail: Option<BlobRef>,
    /// Watermarked display copy (images).
    #[serde(default)]
    pub display: Option<BlobRef>,
    /// What the file says.
    #[serde(default)]
    pub media: MediaInfo,
    /// When.
    pub captured: CaptureTime,
    /// Where.
    #[serde(default)]
    pub place: Option<EvidencePlace>,
    /// Officer (or volunteer) number of who captured it.
    pub officer: String,
    /// Device id.
    pub device_id: String,
    /// Device public key (ed25519, hex) that signed the entry.
    pub device_key: String,
    /// Segment position, for long recordings.
    #[serde(default)]
    pub segment: Option<Segment>,
    /// Free note.
    #[serde(default)]
    pub note: Option<String>,
    /// ed25519 signature (hex) over [`EvidenceEntry::signed_payload`].
    pub signature: String,
    /// When the server received the entry (server clock); written by the server, unsigned.
    #[serde(default)]
    pub server_received_at_ms: Option<i64>,
}

/// A redaction: the evidence is hidden from disclosure and display, and kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    /// UUIDv7.
    pub id: String,
    /// The record.
    pub record_id: String,
    /// The evidence entry redacted.
    pub evidence_id: String,
    /// Who decided.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When (device clock).
    pub at_ms: i64,
    /// Device id.
    pub device_id: String,
    /// Device public key (hex).
    pub device_key: String,
    /// Signature (hex) over [`Redaction::signed_payload`].
    pub signature: String,
}

/// Builds canonical payload bytes.
#[derive(Debug, Default)]
pub struct Canon {
    buf: Vec<u8>,
}

impl Canon {
    /// Starts a payload with a domain tag.
    pub fn new(domain: &[u8]) -> Self {
        Canon {
            buf: domain.to_vec(),
        }
    }
    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self, s: &str) -> &mut Self {
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self
    }
    /// A signed 64-bit integer.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// An unsigned 64-bit integer.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// An unsigned 32-bit integer.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A float as its bits.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.u64(v.to_bits())
    }
    /// A bool as one byte.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.buf.push(u8::from(v));
        self
    }
    /// Presence byte of an optional value.
    pub fn present(&mut self, p: bool) -> &mut Self {
        self.bool(p)
    }
    /// A hex hash or key as 32 raw bytes; refused unless 64 lowercase hex digits.
    pub fn hash(&mut self, field: &str, hex_str: &str) -> Result<&mut Self> {
        let raw = parse_sha256(hex_str)
            .ok_or_else(|| CoreError::invalid(field, "not 64 lowercase hex digits"))?;
        self.buf.extend_from_slice(&raw);
        Ok(self)
    }
    /// An optional string.
    pub fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        self.present(v.is_some());
        if let Some(s) = v {
            self.str(s);
        }
        self
    }
    /// An optional i64.
    pub fn opt_i64(&mut self, v: Option<i64>) -> &mut Self {
        self.present(v.is_some());
        if let Some(x) = v {
            self.i64(x);
        }
        self
    }
    /// An optional u32.
    pub fn opt_u32(&mut self, v: Option<u32>) -> &mut Self {
        self.present(v.is_some());
        if let Some(x) = v {
            self.u32(x);
        }
        self
    }
    /// The bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

fn blob_ref(c: &mut Canon, field: &str, b: &BlobRef) -> Result<()> {
    c.hash(field, &b.sha256)?.u64(b.size).str(&b.mime);
    Ok(())
}

fn opt_blob_ref(c: &mut Canon, field: &str, b: Option<&BlobRef>) -> Result<()> {
    c.present(b.is_some());
    if let Some(b) = b {
        blob_ref(c, field, b)?;
    }
    Ok(())
}

impl EvidenceEntry {
    /// The exact bytes the device signs (layout in docs/evidence.md).
    pub fn signed_payload(&self) -> Result<Vec<u8>> {
        let mut c = Canon::new(EVIDENCE_DOMAIN);
        c.str(&self.id)
            .str(self.kind.as_str())
            .str(&self.record_kind)
            .str(&self.record_id);
        blob_ref(&mut c, "original.sha256", &self.original)?;
        opt_blob_ref(&mut c, "thumbnail.sha256", self.thumbnail.as_ref())?;
        opt_blob_ref(&mut c, "display.sha256", self.display.as_ref())?;
        let m = &self.media;
        c.opt_u32(m.width)
            .opt_u32(m.height)
            .opt_u32(m.orientation.map(u32::from))
            .opt_i64(m.duration_ms)
            .opt_str(m.exif_datetime.as_deref());
        let t = &self.captured;
        c.i64(t.device_time_ms)
            .i64(t.monotonic_ms)
            .opt_i64(t.clock_offset_ms)
            .bool(t.clock_skew);
        c.present(self.place.is_some());
        if let Some(p) = &self.place {
            c.f64(p.lat).f64(p.lon).present(p.accuracy_m.is_some());
            if let Some(a) = p.accuracy_m {
                c.f64(a);
            }
            c.str(&p.source);
        }
        c.str(&self.officer).str(&self.device_id);
        c.hash("device_key", &self.device_key)?;
        c.present(self.segment.is_some());
        if let Some(s) = &self.segment {
            c.str(&s.recording_id).u32(s.index);
            c.present(s.prev_sha256.is_some());
            if let Some(p) = &s.prev_sha256 {
                c.hash("segment.prev_sha256", p)?;
            }
            c.bool(s.last);
        }
        c.opt_str(self.note.as_deref());
        Ok(c.finish())
    }
}

impl Redaction {
    /// The exact bytes the device signs.
    pub fn signed_payload(&self) -> Result<Vec<u8>> {
        let mut c = Canon::new(REDACTION_DOMAIN);
        c.str(&self.id)
            .str(&self.record_id)
            .str(&self.evidence_id)
            .str(&self.by)
            .str(&self.reason)
            .i64(self.at_ms)
            .str(&self.device_id);
        c.hash("device_key", &self.device_key)?;
        Ok(c.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> EvidenceEntry {
        EvidenceEntry {
            id: "0190a000-0000-7000-8000-000000000001".into(),
            kind: EvidenceKind::Photo,
            record_kind: "case".into(),
            record_id: "0190a000-0000-7000-8000-000000000002".into(),
            original: BlobRef {
                sha256: "ab".repeat(32),
                size: 5,
                mime: "image/jpeg".into(),
            },
            thumbnail: None,
            display: None,
            media: MediaInfo::default(),
            captured: CaptureTime {
                device_time_ms: 1,
                monotonic_ms: 2,
                clock_offset_ms: None,
                clock_skew: false,
            },
            place: Some(EvidencePlace {
                lat: 31.5,
                lon: 116.25,
                accuracy_m: None,
                source: "device".into(),
            }),
            officer: "OF-1".into(),
            device_id: "d".into(),
            device_key: "cd".repeat(32),
            segment: None,
            note: None,
            signature: String::new(),
            server_received_at_ms: None,
        }
    }

    #[test]
    fn payload_is_stable_and_every_signed_field_changes_it() -> Result<()> {
        let e = sample();
        let base = e.signed_payload()?;
        assert!(base.starts_with(EVIDENCE_DOMAIN));
        let mut f = e.clone();
        f.place = f.place.map(|mut p| {
            p.lat = 31.500_000_1;
            p
        });
        assert_ne!(f.signed_payload()?, base);
        let mut g = e.clone();
        g.server_received_at_ms = Some(5);
        g.signature = "00".into();
        assert_eq!(g.signed_payload()?, base, "unsigned fields must not matter");
        let mut h = e;
        h.original.sha256 = "AB".repeat(32);
        assert!(
            h.signed_payload().is_err(),
            "upper-case hex is not canonical"
        );
        Ok(())
    }

    #[test]
    fn entry_json_round_trips() -> Result<()> {
        let e = sample();
        let v = serde_json::to_value(&e).map_err(|x| CoreError::invalid("t", x.to_string()))?;
        let back: EvidenceEntry =
            serde_json::from_value(v).map_err(|x| CoreError::invalid("t", x.to_string()))?;
        assert_eq!(back, e);
        Ok(())
    }
}
