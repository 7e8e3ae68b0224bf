//! Bad input (Invariant 4): malformed bundles and refused operations give a typed error and
//! change nothing.
//!
//! A source store exports a real bundle of changes that a target store lacks. Each unit
//! mutates it (bit flips and truncations of the JSON or of the Automerge bytes, ids and kinds
//! swapped, garbage) or asks the target for something the rules refuse (an unknown violation
//! code, coordinates out of range, a fine outside the tier without a reason, an edit to a
//! closed case). The target's heads and record counts must be unchanged afterwards, the error
//! must be of the expected variant, and nothing may panic. A mutation that happens to leave a
//! valid bundle must then import exactly what the original would have.

use crate::crash::Rng;
use fieldcase_core::catalogue::{Method, PartyType};
use fieldcase_core::model::{Place, RecordKind};
use fieldcase_core::store::{
    ChangeBundle, ExemptionRequest, NewAction, NewCase, NewParty, PenaltyRequest,
};
use fieldcase_core::{CoreError, FieldStore, StoreConfig};
use serde_json::json;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

const T0: i64 = 1_790_000_000_000;
type Heads = BTreeMap<String, Vec<String>>;

/// A unit found an untyped error, a change, or a panic.
#[derive(Debug)]
pub struct BadInputError(pub String);

impl std::fmt::Display for BadInputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInputError {}

impl From<CoreError> for BadInputError {
    fn from(e: CoreError) -> Self {
        BadInputError(format!("store error: {e}"))
    }
}

impl From<std::io::Error> for BadInputError {
    fn from(e: std::io::Error) -> Self {
        BadInputError(format!("i/o error: {e}"))
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, BadInputError> {
    Err(BadInputError(msg.into()))
}

/// Counts of what the units did.
#[derive(Debug, Clone, Copy, Default)]
pub struct BadInputStats {
    /// Units run.
    pub units: u64,
    /// Mutated bundles refused with a typed error.
    pub refused_bundles: u64,
    /// Mutations that left a valid bundle (imported, checked equal to the original).
    pub benign_mutations: u64,
    /// Operations refused with the expected typed error.
    pub refused_ops: u64,
    /// Mutated bundles that imported and changed the store into something the original would
    /// not have: undetected corruption.
    pub altered_imports: u64,
    /// Of those, imports after which some record reads differently (not only history).
    pub altered_records: u64,
    /// Seed and unit kind of the first altered import.
    pub first_altered: Option<(u64, u64)>,
}

/// The stores and the bundle the units work on.
#[derive(Debug)]
pub struct BadInput {
    dir: PathBuf,
    target: Option<FieldStore>,
    bundle: ChangeBundle,
    bundle_bytes: Vec<u8>,
    /// Target heads after importing the original bundle.
    expected_after: Heads,
    /// Target records (as JSON) after importing the original bundle.
    expected_records: BTreeMap<String, serde_json::Value>,
    open_case: String,
    closed_case: String,
    tier_max: i64,
    code: String,
    tier: String,
    /// Counts so far.
    pub stats: BadInputStats,
}

fn store(dir: &Path, name: &str) -> Result<FieldStore, CoreError> {
    let cfg = StoreConfig {
        party_match_key: Some([7u8; 32]),
        pii_key: Some([9u8; 32]),
        blob_dir: None,
        ..StoreConfig::insecure_plain_for_tests(name)
    };
    FieldStore::open(dir.join(format!("{name}.db")), cfg)
}

fn place() -> Place {
    Place {
        lat: 31.7349,
        lon: 116.5079,
        accuracy_m: Some(8.0),
        address: Some("六安市金安区梅山中路".into()),
    }
}

fn persuasion(at: i64) -> NewAction {
    let mut fields = serde_json::Map::new();
    fields.insert("explained".into(), json!("占道经营影响通行"));
    fields.insert("outcome".into(), json!("accepted"));
    NewAction {
        method: Method::Persuasion,
        at_ms: at,
        by: "OF-1001".into(),
        note: None,
        fields,
    }
}

fn new_case(code: &str, tier: &str, party_id: Option<String>, at: i64) -> NewCase {
    NewCase {
        unit: "luan/jinan/squad-1".into(),
        occurred_at_ms: at,
        place: place(),
        officers: vec!["OF-1001".into()],
        recorded_by: "OF-1001".into(),
        party_id,
        violation_code: code.into(),
        tier: tier.into(),
        description: Some("店外摆放货架".into()),
        actions: vec![persuasion(at)],
        involves_minor: false,
        privacy_protected: false,
    }
}

fn register(s: &FieldStore, person: u32) -> Result<String, CoreError> {
    Ok(s.register_party(NewParty {
        party_type: PartyType::Person,
        unit: "luan/jinan/squad-1".into(),
        by: "OF-1001".into(),
        name: "张三丰".into(),
        id_number: crate::harness::id_number(u64::from(person)),
        id_document: None,
        phone: None,
        address: None,
    })?
    .id)
}

/// The target's files and their pristine copies. The WAL is among them: the store's last
/// connection to close is its read-only reader, which may leave the WAL in place.
fn target_files(dir: &Path) -> [(PathBuf, PathBuf); 3] {
    let f = |n: &str| (dir.join(n), dir.join(format!("pristine-{n}")));
    [f("target.db"), f("target.db-wal"), f("target.db.install")]
}

/// Copies `from` to `to`, or removes `to` when `from` does not exist.
fn copy_or_remove(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.exists() {
        std::fs::copy(from, to).map(|_| ())
    } else {
        match std::fs::remove_file(to) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Every case and party of a store as JSON.
fn records(s: &FieldStore) -> Result<BTreeMap<String, serde_json::Value>, BadInputError> {
    let mut out = BTreeMap::new();
    for id in s.doc_ids()? {
        let v = match s.case(&id) {
            Ok(c) => serde_json::to_value(c),
            Err(_) => serde_json::to_value(s.party(&id)?),
        }
        .map_err(|e| BadInputError(e.to_string()))?;
        out.insert(id, v);
    }
    Ok(out)
}

impl BadInput {
    /// Builds the source, the target (with an open and a closed case of its own) and the
    /// bundle of what the target lacks, in `dir`.
    pub fn setup(dir: &Path) -> Result<BadInput, BadInputError> {
        let source = store(dir, "source")?;
        let target = store(dir, "target")?;
        let (code, tier, tier_max) = {
            let c = source.catalogue();
            let (item, t) = c
                .items()
                .find_map(|i| {
                    let t = i.tiers.iter().find(|t| t.party_type == PartyType::Person)?;
                    Some((i, t))
                })
                .ok_or_else(|| BadInputError("no tier for a person".into()))?;
            (item.code.clone(), t.tier.clone(), t.max_yuan.unwrap_or(0))
        };
        // Shared history: a case the target already has, then edits it lacks.
        let p = register(&source, 1)?;
        let shared = source.create_case(new_case(&code, &tier, Some(p), T0))?;
        target.import_changes(&source.export_changes(&target.heads()?)?)?;
        source.add_note(&shared.id, "OF-1002", T0 + 1, "复查时已整改")?;
        source.schedule_follow_up(&shared.id, "OF-1002", T0 + 86_400_000, None)?;
        for k in 0..3 {
            source.create_case(new_case(&code, &tier, None, T0 + 10 + k))?;
        }
        register(&source, 2)?;
        // The target's own cases.
        let tp = register(&target, 3)?;
        let open_case = target
            .create_case(new_case(&code, &tier, Some(tp), T0 + 100))?
            .id;
        let closed_case = target
            .create_case(new_case(&code, &tier, None, T0 + 200))?
            .id;
        target.close_case(&closed_case, "OF-1001", T0 + 300, "当场整改完毕")?;

        let bundle = source.export_changes(&target.heads()?)?;
        let bundle_bytes = bundle.to_bytes()?;
        drop(target); // the last connection checkpoints the WAL into the file
        for (live, pristine) in target_files(dir) {
            copy_or_remove(&live, &pristine)?;
        }
        // What the original bundle does, measured on a scratch copy.
        let expected_after = {
            let scratch = dir.join("scratch");
            std::fs::create_dir_all(&scratch)?;
            for (live, _) in target_files(dir) {
                if let Some(name) = live.file_name() {
                    copy_or_remove(&live, &scratch.join(name))?;
                }
            }
            let s = store(&scratch, "target")?;
            s.import_changes(&bundle)?;
            (s.heads()?, records(&s)?)
        };
        let (expected_after, expected_records) = expected_after;
        Ok(BadInput {
            dir: dir.to_path_buf(),
            target: Some(store(dir, "target")?),
            bundle,
            bundle_bytes,
            expected_after,
            expected_records,
            open_case,
            closed_case,
            tier_max,
            code,
            tier,
            stats: BadInputStats::default(),
        })
    }

    fn target(&self) -> Result<&FieldStore, BadInputError> {
        self.target
            .as_ref()
            .ok_or_else(|| BadInputError("target not open".into()))
    }

    /// Puts the target back to its state before any unit.
    fn restore(&mut self) -> Result<(), BadInputError> {
        self.target = None;
        let _ = std::fs::remove_file(self.dir.join("target.db-shm"));
        for (live, pristine) in target_files(&self.dir) {
            copy_or_remove(&pristine, &live)?;
        }
        self.target = Some(store(&self.dir, "target")?);
        Ok(())
    }

    /// Runs the unit of `seed`.
    pub fn run_unit(&mut self, seed: u64) -> Result<(), BadInputError> {
        let mut rng = Rng::new(seed);
        let kind = rng.below(12);
        let before = self.target()?.heads()?;
        let counts = self.target()?.record_counts()?;
        let outcome = catch_unwind(AssertUnwindSafe(|| self.unit(kind, &mut rng)))
            .map_err(|_| BadInputError(format!("unit kind {kind} panicked")))?;
        let changed = self.target()?.heads()? != before;
        match outcome {
            Err(e) => Err(BadInputError(format!("unit kind {kind}: {e}"))),
            Ok(Verdict::Refused(what)) => {
                if changed || self.target()?.record_counts()? != counts {
                    return fail(format!("unit kind {kind}: refused ({what}) but changed"));
                }
                if kind < 8 {
                    self.stats.refused_bundles += 1;
                } else {
                    self.stats.refused_ops += 1;
                }
                self.stats.units += 1;
                Ok(())
            }
            Ok(Verdict::Imported) => {
                let now = self.target()?.heads()?;
                if now != self.expected_after {
                    // Accepted, but not what was sent: the corruption went undetected. Counted
                    // (with the first seed) so one run shows how often; the family fails.
                    self.stats.altered_imports += 1;
                    if records(self.target()?)? != self.expected_records {
                        self.stats.altered_records += 1;
                    }
                    self.stats.first_altered.get_or_insert((seed, kind));
                    self.stats.units += 1;
                    return self.restore();
                }
                self.stats.benign_mutations += 1;
                self.stats.units += 1;
                self.restore()
            }
        }
    }

    fn import_bytes(&self, bytes: &[u8]) -> Result<Verdict, BadInputError> {
        let bundle = match ChangeBundle::from_bytes(bytes) {
            Ok(b) => b,
            Err(CoreError::InvalidInput { field, .. }) if field == "bundle" => {
                return Ok(Verdict::Refused("unparsable bundle"));
            }
            Err(e) => return fail(format!("parse gave an unexpected error: {e}")),
        };
        self.import(&bundle)
    }

    fn import(&self, bundle: &ChangeBundle) -> Result<Verdict, BadInputError> {
        match self.target()?.import_changes(bundle) {
            Ok(_) => Ok(Verdict::Imported),
            Err(CoreError::MalformedDocument { .. }) => Ok(Verdict::Refused("malformed document")),
            Err(CoreError::InvalidInput { .. }) => Ok(Verdict::Refused("invalid input")),
            Err(e) => fail(format!("import gave an unexpected error: {e}")),
        }
    }

    fn unit(&self, kind: u64, rng: &mut Rng) -> Result<Verdict, BadInputError> {
        let mut bundle = self.bundle.clone();
        let ndocs = bundle.docs.len() as u64;
        let pick = rng.below(ndocs) as usize;
        match kind {
            0 => {
                let mut b = self.bundle_bytes.clone();
                for _ in 0..=rng.below(3) {
                    let i = rng.below(b.len() as u64) as usize;
                    b[i] ^= 1 + rng.below(255) as u8;
                    if std::env::var_os("FIELDCASE_DEBUG_BAD_INPUT").is_some() {
                        let lo = i.saturating_sub(30);
                        let hi = (i + 30).min(b.len());
                        eprintln!(
                            "flip at {i}: {:?} -> {:?}",
                            String::from_utf8_lossy(&self.bundle_bytes[lo..hi]),
                            String::from_utf8_lossy(&b[lo..hi])
                        );
                    }
                }
                self.import_bytes(&b)
            }
            1 => {
                let len = rng.below(self.bundle_bytes.len() as u64) as usize;
                self.import_bytes(&self.bundle_bytes[..len])
            }
            2 => {
                let d = &mut bundle.docs[pick];
                for _ in 0..=rng.below(3) {
                    let i = rng.below(d.bytes.len() as u64) as usize;
                    d.bytes[i] ^= 1 + rng.below(255) as u8;
                }
                self.import(&bundle)
            }
            3 => {
                let d = &mut bundle.docs[pick];
                let len = rng.below(d.bytes.len() as u64) as usize;
                d.bytes.truncate(len);
                self.import(&bundle)
            }
            4 => {
                bundle.docs[pick].doc_id = fieldcase_core::ids::new_id();
                self.import(&bundle)
            }
            5 => {
                let d = &mut bundle.docs[pick];
                d.kind = match d.kind {
                    RecordKind::Case => RecordKind::Party,
                    RecordKind::Party => RecordKind::Demonstration,
                    RecordKind::Demonstration => RecordKind::Case,
                };
                self.import(&bundle)
            }
            6 => {
                let len = rng.below(512) as usize;
                let garbage: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
                self.import_bytes(&garbage)
            }
            7 => {
                let other = (pick + 1 + rng.below(ndocs.max(2) - 1) as usize) % bundle.docs.len();
                if other == pick {
                    return Ok(Verdict::Refused("nothing to swap"));
                }
                let bytes = bundle.docs[other].bytes.clone();
                bundle.docs[pick].bytes = bytes;
                self.import(&bundle)
            }
            8 => {
                let code = format!("X{:06}", rng.below(1_000_000));
                match self
                    .target()?
                    .create_case(new_case(&code, &self.tier, None, T0))
                {
                    Err(CoreError::UnknownViolationCode { .. }) => {
                        Ok(Verdict::Refused("unknown code"))
                    }
                    other => fail(format!("unknown code gave {other:?}")),
                }
            }
            9 => {
                let bad = [f64::NAN, f64::INFINITY, -f64::INFINITY, 90.000_001, -1e9];
                let mut c = new_case(&self.code, &self.tier, None, T0);
                let v = bad[rng.below(bad.len() as u64) as usize];
                if rng.below(2) == 0 {
                    c.place.lat = v;
                } else {
                    c.place.lon = if v.is_finite() { v * 2.1 } else { v };
                }
                match self.target()?.create_case(c) {
                    Err(CoreError::InvalidCoordinates { .. }) => {
                        Ok(Verdict::Refused("invalid coordinates"))
                    }
                    other => fail(format!("invalid coordinates gave {other:?}")),
                }
            }
            10 => {
                let amount = self.tier_max + 1 + rng.below(100_000) as i64;
                let reason = if rng.below(2) == 0 {
                    None
                } else {
                    Some("   ".to_string())
                };
                let r = self.target()?.decide_penalty(
                    &self.open_case,
                    PenaltyRequest {
                        by: "OF-1001".into(),
                        at_ms: T0 + 1000,
                        tier: None,
                        amount_yuan: amount,
                        reason: reason.clone(),
                        penalty: fieldcase_core::catalogue::PenaltyKind::Fine,
                        procedure: fieldcase_core::model::Procedure::Simple,
                        construction_cost_yuan: None,
                    },
                );
                match r {
                    // Outside the benchmark without a reason, beyond the simple procedure's
                    // cap, or beyond the statute: each a typed refusal.
                    Err(CoreError::Refused { code, .. })
                        if matches!(
                            code.as_str(),
                            "decision_invalid" | "procedure_invalid" | "penalty_unlawful"
                        ) =>
                    {
                        Ok(Verdict::Refused("amount outside range"))
                    }
                    // A blank reason is refused by the text check before the range check.
                    Err(CoreError::InvalidInput { .. }) if reason.is_some() => {
                        Ok(Verdict::Refused("blank reason"))
                    }
                    other => fail(format!("amount outside the range gave {other:?}")),
                }
            }
            _ => {
                let t = self.target()?;
                let id = &self.closed_case;
                let r = match rng.below(5) {
                    0 => t.add_note(id, "OF-1001", T0, "补记").map(|_| ()),
                    1 => t.append_action(id, persuasion(T0)).map(|_| ()),
                    2 => t
                        .schedule_follow_up(id, "OF-1001", T0 + 1, None)
                        .map(|_| ()),
                    3 => t
                        .grant_exemption(
                            id,
                            ExemptionRequest {
                                by: "OF-1001".into(),
                                at_ms: T0,
                                minor: true,
                                no_harm: true,
                                pledge: None,
                            },
                        )
                        .map(|_| ()),
                    _ => t
                        .decide_penalty(
                            id,
                            PenaltyRequest {
                                by: "OF-1001".into(),
                                at_ms: T0,
                                tier: None,
                                amount_yuan: 0,
                                reason: None,
                                penalty: fieldcase_core::catalogue::PenaltyKind::Fine,
                                procedure: fieldcase_core::model::Procedure::Simple,
                                construction_cost_yuan: None,
                            },
                        )
                        .map(|_| ()),
                };
                match r {
                    Err(CoreError::CaseClosed { .. }) => Ok(Verdict::Refused("case closed")),
                    other => fail(format!("an edit to a closed case gave {other:?}")),
                }
            }
        }
    }
}

enum Verdict {
    Refused(&'static str),
    Imported,
}
