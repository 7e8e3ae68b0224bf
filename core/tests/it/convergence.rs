//! Convergence (Invariants 1 and 3): every replica that has seen the same changes shows the
//! same state, and nothing any store recorded is lost, whatever the delivery schedule.
//!
//! The schedules are defined once, in `tests/src/convergence.rs`, and shared with the battery;
//! here proptest runs them with fixed seeds. The issue's own scenario is spelled out below.

#[path = "../../../tests/src/convergence.rs"]
#[allow(dead_code)]
mod schedules;

use crate::common::*;
use fieldcase_core::store::ChangeBundle;
use fieldcase_core::{CoreError, FieldStore};
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;

/// Cases per proptest run; four runs give 1,000 schedules.
const CASES: u32 = 250;
const MAX_STEPS: usize = 28;

fn run(seed: u64) {
    let mut runner = schedules::runner(seed, CASES);
    let total = std::cell::Cell::new(schedules::Stats::default());
    let result = runner.run(&schedules::schedule_strategy(MAX_STEPS), |s| {
        let stats = schedules::run_schedule(&s).map_err(|e| TestCaseError::fail(e.0))?;
        let mut t = total.get();
        t += stats;
        total.set(t);
        Ok(())
    });
    let total = total.get();
    if let Err(e) = result {
        panic!("convergence seed {seed}: {e}");
    }
    eprintln!("convergence seed {seed}: {total:?}");
    // The generator must actually exercise merging, not just refusals.
    assert!(total.ops_ok > u64::from(CASES) * 3, "{total:?}");
    assert!(total.delivered > u64::from(CASES) / 2, "{total:?}");
    assert!(total.restarts > 0, "{total:?}");
}

#[test]
fn random_schedules_converge_seed_1() {
    run(1);
}

#[test]
fn random_schedules_converge_seed_2() {
    run(2);
}

#[test]
fn random_schedules_converge_seed_3() {
    run(3);
}

#[test]
fn random_schedules_converge_seed_4() {
    run(4);
}

fn exchange(from: &FieldStore, to: &FieldStore) {
    let bundle: ChangeBundle = from
        .export_changes(&to.heads().expect("heads"))
        .expect("export");
    to.import_changes(&bundle).expect("import");
}

/// The scenario: three phones edit one case while apart. One schedules a follow-up,
/// another adds a note, the third closes the case. After they exchange, all three show the
/// case closed with the follow-up and the note, and the lists reflect the merged state.
#[test]
fn three_phones_edit_one_case_concurrently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = open(dir.path(), "phone-a");
    let b = open(dir.path(), "phone-b");
    let c = open(dir.path(), "phone-c");
    let case = a.create_case(new_case(&a, None, T0)).expect("case");
    exchange(&a, &b);
    exchange(&a, &c);

    let follow_up = a
        .schedule_follow_up(&case.id, "OF-1001", T0 + 86_400_000, Some("复查"))
        .expect("follow-up");
    let note = b
        .add_note(&case.id, "OF-1002", T0 + 1000, "当事人已当场收摊")
        .expect("note");
    c.close_case(&case.id, "OF-1003", T0 + 2000, "当场整改完毕")
        .expect("close");

    // Before the exchange each phone sees only its own edit.
    let far = T0 + 10 * 86_400_000;
    assert_eq!(a.due_follow_ups(None, far, 0).expect("due").len(), 1);
    assert_eq!(b.open_cases(None, 10).expect("open").len(), 1);
    assert!(c.open_cases(None, 10).expect("open").is_empty());

    for (x, y) in [(&a, &b), (&b, &c), (&c, &a), (&a, &b)] {
        exchange(x, y);
    }

    let heads = a.heads().expect("heads");
    for (name, s) in [("a", &a), ("b", &b), ("c", &c)] {
        assert_eq!(s.heads().expect("heads"), heads, "phone {name}");
        let merged = s.case(&case.id).expect("case");
        assert!(merged.is_closed(), "phone {name}");
        assert!(merged.follow_ups.iter().any(|f| f.id == follow_up));
        assert!(merged.notes.iter().any(|n| n.id == note));
        assert_eq!(merged.actions, case.actions, "phone {name}");
        assert_eq!(
            serde_json::to_value(&merged).expect("json"),
            serde_json::to_value(a.case(&case.id).expect("case")).expect("json")
        );
        // Projections follow the merge: closed cases leave the open list and their
        // follow-ups are no longer due.
        assert!(s.open_cases(None, 10).expect("open").is_empty(), "{name}");
        assert!(s.due_follow_ups(None, far, 0).expect("due").is_empty());
        assert_eq!(s.integrity_check().expect("check"), "ok");
    }

    // A closed case refuses further edits on every phone, and reopening one reopens all.
    assert!(matches!(
        b.add_note(&case.id, "OF-1002", T0 + 3000, "late"),
        Err(CoreError::CaseClosed { .. })
    ));
    b.reopen_case(&case.id, "OF-1002", T0 + 4000, "当事人复摆")
        .expect("reopen");
    exchange(&b, &a);
    assert_eq!(a.open_cases(None, 10).expect("open").len(), 1);
    assert_eq!(a.due_follow_ups(None, far, 0).expect("due").len(), 1);
}

/// Restarting a store between deliveries keeps what it merged; a duplicate delivery is a
/// no-op; a bundle whose dependencies are missing is refused without changing anything.
#[test]
fn duplicates_restarts_and_missing_dependencies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = open(dir.path(), "phone-a");
    let mut b = open(dir.path(), "phone-b");
    let case = a.create_case(new_case(&a, None, T0)).expect("case");
    let first = a.export_changes(&BTreeMap::new()).expect("export");
    let after_create = a.heads().expect("heads");
    a.add_note(&case.id, "OF-1001", T0 + 1, "一").expect("note");
    let second = a.export_changes(&after_create).expect("export");

    // The second bundle alone lacks the case's creation: refused, nothing written.
    assert!(matches!(
        b.import_changes(&second),
        Err(CoreError::MalformedDocument { .. })
    ));
    assert!(b.heads().expect("heads").is_empty());

    b.import_changes(&first).expect("first");
    drop(b);
    b = open(dir.path(), "phone-b");
    b.import_changes(&second).expect("second");
    let report = b.import_changes(&second).expect("duplicate");
    assert!(report.changed.is_empty());
    assert_eq!(b.heads().expect("heads"), a.heads().expect("heads"));
}
