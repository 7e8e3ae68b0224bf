"""The officer's flow through the bindings: conversions both ways, statuses and lists."""

import fieldcase_ffi as fc
import pytest
from helpers import (
    DAY, ID_NUMBER, NAME, OFFICER, PARTNER, PHONE, T0, UNIT,
    exemption, new_case, persuasion, register, warning,
)


def test_party_view_is_masked(store):
    p = register(store)
    assert p.masked_name == "张**"
    assert p.masked_id_number == "*" * 18
    assert p.masked_phone == "138****5678"
    assert p.party_type == fc.PartyType.PERSON
    shown = repr(vars(p))
    for secret in (NAME, ID_NUMBER, PHONE):
        assert secret not in shown
    # Registering the same identity number again returns the same party.
    assert register(store, id_number=ID_NUMBER.lower()).id == p.id
    found = store.find_party_by_id_number(ID_NUMBER)
    assert found is not None and found.id == p.id
    assert store.find_party_by_id_number("341504199003070008") is None
    assert store.get_party(p.id) == p


def test_case_with_persuasion_warning_exemption_follow_up_and_close(store):
    party = register(store)
    case = store.create_case(
        new_case(store, party.id, actions=[persuasion(T0), warning(T0 + 1000, T0 + DAY)])
    )
    assert case.status == fc.CaseStatus.OPEN
    assert case.party_id == party.id and case.party_type == fc.PartyType.PERSON
    assert [a.method for a in case.actions] == [fc.ActionMethod.PERSUASION, fc.ActionMethod.WARNING]
    assert case.actions[0].measure_category == fc.MeasureCategory.SERVICE
    assert case.actions[1].measure_category == fc.MeasureCategory.MANAGEMENT
    fields = {f.name: f.value for f in case.actions[1].fields}
    assert fields["deadline"] == fc.FieldValue.INTEGER(value=T0 + DAY)
    assert fields["warning_text"].is_TEXT()
    assert case.actions[1].note == "当场告诫"
    assert case.correction_deadline_ms == T0 + DAY
    assert case.place.address == "六安市金安区梅山中路"
    assert [c.id for c in store.open_cases("luan/jinan", 10)] == [case.id]
    assert store.open_cases("luan/yeji", 10) == []

    e = store.check_exemption(case.id, True, True, True)
    assert e.eligible and e.kind == fc.ExemptionKind.FIRST_OFFENCE
    assert {c.code for c in e.conditions} >= {"item_exemptable", "tier_exemptable", "educated"}
    assert all(c.met for c in e.conditions)
    assert e.first_offence.prior_case_ids == []
    assert e.first_offence.as_of_server_cursor is None
    no_pledge = store.check_exemption(case.id, True, True, False)
    assert not no_pledge.eligible and no_pledge.kind is None
    assert [c.code for c in no_pledge.conditions if not c.met] == ["pledge"]

    ex = store.grant_exemption(case.id, exemption(T0 + 60_000, T0 + DAY))
    assert ex.kind == fc.ExemptionKind.FIRST_OFFENCE
    assert ex.pledge.deadline_ms == T0 + DAY
    assert store.get_case(case.id).status == fc.CaseStatus.PLEDGED
    fc.set_language(fc.Language.EN)  # the refusal's own English words name what is missing
    try:
        with pytest.raises(fc.FieldcaseError.Refused) as refused:
            store.close_case(case.id, OFFICER, T0 + 70_000, "done")
    finally:
        fc.set_language(fc.Language.ZH_CN)
    assert refused.value.code == "lifecycle_invalid" and "follow-up" in refused.value.reason

    # The pledge scheduled its own visit at its deadline.
    [fu] = [f.id for f in store.get_case(case.id).follow_ups]
    due = store.due_follow_ups(None, T0, DAY)
    assert [(d.case_id, d.follow_up_id, d.overdue) for d in due] == [(case.id, fu, False)]
    assert store.overdue_follow_ups(UNIT, T0) == []
    overdue = store.overdue_follow_ups(UNIT, T0 + 2 * DAY)
    assert len(overdue) == 1 and overdue[0].overdue and overdue[0].due_ms == T0 + DAY

    store.record_follow_up(
        case.id,
        fu,
        fc.FollowUpInput(
            at_ms=T0 + DAY - 1000, by=PARTNER, corrected=True, opinion="已整改", satisfaction="satisfied"
        ),
    )
    corrected = store.get_case(case.id)
    assert corrected.status == fc.CaseStatus.CORRECTED
    assert corrected.follow_ups[0].result.corrected
    assert corrected.follow_ups[0].source == fc.FollowUpSource.PLEDGE
    assert corrected.actions[-1].method == fc.ActionMethod.FOLLOW_UP
    assert store.due_follow_ups(None, T0, 10 * DAY) == []

    store.close_case(case.id, OFFICER, T0 + DAY, "已整改结案")
    closed = store.get_case(case.id)
    assert closed.status == fc.CaseStatus.CLOSED
    assert closed.lifecycle[-1].event == fc.LifecycleKind.CLOSED
    assert store.open_cases(None, 10) == []
    with pytest.raises(fc.FieldcaseError.CaseClosed) as err:
        store.add_note(case.id, OFFICER, T0 + DAY, "late note")
    assert err.value.case_id == case.id

    store.reopen_case(case.id, OFFICER, T0 + 2 * DAY, "复查发现反弹")
    note = store.add_note(case.id, OFFICER, T0 + 2 * DAY, "再次劝导")
    assert store.get_case(case.id).notes[0].id == note
    assert store.get_case(case.id).status == fc.CaseStatus.CORRECTED


def test_a_case_without_penalty_or_exemption_is_no_prior_offence_and_the_ordinary_procedure_runs_in_order(store):
    party = register(store)
    first = store.create_case(new_case(store, party.id))
    second = store.create_case(new_case(store, party.id, at=T0 + 5 * DAY))
    # The first case ended in neither an exemption nor a penalty: no offence on record.
    e = store.check_exemption(second.id, True, True, True)
    assert e.first_offence.prior_case_ids == []
    history = store.party_history(party.id)
    assert [c.id for c in history] == [first.id, second.id]
    assert history[0].status == fc.CaseStatus.OPEN and history[0].day == "2026-09-21"
    assert [c.id for c in store.cases_by_unit_day("luan", "2026-09-21")] == [first.id]

    item = next(i for i in store.violation_items() if i.code == second.violation_code)
    assert fc.PenaltyKind.FINE in item.penalty_kinds
    assert any(b.confirmed and b.role == "penalty" for b in item.legal_basis)
    tier = next(t for t in item.tiers if t.tier == second.tier and t.party_type == fc.PartyType.PERSON)
    too_much = tier.max_yuan + 1000
    at = T0 + 5 * DAY

    def decide(amount, reason=None, when=at):
        return store.decide_penalty(
            second.id,
            fc.PenaltyRequest(
                by=OFFICER, at_ms=when, amount_yuan=amount, reason=reason,
                penalty=fc.PenaltyKind.FINE, procedure=fc.Procedure.ORDINARY,
            ),
        )

    # Outside the benchmark without a reason; then, with one, the procedure is missing.
    with pytest.raises(fc.FieldcaseError.Refused) as err:
        decide(too_much)
    assert err.value.code == "decision_invalid"
    with pytest.raises(fc.FieldcaseError.Refused) as err:
        decide(too_much, "多次违法, 情节较重")
    assert err.value.code == "procedure_invalid"
    assert store.get_case(second.id).decision is None  # nothing written

    def step(kind, when, **kw):
        return store.record_step(second.id, fc.StepInput(step=kind, at_ms=when, by=OFFICER, **kw))

    # Out of order: an investigation before 立案 is refused.
    with pytest.raises(fc.FieldcaseError.Refused) as err:
        step(fc.StepKind.INVESTIGATION, at + 2, officers=[OFFICER, PARTNER])
    assert err.value.code == "procedure_invalid"
    store.order_correction(second.id, OFFICER, at, at + DAY, [])
    step(fc.StepKind.FILING, at + 1)
    step(fc.StepKind.INVESTIGATION, at + 2, officers=[OFFICER, PARTNER])
    step(
        fc.StepKind.PRIOR_NOTICE, at + 3,
        proposed_penalty=fc.PenaltyKind.FINE, proposed_amount_yuan=too_much, hearing_right_notified=True,
    )
    step(fc.StepKind.HEARING_WAIVED, at + 4)
    d = decide(too_much, "多次违法, 情节较重", at + 10 * DAY)
    assert d.review_required and not d.within_range and not d.effective
    assert d.procedure == fc.Procedure.ORDINARY and d.hearing_right
    assert "outside_discretion_range" in d.review_reasons
    view = store.get_case(second.id)
    assert view.status == fc.CaseStatus.PENDING_REVIEW
    assert [s.step for s in view.steps] == [
        fc.StepKind.FILING, fc.StepKind.INVESTIGATION, fc.StepKind.PRIOR_NOTICE, fc.StepKind.HEARING_WAIVED,
    ]
    deadlines = {x.what: x for x in store.procedure_deadlines(second.id, at + 11 * DAY)}
    assert not deadlines["decision"].overdue and deadlines["decision"].met_at_ms == at + 10 * DAY


def test_catalogue_is_readable_for_forms(store):
    specs = {s.method: s for s in store.method_specs()}
    assert len(specs) == 10
    persuasion_spec = specs[fc.ActionMethod.PERSUASION]
    outcome = next(f for f in persuasion_spec.fields if f.name == "outcome")
    assert outcome.field_type == fc.FieldType.ENUM and outcome.required
    assert "accepted" in outcome.values
    assert specs[fc.ActionMethod.PENALTY].measure_category == fc.MeasureCategory.ENFORCEMENT
    items = store.violation_items()
    assert len(items) >= 15 and items[0].name.zh and items[0].name.en
    assert store.catalogue_version()
    assert store.catalogue_version() in store.catalogue_versions()
    assert store.device_id() == "phone-a"
    assert store.integrity_check() == "ok"


def test_order_to_correct_sets_status_and_deadline(store):
    party = register(store)
    case = store.create_case(new_case(store, party.id))
    action_id = store.order_correction(case.id, OFFICER, T0 + 1000, T0 + 3 * DAY, ["清理占道货架", "恢复通行"])
    view = store.get_case(case.id)
    assert view.status == fc.CaseStatus.ORDERED
    assert view.correction_deadline_ms == T0 + 3 * DAY
    order = view.actions[-1]
    assert order.id == action_id and order.method == fc.ActionMethod.CORRECTION_ORDER
    items = next(f.value for f in order.fields if f.name == "items")
    assert items == fc.FieldValue.TEXT_LIST(values=["清理占道货架", "恢复通行"])
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.order_correction(case.id, OFFICER, T0 + 1000, T0, [])
    assert err.value.field == "deadline"
