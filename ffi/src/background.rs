//! Running a slow store call off the app's thread: the `*_async` forms of ingest, export,
//! verification and rendering await the same work the synchronous forms do, run on the
//! library's blocking pool (the runtime that also runs `sync`), so a Kotlin coroutine, a Swift
//! task or Python's event loop only awaits.
//!
//! Cancelling the awaiting coroutine or task does not interrupt the work: SQLite writes, file
//! copies and PDF drawing have no safe point to stop at. It runs to its end and the result is
//! dropped. What it wrote is whole (an ingest commits its entry; an export appears complete
//! at its path; nothing half-written is ever visible), so an app that cancels re-reads the
//! record, or deletes the exported file, as it would after any call.

use crate::error::guard;
use crate::{FieldcaseError, FieldcaseStore};
use fieldcase_core::FieldStore;

impl FieldcaseStore {
    /// Runs `f` on the open store on the library's blocking pool, inside the panic guard, and
    /// awaits it from whatever executor the app uses.
    pub(crate) async fn in_background<T: Send + 'static>(
        &self,
        f: impl FnOnce(&FieldStore) -> Result<T, FieldcaseError> + Send + 'static,
    ) -> Result<T, FieldcaseError> {
        let store = self.store()?;
        crate::sync::blocking(move || guard(|| f(store.as_ref()))).await
    }
}
