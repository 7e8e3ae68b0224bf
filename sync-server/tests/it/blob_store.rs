//! Evidence in S3-compatible object storage, end to end: two server instances sharing one
//! database and one bucket (moto's S3 server), a phone's chunked upload begun on one and
//! finished on the other, a ranged download, and `admin verify`'s check reading from S3.

use crate::moto::Moto;
use fieldcase_core::model::RecordKind;
use fieldcase_server::blobs::{BlobStore, BlobStoreSettings};
use fieldcase_server::keys::KeySource;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::{BlobRecord, DocWrite, Role, Storage};
use fieldcase_server::{AppState, Listen, RunningServer, admin, maintenance};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn s3_store(moto: &Moto, data: &Path) -> R<BlobStore> {
    let settings = BlobStoreSettings {
        url: Some("s3://evidence/bureau".into()),
        endpoint: Some(moto.endpoint()),
        region: Some("us-east-1".into()),
        allow_http: true,
        access_key_id: Some("fieldcase-test".into()),
        secret_access_key: Some("fieldcase-test".into()),
    };
    Ok(settings
        .open(data, fieldcase_server::app::DEFAULT_MAX_BLOB)
        .await?)
}

async fn serve(state: &AppState) -> R<RunningServer> {
    Ok(fieldcase_server::start(
        state.clone(),
        Listen {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_uploads_resumes_downloads_and_verifies_on_s3() -> R {
    let moto = Moto::start()?;
    moto.create_bucket("evidence")?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data)?;
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(data.join("server.db"))?);
    let keys = KeySource::dir(data.join("keys"));
    let a = AppState::with_blobs(
        storage.clone(),
        &keys,
        Arc::new(s3_store(&moto, &data).await?),
    )
    .await?;
    let b = AppState::with_blobs(
        storage.clone(),
        &keys,
        Arc::new(s3_store(&moto, &data).await?),
    )
    .await?;
    assert!(a.blobs.as_folder().is_none());
    assert_eq!(a.blobs.location(), "s3://evidence/bureau");
    let (server_a, server_b) = (serve(&a).await?, serve(&b).await?);
    let (url_a, url_b) = (
        format!("http://{}", server_a.addr),
        format!("http://{}", server_b.addr),
    );

    admin::create_unit(storage.as_ref(), "luan", "Lu'an").await?;
    admin::create_user(storage.as_ref(), "OF-1", "Officer", Role::Officer, "luan").await?;
    let code = admin::create_code(storage.as_ref(), "OF-1", 1, None, None)
        .await?
        .code;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build()?;
    let enrolled: Value = http
        .post(format!("{url_a}/v1/enrol"))
        .json(&json!({"code": code, "device_public_key": "ab".repeat(32), "device_label": "p"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let cred = enrolled["credential"]
        .as_str()
        .ok_or("credential")?
        .to_string();

    let bytes: Vec<u8> = (0..3 * 1024 * 1024 + 777u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let sha = hex::encode(Sha256::digest(&bytes));
    let total = bytes.len();
    // The evidence entry arrived with its case; the upload is for a blob that case names.
    storage
        .write_doc(DocWrite {
            doc_id: fieldcase_core::ids::new_id(),
            kind: RecordKind::Case,
            unit: "luan".into(),
            party_hash: None,
            expected_heads: None,
            new_heads: vec![1; 32],
            chunk: vec![],
            replace: true,
            blob_refs: vec![sha.clone()],
            numbers: vec![],
        })
        .await?;

    let put = |url: &str, offset: usize, end: usize| {
        http.put(format!(
            "{url}/v1/blobs/{sha}?offset={offset}&total={total}"
        ))
        .bearer_auth(&cred)
        .body(bytes[offset..end].to_vec())
        .send()
    };
    let mib = 1024 * 1024;
    let st: Value = put(&url_a, 0, mib)
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(
        (st["offset"].as_u64(), st["complete"].as_bool()),
        (Some(mib as u64), Some(false))
    );
    // The other instance sees the bytes held and continues the upload.
    let st: Value = http
        .get(format!("{url_b}/v1/blobs/{sha}/status"))
        .bearer_auth(&cred)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(st["offset"].as_u64(), Some(mib as u64));
    let wrong = put(&url_b, 10, mib).await?;
    assert_eq!(wrong.status().as_u16(), 409);
    put(&url_b, mib, 2 * mib).await?.error_for_status()?;
    let st: Value = put(&url_b, 2 * mib, total)
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(st["complete"].as_bool(), Some(true));
    assert_eq!(a.blobs.size(&sha).await?, Some(total as u64));
    assert_eq!(a.blobs.received(&sha).await?, 0);

    // A phone resuming a download asks for a range; either instance serves it from S3.
    let ranged = http
        .get(format!("{url_a}/v1/blobs/{sha}"))
        .bearer_auth(&cred)
        .header("range", "bytes=1000000-")
        .send()
        .await?;
    assert_eq!(ranged.status().as_u16(), 206);
    assert_eq!(
        ranged
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok()),
        Some(format!("bytes 1000000-{}/{total}", total - 1).as_str())
    );
    assert_eq!(ranged.bytes().await?.as_ref(), &bytes[1_000_000..]);
    let whole = http
        .get(format!("{url_b}/v1/blobs/{sha}"))
        .bearer_auth(&cred)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    assert_eq!(whole.as_ref(), bytes.as_slice());

    // The operator's verification hashes every recorded blob, reading it from S3.
    // (The case above is a bare reference without history, which verify reports as a
    // document problem; only the blob checks matter here.)
    let report = maintenance::verify(storage.as_ref(), &a.blobs, false).await?;
    let blob_problems: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.what == "blob")
        .collect();
    assert!(blob_problems.is_empty(), "{blob_problems:?}");
    assert_eq!((report.blobs, report.blob_bytes), (1, total as u64));
    // A recorded blob the bucket does not hold is reported.
    let lost = hex::encode(Sha256::digest(b"never uploaded"));
    storage
        .insert_blob(BlobRecord {
            sha256: lost.clone(),
            size: 14,
            stored_at_ms: 1,
            device_id: enrolled["device_id"].as_str().ok_or("device")?.into(),
        })
        .await?;
    let report = maintenance::verify(storage.as_ref(), &a.blobs, false).await?;
    let missing: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.what == "blob")
        .map(|p| (p.id.as_str(), p.reason.as_str()))
        .collect();
    assert_eq!(missing, [(lost.as_str(), "file missing")]);
    let listed = b.blobs.list().await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256, sha);
    // Nothing went to the data folder.
    assert!(!data.join("blobs").exists());

    server_a.shutdown(std::time::Duration::from_secs(5)).await?;
    server_b.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(())
}
