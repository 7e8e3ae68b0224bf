//! The reliability battery: families of seeded checks, short form for CI and a larger nightly
//! form.
//!
//! `cargo run --release -p fieldcase-tests --bin battery -- [--nightly | --quick] [--seed N] [--only NAME]`
//!
//! `--quick` runs a tenth of the short form, for the debug build the test command already has
//! (the short form wants a release build).
//!
//! Prints one summary line per family and `N passed, N failed` alone on the last line; exits
//! non-zero if any failed. A failure prints its family and seed and is appended to
//! `tests/regressions.txt`, whose entries are replayed first on every run. Families are listed
//! in one place, [`FAMILIES`]: a new one is one entry there. `docs/reliability.md` lists them.
//!
//! `crash_loop_server` runs the `fieldcase-server` binary found next to this one (see
//! [`find_server_bin`]); `cargo run -p fieldcase-tests` does not build it.

use fieldcase_tests::attacks;
use fieldcase_tests::authz;
use fieldcase_tests::bad_input::BadInput;
use fieldcase_tests::convergence;
use fieldcase_tests::crash::{CrashConfig, crash_loop, writer_main};
use fieldcase_tests::disk_faults::{IngestFaults, fsize_run, fsize_writer_main};
use fieldcase_tests::fleet;
use fieldcase_tests::fuzz_targets;
use fieldcase_tests::server_crash::{ServerCrashConfig, find_server_bin, server_crash_loop};
use fieldcase_tests::tamper;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DEFAULT_SEED: u64 = 20_261_126;

/// A failed unit: the seed and count that reproduce it.
#[derive(Debug)]
struct Failure {
    seed: u64,
    count: u64,
    message: String,
}

type FamilyResult = Result<String, Failure>;

/// A family of checks. `run(seed, count)` runs `count` units starting at `seed` and returns a
/// one-line summary, or the first failure with the seed and count that reproduce it.
struct Family {
    name: &'static str,
    short: u64,
    nightly: u64,
    run: fn(u64, u64) -> FamilyResult,
}

/// Every family, in the order they run.
const FAMILIES: &[Family] = &[
    Family {
        name: "crash_loop_store",
        short: 300,
        nightly: 3_000,
        run: crash_family,
    },
    Family {
        name: "crash_loop_server",
        short: 300,
        nightly: 3_000,
        run: server_crash_family,
    },
    Family {
        name: "convergence",
        short: 2_000,
        nightly: 20_000,
        run: convergence_family,
    },
    Family {
        name: "sync_faults",
        short: 20,
        nightly: 200,
        run: sync_faults_family,
    },
    Family {
        name: "disk_faults",
        short: 400,
        nightly: 4_000,
        run: disk_faults_family,
    },
    Family {
        name: "tamper",
        short: 252,
        nightly: 2_520,
        run: tamper_family,
    },
    Family {
        name: "authz_matrix",
        short: 20,
        nightly: 200,
        run: authz_family,
    },
    Family {
        name: "attacks",
        short: 1,
        nightly: 3,
        run: attacks_family,
    },
    Family {
        name: "fuzz_corpus",
        short: 1,
        nightly: 1,
        run: fuzz_corpus_family,
    },
    Family {
        name: "bad_input",
        short: 3_000,
        nightly: 100_000,
        run: bad_input_family,
    },
];

/// Kills in one loop: the whole loop is the unit a seed reproduces.
fn crash_family(seed: u64, kills: u64) -> FamilyResult {
    let fail = |message: String| Failure {
        seed,
        count: kills,
        message,
    };
    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    let dir = tempfile::Builder::new()
        .prefix("fieldcase-crash-")
        .tempdir_in(scratch_disk())
        .map_err(|e| fail(e.to_string()))?;
    let report = crash_loop(
        &exe,
        &["--crash-writer"],
        dir.path(),
        CrashConfig {
            kills: u32::try_from(kills).unwrap_or(u32::MAX),
            seed,
            max_delay: Duration::from_millis(60),
        },
    )
    .map_err(|e| fail(e.0))?;
    Ok(format!(
        "{} kills ({} before the first ack), {} acked cases and {} acked actions all present, \
         integrity ok every time",
        report.kills, report.kills_before_first_ack, report.acked_cases, report.acked_actions
    ))
}

/// Kills of the server binary in one loop, two phones syncing: the loop is the unit.
fn server_crash_family(seed: u64, kills: u64) -> FamilyResult {
    let fail = |message: String| Failure {
        seed,
        count: kills,
        message,
    };
    let server_bin = find_server_bin().map_err(|e| fail(e.0))?;
    let dir = tempfile::Builder::new()
        .prefix("fieldcase-server-crash-")
        .tempdir_in(scratch_disk())
        .map_err(|e| fail(e.to_string()))?;
    let r = server_crash_loop(
        dir.path(),
        &ServerCrashConfig {
            kills: u32::try_from(kills).unwrap_or(u32::MAX),
            seed,
            phones: 2,
            max_delay: Duration::from_millis(200),
            server_bin,
        },
    )
    .map_err(|e| fail(e.0))?;
    Ok(format!(
        "{} kills of the server binary, {} syncs completed, {} cut or refused while it was down, {} ended by an error reply \
         (first: {}); {} acknowledged \
         document states and {} confirmed photos all on the server, integrity ok every time; \
         {} cases recorded, {} documents converged after the final sync",
        r.kills,
        r.syncs_ok,
        r.syncs_cut,
        r.syncs_refused,
        r.first_refusal.as_deref().unwrap_or("none"),
        r.acked_states_checked,
        r.acked_blobs,
        r.records_created,
        r.docs_converged
    ))
}

/// The crash loop's store lives on the real disk (durability is the point), under `target/`.
fn scratch_disk() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/battery");
    let _ = std::fs::create_dir_all(&p);
    p
}

/// One schedule per seed, on two threads.
fn convergence_family(seed: u64, count: u64) -> FamilyResult {
    let next = AtomicU64::new(0);
    let totals = std::sync::Mutex::new(convergence::Stats::default());
    let failure: std::sync::Mutex<Option<Failure>> = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        break;
                    }
                    let unit = seed.wrapping_add(i);
                    match convergence::check_seed(unit, 40) {
                        Ok(st) => {
                            if let Ok(mut t) = totals.lock() {
                                *t += st;
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(Failure {
                                    seed: unit,
                                    count: 1,
                                    message: e.0,
                                });
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(f) = failure.into_inner().ok().flatten() {
        return Err(f);
    }
    let t = totals.into_inner().unwrap_or_default();
    Ok(format!(
        "{count} schedules converged: {} ops ({} refused by the rules), {} deliveries, \
         {} optimistic bundles refused unchanged, {} restarts",
        t.ops_ok + t.ops_refused,
        t.ops_refused,
        t.delivered,
        t.refused_imports,
        t.restarts
    ))
}

/// One small fleet per seed: four phones of one unit editing shared cases with photos, six
/// chaos rounds of dropped, cut and duplicated requests through the fault proxy, partitions and
/// three server restarts, then sync until quiet.
fn sync_faults_family(seed: u64, count: u64) -> FamilyResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure {
            seed,
            count,
            message: e.to_string(),
        })?;
    let mut t = fleet::FleetReport::default();
    for i in 0..count {
        let unit = seed.wrapping_add(i);
        let fail = |message: String| Failure {
            seed: unit,
            count: 1,
            message,
        };
        let r = rt
            .block_on(fleet::run(fleet::FleetConfig {
                devices: 4,
                records_per_device: 3,
                seed: unit,
                chaos: true,
                database_url: None,
                keep_data: None,
                isolated: false,
                servers: None,
                kill_one: false,
                s3: false,
            }))
            .map_err(|e| fail(e.to_string()))?;
        let duplicates = r.records_on_server - r.records_created as i64;
        if r.records_lost != 0
            || duplicates != 0
            || !r.replicas_converged
            || r.evidence_verified != r.evidence_created
        {
            return Err(fail(format!(
                "{} of {} records lost, {duplicates} extra documents on the server, \
                 converged: {}, {} of {} photos verified (last sync error: {:?})",
                r.records_lost,
                r.records_created,
                r.replicas_converged,
                r.evidence_verified,
                r.evidence_created,
                r.last_error
            )));
        }
        t.records_created += r.records_created;
        t.evidence_verified += r.evidence_verified;
        t.restarts += r.restarts;
        t.failed_syncs += r.failed_syncs;
        t.rejected_changes += r.rejected_changes;
    }
    Ok(format!(
        "{count} fleets converged: {} records and {} photos, 0 lost, 0 duplicates; \
         {} server restarts, {} sync sessions failed by injected faults and retried",
        t.records_created, t.evidence_verified, t.restarts, t.failed_syncs
    ))
}

/// `count` ingests with a seeded failing step each, then one run of store writes under a real
/// file-size limit.
fn disk_faults_family(seed: u64, count: u64) -> FamilyResult {
    let fail = |s: u64, message: String| Failure {
        seed: s,
        count: 1,
        message,
    };
    let dir = tempfile::Builder::new()
        .prefix("fieldcase-disk-")
        .tempdir_in(scratch_disk())
        .map_err(|e| fail(seed, e.to_string()))?;
    let mut f = IngestFaults::setup(dir.path()).map_err(|e| fail(seed, e.0))?;
    for i in 0..count {
        let unit = seed.wrapping_add(i);
        f.run_unit(unit).map_err(|e| fail(unit, e.0))?;
    }
    f.check_store().map_err(|e| fail(seed, e.0))?;
    let exe = std::env::current_exe().map_err(|e| fail(seed, e.to_string()))?;
    let fsize = fsize_run(&exe, dir.path(), 1_000).map_err(|e| Failure {
        seed,
        count,
        message: format!("file-size limit: {}", e.0),
    })?;
    let st = f.stats;
    Ok(format!(
        "{} ingests: {} faults injected, every one a typed error ({} disk full) with no entry, \
         row, temp or orphan file left and a clean retry; {} past the last step; store writes \
         under a file-size limit: typed error after {} acknowledged cases, all kept, \
         integrity ok, writable after",
        st.ingests, st.faults_fired, st.disk_full, st.passed_through, fsize.acked_cases
    ))
}

/// One base case, then `count` seeded mutations of copies of it; the run is the unit.
fn tamper_family(seed: u64, count: u64) -> FamilyResult {
    let fail = |message: String| Failure {
        seed,
        count,
        message,
    };
    let n = usize::try_from(count).unwrap_or(usize::MAX);
    let st = std::panic::catch_unwind(|| tamper::run(seed, n))
        .map_err(|p| {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            fail(format!("panicked: {what}"))
        })?
        .map_err(fail)?;
    Ok(format!(
        "{} mutations of {} kinds (store files, raw document edits, signatures, history, \
         package members and manifests) all detected; {} untouched copies verify clean",
        st.mutations, st.kinds, st.clean_copies
    ))
}

/// The whole matrix once per seed (the seed orders the roles), each on a new server.
fn authz_family(seed: u64, count: u64) -> FamilyResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure {
            seed,
            count,
            message: e.to_string(),
        })?;
    let mut cells = 0u64;
    for i in 0..count {
        let unit = seed.wrapping_add(i);
        let fail = |message: String| Failure {
            seed: unit,
            count: 1,
            message,
        };
        let dir = tempfile::Builder::new()
            .prefix("fieldcase-authz-")
            .tempdir_in(convergence::scratch_root())
            .map_err(|e| fail(e.to_string()))?;
        cells += u64::from(
            rt.block_on(authz::run_matrix(dir.path(), unit))
                .map_err(|e| fail(e.to_string()))?,
        );
    }
    Ok(format!(
        "{count} runs of the role x operation x unit matrix: {cells} cells (read, create, edit) \
         as expected"
    ))
}

/// The server-side attacks of an enrolled phone holder or colleague (`attacks`), each run
/// against a real server: the memory bomb against the `fieldcase-server` binary (its peak
/// memory read from `/proc`), evidence by reference, upload hijack, quota and race in process.
fn attacks_family(seed: u64, count: u64) -> FamilyResult {
    let fail = |message: String| Failure {
        seed,
        count,
        message,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let server_bin = find_server_bin().map_err(|e| fail(e.0))?;
    let mut last = Vec::new();
    for _ in 0..count {
        let dir = tempfile::Builder::new()
            .prefix("fieldcase-attacks-")
            .tempdir_in(convergence::scratch_root())
            .map_err(|e| fail(e.to_string()))?;
        let bomb_dir = dir.path().join("bomb");
        std::fs::create_dir_all(&bomb_dir).map_err(|e| fail(e.to_string()))?;
        let bomb = rt
            .block_on(attacks::memory_bomb_attack(&bomb_dir, &server_bin))
            .map_err(|e| fail(format!("memory_bomb: {e}")))?;
        let mut lines = rt
            .block_on(attacks::run_in_process(dir.path()))
            .map_err(|e| fail(e.to_string()))?;
        lines.insert(0, format!("memory_bomb: {bomb}"));
        last = lines;
    }
    Ok(format!(
        "{count} runs of 6 attacks, all refused; last: {}",
        last.join(" | ")
    ))
}

/// The committed corpus of every fuzz target (`fuzz/corpus/<target>/`), replayed through the
/// target bodies on stable Rust, plus seed inputs made fresh from real records.
fn fuzz_corpus_family(seed: u64, count: u64) -> FamilyResult {
    let fail = |message: String| Failure {
        seed,
        count,
        message,
    };
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let st = fuzz_targets::replay(&corpus).map_err(fail)?;
    let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let seeds = fuzz_targets::seed_inputs(dir.path()).map_err(|e| fail(e.to_string()))?;
    let mut fresh_accepted = 0;
    for (name, file, bytes) in &seeds {
        let target = fuzz_targets::TARGETS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| fail(format!("no target {name}")))?;
        let b = bytes.clone();
        let ok = std::panic::catch_unwind(move || target(&b))
            .map_err(|_| fail(format!("{name} panicked on the fresh seed {file}")))?;
        fresh_accepted += usize::from(ok);
    }
    if fresh_accepted == 0 {
        return Err(fail(
            "no fresh seed input was accepted: the targets reject valid records".into(),
        ));
    }
    Ok(format!(
        "{} targets: {} corpus files replayed ({} accepted), {} fresh seeds ({} accepted), \
         no panic",
        st.targets,
        st.inputs,
        st.accepted,
        seeds.len(),
        fresh_accepted
    ))
}

fn bad_input_family(seed: u64, count: u64) -> FamilyResult {
    let fail = |s: u64, message: String| Failure {
        seed: s,
        count: 1,
        message,
    };
    let dir = tempfile::Builder::new()
        .prefix("fieldcase-bad-")
        .tempdir_in(convergence::scratch_root())
        .map_err(|e| fail(seed, e.to_string()))?;
    let mut b = BadInput::setup(dir.path()).map_err(|e| fail(seed, e.0))?;
    for i in 0..count {
        let unit = seed.wrapping_add(i);
        b.run_unit(unit).map_err(|e| fail(unit, e.0))?;
    }
    let st = b.stats;
    if let Some((unit, kind)) = st.first_altered {
        return Err(Failure {
            seed: unit,
            count: 1,
            message: format!(
                "{} of {} mutated bundles were accepted altered ({} changed a record as read, \
                 first: unit kind {kind}); the bundle carries no integrity check the import \
                 verifies",
                st.altered_imports,
                st.refused_bundles + st.benign_mutations + st.altered_imports,
                st.altered_records
            ),
        });
    }
    Ok(format!(
        "{} units: {} mutated bundles refused, {} benign mutations imported as the original, \
         {} operations refused; nothing changed",
        st.units, st.refused_bundles, st.benign_mutations, st.refused_ops
    ))
}

/// `--write-fuzz-corpus DIR`: writes the seed inputs under `DIR/<target>/`.
fn write_fuzz_corpus(args: &[String]) -> Result<(), String> {
    let out = Path::new(args.first().ok_or("usage: --write-fuzz-corpus DIR")?);
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    for (name, file, bytes) in fuzz_targets::seed_inputs(tmp.path()).map_err(|e| e.to_string())? {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join(file), bytes).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn regressions_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions.txt")
}

/// `family seed count` lines; `#` starts a comment.
fn regressions() -> Vec<(String, u64, u64)> {
    let text = std::fs::read_to_string(regressions_path()).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let mut p = l.split_whitespace();
            let name = p.next()?.to_string();
            let seed = p.next()?.parse().ok()?;
            let count = p.next().and_then(|c| c.parse().ok()).unwrap_or(1);
            Some((name, seed, count))
        })
        .collect()
}

fn record_regression(family: &str, f: &Failure) {
    let line = format!("{family} {} {}\n", f.seed, f.count);
    if regressions()
        .iter()
        .any(|(n, s, c)| n == family && *s == f.seed && *c == f.count)
    {
        return;
    }
    let added = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(regressions_path())
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(e) = added {
        eprintln!("could not record the regression: {e}");
    }
}

struct Args {
    nightly: bool,
    quick: bool,
    seed: u64,
    only: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        nightly: false,
        quick: false,
        seed: DEFAULT_SEED,
        only: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--nightly" => a.nightly = true,
            "--quick" => a.quick = true,
            "--seed" => {
                a.seed = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seed needs a number")?;
            }
            "--only" => a.only = Some(it.next().ok_or("--only needs a family name")?.clone()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--crash-writer") {
        return match writer_main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("crash writer: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.first().map(String::as_str) == Some("--fsize-writer") {
        return match fsize_writer_main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fsize writer: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.first().map(String::as_str) == Some("--write-fuzz-corpus") {
        return match write_fuzz_corpus(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("write-fuzz-corpus: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\nusage: battery [--nightly | --quick] [--seed N] [--only NAME]");
            return ExitCode::from(2);
        }
    };
    let selected = |name: &str| args.only.as_deref().is_none_or(|o| o == name);
    let (mut passed, mut failed) = (0u32, 0u32);

    for (name, seed, count) in regressions() {
        let Some(f) = FAMILIES.iter().find(|f| f.name == name) else {
            println!("regression {name} {seed}: no such family, skipped");
            continue;
        };
        if !selected(f.name) {
            continue;
        }
        let start = Instant::now();
        match (f.run)(seed, count) {
            Ok(summary) => {
                passed += 1;
                println!(
                    "PASS regression {name} seed {seed} ({:.1} s): {summary}",
                    start.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                failed += 1;
                println!(
                    "FAIL regression {name} seed {} count {}: {}",
                    e.seed, e.count, e.message
                );
            }
        }
    }

    for f in FAMILIES.iter().filter(|f| selected(f.name)) {
        let count = if args.nightly {
            f.nightly
        } else if args.quick {
            (f.short / 10).max(1)
        } else {
            f.short
        };
        let start = Instant::now();
        let _ = std::io::stdout().flush();
        match (f.run)(args.seed, count) {
            Ok(summary) => {
                passed += 1;
                println!(
                    "PASS {} seed {} ({:.1} s): {summary}",
                    f.name,
                    args.seed,
                    start.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                failed += 1;
                println!(
                    "FAIL {} seed {} count {} ({:.1} s): {}",
                    f.name,
                    e.seed,
                    e.count,
                    start.elapsed().as_secs_f64(),
                    e.message
                );
                record_regression(f.name, &e);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
