//! Evidence upload: chunked, resumable, verified, stored once, only for referenced blobs.

use fieldcase_core::CoreError;
use fieldcase_core::model::RecordKind;
use fieldcase_server::storage::{DocWrite, Role};
use fieldcase_tests::harness::{Phone, TestResult, TestServer};
use sha2::{Digest, Sha256};

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

/// Records on the server that a document of `unit` refers to `sha` (the evidence engine adds
/// such entries on phones; here the reference is written directly).
async fn reference(s: &TestServer, unit: &str, sha: &str) -> TestResult {
    s.storage()
        .write_doc(DocWrite {
            doc_id: fieldcase_core::ids::new_id(),
            kind: RecordKind::Case,
            unit: unit.into(),
            party_hash: None,
            expected_heads: None,
            new_heads: vec![1; 32],
            chunk: vec![],
            replace: true,
            blob_refs: vec![sha.into()],
            numbers: vec![],
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_is_chunked_resumable_verified_and_scoped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let a = Phone::enrol(
        &s,
        &s.url(),
        dir.path(),
        "OF-A",
        Role::Officer,
        "luan/jinan/squad-1",
    )
    .await?;
    let bytes = pseudo_random(2 * 1024 * 1024 + 12_345);
    let sha = hex::encode(Sha256::digest(&bytes));
    let file = dir.path().join("photo.jpg");
    std::fs::write(&file, &bytes)?;

    // Not referenced by any document the device may write: refused.
    let refused = a.client.upload_blob(&a.store, &file, &sha).await;
    assert!(
        matches!(refused, Err(CoreError::Server { status: 403, .. })),
        "{refused:?}"
    );
    reference(&s, "luan/yuan", &sha).await?;
    assert!(
        a.client.upload_blob(&a.store, &file, &sha).await.is_err(),
        "other unit"
    );
    reference(&s, "luan/jinan/squad-1", &sha).await?;

    // Send the first 100 KiB by hand, as an interrupted upload would have.
    let cred = String::from_utf8(a.store.meta("sync_credential")?.ok_or("cred")?)?;
    let http = fieldcase_tests::harness::raw_http()?;
    let part = http
        .put(format!(
            "{}/v1/blobs/{sha}?offset=0&total={}",
            s.url(),
            bytes.len()
        ))
        .bearer_auth(&cred)
        .body(bytes[..100 * 1024].to_vec())
        .send()
        .await?;
    assert!(part.status().is_success());
    let st = a.client.blob_status(&a.store, &sha).await?;
    assert_eq!((st.offset, st.complete), (100 * 1024, false));
    // A chunk at the wrong offset is refused with 409.
    let wrong = http
        .put(format!(
            "{}/v1/blobs/{sha}?offset=5&total={}",
            s.url(),
            bytes.len()
        ))
        .bearer_auth(&cred)
        .body(vec![0u8; 10])
        .send()
        .await?;
    assert_eq!(wrong.status().as_u16(), 409);

    a.client.upload_blob(&a.store, &file, &sha).await?;
    let st = a.client.blob_status(&a.store, &sha).await?;
    assert!(st.complete);
    let stored = s
        .state
        .blobs
        .as_folder()
        .ok_or("folder store")?
        .final_path(&sha);
    assert_eq!(std::fs::read(&stored)?, bytes);
    // Again: stored once, answered at once.
    a.client.upload_blob(&a.store, &file, &sha).await?;

    // Content that does not match its name is discarded.
    let liar = pseudo_random(1000);
    let claimed = hex::encode(Sha256::digest(b"something else"));
    reference(&s, "luan/jinan/squad-1", &claimed).await?;
    let liar_file = dir.path().join("liar.bin");
    std::fs::write(&liar_file, &liar)?;
    let r = a.client.upload_blob(&a.store, &liar_file, &claimed).await;
    assert!(
        matches!(r, Err(CoreError::Server { status: 400, .. })),
        "{r:?}"
    );
    let st = a.client.blob_status(&a.store, &claimed).await?;
    assert_eq!((st.offset, st.complete), (0, false));
    Ok(())
}
