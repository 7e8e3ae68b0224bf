//! Evidence files outside a sync session, and the streaming download a session uses for
//! thumbnails: [`SyncClient::download_blob`] (ranged, resumed, verified before it is
//! installed), [`SyncClient::upload_blob`] (the resumable upload of
//! [`super::machine::BlobUpload`], driven here) and [`SyncClient::blob_status`].

use super::client::{SyncClient, error_from, pause};
use super::machine::blobs::BlobProgress;
use super::machine::retry::{Attempts, Failure, Retry};
use super::machine::{BlobStep, BlobUpload};
use super::progress::CancelToken;
use super::transport::{BodySink, Method, Purpose};
use super::wire::BlobStatus;
use crate::evidence::blobs::DownloadSink;
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
        let path = format!("/v1/blobs/{sha}");
        let window = self.transport.download_window().map(|w| w.max(1));
        let mut attempts = Attempts::new(self.config.attempts);
        let mut wait = None;
        // The temp file (sealed in an encrypted store) keeps what earlier attempts, or an
        // earlier run, received; each request asks for the rest (or, over a transport that
        // does not stream, the next window of it).
        let mut open: Option<DownloadSink> = None;
        let sink = loop {
            cancel.check()?;
            if let Some(d) = wait.take() {
                pause(cancel, d).await?;
            }
            let file = match open.take() {
                Some(f) => f,
                None => store.blob_download_sink(&sha, true)?,
            };
            let have = file.have();
            let mut req = self
                .request(Method::Get, &path, Purpose::BlobDownload)
                .bearer(credential);
            let range = match window {
                Some(w) => Some(format!("bytes={have}-{}", have + w - 1)),
                None if have > 0 => Some(format!("bytes={have}-")),
                None => None,
            };
            if let Some(r) = range {
                req = req.header("range", r);
            }
            let mut dl = Body {
                store,
                sha: &sha,
                file: Some(file),
                have,
                max,
                cancel,
                on_bytes: &mut *on_bytes,
                fatal: false,
                total: None,
            };
            let result = self.transport.fetch(req, &mut dl).await;
            let (fatal, total, file) = (dl.fatal, dl.total, dl.file.take());
            if fatal {
                // The limit, the disk or cancellation stopped it, not the network.
                let e = match result {
                    Err(e) => e,
                    Ok(_) => CoreError::Protocol {
                        reason: "download stopped without a cause".into(),
                    },
                };
                return match (e, file) {
                    (CoreError::Cancelled, Some(f)) => {
                        f.suspend()?;
                        Err(CoreError::Cancelled)
                    }
                    (e, f) => {
                        drop(f);
                        let _ = tokio::fs::remove_file(&tmp).await;
                        Err(e)
                    }
                };
            }
            let Some(file) = file else {
                return Err(CoreError::Protocol {
                    reason: "download sink lost".into(),
                });
            };
            let failure = match result {
                Err(e) => Failure::Transport(e),
                Ok(reply) if reply.status == 416 && have > 0 => {
                    // What we hold is already the whole blob (or more): the hash decides.
                    break file;
                }
                Ok(reply) if reply.status >= 500 || reply.status == 429 => {
                    let e = error_from(reply.status, &reply.body);
                    if reply.status >= 500 {
                        Failure::ServerError(e)
                    } else {
                        Failure::Throttled(e, reply.header("retry-after").map(str::to_string))
                    }
                }
                Ok(reply) if !reply.is_success() => {
                    // Refused outright (not held, not this phone's to read): nothing to resume.
                    drop(file);
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(error_from(reply.status, &reply.body));
                }
                Ok(_) => match total {
                    Some(t) if file.have() < t => {
                        // One window of several: ask for the next at once.
                        attempts = Attempts::new(self.config.attempts);
                        open = Some(file);
                        continue;
                    }
                    _ => break file,
                },
            };
            // The partial file stays for the next attempt (or a later download) to resume.
            file.suspend()?;
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
        let path = format!("/v1/blobs/{sha256}/status");
        let (status, _, bytes) = self
            .send(cancel, || {
                self.request(Method::Get, &path, Purpose::BlobStatus)
                    .bearer(credential)
            })
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
                    let path = format!("/v1/blobs/{sha}/status");
                    self.send(cancel, || {
                        self.request(Method::Get, &path, Purpose::BlobStatus)
                            .bearer(credential)
                    })
                    .await?
                }
                BlobStep::Chunk {
                    offset,
                    total,
                    body,
                } => {
                    let path = format!("/v1/blobs/{sha}?offset={offset}&total={total}");
                    self.send(cancel, || {
                        self.request(Method::Put, &path, Purpose::BlobUpload)
                            .bearer(credential)
                            .header("content-type", "application/octet-stream")
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

/// A download's body on its way into the temp file: decides from the reply's status whether
/// the body continues the file (`206` from where it ends), starts it over (`200`), or is an
/// error body to return; enforces the size limit and cancellation on every piece.
struct Body<'a> {
    store: &'a FieldStore,
    sha: &'a str,
    file: Option<DownloadSink>,
    have: u64,
    max: u64,
    cancel: &'a CancelToken,
    on_bytes: &'a mut (dyn FnMut(u64) + Send),
    /// The error came from here (the limit, cancellation, the disk), not the network.
    fatal: bool,
    /// The blob's size, from `Content-Range`.
    total: Option<u64>,
}

impl Body<'_> {
    fn fail(&mut self, e: CoreError) -> Result<()> {
        self.fatal = true;
        Err(e)
    }
}

impl BodySink for Body<'_> {
    fn start(&mut self, status: u16, headers: &[(String, String)]) -> Result<bool> {
        if !(200..300).contains(&status) {
            return Ok(false);
        }
        let range = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-range"))
            .and_then(|(_, v)| content_range(v));
        let resumed = status == 206 && range.map(|(start, _)| start) == Some(self.have);
        self.total = if status == 206 {
            range.map(|(_, total)| total)
        } else {
            None
        };
        if !resumed && self.have > 0 {
            // Anything but the continuation asked for starts the file over.
            self.file = None;
            match self.store.blob_download_sink(self.sha, false) {
                Ok(f) => self.file = Some(f),
                Err(e) => return self.fail(e).map(|_| false),
            }
        }
        Ok(true)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.cancel.is_cancelled() {
            return self.fail(CoreError::Cancelled);
        }
        let Some(file) = self.file.as_mut() else {
            return self.fail(CoreError::Protocol {
                reason: "download sink lost".into(),
            });
        };
        if file.have() + bytes.len() as u64 > self.max {
            let e = CoreError::BlobHashMismatch {
                expected: self.sha.to_string(),
                actual: format!("more than {} bytes", self.max),
            };
            return self.fail(e);
        }
        if let Err(e) = file.write(bytes) {
            return self.fail(e);
        }
        (self.on_bytes)(bytes.len() as u64);
        Ok(())
    }
}

/// The first byte and the total of a `Content-Range: bytes A-B/T` value.
fn content_range(v: &str) -> Option<(u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let start = span.split('-').next()?.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::content_range;

    #[test]
    fn content_range_is_read() {
        assert_eq!(content_range("bytes 0-99/1000"), Some((0, 1000)));
        assert_eq!(content_range(" bytes 100-199/200 "), Some((100, 200)));
        assert_eq!(content_range("bytes 0-99/*"), None);
        assert_eq!(content_range("items 0-1/2"), None);
    }
}
