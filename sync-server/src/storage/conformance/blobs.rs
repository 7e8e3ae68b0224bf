//! Conformance of [`Blobs`](crate::storage::Blobs): upload claims, blob rows, anchors.

use super::*;

/// Upload claims: of many devices claiming one blob's upload at once exactly one gets it; a
/// fresh session is not taken, an idle one is; release ends only the device's own session.
pub async fn upload_claims(s: Arc<dyn Storage>) -> StorageResult<()> {
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
        if t.await.map_err(|e| StorageError::Task(e.to_string()))?? {
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
pub async fn blobs(s: &dyn Storage) -> StorageResult<()> {
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
pub async fn blob_anchors(s: &dyn Storage) -> StorageResult<()> {
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
