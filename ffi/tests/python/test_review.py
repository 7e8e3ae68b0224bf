"""Legal review (法制审核) from a reviewer's phone, end to end against a real server: an
officer's major decision syncs up, the reviewer's phone finds it in `pending_reviews`, writes
the review with its checklist and syncs it, and the server takes it; an officer's or a
volunteer's attempt is refused on the phone, and the server refuses an officer's review
written where the phone could not check it (before enrolment)."""

import asyncio

import fieldcase_ffi as fc
import pytest

from conftest import DB_KEY
from helpers import DAY, OFFICER, PARTNER, T0, UNIT, new_case, register
from test_server_flow import enrolled_phone, server  # noqa: F401 - the fixture

REVIEWER = "RV-1"


def decide_major(store):
    """A case whose ordinary-procedure fine lies outside the benchmark: legal review due."""
    party = register(store)
    case = store.create_case(new_case(store, party.id))
    item = next(i for i in store.violation_items() if i.code == case.violation_code)
    tier = next(t for t in item.tiers if t.tier == case.tier and t.party_type == fc.PartyType.PERSON)
    amount = tier.max_yuan + 1000
    at = T0 + 5 * DAY

    def step(kind, when, **kw):
        store.record_step(case.id, fc.StepInput(step=kind, at_ms=when, by=OFFICER, **kw))

    store.order_correction(case.id, OFFICER, at, at + DAY, [])
    step(fc.StepKind.FILING, at + 1)
    step(fc.StepKind.INVESTIGATION, at + 2, officers=[OFFICER, PARTNER])
    step(
        fc.StepKind.PRIOR_NOTICE, at + 3, proposed_penalty=fc.PenaltyKind.FINE,
        proposed_amount_yuan=amount, hearing_right_notified=True,
    )
    step(fc.StepKind.HEARING_WAIVED, at + 4)
    decision = store.decide_penalty(
        case.id,
        fc.PenaltyRequest(
            by=OFFICER, at_ms=at + 10 * DAY, amount_yuan=amount, reason="多次违法, 情节较重",
            penalty=fc.PenaltyKind.FINE, procedure=fc.Procedure.ORDINARY,
        ),
    )
    assert decision.review_required and not decision.effective
    return case, decision


def review(reviewer, at, outcome=fc.ReviewOutcome.APPROVED):
    ok = fc.CheckPoint(passed=True)
    return fc.ReviewInput(
        reviewer=reviewer, outcome=outcome, opinion="主体适格, 事实清楚, 证据确凿, 依据正确, 裁量适当, 程序合法",
        at_ms=at, subject=ok, facts=ok, evidence=ok, basis=ok, discretion=ok, procedure=ok,
    )


def test_a_reviewer_phone_reviews_and_others_are_refused(tmp_path, server):  # noqa: F811
    server.admin("create-user", "--id", REVIEWER, "--name", REVIEWER, "--role", "reviewer", "--unit", UNIT)
    a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    case, decision = decide_major(a)
    assert a.pending_reviews(None) == []  # nobody reviews their own decision
    up = asyncio.run(a.sync(None, None))
    assert up.rejections == [], up.rejections
    at = T0 + 16 * DAY

    # An officer's phone sees the decision waiting but may not review it.
    b, _, _ = enrolled_phone(tmp_path, server, "OF-1003", "phone-b")
    asyncio.run(b.sync(None, None))
    with pytest.raises(fc.FieldcaseError.Refused) as refused:
        b.review_decision(case.id, decision.id, review("OF-1003", at))
    assert refused.value.code == "review_invalid"
    with pytest.raises(fc.FieldcaseError.Refused) as refused:
        b.review_decision(case.id, decision.id, review(REVIEWER, at))
    # The review names someone else and comes from an officer: either rule refuses it.
    assert refused.value.code in ("forged_author", "review_invalid")
    # A volunteer's phone never receives the case.
    v, _, _ = enrolled_phone(tmp_path, server, "VOL-1", "phone-v")
    asyncio.run(v.sync(None, None))
    assert v.pending_reviews(None) == []
    with pytest.raises(fc.FieldcaseError.NotFound):
        v.review_decision(case.id, decision.id, review("VOL-1", at))

    r, enrolment, _ = enrolled_phone(tmp_path, server, REVIEWER, "phone-r")
    assert enrolment.role == "reviewer"
    asyncio.run(r.sync(None, None))
    [pending] = r.pending_reviews("luan")
    assert (pending.case_id, pending.decision.id) == (case.id, decision.id)
    assert "outside_discretion_range" in pending.decision.review_reasons
    assert r.pending_reviews("luan/yeji") == []
    # An approval with a point not passed is no approval.
    bad = review(REVIEWER, at)
    bad.facts = fc.CheckPoint(passed=False, note="事实不清")
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        r.review_decision(case.id, decision.id, bad)
    assert err.value.field == "checklist"

    written = r.review_decision(case.id, decision.id, review(REVIEWER, at))
    assert written.outcome == fc.ReviewOutcome.APPROVED and written.reviewer == REVIEWER
    assert r.pending_reviews(None) == []
    sent = asyncio.run(r.sync(None, None))
    assert sent.rejections == [] and sent.accepted >= 1, sent

    # The officer's phone receives the approval: the decision now awaits the head.
    asyncio.run(a.sync(None, None))
    got = a.get_case(case.id)
    assert got.decision.review.outcome == fc.ReviewOutcome.APPROVED
    assert got.decision.review.reviewer == REVIEWER
    assert got.status == fc.CaseStatus.PENDING_APPROVAL
    for s in (a, b, v, r):
        s.close_store()


def test_the_server_refuses_an_officers_review_the_phone_could_not_check(tmp_path, server):  # noqa: F811
    a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    case, decision = decide_major(a)
    asyncio.run(a.sync(None, None))

    # A phone not yet enrolled knows no role, so it checks no author: it takes the case from
    # a colleague's phone, writes a review, and only then enrols as an officer.
    path = str(tmp_path / "phone-u.db")
    u = fc.FieldcaseStore.open(path, fc.StoreOptions(db_key=DB_KEY))
    u.import_changes(a.export_changes(u.heads()))
    u.review_decision(case.id, decision.id, review("OF-1003", T0 + 16 * DAY))
    asyncio.run(u.enrol(server.url, server.code_for("OF-1003"), "phone-u"))
    report = asyncio.run(u.sync(None, None))
    assert [(x.record_id, x.code) for x in report.rejections] == [(case.id, "review_invalid")]
    # The server's copy is unchanged: the author's phone sees no review.
    asyncio.run(a.sync(None, None))
    assert a.get_case(case.id).decision.review is None
    a.close_store()
    u.close_store()
