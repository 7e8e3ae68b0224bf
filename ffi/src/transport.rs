//! The networking seam: an app may carry the library's requests on its own platform
//! networking ([`Transport`]) so that large evidence uploads and downloads ride on an iOS
//! `URLSession` background session or an Android WorkManager job and continue while the app
//! is suspended. Without one, the library's built-in HTTP client carries everything.
//!
//! The library still decides every request (URL, headers, body, ranges, retries); the
//! transport sends each one once and returns the reply, whatever its status.

use fieldcase_core::CoreError;
use fieldcase_core::sync as cs;
use std::sync::Arc;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HttpMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
}

/// Why a request is made, for routing: `BlobUpload` and `BlobDownload` suit a background
/// session; the rest are small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RequestPurpose {
    /// Enrolment with a one-time code.
    Enrol,
    /// Records both ways.
    Sync,
    /// Other devices' public keys.
    DeviceKeys,
    /// How much of an evidence file the server holds.
    BlobStatus,
    /// One chunk (at most 1 MiB) of an evidence file, resumable by the library.
    BlobUpload,
    /// A range (at most 4 MiB) of an evidence file, thumbnail or display copy.
    BlobDownload,
}

/// A header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// Name, lower case.
    pub name: String,
    /// Value.
    pub value: String,
}

/// A request to send as it is.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransportRequest {
    /// The method.
    pub method: HttpMethod,
    /// Absolute URL.
    pub url: String,
    /// Headers to send, `authorization` (the device credential) among them: never log them.
    pub headers: Vec<HttpHeader>,
    /// The body (empty for `GET`).
    pub body: Vec<u8>,
    /// Why it is made.
    pub purpose: RequestPurpose,
    /// Certificate pins given at enrolment (`sha256/<base64>` of a key in the server's
    /// chain; empty: none). The transport must refuse a server whose chain holds none of
    /// them (OkHttp `CertificatePinner`, a `URLSession` delegate) and report `PinMismatch`.
    pub pins: Vec<String>,
}

impl std::fmt::Debug for TransportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("purpose", &self.purpose)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The server's reply, any status (4xx and 5xx included: the library reads them).
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransportReply {
    /// HTTP status.
    pub status: u16,
    /// Reply headers (any case).
    pub headers: Vec<HttpHeader>,
    /// The body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for TransportReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportReply")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Why there was no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum TransportError {
    /// No reply: offline, refused, dropped, timed out, TLS failure. The library retries.
    #[error("no reply: {reason}")]
    Failed {
        /// For a log.
        reason: String,
    },
    /// The server's chain holds none of the pinned keys: never retried.
    #[error("certificate pin mismatch")]
    PinMismatch,
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TransportError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TransportError::Failed { reason: e.reason }
    }
}

/// The app's networking. `send` carries one request once and returns the reply; it is
/// called from the library's worker threads, one request at a time per sync.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Sends `request` and returns the reply, or `TransportError` when none came.
    async fn send(&self, request: TransportRequest) -> Result<TransportReply, TransportError>;
}

/// Core's view of an app transport.
pub(crate) struct PlatformTransport(pub(crate) Arc<dyn Transport>);

impl std::fmt::Debug for PlatformTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformTransport")
    }
}

#[async_trait::async_trait]
impl cs::Transport for PlatformTransport {
    async fn send(&self, request: cs::HttpRequest) -> fieldcase_core::Result<cs::HttpReply> {
        let request = TransportRequest {
            method: match request.method {
                cs::Method::Get => HttpMethod::Get,
                cs::Method::Post => HttpMethod::Post,
                cs::Method::Put => HttpMethod::Put,
            },
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: request.body,
            purpose: match request.purpose {
                cs::Purpose::Enrol => RequestPurpose::Enrol,
                cs::Purpose::Sync => RequestPurpose::Sync,
                cs::Purpose::DeviceKeys => RequestPurpose::DeviceKeys,
                cs::Purpose::BlobStatus => RequestPurpose::BlobStatus,
                cs::Purpose::BlobUpload => RequestPurpose::BlobUpload,
                cs::Purpose::BlobDownload => RequestPurpose::BlobDownload,
            },
            pins: request.pins,
        };
        match self.0.send(request).await {
            Ok(reply) => Ok(cs::HttpReply {
                status: reply.status,
                headers: reply
                    .headers
                    .into_iter()
                    .map(|h| (h.name.to_ascii_lowercase(), h.value))
                    .collect(),
                body: reply.body,
            }),
            Err(TransportError::PinMismatch) => Err(CoreError::CertificatePinMismatch),
            Err(TransportError::Failed { reason }) => Err(CoreError::Network { reason }),
        }
    }
}
