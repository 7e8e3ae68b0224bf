//! Measurements (run with `--ignored --nocapture`, best in release): bytes and round trips of
//! a no-op sync over 10,000 documents, and of pushing and pulling 1,000 new records.

use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, T0, TestResult, TestServer};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run explicitly"]
async fn measure_sync_costs() -> TestResult {
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
    let b = Phone::enrol(
        &s,
        &s.url(),
        dir.path(),
        "OF-B",
        Role::Officer,
        "luan/jinan/squad-1",
    )
    .await?;

    let t = Instant::now();
    for i in 0..1000 {
        a.case(None, T0 + i)?;
    }
    println!("record 1000 cases on a phone: {:?}", t.elapsed());
    let t = Instant::now();
    let push = a.sync().await?;
    println!(
        "push 1000 new records: {} round trips, {} B up, {} B down, {:?}",
        push.round_trips,
        push.bytes_sent,
        push.bytes_received,
        t.elapsed()
    );
    let t = Instant::now();
    let pull = b.sync().await?;
    println!(
        "pull 1000 new records: {} round trips, {} B up, {} B down, {:?}",
        pull.round_trips,
        pull.bytes_sent,
        pull.bytes_received,
        t.elapsed()
    );

    for i in 1000..10_000 {
        a.case(None, T0 + i)?;
    }
    let t = Instant::now();
    let push = a.sync().await?;
    println!(
        "push 9000 more: {} round trips, {} B up, {} B down, {:?}",
        push.round_trips,
        push.bytes_sent,
        push.bytes_received,
        t.elapsed()
    );
    let t = Instant::now();
    let pull = b.sync().await?;
    println!(
        "pull 9000 more: {} round trips, {} B up, {} B down, {:?}",
        pull.round_trips,
        pull.bytes_sent,
        pull.bytes_received,
        t.elapsed()
    );
    assert_eq!(a.store.heads()?.len(), 10_000);
    assert_eq!(b.store.heads()?.len(), 10_000);
    let t = Instant::now();
    let noop = a.sync().await?;
    println!(
        "no-op sync with 10000 documents: {} round trips, {} B up, {} B down, {:?}",
        noop.round_trips,
        noop.bytes_sent,
        noop.bytes_received,
        t.elapsed()
    );
    assert_eq!(noop.round_trips, 1);
    assert!(noop.bytes_sent < 1024 && noop.bytes_received < 1024);
    Ok(())
}
