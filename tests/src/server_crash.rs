//! The kill -9 loop of the server (requirement R1, server side): the real `fieldcase-server`
//! binary on its embedded SQLite database is killed with SIGKILL at seeded random moments
//! while phones (real stores, the real sync client, small batches so a session spans several
//! requests) record cases, edit each other's, add photos and sync. After every kill, with the
//! server down: SQLite finds the server database sound, and everything a phone counts as
//! acknowledged is on the server. A phone marks a document synced only when the server's reply
//! was applied (`synced_change`, see `core/src/store/sync_state.rs`) and a blob only when the
//! server confirmed it, so "acknowledged" is read from the phones' own stores, not guessed.
//! At the end a final sync converges every phone with the server.

use crate::crash::Rng;
use crate::harness::{T0, capture, jpeg, persuasion, phone_config};
use automerge::ReadDoc;
use fieldcase_core::FieldStore;
use fieldcase_core::sync::{ClientConfig, SyncClient};
use fieldcase_server::blobs::BlobDir;
use fieldcase_server::storage::prelude::*;
use fieldcase_server::storage::sqlite::SqliteStorage;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The loop found a lost acknowledged record, a damaged database, a divergence, or could not
/// run.
#[derive(Debug)]
pub struct ServerCrashError(pub String);

impl std::fmt::Display for ServerCrashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServerCrashError {}

fn err(e: impl std::fmt::Display) -> ServerCrashError {
    ServerCrashError(e.to_string())
}

type R<T = ()> = Result<T, ServerCrashError>;

/// How a loop runs.
#[derive(Debug, Clone)]
pub struct ServerCrashConfig {
    /// Kills to make.
    pub kills: u32,
    /// Seeds the kill delays and the phones' choices.
    pub seed: u64,
    /// Phones syncing at once (all in one unit, so they also receive each other's cases).
    pub phones: usize,
    /// Longest time the server runs before its kill.
    pub max_delay: Duration,
    /// The `fieldcase-server` executable.
    pub server_bin: PathBuf,
}

/// What a loop did.
#[derive(Debug, Clone, Default)]
pub struct ServerCrashReport {
    /// Kills made.
    pub kills: u32,
    /// Sync sessions that completed.
    pub syncs_ok: u64,
    /// Sync sessions cut by a kill (or refused while the server was down).
    pub syncs_cut: u64,
    /// Sync sessions the server ended with an error reply (not a cut connection).
    pub syncs_refused: u64,
    /// The first such error.
    pub first_refusal: Option<String>,
    /// Cases the phones recorded.
    pub records_created: usize,
    /// Document states (id and heads) the phones counted as acknowledged, each found on the
    /// server after the kill that followed.
    pub acked_states_checked: usize,
    /// Photos the server confirmed to a phone, each found on the server with its hash.
    pub acked_blobs: usize,
    /// Documents on the server at the end, every one converged with every phone.
    pub docs_converged: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// Finds `fieldcase-server` next to the running executable (a binary in `target/<profile>/`)
/// or one folder up (a test in `target/<profile>/deps/`).
pub fn find_server_bin() -> R<PathBuf> {
    if let Ok(p) = std::env::var("FIELDCASE_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(err)?;
    let mut dir = exe.parent();
    for _ in 0..2 {
        let Some(d) = dir else { break };
        let candidate = d.join("fieldcase-server");
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
    }
    Err(ServerCrashError(format!(
        "fieldcase-server not found next to {}: build it (cargo build --workspace, or \
         cargo build --release -p fieldcase-server) or set FIELDCASE_SERVER_BIN",
        exe.display()
    )))
}

/// The server process; killed when dropped, so no failure path leaves it running.
struct ServerProc {
    child: Option<Child>,
}

impl ServerProc {
    fn kill(&mut self) -> R {
        if let Some(mut c) = self.child.take() {
            c.kill().map_err(err)?; // SIGKILL
            c.wait().map_err(err)?;
        }
        Ok(())
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

struct Server {
    bin: PathBuf,
    data: PathBuf,
    addr: SocketAddr,
    proc: ServerProc,
}

impl Server {
    fn admin(&self, args: &[&str]) -> R<serde_json::Value> {
        let out = Command::new(&self.bin)
            .arg("admin")
            .arg("--data")
            .arg(&self.data)
            .arg("--json")
            .args(args)
            .env_remove("FIELDCASE_DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .map_err(err)?;
        if !out.status.success() {
            return Err(ServerCrashError(format!(
                "admin {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&text).map_err(err)
    }

    /// Starts `serve` and waits until the port accepts connections and `/healthz` answers.
    fn start(&mut self) -> R {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.join("server.log"))
            .map_err(err)?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg("--data")
            .arg(&self.data)
            .arg("--listen")
            .arg(self.addr.to_string())
            .env_remove("FIELDCASE_DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(err)?;
        self.proc.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(c) = self.proc.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.proc.child = None;
                let log = std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                return Err(ServerCrashError(format!(
                    "server exited on start ({status}): {tail}"
                )));
            }
            if healthy(self.addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(ServerCrashError(
            "server did not answer /healthz in 20 s".into(),
        ))
    }
}

/// One `GET /healthz` over a plain socket: no client pool to carry into the next run.
fn healthy(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.1 200")
}

fn free_addr() -> R<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(err)?;
    l.local_addr().map_err(err)
}

struct CrashPhone {
    store: FieldStore,
    client: Mutex<SyncClient>,
    user: String,
    /// Cases this phone recorded.
    created: Mutex<Vec<String>>,
    /// Photos this phone added (SHA-256 of the original).
    photos: Mutex<Vec<String>>,
    /// Document states already found on the server: checked again only at the end.
    verified: Mutex<BTreeMap<String, Vec<String>>>,
    /// Photos already found on the server.
    verified_blobs: Mutex<BTreeSet<String>>,
}

fn sync_client(url: &str) -> R<SyncClient> {
    let mut cfg = ClientConfig::new(url);
    // One attempt and a short timeout: a killed server must end the session at once, not
    // after retries; the next session picks up what is still dirty.
    cfg.timeout = Duration::from_secs(5);
    cfg.attempts = 1;
    // Small batches: a session spans several requests, so kills land between them too.
    cfg.batch_bytes = 4 * 1024;
    SyncClient::new(cfg).map_err(err)
}

const UNIT: &str = "luan/crash";

fn record_case(p: &CrashPhone, at: i64) -> R<String> {
    crate::harness::everyday_case(&p.store, UNIT, &p.user, at).map_err(err)
}

/// A phone's work until `stop`: a small batch of edits, then a sync, again.
async fn phone_loop(
    p: Arc<CrashPhone>,
    mut rng: Rng,
    stop: Arc<AtomicBool>,
    photos: PathBuf,
    counters: Arc<(AtomicU64, AtomicU64, AtomicU64)>,
    other: Arc<Mutex<Option<String>>>,
) -> R {
    let mut k = 0i64;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1 + rng.below(3) {
            k += 1;
            let at = T0 + k * 1000;
            match rng.below(4) {
                0 | 1 => {
                    let id = record_case(&p, at)?;
                    p.created.lock().map_err(err)?.push(id);
                }
                2 => {
                    // Any case of the unit, its own or one another phone recorded.
                    let ids = p.store.doc_ids().map_err(err)?;
                    if !ids.is_empty() {
                        let id = &ids[rng.below(ids.len() as u64) as usize];
                        p.store
                            .append_action(id, persuasion(&p.user, at))
                            .map_err(err)?;
                    }
                }
                _ => {
                    let created = p.created.lock().map_err(err)?.last().cloned();
                    if let Some(id) = created
                        && rng.below(3) == 0
                    {
                        let file = photos.join(format!("{}-{k}.jpg", p.user));
                        let bytes = jpeg(48, 32, rng.next_u64()).map_err(err)?;
                        std::fs::write(&file, bytes).map_err(err)?;
                        let entry = p
                            .store
                            .add_photo(&id, &file, capture(&p.user, at))
                            .map_err(err)?;
                        let _ = std::fs::remove_file(&file);
                        p.photos.lock().map_err(err)?.push(entry.original.sha256);
                    }
                }
            }
        }
        let client = p.client.lock().map_err(err)?.clone();
        match client.sync(&p.store).await {
            Ok(_) => {
                counters.0.fetch_add(1, Ordering::Relaxed);
            }
            Err(fieldcase_core::CoreError::Network { .. }) => {
                counters.1.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Not a cut connection: the server answered with an error.
                counters.2.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = other.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}

fn hex_heads(bytes: &[u8]) -> Vec<String> {
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

/// Whether the server's copy of `doc_id` holds every change named by `heads`.
async fn server_has(storage: &SqliteStorage, doc_id: &str, heads: &[String]) -> R<bool> {
    let Some(doc) = storage.load_doc(doc_id).await.map_err(err)? else {
        return Ok(false);
    };
    let ours = hex_heads(&doc.heads);
    if heads.iter().all(|h| ours.contains(h)) {
        return Ok(true);
    }
    let loaded = automerge::Automerge::load(&doc.bytes).map_err(err)?;
    for h in heads {
        let hash: automerge::ChangeHash = h.parse().map_err(err)?;
        if loaded.get_change_by_hash(&hash).is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What the phone counts as on the server: every document not dirty and not refused, at its
/// current heads (no edit runs while this is read).
fn acked_states(p: &CrashPhone) -> R<BTreeMap<String, Vec<String>>> {
    let dirty: HashSet<String> = p
        .store
        .dirty_docs(usize::MAX, &HashSet::new())
        .map_err(err)?
        .into_iter()
        .map(|d| d.doc_id)
        .collect();
    let rejected = p.store.rejected_docs().map_err(err)?;
    if let Some(r) = rejected.first() {
        return Err(ServerCrashError(format!(
            "{}: the server refused document {}: {}",
            p.user, r.doc_id, r.reason
        )));
    }
    let mut out = p.store.heads().map_err(err)?;
    out.retain(|id, _| !dirty.contains(id));
    for h in out.values_mut() {
        h.sort();
    }
    Ok(out)
}

fn integrity(db: &Path) -> R {
    let c = rusqlite::Connection::open(db).map_err(err)?;
    let verdict: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(err)?;
    if verdict != "ok" {
        return Err(ServerCrashError(format!(
            "server database integrity_check: {verdict}"
        )));
    }
    Ok(())
}

/// Checks, with the server down, the database and every acknowledged state and photo not yet
/// checked (`all`: every one). Returns how many states and photos it checked.
async fn check_acked(data: &Path, phones: &[Arc<CrashPhone>], all: bool) -> R<(usize, usize)> {
    integrity(&data.join("server.db"))?;
    let storage = SqliteStorage::open(data.join("server.db")).map_err(err)?;
    let blobs =
        BlobDir::open(data.join("blobs"), fieldcase_server::app::DEFAULT_MAX_BLOB).map_err(err)?;
    let (mut states, mut blobs_ok) = (0, 0);
    for p in phones {
        let acked = acked_states(p)?;
        let mut verified = p.verified.lock().map_err(err)?.clone();
        for (id, heads) in &acked {
            if !all && verified.get(id) == Some(heads) {
                continue;
            }
            if !server_has(&storage, id, heads).await? {
                return Err(ServerCrashError(format!(
                    "{}: document {id} acknowledged at heads {heads:?} is not on the server",
                    p.user
                )));
            }
            verified.insert(id.clone(), heads.clone());
            states += 1;
        }
        *p.verified.lock().map_err(err)? = verified;
        let unconfirmed: BTreeSet<String> = p
            .store
            .unconfirmed_blobs()
            .map_err(err)?
            .into_iter()
            .map(|b| b.sha256)
            .collect();
        let photos = p.photos.lock().map_err(err)?.clone();
        let mut seen = p.verified_blobs.lock().map_err(err)?.clone();
        for sha in photos.iter().filter(|s| !unconfirmed.contains(*s)) {
            if !all && seen.contains(sha) {
                continue;
            }
            let known = storage.blob(sha).await.map_err(err)?.is_some();
            let hashed = fieldcase_server::maintenance::hash_file(&blobs.final_path(sha))
                .map(|(h, _)| &h == sha)
                .unwrap_or(false);
            if !(known && hashed) {
                return Err(ServerCrashError(format!(
                    "{}: photo {sha} confirmed by the server is missing or altered there",
                    p.user
                )));
            }
            seen.insert(sha.clone());
            blobs_ok += 1;
        }
        *p.verified_blobs.lock().map_err(err)? = seen;
    }
    Ok((states, blobs_ok))
}

/// Runs the loop in `dir` (the server data and the phones' stores go there).
pub fn server_crash_loop(dir: &Path, cfg: &ServerCrashConfig) -> R<ServerCrashReport> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err)?;
    rt.block_on(run(dir, cfg))
}

async fn run(dir: &Path, cfg: &ServerCrashConfig) -> R<ServerCrashReport> {
    let start = Instant::now();
    let data = dir.join("server");
    let photos = dir.join("photos");
    std::fs::create_dir_all(&data).map_err(err)?;
    std::fs::create_dir_all(&photos).map_err(err)?;
    let mut server = Server {
        bin: cfg.server_bin.clone(),
        data: data.clone(),
        addr: free_addr()?,
        proc: ServerProc { child: None },
    };
    server.admin(&["create-unit", "--path", "luan", "--name", "luan"])?;
    server.admin(&["create-unit", "--path", UNIT, "--name", "crash"])?;
    let mut codes = Vec::new();
    for i in 0..cfg.phones {
        let user = format!("OF-C{i}");
        server.admin(&[
            "create-user",
            "--id",
            &user,
            "--name",
            &user,
            "--role",
            "officer",
            "--unit",
            UNIT,
        ])?;
        let code = server.admin(&["create-code", "--user", &user])?;
        let code = code["code"]
            .as_str()
            .ok_or_else(|| err("create-code printed no code"))?
            .to_string();
        codes.push((user, code));
    }
    server.start()?;
    let url = format!("http://{}", server.addr);
    let mut phones = Vec::new();
    for (user, code) in codes {
        let path = dir.join(format!("{user}.db"));
        let client = sync_client(&url)?;
        let device_id = {
            let store = FieldStore::open(&path, phone_config("unenrolled")).map_err(err)?;
            let key = store.device_public_key().map_err(err)?;
            client
                .enrol(&store, &code, &key, &format!("{user} phone"))
                .await
                .map_err(err)?
                .device_id
        };
        let store = FieldStore::open(&path, phone_config(device_id)).map_err(err)?;
        phones.push(Arc::new(CrashPhone {
            store,
            client: Mutex::new(client),
            user,
            created: Mutex::new(Vec::new()),
            photos: Mutex::new(Vec::new()),
            verified: Mutex::new(BTreeMap::new()),
            verified_blobs: Mutex::new(BTreeSet::new()),
        }));
    }

    let mut rng = Rng::new(cfg.seed);
    let mut report = ServerCrashReport::default();
    let counters = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
    let other = Arc::new(Mutex::new(None));
    let max_us = cfg.max_delay.as_micros().max(1) as u64;
    for cycle in 0..cfg.kills {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = phones
            .iter()
            .map(|p| {
                tokio::spawn(phone_loop(
                    p.clone(),
                    Rng::new(rng.next_u64()),
                    stop.clone(),
                    photos.clone(),
                    counters.clone(),
                    other.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_micros(rng.below(max_us))).await;
        server.proc.kill()?;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await
                .map_err(err)?
                .map_err(|e| ServerCrashError(format!("cycle {cycle}: {e}")))?;
        }
        report.kills += 1;
        let (states, _) = check_acked(&data, &phones, false)
            .await
            .map_err(|e| ServerCrashError(format!("cycle {cycle}: {e}")))?;
        report.acked_states_checked += states;
        if let Err(e) = server.start() {
            // The port may have been taken in the meantime: move.
            server.proc.kill()?;
            server.addr = free_addr()?;
            server
                .start()
                .map_err(|e2| ServerCrashError(format!("cycle {cycle}: restart: {e}; {e2}")))?;
        }
        // Fresh clients: a pooled connection to the killed process would only cost the next
        // session its first request (one attempt), not test anything more.
        let url = format!("http://{}", server.addr);
        for p in &phones {
            *p.client.lock().map_err(err)? = sync_client(&url)?;
        }
    }

    // Final sync until quiet: every phone has pushed everything and received everything.
    let mut quiet = 0;
    for _ in 0..20 {
        let mut moved = 0u64;
        let mut failed = false;
        for p in &phones {
            let client = p.client.lock().map_err(err)?.clone();
            match client.sync(&p.store).await {
                Ok(r) => {
                    moved += u64::from(r.pushed) + u64::from(r.received);
                    moved += u64::from(r.blobs_uploaded);
                }
                Err(_) => failed = true,
            }
        }
        let dirty: i64 = phones
            .iter()
            .map(|p| p.store.dirty_count().unwrap_or(1))
            .sum();
        if moved == 0 && !failed && dirty == 0 {
            quiet += 1;
            if quiet >= 2 {
                break;
            }
        } else {
            quiet = 0;
        }
    }
    if quiet < 2 {
        return Err(ServerCrashError(
            "the final sync did not settle in 20 rounds".into(),
        ));
    }
    server.proc.kill()?;
    let (states, blobs) = check_acked(&data, &phones, true).await?;
    report.acked_states_checked += states;
    report.acked_blobs = blobs;

    // Converged: every phone holds exactly the server's documents at the server's heads, and
    // every case recorded is there.
    let storage = SqliteStorage::open(data.join("server.db")).map_err(err)?;
    let mut server_heads = BTreeMap::new();
    for p in &phones {
        for (id, mut heads) in p.store.heads().map_err(err)? {
            heads.sort();
            let doc =
                storage.load_doc(&id).await.map_err(err)?.ok_or_else(|| {
                    ServerCrashError(format!("{}: {id} not on the server", p.user))
                })?;
            let theirs = hex_heads(&doc.heads);
            if heads != theirs {
                return Err(ServerCrashError(format!(
                    "{}: document {id} diverged after the final sync",
                    p.user
                )));
            }
            server_heads.insert(id, theirs);
        }
        for id in p.created.lock().map_err(err)?.iter() {
            if !server_heads.contains_key(id) {
                return Err(ServerCrashError(format!("{}: case {id} lost", p.user)));
            }
        }
        report.records_created += p.created.lock().map_err(err)?.len();
    }
    let on_server = storage.doc_count().await.map_err(err)?;
    if usize::try_from(on_server).unwrap_or(usize::MAX) != server_heads.len() {
        return Err(ServerCrashError(format!(
            "the server holds {on_server} documents, the phones {}",
            server_heads.len()
        )));
    }
    for p in &phones {
        if p.store.heads().map_err(err)?.len() != server_heads.len() {
            return Err(ServerCrashError(format!(
                "{} lacks documents of its unit",
                p.user
            )));
        }
    }
    report.docs_converged = server_heads.len();
    report.syncs_ok = counters.0.load(Ordering::Relaxed);
    report.syncs_cut = counters.1.load(Ordering::Relaxed);
    report.syncs_refused = counters.2.load(Ordering::Relaxed);
    report.first_refusal = other.lock().map_err(err)?.clone();
    report.elapsed = start.elapsed();
    Ok(report)
}
