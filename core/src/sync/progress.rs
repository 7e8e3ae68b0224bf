//! Progress reporting and cancellation of a sync session.
//!
//! [`SyncClient::sync_with`](super::SyncClient::sync_with) calls a [`SyncObserver`] after
//! every request and every blob chunk, and checks a [`CancelToken`] before each of them. A
//! cancelled sync returns [`CoreError::Cancelled`](crate::CoreError::Cancelled) and leaves the
//! store consistent: documents merged so far stay merged (each in its own transaction), the
//! cursor only moves once everything up to it is held, and a blob upload resumes from the
//! server's offset next time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The stage a sync session is in. Sessions go through them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncPhase {
    /// Pushing and pulling record documents.
    Records,
    /// Learning the public keys of devices whose evidence this phone may read.
    DeviceKeys,
    /// Uploading evidence files the server has not confirmed.
    Blobs,
    /// Finished (sent once, last).
    Done,
}

/// A snapshot of a session's progress, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncProgress {
    /// The current stage.
    pub phase: SyncPhase,
    /// Documents pushed with changes so far.
    pub docs_sent: u32,
    /// Documents that gained changes from the server so far.
    pub docs_received: u32,
    /// Request body bytes so far (sync requests and blob chunks).
    pub bytes_sent: u64,
    /// Response body bytes so far.
    pub bytes_received: u64,
    /// Blobs this session is finished with (confirmed by the server, or left pending because
    /// the server refused them for now).
    pub blobs_done: u32,
    /// Blobs this session set out to upload (known once the blob phase starts).
    pub blobs_total: u32,
    /// Thumbnails of received evidence downloaded so far (after the uploads, still in the
    /// blob phase).
    pub thumbnails_fetched: u32,
}

impl SyncProgress {
    pub(crate) fn start() -> Self {
        SyncProgress {
            phase: SyncPhase::Records,
            docs_sent: 0,
            docs_received: 0,
            bytes_sent: 0,
            bytes_received: 0,
            blobs_done: 0,
            blobs_total: 0,
            thumbnails_fetched: 0,
        }
    }
}

/// Receives progress snapshots. Called on the task running the sync: return quickly (hop to
/// the UI thread yourself).
pub trait SyncObserver: Send + Sync {
    /// A new snapshot.
    fn progress(&self, p: &SyncProgress);
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl SyncObserver for NoProgress {
    fn progress(&self, _p: &SyncProgress) {}
}

/// Cancels a running sync from another thread. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Asks the sync to stop at the next request or blob chunk boundary.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub(crate) fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(crate::CoreError::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = CancelToken::new();
        let b = a.clone();
        assert!(!b.is_cancelled());
        assert!(b.check().is_ok());
        a.cancel();
        assert!(b.is_cancelled());
        assert!(matches!(b.check(), Err(crate::CoreError::Cancelled)));
    }
}
