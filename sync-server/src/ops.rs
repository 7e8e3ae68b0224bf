//! Operations routes: health, readiness, Prometheus metrics; the list of every route, which
//! the OpenAPI description ([`crate::openapi`]) and the router are checked against.
//! Metrics count events only; they carry no personal data and no record ids.

use crate::AppState;
use crate::error::Result;
pub use crate::openapi::{openapi, openapi_route};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::sync::atomic::{AtomicU64, Ordering};

/// Event counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Sync requests.
    pub sync_requests: AtomicU64,
    /// Documents accepted.
    pub docs_accepted: AtomicU64,
    /// Documents rejected by validation or access rules.
    pub docs_rejected: AtomicU64,
    /// Documents answered with need_full.
    pub docs_need_full: AtomicU64,
    /// Feed entries sent.
    pub feed_entries: AtomicU64,
    /// Exemption conflicts flagged by the server.
    pub conflicts_flagged: AtomicU64,
    /// Enrolments.
    pub enrolments: AtomicU64,
    /// Requests by revoked devices.
    pub revoked_requests: AtomicU64,
    /// Blob bytes received.
    pub blob_bytes: AtomicU64,
    /// Blobs stored.
    pub blobs_stored: AtomicU64,
}

impl Metrics {
    /// Adds one.
    pub fn inc(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    fn render(&self, docs: i64, seq: i64) -> String {
        let counters: [(&str, &str, &AtomicU64); 10] = [
            (
                "fieldcase_sync_requests_total",
                "Sync requests.",
                &self.sync_requests,
            ),
            (
                "fieldcase_docs_accepted_total",
                "Pushed documents accepted.",
                &self.docs_accepted,
            ),
            (
                "fieldcase_docs_rejected_total",
                "Pushed documents rejected.",
                &self.docs_rejected,
            ),
            (
                "fieldcase_docs_need_full_total",
                "Pushed documents answered with need_full.",
                &self.docs_need_full,
            ),
            (
                "fieldcase_feed_entries_total",
                "Feed entries sent.",
                &self.feed_entries,
            ),
            (
                "fieldcase_conflicts_flagged_total",
                "Exemption conflicts flagged.",
                &self.conflicts_flagged,
            ),
            (
                "fieldcase_enrolments_total",
                "Devices enrolled.",
                &self.enrolments,
            ),
            (
                "fieldcase_revoked_requests_total",
                "Requests by revoked devices.",
                &self.revoked_requests,
            ),
            (
                "fieldcase_blob_bytes_total",
                "Blob bytes received.",
                &self.blob_bytes,
            ),
            (
                "fieldcase_blobs_stored_total",
                "Blobs stored and verified.",
                &self.blobs_stored,
            ),
        ];
        let mut out = String::new();
        for (name, help, c) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                c.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# HELP fieldcase_documents Documents stored.\n# TYPE fieldcase_documents gauge\nfieldcase_documents {docs}\n"
        ));
        out.push_str(&format!(
            "# HELP fieldcase_feed_seq Latest change feed position.\n# TYPE fieldcase_feed_seq gauge\nfieldcase_feed_seq {seq}\n"
        ));
        out
    }
}

/// `GET /healthz`: 200 "ok" when the database answers.
pub async fn healthz(State(state): State<AppState>) -> Result<&'static str> {
    state.storage.latest_seq().await?;
    Ok("ok")
}

/// The `/readyz` body: which check failed, for whoever reads the balancer's log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Readiness {
    /// Send this instance new requests.
    pub ready: bool,
    /// Stopping after SIGTERM; requests in flight still finish.
    pub stopping: bool,
    /// `ok`, or `unavailable` when the database does not answer.
    pub database: String,
}

/// `GET /readyz`: whether this instance should be sent new requests. 503 while it is stopping
/// (after SIGTERM, requests in flight still finish) or when its database does not answer, so
/// a balancer takes it out of rotation; the body names the check that failed.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let draining = state.draining.load(std::sync::atomic::Ordering::SeqCst);
    let database = match state.storage.latest_seq().await {
        Ok(_) => "ok".to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database does not answer");
            "unavailable".to_string()
        }
    };
    let ready = !draining && database == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(Readiness {
            ready,
            stopping: draining,
            database,
        }),
    )
}

/// `GET /metrics`: the counters, then the latency histograms.
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse> {
    let docs = state.storage.doc_count().await?;
    let seq = state.storage.latest_seq().await?;
    let mut text = state.metrics.render(docs, seq);
    text.push_str(&state.telemetry.render());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

/// Every route: method, path, summary. The router and the OpenAPI document are both checked
/// against this list by tests.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/healthz", "Health check"),
    (
        "get",
        "/readyz",
        "Readiness: 503 while stopping or when the database does not answer",
    ),
    ("get", "/metrics", "Prometheus metrics"),
    ("get", "/openapi.json", "This description"),
    (
        "post",
        "/v1/enrol",
        "Trade a one-time enrolment code for a device credential",
    ),
    (
        "post",
        "/v1/sync",
        "Push changed documents, fetch what the device lacks, page the change feed (body in JSON or CBOR, gzip or not, as negotiated)",
    ),
    (
        "get",
        "/v1/device-keys",
        "Public keys of the devices whose evidence the caller may read",
    ),
    (
        "get",
        "/v1/blobs/{sha256}/status",
        "How much of a blob the server holds",
    ),
    ("head", "/v1/blobs/{sha256}", "Blob status in headers"),
    (
        "get",
        "/v1/blobs/{sha256}",
        "Download a stored blob a readable record refers to (Range supported)",
    ),
    (
        "put",
        "/v1/blobs/{sha256}",
        "Append a chunk of a blob at an offset",
    ),
    (
        "get",
        "/v1/stats",
        "Soft-enforcement statistics of a unit subtree and period",
    ),
    (
        "get",
        "/v1/reports",
        "Bureau report (csv, xlsx or json) of a unit subtree and period",
    ),
    (
        "get",
        "/v1/reviews/queue",
        "Decisions awaiting or returned by legal review",
    ),
    (
        "post",
        "/v1/reviews",
        "Approve or return a decision (legal reviewers)",
    ),
    (
        "post",
        "/v1/approvals",
        "Approve an ordinary-procedure decision after review (the head of the bureau)",
    ),
    (
        "get",
        "/v1/follow-ups",
        "Due and overdue follow-ups and escalated pledges per squad",
    ),
    ("get", "/v1/disclosure", "Public disclosure feed (no login)"),
    ("get", "/disclosure", "Public disclosure page (no login)"),
    ("get", "/dashboard", "Supervisors' dashboard (session)"),
    (
        "get",
        "/dashboard/case/{id}",
        "A case for legal review: facts, timeline, evidence, documents, checks (session)",
    ),
    (
        "get",
        "/dashboard/case/{id}/evidence/{sha256}",
        "An evidence file of a case the viewer may read (session)",
    ),
    (
        "get",
        "/dashboard/case/{id}/documents/{doc}",
        "An enforcement document of a case as an A4 PDF (session)",
    ),
    (
        "get",
        "/dashboard/case/{id}/file.pdf",
        "The case file (案卷) as one A4 PDF (session)",
    ),
    (
        "post",
        "/dashboard/review",
        "Approve or return a decision from the dashboard (reviewers)",
    ),
    (
        "post",
        "/dashboard/approve",
        "Approve an ordinary-procedure decision from the dashboard (the head of the bureau)",
    ),
    ("get", "/login", "Redeem a one-time dashboard login link"),
    ("post", "/logout", "End the dashboard session"),
];
