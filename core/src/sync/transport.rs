//! What carries the sync client's requests: the [`Transport`] seam, and [`HttpTransport`],
//! the default over reqwest with rustls (ring, webpki roots plus an optional bureau CA,
//! optionally pinned: [`super::pinning`]).
//!
//! The client decides every request (its URL, headers, body, and when to retry); a transport
//! only carries one request once and hands back the reply. A phone app may install its own
//! (`FieldStore::set_transport`) so that large evidence uploads ride on the platform's
//! background machinery (an iOS `URLSession` background task, Android WorkManager): the
//! platform keeps a transfer going while the app is suspended, which no in-process HTTP
//! client can. A platform transport takes over certificate checking as well: each request
//! carries the pins given at enrolment ([`HttpRequest::pins`]) for it to apply.

use super::pinning::{PinnedVerifier, SpkiPin};
use crate::{CoreError, Result};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// An HTTP method the protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// Why a request is made, so a platform transport can route it: evidence uploads and
/// downloads to a background session, the rest to an ordinary one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `POST /v1/enrol`.
    Enrol,
    /// `POST /v1/sync`: records both ways.
    Sync,
    /// `GET /v1/device-keys`.
    DeviceKeys,
    /// `GET /v1/blobs/{sha}/status`.
    BlobStatus,
    /// `PUT /v1/blobs/{sha}?offset=..&total=..`: one chunk of an evidence file.
    BlobUpload,
    /// `GET /v1/blobs/{sha}` (ranged): an evidence file, thumbnail or display copy.
    BlobDownload,
}

/// One request, complete: what the transport sends as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Header names in lower case, values as sent (`authorization` holds the device's
    /// credential).
    pub headers: Vec<(String, String)>,
    /// The body (empty for `GET`).
    pub body: Vec<u8>,
    /// Why it is made.
    pub purpose: Purpose,
    /// Keys the server's certificate chain must include one of (`sha256/<base64>` each;
    /// empty: no pinning), as given at enrolment. [`HttpTransport`] applies them itself; a
    /// platform transport must apply them (OkHttp's `CertificatePinner`, a `URLSession`
    /// delegate).
    pub pins: Vec<String>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credential and the body (records, evidence) stay out of logs.
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("purpose", &self.purpose)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    /// A request without headers or body.
    pub fn new(method: Method, url: impl Into<String>, purpose: Purpose) -> Self {
        HttpRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            purpose,
            pins: Vec::new(),
        }
    }

    /// Adds a header (the name lower-cased).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Adds `authorization: Bearer <credential>`.
    pub fn bearer(self, credential: &str) -> Self {
        self.header("authorization", format!("Bearer {credential}"))
    }

    /// Sets the body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

/// A reply as received.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// HTTP status.
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body; empty when [`Transport::fetch`] streamed it into the sink.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpReply")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HttpReply {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Where [`Transport::fetch`] puts a downloaded body.
pub trait BodySink: Send {
    /// Called once the status and headers are known; `true` to have the body written here
    /// with [`BodySink::write`], `false` to have it returned in [`HttpReply::body`].
    fn start(&mut self, status: u16, headers: &[(String, String)]) -> Result<bool>;
    /// A piece of the body, in order. An error stops the transfer and is returned by
    /// `fetch` as it is.
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
}

/// Carries one request and returns its reply, or the reason there was none.
///
/// A reply is any HTTP status, 4xx and 5xx included: the client reads error bodies and
/// decides on retries itself. `Err` means no reply: [`CoreError::Network`] (refused, dropped,
/// timed out, TLS failure) or [`CoreError::CertificatePinMismatch`] (not retried).
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends `request` once.
    async fn send(&self, request: HttpRequest) -> Result<HttpReply>;

    /// Sends a download request once, streaming the body into `sink` when it asks for it.
    /// The default reads the whole reply with [`Transport::send`] first, which is why the
    /// client asks such transports for ranges of at most [`Transport::download_window`].
    async fn fetch(&self, request: HttpRequest, sink: &mut dyn BodySink) -> Result<HttpReply> {
        let mut reply = self.send(request).await?;
        if sink.start(reply.status, &reply.headers)? {
            let body = std::mem::take(&mut reply.body);
            sink.write(&body)?;
        }
        Ok(reply)
    }

    /// The most bytes a download asks for in one request; `None` for the rest of the file
    /// (a transport that streams). Platform transports hold each reply in memory, so they
    /// get ranges of [`PLATFORM_DOWNLOAD_WINDOW`] by default.
    fn download_window(&self) -> Option<u64> {
        Some(PLATFORM_DOWNLOAD_WINDOW)
    }
}

/// The range a download asks a non-streaming transport for at a time.
pub const PLATFORM_DOWNLOAD_WINDOW: u64 = 4 * 1024 * 1024;

/// The default transport: reqwest on the library's tokio runtime, rustls with the webpki
/// roots and the bureau's CA, pinned when pins were given. Streams downloads.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    http: reqwest::Client,
}

impl HttpTransport {
    /// A transport trusting the public roots plus `extra_roots_pem`, pinned to `pins` when
    /// any are given, with `timeout` per request.
    pub fn new(
        extra_roots_pem: Option<&[u8]>,
        pins: &[SpkiPin],
        timeout: Duration,
    ) -> Result<Self> {
        let tls = tls_config(extra_roots_pem, pins)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(net)?;
        Ok(HttpTransport { http })
    }

    fn build(&self, request: HttpRequest) -> reqwest::RequestBuilder {
        let mut b = match request.method {
            Method::Get => self.http.get(&request.url),
            Method::Post => self.http.post(&request.url),
            Method::Put => self.http.put(&request.url),
        };
        for (n, v) in &request.headers {
            b = b.header(n.as_str(), v.as_str());
        }
        if !request.body.is_empty() || request.method != Method::Get {
            b = b.body(request.body);
        }
        b
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpReply> {
        let resp = self.build(request).send().await.map_err(net)?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        let body = resp.bytes().await.map_err(net)?.to_vec();
        Ok(HttpReply {
            status,
            headers,
            body,
        })
    }

    async fn fetch(&self, request: HttpRequest, sink: &mut dyn BodySink) -> Result<HttpReply> {
        let mut resp = self.build(request).send().await.map_err(net)?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        if !sink.start(status, &headers)? {
            let body = resp.bytes().await.map_err(net)?.to_vec();
            return Ok(HttpReply {
                status,
                headers,
                body,
            });
        }
        while let Some(bytes) = resp.chunk().await.map_err(net)? {
            sink.write(&bytes)?;
        }
        Ok(HttpReply {
            status,
            headers,
            body: Vec::new(),
        })
    }

    fn download_window(&self) -> Option<u64> {
        None
    }
}

fn headers_of(h: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

/// A transport failure; a handshake refused by the pin check is told apart, as it is not
/// cured by retrying.
pub(super) fn net(e: reqwest::Error) -> CoreError {
    if super::pinning::is_pin_mismatch(&e) {
        return CoreError::CertificatePinMismatch;
    }
    CoreError::Network {
        reason: e.to_string(),
    }
}

fn tls_config(extra_pem: Option<&[u8]>, pins: &[SpkiPin]) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_pem {
        let mut reader = std::io::BufReader::new(pem);
        for cert in rustls_pemfile::certs(&mut reader) {
            let cert = cert.map_err(|e| CoreError::invalid("extra_roots_pem", e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| CoreError::invalid("extra_roots_pem", e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| CoreError::invalid("tls", e.to_string()))?;
    let config = if pins.is_empty() {
        builder.with_root_certificates(roots)
    } else {
        let verifier = PinnedVerifier::new(Arc::new(roots), provider, pins.to_vec())?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    }
    .with_no_client_auth();
    Ok(config)
}
