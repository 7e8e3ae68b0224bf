//! The conformance suite every [`Storage`] backend must pass.
//!
//! Each check is an async function over `&dyn Storage` on an empty store. A backend's tests
//! run them all with [`storage_conformance_tests!`](crate::storage_conformance_tests):
//!
//! ```ignore
//! fieldcase_server::storage_conformance_tests!(async { my_backend_on_a_fresh_db().await });
//! ```

use super::*;
use crate::error::ServerError;
use std::sync::Arc;

fn doc_write(id: &str, unit: &str, expected: Option<Vec<u8>>, heads: u8) -> DocWrite {
    DocWrite {
        doc_id: id.into(),
        kind: RecordKind::Case,
        unit: unit.into(),
        party_hash: Some("p1".into()),
        expected_heads: expected,
        new_heads: vec![heads; 32],
        chunk: vec![heads; 4],
        replace: false,
        blob_refs: vec![format!("{:064x}", heads)],
        numbers: vec![],
    }
}

/// Units, users and settings round-trip; duplicates are conflicts.
pub async fn directory(s: &dyn Storage) -> Result<()> {
    s.create_unit(Unit {
        path: "luan".into(),
        name: "Lu'an".into(),
    })
    .await?;
    assert!(matches!(
        s.create_unit(Unit {
            path: "luan".into(),
            name: "x".into()
        })
        .await,
        Err(ServerError::Conflict(_))
    ));
    let u = User {
        id: "o1".into(),
        name: "Officer One".into(),
        role: Role::Officer,
        unit: "luan".into(),
        created_at_ms: 1,
    };
    s.create_user(u.clone()).await?;
    assert_eq!(s.user("o1").await?, Some(u));
    assert!(s.create_user(s.users().await?[0].clone()).await.is_err());
    assert_eq!(s.units().await?.len(), 1);
    assert_eq!(s.setting("k").await?, None);
    assert_eq!(s.setting_or_insert("k", vec![1]).await?, vec![1]);
    assert_eq!(s.setting_or_insert("k", vec![2]).await?, vec![1]);
    assert!(s.delete_setting("k").await?);
    assert!(!s.delete_setting("k").await?);
    assert_eq!(s.setting("k").await?, None);
    assert_eq!(s.setting_or_insert("k", vec![3]).await?, vec![3]);
    Ok(())
}

/// A code enrols one device once; expired and reused codes fail; revocation sticks.
pub async fn enrolment(s: &dyn Storage) -> Result<()> {
    s.create_user(User {
        id: "v1".into(),
        name: "V".into(),
        role: Role::Volunteer,
        unit: "luan/a".into(),
        created_at_ms: 1,
    })
    .await?;
    let code = EnrolmentCode {
        code_hash: [7; 32],
        user_id: "v1".into(),
        created_at_ms: 1,
        expires_at_ms: 100,
    };
    s.create_enrolment_code(code).await?;
    let dev = |id: &str, h: u8| NewDevice {
        id: id.into(),
        label: "phone".into(),
        public_key: "00".into(),
        credential_hash: [h; 32],
        enrolled_at_ms: 5,
    };
    assert!(matches!(
        s.redeem_enrolment_code([7; 32], 100, dev("d0", 1)).await,
        Err(ServerError::InvalidCode)
    ));
    let d = s.redeem_enrolment_code([7; 32], 50, dev("d1", 2)).await?;
    assert_eq!(d.user_id, "v1");
    assert!(matches!(
        s.redeem_enrolment_code([7; 32], 51, dev("d2", 3)).await,
        Err(ServerError::InvalidCode)
    ));
    let auth = s.device_by_credential([2; 32]).await?;
    assert_eq!(auth.as_ref().map(|a| a.user.role), Some(Role::Volunteer));
    assert_eq!(s.device_by_credential([3; 32]).await?, None);
    s.touch_device("d1", 60).await?;
    assert_eq!(s.devices().await?[0].revoke_wipe, None);
    assert!(s.revoke_device("d1", 70, WipeScope::All).await?);
    assert!(!s.revoke_device("nope", 70, WipeScope::All).await?);
    // A second revocation keeps the time and takes the new mode.
    assert!(s.revoke_device("d1", 80, WipeScope::SyncedOnly).await?);
    let devices = s.devices().await?;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].revoked_at_ms, Some(70));
    assert_eq!(devices[0].revoke_wipe, Some(WipeScope::SyncedOnly));
    let auth = s.device_by_credential([2; 32]).await?;
    assert_eq!(
        auth.map(|a| (a.device.revoke_wipe, a.user.role)),
        Some((Some(WipeScope::SyncedOnly), Role::Volunteer))
    );
    assert_eq!(devices[0].last_seen_ms, Some(60));
    Ok(())
}

/// Actor bindings (first wins) and the quarantine of held changes.
pub async fn actors_and_quarantine(s: &dyn Storage) -> Result<()> {
    s.create_unit(Unit {
        path: "u".into(),
        name: "U".into(),
    })
    .await?;
    s.create_user(User {
        id: "OF-1".into(),
        name: "A".into(),
        role: Role::Officer,
        unit: "u".into(),
        created_at_ms: 1,
    })
    .await?;
    for (n, id) in [(1u8, "d1"), (2, "d2")] {
        s.create_enrolment_code(EnrolmentCode {
            code_hash: [n; 32],
            user_id: "OF-1".into(),
            created_at_ms: 1,
            expires_at_ms: 100,
        })
        .await?;
        let device = NewDevice {
            id: id.into(),
            label: "phone".into(),
            public_key: "00".into(),
            credential_hash: [n; 32],
            enrolled_at_ms: 2,
        };
        s.redeem_enrolment_code([n; 32], 2, device).await?;
    }
    let actor = "00112233445566778899aabbccddeeff";
    assert_eq!(s.bind_actor(actor, "d1", 3, "enrol").await?, "d1");
    assert_eq!(s.bind_actor(actor, "d2", 4, "sync").await?, "d1");
    assert_eq!(s.bind_actor("ff", "d2", 4, "sync").await?, "d2");
    assert!(s.revoked_actors().await?.is_empty());
    s.revoke_device("d1", 50, WipeScope::All).await?;
    assert_eq!(
        s.revoked_actors().await?,
        vec![RevokedActor {
            actor: actor.into(),
            device_id: "d1".into(),
            revoked_at_ms: 50,
            revoke_wipe: Some(WipeScope::All),
        }]
    );
    let q = NewQuarantine {
        doc_id: "doc".into(),
        kind: RecordKind::Case,
        sender_device: "d2".into(),
        sender_user: "OF-1".into(),
        revoked_devices: "d1".into(),
        received_at_ms: 60,
        hashes: "aa bb".into(),
        changes: vec![1, 2, 3],
    };
    let id = s
        .add_quarantine(q.clone())
        .await?
        .ok_or_else(|| ServerError::Database("not added".into()))?;
    assert_eq!(s.add_quarantine(q.clone()).await?, None, "duplicate kept");
    let item = s
        .quarantine_item(id)
        .await?
        .ok_or_else(|| ServerError::NotFound("item".into()))?;
    assert_eq!(
        (item.status, item.changes.as_slice(), item.hashes.as_str()),
        (QuarantineStatus::Pending, &[1u8, 2, 3][..], "aa bb")
    );
    assert_eq!(s.quarantine(false).await?.len(), 1);
    assert!(
        s.settle_quarantine(id, QuarantineStatus::Released, 70)
            .await?
    );
    assert!(
        !s.settle_quarantine(id, QuarantineStatus::Rejected, 71)
            .await?
    );
    assert!(s.quarantine(false).await?.is_empty());
    let all = s.quarantine(true).await?;
    assert_eq!(
        (all.len(), all[0].status, all[0].settled_at_ms),
        (1, QuarantineStatus::Released, Some(70))
    );
    // Settled, the same changes may be held again (carried in once more).
    assert!(s.add_quarantine(q).await?.is_some());
    Ok(())
}

/// Document writes: optimistic concurrency, chunks concatenate, replace compacts, the feed is
/// ordered and scoped.
pub async fn documents_and_feed(s: &dyn Storage) -> Result<()> {
    assert_eq!(s.latest_seq().await?, 0);
    let a = s.write_doc(doc_write("a", "luan/x", None, 1)).await?;
    let b = s.write_doc(doc_write("b", "luan/y", None, 2)).await?;
    assert!(b > a);
    assert!(matches!(
        s.write_doc(doc_write("a", "luan/x", None, 3)).await,
        Err(ServerError::Conflict(_))
    ));
    assert!(matches!(
        s.write_doc(doc_write("a", "luan/x", Some(vec![9; 32]), 3))
            .await,
        Err(ServerError::Conflict(_))
    ));
    let a2 = s
        .write_doc(doc_write("a", "luan/x", Some(vec![1; 32]), 3))
        .await?;
    assert!(a2 > b);
    let doc = s.load_doc("a").await?;
    let doc = doc.ok_or_else(|| ServerError::NotFound("a".into()))?;
    assert_eq!(doc.bytes, [vec![1u8; 4], vec![3u8; 4]].concat());
    assert_eq!(doc.chunk_count, 2);
    assert_eq!(doc.heads, vec![3; 32]);
    let mut w = doc_write("a", "luan/x", Some(vec![3; 32]), 4);
    w.replace = true;
    s.write_doc(w).await?;
    let doc = s.load_doc("a").await?;
    assert_eq!(doc.map(|d| (d.bytes, d.chunk_count)), Some((vec![4; 4], 1)));
    assert_eq!(s.doc_count().await?, 2);
    assert_eq!(
        s.docs_by_party("p1").await?,
        vec!["a".to_string(), "b".to_string()]
    );

    let latest = s.latest_seq().await?;
    let q = |scopes: Vec<&str>, kinds: Vec<RecordKind>, after: i64| FeedQuery {
        after,
        upto: latest,
        scopes: scopes.into_iter().map(String::from).collect(),
        kinds,
        limit: 10,
    };
    let all = s.feed(q(vec!["luan"], vec![RecordKind::Case], 0)).await?;
    assert_eq!(
        all.iter().map(|i| i.doc_id.as_str()).collect::<Vec<_>>(),
        vec!["b", "a"]
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let x = s.feed(q(vec!["luan/x"], vec![RecordKind::Case], 0)).await?;
    assert_eq!(x.len(), 1);
    // "luan/x" must not match "luan/xy".
    s.write_doc(doc_write("c", "luan/xy", None, 5)).await?;
    let x = s.feed(q(vec!["luan/x"], vec![RecordKind::Case], 0)).await?;
    assert_eq!(x.len(), 1);
    let none = s
        .feed(q(vec!["luan"], vec![RecordKind::Demonstration], 0))
        .await?;
    assert!(none.is_empty());
    let after = s
        .feed(q(vec!["luan"], vec![RecordKind::Case], latest))
        .await?;
    assert!(after.is_empty());
    Ok(())
}

/// Concurrent writers: every write gets a distinct feed position, and the positions are dense.
pub async fn concurrent_feed_order(s: Arc<dyn Storage>) -> Result<()> {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.write_doc(doc_write(&format!("d{i:02}"), "u", None, 1))
                .await
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.map_err(|e| ServerError::Task(e.to_string()))??);
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 16);
    assert_eq!(s.latest_seq().await?, seqs[15]);
    Ok(())
}

/// Upload claims: of many devices claiming one blob's upload at once exactly one gets it; a
/// fresh session is not taken, an idle one is; release ends only the device's own session.
pub async fn upload_claims(s: Arc<dyn Storage>) -> Result<()> {
    let sha = format!("{:064x}", 77);
    let session = |device: &str, at: i64| UploadSession {
        sha256: sha.clone(),
        device_id: device.into(),
        received: 0,
        total: 100,
        updated_at_ms: at,
    };
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (s, claim) = (s.clone(), session(&format!("d{i}"), 1_000));
        tasks.push(tokio::spawn(async move {
            s.claim_upload_session(claim, 0).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.map_err(|e| ServerError::Task(e.to_string()))?? {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one claim takes");
    let owner = s.upload_session(&sha).await?.map(|u| u.device_id);
    // Not idle before 500: kept; idle before 2000: taken over.
    assert!(!s.claim_upload_session(session("late", 1_100), 500).await?);
    assert_eq!(s.upload_session(&sha).await?.map(|u| u.device_id), owner);
    assert!(
        s.claim_upload_session(session("late", 5_000), 2_000)
            .await?
    );
    s.release_upload_session(&sha, "someone-else").await?;
    assert!(s.upload_session(&sha).await?.is_some());
    s.release_upload_session(&sha, "late").await?;
    assert_eq!(s.upload_session(&sha).await?, None);
    Ok(())
}

/// Blobs, upload sessions and blob references by scope and kind.
pub async fn blobs(s: &dyn Storage) -> Result<()> {
    let sha = format!("{:064x}", 1);
    assert_eq!(s.blob(&sha).await?, None);
    s.put_upload_session(UploadSession {
        sha256: sha.clone(),
        device_id: "d".into(),
        received: 10,
        total: 20,
        updated_at_ms: 1,
    })
    .await?;
    assert_eq!(s.upload_session(&sha).await?.map(|u| u.received), Some(10));
    let rec = BlobRecord {
        sha256: sha.clone(),
        size: 20,
        stored_at_ms: 2,
        device_id: "d".into(),
    };
    s.insert_blob(rec.clone()).await?;
    s.insert_blob(rec.clone()).await?;
    assert_eq!(s.blob(&sha).await?, Some(rec));
    assert_eq!(s.upload_session(&sha).await?, None);
    s.write_doc(doc_write("a", "luan/x", None, 1)).await?;
    let scopes = |v: &str| vec![v.to_string()];
    assert!(
        s.blob_referenced(&sha, &scopes("luan"), &[RecordKind::Case])
            .await?
    );
    assert!(
        !s.blob_referenced(&sha, &scopes("luan/y"), &[RecordKind::Case])
            .await?
    );
    assert!(
        !s.blob_referenced(&sha, &scopes("luan"), &[RecordKind::Demonstration])
            .await?
    );
    Ok(())
}

/// Blob anchors: a blob is readable through the documents it was bound to at upload, only
/// while they still refer to it, and only within the reader's kinds and scope; a document
/// that names the hash after the binding grants nothing.
pub async fn blob_anchors(s: &dyn Storage) -> Result<()> {
    let sha = format!("{:064x}", 7);
    let scopes = |v: &str| vec![v.to_string()];
    let mut case = doc_write("case", "luan/x", None, 7);
    case.kind = RecordKind::Case;
    s.write_doc(case.clone()).await?;
    // Another unit's document refers to it too; the uploader (scope luan/x) cannot write it.
    let mut other = doc_write("other", "luan/y", None, 7);
    other.kind = RecordKind::Demonstration;
    s.write_doc(other).await?;
    assert!(
        !s.blob_readable(&sha, &scopes("luan"), &[RecordKind::Case])
            .await?,
        "nothing is readable before an upload binds it"
    );
    let bound = s
        .anchor_blob(&sha, "dev-a", &scopes("luan/x"), &[RecordKind::Case], 5)
        .await?;
    assert_eq!(bound, 1);
    // Binding again binds nothing new.
    assert_eq!(
        s.anchor_blob(&sha, "dev-a", &scopes("luan/x"), &[RecordKind::Case], 6)
            .await?,
        0
    );
    assert!(
        s.blob_readable(&sha, &scopes("luan"), &[RecordKind::Case])
            .await?
    );
    assert!(
        s.blob_readable(
            &sha,
            &scopes("luan/x"),
            &[RecordKind::Case, RecordKind::Party]
        )
        .await?
    );
    assert!(
        !s.blob_readable(
            &sha,
            &scopes("luan/y"),
            &[RecordKind::Case, RecordKind::Demonstration]
        )
        .await?,
        "the other unit's document was not bound"
    );
    assert!(
        !s.blob_readable(&sha, &scopes("luan"), &[RecordKind::Demonstration])
            .await?,
        "a volunteer's kinds do not reach the case"
    );
    // A later document naming the hash, in the reader's own scope, grants nothing.
    let mut named = doc_write("named", "luan/x", None, 7);
    named.kind = RecordKind::Demonstration;
    s.write_doc(named).await?;
    assert!(
        !s.blob_readable(&sha, &scopes("luan/x"), &[RecordKind::Demonstration])
            .await?
    );
    // The bound document drops the reference: no longer readable through it.
    let mut dropped = case;
    dropped.expected_heads = Some(dropped.new_heads.clone());
    dropped.new_heads = vec![8; 32];
    dropped.blob_refs = vec![];
    s.write_doc(dropped).await?;
    assert!(
        !s.blob_readable(&sha, &scopes("luan"), &[RecordKind::Case])
            .await?
    );
    Ok(())
}

/// Listings for operators: document ids, blobs and unfinished uploads.
pub async fn listings(s: &dyn Storage) -> Result<()> {
    assert!(s.doc_ids().await?.is_empty());
    s.write_doc(doc_write("b", "luan/x", None, 1)).await?;
    s.write_doc(doc_write("a", "luan/y", None, 2)).await?;
    assert_eq!(s.doc_ids().await?, vec!["a".to_string(), "b".to_string()]);
    let session = |sha: &str| UploadSession {
        sha256: sha.into(),
        device_id: "d1".into(),
        received: 1,
        total: 9,
        updated_at_ms: 3,
    };
    s.put_upload_session(session(&"b".repeat(64))).await?;
    s.put_upload_session(session(&"a".repeat(64))).await?;
    let sessions = s.upload_sessions().await?;
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].sha256, "a".repeat(64));
    let rec = BlobRecord {
        sha256: "a".repeat(64),
        size: 9,
        stored_at_ms: 4,
        device_id: "d1".into(),
    };
    s.insert_blob(rec.clone()).await?;
    assert_eq!(s.all_blobs().await?, vec![rec]);
    assert_eq!(s.upload_sessions().await?.len(), 1);
    Ok(())
}

/// Concurrent writers of one document: exactly one of the writers that read the same heads
/// wins, the others get a conflict, and the stored document has one chunk per win.
pub async fn concurrent_same_doc(s: Arc<dyn Storage>) -> Result<()> {
    s.write_doc(doc_write("x", "u", None, 1)).await?;
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.write_doc(doc_write("x", "u", Some(vec![1; 32]), 10 + i))
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.map_err(|e| ServerError::Task(e.to_string()))? {
            Ok(_) => wins += 1,
            Err(ServerError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    assert_eq!(wins, 1);
    let doc = s.load_doc("x").await?;
    assert_eq!(doc.map(|d| d.chunk_count), Some(2));
    // Two creators of one new id: one wins.
    let a = s.clone();
    let b = s.clone();
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { a.write_doc(doc_write("y", "u", None, 1)).await }),
        tokio::spawn(async move { b.write_doc(doc_write("y", "u", None, 2)).await }),
    );
    let ok = [ra, rb]
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(_))))
        .count();
    assert_eq!(ok, 1);
    Ok(())
}

/// Batched writes: each document is checked on its own (a stale or repeated one is left out
/// and the rest written), outcomes and feed positions follow the batch order, and the written
/// documents read back like single writes.
pub async fn batch_writes(s: &dyn Storage) -> Result<()> {
    s.write_doc(doc_write("a", "luan/x", None, 1)).await?;
    let out = s
        .write_docs(vec![
            doc_write("q", "luan/x", None, 2),
            doc_write("a", "luan/x", Some(vec![9; 32]), 3),
            doc_write("p", "luan/x", None, 4),
            doc_write("q", "luan/x", None, 5),
            doc_write("a", "luan/x", Some(vec![1; 32]), 6),
        ])
        .await?;
    let seqs: Vec<i64> = out
        .iter()
        .filter_map(|o| match o {
            WriteOutcome::Written(seq) => Some(*seq),
            WriteOutcome::Conflict => None,
        })
        .collect();
    assert_eq!(
        out.iter()
            .map(|o| matches!(o, WriteOutcome::Written(_)))
            .collect::<Vec<_>>(),
        vec![true, false, true, false, true]
    );
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(s.latest_seq().await?, seqs[2]);
    let q = s.load_doc("q").await?;
    assert_eq!(
        q.map(|d| (d.bytes, d.heads)),
        Some((vec![2; 4], vec![2; 32]))
    );
    let a = s.load_doc("a").await?;
    assert_eq!(
        a.map(|d| (d.bytes, d.chunk_count)),
        Some(([vec![1u8; 4], vec![6u8; 4]].concat(), 2))
    );
    assert_eq!(s.doc_count().await?, 3);
    // Many at once: in the order asked, a missing one as `None`, one named twice twice.
    let ids: Vec<String> = ["p", "zz", "a", "q", "a"].map(String::from).to_vec();
    let many = s.load_docs(&ids).await?;
    assert_eq!(many.len(), 5);
    assert_eq!(
        many.iter()
            .map(|d| d.as_ref().map(|d| d.doc_id.as_str()))
            .collect::<Vec<_>>(),
        vec![Some("p"), None, Some("a"), Some("q"), Some("a")]
    );
    for (one, id) in many.iter().zip(&ids) {
        assert_eq!(one, &s.load_doc(id).await?);
    }
    assert!(s.load_docs(&[]).await?.is_empty());
    let feed = s
        .feed(FeedQuery {
            after: 0,
            upto: s.latest_seq().await?,
            scopes: vec!["luan".into()],
            kinds: vec![RecordKind::Case],
            limit: 10,
        })
        .await?;
    assert_eq!(
        feed.iter().map(|i| i.doc_id.as_str()).collect::<Vec<_>>(),
        vec!["q", "p", "a"]
    );
    // A batch where every write is stale writes nothing and takes no feed position.
    let latest = s.latest_seq().await?;
    let out = s
        .write_docs(vec![doc_write("p", "luan/x", Some(vec![7; 32]), 8)])
        .await?;
    assert_eq!(out, vec![WriteOutcome::Conflict]);
    assert_eq!(s.latest_seq().await?, latest);
    Ok(())
}

/// Concurrent batches over the same documents, in opposite orders: no deadlock or error, each
/// document is won by exactly one writer of the heads it read, and the feed stays dense.
pub async fn concurrent_batches(s: Arc<dyn Storage>) -> Result<()> {
    let ids: Vec<String> = (0..10).map(|i| format!("m{i:02}")).collect();
    let first: Vec<DocWrite> = ids.iter().map(|id| doc_write(id, "u", None, 1)).collect();
    s.write_docs(first).await?;
    let mut tasks = Vec::new();
    for t in 0..6u8 {
        let s = s.clone();
        let mut batch: Vec<DocWrite> = ids
            .iter()
            .map(|id| doc_write(id, "u", Some(vec![1; 32]), 10 + t))
            .collect();
        if t % 2 == 1 {
            batch.reverse();
        }
        tasks.push(tokio::spawn(async move { s.write_docs(batch).await }));
    }
    let mut wins = std::collections::BTreeMap::new();
    for t in tasks {
        let out = t.await.map_err(|e| ServerError::Task(e.to_string()))??;
        assert_eq!(out.len(), ids.len());
        for o in out {
            if let WriteOutcome::Written(seq) = o {
                *wins.entry(seq).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(wins.len(), ids.len(), "one win per document");
    assert!(
        wins.values().all(|n| *n == 1),
        "feed positions are distinct"
    );
    for id in &ids {
        let doc = s.load_doc(id).await?;
        assert_eq!(doc.map(|d| d.chunk_count), Some(2));
    }
    assert_eq!(s.latest_seq().await?, 2 * ids.len() as i64);
    Ok(())
}

/// Login tokens are single-use and expire; sessions expire and end.
pub async fn web_sessions(s: &dyn Storage) -> Result<()> {
    let user = User {
        id: "s1".into(),
        name: "Supervisor".into(),
        role: Role::Supervisor,
        unit: "luan".into(),
        created_at_ms: 1,
    };
    s.create_user(user.clone()).await?;
    assert!(matches!(
        s.create_login_token(LoginToken {
            token_hash: [1; 32],
            user_id: "nobody".into(),
            created_at_ms: 1,
            expires_at_ms: 100,
        })
        .await,
        Err(ServerError::NotFound(_))
    ));
    s.create_login_token(LoginToken {
        token_hash: [2; 32],
        user_id: "s1".into(),
        created_at_ms: 1,
        expires_at_ms: 100,
    })
    .await?;
    let session = |h: u8| WebSession {
        session_hash: [h; 32],
        created_at_ms: 10,
        expires_at_ms: 1_000,
    };
    assert!(matches!(
        s.redeem_login_token([2; 32], 100, session(9)).await,
        Err(ServerError::InvalidCode)
    ));
    assert_eq!(s.redeem_login_token([2; 32], 10, session(3)).await?, user);
    assert!(matches!(
        s.redeem_login_token([2; 32], 11, session(4)).await,
        Err(ServerError::InvalidCode)
    ));
    assert_eq!(s.session_user([4; 32], 11).await?, None);
    assert_eq!(s.session_user([9; 32], 11).await?, None);
    assert_eq!(s.session_user([3; 32], 11).await?, Some(user));
    assert_eq!(s.session_user([3; 32], 1_000).await?, None);
    s.end_session([3; 32]).await?;
    assert_eq!(s.session_user([3; 32], 11).await?, None);
    Ok(())
}

/// The audit chain: appends (also concurrent ones) form one verifiable chain with a signed head.
pub async fn audit_chain(s: Arc<dyn Storage>) -> Result<()> {
    let key = SigningKey::from_bytes(&[9; 32]);
    assert_eq!(s.audit_head().await?, None);
    let event = |i: i64| AuditEvent {
        at_ms: i,
        actor: format!("u{i}"),
        action: "view".into(),
        case_id: (i % 2 == 0).then(|| format!("c{i}")),
        detail: String::new(),
    };
    let first = s.append_audit(event(1), &key).await?;
    assert_eq!(first.seq, 1);
    let mut tasks = Vec::new();
    for i in 2..=9 {
        let s = s.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(
            async move { s.append_audit(event(i), &key).await },
        ));
    }
    for t in tasks {
        t.await.map_err(|e| ServerError::Task(e.to_string()))??;
    }
    let entries = s.audit_entries().await?;
    assert_eq!(entries.len(), 9);
    assert_eq!(entries[0], first);
    let head = s.audit_head().await?;
    assert_eq!(head.as_ref().map(|h| h.seq), Some(9));
    let n = crate::audit::verify(&entries, head.as_ref(), &key.verifying_key())
        .map_err(|e| ServerError::Database(e.to_string()))?;
    assert_eq!(n, 9);

    // A batch continues the chain in order, in one write; an empty batch writes nothing.
    assert!(s.append_audits(Vec::new(), &key).await?.is_empty());
    let batch = s
        .append_audits((10..=12).map(event).collect(), &key)
        .await?;
    assert_eq!(
        batch.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![10, 11, 12]
    );
    let entries = s.audit_entries().await?;
    let head = s.audit_head().await?;
    assert_eq!(head.as_ref().map(|h| h.seq), Some(12));
    let n = crate::audit::verify(&entries, head.as_ref(), &key.verifying_key())
        .map_err(|e| ServerError::Database(e.to_string()))?;
    assert_eq!(n, 12);
    Ok(())
}

/// Published catalogues: stored once per version with one content, each newer than the last
/// (dotted numbers, not text order), listed oldest first; a repeat of the same content is
/// harmless and changes nothing.
pub async fn catalogues(s: &dyn Storage) -> Result<()> {
    use super::catalogue::PublishedCatalogue;
    let c = |version: &str, digest: &str| PublishedCatalogue {
        version: version.into(),
        digest: digest.into(),
        signature: "ab".repeat(64),
        published_at_ms: 7,
        size: 3,
        bundle: vec![1, 2, 3],
    };
    assert_eq!(s.latest_catalogue().await?, None);
    assert!(s.published_catalogues().await?.is_empty());
    assert!(s.publish_catalogue(c("2026.9.1", "d1")).await?);
    assert!(!s.publish_catalogue(c("2026.9.1", "d1")).await?);
    assert!(matches!(
        s.publish_catalogue(c("2026.9.1", "other")).await,
        Err(ServerError::Conflict(_))
    ));
    // 2026.10.1 sorts before 2026.9.1 as text, after it as a version.
    assert!(s.publish_catalogue(c("2026.10.1", "d2")).await?);
    for older in ["2026.9.5", "2026.10.1.0", "2025.12.31"] {
        assert!(
            matches!(
                s.publish_catalogue(c(older, "d3")).await,
                Err(ServerError::Conflict(_))
            ),
            "{older}"
        );
    }
    assert!(s.publish_catalogue(c("not-a-version", "d4")).await.is_err());
    assert_eq!(
        s.latest_catalogue().await?,
        Some(("2026.10.1".to_string(), "d2".to_string()))
    );
    let all = s.published_catalogues().await?;
    let versions: Vec<&str> = all.iter().map(|p| p.version.as_str()).collect();
    assert_eq!(versions, ["2026.9.1", "2026.10.1"]);
    assert_eq!(all[1], c("2026.10.1", "d2"));
    Ok(())
}

/// Runs the whole suite as `#[tokio::test]`s; `$make` is an expression (usually an `async`
/// block) giving a fresh, empty `Arc<dyn Storage>`-compatible backend each time.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($make:expr) => {
        #[tokio::test]
        async fn conformance_directory() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::directory(&s).await
        }
        #[tokio::test]
        async fn conformance_actors_and_quarantine() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::actors_and_quarantine(&s).await
        }
        #[tokio::test]
        async fn conformance_enrolment() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::enrolment(&s).await
        }
        #[tokio::test]
        async fn conformance_documents_and_feed() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::documents_and_feed(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_concurrent_feed_order() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::concurrent_feed_order(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_listings() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::listings(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_concurrent_same_doc() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::concurrent_same_doc(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_web_sessions() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::web_sessions(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_audit_chain() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::audit_chain(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_batch_writes() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::batch_writes(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_concurrent_batches() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::concurrent_batches(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_blob_anchors() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::blob_anchors(&s).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_upload_claims() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::upload_claims(std::sync::Arc::new(s)).await
        }
        #[tokio::test]
        async fn conformance_catalogues() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::catalogues(&s).await
        }
        #[tokio::test]
        async fn conformance_blobs() -> $crate::error::Result<()> {
            let s = $make.await;
            $crate::storage::conformance::blobs(&s).await
        }
    };
}
