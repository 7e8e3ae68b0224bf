//! Bounded decoding of pushed Automerge bytes: the server's use of
//! `fieldcase_core::doc::bounded`, run on every push before quarantine screening or any
//! Automerge load, so a compressed chunk cannot inflate inside the server without limit.
//!
//! A push whose chunk decodes past [`MAX_CHUNK_INFLATED`] is `Rejected` with
//! `code: "too_large"` (the rest of the request proceeds); a request whose pushes together pass
//! [`fieldcase_core::doc::bounded::MAX_REQUEST_INFLATED`] is refused as a whole, `413
//! too_large`, with nothing written. Bytes that are not Automerge chunk framing are rejected
//! like any other unparseable push.

use crate::AppState;
use crate::error::{Result, ServerError};
use fieldcase_core::CoreError;
use fieldcase_core::doc::bounded::{self, InflateBudget};
use fieldcase_core::sync::wire::{CODE_TOO_LARGE, DocPush, DocResult, DocStatus};

pub use fieldcase_core::doc::bounded::MAX_CHUNK_INFLATED;

/// Checks one push against the per-chunk limit and the request's `budget`: `None` to go on
/// with the merge, `Some(result)` to answer the push with a rejection instead.
pub(crate) fn refuse_oversized(
    state: &AppState,
    budget: &InflateBudget,
    push: &DocPush,
) -> Result<Option<DocResult>> {
    let (reason, code) = match bounded::check(&push.changes, MAX_CHUNK_INFLATED, budget) {
        Ok(_) => return Ok(None),
        Err(e @ CoreError::TooLarge { .. }) if budget.exhausted() => {
            tracing::warn!(doc = %push.doc_id, "sync request refused: changes decode past the request limit");
            return Err(ServerError::Core(e));
        }
        Err(e @ CoreError::TooLarge { .. }) => {
            tracing::warn!(doc = %push.doc_id, "push refused: a chunk decodes past the limit");
            (e.to_string(), Some(CODE_TOO_LARGE.to_string()))
        }
        Err(_) => ("changes are not valid Automerge data".to_string(), None),
    };
    state.metrics.inc(&state.metrics.docs_rejected);
    Ok(Some(DocResult {
        doc_id: push.doc_id.clone(),
        kind: push.kind,
        status: DocStatus::Rejected,
        reason: Some(reason),
        code,
        server_heads: vec![],
        changes: vec![],
    }))
}
