//! The HTTP shell around [`super::session::SyncSession`]: enrolment, sync rounds and
//! resumable blob upload over reqwest with rustls (ring provider, webpki roots plus an
//! optional bureau CA, optionally pinned to the bureau's keys: [`super::pinning`]), driven
//! by tokio.
//!
//! Plain `http://` is accepted only for loopback addresses (tests, a server on the same
//! machine); everything else must be `https://`. Transport failures are retried a bounded
//! number of times with backoff; every request is idempotent, so a retry is always safe.

use super::pinning::{PinnedVerifier, SpkiPin};
use super::progress::{CancelToken, NoProgress, SyncObserver, SyncPhase, SyncProgress};
use super::session::{SyncReport, SyncSession};
use super::wire::{
    BlobStatus, DeviceKeysResponse, EnrolRequest, EnrolResponse, ErrorBody, SyncResponse,
};
use crate::evidence::sealed::BlobReader;
use crate::model::RecordKind;
use crate::store::FieldStore;
use crate::{CoreError, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Meta key of the enrolled device id.
pub const META_DEVICE_ID: &str = "sync_device_id";
/// Meta key of the device credential.
pub const META_CREDENTIAL: &str = "sync_credential";
/// Meta key of the enrolled user's id: every record this phone writes names it as author.
pub const META_USER_ID: &str = "sync_user_id";
/// Meta key of the enrolled user's role.
pub const META_USER_ROLE: &str = "sync_user_role";
/// Meta key of the enrolled user's unit path.
pub const META_USER_UNIT: &str = "sync_user_unit";
/// Meta key of the server URL the device enrolled with.
pub const META_SERVER_URL: &str = "sync_server_url";
/// Meta key of the certificate pins given at enrolment (`sha256/...`, one a line; empty for
/// none).
pub const META_PINS: &str = "sync_pins";
/// Meta key of the extra trusted roots (PEM) given at enrolment (empty for none).
pub const META_EXTRA_ROOTS: &str = "sync_extra_roots_pem";

/// Meta key of the server's ed25519 public key (hex), pinned at enrolment (or at the first
/// key refresh after an older server's enrolment): every catalogue must be signed by it.
pub const META_SERVER_SIGNING_KEY: &str = "sync_server_signing_key";

/// Meta key of the time (device clock, ms) device keys were last fetched.
pub const META_DEVICE_KEYS_AT: &str = "sync_device_keys_at_ms";

/// Bytes per blob upload request.
pub const BLOB_CHUNK: usize = 1024 * 1024;

/// Device keys are fetched again after this long even when nothing new arrived (to learn
/// devices enrolled since, whose evidence may arrive later).
pub const DEVICE_KEYS_REFRESH_MS: i64 = 24 * 3_600_000;

/// First retry delay; each further retry doubles it, up to [`BACKOFF_MAX_MS`].
const BACKOFF_BASE_MS: u64 = 400;
/// Longest retry delay before jitter.
const BACKOFF_MAX_MS: u64 = 8_000;
/// Longest wait a `429` reply's `Retry-After` is honoured for.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);
/// Wait after a `429` without a usable `Retry-After`.
const RETRY_AFTER_DEFAULT: Duration = Duration::from_secs(1);
/// Slice of a wait between cancellation checks.
const PAUSE_SLICE: Duration = Duration::from_millis(200);

/// The wait a `429` reply asks for: `Retry-After` in seconds (an HTTP date is not used),
/// capped at [`RETRY_AFTER_MAX`].
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(RETRY_AFTER_DEFAULT, Duration::from_secs)
        .min(RETRY_AFTER_MAX)
}

/// Sleeps `d`, checking `cancel` every [`PAUSE_SLICE`].
async fn pause(cancel: &CancelToken, d: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        cancel.check()?;
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(());
        }
        tokio::time::sleep((deadline - now).min(PAUSE_SLICE)).await;
    }
}

/// The delay before retry `attempt` (1-based): a random 50-100% of
/// `min(BACKOFF_BASE_MS * 2^(attempt-1), BACKOFF_MAX_MS)`.
fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE_MS
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX_MS);
    let mut r = [0u8; 2];
    // Without randomness, the full delay: still bounded, just not spread.
    let frac = match getrandom::fill(&mut r) {
        Ok(()) => u64::from(u16::from_le_bytes(r)),
        Err(_) => u64::from(u16::MAX),
    };
    let half = exp / 2;
    Duration::from_millis(half + half * frac / u64::from(u16::MAX))
}

fn protocol(e: impl std::fmt::Display) -> CoreError {
    CoreError::Protocol {
        reason: e.to_string(),
    }
}

/// How to reach the server.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL, e.g. `https://sync.example.org` (no trailing path).
    pub server_url: String,
    /// A PEM bundle of extra trusted roots (a bureau's own CA), if any.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Keys the server's validated chain must include one of; empty for no pinning.
    pub pins: Vec<SpkiPin>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts per request on transport errors and 5xx replies (at least 1).
    pub attempts: u32,
    /// Automerge bytes per sync request.
    pub batch_bytes: usize,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("server_url", &self.server_url)
            .field("pins", &self.pins)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// Defaults: 30 s timeout, 4 attempts, 512 KiB batches.
    pub fn new(server_url: impl Into<String>) -> Self {
        ClientConfig {
            server_url: server_url.into(),
            extra_roots_pem: None,
            pins: Vec::new(),
            timeout: Duration::from_secs(30),
            attempts: 4,
            batch_bytes: super::wire::DEFAULT_BATCH_BYTES,
        }
    }

    /// Pins the server to these keys (`sha256/<base64>` each); a malformed pin is
    /// [`CoreError::InvalidInput`] with field `pin`, so a typo is caught at enrolment and
    /// never leaves the phone unpinned.
    pub fn with_pins<S: AsRef<str>>(mut self, pins: &[S]) -> Result<Self> {
        self.pins = SpkiPin::parse_all(pins)?;
        Ok(self)
    }

    /// The configuration a store enrolled with: its server URL, pins and extra roots.
    /// [`CoreError::NotEnrolled`] when it never enrolled.
    pub fn for_store(store: &FieldStore) -> Result<Self> {
        let text = |key: &str| -> Result<Option<String>> {
            Ok(store
                .meta(key)?
                .and_then(|v| String::from_utf8(v).ok())
                .filter(|v| !v.is_empty()))
        };
        let url = text(META_SERVER_URL)?.ok_or(CoreError::NotEnrolled)?;
        let pins: Vec<String> = text(META_PINS)?
            .map(|p| p.lines().map(str::to_string).collect())
            .unwrap_or_default();
        let mut config = ClientConfig::new(url).with_pins(&pins)?;
        config.extra_roots_pem = text(META_EXTRA_ROOTS)?.map(String::into_bytes);
        Ok(config)
    }
}

/// The sync client. Cheap to clone.
#[derive(Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    base: String,
    config: ClientConfig,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A transport failure; a handshake refused by the pin check is told apart, as it is not
/// cured by retrying.
fn net(e: reqwest::Error) -> CoreError {
    if super::pinning::is_pin_mismatch(&e) {
        return CoreError::CertificatePinMismatch;
    }
    CoreError::Network {
        reason: e.to_string(),
    }
}

/// Whether `url` is `http://` to a loopback host, parsed as the HTTP client will parse it
/// (WHATWG URL rules): `http://127.0.0.1@example.org/` is a request to example.org with a
/// user name, not to loopback. A URL with a user name or password is refused outright.
fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    if u.scheme() != "http" || !u.username().is_empty() || u.password().is_some() {
        return false;
    }
    // The parser has normalised the host: IPv4 in dotted decimal, IPv6 in brackets, names
    // in lower case.
    let Some(host) = u.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost",
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

impl SyncClient {
    /// A client for `config.server_url`.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let base = config.server_url.trim_end_matches('/').to_string();
        if base.starts_with("http://") {
            if !is_loopback_url(&base) {
                return Err(CoreError::invalid(
                    "server_url",
                    "plain http is allowed only for loopback addresses; use https",
                ));
            }
        } else if !base.starts_with("https://") {
            return Err(CoreError::invalid("server_url", "must start with https://"));
        }
        if !config.pins.is_empty() && !base.starts_with("https://") {
            // Nothing to check a pin against: refuse rather than run unpinned.
            return Err(CoreError::invalid(
                "pins",
                "pinning needs an https:// server URL",
            ));
        }
        let tls = tls_config(config.extra_roots_pem.as_deref(), &config.pins)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(net)?;
        Ok(SyncClient { http, base, config })
    }

    /// A client for the server `store` enrolled with, pinned and trusting as at enrolment.
    /// [`CoreError::NotEnrolled`] when it never enrolled.
    pub fn for_store(store: &FieldStore) -> Result<Self> {
        SyncClient::new(ClientConfig::for_store(store)?)
    }

    fn credential(store: &FieldStore) -> Result<(String, String)> {
        let id = store
            .meta(META_DEVICE_ID)?
            .and_then(|v| String::from_utf8(v).ok());
        let cred = store
            .meta(META_CREDENTIAL)?
            .and_then(|v| String::from_utf8(v).ok());
        match (id, cred) {
            (Some(i), Some(c)) => Ok((i, c)),
            _ => Err(CoreError::NotEnrolled),
        }
    }

    /// Sends one request with bounded retries; returns the status and body of a reply that
    /// is not a transport failure, a 5xx or a `429`. Transport failures and 5xx replies are
    /// retried after a jittered backoff; a `429 rate_limited` after the `Retry-After` it
    /// gives (capped at [`RETRY_AFTER_MAX`]). When the attempts run out the last failure is
    /// returned (a `429` as [`CoreError::Server`] with status 429) without waiting again.
    /// Checks `cancel` before every attempt and during every wait.
    async fn send(
        &self,
        cancel: &CancelToken,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>)> {
        let attempts = self.config.attempts.max(1);
        let mut last = CoreError::Network {
            reason: "no attempt made".into(),
        };
        let mut wait: Option<Duration> = None;
        for attempt in 0..attempts {
            cancel.check()?;
            if attempt > 0 {
                pause(cancel, wait.take().unwrap_or_else(|| backoff(attempt))).await?;
            }
            match build().send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let throttled = status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                    let asked = throttled.then(|| retry_after(resp.headers()));
                    match resp.bytes().await {
                        Ok(body) if !status.is_server_error() && !throttled => {
                            return Ok((status, body.to_vec()));
                        }
                        Ok(body) => {
                            if throttled {
                                tracing::info!(wait_ms = ?asked, "server asked to slow down");
                            }
                            last = error_from(status, &body);
                            wait = asked;
                        }
                        Err(e) => last = net(e),
                    }
                }
                Err(e) => match net(e) {
                    // The same key comes back on every attempt.
                    e @ CoreError::CertificatePinMismatch => return Err(e),
                    e => last = e,
                },
            }
        }
        Err(last)
    }

    /// Enrols this device with a one-time code. Stores the device id, credential, server URL
    /// with this client's pins and extra roots (so [`SyncClient::for_store`] reaches the
    /// server as enrolment did), bureau party-match key (used from the next open of the
    /// store) and clock offset. Nothing is stored when the request fails, a refused pin
    /// included.
    pub async fn enrol(
        &self,
        store: &FieldStore,
        code: &str,
        device_public_key_hex: &str,
        device_label: &str,
    ) -> Result<EnrolResponse> {
        let body = serde_json::to_vec(&EnrolRequest {
            code: code.to_string(),
            device_public_key: device_public_key_hex.to_string(),
            device_label: device_label.to_string(),
            actor_id: Some(store.actor_hex()),
        })
        .map_err(|e| CoreError::invalid("enrol", e.to_string()))?;
        let url = format!("{}/v1/enrol", self.base);
        let (status, bytes) = self
            .send(&CancelToken::new(), || {
                self.http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
            })
            .await?;
        if !status.is_success() {
            return Err(error_from(status, &bytes));
        }
        let resp: EnrolResponse =
            serde_json::from_slice(&bytes).map_err(|e| CoreError::Protocol {
                reason: e.to_string(),
            })?;
        let party_key = match &resp.party_match_key {
            None => None,
            Some(h) => Some(
                hex::decode(h)
                    .ok()
                    .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
                    .ok_or_else(|| CoreError::Protocol {
                        reason: "party match key is not 32 bytes of hex".into(),
                    })?,
            ),
        };
        let pii_key = match &resp.pii_key {
            None => None,
            Some(h) => Some(
                hex::decode(h)
                    .ok()
                    .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
                    .ok_or_else(|| CoreError::Protocol {
                        reason: "PII key is not 32 bytes of hex".into(),
                    })?,
            ),
        };
        let offset = resp.server_time_ms - crate::ids::now_ms();
        let pins = self
            .config
            .pins
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        let roots = self.config.extra_roots_pem.as_deref().unwrap_or_default();
        // The key catalogues must be signed by, pinned with the enrolment (empty when the
        // server is too old to send it: the first key refresh pins it then).
        let server_key = resp
            .server_signing_key
            .as_deref()
            .map(str::to_ascii_lowercase)
            .filter(|k| k.len() == 64 && k.chars().all(|c| c.is_ascii_hexdigit()))
            .unwrap_or_default();
        store.set_metas(&[
            (META_SERVER_SIGNING_KEY, server_key.as_bytes()),
            (META_DEVICE_ID, resp.device_id.as_bytes()),
            (META_CREDENTIAL, resp.credential.as_bytes()),
            (META_USER_ID, resp.user_id.as_bytes()),
            (META_USER_ROLE, resp.role.as_bytes()),
            (META_USER_UNIT, resp.unit.as_bytes()),
            (META_SERVER_URL, self.base.as_bytes()),
            (META_PINS, pins.as_bytes()),
            (META_EXTRA_ROOTS, roots),
            (
                super::session::META_CLOCK_OFFSET,
                offset.to_string().as_bytes(),
            ),
        ])?;
        // The bureau's match key, or none at all for a role that does not handle parties
        // (a key made locally before enrolment is dropped too).
        store.set_party_match_key(party_key)?;
        // Parties recorded from now on are sealed under the bureau key, so every entitled
        // phone can read them; keys held before stay for parties sealed earlier.
        if let Some(k) = pii_key {
            store.add_pii_key(k)?;
        }
        Ok(resp)
    }

    /// Runs one sync session to completion (records, device keys, blobs) with no progress
    /// reporting and no cancellation: [`SyncClient::sync_with`].
    pub async fn sync(&self, store: &FieldStore) -> Result<SyncReport> {
        self.sync_with(store, &NoProgress, &CancelToken::new())
            .await
    }

    /// Runs one whole sync session:
    ///
    /// 1. **Records**: pushes every dirty document and fetches everything new the device may
    ///    read, in rounds, persisting the cursor once everything up to it is held.
    /// 2. **Device keys**: learns the public keys of the devices whose evidence this phone may
    ///    read (when documents arrived, on first sync, or once a day), so `verify_case`
    ///    accepts their signatures.
    /// 3. **Blobs**: uploads every evidence file the server has not confirmed, resuming
    ///    partial uploads, and marks each confirmed. A blob the server refuses for now (e.g.
    ///    its record was rejected) stays pending and does not fail the sync.
    ///
    /// `observer` gets a snapshot after every request and blob chunk, and once with
    /// [`SyncPhase::Done`]. `cancel` is checked before every request and chunk: a cancelled
    /// sync returns [`CoreError::Cancelled`] with everything done so far kept and consistent.
    pub async fn sync_with(
        &self,
        store: &FieldStore,
        observer: &dyn SyncObserver,
        cancel: &CancelToken,
    ) -> Result<SyncReport> {
        let (device_id, credential) = Self::credential(store)?;
        cancel.check()?;
        let mut progress = SyncProgress::start();
        observer.progress(&progress);

        // 1. Records.
        let mut session =
            SyncSession::new(store, device_id)?.with_batch_bytes(self.config.batch_bytes);
        let url = format!("{}/v1/sync", self.base);
        while let Some(req) = session.next_request(store)? {
            cancel.check()?;
            let pushes = req.docs.iter().filter(|d| !d.changes.is_empty()).count();
            let body = serde_json::to_vec(&req).map_err(protocol)?;
            let (status, bytes) = self
                .send(cancel, || {
                    self.http
                        .post(&url)
                        .bearer_auth(&credential)
                        .header("content-type", "application/json")
                        .body(body.clone())
                })
                .await?;
            session.report_mut().bytes_sent += body.len() as u64;
            session.report_mut().bytes_received += bytes.len() as u64;
            if !status.is_success() {
                return Err(error_from(status, &bytes));
            }
            let resp: SyncResponse = serde_json::from_slice(&bytes).map_err(protocol)?;
            session.apply_response(store, resp)?;
            progress.docs_sent = progress
                .docs_sent
                .saturating_add(u32::try_from(pushes).unwrap_or(u32::MAX));
            progress.docs_received = session.report().received;
            progress.bytes_sent = session.report().bytes_sent;
            progress.bytes_received = session.report().bytes_received;
            observer.progress(&progress);
        }
        let received_docs = session.received_docs().to_vec();

        // 2. Device keys.
        cancel.check()?;
        progress.phase = SyncPhase::DeviceKeys;
        observer.progress(&progress);
        let last_fetch = store
            .meta(META_DEVICE_KEYS_AT)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<i64>().ok());
        let now = crate::ids::now_ms();
        let stale = last_fetch.is_none_or(|t| now.saturating_sub(t) >= DEVICE_KEYS_REFRESH_MS);
        // A catalogue that arrived before the server key was pinned needs the key fetch too.
        let pending_catalogue = session.has_pending_catalogue();
        let mut keys = None;
        if session.report().received > 0 || stale || pending_catalogue {
            keys = Some(self.learn_device_keys(store, &credential, cancel).await?);
        }
        session.install_pending_catalogue(store)?;
        let mut report = session.report().clone();
        if let Some((learned, sent, received)) = keys {
            report.device_keys_learned = learned;
            report.bytes_sent += sent;
            report.bytes_received += received;
            progress.bytes_sent = report.bytes_sent;
            progress.bytes_received = report.bytes_received;
            observer.progress(&progress);
        }

        // 3. Blobs.
        cancel.check()?;
        let blobs = store.unconfirmed_blobs()?;
        progress.phase = SyncPhase::Blobs;
        progress.blobs_total = u32::try_from(blobs.len()).unwrap_or(u32::MAX);
        observer.progress(&progress);
        for b in &blobs {
            cancel.check()?;
            let outcome = {
                let mut on_chunk = |sent: u64, received: u64| {
                    report.bytes_sent += sent;
                    report.bytes_received += received;
                    progress.bytes_sent = report.bytes_sent;
                    progress.bytes_received = report.bytes_received;
                    observer.progress(&progress);
                };
                self.upload_stored(store, &credential, &b.sha256, cancel, &mut on_chunk)
                    .await
            };
            match outcome {
                Ok(()) => {
                    store.mark_blob_confirmed(&b.sha256)?;
                    report.blobs_uploaded += 1;
                }
                // Refused for now (not referenced by a record the server accepted, too
                // large, content mismatch): stays pending, the phone keeps the file.
                Err(CoreError::Server { status, code, .. }) if status < 500 => {
                    tracing::warn!(blob = %b.sha256, status, %code, "blob left pending");
                    report.blobs_pending += 1;
                }
                // The local file is unreadable: nothing to send; keep the row for a later
                // verification to report.
                Err(CoreError::Io { .. }) => {
                    tracing::warn!(blob = %b.sha256, "blob file unreadable; left pending");
                    report.blobs_pending += 1;
                }
                Err(e) => return Err(e),
            }
            progress.blobs_done += 1;
            observer.progress(&progress);
        }

        // 4. Thumbnails of evidence in documents received now that this phone lacks
        //    (originals are fetched on demand with `download_blob`).
        let mut wanted: Vec<(String, String, u64)> = Vec::new();
        for (doc_id, kind) in &received_docs {
            if !matches!(kind, RecordKind::Case | RecordKind::Demonstration) {
                continue;
            }
            for e in store.evidence(doc_id)? {
                if let Some(t) = e.thumbnail
                    && !wanted.iter().any(|(sha, _, _)| sha == &t.sha256)
                    && !store.holds_blob(&t.sha256)?
                {
                    wanted.push((t.sha256, t.mime, t.size));
                }
            }
        }
        for (sha, mime, size) in &wanted {
            cancel.check()?;
            let outcome = {
                let mut on_bytes = |received: u64| {
                    report.bytes_received += received;
                    progress.bytes_received = report.bytes_received;
                };
                self.download_inner(
                    store,
                    &credential,
                    sha,
                    Fetch {
                        role: "thumbnail",
                        mime,
                        max_size: Some(*size),
                    },
                    cancel,
                    &mut on_bytes,
                )
                .await
            };
            match outcome {
                Ok(_) => {
                    report.thumbnails_fetched += 1;
                    progress.thumbnails_fetched = report.thumbnails_fetched;
                }
                // Not on the server yet (its phone has not uploaded it) or not readable:
                // a later sync or an on-demand download gets it.
                Err(CoreError::Server { status, code, .. }) if status < 500 && status != 429 => {
                    tracing::info!(blob = %sha, status, %code, "thumbnail not available yet");
                }
                Err(CoreError::BlobHashMismatch { .. }) => {
                    tracing::warn!(blob = %sha, "thumbnail arrived damaged; discarded");
                }
                Err(e) => return Err(e),
            }
            observer.progress(&progress);
        }

        progress.phase = SyncPhase::Done;
        observer.progress(&progress);
        Ok(report)
    }

    /// Downloads blob `sha256` (hex) into this phone's blob folder and returns its path. A
    /// blob the phone already holds is not fetched again. The file is streamed to a
    /// temporary file (a broken transfer resumes from where it stopped on the next attempt,
    /// with `Range`), fsynced, and only if its SHA-256 matches renamed into the blob folder
    /// and recorded as held by the server (never uploaded back). A wrong hash returns
    /// [`CoreError::BlobHashMismatch`] and leaves nothing behind. The server answers `404`
    /// ([`CoreError::Server`]) for a blob it does not hold or the device may not read.
    pub async fn download_blob(&self, store: &FieldStore, sha256: &str) -> Result<PathBuf> {
        let (_, credential) = Self::credential(store)?;
        self.download_inner(
            store,
            &credential,
            sha256,
            Fetch {
                role: "original",
                mime: "application/octet-stream",
                max_size: None,
            },
            &CancelToken::new(),
            &mut |_| {},
        )
        .await
    }

    /// The download loop; `on_bytes(received)` after every body frame.
    async fn download_inner(
        &self,
        store: &FieldStore,
        credential: &str,
        sha256: &str,
        fetch: Fetch<'_>,
        cancel: &CancelToken,
        on_bytes: &mut (dyn FnMut(u64) + Send),
    ) -> Result<PathBuf> {
        let sha = sha256.to_ascii_lowercase();
        let Some(expected) = crate::evidence::blobs::parse_sha256(&sha) else {
            return Err(CoreError::invalid("sha256", "expected 64 hex characters"));
        };
        if let Some(p) = store.blob_path(&sha)?.filter(|p| p.is_file()) {
            return Ok(p);
        }
        let max = fetch.max_size.unwrap_or(MAX_DOWNLOAD);
        let tmp = store.blob_download_temp(&sha);
        let url = format!("{}/v1/blobs/{sha}", self.base);
        let attempts = self.config.attempts.max(1);
        let mut last = CoreError::Network {
            reason: "no attempt made".into(),
        };
        let mut wait: Option<Duration> = None;
        let mut complete = None;
        for attempt in 0..attempts {
            cancel.check()?;
            if attempt > 0 {
                pause(cancel, wait.take().unwrap_or_else(|| backoff(attempt))).await?;
            }
            // The temp file (sealed in an encrypted store) keeps what earlier attempts, or
            // an earlier run, received; the request asks for the rest.
            let mut sink = store.blob_download_sink(&sha, true)?;
            let have = sink.have();
            let mut req = self.http.get(&url).bearer_auth(credential);
            if have > 0 {
                req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let mut resp = match req.send().await {
                Ok(r) => r,
                Err(e) => match net(e) {
                    // The same key comes back on every attempt.
                    e @ CoreError::CertificatePinMismatch => return Err(e),
                    e => {
                        last = e;
                        continue;
                    }
                },
            };
            let status = resp.status();
            if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE && have > 0 {
                // What we hold is already the whole blob (or more): the hash decides.
                complete = Some(sink);
                break;
            }
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let asked = (status == reqwest::StatusCode::TOO_MANY_REQUESTS)
                    .then(|| retry_after(resp.headers()));
                let body = resp.bytes().await.unwrap_or_default();
                last = error_from(status, &body);
                wait = asked;
                continue;
            }
            if !status.is_success() {
                let body = resp.bytes().await.unwrap_or_default();
                return Err(error_from(status, &body));
            }
            // 206 continues the temp file where it ends; anything else starts it over.
            let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT
                && content_range_start(resp.headers()) == Some(have);
            if !resumed && have > 0 {
                drop(sink);
                sink = store.blob_download_sink(&sha, false)?;
            }
            let mut len = sink.have();
            let finished = loop {
                if cancel.is_cancelled() {
                    sink.suspend()?;
                    return Err(CoreError::Cancelled);
                }
                match resp.chunk().await {
                    Ok(Some(bytes)) => {
                        len += bytes.len() as u64;
                        if len > max {
                            drop(sink);
                            let _ = tokio::fs::remove_file(&tmp).await;
                            return Err(CoreError::BlobHashMismatch {
                                expected: sha,
                                actual: format!("more than {max} bytes"),
                            });
                        }
                        sink.write(&bytes)?;
                        on_bytes(bytes.len() as u64);
                    }
                    Ok(None) => break true,
                    Err(e) => {
                        last = net(e);
                        break false;
                    }
                }
            };
            if finished {
                complete = Some(sink);
                break;
            }
            sink.suspend()?;
        }
        let Some(sink) = complete else {
            // The partial file stays for the next attempt to resume.
            return Err(last);
        };
        let hashed = sink
            .finish()
            .and_then(|p| store.open_blob_file(&p))
            .map(|mut reader| {
                let hash_path = tmp.clone();
                tokio::task::spawn_blocking(move || {
                    crate::evidence::blobs::hash_reader(&mut reader)
                        .map_err(|e| CoreError::io(&hash_path, e))
                })
            });
        let hashed = match hashed {
            Ok(task) => task
                .await
                .map_err(|e| CoreError::io(&tmp, std::io::Error::other(e.to_string())))
                .and_then(|r| r),
            Err(e) => Err(e),
        };
        let (actual, size) = match hashed {
            Ok(x) => x,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        if actual != expected {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(CoreError::BlobHashMismatch {
                expected: sha,
                actual: hex::encode(actual),
            });
        }
        match store.install_downloaded_blob(&tmp, expected, size, fetch.mime, fetch.role) {
            Ok(p) => Ok(p),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Fetches the device keys the caller may need and trusts each new one. Returns the
    /// number learned and the bytes sent and received.
    async fn learn_device_keys(
        &self,
        store: &FieldStore,
        credential: &str,
        cancel: &CancelToken,
    ) -> Result<(u32, u64, u64)> {
        let url = format!("{}/v1/device-keys", self.base);
        let (status, bytes) = self
            .send(cancel, || self.http.get(&url).bearer_auth(credential))
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            // A server older than the route: nothing to learn, not a failure.
            return Ok((0, 0, bytes.len() as u64));
        }
        if !status.is_success() {
            return Err(error_from(status, &bytes));
        }
        let resp: DeviceKeysResponse = serde_json::from_slice(&bytes).map_err(protocol)?;
        // Every PII key the bureau has used, in order: the last seals new parties, the others
        // open parties sealed before a rotation. Keys held already stay.
        for hex_key in resp.pii_keys.iter().flatten() {
            let key = hex::decode(hex_key)
                .ok()
                .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
                .ok_or_else(|| CoreError::Protocol {
                    reason: "PII key is not 32 bytes of hex".into(),
                })?;
            store.add_pii_key(key)?;
        }
        if let Some(k) = &resp.server_signing_key
            && store.pin_server_signing_key(k)?
        {
            tracing::info!("server signing key pinned from the key refresh");
        }
        let known: std::collections::HashSet<String> =
            store.trusted_device_keys()?.into_iter().collect();
        let mut learned = 0u32;
        for k in &resp.keys {
            let key = k.public_key.to_ascii_lowercase();
            if known.contains(&key) {
                store.set_device_key_revoked(&key, k.revoked_at_ms)?;
                continue;
            }
            let parsed: Option<[u8; 32]> = hex::decode(&key).ok().and_then(|v| v.try_into().ok());
            let Some(raw) = parsed else {
                tracing::warn!(device = %k.device_id, "server sent a malformed device key");
                continue;
            };
            // A key that is not a valid ed25519 point (e.g. a placeholder sent at enrolment)
            // cannot have signed anything: skip it.
            match store.trust_device_key(&k.device_id, &raw) {
                Ok(()) => {
                    learned += 1;
                    store.set_device_key_revoked(&key, k.revoked_at_ms)?;
                }
                Err(CoreError::InvalidInput { .. }) => {
                    tracing::warn!(device = %k.device_id, "device key is not an ed25519 key");
                }
                Err(e) => return Err(e),
            }
        }
        store.set_meta(
            META_DEVICE_KEYS_AT,
            crate::ids::now_ms().to_string().as_bytes(),
        )?;
        Ok((learned, 0, bytes.len() as u64))
    }

    /// Asks how much of a blob the server holds.
    pub async fn blob_status(&self, store: &FieldStore, sha256: &str) -> Result<BlobStatus> {
        let (_, credential) = Self::credential(store)?;
        self.status_inner(&credential, sha256, &CancelToken::new())
            .await
    }

    async fn status_inner(
        &self,
        credential: &str,
        sha256: &str,
        cancel: &CancelToken,
    ) -> Result<BlobStatus> {
        let url = format!("{}/v1/blobs/{sha256}/status", self.base);
        let (status, bytes) = self
            .send(cancel, || self.http.get(&url).bearer_auth(credential))
            .await?;
        if !status.is_success() {
            return Err(error_from(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(protocol)
    }

    /// Uploads the file at `path` as blob `sha256` (hex), resuming where the server stopped.
    /// Returns once the server has verified and stored it. The server accepts only blobs that
    /// a document this device may write refers to, so sync the document first. A sealed file
    /// of this store is sent as its content.
    pub async fn upload_blob(&self, store: &FieldStore, path: &Path, sha256: &str) -> Result<()> {
        let (_, credential) = Self::credential(store)?;
        let reader = store.open_blob_file(path)?;
        self.upload_inner(
            &credential,
            reader,
            sha256,
            &CancelToken::new(),
            &mut |_, _| {},
        )
        .await
    }

    /// Uploads this store's blob `sha256`.
    async fn upload_stored(
        &self,
        store: &FieldStore,
        credential: &str,
        sha256: &str,
        cancel: &CancelToken,
        on_chunk: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<()> {
        let reader = store
            .open_blob(sha256)?
            .ok_or_else(|| CoreError::not_found("evidence file", sha256))?;
        self.upload_inner(credential, reader, sha256, cancel, on_chunk)
            .await
    }

    /// The upload loop; `on_chunk(sent, received)` after every chunk request. Reads the
    /// content through `file` (unsealing it), one chunk per request.
    async fn upload_inner(
        &self,
        credential: &str,
        mut file: BlobReader,
        sha256: &str,
        cancel: &CancelToken,
        on_chunk: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<()> {
        use std::io::{Read, Seek};
        let sha = sha256.to_ascii_lowercase();
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(CoreError::invalid("sha256", "expected 64 hex characters"));
        }
        let io_err = |e| CoreError::io(format!("evidence file {sha}"), e);
        let len = file.len();
        // Bounded: each pass either advances the offset or re-reads it after a mismatch.
        let max_passes = (len / BLOB_CHUNK as u64) * 2 + 8;
        let mut st = self.status_inner(credential, &sha, cancel).await?;
        for _ in 0..max_passes {
            if st.complete {
                return Ok(());
            }
            cancel.check()?;
            let offset = st.offset.min(len);
            file.seek(std::io::SeekFrom::Start(offset))
                .map_err(io_err)?;
            let want = usize::try_from((len - offset).min(BLOB_CHUNK as u64)).unwrap_or(BLOB_CHUNK);
            let mut buf = vec![0u8; want];
            file.read_exact(&mut buf).map_err(io_err)?;
            let url = format!("{}/v1/blobs/{sha}?offset={offset}&total={len}", self.base);
            let (status, bytes) = self
                .send(cancel, || {
                    self.http
                        .put(&url)
                        .bearer_auth(credential)
                        .header("content-type", "application/octet-stream")
                        .body(buf.clone())
                })
                .await?;
            on_chunk(buf.len() as u64, bytes.len() as u64);
            if status.is_success() {
                st = serde_json::from_slice(&bytes).map_err(protocol)?;
            } else if status == reqwest::StatusCode::CONFLICT && !upload_in_progress(&bytes) {
                st = self.status_inner(credential, &sha, cancel).await?;
            } else {
                return Err(error_from(status, &bytes));
            }
        }
        Err(CoreError::Protocol {
            reason: "blob upload did not finish".into(),
        })
    }
}

/// The largest blob a download accepts when the entry's size is not known (the server's
/// default upload limit).
pub const MAX_DOWNLOAD: u64 = 1024 * 1024 * 1024;

/// How a downloaded blob is recorded.
#[derive(Debug, Clone, Copy)]
struct Fetch<'a> {
    /// `original`, `thumbnail` or `display`.
    role: &'a str,
    /// MIME type to record.
    mime: &'a str,
    /// Size the entry records (a larger body is refused).
    max_size: Option<u64>,
}

/// The first byte of a `Content-Range: bytes A-B/T` reply.
fn content_range_start(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers.get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    rest.split('-').next()?.trim().parse().ok()
}

/// Whether a `409` says another device's upload of the blob is in progress (the server binds
/// an upload to the device that began it): the blob stays pending for a later sync instead of
/// the upload asking for the status again.
fn upload_in_progress(body: &[u8]) -> bool {
    serde_json::from_slice::<ErrorBody>(body).is_ok_and(|b| b.error == "upload_in_progress")
}

/// Turns an error reply into the core error.
fn error_from(status: reqwest::StatusCode, body: &[u8]) -> CoreError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        // A server that predates `wipe_mode` sends only `wipe`: erase everything.
        let wipe = parsed.as_ref().filter(|b| b.wipe).map(|b| {
            b.wipe_mode
                .map_or(crate::store::WipeMode::All, crate::store::WipeMode::from)
        });
        return CoreError::Unauthorized { wipe };
    }
    let (code, message) = match parsed {
        Some(b) => (b.error, b.message),
        None => ("unknown".into(), String::new()),
    };
    CoreError::Server {
        status: status.as_u16(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_and_bounded() {
        for attempt in 1..40 {
            let exp = (BACKOFF_BASE_MS << (attempt - 1).min(16)).min(BACKOFF_MAX_MS);
            let d = backoff(attempt).as_millis() as u64;
            assert!(
                d >= exp / 2 && d <= exp,
                "attempt {attempt}: {d} ms of {exp}"
            );
        }
        let spread: std::collections::HashSet<u128> =
            (0..50).map(|_| backoff(3).as_millis()).collect();
        assert!(spread.len() > 1, "no jitter");
    }

    #[test]
    fn a_wipe_order_maps_to_its_mode_and_an_older_server_means_all() {
        use crate::store::WipeMode;
        let cases: [(&[u8], Option<WipeMode>); 5] = [
            (br#"{"error":"unauthorized","message":"m"}"#, None),
            (
                br#"{"error":"unauthorized","message":"m","wipe":true}"#,
                Some(WipeMode::All),
            ),
            (
                br#"{"error":"unauthorized","message":"m","wipe":true,"wipe_mode":"all"}"#,
                Some(WipeMode::All),
            ),
            (
                br#"{"error":"unauthorized","message":"m","wipe":true,"wipe_mode":"synced_only"}"#,
                Some(WipeMode::KeepUnsynced),
            ),
            (b"not json", None),
        ];
        for (body, want) in cases {
            match error_from(reqwest::StatusCode::UNAUTHORIZED, body) {
                CoreError::Unauthorized { wipe } => assert_eq!(wipe, want, "{body:?}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(is_loopback_url("http://127.0.0.1:8080"));
        assert!(is_loopback_url("http://localhost:1/x"));
        assert!(is_loopback_url("http://[::1]:9"));
        assert!(!is_loopback_url("http://10.0.0.1:80"));
        assert!(!is_loopback_url("http://example.org"));
        assert!(is_loopback_url("http://127.1.2.3/"));
        assert!(is_loopback_url("http://LOCALHOST:80"));
        // Tricky URLs that a text check takes for loopback; the host is elsewhere.
        for tricky in [
            "http://127.0.0.1@example.org/",
            "http://127.0.0.1:8080@example.org:8080/",
            "http://localhost@192.0.2.1",
            "http://user:pw@127.0.0.1/",
            "http://127.0.0.1.example.org/",
            "http://localhost.example.org/",
            "http://[::1].example.org/",
            "http://example.org/127.0.0.1",
            "http://example.org?127.0.0.1",
            "http://example.org#localhost",
            "http://0x7f000001.example.org/",
            "https://127.0.0.1/",
            "not a url",
        ] {
            assert!(!is_loopback_url(tricky), "{tricky}");
            if tricky.starts_with("http://") {
                assert!(
                    SyncClient::new(ClientConfig::new(tricky)).is_err(),
                    "{tricky}"
                );
            }
        }
        // Numeric forms the URL parser normalises to a loopback address are loopback.
        assert!(is_loopback_url("http://2130706433/"));
        assert!(is_loopback_url("http://0x7f.1/"));
        assert!(SyncClient::new(ClientConfig::new("http://192.0.2.1")).is_err());
        assert!(SyncClient::new(ClientConfig::new("ftp://x")).is_err());
        assert!(SyncClient::new(ClientConfig::new("http://127.0.0.1:1")).is_ok());
        assert!(SyncClient::new(ClientConfig::new("https://example.org")).is_ok());
    }
}
