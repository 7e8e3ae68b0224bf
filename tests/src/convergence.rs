//! Convergence schedules (Invariants 1 and 3): random officer operations on two to four stores,
//! random partial, duplicated, reordered and dropped exchanges between them, restarts; then a
//! full exchange and the checks that every replica shows the same state and nothing any store
//! acknowledged was lost.
//!
//! This file is the one definition of the schedules. The core integration test
//! `core/tests/convergence.rs` includes it by path and runs it through proptest; the battery
//! (`fieldcase-tests`) runs it by seed. It therefore depends only on crates both have:
//! `fieldcase_core`, `proptest`, `serde_json` and `tempfile`.
//!
//! Exchanges come in two flavours. An honest send exports against the receiver's current heads,
//! so it always applies, even when delivered late, twice, or after a later one. An optimistic
//! send exports against what the sender last sent to that receiver, assuming it arrived; when it
//! did not, the receiver lacks the dependencies and may refuse the bundle. A refusal must be a
//! typed error that changed nothing (Invariant 4).

use fieldcase_core::catalogue::{Catalogue, Method, PartyType};
use fieldcase_core::model::Place;
use fieldcase_core::store::{
    ChangeBundle, ExemptionRequest, FollowUpInput, NewAction, NewCase, NewParty, PenaltyRequest,
    PledgeInput,
};
use fieldcase_core::{CoreError, FieldStore, StoreConfig};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Start of the simulated clock: 2026-09-21.
const T0: i64 = 1_790_000_000_000;
const DAY: i64 = 86_400_000;
/// Heads of every document, as `FieldStore::heads` returns them.
type Heads = BTreeMap<String, Vec<String>>;

/// A schedule failed: the replicas diverged, something was lost, or a store misbehaved.
#[derive(Debug)]
pub struct ScheduleError(pub String);

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScheduleError {}

impl From<CoreError> for ScheduleError {
    fn from(e: CoreError) -> Self {
        ScheduleError(format!("store error: {e}"))
    }
}

impl From<std::io::Error> for ScheduleError {
    fn from(e: std::io::Error) -> Self {
        ScheduleError(format!("i/o error: {e}"))
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, ScheduleError> {
    Err(ScheduleError(msg.into()))
}

/// One step of a schedule. Store and case numbers are taken modulo what exists.
#[derive(Debug, Clone)]
pub enum Step {
    /// Registers person `person` (0..3) on a store.
    RegisterParty { store: u8, person: u8 },
    /// Records a case, with the person as party if the store knows them, and 0..2 extra actions.
    CreateCase {
        store: u8,
        person: Option<u8>,
        actions: u8,
    },
    /// Appends a persuasion.
    AppendAction { store: u8, case: u8 },
    /// Adds a note.
    AddNote { store: u8, case: u8 },
    /// Schedules a follow-up.
    ScheduleFollowUp { store: u8, case: u8 },
    /// Records the result of one of the case's follow-ups.
    RecordFollowUp {
        store: u8,
        case: u8,
        follow_up: u8,
        corrected: bool,
    },
    /// Closes the case.
    Close { store: u8, case: u8 },
    /// Reopens the case.
    Reopen { store: u8, case: u8 },
    /// Grants a first-offence exemption with a pledge.
    Exempt { store: u8, case: u8 },
    /// Decides a penalty: 0 the tier minimum, 1 its maximum, 2 above it without a reason
    /// (must be refused), 3 above it with a reason (goes to review).
    Penalty { store: u8, case: u8, amount: u8 },
    /// Exports from one store for another and puts the bundle in flight; `subset` keeps only
    /// some documents (bit `i % 8` keeps document `i`).
    Send {
        from: u8,
        to: u8,
        subset: Option<u8>,
        optimistic: bool,
    },
    /// Delivers an in-flight bundle (any of them, not the oldest); a duplicate stays in flight.
    Deliver { pick: u8, duplicate: bool },
    /// Loses an in-flight bundle.
    DropMessage { pick: u8 },
    /// Closes a store and opens it again from its file.
    Restart { store: u8 },
}

/// A generated schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Number of stores (2 to 4).
    pub stores: usize,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let s = || 0u8..4;
    let c = any::<u8>;
    prop_oneof![
        1 => (s(), 0u8..3).prop_map(|(store, person)| Step::RegisterParty { store, person }),
        4 => (s(), proptest::option::weighted(0.7, 0u8..3), 0u8..3)
            .prop_map(|(store, person, actions)| Step::CreateCase { store, person, actions }),
        3 => (s(), c()).prop_map(|(store, case)| Step::AppendAction { store, case }),
        3 => (s(), c()).prop_map(|(store, case)| Step::AddNote { store, case }),
        2 => (s(), c()).prop_map(|(store, case)| Step::ScheduleFollowUp { store, case }),
        2 => (s(), c(), c(), proptest::bool::weighted(0.7)).prop_map(
            |(store, case, follow_up, corrected)| Step::RecordFollowUp {
                store, case, follow_up, corrected,
            }
        ),
        2 => (s(), c()).prop_map(|(store, case)| Step::Close { store, case }),
        1 => (s(), c()).prop_map(|(store, case)| Step::Reopen { store, case }),
        1 => (s(), c()).prop_map(|(store, case)| Step::Exempt { store, case }),
        1 => (s(), c(), 0u8..4)
            .prop_map(|(store, case, amount)| Step::Penalty { store, case, amount }),
        6 => (s(), s(), proptest::option::weighted(0.3, 1u8..=255), proptest::bool::weighted(0.5))
            .prop_map(|(from, to, subset, optimistic)| Step::Send { from, to, subset, optimistic }),
        7 => (c(), proptest::bool::weighted(0.2))
            .prop_map(|(pick, duplicate)| Step::Deliver { pick, duplicate }),
        1 => c().prop_map(|pick| Step::DropMessage { pick }),
        1 => s().prop_map(|store| Step::Restart { store }),
    ]
}

/// Schedules of 2 to 4 stores and up to `max_steps` steps.
pub fn schedule_strategy(max_steps: usize) -> impl Strategy<Value = Schedule> {
    (
        2usize..=4,
        proptest::collection::vec(step_strategy(), 4..max_steps.max(5)),
    )
        .prop_map(|(stores, steps)| Schedule { stores, steps })
}

/// What a schedule did, for reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Operations that succeeded.
    pub ops_ok: u64,
    /// Operations refused with a domain error (closed case, not eligible, unknown record...).
    pub ops_refused: u64,
    /// Bundles imported.
    pub delivered: u64,
    /// Optimistic bundles refused for missing dependencies (nothing changed).
    pub refused_imports: u64,
    /// Restarts.
    pub restarts: u64,
    /// Documents at the end.
    pub docs: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.ops_ok += o.ops_ok;
        self.ops_refused += o.ops_refused;
        self.delivered += o.delivered;
        self.refused_imports += o.refused_imports;
        self.restarts += o.restarts;
        self.docs += o.docs;
    }
}

/// Where schedule stores live: `FIELDCASE_TEST_TMP`, else `/dev/shm` when present (these runs
/// test merging, not durability, and thousands of fsyncs would dominate), else the temp dir.
pub fn scratch_root() -> PathBuf {
    if let Some(p) = std::env::var_os("FIELDCASE_TEST_TMP") {
        return PathBuf::from(p);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// What every replica must hold of one case at the end.
#[derive(Debug, Default)]
struct Expected {
    actions: BTreeSet<String>,
    notes: BTreeSet<String>,
    follow_ups: Vec<String>,
    recorded_follow_ups: BTreeSet<String>,
    lifecycle_events: usize,
    exempted: bool,
    decided: bool,
}

struct Message {
    to: usize,
    bundle: ChangeBundle,
    optimistic: bool,
}

struct Replica {
    name: String,
    store: Option<FieldStore>,
}

struct World {
    dir: tempfile::TempDir,
    replicas: Vec<Replica>,
    cases: Vec<String>,
    parties: BTreeSet<String>,
    expected: BTreeMap<String, Expected>,
    in_flight: Vec<Message>,
    last_sent: BTreeMap<(usize, usize), Heads>,
    code: String,
    tier: String,
    tier_range: (i64, i64),
    clock: i64,
    stats: Stats,
}

/// The built-in catalogue, parsed once per process (thousands of stores are opened).
fn catalogue() -> Result<Catalogue, ScheduleError> {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    if let Some(c) = CATALOGUE.get() {
        return Ok(c.clone());
    }
    let c = Catalogue::builtin()?;
    Ok(CATALOGUE.get_or_init(|| c).clone())
}

/// Opens a store of the test bureau (all share the party matching key).
pub fn open_store(dir: &Path, name: &str) -> Result<FieldStore, ScheduleError> {
    let cfg = StoreConfig {
        party_match_key: Some([7u8; 32]),
        pii_key: Some([9u8; 32]),
        blob_dir: None,
        catalogue: Some(catalogue()?),
        ..StoreConfig::insecure_plain_for_tests(name)
    };
    Ok(FieldStore::open(dir.join(format!("{name}.db")), cfg)?)
}

/// A valid Lu'an identity number per person (this file is also compiled into core's tests,
/// which have no harness).
fn person_id_number(person: u8) -> String {
    let body = format!("34150219900101{person:03}");
    let check = fieldcase_core::identity::check_character(&body).unwrap_or('0');
    format!("{body}{check}")
}

fn place() -> Place {
    Place {
        lat: 31.7349,
        lon: 116.5079,
        accuracy_m: Some(8.0),
        address: Some("六安市金安区梅山中路".into()),
    }
}

fn persuasion(at: i64, by: &str) -> NewAction {
    let mut fields = serde_json::Map::new();
    fields.insert("explained".into(), json!("占道经营影响通行"));
    fields.insert("outcome".into(), json!("accepted"));
    NewAction {
        method: Method::Persuasion,
        at_ms: at,
        by: by.into(),
        note: None,
        fields,
    }
}

/// The first catalogue item that allows a first-offence exemption with a pledge, its first
/// exempt tier and that tier's fine range for a person.
fn exemptable(store: &FieldStore) -> Result<(String, String, (i64, i64)), ScheduleError> {
    let c = store.catalogue();
    let item = c
        .items()
        .find(|i| {
            i.exemption
                .allows(fieldcase_core::catalogue::ExemptionKind::FirstOffence)
                && i.exemption.pledge_required
                && i.applies_to.contains(&PartyType::Person)
                && !i.exemption.exempt_tiers.is_empty()
        })
        .ok_or_else(|| ScheduleError("no exemptable catalogue item".into()))?;
    let tier = item
        .exemption
        .exempt_tiers
        .first()
        .cloned()
        .ok_or_else(|| ScheduleError("no exempt tier".into()))?;
    let spec = c.tier(&item.code, &tier, PartyType::Person)?;
    Ok((
        item.code.clone(),
        tier,
        (spec.min_yuan.unwrap_or(0), spec.max_yuan.unwrap_or(0)),
    ))
}

/// An error an operation may legitimately return: the record is absent on this store, or the
/// rules refuse the operation in its current state.
fn is_refusal(e: &CoreError) -> bool {
    matches!(
        e,
        CoreError::NotFound { .. }
            | CoreError::CaseClosed { .. }
            | CoreError::NotAllowed { .. }
            | CoreError::NotEligible { .. }
            | CoreError::Refused { .. }
    )
}

impl World {
    fn new(n: usize) -> Result<World, ScheduleError> {
        let dir = tempfile::Builder::new()
            .prefix("fieldcase-conv-")
            .tempdir_in(scratch_root())?;
        let mut replicas = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("phone-{i}");
            let store = open_store(dir.path(), &name)?;
            replicas.push(Replica {
                name,
                store: Some(store),
            });
        }
        let (code, tier, tier_range) = match replicas.first().and_then(|r| r.store.as_ref()) {
            Some(s) => exemptable(s)?,
            None => return fail("no stores"),
        };
        Ok(World {
            dir,
            replicas,
            cases: Vec::new(),
            parties: BTreeSet::new(),
            expected: BTreeMap::new(),
            in_flight: Vec::new(),
            last_sent: BTreeMap::new(),
            code,
            tier,
            tier_range,
            clock: T0,
            stats: Stats::default(),
        })
    }

    fn store(&self, i: usize) -> Result<&FieldStore, ScheduleError> {
        self.replicas
            .get(i)
            .and_then(|r| r.store.as_ref())
            .ok_or_else(|| ScheduleError(format!("store {i} is not open")))
    }

    /// A case the store holds (picked by `pick`), if it holds any.
    fn case_id(&self, store: usize, pick: u8) -> Result<Option<String>, ScheduleError> {
        let held: BTreeSet<String> = self.store(store)?.doc_ids()?.into_iter().collect();
        let local: Vec<&String> = self.cases.iter().filter(|c| held.contains(*c)).collect();
        if local.is_empty() {
            return Ok(None);
        }
        Ok(Some(local[pick as usize % local.len()].clone()))
    }

    /// Books an operation's outcome: success runs `on_ok`, a refusal is counted, anything else
    /// fails the schedule.
    fn outcome<T>(
        &mut self,
        what: &str,
        r: Result<T, CoreError>,
        on_ok: impl FnOnce(&mut World, T),
    ) -> Result<(), ScheduleError> {
        match r {
            Ok(v) => {
                self.stats.ops_ok += 1;
                on_ok(self, v);
                Ok(())
            }
            Err(e) if is_refusal(&e) => {
                self.stats.ops_refused += 1;
                Ok(())
            }
            Err(e) => fail(format!("{what} failed: {e}")),
        }
    }

    fn apply(&mut self, step: &Step) -> Result<(), ScheduleError> {
        let n = self.replicas.len();
        self.clock += 60_000;
        let at = self.clock;
        match *step {
            Step::RegisterParty { store, person } => {
                let s = self.store(store as usize % n)?;
                let r = s.register_party(NewParty {
                    party_type: PartyType::Person,
                    unit: "luan/jinan/squad-1".into(),
                    by: "OF-1001".into(),
                    name: format!("当事人{person}"),
                    id_number: person_id_number(person),
                    id_document: None,
                    phone: Some("13812345678".into()),
                    address: None,
                });
                self.outcome("register party", r, |w, p| {
                    w.parties.insert(p.id);
                })?;
            }
            Step::CreateCase {
                store,
                person,
                actions,
            } => {
                let i = store as usize % n;
                let s = self.store(i)?;
                let party_id = match person {
                    Some(p) => s
                        .find_party_by_id_number(&person_id_number(p))?
                        .map(|p| p.id),
                    None => None,
                };
                let by = format!("OF-{:04}", 1001 + i);
                let input = NewCase {
                    unit: "luan/jinan/squad-1".into(),
                    occurred_at_ms: at,
                    place: place(),
                    officers: vec![by.clone(), "OF-2009".into()],
                    recorded_by: by.clone(),
                    party_id,
                    violation_code: self.code.clone(),
                    tier: self.tier.clone(),
                    description: Some(format!("店外摆放货架 {}", self.cases.len())),
                    actions: (0..=actions)
                        .map(|k| persuasion(at + k as i64, &by))
                        .collect(),
                    involves_minor: false,
                    privacy_protected: false,
                };
                let r = s.create_case(input);
                self.outcome("create case", r, |w, c| {
                    let e = w.expected.entry(c.id.clone()).or_default();
                    e.actions.extend(c.actions.iter().map(|a| a.id.clone()));
                    w.cases.push(c.id);
                })?;
            }
            Step::AppendAction { store, case } => {
                let Some(id) = self.case_id(store as usize % n, case)? else {
                    return Ok(());
                };
                let r = self
                    .store(store as usize % n)?
                    .append_action(&id, persuasion(at, "OF-2001"));
                self.outcome("append action", r, |w, a| {
                    w.expected.entry(id).or_default().actions.insert(a);
                })?;
            }
            Step::AddNote { store, case } => {
                let Some(id) = self.case_id(store as usize % n, case)? else {
                    return Ok(());
                };
                let text = format!("note at {at}");
                let r = self
                    .store(store as usize % n)?
                    .add_note(&id, "OF-2002", at, &text);
                self.outcome("add note", r, |w, note| {
                    w.expected.entry(id).or_default().notes.insert(note);
                })?;
            }
            Step::ScheduleFollowUp { store, case } => {
                let Some(id) = self.case_id(store as usize % n, case)? else {
                    return Ok(());
                };
                let r = self.store(store as usize % n)?.schedule_follow_up(
                    &id,
                    "OF-2003",
                    at + DAY,
                    Some("复查"),
                );
                self.outcome("schedule follow-up", r, |w, f| {
                    w.expected.entry(id).or_default().follow_ups.push(f);
                })?;
            }
            Step::RecordFollowUp {
                store,
                case,
                follow_up,
                corrected,
            } => {
                let Some(id) = self.case_id(store as usize % n, case)? else {
                    return Ok(());
                };
                let fu = match self.expected.get(&id) {
                    Some(e) if !e.follow_ups.is_empty() => {
                        e.follow_ups[follow_up as usize % e.follow_ups.len()].clone()
                    }
                    _ => return Ok(()),
                };
                let i = store as usize % n;
                let r = self.store(i)?.record_follow_up(
                    &id,
                    &fu,
                    FollowUpInput {
                        at_ms: at,
                        by: "OF-2004".into(),
                        corrected,
                        opinion: Some("已整改".into()),
                        satisfaction: Some("satisfied".into()),
                    },
                );
                let ok = r.is_ok();
                self.outcome("record follow-up", r, |_, ()| {})?;
                if ok {
                    // The result names the follow_up action it appended; that action must
                    // survive every merge even if a concurrent result wins the key.
                    let c = self.store(i)?.case(&id)?;
                    let action = c
                        .follow_ups
                        .iter()
                        .find(|f| f.id == fu)
                        .and_then(|f| f.result.as_ref())
                        .map(|r| r.action_id.clone())
                        .ok_or_else(|| ScheduleError("recorded follow-up has no result".into()))?;
                    let e = self.expected.entry(id).or_default();
                    e.actions.insert(action);
                    e.recorded_follow_ups.insert(fu);
                }
            }
            Step::Close { store, case } => {
                let Some(id) = self.case_id(store as usize % n, case)? else {
                    return Ok(());
                };
                let r = self
                    .store(store as usize % n)?
                    .close_case(&id, "OF-2005", at, "结案");
                self.outcome("close", r, |w, ()| {
                    w.expected.entry(id).or_default().lifecycle_events += 1;
                })?;
            }
            Step::Reopen { store, case } => {
                let Some(id) = self.case_id(store as usize % n, case)? else {
                    return Ok(());
                };
                let r = self.store(store as usize % n)?.reopen_case(
                    &id,
                    "OF-2006",
                    at,
                    "复核后重新办理",
                );
                self.outcome("reopen", r, |w, ()| {
                    w.expected.entry(id).or_default().lifecycle_events += 1;
                })?;
            }
            Step::Exempt { store, case } => {
                let Some(id) = self.case_id(store as usize % n, case)? else {
                    return Ok(());
                };
                let r = self.store(store as usize % n)?.grant_exemption(
                    &id,
                    ExemptionRequest {
                        by: "OF-2007".into(),
                        at_ms: at,
                        minor: true,
                        no_harm: true,
                        pledge: Some(PledgeInput {
                            text: "本人承诺当日内整改".into(),
                            signature_evidence_id: None,
                            deadline_ms: Some(at + DAY),
                            signed_at_ms: at,
                        }),
                    },
                );
                self.outcome("grant exemption", r, |w, _| {
                    w.expected.entry(id).or_default().exempted = true;
                })?;
            }
            Step::Penalty {
                store,
                case,
                amount,
            } => {
                let Some(id) = self.case_id(store as usize % n, case)? else {
                    return Ok(());
                };
                let (min, max) = self.tier_range;
                let (amount_yuan, reason) = match amount % 4 {
                    0 => (min, None),
                    1 => (max, None),
                    2 => (max + 1, None),
                    _ => (max + 1, Some("情节特殊，经集体讨论".to_string())),
                };
                // Every penalty comes with an order to correct (行政处罚法 第二十八条).
                let ordered = self.store(store as usize % n)?.order_correction(
                    &id,
                    "OF-2008",
                    at + 10 * DAY - 1,
                    at + 10 * DAY,
                    vec![],
                );
                if let Err(e) = ordered
                    && !is_refusal(&e)
                {
                    return fail(format!("order correction failed: {e}"));
                }
                let r = self.store(store as usize % n)?.decide_penalty(
                    &id,
                    PenaltyRequest {
                        by: "OF-2008".into(),
                        at_ms: at + 10 * DAY,
                        tier: None,
                        amount_yuan,
                        reason,
                        penalty: fieldcase_core::catalogue::PenaltyKind::Fine,
                        procedure: fieldcase_core::model::Procedure::Simple,
                        construction_cost_yuan: None,
                    },
                );
                if amount % 4 == 2 && r.is_ok() {
                    return fail("an amount above the range without a reason was accepted");
                }
                self.outcome("decide penalty", r, |w, d| {
                    let e = w.expected.entry(id).or_default();
                    e.decided = true;
                    e.actions.insert(d.action_id);
                })?;
            }
            Step::Send {
                from,
                to,
                subset,
                optimistic,
            } => {
                let (from, to) = (from as usize % n, to as usize % n);
                if from == to {
                    return Ok(());
                }
                let base = if optimistic {
                    self.last_sent.get(&(from, to)).cloned().unwrap_or_default()
                } else {
                    self.store(to)?.heads()?
                };
                let sender = self.store(from)?;
                let mut bundle = sender.export_changes(&base)?;
                let sent_heads = sender.heads()?;
                if let Some(mask) = subset {
                    let mut i = 0usize;
                    bundle.docs.retain(|_| {
                        let keep = mask & (1 << (i % 8)) != 0;
                        i += 1;
                        keep
                    });
                }
                if optimistic {
                    self.last_sent.insert((from, to), sent_heads);
                }
                self.in_flight.push(Message {
                    to,
                    bundle,
                    optimistic,
                });
            }
            Step::Deliver { pick, duplicate } => {
                if self.in_flight.is_empty() {
                    return Ok(());
                }
                let k = pick as usize % self.in_flight.len();
                let msg = if duplicate {
                    let m = &self.in_flight[k];
                    Message {
                        to: m.to,
                        bundle: m.bundle.clone(),
                        optimistic: m.optimistic,
                    }
                } else {
                    self.in_flight.remove(k)
                };
                self.deliver(&msg)?;
            }
            Step::DropMessage { pick } => {
                if !self.in_flight.is_empty() {
                    let k = pick as usize % self.in_flight.len();
                    self.in_flight.remove(k);
                }
            }
            Step::Restart { store } => {
                let i = store as usize % n;
                let dir = self.dir.path().to_path_buf();
                if let Some(r) = self.replicas.get_mut(i) {
                    r.store = None; // closes the connections
                    r.store = Some(open_store(&dir, &r.name)?);
                }
                self.stats.restarts += 1;
            }
        }
        Ok(())
    }

    fn deliver(&mut self, msg: &Message) -> Result<(), ScheduleError> {
        let s = self.store(msg.to)?;
        let before = s.heads()?;
        match s.import_changes(&msg.bundle) {
            Ok(_) => self.stats.delivered += 1,
            Err(e) => {
                let after = s.heads()?;
                if after != before {
                    return fail(format!("a refused import changed the store: {e}"));
                }
                let missing_deps = matches!(e, CoreError::MalformedDocument { .. });
                if !(msg.optimistic && missing_deps) {
                    return fail(format!("import of a well-formed bundle failed: {e}"));
                }
                self.stats.refused_imports += 1;
            }
        }
        Ok(())
    }

    /// Every store imports from every other until all hold the union.
    fn full_exchange(&mut self) -> Result<(), ScheduleError> {
        let n = self.replicas.len();
        for i in 1..n {
            let bundle = self.store(i)?.export_changes(&self.store(0)?.heads()?)?;
            self.store(0)?.import_changes(&bundle)?;
        }
        for i in 1..n {
            let bundle = self.store(0)?.export_changes(&self.store(i)?.heads()?)?;
            self.store(i)?.import_changes(&bundle)?;
        }
        Ok(())
    }
}

/// Everything a replica shows, in a form that compares across replicas.
#[derive(Debug, PartialEq)]
struct View {
    heads: Heads,
    records: BTreeMap<String, Value>,
    open_cases: Vec<Value>,
    due: Vec<Value>,
    party_history: BTreeMap<String, Vec<Value>>,
    flagged: Vec<Value>,
    counts: Vec<(String, i64)>,
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, ScheduleError> {
    serde_json::to_value(v).map_err(|e| ScheduleError(format!("serialise: {e}")))
}

fn sorted_json<T: serde::Serialize>(
    items: &[T],
    key: impl Fn(&T) -> String,
) -> Result<Vec<Value>, ScheduleError> {
    let mut keyed = items
        .iter()
        .map(|i| Ok((key(i), to_json(i)?)))
        .collect::<Result<Vec<_>, ScheduleError>>()?;
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, v)| v).collect())
}

fn view(s: &FieldStore, parties: &BTreeSet<String>) -> Result<View, ScheduleError> {
    let heads = s.heads()?;
    let mut records = BTreeMap::new();
    for id in heads.keys() {
        let json = match s.case(id) {
            Ok(c) => to_json(&c)?,
            Err(CoreError::NotFound { .. }) => match s.party(id) {
                Ok(p) => to_json(&p)?,
                Err(CoreError::NotFound { .. }) => to_json(&s.demonstration(id)?)?,
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        records.insert(id.clone(), json);
    }
    let mut party_history = BTreeMap::new();
    for p in parties {
        let h = s.party_history(p)?;
        party_history.insert(p.clone(), sorted_json(&h, |c| c.id.clone())?);
    }
    Ok(View {
        heads,
        records,
        open_cases: sorted_json(&s.open_cases(None, u32::MAX)?, |c| c.id.clone())?,
        due: sorted_json(&s.due_follow_ups(None, T0 + 3650 * DAY, 0)?, |f| {
            format!("{} {}", f.case_id, f.follow_up_id)
        })?,
        party_history,
        flagged: sorted_json(&s.flagged_cases()?, |c| c.id.clone())?,
        counts: s.record_counts()?,
    })
}

fn first_difference(a: &View, b: &View) -> String {
    if a.heads != b.heads {
        return "heads differ".into();
    }
    for (id, r) in &a.records {
        if b.records.get(id) != Some(r) {
            return format!("record {id} differs");
        }
    }
    if a.open_cases != b.open_cases {
        return "open case lists differ".into();
    }
    if a.due != b.due {
        return "due follow-up lists differ".into();
    }
    if a.party_history != b.party_history {
        return "party histories differ".into();
    }
    if a.flagged != b.flagged {
        return "flagged case lists differ".into();
    }
    "record counts differ".into()
}

fn check_nothing_lost(s: &FieldStore, name: &str, w: &World) -> Result<(), ScheduleError> {
    for p in &w.parties {
        if let Err(e) = s.party(p) {
            return fail(format!("{name}: party {p} lost: {e}"));
        }
    }
    for (id, e) in &w.expected {
        let c = s
            .case(id)
            .map_err(|err| ScheduleError(format!("{name}: case {id} lost: {err}")))?;
        let actions: BTreeSet<&str> = c.actions.iter().map(|a| a.id.as_str()).collect();
        let notes: BTreeSet<&str> = c.notes.iter().map(|n| n.id.as_str()).collect();
        for a in &e.actions {
            if !actions.contains(a.as_str()) {
                return fail(format!("{name}: action {a} of case {id} lost"));
            }
        }
        for n in &e.notes {
            if !notes.contains(n.as_str()) {
                return fail(format!("{name}: note {n} of case {id} lost"));
            }
        }
        for f in &e.follow_ups {
            let Some(found) = c.follow_ups.iter().find(|x| &x.id == f) else {
                return fail(format!("{name}: follow-up {f} of case {id} lost"));
            };
            if e.recorded_follow_ups.contains(f) && found.result.is_none() {
                return fail(format!("{name}: result of follow-up {f} lost"));
            }
        }
        if c.lifecycle.len() != e.lifecycle_events {
            return fail(format!(
                "{name}: case {id} has {} lifecycle events, {} were recorded",
                c.lifecycle.len(),
                e.lifecycle_events
            ));
        }
        if e.exempted && c.exemption.is_none() {
            return fail(format!("{name}: exemption of case {id} lost"));
        }
        if e.decided && c.decision.is_none() {
            return fail(format!("{name}: decision of case {id} lost"));
        }
    }
    Ok(())
}

/// Checks that every replica (and a fresh store that imports everything) shows the same state,
/// that nothing recorded was lost, and that every file passes `PRAGMA integrity_check`.
fn check_converged(w: &World) -> Result<(), ScheduleError> {
    let first = w.store(0)?;
    let reference = view(first, &w.parties)?;
    for (i, r) in w.replicas.iter().enumerate() {
        let s = w.store(i)?;
        let verdict = s.integrity_check()?;
        if verdict != "ok" {
            return fail(format!("{}: integrity_check: {verdict}", r.name));
        }
        check_nothing_lost(s, &r.name, w)?;
        if i > 0 {
            let v = view(s, &w.parties)?;
            if v != reference {
                return fail(format!(
                    "{} and {} diverge: {}",
                    w.replicas[0].name,
                    r.name,
                    first_difference(&reference, &v)
                ));
            }
        }
    }
    // A store that learns everything in one import projects the same: projections depend on
    // the documents only, not on the order their changes arrived in.
    let late = open_store(w.dir.path(), "late-joiner")?;
    late.import_changes(&first.export_changes(&Heads::new())?)?;
    let v = view(&late, &w.parties)?;
    if v != reference {
        return fail(format!(
            "a store rebuilt from one import diverges: {}",
            first_difference(&reference, &v)
        ));
    }
    Ok(())
}

/// Runs one schedule to the end and checks convergence.
pub fn run_schedule(schedule: &Schedule) -> Result<Stats, ScheduleError> {
    let mut w = World::new(schedule.stores.clamp(2, 4))?;
    for (k, step) in schedule.steps.iter().enumerate() {
        w.apply(step)
            .map_err(|e| ScheduleError(format!("step {k} {step:?}: {e}")))?;
    }
    w.full_exchange()?;
    check_converged(&w)?;
    w.stats.docs = w.store(0)?.heads()?.len() as u64;
    Ok(w.stats)
}

/// A proptest runner with a deterministic RNG derived from `seed`.
pub fn runner(seed: u64, cases: u32) -> TestRunner {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let v = seed
            .wrapping_add(i as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(17);
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    let config = Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        max_shrink_iters: 2_000,
        max_shrink_time: 60_000,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Generates the one schedule of `seed`, runs it, and on failure shrinks it to a smaller
/// schedule that still fails; the error names the seed and the schedule.
pub fn check_seed(seed: u64, max_steps: usize) -> Result<Stats, ScheduleError> {
    let mut r = runner(seed, 1);
    let mut tree = schedule_strategy(max_steps)
        .new_tree(&mut r)
        .map_err(|e| ScheduleError(format!("generate: {e}")))?;
    let first = match run_schedule(&tree.current()) {
        Ok(stats) => return Ok(stats),
        Err(e) => e,
    };
    let mut minimal = (tree.current(), first.0.clone());
    let mut last_failed = true;
    for _ in 0..500 {
        let moved = if last_failed {
            tree.simplify()
        } else {
            tree.complicate()
        };
        if !moved {
            break;
        }
        match run_schedule(&tree.current()) {
            Err(e) => {
                minimal = (tree.current(), e.0);
                last_failed = true;
            }
            Ok(_) => last_failed = false,
        }
    }
    Err(ScheduleError(format!(
        "seed {seed}: {first}\nminimal failing schedule ({}): {:?}",
        minimal.1, minimal.0
    )))
}
