//! Replication against established offline-first peers: one phone uploads N small case records
//! to the server and a freshly enrolled phone of the same unit downloads them, timed up and
//! down separately; the same records (serialised to JSON from our store) go through PouchDB
//! and pouchdb-server (the CouchDB replication protocol) and, at 1,000 documents, through
//! automerge-repo with one document per record (it fails at 10,000).
//!
//! The peers are Node programs in `tests/peers/` (versions pinned by its lock file), installed
//! with `npm ci` on first use. A peer that is missing, fails or runs out of time is reported on
//! stderr and gets no line: a number is printed only when it was measured.

use crate::{BenchError, Result, T0, be, cache_root, print_line, runtime};
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, TestServer};
use serde::Deserialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest one peer (install, server start, client run) or one of our sessions may take.
const PEER_LIMIT: Duration = Duration::from_secs(300);
/// The longest one `npm` install may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(600);
/// How long a peer server may take to answer its first request.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// Documents automerge-repo is measured at (it fails at 10,000: see `docs/benchmarks.md`).
const AUTOMERGE_DOCS: usize = 1000;

/// What a peer client script prints.
#[derive(Debug, Deserialize)]
struct PeerTimes {
    docs: usize,
    up_ms: f64,
    down_ms: f64,
}

/// A child process that is killed and reaped when dropped, on every path.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Spawns `cmd` with stdout and stderr in files under `log`, and waits at most `limit`.
/// Returns stdout; a non-zero exit or the time limit is an error carrying the stderr tail.
fn run_bounded(mut cmd: Command, log: &Path, limit: Duration) -> Result<String> {
    let out_path = log.with_extension("out");
    let err_path = log.with_extension("err");
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?);
    let mut child = Killed(cmd.spawn()?);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.0.try_wait()? {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(child);
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    };
    match status {
        None => Err(BenchError(format!(
            "timed out after {} s; stderr: {tail}",
            limit.as_secs()
        ))),
        Some(s) if !s.success() => Err(BenchError(format!("exited with {s}; stderr: {tail}"))),
        Some(_) => Ok(std::fs::read_to_string(&out_path)?),
    }
}

/// Installs the pinned peers into `tests/peers/node_modules` when missing.
fn ensure_peers(scratch: &Path) -> Result<()> {
    for tool in ["node", "npm"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(BenchError(format!("`{tool}` is not installed")));
        }
    }
    let dir = peers_dir();
    if dir.join("node_modules/.package-lock.json").exists() {
        return Ok(());
    }
    eprintln!("peer_replication: installing the peers with `npm ci` in tests/peers");
    let mut cmd = Command::new("npm");
    cmd.args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir);
    let Err(ci) = run_bounded(cmd, &scratch.join("npm-ci"), INSTALL_LIMIT) else {
        return Ok(());
    };
    // npm 11 rejects this lock file for cbor-extract's optional per-platform packages, which
    // it never recorded; `npm install` still takes every recorded version from the lock file.
    eprintln!("peer_replication: `npm ci` failed ({ci}); trying `npm install`");
    let mut cmd = Command::new("npm");
    cmd.args(["install", "--no-audit", "--no-fund"])
        .current_dir(&dir);
    run_bounded(cmd, &scratch.join("npm-install"), INSTALL_LIMIT)
        .map_err(|e| BenchError(format!("installing the peers in tests/peers failed: {e}")))?;
    Ok(())
}

/// A loopback port nothing listens on now (the peer servers take a port number, not a socket).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Whether `GET path` on `addr` answers 200.
fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

/// Starts a peer server and waits (bounded) until `GET ready_path` answers 200.
fn start_server(
    mut cmd: Command,
    log: &Path,
    addr: SocketAddr,
    ready_path: &str,
) -> Result<Killed> {
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(log.with_extension("out"))?)
        .stderr(std::fs::File::create(log.with_extension("err"))?);
    let mut server = Killed(cmd.spawn()?);
    let deadline = Instant::now() + READY_LIMIT;
    while !http_ok(addr, ready_path) {
        if let Some(s) = server.0.try_wait()? {
            return Err(BenchError(format!(
                "the server exited with {s} before answering"
            )));
        }
        if Instant::now() > deadline {
            return Err(BenchError(format!(
                "the server did not answer within {} s",
                READY_LIMIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(server)
}

fn parse_times(out: &str, n: usize) -> Result<PeerTimes> {
    let line = out.lines().last().unwrap_or_default();
    let t: PeerTimes = serde_json::from_str(line)
        .map_err(|e| BenchError(format!("unreadable peer output {line:?}: {e}")))?;
    if t.docs != n {
        return Err(BenchError(format!(
            "the peer moved {} of {n} documents",
            t.docs
        )));
    }
    Ok(t)
}

/// PouchDB (leveldb) replicating to and from pouchdb-server (leveldb) on 127.0.0.1.
fn pouchdb(records: &Path, n: usize, scratch: &Path) -> Result<PeerTimes> {
    ensure_peers(scratch)?;
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let data = scratch.join("pouchdb-server");
    std::fs::create_dir_all(&data)?;
    let mut cmd = Command::new(peers_dir().join("node_modules/.bin/pouchdb-server"));
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--dir"])
        .arg(&data)
        .arg("-n")
        .current_dir(&data);
    let _server = start_server(cmd, &scratch.join("pouchdb-server"), addr, "/")?;
    let client = scratch.join("pouch-client");
    std::fs::create_dir_all(&client)?;
    let mut cmd = Command::new("node");
    cmd.arg(peers_dir().join("pouch.js"))
        .arg(records)
        .arg(format!("http://{addr}"))
        .arg(&client);
    parse_times(&run_bounded(cmd, &client, PEER_LIMIT)?, n)
}

/// automerge-repo, one document per record, through a sync server with file storage.
fn automerge_repo(records: &Path, n: usize, scratch: &Path) -> Result<PeerTimes> {
    ensure_peers(scratch)?;
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let data = scratch.join("am-server");
    std::fs::create_dir_all(&data)?;
    let mut cmd = Command::new("node");
    cmd.arg(peers_dir().join("am_server.mjs"))
        .arg(port.to_string())
        .arg(&data);
    let _server = start_server(cmd, &scratch.join("am-server"), addr, "/count")?;
    let mut cmd = Command::new("node");
    cmd.arg(peers_dir().join("am_client.mjs"))
        .arg(records)
        .arg(format!("http://{addr}"))
        .arg(format!("ws://{addr}"));
    parse_times(
        &run_bounded(cmd, &scratch.join("am-client"), PEER_LIMIT)?,
        n,
    )
}

/// Ours, timed: `(up_ms, down_ms)`. Also writes the recorded cases as a JSON array to
/// `records` for the peers.
fn ours(n: usize, dir: &Path, records: &Path) -> Result<(f64, f64)> {
    runtime()?.block_on(async {
        let s = TestServer::start(&dir.join("server")).await.map_err(be)?;
        let url = s.url();
        let unit = "luan/jinan/squad-1";
        let a = Phone::enrol(&s, &url, dir, "OF-A", Role::Officer, unit)
            .await
            .map_err(be)?;
        // The first session learns device keys and the cursor: not part of what is measured.
        a.sync().await?;
        let t = Instant::now();
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            ids.push(a.case(None, T0 + i as i64).map_err(be)?);
        }
        eprintln!(
            "peer_replication: recorded {n} cases in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let cases = ids
            .iter()
            .map(|id| a.store.case(id))
            .collect::<fieldcase_core::Result<Vec<_>>>()?;
        std::fs::write(records, serde_json::to_vec(&cases)?)?;

        let t = Instant::now();
        let up = tokio::time::timeout(PEER_LIMIT, a.sync())
            .await
            .map_err(|_| BenchError("our upload timed out".into()))??;
        let up_ms = t.elapsed().as_secs_f64() * 1e3;
        if up.accepted as usize != n || !up.complete {
            return Err(BenchError(format!(
                "our upload accepted {} of {n} (complete: {})",
                up.accepted, up.complete
            )));
        }
        let b = Phone::enrol(&s, &url, dir, "OF-B", Role::Officer, unit)
            .await
            .map_err(be)?;
        let t = Instant::now();
        let down = tokio::time::timeout(PEER_LIMIT, b.sync())
            .await
            .map_err(|_| BenchError("our download timed out".into()))??;
        let down_ms = t.elapsed().as_secs_f64() * 1e3;
        let held = ids.iter().filter(|id| b.store.case(id).is_ok()).count();
        if held != n || !down.complete {
            return Err(BenchError(format!(
                "the fresh phone holds {held} of {n} cases (complete: {})",
                down.complete
            )));
        }
        eprintln!(
            "peer_replication: ours at {n}: up {} round trips, {} B up, {} B down; \
             down {} round trips, {} B up, {} B down (bodies)",
            up.round_trips,
            up.bytes_sent,
            up.bytes_received,
            down.round_trips,
            down.bytes_sent,
            down.bytes_received
        );
        drop((a, b));
        s.server.kill().await?;
        Ok((up_ms, down_ms))
    })
}

fn print_pair(name: &str, ours: (f64, f64), peer: &PeerTimes, peer_is: &str) {
    print_line(&format!("{name}_up"), ours.0, peer.up_ms, peer_is, "ms");
    print_line(&format!("{name}_down"), ours.1, peer.down_ms, peer_is, "ms");
}

/// 10,000 records (2,000 with `--quick`; the name follows the count) against PouchDB, and
/// 1,000 against automerge-repo.
pub fn peer_replication_10000_docs(quick: bool) -> Result<()> {
    let n = if quick { 2000 } else { 10_000 };
    std::fs::create_dir_all(cache_root())?;
    let dir = tempfile::Builder::new()
        .prefix("peer-replication-")
        .tempdir_in(cache_root())?;

    let big = dir.path().join(format!("ours-{n}"));
    std::fs::create_dir_all(&big)?;
    let records = dir.path().join(format!("records-{n}.json"));
    let ours_big = ours(n, &big, &records)?;
    let pouch_scratch = dir.path().join("pouchdb");
    std::fs::create_dir_all(&pouch_scratch)?;
    match pouchdb(&records, n, &pouch_scratch) {
        Ok(t) => print_pair(
            &format!("peer_replication_{n}_docs"),
            ours_big,
            &t,
            "peer:pouchdb",
        ),
        Err(e) => eprintln!("peer_replication: PouchDB gave no figure at {n} documents: {e}"),
    }

    let m = AUTOMERGE_DOCS;
    let small = dir.path().join(format!("ours-{m}"));
    std::fs::create_dir_all(&small)?;
    let records = dir.path().join(format!("records-{m}.json"));
    let ours_small = ours(m, &small, &records)?;
    let am_scratch = dir.path().join("automerge-repo");
    std::fs::create_dir_all(&am_scratch)?;
    match automerge_repo(&records, m, &am_scratch) {
        Ok(t) => print_pair(
            &format!("peer_replication_{m}_docs"),
            ours_small,
            &t,
            "peer:automerge-repo",
        ),
        Err(e) => {
            eprintln!("peer_replication: automerge-repo gave no figure at {m} documents: {e}")
        }
    }
    Ok(())
}
