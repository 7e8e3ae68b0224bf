//! Server state, the router, and starting a server (plain HTTP on loopback, or TLS).

use crate::audit::{AuditEntry, AuditEvent};
use crate::blobs::{BlobDir, BlobStore};
use crate::config::{Limits, RateLimits};
use crate::error::{Result, ServerError};
use crate::keys::{KeySource, ServerKeys};
use crate::ops::Metrics;
use crate::storage::Storage;
use crate::storage::sqlite::SqliteStorage;
use crate::supervision::{case_routes, disclosure_routes, routes};
use crate::telemetry::Telemetry;
use crate::{blobs, enrol, ops, sync};
use automerge::ActorId;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use ed25519_dalek::SigningKey;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Default largest blob ([`crate::config::Limits::max_blob_bytes`]).
pub const DEFAULT_MAX_BLOB: u64 = 1024 * 1024 * 1024;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The storage backend.
    pub storage: Arc<dyn Storage>,
    /// Where evidence is kept: the folder or object storage.
    pub blobs: Arc<BlobStore>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The catalogue versions known (built-in and published): validation judges each case
    /// under the version it recorded; the one in force goes to phones that lack it.
    pub catalogues: Arc<crate::catalogue::ServerCatalogues>,
    /// The actor the server writes its own changes (conflict flags) with.
    pub server_actor: ActorId,
    /// The bureau's party-match key, given to enrolled devices.
    pub party_key: [u8; 32],
    /// The bureau key sealing personal data; given at enrolment to entitled roles only.
    pub pii_key: [u8; 32],
    /// Every PII key, oldest first, `pii_key` last: phones of entitled roles get them all
    /// with the device keys, so parties sealed before a rotation stay readable.
    pub pii_ring: Arc<Vec<[u8; 32]>>,
    /// Request budget per device (authenticated routes).
    pub device_rate: Arc<crate::ratelimit::RateLimiter>,
    /// Request budget per client address on enrolment.
    pub enrol_rate: Arc<crate::ratelimit::RateLimiter>,
    /// Request budget per client address on public pages and login links.
    pub public_rate: Arc<crate::ratelimit::RateLimiter>,
    /// Budget per client address of requests with an unknown or malformed bearer credential.
    pub bad_credential_rate: Arc<crate::ratelimit::RateLimiter>,
    /// Proxies whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: Arc<crate::ratelimit::TrustedProxies>,
    /// The server's ed25519 key: signs audit entries and legal reviews.
    pub signing_key: Arc<SigningKey>,
    /// Hash of the disclosure feed last published (a new version is audited once).
    pub last_disclosure: Arc<std::sync::Mutex<Option<String>>>,
    /// When devices were last written as seen (see [`crate::seen`]).
    pub last_seen: Arc<crate::seen::LastSeen>,
    /// Sizes, counts and times from the settings ([`crate::config`]).
    pub limits: Arc<Limits>,
    /// Latency histograms ([`crate::telemetry`]).
    pub telemetry: Arc<Telemetry>,
    /// Set when the server starts stopping: `/readyz` then answers 503 so a balancer sends
    /// new requests elsewhere while those in flight finish.
    pub draining: Arc<AtomicBool>,
}

/// Keys are left out: `Debug` output may reach logs.
impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("storage", &self.storage)
            .field("blobs", &self.blobs)
            .field("server_actor", &self.server_actor)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `storage` with blobs in the folder `blob_dir` (blobs of at most `max_blob`
    /// bytes) and the keys of `keys`: [`AppState::with_blobs`] over a folder store.
    pub async fn new(
        storage: Arc<dyn Storage>,
        keys: &KeySource,
        blob_dir: PathBuf,
        max_blob: u64,
    ) -> Result<Self> {
        let blobs = BlobStore::folder(BlobDir::open(blob_dir, max_blob)?);
        AppState::with_blobs(storage, keys, Arc::new(blobs)).await
    }

    /// State over `storage` with evidence in the opened store `blobs` (see
    /// [`crate::blobs::BlobStoreSettings::open`]) and the keys of `keys` (see
    /// [`crate::keys`]); creates the server actor, and the keys on first start.
    pub async fn with_blobs(
        storage: Arc<dyn Storage>,
        keys: &KeySource,
        blobs: Arc<BlobStore>,
    ) -> Result<Self> {
        let actor = storage
            .setting_or_insert("server_actor", crate::auth::random::<16>()?.to_vec())
            .await?;
        let keys = ServerKeys::load(keys, storage.as_ref()).await?;
        let catalogues =
            crate::catalogue::ServerCatalogues::load(storage.as_ref(), &keys.signing_key).await?;
        Ok(AppState {
            storage,
            blobs,
            metrics: Arc::new(Metrics::default()),
            catalogues: Arc::new(catalogues),
            server_actor: ActorId::from(actor.as_slice()),
            party_key: keys.party_key,
            pii_key: keys.pii_key,
            pii_ring: Arc::new(keys.pii_ring()),
            device_rate: Arc::new(crate::ratelimit::RateLimiter::new(
                crate::ratelimit::Budget::DEVICE,
            )),
            enrol_rate: Arc::new(crate::ratelimit::RateLimiter::new(
                crate::ratelimit::Budget::ENROL,
            )),
            public_rate: Arc::new(crate::ratelimit::RateLimiter::new(
                crate::ratelimit::Budget::PUBLIC,
            )),
            bad_credential_rate: Arc::new(crate::ratelimit::RateLimiter::new(
                crate::ratelimit::Budget::BAD_CREDENTIAL,
            )),
            trusted_proxies: Arc::new(crate::ratelimit::TrustedProxies::default()),
            signing_key: Arc::new(keys.signing_key),
            last_disclosure: Arc::new(std::sync::Mutex::new(None)),
            last_seen: Arc::new(crate::seen::LastSeen::default()),
            limits: Arc::new(Limits::default()),
            telemetry: Arc::new(Telemetry::new()),
            draining: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Applies the settings' limits and request budgets (the blob size limit is given to
    /// [`AppState::new`], which opens the blob store).
    pub fn with_settings(mut self, limits: Limits, rate: &RateLimits) -> Self {
        use crate::ratelimit::RateLimiter;
        self.device_rate = Arc::new(RateLimiter::new(rate.device));
        self.enrol_rate = Arc::new(RateLimiter::new(rate.enrol));
        self.public_rate = Arc::new(RateLimiter::new(rate.public));
        self.bad_credential_rate = Arc::new(RateLimiter::new(rate.bad_credential));
        self.blobs
            .set_partial_max_age_ms(limits.partial_max_age_hours.saturating_mul(3_600_000));
        self.limits = Arc::new(limits);
        self
    }

    /// Appends an event to the audit chain, signed with the server's key.
    pub async fn audit(&self, event: AuditEvent) -> Result<AuditEntry> {
        Ok(self.storage.append_audit(event, &self.signing_key).await?)
    }

    /// Appends events to the audit chain in one write, signed with the server's key.
    pub async fn audit_all(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditEntry>> {
        Ok(self
            .storage
            .append_audits(events, &self.signing_key)
            .await?)
    }

    /// The embedded default: `DIR/server.db`, `DIR/blobs` and the key folder `DIR/keys`,
    /// created on first start.
    pub async fn open_dir(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let storage = SqliteStorage::open(dir.join("server.db"))?;
        AppState::new(
            Arc::new(storage),
            &KeySource::dir(KeySource::default_dir(dir)),
            dir.join("blobs"),
            DEFAULT_MAX_BLOB,
        )
        .await
    }
}

/// The router with every route of [`ops::ROUTES`].
pub fn router(state: AppState) -> Router {
    let max_body = state.limits.max_body_bytes;
    let telemetry = state.telemetry.clone();
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi_route))
        .route("/v1/enrol", post(enrol::enrol))
        .route("/v1/sync", post(sync::sync))
        .route("/v1/device-keys", get(enrol::device_keys))
        .route("/v1/blobs/{sha256}/status", get(blobs::status))
        .route(
            "/v1/blobs/{sha256}",
            axum::routing::head(blobs::head)
                .put(blobs::put)
                .get(blobs::download),
        )
        .route("/v1/stats", get(routes::stats))
        .route("/v1/reports", get(routes::reports))
        .route("/v1/reviews/queue", get(routes::review_queue))
        .route("/v1/reviews", post(routes::post_review))
        .route("/v1/approvals", post(routes::post_approval))
        .route("/v1/follow-ups", get(routes::follow_ups))
        .route("/v1/disclosure", get(disclosure_routes::disclosure_json))
        .route("/disclosure", get(disclosure_routes::disclosure_page))
        .route("/dashboard", get(routes::dashboard_page))
        .route("/dashboard/case/{id}", get(case_routes::case_page))
        .route(
            "/dashboard/case/{id}/evidence/{sha256}",
            get(case_routes::case_evidence),
        )
        .route(
            "/dashboard/case/{id}/documents/{doc}",
            get(case_routes::document_pdf),
        )
        .route(
            "/dashboard/case/{id}/file.pdf",
            get(case_routes::case_file_pdf),
        )
        .route("/dashboard/review", post(routes::dashboard_review))
        .route("/dashboard/approve", post(routes::dashboard_approve))
        .route("/login", get(routes::login))
        .route("/logout", post(routes::logout))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            telemetry,
            crate::telemetry::observe,
        ))
        // Spans name the path, never the query: a dashboard login link carries its token
        // there, and logs are read by more people than the link was meant for.
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                    )
                },
            ),
        )
        .with_state(state)
}

/// How to listen.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Address (port 0 picks a free port).
    pub addr: SocketAddr,
    /// PEM certificate chain and key for TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy).
    pub allow_insecure_http: bool,
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    draining: Arc<AtomicBool>,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish (up to `grace`), and waits.
    pub async fn shutdown(self, grace: std::time::Duration) -> Result<()> {
        self.draining.store(true, Ordering::SeqCst);
        self.handle.graceful_shutdown(Some(grace));
        self.join().await
    }

    /// Stops at once, dropping connections (a crash, as far as clients can tell).
    pub async fn kill(self) -> Result<()> {
        self.handle.shutdown();
        self.join().await
    }

    /// Waits until the server stops.
    pub async fn join(self) -> Result<()> {
        self.task
            .await
            .map_err(|e| ServerError::Task(e.to_string()))?
            .map_err(ServerError::Io)
    }
}

/// Starts serving `state` as `listen` says. Refuses plain HTTP off loopback unless allowed.
pub async fn start(state: AppState, listen: Listen) -> Result<RunningServer> {
    if listen.tls.is_none() && !listen.addr.ip().is_loopback() && !listen.allow_insecure_http {
        return Err(ServerError::Config(
            "plain HTTP is allowed only on loopback; give --tls-cert/--tls-key or --allow-insecure-http".into(),
        ));
    }
    let draining = state.draining.clone();
    let app = router(state);
    let handle = axum_server::Handle::new();
    let task = match listen.tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| ServerError::Config(format!("TLS certificate or key: {e}")))?;
            let server = axum_server::bind_rustls(listen.addr, config).handle(handle.clone());
            tokio::spawn(async move {
                server
                    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                    .await
            })
        }
        None => {
            let server = axum_server::bind(listen.addr).handle(handle.clone());
            tokio::spawn(async move {
                server
                    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                    .await
            })
        }
    };
    let addr = tokio::time::timeout(std::time::Duration::from_secs(10), handle.listening())
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ServerError::Config(format!("could not listen on {}", listen.addr)))?;
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        draining,
        handle,
        task,
    })
}
