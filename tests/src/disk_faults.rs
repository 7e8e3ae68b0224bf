//! Injected disk-full and I/O errors (requirement R1, "every failure a typed error, state
//! consistent"). Two parts:
//!
//! - evidence ingest: each unit ingests a photo or an audio clip into an encrypted store (so
//!   files are sealed) with the store's blob fault injector failing one seeded step (create,
//!   write, fsync, rename, folder fsync, commit) with a seeded error (no space, EIO, permission);
//!   the failure must be `CoreError::DiskFull` or `CoreError::Io`, leave no entry, no
//!   unconfirmed blob row, no temp file and no file the database does not reference, and the
//!   next ingest without the fault must succeed;
//! - store writes: a child process under a real file-size limit (`ulimit -f`, SIGXFSZ ignored so
//!   writes fail with EFBIG) records cases until SQLite cannot grow the file; the failure must
//!   be a typed storage error (SQLite "full" or "I/O error"), and after reopening without the
//!   limit every acknowledged case is there, SQLite finds the file sound and writing works.

use crate::crash::Rng;
use crate::harness::{T0, capture, jpeg, persuasion, phone_config, wav};
use fieldcase_core::evidence::{FaultInjector, IoStep};
use fieldcase_core::store::NewCase;
use fieldcase_core::{CoreError, FieldStore, StoreConfig};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A unit found an untyped error, an inconsistent state, or could not run.
#[derive(Debug)]
pub struct DiskFaultError(pub String);

impl std::fmt::Display for DiskFaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DiskFaultError {}

fn err(e: impl std::fmt::Display) -> DiskFaultError {
    DiskFaultError(e.to_string())
}

type R<T = ()> = Result<T, DiskFaultError>;

/// Counts of what the ingest units did.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskFaultStats {
    /// Ingests run.
    pub ingests: u64,
    /// Faults that fired, each a typed error with nothing left behind.
    pub faults_fired: u64,
    /// Of them, reported as disk full.
    pub disk_full: u64,
    /// Ingests whose fault step lay beyond the last step (they succeeded).
    pub passed_through: u64,
}

/// Fails the `n`th checked step with `kind`.
struct FailNth {
    n: usize,
    kind: u64,
    seen: AtomicUsize,
    fired: AtomicUsize,
}

impl FaultInjector for FailNth {
    fn check(&self, step: IoStep) -> std::io::Result<()> {
        if self.seen.fetch_add(1, Ordering::SeqCst) != self.n {
            return Ok(());
        }
        self.fired.fetch_add(1, Ordering::SeqCst);
        Err(match (self.kind, step) {
            (0, _) | (_, IoStep::Write) => std::io::Error::from(std::io::ErrorKind::StorageFull),
            (1, _) => std::io::Error::other("EIO"),
            (2, _) => std::io::Error::from(std::io::ErrorKind::QuotaExceeded),
            _ => std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        })
    }
}

fn new_case(store: &FieldStore, at: i64, description: String) -> Result<String, CoreError> {
    let c = store.catalogue();
    let (code, tier) = c
        .items()
        .find_map(|i| i.tiers.first().map(|t| (i.code.clone(), t.tier.clone())))
        .ok_or_else(|| CoreError::invalid("catalogue", "empty"))?;
    Ok(store
        .create_case(NewCase {
            unit: "luan/jinan/squad-1".into(),
            occurred_at_ms: at,
            place: crate::harness::place(),
            officers: vec!["OF-1001".into()],
            recorded_by: "OF-1001".into(),
            party_id: None,
            violation_code: code,
            tier,
            description: Some(description),
            actions: vec![persuasion("OF-1001", at)],
            involves_minor: false,
            privacy_protected: false,
        })?
        .id)
}

/// Files in the blob folder's `tmp/`, and stored files the database does not reference.
fn leftovers(store: &FieldStore) -> R<Vec<String>> {
    let mut out: Vec<String> = std::fs::read_dir(store.blob_dir().join("tmp"))
        .map(|rd| {
            rd.flatten()
                .map(|e| format!("temp {}", e.path().display()))
                .collect()
        })
        .unwrap_or_default();
    if let Ok(top) = std::fs::read_dir(store.blob_dir().join("sha256")) {
        for sub in top.flatten() {
            for f in std::fs::read_dir(sub.path()).map_err(err)?.flatten() {
                let sha = f.file_name().to_string_lossy().to_string();
                if store.blob_path(&sha).map_err(err)?.is_none() {
                    out.push(format!("orphan {sha}"));
                }
            }
        }
    }
    Ok(out)
}

/// Ingests into one case before the next.
const CASE_INGESTS: u64 = 20;

/// The evidence-ingest units on one store.
#[derive(Debug)]
pub struct IngestFaults {
    store: FieldStore,
    case: String,
    media: PathBuf,
    /// What ran so far.
    pub stats: DiskFaultStats,
}

impl IngestFaults {
    /// An encrypted store in `dir` with one case.
    pub fn setup(dir: &Path) -> R<IngestFaults> {
        let store =
            FieldStore::open(dir.join("faults.db"), phone_config("disk-phone")).map_err(err)?;
        let case = new_case(&store, T0, "disk faults".into()).map_err(err)?;
        let media = dir.join("media");
        std::fs::create_dir_all(&media).map_err(err)?;
        Ok(IngestFaults {
            store,
            case,
            media,
            stats: DiskFaultStats::default(),
        })
    }

    fn ingest(&self, audio: bool, file: &Path, at: i64) -> Result<(), CoreError> {
        if audio {
            self.store
                .add_audio(&self.case, file, capture("OF-1001", at), None)
                .map(|_| ())
        } else {
            self.store
                .add_photo(&self.case, file, capture("OF-1001", at))
                .map(|_| ())
        }
    }

    /// One unit: an ingest failing at a seeded step, the checks, then a clean ingest.
    pub fn run_unit(&mut self, seed: u64) -> R {
        if self.stats.ingests > 0 && self.stats.ingests.is_multiple_of(CASE_INGESTS) {
            // A new case now and then: listing and verifying a case costs its size, so one
            // case for every unit would make the family quadratic.
            self.check_store()?;
            self.case = new_case(&self.store, T0, "disk faults".into()).map_err(err)?;
        }
        let mut rng = Rng::new(seed);
        let audio = rng.below(3) == 0;
        let file = self
            .media
            .join(format!("{seed}.{}", if audio { "wav" } else { "jpg" }));
        let bytes = if audio {
            wav(2_000 + rng.below(20_000) as u32, rng.next_u64())
        } else {
            jpeg(
                64 + rng.below(200) as u32,
                48 + rng.below(150) as u32,
                rng.next_u64(),
            )
            .map_err(err)?
        };
        std::fs::write(&file, bytes).map_err(err)?;
        let before = self.store.evidence(&self.case).map_err(err)?.len();
        let unconfirmed = self.store.unconfirmed_blobs().map_err(err)?.len();
        let fault = Arc::new(FailNth {
            n: rng.below(24) as usize,
            kind: rng.below(4),
            seen: AtomicUsize::new(0),
            fired: AtomicUsize::new(0),
        });
        self.store.set_blob_fault_injector(Some(fault.clone()));
        let at = T0 + seed as i64 % 1_000_000;
        let r = self.ingest(audio, &file, at);
        self.store.set_blob_fault_injector(None);
        self.stats.ingests += 1;
        let after = self.store.evidence(&self.case).map_err(err)?.len();
        match r {
            Ok(()) => {
                if fault.fired.load(Ordering::SeqCst) != 0 {
                    return Err(DiskFaultError(format!(
                        "unit {seed}: the ingest succeeded although step {} failed",
                        fault.n
                    )));
                }
                if after != before + 1 {
                    return Err(DiskFaultError(format!(
                        "unit {seed}: ingest ok but {after} entries (was {before})"
                    )));
                }
                self.stats.passed_through += 1;
            }
            Err(e) => {
                if !matches!(e, CoreError::DiskFull { .. } | CoreError::Io { .. }) {
                    return Err(DiskFaultError(format!(
                        "unit {seed}: step {} failed with an untyped error: {e}",
                        fault.n
                    )));
                }
                if matches!(e, CoreError::DiskFull { .. }) {
                    self.stats.disk_full += 1;
                }
                self.stats.faults_fired += 1;
                let unconfirmed_after = self.store.unconfirmed_blobs().map_err(err)?.len();
                if after != before || unconfirmed_after != unconfirmed {
                    return Err(DiskFaultError(format!(
                        "unit {seed}: failed ingest (step {}) left {after} entries (was \
                         {before}) and {unconfirmed_after} blob rows (was {unconfirmed})",
                        fault.n
                    )));
                }
                let left = leftovers(&self.store)?;
                if !left.is_empty() {
                    return Err(DiskFaultError(format!(
                        "unit {seed}: failed ingest (step {}) left {left:?}",
                        fault.n
                    )));
                }
                // The store keeps working: the same file goes in without the fault.
                self.ingest(audio, &file, at)
                    .map_err(|e| DiskFaultError(format!("unit {seed}: retry failed: {e}")))?;
            }
        }
        let _ = std::fs::remove_file(&file);
        Ok(())
    }

    /// SQLite finds the file sound and every entry of the case verifies.
    pub fn check_store(&self) -> R {
        let verdict = self.store.integrity_check().map_err(err)?;
        if verdict != "ok" {
            return Err(DiskFaultError(format!("integrity_check: {verdict}")));
        }
        if !self.store.verify_case(&self.case).map_err(err)?.is_clean() {
            return Err(DiskFaultError("the case no longer verifies".into()));
        }
        Ok(())
    }
}

/// Whether a store error is one of the typed ones a full disk or a failing device gives.
fn typed_write_error(e: &CoreError) -> bool {
    use rusqlite::ErrorCode;
    match e {
        CoreError::DiskFull { .. } | CoreError::Io { .. } => true,
        CoreError::Storage(rusqlite::Error::SqliteFailure(f, _)) => {
            matches!(f.code, ErrorCode::DiskFull | ErrorCode::SystemIoFailure)
        }
        _ => false,
    }
}

/// The child under the file-size limit: `<db>`. Records cases until a write fails; prints
/// `case <id> <description>` after each `Ok`, then `error typed|untyped <text>`, then
/// `read ok` if the store still answers a read.
pub fn fsize_writer_main(args: &[String]) -> R {
    let db = args
        .first()
        .ok_or_else(|| err("usage: --fsize-writer <db>"))?;
    let store =
        FieldStore::open(db, StoreConfig::insecure_plain_for_tests("fsize-phone")).map_err(err)?;
    let out = std::io::stdout();
    let mut last = None;
    for k in 0..200_000i64 {
        let description = format!("fsize-{k}");
        match new_case(&store, T0 + k, description.clone()) {
            Ok(id) => {
                let mut o = out.lock();
                writeln!(o, "case {id} {description}").map_err(err)?;
                o.flush().map_err(err)?;
                last = Some(id);
            }
            Err(e) => {
                let kind = if typed_write_error(&e) {
                    "typed"
                } else {
                    "untyped"
                };
                let mut o = out.lock();
                writeln!(o, "error {kind} {e}").map_err(err)?;
                if let Some(id) = &last
                    && store.case(id).is_ok()
                {
                    writeln!(o, "read ok").map_err(err)?;
                }
                o.flush().map_err(err)?;
                return Ok(());
            }
        }
    }
    Err(err("the file-size limit was never reached"))
}

/// What the file-size run did.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsizeReport {
    /// Cases acknowledged before the limit, all found after reopening.
    pub acked_cases: usize,
}

/// Runs `exe --fsize-writer <db>` under `ulimit -f <blocks>` (512-byte blocks in dash, KiB in
/// bash) and checks the outcome.
pub fn fsize_run(exe: &Path, dir: &Path, blocks: u32) -> R<FsizeReport> {
    let db = dir.join("fsize.db");
    {
        // Created under no limit, so the limit bites on growth, not on creation.
        let s = FieldStore::open(&db, StoreConfig::insecure_plain_for_tests("fsize-phone"))
            .map_err(err)?;
        new_case(&s, T0, "warm".into()).map_err(err)?;
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" --fsize-writer \"$1\""
        ))
        .arg(exe)
        .arg(&db)
        .stdin(Stdio::null())
        .output()
        .map_err(err)?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(DiskFaultError(format!(
            "the writer failed ({}): {stderr}",
            out.status
        )));
    }
    let mut acks = Vec::new();
    let mut error = None;
    let mut read_ok = false;
    for line in out.stdout.lines() {
        let line = line.map_err(err)?;
        let mut p = line.splitn(3, ' ');
        match (p.next(), p.next(), p.next()) {
            (Some("case"), Some(id), Some(d)) => acks.push((id.to_string(), d.to_string())),
            (Some("error"), Some(kind), rest) => {
                error = Some((kind.to_string(), rest.unwrap_or("").to_string()));
            }
            (Some("read"), Some("ok"), None) => read_ok = true,
            _ => return Err(DiskFaultError(format!("bad line from the writer: {line}"))),
        }
    }
    match error {
        Some((kind, text)) if kind == "typed" => {
            if !read_ok {
                return Err(DiskFaultError(format!(
                    "after the typed error ({text}) the store did not answer a read"
                )));
            }
        }
        Some((_, text)) => {
            return Err(DiskFaultError(format!(
                "a write under the file-size limit failed with an untyped error: {text}"
            )));
        }
        None => return Err(DiskFaultError("the writer reported no error".into())),
    }
    let store =
        FieldStore::open(&db, StoreConfig::insecure_plain_for_tests("fsize-phone")).map_err(err)?;
    let verdict = store.integrity_check().map_err(err)?;
    if verdict != "ok" {
        return Err(DiskFaultError(format!("integrity_check: {verdict}")));
    }
    for (id, d) in &acks {
        let case = store
            .case(id)
            .map_err(|e| DiskFaultError(format!("acknowledged case {id} lost: {e}")))?;
        if case.violation.description.as_deref() != Some(d.as_str()) {
            return Err(DiskFaultError(format!("case {id} changed")));
        }
    }
    new_case(&store, T0 + 1, "after the limit".into())
        .map_err(|e| DiskFaultError(format!("writing after the limit failed: {e}")))?;
    Ok(FsizeReport {
        acked_cases: acks.len(),
    })
}
