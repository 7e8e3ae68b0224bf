//! The conformance suite every [`Storage`] backend must pass, one file per part of the
//! storage (and one for reads under concurrent writers).
//!
//! Each check is an async function over `&dyn Storage` on an empty store. A backend's tests
//! run them all with [`storage_conformance_tests!`](crate::storage_conformance_tests):
//!
//! ```ignore
//! fieldcase_server::storage_conformance_tests!(async { my_backend_on_a_fresh_db().await });
//! ```

mod audit;
mod blobs;
mod consistency;
mod directory;
mod documents;

pub use audit::{audit_chain, catalogues};
pub use blobs::{blob_anchors, blobs, upload_claims};
pub use consistency::{batch_read_consistency, read_consistency};
pub use directory::{actors_and_quarantine, directory, enrolment, web_sessions};
pub use documents::{
    batch_writes, concurrent_batches, concurrent_feed_order, concurrent_same_doc,
    documents_and_feed, listings,
};

use super::*;
use ed25519_dalek::SigningKey;
use fieldcase_core::model::RecordKind;
use fieldcase_core::sync::wire::WipeScope;
use std::sync::Arc;

/// A write of a case in `unit` with heads and chunk filled with `heads`.
fn doc_write(id: &str, unit: &str, expected: Option<Vec<u8>>, heads: u8) -> DocWrite {
    DocWrite {
        doc_id: id.into(),
        kind: RecordKind::Case,
        unit: unit.into(),
        party_hash: Some("p1".into()),
        expected_heads: expected,
        new_heads: vec![heads; 32],
        chunk: vec![heads; 4],
        replace: false,
        blob_refs: vec![format!("{:064x}", heads)],
        numbers: vec![],
    }
}

/// Runs the whole suite as `#[tokio::test]`s; `$make` is an expression (usually an `async`
/// block) giving a fresh, empty `Arc<dyn Storage>`-compatible backend each time.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($make:expr) => {
        #[tokio::test]
        async fn conformance_directory() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::directory(&s).await
        }
        #[tokio::test]
        async fn conformance_actors_and_quarantine() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::actors_and_quarantine(&s).await
        }
        #[tokio::test]
        async fn conformance_enrolment() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::enrolment(&s).await
        }
        #[tokio::test]
        async fn conformance_documents_and_feed() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::documents_and_feed(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_concurrent_feed_order() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::concurrent_feed_order(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_listings() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::listings(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_concurrent_same_doc() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::concurrent_same_doc(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_web_sessions() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::web_sessions(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_audit_chain() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::audit_chain(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_batch_writes() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::batch_writes(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_concurrent_batches() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::concurrent_batches(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_blob_anchors() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::blob_anchors(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_upload_claims() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::upload_claims(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_catalogues() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::catalogues(&s).await
        }
        #[tokio::test]
        async fn conformance_blobs() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::blobs(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_read_consistency() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::read_consistency(std::sync::Arc::new(s)).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_batch_read_consistency() -> $crate::storage::StorageResult<()> {
            let s = $make.await;
            $crate::storage::conformance::batch_read_consistency(std::sync::Arc::new(s)).await
        }
    };
}
