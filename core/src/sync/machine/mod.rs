//! One whole sync session as a state machine without network I/O: it emits the next
//! [`Action`] (a sync request body, the device-keys fetch, a blob status or chunk, a
//! thumbnail download, a wait, done) and consumes its [`Outcome`] (a reply, a transport
//! failure, a finished download), deciding what follows. The HTTP shell
//! ([`super::client::SyncClient::sync_with`]) only executes actions and feeds results back,
//! so every protocol decision is tested with a fake server and no network
//! (`machine/tests.rs`).
//!
//! The session runs the phases of `docs/sync-protocol.md` in order:
//!
//! 1. **Records**: the rounds of [`SyncSession`], each request's body in the form the server
//!    is known to read ([`Negotiation`]);
//! 2. **Device keys**: fetched when documents arrived, on the first sync, once a day, or when
//!    a catalogue waits for the server's key ([`keys_due`]);
//! 3. **Blobs**: every unconfirmed blob in [`order_blobs`] order, resumably; a blob refused
//!    for now stays pending ([`blobs::stays_pending`]);
//! 4. **Thumbnails**: those of received documents the phone lacks ([`thumbnails_wanted`]).
//!
//! Every request is retried by one policy ([`retry`]): the same request (the same bytes) is
//! emitted again after an [`Action::Wait`]. The [`CancelToken`] is checked each time an
//! action is asked for, so a cancelled session stops between requests, with everything done
//! so far kept. Progress snapshots queue up for the shell ([`SyncMachine::take_progress`]).

pub mod blobs;
pub mod retry;
#[cfg(test)]
mod tests;

pub use blobs::{BLOB_CHUNK, BlobStep, BlobUpload, Thumbnail, order_blobs, thumbnails_wanted};

use super::negotiate::{EncodedRequest, Negotiation, ReplyHeaders, WireOptions};
use super::progress::{CancelToken, SyncPhase, SyncProgress};
use super::session::{SyncReport, SyncSession};
use super::wire::{DeviceKeysResponse, ErrorBody, SyncRequest};
use crate::evidence::blobs::BlobInfo;
use crate::model::RecordKind;
use crate::store::FieldStore;
use crate::{CoreError, Result};
use blobs::BlobProgress;
use retry::{Attempts, Failure, Retry};
use std::collections::VecDeque;
use std::time::Duration;

/// Meta key of the time (device clock, ms) device keys were last fetched.
pub const META_DEVICE_KEYS_AT: &str = "sync_device_keys_at_ms";

/// Device keys are fetched again after this long even when nothing new arrived (to learn
/// devices enrolled since, whose evidence may arrive later).
pub const DEVICE_KEYS_REFRESH_MS: i64 = 24 * 3_600_000;

/// A request to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `POST /v1/sync` with this body.
    Sync(EncodedRequest),
    /// `GET /v1/device-keys`.
    DeviceKeys,
    /// `GET /v1/blobs/{sha256}/status`.
    BlobStatus {
        /// The blob.
        sha256: String,
    },
    /// `PUT /v1/blobs/{sha256}?offset={offset}&total={total}` with `body`.
    UploadChunk {
        /// The blob.
        sha256: String,
        /// Where the chunk starts.
        offset: u64,
        /// The blob's size.
        total: u64,
        /// The chunk.
        body: Vec<u8>,
    },
}

impl Request {
    fn body_len(&self) -> u64 {
        match self {
            Request::Sync(e) => e.body.len() as u64,
            Request::UploadChunk { body, .. } => body.len() as u64,
            Request::DeviceKeys | Request::BlobStatus { .. } => 0,
        }
    }
}

/// What the shell is to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this request once and report the [`Outcome`].
    Send(Request),
    /// Download this thumbnail into the store (streamed, resumed and retried by the shell's
    /// download routine) and report [`Outcome::Thumbnail`].
    FetchThumbnail(Thumbnail),
    /// Wait this long (checking for cancellation), then report [`Outcome::Waited`].
    Wait(Duration),
    /// The session is over.
    Done(SyncReport),
}

/// What came of an action.
#[derive(Debug)]
pub enum Outcome {
    /// The server answered.
    Reply {
        /// HTTP status.
        status: u16,
        /// The headers the machine reads.
        headers: ReplyHeaders,
        /// The body as received.
        body: Vec<u8>,
    },
    /// No reply: connection refused or dropped, timeout, TLS or pin failure.
    Transport(CoreError),
    /// A thumbnail download ended, after `bytes` body bytes.
    Thumbnail {
        /// Whether it was stored.
        result: Result<()>,
        /// Body bytes received.
        bytes: u64,
    },
    /// A wait ended.
    Waited,
}

/// Whether device keys are fetched in this session: when documents arrived (their evidence
/// may be signed by devices this phone does not know), on the first sync, when the last fetch
/// is [`DEVICE_KEYS_REFRESH_MS`] old, or when a catalogue waits for the server's key.
pub fn keys_due(
    documents_arrived: bool,
    last_fetch_ms: Option<i64>,
    now_ms: i64,
    catalogue_waits: bool,
) -> bool {
    let stale = last_fetch_ms.is_none_or(|t| now_ms.saturating_sub(t) >= DEVICE_KEYS_REFRESH_MS);
    documents_arrived || stale || catalogue_waits
}

/// Turns an error reply into the core error: `401` into [`CoreError::Unauthorized`] with the
/// wipe order (a server that predates `wipe_mode` sends only `wipe`: erase everything), any
/// other status into [`CoreError::Server`] with the body's code.
pub fn error_from(status: u16, body: &[u8]) -> CoreError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    if status == 401 {
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
        status,
        code,
        message,
    }
}

/// Learns the keys of a `GET /v1/device-keys` reply: every PII key (in order), the server's
/// signing key when none is pinned, and each device key not trusted yet (a key that is not an
/// ed25519 point is skipped); revocation times are recorded for every listed key. Returns
/// the number of keys learned.
pub fn learn_device_keys(
    store: &FieldStore,
    resp: &DeviceKeysResponse,
    now_ms: i64,
) -> Result<u32> {
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
    store.set_meta(META_DEVICE_KEYS_AT, now_ms.to_string().as_bytes())?;
    Ok(learned)
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Records,
    Keys,
    Blobs,
    Thumbnails,
    Done,
}

/// One sync session (see the module docs).
#[derive(Debug)]
pub struct SyncMachine {
    cancel: CancelToken,
    max_attempts: u32,
    session: SyncSession,
    negotiation: Negotiation,
    phase: Phase,
    /// The request of the current round, kept to encode it again as JSON after a fallback.
    round: Option<SyncRequest>,
    /// Documents pushed by the request in flight.
    round_pushes: u32,
    /// The request in flight: emitted again after a wait.
    in_flight: Option<Request>,
    attempts: Attempts,
    wait: Option<Duration>,
    /// The report once the record rounds are over (the session's until then).
    report: SyncReport,
    sent: u64,
    received: u64,
    progress: SyncProgress,
    snapshots: Vec<SyncProgress>,
    received_docs: Vec<(String, RecordKind)>,
    keys_due: bool,
    blobs: VecDeque<BlobInfo>,
    upload: Option<BlobUpload>,
    thumbnails: VecDeque<Thumbnail>,
    thumbnail_in_flight: bool,
}

impl SyncMachine {
    /// A session for the enrolled `device_id` of `store`, with at most `attempts` attempts per
    /// request, `batch_bytes` of Automerge bytes per request, and the body forms `wire`.
    pub fn new(
        store: &FieldStore,
        device_id: impl Into<String>,
        attempts: u32,
        batch_bytes: usize,
        wire: WireOptions,
        cancel: CancelToken,
    ) -> Result<Self> {
        cancel.check()?;
        let progress = SyncProgress::start();
        Ok(SyncMachine {
            cancel,
            max_attempts: attempts,
            session: SyncSession::new(store, device_id)?.with_batch_bytes(batch_bytes),
            negotiation: Negotiation::load(store, wire)?,
            phase: Phase::Records,
            round: None,
            round_pushes: 0,
            in_flight: None,
            attempts: Attempts::new(attempts),
            wait: None,
            report: SyncReport::default(),
            sent: 0,
            received: 0,
            snapshots: vec![progress.clone()],
            progress,
            received_docs: Vec::new(),
            keys_due: false,
            blobs: VecDeque::new(),
            upload: None,
            thumbnails: VecDeque::new(),
            thumbnail_in_flight: false,
        })
    }

    /// Progress snapshots since the last call, oldest first.
    pub fn take_progress(&mut self) -> Vec<SyncProgress> {
        std::mem::take(&mut self.snapshots)
    }

    fn snapshot(&mut self) {
        self.progress.bytes_sent = self.sent;
        self.progress.bytes_received = self.received;
        self.snapshots.push(self.progress.clone());
    }

    fn send(&mut self, r: Request) -> Action {
        self.attempts = Attempts::new(self.max_attempts);
        self.in_flight = Some(r.clone());
        Action::Send(r)
    }

    /// The next action. Checks for cancellation first: a cancelled session returns
    /// [`CoreError::Cancelled`] here, between two requests.
    pub fn next(&mut self, store: &FieldStore) -> Result<Action> {
        self.cancel.check()?;
        if let Some(d) = self.wait.take() {
            return Ok(Action::Wait(d));
        }
        if let Some(r) = &self.in_flight {
            return Ok(Action::Send(r.clone()));
        }
        loop {
            match self.phase {
                Phase::Records => match self.session.next_request(store)? {
                    Some(req) => {
                        let pushes = req.docs.iter().filter(|d| !d.changes.is_empty()).count();
                        self.round_pushes = u32::try_from(pushes).unwrap_or(u32::MAX);
                        let enc = self.negotiation.encode(&req)?;
                        self.round = Some(req);
                        return Ok(self.send(Request::Sync(enc)));
                    }
                    None => self.enter_keys(store)?,
                },
                Phase::Keys => {
                    if self.keys_due {
                        return Ok(self.send(Request::DeviceKeys));
                    }
                    self.enter_blobs(store)?;
                }
                Phase::Blobs => {
                    if let Some(up) = &mut self.upload {
                        let sha256 = up.sha256().to_string();
                        match up.step() {
                            Ok(BlobStep::Status) => {
                                return Ok(self.send(Request::BlobStatus { sha256 }));
                            }
                            Ok(BlobStep::Chunk {
                                offset,
                                total,
                                body,
                            }) => {
                                return Ok(self.send(Request::UploadChunk {
                                    sha256,
                                    offset,
                                    total,
                                    body,
                                }));
                            }
                            Err(e) => self.blob_failed(e)?,
                        }
                    } else if let Some(b) = self.blobs.pop_front() {
                        match store.open_blob(&b.sha256).and_then(|r| {
                            let r =
                                r.ok_or_else(|| CoreError::not_found("evidence file", &b.sha256))?;
                            BlobUpload::new(r, &b.sha256)
                        }) {
                            Ok(up) => self.upload = Some(up),
                            Err(e) => self.blob_failed(e)?,
                        }
                    } else {
                        self.phase = Phase::Thumbnails;
                        let wanted = thumbnails_wanted(store, &self.received_docs)?;
                        self.thumbnails = wanted.into();
                    }
                }
                Phase::Thumbnails => match self.thumbnails.front() {
                    Some(t) => {
                        self.thumbnail_in_flight = true;
                        return Ok(Action::FetchThumbnail(t.clone()));
                    }
                    None => {
                        self.phase = Phase::Done;
                        self.progress.phase = SyncPhase::Done;
                        self.snapshot();
                    }
                },
                Phase::Done => {
                    let mut report = self.report.clone();
                    report.bytes_sent = self.sent;
                    report.bytes_received = self.received;
                    // Counts only: what an app forwards to its log (logcat, OSLog).
                    tracing::info!(
                        round_trips = report.round_trips,
                        pushed = report.pushed,
                        accepted = report.accepted,
                        received = report.received,
                        rejected = report.rejections.len(),
                        blobs_uploaded = report.blobs_uploaded,
                        blobs_pending = report.blobs_pending,
                        complete = report.complete,
                        "sync finished"
                    );
                    tracing::debug!(
                        bytes_sent = report.bytes_sent,
                        bytes_received = report.bytes_received,
                        "sync traffic"
                    );
                    return Ok(Action::Done(report));
                }
            }
        }
    }

    fn enter_keys(&mut self, store: &FieldStore) -> Result<()> {
        self.received_docs = self.session.received_docs().to_vec();
        let last = store
            .meta(META_DEVICE_KEYS_AT)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<i64>().ok());
        self.keys_due = keys_due(
            self.session.report().received > 0,
            last,
            crate::ids::now_ms(),
            self.session.has_pending_catalogue(),
        );
        self.phase = Phase::Keys;
        self.progress.phase = SyncPhase::DeviceKeys;
        self.snapshot();
        Ok(())
    }

    fn enter_blobs(&mut self, store: &FieldStore) -> Result<()> {
        self.session.install_pending_catalogue(store)?;
        let learned = self.report.device_keys_learned;
        self.report = self.session.report().clone();
        self.report.device_keys_learned = learned;
        self.blobs = order_blobs(store.unconfirmed_blobs()?).into();
        self.phase = Phase::Blobs;
        self.progress.phase = SyncPhase::Blobs;
        self.progress.blobs_total = u32::try_from(self.blobs.len()).unwrap_or(u32::MAX);
        self.snapshot();
        Ok(())
    }

    /// A blob is finished with (confirmed or left pending).
    fn blob_done(&mut self) {
        self.upload = None;
        self.progress.blobs_done += 1;
        self.snapshot();
    }

    fn blob_failed(&mut self, e: CoreError) -> Result<()> {
        if !blobs::stays_pending(&e) {
            return Err(e);
        }
        tracing::warn!(error = %e, "blob left pending");
        self.report.blobs_pending += 1;
        self.blob_done();
        Ok(())
    }

    /// Takes the outcome of the last action.
    pub fn handle(&mut self, store: &FieldStore, outcome: Outcome) -> Result<()> {
        match outcome {
            Outcome::Waited => Ok(()),
            Outcome::Thumbnail { result, bytes } => self.on_thumbnail(result, bytes),
            Outcome::Transport(e) => self.failed(Failure::Transport(e)),
            Outcome::Reply {
                status,
                headers,
                body,
            } => {
                if status >= 500 {
                    self.received += body.len() as u64;
                    return self.failed(Failure::ServerError(error_from(status, &body)));
                }
                if status == 429 {
                    let e = error_from(status, &body);
                    return self.failed(Failure::Throttled(e, headers.retry_after));
                }
                let req = self.in_flight.take().ok_or_else(|| CoreError::Protocol {
                    reason: "a reply arrived with no request in flight".into(),
                })?;
                self.sent += req.body_len();
                self.received += body.len() as u64;
                match req {
                    Request::Sync(enc) => self.on_sync_reply(store, &enc, status, &headers, &body),
                    Request::DeviceKeys => self.on_keys_reply(store, status, &body),
                    Request::BlobStatus { .. } => self.on_blob_reply(store, status, &body, false),
                    Request::UploadChunk { .. } => self.on_blob_reply(store, status, &body, true),
                }
            }
        }
    }

    /// A failed attempt: wait and send the same request again, or give up.
    fn failed(&mut self, f: Failure) -> Result<()> {
        if self.in_flight.is_none() {
            return Err(CoreError::Protocol {
                reason: "a failure arrived with no request in flight".into(),
            });
        }
        match self.attempts.on_failure(f) {
            Retry::After(d) => {
                self.wait = Some(d);
                Ok(())
            }
            Retry::GiveUp(e) => {
                let req = self.in_flight.take();
                match req {
                    Some(Request::BlobStatus { .. } | Request::UploadChunk { .. }) => {
                        self.blob_failed(e)
                    }
                    _ => Err(e),
                }
            }
        }
    }

    fn on_sync_reply(
        &mut self,
        store: &FieldStore,
        enc: &EncodedRequest,
        status: u16,
        headers: &ReplyHeaders,
        body: &[u8],
    ) -> Result<()> {
        if self.negotiation.fall_back(store, enc, status)? {
            // The same round again, as plain JSON.
            let req = self.round.as_ref().ok_or_else(|| CoreError::Protocol {
                reason: "no round to send again".into(),
            })?;
            let enc = self.negotiation.encode(req)?;
            self.attempts = Attempts::new(self.max_attempts);
            self.in_flight = Some(Request::Sync(enc));
            return Ok(());
        }
        if !(200..300).contains(&status) {
            return Err(error_from(status, body));
        }
        let resp = self.negotiation.decode(store, headers, body)?;
        self.session.apply_response(store, resp)?;
        self.round = None;
        self.progress.docs_sent = self.progress.docs_sent.saturating_add(self.round_pushes);
        self.progress.docs_received = self.session.report().received;
        self.snapshot();
        Ok(())
    }

    fn on_keys_reply(&mut self, store: &FieldStore, status: u16, body: &[u8]) -> Result<()> {
        self.keys_due = false;
        if status == 404 {
            // A server older than the route: nothing to learn, not a failure.
            return Ok(());
        }
        if !(200..300).contains(&status) {
            return Err(error_from(status, body));
        }
        let resp: DeviceKeysResponse =
            serde_json::from_slice(body).map_err(|e| CoreError::Protocol {
                reason: format!("device keys: {e}"),
            })?;
        self.report.device_keys_learned = learn_device_keys(store, &resp, crate::ids::now_ms())?;
        self.snapshot();
        Ok(())
    }

    fn on_blob_reply(
        &mut self,
        store: &FieldStore,
        status: u16,
        body: &[u8],
        chunk: bool,
    ) -> Result<()> {
        let Some(up) = &mut self.upload else {
            return Err(CoreError::Protocol {
                reason: "a blob reply arrived with no upload".into(),
            });
        };
        let outcome = up.on_reply(status, body);
        let sha = up.sha256().to_string();
        if chunk {
            self.snapshot();
        }
        match outcome {
            Ok(BlobProgress::Continue) => Ok(()),
            Ok(BlobProgress::Confirmed) => {
                store.mark_blob_confirmed(&sha)?;
                self.report.blobs_uploaded += 1;
                self.blob_done();
                Ok(())
            }
            Err(e) => self.blob_failed(e),
        }
    }

    fn on_thumbnail(&mut self, result: Result<()>, bytes: u64) -> Result<()> {
        if !self.thumbnail_in_flight {
            return Err(CoreError::Protocol {
                reason: "a thumbnail outcome arrived with no download".into(),
            });
        }
        self.thumbnail_in_flight = false;
        let t = self.thumbnails.pop_front();
        self.received += bytes;
        match result {
            Ok(()) => {
                self.report.thumbnails_fetched += 1;
                self.progress.thumbnails_fetched = self.report.thumbnails_fetched;
            }
            Err(e) if blobs::thumbnail_skipped(&e) => {
                let sha = t.map(|t| t.sha256).unwrap_or_default();
                tracing::info!(blob = %sha, error = %e, "thumbnail skipped for now");
            }
            Err(e) => return Err(e),
        }
        self.snapshot();
        Ok(())
    }
}
