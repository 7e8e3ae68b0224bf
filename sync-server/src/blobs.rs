//! Evidence blobs: resumable, content-addressed upload.
//!
//! `PUT /v1/blobs/{sha256}?offset=N&total=T` appends one chunk to `DIR/blobs/partial/<sha>`
//! (written, then fsynced, before the reply). When the file reaches `total` bytes its SHA-256
//! is checked; on a match it is renamed to `DIR/blobs/<aa>/<sha>` and the directory synced, so
//! a stored blob is always complete and verified; on a mismatch the partial file is dropped.
//! The server accepts only blobs that a document the device may write refers to.
//!
//! An upload abandoned half way (the phone was wiped, or the record was rejected) leaves a
//! partial file. Partial files untouched for [`PARTIAL_MAX_AGE_MS`] are removed when the
//! server starts and, at most once an hour, while uploads arrive; a phone that comes back
//! later simply starts that upload again from offset 0.

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

/// Age after which an untouched partial upload is removed (72 hours).
pub const PARTIAL_MAX_AGE_MS: u64 = 72 * 3_600_000;
/// How often uploads trigger a sweep of stale partial files.
const PRUNE_EVERY_MS: i64 = 3_600_000;

/// The blob folder and per-blob upload locks.
#[derive(Debug)]
pub struct BlobDir {
    root: PathBuf,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Largest blob accepted, bytes.
    pub max_bytes: u64,
    /// When stale partial files were last swept (unix ms).
    last_prune_ms: std::sync::atomic::AtomicI64,
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
        let dir = BlobDir {
            root,
            locks: std::sync::Mutex::new(HashMap::new()),
            max_bytes,
            last_prune_ms: std::sync::atomic::AtomicI64::new(fieldcase_core::ids::now_ms()),
        };
        let removed = dir.prune_partials(std::time::Duration::from_millis(PARTIAL_MAX_AGE_MS));
        if removed > 0 {
            tracing::info!(removed, "removed abandoned partial uploads");
        }
        Ok(dir)
    }

    /// Removes partial uploads not written to for `max_age` (skipping any upload in
    /// progress). Returns how many were removed.
    pub fn prune_partials(&self, max_age: std::time::Duration) -> usize {
        let Ok(rd) = std::fs::read_dir(self.root.join("partial")) else {
            return 0;
        };
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= max_age);
            if !stale {
                continue;
            }
            let lock = self.lock_for(&name);
            let Ok(_guard) = lock.try_lock() else {
                continue;
            };
            if std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// Runs [`BlobDir::prune_partials`] with the default age if the last sweep was more than
    /// an hour ago.
    fn maybe_prune(&self) {
        use std::sync::atomic::Ordering;
        let now = fieldcase_core::ids::now_ms();
        let last = self.last_prune_ms.load(Ordering::Relaxed);
        if now - last < PRUNE_EVERY_MS
            || self
                .last_prune_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let removed = self.prune_partials(std::time::Duration::from_millis(PARTIAL_MAX_AGE_MS));
        if removed > 0 {
            tracing::info!(removed, "removed abandoned partial uploads");
        }
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
    {
        let blobs = state.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.maybe_prune())
            .await
            .map_err(|e| ServerError::Task(e.to_string()))?;
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
