//! The dashboard page and its review and approval forms (session cookie, same origin).

use super::{Principal, Q, SUPERVISORS, audit, describe, html_page, query, require, scoped};
use crate::AppState;
use crate::error::{Result, ServerError};
use crate::storage::Role;
use crate::supervision::dashboard;
use crate::supervision::review::{self, ReviewRequest};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

/// `GET /dashboard?unit=`: the supervisors' page (session cookie or bearer credential).
pub async fn dashboard_page(
    State(state): State<AppState>,
    p: std::result::Result<Principal, ServerError>,
    q: Q,
) -> Result<Response> {
    let p = match supervisor_page(p, "监督看板仅供法制审核人员和督查人员使用。")?
    {
        Ok(p) => p,
        Err(page) => return Ok(page),
    };
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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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

/// The principal of a dashboard page a reviewer or supervisor may open, or the page to show
/// instead: a login prompt without a session, `forbidden` (what the page is for, who may
/// see it) for another role.
pub(crate) fn supervisor_page(
    p: std::result::Result<Principal, ServerError>,
    forbidden: &str,
) -> Result<std::result::Result<Principal, Response>> {
    let p = match p {
        Ok(p) => p,
        Err(ServerError::Unauthorized { .. }) => {
            return Ok(Err(html_page(
                StatusCode::UNAUTHORIZED,
                "请登录",
                "请使用管理员发放的一次性登录链接登录监督看板。",
            )));
        }
        Err(e) => return Err(e),
    };
    if require(&p.user, SUPERVISORS).is_err() {
        return Ok(Err(html_page(StatusCode::FORBIDDEN, "无权访问", forbidden)));
    }
    Ok(Ok(p))
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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
    let req = crate::supervision::approval::ApprovalRequest {
        case_id: form.case_id,
        decision_id: form.decision_id,
        note: form.note.filter(|n| !n.trim().is_empty()),
    };
    back_to_dashboard(
        crate::supervision::approval::apply(&state, &p.user, &req).await,
        "批准未提交",
        &back,
    )
}
