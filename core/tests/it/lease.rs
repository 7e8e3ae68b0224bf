//! Lost phone: the lease locks an out-of-contact store; wipes remove data (or keep unsynced
//! work for a handover).

use crate::common::*;
use fieldcase_core::CoreError;
use fieldcase_core::ids::now_ms;
use fieldcase_core::store::{LockState, WipeMode};

#[test]
fn lease_locks_reads_and_writes_until_the_server_is_reached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let case = store.create_case(new_case(&store, None, T0)).expect("case");
    store.set_lease(Some(60_000)).expect("lease");
    store
        .record_server_contact(now_ms() - 120_000)
        .expect("contact");
    assert!(matches!(store.lock_state(), LockState::Locked { .. }));
    assert!(matches!(
        store.open_cases(None, 10),
        Err(CoreError::Locked { .. })
    ));
    assert!(matches!(
        store.case(&case.id),
        Err(CoreError::Locked { .. })
    ));
    assert!(matches!(
        store.create_case(new_case(&store, None, T0)),
        Err(CoreError::Locked { .. })
    ));
    assert!(matches!(
        store.export_changes(&Default::default()),
        Err(CoreError::Locked { .. })
    ));
    drop(store);
    // Still locked after a restart.
    let store = open(dir.path(), "phone-a");
    assert!(matches!(
        store.open_cases(None, 10),
        Err(CoreError::Locked { .. })
    ));
    store.record_server_contact(now_ms()).expect("contact");
    assert_eq!(store.open_cases(None, 10).expect("unlocked").len(), 1);
}

#[test]
fn wipe_all_removes_every_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    store.create_case(new_case(&store, None, T0)).expect("case");
    let report = store.wipe(WipeMode::All).expect("wipe");
    assert!(report.database_deleted);
    assert_eq!(report.records_removed, 1);
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn handover_wipe_keeps_only_unsynced_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let synced = store
        .create_case(new_case(&store, None, T0))
        .expect("synced");
    let unsynced = store
        .create_case(new_case(&store, None, T0 + 1))
        .expect("unsynced");
    {
        let conn = rusqlite::Connection::open(dir.path().join("phone-a.db")).expect("conn");
        conn.execute(
            "UPDATE docs SET synced_change = local_change WHERE id = ?1",
            [&synced.id],
        )
        .expect("mark synced");
    }
    let report = store.wipe(WipeMode::KeepUnsynced).expect("wipe");
    assert_eq!((report.records_removed, report.records_kept), (1, 1));
    let store = open(dir.path(), "phone-a");
    assert!(matches!(
        store.case(&synced.id),
        Err(CoreError::NotFound { .. })
    ));
    assert_eq!(store.case(&unsynced.id).expect("kept").id, unsynced.id);
    assert_eq!(store.open_cases(None, 10).expect("list").len(), 1);
    let raw = std::fs::read(dir.path().join("phone-a.db")).expect("read");
    assert!(
        !raw.windows(synced.id.len())
            .any(|w| w == synced.id.as_bytes()),
        "no trace left"
    );
}
