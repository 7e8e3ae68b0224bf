//! Server ingest under load: 200 phones (real stores, real sync clients) each upload 20 new
//! records at the same moment to one server on 127.0.0.1, over SQLite or PostgreSQL.
//! The baseline is the same server with one phone alone uploading its 20 records (the
//! unloaded rate and latency), measured in the same run on the same server.

use crate::{BenchError, Result, T0, be, cache_root, median, print_line, runtime};
use fieldcase_core::sync::{ClientConfig, SyncClient};
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_server::ratelimit::{Budget, RateLimiter};
use fieldcase_server::storage::postgres::PostgresStorage;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::{Role, Storage};
use fieldcase_server::{AppState, Listen, admin};
use fieldcase_tests::harness::{Phone, exemptable, persuasion, place};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEVICES: usize = 200;
const RECORDS: usize = 20;

/// PostgreSQL for the benchmark (`FIELDCASE_DATABASE_URL` overrides).
fn database_url() -> String {
    std::env::var("FIELDCASE_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn sim_client(url: &str) -> Result<SyncClient> {
    let mut cfg = ClientConfig::new(url);
    // 200 sessions share two cores: a generous timeout, and no retries hiding failures.
    cfg.timeout = Duration::from_secs(120);
    cfg.attempts = 1;
    Ok(SyncClient::new(cfg)?)
}

async fn enrol(s: &dyn Storage, url: &str, dir: &Path, i: usize) -> Result<Phone> {
    let user = format!("OF-{i:05}");
    let unit = format!("luan/sim/g{i:04}");
    admin::create_unit(s, &unit, "group").await?;
    admin::create_user(s, &user, &user, Role::Officer, &unit).await?;
    let code = admin::create_code(s, &user, 1, None, None).await?.code;
    let path = dir.join(format!("{user}.db"));
    let client = sim_client(url)?;
    let device_id = {
        let store = FieldStore::open(&path, StoreConfig::insecure_plain_for_tests("unenrolled"))?;
        let key = store.device_public_key()?;
        client
            .enrol(&store, &code, &key, &format!("{user} phone"))
            .await?
            .device_id
    };
    let store = FieldStore::open(
        &path,
        StoreConfig::insecure_plain_for_tests(device_id.clone()),
    )?;
    let phone = Phone {
        store,
        client,
        path,
        device_id,
        user,
        unit,
    };
    // Learn keys and the cursor first: only the upload is measured.
    phone.sync().await?;
    Ok(phone)
}

fn record(phone: &Phone, k: usize) -> Result<()> {
    let (code, tier) = exemptable(&phone.store).map_err(be)?;
    let at = T0 + k as i64 * 1000;
    phone.store.create_case(fieldcase_core::store::NewCase {
        unit: phone.unit.clone(),
        occurred_at_ms: at,
        place: place(),
        officers: vec![phone.user.clone()],
        recorded_by: phone.user.clone(),
        party_id: None,
        violation_code: code,
        tier,
        description: Some("店外摆放货架".into()),
        actions: vec![persuasion(&phone.user, at)],
        involves_minor: false,
        privacy_protected: false,
    })?;
    Ok(())
}

async fn timed_sync(phone: Arc<Phone>) -> Result<f64> {
    let t = Instant::now();
    let r = phone.sync().await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if r.accepted as usize != RECORDS || !r.complete {
        return Err(BenchError(format!(
            "{}: accepted {} of {RECORDS}",
            phone.user, r.accepted
        )));
    }
    Ok(ms)
}

/// Profiles only the burst: with `FIELDCASE_PERF_CTL` naming the control FIFO of
/// `perf record --control=fifo:FIFO -D -1`, recording is switched on for the burst alone.
fn perf_control(cmd: &str) {
    if let Ok(path) = std::env::var("FIELDCASE_PERF_CTL") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = writeln!(f, "{cmd}");
        }
    }
}

fn p99(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len().max(1)) - 1;
    v.get(i).copied().unwrap_or(0.0)
}

async fn run(name: &str, storage: Arc<dyn Storage>, dir: &Path) -> Result<()> {
    let mut state = AppState::new(
        storage,
        &fieldcase_server::keys::KeySource::dir(dir.join("keys")),
        dir.join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await?;
    // Every simulated phone enrols from 127.0.0.1: lift the per-address enrolment budget
    // (setup, not measured). The per-device sync budget stays as shipped.
    state.enrol_rate = Arc::new(RateLimiter::new(Budget {
        burst: 1e6,
        per_second: 1e6,
    }));
    let running = fieldcase_server::start(
        state.clone(),
        Listen {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    let url = format!("http://{}", running.addr);
    let s = state.storage.as_ref();
    for u in ["luan", "luan/sim"] {
        admin::create_unit(s, u, u).await?;
    }
    let devices_dir = dir.join("devices");
    std::fs::create_dir_all(&devices_dir)?;
    let t = Instant::now();
    let mut phones = Vec::new();
    for i in 0..=DEVICES {
        let p = enrol(s, &url, &devices_dir, i).await?;
        for k in 0..RECORDS {
            record(&p, k)?;
        }
        phones.push(Arc::new(p));
    }
    eprintln!(
        "{name}: {} phones enrolled with {RECORDS} records each in {:.1} s",
        phones.len(),
        t.elapsed().as_secs_f64()
    );
    // The baseline phone (the last one) syncs alone; it then records again, five times.
    let alone = phones.pop().ok_or_else(|| BenchError("no phones".into()))?;
    let mut alone_ms = Vec::new();
    for round in 0..5 {
        if round > 0 {
            for k in 0..RECORDS {
                record(&alone, round * RECORDS + k)?;
            }
        }
        alone_ms.push(timed_sync(alone.clone()).await?);
    }

    // All at once.
    perf_control("enable");
    let t = Instant::now();
    let tasks: Vec<_> = phones
        .iter()
        .map(|p| tokio::spawn(timed_sync(p.clone())))
        .collect();
    let mut lat = Vec::new();
    let mut failed = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(ms)) => lat.push(ms),
            Ok(Err(e)) => failed.push(e.to_string()),
            Err(e) => failed.push(e.to_string()),
        }
    }
    let wall = t.elapsed().as_secs_f64();
    perf_control("disable");
    if let Some(first) = failed.first() {
        return Err(BenchError(format!(
            "{name}: {} of {DEVICES} syncs failed, first: {first}",
            failed.len()
        )));
    }
    let records = (DEVICES * RECORDS) as f64;
    let alone_med = median(&mut alone_ms.clone());
    eprintln!(
        "{name}: {records} records in {wall:.2} s; p50 {:.0} ms; one phone alone: {alone_med:.1} ms",
        median(&mut lat.clone())
    );
    print_line(
        name,
        records / wall,
        RECORDS as f64 / (alone_med / 1e3),
        "floor",
        "records/s",
    );
    print_line(
        &format!("{name}_p99"),
        p99(&mut lat),
        p99(&mut alone_ms),
        "floor",
        "ms",
    );
    drop(phones);
    drop(alone);
    running.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}

/// 200 phones against a server on SQLite.
pub fn server_200_devices_sqlite(_quick: bool) -> Result<()> {
    std::fs::create_dir_all(cache_root())?;
    let dir = tempfile::Builder::new()
        .prefix("server-200-sqlite-")
        .tempdir_in(cache_root())?;
    runtime()?.block_on(async {
        let storage = Arc::new(SqliteStorage::open(dir.path().join("server.db"))?);
        run("server_200_devices_sqlite", storage, dir.path()).await
    })
}

/// 200 phones against a server on PostgreSQL, in a fresh schema dropped afterwards.
pub fn server_200_devices_postgres(_quick: bool) -> Result<()> {
    std::fs::create_dir_all(cache_root())?;
    let dir = tempfile::Builder::new()
        .prefix("server-200-pg-")
        .tempdir_in(cache_root())?;
    let url = database_url();
    let schema = format!(
        "bench_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    runtime()?.block_on(async {
        let storage = Arc::new(PostgresStorage::connect_with(&url, Some(&schema), 16).await?);
        let result = run("server_200_devices_postgres", storage, dir.path()).await;
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        let task = tokio::spawn(conn);
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await?;
        drop(c);
        let _ = task.await;
        result
    })
}
