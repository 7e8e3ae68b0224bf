//! The benchmark harness: each benchmark measures fieldcase and a baseline in the same run and
//! prints one JSON line `{"bench","ours","baseline","baseline_is","unit","ratio"}`.
//!
//! `cargo run --release -p fieldcase-tests --bin bench -- [--quick] [--only NAME]`
//!
//! `baseline_is` is `floor` (the raw primitive doing the same job: SQLite with the same pragmas
//! and the same rows) or `peer:NAME`. Times are medians; `ratio` is ours / baseline.
//! See `docs/benchmarks.md` for what each benchmark and baseline is, the results, and what is
//! not measured yet. The sync, server, ingest and peer benchmarks live in `tests/src/bench/`.

#[path = "../bench/documents.rs"]
mod documents;
#[path = "../bench/ingest.rs"]
mod ingest;
#[path = "../bench/peers.rs"]
mod peers;
#[path = "../bench/server.rs"]
mod server;
#[path = "../bench/slow.rs"]
mod slow;
#[path = "../bench/sync.rs"]
mod sync;

use fieldcase_core::catalogue::{Method, PartyType};
use fieldcase_core::model::Place;
use fieldcase_core::store::{NewAction, NewCase};
use fieldcase_core::{FieldStore, StoreConfig};
use rusqlite::{Connection, params};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// A harness failure (never a measurement).
#[derive(Debug)]
struct BenchError(String);

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for BenchError {
    fn from(e: E) -> Self {
        BenchError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, BenchError>;

/// Converts the harness's boxed errors.
fn be(e: Box<dyn std::error::Error + Send + Sync>) -> BenchError {
    BenchError(e.to_string())
}

/// A two-worker runtime for the benchmarks that run a server.
fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

const T0: i64 = 1_790_000_000_000;

fn print_line(bench: &str, ours: f64, baseline: f64, baseline_is: &str, unit: &str) {
    let ratio = if baseline > 0.0 { ours / baseline } else { 0.0 };
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    println!(
        "{}",
        json!({
            "bench": bench,
            "ours": round(ours),
            "baseline": round(baseline),
            "baseline_is": baseline_is,
            "unit": unit,
            "ratio": round(ratio),
        })
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-cache")
}

fn case_input(store: &FieldStore, k: u64) -> Result<NewCase> {
    let c = store.catalogue();
    let (code, tier) = c
        .items()
        .find_map(|i| {
            i.tiers
                .iter()
                .find(|t| t.party_type == PartyType::Person)
                .map(|t| (i.code.clone(), t.tier.clone()))
        })
        .ok_or_else(|| BenchError("no tier in the catalogue".into()))?;
    let at = T0 + k as i64 * 60_000;
    let action = |method: Method, note: &str, fields: serde_json::Value| NewAction {
        method,
        at_ms: at,
        by: "OF-1001".into(),
        note: Some(note.into()),
        fields: match fields {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        },
    };
    Ok(NewCase {
        unit: format!("luan/jinan/squad-{}", k % 7 + 1),
        occurred_at_ms: at,
        place: Place {
            lat: 31.7349 + (k % 1000) as f64 * 1e-5,
            lon: 116.5079,
            accuracy_m: Some(8.0),
            address: Some("六安市金安区梅山中路".into()),
        },
        officers: vec!["OF-1001".into(), "OF-1002".into()],
        recorded_by: "OF-1001".into(),
        party_id: None,
        violation_code: code,
        tier,
        description: Some("店外摆放货架，占用人行道约两米".into()),
        actions: vec![
            action(
                Method::Guidance,
                "提示经营范围",
                json!({"topic": "门前三包", "advice": "货架摆放在店内"}),
            ),
            action(
                Method::Persuasion,
                "当事人表示理解",
                json!({"explained": "占道经营影响通行", "outcome": "accepted"}),
            ),
            action(
                Method::Persuasion,
                "货架已移回店内",
                json!({"explained": "再次说明", "outcome": "accepted"}),
            ),
        ],
        involves_minor: false,
        privacy_protected: false,
    })
}

fn floor_conn(path: &Path) -> Result<Connection> {
    let c = Connection::open(path)?;
    c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))?;
    c.pragma_update(None, "synchronous", "FULL")?;
    Ok(c)
}

/// One case with three actions, one durable write, against one SQLite transaction inserting
/// the same record's JSON (WAL, synchronous=FULL).
fn record_case(quick: bool) -> Result<()> {
    let n = if quick { 200 } else { 1000 };
    std::fs::create_dir_all(cache_root())?;
    let dir = tempfile::Builder::new()
        .prefix("record-case-")
        .tempdir_in(cache_root())?;
    let store = FieldStore::open(
        dir.path().join("store.db"),
        StoreConfig::insecure_plain_for_tests("bench"),
    )?;
    let floor = floor_conn(&dir.path().join("floor.db"))?;
    floor.execute_batch(
        "CREATE TABLE records (id TEXT PRIMARY KEY, json TEXT NOT NULL) WITHOUT ROWID",
    )?;
    let inputs = (0..n + 50)
        .map(|k| case_input(&store, k))
        .collect::<Result<Vec<_>>>()?;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for (k, input) in inputs.into_iter().enumerate() {
        let t = Instant::now();
        let record = store.create_case(input)?;
        let ours_us = t.elapsed().as_secs_f64() * 1e6;
        // The floor writes the same JSON under a fresh key.
        let mut v = serde_json::to_value(&record)?;
        v["id"] = json!(format!("{}-floor", record.id));
        let text = serde_json::to_string(&v)?;
        let t = Instant::now();
        let tx = floor.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO records(id, json) VALUES (?1, ?2)",
            params![format!("{}-floor", record.id), text],
        )?;
        tx.commit()?;
        let base_us = t.elapsed().as_secs_f64() * 1e6;
        if k >= 50 {
            ours.push(ours_us);
            base.push(base_us);
        }
    }
    print_line(
        "record_case",
        median(&mut ours),
        median(&mut base),
        "floor",
        "us",
    );
    Ok(())
}

/// The cost of encryption at rest: the same case written to an encrypted store (SQLCipher)
/// and to a plain one, alternately, so both see the same machine load.
fn record_case_encrypted(quick: bool) -> Result<()> {
    let n = if quick { 200 } else { 1000 };
    std::fs::create_dir_all(cache_root())?;
    let dir = tempfile::Builder::new()
        .prefix("record-case-enc-")
        .tempdir_in(cache_root())?;
    let enc = FieldStore::open(
        dir.path().join("enc.db"),
        StoreConfig::new("bench-enc", [0x42; 32]),
    )?;
    let plain = FieldStore::open(
        dir.path().join("plain.db"),
        StoreConfig::insecure_plain_for_tests("bench-plain"),
    )?;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for k in 0..n + 50 {
        let a = case_input(&enc, k)?;
        let b = case_input(&plain, k)?;
        let t = Instant::now();
        enc.create_case(a)?;
        let ours_us = t.elapsed().as_secs_f64() * 1e6;
        let t = Instant::now();
        plain.create_case(b)?;
        let base_us = t.elapsed().as_secs_f64() * 1e6;
        if k >= 50 {
            ours.push(ours_us);
            base.push(base_us);
        }
    }
    print_line(
        "record_case_encrypted",
        median(&mut ours),
        median(&mut base),
        "floor",
        "us",
    );
    Ok(())
}

/// Builds (once) a store of `n` cases through the real API, every tenth closed, and a floor
/// database holding the same `cases` rows with the same table and indexes.
fn build_open_cache(n: u64) -> Result<PathBuf> {
    let dir = cache_root().join(format!("open-{n}"));
    if dir.join("complete").exists() {
        return Ok(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let start = Instant::now();
    {
        let store = FieldStore::open(
            dir.join("store.db"),
            StoreConfig::insecure_plain_for_tests("bench"),
        )?;
        for k in 0..n {
            let c = store.create_case(case_input(&store, k)?)?;
            if k % 10 == 0 {
                store.close_case(&c.id, "OF-1001", T0 + k as i64 * 60_000 + 1, "当场整改完毕")?;
            }
            if k % 10_000 == 9_999 {
                eprintln!(
                    "built {} cases in {:.0} s",
                    k + 1,
                    start.elapsed().as_secs_f64()
                );
            }
        }
    }
    let floor = floor_conn(&dir.join("floor.db"))?;
    floor.execute(
        "ATTACH DATABASE ?1 AS s",
        [dir.join("store.db").to_string_lossy()],
    )?;
    let ddl: Vec<String> = {
        let mut stmt = floor.prepare(
            "SELECT sql FROM s.sqlite_master WHERE tbl_name = 'cases' AND sql IS NOT NULL
             ORDER BY type DESC",
        )?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?
    };
    for sql in ddl {
        floor.execute_batch(&sql)?;
    }
    floor.execute_batch("INSERT INTO main.cases SELECT * FROM s.cases; DETACH DATABASE s;")?;
    drop(floor);
    std::fs::write(dir.join("complete"), b"")?;
    eprintln!(
        "built the {n}-case cache in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(dir)
}

/// The list query of `FieldStore::open_cases`, on the floor table.
const LIST_SQL: &str = "SELECT id, unit, status, violation_code, tier, party_id, occurred_at_ms,
    day, lat, lon, exemption_kind, correction_deadline_ms, exemption_conflict, action_count,
    evidence_count FROM cases WHERE closed = 0
    AND (?1 IS NULL OR unit = ?1 OR unit LIKE ?1 || '/%')
    ORDER BY occurred_at_ms DESC LIMIT ?2";

/// Child process: opens and lists, then reports the time and the peak RSS.
fn child_open(which: &str, dir: &Path) -> Result<()> {
    let t = Instant::now();
    let listed = match which {
        "ours" => {
            let store = FieldStore::open(
                dir.join("store.db"),
                StoreConfig::insecure_plain_for_tests("bench"),
            )?;
            store.open_cases(None, 100)?.len()
        }
        _ => {
            let c = floor_conn(&dir.join("floor.db"))?;
            let mut stmt = c.prepare(LIST_SQL)?;
            let rows = stmt.query_map(params![Option::<String>::None, 100], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, f64>(8)?,
                    r.get::<_, i64>(13)?,
                ))
            })?;
            rows.collect::<std::result::Result<Vec<_>, _>>()?.len()
        }
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    println!("{}", json!({"ms": ms, "rss_kb": hwm_kb, "listed": listed}));
    Ok(())
}

fn run_child(which: &str, dir: &Path) -> Result<(f64, f64)> {
    let out = Command::new(std::env::current_exe()?)
        .args(["--child-open", which])
        .arg(dir)
        .output()?;
    if !out.status.success() {
        return Err(BenchError(format!(
            "child {which} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    if v["listed"].as_u64() != Some(100) {
        return Err(BenchError(format!("child {which} listed {}", v["listed"])));
    }
    Ok((
        v["ms"].as_f64().unwrap_or(0.0),
        v["rss_kb"].as_f64().unwrap_or(0.0),
    ))
}

/// Opening a store of 100,000 cases and listing the first 100 open ones, in a fresh process,
/// against opening a raw SQLite file with the same rows and running the same query.
fn open_records(quick: bool) -> Result<()> {
    let n = if quick { 10_000 } else { 100_000 };
    let dir = build_open_cache(n)?;
    let (mut ours_ms, mut ours_kb, mut base_ms, mut base_kb) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        let (ms, kb) = run_child("ours", &dir)?;
        ours_ms.push(ms);
        ours_kb.push(kb);
        let (ms, kb) = run_child("floor", &dir)?;
        base_ms.push(ms);
        base_kb.push(kb);
    }
    let name = format!("open_{n}_records");
    print_line(
        &name,
        median(&mut ours_ms),
        median(&mut base_ms),
        "floor",
        "ms",
    );
    print_line(
        &format!("{name}_peak_rss"),
        median(&mut ours_kb) / 1024.0,
        median(&mut base_kb) / 1024.0,
        "floor",
        "MiB",
    );
    Ok(())
}

type Bench = (&'static str, fn(bool) -> Result<()>);

/// Every benchmark implemented so far; `docs/benchmarks.md` lists the ones still to come.
const BENCHES: &[Bench] = &[
    ("record_case", record_case),
    ("record_case_encrypted", record_case_encrypted),
    ("open_100000_records", open_records),
    ("sync_1000_records", sync::sync_1000_records),
    ("noop_sync_10000_docs", sync::noop_sync_10000_docs),
    (
        "server_200_devices_sqlite",
        server::server_200_devices_sqlite,
    ),
    (
        "server_200_devices_postgres",
        server::server_200_devices_postgres,
    ),
    ("slow_network_1000_records", slow::slow_network_1000_records),
    ("evidence_ingest_12mp", ingest::evidence_ingest_12mp),
    ("document_render", documents::document_render),
    (
        "peer_replication_10000_docs",
        peers::peer_replication_10000_docs,
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child-open") {
        let (Some(which), Some(dir)) = (args.get(1), args.get(2)) else {
            return ExitCode::from(2);
        };
        return match child_open(which, Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.first().map(String::as_str) == Some("--child-ingest") {
        let (Some(file), Some(runs)) = (args.get(1), args.get(2).and_then(|r| r.parse().ok()))
        else {
            return ExitCode::from(2);
        };
        let sealed = args.get(3).map(String::as_str) != Some("plain");
        return match ingest::child_ingest(Path::new(file), runs, sealed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let start = Instant::now();
    let mut failed = 0;
    for (name, run) in BENCHES {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let t = Instant::now();
        match run(quick) {
            Ok(()) => eprintln!("bench {name}: {:.1} s", t.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("bench {name} failed: {e}");
                failed += 1;
            }
        }
    }
    eprintln!(
        "done in {:.1} s, {failed} failed",
        start.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
