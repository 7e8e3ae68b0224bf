//! Sync benchmarks: one phone uploading 1,000 new records (its time against a floor, and the
//! bytes on the wire of pushing and pulling them against the raw Automerge bytes, in each body
//! form), and a no-op sync over 10,000 synced documents, all against a real server on
//! 127.0.0.1 with embedded SQLite, and all through a byte-counting TCP proxy so the byte
//! figures are wire bytes (headers included).

use crate::{BenchError, Result, T0, be, cache_root, median, print_line, runtime};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use fieldcase_core::sync::negotiate::WireOptions;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, TestServer, raw_http};
use fieldcase_tests::proxy::FaultProxy;
use rusqlite::Connection;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The floor server: receives length-prefixed documents and writes them to SQLite (WAL,
/// synchronous=FULL) in one transaction, then answers with the count.
async fn floor_ingest(State(db): State<Arc<Mutex<Connection>>>, body: axum::body::Bytes) -> String {
    let res = tokio::task::spawn_blocking(move || -> std::result::Result<usize, String> {
        let mut c = db.lock().map_err(|e| e.to_string())?;
        let tx = c.transaction().map_err(|e| e.to_string())?;
        let mut n = 0usize;
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO docs(bytes) VALUES (?1)")
                .map_err(|e| e.to_string())?;
            let mut rest: &[u8] = &body;
            while rest.len() >= 4 {
                let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                let end = (4 + len).min(rest.len());
                stmt.execute([&rest[4..end]]).map_err(|e| e.to_string())?;
                rest = &rest[end..];
                n += 1;
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(n)
    })
    .await;
    match res {
        Ok(Ok(n)) => n.to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(e) => format!("error: {e}"),
    }
}

async fn start_floor_server(db_path: &Path) -> Result<SocketAddr> {
    let c = crate::floor_conn(db_path)?;
    c.execute_batch("CREATE TABLE docs (id INTEGER PRIMARY KEY, bytes BLOB NOT NULL)")?;
    let app = Router::new()
        .route("/ingest", post(floor_ingest))
        .layer(DefaultBodyLimit::disable())
        .with_state(Arc::new(Mutex::new(c)));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

async fn server_phone(dir: &Path) -> Result<(TestServer, FaultProxy, Phone)> {
    let s = TestServer::start(&dir.join("server")).await.map_err(be)?;
    let proxy = FaultProxy::start(s.server.addr).await?;
    let url = format!("http://{}", proxy.addr);
    let phone = Phone::enrol(&s, &url, dir, "OF-A", Role::Officer, "luan/jinan/squad-1")
        .await
        .map_err(be)?;
    // The first session learns device keys and the cursor: not part of what is measured.
    phone.sync().await?;
    Ok((s, proxy, phone))
}

fn wire_bytes(proxy: &FaultProxy) -> u64 {
    let s = proxy.stats();
    s.up_bytes + s.down_bytes
}

/// One phone uploads 1,000 new case records in one sync session.
pub fn sync_1000_records(_quick: bool) -> Result<()> {
    let n = 1000;
    std::fs::create_dir_all(cache_root())?;
    let dir = tempfile::Builder::new()
        .prefix("sync-1000-")
        .tempdir_in(cache_root())?;
    runtime()?.block_on(async {
        let (s, proxy, phone) = server_phone(dir.path()).await?;
        let before = phone.store.heads()?;
        for i in 0..n {
            phone.case(None, T0 + i).map_err(be)?;
        }
        let bundle = phone.store.export_changes(&before)?;
        let floor_bytes: usize = bundle.docs.iter().map(|d| d.bytes.len()).sum();
        if bundle.docs.len() != n as usize {
            return Err(BenchError(format!("{} new documents", bundle.docs.len())));
        }
        let w0 = wire_bytes(&proxy);
        let t = Instant::now();
        let r = phone.sync().await?;
        let ours_ms = t.elapsed().as_secs_f64() * 1e3;
        let ours_bytes = wire_bytes(&proxy) - w0;
        if r.accepted != n as u32 || !r.complete {
            return Err(BenchError(format!(
                "sync accepted {} of {n} (complete: {})",
                r.accepted, r.complete
            )));
        }
        eprintln!(
            "sync_1000_records: {} round trips, {} B body up, {} B body down, {ours_bytes} B on the wire",
            r.round_trips, r.bytes_sent, r.bytes_received
        );

        // Floor: the same change bytes in one HTTP POST, written in one SQLite transaction.
        let mut body = Vec::with_capacity(floor_bytes + 4 * bundle.docs.len());
        for d in &bundle.docs {
            body.extend_from_slice(&(d.bytes.len() as u32).to_le_bytes());
            body.extend_from_slice(&d.bytes);
        }
        let floor_addr = start_floor_server(&dir.path().join("floor.db")).await?;
        let http = raw_http().map_err(be)?;
        let mut base = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let reply = http
                .post(format!("http://{floor_addr}/ingest"))
                .body(body.clone())
                .send()
                .await?
                .text()
                .await?;
            base.push(t.elapsed().as_secs_f64() * 1e3);
            if reply != n.to_string() {
                return Err(BenchError(format!("floor server answered {reply}")));
            }
        }
        print_line(
            "sync_1000_records_ms",
            ours_ms,
            median(&mut base),
            "floor",
            "ms",
        );
        drop(phone);
        s.server.kill().await?;
        // Bytes on the wire for pushing and pulling, in each body form.
        let mut lines = Vec::new();
        for (name, wire) in [
            ("sync_1000_records_bytes_json", WireOptions::json_only()),
            (
                "sync_1000_records_bytes_cbor",
                WireOptions {
                    binary: true,
                    gzip: false,
                },
            ),
            ("sync_1000_records_bytes", WireOptions::default()),
        ] {
            let sub = dir.path().join(name);
            std::fs::create_dir_all(&sub)?;
            let (push, pull, raw) = push_pull_bytes(&sub, n, wire).await?;
            eprintln!(
                "{name}: push {push} B, pull {pull} B on the wire; raw Automerge {raw} B each way"
            );
            lines.push((name, (push + pull) as f64, (2 * raw) as f64));
        }
        for (name, ours, raw) in lines {
            print_line(name, ours, raw, "floor", "B");
        }
        Ok(())
    })
}

/// Wire bytes (headers included) of one phone pushing `n` new case records in one session
/// and another phone of the same unit pulling them in one session, with the body options
/// `wire`, and the raw Automerge bytes of those records (what either direction must carry at
/// least).
async fn push_pull_bytes(dir: &Path, n: i64, wire: WireOptions) -> Result<(u64, u64, u64)> {
    let s = TestServer::start(&dir.join("server")).await.map_err(be)?;
    let proxy = FaultProxy::start(s.server.addr).await?;
    let url = format!("http://{}", proxy.addr);
    let unit = "luan/jinan/squad-1";
    let mut a = Phone::enrol(&s, &url, dir, "OF-A", Role::Officer, unit)
        .await
        .map_err(be)?;
    let mut b = Phone::enrol(&s, &url, dir, "OF-B", Role::Officer, unit)
        .await
        .map_err(be)?;
    a.use_wire(&url, wire).map_err(be)?;
    b.use_wire(&url, wire).map_err(be)?;
    // First sessions: device keys, cursor, catalogue, and what the server reads.
    a.sync().await?;
    b.sync().await?;
    let before = a.store.heads()?;
    for i in 0..n {
        a.case(None, T0 + i).map_err(be)?;
    }
    let bundle = a.store.export_changes(&before)?;
    let raw: u64 = bundle.docs.iter().map(|d| d.bytes.len() as u64).sum();
    let w0 = wire_bytes(&proxy);
    let r = a.sync().await?;
    let push = wire_bytes(&proxy) - w0;
    if r.accepted != n as u32 || !r.complete {
        return Err(BenchError(format!("push accepted {} of {n}", r.accepted)));
    }
    let w1 = wire_bytes(&proxy);
    let r = b.sync().await?;
    let pull = wire_bytes(&proxy) - w1;
    if r.received != n as u32 || !r.complete {
        return Err(BenchError(format!("pull received {} of {n}", r.received)));
    }
    drop((a, b));
    s.server.kill().await?;
    Ok((push, pull, raw))
}

/// Documents on the phone for the no-op sync (`FIELDCASE_BENCH_NOOP_DOCS` overrides 10,000,
/// for development in debug builds; the bench name follows the count).
fn noop_docs() -> i64 {
    std::env::var("FIELDCASE_BENCH_NOOP_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// A phone holding 10,000 synced documents syncs with nothing new.
pub fn noop_sync_10000_docs(_quick: bool) -> Result<()> {
    let n = noop_docs();
    std::fs::create_dir_all(cache_root())?;
    let dir = tempfile::Builder::new()
        .prefix("noop-sync-")
        .tempdir_in(cache_root())?;
    runtime()?.block_on(async {
        let (s, proxy, phone) = server_phone(dir.path()).await?;
        let t = Instant::now();
        for i in 0..n {
            phone.case(None, T0 + i).map_err(be)?;
        }
        eprintln!(
            "noop_sync: recorded {n} cases in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        for _ in 0..20 {
            let r = phone.sync().await?;
            if r.complete && r.pushed == 0 {
                break;
            }
        }
        let (mut ours_ms, mut ours_b) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            let w0 = wire_bytes(&proxy);
            let t = Instant::now();
            let r = phone.sync().await?;
            ours_ms.push(t.elapsed().as_secs_f64() * 1e3);
            ours_b.push((wire_bytes(&proxy) - w0) as f64);
            if r.pushed != 0 || r.received != 0 {
                return Err(BenchError(format!(
                    "the no-op sync moved {} up, {} down",
                    r.pushed, r.received
                )));
            }
        }
        let http = raw_http().map_err(be)?;
        let url = format!("http://{}/healthz", proxy.addr);
        let (mut base_ms, mut base_b) = (Vec::new(), Vec::new());
        for k in 0..8 {
            let w0 = wire_bytes(&proxy);
            let t = Instant::now();
            http.get(&url)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            // The first request opens the connection; the sync client's is already open.
            if k > 0 {
                base_ms.push(ms);
                base_b.push((wire_bytes(&proxy) - w0) as f64);
            }
        }
        let name = format!("noop_sync_{n}_docs");
        print_line(
            &name,
            median(&mut ours_ms),
            median(&mut base_ms),
            "floor",
            "ms",
        );
        print_line(
            &format!("{name}_bytes"),
            median(&mut ours_b),
            median(&mut base_b),
            "floor",
            "B",
        );
        drop(phone);
        s.server.kill().await?;
        Ok(())
    })
}
