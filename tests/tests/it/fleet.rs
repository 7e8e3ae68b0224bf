//! Quick fleet simulations on both backends: nothing lost, every replica converged. On
//! PostgreSQL two servers share one database and the phones are split between them.
//! PostgreSQL must be reachable at `FIELDCASE_TEST_PG_URL`: these tests fail without it.

use fieldcase_tests::fleet::{FleetConfig, run};

fn pg_url() -> String {
    std::env::var("FIELDCASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn config(database_url: Option<String>, chaos: bool, isolated: bool) -> FleetConfig {
    FleetConfig {
        devices: 6,
        records_per_device: 4,
        seed: 7,
        chaos,
        database_url,
        keep_data: None,
        isolated,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_sqlite_with_chaos_loses_nothing_and_converges()
-> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let r = run(config(None, true, true)).await?;
    assert_eq!(r.records_created, 24);
    assert_eq!(r.records_lost, 0, "{r:?}");
    assert!(r.replicas_converged, "{r:?}");
    assert_eq!(r.records_on_server, 24);
    assert_eq!(r.evidence_verified, r.evidence_created, "{r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_two_postgres_servers_with_chaos_lose_nothing_and_converge()
-> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let r = run(config(Some(pg_url()), true, true)).await?;
    assert_eq!(r.servers, 2);
    assert_eq!(r.records_lost, 0, "{r:?}");
    assert!(r.replicas_converged, "{r:?}");
    assert_eq!(r.records_on_server, 24);
    Ok(())
}

/// Shared cases (with photos) edited concurrently by phones of one unit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_shared_cases_converge() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let r = run(config(None, false, false)).await?;
    assert_eq!(r.records_lost, 0, "{r:?}");
    assert!(r.replicas_converged, "{r:?}");
    assert_eq!(r.evidence_created, 24);
    assert_eq!(r.evidence_verified, r.evidence_created, "{r:?}");
    Ok(())
}
