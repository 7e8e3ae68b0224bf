//! Encryption at rest: the store file is a SQLCipher database that reveals nothing without
//! its key, and a wrong or missing key is a typed error.

use crate::common::*;
use fieldcase_core::store::NewParty;
use fieldcase_core::{CoreError, FieldStore, StoreConfig};
use std::path::Path;

const KEY: [u8; 32] = [0x5a; 32];
const CANARY_ID: &str = "34150219870612348X";
const CANARY_NAME: &str = "欧阳娜娜";
const CANARY_PHONE: &str = "13955501234";

fn open_keyed(dir: &Path, key: Option<[u8; 32]>) -> Result<FieldStore, CoreError> {
    let cfg = StoreConfig {
        party_match_key: Some([7u8; 32]),
        pii_key: Some([9u8; 32]),
        db_key: key,
        ..StoreConfig::insecure_plain_for_tests("phone-enc")
    };
    FieldStore::open(dir.join("phone-enc.db"), cfg)
}

/// Every byte of the database file and its WAL.
fn file_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["phone-enc.db", "phone-enc.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            all.extend(b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn encrypted_store_hides_everything_and_reopens_only_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let case_id = {
        let store = open_keyed(dir.path(), Some(KEY)).expect("open encrypted");
        let party = store
            .register_party(NewParty {
                party_type: fieldcase_core::catalogue::PartyType::Person,
                unit: "luan/jinan/squad-1".into(),
                by: "OF-1001".into(),
                name: CANARY_NAME.into(),
                id_number: CANARY_ID.into(),
                id_document: None,
                phone: Some(CANARY_PHONE.into()),
                address: Some("六安市金安区梅山中路88号".into()),
            })
            .expect("party");
        let mut nc = new_case(&store, Some(party.id), T0);
        nc.description = Some("占道经营 canary-description-text".into());
        store.create_case(nc).expect("case").id
    };

    let bytes = file_bytes(dir.path());
    assert!(bytes.len() > 4096, "the store wrote pages");
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "header is encrypted"
    );
    for needle in [
        CANARY_ID.as_bytes(),
        CANARY_NAME.as_bytes(),
        CANARY_PHONE.as_bytes(),
        b"canary-description-text".as_slice(),
        b"luan/jinan/squad-1".as_slice(),
        case_id.as_bytes(),
    ] {
        assert!(
            !contains(&bytes, needle),
            "{} found in plain text",
            String::from_utf8_lossy(needle)
        );
    }

    assert!(matches!(
        open_keyed(dir.path(), Some([0x11; 32])),
        Err(CoreError::WrongKey)
    ));
    assert!(matches!(
        open_keyed(dir.path(), None),
        Err(CoreError::WrongKey)
    ));

    let store = open_keyed(dir.path(), Some(KEY)).expect("reopen with the key");
    let case = store.case(&case_id).expect("case survives");
    assert_eq!(
        case.violation.description.as_deref(),
        Some("占道经营 canary-description-text")
    );
    assert_eq!(store.integrity_check().expect("check"), "ok");
}

#[test]
fn a_plain_store_refuses_a_key_and_an_encrypted_one_refuses_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open_keyed(dir.path(), None).expect("plain store"));
    assert!(
        std::fs::read(dir.path().join("phone-enc.db"))
            .expect("file")
            .starts_with(b"SQLite format 3")
    );
    assert!(matches!(
        open_keyed(dir.path(), Some(KEY)),
        Err(CoreError::WrongKey)
    ));
    // Nothing was changed by the refused open.
    let store = open_keyed(dir.path(), None).expect("plain again");
    assert_eq!(store.integrity_check().expect("check"), "ok");
}

#[test]
fn a_file_that_is_not_a_store_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("phone-enc.db"), vec![0xAB; 8192]).expect("write junk");
    assert!(matches!(
        open_keyed(dir.path(), Some(KEY)),
        Err(CoreError::WrongKey)
    ));
    assert!(matches!(
        open_keyed(dir.path(), None),
        Err(CoreError::WrongKey)
    ));
}

#[test]
fn a_store_without_a_key_is_refused_unless_plain_for_tests_is_asked_for() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = StoreConfig {
        db_key: None,
        ..StoreConfig::new("phone-nokey", [1u8; 32])
    };
    match FieldStore::open(dir.path().join("nokey.db"), cfg) {
        Err(CoreError::InvalidInput { field, .. }) => assert_eq!(field, "db_key"),
        other => panic!("expected InvalidInput(db_key), got {other:?}"),
    }
    assert!(!dir.path().join("nokey.db").exists(), "nothing created");
    let plain = FieldStore::open(
        dir.path().join("plain.db"),
        StoreConfig::insecure_plain_for_tests("phone-plain"),
    );
    assert!(plain.is_ok());
}
