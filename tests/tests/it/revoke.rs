//! Revocation over a real server: the operator's wipe mode reaches the phone, and the phone
//! erases what it says (rows and files on disk).

use fieldcase_core::CoreError;
use fieldcase_core::model::CaseRecord;
use fieldcase_core::store::WipeMode;
use fieldcase_core::sync::wire::WipeScope;
use fieldcase_server::storage::postgres::PostgresStorage;
use fieldcase_server::storage::{QuarantineStatus, Role};
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer};
use std::path::PathBuf;
use std::sync::Arc;

const SQUAD: &str = "luan/jinan/squad-1";

async fn server() -> TestResult<(tempfile::TempDir, TestServer)> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("server")).await?;
    Ok((dir, server))
}

async fn officer(s: &TestServer, dir: &tempfile::TempDir, id: &str) -> TestResult<Phone> {
    Phone::enrol(s, &s.url(), dir.path(), id, Role::Officer, SQUAD).await
}

/// Every file of an evidence entry (original and derived copies) as stored on the phone.
fn files(p: &Phone, e: &fieldcase_core::evidence::EvidenceEntry) -> TestResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    for b in [Some(&e.original), e.thumbnail.as_ref(), e.display.as_ref()]
        .into_iter()
        .flatten()
    {
        let path = p.store.blob_path(&b.sha256)?.ok_or("blob not recorded")?;
        out.push(path);
    }
    Ok(out)
}

/// A phone with one synced case (and photo) and one case (and photo) recorded after its
/// last sync.
async fn phone_with_synced_and_unsynced(
    s: &TestServer,
    dir: &tempfile::TempDir,
) -> TestResult<(Phone, String, Vec<PathBuf>, String, Vec<PathBuf>)> {
    let a = officer(s, dir, "OF-A").await?;
    let synced = a.case(None, T0)?;
    let synced_photo = a.photo(&synced, dir.path(), 200, 150, 1)?;
    let report = a.sync().await?;
    assert!(report.complete);
    assert!(
        a.store.unconfirmed_blobs()?.is_empty(),
        "photo not confirmed"
    );
    let unsynced = a.case(None, T0 + 60_000)?;
    let unsynced_photo = a.photo(&unsynced, dir.path(), 200, 150, 2)?;
    let synced_files = files(&a, &synced_photo)?;
    let unsynced_files = files(&a, &unsynced_photo)?;
    for f in synced_files.iter().chain(&unsynced_files) {
        assert!(f.is_file(), "{} missing before the wipe", f.display());
    }
    Ok((a, synced, synced_files, unsynced, unsynced_files))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_all_erases_the_store_and_every_file() -> TestResult {
    let (dir, s) = server().await?;
    let (a, _, synced_files, _, unsynced_files) = phone_with_synced_and_unsynced(&s, &dir).await?;
    fieldcase_server::admin::revoke_device(
        s.storage(),
        &s.state.signing_key,
        &a.device_id,
        WipeScope::All,
    )
    .await?;
    let mode = match a.sync().await {
        Err(CoreError::Unauthorized { wipe: Some(m) }) => m,
        other => return Err(format!("expected a wipe order, got {other:?}").into()),
    };
    assert_eq!(mode, WipeMode::All);
    let path = a.path.clone();
    let blob_dir = a.store.blob_dir().to_path_buf();
    let report = a.store.wipe(mode)?;
    assert_eq!(report.records_removed, 2);
    assert!(!path.exists());
    assert!(!blob_dir.exists());
    for f in synced_files.iter().chain(&unsynced_files) {
        assert!(!f.exists(), "{} survived", f.display());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_synced_only_keeps_unsynced_work_for_export_and_re_enrolment() -> TestResult {
    let (dir, s) = server().await?;
    let (a, synced, synced_files, unsynced, unsynced_files) =
        phone_with_synced_and_unsynced(&s, &dir).await?;
    let device = fieldcase_server::admin::revoke_device(
        s.storage(),
        &s.state.signing_key,
        &a.device_id,
        WipeScope::SyncedOnly,
    )
    .await?;
    assert_eq!(device.revoke_wipe, Some(WipeScope::SyncedOnly));
    let audit = s.storage().audit_entries().await?;
    assert!(
        audit
            .iter()
            .any(|e| e.event.action == "revoke" && e.event.detail.ends_with("wipe=synced_only")),
        "revocation not audited with its mode"
    );
    let mode = match a.sync().await {
        Err(CoreError::Unauthorized { wipe: Some(m) }) => m,
        other => return Err(format!("expected a wipe order, got {other:?}").into()),
    };
    assert_eq!(mode, WipeMode::KeepUnsynced);
    let report = a.store.wipe_synced()?;
    assert_eq!(
        (report.records_removed, report.records_kept),
        (1, 1),
        "{report:?}"
    );
    assert!(a.store.case(&synced).is_err(), "synced case kept");
    assert_eq!(a.store.case(&unsynced)?.id, unsynced);
    for f in &synced_files {
        assert!(!f.exists(), "confirmed file {} survived", f.display());
    }
    for f in &unsynced_files {
        assert!(f.is_file(), "unconfirmed file {} was erased", f.display());
    }
    // No page of the removed case is left in the file or its WAL.
    let mut bytes = std::fs::read(&a.path)?;
    let mut wal = a.path.clone().into_os_string();
    wal.push("-wal");
    bytes.extend(std::fs::read(&wal).unwrap_or_default());
    assert!(
        !bytes.windows(synced.len()).any(|w| w == synced.as_bytes()),
        "the removed case id is still in the database bytes"
    );
    // The revoked credential is gone: the phone is no longer enrolled.
    assert!(matches!(a.sync().await, Err(CoreError::NotEnrolled)));

    // The kept work can be handed to a colleague's phone with the export function...
    let b = officer(&s, &dir, "OF-B").await?;
    let bundle = a.store.export_changes(&Default::default())?;
    b.store.import_changes(&bundle)?;
    assert_eq!(b.store.case(&unsynced)?.id, unsynced);

    // ...or sent up after the phone is enrolled again (for the next officer).
    let code = s.user_code("OF-C", Role::Officer, SQUAD).await?;
    let key = a.store.device_public_key()?;
    a.client.enrol(&a.store, &code, &key, "handed over").await?;
    let report = a.sync().await?;
    assert!(report.complete, "{report:?}");
    let stored = s.storage().load_doc(&unsynced).await?;
    assert!(stored.is_some(), "kept case did not reach the server");
    assert!(
        a.store.unconfirmed_blobs()?.is_empty(),
        "kept photo not uploaded"
    );
    Ok(())
}

/// A server on SQLite, or on a fresh PostgreSQL schema.
async fn server_on(pg: bool) -> TestResult<(tempfile::TempDir, TestServer)> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("server");
    let server = if pg {
        let url = std::env::var("FIELDCASE_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let storage = PostgresStorage::connect_fresh(&url).await?;
        TestServer::start_with(&data, move |st| st.storage = Arc::new(storage)).await?
    } else {
        TestServer::start(&data).await?
    };
    Ok((dir, server))
}

/// The texts of the notes on the server's copy of a case.
async fn server_notes(s: &TestServer, case_id: &str) -> TestResult<Vec<String>> {
    let stored = s
        .storage()
        .load_doc(case_id)
        .await?
        .ok_or("case not on the server")?;
    let doc = automerge::AutoCommit::load(&stored.bytes)?;
    let case: CaseRecord = fieldcase_core::doc::read(&doc, case_id)?;
    Ok(case.notes.into_iter().map(|n| n.text).collect())
}

async fn carried_changes_of_a_revoked_phone_are_quarantined(pg: bool) -> TestResult {
    let (dir, s) = server_on(pg).await?;
    let a = officer(&s, &dir, "OF-A").await?;
    let b = officer(&s, &dir, "OF-B").await?;
    let case = a.case(None, T0)?;
    a.sync().await?;
    b.sync().await?;
    assert!(b.store.case(&case).is_ok());

    fieldcase_server::admin::revoke_device(
        s.storage(),
        &s.state.signing_key,
        &a.device_id,
        WipeScope::All,
    )
    .await?;
    // A, offline and revoked, keeps writing; B writes too, then takes A's changes by
    // phone-to-phone exchange (B's own note does not depend on A's).
    a.store
        .add_note(&case, "OF-A", T0 + 1, "written after revocation")?;
    b.store.add_note(&case, "OF-B", T0 + 2, "honest note")?;
    let other = b.case(None, T0 + 3)?;
    let bundle = a.store.export_changes(&b.store.heads()?)?;
    b.store.import_changes(&bundle)?;
    assert_eq!(b.store.case(&case)?.notes.len(), 2);

    let report = b.sync().await?;
    let notes = server_notes(&s, &case).await?;
    assert!(notes.contains(&"honest note".to_string()), "{notes:?}");
    assert!(
        !notes.contains(&"written after revocation".to_string()),
        "{notes:?}"
    );
    assert!(
        s.storage().load_doc(&other).await?.is_some(),
        "B's other case missing"
    );
    assert!(
        report
            .rejections
            .iter()
            .any(|r| r.doc_id == case && r.reason.contains("revoked")),
        "{report:?}"
    );
    // Not acknowledged, and not sent again on every sync.
    let again = b.sync().await?;
    assert_eq!(again.pushed, 0, "{again:?}");

    let held = fieldcase_server::quarantine::list(s.storage(), false).await?;
    assert_eq!(held.len(), 1, "{held:?}");
    let item = &held[0];
    assert_eq!(
        (
            item.doc_id.as_str(),
            item.sender_device.as_str(),
            item.revoked_devices.as_str()
        ),
        (case.as_str(), b.device_id.as_str(), a.device_id.as_str())
    );
    assert_eq!(item.hashes.split(' ').count(), 1);

    let released =
        fieldcase_server::quarantine::release(s.storage(), &s.state.signing_key, item.id).await?;
    assert_eq!(released.status, QuarantineStatus::Released);
    let notes = server_notes(&s, &case).await?;
    assert!(
        notes.contains(&"written after revocation".to_string()),
        "{notes:?}"
    );
    assert!(notes.contains(&"honest note".to_string()), "{notes:?}");
    assert!(
        fieldcase_server::quarantine::list(s.storage(), false)
            .await?
            .is_empty()
    );
    assert!(
        fieldcase_server::quarantine::reject(s.storage(), &s.state.signing_key, item.id)
            .await
            .is_err(),
        "a settled item was settled again"
    );
    let audit = s.storage().audit_entries().await?;
    for action in ["quarantine", "quarantine_release"] {
        assert!(
            audit.iter().any(|e| e.event.action == action),
            "no {action} audit entry"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_changes_carried_by_another_phone_are_quarantined_sqlite() -> TestResult {
    carried_changes_of_a_revoked_phone_are_quarantined(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_changes_carried_by_another_phone_are_quarantined_postgres() -> TestResult {
    carried_changes_of_a_revoked_phone_are_quarantined(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_depending_on_a_held_change_is_held_and_rejecting_keeps_it_out() -> TestResult {
    let (dir, s) = server_on(false).await?;
    let a = officer(&s, &dir, "OF-A").await?;
    let b = officer(&s, &dir, "OF-B").await?;
    let case = a.case(None, T0)?;
    a.sync().await?;
    b.sync().await?;
    fieldcase_server::admin::revoke_device(
        s.storage(),
        &s.state.signing_key,
        &a.device_id,
        WipeScope::All,
    )
    .await?;
    a.store
        .add_note(&case, "OF-A", T0 + 1, "after revocation")?;
    b.store
        .import_changes(&a.store.export_changes(&b.store.heads()?)?)?;
    // B's note now depends on A's: it must wait with it.
    b.store.add_note(&case, "OF-B", T0 + 2, "on top")?;
    b.sync().await?;
    let notes = server_notes(&s, &case).await?;
    assert!(notes.is_empty(), "{notes:?}");
    let held = fieldcase_server::quarantine::list(s.storage(), false).await?;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].hashes.split(' ').count(), 2);
    fieldcase_server::quarantine::reject(s.storage(), &s.state.signing_key, held[0].id).await?;
    assert!(server_notes(&s, &case).await?.is_empty());
    let all = fieldcase_server::quarantine::list(s.storage(), true).await?;
    assert_eq!(all[0].status, QuarantineStatus::Rejected);
    Ok(())
}
