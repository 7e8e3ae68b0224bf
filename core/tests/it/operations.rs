//! The officer's offline operations end to end against a real SQLite file.

use crate::common::*;
use fieldcase_core::CoreError;
use fieldcase_core::model::FollowUp;
use fieldcase_core::store::{ExemptionRequest, FollowUpInput, PledgeInput};

#[test]
fn officer_flow_warning_pledge_follow_up_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let party_id = party(&store, "34150219900101128X");
    let case = store
        .create_case(new_case(&store, Some(party_id.clone()), T0))
        .expect("case");
    let pii = store
        .party_pii(&party_id)
        .expect("pii readable with the key");
    assert_eq!(pii.id_number, "34150219900101128X");
    let json = store.record_json(&party_id).expect("json").to_string();
    assert!(
        !json.contains("34150219900101128X") && !json.contains("张三丰"),
        "sealed"
    );
    assert_eq!(
        store
            .open_cases(Some("luan/jinan"), 10)
            .expect("list")
            .len(),
        1
    );

    let e = store
        .check_exemption(&case.id, true, true, true)
        .expect("check");
    assert!(e.eligible, "{:?}", e.conditions);
    assert!(e.first_offence.prior_case_ids.is_empty());

    let ex = store
        .grant_exemption(
            &case.id,
            ExemptionRequest {
                by: "OF-1001".into(),
                at_ms: T0 + 60_000,
                minor: true,
                no_harm: true,
                pledge: Some(PledgeInput {
                    text: "本人承诺当日内整改".into(),
                    signature_evidence_id: None,
                    deadline_ms: Some(T0 + 86_400_000),
                    signed_at_ms: T0 + 60_000,
                }),
            },
        )
        .expect("exemption");
    assert_eq!(ex.kind.as_str(), "first_offence");
    assert!(matches!(
        store.close_case(&case.id, "OF-1001", T0 + 70_000, "done"),
        Err(CoreError::Refused { code, .. }) if code == "lifecycle_invalid"
    ));

    // The pledge scheduled its own visit at the deadline.
    let fu = FollowUp::pledge_id(&case.id);
    let due = store
        .due_follow_ups(None, T0 + 2 * 86_400_000, 0)
        .expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].follow_up_id, fu);
    assert!(due[0].overdue);
    store
        .record_follow_up(
            &case.id,
            &fu,
            FollowUpInput {
                at_ms: T0 + 86_000_000,
                by: "OF-1002".into(),
                corrected: true,
                opinion: Some("已整改".into()),
                satisfaction: Some("satisfied".into()),
            },
        )
        .expect("record fu");
    store
        .close_case(&case.id, "OF-1001", T0 + 86_100_000, "已整改结案")
        .expect("close");
    assert!(store.open_cases(None, 10).expect("list").is_empty());
    assert!(matches!(
        store.add_note(&case.id, "OF-1001", T0, "late note"),
        Err(CoreError::CaseClosed { .. })
    ));

    // A second case of the same party is no longer a first offence.
    let case2 = store
        .create_case(new_case(&store, Some(party_id), T0 + 5 * 86_400_000))
        .expect("case2");
    let e2 = store
        .check_exemption(&case2.id, true, true, true)
        .expect("check2");
    assert_eq!(e2.first_offence.prior_case_ids, vec![case.id.clone()]);
    drop(store);

    // Reopening the file keeps everything.
    let store = open(dir.path(), "phone-a");
    assert_eq!(store.case(&case.id).expect("reload").follow_ups.len(), 1);
    assert_eq!(store.integrity_check().expect("check"), "ok");
}
