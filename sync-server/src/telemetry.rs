//! Latency histograms and the access log.
//!
//! Each server instance owns its own Prometheus recorder (not the process-wide one of the
//! `metrics` facade): tests run many servers in one process, and an operator reading one
//! instance's `/metrics` must see that instance's requests only.
//!
//! Neither the histograms nor the access log carry personal data or record ids: a request is
//! named by its route template (`/dashboard/case/{id}`, never the id), its method and status.
//! The client's address and the query string (a dashboard login link carries its token
//! there) are left out too.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Key, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::sync::Arc;
use std::time::Instant;

/// Request latency, by route template, method and status class.
pub const REQUEST_SECONDS: &str = "fieldcase_http_request_duration_seconds";
/// Time spent in each stage of `POST /v1/sync`.
pub const SYNC_STAGE_SECONDS: &str = "fieldcase_sync_stage_duration_seconds";

/// Bucket bounds (seconds): from a cached reply (a millisecond) to a slow phone's large
/// batch over a busy database (tens of seconds).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The stages of one sync request, in order ([`SyncTimer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStage {
    /// Who is pushing: credential, declared actor, the pusher's lookups.
    Prepare,
    /// Merging and judging pushed documents and writing the accepted ones.
    Merge,
    /// The exemption-conflict rule over the parties the request touched.
    Conflicts,
    /// Audit entries of the documents sent and the refusals.
    Audit,
    /// Reading the change feed page.
    Feed,
    /// Catalogue, number blocks and roster for the reply.
    Extras,
}

impl SyncStage {
    fn label(self) -> &'static str {
        match self {
            SyncStage::Prepare => "prepare",
            SyncStage::Merge => "merge",
            SyncStage::Conflicts => "conflicts",
            SyncStage::Audit => "audit",
            SyncStage::Feed => "feed",
            SyncStage::Extras => "extras",
        }
    }
}

/// One instance's histograms.
pub struct Telemetry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A recorder with this server's buckets and descriptions.
    pub fn new() -> Self {
        // The bounds are constants above and never empty; were they, the exporter's
        // summaries would be used rather than refusing to start.
        let recorder = match PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        {
            Ok(b) => b.build_recorder(),
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let handle = recorder.handle();
        recorder.describe_histogram(
            REQUEST_SECONDS.into(),
            Some(Unit::Seconds),
            "Request latency by route template, method and status.".into(),
        );
        recorder.describe_histogram(
            SYNC_STAGE_SECONDS.into(),
            Some(Unit::Seconds),
            "Time spent in each stage of a sync request.".into(),
        );
        Telemetry { recorder, handle }
    }

    fn observe(&self, name: &'static str, labels: Vec<Label>, seconds: f64) {
        static META: Metadata<'static> =
            Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &META)
            .record(seconds);
    }

    /// Records one request.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.observe(
            REQUEST_SECONDS,
            vec![
                Label::new("route", route.to_string()),
                Label::new("method", method.to_string()),
                Label::new("status", status.to_string()),
            ],
            seconds,
        );
    }

    /// Records one sync stage.
    pub fn sync_stage(&self, stage: SyncStage, seconds: f64) {
        self.observe(
            SYNC_STAGE_SECONDS,
            vec![Label::new("stage", stage.label())],
            seconds,
        );
    }

    /// The histograms in Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Times the stages of one sync request: each [`SyncTimer::stage`] call records the time
/// since the previous one under the stage just finished.
#[derive(Debug)]
pub struct SyncTimer<'a> {
    telemetry: &'a Telemetry,
    since: Instant,
}

impl<'a> SyncTimer<'a> {
    /// Starts timing.
    pub fn start(telemetry: &'a Telemetry) -> Self {
        SyncTimer {
            telemetry,
            since: Instant::now(),
        }
    }

    /// Records the stage that just ended.
    pub fn stage(&mut self, done: SyncStage) {
        let now = Instant::now();
        self.telemetry
            .sync_stage(done, now.duration_since(self.since).as_secs_f64());
        self.since = now;
    }
}

/// Sets up logging to stderr: `RUST_LOG` filters (default `info`); `json` writes one object a
/// line with the span fields flattened, for a log collector. A second call does nothing.
pub fn init_logging(format: crate::config::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Text => builder.try_init(),
        crate::config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// Middleware: one latency observation and one access-log line per request.
///
/// The log line is written under the `access` target at INFO, so an operator can route or
/// silence it apart from the server's own messages (`RUST_LOG=info,access=off`).
pub async fn observe(
    State(telemetry): State<Arc<Telemetry>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // Unmatched paths (404s, probes) share one label so scanners cannot grow the series.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    telemetry.request(&route, method.as_str(), status, seconds);
    tracing::info!(
        target: "access",
        method = %method,
        route = %route,
        status,
        duration_ms = (seconds * 1000.0 * 10.0).round() / 10.0,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_buckets_per_label_set() {
        let t = Telemetry::new();
        t.request("/v1/sync", "POST", 200, 0.003);
        t.request("/v1/sync", "POST", 200, 0.2);
        t.request("/v1/blobs/{sha256}", "PUT", 409, 0.02);
        let mut timer = SyncTimer::start(&t);
        timer.stage(SyncStage::Prepare);
        timer.stage(SyncStage::Merge);
        let text = t.render();
        assert!(text.contains("# TYPE fieldcase_http_request_duration_seconds histogram"));
        assert!(text.contains(
            "fieldcase_http_request_duration_seconds_count{route=\"/v1/sync\",method=\"POST\",status=\"200\"} 2"
        ), "{text}");
        // 0.003 falls in the 5 ms bucket and above; 0.2 only from 250 ms.
        assert!(text.contains(
            "fieldcase_http_request_duration_seconds_bucket{route=\"/v1/sync\",method=\"POST\",status=\"200\",le=\"0.005\"} 1"
        ), "{text}");
        assert!(text.contains(
            "fieldcase_http_request_duration_seconds_bucket{route=\"/v1/sync\",method=\"POST\",status=\"200\",le=\"0.25\"} 2"
        ), "{text}");
        assert!(text.contains("status=\"409\""));
        assert!(text.contains("fieldcase_sync_stage_duration_seconds_count{stage=\"merge\"} 1"));
        // A second instance sees none of the first one's requests.
        assert!(!Telemetry::new().render().contains("/v1/sync"));
    }
}
