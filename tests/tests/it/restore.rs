//! A server restored from a backup taken mid-run, under a fleet of 20 phones that went on
//! recording: after the phones' next syncs nothing is lost and every phone converges, on
//! SQLite and on PostgreSQL (`pg_dump`/`pg_restore`; the server must be reachable at
//! `FIELDCASE_TEST_PG_URL`).

use fieldcase_tests::restore::{RestoreReport, run};

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn pg_url() -> String {
    std::env::var("FIELDCASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn check(r: &RestoreReport) {
    assert_eq!(r.records_created, 20 + 20 + 5, "{r:?}");
    assert!(
        r.records_in_backup == 20,
        "the backup holds the first round only: {r:?}"
    );
    assert_eq!(r.records_lost, 0, "{r:?}");
    assert_eq!(r.changes_lost, 0, "{r:?}");
    assert!(r.replicas_converged, "{r:?}");
    assert_eq!(r.evidence_on_server, r.evidence_created, "{r:?}");
    assert_eq!(
        r.phones_told, r.devices,
        "every phone heard of the restore once: {r:?}"
    );
    assert_eq!(r.failed_syncs, 0, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_from_backup_on_sqlite_loses_nothing_the_phones_hold() -> R {
    let r = run(20, None).await?;
    check(&r);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_from_backup_on_postgres_loses_nothing_the_phones_hold() -> R {
    let r = run(20, Some(&pg_url())).await?;
    check(&r);
    Ok(())
}
