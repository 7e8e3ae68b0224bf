//! A transport the app provides carries every request of enrolment-free sync, evidence
//! upload and ranged download, through the real server on loopback; the built-in client's
//! rules (retries, pins, refusals) hold the same over it.

use async_trait::async_trait;
use fieldcase_core::CoreError;
use fieldcase_core::evidence::BlobStore;
use fieldcase_core::sync::{HttpReply, HttpRequest, HttpTransport, Method, Purpose, Transport};
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SQUAD: &str = "luan/jinan/squad-1";

/// What the app's transport saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    purpose: Purpose,
    authorised: bool,
    range: Option<String>,
    body_len: usize,
}

/// Stands in for a platform's networking: it buffers each reply whole (the trait's default
/// `fetch`), so downloads come in windows, and records every request.
#[derive(Debug)]
struct AppTransport {
    inner: HttpTransport,
    window: u64,
    seen: Mutex<Vec<Seen>>,
    /// Fail every request this way instead of sending it.
    fail: Option<fn() -> CoreError>,
}

impl AppTransport {
    fn new(window: u64) -> TestResult<Arc<Self>> {
        Ok(Arc::new(AppTransport {
            inner: HttpTransport::new(None, &[], Duration::from_secs(10))?,
            window,
            seen: Mutex::new(Vec::new()),
            fail: None,
        }))
    }
    fn failing(fail: fn() -> CoreError) -> TestResult<Arc<Self>> {
        Ok(Arc::new(AppTransport {
            inner: HttpTransport::new(None, &[], Duration::from_secs(10))?,
            window: 1024,
            seen: Mutex::new(Vec::new()),
            fail: Some(fail),
        }))
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Transport for AppTransport {
    async fn send(&self, request: HttpRequest) -> fieldcase_core::Result<HttpReply> {
        let header = |n: &str| {
            request
                .headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        if let Ok(mut s) = self.seen.lock() {
            s.push(Seen {
                method: request.method,
                purpose: request.purpose,
                authorised: header("authorization").is_some_and(|v| v.starts_with("Bearer ")),
                range: header("range"),
                body_len: request.body.len(),
            });
        }
        if let Some(fail) = self.fail {
            return Err(fail());
        }
        self.inner.send(request).await
    }

    fn download_window(&self) -> Option<u64> {
        Some(self.window)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_transport_carries_sync_uploads_and_windowed_downloads() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let mut a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let mut b = Phone::enrol(&s, &s.url(), dir.path(), "OF-B", Role::Officer, SQUAD).await?;
    let ta = AppTransport::new(64 * 1024)?;
    let tb = AppTransport::new(64 * 1024)?;
    a.client = a.client.clone().with_transport(ta.clone());
    b.client = b.client.clone().with_transport(tb.clone());

    let case = a.case(None, T0)?;
    let entry = a.photo(&case, dir.path(), 1600, 1200, 7)?;
    let report = a.sync().await?;
    assert_eq!(
        (report.accepted, report.blobs_uploaded),
        (1, 3),
        "{report:?}"
    );
    let seen = ta.seen();
    assert!(seen.iter().all(|r| r.authorised), "{seen:?}");
    let uploads: Vec<&Seen> = seen
        .iter()
        .filter(|r| r.purpose == Purpose::BlobUpload)
        .collect();
    assert!(uploads.len() >= 3, "{seen:?}");
    assert!(
        uploads
            .iter()
            .all(|r| r.method == Method::Put && r.body_len > 0)
    );
    assert!(
        seen.iter()
            .any(|r| r.purpose == Purpose::Sync && r.method == Method::Post)
    );
    for r in &seen {
        assert!(r.range.is_none() || r.purpose == Purpose::BlobDownload);
    }

    // The second phone: the thumbnail with its sync, the original on demand, both through
    // the app's transport in windows, verified.
    let report_b = b.sync().await?;
    assert_eq!(report_b.thumbnails_fetched, 1, "{report_b:?}");
    let size = entry.original.size;
    assert!(
        size > 3 * 64 * 1024,
        "the photo spans several windows: {size}"
    );
    b.client
        .download_blob(&b.store, &entry.original.sha256)
        .await?;
    if let Some(d) = &entry.display {
        b.client.download_blob(&b.store, &d.sha256).await?;
    }
    let downloads: Vec<Seen> = tb
        .seen()
        .into_iter()
        .filter(|r| r.purpose == Purpose::BlobDownload)
        .collect();
    let windows = size.div_ceil(64 * 1024) as usize;
    assert!(downloads.len() > windows, "{downloads:?}");
    assert!(
        downloads
            .iter()
            .all(|r| r.range.as_deref().is_some_and(|v| v.starts_with("bytes=")))
    );
    assert!(
        downloads
            .iter()
            .any(|r| r.range.as_deref() == Some("bytes=65536-131071"))
    );
    let mut got = Vec::new();
    b.store.read_blob(&entry.original.sha256, &mut got)?;
    assert_eq!(got.len() as u64, size);
    let v = b.store.verify_case(&case)?;
    assert!(v.is_clean(), "{:?}", v.issues);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reply_is_retried_a_pin_mismatch_is_not_and_a_refusal_leaves_no_partial_file()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let mut a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let vol = Phone::enrol(&s, &s.url(), dir.path(), "VO-1", Role::Volunteer, SQUAD).await?;
    let case = a.case(None, T0)?;
    let entry = a.photo(&case, dir.path(), 320, 240, 3)?;
    a.sync().await?;

    // Offline: every attempt the client allows is made, then `Network`.
    let offline = AppTransport::failing(|| CoreError::Network {
        reason: "offline".into(),
    })?;
    let client = a.client.clone().with_transport(offline.clone());
    let r = client.sync(&a.store).await;
    assert!(matches!(r, Err(CoreError::Network { .. })), "{r:?}");
    assert_eq!(offline.seen().len(), 3, "the harness allows 3 attempts");

    // A pin mismatch is reported at once, never retried.
    let pinned = AppTransport::failing(|| CoreError::CertificatePinMismatch)?;
    a.client = a.client.clone().with_transport(pinned.clone());
    let r = a.sync().await;
    assert!(matches!(r, Err(CoreError::CertificatePinMismatch)), "{r:?}");
    assert_eq!(pinned.seen().len(), 1);

    // A volunteer may not read the officer's photo: 404, and no partial file stays.
    let t = AppTransport::new(1024)?;
    let client = vol.client.clone().with_transport(t);
    let r = client
        .download_blob(&vol.store, &entry.original.sha256)
        .await;
    assert!(
        matches!(r, Err(CoreError::Server { status: 404, .. })),
        "{r:?}"
    );
    let tmp = vol.store.blob_dir().join("tmp");
    let left = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "no partial download left");
    assert!(
        !vol.store
            .blob_dir()
            .join(BlobStore::rel_path(&entry.original.sha256))
            .exists()
    );
    Ok(())
}
