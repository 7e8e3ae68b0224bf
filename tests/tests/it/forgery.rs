//! Bypass attempts by a client that is not ours (raw HTTP, its own Automerge changes; see
//! `fieldcase_tests::outsider`), against the real server on SQLite and on PostgreSQL. Each row
//! is something an enrolled phone holder could push; every one must be refused with its code,
//! leave nothing stored, publish nothing, and leave an audit entry naming the device.

use automerge::{ActorId, AutoCommit};
use fieldcase_core::catalogue::{Catalogue, PartyType};
use fieldcase_core::model::{CaseRecord, RecordKind};
use fieldcase_core::sync::wire::{CODE_DEFERRED, DocStatus};
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{TestResult, TestServer, pg_url};
use fieldcase_tests::outsider::Outsider;
use serde_json::{Value, json};

const T0: i64 = 1_790_000_000_000;

/// How a row of the table alters a lawful record.
type Forge = Box<dyn Fn(&mut Value)>;
const SQUAD: &str = "luan/jinan/squad-1";

/// A catalogue item with a fine for a person that the simple procedure allows (at most 200
/// yuan), its tier and lowest amount. A decision under the ordinary procedure is always
/// reviewed under the Lu'an profile (no confirmed review threshold).
fn fine_item(cat: &Catalogue) -> TestResult<(String, String, i64)> {
    cat.items()
        .find_map(|i| {
            let t = i.tiers.iter().find(|t| {
                t.party_type == PartyType::Person
                    && t.min_yuan.is_some_and(|m| m > 0)
                    && t.max_yuan.is_some_and(|m| m <= 200)
            })?;
            Some((i.code.clone(), t.tier.clone(), t.min_yuan.unwrap_or(0)))
        })
        .ok_or_else(|| "no item with a fine on the spot".into())
}

/// A plain case recorded by `o` with its colleague OF-9, as its JSON.
fn base_case(o: &Outsider, cat: &Catalogue) -> TestResult<Value> {
    let (code, tier, _) = fine_item(cat)?;
    Ok(json!({
        "kind": "case", "schema_version": 1, "id": fieldcase_core::ids::new_id(), "unit": SQUAD,
        "created_at_ms": T0, "created_by": o.user, "created_on_device": o.device_id,
        "occurred_at_ms": T0, "place": {"lat": 31.73, "lon": 116.5},
        "officers": [o.user, "OF-9"],
        "party": {"party_id": fieldcase_core::ids::new_id(), "party_type": "person", "match_hash": "ab".repeat(32)},
        "violation": {"code": code, "tier": tier, "catalogue_version": cat.version()},
        "actions": [], "follow_ups": [], "notes": [], "steps": [], "evidence": [], "redactions": [], "lifecycle": [],
        "flags": {"exemption_conflict": false, "conflict_with": []},
        "involves_minor": false, "privacy_protected": false
    }))
}

const DAY: i64 = 86_400_000;

/// Adds to `case` a fine of `amount` by `o` after an order to correct: on the spot, or under
/// the ordinary procedure (立案, investigation with OF-9, prior notice, hearing waived,
/// decided ten days on), with the flags the catalogue gives (unless `forge` changes them
/// after), signed by `o`'s key over the result.
fn decide(
    o: &Outsider,
    cat: &Catalogue,
    case: &mut Value,
    amount: i64,
    ordinary: bool,
    forge: impl Fn(&mut Value),
) -> TestResult {
    let code = case["violation"]["code"]
        .as_str()
        .ok_or("code")?
        .to_string();
    let tier = case["violation"]["tier"]
        .as_str()
        .ok_or("tier")?
        .to_string();
    let reason = "情节较重";
    let procedure = if ordinary {
        fieldcase_core::model::Procedure::Ordinary
    } else {
        fieldcase_core::model::Procedure::Simple
    };
    let a = fieldcase_core::rules::assess_penalty(
        cat,
        &fieldcase_core::rules::PenaltyProposal {
            code: &code,
            tier: &tier,
            party_type: PartyType::Person,
            penalty: fieldcase_core::catalogue::PenaltyKind::Fine,
            amount_yuan: amount,
            reason: Some(reason),
            procedure,
            construction_cost_yuan: None,
            heard: false,
        },
    )
    .map_err(|r| format!("{r:?}"))?;
    let decided_at = if ordinary { T0 + 10 * DAY } else { T0 + 1000 };
    let action_id = fieldcase_core::ids::new_id();
    case["actions"] = json!([
        {"id": fieldcase_core::ids::new_id(), "method": "correction_order", "measure_category": "management",
         "at_ms": T0 + 500, "by": o.user, "fields": {"deadline": T0 + 3_600_000}},
        {"id": action_id, "method": "penalty", "measure_category": "enforcement", "at_ms": decided_at,
         "by": o.user, "fields": {"tier": tier, "amount_yuan": amount, "reason": reason}}
    ]);
    if ordinary {
        let step = |kind: &str, at: i64| json!({"id": fieldcase_core::ids::new_id(), "step": kind, "at_ms": at, "by": o.user});
        let mut inv = step("investigation", T0 + 600);
        inv["officers"] = json!([o.user, "OF-9"]);
        let mut notice = step("prior_notice", T0 + 700);
        notice["proposed"] = json!({"penalty": "fine", "amount_yuan": amount});
        notice["hearing_right_notified"] = json!(true);
        case["steps"] = json!([
            step("filing", T0 + 550),
            inv,
            notice,
            step("hearing_waived", T0 + 800)
        ]);
    }
    case["decision"] = json!({
        "id": fieldcase_core::ids::new_id(), "decided_at_ms": decided_at, "decided_by": o.user,
        "tier": tier, "party_type": "person", "penalty": "fine", "procedure": procedure.as_str(),
        "amount_yuan": amount, "reason": reason, "hearing_right": a.hearing_right,
        "within_range": a.within_range, "review_required": a.review_required,
        "review_reasons": a.review_reasons, "catalogue_version": cat.version(),
        "action_id": action_id, "signed_by_device": o.key_hex()
    });
    forge(case);
    let typed: CaseRecord = serde_json::from_value(case.clone())?;
    let d = typed.decision.clone().ok_or("decision")?;
    let payload = fieldcase_core::evidence::records::decision_payload(&typed, &d, &o.key_hex())?;
    case["decision"]["signature"] = json!(o.sign(&payload));
    Ok(())
}

struct Attempt {
    what: &'static str,
    code: &'static str,
    case_id: String,
    decision_id: Option<String>,
}

/// Pushes `record` as a new document under `actor` and checks it was refused with `code` and
/// nothing was stored.
async fn refused_new(
    s: &TestServer,
    o: &Outsider,
    kind: RecordKind,
    record: &Value,
    actor: &ActorId,
    what: &'static str,
    code: &'static str,
) -> TestResult<Attempt> {
    let id = record["id"].as_str().ok_or("id")?.to_string();
    let mut doc = o.new_doc(record, actor)?;
    let r = o.push(kind, &id, doc.save()).await?;
    if code == CODE_DEFERRED {
        assert_eq!(
            (r.status, r.code.as_deref()),
            (DocStatus::Accepted, Some(CODE_DEFERRED)),
            "{what}: {:?}",
            r.reason
        );
    } else {
        assert_eq!(
            (r.status, r.code.as_deref()),
            (DocStatus::Rejected, Some(code)),
            "{what}: {:?}",
            r.reason
        );
    }
    assert!(s.storage().load_doc(&id).await?.is_none(), "{what}: stored");
    Ok(Attempt {
        what,
        code,
        case_id: id,
        decision_id: record["decision"]["id"].as_str().map(str::to_string),
    })
}

/// Every bypass attempt of the table against one server.
async fn table(s: &TestServer) -> TestResult {
    let cat = Catalogue::builtin()?;
    let (_, _, small) = fine_item(&cat)?;
    let o = Outsider::enrol(s, "OF-1", Role::Officer, SQUAD).await?;
    let colleague = Outsider::enrol(s, "OF-9", Role::Officer, SQUAD).await?;
    let _other_unit = Outsider::enrol(s, "OF-2", Role::Officer, "luan/yuan").await?;
    let volunteer = Outsider::enrol(s, "VL-1", Role::Volunteer, SQUAD).await?;
    let _reviewer = Outsider::enrol(s, "RV-1", Role::Reviewer, "luan").await?;

    // The control: a lawful case from the same client is accepted.
    let mut good = base_case(&o, &cat)?;
    decide(&o, &cat, &mut good, small, false, |_| {})?;
    let gid = good["id"].as_str().ok_or("id")?.to_string();
    let mut good_doc = o.new_doc(&good, &o.actor)?;
    let r = o.push(RecordKind::Case, &gid, good_doc.save()).await?;
    assert_eq!(r.status, DocStatus::Accepted, "{:?}", r.reason);

    let mut attempts = Vec::new();
    // A new case whose major decision already carries an approval.
    let mut c = base_case(&o, &cat)?;
    decide(&o, &cat, &mut c, small, true, |c| {
        c["decision"]["review"] = json!({"outcome": "approved", "reviewer": "RV-1", "opinion": "同意", "at_ms": T0 + 2000});
    })?;
    attempts.push(
        refused_new(
            s,
            &o,
            RecordKind::Case,
            &c,
            &o.actor,
            "arrives approved",
            "review_invalid",
        )
        .await?,
    );
    // A major decision claiming it needs no review (signed over the forged flag).
    let mut c = base_case(&o, &cat)?;
    decide(&o, &cat, &mut c, small, true, |c| {
        c["decision"]["review_required"] = json!(false);
        c["decision"]["review_reasons"] = json!([]);
    })?;
    attempts.push(
        refused_new(
            s,
            &o,
            RecordKind::Case,
            &c,
            &o.actor,
            "review_required false",
            "decision_invalid",
        )
        .await?,
    );
    // Authorship naming someone else.
    let forged: [(&'static str, &'static str, Forge); 6] = [
        (
            "created_by another officer",
            "forged_author",
            Box::new(|c| c["created_by"] = json!("OF-9")),
        ),
        (
            "created on another device",
            "forged_author",
            Box::new(|c| c["created_on_device"] = json!(fieldcase_core::ids::new_id())),
        ),
        (
            "officers: an officer of another unit",
            "unknown_officer",
            Box::new(|c| c["officers"] = json!(["OF-1", "OF-2"])),
        ),
        (
            "officers: a user who does not exist",
            "unknown_officer",
            Box::new(|c| c["officers"] = json!(["OF-1", "GHOST-7"])),
        ),
        (
            "an action by a colleague",
            "forged_author",
            Box::new(|c| {
                c["actions"] = json!([{"id": fieldcase_core::ids::new_id(), "method": "persuasion",
                    "measure_category": "service", "at_ms": T0, "by": "OF-9",
                    "fields": {"explained": "占道", "outcome": "accepted"}}])
            }),
        ),
        (
            "a note by a reviewer",
            "forged_author",
            Box::new(
                |c| c["notes"] = json!([{"id": fieldcase_core::ids::new_id(), "at_ms": T0, "by": "RV-1", "text": "已审"}]),
            ),
        ),
    ];
    for (what, code, f) in forged {
        let mut c = base_case(&o, &cat)?;
        f(&mut c);
        attempts.push(refused_new(s, &o, RecordKind::Case, &c, &o.actor, what, code).await?);
    }
    // Follow-ups the record schedules itself from a deadline: one claiming a pledge the case
    // does not hold, one due later than the order it verifies, one scheduled by a colleague.
    let order_id = fieldcase_core::ids::new_id();
    let order = json!({"id": order_id, "method": "correction_order",
        "measure_category": "management", "at_ms": T0, "by": "OF-1",
        "fields": {"deadline": T0 + 86_400_000}});
    let visit = |id: String, due: i64, by: &str, source: &str| {
        json!([{"id": id, "due_ms": due, "scheduled_by": by, "scheduled_at_ms": T0,
            "purpose": null, "source": source, "result": null}])
    };
    let case_for = |c: &Value| c["id"].as_str().unwrap_or_default().to_string();
    let mut c = base_case(&o, &cat)?;
    c["follow_ups"] = visit(
        fieldcase_core::model::FollowUp::pledge_id(&case_for(&c)),
        T0 + 86_400_000,
        "OF-1",
        "pledge",
    );
    attempts.push(
        refused_new(
            s,
            &o,
            RecordKind::Case,
            &c,
            &o.actor,
            "a visit for a pledge never signed",
            "invalid_action",
        )
        .await?,
    );
    let mut c = base_case(&o, &cat)?;
    c["actions"] = json!([order.clone()]);
    c["follow_ups"] = visit(
        fieldcase_core::model::FollowUp::correction_order_id(&order_id),
        T0 + 30 * 86_400_000,
        "OF-1",
        "correction_order",
    );
    attempts.push(
        refused_new(
            s,
            &o,
            RecordKind::Case,
            &c,
            &o.actor,
            "an order's visit put off",
            "invalid_action",
        )
        .await?,
    );
    let mut c = base_case(&o, &cat)?;
    c["actions"] = json!([order.clone()]);
    c["follow_ups"] = visit(
        fieldcase_core::model::FollowUp::correction_order_id(&order_id),
        T0 + 86_400_000,
        "OF-9",
        "correction_order",
    );
    attempts.push(
        refused_new(
            s,
            &o,
            RecordKind::Case,
            &c,
            &o.actor,
            "an order's visit by a colleague",
            "forged_author",
        )
        .await?,
    );
    // The control: the same order with its visit as the phone writes it is accepted.
    let mut c = base_case(&o, &cat)?;
    c["actions"] = json!([order]);
    c["follow_ups"] = visit(
        fieldcase_core::model::FollowUp::correction_order_id(&order_id),
        T0 + 86_400_000,
        "OF-1",
        "correction_order",
    );
    let cid = case_for(&c);
    let mut cdoc = o.new_doc(&c, &o.actor)?;
    let r = o.push(RecordKind::Case, &cid, cdoc.save()).await?;
    assert_eq!(r.status, DocStatus::Accepted, "{:?}", r.reason);
    // A service action claimed as enforcement-free: the 721 class comes from the catalogue.
    let mut c = base_case(&o, &cat)?;
    c["actions"] = json!([{"id": fieldcase_core::ids::new_id(), "method": "warning",
        "measure_category": "service", "at_ms": T0, "by": "OF-1",
        "fields": {"warning_text": "限期整改", "deadline": T0 + 86_400_000}}]);
    attempts.push(
        refused_new(
            s,
            &o,
            RecordKind::Case,
            &c,
            &o.actor,
            "721 class forged",
            "invalid_action",
        )
        .await?,
    );
    // Closed on arrival with no signature.
    let mut c = base_case(&o, &cat)?;
    c["lifecycle"] = json!([{"event": "closed", "at_ms": T0, "by": "OF-1", "reason": "已处理"}]);
    attempts.push(
        refused_new(
            s,
            &o,
            RecordKind::Case,
            &c,
            &o.actor,
            "closed unsigned",
            "signature_invalid",
        )
        .await?,
    );
    // A volunteer's demonstration "by" an officer.
    let demo = json!({
        "kind": "demonstration", "schema_version": 1, "id": fieldcase_core::ids::new_id(),
        "unit": SQUAD, "team": "志愿队", "participants": ["VL-1"],
        "place": {"lat": 31.73, "lon": 116.5}, "started_at_ms": T0, "ended_at_ms": T0 + 1000,
        "topic": "门前三包", "people_persuaded": 3, "created_by": "OF-1", "created_at_ms": T0,
        "evidence": [], "redactions": []
    });
    let did = demo["id"].as_str().ok_or("id")?.to_string();
    let mut ddoc = volunteer.new_doc(&demo, &volunteer.actor)?;
    let r = volunteer
        .push(RecordKind::Demonstration, &did, ddoc.save())
        .await?;
    assert_eq!(
        (r.status, r.code.as_deref()),
        (DocStatus::Rejected, Some("forged_author"))
    );
    // A change written under a colleague's actor: not taken as the pusher's, nor as the
    // colleague's; left for the colleague's own device.
    let mut c = base_case(&o, &cat)?;
    c["created_by"] = json!("OF-9");
    c["officers"] = json!(["OF-9"]);
    c["created_on_device"] = json!(colleague.device_id);
    attempts.push(
        refused_new(
            s,
            &o,
            RecordKind::Case,
            &c,
            &colleague.actor,
            "under a colleague's actor",
            CODE_DEFERRED,
        )
        .await?,
    );

    // An edit of the lawful, in-effect decision: its amount raised.
    let before = good_doc.get_heads();
    let decision = match automerge::ReadDoc::get(&good_doc, automerge::ROOT, "decision")? {
        Some((automerge::Value::Object(_), id)) => id,
        _ => return Err("no decision".into()),
    };
    automerge::transaction::Transactable::put(&mut good_doc, &decision, "amount_yuan", small + 1)?;
    good_doc.commit();
    let r = o
        .push(RecordKind::Case, &gid, good_doc.save_after(&before))
        .await?;
    assert_eq!(
        (r.status, r.code.as_deref()),
        (DocStatus::Rejected, Some("decision_invalid")),
        "{:?}",
        r.reason
    );
    let stored = s.storage().load_doc(&gid).await?.ok_or("stored")?;
    let stored_case: CaseRecord =
        fieldcase_core::doc::read(&AutoCommit::load(&stored.bytes)?, &gid)?;
    assert_eq!(
        stored_case.decision.as_ref().map(|d| d.amount_yuan),
        Some(small)
    );

    // Nothing refused was published; the lawful one was.
    let http = fieldcase_tests::harness::raw_http()?;
    let feed = http
        .get(format!("{}/v1/disclosure", s.url()))
        .send()
        .await?
        .text()
        .await?;
    for a in &attempts {
        if let Some(d) = &a.decision_id {
            assert!(!feed.contains(d.as_str()), "{} was disclosed", a.what);
        }
    }
    let good_decision = good["decision"]["id"].as_str().ok_or("decision id")?;
    assert!(
        feed.contains(good_decision),
        "the lawful decision is published"
    );

    // Every refusal is on the audit trail with the device that pushed it.
    let audit = s.storage().audit_entries().await?;
    for a in attempts.iter().filter(|a| a.code != CODE_DEFERRED) {
        assert!(
            audit.iter().any(|e| e.event.action == "sync_refused"
                && e.event.case_id.as_deref() == Some(a.case_id.as_str())
                && e.event.detail.contains(&o.device_id)
                && e.event.detail.contains(a.code)),
            "{} not audited",
            a.what
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_records_are_refused_on_sqlite() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(dir.path()).await?;
    table(&s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_records_are_refused_on_postgres() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = TestServer::start_postgres(dir.path(), &pg_url()).await?;
    table(&s).await
}

/// The same rules on the phone: an enrolled phone refuses, before writing, what the server
/// would refuse; a reviewer's phone writes a signed review with the checklist, which the server
/// accepts and the officer's phone receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_applies_the_rules_and_a_reviewer_reviews_from_a_phone() -> TestResult {
    use fieldcase_core::model::{CaseStatus, CheckPoint, ReviewChecklist, ReviewOutcome};
    use fieldcase_core::store::{NewParty, PenaltyRequest, ReviewInput};
    use fieldcase_tests::harness::Phone;
    let dir = tempfile::tempdir()?;
    let s = TestServer::start(dir.path()).await?;
    let url = s.url();
    let officer = Phone::enrol(&s, &url, dir.path(), "OF-1", Role::Officer, SQUAD).await?;
    let reviewer = Phone::enrol(&s, &url, dir.path(), "RV-1", Role::Reviewer, "luan").await?;
    let _colleague = Phone::enrol(&s, &url, dir.path(), "OF-9", Role::Officer, SQUAD).await?;
    let head = Phone::enrol(&s, &url, dir.path(), "SV-1", Role::Supervisor, "luan").await?;
    let cat = officer.store.catalogue();
    let (code, tier, small) = fine_item(&cat)?;
    let party = officer.store.register_party(NewParty {
        party_type: PartyType::Person,
        unit: SQUAD.into(),
        by: "OF-1".into(),
        name: "李四".into(),
        id_number: "341502198001011234".into(),
        id_document: None,
        phone: None,
        address: None,
    })?;
    let mut new_case = fieldcase_core::store::NewCase {
        unit: SQUAD.into(),
        occurred_at_ms: T0,
        place: fieldcase_tests::harness::place(),
        officers: vec!["OF-1".into(), "OF-9".into()],
        recorded_by: "OF-9".into(),
        party_id: Some(party.id.clone()),
        violation_code: code,
        tier,
        description: None,
        actions: vec![],
        involves_minor: false,
        privacy_protected: false,
    };
    // Recorded in someone else's name: refused on the phone, nothing written.
    let e = officer.store.create_case(new_case.clone());
    assert!(
        matches!(&e, Err(fieldcase_core::CoreError::Refused { code, .. }) if code == "forged_author"),
        "{e:?}"
    );
    new_case.recorded_by = "OF-1".into();
    let case = officer.store.create_case(new_case)?;
    // The rest of the table, as far as the phone API can express it: each refused with the
    // server's code before anything is written.
    let refused = |r: fieldcase_core::Result<()>, want: &str, what: &str| match r {
        Err(fieldcase_core::CoreError::Refused { code, .. }) if code == want => Ok(()),
        other => Err(format!("{what}: expected {want}, got {other:?}")),
    };
    refused(
        officer
            .store
            .add_note(&case.id, "RV-1", T0, "已审")
            .map(drop),
        "forged_author",
        "a note by a reviewer",
    )?;
    refused(
        officer
            .store
            .append_action(&case.id, fieldcase_tests::harness::persuasion("OF-9", T0))
            .map(drop),
        "forged_author",
        "an action by a colleague",
    )?;
    refused(
        officer
            .store
            .decide_penalty(
                &case.id,
                PenaltyRequest {
                    by: "OF-9".into(),
                    at_ms: T0 + 500,
                    tier: None,
                    amount_yuan: small,
                    reason: Some("情节严重".into()),
                    penalty: fieldcase_core::catalogue::PenaltyKind::Fine,
                    procedure: fieldcase_core::model::Procedure::Simple,
                    construction_cost_yuan: None,
                },
            )
            .map(drop),
        "forged_author",
        "a decision in a colleague's name",
    )?;
    refused(
        officer
            .store
            .schedule_follow_up(&case.id, "OF-9", T0 + 86_400_000, None)
            .map(drop),
        "forged_author",
        "a follow-up scheduled in a colleague's name",
    )?;
    let unchanged = officer.store.case(&case.id)?;
    assert!(
        unchanged.notes.is_empty() && unchanged.actions.is_empty() && unchanged.decision.is_none()
    );
    // Under the ordinary procedure, which the Lu'an profile sends to legal review.
    let decision = fieldcase_tests::lawful::ordinary(
        &officer.store,
        &case.id,
        "OF-1",
        "OF-9",
        T0 + 1_000,
        None,
        Some("情节严重"),
    )?;
    assert!(decision.review_required);
    assert_eq!(officer.sync().await?.rejected, 0);
    let r = reviewer.sync().await?;
    assert_eq!(r.rejected, 0);
    let pass = CheckPoint {
        passed: true,
        note: None,
    };
    let list = ReviewChecklist {
        subject: pass.clone(),
        facts: pass.clone(),
        evidence: pass.clone(),
        basis: pass.clone(),
        discretion: pass.clone(),
        procedure: pass,
    };
    // An officer's phone cannot review; the reviewer's phone can.
    let own = officer.store.review_decision(
        &case.id,
        &decision.id,
        ReviewInput {
            reviewer: "OF-1".into(),
            outcome: ReviewOutcome::Approved,
            opinion: "同意".into(),
            checklist: list.clone(),
            at_ms: T0 + 2_000,
        },
    );
    assert!(own.is_err());
    let review = reviewer.store.review_decision(
        &case.id,
        &decision.id,
        ReviewInput {
            reviewer: "RV-1".into(),
            outcome: ReviewOutcome::Approved,
            opinion: "事实清楚，证据充分，裁量适当".into(),
            checklist: list,
            at_ms: T0 + 2_000,
        },
    )?;
    assert_eq!(review.via.as_deref(), Some("device"));
    let r = reviewer.sync().await?;
    assert_eq!((r.accepted, r.rejected), (1, 0), "{:?}", r.rejections);
    officer.sync().await?;
    assert_eq!(
        officer.store.case(&case.id)?.status(),
        CaseStatus::PendingApproval
    );
    // The head of the bureau approves from a phone (负责人批准); an officer cannot.
    assert!(
        fieldcase_tests::lawful::approve(&officer.store, &case.id, "OF-1", T0 + 11 * DAY).is_err()
    );
    head.sync().await?;
    fieldcase_tests::lawful::approve(&head.store, &case.id, "SV-1", T0 + 11 * DAY)?;
    let r = head.sync().await?;
    assert_eq!((r.accepted, r.rejected), (1, 0), "{:?}", r.rejections);
    officer.sync().await?;
    assert_eq!(officer.store.case(&case.id)?.status(), CaseStatus::Decided);
    let v = officer.store.verify_case(&case.id)?;
    assert!(
        !v.issues
            .iter()
            .any(|i| i.kind == fieldcase_core::evidence::IssueKind::ReviewSignatureInvalid),
        "{:?}",
        v.issues
    );
    // Published once approved, with its signatures checked.
    let feed = fieldcase_tests::harness::raw_http()?
        .get(format!("{}/v1/disclosure", s.url()))
        .send()
        .await?
        .text()
        .await?;
    assert!(feed.contains(&decision.id));
    Ok(())
}
