//! A server lost and restored from a backup taken mid-run, with a fleet of phones that went on
//! recording after the backup: the restored server announces a new restore epoch, every
//! phone offers again what the backup lacks, and nothing any phone recorded is lost.
//!
//! Phones record and sync, a backup is taken (`maintenance::backup`: the SQLite copy, or
//! `pg_dump` then the blobs), phones record, edit each other's cases and sync more, some
//! record offline, then the server is stopped and restored (`maintenance::restore`) into a
//! new data folder (and, on PostgreSQL, a new database), started again and the phones sync
//! until quiet. Every record and evidence file any phone made must be on the restored server,
//! and every phone must hold exactly the server's documents of its unit.

use crate::harness::{T0, TestResult, client, persuasion};
use fieldcase_core::FieldStore;
use fieldcase_core::sync::SyncClient;
use fieldcase_server::storage::postgres::PostgresStorage;
use fieldcase_server::storage::{Role, Storage};
use fieldcase_server::{AppState, Listen, RunningServer, admin, maintenance};
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Phones per unit: they read and edit each other's cases.
const GROUP: usize = 5;

/// What happened.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    /// Phones.
    pub devices: usize,
    /// Records the phones created (before and after the backup).
    pub records_created: usize,
    /// Of those, created after the backup was taken.
    pub records_after_backup: usize,
    /// Records the backup held.
    pub records_in_backup: i64,
    /// Created records the restored server lacks after the phones' syncs.
    pub records_lost: usize,
    /// Documents whose heads on the restored server lack changes a phone holds.
    pub changes_lost: usize,
    /// Evidence originals captured.
    pub evidence_created: usize,
    /// Evidence originals the restored server holds, re-hashed, and no phone lists as
    /// unconfirmed.
    pub evidence_on_server: usize,
    /// Phones whose sync reported the restore (a new epoch).
    pub phones_told: usize,
    /// Every phone holds, for every document of its unit, exactly the server's heads.
    pub replicas_converged: bool,
    /// Sync sessions that failed.
    pub failed_syncs: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Wall time.
    pub elapsed_ms: u128,
}

/// A new database on the PostgreSQL server of `url` (its database name replaced), dropped
/// with its connections when this goes.
#[derive(Debug)]
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl FreshDatabase {
    /// Creates it.
    pub async fn create(url: &str) -> TestResult<FreshDatabase> {
        let root = url
            .rsplit_once('/')
            .map(|(r, _)| r.to_string())
            .ok_or("no database name in the URL")?;
        // The end of a new id: its start is a timestamp, shared by ids made together.
        let id = fieldcase_core::ids::new_id().replace('-', "");
        let name = format!("fc_sim_{}", &id[id.len() - 16..]);
        let admin_url = format!("{root}/postgres");
        let (c, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await?;
        let task = tokio::spawn(conn);
        c.batch_execute(&format!("CREATE DATABASE {name}")).await?;
        drop(c);
        let _ = task.await;
        Ok(FreshDatabase {
            url: format!("{root}/{name}"),
            admin_url,
            name,
        })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside or outside a runtime; a thread of its own works in both.
        let _ = std::thread::spawn(move || -> TestResult {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                Ok(())
            })
        })
        .join();
    }
}

struct Phone {
    store: FieldStore,
    client: SyncClient,
    user: String,
    unit: String,
}

async fn serve(
    storage: Arc<dyn Storage>,
    data: &Path,
    keys: &Path,
) -> TestResult<(AppState, RunningServer)> {
    let state = AppState::new(
        storage,
        &fieldcase_server::keys::KeySource::dir(keys.to_path_buf()),
        data.join("blobs"),
        fieldcase_server::app::DEFAULT_MAX_BLOB,
    )
    .await?;
    let running = fieldcase_server::start(
        state.clone(),
        Listen {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            allow_insecure_http: false,
        },
    )
    .await?;
    Ok((state, running))
}

async fn open_storage(data: &Path, url: Option<&str>) -> TestResult<Arc<dyn Storage>> {
    Ok(match url {
        Some(url) => Arc::new(PostgresStorage::connect(url).await?),
        None => {
            std::fs::create_dir_all(data)?;
            Arc::new(fieldcase_server::storage::sqlite::SqliteStorage::open(
                data.join("server.db"),
            )?)
        }
    })
}

/// Records a case with a photo; returns its id and the photo's SHA-256.
fn record(p: &Phone, dir: &Path, n: usize, seed: u64) -> TestResult<(String, String)> {
    let at = T0 + n as i64 * 60_000;
    let id = crate::harness::everyday_case(&p.store, &p.unit, &p.user, at)?;
    let file = dir.join(format!("{}-{n}.jpg", p.user));
    std::fs::write(&file, crate::harness::jpeg(96, 72, seed)?)?;
    let entry = p
        .store
        .add_photo(&id, &file, crate::harness::capture(&p.user, at))?;
    Ok((id, entry.original.sha256))
}

/// Syncs every phone at once; returns how many documents and files moved.
async fn sync_all(phones: &[Arc<Phone>], report: &mut RestoreReport) -> u64 {
    let tasks: Vec<_> = phones
        .iter()
        .cloned()
        .map(|p| tokio::spawn(async move { p.client.sync(&p.store).await }))
        .collect();
    let mut moved = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => {
                moved += u64::from(r.pushed) + u64::from(r.received) + u64::from(r.blobs_uploaded);
                report.phones_told += usize::from(r.server_restored);
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

/// Runs the scenario with `devices` phones on SQLite, or on PostgreSQL when `pg_url` names a
/// server (two new databases are made on it: the lost one and the restored one).
pub async fn run(devices: usize, pg_url: Option<&str>) -> TestResult<RestoreReport> {
    let started = Instant::now();
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    let (data_a, data_b, keys) = (root.join("a"), root.join("b"), root.join("keys"));
    let photos = root.join("photos");
    std::fs::create_dir_all(&photos)?;
    let db_a = match pg_url {
        Some(u) => Some(FreshDatabase::create(u).await?),
        None => None,
    };
    let url_a = db_a.as_ref().map(|d| d.url.clone());
    let (state, running) = serve(
        open_storage(&data_a, url_a.as_deref()).await?,
        &data_a,
        &keys,
    )
    .await?;
    let s = state.storage.clone();
    for u in ["luan", "luan/sim"] {
        admin::create_unit(s.as_ref(), u, u).await?;
    }
    let mut phones = Vec::new();
    for i in 0..devices {
        let unit = format!("luan/sim/g{}", i / GROUP);
        if i % GROUP == 0 {
            admin::create_unit(s.as_ref(), &unit, "group").await?;
        }
        let user = format!("OF-{i:03}");
        admin::create_user(s.as_ref(), &user, &user, Role::Officer, &unit).await?;
        let code = admin::create_code(s.as_ref(), &user, 1, None, None)
            .await?
            .code;
        let c = client(&format!("http://{}", running.addr))?;
        let path = root.join(format!("{user}.db"));
        let device_id = {
            let store = FieldStore::open(&path, crate::harness::phone_config("unenrolled"))?;
            let key = store.device_public_key()?;
            c.enrol(&store, &code, &key, &user).await?.device_id
        };
        let store = FieldStore::open(&path, crate::harness::phone_config(device_id))?;
        phones.push(Arc::new(Phone {
            store,
            client: c,
            user,
            unit,
        }));
    }
    let mut report = RestoreReport {
        devices,
        ..RestoreReport::default()
    };
    let mut created = Vec::new();
    let mut originals = Vec::new();
    let mut seed = 1u64;
    let mut record_all = |phones: &[Arc<Phone>], n: usize| -> TestResult<usize> {
        let mut k = 0;
        for p in phones {
            seed += 1;
            let (id, sha) = record(p, &photos, n, seed)?;
            created.push(id);
            originals.push(sha);
            k += 1;
        }
        Ok(k)
    };

    // Before the backup: record, sync, and pull the unit's cases.
    record_all(&phones, 0)?;
    sync_all(&phones, &mut report).await;
    sync_all(&phones, &mut report).await;
    let backup = root.join("backup");
    let taken = maintenance::backup(&data_a, &backup, false, url_a.as_deref(), false).await?;
    report.records_in_backup = taken.documents;

    // After it: new cases, edits of colleagues' cases, synced; then some recorded offline.
    report.records_after_backup += record_all(&phones, 1)?;
    for (i, p) in phones.iter().enumerate() {
        let ids = p.store.doc_ids()?;
        if let Some(id) = ids.get(i % ids.len().max(1)) {
            p.store
                .append_action(id, persuasion(&p.user, T0 + 3_600_000))?;
        }
    }
    sync_all(&phones, &mut report).await;
    sync_all(&phones, &mut report).await;
    let offline: Vec<Arc<Phone>> = phones.iter().step_by(4).cloned().collect();
    report.records_after_backup += record_all(&offline, 2)?;
    drop(offline);

    // The disaster: the server is gone; restored from the backup into a new place.
    running.shutdown(Duration::from_secs(5)).await?;
    drop(state);
    drop(s);
    let db_b = match pg_url {
        Some(u) => Some(FreshDatabase::create(u).await?),
        None => None,
    };
    let url_b = db_b.as_ref().map(|d| d.url.clone());
    maintenance::restore(&backup, &data_b, url_b.as_deref(), false).await?;
    let (state, running) = serve(
        open_storage(&data_b, url_b.as_deref()).await?,
        &data_b,
        &keys,
    )
    .await?;
    let phones: Vec<Arc<Phone>> = phones
        .into_iter()
        .map(|p| {
            let p = Arc::try_unwrap(p).map_err(|_| "phone still shared")?;
            Ok(Arc::new(Phone {
                client: client(&format!("http://{}", running.addr))?,
                ..p
            }))
        })
        .collect::<TestResult<_>>()?;

    // The phones sync until two rounds move nothing.
    let mut quiet = 0;
    for _ in 0..12 {
        let failed = report.failed_syncs;
        if sync_all(&phones, &mut report).await == 0 && report.failed_syncs == failed {
            quiet += 1;
            if quiet >= 2 {
                break;
            }
        } else {
            quiet = 0;
        }
    }

    let s = state.storage.as_ref();
    report.records_created = created.len();
    for id in &created {
        if s.load_doc(id).await?.is_none() {
            report.records_lost += 1;
        }
    }
    let mut converged = true;
    for p in &phones {
        let local = p.store.heads()?;
        let server = server_docs_of_unit(s, &p.unit).await?;
        let server_ids: BTreeSet<&String> = server.iter().map(|(id, _)| id).collect();
        if local.keys().collect::<BTreeSet<_>>() != server_ids {
            converged = false;
        }
        for (id, heads) in &server {
            let mut l = local.get(id).cloned().unwrap_or_default();
            l.sort();
            if &l != heads {
                converged = false;
                report.changes_lost += usize::from(!l.iter().all(|h| heads.contains(h)));
            }
        }
    }
    report.replicas_converged = converged;
    let mut unconfirmed = BTreeSet::new();
    for p in &phones {
        unconfirmed.extend(p.store.unconfirmed_blobs()?.into_iter().map(|b| b.sha256));
    }
    report.evidence_created = originals.len();
    for sha in &originals {
        let hash_ok = state
            .blobs
            .hash_stored(sha)
            .await?
            .is_some_and(|(h, _)| &h == sha);
        if s.blob(sha).await?.is_some() && hash_ok && !unconfirmed.contains(sha) {
            report.evidence_on_server += 1;
        }
    }
    running.shutdown(Duration::from_secs(5)).await?;
    drop(state);
    drop(db_a);
    drop(db_b);
    report.elapsed_ms = started.elapsed().as_millis();
    Ok(report)
}

async fn server_docs_of_unit(
    s: &dyn Storage,
    unit: &str,
) -> TestResult<Vec<(String, Vec<String>)>> {
    let latest = s.latest_seq().await?;
    let page = s
        .feed(fieldcase_server::storage::FeedQuery {
            after: 0,
            upto: latest,
            scopes: vec![unit.to_string()],
            kinds: vec![fieldcase_core::model::RecordKind::Case],
            limit: 10_000,
        })
        .await?;
    let mut out: Vec<(String, Vec<String>)> = page
        .into_iter()
        .map(|i| {
            let mut heads: Vec<String> = i
                .heads
                .chunks_exact(32)
                .map(|c| {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(c);
                    automerge::ChangeHash(h).to_string()
                })
                .collect();
            heads.sort();
            (i.doc_id, heads)
        })
        .collect();
    out.sort();
    Ok(out)
}
