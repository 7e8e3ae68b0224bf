//! The reviewer's case page and its evidence files (session cookie, or a bearer credential).
//!
//! | route | who |
//! |---|---|
//! | `GET /dashboard/case/{id}` | reviewer, supervisor whose unit covers the case |
//! | `GET /dashboard/case/{id}/evidence/{sha256}` | the same; the file must be the thumbnail or display copy of a photo or signature, or the original of a recording, of an evidence entry of that case that is not redacted |
//!
//! A case outside the viewer's units answers exactly like a missing one (404, one page), and so
//! does every refused file: a hash is served only as part of a case the viewer may read, never
//! by the hash alone, and only when the blob is also bound to a record in the viewer's units
//! (the rule of `GET /v1/blobs`, `Storage::blob_readable`). Every page view and every file read
//! is audited.

use super::case_check;
use super::case_page;
use super::case_view::{self, Context, Viewer};
use super::routes::{Principal, SUPERVISORS, require};
use crate::AppState;
use crate::audit::AuditEvent;
use crate::error::{Result, ServerError};
use crate::storage::StoredDoc;
use automerge::AutoCommit;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use fieldcase_core::evidence::EvidenceKind;
use fieldcase_core::model::{CaseRecord, PartyRecord, RecordKind};
use std::collections::{BTreeMap, HashSet};

/// Characters of a blob's hash written to the audit log.
const AUDIT_SHA_PREFIX: usize = 16;

/// Content types the evidence route sends as they are; anything else (a type a forged entry
/// could name, such as `text/html`) goes out as `application/octet-stream`.
const SAFE_TYPES: [&str; 7] = [
    "image/jpeg",
    "image/png",
    "audio/wav",
    "audio/mp4",
    "audio/aac",
    "audio/amr",
    "audio/amr-wb",
];

/// Whether `path` is a case page (`/dashboard/case/{id}`, nothing after the id): a top-level
/// GET that changes nothing, which the session check lets through without a Referer.
pub fn is_case_page(path: &str) -> bool {
    path.strip_prefix("/dashboard/case/")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// The stored case `id` if `user` may read it; `None` for a missing case, another kind of
/// record, a malformed id or a unit outside the user's.
async fn readable_case(
    state: &AppState,
    user: &crate::storage::User,
    id: &str,
) -> Result<Option<(StoredDoc, AutoCommit, CaseRecord)>> {
    if !fieldcase_core::ids::is_valid_id(id) {
        return Ok(None);
    }
    let Some(stored) = state.storage.load_doc(id).await? else {
        return Ok(None);
    };
    if stored.kind != RecordKind::Case
        || !crate::access::can_read(user, RecordKind::Case, &stored.unit)
    {
        return Ok(None);
    }
    let doc = AutoCommit::load(&stored.bytes)
        .map_err(|_| ServerError::Database("stored document does not load".into()))?;
    let case: CaseRecord = fieldcase_core::doc::read(&doc, id)?;
    Ok(Some((stored, doc, case)))
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn not_found_page() -> Response {
    let mut resp = (StatusCode::NOT_FOUND, Html(case_page::not_found())).into_response();
    no_store(&mut resp);
    resp
}

async fn party_record(state: &AppState, case: &CaseRecord) -> Option<PartyRecord> {
    let id = &case.party.as_ref()?.party_id;
    let stored = state.storage.load_doc(id).await.ok()??;
    if stored.kind != RecordKind::Party {
        return None;
    }
    let doc = AutoCommit::load(&stored.bytes).ok()?;
    fieldcase_core::doc::read::<PartyRecord>(&doc, id).ok()
}

/// `GET /dashboard/case/{id}`: the case page.
pub async fn case_page(
    State(state): State<AppState>,
    p: std::result::Result<Principal, ServerError>,
    Path(id): Path<String>,
) -> Result<Response> {
    let p = match super::routes::supervisor_page(p, "案件详情仅供法制审核人员和督查人员查看。")?
    {
        Ok(p) => p,
        Err(page) => return Ok(page),
    };
    let Some((_, mut doc, case)) = readable_case(&state, &p.user, &id).await? else {
        return Ok(not_found_page());
    };
    let checks = super::case_file::server_checks(&state, &case, &mut doc).await?;
    let unit_names: BTreeMap<String, String> = state
        .storage
        .units()
        .await?
        .into_iter()
        .map(|u| (u.path, u.name))
        .collect();
    let user_names: BTreeMap<String, String> = state
        .storage
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let party = party_record(&state, &case).await;
    let catalogues = state.catalogues.set();
    let view = case_view::assemble(
        &case,
        &Viewer {
            user_id: p.user.id.clone(),
            role: p.user.role,
        },
        &Context {
            catalogues: &catalogues,
            unit_names: &unit_names,
            user_names: &user_names,
            party: party.as_ref(),
            checks: &checks,
        },
    );
    state
        .audit(AuditEvent {
            at_ms: fieldcase_core::ids::now_ms(),
            actor: p.user.id.clone(),
            action: "view".into(),
            case_id: Some(case.id.clone()),
            detail: format!(
                "case page; {} checks, {} failed",
                checks.len(),
                checks.iter().filter(|c| c.ok == Some(false)).count()
            ),
        })
        .await?;
    let mut resp = Html(case_page::render(&view)).into_response();
    no_store(&mut resp);
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(case_page::CSP),
    );
    Ok(resp)
}

/// The file `sha` as the case page may show it: (content type) when it is the thumbnail or
/// display copy of a photo or signature, or the original of a recording, of an entry of
/// `case` that is not redacted.
fn shown_file(case: &CaseRecord, sha: &str) -> Option<String> {
    let redacted: HashSet<String> = case_check::redactions(case)
        .into_iter()
        .filter(|r| r.record_id == case.id)
        .map(|r| r.evidence_id)
        .collect();
    case_check::entries(case)
        .into_iter()
        .filter(|e| e.record_id == case.id && !redacted.contains(&e.id))
        .find_map(|e| {
            let shown = match e.kind {
                EvidenceKind::Photo | EvidenceKind::Signature => {
                    [e.thumbnail.as_ref(), e.display.as_ref()]
                }
                EvidenceKind::Audio => [Some(&e.original), None],
            };
            shown
                .into_iter()
                .flatten()
                .find(|b| b.sha256 == sha)
                .map(|b| b.mime.clone())
        })
}

fn not_found() -> ServerError {
    ServerError::NotFound("no such evidence".into())
}

/// `GET /dashboard/case/{id}/evidence/{sha256}`: an evidence file of a case the viewer may
/// read (see the module docs); `404` for everything else. Streamed from the blob folder, with
/// a single `Range` honoured (a browser's audio player seeks with it).
pub async fn case_evidence(
    State(state): State<AppState>,
    p: std::result::Result<Principal, ServerError>,
    Path((id, sha)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let p = p?;
    if require(&p.user, SUPERVISORS).is_err() {
        return Err(not_found());
    }
    let sha = sha.to_ascii_lowercase();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let audit = |action: &'static str, what: String| {
        let state = state.clone();
        let actor = p.user.id.clone();
        let case_id = fieldcase_core::ids::is_valid_id(&id).then(|| id.clone());
        let detail = format!(
            "dashboard user={} sha={} {what}",
            actor,
            &sha[..AUDIT_SHA_PREFIX]
        );
        async move {
            state
                .audit(AuditEvent {
                    at_ms: fieldcase_core::ids::now_ms(),
                    actor,
                    action: action.into(),
                    case_id,
                    detail: detail.trim_end().to_string(),
                })
                .await
                .map(drop)
        }
    };
    let mime = match readable_case(&state, &p.user, &id).await? {
        Some((_, _, case)) => shown_file(&case, &sha),
        None => None,
    };
    let readable = match &mime {
        Some(_) => {
            state.storage.blob(&sha).await?.is_some()
                && state
                    .storage
                    .blob_readable(
                        &sha,
                        &crate::access::scopes(&p.user),
                        crate::access::readable_kinds(p.user.role),
                    )
                    .await?
        }
        None => false,
    };
    let Some(mime) = mime.filter(|_| readable) else {
        if let Err(e) = audit("blob_read_refused", String::new()).await {
            tracing::error!(error = %e, "refused evidence read not audited");
        }
        return Err(not_found());
    };
    let Some(len) = state.blobs.size(&sha).await? else {
        tracing::error!(blob = %sha, "a recorded blob is missing from the blob store");
        return Err(not_found());
    };
    let range = match crate::blobs::parse_range(headers.get(header::RANGE), len) {
        Ok(r) => r,
        Err(()) => {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, h).into_response());
        }
    };
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    // Audited before the first byte leaves; a read that cannot be audited is not served.
    audit("blob_read", format!("bytes={start}-{end}/{len}")).await?;
    let ctype = if SAFE_TYPES.contains(&mime.as_str()) {
        mime
    } else {
        "application/octet-stream".to_string()
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let Some(body) = state.blobs.read_range(&sha, start, count).await? else {
        tracing::error!(blob = %sha, "a recorded blob is missing from the blob store");
        return Err(not_found());
    };
    Ok(stream(
        body,
        start,
        end,
        len,
        count,
        range.is_some(),
        &ctype,
    ))
}

/// Sends bytes `start..=end` (`count` of them) of a `len`-byte blob: `206` with
/// `Content-Range` for a range, else `200`.
fn stream(
    body: crate::blobs::store::ByteStream,
    start: u64,
    end: u64,
    len: u64,
    count: u64,
    partial: bool,
    ctype: &str,
) -> Response {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(ctype)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    let status = if partial {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    (status, h, axum::body::Body::from_stream(body)).into_response()
}

/// `GET /dashboard/case/{id}/documents/{doc}` (with or without `.pdf`): one document as an A4
/// PDF, for the viewers of the case page. The party block is printed only for roles that may
/// read personal data; for others the document cannot be drawn (its hash binds the party).
pub async fn document_pdf(
    State(state): State<AppState>,
    p: Principal,
    Path((id, doc_id)): Path<(String, String)>,
) -> Result<Response> {
    require(&p.user, SUPERVISORS)?;
    let Some((_, _, case)) = readable_case(&state, &p.user, &id).await? else {
        return Ok(not_found_page());
    };
    let doc_id = doc_id.strip_suffix(".pdf").unwrap_or(&doc_id).to_string();
    let with_pii = crate::access::may_read_pii(p.user.role);
    let Some(pdf) = super::case_file::document_pdf(&state, &case, &doc_id, with_pii).await? else {
        return Ok(not_found_page());
    };
    pdf_response(&state, &p, &case, format!("document {doc_id}"), pdf).await
}

/// `GET /dashboard/case/{id}/file.pdf`: the case file (案卷) as one A4 PDF.
pub async fn case_file_pdf(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response> {
    require(&p.user, SUPERVISORS)?;
    let Some((_, mut doc, case)) = readable_case(&state, &p.user, &id).await? else {
        return Ok(not_found_page());
    };
    let checks = super::case_file::server_checks(&state, &case, &mut doc).await?;
    let with_pii = crate::access::may_read_pii(p.user.role);
    let pdf = super::case_file::case_file_pdf(
        &state,
        &case,
        super::case_file::checks_by_entry(&checks),
        with_pii,
    )
    .await?;
    pdf_response(&state, &p, &case, "case file".into(), pdf).await
}

async fn pdf_response(
    state: &AppState,
    p: &Principal,
    case: &CaseRecord,
    what: String,
    pdf: Vec<u8>,
) -> Result<Response> {
    state
        .audit(AuditEvent {
            at_ms: fieldcase_core::ids::now_ms(),
            actor: p.user.id.clone(),
            action: "view".into(),
            case_id: Some(case.id.clone()),
            detail: format!("{what} as PDF"),
        })
        .await?;
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pdf"),
        )],
        pdf,
    )
        .into_response();
    no_store(&mut resp);
    Ok(resp)
}
