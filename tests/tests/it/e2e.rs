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
    let party = a.party("341502199001011239")?;
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

/// 4,000 CJK characters (the longest note) drawn by a simple generator: about 12 KB that
/// Automerge's column compression cannot shrink much.
fn bulky_note(seed: u64) -> String {
    let mut x = seed.wrapping_add(1);
    (0..4000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from_u32(0x4E00 + ((x >> 33) % 20_000) as u32).unwrap_or('中')
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_is_paged_by_reply_size_and_loses_nothing() -> TestResult {
    let (dir, s) = server().await?;
    let a = officer(&s, &dir, "OF-A").await?;
    let mut notes = BTreeMap::new();
    for i in 0..6 {
        let id = a.case(None, T0 + i)?;
        let mut texts = Vec::new();
        for n in 0..50 {
            let text = bulky_note(i as u64 * 1000 + n);
            a.store.add_note(&id, "OF-A", T0 + 100 + n as i64, &text)?;
            texts.push(text);
        }
        notes.insert(id, texts);
    }
    let up = a.sync().await?;
    assert!(up.complete);
    assert_eq!(up.accepted, 6);

    let b = officer(&s, &dir, "OF-B").await?;
    let down = b.sync().await?;
    assert!(down.complete, "{down:?}");
    // Over 2 MiB of changes cannot come back in one reply: the server answers part of the
    // wants and the phone asks again for the rest (feed, then at least two rounds of wants).
    assert!(down.bytes_received > 2 * 1024 * 1024, "{down:?}");
    assert!(down.round_trips >= 3, "{down:?}");
    for (id, texts) in &notes {
        let got: Vec<String> = b
            .store
            .case(id)?
            .notes
            .into_iter()
            .map(|n| n.text)
            .collect();
        assert_eq!(&got, texts);
    }
    assert_eq!(heads(&a)?, heads(&b)?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_does_not_merge_holds_back_nothing_else() -> TestResult {
    let (dir, s) = server().await?;
    let a = officer(&s, &dir, "OF-A").await?;
    let ids = (0..3)
        .map(|i| a.case(None, T0 + i))
        .collect::<TestResult<Vec<_>>>()?;
    a.sync().await?;
    // The server's copy of one record gains bytes that do not parse (a damaged disk).
    let db = rusqlite::Connection::open(s.data.join("server.db"))?;
    let bad = &ids[1];
    let good: Vec<u8> = db.query_row(
        "SELECT bytes FROM chunks WHERE doc_id = ?1 ORDER BY n LIMIT 1",
        [bad],
        |r| r.get(0),
    )?;
    let mut damaged = good.clone();
    damaged.extend_from_slice(b"\x85\x6f\x4a\x83 not automerge");
    db.execute(
        "UPDATE chunks SET bytes = ?2 WHERE doc_id = ?1",
        rusqlite::params![bad, damaged],
    )?;

    let b = officer(&s, &dir, "OF-B").await?;
    let r = b.sync().await?;
    assert!(!r.complete, "{r:?}");
    assert_eq!(r.unreadable.len(), 1, "{r:?}");
    assert_eq!(&r.unreadable[0].doc_id, bad);
    assert!(b.store.case(&ids[0]).is_ok() && b.store.case(&ids[2]).is_ok());
    assert!(b.store.case(bad).is_err());

    // Repaired on the server: the next sync asks again (the cursor did not move) and ends
    // complete.
    db.execute(
        "UPDATE chunks SET bytes = ?2 WHERE doc_id = ?1",
        rusqlite::params![bad, good],
    )?;
    let r = b.sync().await?;
    assert!(r.complete && r.unreadable.is_empty(), "{r:?}");
    assert_eq!(heads(&a)?, heads(&b)?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volunteer_never_receives_party_or_case_documents() -> TestResult {
    let (dir, s) = server().await?;
    let o = officer(&s, &dir, "OF-A").await?;
    let party = o.party("341502199001011239")?;
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
    // A case made on a volunteer's phone (one without our local checks) is refused and kept
    // there.
    v.store.set_local_rule_checks_for_tests(false);
    let vcase = v.case(None, T0)?;
    let r = v.sync().await?;
    assert_eq!(r.rejected, 1);
    assert!(v.store.case(&vcase).is_ok());
    o.sync().await?;
    assert!(o.store.case(&vcase).is_err());
    Ok(())
}

/// Keys as `docs/security.md` lists them, through the real client over loopback: an
/// officer's enrolment reply carries the PII and party-match keys, a volunteer's neither; the
/// volunteer's phone then refuses party calls with a typed error (a key it made itself before
/// enrolment is not kept), and the officer's matches parties under the bureau key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn party_keys_reach_only_the_roles_that_handle_parties() -> TestResult {
    use fieldcase_core::{FieldStore, catalogue::PartyType, store::NewParty};
    use fieldcase_tests::harness::{client, phone_config};
    let (dir, s) = server().await?;
    let party = |unit: &str, by: &str| NewParty {
        party_type: PartyType::Person,
        unit: unit.into(),
        by: by.into(),
        name: "张三丰".into(),
        id_number: "341502199001011239".into(),
        id_document: None,
        phone: None,
        address: None,
    };
    for (user, role, handles_parties) in [
        ("VOL-K", Role::Volunteer, false),
        ("OF-K", Role::Officer, true),
    ] {
        let code = s.user_code(user, role, SQUAD).await?;
        let path = dir.path().join(format!("{user}.db"));
        let store = FieldStore::open(&path, phone_config("unenrolled"))?;
        // Before enrolment the phone matches parties under a key of its own.
        assert!(store.find_party_by_id_number("341502199001011239").is_ok());
        let key = store.device_public_key()?;
        let resp = client(&s.url())?.enrol(&store, &code, &key, user).await?;
        assert_eq!(resp.party_match_key.is_some(), handles_parties, "{user}");
        assert_eq!(resp.pii_key.is_some(), handles_parties, "{user}");
        // The same store, and the store opened again (after the first handle is gone: one
        // handle per file), see the same keys.
        let mut first = Some(store);
        for _ in 0..2 {
            let store = match first.take() {
                Some(s) => s,
                None => FieldStore::open(&path, phone_config(resp.device_id.clone()))?,
            };
            let registered = store.register_party(party(SQUAD, user));
            let found = store.find_party_by_id_number("341502199001011239");
            if handles_parties {
                let p = registered?;
                assert_eq!(
                    p.match_hash,
                    fieldcase_core::store::match_hash(&s.state.party_key, "341502199001011239")
                );
                assert!(found?.is_some());
            } else {
                assert!(
                    matches!(registered, Err(CoreError::PartyMatchKeyUnavailable)),
                    "{registered:?}"
                );
                assert!(
                    matches!(found, Err(CoreError::PartyMatchKeyUnavailable)),
                    "{found:?}"
                );
            }
        }
    }
    Ok(())
}

/// Each party on the server with the id of the key its personal data is sealed under.
async fn party_seals(
    st: &dyn fieldcase_server::storage::Storage,
) -> TestResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for id in st.doc_ids().await? {
        let Some(d) = st.load_doc(&id).await? else {
            continue;
        };
        if d.kind == fieldcase_core::model::RecordKind::Party {
            let doc = automerge::AutoCommit::load(&d.bytes)?;
            let p: fieldcase_core::model::PartyRecord = fieldcase_core::doc::read(&doc, &id)?;
            out.push((id, p.pii_sealed.key_id));
        }
    }
    Ok(out)
}

/// PII key rotation end to end over loopback: parties sealed under the first key are re-sealed
/// on the server by `rotate`; after a restart the phones' next sync brings the re-sealed
/// parties and the new key, new parties are sealed under it, no party on the server is left
/// under the old key, and a party a phone recorded offline under the old key (it had not
/// synced since) stays readable on every phone, a phone enrolled after the rotation included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pii_key_rotation_reseals_parties_and_reaches_phones() -> TestResult {
    use fieldcase_server::keys::{KeySource, pii_key_id};
    let (dir, s) = server().await?;
    let data = s.data.clone();
    let mut a = officer(&s, &dir, "OF-A").await?;
    let mut b = officer(&s, &dir, "OF-B").await?;
    let mut late = officer(&s, &dir, "OF-LATE").await?;
    let old_id = pii_key_id(&s.state.pii_key);
    let p1 = a.party("341502199001011239")?;
    assert_eq!(a.store.party(&p1)?.pii_sealed.key_id, old_id);
    a.sync().await?;
    b.sync().await?;
    assert_eq!(b.store.party_pii(&p1)?.id_number, "341502199001011239");

    // Stop the server, rotate, start again.
    s.server.kill().await?;
    drop(s.state);
    let storage = fieldcase_server::storage::sqlite::SqliteStorage::open(data.join("server.db"))?;
    let report =
        fieldcase_server::pii_rotation::rotate(&KeySource::dir(data.join("keys")), &storage)
            .await?;
    drop(storage);
    assert_eq!(report.rotation.retired_key_id, old_id);
    assert_eq!((report.reseal.parties, report.reseal.resealed), (1, 1));
    let new_id = report.rotation.new_key_id.clone();
    assert_ne!(new_id, old_id);
    let s = TestServer::start(&data).await?;
    assert_eq!(pii_key_id(&s.state.pii_key), new_id);
    for p in [&mut a, &mut b, &mut late] {
        p.use_url(&s.url())?;
    }

    // A phone that has not synced since records a party offline: under the old key.
    let p3 = late.party("34150219850505123X")?;
    assert_eq!(late.store.party(&p3)?.pii_sealed.key_id, old_id);

    // The next sync brings the re-sealed party and the new key.
    a.sync().await?;
    assert_eq!(a.store.party(&p1)?.pii_sealed.key_id, new_id);
    assert_eq!(a.store.party_pii(&p1)?.id_number, "341502199001011239");
    let p2 = a.party("341502197707071234")?;
    assert_eq!(
        a.store.party(&p2)?.pii_sealed.key_id,
        new_id,
        "new seals use the new key"
    );
    a.sync().await?;
    late.sync().await?;
    b.sync().await?;
    a.sync().await?;
    let c = officer(&s, &dir, "OF-NEW").await?;
    c.sync().await?;
    for (phone, name) in [
        (&a, "a"),
        (&b, "b"),
        (&late, "late"),
        (&c, "enrolled after"),
    ] {
        for (p, id_number) in [
            (&p1, "341502199001011239"),
            (&p2, "341502197707071234"),
            (&p3, "34150219850505123X"),
        ] {
            assert_eq!(phone.store.party_pii(p)?.id_number, id_number, "{name} {p}");
        }
    }
    // The late phone learnt the new key too: its next party is sealed under it.
    let p4 = late.party("341502196606061235")?;
    assert_eq!(late.store.party(&p4)?.pii_sealed.key_id, new_id);

    // On the server, only the party recorded offline under the old key is still under it
    // (it arrived after the re-seal); a second pass re-seals it, and none is left.
    let on_server = party_seals(s.storage()).await?;
    assert_eq!(on_server.len(), 3);
    assert!(
        on_server.iter().all(|(id, k)| *k == new_id || *id == p3),
        "{on_server:?}"
    );
    // `admin keys reseal-pii`, while the server runs.
    let again =
        fieldcase_server::pii_rotation::reseal(&KeySource::dir(data.join("keys")), s.storage())
            .await?;
    assert_eq!((again.resealed, again.current), (1, 2));
    assert!(
        party_seals(s.storage())
            .await?
            .iter()
            .all(|(_, k)| *k == new_id)
    );
    b.sync().await?;
    assert_eq!(b.store.party(&p3)?.pii_sealed.key_id, new_id);
    assert_eq!(b.store.party_pii(&p3)?.id_number, "34150219850505123X");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_change_is_rejected_and_kept_on_the_phone() -> TestResult {
    let (dir, s) = server().await?;
    let mut a = officer(&s, &dir, "OF-A").await?;
    // A phone that does not apply our rules before writing (a client that is not ours).
    a.store.set_local_rule_checks_for_tests(false);
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
    let pa = a.party("341502199001011239")?;
    let pb = b.party("341502199001011239")?;
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
    fieldcase_server::admin::revoke_device(
        s.storage(),
        &s.state.signing_key,
        &a.device_id,
        WipeScope::All,
    )
    .await?;
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
        fieldcase_core::StoreConfig::insecure_plain_for_tests("tls-phone"),
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
