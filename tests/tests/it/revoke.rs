//! Revocation over a real server: the operator's wipe mode reaches the phone, and the phone
//! erases what it says (rows and files on disk).

use fieldcase_core::CoreError;
use fieldcase_core::store::WipeMode;
use fieldcase_core::sync::wire::WipeScope;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer};
use std::path::PathBuf;

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
    fieldcase_server::admin::revoke_device(s.storage(), &a.device_id, WipeScope::All).await?;
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
    let device =
        fieldcase_server::admin::revoke_device(s.storage(), &a.device_id, WipeScope::SyncedOnly)
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
