//! The rules on merged records, as the server applies them (core's merge step
//! `engine::judge`, which runs `rules::check_record`), on records made by the real core and then altered the way a
//! client that is not ours could alter them. No network: the real-server table is in
//! `tests/tests/it/forgery.rs`.

use fieldcase_core::catalogue::CatalogueSet as Catalogues;
use fieldcase_core::catalogue::{CatalogueSet, PartyType};
use fieldcase_core::engine::{Accepted, judge};
use fieldcase_core::model::RecordKind;
use fieldcase_core::rules::NoLedger;
use fieldcase_core::rules::{Author, RefusalCode, Role};
use fieldcase_core::rules::{DocumentLedger, Refusal, RuleContext};
use fieldcase_core::store::{NewCase, NewParty};
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_server::validate::Users;
use serde_json::{Value, json};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The merge step's judgement with the context these tests give it.
#[allow(clippy::too_many_arguments)]
fn check(
    author: &Author,
    catalogues: &Catalogues,
    users: &Users,
    numbers: &dyn DocumentLedger,
    doc_id: &str,
    kind: RecordKind,
    old: Option<&Value>,
    new: &Value,
) -> Result<Accepted, Refusal> {
    let ctx = RuleContext {
        catalogues,
        directory: users,
        now_ms: Some(fieldcase_core::ids::now_ms()),
        numbers,
    };
    judge(author, &ctx, doc_id, kind, old, new)
}

const T0: i64 = 1_790_000_000_000;

/// The directory the server would hold: the colleague OF-3 whose unit covers the cases.
fn colleagues() -> Users {
    let mut users = Users::default();
    users.insert(&fieldcase_server::storage::User {
        id: "OF-3".into(),
        name: "n".into(),
        role: Role::Officer,
        unit: "luan/jinan".into(),
        created_at_ms: 0,
    });
    users
}

/// How a row of a table alters a lawful record.
type Forge = Box<dyn Fn(&mut Value)>;

struct Fixture {
    _dir: tempfile::TempDir,
    store: FieldStore,
    cat: CatalogueSet,
    author: Author,
}

fn fixture() -> R<Fixture> {
    let dir = tempfile::tempdir()?;
    let store = FieldStore::open(
        dir.path().join("p.db"),
        StoreConfig::insecure_plain_for_tests("DEV-1"),
    )?;
    let key = store.device_public_key()?;
    Ok(Fixture {
        author: Author::device("OF-1", Role::Officer, "luan/jinan", "DEV-1", Some(key)),
        cat: CatalogueSet::builtin()?,
        store,
        _dir: dir,
    })
}

impl Fixture {
    /// A case with an identified party, of the first item with a fine for a person.
    fn case(&self) -> R<(String, i64, String)> {
        let (code, tier, min) = self
            .cat
            .current()
            .items()
            .find_map(|i| {
                let t = i.tiers.iter().find(|t| {
                    t.party_type == PartyType::Person
                        && t.min_yuan.is_some_and(|m| m > 0)
                        && t.max_yuan.is_some_and(|m| m <= 200)
                })?;
                Some((i.code.clone(), t.tier.clone(), t.min_yuan.unwrap_or(0)))
            })
            .ok_or("no item with a fine on the spot")?;
        let party = self.store.register_party(NewParty {
            party_type: PartyType::Person,
            unit: "luan/jinan/squad-1".into(),
            by: "OF-1".into(),
            name: "张三".into(),
            id_number: "341502199001011239".into(),
            id_document: None,
            phone: None,
            address: None,
        })?;
        let case = self.store.create_case(NewCase {
            unit: "luan/jinan/squad-1".into(),
            occurred_at_ms: T0,
            place: fieldcase_core::model::Place {
                lat: 31.7,
                lon: 116.5,
                accuracy_m: None,
                address: None,
            },
            officers: vec!["OF-1".into(), "OF-3".into()],
            recorded_by: "OF-1".into(),
            party_id: Some(party.id),
            violation_code: code,
            tier: tier.clone(),
            description: None,
            actions: vec![],
            involves_minor: false,
            privacy_protected: false,
        })?;
        Ok((case.id, min, tier))
    }

    fn json(&self, id: &str) -> R<Value> {
        Ok(serde_json::to_value(self.store.case(id)?)?)
    }

    fn check(&self, id: &str, old: Option<&Value>, new: &Value) -> Result<(), RefusalCode> {
        check(
            &self.author,
            &self.cat,
            &colleagues(),
            &NoLedger,
            id,
            RecordKind::Case,
            old,
            new,
        )
        .map(drop)
        .map_err(|r| r.code)
    }
}

#[test]
fn a_case_made_by_the_phone_passes_and_forged_authorship_does_not() -> R {
    let f = fixture()?;
    let (id, _, _) = f.case()?;
    let case = f.json(&id)?;
    assert_eq!(f.check(&id, None, &case), Ok(()));
    // The wrong kind, id or an out-of-scope unit.
    assert!(
        check(
            &f.author,
            &f.cat,
            &colleagues(),
            &NoLedger,
            &id,
            RecordKind::Party,
            None,
            &case
        )
        .is_err()
    );
    assert_eq!(f.check("other", None, &case), Err(RefusalCode::Malformed));
    let mut moved = case.clone();
    moved["unit"] = json!("luan/yuan");
    assert_eq!(f.check(&id, None, &moved), Err(RefusalCode::OutOfScope));
    assert_eq!(
        f.check(&id, Some(&case), &moved),
        Err(RefusalCode::OutOfScope)
    );
    let table: Vec<(&str, Forge, RefusalCode)> = vec![
        (
            "created_by another officer",
            Box::new(|c| c["created_by"] = json!("OF-2")),
            RefusalCode::ForgedAuthor,
        ),
        (
            "created on another device",
            Box::new(|c| c["created_on_device"] = json!("DEV-2")),
            RefusalCode::ForgedAuthor,
        ),
        (
            "the author not among the officers",
            Box::new(|c| c["officers"] = json!(["OF-2"])),
            RefusalCode::ForgedAuthor,
        ),
        (
            "an officer no one knows (complete directory)",
            Box::new(|c| c["officers"] = json!(["OF-1", "GHOST"])),
            RefusalCode::UnknownOfficer,
        ),
        (
            "an unknown violation code",
            Box::new(|c| c["violation"]["code"] = json!("NO-SUCH-CODE")),
            RefusalCode::UnknownViolation,
        ),
        (
            "an action by someone else",
            Box::new(|c| {
                c["actions"] = json!([{"id": "0190a000-0000-7000-8000-00000000a001", "method": "persuasion",
                    "measure_category": "service", "at_ms": T0, "by": "OF-2",
                    "fields": {"explained": "x", "outcome": "accepted"}}])
            }),
            RefusalCode::ForgedAuthor,
        ),
        (
            "an action in the wrong 721 class",
            Box::new(|c| {
                c["actions"] = json!([{"id": "0190a000-0000-7000-8000-00000000a001", "method": "warning",
                    "measure_category": "service", "at_ms": T0, "by": "OF-1",
                    "fields": {"warning_text": "x", "deadline": T0}}])
            }),
            RefusalCode::InvalidAction,
        ),
        (
            "coordinates out of range (the phone's input check, made again)",
            Box::new(|c| c["place"]["lat"] = json!(123.0)),
            RefusalCode::Malformed,
        ),
        (
            "a note longer than the phone accepts",
            Box::new(
                |c| c["notes"] = json!([{"id": "0190a000-0000-7000-8000-00000000a003", "at_ms": T0, "by": "OF-1", "text": "长".repeat(4001)}]),
            ),
            RefusalCode::Malformed,
        ),
        (
            "a note by a reviewer",
            Box::new(
                |c| c["notes"] = json!([{"id": "0190a000-0000-7000-8000-00000000a002", "at_ms": T0, "by": "RV-1", "text": "x"}]),
            ),
            RefusalCode::ForgedAuthor,
        ),
    ];
    let mut users = colleagues();
    users.insert(&fieldcase_server::storage::User {
        id: "OF-2".into(),
        name: "n".into(),
        role: Role::Officer,
        unit: "luan/yuan".into(),
        created_at_ms: 0,
    });
    for (what, mutate, code) in table {
        let mut c = case.clone();
        mutate(&mut c);
        let got = check(
            &f.author,
            &f.cat,
            &users,
            &NoLedger,
            &id,
            RecordKind::Case,
            None,
            &c,
        )
        .map(drop)
        .map_err(|r| r.code);
        assert_eq!(got, Err(code), "{what}");
    }
    // A second officer of another unit is refused; of a unit covering the case, accepted.
    let mut two = case.clone();
    two["officers"] = json!(["OF-1", "OF-2"]);
    let got = check(
        &f.author,
        &f.cat,
        &users,
        &NoLedger,
        &id,
        RecordKind::Case,
        None,
        &two,
    )
    .map(drop);
    assert_eq!(got.map_err(|r| r.code), Err(RefusalCode::UnknownOfficer));
    users.insert(&fieldcase_server::storage::User {
        id: "OF-3".into(),
        name: "n".into(),
        role: Role::Officer,
        unit: "luan/jinan".into(),
        created_at_ms: 0,
    });
    two["officers"] = json!(["OF-1", "OF-3"]);
    assert!(
        check(
            &f.author,
            &f.cat,
            &users,
            &NoLedger,
            &id,
            RecordKind::Case,
            None,
            &two
        )
        .is_ok()
    );
    Ok(())
}

#[test]
fn decisions_are_recomputed_and_signed_and_reviews_are_the_reviewers() -> R {
    let f = fixture()?;
    let (id, amount, _) = f.case()?;
    let open = f.json(&id)?;
    crate::lawful::simple(&f.store, &id, "OF-1", T0 + 999)?;
    let decided = f.json(&id)?;
    assert_eq!(f.check(&id, Some(&open), &decided), Ok(()));
    assert_eq!(f.check(&id, None, &decided), Ok(()), "as a new record");
    let table: Vec<(&str, Forge, RefusalCode)> = vec![
        (
            "review flag cleared",
            Box::new(|c| {
                c["decision"]["review_required"] =
                    json!(!c["decision"]["review_required"].as_bool().unwrap_or(false))
            }),
            RefusalCode::DecisionInvalid,
        ),
        (
            "amount raised under the signature",
            Box::new(move |c| c["decision"]["amount_yuan"] = json!(amount + 1)),
            RefusalCode::DecisionInvalid,
        ),
        (
            "arrives approved",
            Box::new(|c| {
                c["decision"]["review"] =
                    json!({"outcome": "approved", "reviewer": "RV-1", "opinion": "ok", "at_ms": T0})
            }),
            RefusalCode::ReviewInvalid,
        ),
        (
            "decided by another officer",
            Box::new(|c| c["decision"]["decided_by"] = json!("OF-2")),
            RefusalCode::ForgedAuthor,
        ),
        (
            "signature removed",
            Box::new(|c| c["decision"]["signature"] = Value::Null),
            RefusalCode::SignatureInvalid,
        ),
    ];
    for (what, mutate, code) in table {
        let mut c = decided.clone();
        mutate(&mut c);
        assert_eq!(f.check(&id, Some(&open), &c), Err(code), "{what} (edit)");
        let mut c2 = decided.clone();
        mutate(&mut c2);
        assert!(f.check(&id, None, &c2).is_err(), "{what} (new record)");
    }
    // Once made, a decision does not change, even with a matching new signature.
    let mut raised = decided.clone();
    raised["decision"]["amount_yuan"] = json!(amount + 1);
    assert_eq!(
        f.check(&id, Some(&decided), &raised),
        Err(RefusalCode::DecisionInvalid)
    );
    let mut gone = decided.clone();
    gone["decision"] = Value::Null;
    assert_eq!(
        f.check(&id, Some(&decided), &gone),
        Err(RefusalCode::DecisionInvalid)
    );
    // An officer may not write a review; a reviewer (even with a signature) only with the
    // checklist, a key of their own channel, and on a decision that needs review.
    let mut reviewed = decided.clone();
    reviewed["decision"]["review"] =
        json!({"outcome": "approved", "reviewer": "OF-1", "opinion": "ok", "at_ms": T0});
    assert_eq!(
        f.check(&id, Some(&decided), &reviewed),
        Err(RefusalCode::ReviewInvalid)
    );
    let reviewer = Author::device("RV-1", Role::Reviewer, "luan", "DEV-R", None);
    reviewed["decision"]["review"]["reviewer"] = json!("RV-1");
    let got = check(
        &reviewer,
        &f.cat,
        &colleagues(),
        &NoLedger,
        &id,
        RecordKind::Case,
        Some(&decided),
        &reviewed,
    );
    assert!(got.is_err(), "unsigned review without checklist");
    assert!(
        check(
            &reviewer,
            &f.cat,
            &colleagues(),
            &NoLedger,
            &id,
            RecordKind::Case,
            None,
            &open
        )
        .is_err(),
        "a reviewer records no case"
    );
    Ok(())
}

/// What a supervisor's client that is not ours could push: anything but an approval of an
/// ordinary-procedure decision is refused; and a notice proposing a negative amount.
#[test]
fn a_supervisor_only_approves_and_a_notice_proposes_no_negative_amount() -> R {
    let f = fixture()?;
    let (id, _, _) = f.case()?;
    crate::lawful::simple(&f.store, &id, "OF-1", T0 + 999)?;
    let decided = f.json(&id)?;
    let head = Author::device("SV-1", Role::Supervisor, "luan", "DEV-S", None);
    let as_head = |new: &Value| {
        check(
            &head,
            &f.cat,
            &colleagues(),
            &NoLedger,
            &id,
            RecordKind::Case,
            Some(&decided),
            new,
        )
        .map(drop)
        .map_err(|r| r.code)
    };
    let step = |kind: &str, by: &str| {
        json!({"id": fieldcase_core::ids::new_id(), "step": kind, "at_ms": T0 + 2_000, "by": by,
               "decision_id": decided["decision"]["id"]})
    };
    let mut note = decided.clone();
    note["notes"] =
        json!([{"id": fieldcase_core::ids::new_id(), "at_ms": T0, "by": "SV-1", "text": "阅"}]);
    assert_eq!(as_head(&note), Err(RefusalCode::OutOfScope), "a note");
    let mut filing = decided.clone();
    filing["steps"] = json!([step("filing", "SV-1")]);
    assert_eq!(
        as_head(&filing),
        Err(RefusalCode::OutOfScope),
        "a filing step"
    );
    let mut approval = decided.clone();
    approval["steps"] = json!([step("approval", "SV-1")]);
    assert_eq!(
        as_head(&approval),
        Err(RefusalCode::ProcedureInvalid),
        "approving a decision on the spot, which needs none"
    );
    approval["steps"] = json!([step("approval", "SV-2")]);
    assert_eq!(
        as_head(&approval),
        Err(RefusalCode::ForgedAuthor),
        "in another's name"
    );
    // An officer's notice proposing a negative amount.
    let open = f.json(&f.case()?.0)?;
    let oid = open["id"].as_str().ok_or("id")?.to_string();
    let mut steps = open.clone();
    let s = |kind: &str, at: i64| json!({"id": fieldcase_core::ids::new_id(), "step": kind, "at_ms": at, "by": "OF-1", "officers": ["OF-1", "OF-3"]});
    let mut notice = s("prior_notice", T0 + 3);
    notice["proposed"] = json!({"penalty": "fine", "amount_yuan": -100});
    notice["hearing_right_notified"] = json!(true);
    steps["steps"] = json!([s("filing", T0 + 1), s("investigation", T0 + 2), notice]);
    assert_eq!(
        check(
            &f.author,
            &f.cat,
            &colleagues(),
            &NoLedger,
            &oid,
            RecordKind::Case,
            Some(&open),
            &steps
        )
        .map(drop)
        .map_err(|r| r.code),
        Err(RefusalCode::Malformed)
    );
    Ok(())
}
