//! Follow-ups the record schedules itself: a pledge's and an order's deadline each bring the
//! visit that verifies it, in the same write, listed as due, and once only after two phones
//! that both wrote it merge.

use crate::common::*;
use fieldcase_core::FieldStore;
use fieldcase_core::model::{FollowUp, FollowUpSource};
use fieldcase_core::store::{ChangeBundle, ExemptionRequest, FollowUpInput, PledgeInput};

const DAY: i64 = 86_400_000;

fn grant(store: &FieldStore, case_id: &str, by: &str, deadline: i64) -> fieldcase_core::Result<()> {
    store
        .grant_exemption(
            case_id,
            ExemptionRequest {
                by: by.into(),
                at_ms: T0 + 60_000,
                minor: true,
                no_harm: true,
                pledge: Some(PledgeInput {
                    text: "本人承诺限期整改".into(),
                    signature_evidence_id: None,
                    deadline_ms: Some(deadline),
                    signed_at_ms: T0 + 60_000,
                }),
            },
        )
        .map(|_| ())
}

fn exchange(from: &FieldStore, to: &FieldStore) {
    let bundle: ChangeBundle = from
        .export_changes(&to.heads().expect("heads"))
        .expect("export");
    to.import_changes(&bundle).expect("import");
}

#[test]
fn a_pledge_schedules_its_visit_at_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let party_id = party(&store, "34150219900101128X");
    let case = store
        .create_case(new_case(&store, Some(party_id), T0))
        .expect("case");
    grant(&store, &case.id, "OF-1001", T0 + 3 * DAY).expect("grant");

    let got = store.case(&case.id).expect("case");
    let [visit] = got.follow_ups.as_slice() else {
        panic!("one visit expected: {:?}", got.follow_ups);
    };
    assert_eq!(visit.id, FollowUp::pledge_id(&case.id));
    assert_eq!(visit.due_ms, T0 + 3 * DAY);
    assert_eq!(visit.scheduled_by, "OF-1001");
    assert_eq!(visit.source, Some(FollowUpSource::Pledge));
    assert!(visit.result.is_none());

    // Not due a day before, due within the horizon, overdue after the deadline.
    assert!(store.due_follow_ups(None, T0, DAY).expect("due").is_empty());
    let due = store.due_follow_ups(None, T0, 3 * DAY).expect("due");
    assert_eq!(due.len(), 1);
    assert!(!due[0].overdue);
    let overdue = store
        .overdue_follow_ups(Some("luan/jinan"), T0 + 4 * DAY)
        .expect("overdue");
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].follow_up_id, visit.id);

    // Recording the visit takes it off the list, and the case may close.
    store
        .record_follow_up(
            &case.id,
            &visit.id,
            FollowUpInput {
                at_ms: T0 + 2 * DAY,
                by: "OF-1002".into(),
                corrected: true,
                opinion: None,
                satisfaction: None,
            },
        )
        .expect("record");
    assert!(
        store
            .due_follow_ups(None, T0, 10 * DAY)
            .expect("due")
            .is_empty()
    );
    store
        .close_case(&case.id, "OF-1001", T0 + 2 * DAY + 1, "已整改")
        .expect("close");
}

#[test]
fn an_order_to_correct_schedules_its_visit_with_the_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let case = store.create_case(new_case(&store, None, T0)).expect("case");
    let order = store
        .order_correction(
            &case.id,
            "OF-1001",
            T0 + 1000,
            T0 + 2 * DAY,
            vec!["清理".into()],
        )
        .expect("order");
    let got = store.case(&case.id).expect("case");
    assert_eq!(got.follow_ups.len(), 1);
    let visit = &got.follow_ups[0];
    assert_eq!(visit.id, FollowUp::correction_order_id(&order));
    assert_eq!(visit.due_ms, T0 + 2 * DAY);
    assert_eq!(visit.source, Some(FollowUpSource::CorrectionOrder));
    let due = store.due_follow_ups(None, T0 + 3 * DAY, 0).expect("due");
    assert_eq!(due.len(), 1);
    assert!(due[0].overdue);
    // A refused order writes neither the order nor a visit.
    assert!(
        store
            .order_correction(&case.id, "OF-1001", T0 + 1000, T0, vec![])
            .is_err()
    );
    assert_eq!(store.case(&case.id).expect("case").follow_ups.len(), 1);
}

/// Two phones holding the case each grant the exemption offline: both write the pledge's
/// visit under the same id, and after they merge every phone lists it once.
#[test]
fn two_phones_granting_offline_merge_into_one_visit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = open(dir.path(), "phone-a");
    let b = open(dir.path(), "phone-b");
    let party_id = party(&a, "34150219900101128X");
    let case = a
        .create_case(new_case(&a, Some(party_id), T0))
        .expect("case");
    exchange(&a, &b);
    grant(&a, &case.id, "OF-1001", T0 + 3 * DAY).expect("grant a");
    grant(&b, &case.id, "OF-1002", T0 + 3 * DAY).expect("grant b");
    exchange(&a, &b);
    exchange(&b, &a);
    for (name, s) in [("a", &a), ("b", &b)] {
        let got = s.case(&case.id).expect("case");
        assert_eq!(
            got.follow_ups.len(),
            1,
            "phone {name}: {:?}",
            got.follow_ups
        );
        assert_eq!(got.follow_ups[0].id, FollowUp::pledge_id(&case.id));
        assert_eq!(
            s.due_follow_ups(None, T0, 10 * DAY).expect("due").len(),
            1,
            "phone {name}"
        );
    }
    // The visit recorded on one phone is the one every phone sees as made.
    let visit = FollowUp::pledge_id(&case.id);
    b.record_follow_up(
        &case.id,
        &visit,
        FollowUpInput {
            at_ms: T0 + DAY,
            by: "OF-1002".into(),
            corrected: true,
            opinion: None,
            satisfaction: None,
        },
    )
    .expect("record");
    exchange(&b, &a);
    for s in [&a, &b] {
        let got = s.case(&case.id).expect("case");
        assert_eq!(got.follow_ups.len(), 1);
        assert!(got.follow_ups[0].result.is_some());
        assert!(
            s.due_follow_ups(None, T0, 10 * DAY)
                .expect("due")
                .is_empty()
        );
    }
}
