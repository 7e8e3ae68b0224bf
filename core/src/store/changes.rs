//! Telling the app which records changed: the observer hook every document write reports to.
//!
//! The write paths (`write_doc_with`, `create_doc`, the merge of sync replies and imports,
//! the handover wipe) announce what they committed, once per transaction. The observer is
//! called after the commit and after the writer lock is released, on the thread that wrote,
//! so an observer that reads or writes the store again cannot deadlock. Operations that hold
//! another store lock around a write (evidence ingest holds the ingest lock) or that write
//! several documents in one call hold the announcement with [`FieldStore::hold_changes`]
//! until they are done: the observer then hears one batch, with no store lock held.
//!
//! An observer that panics is caught and logged: the write has committed and stands.

use super::{FieldStore, lock};
use crate::model::RecordKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::ThreadId;

/// Where a committed change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOrigin {
    /// A write on this phone (an officer's edit, evidence, a document issued).
    Local,
    /// Changes received from the server by a sync.
    Sync,
    /// Changes imported from another phone's bundle.
    Import,
    /// The record was removed from this phone by the handover wipe of a revoked phone.
    Wipe,
}

/// One record whose stored state changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordChange {
    /// The record's id.
    pub record_id: String,
    /// What kind of record it is.
    pub kind: RecordKind,
    /// What changed it.
    pub origin: ChangeOrigin,
}

impl RecordChange {
    pub(crate) fn new(
        record_id: impl Into<String>,
        kind: RecordKind,
        origin: ChangeOrigin,
    ) -> Self {
        RecordChange {
            record_id: record_id.into(),
            kind,
            origin,
        }
    }
}

/// The observer the store reports committed changes to.
pub type ChangeObserver = Arc<dyn Fn(&[RecordChange]) + Send + Sync>;

/// Changes held back on one thread until its outermost hold ends.
#[derive(Default)]
struct Held {
    depth: u32,
    changes: Vec<RecordChange>,
}

/// The store's observer and the announcements held back per thread.
#[derive(Default)]
pub(crate) struct ChangeHub {
    observer: RwLock<Option<ChangeObserver>>,
    held: Mutex<HashMap<ThreadId, Held>>,
}

/// Holds this thread's announcements of one store until dropped; see
/// [`FieldStore::hold_changes`].
#[must_use = "changes are announced when the hold is dropped"]
pub(crate) struct ChangeHold<'a> {
    store: &'a FieldStore,
}

impl Drop for ChangeHold<'_> {
    fn drop(&mut self) {
        let hub = &self.store.changes;
        let me = std::thread::current().id();
        let ready = {
            let mut held = lock(&hub.held);
            match held.get_mut(&me) {
                Some(h) if h.depth > 1 => {
                    h.depth -= 1;
                    None
                }
                Some(_) => held.remove(&me).map(|h| h.changes),
                None => None,
            }
        };
        if let Some(changes) = ready {
            self.store.deliver(changes);
        }
    }
}

impl FieldStore {
    /// Installs (or with `None` removes) the observer told of every committed change to a
    /// record, in batches: one per transaction (a local write, one sync reply, one import,
    /// the handover wipe). It runs on the thread that wrote, after the commit and with no
    /// store lock held; keep it quick (hand the batch to another thread), as the write's
    /// caller waits for it.
    pub fn set_change_observer(&self, observer: Option<ChangeObserver>) {
        match self.changes.observer.write() {
            Ok(mut o) => *o = observer,
            Err(p) => *p.into_inner() = observer,
        }
    }

    /// Holds this thread's change announcements until the returned guard is dropped, then
    /// announces them as one batch. Take it before any store lock the caller holds around a
    /// write, so that the lock is released before the observer runs.
    pub(crate) fn hold_changes(&self) -> ChangeHold<'_> {
        let me = std::thread::current().id();
        lock(&self.changes.held).entry(me).or_default().depth += 1;
        ChangeHold { store: self }
    }

    /// Announces committed changes: held while this thread holds them, else delivered now.
    /// Call it only after the writer lock is released.
    pub(crate) fn announce(&self, changes: Vec<RecordChange>) {
        if changes.is_empty() {
            return;
        }
        let me = std::thread::current().id();
        {
            let mut held = lock(&self.changes.held);
            if let Some(h) = held.get_mut(&me) {
                h.changes.extend(changes);
                return;
            }
        }
        self.deliver(changes);
    }

    /// Calls the observer with `changes`, each record once per origin.
    fn deliver(&self, mut changes: Vec<RecordChange>) {
        let observer = match self.changes.observer.read() {
            Ok(o) => o.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let Some(observer) = observer else {
            return;
        };
        let mut seen = std::collections::HashSet::new();
        changes.retain(|c| seen.insert((c.record_id.clone(), c.origin)));
        if changes.is_empty() {
            return;
        }
        let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            observer(changes.as_slice())
        }));
        if called.is_err() {
            tracing::warn!(
                changes = changes.len(),
                "the change observer panicked; the changes are committed"
            );
        }
    }
}
