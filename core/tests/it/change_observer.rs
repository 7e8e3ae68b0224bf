//! The change observer: every write path reports what it committed, in one batch per
//! transaction (or per held operation), after the commit and with no store lock held; an
//! observer that writes to the store again does not deadlock, one that panics does not undo
//! the write.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use crate::common::*;
use crate::fixtures::*;
use fieldcase_core::FieldStore;
use fieldcase_core::model::RecordKind;
use fieldcase_core::store::{ChangeOrigin, RecordChange};
use std::sync::{Arc, Mutex, Weak};

/// Installs an observer that keeps every batch it hears.
fn record_batches(store: &FieldStore) -> Arc<Mutex<Vec<Vec<RecordChange>>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    store.set_change_observer(Some(Arc::new(move |c: &[RecordChange]| {
        sink.lock().unwrap().push(c.to_vec());
    })));
    seen
}

fn take(seen: &Mutex<Vec<Vec<RecordChange>>>) -> Vec<Vec<RecordChange>> {
    std::mem::take(&mut *seen.lock().unwrap())
}

fn change(id: &str, kind: RecordKind, origin: ChangeOrigin) -> RecordChange {
    RecordChange {
        record_id: id.to_string(),
        kind,
        origin,
    }
}

#[test]
fn local_writes_are_announced_once_each_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), "phone-a");
    let seen = record_batches(&store);

    let party = party(&store, "34150219900101128X");
    let case = store
        .create_case(new_case(&store, Some(party.clone()), T0))
        .unwrap()
        .id;
    store.add_note(&case, "OF-1001", T0 + 1, "回访").unwrap();
    assert_eq!(
        take(&seen),
        vec![
            vec![change(&party, RecordKind::Party, ChangeOrigin::Local)],
            vec![change(&case, RecordKind::Case, ChangeOrigin::Local)],
            vec![change(&case, RecordKind::Case, ChangeOrigin::Local)],
        ]
    );

    // Evidence: one batch for the entry, although ingest holds its own lock around the write.
    let photo = write(dir.path(), "a.jpg", &jpeg(320, 240, 1, None));
    store.add_photo(&case, &photo, capture(T0, 1)).unwrap();
    assert_eq!(
        take(&seen),
        vec![vec![change(&case, RecordKind::Case, ChangeOrigin::Local)]]
    );

    // A refused write announces nothing.
    assert!(store.add_note("no-such-case", "OF-1001", T0, "x").is_err());
    assert!(take(&seen).is_empty());

    // Removed, the observer hears nothing more.
    store.set_change_observer(None);
    store
        .add_note(&case, "OF-1001", T0 + 2, "再次回访")
        .unwrap();
    assert!(take(&seen).is_empty());
}

#[test]
fn an_import_is_one_batch_and_unchanged_records_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "phone-a");
    let b = open(dir.path(), "phone-b");
    let c1 = a.create_case(new_case(&a, None, T0)).unwrap().id;
    let c2 = a.create_case(new_case(&a, None, T0 + 1)).unwrap().id;
    let seen = record_batches(&b);

    let bundle = a.export_changes(&Default::default()).unwrap();
    b.import_changes(&bundle).unwrap();
    let mut batches = take(&seen);
    assert_eq!(batches.len(), 1, "{batches:?}");
    let mut got = batches.remove(0);
    got.sort_by(|x, y| x.record_id.cmp(&y.record_id));
    let mut want = vec![
        change(&c1, RecordKind::Case, ChangeOrigin::Import),
        change(&c2, RecordKind::Case, ChangeOrigin::Import),
    ];
    want.sort_by(|x, y| x.record_id.cmp(&y.record_id));
    assert_eq!(got, want);

    // The same bundle again changes nothing, and says so by silence.
    b.import_changes(&bundle).unwrap();
    assert!(take(&seen).is_empty());
}

#[test]
fn an_observer_that_writes_back_into_the_store_does_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path(), "phone-a"));
    let case = store.create_case(new_case(&store, None, T0)).unwrap().id;
    let photo = write(dir.path(), "a.jpg", &jpeg(200, 150, 2, None));

    // On the first local change of the case it reads the case and adds a photo (a write
    // under the ingest lock) and a note; those changes are announced in turn.
    let weak: Weak<FieldStore> = Arc::downgrade(&store);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let log = calls.clone();
    let case_id = case.clone();
    store.set_change_observer(Some(Arc::new(move |c: &[RecordChange]| {
        let first = {
            let mut l = log.lock().unwrap();
            l.push(c.to_vec());
            l.len() == 1
        };
        let Some(store) = weak.upgrade() else { return };
        store.case(&case_id).unwrap();
        if first {
            store.add_photo(&case_id, &photo, capture(T0, 5)).unwrap();
            store
                .add_note(&case_id, "OF-1001", T0 + 3, "from the observer")
                .unwrap();
        }
    })));

    let (tx, rx) = std::sync::mpsc::channel();
    let writer = store.clone();
    let c = case.clone();
    std::thread::spawn(move || {
        let r = writer.add_note(&c, "OF-1001", T0 + 1, "trigger");
        let _ = tx.send(r.is_ok());
    });
    let done = rx.recv_timeout(std::time::Duration::from_secs(30));
    assert_eq!(done, Ok(true), "the write returned (no deadlock)");
    assert_eq!(calls.lock().unwrap().len(), 3, "trigger, photo, note");
    let case_now = store.case(&case).unwrap();
    assert_eq!(case_now.evidence.len(), 1);
}

#[test]
fn a_panicking_observer_does_not_undo_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), "phone-a");
    store.set_change_observer(Some(Arc::new(|_: &[RecordChange]| {
        panic!("observer failure");
    })));
    let case = store.create_case(new_case(&store, None, T0)).unwrap().id;
    let note = store.add_note(&case, "OF-1001", T0 + 1, "kept").unwrap();
    assert!(
        store
            .case(&case)
            .unwrap()
            .notes
            .iter()
            .any(|n| n.id == note)
    );
}

#[test]
fn the_handover_wipe_announces_the_records_it_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), "phone-a");
    let synced = store.create_case(new_case(&store, None, T0)).unwrap().id;
    let kept = store
        .create_case(new_case(&store, None, T0 + 1))
        .unwrap()
        .id;
    {
        let conn = rusqlite::Connection::open(dir.path().join("phone-a.db")).unwrap();
        conn.execute(
            "UPDATE docs SET synced_change = local_change WHERE id = ?1",
            [&synced],
        )
        .unwrap();
    }
    let seen = record_batches(&store);
    store.wipe_synced().unwrap();
    assert_eq!(
        take(&seen),
        vec![vec![change(&synced, RecordKind::Case, ChangeOrigin::Wipe)]]
    );
    assert!(store.case(&kept).is_ok());
}
