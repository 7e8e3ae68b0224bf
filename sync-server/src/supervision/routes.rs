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

use super::records::{self, Records};
use super::report::{Report, to_csv, to_xlsx};
use super::review::{self, ReviewRequest};
use super::{dashboard, queues};
use crate::AppState;
use crate::audit::AuditEvent;
use crate::auth::{Authed, sha256};
use crate::error::{Result, ServerError};
use crate::storage::{Role, StorageError, User, WebSession, unit_in_scope};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use fieldcase_core::stats::{Stats, StatsScope};
use serde::Deserialize;

/// Name of the dashboard session cookie.
pub const SESSION_COOKIE: &str = "fieldcase_session";
/// How long a dashboard session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;

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
#[derive(Debug, Clone, Default, Deserialize)]
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

/// `GET /dashboard?unit=`: the supervisors' page (session cookie or bearer credential).
pub async fn dashboard_page(
    State(state): State<AppState>,
    p: std::result::Result<Principal, ServerError>,
    q: Q,
) -> Result<Response> {
    let p = match p {
        Ok(p) => p,
        Err(ServerError::Unauthorized { .. }) => {
            return Ok(html_page(
                StatusCode::UNAUTHORIZED,
                "请登录",
                "请使用管理员发放的一次性登录链接登录监督看板。",
            ));
        }
        Err(e) => return Err(e),
    };
    if require(&p.user, SUPERVISORS).is_err() {
        return Ok(html_page(
            StatusCode::FORBIDDEN,
            "无权访问",
            "监督看板仅供法制审核人员和督查人员使用。",
        ));
    }
    let q = query(q)?;
    let (scope, recs) = scoped(&state, &p.user, &q).await?;
    let label = match state
        .storage
        .units()
        .await?
        .into_iter()
        .find(|u| Some(&u.path) == scope.unit.as_ref())
    {
        Some(u) => format!("{}（{}）", u.name, u.path),
        None => scope.unit.clone().unwrap_or_else(|| "全市".into()),
    };
    let now = q.at.unwrap_or_else(fieldcase_core::ids::now_ms);
    let mut data = dashboard::assemble(
        &scope,
        &label,
        &recs.cases,
        &recs.demonstrations,
        &state.catalogues.set(),
        now,
    );
    data.can_review = p.user.role == Role::Reviewer;
    data.can_approve = p.user.role == Role::Supervisor;
    if p.user.role == Role::Supervisor {
        // Numbers run bureau-wide, so the ledger is the whole bureau's.
        data.number_ledger = crate::admin::number_ledger(state.storage.as_ref()).await?;
    }
    audit(
        &state,
        &p.user,
        "view",
        format!("dashboard {}", describe(&scope)),
    )
    .await?;
    let mut resp = Html(dashboard::render(&data)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'",
        ),
    );
    Ok(resp)
}

/// The dashboard's approve/return form.
#[derive(Debug, Clone, Deserialize)]
pub struct ReviewForm {
    /// The case.
    pub case_id: String,
    /// The decision.
    pub decision_id: String,
    /// approved or returned.
    pub outcome: String,
    /// The opinion.
    pub opinion: String,
    /// Checklist: a ticked box (`on`) is a point passed; the note says why one did not.
    #[serde(default)]
    pub pass_subject: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub note_subject: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub pass_facts: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub note_facts: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub pass_evidence: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub note_evidence: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub pass_basis: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub note_basis: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub pass_discretion: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub note_discretion: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub pass_procedure: Option<String>,
    /// See `pass_subject`.
    #[serde(default)]
    pub note_procedure: Option<String>,
    /// `case`: back to the case page after the review (the dashboard otherwise).
    #[serde(default)]
    pub back: Option<String>,
}

impl ReviewForm {
    /// The checklist the form's boxes and notes give.
    fn checklist(&self) -> fieldcase_core::model::ReviewChecklist {
        let point =
            |pass: &Option<String>, note: &Option<String>| fieldcase_core::model::CheckPoint {
                passed: pass.is_some(),
                note: note.clone().filter(|n| !n.trim().is_empty()),
            };
        fieldcase_core::model::ReviewChecklist {
            subject: point(&self.pass_subject, &self.note_subject),
            facts: point(&self.pass_facts, &self.note_facts),
            evidence: point(&self.pass_evidence, &self.note_evidence),
            basis: point(&self.pass_basis, &self.note_basis),
            discretion: point(&self.pass_discretion, &self.note_discretion),
            procedure: point(&self.pass_procedure, &self.note_procedure),
        }
    }
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

/// `POST /dashboard/review`: a reviewer approves or returns a decision from the dashboard;
/// the same checks and signed write as `POST /v1/reviews`, then back to the dashboard.
pub async fn dashboard_review(
    State(state): State<AppState>,
    p: std::result::Result<Principal, ServerError>,
    form: std::result::Result<axum::Form<ReviewForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response> {
    let p = match form_principal(p, "审核") {
        Ok(p) => p,
        Err(page) => return Ok(*page),
    };
    if p.user.role != Role::Reviewer {
        return Ok(html_page(
            StatusCode::FORBIDDEN,
            "无权操作",
            "仅法制审核人员可在本页面审核决定。",
        ));
    }
    let Ok(axum::Form(form)) = form else {
        return Ok(html_page(
            StatusCode::BAD_REQUEST,
            "审核未提交",
            "表单不完整。",
        ));
    };
    let outcome = match form.outcome.as_str() {
        "approved" => fieldcase_core::model::ReviewOutcome::Approved,
        "returned" => fieldcase_core::model::ReviewOutcome::Returned,
        _ => {
            return Ok(html_page(
                StatusCode::BAD_REQUEST,
                "审核未提交",
                "审核结论只能是批准或退回。",
            ));
        }
    };
    let back = back_to(form.back.as_deref(), &form.case_id);
    let req = ReviewRequest {
        checklist: form.checklist(),
        case_id: form.case_id,
        decision_id: form.decision_id,
        outcome,
        opinion: form.opinion,
    };
    back_to_dashboard(
        review::apply(&state, &p.user, &req).await,
        "审核未提交",
        &back,
    )
}

/// The principal of a dashboard form post, or the page that says why there is none (`what`
/// names the action: 审核, 批准).
fn form_principal(
    p: std::result::Result<Principal, ServerError>,
    what: &str,
) -> std::result::Result<Principal, Box<Response>> {
    match p {
        Ok(p) => Ok(p),
        Err(ServerError::Forbidden(_)) => Err(Box::new(html_page(
            StatusCode::FORBIDDEN,
            "无权操作",
            &format!("请从监督看板页面提交{what}。"),
        ))),
        Err(_) => Err(Box::new(html_page(
            StatusCode::UNAUTHORIZED,
            "请登录",
            "请使用管理员发放的一次性登录链接登录监督看板。",
        ))),
    }
}

/// Where a dashboard form returns to: the case page when it asked to (`back=case`) and the
/// case id is a record id, else the dashboard.
fn back_to(back: Option<&str>, case_id: &str) -> String {
    if back == Some("case") && fieldcase_core::ids::is_valid_id(case_id) {
        format!("/dashboard/case/{case_id}")
    } else {
        "/dashboard".into()
    }
}

/// After a dashboard form's write: back to `location` (the dashboard or the case page), or a
/// page with the refusal.
fn back_to_dashboard<T>(r: Result<T>, title: &str, location: &str) -> Result<Response> {
    match r {
        Ok(_) => {
            let mut resp = (StatusCode::SEE_OTHER, "").into_response();
            resp.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(location)
                    .unwrap_or_else(|_| HeaderValue::from_static("/dashboard")),
            );
            Ok(resp)
        }
        Err(
            e @ (ServerError::BadRequest(_)
            | ServerError::Conflict(_)
            | ServerError::NotFound(_)
            | ServerError::Forbidden(_)),
        ) => {
            let status = e.status();
            Ok(html_page(status, title, &e.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// The dashboard's approval form.
#[derive(Debug, Clone, Deserialize)]
pub struct ApprovalForm {
    /// The case.
    pub case_id: String,
    /// The decision.
    pub decision_id: String,
    /// An optional note.
    #[serde(default)]
    pub note: Option<String>,
    /// `case`: back to the case page after the approval (the dashboard otherwise).
    #[serde(default)]
    pub back: Option<String>,
}

/// `POST /dashboard/approve`: the head of the bureau (a supervisor) approves an
/// ordinary-procedure decision from the dashboard; the same checks and write as
/// `POST /v1/approvals`, then back to the dashboard.
pub async fn dashboard_approve(
    State(state): State<AppState>,
    p: std::result::Result<Principal, ServerError>,
    form: std::result::Result<axum::Form<ApprovalForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response> {
    let p = match form_principal(p, "批准") {
        Ok(p) => p,
        Err(page) => return Ok(*page),
    };
    let Ok(axum::Form(form)) = form else {
        return Ok(html_page(
            StatusCode::BAD_REQUEST,
            "批准未提交",
            "表单不完整。",
        ));
    };
    let back = back_to(form.back.as_deref(), &form.case_id);
    let req = super::approval::ApprovalRequest {
        case_id: form.case_id,
        decision_id: form.decision_id,
        note: form.note.filter(|n| !n.trim().is_empty()),
    };
    back_to_dashboard(
        super::approval::apply(&state, &p.user, &req).await,
        "批准未提交",
        &back,
    )
}

/// `GET /login?token=`: redeems a one-time login link, sets the session cookie (HttpOnly,
/// SameSite=Strict) and redirects to the dashboard.
pub async fn login(
    State(state): State<AppState>,
    crate::ratelimit::ClientAddr(client): crate::ratelimit::ClientAddr,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response> {
    state.public_rate.check(&client)?;
    let Some(token) = q.get("token") else {
        return Ok(html_page(
            StatusCode::BAD_REQUEST,
            "登录链接无效",
            "链接缺少登录令牌。",
        ));
    };
    let now = fieldcase_core::ids::now_ms();
    let raw = crate::auth::random::<32>()?;
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let session = WebSession {
        session_hash: sha256(value.as_bytes()),
        created_at_ms: now,
        expires_at_ms: now + SESSION_TTL_MS,
    };
    let user = match state
        .storage
        .redeem_login_token(sha256(token.trim().as_bytes()), now, session)
        .await
    {
        Ok(u) => u,
        Err(StorageError::Unredeemable) => {
            return Ok(html_page(
                StatusCode::FORBIDDEN,
                "登录链接无效",
                "登录链接未知、已使用或已过期，请向管理员重新申请。",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    audit(&state, &user, "login", "dashboard session".into()).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        SESSION_TTL_MS / 1000,
        secure_attribute(&headers)
    );
    let mut resp = (StatusCode::SEE_OTHER, "").into_response();
    let headers = resp.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/dashboard"));
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ServerError::Config(e.to_string()))?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `; Secure` unless the page was asked for on a loopback host (a local test or an
/// operator's tunnel, which browsers reach over plain http). Anywhere else the server is
/// reached over TLS (it refuses plain http off loopback unless a TLS proxy fronts it), and the
/// session must never travel without it.
fn secure_attribute(headers: &HeaderMap) -> &'static str {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let loopback = name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback { "" } else { "; Secure" }
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if !same_origin(&headers, None) {
        return Ok(html_page(
            StatusCode::FORBIDDEN,
            "无权操作",
            "请从监督看板页面退出登录。",
        ));
    }
    if let Some(v) = cookie(&headers, SESSION_COOKIE) {
        state.storage.end_session(sha256(v.as_bytes())).await?;
    }
    let mut resp = (StatusCode::SEE_OTHER, "").into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/disclosure"));
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        ))
        .map_err(|e| ServerError::Config(e.to_string()))?,
    );
    Ok(resp)
}

/// A one-time dashboard login link for a reviewer or supervisor, valid `ttl_minutes`.
pub async fn issue_login_link(
    storage: &dyn crate::storage::Storage,
    user_id: &str,
    base_url: &str,
    ttl_minutes: i64,
) -> Result<LoginLink> {
    let user = storage
        .user(user_id)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("user {user_id}")))?;
    require(&user, SUPERVISORS)?;
    let token =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::auth::random::<32>()?);
    let now = fieldcase_core::ids::now_ms();
    let expires = now + ttl_minutes.clamp(1, 24 * 60) * 60_000;
    storage
        .create_login_token(crate::storage::LoginToken {
            token_hash: sha256(token.as_bytes()),
            user_id: user_id.into(),
            created_at_ms: now,
            expires_at_ms: expires,
        })
        .await?;
    Ok(LoginLink {
        url: format!("{}/login?token={token}", base_url.trim_end_matches('/')),
        user_id: user_id.into(),
        expires_at_ms: expires,
    })
}

/// A login link, shown once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoginLink {
    /// Open this in a browser.
    pub url: String,
    /// For whom.
    pub user_id: String,
    /// Unusable after this (unix ms).
    pub expires_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(host) {
            h.insert(header::HOST, v);
        }
        h
    }

    #[test]
    fn the_session_cookie_is_secure_everywhere_but_on_loopback() {
        for host in [
            "dash.example.org",
            "dash.example.org:443",
            "10.0.0.5:8443",
            "",
        ] {
            assert_eq!(secure_attribute(&with_host(host)), "; Secure", "{host}");
        }
        for host in ["127.0.0.1:8080", "localhost", "localhost:3000", "[::1]:80"] {
            assert_eq!(secure_attribute(&with_host(host)), "", "{host}");
        }
    }
}
