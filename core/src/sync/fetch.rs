//! Fetching a received record's evidence files: a sync brings thumbnails only, and
//! [`FieldStore::verify_case`] reports every original and display copy it cannot find as
//! `blob_missing`. [`SyncClient::fetch_case_evidence`] downloads exactly the files
//! verification checks ([`FieldStore::verified_blobs`]), so that after it verification of the
//! record on this phone is as complete as on the phone that captured it.

use super::client::SyncClient;
use super::progress::{CancelToken, SyncObserver, SyncPhase, SyncProgress};
use super::transfer::Fetch;
use crate::store::FieldStore;
use crate::{CoreError, Result};

/// What a fetch of a record's evidence did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceFetchReport {
    /// Files downloaded now.
    pub downloaded: u32,
    /// Their bytes.
    pub bytes: u64,
    /// Files this phone already held.
    pub already_present: u32,
    /// Files the server would not give, or gave with other content: verification goes on
    /// reporting them.
    pub refused: Vec<FetchRefusal>,
}

/// A file of the record that could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRefusal {
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// A stable code: the server's (`not_found`, `forbidden`, ...) or `hash_mismatch`.
    pub code: String,
}

impl SyncClient {
    /// Downloads every evidence file of `record_id` that verification checks and this phone
    /// lacks, one after another, each resumed and hash-checked as
    /// [`SyncClient::download_blob`] does. A file the server refuses or serves with other
    /// content is listed in [`EvidenceFetchReport::refused`] and the others still come; a
    /// network failure, a revoked credential or `cancel` ends the call with that error, and
    /// files already downloaded stay (a second call fetches only the rest). `observer` hears
    /// the count of files and bytes after each file.
    pub async fn fetch_case_evidence(
        &self,
        store: &FieldStore,
        record_id: &str,
        observer: &dyn SyncObserver,
        cancel: &CancelToken,
    ) -> Result<EvidenceFetchReport> {
        let (_, credential) = Self::credential(store)?;
        let needed = store.verified_blobs(record_id)?;
        let total = u32::try_from(needed.len()).unwrap_or(u32::MAX);
        let mut report = EvidenceFetchReport::default();
        let mut progress = SyncProgress {
            phase: SyncPhase::Blobs,
            blobs_total: total,
            ..SyncProgress::start()
        };
        for (sha, held) in needed {
            if held {
                report.already_present += 1;
            } else {
                cancel.check()?;
                let got = self
                    .download_inner(
                        store,
                        &credential,
                        &sha,
                        Fetch {
                            role: "original",
                            mime: "application/octet-stream",
                            max_size: None,
                        },
                        cancel,
                        &mut |_| {},
                    )
                    .await;
                match got {
                    Ok(_) => {
                        let size = store.open_blob(&sha)?.map_or(0, |r| r.len());
                        report.downloaded += 1;
                        report.bytes += size;
                        progress.bytes_received += size;
                    }
                    Err(CoreError::Server { status, code, .. })
                        if (400..500).contains(&status) && status != 401 && status != 429 =>
                    {
                        report.refused.push(FetchRefusal { sha256: sha, code });
                    }
                    Err(CoreError::BlobHashMismatch { .. }) => report.refused.push(FetchRefusal {
                        sha256: sha,
                        code: "hash_mismatch".into(),
                    }),
                    Err(e) => return Err(e),
                }
            }
            progress.blobs_done += 1;
            observer.progress(&progress);
        }
        progress.phase = SyncPhase::Done;
        observer.progress(&progress);
        Ok(report)
    }
}
