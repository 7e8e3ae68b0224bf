//! Evidence files outside a sync session, and the streaming download a session uses for
//! thumbnails: [`SyncClient::download_blob`] (ranged, resumed, verified before it is
//! installed), [`SyncClient::upload_blob`] (the resumable upload of
//! [`super::machine::BlobUpload`], driven here) and [`SyncClient::blob_status`].

use super::client::{SyncClient, error_from, net, pause};
use super::machine::blobs::BlobProgress;
use super::machine::retry::{Attempts, Failure, Retry};
use super::machine::{BlobStep, BlobUpload};
use super::progress::CancelToken;
use super::wire::BlobStatus;
use crate::evidence::sealed::BlobReader;
use crate::store::FieldStore;
use crate::{CoreError, Result};
use std::path::{Path, PathBuf};

impl SyncClient {
    /// Downloads blob `sha256` (hex) into this phone's blob folder and returns its path. A
    /// blob the phone already holds is not fetched again. The file is streamed to a
    /// temporary file (a broken transfer resumes from where it stopped on the next attempt,
    /// with `Range`), fsynced, and only if its SHA-256 matches renamed into the blob folder
    /// and recorded as held by the server (never uploaded back). A wrong hash returns
    /// [`CoreError::BlobHashMismatch`] and leaves nothing behind. The server answers `404`
    /// ([`CoreError::Server`]) for a blob it does not hold or the device may not read.
    pub async fn download_blob(&self, store: &FieldStore, sha256: &str) -> Result<PathBuf> {
        let (_, credential) = Self::credential(store)?;
        self.download_inner(
            store,
            &credential,
            sha256,
            Fetch {
                role: "original",
                mime: "application/octet-stream",
                max_size: None,
            },
            &CancelToken::new(),
            &mut |_| {},
        )
        .await
    }

    /// The download loop; `on_bytes(received)` after every body frame.
    pub(super) async fn download_inner(
        &self,
        store: &FieldStore,
        credential: &str,
        sha256: &str,
        fetch: Fetch<'_>,
        cancel: &CancelToken,
        on_bytes: &mut (dyn FnMut(u64) + Send),
    ) -> Result<PathBuf> {
        let sha = sha256.to_ascii_lowercase();
        let Some(expected) = crate::evidence::blobs::parse_sha256(&sha) else {
            return Err(CoreError::invalid("sha256", "expected 64 hex characters"));
        };
        if let Some(p) = store.blob_path(&sha)?.filter(|p| p.is_file()) {
            return Ok(p);
        }
        let max = fetch.max_size.unwrap_or(MAX_DOWNLOAD);
        let tmp = store.blob_download_temp(&sha);
        let url = format!("{}/v1/blobs/{sha}", self.base);
        let mut attempts = Attempts::new(self.config.attempts);
        let mut wait = None;
        let sink = loop {
            cancel.check()?;
            if let Some(d) = wait.take() {
                pause(cancel, d).await?;
            }
            // The temp file (sealed in an encrypted store) keeps what earlier attempts, or
            // an earlier run, received; the request asks for the rest.
            let mut sink = store.blob_download_sink(&sha, true)?;
            let have = sink.have();
            let mut req = self.http.get(&url).bearer_auth(credential);
            if have > 0 {
                req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let failure = match req.send().await {
                Err(e) => Failure::Transport(net(e)),
                Ok(mut resp) => {
                    let status = resp.status();
                    if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE && have > 0 {
                        // What we hold is already the whole blob (or more): the hash decides.
                        break sink;
                    }
                    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    {
                        let asked = resp
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let body = resp.bytes().await.unwrap_or_default();
                        let e = error_from(status.as_u16(), &body);
                        if status.is_server_error() {
                            Failure::ServerError(e)
                        } else {
                            Failure::Throttled(e, asked)
                        }
                    } else if !status.is_success() {
                        // Refused outright (not permitted, not held, gone): no retry will
                        // resume this, so what an earlier attempt kept goes too.
                        let body = resp.bytes().await.unwrap_or_default();
                        drop(sink);
                        discard_partial(&tmp).await;
                        return Err(error_from(status.as_u16(), &body));
                    } else {
                        // 206 continues the temp file where it ends; anything else starts it
                        // over.
                        let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT
                            && content_range_start(resp.headers()) == Some(have);
                        if !resumed && have > 0 {
                            drop(sink);
                            sink = store.blob_download_sink(&sha, false)?;
                        }
                        let mut len = sink.have();
                        let broken = loop {
                            if cancel.is_cancelled() {
                                sink.suspend()?;
                                return Err(CoreError::Cancelled);
                            }
                            match resp.chunk().await {
                                Ok(Some(bytes)) => {
                                    len += bytes.len() as u64;
                                    if len > max {
                                        drop(sink);
                                        discard_partial(&tmp).await;
                                        return Err(CoreError::BlobHashMismatch {
                                            expected: sha,
                                            actual: format!("more than {max} bytes"),
                                        });
                                    }
                                    sink.write(&bytes)?;
                                    on_bytes(bytes.len() as u64);
                                }
                                Ok(None) => break None,
                                Err(e) => break Some(net(e)),
                            }
                        };
                        match broken {
                            None => break sink,
                            Some(e) => Failure::Transport(e),
                        }
                    }
                }
            };
            // The partial file stays for the next attempt (or a later download) to resume.
            sink.suspend()?;
            match attempts.on_failure(failure) {
                Retry::After(d) => wait = Some(d),
                Retry::GiveUp(e) => return Err(e),
            }
        };
        let hashed = sink
            .finish()
            .and_then(|p| store.open_blob_file(&p))
            .map(|mut reader| {
                let hash_path = tmp.clone();
                tokio::task::spawn_blocking(move || {
                    crate::evidence::blobs::hash_reader(&mut reader)
                        .map_err(|e| CoreError::io(&hash_path, e))
                })
            });
        let hashed = match hashed {
            Ok(task) => task
                .await
                .map_err(|e| CoreError::io(&tmp, std::io::Error::other(e.to_string())))
                .and_then(|r| r),
            Err(e) => Err(e),
        };
        let (actual, size) = match hashed {
            Ok(x) => x,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        if actual != expected {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(CoreError::BlobHashMismatch {
                expected: sha,
                actual: hex::encode(actual),
            });
        }
        match store.install_downloaded_blob(&tmp, expected, size, fetch.mime, fetch.role) {
            Ok(p) => Ok(p),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Asks how much of a blob the server holds.
    pub async fn blob_status(&self, store: &FieldStore, sha256: &str) -> Result<BlobStatus> {
        let (_, credential) = Self::credential(store)?;
        self.status_inner(&credential, sha256, &CancelToken::new())
            .await
    }

    async fn status_inner(
        &self,
        credential: &str,
        sha256: &str,
        cancel: &CancelToken,
    ) -> Result<BlobStatus> {
        let url = format!("{}/v1/blobs/{sha256}/status", self.base);
        let (status, _, bytes) = self
            .send(cancel, || self.http.get(&url).bearer_auth(credential))
            .await?;
        if !(200..300).contains(&status) {
            return Err(error_from(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| CoreError::Protocol {
            reason: format!("blob status: {e}"),
        })
    }

    /// Uploads the file at `path` as blob `sha256` (hex), resuming where the server stopped.
    /// Returns once the server has verified and stored it. The server accepts only blobs that
    /// a document this device may write refers to, so sync the document first. A sealed file
    /// of this store is sent as its content.
    pub async fn upload_blob(&self, store: &FieldStore, path: &Path, sha256: &str) -> Result<()> {
        let (_, credential) = Self::credential(store)?;
        let reader = store.open_blob_file(path)?;
        self.upload_inner(&credential, reader, sha256, &CancelToken::new())
            .await
    }

    /// Drives the upload of `file` as blob `sha256`: each step of [`BlobUpload`] is sent
    /// with the retry policy, and its reply fed back, until the server reports the blob
    /// stored.
    async fn upload_inner(
        &self,
        credential: &str,
        file: BlobReader,
        sha256: &str,
        cancel: &CancelToken,
    ) -> Result<()> {
        let mut up = BlobUpload::new(file, sha256)?;
        let sha = up.sha256().to_string();
        loop {
            cancel.check()?;
            let (status, _, body) = match up.step()? {
                BlobStep::Status => {
                    let url = format!("{}/v1/blobs/{sha}/status", self.base);
                    self.send(cancel, || self.http.get(&url).bearer_auth(credential))
                        .await?
                }
                BlobStep::Chunk {
                    offset,
                    total,
                    body,
                } => {
                    let url = format!("{}/v1/blobs/{sha}?offset={offset}&total={total}", self.base);
                    self.send(cancel, || {
                        self.http
                            .put(&url)
                            .bearer_auth(credential)
                            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                            .body(body.clone())
                    })
                    .await?
                }
            };
            if up.on_reply(status, &body)? == BlobProgress::Confirmed {
                return Ok(());
            }
        }
    }
}

/// The largest blob a download accepts when the entry's size is not known (the server's
/// default upload limit).
pub const MAX_DOWNLOAD: u64 = 1024 * 1024 * 1024;

/// How a downloaded blob is recorded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fetch<'a> {
    /// `original`, `thumbnail` or `display`.
    pub(super) role: &'a str,
    /// MIME type to record.
    pub(super) mime: &'a str,
    /// Size the entry records (a larger body is refused).
    pub(super) max_size: Option<u64>,
}

/// The first byte of a `Content-Range: bytes A-B/T` reply.
fn content_range_start(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers.get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    rest.split('-').next()?.trim().parse().ok()
}

/// Removes a download's temp file that no later attempt can use. A file already gone is
/// fine; any other failure leaves it to the blob folder's sweep of stale temp files.
async fn discard_partial(tmp: &Path) {
    match tokio::fs::remove_file(tmp).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, "a refused download's temp file stays for the sweep"),
    }
}
