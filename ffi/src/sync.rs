//! Enrolment and sync across the FFI: async methods (Kotlin `suspend`, Swift `async`, Python
//! coroutines) whose work runs on the library's own tokio runtime, never on the caller's
//! thread or event loop, with progress callbacks and cancellation.
//!
//! Cancelling works two ways: the app's own task cancellation (a cancelled coroutine drops
//! the future, which stops at the next await) or a [`SyncCancel`] handle, which stops the
//! sync at the next request boundary and returns `Cancelled`. Either way nothing recorded is
//! lost: the sync cursor moves only after a completed session.

use crate::seams::SyncProgressListener;
use crate::{FieldcaseError, FieldcaseStore};
use fieldcase_core::CoreError;
use fieldcase_core::sync as cs;
use std::sync::Arc;

/// A handle that cancels a running sync. One per sync; cancelling is permanent.
#[derive(Debug, Default, uniffi::Object)]
pub struct SyncCancel {
    pub(crate) token: cs::CancelToken,
}

#[uniffi::export]
impl SyncCancel {
    /// A fresh, uncancelled handle.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(SyncCancel::default())
    }

    /// Asks the sync using this handle to stop at its next request boundary.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// What the sync is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Exchanging records.
    Records,
    /// Learning other devices' keys, to verify their evidence.
    DeviceKeys,
    /// Uploading evidence files.
    Blobs,
    /// Finished.
    Done,
}

impl From<&cs::SyncPhase> for SyncPhase {
    fn from(p: &cs::SyncPhase) -> Self {
        match p {
            cs::SyncPhase::Records => SyncPhase::Records,
            cs::SyncPhase::DeviceKeys => SyncPhase::DeviceKeys,
            cs::SyncPhase::Blobs => SyncPhase::Blobs,
            cs::SyncPhase::Done => SyncPhase::Done,
        }
    }
}

/// Progress so far, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    /// What the sync is doing.
    pub phase: SyncPhase,
    /// Records sent with changes.
    pub docs_sent: u32,
    /// Records that gained changes from the server.
    pub docs_received: u32,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Evidence files uploaded (or found already on the server).
    pub blobs_done: u32,
    /// Evidence files to upload in this sync.
    pub blobs_total: u32,
    /// Thumbnails of colleagues' evidence downloaded so far.
    pub thumbnails_fetched: u32,
}

impl From<&cs::SyncProgress> for SyncProgress {
    fn from(p: &cs::SyncProgress) -> Self {
        SyncProgress {
            phase: (&p.phase).into(),
            docs_sent: p.docs_sent,
            docs_received: p.docs_received,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            blobs_done: p.blobs_done,
            blobs_total: p.blobs_total,
            thumbnails_fetched: p.thumbnails_fetched,
        }
    }
}

/// A record the server refused, and why (the phone keeps it; show it as rejected).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncRejection {
    /// The record.
    pub record_id: String,
    /// The reason, in words for the officer in the language set with `set_language` (the
    /// catalogue's `refused.<code>`; in English the server's own words).
    pub reason: String,
    /// The server's stable refusal code, for the app to map to its own words.
    pub code: Option<String>,
}

/// The outcome of a sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Requests made.
    pub round_trips: u32,
    /// Records sent with changes.
    pub pushed: u32,
    /// Sent records the server accepted.
    pub accepted: u32,
    /// Records that gained changes from the server.
    pub received: u32,
    /// Records the server refused, with reasons.
    pub rejections: Vec<SyncRejection>,
    /// Records the server sent that this phone could not merge, with reasons; the rest of
    /// the sync went on, `complete` is false, and the next sync asks for them again.
    pub unreadable: Vec<SyncRejection>,
    /// Evidence files uploaded.
    pub blobs_uploaded: u32,
    /// Evidence files still waiting for a later sync.
    pub blobs_pending: u32,
    /// Device keys learned.
    pub device_keys_learned: u32,
    /// Thumbnails of colleagues' evidence downloaded.
    pub thumbnails_fetched: u32,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Everything was exchanged.
    pub complete: bool,
    /// The catalogue version received from the server in this sync, verified and now in
    /// force for new cases.
    pub catalogue_received: Option<String>,
    /// A catalogue the server sent that this phone refused (nothing was changed; it is
    /// offered again at the next sync).
    pub catalogue_refused: Option<CatalogueRefusal>,
    /// The server was restored from a backup since the last sync (it announced a new restore
    /// epoch): this sync read its feed from the start and offered every record and evidence
    /// file again, so work the backup missed is back on the server. Nothing to do but,
    /// perhaps, tell the officer why this sync sent more than usual.
    pub server_restored: bool,
}

/// A catalogue from the server that the phone refused: a signature that does not verify
/// under the server key pinned at enrolment, or content that is not a valid catalogue.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CatalogueRefusal {
    /// The version the server announced.
    pub version: String,
    /// Why it was refused.
    pub reason: String,
}

impl From<cs::SyncReport> for SyncReport {
    fn from(r: cs::SyncReport) -> Self {
        let lang = crate::messages::current();
        let say = |code: &str, english: &str| fieldcase_core::messages::say(code, english, lang);
        SyncReport {
            round_trips: r.round_trips,
            pushed: r.pushed,
            accepted: r.accepted,
            received: r.received,
            rejections: r
                .rejections
                .into_iter()
                .map(|x| SyncRejection {
                    record_id: x.doc_id,
                    reason: match &x.code {
                        Some(c) => say(&format!("refused.{c}"), &x.reason),
                        None => x.reason,
                    },
                    code: x.code,
                })
                .collect(),
            unreadable: r
                .unreadable
                .into_iter()
                .map(|x| SyncRejection {
                    record_id: x.doc_id,
                    reason: say("sync.unreadable", &x.reason),
                    code: x.code,
                })
                .collect(),
            blobs_uploaded: r.blobs_uploaded,
            blobs_pending: r.blobs_pending,
            device_keys_learned: r.device_keys_learned,
            thumbnails_fetched: r.thumbnails_fetched,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            complete: r.complete,
            catalogue_received: r.catalogue_received,
            catalogue_refused: r.catalogue_refused.map(|c| CatalogueRefusal {
                reason: say("sync.catalogue_refused", &c.reason),
                version: c.version,
            }),
            server_restored: r.server_restored,
        }
    }
}

/// What the server said at enrolment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Enrolment {
    /// The device id the server gave; reopen the store with it.
    pub device_id: String,
    /// The user the device acts for.
    pub user_id: String,
    /// The user's role (`officer`, `volunteer`, `reviewer`, `supervisor`, `operator`).
    pub role: String,
    /// The user's unit path.
    pub unit: String,
}

/// Forwards core's progress to the app's listener.
pub(crate) struct Forward(pub(crate) Option<Arc<dyn SyncProgressListener>>);

impl cs::SyncObserver for Forward {
    fn progress(&self, p: &cs::SyncProgress) {
        if let Some(l) = &self.0 {
            l.on_progress(p.into());
        }
    }
}

/// The runtime every network call of the library runs on: two worker threads of our own, so
/// the app's thread (or Python's event loop) only awaits and never does the work.
fn runtime() -> Result<&'static tokio::runtime::Runtime, FieldcaseError> {
    static RT: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fieldcase-sync")
            .enable_all()
            .build()
            .ok()
    })
    .as_ref()
    .ok_or_else(|| FieldcaseError::Internal {
        reason: "could not start the sync runtime".into(),
    })
}

/// Cancels the spawned work when the app drops the call (a cancelled coroutine or task).
struct CancelOnDrop(Option<cs::CancelToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.cancel();
        }
    }
}

/// Runs `fut` on the library's runtime and awaits it from whatever executor the app uses;
/// a panic becomes `Internal`. Dropping the returned future cancels the work through
/// `token` at its next request boundary.
pub(crate) async fn on_runtime<T: Send + 'static>(
    token: cs::CancelToken,
    fut: impl std::future::Future<Output = Result<T, FieldcaseError>> + Send + 'static,
) -> Result<T, FieldcaseError> {
    let mut guard = CancelOnDrop(Some(token));
    let joined = runtime()?.spawn(fut).await;
    guard.0 = None;
    match joined {
        Ok(r) => r,
        Err(_) => Err(FieldcaseError::Internal {
            reason: "the operation failed unexpectedly and was not completed".into(),
        }),
    }
}

/// How to reach the server at enrolment beyond its URL; every later sync of the store uses
/// the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct EnrolOptions {
    /// Keys the server's certificate chain must include one of, each `sha256/<base64>` as
    /// `fieldcase-server admin tls-pin` prints them; empty for no pinning.
    #[uniffi(default)]
    pub pins: Vec<String>,
    /// PEM of the bureau's own CA, when its server certificate is not from a public CA.
    #[uniffi(default = None)]
    pub extra_roots_pem: Option<String>,
}

/// What an enrolment QR code (or a typed code) holds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnrolmentLink {
    /// The server address; `None` for a bare code: ask the officer for it.
    pub server_url: Option<String>,
    /// The one-time code.
    pub code: String,
    /// The pins the operator put into the code, ready for `enrol`.
    pub options: EnrolOptions,
}

/// Reads a scanned enrolment QR code (`fieldcase-enrol:<url>#<code>[#<pin>...]`) or a typed
/// code. A damaged link or pin is `InvalidInput`, so a scan never enrols unpinned by mistake.
#[uniffi::export]
pub fn parse_enrolment_link(text: String) -> Result<EnrolmentLink, FieldcaseError> {
    crate::error::guard(|| {
        let link = cs::EnrolLink::parse(&text)?;
        Ok(EnrolmentLink {
            server_url: link.server_url,
            code: link.code,
            options: EnrolOptions {
                pins: link.pins.iter().map(ToString::to_string).collect(),
                extra_roots_pem: None,
            },
        })
    })
}

/// Runs blocking work (file deletion, waiting for calls to finish) on the library's blocking
/// pool and awaits it from whatever executor the app uses; a panic becomes `Internal`.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FieldcaseError> + Send + 'static,
) -> Result<T, FieldcaseError> {
    match runtime()?.spawn_blocking(f).await {
        Ok(r) => r,
        Err(_) => Err(FieldcaseError::Internal {
            reason: "the operation failed unexpectedly and was not completed".into(),
        }),
    }
}

#[uniffi::export]
impl FieldcaseStore {
    /// Enrols this phone with the bureau's server using a one-time code (typed or scanned
    /// from the QR code). `server_url` is `https://...` (plain `http://` only for loopback);
    /// `options` pins the server's keys and adds the bureau's CA, remembered for every later
    /// sync. A malformed pin is `InvalidInput` (field `pin`); a server whose chain holds no
    /// pinned key is `CertificatePinMismatch`, and the phone stays unenrolled. The bureau
    /// keys it receives take effect when the store is next opened.
    #[uniffi::method(default(options = None))]
    pub async fn enrol(
        &self,
        server_url: String,
        code: String,
        device_label: String,
        options: Option<EnrolOptions>,
    ) -> Result<Enrolment, FieldcaseError> {
        let store = self.store()?;
        let options = options.unwrap_or_default();
        let mut config = cs::ClientConfig::new(server_url).with_pins(&options.pins)?;
        config.extra_roots_pem = options.extra_roots_pem.map(String::into_bytes);
        on_runtime(cs::CancelToken::new(), async move {
            let mut client = cs::SyncClient::new(config)?;
            if let Some(t) = store.transport() {
                client = client.with_transport(t);
            }
            let public_key = store.device_public_key()?;
            let resp = client
                .enrol(&store, &code, &public_key, &device_label)
                .await?;
            Ok(Enrolment {
                device_id: resp.device_id,
                user_id: resp.user_id,
                role: resp.role,
                unit: resp.unit,
            })
        })
        .await
    }

    /// Has enrolment, sync and evidence transfers carried by the app's own networking
    /// (`transport`), e.g. so evidence uploads continue in an iOS background `URLSession`
    /// or an Android WorkManager job; `None` restores the built-in HTTP client. The
    /// transport must apply the pins each request carries (see `Transport`).
    pub fn set_transport(
        &self,
        transport: Option<Arc<dyn crate::Transport>>,
    ) -> Result<(), FieldcaseError> {
        let store = self.store()?;
        store.set_transport(
            transport.map(|t| {
                Arc::new(crate::transport::PlatformTransport(t)) as Arc<dyn cs::Transport>
            }),
        );
        Ok(())
    }

    /// Downloads a stored evidence file (an original, display copy or thumbnail) by its
    /// SHA-256 from the server, resuming a broken transfer and checking the hash before it is
    /// kept (sealed, in an encrypted store); read it with `read_evidence_file` or
    /// `export_evidence_file`. Returns its size. Only files of records this phone may read
    /// are served.
    pub async fn download_evidence_file(&self, sha256: String) -> Result<u64, FieldcaseError> {
        let store = self.store()?;
        on_runtime(cs::CancelToken::new(), async move {
            let client = cs::SyncClient::for_store(&store)?;
            client.download_blob(&store, &sha256).await?;
            let size = store.open_blob(&sha256)?.map(|r| r.len()).unwrap_or(0);
            Ok(size)
        })
        .await
    }

    /// Syncs with the server: records both ways, then other devices' keys, then evidence
    /// files. Runs on a Rust worker; `listener` hears progress; `cancel` can stop it.
    ///
    /// When the server has revoked this phone the store is wiped as the operator chose and
    /// the call fails with `Unauthorized { wiped: true, .. }`: everything (database and
    /// evidence files; the store is closed), or with `kept_unsynced` only what the server
    /// holds (the store stays open with the rest; see `FieldcaseError::Unauthorized`).
    pub async fn sync(
        &self,
        listener: Option<Arc<dyn SyncProgressListener>>,
        cancel: Option<Arc<SyncCancel>>,
    ) -> Result<SyncReport, FieldcaseError> {
        let store = self.store()?;
        let token = cancel.map(|c| c.token.clone()).unwrap_or_default();
        let result = on_runtime(token.clone(), async move {
            let client = cs::SyncClient::for_store(&store)?;
            let observer = Forward(listener);
            Ok(client.sync_with(&store, &observer, &token).await)
        })
        .await?;
        match result {
            Ok(report) => Ok(report.into()),
            Err(CoreError::Unauthorized { wipe: Some(mode) }) => Err(self.wipe_revoked(mode).await),
            Err(e) => Err(e.into()),
        }
    }
}
