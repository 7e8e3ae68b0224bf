//! Registering parties: the number checked as its document requires, typed refusals that
//! write nothing, the override for non-mainland documents, and the match hash of a mainland
//! number unchanged so parties registered before still match.

use crate::common::open;
use fieldcase_core::CoreError;
use fieldcase_core::catalogue::PartyType;
use fieldcase_core::identity::{IdDocument, IdentityProblem, check_character};
use fieldcase_core::store::NewParty;
use hmac::{Hmac, KeyInit, Mac};

/// A valid Lu'an identity number (金安区, born 1990-03-07).
fn lu_an_id() -> String {
    let body = "34150219900307001";
    format!("{body}{}", check_character(body).unwrap_or('?'))
}

fn new_party(id_number: &str, phone: Option<&str>, document: Option<IdDocument>) -> NewParty {
    NewParty {
        party_type: PartyType::Person,
        unit: "luan/jinan/squad-1".into(),
        by: "OF-1001".into(),
        name: "张三丰".into(),
        id_number: id_number.into(),
        id_document: document,
        phone: phone.map(Into::into),
        address: None,
    }
}

fn code(e: &CoreError) -> Option<&'static str> {
    match e {
        CoreError::InvalidIdentity { problem } => Some(problem.code()),
        _ => None,
    }
}

#[test]
fn a_bad_number_or_phone_is_refused_typed_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path(), "p");
    let before = store.heads().expect("heads");
    let good = lu_an_id();
    let typo = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('0') { '1' } else { '0' }
    );
    for (number, phone, want) in [
        (typo.as_str(), None, "id_number.check_character"),
        ("341502199002300017", None, "id_number.birth_date"),
        ("341502900307001", None, "id_number.first_generation"),
        (&good[..17], None, "id_number.length"),
        (good.as_str(), Some("3331234"), "phone.area_code"),
        (
            good.as_str(),
            Some("+44 20 7946 0958"),
            "phone.international",
        ),
        (good.as_str(), Some("400-812-3123"), "phone.service_number"),
    ] {
        let e = store
            .register_party(new_party(number, phone, None))
            .expect_err(want);
        assert_eq!(code(&e), Some(want), "{e}");
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains(&good[..10]),
            "the error quotes the number: {text}"
        );
    }
    assert_eq!(store.heads().expect("heads"), before, "nothing written");

    // A unit's default document is the credit code.
    let mut unit = new_party(&good, None, None);
    unit.party_type = PartyType::Unit;
    let e = store
        .register_party(unit)
        .expect_err("an id number is no credit code");
    assert!(
        matches!(
            e,
            CoreError::InvalidIdentity {
                problem: IdentityProblem::Number {
                    document: IdDocument::CreditCode,
                    ..
                }
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_valid_party_is_kept_normalised_and_matches_as_before() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path(), "p");
    let good = lu_an_id();
    let spaced = format!("{} {} {}", &good[..6], &good[6..14], &good[14..]).to_lowercase();
    let p = store
        .register_party(new_party(&spaced, Some("+86 138-1234-5678"), None))
        .expect("party");
    assert_eq!(p.id_document, Some(IdDocument::MainlandId));
    assert_eq!(p.masked.phone.as_deref(), Some("138****5678"));
    let pii = store.party_pii(&p.id).expect("pii");
    assert_eq!(pii.id_number, good);
    assert_eq!(pii.phone.as_deref(), Some("13812345678"));

    // The hash of a mainland number is the one parties were always registered under.
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&[7u8; 32]).expect("key");
    mac.update(b"fieldcase-party-v1\0");
    mac.update(good.as_bytes());
    assert_eq!(p.match_hash, hex::encode(mac.finalize().into_bytes()));
    let again = store
        .register_party(new_party(&good, None, None))
        .expect("again");
    assert_eq!(again.id, p.id, "the same person is the same party");
    assert_eq!(
        store
            .find_party_by_id_number(&good)
            .expect("find")
            .map(|p| p.id),
        Some(p.id)
    );
}

#[test]
fn the_override_registers_a_passport_apart_from_identity_numbers() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(dir.path(), "p");
    let refused = store
        .register_party(new_party("E12345678", None, None))
        .expect_err("not an identity number");
    assert_eq!(code(&refused), Some("id_number.characters"));

    let p = store
        .register_party(new_party(
            "e1234567 8",
            Some("+44 20 7946 0958"),
            Some(IdDocument::Passport),
        ))
        .expect("passport");
    assert_eq!(p.id_document, Some(IdDocument::Passport));
    assert_eq!(p.masked.phone.as_deref(), Some("+44******0958"));
    assert_eq!(
        store.party_pii(&p.id).expect("pii").phone.as_deref(),
        Some("+442079460958")
    );
    assert_eq!(
        store
            .find_party_by_document("E12345678", IdDocument::Passport)
            .expect("find")
            .map(|f| f.id),
        Some(p.id.clone())
    );
    // The same characters as another document are another party.
    assert_ne!(
        store
            .party_match_hash_for("E12345678", IdDocument::Other)
            .expect("hash"),
        p.match_hash
    );
    assert_eq!(
        store.find_party_by_id_number("E12345678").expect("find"),
        None
    );
    let other = store
        .register_party(new_party(
            "E12345678",
            None,
            Some(IdDocument::HkMacauPermit),
        ))
        .expect("permit");
    assert_ne!(other.id, p.id);

    let fpr = store.register_party(new_party(
        "USA110085010112",
        None,
        Some(IdDocument::ForeignPermanentResidentId),
    ));
    assert!(fpr.is_ok(), "{fpr:?}");
    let short = store
        .register_party(new_party("E123", None, Some(IdDocument::Passport)))
        .expect_err("too short");
    assert_eq!(code(&short), Some("document_number.length"));
}
