//! Per route: who may call it, its parameters and body, and the replies its handler really
//! gives (status codes from the handler and from [`crate::error::ServerError`]'s mapping).
//! Schemas come from the handlers' own types.

use super::{Access, Op, Schemas};
use crate::blobs::PutQuery;
use crate::ops::Readiness;
use crate::supervision::approval::ApprovalRequest;
use crate::supervision::disclosure::DisclosurePage;
use crate::supervision::queues::{FollowUps, ReviewQueue};
use crate::supervision::report::Report;
use crate::supervision::review::ReviewRequest;
use crate::supervision::routes::{ApprovalForm, ReviewForm, ScopeQuery};
use fieldcase_core::model::{ProcedureStep, Review};
use fieldcase_core::stats::Stats;
use fieldcase_core::sync::codec;
use fieldcase_core::sync::wire::{
    BlobStatus, DeviceKeysResponse, EnrolRequest, EnrolResponse, SyncRequest, SyncResponse,
};
use serde_json::{Value, json};

/// Why each error status is given, as the handlers give it.
fn error_description(status: u16) -> &'static str {
    match status {
        400 => {
            "Malformed request (`bad_request`): a parameter, query or body that does not parse or breaks a rule"
        }
        401 => {
            "Missing, unknown or revoked credential (`unauthorized`; `wipe` and `wipe_mode` for a revoked device)"
        }
        403 => {
            "The caller's role or unit may not do this, or the body names another device (`forbidden`)"
        }
        404 => "No such thing, or nothing the caller may read (`not_found`)",
        409 => "Conflicts with the stored state (`conflict`, `upload_in_progress`); ask again",
        413 => "Over a size limit (`too_large`)",
        415 => {
            "A Content-Type or Content-Encoding the route does not take (`unsupported_media_type`)"
        }
        429 => "Over the request budget (`rate_limited`); retry after Retry-After seconds",
        503 => "The database does not answer (`unavailable`); retry later",
        _ => "Error",
    }
}

impl Op {
    /// Error replies with the JSON [`fieldcase_core::sync::wire::ErrorBody`].
    fn errors(mut self, schemas: &mut Schemas, statuses: &[u16]) -> Op {
        for &s in statuses {
            self = self.reply(s, error_description(s), schemas.error());
            if s == 429 {
                self = self.header(
                    429,
                    "Retry-After",
                    "Seconds until a request is taken again",
                    json!({"type": "integer", "minimum": 0}),
                );
            }
        }
        self
    }

    /// `413` of a route that reads its body whole before decoding it: past the body limit the
    /// router refuses in plain text, before the handler runs; a blob over its size limit is
    /// refused by the handler, in JSON.
    fn too_large_body(self, schemas: &mut Schemas) -> Op {
        let mut content = schemas.error();
        content["text/plain"] = json!({"schema": {"type": "string"}});
        self.reply(413, error_description(413), content)
    }

    fn query_of(mut self, params: Vec<Value>) -> Op {
        self.parameters.extend(params);
        self
    }
}

/// The schema of a path parameter named `name` (the same name means the same thing on
/// every route).
pub(super) fn path_param_schema(name: &str) -> Value {
    match name {
        "sha256" => json!({"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}),
        "id" => json!({"type": "string", "description": "A case id (UUID)"}),
        "doc" => json!({"type": "string", "description": "An enforcement document's id"}),
        _ => json!({"type": "string"}),
    }
}

fn text(description: &str) -> Value {
    json!({"text/plain": {"schema": {"type": "string", "description": description}}})
}

fn html() -> Value {
    json!({"text/html": {"schema": {"type": "string"}}})
}

fn binary(media: &str) -> Value {
    json!({ media: {"schema": {"type": "string", "contentMediaType": media}} })
}

/// The operation of `method path` (a pair of [`crate::ops::ROUTES`]).
pub(super) fn operation(s: &mut Schemas, method: &str, path: &str) -> Op {
    use Access::*;
    match (method, path) {
        ("get", "/healthz") => Op::new(Public)
            .reply(200, "The database answers", text("ok"))
            .errors(s, &[503]),
        ("get", "/readyz") => Op::new(Public)
            .reply(200, "Ready for requests", s.json::<Readiness>())
            .reply(503, "Stopping, or the database does not answer", s.json::<Readiness>()),
        ("get", "/metrics") => Op::new(Public)
            .reply(200, "Prometheus text format 0.0.4", text("counters and histograms"))
            .errors(s, &[503]),
        ("get", "/openapi.json") => Op::new(Public).reply(
            200,
            "This document (OpenAPI 3.1)",
            json!({"application/json": {"schema": {"type": "object"}}}),
        ),
        ("post", "/v1/enrol") => Op::new(Public)
            .body(s.json::<EnrolRequest>())
            .reply(200, "The device is enrolled; the credential is shown once", s.json::<EnrolResponse>())
            .errors(s, &[400, 403, 429, 503])
            .too_large_body(s),
        ("post", "/v1/sync") => {
            let req = s.of::<SyncRequest>();
            let resp = s.of::<SyncResponse>();
            Op::new(Device)
                .body(json!({
                    codec::JSON: {"schema": req},
                    codec::CBOR: {"schema": req, "description": "The same fields in CBOR: bytes, heads and canonical ids as byte strings"},
                }))
                .reply(200, "Results per document, the feed page and the new cursor (in the form `Accept` asked for)", json!({
                    codec::JSON: {"schema": resp},
                    codec::CBOR: {"schema": resp},
                }))
                .errors(s, &[400, 401, 403, 409, 413, 415, 429, 503])
        }
        ("get", "/v1/device-keys") => Op::new(Device)
            .reply(200, "Keys of the devices whose evidence the caller may read", s.json::<DeviceKeysResponse>())
            .errors(s, &[401, 429, 503]),
        ("get", "/v1/blobs/{sha256}/status") => Op::new(Device)
            .reply(200, "What the server holds (an unknown blob and one the caller may not read look alike)", s.json::<BlobStatus>())
            .errors(s, &[400, 401, 429, 503]),
        ("head", "/v1/blobs/{sha256}") => Op::new(Device)
            .reply(200, "The status in headers", json!({}))
            .header(200, "Upload-Offset", "Bytes held of the caller's upload", json!({"type": "integer", "minimum": 0}))
            .header(200, "Blob-Complete", "Stored and verified", json!({"enum": ["true", "false"]}))
            .reply(400, "Malformed blob id (no body: a HEAD reply has none)", json!({}))
            .reply(401, "Missing, unknown or revoked credential (no body)", json!({}))
            .reply(429, "Over the request budget (no body)", json!({}))
            .reply(503, "The database does not answer (no body)", json!({})),
        ("get", "/v1/blobs/{sha256}") => Op::new(Device)
            .param("Range", "header", false, json!({"type": "string", "pattern": "^bytes="}))
            .reply(200, "The whole blob", binary("application/octet-stream"))
            .reply(206, "The range asked for (Content-Range)", binary("application/octet-stream"))
            .reply(416, "The range starts past the end", json!({}))
            .errors(s, &[400, 401, 404, 429, 503]),
        ("put", "/v1/blobs/{sha256}") => Op::new(Device)
            .query_of(s.query::<PutQuery>())
            .body(binary("application/octet-stream"))
            .reply(200, "The chunk is stored (fsynced); the status after it", s.json::<BlobStatus>())
            .errors(s, &[400, 401, 403, 409, 429, 503])
            .too_large_body(s),
        ("get", "/v1/stats") => Op::new(DeviceOrSession)
            .query_of(s.query::<ScopeQuery>())
            .reply(200, "Statistics of the unit subtree and period", s.json::<Stats>())
            .errors(s, &[400, 401, 403, 429, 503]),
        ("get", "/v1/reports") => {
            let report = s.of::<Report>();
            Op::new(DeviceOrSession)
                .query_of(s.query::<ScopeQuery>())
                .reply(200, "The report as a file (Content-Disposition: attachment)", json!({
                    "application/json": {"schema": report},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "contentMediaType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}},
                }))
                .errors(s, &[400, 401, 403, 429, 503])
        }
        ("get", "/v1/reviews/queue") => Op::new(DeviceOrSession)
            .query_of(s.query::<ScopeQuery>())
            .reply(200, "Decisions awaiting review or approval, and those returned", s.json::<ReviewQueue>())
            .errors(s, &[400, 401, 403, 429, 503]),
        ("post", "/v1/reviews") => Op::new(DeviceOrSession)
            .body(s.json::<ReviewRequest>())
            .reply(200, "The review written into the case", s.json::<Review>())
            .errors(s, &[400, 401, 403, 404, 409, 429, 503])
            .too_large_body(s),
        ("post", "/v1/approvals") => Op::new(DeviceOrSession)
            .body(s.json::<ApprovalRequest>())
            .reply(200, "The approval step written into the case", s.json::<ProcedureStep>())
            .errors(s, &[400, 401, 403, 404, 409, 429, 503])
            .too_large_body(s),
        ("get", "/v1/follow-ups") => Op::new(DeviceOrSession)
            .query_of(s.query::<ScopeQuery>())
            .reply(200, "Follow-ups due and overdue, escalated pledges, per squad", s.json::<FollowUps>())
            .errors(s, &[400, 401, 403, 429, 503]),
        ("get", "/v1/disclosure") => Op::new(Public)
            .query_of(s.query::<crate::supervision::disclosure::PagingQuery>())
            .reply(200, "One page of the public feed with the totals", s.json::<DisclosurePage>())
            .errors(s, &[429, 503]),
        ("get", "/disclosure") => Op::new(Public)
            .query_of(s.query::<crate::supervision::disclosure::PagingQuery>())
            .reply(200, "The public disclosure page", html())
            .errors(s, &[429, 503]),
        ("get", "/dashboard") => Op::new(Session)
            .reply(200, "The dashboard", html())
            .reply(401, "The login prompt", html())
            .reply(403, "A role that may not open it", html())
            .errors(s, &[503]),
        ("get", "/dashboard/case/{id}") => Op::new(Session)
            .reply(200, "The case page", html())
            .reply(401, "The login prompt", html())
            .reply(403, "A role that may not open it", html())
            .reply(404, "No such case, or not readable", html())
            .errors(s, &[503]),
        ("get", "/dashboard/case/{id}/evidence/{sha256}") => Op::new(Session)
            .param("Range", "header", false, json!({"type": "string", "pattern": "^bytes="}))
            .reply(200, "The file, in its own media type", binary("application/octet-stream"))
            .reply(206, "The range asked for", binary("application/octet-stream"))
            .reply(416, "The range starts past the end", json!({}))
            .errors(s, &[401, 403, 404, 503]),
        ("get", "/dashboard/case/{id}/documents/{doc}") => Op::new(Session)
            .reply(200, "The document, A4", binary("application/pdf"))
            .errors(s, &[401, 403, 404, 503]),
        ("get", "/dashboard/case/{id}/file.pdf") => Op::new(Session)
            .reply(200, "The case file, A4", binary("application/pdf"))
            .errors(s, &[401, 403, 404, 503]),
        ("post", "/dashboard/review") => Op::new(Session)
            .body(json!({"application/x-www-form-urlencoded": {"schema": s.of::<ReviewForm>()}}))
            .reply(303, "Written; back to the dashboard", json!({}))
            .reply(400, "The form is incomplete", html())
            .reply(401, "The login prompt", html())
            .reply(403, "Not a reviewer, or not from this server's pages", html())
            .errors(s, &[409, 503]),
        ("post", "/dashboard/approve") => Op::new(Session)
            .body(json!({"application/x-www-form-urlencoded": {"schema": s.of::<ApprovalForm>()}}))
            .reply(303, "Written; back to the dashboard or the case page", json!({}))
            .reply(400, "The form is incomplete", html())
            .reply(401, "The login prompt", html())
            .reply(403, "Not a supervisor, or not from this server's pages", html())
            .errors(s, &[409, 503]),
        ("get", "/login") => Op::new(Public)
            .param("token", "query", true, json!({"type": "string"}))
            .reply(303, "The session cookie is set; on to the dashboard", json!({}))
            .header(303, "Set-Cookie", "The session (HttpOnly, SameSite=Strict)", json!({"type": "string"}))
            .reply(400, "No token", html())
            .reply(403, "Unknown, used or expired link", html())
            .errors(s, &[429, 503]),
        ("post", "/logout") => Op::new(Session)
            .reply(303, "The session is ended; to the dashboard's login prompt", json!({}))
            .reply(403, "Not from this server's pages", html())
            .errors(s, &[503]),
        _ => Op::new(Public),
    }
}
