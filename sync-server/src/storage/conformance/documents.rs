//! Conformance of [`Documents`](crate::storage::Documents): optimistic concurrency, batches,
//! the feed.

use super::*;

/// Document writes: optimistic concurrency, chunks concatenate, replace compacts, the feed is
/// ordered and scoped.
pub async fn documents_and_feed(s: &dyn Storage) -> StorageResult<()> {
    assert_eq!(s.latest_seq().await?, 0);
    let a = s.write_doc(doc_write("a", "luan/x", None, 1)).await?;
    let b = s.write_doc(doc_write("b", "luan/y", None, 2)).await?;
    assert!(b > a);
    assert!(matches!(
        s.write_doc(doc_write("a", "luan/x", None, 3)).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        s.write_doc(doc_write("a", "luan/x", Some(vec![9; 32]), 3))
            .await,
        Err(StorageError::Conflict(_))
    ));
    let a2 = s
        .write_doc(doc_write("a", "luan/x", Some(vec![1; 32]), 3))
        .await?;
    assert!(a2 > b);
    let doc = s.load_doc("a").await?;
    let doc = doc.ok_or_else(|| StorageError::NotFound("a".into()))?;
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
pub async fn concurrent_feed_order(s: Arc<dyn Storage>) -> StorageResult<()> {
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
        seqs.push(t.await.map_err(|e| StorageError::Task(e.to_string()))??);
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 16);
    assert_eq!(s.latest_seq().await?, seqs[15]);
    Ok(())
}

/// Concurrent writers of one document: exactly one of the writers that read the same heads
/// wins, the others get a conflict, and the stored document has one chunk per win.
pub async fn concurrent_same_doc(s: Arc<dyn Storage>) -> StorageResult<()> {
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
        match t.await.map_err(|e| StorageError::Task(e.to_string()))? {
            Ok(_) => wins += 1,
            Err(StorageError::Conflict(_)) => {}
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
pub async fn batch_writes(s: &dyn Storage) -> StorageResult<()> {
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
pub async fn concurrent_batches(s: Arc<dyn Storage>) -> StorageResult<()> {
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
        let out = t.await.map_err(|e| StorageError::Task(e.to_string()))??;
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

/// Listings for operators: document ids, blobs and unfinished uploads.
pub async fn listings(s: &dyn Storage) -> StorageResult<()> {
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
    // Another device's upload is not among d1's.
    s.put_upload_session(UploadSession {
        device_id: "d2".into(),
        ..session(&"c".repeat(64))
    })
    .await?;
    let own = s.device_upload_sessions("d1").await?;
    assert_eq!(
        own.iter().map(|u| u.sha256.as_str()).collect::<Vec<_>>(),
        ["a".repeat(64), "b".repeat(64)]
    );
    assert_eq!(s.device_upload_sessions("d2").await?.len(), 1);
    assert!(s.device_upload_sessions("d3").await?.is_empty());
    let rec = BlobRecord {
        sha256: "a".repeat(64),
        size: 9,
        stored_at_ms: 4,
        device_id: "d1".into(),
    };
    s.insert_blob(rec.clone()).await?;
    assert_eq!(s.all_blobs().await?, vec![rec]);
    assert_eq!(s.upload_sessions().await?.len(), 2);
    assert_eq!(s.device_upload_sessions("d1").await?.len(), 1);
    Ok(())
}
