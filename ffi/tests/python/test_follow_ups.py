"""Follow-ups the record schedules itself, through the bindings: a pledge's visit at its
deadline and an order's visit at the order's deadline, both listed as due and overdue."""

import fieldcase_ffi as fc

from helpers import DAY, OFFICER, PARTNER, T0, UNIT, exemption, new_case, register


def test_a_pledge_and_an_order_each_schedule_their_visit(store):
    party = register(store)
    case = store.create_case(new_case(store, party.id))
    store.grant_exemption(case.id, exemption(T0 + 1000, T0 + 2 * DAY))
    [visit] = store.get_case(case.id).follow_ups
    assert visit.source == fc.FollowUpSource.PLEDGE
    assert (visit.due_ms, visit.scheduled_by, visit.result) == (T0 + 2 * DAY, OFFICER, None)
    assert [d.follow_up_id for d in store.due_follow_ups(UNIT, T0, 2 * DAY)] == [visit.id]
    assert store.due_follow_ups(UNIT, T0, DAY) == []
    [late] = store.overdue_follow_ups(None, T0 + 3 * DAY)
    assert late.follow_up_id == visit.id and late.overdue

    other = store.create_case(new_case(store, None))
    order = store.order_correction(other.id, OFFICER, T0 + 1000, T0 + DAY, ["恢复通行"])
    [ordered] = store.get_case(other.id).follow_ups
    assert ordered.source == fc.FollowUpSource.CORRECTION_ORDER and ordered.due_ms == T0 + DAY
    assert order != ordered.id
    due = store.due_follow_ups(None, T0, 3 * DAY)
    assert [d.follow_up_id for d in due] == [ordered.id, visit.id]  # earliest first

    store.record_follow_up(
        case.id, visit.id, fc.FollowUpInput(at_ms=T0 + DAY, by=PARTNER, corrected=True)
    )
    assert [d.follow_up_id for d in store.due_follow_ups(None, T0, 3 * DAY)] == [ordered.id]
    assert store.get_case(case.id).status == fc.CaseStatus.CORRECTED
