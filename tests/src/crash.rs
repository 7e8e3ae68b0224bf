//! The kill -9 loop (Invariant 1, requirement R1): a child process writes cases and actions
//! through `FieldStore` and prints an acknowledgement line only after each call returned `Ok`;
//! the parent kills it with SIGKILL at seeded random moments, reopens the store, and checks
//! that every acknowledged record is there with its content and that SQLite finds the file
//! sound. The test `tests/tests/crash.rs` and the battery's `crash_loop_store` family both run
//! [`crash_loop`]; the writer is [`writer_main`].

use fieldcase_core::catalogue::Method;
use fieldcase_core::model::Place;
use fieldcase_core::store::{NewAction, NewCase};
use fieldcase_core::{CoreError, FieldStore, StoreConfig};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The loop found a lost acknowledged record, a damaged file, or could not run.
#[derive(Debug)]
pub struct CrashError(pub String);

impl std::fmt::Display for CrashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CrashError {}

impl From<CoreError> for CrashError {
    fn from(e: CoreError) -> Self {
        CrashError(format!("store error: {e}"))
    }
}

impl From<std::io::Error> for CrashError {
    fn from(e: std::io::Error) -> Self {
        CrashError(format!("i/o error: {e}"))
    }
}

/// A small deterministic generator (xorshift64*), enough for delays and choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

const DEVICE: &str = "crash-phone";
const T0: i64 = 1_790_000_000_000;

fn open(db: &Path) -> Result<FieldStore, CoreError> {
    FieldStore::open(db, StoreConfig::insecure_plain_for_tests(DEVICE))
}

fn persuasion(at: i64, note: String) -> NewAction {
    let mut fields = serde_json::Map::new();
    fields.insert("explained".into(), json!("占道经营影响通行"));
    fields.insert("outcome".into(), json!("accepted"));
    NewAction {
        method: Method::Persuasion,
        at_ms: at,
        by: "OF-1001".into(),
        note: Some(note),
        fields,
    }
}

/// The writer: `<db> <tag>`. Writes until killed; after each write returns `Ok` prints
/// `case <id> <description> <actions>` or `action <case id> <action id> <note>` and flushes.
pub fn writer_main(args: &[String]) -> Result<(), CrashError> {
    let (Some(db), Some(tag)) = (args.first(), args.get(1)) else {
        return Err(CrashError("usage: crash-writer <db> <tag>".into()));
    };
    let store = open(Path::new(db))?;
    let code_tier = {
        let c = store.catalogue();
        c.items()
            .find_map(|i| i.tiers.first().map(|t| (i.code.clone(), t.tier.clone())))
            .ok_or_else(|| CrashError("empty catalogue".into()))?
    };
    let mut rng = Rng::new(tag.bytes().fold(7u64, |h, b| h.wrapping_mul(31) ^ b as u64));
    // Cases to append to: some from earlier runs (their documents have many chunks and get
    // compacted), then the ones this run creates.
    let mut cases: Vec<String> = store
        .open_cases(None, 8)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let out = std::io::stdout();
    {
        let mut o = out.lock();
        writeln!(o, "ready")?;
        o.flush()?;
    }
    for k in 0u64.. {
        let at = T0 + k as i64 * 1000;
        if cases.is_empty() || rng.below(3) == 0 {
            let description = format!("crash-{tag}-{k}");
            let n = 1 + rng.below(3) as usize;
            let case = store.create_case(NewCase {
                unit: "luan/jinan/squad-1".into(),
                occurred_at_ms: at,
                place: Place {
                    lat: 31.7349,
                    lon: 116.5079,
                    accuracy_m: Some(8.0),
                    address: None,
                },
                officers: vec!["OF-1001".into()],
                recorded_by: "OF-1001".into(),
                party_id: None,
                violation_code: code_tier.0.clone(),
                tier: code_tier.1.clone(),
                description: Some(description.clone()),
                actions: (0..n)
                    .map(|j| persuasion(at, format!("{description}/{j}")))
                    .collect(),
                involves_minor: false,
                privacy_protected: false,
            })?;
            let mut o = out.lock();
            writeln!(o, "case {} {description} {n}", case.id)?;
            o.flush()?;
            cases.push(case.id);
        } else {
            let case_id = cases[rng.below(cases.len() as u64) as usize].clone();
            let note = format!("crash-{tag}-{k}");
            let action_id = store.append_action(&case_id, persuasion(at, note.clone()))?;
            let mut o = out.lock();
            writeln!(o, "action {case_id} {action_id} {note}")?;
            o.flush()?;
        }
    }
    Ok(())
}

/// An acknowledged record the store must keep.
#[derive(Debug, Clone)]
enum Ack {
    Case {
        id: String,
        description: String,
        actions: usize,
    },
    Action {
        case_id: String,
        action_id: String,
        note: String,
    },
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut p = line.split(' ');
    match (p.next(), p.next(), p.next(), p.next(), p.next()) {
        (Some("case"), Some(id), Some(d), Some(n), None) => Some(Ack::Case {
            id: id.into(),
            description: d.into(),
            actions: n.parse().ok()?,
        }),
        (Some("action"), Some(c), Some(a), Some(note), None) => Some(Ack::Action {
            case_id: c.into(),
            action_id: a.into(),
            note: note.into(),
        }),
        _ => None,
    }
}

fn verify(store: &FieldStore, acks: &[Ack]) -> Result<(), CrashError> {
    let mut by_case: BTreeMap<&str, Vec<&Ack>> = BTreeMap::new();
    for a in acks {
        let id = match a {
            Ack::Case { id, .. } => id,
            Ack::Action { case_id, .. } => case_id,
        };
        by_case.entry(id.as_str()).or_default().push(a);
    }
    for (id, list) in by_case {
        let case = store
            .case(id)
            .map_err(|e| CrashError(format!("acknowledged case {id} lost: {e}")))?;
        for a in list {
            match a {
                Ack::Case {
                    description,
                    actions,
                    ..
                } => {
                    if case.violation.description.as_deref() != Some(description.as_str()) {
                        return Err(CrashError(format!("case {id}: description changed")));
                    }
                    let initial = case
                        .actions
                        .iter()
                        .filter(|x| {
                            x.note
                                .as_deref()
                                .is_some_and(|n| n.starts_with(&format!("{description}/")))
                        })
                        .count();
                    if initial != *actions {
                        return Err(CrashError(format!(
                            "case {id}: {initial} of {actions} initial actions"
                        )));
                    }
                }
                Ack::Action {
                    action_id, note, ..
                } => {
                    let found = case.actions.iter().find(|x| &x.id == action_id);
                    if found.and_then(|x| x.note.as_deref()) != Some(note.as_str()) {
                        return Err(CrashError(format!(
                            "acknowledged action {action_id} of case {id} lost"
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// How a loop runs.
#[derive(Debug, Clone, Copy)]
pub struct CrashConfig {
    /// Kills to make.
    pub kills: u32,
    /// Seeds the kill delays.
    pub seed: u64,
    /// Longest time a writer runs before its kill.
    pub max_delay: Duration,
}

/// What a loop did.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrashReport {
    /// Kills made.
    pub kills: u32,
    /// Kills that landed before the writer acknowledged anything.
    pub kills_before_first_ack: u32,
    /// Acknowledged cases, all found.
    pub acked_cases: usize,
    /// Acknowledged actions, all found.
    pub acked_actions: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs the loop against a store in `dir`, spawning `writer` (with `writer_args` before the
/// writer's own arguments) each cycle.
pub fn crash_loop(
    writer: &Path,
    writer_args: &[&str],
    dir: &Path,
    cfg: CrashConfig,
) -> Result<CrashReport, CrashError> {
    let start = Instant::now();
    let db = dir.join("crash.db");
    let db_arg = db.to_string_lossy().into_owned();
    let mut rng = Rng::new(cfg.seed);
    let mut all: Vec<Ack> = Vec::new();
    let mut report = CrashReport::default();
    let max_us = cfg.max_delay.as_micros().max(1) as u64;
    for cycle in 0..cfg.kills {
        let tag = format!("{}-{cycle}", cfg.seed);
        let mut child = Command::new(writer)
            .args(writer_args)
            .arg(&db_arg)
            .arg(&tag)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| CrashError("no stdout".into()))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            // Only complete lines count: a line cut by the kill was never acknowledged.
            let mut acks = Vec::new();
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
                match line.strip_suffix('\n') {
                    Some("ready") => {
                        let _ = ready_tx.send(());
                    }
                    Some(body) => acks.push(body.to_string()),
                    None => {}
                }
                line.clear();
            }
            acks
        });
        // One kill in eight lands at any time, opening included; the others a random time
        // after the store is open, so most land inside writes.
        if rng.below(8) != 0 {
            let _ = ready_rx.recv_timeout(Duration::from_secs(30));
        }
        std::thread::sleep(Duration::from_micros(rng.below(max_us)));
        child.kill()?; // SIGKILL
        let status = child.wait()?;
        let lines = reader
            .join()
            .map_err(|_| CrashError("reader thread panicked".into()))?;
        if status.signal() != Some(9) {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return Err(CrashError(format!(
                "cycle {cycle}: writer exited on its own ({status}): {}",
                err.trim()
            )));
        }
        let acks = lines
            .iter()
            .map(|l| parse_ack(l).ok_or_else(|| CrashError(format!("bad ack line {l:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if acks.is_empty() {
            report.kills_before_first_ack += 1;
        }
        let store = open(&db)?;
        let verdict = store.integrity_check()?;
        if verdict != "ok" {
            return Err(CrashError(format!(
                "cycle {cycle}: integrity_check: {verdict}"
            )));
        }
        verify(&store, &acks).map_err(|e| CrashError(format!("cycle {cycle}: {e}")))?;
        all.extend(acks);
        if cycle % 50 == 49 || cycle + 1 == cfg.kills {
            verify(&store, &all).map_err(|e| CrashError(format!("cycle {cycle}: {e}")))?;
        }
        report.kills += 1;
    }
    report.acked_cases = all.iter().filter(|a| matches!(a, Ack::Case { .. })).count();
    report.acked_actions = all.len() - report.acked_cases;
    report.elapsed = start.elapsed();
    Ok(report)
}
