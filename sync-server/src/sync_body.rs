//! The body of `POST /v1/sync` in the form the phone chose: the [`SyncBody`] extractor reads
//! the request as JSON or CBOR (`Content-Type`), gzip or not (`Content-Encoding`), and
//! [`SyncReply`] answers in the form the request's `Accept` and `Accept-Encoding` ask for.
//!
//! Older phones send JSON with no `Accept` and get JSON, byte for byte what they always got.
//! Every reply says `Accept-Encoding: gzip` (RFC 7694), so a phone learns from its first
//! reply that it may compress what it sends next. The body limit of the router applies to
//! the bytes received and again to the inflated body, so a small gzip body cannot expand
//! past it. The codecs themselves live in core ([`fieldcase_core::sync::codec`]), shared with
//! the client.

use crate::AppState;
use crate::error::ServerError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fieldcase_core::CoreError;
use fieldcase_core::sync::codec::{self, BodyFormat};
use fieldcase_core::sync::wire::{SyncRequest, SyncResponse};

/// How to answer one sync request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The reply's form.
    pub format: BodyFormat,
    /// Whether the reply may be gzip (when it is long enough to gain).
    pub gzip: bool,
}

/// A decoded sync request and how to answer it.
#[derive(Debug)]
pub struct SyncBody(pub SyncRequest, pub Negotiated);

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Maps a codec failure to the reply a phone sees.
fn body_error(format: &'static str, e: CoreError) -> ServerError {
    match e {
        CoreError::TooLarge { limit, .. } => {
            ServerError::TooLarge(format!("the decompressed body exceeds {limit} bytes"))
        }
        CoreError::Protocol { reason } => ServerError::MalformedBody { format, reason },
        other => ServerError::MalformedBody {
            format,
            reason: other.to_string(),
        },
    }
}

impl FromRequest<AppState> for SyncBody {
    type Rejection = ServerError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ServerError> {
        let max_body = state.limits.max_body_bytes;
        let h = req.headers();
        let format = BodyFormat::from_content_type(header_str(h, header::CONTENT_TYPE))
            .ok_or_else(|| {
                ServerError::UnsupportedMediaType(format!(
                    "a sync body is {} or {}",
                    codec::JSON,
                    codec::CBOR
                ))
            })?;
        let gzipped = codec::is_gzip(header_str(h, header::CONTENT_ENCODING)).map_err(|_| {
            ServerError::UnsupportedMediaType("a sync body is gzip or not encoded".into())
        })?;
        let negotiated = Negotiated {
            format: BodyFormat::from_accept(header_str(h, header::ACCEPT)),
            gzip: codec::accepts_gzip(header_str(h, header::ACCEPT_ENCODING)),
        };
        let raw = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ServerError::TooLarge(format!("a request body may hold {max_body} bytes"))
            } else {
                ServerError::BadRequest(format!("sync request body: {e}"))
            }
        })?;
        let plain = if gzipped {
            Bytes::from(codec::gunzip(&raw, max_body).map_err(|e| body_error("gzip", e))?)
        } else {
            raw
        };
        let req: SyncRequest = format
            .decode(&plain)
            .map_err(|e| body_error(format.name(), e))?;
        Ok(SyncBody(req, negotiated))
    }
}

/// A sync reply, encoded as the request negotiated.
#[derive(Debug)]
pub struct SyncReply {
    negotiated: Negotiated,
    body: SyncResponse,
}

impl SyncReply {
    /// `body`, to be sent as `negotiated` says.
    pub fn new(negotiated: Negotiated, body: SyncResponse) -> Self {
        SyncReply { negotiated, body }
    }
}

impl IntoResponse for SyncReply {
    fn into_response(self) -> Response {
        let format = self.negotiated.format;
        let bytes = match format.encode(&self.body) {
            Ok(b) => b,
            Err(e) => return ServerError::Core(e).into_response(),
        };
        let compress = self.negotiated.gzip && bytes.len() >= codec::COMPRESS_MIN;
        let bytes = if compress { codec::gzip(&bytes) } else { bytes };
        let mut resp = (StatusCode::OK, bytes).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        if compress {
            h.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(codec::GZIP),
            );
        }
        // Caches must key on what the request asked for.
        h.insert(
            header::VARY,
            HeaderValue::from_static("accept, accept-encoding"),
        );
        // RFC 7694: this route takes gzip request bodies.
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static(codec::GZIP),
        );
        resp
    }
}
