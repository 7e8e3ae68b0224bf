//! Quick fleet simulations on both backends: nothing lost, every replica converged. On
//! PostgreSQL two servers share one database and the phones are split between them by a
//! balancer; three instances with one killed mid-run on both backends.
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
        servers: None,
        kill_one: false,
        s3: false,
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

/// Three instances behind a balancer, one killed during the first upload: the balancer's
/// health check takes it out, the phones retry on the others, nothing is lost.
async fn three_instances_one_killed(
    database_url: Option<String>,
    s3: bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut c = config(database_url, false, false);
    c.s3 = s3;
    c.devices = 30;
    c.records_per_device = 2;
    c.servers = Some(3);
    c.kill_one = true;
    let r = run(c).await?;
    assert_eq!(r.servers, 3);
    assert_eq!(r.blob_store, if s3 { "s3" } else { "folder" });
    assert_eq!(r.killed_server, Some(2), "{r:?}");
    assert!(r.requests_before_kill >= 1, "{r:?}");
    assert_eq!(r.records_lost, 0, "{r:?}");
    assert!(r.replicas_converged, "{r:?}");
    assert_eq!(r.records_on_server, 60);
    assert_eq!(r.evidence_verified, r.evidence_created, "{r:?}");
    // The survivors took connections too.
    assert!(
        r.connections_per_server[..2].iter().all(|&n| n > 0),
        "{r:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_three_sqlite_instances_one_killed_loses_nothing()
-> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    three_instances_one_killed(None, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_three_postgres_instances_on_s3_one_killed_loses_nothing()
-> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    three_instances_one_killed(Some(pg_url()), true).await
}
