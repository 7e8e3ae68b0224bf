//! The validation rules on record JSON made by the real core (no network).

use fieldcase_core::catalogue::Catalogue;
use fieldcase_core::model::RecordKind;
use fieldcase_core::store::NewCase;
use fieldcase_core::{FieldStore, StoreConfig};
use fieldcase_server::storage::{Role, User};
use fieldcase_server::validate::{Channel, check, check_via};
use serde_json::{Value, json};

type R = Result<(), Box<dyn std::error::Error>>;

fn user(role: Role) -> User {
    User {
        id: "u".into(),
        name: "n".into(),
        role,
        unit: "luan/jinan".into(),
        created_at_ms: 0,
    }
}

fn a_case() -> Result<(Value, Catalogue), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = FieldStore::open(
        dir.path().join("p.db"),
        StoreConfig::insecure_plain_for_tests("p"),
    )?;
    let c = store.catalogue();
    let item = c.items().next().ok_or("item")?;
    let case = store.create_case(NewCase {
        unit: "luan/jinan/squad-1".into(),
        occurred_at_ms: 1_790_000_000_000,
        place: fieldcase_core::model::Place {
            lat: 31.7,
            lon: 116.5,
            accuracy_m: None,
            address: None,
        },
        officers: vec!["OF-1".into()],
        recorded_by: "OF-1".into(),
        party_id: None,
        violation_code: item.code.clone(),
        tier: item.tiers[0].tier.clone(),
        description: None,
        actions: vec![],
        involves_minor: false,
        privacy_protected: false,
    })?;
    Ok((serde_json::to_value(&case)?, Catalogue::builtin()?))
}

#[test]
fn rules_on_merged_records() -> R {
    let (old, cat) = a_case()?;
    let id = old["id"].as_str().ok_or("id")?.to_string();
    let officer = user(Role::Officer);
    assert!(check(&officer, &cat, &id, RecordKind::Case, None, &old).is_ok());
    assert!(check(&officer, &cat, &id, RecordKind::Party, None, &old).is_err());
    assert!(check(&officer, &cat, "other", RecordKind::Case, None, &old).is_err());

    // Unknown violation code.
    let mut bad = old.clone();
    bad["violation"]["code"] = json!("NO-SUCH-CODE");
    let e = check(&officer, &cat, &id, RecordKind::Case, Some(&old), &bad);
    assert!(e.is_err_and(|r| r.contains("catalogue")));

    // Moving the case out of the subtree.
    let mut moved = old.clone();
    moved["unit"] = json!("luan/yuan");
    assert!(check(&officer, &cat, &id, RecordKind::Case, Some(&old), &moved).is_err());

    // Evidence: adding is fine; removing or altering is not.
    let mut with_ev = old.clone();
    with_ev["evidence"] = json!([{"id": "e1", "blob_sha256": "ab".repeat(32)}]);
    let ok = check(&officer, &cat, &id, RecordKind::Case, Some(&old), &with_ev)
        .map_err(|e| e.to_string())?;
    assert_eq!(ok.blob_refs, vec!["ab".repeat(32)]);
    let mut altered = with_ev.clone();
    altered["evidence"][0]["blob_sha256"] = json!("cd".repeat(32));
    let e = check(
        &officer,
        &cat,
        &id,
        RecordKind::Case,
        Some(&with_ev),
        &altered,
    );
    assert!(e.is_err_and(|r| r.contains("evidence")));
    let mut removed = with_ev.clone();
    removed["evidence"] = json!([]);
    assert!(
        check(
            &officer,
            &cat,
            &id,
            RecordKind::Case,
            Some(&with_ev),
            &removed
        )
        .is_err()
    );

    // A review written by anyone but a reviewer; a reviewer writing anything else.
    let mut decided = old.clone();
    decided["decision"] = json!({
        "id": id, "decided_at_ms": 1, "decided_by": "OF-1", "tier": "t", "party_type": "person",
        "amount_yuan": 5000, "within_range": true, "review_required": true,
        "catalogue_version": "1", "action_id": id
    });
    let mut reviewed = decided.clone();
    reviewed["decision"]["review"] =
        json!({"outcome": "approved", "reviewer": "u", "opinion": "ok", "at_ms": 2});
    let e = check(
        &officer,
        &cat,
        &id,
        RecordKind::Case,
        Some(&decided),
        &reviewed,
    );
    assert!(e.is_err_and(|r| r.contains("reviewer")));
    let reviewer = user(Role::Reviewer);
    // Over sync, not even from a reviewer's own phone: only the review service, which signs
    // and audits, writes a review.
    let e = check(
        &reviewer,
        &cat,
        &id,
        RecordKind::Case,
        Some(&decided),
        &reviewed,
    );
    assert!(e.is_err_and(|r| r.contains("review service")));
    let service = |old: &serde_json::Value, new: &serde_json::Value| {
        check_via(
            Channel::ReviewService,
            &reviewer,
            &cat,
            &id,
            RecordKind::Case,
            Some(old),
            new,
        )
    };
    assert!(service(&decided, &reviewed).is_ok());
    let mut sneaky = reviewed.clone();
    sneaky["decision"]["amount_yuan"] = json!(1);
    assert!(service(&decided, &sneaky).is_err());
    assert!(
        check(
            &reviewer,
            &cat,
            &id,
            RecordKind::Case,
            Some(&decided),
            &sneaky
        )
        .is_err()
    );
    assert!(check(&reviewer, &cat, &id, RecordKind::Case, None, &old).is_err());

    // A reviewer signs only with their own id, with an opinion, and only decisions that need
    // review.
    let mut as_other = decided.clone();
    as_other["decision"]["review"] =
        json!({"outcome": "approved", "reviewer": "RV-9", "opinion": "ok", "at_ms": 2});
    let e = service(&decided, &as_other);
    assert!(e.is_err_and(|r| r.contains("own id")));
    let mut mute = reviewed.clone();
    mute["decision"]["review"]["opinion"] = json!("  ");
    let e = service(&decided, &mute);
    assert!(e.is_err_and(|r| r.contains("opinion")));
    let mut minor_decision = decided.clone();
    minor_decision["decision"]["review_required"] = json!(false);
    let mut minor_reviewed = reviewed.clone();
    minor_reviewed["decision"]["review_required"] = json!(false);
    let e = service(&minor_decision, &minor_reviewed);
    assert!(e.is_err_and(|r| r.contains("no legal review")));

    // An officer (a phone pushing a self-approval) may not touch the server's signed review
    // either, not even a field the typed record does not know.
    let mut signed = reviewed.clone();
    signed["decision"]["review"]["signed_heads"] = json!(["aa"]);
    let mut forged = signed.clone();
    forged["decision"]["review"]["signed_heads"] = json!(["bb"]);
    let e = check(
        &officer,
        &cat,
        &id,
        RecordKind::Case,
        Some(&signed),
        &forged,
    );
    assert!(e.is_err_and(|r| r.contains("reviewer")));
    // Nor change an approved decision, nor remove a decision.
    let mut raised = reviewed.clone();
    raised["decision"]["amount_yuan"] = json!(9000);
    let e = check(
        &officer,
        &cat,
        &id,
        RecordKind::Case,
        Some(&reviewed),
        &raised,
    );
    assert!(e.is_err_and(|r| r.contains("approved decision")));
    let mut dropped = reviewed.clone();
    dropped["decision"] = Value::Null;
    assert!(
        check(
            &officer,
            &cat,
            &id,
            RecordKind::Case,
            Some(&reviewed),
            &dropped
        )
        .is_err()
    );
    // A returned decision may be replaced by a new, unreviewed one (what core does when the
    // officer revises it); keeping the old id while dropping the review is refused.
    let mut returned = decided.clone();
    returned["decision"]["review"] =
        json!({"outcome": "returned", "reviewer": "u", "opinion": "证据不足", "at_ms": 2});
    let mut revised = decided.clone();
    revised["decision"]["id"] = json!("0190aaaa-0000-7000-8000-000000000001");
    revised["decision"]["amount_yuan"] = json!(3000);
    assert!(
        check(
            &officer,
            &cat,
            &id,
            RecordKind::Case,
            Some(&returned),
            &revised
        )
        .is_ok()
    );
    let e = check(
        &officer,
        &cat,
        &id,
        RecordKind::Case,
        Some(&returned),
        &decided,
    );
    assert!(e.is_err_and(|r| r.contains("reviewer")));

    // A closed case: only lifecycle events (a reopen) may change it.
    let mut closed = old.clone();
    closed["lifecycle"] = json!([{"event": "closed", "at_ms": 3, "by": "OF-1", "reason": "done"}]);
    let mut edited = closed.clone();
    edited["notes"] = json!([{"id": "n1", "at_ms": 4, "by": "OF-1", "text": "late"}]);
    let e = check(
        &officer,
        &cat,
        &id,
        RecordKind::Case,
        Some(&closed),
        &edited,
    );
    assert!(e.is_err_and(|r| r.contains("closed")));
    let mut reopened = closed.clone();
    reopened["lifecycle"] = json!([
        {"event": "closed", "at_ms": 3, "by": "OF-1", "reason": "done"},
        {"event": "reopened", "at_ms": 5, "by": "OF-1", "reason": "complaint"}
    ]);
    assert!(
        check(
            &officer,
            &cat,
            &id,
            RecordKind::Case,
            Some(&closed),
            &reopened
        )
        .is_ok()
    );
    assert!(
        check(
            &officer,
            &cat,
            &id,
            RecordKind::Case,
            Some(&reopened),
            &closed
        )
        .is_err()
    );

    // Volunteers and supervisors write no cases.
    assert!(
        check(
            &user(Role::Volunteer),
            &cat,
            &id,
            RecordKind::Case,
            None,
            &old
        )
        .is_err()
    );
    assert!(
        check(
            &user(Role::Supervisor),
            &cat,
            &id,
            RecordKind::Case,
            None,
            &old
        )
        .is_err()
    );
    Ok(())
}
