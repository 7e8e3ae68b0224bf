//! The bodies of `POST /v1/sync` on the wire: JSON (every client and server speaks it) or
//! CBOR (binary, negotiated with `Content-Type` and `Accept`), either optionally gzip
//! (negotiated with `Accept-Encoding`; a server announces in its reply that it takes
//! compressed requests, RFC 7694).
//!
//! Why CBOR: the same serde types as the JSON form ([`super::wire`]), with Automerge bytes,
//! change hashes and document ids as byte strings instead of base64 and hex text, so a
//! binary body carries the raw Automerge bytes plus field names and a few length bytes;
//! a maintained crate (ciborium) parses it with a recursion limit and no unbounded
//! pre-allocation. Length-prefixed frames would save the field names too but need a second
//! model of every message; gzip takes those repeated names away anyway (see
//! `docs/sync-protocol.md`, "Binary bodies and compression", for the measured sizes).
//!
//! Both sides use these functions, so the client and server cannot disagree on a detail.

use crate::{CoreError, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{Read, Write};

/// Media type of the JSON body.
pub const JSON: &str = "application/json";
/// Media type of the binary body.
pub const CBOR: &str = "application/cbor";
/// The one content coding used for sync bodies.
pub const GZIP: &str = "gzip";
/// Bodies shorter than this are sent as they are: gzip's framing (18 bytes) and the CPU are
/// not worth it for a no-op sync.
pub const COMPRESS_MIN: usize = 1024;
/// The largest decoded reply body a client accepts (a reply is bounded by the server at
/// about 2 MiB of changes plus a feed page; this leaves room for a catalogue bundle).
pub const MAX_REPLY_INFLATED: usize = 64 * 1024 * 1024;

/// The form of a sync body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyFormat {
    /// `application/json`, byte fields in base64 and hashes in hex.
    Json,
    /// `application/cbor`, byte fields, hashes and UUIDs as byte strings.
    Cbor,
}

/// The media type of a header value, without parameters, trimmed and in lower case.
fn media_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl BodyFormat {
    /// The `Content-Type` to send.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyFormat::Json => JSON,
            BodyFormat::Cbor => CBOR,
        }
    }

    /// The name used in logs and error text.
    pub fn name(self) -> &'static str {
        match self {
            BodyFormat::Json => "JSON",
            BodyFormat::Cbor => "CBOR",
        }
    }

    /// The form a `Content-Type` names; a missing header is JSON (what every older client
    /// sends), an unknown one `None`.
    pub fn from_content_type(v: Option<&str>) -> Option<Self> {
        let Some(v) = v else {
            return Some(BodyFormat::Json);
        };
        match media_type(v).as_str() {
            "application/json" | "" => Some(BodyFormat::Json),
            "application/cbor" => Some(BodyFormat::Cbor),
            _ => None,
        }
    }

    /// The form to answer in, from the request's `Accept`: CBOR when it is listed with a
    /// non-zero quality, JSON otherwise (older clients send no `Accept` or `*/*`).
    pub fn from_accept(v: Option<&str>) -> Self {
        let cbor = v.is_some_and(|v| {
            v.split(',').any(|range| {
                let mut parts = range.split(';');
                let ty = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let zero = parts.any(|p| {
                    let p = p.trim();
                    p.strip_prefix("q=")
                        .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
                });
                ty == CBOR && !zero
            })
        });
        if cbor {
            BodyFormat::Cbor
        } else {
            BodyFormat::Json
        }
    }

    /// Encodes `v`.
    pub fn encode<T: Serialize>(self, v: &T) -> Result<Vec<u8>> {
        match self {
            BodyFormat::Json => serde_json::to_vec(v).map_err(|e| protocol(self, e)),
            BodyFormat::Cbor => {
                let mut out = Vec::new();
                ciborium::into_writer(v, &mut out).map_err(|e| protocol(self, e))?;
                Ok(out)
            }
        }
    }

    /// Decodes `bytes`; anything malformed (truncated, wrong types, nesting past ciborium's
    /// recursion limit, trailing bytes) is [`CoreError::Protocol`], never a panic.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T> {
        match self {
            BodyFormat::Json => serde_json::from_slice(bytes).map_err(|e| protocol(self, e)),
            BodyFormat::Cbor => {
                let mut rest = bytes;
                let v = ciborium::from_reader(&mut rest).map_err(|e| protocol(self, e))?;
                if !rest.is_empty() {
                    return Err(protocol(self, "trailing bytes after the body"));
                }
                Ok(v)
            }
        }
    }
}

fn protocol(format: BodyFormat, e: impl std::fmt::Display) -> CoreError {
    CoreError::Protocol {
        reason: format!("malformed {} sync body: {e}", format.name()),
    }
}

/// Whether an `Accept-Encoding` value lists gzip with a non-zero quality.
pub fn accepts_gzip(v: Option<&str>) -> bool {
    v.is_some_and(|v| {
        v.split(',').any(|c| {
            let mut parts = c.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (name == GZIP || name == "x-gzip") && !zero
        })
    })
}

/// Whether a `Content-Encoding` value is gzip; `Ok(false)` for none or `identity`, an error
/// for any other coding.
pub fn is_gzip(v: Option<&str>) -> Result<bool> {
    match v.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(false),
        Some("gzip") | Some("x-gzip") => Ok(true),
        Some(other) => Err(CoreError::Protocol {
            reason: format!("unsupported content coding {other:?}"),
        }),
    }
}

/// gzip of `bytes` (level 6: on sync bodies within 2% of level 9, at a third of its time).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::new(6),
    );
    // Writing into a Vec cannot fail.
    enc.write_all(bytes)
        .and_then(|()| enc.finish())
        .unwrap_or_default()
}

/// Inflates a gzip body into at most `limit` bytes: a small body that inflates past it is
/// [`CoreError::TooLarge`] after reading `limit + 1` bytes, never a large allocation.
pub fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>> {
    let dec = flate2::read::GzDecoder::new(bytes);
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(2).min(limit));
    dec.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| CoreError::Protocol {
            reason: format!("malformed gzip body: {e}"),
        })?;
    if out.len() > limit {
        return Err(CoreError::TooLarge {
            what: "decompressed sync body".into(),
            limit: limit as u64,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RecordKind;
    use crate::sync::wire::{DocPush, DocResult, DocStatus, FeedEntry, SyncRequest, SyncResponse};

    fn request() -> SyncRequest {
        SyncRequest {
            protocol: 1,
            device_id: "dev-1".into(),
            request_id: "r".into(),
            cursor: 7,
            docs: vec![
                DocPush {
                    doc_id: "0190b3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b".into(),
                    kind: RecordKind::Case,
                    have_heads: vec!["ab".repeat(32), "not hex".into()],
                    server_heads: vec![],
                    changes: vec![0x85, 0x6f, 0x4a, 0x83, 0, 1, 2],
                },
                DocPush {
                    // Not canonical: kept as text so it round-trips exactly.
                    doc_id: "0190B3A4-5C6D-7E8F-9A0B-1C2D3E4F5A6B".into(),
                    kind: RecordKind::Party,
                    have_heads: vec!["AB".repeat(32)],
                    server_heads: vec!["cd".repeat(32)],
                    changes: vec![],
                },
            ],
            actor_id: Some("00ff".into()),
            catalogue_version: None,
            catalogue_versions: vec![],
            catalogue_refused: None,
            roster_digest: None,
        }
    }

    #[test]
    fn both_forms_round_trip_and_cbor_carries_raw_bytes() {
        let req = request();
        for f in [BodyFormat::Json, BodyFormat::Cbor] {
            let bytes = f.encode(&req).expect("encode");
            let back: SyncRequest = f.decode(&bytes).expect("decode");
            assert_eq!(back, req, "{f:?}");
        }
        let cbor = BodyFormat::Cbor.encode(&req).expect("encode");
        let json = BodyFormat::Json.encode(&req).expect("encode");
        assert!(
            cbor.len() < json.len() * 3 / 4,
            "{} vs {}",
            cbor.len(),
            json.len()
        );
        // The canonical head is 32 raw bytes in CBOR (0x58 0x20 header), not 64 hex chars.
        let raw = [0xabu8; 32];
        assert!(
            cbor.windows(34)
                .any(|w| w[..2] == [0x58, 0x20] && w[2..] == raw)
        );
        assert!(!cbor.windows(64).any(|w| w == "ab".repeat(32).as_bytes()));
    }

    #[test]
    fn a_response_round_trips_in_both_forms() {
        let resp = SyncResponse {
            protocol: 1,
            cursor: 3,
            docs: vec![DocResult {
                doc_id: "0190b3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b".into(),
                kind: RecordKind::Case,
                status: DocStatus::Rejected,
                reason: Some("r".into()),
                code: Some("forged_author".into()),
                server_heads: vec!["01".repeat(32)],
                changes: vec![1, 2, 3],
            }],
            feed: vec![FeedEntry {
                doc_id: "x".into(),
                kind: RecordKind::Demonstration,
                heads: vec![],
            }],
            more: true,
            server_time_ms: 5,
            catalogue_version: Some("1.0".into()),
            catalogue: None,
            number_blocks: vec![],
            roster: None,
            roster_digest: None,
            restore_epoch: Some("5f0c2a1e9d8b7c6a5f0c2a1e9d8b7c6a".into()),
        };
        for f in [BodyFormat::Json, BodyFormat::Cbor] {
            let bytes = f.encode(&resp).expect("encode");
            let back: SyncResponse = f.decode(&bytes).expect("decode");
            assert_eq!(back, resp, "{f:?}");
        }
    }

    #[test]
    fn malformed_cbor_is_an_error_not_a_panic() {
        let good = BodyFormat::Cbor.encode(&request()).expect("encode");
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff],
            vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0x9f; 10_000],
            b"{\"protocol\":1}".to_vec(),
        ];
        for cut in [1, good.len() / 2, good.len() - 1] {
            inputs.push(good[..cut].to_vec());
        }
        let mut trailing = good.clone();
        trailing.push(0);
        inputs.push(trailing);
        // A 17-byte "document id": not a UUID.
        let mut bad_id = good.clone();
        if let Some(i) = bad_id.windows(1).position(|w| w[0] == 0x50) {
            bad_id[i] = 0x51;
            inputs.push(bad_id);
        }
        for input in inputs {
            let r: Result<SyncRequest> = BodyFormat::Cbor.decode(&input);
            assert!(
                matches!(r, Err(CoreError::Protocol { .. })),
                "{:?}",
                &input[..input.len().min(16)]
            );
        }
    }

    #[test]
    fn negotiation_headers() {
        assert_eq!(BodyFormat::from_content_type(None), Some(BodyFormat::Json));
        assert_eq!(
            BodyFormat::from_content_type(Some("application/json; charset=utf-8")),
            Some(BodyFormat::Json)
        );
        assert_eq!(
            BodyFormat::from_content_type(Some("Application/CBOR")),
            Some(BodyFormat::Cbor)
        );
        assert_eq!(BodyFormat::from_content_type(Some("text/plain")), None);
        assert_eq!(BodyFormat::from_accept(None), BodyFormat::Json);
        assert_eq!(BodyFormat::from_accept(Some("*/*")), BodyFormat::Json);
        assert_eq!(
            BodyFormat::from_accept(Some("application/cbor, application/json;q=0.5")),
            BodyFormat::Cbor
        );
        assert_eq!(
            BodyFormat::from_accept(Some("application/cbor;q=0")),
            BodyFormat::Json
        );
        assert!(accepts_gzip(Some("gzip, br")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(None));
        assert!(is_gzip(Some("gzip")).expect("gzip"));
        assert!(!is_gzip(None).expect("none"));
        assert!(is_gzip(Some("br")).is_err());
    }

    #[test]
    fn gunzip_is_bounded() {
        let big = vec![0u8; 1 << 20];
        let z = gzip(&big);
        assert!(z.len() < 4096);
        assert_eq!(gunzip(&z, 1 << 20).expect("fits"), big);
        assert!(matches!(
            gunzip(&z, (1 << 20) - 1),
            Err(CoreError::TooLarge { .. })
        ));
        assert!(matches!(
            gunzip(b"not gzip", 100),
            Err(CoreError::Protocol { .. })
        ));
    }
}
