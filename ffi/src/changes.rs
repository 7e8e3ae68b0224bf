//! Telling the app which records changed, so a list or a case screen refreshes when a sync
//! brings a colleague's work, an import lands, or another screen writes.
//!
//! Core calls its observer on the writing thread after the commit; here each batch is handed
//! to one thread of the library (`fieldcase-changes`) that calls the app's
//! [`ChangeListener`] in order. The writer never waits for the app, and a listener that calls
//! back into the store runs while no call of the store is holding anything.

use crate::{FieldcaseError, FieldcaseStore};
use fieldcase_core::model;
use fieldcase_core::store as cs;
use std::sync::{Arc, mpsc};

/// The kinds of record a change names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum RecordKind {
    /// A case (its actions, evidence, documents and procedure are part of it).
    Case,
    /// A party.
    Party,
    /// A persuasion demonstration.
    Demonstration,
}

impl From<model::RecordKind> for RecordKind {
    fn from(k: model::RecordKind) -> Self {
        match k {
            model::RecordKind::Case => RecordKind::Case,
            model::RecordKind::Party => RecordKind::Party,
            model::RecordKind::Demonstration => RecordKind::Demonstration,
        }
    }
}

/// What changed a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ChangeOrigin {
    /// A write on this phone, through any method of the store.
    Local,
    /// Changes received from the server by `sync`.
    Sync,
    /// Changes from another phone's bundle, by `import_changes`.
    Import,
    /// Removed by the handover wipe of a revoked phone (the record is gone from this phone).
    Wipe,
}

impl From<cs::ChangeOrigin> for ChangeOrigin {
    fn from(o: cs::ChangeOrigin) -> Self {
        match o {
            cs::ChangeOrigin::Local => ChangeOrigin::Local,
            cs::ChangeOrigin::Sync => ChangeOrigin::Sync,
            cs::ChangeOrigin::Import => ChangeOrigin::Import,
            cs::ChangeOrigin::Wipe => ChangeOrigin::Wipe,
        }
    }
}

/// One record whose stored state changed; read it again to show what it holds now.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct RecordChange {
    /// The record's id (a case, party or demonstration id).
    pub record_id: String,
    /// What kind of record it is.
    pub kind: RecordKind,
    /// What changed it.
    pub origin: ChangeOrigin,
}

impl From<&cs::RecordChange> for RecordChange {
    fn from(c: &cs::RecordChange) -> Self {
        RecordChange {
            record_id: c.record_id.clone(),
            kind: c.kind.into(),
            origin: c.origin.into(),
        }
    }
}

/// Hears which records changed. Called on a library thread (`fieldcase-changes`), one batch
/// at a time and in the order the changes were committed: hop to the UI thread before
/// touching views. It may call the store (to reload a case); an exception it throws is
/// caught and logged, and the changes stay committed.
#[uniffi::export(foreign)]
pub trait ChangeListener: Send + Sync {
    /// One batch: what one transaction committed (a local write, one sync reply, one import,
    /// the handover wipe), each record once.
    fn on_changes(&self, changes: Vec<RecordChange>);
}

/// A core observer that queues each batch for `listener` on a thread of its own. The thread
/// ends when the observer is dropped (replaced, removed, or the store closed) and the queue
/// is drained.
fn forward_to(listener: Arc<dyn ChangeListener>) -> Result<cs::ChangeObserver, FieldcaseError> {
    let (tx, rx) = mpsc::channel::<Vec<RecordChange>>();
    std::thread::Builder::new()
        .name("fieldcase-changes".into())
        .spawn(move || {
            for batch in rx {
                let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    listener.on_changes(batch)
                }));
                if called.is_err() {
                    tracing::warn!("the app's change listener failed; the changes stand");
                }
            }
        })
        .map_err(|_| FieldcaseError::Internal {
            reason: "could not start the change listener's thread".into(),
        })?;
    Ok(Arc::new(move |changes: &[cs::RecordChange]| {
        // The receiver only goes with the thread, which outlives every sender.
        let _ = tx.send(changes.iter().map(Into::into).collect());
    }))
}

#[uniffi::export]
impl FieldcaseStore {
    /// Installs the listener told which records changed (`None` removes it; a new one
    /// replaces the old). See [`ChangeListener`] for the thread it runs on and the batches
    /// it hears.
    pub fn set_change_listener(
        &self,
        listener: Option<Arc<dyn ChangeListener>>,
    ) -> Result<(), FieldcaseError> {
        self.with(|s| {
            let observer = listener.map(forward_to).transpose()?;
            s.set_change_observer(observer);
            Ok(())
        })
    }
}
