//! The server-side attacks of an enrolled phone holder or colleague (`fieldcase_tests::attacks`),
//! each against a real server over loopback; the battery's `attacks` family runs the same.

use fieldcase_tests::attacks;
use fieldcase_tests::harness::TestResult;

/// The memory bomb runs against the `fieldcase-server` binary, whose resident memory is read
/// from `/proc`; build it first (`cargo build -p fieldcase-server`) or set
/// `FIELDCASE_SERVER_BIN`. Without it the test fails: it never skips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_memory_bomb_is_refused_before_it_inflates() -> TestResult {
    let bin = fieldcase_tests::server_crash::find_server_bin().map_err(|e| e.0)?;
    let dir = tempfile::tempdir()?;
    let r = attacks::memory_bomb(dir.path(), &bin).await?;
    println!("memory_bomb: {r}");
    attacks::check_bomb(&r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_evidence_is_not_readable_by_naming_its_hash() -> TestResult {
    let dir = tempfile::tempdir()?;
    println!("{}", attacks::blob_by_reference(dir.path()).await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_uploads_are_bound_to_their_device() -> TestResult {
    let dir = tempfile::tempdir()?;
    println!("{}", attacks::upload_hijack(dir.path()).await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_a_raced_upload_has_exactly_one_owner_on_sqlite() -> TestResult {
    let dir = tempfile::tempdir()?;
    println!(
        "{}",
        attacks::upload_race(dir.path(), attacks::Backend::Sqlite).await?
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_a_raced_upload_has_exactly_one_owner_on_postgres() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = fieldcase_tests::harness::pg_url();
    println!(
        "{}",
        attacks::upload_race(dir.path(), attacks::Backend::Postgres(url)).await?
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_unfinished_uploads_have_a_per_device_quota() -> TestResult {
    let dir = tempfile::tempdir()?;
    println!("{}", attacks::upload_quota(dir.path()).await?);
    Ok(())
}

#[test]
fn attacks_phone_refuses_bombs_from_a_colleague_or_a_server() -> TestResult {
    let dir = tempfile::tempdir()?;
    println!("{}", attacks::phone_bomb(dir.path())?);
    Ok(())
}
