//! Evidence blobs: resumable, content-addressed upload.
//!
//! `PUT /v1/blobs/{sha256}?offset=N&total=T` appends one chunk to `DIR/blobs/partial/<sha>`
//! (written, then fsynced, before the reply). When the file reaches `total` bytes its SHA-256
//! is checked; on a match it is renamed to `DIR/blobs/<aa>/<sha>` and the directory synced, so
//! a stored blob is always complete and verified; on a mismatch the partial file is dropped.
//! The server accepts only blobs that a document the device may write refers to.

use crate::AppState;
use crate::access;
use crate::auth::Authed;
use crate::error::{Result, ServerError};
use crate::storage::{BlobRecord, UploadSession};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use fieldcase_core::sync::wire::BlobStatus;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The blob folder and per-blob upload locks.
#[derive(Debug)]
pub struct BlobDir {
    root: PathBuf,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Largest blob accepted, bytes.
    pub max_bytes: u64,
}

fn check_sha(sha: &str) -> Result<String> {
    if sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err(ServerError::BadRequest(
            "blob id must be 64 hex characters".into(),
        ))
    }
}

fn sync_dir(dir: &std::path::Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

impl BlobDir {
    /// Opens (creating) the folder.
    pub fn open(root: PathBuf, max_bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(root.join("partial"))?;
        Ok(BlobDir {
            root,
            locks: std::sync::Mutex::new(HashMap::new()),
            max_bytes,
        })
    }

    fn partial(&self, sha: &str) -> PathBuf {
        self.root.join("partial").join(sha)
    }

    /// Where a stored blob lives.
    pub fn final_path(&self, sha: &str) -> PathBuf {
        self.root.join(&sha[..2]).join(sha)
    }

    fn lock_for(&self, sha: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(sha.to_string()).or_default().clone()
    }

    fn partial_len(&self, sha: &str) -> u64 {
        std::fs::metadata(self.partial(sha))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

async fn status_of(state: &AppState, sha: &str) -> Result<BlobStatus> {
    if state.storage.blob(sha).await?.is_some() {
        return Ok(BlobStatus {
            sha256: sha.to_string(),
            offset: 0,
            complete: true,
        });
    }
    Ok(BlobStatus {
        sha256: sha.to_string(),
        offset: state.blobs.partial_len(sha),
        complete: false,
    })
}

/// `GET /v1/blobs/{sha256}/status`.
pub async fn status(
    State(state): State<AppState>,
    Authed(_auth): Authed,
    Path(sha): Path<String>,
) -> Result<Json<BlobStatus>> {
    let sha = check_sha(&sha)?;
    Ok(Json(status_of(&state, &sha).await?))
}

/// `HEAD /v1/blobs/{sha256}`: the status in headers (`Upload-Offset`, `Blob-Complete`).
pub async fn head(
    State(state): State<AppState>,
    Authed(_auth): Authed,
    Path(sha): Path<String>,
) -> Result<impl IntoResponse> {
    let sha = check_sha(&sha)?;
    let st = status_of(&state, &sha).await?;
    let mut h = HeaderMap::new();
    h.insert("upload-offset", HeaderValue::from(st.offset));
    h.insert(
        "blob-complete",
        HeaderValue::from_static(if st.complete { "true" } else { "false" }),
    );
    Ok((StatusCode::OK, h))
}

/// Query of a chunk upload.
#[derive(Debug, Deserialize)]
pub struct PutQuery {
    /// Where this chunk starts.
    pub offset: u64,
    /// The blob's total size.
    pub total: u64,
}

/// `PUT /v1/blobs/{sha256}?offset=N&total=T`.
pub async fn put(
    State(state): State<AppState>,
    Authed(auth): Authed,
    Path(sha): Path<String>,
    Query(q): Query<PutQuery>,
    body: Bytes,
) -> Result<Json<BlobStatus>> {
    let sha = check_sha(&sha)?;
    if state.storage.blob(&sha).await?.is_some() {
        return Ok(Json(status_of(&state, &sha).await?));
    }
    if q.total > state.blobs.max_bytes {
        return Err(ServerError::TooLarge(format!(
            "blobs are limited to {} bytes",
            state.blobs.max_bytes
        )));
    }
    let user = &auth.user;
    let referenced = state
        .storage
        .blob_referenced(
            &sha,
            &access::scopes(user),
            access::writable_kinds(user.role),
        )
        .await?;
    if !referenced {
        return Err(ServerError::Forbidden(
            "no document this device may write refers to this blob; sync the record first".into(),
        ));
    }
    let lock = state.blobs.lock_for(&sha);
    let _guard = lock.lock().await;
    let have = state.blobs.partial_len(&sha);
    if q.offset != have {
        return Err(ServerError::Conflict(format!("expected offset {have}")));
    }
    let end = q.offset.saturating_add(body.len() as u64);
    if end > q.total {
        return Err(ServerError::BadRequest(
            "chunk runs past the declared total".into(),
        ));
    }
    let partial = state.blobs.partial(&sha);
    let final_path = state.blobs.final_path(&sha);
    let sha_c = sha.clone();
    let total = q.total;
    let complete = tokio::task::spawn_blocking(move || -> Result<bool> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial)?;
        f.write_all(&body)?;
        f.sync_all()?;
        drop(f);
        if end < total {
            return Ok(false);
        }
        let mut hasher = Sha256::new();
        let mut f = std::fs::File::open(&partial)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hex::encode(hasher.finalize()) != sha_c {
            std::fs::remove_file(&partial)?;
            return Err(ServerError::BadRequest(
                "content does not match its SHA-256; upload discarded".into(),
            ));
        }
        if let Some(dir) = final_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&partial, &final_path)?;
        if let Some(dir) = final_path.parent() {
            sync_dir(dir);
        }
        Ok(true)
    })
    .await
    .map_err(|e| ServerError::Task(e.to_string()))??;
    let now = fieldcase_core::ids::now_ms();
    state.metrics.add(&state.metrics.blob_bytes, end - q.offset);
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
    Ok(Json(status_of(&state, &sha).await?))
}
