//! The supervision routes: statistics, reports, review queue and reviews, follow-ups (for
//! enrolled devices and dashboard sessions, by role and unit subtree), the public disclosure
//! feed (no login), and the dashboard with its one-time login link.
//!
//! | route | who |
//! |---|---|
//! | `GET /v1/stats`, `GET /v1/follow-ups`, `GET /v1/reviews/queue` | officer, reviewer, supervisor |
//! | `GET /v1/reports` | reviewer, supervisor |
//! | `POST /v1/reviews` | reviewer |
//! | `POST /v1/approvals` | supervisor (负责人批准 of an ordinary-procedure decision) |
//! | `GET /dashboard` | reviewer, supervisor (session cookie) |
//! | `POST /dashboard/review`, `POST /dashboard/approve` | reviewer; supervisor (session cookie, same origin) |
//! | `GET /disclosure`, `GET /v1/disclosure` | anyone ([`super::disclosure_routes`]) |
//! | `GET /dashboard/case/{id}` and its evidence | reviewer, supervisor ([`super::case_routes`]) |
//!
//! A `unit` parameter must lie in the caller's own subtree (the default is the caller's unit).

mod pages;
mod session;

pub use pages::*;
pub use session::*;

use super::queues;
use super::records::{self, Records};
use super::report::{Report, to_csv, to_xlsx};
use super::review::{self, ReviewRequest};
use crate::AppState;
use crate::audit::AuditEvent;
use crate::auth::{Authed, sha256};
use crate::error::{Result, ServerError};
use crate::storage::{Role, User, unit_in_scope};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use fieldcase_core::stats::{Stats, StatsScope};
use serde::Deserialize;

/// Name of the dashboard session cookie.
pub const SESSION_COOKIE: &str = "fieldcase_session";

/// Who is asking: an enrolled device (bearer credential) or a dashboard session (cookie).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: User,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let Authed(auth) = Authed::from_request_parts(parts, state).await?;
            return Ok(Principal { user: auth.user });
        }
        let value = cookie(&parts.headers, SESSION_COOKIE)
            .ok_or(ServerError::Unauthorized { wipe: None })?;
        // A browser sends the cookie with whatever page asks; only this server's own pages may
        // use it. The one exception is opening the dashboard itself (a top-level GET, which
        // changes nothing and has no Referer when typed or opened from a login link).
        // A case page is opened the same way (a bookmark, a link pasted into the address bar).
        let opening_dashboard = parts.method == axum::http::Method::GET
            && (parts.uri.path() == "/dashboard"
                || super::case_routes::is_case_page(parts.uri.path()));
        if !opening_dashboard && !same_origin(&parts.headers, parts.uri.authority()) {
            return Err(ServerError::Forbidden(
                "a request with the session cookie must come from this server's own pages \
                 (same-origin Origin or Referer)"
                    .into(),
            ));
        }
        let user = state
            .storage
            .session_user(sha256(value.as_bytes()), fieldcase_core::ids::now_ms())
            .await?
            .ok_or(ServerError::Unauthorized { wipe: None })?;
        Ok(Principal { user })
    }
}

pub(super) fn require(user: &User, roles: &[Role]) -> Result<()> {
    if roles.contains(&user.role) {
        Ok(())
    } else {
        Err(ServerError::Forbidden(format!(
            "a {} may not use this route",
            user.role.as_str()
        )))
    }
}

const READERS: &[Role] = &[Role::Officer, Role::Reviewer, Role::Supervisor];
pub(super) const SUPERVISORS: &[Role] = &[Role::Reviewer, Role::Supervisor];

/// Query parameters of the supervision routes.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    /// Unit subtree (default: the caller's unit).
    pub unit: Option<String>,
    /// Period start: `YYYY-MM-DD` (China time) or unix ms.
    pub from: Option<String>,
    /// Period end, inclusive day or exclusive unix ms.
    pub to: Option<String>,
    /// Report format: csv, xlsx or json.
    pub format: Option<String>,
    /// "Now" for queues (unix ms), for reproducible answers.
    pub at: Option<i64>,
}

type Q = std::result::Result<Query<ScopeQuery>, axum::extract::rejection::QueryRejection>;

fn query(q: Q) -> Result<ScopeQuery> {
    q.map(|Query(q)| q)
        .map_err(|e| ServerError::BadRequest(format!("query: {}", e.body_text())))
}

/// The unit a request covers: the caller's own unit by default; any other must be inside it.
fn unit_for(user: &User, asked: Option<&str>) -> Result<String> {
    match asked.filter(|u| !u.is_empty()) {
        None => Ok(user.unit.clone()),
        Some(u) if unit_in_scope(u, &user.unit) => Ok(u.to_string()),
        Some(_) => Err(ServerError::Forbidden(
            "the unit is outside the caller's unit".into(),
        )),
    }
}

async fn scoped(state: &AppState, user: &User, q: &ScopeQuery) -> Result<(StatsScope, Records)> {
    let unit = unit_for(user, q.unit.as_deref())?;
    let scope = records::scope(Some(unit.clone()), q.from.as_deref(), q.to.as_deref())?;
    let recs = records::load(state.storage.as_ref(), Some(&unit), false).await?;
    Ok((scope, recs))
}

async fn audit(state: &AppState, user: &User, action: &str, detail: String) -> Result<()> {
    state
        .audit(AuditEvent {
            at_ms: fieldcase_core::ids::now_ms(),
            actor: user.id.clone(),
            action: action.into(),
            case_id: None,
            detail,
        })
        .await
        .map(|_| ())
}

fn describe(scope: &StatsScope) -> String {
    format!(
        "unit={} from={} to={}",
        scope.unit.as_deref().unwrap_or("*"),
        scope.from_ms.map_or("-".into(), |v| v.to_string()),
        scope.to_ms.map_or("-".into(), |v| v.to_string())
    )
}

/// `GET /v1/stats?unit=&from=&to=`.
pub async fn stats(State(state): State<AppState>, p: Principal, q: Q) -> Result<Json<Stats>> {
    let q = query(q)?;
    require(&p.user, READERS)?;
    let (scope, recs) = scoped(&state, &p.user, &q).await?;
    let s = fieldcase_core::stats::compute(&scope, &recs.cases, &recs.demonstrations);
    audit(
        &state,
        &p.user,
        "view",
        format!("stats {}", describe(&scope)),
    )
    .await?;
    Ok(Json(s))
}

/// A report in the asked format: (content type, file extension, bytes).
pub fn render_report(
    report: &Report,
    format: &str,
) -> Result<(&'static str, &'static str, Vec<u8>)> {
    match format {
        "csv" => Ok((
            "text/csv; charset=utf-8",
            "csv",
            to_csv(&report.rows()).into_bytes(),
        )),
        "xlsx" => Ok((
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
            to_xlsx(&report.title(), &report.rows())
                .map_err(|e| ServerError::Config(format!("xlsx: {e}")))?,
        )),
        "json" => Ok((
            "application/json",
            "json",
            serde_json::to_vec_pretty(report)
                .map_err(|e| ServerError::Config(format!("json: {e}")))?,
        )),
        other => Err(ServerError::BadRequest(format!(
            "format {other:?} is not csv, xlsx or json"
        ))),
    }
}

/// `GET /v1/reports?unit=&from=&to=&format=csv|xlsx|json`.
pub async fn reports(State(state): State<AppState>, p: Principal, q: Q) -> Result<Response> {
    let q = query(q)?;
    require(&p.user, SUPERVISORS)?;
    let format = q.format.clone().unwrap_or_else(|| "json".into());
    let (scope, recs) = scoped(&state, &p.user, &q).await?;
    let report = Report::compute(&scope, &recs.cases, &recs.demonstrations);
    let (ctype, ext, body) = render_report(&report, &format)?;
    audit(
        &state,
        &p.user,
        "export",
        format!("report {format} {}", describe(&scope)),
    )
    .await?;
    let disposition = format!("attachment; filename=\"fieldcase-report.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// `GET /v1/reviews/queue?unit=`.
pub async fn review_queue(
    State(state): State<AppState>,
    p: Principal,
    q: Q,
) -> Result<Json<queues::ReviewQueue>> {
    let q = query(q)?;
    require(&p.user, READERS)?;
    let (scope, recs) = scoped(&state, &p.user, &q).await?;
    audit(
        &state,
        &p.user,
        "view",
        format!("review queue {}", describe(&scope)),
    )
    .await?;
    Ok(Json(queues::review_queue(&scope, &recs.cases)))
}

/// `POST /v1/reviews`: body [`ReviewRequest`].
pub async fn post_review(
    State(state): State<AppState>,
    p: Principal,
    body: Bytes,
) -> Result<Json<fieldcase_core::model::Review>> {
    require(&p.user, &[Role::Reviewer])?;
    let req: ReviewRequest = serde_json::from_slice(&body)
        .map_err(|e| ServerError::BadRequest(format!("review request: {e}")))?;
    Ok(Json(review::apply(&state, &p.user, &req).await?))
}

/// `POST /v1/approvals`: body [`super::approval::ApprovalRequest`] (负责人批准).
pub async fn post_approval(
    State(state): State<AppState>,
    p: Principal,
    body: Bytes,
) -> Result<Json<fieldcase_core::model::ProcedureStep>> {
    require(&p.user, &[Role::Supervisor])?;
    let req: super::approval::ApprovalRequest = serde_json::from_slice(&body)
        .map_err(|e| ServerError::BadRequest(format!("approval request: {e}")))?;
    Ok(Json(super::approval::apply(&state, &p.user, &req).await?))
}

/// `GET /v1/follow-ups?unit=&at=`.
pub async fn follow_ups(
    State(state): State<AppState>,
    p: Principal,
    q: Q,
) -> Result<Json<queues::FollowUps>> {
    let q = query(q)?;
    require(&p.user, READERS)?;
    let (scope, recs) = scoped(&state, &p.user, &q).await?;
    let now = q.at.unwrap_or_else(fieldcase_core::ids::now_ms);
    audit(
        &state,
        &p.user,
        "view",
        format!("follow-ups {}", describe(&scope)),
    )
    .await?;
    Ok(Json(queues::follow_ups(&scope, &recs.cases, now)))
}

pub(super) fn html_page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{x}</p></body></html>",
        t = super::disclosure::escape_html(title),
        x = super::disclosure::escape_html(text)
    );
    (status, Html(body)).into_response()
}

/// The `scheme://authority` part of an `Origin` or `Referer` value, if it is http(s).
fn origin_authority(value: &str) -> Option<axum::http::uri::Authority> {
    let uri: axum::http::Uri = value.parse().ok()?;
    match uri.scheme_str() {
        Some("http" | "https") => uri.authority().cloned(),
        _ => None,
    }
}

/// Whether a cookie-authenticated request comes from this server's own pages: its `Origin`
/// (or, when a browser sends none, its `Referer`) must name the host the request was sent
/// to. A request with neither, or with `Origin: null`, is not same-origin. With
/// `SameSite=Strict` cookies this is the second line against cross-site requests.
fn same_origin(headers: &HeaderMap, authority: Option<&axum::http::uri::Authority>) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
        .or_else(|| authority.cloned());
    let Some(host) = host else {
        return false;
    };
    let from = match headers.get(header::ORIGIN) {
        Some(o) => o.to_str().ok().and_then(origin_authority),
        None => headers
            .get(header::REFERER)
            .and_then(|r| r.to_str().ok())
            .and_then(origin_authority),
    };
    from.is_some_and(|a| a.as_str().eq_ignore_ascii_case(host.as_str()))
}
