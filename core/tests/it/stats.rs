//! Statistics recomputed by hand from a small, known set of records.

use crate::common::*;
use fieldcase_core::catalogue::{MeasureCategory, PartyType};
use fieldcase_core::stats::StatsScope;
use fieldcase_core::store::{
    ExemptionRequest, FollowUpInput, NewDemonstration, PenaltyRequest, PledgeInput,
};

const DAY: i64 = 86_400_000;

#[test]
fn stats_match_a_hand_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), "phone-a");
    let p1 = party(&store, "341502199001011239");

    // Case A: persuasion + warning, exemption on a pledge, follow-up finds it corrected.
    let a = store
        .create_case(new_case(&store, Some(p1.clone()), T0))
        .expect("a");
    store
        .append_action(
            &a.id,
            fieldcase_core::store::NewAction {
                method: fieldcase_core::catalogue::Method::Warning,
                at_ms: T0 + 1,
                by: "OF-1001".into(),
                note: None,
                fields: fields(
                    serde_json::json!({"warning_text": "限期整改", "deadline": T0 + DAY}),
                ),
            },
        )
        .expect("warning");
    store
        .grant_exemption(
            &a.id,
            ExemptionRequest {
                by: "OF-1001".into(),
                at_ms: T0 + 2,
                minor: true,
                no_harm: true,
                pledge: Some(PledgeInput {
                    text: "承诺".into(),
                    signature_evidence_id: None,
                    deadline_ms: Some(T0 + DAY),
                    signed_at_ms: T0 + 2,
                }),
            },
        )
        .expect("exempt");
    let fu = store
        .schedule_follow_up(&a.id, "OF-1001", T0 + DAY, None)
        .expect("fu");
    store
        .record_follow_up(
            &a.id,
            &fu,
            FollowUpInput {
                at_ms: T0 + DAY / 2,
                by: "OF-1002".into(),
                corrected: true,
                opinion: None,
                satisfaction: None,
            },
        )
        .expect("record");

    // Case B, same party and place: persuasion, correction order, then a penalty.
    let b = store
        .create_case(new_case(&store, Some(p1), T0 + 3 * DAY))
        .expect("b");
    store
        .order_correction(&b.id, "OF-1001", T0 + 3 * DAY, T0 + 4 * DAY, vec![])
        .expect("order");
    let c = store.catalogue();
    let tier = c
        .tier(&b.violation.code, &b.violation.tier, PartyType::Person)
        .expect("tier")
        .clone();
    let d = store
        .decide_penalty(
            &b.id,
            PenaltyRequest {
                by: "OF-1001".into(),
                at_ms: T0 + 5 * DAY,
                tier: None,
                amount_yuan: tier.min_yuan.unwrap_or(0),
                reason: None,
                penalty: fieldcase_core::catalogue::PenaltyKind::Fine,
                procedure: fieldcase_core::model::Procedure::Simple,
                construction_cost_yuan: None,
            },
        )
        .expect("penalty");

    store
        .record_demonstration(NewDemonstration {
            unit: "luan/jinan/squad-1".into(),
            team: "志愿者队".into(),
            participants: vec!["VO-1".into()],
            place: place(),
            started_at_ms: T0,
            ended_at_ms: T0 + 3_600_000,
            topic: "门前三包".into(),
            people_persuaded: 12,
            note: None,
            by: "VO-1".into(),
        })
        .expect("demo");

    let s = store
        .stats(&StatsScope {
            unit: Some("luan/jinan".into()),
            from_ms: Some(T0),
            to_ms: Some(T0 + 30 * DAY),
        })
        .expect("stats");
    assert_eq!(s.cases, 2);
    let m = |k: &str| s.actions_by_method.get(k).copied().unwrap_or(0);
    assert_eq!(
        (
            m("persuasion"),
            m("warning"),
            m("follow_up"),
            m("correction_order"),
            m("penalty"),
            m("demonstration")
        ),
        (2, 1, 1, 1, 1, 1)
    );
    let share = |cat| {
        s.measures
            .iter()
            .find(|x| x.category == cat)
            .expect("class")
            .clone()
    };
    // 721 per case: case A (persuasion, warning, visit) is management, case B (order and
    // penalty) enforcement, the demonstration service; the visits of a case add nothing.
    assert_eq!(share(MeasureCategory::Service).count, 1);
    assert_eq!(share(MeasureCategory::Management).count, 1);
    assert_eq!(share(MeasureCategory::Enforcement).count, 1);
    assert!((share(MeasureCategory::Service).share - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(s.exemptions_granted, 1);
    assert_eq!((s.pledges_fulfilled.count, s.pledges_fulfilled.of), (1, 1));
    assert_eq!(
        (
            s.correction_within_deadline.count,
            s.correction_within_deadline.of
        ),
        (1, 2)
    );
    // The visit scheduled by hand was made; the visits the pledge and the order scheduled at
    // their deadlines were not.
    assert_eq!(
        (s.follow_up_completion.count, s.follow_up_completion.of),
        (1, 3)
    );
    assert_eq!((s.repeat_by_party.count, s.repeat_by_party.of), (1, 1));
    assert_eq!((s.repeat_by_place.count, s.repeat_by_place.of), (1, 1));
    assert_eq!(s.escalations, 1);
    assert_eq!((s.demonstrations, s.people_persuaded), (1, 12));
    assert_eq!(s.decisions_pending_review, i64::from(d.review_required));

    // Another unit sees nothing; a period before T0 sees nothing.
    let other = store
        .stats(&StatsScope {
            unit: Some("luan/yuan".into()),
            from_ms: None,
            to_ms: None,
        })
        .expect("stats");
    assert_eq!((other.cases, other.demonstrations), (0, 0));
    let before = store
        .stats(&StatsScope {
            unit: None,
            from_ms: None,
            to_ms: Some(T0),
        })
        .expect("stats");
    assert_eq!(before.actions_by_method.values().sum::<i64>(), 0);
}
