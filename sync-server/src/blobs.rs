//! Evidence blobs: resumable, content-addressed upload.
//!
//! `PUT /v1/blobs/{sha256}?offset=N&total=T` appends one chunk to `DIR/blobs/partial/<sha>`
//! (written, then fsynced, before the reply). When the file reaches `total` bytes its SHA-256
//! is checked; on a match it is renamed to `DIR/blobs/<aa>/<sha>` and the directory synced, so
//! a stored blob is always complete and verified; on a mismatch the partial file is dropped.
//! The server accepts only blobs that a document the device may write refers to.
//!
//! Who may read a blob: when an upload completes, the blob is bound (anchored) to the
//! documents that refer to it and that the uploading device may write (`Storage::anchor_blob`).
//! A reader needs one of those documents, still referring to the blob, in its read rights
//! (`access::can_read`: kind and unit scope). A record pushed later that merely names the hash
//! (a volunteer's demonstration naming a case photo's SHA-256) grants nothing: the bytes were
//! never proved by its author. A device that holds the bytes and refers to an already stored
//! blob from its own record uploads them again (the status tells it nothing is stored), which
//! binds its record too.
//!
//! `GET /v1/blobs/{sha256}` streams a stored blob back, with `Range: bytes=N-` (or `N-M`) for
//! a phone resuming a download, and appends a `blob_read` audit entry (device, hash prefix,
//! range). An unknown blob and a blob the caller may not read both answer 404; `GET
//! .../status` and `HEAD` answer "nothing stored, offset 0" for both, so no reply reveals
//! whether a blob exists. Refused reads are audited as `blob_read_refused`.
//!
//! An upload session belongs to the device that began it: another device's chunk for the same
//! blob is `409 upload_in_progress` (it cannot append to, shrink or discard a colleague's
//! upload) until the session has been idle for [`UPLOAD_TAKEOVER_AFTER_MS`], when
//! the partial bytes are dropped and the newcomer starts from 0. Its status answers as if
//! nothing were held. A device's unfinished uploads together may declare at most
//! [`MAX_PENDING_UPLOAD_BYTES`]; a new upload past that is `413 too_large`.
//!
//! An upload abandoned half way (the phone was wiped, or the record was rejected) leaves a
//! partial file. Partial files untouched for [`PARTIAL_MAX_AGE_MS`] are removed when the
//! server starts and, at most once an hour, while uploads arrive; a phone that comes back
//! later simply starts that upload again from offset 0.

use crate::AppState;
use crate::access;
use crate::auth::Authed;
use crate::error::{Result, ServerError};
use crate::storage::DeviceAuth;
use crate::storage::{BlobRecord, UploadSession};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use fieldcase_core::sync::wire::BlobStatus;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Age after which an untouched partial upload is removed (72 hours).
pub const PARTIAL_MAX_AGE_MS: u64 = 72 * 3_600_000;
/// How often uploads trigger a sweep of stale partial files.
const PRUNE_EVERY_MS: i64 = 3_600_000;
/// Bytes one device's unfinished uploads may declare together (2 GiB): two maximum-size
/// recordings in flight. Declared totals count, not bytes received, so a device cannot
/// reserve the server's disk with many sessions it never finishes.
pub const MAX_PENDING_UPLOAD_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Idle time after which another device may take over an upload of the same blob (an hour):
/// the owner's phone may have been wiped or lost; the newcomer restarts from offset 0.
pub const UPLOAD_TAKEOVER_AFTER_MS: i64 = 3_600_000;
/// Characters of a blob's hash written to the audit log (enough to find it, not a handle).
const AUDIT_SHA_PREFIX: usize = 16;

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

    /// Drops the partial upload of `sha` (an upload taken over, or one with no session on
    /// record). Blocking; call with the blob's upload lock held.
    fn discard_partial(&self, sha: &str) -> Result<()> {
        match std::fs::remove_file(self.partial(sha)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
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

    /// How many bytes of the upload of `sha` the server holds (the offset the next chunk
    /// must start at); 0 for an unknown or malformed id.
    pub fn received(&self, sha: &str) -> u64 {
        check_sha(sha).map_or(0, |sha| self.partial_len(&sha))
    }

    /// Refuses a declared blob size over [`BlobDir::max_bytes`] (`TooLarge`).
    pub fn check_total(&self, total: u64) -> Result<()> {
        if total > self.max_bytes {
            return Err(ServerError::TooLarge(format!(
                "blobs are limited to {} bytes",
                self.max_bytes
            )));
        }
        Ok(())
    }

    /// Appends one chunk of the upload of `sha` (64 hex characters, either case): the decision
    /// logic of `PUT /v1/blobs/{sha256}?offset=N&total=T`, without HTTP, authorisation or the
    /// database. Blocking (file writes and fsync); the handler runs it on the blocking pool
    /// while holding the blob's upload lock, so calls for one blob never overlap there. A
    /// caller outside the handler must not run two calls for one blob at once.
    ///
    /// Refused, with nothing changed: a malformed id (`BadRequest`), a `total` over the limit
    /// (`TooLarge`), an `offset` other than the bytes held (`Conflict`, the text names the
    /// expected offset), a chunk running past `total` (`BadRequest`), and a failed write or
    /// fsync (`Io`; the partial file is cut back to its previous length). When the upload
    /// reaches `total` bytes its SHA-256 is checked: on a match the file is moved into
    /// [`BlobDir::final_path`] (`Complete`); on a mismatch the whole partial upload is
    /// discarded (`BadRequest`), since its earlier chunks cannot be told from the bad one. A
    /// failure after a matching hash (creating the folder, the rename) is an `Io` error that
    /// leaves the complete partial file; an empty chunk at offset `total` finishes it.
    pub fn append(
        &self,
        sha: &str,
        offset: u64,
        total: u64,
        chunk: &[u8],
    ) -> Result<UploadOutcome> {
        let sha = check_sha(sha)?;
        self.check_total(total)?;
        let partial = self.partial(&sha);
        let existed = partial.exists();
        let have = self.partial_len(&sha);
        if offset != have {
            return Err(ServerError::Conflict(format!("expected offset {have}")));
        }
        let end = offset.saturating_add(chunk.len() as u64);
        if end > total {
            return Err(ServerError::BadRequest(
                "chunk runs past the declared total".into(),
            ));
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial)?;
        if let Err(e) = f.write_all(chunk).and_then(|()| f.sync_all()) {
            // Nothing of a refused chunk stays: cut the file back (or drop a file this call
            // created), so the next attempt resumes from the same offset.
            if existed {
                let _ = f.set_len(have).and_then(|()| f.sync_all());
            } else {
                drop(f);
                let _ = std::fs::remove_file(&partial);
            }
            return Err(e.into());
        }
        drop(f);
        if end < total {
            return Ok(UploadOutcome::Partial {
                received: end,
                total,
            });
        }
        let mut f = std::fs::File::open(&partial)?;
        let (actual, _) = fieldcase_core::evidence::blobs::hash_reader(&mut f)?;
        drop(f);
        if hex::encode(actual) != sha {
            std::fs::remove_file(&partial)?;
            return Err(ServerError::BadRequest(
                "content does not match its SHA-256; upload discarded".into(),
            ));
        }
        let final_path = self.final_path(&sha);
        if let Some(dir) = final_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&partial, &final_path)?;
        if let Some(dir) = final_path.parent() {
            sync_dir(dir);
        }
        Ok(UploadOutcome::Complete { size: end })
    }
}

/// What one accepted chunk did ([`BlobDir::append`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Appended; `received` of `total` bytes are held.
    Partial {
        /// Bytes held after this chunk (the next chunk's offset).
        received: u64,
        /// The declared size of the blob.
        total: u64,
    },
    /// The last chunk: the content matched its SHA-256 and the blob is in place.
    Complete {
        /// The blob's size.
        size: u64,
    },
}

impl UploadOutcome {
    /// Bytes held after the chunk (the blob's size once complete).
    pub fn received(&self) -> u64 {
        match *self {
            UploadOutcome::Partial { received, .. } => received,
            UploadOutcome::Complete { size } => size,
        }
    }
}

/// Whether `auth`'s user may read the stored blob `sha` (see the module docs).
async fn may_read(state: &AppState, auth: &DeviceAuth, sha: &str) -> Result<bool> {
    let readable = access::readable_kinds(auth.user.role);
    if readable.is_empty() {
        return Ok(false);
    }
    Ok(state
        .storage
        .blob_readable(sha, &access::scopes(&auth.user), readable)
        .await?)
}

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
        Some(u) if u.device_id == auth.device.id => state.blobs.partial_len(sha),
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
#[derive(Debug, Deserialize)]
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
        Some(u) if now - u.updated_at_ms < UPLOAD_TAKEOVER_AFTER_MS => {
            return Err(ServerError::UploadInProgress);
        }
        Some(_) | None => {}
    }
    let max_age = i64::try_from(PARTIAL_MAX_AGE_MS).unwrap_or(i64::MAX);
    let pending = state
        .storage
        .upload_sessions()
        .await?
        .into_iter()
        .filter(|u| u.device_id == *device && u.sha256 != sha)
        .filter(|u| now - u.updated_at_ms < max_age)
        .fold(0u64, |sum, u| sum.saturating_add(u.total));
    if pending.saturating_add(total) > MAX_PENDING_UPLOAD_BYTES {
        return Err(ServerError::TooLarge(format!(
            "unfinished uploads of one device are limited to {MAX_PENDING_UPLOAD_BYTES} bytes; \
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
            now - UPLOAD_TAKEOVER_AFTER_MS,
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
    let blobs = state.blobs.clone();
    let sha = sha.to_string();
    tokio::task::spawn_blocking(move || blobs.discard_partial(&sha))
        .await
        .map_err(|e| ServerError::Task(e.to_string()))??;
    Ok(true)
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
    {
        let blobs = state.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.maybe_prune())
            .await
            .map_err(|e| ServerError::Task(e.to_string()))?;
    }
    let lock = state.blobs.lock_for(&sha);
    let _guard = lock.lock().await;
    let now = fieldcase_core::ids::now_ms();
    let began = claim_upload(&state, &auth, &sha, q.total, now).await?;
    let blobs = state.blobs.clone();
    let sha_c = sha.clone();
    let (offset, total) = (q.offset, q.total);
    let appended = tokio::task::spawn_blocking(move || blobs.append(&sha_c, offset, total, &body))
        .await
        .map_err(|e| ServerError::Task(e.to_string()))?;
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

/// One audit entry of a blob read: the device, a prefix of the hash and what was asked; no
/// record content, no personal data.
async fn audit_read(
    state: &AppState,
    auth: &DeviceAuth,
    sha: &str,
    action: &str,
    what: &str,
) -> Result<()> {
    let event = crate::audit::AuditEvent {
        at_ms: fieldcase_core::ids::now_ms(),
        actor: auth.device.id.clone(),
        action: action.into(),
        case_id: None,
        detail: format!(
            "device={} user={} sha={} {what}",
            auth.device.id,
            auth.user.id,
            &sha[..AUDIT_SHA_PREFIX.min(sha.len())]
        )
        .trim_end()
        .to_string(),
    };
    state.audit(event).await.map(drop)
}

/// Bytes read from disk per streamed body frame.
const DOWNLOAD_FRAME: usize = 256 * 1024;

/// A parsed `Range` header: the first byte and the last byte (inclusive), both within `len`.
/// `None` for an absent or unsupported header (the whole blob is sent); `Err` for a range
/// that starts past the end.
pub(crate) fn parse_range(
    h: Option<&HeaderValue>,
    len: u64,
) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(v) = h.and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    // One range only; anything fancier gets the whole blob.
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        // Suffix: the last N bytes.
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len.saturating_sub(1))
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        (start, end)
    };
    if len == 0 || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `GET /v1/blobs/{sha256}`: the content of a stored blob that a document the caller may
/// read refers to; `404` otherwise (unknown and not permitted look the same). Streamed from
/// disk; honours a single `Range` (`206` with `Content-Range`, `416` past the end).
pub async fn download(
    State(state): State<AppState>,
    Authed(auth): Authed,
    Path(sha): Path<String>,
    headers: HeaderMap,
) -> Result<axum::response::Response> {
    use axum::http::header;
    let sha = check_sha(&sha)?;
    let not_found = || ServerError::NotFound("no such blob".into());
    let record = match state.storage.blob(&sha).await? {
        Some(r) if may_read(&state, &auth, &sha).await? => r,
        _ => {
            // Absent and not permitted are one answer, and one audit entry.
            if let Err(e) = audit_read(&state, &auth, &sha, "blob_read_refused", "").await {
                tracing::error!(error = %e, "refused blob read not audited");
            }
            return Err(not_found());
        }
    };
    let path = state.blobs.final_path(&sha);
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::error!(blob = %sha, "a recorded blob's file is missing");
            return Err(not_found());
        }
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata().await?.len();
    if len != record.size {
        tracing::error!(blob = %sha, len, size = record.size, "a stored blob's size changed");
    }
    let range = match parse_range(headers.get(header::RANGE), len) {
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
    let count = if len == 0 { 0 } else { end - start + 1 };
    // Audited before the first byte leaves; a read that cannot be audited is not served.
    audit_read(
        &state,
        &auth,
        &sha,
        "blob_read",
        &format!("bytes={start}-{end}/{len}"),
    )
    .await?;
    let stream = ranged_body(file, start, count).await?;
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha}\"")) {
        h.insert(header::ETAG, v);
    }
    let status = if range.is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    Ok((status, h, axum::body::Body::from_stream(stream)).into_response())
}

/// The bytes `start..start + count` of `file` as a response body, read in frames of
/// [`DOWNLOAD_FRAME`] (bounded: each step reads at most what remains and stops at end of file).
/// Shared by the blob download and the dashboard's evidence route.
pub(crate) async fn ranged_body(
    mut file: tokio::fs::File,
    start: u64,
    count: u64,
) -> std::io::Result<impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await?;
    }
    Ok(futures::stream::unfold(
        (file, count),
        |(mut file, remaining)| async move {
            if remaining == 0 {
                return None;
            }
            let want =
                usize::try_from(remaining.min(DOWNLOAD_FRAME as u64)).unwrap_or(DOWNLOAD_FRAME);
            let mut buf = vec![0u8; want];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (file, remaining - n as u64)))
                }
                Err(e) => Some((Err(e), (file, 0))),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha_of(b: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn append_stores_a_chunked_upload_once_it_matches_its_hash() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let blobs = BlobDir::open(dir.path().join("blobs"), 1000)?;
        let content: Vec<u8> = (0..700u32).map(|i| (i * 7 + 3) as u8).collect();
        let sha = sha_of(&content);
        let upper = sha.to_ascii_uppercase();
        assert_eq!(
            blobs.append(&sha, 0, 700, &content[..300])?,
            UploadOutcome::Partial {
                received: 300,
                total: 700
            }
        );
        // Either case names the same upload.
        assert_eq!(blobs.received(&upper), 300);
        assert_eq!(
            blobs
                .append(&upper, 300, 700, &content[300..600])?
                .received(),
            600
        );
        assert_eq!(
            blobs.append(&sha, 600, 700, &content[600..])?,
            UploadOutcome::Complete { size: 700 }
        );
        assert_eq!(std::fs::read(blobs.final_path(&sha))?, content);
        assert_eq!(blobs.received(&sha), 0);
        assert!(!blobs.partial(&sha).exists());
        // The empty blob completes with its first, empty chunk.
        let empty = sha_of(b"");
        assert_eq!(
            blobs.append(&empty, 0, 0, b"")?,
            UploadOutcome::Complete { size: 0 }
        );
        Ok(())
    }

    #[test]
    fn append_refuses_bad_chunks_and_changes_nothing() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let blobs = BlobDir::open(dir.path().join("blobs"), 1000)?;
        let content = vec![42u8; 500];
        let sha = sha_of(&content);
        blobs.append(&sha, 0, 500, &content[..100])?;
        let held = || std::fs::read(blobs.partial(&sha)).unwrap_or_default();
        let before = held();
        let refused = [
            blobs.append("abc", 0, 500, b"x"),
            blobs.append("../../../../etc/passwd", 0, 500, b"x"),
            blobs.append(&"z".repeat(64), 0, 500, b"x"),
            blobs.append(&sha, 0, 1001, &content[..10]),
            blobs.append(&sha, 99, 500, &content[99..200]),
            blobs.append(&sha, 101, 500, &content[101..200]),
            blobs.append(&sha, u64::MAX, 500, b"x"),
            blobs.append(&sha, 100, 150, &content[100..200]),
            blobs.append(&sha, 100, u64::MAX, &content[100..200]),
        ];
        for r in &refused {
            assert!(
                matches!(
                    r,
                    Err(ServerError::BadRequest(_)
                        | ServerError::Conflict(_)
                        | ServerError::TooLarge(_))
                ),
                "{r:?}"
            );
        }
        assert!(matches!(&refused[4], Err(ServerError::Conflict(m)) if m.contains("100")));
        assert_eq!(held(), before);
        // A last chunk that does not match the hash discards the upload; no blob is stored.
        let mut bad = content[100..].to_vec();
        bad[0] ^= 1;
        let r = blobs.append(&sha, 100, 500, &bad);
        assert!(matches!(r, Err(ServerError::BadRequest(_))), "{r:?}");
        assert!(!blobs.partial(&sha).exists());
        assert!(!blobs.final_path(&sha).exists());
        Ok(())
    }

    #[test]
    fn ranges_parse_within_the_blob() {
        let r = |s: &str, len| {
            parse_range(
                Some(&HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))),
                len,
            )
        };
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(r("bytes=0-", 10), Ok(Some((0, 9))));
        assert_eq!(r("bytes=4-", 10), Ok(Some((4, 9))));
        assert_eq!(r("bytes=2-5", 10), Ok(Some((2, 5))));
        assert_eq!(r("bytes=2-50", 10), Ok(Some((2, 9))));
        assert_eq!(r("bytes=-3", 10), Ok(Some((7, 9))));
        assert_eq!(r("bytes=10-", 10), Err(()));
        assert_eq!(r("bytes=5-2", 10), Ok(None));
        assert_eq!(r("bytes=0-1,4-5", 10), Ok(None));
        assert_eq!(r("items=0-1", 10), Ok(None));
    }
}
