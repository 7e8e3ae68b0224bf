//! The JSON Schemas in `schemas/` against the data and the records the core writes.

use crate::common::*;
use fieldcase_core::catalogue::Method;
use fieldcase_core::store::{
    ExemptionRequest, FollowUpInput, NewAction, NewDemonstration, PledgeInput,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read");
    serde_json::from_str(&text).expect("json")
}

fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::validator_for(&load(&schemas_dir().join(name))).expect("valid schema")
}

fn assert_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema: {errors:#?}"
    );
}

#[test]
fn every_record_the_core_writes_matches_its_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let case_v = validator("case.schema.json");
    let party_v = validator("party.schema.json");
    let demo_v = validator("demonstration.schema.json");

    let party_id = party(&store, "34150219900101128X");
    assert_valid(
        &party_v,
        &store.record_json(&party_id).expect("json"),
        "party",
    );

    let case = store
        .create_case(new_case(&store, Some(party_id.clone()), T0))
        .expect("case");
    assert_valid(
        &case_v,
        &store.record_json(&case.id).expect("json"),
        "new case",
    );
    store
        .append_action(
            &case.id,
            NewAction {
                method: Method::Warning,
                at_ms: T0 + 1000,
                by: "OF-1001".into(),
                note: Some("口头警告".into()),
                fields: fields(json!({"warning_text": "限当日整改", "deadline": T0 + 86_400_000})),
            },
        )
        .expect("warning");
    store
        .grant_exemption(
            &case.id,
            ExemptionRequest {
                by: "OF-1001".into(),
                at_ms: T0 + 2000,
                minor: true,
                no_harm: true,
                pledge: Some(PledgeInput {
                    text: "承诺整改".into(),
                    signature_evidence_id: Some(fieldcase_core::ids::new_id()),
                    deadline_ms: None,
                    signed_at_ms: T0 + 2000,
                }),
            },
        )
        .expect("exemption");
    let fu = store
        .schedule_follow_up(&case.id, "OF-1001", T0 + 86_400_000, None)
        .expect("fu");
    store
        .record_follow_up(
            &case.id,
            &fu,
            FollowUpInput {
                at_ms: T0 + 86_400_000,
                by: "OF-1002".into(),
                corrected: true,
                opinion: None,
                satisfaction: None,
            },
        )
        .expect("record");
    store
        .add_note(&case.id, "OF-1001", T0 + 3000, "备注")
        .expect("note");
    store
        .close_case(&case.id, "OF-1001", T0 + 90_000_000, "已整改")
        .expect("close");
    store
        .reopen_case(&case.id, "OF-1001", T0 + 90_000_001, "复核")
        .expect("reopen");
    assert_valid(
        &case_v,
        &store.record_json(&case.id).expect("json"),
        "exempted case",
    );

    // A penalty on a case without exemption.
    let mut input = new_case(&store, Some(party_id), T0 + 10 * 86_400_000);
    input.tier = store
        .catalogue()
        .item(&input.violation_code)
        .expect("item")
        .tiers
        .iter()
        .find(|t| {
            t.party_type == fieldcase_core::catalogue::PartyType::Person
                && t.max_yuan.unwrap_or(0) > 0
        })
        .expect("fine tier")
        .tier
        .clone();
    let case2 = store.create_case(input).expect("case2");
    let c = store.catalogue();
    let tier = c
        .tier(
            &case2.violation.code,
            &case2.violation.tier,
            fieldcase_core::catalogue::PartyType::Person,
        )
        .expect("tier")
        .clone();
    lawful::ordinary(
        &store,
        &case2.id,
        "OF-1001",
        "OF-1002",
        T0 + 11 * 86_400_000,
        Some(tier.max_yuan.unwrap_or(0) + 1),
        Some("情节严重"),
    )
    .expect("penalty");
    let json = store.record_json(&case2.id).expect("json");
    assert_valid(&case_v, &json, "decided case");
    assert_eq!(json["decision"]["review_required"], json!(true));

    let demo = store
        .record_demonstration(NewDemonstration {
            unit: "luan/jinan/squad-1".into(),
            team: "梅山路志愿者队".into(),
            participants: vec!["VO-2001".into()],
            place: place(),
            started_at_ms: T0,
            ended_at_ms: T0 + 3_600_000,
            topic: "门前三包".into(),
            people_persuaded: 12,
            note: None,
            by: "VO-2001".into(),
        })
        .expect("demo");
    assert_valid(
        &demo_v,
        &store.record_json(&demo.id).expect("json"),
        "demonstration",
    );
}
