//! A client that is not ours registers parties the phone would refuse (a mistyped identity
//! number, a match hash that is not its number's, a foreign phone on an identity card), sealed
//! under the bureau's key as an enrolled officer's client can. The server holds that key: it
//! opens each new party, checks it as the phone does, and refuses it with nothing stored. A
//! lawful party and a passport registered under the override pass.

use fieldcase_core::identity::{self, IdDocument};
use fieldcase_core::model::{PartyPii, RecordKind};
use fieldcase_core::pii::PiiKey;
use fieldcase_core::sync::wire::DocStatus;
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{TestResult, TestServer, id_number};
use fieldcase_tests::outsider::Outsider;
use serde_json::{Value, json};

const SQUAD: &str = "luan/jinan/squad-1";
const T0: i64 = 1_790_000_000_000;

/// What a forged party holds.
struct Forged<'a> {
    number: &'a str,
    document: Option<IdDocument>,
    phone: Option<&'a str>,
    /// The number and document its match hash is computed from.
    hashed: (&'a str, IdDocument),
    /// Sealed under a key the server does not hold.
    foreign_seal: bool,
}

impl Forged<'_> {
    fn of(number: &str) -> Forged<'_> {
        Forged {
            number,
            document: None,
            phone: Some("13812345678"),
            hashed: (number, IdDocument::MainlandId),
            foreign_seal: false,
        }
    }

    fn record(&self, s: &TestServer, o: &Outsider) -> TestResult<Value> {
        let id = fieldcase_core::ids::new_id();
        let pii = PartyPii {
            name: "张三丰".into(),
            id_number: self.number.into(),
            phone: self.phone.map(Into::into),
            address: None,
        };
        let key = if self.foreign_seal {
            [0x42; 32]
        } else {
            s.state.pii_key
        };
        let sealed = fieldcase_core::pii::seal(&PiiKey::from_bytes(key), &id, &pii)?;
        let (hashed, document) = self.hashed;
        let mut v = json!({
            "kind": "party", "schema_version": 1, "id": id, "party_type": "person",
            "unit": SQUAD, "created_at_ms": T0, "created_by": o.user,
            "match_hash": identity::match_hash(&s.state.party_key, hashed, document),
            "masked": {"name": "张**", "id_number": "*".repeat(18), "phone": null},
            "pii_sealed": serde_json::to_value(&sealed)?,
        });
        if let Some(d) = self.document {
            v["id_document"] = json!(d.as_str());
        }
        Ok(v)
    }
}

/// Pushes the forged party and returns whether the server accepted it, checking that a
/// refused one is not stored and its refusal names no number.
async fn push(s: &TestServer, o: &Outsider, forged: &Forged<'_>) -> TestResult<bool> {
    let record = forged.record(s, o)?;
    let id = record["id"].as_str().ok_or("id")?.to_string();
    let mut doc = o.new_doc(&record, &o.actor)?;
    let r = o.push(RecordKind::Party, &id, doc.save()).await?;
    match r.status {
        DocStatus::Accepted => Ok(true),
        DocStatus::Rejected => {
            assert_eq!(r.code.as_deref(), Some("malformed"), "{:?}", r.reason);
            let reason = r.reason.unwrap_or_default();
            assert!(
                !reason.contains(forged.number) && !reason.contains(&forged.number[..6]),
                "the refusal quotes the number: {reason}"
            );
            assert!(s.storage().load_doc(&id).await?.is_none(), "stored");
            Ok(false)
        }
        other => Err(format!("unexpected answer {other:?}").into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_a_party_the_phone_would_refuse() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(dir.path()).await?;
    let o = Outsider::enrol(&s, "OF-1", Role::Officer, SQUAD).await?;

    let good = id_number(1);
    assert!(push(&s, &o, &Forged::of(&good)).await?, "a lawful party");

    let typo = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('1') { '2' } else { '1' }
    );
    let other = id_number(2);
    let passport = "E12345678";
    let rows: Vec<(&str, Forged<'_>)> = vec![
        ("a mistyped check character", Forged::of(&typo)),
        (
            "a loose number on an identity card",
            Forged::of("ABC123456"),
        ),
        (
            "a match hash of another number",
            Forged {
                hashed: (&other, IdDocument::MainlandId),
                ..Forged::of(&good)
            },
        ),
        (
            "a foreign phone on an identity card",
            Forged {
                phone: Some("+44 20 7946 0958"),
                ..Forged::of(&other)
            },
        ),
        (
            "a passport hashed as an identity number",
            Forged {
                document: Some(IdDocument::Passport),
                ..Forged::of(passport)
            },
        ),
    ];
    for (what, forged) in &rows {
        assert!(!push(&s, &o, forged).await?, "{what} was accepted");
    }

    // The override: a passport, hashed after its document's name, with a foreign phone.
    let abroad = Forged {
        document: Some(IdDocument::Passport),
        phone: Some("+44 20 7946 0958"),
        hashed: (passport, IdDocument::Passport),
        ..Forged::of(passport)
    };
    assert!(
        push(&s, &o, &abroad).await?,
        "a passport under the override"
    );
    // A seal the server cannot open (a phone's own key before enrolment) is not judged.
    let unreadable = Forged {
        foreign_seal: true,
        ..Forged::of(&typo)
    };
    assert!(push(&s, &o, &unreadable).await?, "an unreadable seal");
    Ok(())
}
