//! The session machine against a fake server, no network: every failure row of
//! `docs/sync-protocol.md` ("Retries and failure cases") that concerns the phone, the key
//! refresh, blob order and per-blob decisions, and body negotiation.

use super::*;
use crate::catalogue::{ExemptionKind, Method, PartyType};
use crate::evidence::sealed::BlobReader;
use crate::model::Place;
use crate::store::{NewAction, NewCase, WipeMode};
use crate::sync::codec::{self, BodyFormat};
use crate::sync::negotiate::META_WIRE;
use crate::sync::session::META_CURSOR;
use crate::sync::wire::{DocResult, DocStatus, FeedEntry, SyncResponse};
use crate::{FieldStore, StoreConfig};

mod epoch;
mod unreadable;

const T0: i64 = 1_790_000_000_000;

fn open(dir: &std::path::Path) -> FieldStore {
    let cfg = StoreConfig {
        party_match_key: Some([7u8; 32]),
        pii_key: Some([9u8; 32]),
        ..StoreConfig::insecure_plain_for_tests("DEV-1")
    };
    FieldStore::open(dir.join("p.db"), cfg).expect("open store")
}

fn new_case(store: &FieldStore, at: i64) -> String {
    let c = store.catalogue();
    let item = c
        .items()
        .find(|i| {
            i.exemption.allows(ExemptionKind::FirstOffence)
                && i.applies_to.contains(&PartyType::Person)
                && !i.exemption.exempt_tiers.is_empty()
        })
        .expect("an exemptable item");
    let mut fields = serde_json::Map::new();
    fields.insert("explained".into(), "占道经营影响通行".into());
    fields.insert("outcome".into(), "accepted".into());
    store
        .create_case(NewCase {
            unit: "luan/jinan/squad-1".into(),
            occurred_at_ms: at,
            place: Place {
                lat: 31.7,
                lon: 116.5,
                accuracy_m: Some(8.0),
                address: None,
            },
            officers: vec!["OF-1001".into(), "OF-1002".into()],
            recorded_by: "OF-1001".into(),
            party_id: None,
            violation_code: item.code.clone(),
            tier: item.exemption.exempt_tiers[0].clone(),
            description: None,
            actions: vec![NewAction {
                method: Method::Persuasion,
                at_ms: at,
                by: "OF-1001".into(),
                note: None,
                fields,
            }],
            involves_minor: false,
            privacy_protected: false,
        })
        .expect("case")
        .id
}

fn machine(store: &FieldStore, attempts: u32) -> SyncMachine {
    SyncMachine::new(
        store,
        "DEV-1",
        attempts,
        512 * 1024,
        WireOptions::default(),
        CancelToken::new(),
    )
    .expect("machine")
}

type SyncHandler = Box<dyn FnMut(usize, &SyncRequest) -> Option<Outcome>>;

/// The fake server: by default it accepts every push (taking the phone's heads as its own),
/// answers wants with nothing, announces nothing and holds no blobs. `on_sync` may answer a
/// round (0-based) itself.
struct Fake {
    rounds: Vec<SyncRequest>,
    bodies: Vec<EncodedRequest>,
    waits: Vec<Duration>,
    key_fetches: u32,
    cursor: i64,
    on_sync: SyncHandler,
    blob_replies: VecDeque<(u16, String)>,
    blob_requests: Vec<Request>,
    /// The restore epoch the default replies announce.
    epoch: Option<String>,
}

impl Fake {
    fn new() -> Self {
        Fake {
            rounds: Vec::new(),
            bodies: Vec::new(),
            waits: Vec::new(),
            key_fetches: 0,
            cursor: 1,
            on_sync: Box::new(|_, _| None),
            blob_replies: VecDeque::new(),
            blob_requests: Vec::new(),
            epoch: None,
        }
    }

    fn answering(f: impl FnMut(usize, &SyncRequest) -> Option<Outcome> + 'static) -> Self {
        Fake {
            on_sync: Box::new(f),
            ..Fake::new()
        }
    }

    fn answer(&mut self, req: &Request) -> Outcome {
        match req {
            Request::Sync(enc) => {
                let plain = if enc.gzip {
                    codec::gunzip(&enc.body, 1 << 26).expect("gzip")
                } else {
                    enc.body.clone()
                };
                let sync: SyncRequest = enc.format.decode(&plain).expect("request decodes");
                let round = self.rounds.len();
                self.rounds.push(sync.clone());
                self.bodies.push(enc.clone());
                if let Some(o) = (self.on_sync)(round, &sync) {
                    return o;
                }
                let mut resp = accept_all(&sync, self.cursor);
                resp.restore_epoch = self.epoch.clone();
                reply(enc, &resp)
            }
            Request::DeviceKeys => {
                self.key_fetches += 1;
                ok_json(br#"{"keys":[]}"#.to_vec())
            }
            Request::BlobStatus { .. } | Request::UploadChunk { .. } => {
                self.blob_requests.push(req.clone());
                let (status, body) = self
                    .blob_replies
                    .pop_front()
                    .unwrap_or((500, r#"{"error":"internal","message":""}"#.into()));
                Outcome::Reply {
                    status,
                    headers: ReplyHeaders::default(),
                    body: body.into_bytes(),
                }
            }
        }
    }
}

fn ok_json(body: Vec<u8>) -> Outcome {
    Outcome::Reply {
        status: 200,
        headers: ReplyHeaders {
            content_type: Some(codec::JSON.into()),
            ..ReplyHeaders::default()
        },
        body,
    }
}

/// The reply a current server gives: CBOR when asked, and it takes gzip requests.
fn reply(enc: &EncodedRequest, resp: &SyncResponse) -> Outcome {
    let format = BodyFormat::from_accept(enc.accept);
    Outcome::Reply {
        status: 200,
        headers: ReplyHeaders {
            content_type: Some(format.content_type().into()),
            accept_encoding: Some("gzip".into()),
            ..ReplyHeaders::default()
        },
        body: format.encode(resp).expect("encode"),
    }
}

fn response(cursor: i64, docs: Vec<DocResult>, feed: Vec<FeedEntry>) -> SyncResponse {
    SyncResponse {
        protocol: 1,
        cursor,
        docs,
        feed,
        more: false,
        server_time_ms: crate::ids::now_ms(),
        catalogue_version: None,
        catalogue: None,
        number_blocks: vec![],
        roster: None,
        roster_digest: None,
        restore_epoch: None,
    }
}

fn result(d: &crate::sync::wire::DocPush, status: DocStatus, code: Option<&str>) -> DocResult {
    DocResult {
        doc_id: d.doc_id.clone(),
        kind: d.kind,
        status,
        reason: code.map(|c| format!("refused: {c}")),
        code: code.map(str::to_string),
        server_heads: if status == DocStatus::NeedFull {
            vec![]
        } else {
            d.have_heads.clone()
        },
        changes: vec![],
    }
}

fn accept_all(req: &SyncRequest, cursor: i64) -> SyncResponse {
    let docs = req
        .docs
        .iter()
        .map(|d| result(d, DocStatus::Accepted, None))
        .collect();
    response(cursor, docs, vec![])
}

fn run(m: &mut SyncMachine, store: &FieldStore, fake: &mut Fake) -> Result<SyncReport> {
    for _ in 0..10_000 {
        match m.next(store)? {
            Action::Done(r) => return Ok(r),
            Action::Wait(d) => {
                fake.waits.push(d);
                m.handle(store, Outcome::Waited)?;
            }
            Action::Send(req) => {
                let o = fake.answer(&req);
                m.handle(store, o)?;
            }
            Action::FetchThumbnail(_) => {
                let result = Ok(());
                m.handle(store, Outcome::Thumbnail { result, bytes: 10 })?;
            }
        }
    }
    panic!("the session did not end");
}

fn sync(store: &FieldStore, fake: &mut Fake) -> Result<SyncReport> {
    run(&mut machine(store, 4), store, fake)
}

fn pushed_ids(req: &SyncRequest) -> Vec<String> {
    req.docs
        .iter()
        .filter(|d| !d.changes.is_empty())
        .map(|d| d.doc_id.clone())
        .collect()
}

fn net() -> Outcome {
    Outcome::Transport(CoreError::Network {
        reason: "connection reset".into(),
    })
}

#[test]
fn a_lost_reply_sends_the_same_push_again() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    let id = new_case(&store, T0);
    // The server stores the batch but the reply is lost, twice.
    let mut fake = Fake::answering(|round, _| (round < 2).then(net));
    let report = sync(&store, &mut fake)?;
    assert_eq!(fake.waits.len(), 2, "one wait before each retry");
    assert_eq!(
        fake.bodies[0], fake.bodies[1],
        "the retry is the same bytes"
    );
    assert_eq!(fake.bodies[1], fake.bodies[2]);
    assert_eq!(report.accepted, 1);
    assert!(report.complete);
    // All attempts lost in another session: the sync fails, the document stays dirty, and
    // the next session pushes the same changes.
    store.add_note(&id, "OF-1001", T0 + 1, "补充说明")?;
    let mut lost = Fake::answering(|_, _| Some(net()));
    let err = sync(&store, &mut lost).expect_err("no reply ever");
    assert!(matches!(err, CoreError::Network { .. }), "{err:?}");
    assert_eq!(lost.rounds.len(), 4, "four attempts");
    assert_eq!(lost.waits.len(), 3, "no wait after the last attempt");
    let mut fake = Fake::new();
    sync(&store, &mut fake)?;
    assert_eq!(fake.rounds[0].docs, lost.rounds[0].docs);
    Ok(())
}

#[test]
fn need_full_sends_the_whole_document_next_round() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    let id = new_case(&store, T0);
    sync(&store, &mut Fake::new())?;
    store.add_note(&id, "OF-1001", T0 + 1, "补充说明")?;
    let mut fake = Fake::answering(|round, req| {
        (round == 0).then(|| {
            let docs = req
                .docs
                .iter()
                .map(|d| result(d, DocStatus::NeedFull, None))
                .collect();
            ok_json(serde_json::to_vec(&response(1, docs, vec![])).expect("json"))
        })
    });
    let report = sync(&store, &mut fake)?;
    let first = &fake.rounds[0].docs[0];
    let second = &fake.rounds[1].docs[0];
    assert!(!first.server_heads.is_empty(), "an incremental push first");
    assert!(second.server_heads.is_empty(), "then the whole document");
    assert_eq!(second.changes, store.changes_after(&id, &[])?);
    assert!(second.changes.len() > first.changes.len());
    assert_eq!(report.accepted, 1);
    Ok(())
}

#[test]
fn a_rejected_push_is_not_sent_again_until_edited_and_deferred_is() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    let rejected = new_case(&store, T0);
    let deferred = new_case(&store, T0 + 1);
    let quarantined = new_case(&store, T0 + 2);
    let (r, d, q) = (rejected.clone(), deferred.clone(), quarantined.clone());
    let mut fake = Fake::answering(move |_, req| {
        let docs = req
            .docs
            .iter()
            .map(|p| match p.doc_id {
                ref x if *x == r => result(p, DocStatus::Rejected, Some("decision_invalid")),
                // Another device's changes were left out: the server's heads are not ours.
                ref x if *x == d => DocResult {
                    server_heads: vec![],
                    ..result(p, DocStatus::Accepted, Some("deferred"))
                },
                ref x if *x == q => result(p, DocStatus::Rejected, Some("quarantined")),
                _ => result(p, DocStatus::Accepted, None),
            })
            .collect();
        Some(ok_json(
            serde_json::to_vec(&response(1, docs, vec![])).expect("json"),
        ))
    });
    let report = sync(&store, &mut fake)?;
    assert_eq!(report.rejected, 2);
    assert_eq!(report.deferred, 1);
    let codes: Vec<_> = report.rejections.iter().map(|r| r.code.clone()).collect();
    assert!(codes.contains(&Some("decision_invalid".into())));
    assert!(codes.contains(&Some("quarantined".into())));
    // Next session: only the deferred document goes up again.
    let mut fake = Fake::new();
    sync(&store, &mut fake)?;
    assert_eq!(pushed_ids(&fake.rounds[0]), vec![deferred.clone()]);
    // Edited, the rejected one is pushed again.
    store.add_note(&rejected, "OF-1001", T0 + 3, "补正")?;
    let mut fake = Fake::new();
    sync(&store, &mut fake)?;
    assert_eq!(pushed_ids(&fake.rounds[0]), vec![rejected]);
    Ok(())
}

#[test]
fn a_revoked_device_gets_its_wipe_order() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    new_case(&store, T0);
    let mut fake = Fake::answering(|_, _| {
        Some(Outcome::Reply {
            status: 401,
            headers: ReplyHeaders::default(),
            body:
                br#"{"error":"unauthorized","message":"m","wipe":true,"wipe_mode":"synced_only"}"#
                    .to_vec(),
        })
    });
    let err = sync(&store, &mut fake).expect_err("revoked");
    assert!(
        matches!(
            err,
            CoreError::Unauthorized {
                wipe: Some(WipeMode::KeepUnsynced)
            }
        ),
        "{err:?}"
    );
    assert_eq!(fake.rounds.len(), 1, "a 401 is not retried");
    Ok(())
}

fn throttled(after: &str) -> Outcome {
    Outcome::Reply {
        status: 429,
        headers: ReplyHeaders {
            retry_after: Some(after.into()),
            ..ReplyHeaders::default()
        },
        body: br#"{"error":"rate_limited","message":""}"#.to_vec(),
    }
}

#[test]
fn throttling_waits_retry_after_and_gives_up_without_a_last_wait() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    new_case(&store, T0);
    let mut fake = Fake::answering(|round, _| (round == 0).then(|| throttled("3")));
    let report = sync(&store, &mut fake)?;
    assert_eq!(fake.waits, vec![Duration::from_secs(3)]);
    assert_eq!(fake.bodies[0], fake.bodies[1]);
    assert_eq!(report.accepted, 1);

    new_case(&store, T0 + 1);
    let mut fake = Fake::answering(|_, _| Some(throttled("100")));
    let err = run(&mut machine(&store, 2), &store, &mut fake).expect_err("throttled");
    assert!(
        matches!(err, CoreError::Server { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(
        fake.waits,
        vec![retry::RETRY_AFTER_MAX],
        "capped, and only one"
    );
    Ok(())
}

#[test]
fn a_cancelled_session_keeps_what_it_did() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    new_case(&store, T0);
    let cancel = CancelToken::new();
    let mut m = SyncMachine::new(
        &store,
        "DEV-1",
        4,
        512 * 1024,
        WireOptions::default(),
        cancel.clone(),
    )?;
    let mut fake = Fake::new();
    let Action::Send(req) = m.next(&store)? else {
        panic!("a sync request first");
    };
    let o = fake.answer(&req);
    m.handle(&store, o)?;
    cancel.cancel();
    assert!(matches!(m.next(&store), Err(CoreError::Cancelled)));
    // The acknowledged push stays acknowledged: the next session pushes nothing.
    let mut fake = Fake::new();
    let report = sync(&store, &mut fake)?;
    assert_eq!(report.pushed, 0);
    assert!(pushed_ids(&fake.rounds[0]).is_empty());
    Ok(())
}

#[test]
fn keys_are_fetched_on_the_first_sync_when_documents_arrive_and_once_a_day() -> Result<()> {
    let now = T0;
    assert!(keys_due(false, None, now, false), "first sync");
    assert!(
        !keys_due(false, Some(now - 1000), now, false),
        "nothing new"
    );
    assert!(
        keys_due(true, Some(now - 1000), now, false),
        "documents arrived"
    );
    assert!(
        keys_due(false, Some(now - DEVICE_KEYS_REFRESH_MS), now, false),
        "a day old"
    );
    assert!(keys_due(false, Some(now), now, true), "a catalogue waits");

    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    let mut fake = Fake::new();
    sync(&store, &mut fake)?;
    assert_eq!(fake.key_fetches, 1, "first sync");
    sync(&store, &mut fake)?;
    assert_eq!(
        fake.key_fetches, 1,
        "a sync with nothing new stays one request"
    );
    assert_eq!(fake.rounds.len(), 2);
    Ok(())
}

#[test]
fn the_phone_learns_the_binary_form_and_falls_back_to_json() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    let mut fake = Fake::new();
    sync(&store, &mut fake)?;
    assert_eq!(fake.bodies[0].format, BodyFormat::Json, "nothing known yet");
    assert_eq!(store.meta(META_WIRE)?.as_deref(), Some(&b"cbor+gzip"[..]));
    new_case(&store, T0);
    new_case(&store, T0 + 5);
    let mut fake = Fake::new();
    let report = sync(&store, &mut fake)?;
    assert_eq!(report.accepted, 2);
    assert_eq!(fake.bodies[0].format, BodyFormat::Cbor);
    assert!(fake.bodies[0].gzip, "a push is long enough to compress");
    // A server rolled back to JSON only: 400 to the binary body, the same round as JSON.
    new_case(&store, T0 + 1);
    let mut fake = Fake::answering(|round, _| {
        (round == 0).then(|| Outcome::Reply {
            status: 400,
            headers: ReplyHeaders::default(),
            body: br#"{"error":"bad_request","message":"sync request: expected value"}"#.to_vec(),
        })
    });
    let report = sync(&store, &mut fake)?;
    assert_eq!(report.accepted, 1);
    assert_eq!(fake.bodies[0].format, BodyFormat::Cbor);
    assert_eq!(fake.bodies[1].format, BodyFormat::Json);
    assert_eq!(fake.rounds[0], fake.rounds[1], "the same request");
    Ok(())
}

fn status(offset: u64, complete: bool) -> (u16, String) {
    let sha = "ab".repeat(32);
    (
        200,
        format!(r#"{{"sha256":"{sha}","offset":{offset},"complete":{complete}}}"#),
    )
}

#[test]
fn a_blob_upload_resumes_at_the_server_offset_and_reads_conflicts_again() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let path = dir.path().join("blob");
    let content: Vec<u8> = (0..(BLOB_CHUNK + 10)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).map_err(|e| CoreError::io("blob", e))?;
    let mut up = BlobUpload::new(BlobReader::open(&path, None)?, &"AB".repeat(32))?;
    assert_eq!(up.step()?, BlobStep::Status);
    let (s, b) = status(5, false);
    assert_eq!(up.on_reply(s, b.as_bytes())?, BlobProgress::Continue);
    match up.step()? {
        BlobStep::Chunk {
            offset,
            total,
            body,
        } => {
            assert_eq!((offset, total), (5, content.len() as u64));
            assert_eq!(body, content[5..5 + BLOB_CHUNK]);
        }
        other => panic!("{other:?}"),
    }
    // Someone moved the offset: ask again.
    let conflict = br#"{"error":"conflict","message":"offset"}"#;
    assert_eq!(up.on_reply(409, conflict)?, BlobProgress::Continue);
    assert_eq!(up.step()?, BlobStep::Status);
    let (s, b) = status(content.len() as u64 - 3, false);
    up.on_reply(s, b.as_bytes())?;
    assert!(matches!(up.step()?, BlobStep::Chunk { ref body, .. } if body.len() == 3));
    let (s, b) = status(content.len() as u64, true);
    assert_eq!(up.on_reply(s, b.as_bytes())?, BlobProgress::Confirmed);
    // Another device's upload in progress: an error that leaves the blob pending.
    let mut up = BlobUpload::new(BlobReader::open(&path, None)?, &"ab".repeat(32))?;
    up.step()?;
    let (s, b) = status(0, false);
    up.on_reply(s, b.as_bytes())?;
    up.step()?;
    let e = up
        .on_reply(409, br#"{"error":"upload_in_progress","message":""}"#)
        .expect_err("in progress");
    assert!(blobs::stays_pending(&e), "{e:?}");
    let e = up
        .on_reply(403, br#"{"error":"forbidden","message":""}"#)
        .expect_err("refused");
    assert!(blobs::stays_pending(&e), "{e:?}");
    assert!(BlobUpload::new(BlobReader::open(&path, None)?, "xyz").is_err());
    Ok(())
}

#[test]
fn a_thumbnail_not_yet_on_the_server_is_skipped_and_a_throttled_one_fails() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    let mut m = machine(&store, 4);
    // Drive the machine to its thumbnail phase with two thumbnails to fetch.
    let mut fake = Fake::new();
    loop {
        match m.next(&store)? {
            Action::Send(req) => {
                let o = fake.answer(&req);
                m.handle(&store, o)?;
            }
            Action::Done(_) => break,
            other => panic!("{other:?}"),
        }
        if m.phase == Phase::Thumbnails {
            break;
        }
    }
    let t = |n: u8| Thumbnail {
        sha256: hex::encode([n; 32]),
        mime: "image/jpeg".into(),
        size: 10,
    };
    m.phase = Phase::Thumbnails;
    m.thumbnails = vec![t(1), t(2), t(3)].into();
    let not_found = CoreError::Server {
        status: 404,
        code: "not_found".into(),
        message: String::new(),
    };
    assert_eq!(m.next(&store)?, Action::FetchThumbnail(t(1)));
    m.handle(
        &store,
        Outcome::Thumbnail {
            result: Err(not_found),
            bytes: 0,
        },
    )?;
    assert_eq!(m.next(&store)?, Action::FetchThumbnail(t(2)));
    m.handle(
        &store,
        Outcome::Thumbnail {
            result: Ok(()),
            bytes: 10,
        },
    )?;
    assert_eq!(m.next(&store)?, Action::FetchThumbnail(t(3)));
    let throttled = CoreError::Server {
        status: 429,
        code: "rate_limited".into(),
        message: String::new(),
    };
    let err = m
        .handle(
            &store,
            Outcome::Thumbnail {
                result: Err(throttled),
                bytes: 0,
            },
        )
        .expect_err("fails the sync");
    assert!(matches!(err, CoreError::Server { status: 429, .. }));
    assert_eq!(m.report.thumbnails_fetched, 1);
    Ok(())
}

#[test]
fn progress_goes_forward_and_ends_done() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    new_case(&store, T0);
    let mut m = machine(&store, 4);
    let mut fake = Fake::new();
    let mut snaps = m.take_progress();
    loop {
        let a = m.next(&store)?;
        snaps.extend(m.take_progress());
        match a {
            Action::Done(r) => {
                assert_eq!(r.accepted, 1);
                break;
            }
            Action::Send(req) => {
                let o = fake.answer(&req);
                m.handle(&store, o)?;
            }
            other => panic!("{other:?}"),
        }
        snaps.extend(m.take_progress());
    }
    let rank = |p: SyncPhase| match p {
        SyncPhase::Records => 0,
        SyncPhase::DeviceKeys => 1,
        SyncPhase::Blobs => 2,
        SyncPhase::Done => 3,
    };
    assert_eq!(snaps.first().map(|p| p.phase), Some(SyncPhase::Records));
    assert_eq!(snaps.last().map(|p| p.phase), Some(SyncPhase::Done));
    for w in snaps.windows(2) {
        assert!(rank(w[0].phase) <= rank(w[1].phase));
        assert!(w[0].bytes_sent <= w[1].bytes_sent);
        assert!(w[0].docs_sent <= w[1].docs_sent);
    }
    assert_eq!(
        snaps.iter().filter(|p| p.phase == SyncPhase::Done).count(),
        1
    );
    assert!(snaps.iter().any(|p| p.docs_sent == 1));
    Ok(())
}

/// A small generated JPEG.
fn jpeg() -> Vec<u8> {
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(img.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
        .expect("jpeg");
    out
}

#[test]
fn blobs_go_up_originals_first_and_one_refused_for_now_stays_pending() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    let id = new_case(&store, T0);
    let file = dir.path().join("photo.jpg");
    std::fs::write(&file, jpeg()).map_err(|e| CoreError::io("photo", e))?;
    let entry = store.add_photo(
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
    let total = store.unconfirmed_blobs()?.len();
    assert!(total >= 2, "the original and its derived copies");
    let mut fake = Fake::new();
    // The original: refused for now (its record is not on the server yet, say).
    fake.blob_replies
        .push_back((403, r#"{"error":"forbidden","message":""}"#.into()));
    // The next: held by no one, one chunk, stored.
    fake.blob_replies.push_back(status(0, false));
    fake.blob_replies.push_back(status(1, true));
    // Any other: another device's upload is in progress.
    for _ in 2..total {
        fake.blob_replies.push_back(status(0, false));
        fake.blob_replies
            .push_back((409, r#"{"error":"upload_in_progress","message":""}"#.into()));
    }
    let mut m = machine(&store, 4);
    let report = run(&mut m, &store, &mut fake)?;
    assert!(report.complete);
    assert_eq!(report.blobs_uploaded, 1);
    assert_eq!(report.blobs_pending as usize, total - 1);
    match &fake.blob_requests[0] {
        Request::BlobStatus { sha256 } => assert_eq!(*sha256, entry.original.sha256),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        fake.blob_requests[2],
        Request::UploadChunk { offset: 0, .. }
    ));
    assert_eq!(store.unconfirmed_blobs()?.len(), total - 1);
    assert_eq!(m.progress.blobs_done as usize, total);
    assert_eq!(m.progress.blobs_total as usize, total);
    Ok(())
}
