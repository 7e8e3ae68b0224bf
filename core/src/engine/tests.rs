//! The merge step run the way the server runs it, without a database or a network: records
//! made by the real phone store, pushed as raw bytes, judged under a policy the test controls.

use super::*;
use crate::catalogue::{CatalogueSet, PartyType};
use crate::model::RecordKind;
use crate::rules::{Directory, NoLedger, Refusal, RefusalCode, Role, UserInfo};
use crate::store::{NewCase, NewParty};
use crate::{FieldStore, StoreConfig};
use automerge::{ActorId, AutoCommit, ROOT, transaction::Transactable};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

const T0: i64 = 1_790_000_000_000;

/// A policy whose lookups the test answers: it asks for every actor and every record once.
struct TestPolicy {
    catalogues: CatalogueSet,
    /// Actor (hex) -> route, as looked up so far.
    actors: BTreeMap<String, Route>,
    /// Every actor the "database" knows.
    database: BTreeMap<String, Route>,
    role: Role,
    key: String,
    /// Whether the records' lookups were made.
    learned: bool,
    /// Lookups asked for, in order.
    asked: RefCell<Vec<String>>,
}

struct Officers;

impl Directory for Officers {
    fn user(&self, id: &str) -> Option<UserInfo> {
        (id == "OF-1").then(|| UserInfo {
            role: Role::Officer,
            unit: "luan/jinan".into(),
            name: "李四".into(),
            cert_no: None,
        })
    }
    fn complete(&self) -> bool {
        true
    }
}

impl Policy for TestPolicy {
    fn route(&self, actor: &str, _timestamp_s: i64) -> Result<Route, Need> {
        self.actors
            .get(actor)
            .cloned()
            .ok_or_else(|| Need::Actors([actor.to_string()].into()))
    }
    fn author(&self, by: Option<&str>) -> Result<Author, Need> {
        match by {
            None => Ok(Author::device(
                "OF-1",
                self.role,
                "luan/jinan",
                "DEV-1",
                Some(self.key.clone()),
            )),
            Some(d) => Err(Need::Author(d.to_string())),
        }
    }
    fn context(&self, old: Option<&Value>, new: &Value) -> Result<RuleContext<'_>, Need> {
        if !self.learned {
            self.asked.borrow_mut().push("lookups".into());
            return Err(Need::Lookups {
                old: old.cloned(),
                new: new.clone(),
            });
        }
        Ok(RuleContext {
            catalogues: &self.catalogues,
            directory: &Officers,
            now_ms: None,
            numbers: &NoLedger,
        })
    }
}

impl TestPolicy {
    /// Runs the step to its end, answering every lookup from the "database".
    fn run(&mut self, stored: Option<Stored<'_>>, push: &Push<'_>) -> crate::Result<Outcome> {
        for _ in 0..8 {
            match ingest(stored, push, self)? {
                Step::Done(o) => return Ok(o),
                Step::Need(Need::Actors(a)) => {
                    for actor in a {
                        self.asked.borrow_mut().push(format!("actor {actor}"));
                        let r = self.database.get(&actor).cloned().unwrap_or(Route::Defer);
                        self.actors.insert(actor, r);
                    }
                }
                Step::Need(Need::Lookups { .. }) => self.learned = true,
                Step::Need(Need::Author(d)) => {
                    return Err(crate::CoreError::invalid("author", d));
                }
            }
        }
        Err(crate::CoreError::invalid("policy", "the step kept asking"))
    }
}

struct Phone {
    _dir: tempfile::TempDir,
    store: FieldStore,
}

fn phone(device: &str) -> crate::Result<Phone> {
    let dir =
        tempfile::tempdir().map_err(|e| crate::CoreError::invalid("tempdir", e.to_string()))?;
    let store = FieldStore::open(
        dir.path().join("p.db"),
        StoreConfig::insecure_plain_for_tests(device),
    )?;
    Ok(Phone { _dir: dir, store })
}

fn policy(p: &Phone, role: Role) -> crate::Result<TestPolicy> {
    Ok(TestPolicy {
        catalogues: CatalogueSet::builtin()?,
        actors: BTreeMap::new(),
        database: [(p.store.actor_hex(), Route::Merge(None))].into(),
        role,
        key: p.store.device_public_key()?,
        learned: false,
        asked: RefCell::new(vec![]),
    })
}

/// A case recorded on `p` (with a party), as the bytes a push carries.
fn case(p: &Phone) -> crate::Result<(String, Vec<u8>)> {
    let cat = CatalogueSet::builtin()?;
    let item = cat
        .current()
        .items()
        .find(|i| i.tiers.iter().any(|t| t.party_type == PartyType::Person))
        .ok_or_else(|| crate::CoreError::invalid("catalogue", "no item"))?;
    let tier = item
        .tiers
        .iter()
        .find(|t| t.party_type == PartyType::Person)
        .map(|t| t.tier.clone())
        .unwrap_or_default();
    let party = p.store.register_party(NewParty {
        party_type: PartyType::Person,
        unit: "luan/jinan/squad-1".into(),
        by: "OF-1".into(),
        name: "张三".into(),
        id_number: "341502199001011239".into(),
        id_document: None,
        phone: None,
        address: None,
    })?;
    let c = p.store.create_case(NewCase {
        unit: "luan/jinan/squad-1".into(),
        occurred_at_ms: T0,
        place: crate::model::Place {
            lat: 31.7,
            lon: 116.5,
            accuracy_m: None,
            address: None,
        },
        officers: vec!["OF-1".into()],
        recorded_by: "OF-1".into(),
        party_id: Some(party.id),
        violation_code: item.code.clone(),
        tier,
        description: None,
        actions: vec![],
        involves_minor: false,
        privacy_protected: false,
    })?;
    let bytes = p.store.changes_after(&c.id, &[])?;
    Ok((c.id, bytes))
}

fn push<'a>(id: &'a str, bytes: &'a [u8]) -> Push<'a> {
    Push {
        doc_id: id,
        kind: RecordKind::Case,
        changes: bytes,
        have_heads: &[],
    }
}

/// The write a merge made (it must have made one).
fn written(m: &Merged) -> crate::Result<(Accepted, Write)> {
    m.write
        .clone()
        .ok_or_else(|| crate::CoreError::invalid("write", "none"))
}

/// What the store holds after `w`, as the next merge reads it.
fn stored(w: &Write) -> Stored<'_> {
    Stored {
        bytes: &w.chunk,
        heads: &w.new_heads,
        chunk_count: 1,
    }
}

fn merged(o: Outcome) -> crate::Result<Merged> {
    match o {
        Outcome::Merged(m) => Ok(*m),
        other => Err(crate::CoreError::invalid("outcome", format!("{other:?}"))),
    }
}

#[test]
fn a_new_case_is_looked_up_once_judged_and_stored_as_sent() -> crate::Result<()> {
    let p = phone("DEV-1")?;
    let (id, bytes) = case(&p)?;
    let mut pol = policy(&p, Role::Officer)?;
    let m = merged(pol.run(None, &push(&id, &bytes))?)?;
    let (accepted, write) = written(&m)?;
    assert_eq!(accepted.unit, "luan/jinan/squad-1");
    assert!(accepted.party_hash.is_some());
    assert!(write.replace);
    assert_eq!(write.chunk, bytes, "a small new document is stored as sent");
    assert_eq!(decode_heads(&write.new_heads), m.server_heads);
    // A device that names no heads is answered with the whole document.
    assert!(!m.reply.is_empty());
    let asked = pol.asked.borrow().clone();
    assert_eq!(
        asked,
        vec![format!("actor {}", p.store.actor_hex()), "lookups".into()]
    );
    Ok(())
}

#[test]
fn the_same_push_again_writes_nothing_and_an_edit_appends() -> crate::Result<()> {
    let p = phone("DEV-1")?;
    let (id, bytes) = case(&p)?;
    let mut pol = policy(&p, Role::Officer)?;
    let first = merged(pol.run(None, &push(&id, &bytes))?)?;
    let (_, w) = written(&first)?;
    let stored = stored(&w);
    let again = merged(pol.run(Some(stored), &push(&id, &bytes))?)?;
    assert!(again.write.is_none(), "nothing new");
    assert_eq!(again.server_heads, first.server_heads);

    p.store.add_note(&id, "OF-1", T0 + 60_000, "劝导后已整改")?;
    let more = p.store.changes_after(&id, &first.server_heads)?;
    let edit = merged(pol.run(Some(stored), &push(&id, &more))?)?;
    let (_, w2) = written(&edit)?;
    assert!(!w2.replace, "appended as a chunk");
    let mut whole = AutoCommit::load(&w.chunk)?;
    whole.load_incremental(&w2.chunk)?;
    assert_eq!(
        decode_heads(&w2.new_heads),
        p.store.doc_heads(&id)?.unwrap_or_default()
    );
    Ok(())
}

#[test]
fn bytes_that_are_not_automerge_and_changes_missing_deps_are_told_apart() -> crate::Result<()> {
    let p = phone("DEV-1")?;
    let (id, bytes) = case(&p)?;
    let mut pol = policy(&p, Role::Officer)?;
    assert!(matches!(
        pol.run(None, &push(&id, b"not automerge"))?,
        Outcome::Malformed
    ));
    let first = merged(pol.run(None, &push(&id, &bytes))?)?;
    p.store.add_note(&id, "OF-1", T0 + 60_000, "第二次")?;
    p.store.add_note(&id, "OF-1", T0 + 60_000, "第三次")?;
    let heads_after_second = {
        let all = p.store.changes_after(&id, &first.server_heads)?;
        let mut d = AutoCommit::load(&bytes)?;
        d.load_incremental(&all)?;
        d.get_changes(&[])
            .last()
            .map(|c| c.raw_bytes().to_vec())
            .unwrap_or_default()
    };
    // Only the last change, without the one it depends on: the store lacks a dependency.
    let (_, w) = written(&first)?;
    let stored = stored(&w);
    match pol.run(Some(stored), &push(&id, &heads_after_second))? {
        Outcome::NeedFull { server_heads } => assert_eq!(server_heads, first.server_heads),
        other => return Err(crate::CoreError::invalid("outcome", format!("{other:?}"))),
    }
    Ok(())
}

#[test]
fn a_volunteer_may_not_write_a_case() -> crate::Result<()> {
    let p = phone("DEV-1")?;
    let (id, bytes) = case(&p)?;
    let mut pol = policy(&p, Role::Volunteer)?;
    match pol.run(None, &push(&id, &bytes))? {
        Outcome::Refused(Refusal { code, .. }) => assert_ne!(code, RefusalCode::Malformed),
        other => return Err(crate::CoreError::invalid("outcome", format!("{other:?}"))),
    }
    Ok(())
}

#[test]
fn another_devices_changes_are_left_out_and_a_revoked_ones_held() -> crate::Result<()> {
    let p = phone("DEV-1")?;
    let (id, bytes) = case(&p)?;
    let mut pol = policy(&p, Role::Officer)?;
    let first = merged(pol.run(None, &push(&id, &bytes))?)?;
    let (_, w) = written(&first)?;
    let stored = stored(&w);
    // A change under another actor, on top of the stored case.
    let mut other = AutoCommit::load(&bytes)?.with_actor(ActorId::from(b"other-phone".as_slice()));
    let before = other.get_heads();
    other.put(ROOT, "note_by_other", "x")?;
    other.commit();
    let foreign = other.save_after(&before);
    let hex = ActorId::from(b"other-phone".as_slice()).to_hex_string();

    let left = merged(pol.run(Some(stored), &push(&id, &foreign))?)?;
    assert!(left.write.is_none());
    assert_eq!(left.deferred, 1);
    assert_eq!(left.server_heads, first.server_heads);

    let mut pol = policy(&p, Role::Officer)?;
    pol.database.insert(hex, Route::Hold("DEV-9".into()));
    let held = merged(pol.run(Some(stored), &push(&id, &foreign))?)?;
    let h = held
        .held
        .ok_or_else(|| crate::CoreError::invalid("held", "none"))?;
    assert_eq!(h.devices, BTreeSet::from(["DEV-9".to_string()]));
    assert_eq!(h.bytes, foreign);
    assert!(held.write.is_none());
    Ok(())
}
