//! The HTTP shell of a sync session: enrolment, and the executor of the actions of
//! [`super::machine::SyncMachine`], driven by tokio. Requests are carried by a
//! [`super::transport::Transport`]: the built-in one (reqwest with rustls, ring provider,
//! webpki roots plus an optional bureau CA, optionally pinned to the bureau's keys:
//! [`super::pinning`]) or one the phone app installs. Blob transfer outside a session is in
//! [`super::transfer`].
//!
//! The shell decides nothing: which request comes next, what a reply means, when to retry
//! and how long to wait are the machine's (and [`super::machine::retry`]'s) decisions. It
//! builds each request, sends it once, and feeds the reply or the transport failure back.
//!
//! Plain `http://` is accepted only for loopback addresses (tests, a server on the same
//! machine); everything else must be `https://`.

use super::codec;
use super::machine::retry::{Attempts, Failure, Retry};
use super::machine::{Action, Outcome, Request, SyncMachine};
use super::negotiate::ReplyHeaders;
use super::pinning::SpkiPin;
use super::progress::{CancelToken, NoProgress, SyncObserver};
use super::session::SyncReport;
use super::transport::{HttpReply, HttpRequest, HttpTransport, Method, Purpose, Transport};
use super::wire::{EnrolRequest, EnrolResponse};
use crate::store::FieldStore;
use crate::{CoreError, Result};
use std::sync::Arc;
use std::time::Duration;

pub use super::machine::error_from;
pub use super::machine::retry::RETRY_AFTER_MAX;
pub use super::machine::{BLOB_CHUNK, DEVICE_KEYS_REFRESH_MS, META_DEVICE_KEYS_AT};
pub use super::transfer::MAX_DOWNLOAD;

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

/// Slice of a wait between cancellation checks.
const PAUSE_SLICE: Duration = Duration::from_millis(200);

/// Sleeps `d`, checking `cancel` every [`PAUSE_SLICE`].
pub(super) async fn pause(cancel: &CancelToken, d: Duration) -> Result<()> {
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
    /// Which sync body forms this client may use (binary and gzip by default, each only
    /// once the server is known to take it: [`super::negotiate`]).
    pub wire: super::negotiate::WireOptions,
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
            wire: super::negotiate::WireOptions::default(),
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
    pub(super) transport: Arc<dyn Transport>,
    pub(super) base: String,
    pub(super) config: ClientConfig,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
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
        let transport = HttpTransport::new(
            config.extra_roots_pem.as_deref(),
            &config.pins,
            config.timeout,
        )?;
        Ok(SyncClient {
            transport: Arc::new(transport),
            base,
            config,
        })
    }

    /// The same client carrying its requests over `transport` instead of the built-in
    /// HTTP client (see [`super::transport`]).
    pub fn with_transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = transport;
        self
    }

    /// A request to `path` of the server, carrying the pins given at enrolment.
    pub(super) fn request(&self, method: Method, path: &str, purpose: Purpose) -> HttpRequest {
        let mut r = HttpRequest::new(method, format!("{}{path}", self.base), purpose);
        r.pins = self.config.pins.iter().map(ToString::to_string).collect();
        r
    }

    /// A client for the server `store` enrolled with, pinned and trusting as at enrolment.
    /// [`CoreError::NotEnrolled`] when it never enrolled.
    /// The store's platform transport, when the app installed one
    /// ([`FieldStore::set_transport`]), carries the requests.
    pub fn for_store(store: &FieldStore) -> Result<Self> {
        let client = SyncClient::new(ClientConfig::for_store(store)?)?;
        Ok(match store.transport() {
            Some(t) => client.with_transport(t),
            None => client,
        })
    }

    pub(super) fn credential(store: &FieldStore) -> Result<(String, String)> {
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

    /// Sends one request with the retry policy of [`super::machine::retry`]; returns the
    /// status, headers and body of a reply that is not a transport failure, a `5xx` or a
    /// `429`. When the attempts run out the last failure is returned (a `429` as
    /// [`CoreError::Server`] with status 429) without waiting again. Checks `cancel` before
    /// every attempt and during every wait.
    pub(crate) async fn send(
        &self,
        cancel: &CancelToken,
        build: impl Fn() -> HttpRequest,
    ) -> Result<(u16, ReplyHeaders, Vec<u8>)> {
        let mut attempts = Attempts::new(self.config.attempts);
        loop {
            cancel.check()?;
            let failure = match self.once(build()).await {
                Outcome::Reply {
                    status,
                    headers,
                    body,
                } => {
                    if status == 429 {
                        let e = error_from(status, &body);
                        Failure::Throttled(e, headers.retry_after.clone())
                    } else if status >= 500 {
                        Failure::ServerError(error_from(status, &body))
                    } else {
                        return Ok((status, headers, body));
                    }
                }
                Outcome::Transport(e) => Failure::Transport(e),
                _ => unreachable_outcome()?,
            };
            match attempts.on_failure(failure) {
                Retry::After(d) => pause(cancel, d).await?,
                Retry::GiveUp(e) => return Err(e),
            }
        }
    }

    /// Sends one request once: its reply, or the transport failure.
    pub(crate) async fn once(&self, req: HttpRequest) -> Outcome {
        match self.transport.send(req).await {
            Ok(reply) => Outcome::Reply {
                status: reply.status,
                headers: reply_headers(&reply),
                body: reply.body,
            },
            Err(e) => Outcome::Transport(e),
        }
    }

    /// The request for one of the machine's requests.
    fn build(&self, credential: &str, req: &Request) -> HttpRequest {
        match req {
            Request::Sync(enc) => {
                let mut b = self
                    .request(Method::Post, "/v1/sync", Purpose::Sync)
                    .bearer(credential)
                    .header("content-type", enc.format.content_type())
                    .body(enc.body.clone());
                if enc.gzip {
                    b = b.header("content-encoding", codec::GZIP);
                }
                if let Some(a) = enc.accept {
                    b = b.header("accept", a);
                }
                if enc.accept_gzip {
                    b = b.header("accept-encoding", codec::GZIP);
                }
                b
            }
            Request::DeviceKeys => self
                .request(Method::Get, "/v1/device-keys", Purpose::DeviceKeys)
                .bearer(credential),
            Request::BlobStatus { sha256 } => self
                .request(
                    Method::Get,
                    &format!("/v1/blobs/{sha256}/status"),
                    Purpose::BlobStatus,
                )
                .bearer(credential),
            Request::UploadChunk {
                sha256,
                offset,
                total,
                body,
            } => self
                .request(
                    Method::Put,
                    &format!("/v1/blobs/{sha256}?offset={offset}&total={total}"),
                    Purpose::BlobUpload,
                )
                .bearer(credential)
                .header("content-type", "application/octet-stream")
                .body(body.clone()),
        }
    }

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
            device_id: Some(store.device_id()).filter(|d| {
                crate::ids::is_valid_id(d) && !d.bytes().any(|b| b.is_ascii_uppercase())
            }),
        })
        .map_err(|e| CoreError::invalid("enrol", e.to_string()))?;
        let (status, _, bytes) = self
            .send(&CancelToken::new(), || {
                self.request(Method::Post, "/v1/enrol", Purpose::Enrol)
                    .header("content-type", "application/json")
                    .body(body.clone())
            })
            .await?;
        if !(200..300).contains(&status) {
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
        store.adopt_device_id(&resp.device_id);
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
        let mut machine = SyncMachine::new(
            store,
            device_id,
            self.config.attempts,
            self.config.batch_bytes,
            self.config.wire,
            cancel.clone(),
        )?;
        loop {
            let action = machine.next(store);
            for p in machine.take_progress() {
                observer.progress(&p);
            }
            let outcome = match action? {
                Action::Done(report) => return Ok(report),
                Action::Wait(d) => {
                    pause(cancel, d).await?;
                    Outcome::Waited
                }
                Action::Send(req) => self.once(self.build(&credential, &req)).await,
                Action::FetchThumbnail(t) => {
                    let mut bytes = 0u64;
                    let result = self
                        .download_inner(
                            store,
                            &credential,
                            &t.sha256,
                            super::transfer::Fetch {
                                role: "thumbnail",
                                mime: &t.mime,
                                max_size: Some(t.size),
                            },
                            cancel,
                            &mut |n| bytes += n,
                        )
                        .await
                        .map(|_| ());
                    Outcome::Thumbnail { result, bytes }
                }
            };
            machine.handle(store, outcome)?;
            for p in machine.take_progress() {
                observer.progress(&p);
            }
        }
    }
}

/// `send` executes only requests, never waits or downloads.
fn unreachable_outcome() -> Result<Failure> {
    Err(CoreError::Protocol {
        reason: "unexpected outcome of a request".into(),
    })
}

/// The reply headers the sync body negotiation reads.
fn reply_headers(reply: &HttpReply) -> ReplyHeaders {
    let get = |n: &str| reply.header(n).map(str::to_string);
    ReplyHeaders {
        content_type: get("content-type"),
        content_encoding: get("content-encoding"),
        accept_encoding: get("accept-encoding"),
        retry_after: get("retry-after"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            match error_from(401, body) {
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
