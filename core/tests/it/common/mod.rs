//! Helpers shared by the core integration tests (declared once in `main.rs`).
#![allow(dead_code)]

pub mod lawful;

use fieldcase_core::catalogue::Method;
use fieldcase_core::model::Place;
use fieldcase_core::store::{NewAction, NewCase, NewParty};
use fieldcase_core::{FieldStore, StoreConfig};
use serde_json::{Map, Value, json};

pub const T0: i64 = 1_790_000_000_000; // 2026-09-21

pub fn open(dir: &std::path::Path, name: &str) -> FieldStore {
    let cfg = StoreConfig {
        party_match_key: Some([7u8; 32]),
        pii_key: Some([9u8; 32]),
        ..StoreConfig::insecure_plain_for_tests(name)
    };
    FieldStore::open(dir.join(format!("{name}.db")), cfg).expect("open store")
}

pub fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn place() -> Place {
    Place {
        lat: 31.7349,
        lon: 116.5079,
        accuracy_m: Some(8.0),
        address: Some("六安市金安区梅山中路".into()),
    }
}

pub fn persuasion(at: i64) -> NewAction {
    NewAction {
        method: Method::Persuasion,
        at_ms: at,
        by: "OF-1001".into(),
        note: None,
        fields: fields(json!({"explained": "占道经营影响通行", "outcome": "accepted"})),
    }
}

pub fn party(store: &FieldStore, id_number: &str) -> String {
    store
        .register_party(NewParty {
            party_type: fieldcase_core::catalogue::PartyType::Person,
            unit: "luan/jinan/squad-1".into(),
            by: "OF-1001".into(),
            name: "张三丰".into(),
            id_number: id_number.into(),
            id_document: None,
            phone: Some("13812345678".into()),
            address: None,
        })
        .expect("party")
        .id
}

/// The first catalogue item that allows a first-offence exemption, and its first exempt tier.
pub fn exemptable(store: &FieldStore) -> (String, String) {
    let c = store.catalogue();
    let item = c
        .items()
        .find(|i| {
            i.exemption
                .allows(fieldcase_core::catalogue::ExemptionKind::FirstOffence)
                && i.exemption.pledge_required
                && i.applies_to
                    .contains(&fieldcase_core::catalogue::PartyType::Person)
                && !i.exemption.exempt_tiers.is_empty()
        })
        .expect("an exemptable item");
    (item.code.clone(), item.exemption.exempt_tiers[0].clone())
}

pub fn new_case(store: &FieldStore, party_id: Option<String>, at: i64) -> NewCase {
    let (code, tier) = exemptable(store);
    NewCase {
        unit: "luan/jinan/squad-1".into(),
        occurred_at_ms: at,
        place: place(),
        officers: vec!["OF-1001".into(), "OF-1002".into()],
        recorded_by: "OF-1001".into(),
        party_id,
        violation_code: code,
        tier,
        description: Some("店外摆放货架".into()),
        actions: vec![persuasion(at)],
        involves_minor: false,
        privacy_protected: false,
    }
}
