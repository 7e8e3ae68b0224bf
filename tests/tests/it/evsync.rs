//! One call does a whole sync: records, then device keys, then evidence files, with progress,
//! cancellation and resumption, through the real server on loopback.

use fieldcase_core::CoreError;
use fieldcase_core::evidence::{BlobStore, IssueKind};
use fieldcase_core::sync::{CancelToken, SyncObserver, SyncPhase, SyncProgress};
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer, capture, wav};
use fieldcase_tests::proxy::{Fault, FaultProxy};
use std::sync::Mutex;

const SQUAD: &str = "luan/jinan/squad-1";

/// Decides, from a snapshot and how many came before it, whether to cancel.
type CancelWhen = Box<dyn Fn(&SyncProgress, usize) -> bool + Send + Sync>;

/// Records every snapshot; cancels `token` when `cancel_when` says so.
struct Recorder {
    seen: Mutex<Vec<SyncProgress>>,
    token: CancelToken,
    cancel_when: CancelWhen,
}

impl Recorder {
    fn new(cancel_when: impl Fn(&SyncProgress, usize) -> bool + Send + Sync + 'static) -> Self {
        Recorder {
            seen: Mutex::new(Vec::new()),
            token: CancelToken::new(),
            cancel_when: Box::new(cancel_when),
        }
    }
    fn never() -> Self {
        Recorder::new(|_, _| false)
    }
    fn seen(&self) -> Vec<SyncProgress> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl SyncObserver for Recorder {
    fn progress(&self, p: &SyncProgress) {
        let n = match self.seen.lock() {
            Ok(mut s) => {
                s.push(p.clone());
                s.len()
            }
            Err(_) => 0,
        };
        if (self.cancel_when)(p, n) {
            self.token.cancel();
        }
    }
}

fn phase_rank(p: SyncPhase) -> u8 {
    match p {
        SyncPhase::Records => 0,
        SyncPhase::DeviceKeys => 1,
        SyncPhase::Blobs => 2,
        SyncPhase::Done => 3,
    }
}

/// The server's stored copy of every blob the phone holds has the right hash.
fn server_holds(s: &TestServer, shas: &[String]) -> TestResult {
    for sha in shas {
        let (actual, _) = fieldcase_server::maintenance::hash_file(
            &s.state
                .blobs
                .as_folder()
                .ok_or("folder store")?
                .final_path(sha),
        )?;
        assert_eq!(&actual, sha, "server copy of {sha}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photo_goes_up_after_its_record_and_verifies_on_a_second_phone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let b = Phone::enrol(&s, &s.url(), dir.path(), "OF-B", Role::Officer, SQUAD).await?;

    // Offline: a case with a photo.
    let case = a.case(None, T0)?;
    let entry = a.photo(&case, dir.path(), 640, 480, 1)?;
    let pending: Vec<String> = a
        .store
        .unconfirmed_blobs()?
        .into_iter()
        .map(|b| b.sha256)
        .collect();
    assert_eq!(pending.len(), 3, "original, thumbnail, display copy");
    assert!(pending.contains(&entry.original.sha256));

    let rec = Recorder::never();
    let report = a.client.sync_with(&a.store, &rec, &rec.token).await?;
    assert!(report.complete);
    assert_eq!(report.accepted, 1);
    assert_eq!(report.blobs_uploaded, 3, "{report:?}");
    assert_eq!(report.blobs_pending, 0);
    assert!(report.rejections.is_empty());
    assert!(a.store.unconfirmed_blobs()?.is_empty());
    server_holds(&s, &pending)?;

    // Progress: phases in order, counters never go back, blobs_done reaches blobs_total.
    let seen = rec.seen();
    let last = seen.last().ok_or("no progress")?;
    assert_eq!(last.phase, SyncPhase::Done);
    assert_eq!((last.blobs_done, last.blobs_total), (3, 3));
    assert_eq!(last.docs_sent, 1);
    assert_eq!(last.bytes_sent, report.bytes_sent);
    for w in seen.windows(2) {
        assert!(phase_rank(w[0].phase) <= phase_rank(w[1].phase), "{seen:?}");
        assert!(w[0].bytes_sent <= w[1].bytes_sent);
        assert!(w[0].blobs_done <= w[1].blobs_done);
    }
    for phase in [SyncPhase::Records, SyncPhase::DeviceKeys, SyncPhase::Blobs] {
        assert!(seen.iter().any(|p| p.phase == phase), "{phase:?} missing");
    }
    let blob_bytes: u64 = seen
        .iter()
        .filter(|p| p.phase == SyncPhase::Blobs)
        .map(|p| p.bytes_sent)
        .max()
        .unwrap_or(0);
    assert!(blob_bytes > entry.original.size, "blob bytes counted");

    // A second sync has nothing to do: one request, no blob.
    let again = a.sync().await?;
    assert_eq!((again.round_trips, again.blobs_uploaded), (1, 0));

    // The second phone receives the case and learns the first phone's key.
    let report_b = b.sync().await?;
    assert_eq!(report_b.received, 1);
    assert!(report_b.device_keys_learned >= 1, "{report_b:?}");
    let key_a = a.store.device_public_key()?;
    assert!(b.store.trusted_device_keys()?.contains(&key_a));
    // The thumbnail came with the sync; the original and the display copy on demand.
    let thumb = entry.thumbnail.as_ref().ok_or("no thumbnail")?;
    let display = entry.display.as_ref().ok_or("no display copy")?;
    assert_eq!(report_b.thumbnails_fetched, 1, "{report_b:?}");
    assert!(b.store.holds_blob(&thumb.sha256)?);
    assert!(!b.store.holds_blob(&entry.original.sha256)?);
    let before = b.store.verify_case(&case)?;
    assert!(before.has(IssueKind::BlobMissing), "original not held yet");
    let original = b
        .client
        .download_blob(&b.store, &entry.original.sha256)
        .await?;
    // Kept sealed on the phone; read back through the store, which checks the hash.
    assert!(fieldcase_core::evidence::sealed::is_sealed(&original)?);
    assert_eq!(
        b.store
            .read_blob(&entry.original.sha256, &mut std::io::sink())?,
        Some(entry.original.size)
    );
    b.client.download_blob(&b.store, &display.sha256).await?;
    // Downloaded files count as held by the server: nothing to upload back.
    assert!(b.store.unconfirmed_blobs()?.is_empty());
    assert_eq!(b.sync().await?.blobs_uploaded, 0);
    // A second sync fetches nothing again.
    assert_eq!(b.sync().await?.thumbnails_fetched, 0);
    let v = b.store.verify_case(&case)?;
    assert!(v.is_clean(), "{:?}", v.issues);
    assert_eq!(v.evidence_checked, 1);
    assert!(v.keys_checked_against_trust_list);
    assert_eq!(v.device_keys, vec![key_a]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_syncs_lose_nothing_and_the_next_one_finishes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let mut a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    // Small batches: many record rounds to cancel between.
    let mut cfg = fieldcase_core::sync::ClientConfig::new(s.url());
    cfg.batch_bytes = 2_000;
    a.client = fieldcase_core::sync::SyncClient::new(cfg)?;
    let mut cases = Vec::new();
    for i in 0..12 {
        cases.push(a.case(None, T0 + i)?);
    }
    a.photo(&cases[0], dir.path(), 320, 240, 7)?;

    // Cancelled after the second record round.
    let rec = Recorder::new(|p, _| p.phase == SyncPhase::Records && p.docs_sent >= 2);
    let r = a.client.sync_with(&a.store, &rec, &rec.token).await;
    assert!(matches!(r, Err(CoreError::Cancelled)), "{r:?}");
    let on_server = s.storage().doc_count().await?;
    assert!(
        on_server > 0 && on_server < 12,
        "{on_server} documents stored"
    );
    assert_eq!(a.store.unconfirmed_blobs()?.len(), 3);

    // Cancelled as the blob phase starts: records all stored, no blob yet.
    let rec = Recorder::new(|p, _| p.phase == SyncPhase::Blobs);
    let r = a.client.sync_with(&a.store, &rec, &rec.token).await;
    assert!(matches!(r, Err(CoreError::Cancelled)), "{r:?}");
    assert_eq!(s.storage().doc_count().await?, 12);
    assert_eq!(a.store.unconfirmed_blobs()?.len(), 3);

    // A cancelled token stops before anything is sent.
    let token = CancelToken::new();
    token.cancel();
    let r = a
        .client
        .sync_with(&a.store, &fieldcase_core::sync::NoProgress, &token)
        .await;
    assert!(matches!(r, Err(CoreError::Cancelled)));

    // The next sync finishes everything.
    let report = a.sync().await?;
    assert!(report.complete);
    assert_eq!((report.blobs_uploaded, report.blobs_pending), (3, 0));
    assert!(a.store.unconfirmed_blobs()?.is_empty());
    for id in &cases {
        assert!(s.storage().load_doc(id).await?.is_some());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_blob_resumes_at_the_server_offset() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let proxy = FaultProxy::start(s.server.addr).await?;
    let url = format!("http://{}", proxy.addr);
    let a = Phone::enrol(&s, &url, dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let case = a.case(None, T0)?;
    // A 3 MiB recording: three upload chunks.
    let file = dir.path().join("talk.wav");
    std::fs::write(&file, wav(3 * 1024 * 1024, 5))?;
    let entry = a.store.add_audio(&case, &file, capture("OF-A", T0), None)?;
    let size = entry.original.size;

    // Records first (stop when the blob phase starts).
    let rec = Recorder::new(|p, _| p.phase == SyncPhase::Blobs);
    let r = a.client.sync_with(&a.store, &rec, &rec.token).await;
    assert!(matches!(r, Err(CoreError::Cancelled)), "{r:?}");

    // Let about 1.5 MiB more through, then cut every connection.
    let budget = proxy.stats().up_bytes + 1024 * 1024 + 512 * 1024;
    proxy.set(Fault::CutUpAfter(budget));
    let r = a.sync().await;
    assert!(matches!(r, Err(CoreError::Network { .. })), "{r:?}");
    let st = a.client.blob_status(&a.store, &entry.original.sha256).await;
    assert!(st.is_err(), "the proxy still cuts");
    proxy.set(Fault::Pass);
    let st = a
        .client
        .blob_status(&a.store, &entry.original.sha256)
        .await?;
    assert!(!st.complete);
    assert_eq!(st.offset, 1024 * 1024, "one whole chunk stored");

    let before = proxy.stats().up_bytes;
    let report = a.sync().await?;
    assert_eq!(report.blobs_uploaded, 1);
    let resent = proxy.stats().up_bytes - before;
    assert!(
        resent < size - 1024 * 1024 + 64 * 1024,
        "resumed, not restarted: {resent} bytes for a {size}-byte file"
    );
    server_holds(&s, std::slice::from_ref(&entry.original.sha256))?;
    assert!(a.store.unconfirmed_blobs()?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_the_server_refuses_stays_pending_and_the_sync_succeeds() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let case = a.case(None, T0)?;
    a.photo(&case, dir.path(), 320, 240, 3)?;
    // A case in a unit outside the officer's scope: the server rejects it, so it also
    // refuses the photo's files.
    a.store.set_local_rule_checks_for_tests(false);
    let outside = a.case_in("luan/yuan", T0)?;
    a.photo(&outside, dir.path(), 320, 240, 4)?;
    a.store.set_local_rule_checks_for_tests(true);
    let report = a.sync().await?;
    assert_eq!(report.rejected, 1);
    assert_eq!(report.rejections.len(), 1);
    assert_eq!(report.rejections[0].doc_id, outside);
    assert!(!report.rejections[0].reason.is_empty());
    assert_eq!(
        (report.blobs_uploaded, report.blobs_pending),
        (3, 3),
        "{report:?}"
    );
    assert_eq!(a.store.unconfirmed_blobs()?.len(), 3, "kept for later");

    // Abandoned partial uploads are removed by the server's sweep.
    let partial = s.data.join("blobs/partial").join("f".repeat(64));
    std::fs::write(&partial, b"half")?;
    assert_eq!(
        s.state
            .blobs
            .prune_partials(std::time::Duration::from_secs(3600))
            .await?,
        0,
        "fresh partial kept"
    );
    assert_eq!(
        s.state
            .blobs
            .prune_partials(std::time::Duration::ZERO)
            .await?,
        1,
        "stale partial removed"
    );
    assert!(!partial.exists());
    Ok(())
}

/// GET of a blob's bytes with an optional Range header, as a phone would send it.
async fn raw_get(
    url: &str,
    phone: &Phone,
    sha: &str,
    range: Option<&str>,
) -> TestResult<(u16, Vec<u8>, Option<String>)> {
    let cred = phone
        .store
        .meta(fieldcase_core::sync::client::META_CREDENTIAL)?
        .ok_or("no credential")?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .no_proxy()
        .build()?;
    let mut req = http
        .get(format!("{url}/v1/blobs/{sha}"))
        .bearer_auth(String::from_utf8(cred)?);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let cr = resp
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((status, resp.bytes().await?.to_vec(), cr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_downloads_are_scoped_ranged_and_verified() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let b = Phone::enrol(&s, &s.url(), dir.path(), "OF-B", Role::Officer, SQUAD).await?;
    let other = Phone::enrol(&s, &s.url(), dir.path(), "OF-Y", Role::Officer, "luan/yuan").await?;
    let vol = Phone::enrol(&s, &s.url(), dir.path(), "VO-1", Role::Volunteer, SQUAD).await?;
    let case = a.case(None, T0)?;
    let entry = a.photo(&case, dir.path(), 320, 240, 11)?;
    let sha = entry.original.sha256.clone();
    a.sync().await?;
    let bytes = std::fs::read(
        s.state
            .blobs
            .as_folder()
            .ok_or("folder store")?
            .final_path(&sha),
    )?;

    // Whole, then a resumed range.
    let (st, body, _) = raw_get(&s.url(), &b, &sha, None).await?;
    assert_eq!((st, body.len()), (200, bytes.len()));
    assert_eq!(body, bytes);
    let (st, body, cr) = raw_get(&s.url(), &b, &sha, Some("bytes=100-")).await?;
    assert_eq!(st, 206);
    assert_eq!(body, bytes[100..].to_vec());
    assert_eq!(
        cr,
        Some(format!("bytes 100-{}/{}", bytes.len() - 1, bytes.len()))
    );
    let past = format!("bytes={}-", bytes.len());
    assert_eq!(raw_get(&s.url(), &b, &sha, Some(&past)).await?.0, 416);

    // Not permitted and unknown look the same: 404.
    let unknown = "0".repeat(64);
    for (phone, blob) in [
        (&other, sha.as_str()),
        (&vol, sha.as_str()),
        (&b, unknown.as_str()),
    ] {
        let (st, body, _) = raw_get(&s.url(), phone, blob, None).await?;
        assert_eq!(st, 404, "{}", phone.user);
        assert!(!String::from_utf8_lossy(&body).contains(&sha));
    }
    let r = vol.client.download_blob(&vol.store, &sha).await;
    assert!(
        matches!(r, Err(CoreError::Server { status: 404, .. })),
        "{r:?}"
    );

    // A volunteer reads demonstrations' files.
    let demo = vol.demonstration(T0)?;
    let demo_entry = vol.store.add_demonstration_photo(
        &demo,
        {
            let f = dir.path().join("demo.jpg");
            std::fs::write(&f, fieldcase_tests::harness::jpeg(200, 150, 12)?)?;
            f
        },
        capture("VO-1", T0),
    )?;
    vol.sync().await?;
    let (st, _, _) = raw_get(&s.url(), &vol, &demo_entry.original.sha256, None).await?;
    assert_eq!(st, 200);

    // A damaged server copy is refused and leaves nothing on the phone.
    let server_copy = s
        .state
        .blobs
        .as_folder()
        .ok_or("folder store")?
        .final_path(&sha);
    let mut perms = std::fs::metadata(&server_copy)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&server_copy, perms)?;
    let mut damaged = bytes.clone();
    damaged[50] ^= 0xff;
    std::fs::write(&server_copy, &damaged)?;
    let r = b.client.download_blob(&b.store, &sha).await;
    assert!(
        matches!(r, Err(CoreError::BlobHashMismatch { .. })),
        "{r:?}"
    );
    assert!(!b.store.holds_blob(&sha)?);
    assert!(!b.store.blob_dir().join(BlobStore::rel_path(&sha)).exists());
    let tmp = b.store.blob_dir().join("tmp");
    let left = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "no temp file left");
    // Repaired, it downloads.
    std::fs::write(&server_copy, &bytes)?;
    b.client.download_blob(&b.store, &sha).await?;
    let mut got = Vec::new();
    b.store.read_blob(&sha, &mut got)?;
    assert_eq!(got, bytes);
    // Malformed ids are refused before any request.
    let r = b.client.download_blob(&b.store, "../etc/passwd").await;
    assert!(matches!(r, Err(CoreError::InvalidInput { .. })), "{r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_mid_file_resumes_where_it_stopped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let proxy = FaultProxy::start(s.server.addr).await?;
    let url = format!("http://{}", proxy.addr);
    let mut b = Phone::enrol(&s, &s.url(), dir.path(), "OF-B", Role::Officer, SQUAD).await?;
    b.use_url(&url)?;
    let case = a.case(None, T0)?;
    let file = dir.path().join("talk.wav");
    std::fs::write(&file, wav(3 * 1024 * 1024, 9))?;
    let entry = a.store.add_audio(&case, &file, capture("OF-A", T0), None)?;
    a.sync().await?;
    b.sync().await?;
    let size = entry.original.size;

    // Every reply is cut after 1 MiB: three attempts fetch about 3 MiB between them but
    // each resumes where the previous stopped.
    proxy.set(Fault::CutResponse(1024 * 1024));
    let r = b
        .client
        .download_blob(&b.store, &entry.original.sha256)
        .await;
    let before = proxy.stats().down_bytes;
    proxy.set(Fault::Pass);
    let path = match r {
        Ok(p) => p,
        Err(CoreError::Network { .. }) => {
            b.client
                .download_blob(&b.store, &entry.original.sha256)
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    let total = proxy.stats().down_bytes;
    assert!(
        total < size + 256 * 1024,
        "resumed, not restarted: {total} bytes for a {size}-byte file (first pass {before})"
    );
    assert!(fieldcase_core::evidence::sealed::is_sealed(&path)?);
    assert_eq!(
        b.store
            .read_blob(&entry.original.sha256, &mut std::io::sink())?,
        Some(size)
    );
    let v = b.store.verify_case(&case)?;
    assert!(v.is_clean(), "{:?}", v.issues);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_request_waits_for_retry_after_and_the_sync_completes() -> TestResult {
    use fieldcase_server::ratelimit::{Budget, RateLimiter};
    let dir = tempfile::tempdir()?;
    // One request at once, one more per second: the second request of a sync is refused
    // with 429 and Retry-After: 1.
    let s = TestServer::start_with(&dir.path().join("server"), |st| {
        st.device_rate = std::sync::Arc::new(RateLimiter::new(Budget {
            burst: 1.0,
            per_second: 1.0,
        }));
    })
    .await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    a.case(None, T0)?;
    let started = std::time::Instant::now();
    let report = a.sync().await?;
    assert!(report.complete, "{report:?}");
    assert_eq!(report.accepted, 1);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "waited for Retry-After: {:?}",
        started.elapsed()
    );

    // With a single attempt, the 429 comes back as the server's error.
    let mut cfg = fieldcase_core::sync::ClientConfig::new(s.url());
    cfg.attempts = 1;
    let once = fieldcase_core::sync::SyncClient::new(cfg)?;
    let _ = once.blob_status(&a.store, &"a".repeat(64)).await;
    let r = once.blob_status(&a.store, &"a".repeat(64)).await;
    assert!(
        matches!(r, Err(CoreError::Server { status: 429, .. })),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_captured_after_its_key_was_revoked_is_reported() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let b = Phone::enrol(&s, &s.url(), dir.path(), "OF-B", Role::Officer, SQUAD).await?;
    let case = a.case(None, T0)?;
    let before = a.photo(&case, dir.path(), 200, 150, 21)?;
    // A capture whose (corrected) time lies after the revocation below.
    let later = fieldcase_core::ids::now_ms() + 3_600_000;
    let file = dir.path().join("later.jpg");
    std::fs::write(&file, fieldcase_tests::harness::jpeg(200, 150, 22)?)?;
    let after = a.store.add_photo(&case, &file, capture("OF-A", later))?;
    a.sync().await?;
    fieldcase_server::admin::revoke_device(
        s.storage(),
        &s.state.signing_key,
        &a.device_id,
        fieldcase_core::sync::wire::WipeScope::All,
    )
    .await?;

    b.sync().await?;
    for e in [&before, &after] {
        for sha in [Some(&e.original), e.thumbnail.as_ref(), e.display.as_ref()]
            .into_iter()
            .flatten()
        {
            b.client.download_blob(&b.store, &sha.sha256).await?;
        }
    }
    let key_a = a.store.device_public_key()?;
    assert!(b.store.revoked_device_keys()?.contains_key(&key_a));
    let v = b.store.verify_case(&case)?;
    let flagged: Vec<_> = v
        .issues
        .iter()
        .filter(|i| i.kind == IssueKind::SignedAfterRevocation)
        .collect();
    assert_eq!(flagged.len(), 1, "{:?}", v.issues);
    assert_eq!(flagged[0].evidence_id.as_deref(), Some(after.id.as_str()));
    assert_eq!(
        v.issues.len(),
        1,
        "the entry signed before revocation stays valid"
    );

    // A revocation can be lifted (the server's list is the truth each time keys are read).
    assert!(b.store.set_device_key_revoked(&key_a, None)?);
    assert!(b.store.verify_case(&case)?.is_clean());
    Ok(())
}
