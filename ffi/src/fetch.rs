//! Fetching a received record's evidence files for verification: an async method (run on the
//! library's runtime like `download_evidence_file`) over core's
//! `SyncClient::fetch_case_evidence`.

use crate::seams::SyncProgressListener;
use crate::sync::{Forward, SyncCancel, on_runtime};
use crate::{FieldcaseError, FieldcaseStore};
use fieldcase_core::sync as cs;
use std::sync::Arc;

/// What `fetch_case_evidence` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EvidenceFetchReport {
    /// Files downloaded now.
    pub downloaded: u32,
    /// Their bytes.
    pub bytes: u64,
    /// Files this phone already held.
    pub already_present: u32,
    /// Files the server would not give (or gave with other content); `verify_case` goes on
    /// reporting them as missing.
    pub refused: Vec<EvidenceFetchRefusal>,
}

/// A file that could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EvidenceFetchRefusal {
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// The server's code (`not_found`, `forbidden`, ...) or `hash_mismatch`.
    pub code: String,
}

impl From<cs::EvidenceFetchReport> for EvidenceFetchReport {
    fn from(r: cs::EvidenceFetchReport) -> Self {
        EvidenceFetchReport {
            downloaded: r.downloaded,
            bytes: r.bytes,
            already_present: r.already_present,
            refused: r
                .refused
                .into_iter()
                .map(|f| EvidenceFetchRefusal {
                    sha256: f.sha256,
                    code: f.code,
                })
                .collect(),
        }
    }
}

#[uniffi::export]
impl FieldcaseStore {
    /// Downloads every evidence file of a received record that `verify_case` checks and this
    /// phone lacks (originals and display copies; thumbnails came with `sync`), so that
    /// `verify_case` can check them all. `listener` hears files and bytes after each file;
    /// `cancel` stops it between files and chunks (what came stays). A network failure is
    /// `Network`; a file the server refuses is listed, not an error.
    pub async fn fetch_case_evidence(
        &self,
        record_id: String,
        listener: Option<Arc<dyn SyncProgressListener>>,
        cancel: Option<Arc<SyncCancel>>,
    ) -> Result<EvidenceFetchReport, FieldcaseError> {
        let store = self.store()?;
        let token = cancel.map(|c| c.token.clone()).unwrap_or_default();
        on_runtime(token.clone(), async move {
            let client = cs::SyncClient::for_store(&store)?;
            let report = client
                .fetch_case_evidence(&store, &record_id, &Forward(listener), &token)
                .await?;
            Ok(report.into())
        })
        .await
    }
}
