//! Bad input gets a typed error and writes nothing.

use crate::common::*;
use fieldcase_core::CoreError;
use fieldcase_core::catalogue::Method;
use fieldcase_core::model::RecordKind;
use fieldcase_core::store::{ChangeBundle, DocChanges, NewAction, PenaltyRequest};
use serde_json::json;

fn snapshot(store: &fieldcase_core::FieldStore) -> std::collections::BTreeMap<String, Vec<String>> {
    store.heads().expect("heads")
}

#[test]
fn invalid_inputs_are_typed_errors_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let pid = party(&store, "341502199001011239");
    let case = store
        .create_case(new_case(&store, Some(pid.clone()), T0))
        .expect("case");
    let before = snapshot(&store);

    let mut c = new_case(&store, Some(pid.clone()), T0);
    c.violation_code = "CG-ZZ-999".into();
    assert!(matches!(
        store.create_case(c),
        Err(CoreError::UnknownViolationCode { .. })
    ));

    let mut c = new_case(&store, Some(pid.clone()), T0);
    c.place.lat = 91.0;
    assert!(matches!(
        store.create_case(c),
        Err(CoreError::InvalidCoordinates { .. })
    ));
    let mut c = new_case(&store, Some(pid.clone()), T0);
    c.place.lon = f64::NAN;
    assert!(matches!(
        store.create_case(c),
        Err(CoreError::InvalidCoordinates { .. })
    ));

    let mut c = new_case(&store, Some(pid.clone()), T0);
    c.tier = "no-such-tier".into();
    assert!(matches!(
        store.create_case(c),
        Err(CoreError::UnknownTier { .. })
    ));

    let mut c = new_case(&store, Some(pid.clone()), T0);
    c.unit = "Not A Unit".into();
    assert!(matches!(
        store.create_case(c),
        Err(CoreError::InvalidInput { .. })
    ));

    let mut c = new_case(
        &store,
        Some("0190aaaa-0000-7000-8000-000000000000".into()),
        T0,
    );
    c.officers.clear();
    assert!(matches!(
        store.create_case(c),
        Err(CoreError::InvalidInput { .. })
    ));

    // Action fields are checked against the method's spec.
    let bad_fields = NewAction {
        method: Method::Persuasion,
        at_ms: T0,
        by: "OF-1001".into(),
        note: None,
        fields: fields(json!({"explained": "x", "outcome": "maybe"})),
    };
    assert!(matches!(
        store.append_action(&case.id, bad_fields),
        Err(CoreError::InvalidInput { .. })
    ));
    let missing = NewAction {
        method: Method::Guidance,
        at_ms: T0,
        by: "OF-1".into(),
        note: None,
        fields: fields(json!({"topic": "x"})),
    };
    assert!(matches!(
        store.append_action(&case.id, missing),
        Err(CoreError::InvalidInput { .. })
    ));
    let unknown = NewAction {
        method: Method::Reminder,
        at_ms: T0,
        by: "OF-1".into(),
        note: None,
        fields: fields(json!({"reminded": "a", "duty": "b", "reason": "patrol", "zzz": 1})),
    };
    assert!(matches!(
        store.append_action(&case.id, unknown),
        Err(CoreError::InvalidInput { .. })
    ));
    let penalty_as_action = NewAction {
        method: Method::Penalty,
        at_ms: T0,
        by: "OF-1".into(),
        note: None,
        fields: fields(json!({})),
    };
    assert!(matches!(
        store.append_action(&case.id, penalty_as_action),
        Err(CoreError::InvalidInput { .. })
    ));

    // A fine outside the tier's range without a reason.
    let catalogue = store.catalogue();
    let tier = catalogue
        .tier(
            &case.violation.code,
            &case.violation.tier,
            fieldcase_core::catalogue::PartyType::Person,
        )
        .expect("tier")
        .clone();
    let err = store.decide_penalty(
        &case.id,
        PenaltyRequest {
            by: "OF-1001".into(),
            at_ms: T0 + 1,
            tier: None,
            amount_yuan: tier.max_yuan.unwrap_or(0) + 100,
            reason: None,
            penalty: fieldcase_core::catalogue::PenaltyKind::Fine,
            procedure: fieldcase_core::model::Procedure::Ordinary,
            construction_cost_yuan: None,
        },
    );
    assert!(
        matches!(&err, Err(CoreError::Refused { code, .. }) if code == "decision_invalid"),
        "{err:?}"
    );
    let err = store.decide_penalty(
        &case.id,
        PenaltyRequest {
            by: "OF-1001".into(),
            at_ms: T0 + 1,
            tier: None,
            amount_yuan: -5,
            reason: None,
            penalty: fieldcase_core::catalogue::PenaltyKind::Fine,
            procedure: fieldcase_core::model::Procedure::Simple,
            construction_cost_yuan: None,
        },
    );
    assert!(matches!(err, Err(CoreError::InvalidInput { .. })));

    // Unknown records.
    assert!(matches!(
        store.add_note("0190aaaa-0000-7000-8000-000000000000", "OF-1", T0, "x"),
        Err(CoreError::NotFound { .. })
    ));

    // Malformed bundles: garbage bytes, wrong kind, wrong id.
    let garbage = ChangeBundle {
        docs: vec![DocChanges {
            doc_id: case.id.clone(),
            kind: RecordKind::Case,
            bytes: vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
            heads: vec![],
        }],
    };
    assert!(matches!(
        store.import_changes(&garbage),
        Err(CoreError::MalformedDocument { .. })
    ));
    let export = store.export_changes(&Default::default()).expect("export");
    let case_bytes = export
        .docs
        .iter()
        .find(|d| d.doc_id == case.id)
        .expect("case")
        .bytes
        .clone();
    let case_heads = store.heads().expect("heads")[&case.id].clone();
    let wrong_kind = ChangeBundle {
        docs: vec![DocChanges {
            doc_id: case.id.clone(),
            kind: RecordKind::Party,
            bytes: case_bytes.clone(),
            heads: case_heads.clone(),
        }],
    };
    assert!(store.import_changes(&wrong_kind).is_err());
    let other_id = fieldcase_core::ids::new_id();
    let wrong_id = ChangeBundle {
        docs: vec![DocChanges {
            doc_id: other_id.clone(),
            kind: RecordKind::Case,
            bytes: case_bytes,
            heads: case_heads,
        }],
    };
    assert!(matches!(
        store.import_changes(&wrong_id),
        Err(CoreError::MalformedDocument { .. })
    ));
    assert!(ChangeBundle::from_bytes(b"{not json").is_err());

    assert_eq!(snapshot(&store), before, "nothing was written");
    assert_eq!(store.open_cases(None, 100).expect("list").len(), 1);
}

#[test]
fn closed_case_refuses_edits_until_reopened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let case = store.create_case(new_case(&store, None, T0)).expect("case");
    store
        .close_case(&case.id, "OF-1001", T0 + 1, "劝导后自行离开")
        .expect("close");
    let before = snapshot(&store);
    assert!(matches!(
        store.append_action(&case.id, persuasion(T0 + 2)),
        Err(CoreError::CaseClosed { .. })
    ));
    assert!(matches!(
        store.schedule_follow_up(&case.id, "OF-1", T0 + 5, None),
        Err(CoreError::CaseClosed { .. })
    ));
    assert!(matches!(
        store.close_case(&case.id, "OF-1", T0 + 5, "again"),
        Err(CoreError::CaseClosed { .. })
    ));
    assert_eq!(snapshot(&store), before);
    store
        .reopen_case(&case.id, "OF-1001", T0 + 3, "当事人再次出摊")
        .expect("reopen");
    store
        .append_action(&case.id, persuasion(T0 + 4))
        .expect("append after reopen");
    assert_eq!(store.case(&case.id).expect("case").actions.len(), 2);
}

#[test]
fn actor_is_stable_per_install_and_rotated_after_a_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let actor = store.actor_id();
    store.create_case(new_case(&store, None, T0)).expect("case");
    drop(store);
    let store = open(dir.path(), "phone-a");
    assert_eq!(store.actor_id(), actor, "stable across restarts");
    drop(store);

    // A restore: the database file comes back without this install's marker.
    std::fs::remove_file(dir.path().join("phone-a.db.install")).expect("remove marker");
    let store = open(dir.path(), "phone-a");
    assert_ne!(store.actor_id(), actor, "rotated after restore");
    assert_eq!(store.actor_rotations().expect("rotations"), 1);
    // And it can still write.
    let c = store
        .create_case(new_case(&store, None, T0))
        .expect("write after restore");
    store.add_note(&c.id, "OF-1", T0, "ok").expect("note");
}
