//! Phones syncing evidence to a server that keeps it in S3-compatible object storage (moto's
//! S3 server): the real sync client uploads, a second phone downloads, and the server's own
//! verification reads the bucket.

use fieldcase_server::blobs::BlobStoreSettings;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer};
use fieldcase_tests::moto::Moto;

const SQUAD: &str = "luan/jinan/squad-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_synced_to_a_server_on_s3_reaches_a_second_phone_intact() -> TestResult {
    let moto = Moto::start()?;
    moto.create_bucket("evidence")?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("server");
    let blobs = BlobStoreSettings {
        url: Some("s3://evidence/fleet".into()),
        endpoint: Some(moto.endpoint()),
        region: Some("us-east-1".into()),
        allow_http: true,
        access_key_id: Some("fieldcase-test".into()),
        secret_access_key: Some("fieldcase-test".into()),
    }
    .open(&data, fieldcase_server::app::DEFAULT_MAX_BLOB)
    .await?;
    let s = TestServer::start_with_blobs(&data, blobs).await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let b = Phone::enrol(&s, &s.url(), dir.path(), "OF-B", Role::Officer, SQUAD).await?;

    let case = a.case(None, T0)?;
    let entry = a.photo(&case, dir.path(), 640, 480, 1)?;
    let report = a.sync().await?;
    assert_eq!(report.blobs_uploaded, 3, "{report:?}");
    assert!(a.store.unconfirmed_blobs()?.is_empty());
    let sha = &entry.original.sha256;
    assert_eq!(s.state.blobs.size(sha).await?, Some(entry.original.size));
    assert!(s.state.blobs.as_folder().is_none());

    b.sync().await?;
    b.client.download_blob(&b.store, sha).await?;
    if let Some(display) = &entry.display {
        b.client.download_blob(&b.store, &display.sha256).await?;
    }
    let v = b.store.verify_case(&case)?;
    assert!(v.is_clean(), "{:?}", v.issues);

    let report = fieldcase_server::maintenance::verify(s.storage(), &s.state.blobs, false).await?;
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.blobs, 3);
    Ok(())
}
