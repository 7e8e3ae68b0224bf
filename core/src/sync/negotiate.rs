//! Which body form a phone sends its sync requests in, learned from the server's replies
//! and kept in the store, without I/O.
//!
//! A phone cannot know before its first reply whether the server reads CBOR: an older server
//! parses every body as JSON and answers `400` to anything else. So:
//!
//! - a phone that has not learned otherwise sends JSON, with `Accept: application/cbor` and
//!   `Accept-Encoding: gzip`; a server that speaks CBOR answers in it, and its reply's
//!   `Accept-Encoding: gzip` (RFC 7694) says it also takes compressed requests;
//! - from then on (also in later sessions: the finding is kept in the store's meta) the phone
//!   sends CBOR, gzip when the body is at least [`codec::COMPRESS_MIN`] bytes;
//! - a JSON reply to a request that asked for CBOR (an older server, or one rolled back)
//!   forgets the finding; a `400` or `415` to a CBOR or gzip request makes the phone send the
//!   same request again as plain JSON once, and forget the finding too.

use super::codec::{self, BodyFormat};
use super::wire::{SyncRequest, SyncResponse};
use crate::Result;
use crate::store::FieldStore;

/// Meta key of what the server was found to read: `cbor` or `cbor+gzip` (absent: JSON only).
pub const META_WIRE: &str = "sync_wire";

/// What a client may use, whatever the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireOptions {
    /// Ask for and send the binary form once the server is known to read it.
    pub binary: bool,
    /// Ask for compressed replies and compress requests once the server is known to take
    /// them.
    pub gzip: bool,
}

impl Default for WireOptions {
    fn default() -> Self {
        WireOptions {
            binary: true,
            gzip: true,
        }
    }
}

impl WireOptions {
    /// JSON only, uncompressed: what clients before the binary form sent.
    pub fn json_only() -> Self {
        WireOptions {
            binary: false,
            gzip: false,
        }
    }
}

/// The headers of a reply that matter to the sync body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyHeaders {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Accept-Encoding` (what the server takes in requests).
    pub accept_encoding: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<String>,
}

/// A sync request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRequest {
    /// The body, compressed when `gzip`.
    pub body: Vec<u8>,
    /// Its form (`Content-Type`).
    pub format: BodyFormat,
    /// Whether the body is gzip (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// The `Accept` header to send, if any.
    pub accept: Option<&'static str>,
    /// Whether to send `Accept-Encoding: gzip`.
    pub accept_gzip: bool,
}

/// What the server was found to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Learned {
    Json,
    Cbor { gzip: bool },
}

/// The negotiation state of one client and store.
#[derive(Debug, Clone)]
pub struct Negotiation {
    options: WireOptions,
    learned: Learned,
    /// A `400`/`415` to a binary request already sent the request again as JSON in this
    /// session: a second is a real error.
    fell_back: bool,
}

impl Negotiation {
    /// The state kept in `store`.
    pub fn load(store: &FieldStore, options: WireOptions) -> Result<Self> {
        let learned = match store.meta(META_WIRE)?.as_deref() {
            Some(b"cbor") => Learned::Cbor { gzip: false },
            Some(b"cbor+gzip") => Learned::Cbor { gzip: true },
            _ => Learned::Json,
        };
        Ok(Negotiation {
            options,
            learned,
            fell_back: false,
        })
    }

    /// Encodes `req` in the form the server is known to read.
    pub fn encode(&self, req: &SyncRequest) -> Result<EncodedRequest> {
        let (format, may_gzip) = match self.learned {
            Learned::Cbor { gzip } if self.options.binary => (BodyFormat::Cbor, gzip),
            _ => (BodyFormat::Json, false),
        };
        let body = format.encode(req)?;
        let gzip = may_gzip && self.options.gzip && body.len() >= codec::COMPRESS_MIN;
        Ok(EncodedRequest {
            body: if gzip { codec::gzip(&body) } else { body },
            format,
            gzip,
            accept: self.options.binary.then_some(codec::CBOR),
            accept_gzip: self.options.gzip,
        })
    }

    /// Whether a refusal of `sent` with `status` means the server does not read its form:
    /// then the finding is forgotten and `true` says to send the request again as JSON.
    pub fn fall_back(
        &mut self,
        store: &FieldStore,
        sent: &EncodedRequest,
        status: u16,
    ) -> Result<bool> {
        let binaryish = sent.format != BodyFormat::Json || sent.gzip;
        if !binaryish || self.fell_back || !matches!(status, 400 | 415) {
            return Ok(false);
        }
        tracing::info!(status, "server refused a binary sync body; sending JSON");
        self.fell_back = true;
        self.set(store, Learned::Json)?;
        Ok(true)
    }

    /// Decodes a successful reply and learns from its headers what the server reads.
    pub fn decode(
        &mut self,
        store: &FieldStore,
        headers: &ReplyHeaders,
        body: &[u8],
    ) -> Result<SyncResponse> {
        let plain;
        let body = if codec::is_gzip(headers.content_encoding.as_deref())? {
            plain = codec::gunzip(body, codec::MAX_REPLY_INFLATED)?;
            &plain[..]
        } else {
            body
        };
        let format =
            BodyFormat::from_content_type(headers.content_type.as_deref()).ok_or_else(|| {
                crate::CoreError::Protocol {
                    reason: "the sync reply is neither JSON nor CBOR".into(),
                }
            })?;
        let resp = format.decode(body)?;
        if self.options.binary {
            let learned = match format {
                BodyFormat::Cbor => Learned::Cbor {
                    gzip: codec::accepts_gzip(headers.accept_encoding.as_deref()),
                },
                BodyFormat::Json => Learned::Json,
            };
            self.set(store, learned)?;
        }
        Ok(resp)
    }

    fn set(&mut self, store: &FieldStore, learned: Learned) -> Result<()> {
        if learned == self.learned {
            return Ok(());
        }
        self.learned = learned;
        let v: &[u8] = match learned {
            Learned::Json => b"",
            Learned::Cbor { gzip: false } => b"cbor",
            Learned::Cbor { gzip: true } => b"cbor+gzip",
        };
        store.set_meta(META_WIRE, v)
    }
}
