//! Documents of a reply that do not merge: set aside, the rest merged, the cursor kept.

use super::*;

/// A server that announces `ids` in its feed, then answers every want of them with bytes
/// that are not Automerge.
fn unreadable_server(ids: Vec<String>) -> Fake {
    Fake::answering(move |round, req| {
        let feed = ids
            .iter()
            .map(|id| FeedEntry {
                doc_id: id.clone(),
                kind: RecordKind::Case,
                heads: vec!["ab".repeat(32)],
            })
            .collect();
        let docs = req
            .docs
            .iter()
            .map(|d| DocResult {
                changes: b"not automerge".to_vec(),
                server_heads: vec!["ab".repeat(32)],
                ..result(d, DocStatus::Accepted, None)
            })
            .collect();
        let resp = if round == 0 {
            response(9, vec![], feed)
        } else {
            response(9, docs, vec![])
        };
        Some(ok_json(serde_json::to_vec(&resp).expect("json")))
    })
}

#[test]
fn an_unreadable_document_is_set_aside_and_the_cursor_stays() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    sync(&store, &mut Fake::new())?;
    let before = store.meta(META_CURSOR)?;
    let foreign = "0190b3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b".to_string();
    let mut fake = unreadable_server(vec![foreign.clone()]);
    let report = sync(&store, &mut fake)?;
    assert_eq!(fake.rounds[1].docs[0].doc_id, foreign, "asked for");
    assert_eq!(report.unreadable.len(), 1);
    assert_eq!(report.unreadable[0].doc_id, foreign);
    assert!(!report.complete);
    assert_eq!(store.meta(META_CURSOR)?, before, "the cursor did not move");
    Ok(())
}

#[test]
fn several_unreadable_documents_of_one_reply_are_all_set_aside() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| CoreError::io("tmp", e))?;
    let store = open(dir.path());
    sync(&store, &mut Fake::new())?;
    let ids = vec![
        "0190b3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b".to_string(),
        "0190b3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6c".to_string(),
    ];
    let report = sync(&store, &mut unreadable_server(ids.clone()))?;
    let mut aside: Vec<String> = report.unreadable.iter().map(|r| r.doc_id.clone()).collect();
    aside.sort();
    assert_eq!(aside, ids);
    assert!(!report.complete);
    Ok(())
}
