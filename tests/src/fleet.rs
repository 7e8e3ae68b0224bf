//! The fleet simulator behind the `fleet-sim` binary: a real server (two on PostgreSQL, sharing
//! one database), N phones with their own stores recording offline and editing shared cases
//! concurrently, optional chaos (dropped, cut and duplicated requests through the fault proxy,
//! server restarts), then sync until quiet and check that nothing was lost and every replica
//! converged.

use crate::balancer::Balancer;
use crate::harness::{T0, TestResult, client, persuasion};
use crate::proxy::{Fault, FaultProxy};
use fieldcase_core::FieldStore;
use fieldcase_server::storage::postgres::PostgresStorage;
use fieldcase_server::storage::{Role, Storage};
use fieldcase_server::{AppState, Listen, RunningServer, admin};
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Phones per unit: phones of one unit see and edit each other's cases.
pub const GROUP: usize = 5;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Phones.
    pub devices: usize,
    /// Cases each phone records.
    pub records_per_device: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Inject faults and restarts.
    pub chaos: bool,
    /// PostgreSQL URL (two servers) instead of SQLite (one server).
    pub database_url: Option<String>,
    /// Keep the server data in `DIR/server` and phone stores in `DIR/devices`.
    pub keep_data: Option<PathBuf>,
    /// Phones in a unit of their own (no shared cases): the throughput benchmark.
    pub isolated: bool,
    /// Server instances behind one balancer; default 1 on SQLite, 2 on PostgreSQL.
    pub servers: Option<usize>,
    /// Kill one instance (connections dropped, as by `kill -9`) during the first upload and
    /// leave it down: the balancer's health check takes it out and the phones retry.
    pub kill_one: bool,
    /// Evidence in S3-compatible object storage (a moto server started for the run) instead
    /// of the data folder; every photo is verified from the bucket.
    pub s3: bool,
}

/// The result, printed as the last line of `fleet-sim`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetReport {
    /// Phones.
    pub devices: usize,
    /// Server processes (app instances).
    pub servers: usize,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Where evidence was kept: `folder` or `s3`.
    pub blob_store: String,
    /// Records the phones created.
    pub records_created: usize,
    /// Documents on the server.
    pub records_on_server: i64,
    /// Created records the server does not have.
    pub records_lost: usize,
    /// Every phone holds, for every document of its unit, exactly the server's heads.
    pub replicas_converged: bool,
    /// Evidence items captured (one photo per case).
    pub evidence_created: usize,
    /// Evidence items whose original the server holds with the right SHA-256 (its stored
    /// copy re-hashed), and that no phone still lists as unconfirmed.
    pub evidence_verified: usize,
    /// Changes the server rejected.
    pub rejected_changes: u64,
    /// Cases flagged as first-offence exemption conflicts.
    pub exemption_conflicts_flagged: usize,
    /// Wall time.
    pub elapsed_ms: u128,
    /// Bytes phones sent.
    pub bytes_up: u64,
    /// Bytes phones received.
    pub bytes_down: u64,
    /// Sync sessions that failed and were retried.
    pub failed_syncs: u64,
    /// Server restarts.
    pub restarts: u32,
    /// The last sync failure, if any (for diagnosis).
    pub last_error: Option<String>,
    /// Records per second of the first (concurrent) upload of every phone.
    pub upload_records_per_sec: f64,
    /// p50 of that first sync, per phone, ms.
    pub sync_p50_ms: u128,
    /// p99 of that first sync, per phone, ms.
    pub sync_p99_ms: u128,
    /// The instance killed during the first upload, if any.
    pub killed_server: Option<usize>,
    /// Sync requests that instance had taken when it was killed.
    pub requests_before_kill: u64,
    /// Connections the balancer gave each instance.
    pub connections_per_server: Vec<usize>,
}

/// A tiny deterministic generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % (n.max(1) as u64)) as usize
    }
}

struct Server {
    state: AppState,
    running: Option<RunningServer>,
    proxy: FaultProxy,
}

struct SimPhone {
    store: FieldStore,
    client: fieldcase_core::sync::SyncClient,
    user: String,
    unit: String,
    server: usize,
}

async fn storage_for(cfg: &FleetConfig, data: &Path, schema: &str) -> TestResult<Arc<dyn Storage>> {
    Ok(match &cfg.database_url {
        Some(url) => Arc::new(PostgresStorage::connect_with(url, Some(schema), 16).await?),
        None => Arc::new(fieldcase_server::storage::sqlite::SqliteStorage::open(
            data.join("server.db"),
        )?),
    })
}

async fn listen(state: &AppState) -> TestResult<RunningServer> {
    Ok(fieldcase_server::start(
        state.clone(),
        Listen {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?)
}

fn heads_hex(bytes: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            automerge::ChangeHash(h).to_string()
        })
        .collect();
    v.sort();
    v
}

/// Runs one simulation.
pub async fn run(cfg: FleetConfig) -> TestResult<FleetReport> {
    let started = Instant::now();
    let tmp = tempfile::tempdir()?;
    let root = cfg
        .keep_data
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let data = root.join("server");
    let devices_dir = root.join("devices");
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&devices_dir)?;
    let mut rng = Rng::new(cfg.seed);
    // The seed's draw keeps later choices as they were; the clock makes the schema unique,
    // so runs with one seed in parallel (tests) never share a schema.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let schema = format!(
        "fleet_{:016x}_{:x}_{nanos:x}",
        rng.next_u64(),
        std::process::id()
    );
    let n_servers = cfg
        .servers
        .unwrap_or(if cfg.database_url.is_some() { 2 } else { 1 })
        .max(1);
    if cfg.kill_one && n_servers < 2 {
        return Err("--kill-one needs at least two servers".into());
    }

    // Evidence in a real S3 service (moto) shared by every instance, or the data folder.
    let moto = if cfg.s3 {
        let m = crate::moto::Moto::start()?;
        m.create_bucket("fleet-evidence")?;
        Some(m)
    } else {
        None
    };
    let blob_settings = fieldcase_server::blobs::BlobStoreSettings {
        url: moto
            .as_ref()
            .map(|_| format!("s3://fleet-evidence/{schema}")),
        endpoint: moto.as_ref().map(|m| m.endpoint()),
        region: None,
        allow_http: true,
        access_key_id: Some("fleet".into()),
        secret_access_key: Some("fleet-secret".into()),
    };
    let mut servers = Vec::new();
    for _ in 0..n_servers {
        let storage = storage_for(&cfg, &data, &schema).await?;
        let blobs = blob_settings
            .open(&data, fieldcase_server::app::DEFAULT_MAX_BLOB)
            .await?;
        let state = AppState::with_blobs(
            storage,
            &fieldcase_server::keys::KeySource::dir(data.join("keys")),
            Arc::new(blobs),
        )
        .await?;
        // Every simulated phone enrols from 127.0.0.1: the per-address enrolment budget is
        // raised as an operator would for a batch enrolled at one desk.
        let rate = fieldcase_server::config::RateLimits {
            enrol: fieldcase_server::ratelimit::Budget {
                burst: 1e6,
                per_second: 1e6,
            },
            ..Default::default()
        };
        let state = state.with_settings(Default::default(), &rate);
        let running = listen(&state).await?;
        let proxy = FaultProxy::start(running.addr).await?;
        servers.push(Server {
            state,
            running: Some(running),
            proxy,
        });
    }
    // Phones reach the instances through one balancer (a single instance directly).
    let balancer = if n_servers > 1 {
        // With chaos the faults sit between balancer and instances; without, the balancer
        // talks to the instances themselves, so a killed one refuses connections as a dead
        // process does.
        let backends = servers
            .iter()
            .map(|s| match &s.running {
                Some(r) if !cfg.chaos => r.addr,
                _ => s.proxy.addr,
            })
            .collect();
        Some(Balancer::start(backends).await?)
    } else {
        None
    };
    let entry = balancer.as_ref().map_or(servers[0].proxy.addr, |b| b.addr);
    let admin_store = servers[0].state.storage.clone();
    let s = admin_store.as_ref();
    for u in ["luan", "luan/sim"] {
        admin::create_unit(s, u, u).await?;
    }
    let groups = if cfg.isolated {
        cfg.devices
    } else {
        cfg.devices.div_ceil(GROUP)
    };
    for g in 0..groups {
        admin::create_unit(s, &format!("luan/sim/g{g:04}"), "group").await?;
    }

    // Enrol every phone, each through one server's proxy.
    let mut phones = Vec::new();
    for i in 0..cfg.devices {
        let group = if cfg.isolated { i } else { i / GROUP };
        let user = format!("OF-{i:05}");
        let unit = format!("luan/sim/g{group:04}");
        admin::create_user(s, &user, &user, Role::Officer, &unit).await?;
        let code = admin::create_code(s, &user, 1, None, None).await?.code;
        let server = i % n_servers;
        let url = format!("http://{entry}");
        let path = devices_dir.join(format!("{user}.db"));
        let c = client(&url)?;
        let device_id = {
            let store = FieldStore::open(&path, crate::harness::phone_config("unenrolled"))?;
            let key = store.device_public_key()?;
            c.enrol(&store, &code, &key, &format!("{user} phone"))
                .await?
                .device_id
        };
        let store = FieldStore::open(&path, crate::harness::phone_config(device_id))?;
        phones.push(Arc::new(SimPhone {
            store,
            client: c,
            user,
            unit,
            server,
        }));
    }

    // Offline recording: every case with a small photo.
    let photos_dir = root.join("photos");
    std::fs::create_dir_all(&photos_dir)?;
    let mut created = Vec::new();
    let mut originals = Vec::new();
    for p in &phones {
        for r in 0..cfg.records_per_device {
            let id = record_case(p, T0 + r as i64)?;
            let file = photos_dir.join(format!("{}-{r}.jpg", p.user));
            std::fs::write(&file, crate::harness::jpeg(160, 120, rng.next_u64())?)?;
            let entry =
                p.store
                    .add_photo(&id, &file, crate::harness::capture(&p.user, T0 + r as i64))?;
            originals.push(entry.original.sha256);
            created.push(id);
        }
    }
    let mut report = FleetReport {
        devices: cfg.devices,
        servers: n_servers,
        backend: if cfg.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
        .into(),
        records_created: created.len(),
        blob_store: if cfg.s3 { "s3" } else { "folder" }.into(),
        evidence_created: originals.len(),
        ..FleetReport::default()
    };

    // Every phone's first sync at once: the throughput measurement. With `kill_one`, the
    // last instance dies once it has taken its share of a third of the phones' requests.
    let killer = if cfg.kill_one {
        let k = n_servers - 1;
        let victim = servers[k].running.take();
        let metrics = servers[k].state.metrics.clone();
        let threshold = (cfg.devices / (3 * n_servers)).max(1) as u64;
        Some(tokio::spawn(async move {
            let t = Instant::now();
            while metrics
                .sync_requests
                .load(std::sync::atomic::Ordering::Relaxed)
                < threshold
                && t.elapsed() < Duration::from_secs(120)
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let seen = metrics
                .sync_requests
                .load(std::sync::atomic::Ordering::Relaxed);
            if let Some(r) = victim {
                let _ = r.kill().await;
            }
            (k, seen)
        }))
    } else {
        None
    };
    let t = Instant::now();
    let latencies = sync_all(&phones, &mut report).await;
    if let Some(killer) = killer {
        let (k, seen) = killer.await?;
        report.killed_server = Some(k);
        report.requests_before_kill = seen;
    }
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    report.upload_records_per_sec = created.len() as f64 / secs;
    let mut ok: Vec<u128> = latencies.into_iter().flatten().collect();
    ok.sort_unstable();
    let pct = |p: f64| -> u128 {
        if ok.is_empty() {
            return 0;
        }
        let i = ((ok.len() as f64 * p).ceil() as usize).clamp(1, ok.len()) - 1;
        ok[i]
    };
    report.sync_p50_ms = pct(0.50);
    report.sync_p99_ms = pct(0.99);

    // Concurrent edits of shared cases (after a pull, each phone edits cases of its unit).
    if !cfg.isolated {
        sync_all(&phones, &mut report).await;
        for p in &phones {
            let ids = p.store.doc_ids()?;
            for _ in 0..3 {
                if ids.is_empty() {
                    break;
                }
                let id = &ids[rng.below(ids.len())];
                let _ = p.store.append_action(id, persuasion(&p.user, T0 + 5_000));
            }
        }
    }

    // Chaos rounds.
    if cfg.chaos {
        for round in 0..6 {
            for srv in &servers {
                let fault = match rng.below(4) {
                    0 => Fault::Drop,
                    1 => Fault::CutResponse(100 + rng.below(2000)),
                    2 => Fault::Duplicate,
                    _ => Fault::Pass,
                };
                srv.proxy.set(fault);
            }
            if round % 2 == 1 {
                let k = rng.below(servers.len());
                restart(&mut servers[k], &mut report).await?;
            }
            // A partition: a random half of the phones stays offline this round.
            let online: Vec<Arc<SimPhone>> = phones
                .iter()
                .filter(|_| rng.below(2) == 0)
                .cloned()
                .collect();
            sync_all(&online, &mut report).await;
            for p in online.iter().take(3) {
                let ids = p.store.doc_ids()?;
                if !ids.is_empty() {
                    let id = &ids[rng.below(ids.len())];
                    let _ = p.store.append_action(id, persuasion(&p.user, T0 + 9_000));
                }
            }
        }
        for srv in &servers {
            srv.proxy.set(Fault::Pass);
        }
    }

    // Sync until quiet: two clean rounds in which no phone pushed or received anything.
    let mut quiet = 0;
    for _ in 0..30 {
        let before = (report.bytes_up, report.failed_syncs);
        let moved = sync_all_counting(&phones, &mut report).await;
        if moved == 0 && report.failed_syncs == before.1 {
            quiet += 1;
            if quiet >= 2 {
                break;
            }
        } else {
            quiet = 0;
        }
    }

    // Check.
    report.records_on_server = s.doc_count().await?;
    let mut lost = 0;
    for id in &created {
        if s.load_doc(id).await?.is_none() {
            lost += 1;
        }
    }
    report.records_lost = lost;
    let mut converged = true;
    for p in &phones {
        let local = p.store.heads()?;
        let server_ids = server_docs_of_unit(s, &p.unit).await?;
        let local_ids: BTreeSet<&String> = local.keys().collect();
        if local_ids != server_ids.iter().map(|(id, _)| id).collect() {
            converged = false;
            break;
        }
        for (id, heads) in &server_ids {
            let mut l = local.get(id).cloned().unwrap_or_default();
            l.sort();
            if &l != heads {
                converged = false;
            }
        }
    }
    report.replicas_converged = converged;
    let mut unconfirmed = BTreeSet::new();
    for p in &phones {
        unconfirmed.extend(p.store.unconfirmed_blobs()?.into_iter().map(|b| b.sha256));
    }
    for sha in &originals {
        let on_server = s.blob(sha).await?.is_some();
        let hash_ok = servers[0]
            .state
            .blobs
            .hash_stored(sha)
            .await
            .ok()
            .flatten()
            .is_some_and(|(h, _)| &h == sha);
        if on_server && hash_ok && !unconfirmed.contains(sha) {
            report.evidence_verified += 1;
        }
    }
    report.exemption_conflicts_flagged = 0;
    if let Some(b) = &balancer {
        report.connections_per_server = b.connections();
    }
    for srv in &mut servers {
        if let Some(r) = srv.running.take() {
            r.shutdown(Duration::from_secs(5)).await?;
        }
    }
    if cfg.database_url.is_some() && cfg.keep_data.is_none() {
        drop(servers);
        if let Some(url) = &cfg.database_url {
            let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            let task = tokio::spawn(conn);
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await?;
            drop(c);
            let _ = task.await;
        }
    }
    report.elapsed_ms = started.elapsed().as_millis();
    Ok(report)
}

async fn server_docs_of_unit(
    s: &dyn Storage,
    unit: &str,
) -> TestResult<Vec<(String, Vec<String>)>> {
    let latest = s.latest_seq().await?;
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = s
            .feed(fieldcase_server::storage::FeedQuery {
                after,
                upto: latest,
                scopes: vec![unit.to_string()],
                kinds: vec![
                    fieldcase_core::model::RecordKind::Case,
                    fieldcase_core::model::RecordKind::Party,
                    fieldcase_core::model::RecordKind::Demonstration,
                ],
                limit: 1000,
            })
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for item in page {
            out.push((item.doc_id, heads_hex(&item.heads)));
        }
    }
    out.sort();
    Ok(out)
}

fn record_case(p: &SimPhone, at: i64) -> TestResult<String> {
    crate::harness::everyday_case(&p.store, &p.unit, &p.user, at)
}

async fn restart(srv: &mut Server, report: &mut FleetReport) -> TestResult {
    if let Some(r) = srv.running.take() {
        r.kill().await?;
    }
    let running = listen(&srv.state).await?;
    srv.proxy.retarget(running.addr);
    srv.running = Some(running);
    report.restarts += 1;
    Ok(())
}

/// Syncs every phone at once; returns each phone's sync time (None when it failed).
async fn sync_all(phones: &[Arc<SimPhone>], report: &mut FleetReport) -> Vec<Option<u128>> {
    let mut tasks = Vec::new();
    for p in phones {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = p.client.sync(&p.store).await;
            (r, t.elapsed().as_millis(), p.server)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        match t.await {
            Ok((Ok(r), ms, _)) => {
                report.bytes_up += r.bytes_sent;
                report.bytes_down += r.bytes_received;
                report.rejected_changes += u64::from(r.rejected);
                out.push(Some(ms));
            }
            _ => {
                report.failed_syncs += 1;
                out.push(None);
            }
        }
    }
    out
}

/// Syncs every phone; returns how many documents moved either way.
async fn sync_all_counting(phones: &[Arc<SimPhone>], report: &mut FleetReport) -> u64 {
    let mut tasks = Vec::new();
    for p in phones {
        let p = p.clone();
        tasks.push(tokio::spawn(async move { p.client.sync(&p.store).await }));
    }
    let mut moved = 0u64;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => {
                report.bytes_up += r.bytes_sent;
                report.bytes_down += r.bytes_received;
                report.rejected_changes += u64::from(r.rejected);
                moved += u64::from(r.pushed) + u64::from(r.received) + u64::from(r.blobs_uploaded);
            }
            Ok(Err(e)) => {
                report.failed_syncs += 1;
                report.last_error = Some(e.to_string());
            }
            Err(e) => {
                report.failed_syncs += 1;
                report.last_error = Some(e.to_string());
            }
        }
    }
    moved
}
