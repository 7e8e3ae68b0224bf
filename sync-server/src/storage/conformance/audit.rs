//! Conformance of [`AuditTrail`](crate::storage::AuditTrail) and
//! [`CatalogueStore`](crate::storage::CatalogueStore).

use super::*;
use crate::audit::AuditEvent;

/// The audit chain: appends (also concurrent ones) form one verifiable chain with a signed head.
pub async fn audit_chain(s: Arc<dyn Storage>) -> StorageResult<()> {
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
        t.await.map_err(|e| StorageError::Task(e.to_string()))??;
    }
    let entries = s.audit_entries().await?;
    assert_eq!(entries.len(), 9);
    assert_eq!(entries[0], first);
    let head = s.audit_head().await?;
    assert_eq!(head.as_ref().map(|h| h.seq), Some(9));
    let n = crate::audit::verify(&entries, head.as_ref(), &key.verifying_key())
        .map_err(|e| StorageError::Database(e.to_string()))?;
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
        .map_err(|e| StorageError::Database(e.to_string()))?;
    assert_eq!(n, 12);
    Ok(())
}

/// Published catalogues: stored once per version with one content, each newer than the last
/// (dotted numbers, not text order), listed oldest first; a repeat of the same content is
/// harmless and changes nothing.
pub async fn catalogues(s: &dyn Storage) -> StorageResult<()> {
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
        Err(StorageError::Conflict(_))
    ));
    // 2026.10.1 sorts before 2026.9.1 as text, after it as a version.
    assert!(s.publish_catalogue(c("2026.10.1", "d2")).await?);
    for older in ["2026.9.5", "2026.10.1.0", "2025.12.31"] {
        assert!(
            matches!(
                s.publish_catalogue(c(older, "d3")).await,
                Err(StorageError::Conflict(_))
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
