//! The restore epoch: recorded at the first sync, nothing on the same one, and on a new one
//! the cursor back to 0, every document offered whole and every evidence file checked again.

use super::*;
use crate::sync::session::{EpochStep, META_RESTORE_EPOCH, epoch_step};

fn recorded(store: &FieldStore) -> Result<Option<String>> {
    Ok(store
        .meta(META_RESTORE_EPOCH)?
        .and_then(|v| String::from_utf8(v).ok()))
}

fn with_epoch(epoch: &str, cursor: i64) -> Fake {
    Fake {
        epoch: Some(epoch.into()),
        cursor,
        ..Fake::new()
    }
}

#[test]
fn the_step_is_decided_from_the_recorded_and_the_announced_epoch() {
    assert_eq!(epoch_step(None, None, false), EpochStep::Same);
    assert_eq!(epoch_step(Some("a"), None, false), EpochStep::Same);
    assert_eq!(epoch_step(Some("a"), Some(""), false), EpochStep::Same);
    assert_eq!(epoch_step(None, Some("a"), false), EpochStep::Record);
    assert_eq!(epoch_step(Some(""), Some("a"), false), EpochStep::Record);
    assert_eq!(epoch_step(Some("a"), Some("a"), false), EpochStep::Same);
    assert_eq!(epoch_step(Some("a"), Some("b"), false), EpochStep::Reset);
    assert_eq!(epoch_step(Some("a"), Some("b"), true), EpochStep::Ignore);
}

#[test]
fn the_first_epoch_is_recorded_and_the_same_one_changes_nothing() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    new_case(&store, T0);
    let first = sync(&store, &mut with_epoch("e1", 7))?;
    assert!(!first.server_restored);
    assert_eq!(first.pushed, 1);
    assert_eq!(recorded(&store)?.as_deref(), Some("e1"));
    assert_eq!(store.meta(META_CURSOR)?, Some(b"7".to_vec()));

    let mut fake = with_epoch("e1", 7);
    let again = sync(&store, &mut fake)?;
    assert!(!again.server_restored);
    assert_eq!(again.pushed, 0);
    assert_eq!(
        fake.rounds.len(),
        1,
        "one request, as any sync with nothing new"
    );
    assert_eq!(fake.rounds[0].cursor, 7);
    assert_eq!(store.meta(META_CURSOR)?, Some(b"7".to_vec()));
    Ok(())
}

#[test]
fn a_new_epoch_reads_the_feed_from_zero_and_offers_everything_again() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    let id = new_case(&store, T0);
    let file = dir.path().join("photo.jpg");
    std::fs::write(&file, jpeg()).map_err(|e| CoreError::io("photo", e))?;
    store.add_photo(
        &id,
        &file,
        crate::evidence::CaptureInfo {
            officer: "OF-1001".into(),
            device_time_ms: T0,
            monotonic_ms: 1_000,
            place: None,
            note: None,
        },
    )?;
    let blobs = store.unconfirmed_blobs()?.len();
    assert!(blobs >= 2);
    let mut fake = with_epoch("e1", 40);
    for _ in 0..blobs {
        fake.blob_replies.push_back(status(1, true));
    }
    let first = sync(&store, &mut fake)?;
    assert_eq!(first.blobs_uploaded as usize, blobs);
    assert!(store.unconfirmed_blobs()?.is_empty());
    assert_eq!(store.dirty_count()?, 0);

    // The server comes back from a backup: a new epoch, and its feed is behind the phone.
    let mut fake = with_epoch("e2", 12);
    for _ in 0..blobs {
        fake.blob_replies.push_back(status(0, false));
        fake.blob_replies.push_back(status(1, true));
    }
    let report = sync(&store, &mut fake)?;
    assert!(report.server_restored);
    assert!(report.complete);
    assert_eq!(
        fake.rounds[0].cursor, 40,
        "the first request knows nothing yet"
    );
    assert!(fake.rounds[0].docs.is_empty());
    assert_eq!(fake.rounds.len(), 2, "one more round in the same session");
    let resent = &fake.rounds[1];
    assert_eq!(resent.cursor, 0, "the feed is read from the start");
    assert_eq!(pushed_ids(resent), vec![id.clone()]);
    assert!(resent.docs[0].server_heads.is_empty(), "offered whole");
    assert_eq!(
        resent.docs[0].changes,
        store.changes_after(&id, &[])?,
        "every change of the document"
    );
    assert_eq!(report.pushed, 1);
    assert_eq!(
        report.blobs_uploaded as usize, blobs,
        "every file checked again"
    );
    let statuses = fake
        .blob_requests
        .iter()
        .filter(|r| matches!(r, Request::BlobStatus { .. }))
        .count();
    assert_eq!(statuses, blobs);
    assert!(store.unconfirmed_blobs()?.is_empty());
    assert_eq!(recorded(&store)?.as_deref(), Some("e2"));
    assert_eq!(store.meta(META_CURSOR)?, Some(b"12".to_vec()));
    assert_eq!(store.dirty_count()?, 0);

    // The next session under the same epoch is an ordinary one.
    let mut fake = with_epoch("e2", 12);
    let next = sync(&store, &mut fake)?;
    assert!(!next.server_restored);
    assert_eq!((next.pushed, fake.rounds.len()), (0, 1));
    Ok(())
}

#[test]
fn a_second_new_epoch_in_one_session_is_left_for_the_next() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    new_case(&store, T0);
    sync(&store, &mut with_epoch("e1", 3))?;
    // Every reply names another epoch: one reset, then the session ends.
    let mut n = 0;
    let mut fake = Fake::answering(move |_, req| {
        n += 1;
        let mut resp = accept_all(req, 3);
        resp.restore_epoch = Some(format!("x{n}"));
        Some(ok_json(serde_json::to_vec(&resp).expect("json")))
    });
    let report = sync(&store, &mut fake)?;
    assert!(report.server_restored);
    assert!(report.complete);
    assert_eq!(fake.rounds.len(), 2);
    assert_eq!(recorded(&store)?.as_deref(), Some("x1"));
    Ok(())
}
