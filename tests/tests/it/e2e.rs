//! End-to-end: a real server on a loopback port, driven by the real core sync client.

use fieldcase_core::CoreError;
use fieldcase_core::sync::wire::WipeScope;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer};
use fieldcase_tests::proxy::{Fault, FaultProxy};
use std::collections::BTreeMap;
use std::time::Duration;

const SQUAD: &str = "luan/jinan/squad-1";

async fn server() -> TestResult<(tempfile::TempDir, TestServer)> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("server")).await?;
    Ok((dir, server))
}

async fn officer(s: &TestServer, dir: &tempfile::TempDir, id: &str) -> TestResult<Phone> {
    Phone::enrol(s, &s.url(), dir.path(), id, Role::Officer, SQUAD).await
}

fn heads(p: &Phone) -> TestResult<BTreeMap<String, Vec<String>>> {
    Ok(p.store.heads()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_record_offline_and_converge() -> TestResult {
    let (dir, s) = server().await?;
    let a = officer(&s, &dir, "OF-A").await?;
    let b = officer(&s, &dir, "OF-B").await?;
    let party = a.party("340102199001011234")?;
    let ca = a.case(Some(party), T0)?;
    let cb = b.case(None, T0 + 1000)?;
    b.demonstration(T0)?;

    let ra = a.sync().await?;
    assert!(ra.complete);
    assert_eq!(ra.accepted, 2);
    b.sync().await?;
    a.sync().await?;
    assert_eq!(heads(&a)?, heads(&b)?);
    assert_eq!(heads(&a)?.len(), 4);

    // Concurrent edits to the same case on both phones, offline.
    a.store.add_note(&cb, "OF-A", T0 + 5000, "A saw it too")?;
    b.store
        .add_note(&cb, "OF-B", T0 + 6000, "B's follow-up note")?;
    b.store
        .add_note(&ca, "OF-B", T0 + 7000, "note on A's case")?;
    a.sync().await?;
    b.sync().await?;
    a.sync().await?;
    assert_eq!(heads(&a)?, heads(&b)?);
    let notes = a.store.case(&cb)?.notes;
    assert_eq!(notes.len(), 2);
    assert_eq!(a.store.case(&ca)?.notes.len(), 1);
    assert_eq!(a.store.dirty_count()?, 0);
    assert_eq!(b.store.dirty_count()?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_new_costs_one_small_round_trip() -> TestResult {
    let (dir, s) = server().await?;
    let a = officer(&s, &dir, "OF-A").await?;
    for i in 0..20 {
        a.case(None, T0 + i)?;
    }
    a.sync().await?;
    let r = a.sync().await?;
    assert_eq!(r.round_trips, 1);
    assert!(r.bytes_sent < 1024, "{r:?}");
    assert!(r.bytes_received < 1024, "{r:?}");
    assert_eq!(r.pushed, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volunteer_never_receives_party_or_case_documents() -> TestResult {
    let (dir, s) = server().await?;
    let o = officer(&s, &dir, "OF-A").await?;
    let party = o.party("340102199001011234")?;
    o.case(Some(party), T0)?;
    let demo = o.demonstration(T0)?;
    o.sync().await?;
    let v = Phone::enrol(
        &s,
        &s.url(),
        dir.path(),
        "VOL-1",
        Role::Volunteer,
        "luan/jinan",
    )
    .await?;
    let vdemo = v.demonstration(T0 + 10)?;
    let r = v.sync().await?;
    assert!(r.complete);
    let ids: Vec<String> = v.store.doc_ids()?;
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&demo) && ids.contains(&vdemo));
    for id in &ids {
        assert_eq!(
            v.store.doc_kind(id)?,
            Some(fieldcase_core::model::RecordKind::Demonstration)
        );
    }
    // A case made on a volunteer's phone is refused and kept there.
    let vcase = v.case(None, T0)?;
    let r = v.sync().await?;
    assert_eq!(r.rejected, 1);
    assert!(v.store.case(&vcase).is_ok());
    o.sync().await?;
    assert!(o.store.case(&vcase).is_err());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_change_is_rejected_and_kept_on_the_phone() -> TestResult {
    let (dir, s) = server().await?;
    let mut a = officer(&s, &dir, "OF-A").await?;
    // A case in a unit outside the officer's subtree.
    a.unit = "luan/yuan".into();
    let outside = a.case(None, T0)?;
    a.unit = SQUAD.into();
    let inside = a.case(None, T0)?;
    let r = a.sync().await?;
    assert_eq!((r.accepted, r.rejected), (1, 1));
    let rejected = a.store.rejected_docs()?;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].doc_id, outside);
    assert!(
        rejected[0].reason.contains("unit"),
        "{}",
        rejected[0].reason
    );
    assert!(a.store.case(&outside).is_ok());
    assert_eq!(a.store.dirty_count()?, 0);
    // Not resent until edited again.
    let r = a.sync().await?;
    assert_eq!(r.pushed, 0);
    assert!(s.storage().load_doc(&outside).await?.is_none());
    assert!(s.storage().load_doc(&inside).await?.is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_flags_conflicting_first_offence_exemptions() -> TestResult {
    let (dir, s) = server().await?;
    let a = officer(&s, &dir, "OF-A").await?;
    let b = officer(&s, &dir, "OF-B").await?;
    // The same person, registered offline on both phones, exempted on both as a first offence.
    let pa = a.party("340102199001011234")?;
    let pb = b.party("340102199001011234")?;
    let ca = a.case(Some(pa), T0)?;
    a.exempt(&ca, T0 + 60_000)?;
    let cb = b.case(Some(pb), T0 + 3_600_000)?;
    b.exempt(&cb, T0 + 3_660_000)?;
    a.sync().await?;
    b.sync().await?;
    a.sync().await?;
    let later = a.store.case(&cb)?;
    assert!(later.flags.exemption_conflict);
    assert_eq!(later.flags.conflict_with, vec![ca.clone()]);
    assert!(!a.store.case(&ca)?.flags.exemption_conflict);
    assert!(b.store.case(&cb)?.flags.exemption_conflict);
    assert_eq!(heads(&a)?, heads(&b)?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_twice_is_harmless() -> TestResult {
    let (dir, s) = server().await?;
    let a = officer(&s, &dir, "OF-A").await?;
    for i in 0..5 {
        a.case(None, T0 + i)?;
    }
    let cred = String::from_utf8(a.store.meta("sync_credential")?.ok_or("cred")?)?;
    let mut session = fieldcase_core::sync::SyncSession::new(&a.store, a.device_id.clone())?;
    let req = session.next_request(&a.store)?.ok_or("request")?;
    let body = serde_json::to_vec(&req)?;
    let http = fieldcase_tests::harness::raw_http()?;
    let send = || {
        http.post(format!("{}/v1/sync", s.url()))
            .bearer_auth(&cred)
            .body(body.clone())
            .send()
    };
    let first: fieldcase_core::sync::wire::SyncResponse = send().await?.json().await?;
    let seq_after_first = s.storage().latest_seq().await?;
    let second: fieldcase_core::sync::wire::SyncResponse = send().await?.json().await?;
    assert_eq!(
        s.storage().latest_seq().await?,
        seq_after_first,
        "no new writes"
    );
    assert_eq!(first.docs, second.docs);
    assert_eq!(s.storage().doc_count().await?, 5);
    session.apply_response(&a.store, second)?;
    while let Some(req) = session.next_request(&a.store)? {
        let r: fieldcase_core::sync::wire::SyncResponse = http
            .post(format!("{}/v1/sync", s.url()))
            .bearer_auth(&cred)
            .json(&req)
            .send()
            .await?
            .json()
            .await?;
        session.apply_response(&a.store, r)?;
    }
    assert_eq!(a.store.dirty_count()?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_the_wire_lose_nothing_and_duplicate_nothing() -> TestResult {
    let (dir, s) = server().await?;
    let proxy = FaultProxy::start(s.server.addr).await?;
    let purl = format!("http://{}", proxy.addr);
    let mut a = officer(&s, &dir, "OF-A").await?;
    let b = officer(&s, &dir, "OF-B").await?;
    a.use_url(&purl)?;
    for i in 0..30 {
        a.case(None, T0 + i)?;
    }

    proxy.set(Fault::Drop);
    assert!(matches!(a.sync().await, Err(CoreError::Network { .. })));
    assert_eq!(s.storage().doc_count().await?, 0);

    // The server does the work but the answer never arrives.
    proxy.set(Fault::CutResponse(200));
    assert!(a.sync().await.is_err());
    assert_eq!(s.storage().doc_count().await?, 30);
    assert_eq!(
        a.store.dirty_count()?,
        30,
        "not marked synced without an answer"
    );

    proxy.set(Fault::Duplicate);
    for i in 0..10 {
        a.case(None, T0 + 100 + i)?;
    }
    a.sync().await?;
    proxy.set(Fault::Delay(Duration::from_millis(150)));
    a.sync().await?;
    proxy.set(Fault::Pass);
    let r = a.sync().await?;
    assert!(r.complete);
    assert_eq!(a.store.dirty_count()?, 0);
    assert_eq!(s.storage().doc_count().await?, 40);
    b.sync().await?;
    assert_eq!(heads(&a)?, heads(&b)?);
    assert!(proxy.stats().connections > 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_sync_loses_nothing() -> TestResult {
    let (dir, s) = server().await?;
    let proxy = FaultProxy::start(s.server.addr).await?;
    let mut a = officer(&s, &dir, "OF-A").await?;
    a.use_url(&format!("http://{}", proxy.addr))?;
    let n = 300;
    for i in 0..n {
        a.case(None, T0 + i)?;
    }
    // Small batches so the sync takes many requests, then kill the server during it.
    let mut cfg = fieldcase_core::sync::ClientConfig::new(format!("http://{}", proxy.addr));
    cfg.batch_bytes = 8 * 1024;
    cfg.attempts = 1;
    cfg.timeout = Duration::from_secs(5);
    a.client = fieldcase_core::sync::SyncClient::new(cfg)?;
    let store_path = a.path.clone();
    let syncing = tokio::spawn(async move {
        let r = a.sync().await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let s = s.restart().await?;
    proxy.retarget(s.server.addr);
    let (a, first) = syncing.await?;
    let stored_mid = s.storage().doc_count().await?;
    assert!(first.is_err() || stored_mid == n, "{first:?}");
    let r = a.sync().await?;
    assert!(r.complete);
    assert_eq!(a.store.dirty_count()?, 0);
    assert_eq!(s.storage().doc_count().await?, n);
    assert_eq!(a.store.path(), store_path.as_path());
    let b = officer(&s, &dir, "OF-B").await?;
    b.sync().await?;
    assert_eq!(heads(&b)?, heads(&a)?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_told_to_wipe() -> TestResult {
    let (dir, s) = server().await?;
    let a = officer(&s, &dir, "OF-A").await?;
    a.sync().await?;
    fieldcase_server::admin::revoke_device(s.storage(), &a.device_id, WipeScope::All).await?;
    assert!(matches!(
        a.sync().await,
        Err(CoreError::Unauthorized {
            wipe: Some(fieldcase_core::store::WipeMode::All)
        })
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_and_sync_over_tls_with_a_bureau_ca() -> TestResult {
    let fixtures = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let dir = tempfile::tempdir()?;
    let plain = TestServer::start(&dir.path().join("server")).await?;
    let code = plain.user_code("OF-T", Role::Officer, SQUAD).await?;
    let tls = fieldcase_server::start(
        plain.state.clone(),
        fieldcase_server::Listen {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: Some((
                fixtures.join("test-cert.pem"),
                fixtures.join("test-key.pem"),
            )),
            allow_insecure_http: false,
        },
    )
    .await?;
    let url = format!("https://localhost:{}", tls.addr.port());
    let mut cfg = fieldcase_core::sync::ClientConfig::new(&url);
    cfg.extra_roots_pem = Some(std::fs::read(fixtures.join("test-cert.pem"))?);
    let client = fieldcase_core::sync::SyncClient::new(cfg)?;
    let store = fieldcase_core::FieldStore::open(
        dir.path().join("tls-phone.db"),
        fieldcase_core::StoreConfig::new("tls-phone"),
    )?;
    client
        .enrol(&store, &code, &"ef".repeat(32), "tls phone")
        .await?;
    let r = client.sync(&store).await?;
    assert!(r.complete);
    // Without the bureau CA the same server is refused.
    let untrusting =
        fieldcase_core::sync::SyncClient::new(fieldcase_core::sync::ClientConfig::new(&url))?;
    assert!(matches!(
        untrusting.sync(&store).await,
        Err(CoreError::Network { .. })
    ));
    tls.shutdown(Duration::from_secs(2)).await?;
    Ok(())
}
