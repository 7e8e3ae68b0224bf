//! The public disclosure feed never carries personal data and publishes only effective
//! decisions of cases that may be published.

use fieldcase_core::catalogue::{Method, PartyType};
use fieldcase_core::model::Place;
use fieldcase_core::store::{NewAction, NewCase, NewParty};
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_server::supervision::disclosure::{DisclosurePage, disclose, render_html};
use serde_json::json;

const T0: i64 = 1_790_000_000_000;
const CANARY_NAME: &str = "欧阳金花";
const CANARY_ID: &str = "341502198803037778";
const CANARY_PHONE: &str = "13955550123";

fn store(dir: &std::path::Path) -> FieldStore {
    FieldStore::open(
        dir.join("s.db"),
        StoreConfig::insecure_plain_for_tests("d1"),
    )
    .expect("open")
}

fn case_with_fine(store: &FieldStore, minor: bool, fine_above_threshold: bool) -> String {
    let party = store
        .register_party(NewParty {
            party_type: PartyType::Person,
            unit: "luan/jinan".into(),
            by: "OF-1".into(),
            name: CANARY_NAME.into(),
            id_number: CANARY_ID.into(),
            id_document: None,
            phone: Some(CANARY_PHONE.into()),
            address: Some("六安市金安区梅山中路18号3单元".into()),
        })
        .expect("party");
    let c = store.catalogue();
    let item = c
        .items()
        .find(|i| {
            i.tiers.iter().any(|t| {
                t.party_type == PartyType::Person && t.min_yuan.is_some_and(|m| m > 0 && m <= 200)
            })
        })
        .expect("item with a small fine");
    let tier = item
        .tiers
        .iter()
        .find(|t| {
            t.party_type == PartyType::Person && t.min_yuan.is_some_and(|m| m > 0 && m <= 200)
        })
        .expect("tier")
        .clone();
    let case = store
        .create_case(NewCase {
            unit: "luan/jinan/squad-1".into(),
            occurred_at_ms: T0,
            place: Place {
                lat: 31.73,
                lon: 116.5,
                accuracy_m: None,
                address: Some("六安市金安区梅山中路18号".into()),
            },
            officers: vec!["OF-1".into(), "OF-3".into()],
            recorded_by: "OF-1".into(),
            party_id: Some(party.id),
            violation_code: item.code.clone(),
            tier: tier.tier.clone(),
            description: None,
            actions: vec![NewAction {
                method: Method::Persuasion,
                at_ms: T0,
                by: "OF-1".into(),
                note: None,
                fields: json!({"explained": "x", "outcome": "refused"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            }],
            involves_minor: minor,
            privacy_protected: false,
        })
        .expect("case");
    // A decision in effect on the spot, or one under the ordinary procedure awaiting review.
    if fine_above_threshold {
        crate::lawful::ordinary(
            store,
            &case.id,
            "OF-1",
            "OF-3",
            T0 + 1,
            tier.max_yuan,
            Some("情节严重"),
        )
        .expect("penalty");
    } else {
        crate::lawful::simple(store, &case.id, "OF-1", T0 + 1).expect("penalty");
    }
    case.id
}

#[test]
fn feed_publishes_effective_decisions_without_personal_data() {
    let dir = tempfile::tempdir().expect("dir");
    let s = store(dir.path());
    let published = case_with_fine(&s, false, false);
    let minor = case_with_fine(&s, true, false);
    let pending = case_with_fine(&s, false, true);
    let c = s.catalogues();
    let mut entries = Vec::new();
    for id in [&published, &minor, &pending] {
        let case = s.case(id).expect("case");
        let party = s
            .party(&case.party.as_ref().expect("party").party_id)
            .expect("party");
        if let Some(e) = disclose(&case, Some(&party.masked.name), &c) {
            entries.push(e);
        }
    }
    assert_eq!(
        entries.len(),
        1,
        "minor and pending-review cases are not published"
    );
    assert_eq!(entries[0].party, "欧**");
    assert_eq!(entries[0].place, "六安市金安区");
    let json = serde_json::to_string(&entries).expect("json");
    let html = render_html(&DisclosurePage::of(&entries, 1, 50));
    for out in [&json, &html] {
        for canary in [CANARY_NAME, CANARY_ID, CANARY_PHONE, "梅山中路", "金花"] {
            assert!(!out.contains(canary), "{canary} leaked");
        }
    }
    assert!(html.contains("行政执法决定公示"));
}
