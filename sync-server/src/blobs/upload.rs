//! The upload side of the blob API: status, `HEAD` and chunked `PUT`.

use super::{UploadOutcome, check_sha, may_read};
use crate::auth::Authed;
use crate::error::{JsonQuery, Result, ServerError};
use crate::storage::{BlobRecord, DeviceAuth, UploadSession};
use crate::{AppState, access};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use fieldcase_core::sync::wire::BlobStatus;
use serde::Deserialize;

/// The status as `auth` may see it: complete only for a blob it may read, an offset only for
/// its own upload; anything else answers exactly like an unknown blob.
async fn status_of(state: &AppState, auth: &DeviceAuth, sha: &str) -> Result<BlobStatus> {
    if state.storage.blob(sha).await?.is_some() && may_read(state, auth, sha).await? {
        return Ok(BlobStatus {
            sha256: sha.to_string(),
            offset: 0,
            complete: true,
        });
    }
    let offset = match state.storage.upload_session(sha).await? {
        Some(u) if u.device_id == auth.device.id => state.blobs.received(sha).await?,
        _ => 0,
    };
    Ok(BlobStatus {
        sha256: sha.to_string(),
        offset,
        complete: false,
    })
}

/// `GET /v1/blobs/{sha256}/status`.
pub async fn status(
    State(state): State<AppState>,
    Authed(auth): Authed,
    Path(sha): Path<String>,
) -> Result<Json<BlobStatus>> {
    let sha = check_sha(&sha)?;
    Ok(Json(status_of(&state, &auth, &sha).await?))
}

/// `HEAD /v1/blobs/{sha256}`: the status in headers (`Upload-Offset`, `Blob-Complete`).
pub async fn head(
    State(state): State<AppState>,
    Authed(auth): Authed,
    Path(sha): Path<String>,
) -> Result<impl IntoResponse> {
    let sha = check_sha(&sha)?;
    let st = status_of(&state, &auth, &sha).await?;
    let mut h = HeaderMap::new();
    h.insert("upload-offset", HeaderValue::from(st.offset));
    h.insert(
        "blob-complete",
        HeaderValue::from_static(if st.complete { "true" } else { "false" }),
    );
    Ok((StatusCode::OK, h))
}

/// Query of a chunk upload.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PutQuery {
    /// Where this chunk starts.
    pub offset: u64,
    /// The blob's total size.
    pub total: u64,
}

/// Settles who owns the upload of `sha` before `auth`'s chunk is appended (with the blob's
/// upload lock held): refuses another device's live session, takes over an idle one, drops
/// partial bytes no session owns, and applies the per-device quota to a new upload. A new or
/// taken-over session is claimed in the database in one atomic step
/// ([`crate::storage::Storage::claim_upload_session`]) before any byte is touched, so two
/// server instances sharing the database and blob folder cannot both begin the same upload
/// (the lock is per process). Returns whether this call began a new session.
async fn claim_upload(
    state: &AppState,
    auth: &DeviceAuth,
    sha: &str,
    total: u64,
    now: i64,
) -> Result<bool> {
    let device = &auth.device.id;
    let limits = &state.limits;
    let takeover_after =
        i64::try_from(limits.upload_takeover_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let max_pending = limits.max_pending_upload_bytes;
    let own = |u: &UploadSession| -> Result<bool> {
        if u.total != total {
            return Err(ServerError::Conflict(format!(
                "this upload was begun with total {}",
                u.total
            )));
        }
        Ok(false)
    };
    match state.storage.upload_session(sha).await? {
        Some(u) if u.device_id == *device => return own(&u),
        Some(u) if now - u.updated_at_ms < takeover_after => {
            return Err(ServerError::UploadInProgress);
        }
        Some(_) | None => {}
    }
    let max_age = i64::try_from(state.blobs.partial_max_age_ms()).unwrap_or(i64::MAX);
    let pending = state
        .storage
        .device_upload_sessions(device)
        .await?
        .into_iter()
        .filter(|u| u.sha256 != sha)
        .filter(|u| now - u.updated_at_ms < max_age)
        .fold(0u64, |sum, u| sum.saturating_add(u.total));
    if pending.saturating_add(total) > max_pending {
        return Err(ServerError::TooLarge(format!(
            "unfinished uploads of one device are limited to {max_pending} bytes; \
             finish or abandon one first"
        )));
    }
    let claimed = state
        .storage
        .claim_upload_session(
            UploadSession {
                sha256: sha.to_string(),
                device_id: device.clone(),
                received: 0,
                total,
                updated_at_ms: now,
            },
            now - takeover_after,
        )
        .await?;
    if !claimed {
        // Someone claimed it between the read and the claim: another instance serving a
        // colleague (refused), or this device through another instance (its own upload).
        return match state.storage.upload_session(sha).await? {
            Some(u) if u.device_id == *device => own(&u),
            _ => Err(ServerError::UploadInProgress),
        };
    }
    // An idle colleague's upload, or bytes no session owns: start again from 0 so nothing of
    // another device's bytes ends up in this device's upload.
    state.blobs.discard_partial(sha).await?;
    Ok(true)
}

/// `PUT /v1/blobs/{sha256}?offset=N&total=T`.
pub async fn put(
    State(state): State<AppState>,
    Authed(auth): Authed,
    Path(sha): Path<String>,
    JsonQuery(q): JsonQuery<PutQuery>,
    body: Bytes,
) -> Result<Json<BlobStatus>> {
    let sha = check_sha(&sha)?;
    if state.storage.blob(&sha).await?.is_some() && may_read(&state, &auth, &sha).await? {
        return Ok(Json(status_of(&state, &auth, &sha).await?));
    }
    state.blobs.check_total(q.total)?;
    let user = &auth.user;
    let writable = access::writable_kinds(user.role);
    let referenced = state
        .storage
        .blob_referenced(&sha, &access::scopes(user), writable)
        .await?;
    if !referenced {
        return Err(ServerError::Forbidden(
            "no document this device may write refers to this blob; sync the record first".into(),
        ));
    }
    // The sweep runs beside the request: listing an object store's unfinished uploads must
    // not delay a phone's chunk.
    let blobs = state.blobs.clone();
    tokio::spawn(async move { blobs.maybe_prune().await });
    let lock = state.blobs.lock_for(&sha);
    let _guard = lock.lock().await;
    let now = fieldcase_core::ids::now_ms();
    let began = claim_upload(&state, &auth, &sha, q.total, now).await?;
    let total = q.total;
    let appended = state.blobs.append(&sha, q.offset, total, body).await;
    let outcome = match appended {
        Ok(o) => o,
        Err(e) => {
            if began {
                // A claim whose first chunk failed is released, as if never made.
                state
                    .storage
                    .release_upload_session(&sha, &auth.device.id)
                    .await?;
            }
            return Err(e);
        }
    };
    let end = outcome.received();
    let complete = matches!(outcome, UploadOutcome::Complete { .. });
    state
        .metrics
        .add(&state.metrics.blob_bytes, end.saturating_sub(q.offset));
    if complete {
        state
            .storage
            .insert_blob(BlobRecord {
                sha256: sha.clone(),
                size: total,
                stored_at_ms: now,
                device_id: auth.device.id.clone(),
            })
            .await?;
        // The device proved it holds the bytes: bind the blob to the records it may write
        // that refer to it.
        state
            .storage
            .anchor_blob(&sha, &auth.device.id, &access::scopes(user), writable, now)
            .await?;
        state.metrics.inc(&state.metrics.blobs_stored);
    } else {
        state
            .storage
            .put_upload_session(UploadSession {
                sha256: sha.clone(),
                device_id: auth.device.id.clone(),
                received: end,
                total,
                updated_at_ms: now,
            })
            .await?;
    }
    Ok(Json(status_of(&state, &auth, &sha).await?))
}
