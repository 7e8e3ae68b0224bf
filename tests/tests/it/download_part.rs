//! What a download leaves in the phone's blob folder: a transfer broken by the network keeps
//! its partial file for the next attempt to resume, a download the server refuses outright
//! (not permitted, not held) keeps nothing, even a partial an earlier attempt left.

use fieldcase_core::CoreError;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer, capture, wav};
use fieldcase_tests::proxy::{Fault, FaultProxy};

const SQUAD: &str = "luan/jinan/squad-1";

/// The download temp files in a phone's blob folder, with their sizes.
fn partials(phone: &Phone) -> TestResult<Vec<(String, u64)>> {
    let tmp = phone.store.blob_dir().join("tmp");
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(&tmp) {
        for e in dir {
            let e = e?;
            out.push((
                e.file_name().to_string_lossy().into_owned(),
                e.metadata()?.len(),
            ));
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_download_leaves_no_partial_file_and_a_broken_one_keeps_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(&dir.path().join("server")).await?;
    let a = Phone::enrol(&s, &s.url(), dir.path(), "OF-A", Role::Officer, SQUAD).await?;
    let vol = Phone::enrol(&s, &s.url(), dir.path(), "VO-1", Role::Volunteer, SQUAD).await?;
    let proxy = FaultProxy::start(s.server.addr).await?;
    let mut b = Phone::enrol(&s, &s.url(), dir.path(), "OF-B", Role::Officer, SQUAD).await?;
    b.use_url(&format!("http://{}", proxy.addr))?;
    let case = a.case(None, T0)?;
    let file = dir.path().join("talk.wav");
    std::fs::write(&file, wav(3 * 1024 * 1024, 5))?;
    let sha = a
        .store
        .add_audio(&case, &file, capture("OF-A", T0), None)?
        .original
        .sha256;
    a.sync().await?;
    b.sync().await?;

    // Not permitted (a volunteer, a case file): refused, and nothing is left behind.
    let r = vol.client.download_blob(&vol.store, &sha).await;
    assert!(
        matches!(r, Err(CoreError::Server { status: 404, .. })),
        "{r:?}"
    );
    assert_eq!(partials(&vol)?, vec![], "refused: no partial file");

    // Broken every time after 64 KiB: the attempts give up, and what they received stays.
    proxy.set(Fault::CutResponse(64 * 1024));
    let r = b.client.download_blob(&b.store, &sha).await;
    assert!(matches!(r, Err(CoreError::Network { .. })), "{r:?}");
    let kept = partials(&b)?;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].0.ends_with(".part") && kept[0].1 > 0, "{kept:?}");

    // The server no longer holds it: the refusal removes the partial too.
    proxy.set(Fault::Pass);
    let server_copy = s
        .state
        .blobs
        .as_folder()
        .ok_or("folder store")?
        .final_path(&sha);
    let held = std::fs::read(&server_copy)?;
    std::fs::remove_file(&server_copy)?;
    let r = b.client.download_blob(&b.store, &sha).await;
    assert!(
        matches!(r, Err(CoreError::Server { status: 404, .. })),
        "{r:?}"
    );
    assert_eq!(
        partials(&b)?,
        vec![],
        "refused after a partial: nothing left"
    );
    assert!(!b.store.holds_blob(&sha)?);

    // Back on the server, it downloads whole.
    std::fs::write(&server_copy, &held)?;
    b.client.download_blob(&b.store, &sha).await?;
    assert!(b.store.holds_blob(&sha)?);
    assert_eq!(partials(&b)?, vec![]);
    Ok(())
}
