"""The volunteer's persuasion demonstration: no party, no personal data."""

import fieldcase_ffi as fc
import pytest
from helpers import T0, place

VOLUNTEER_UNIT = "luan/jinan/volunteers"


def demonstration(**overrides):
    d = dict(
        unit=VOLUNTEER_UNIT,
        team="梅山路志愿服务队",
        participants=["VOL-0007", "VOL-0008", "OF-1001"],
        place=place(),
        started_at_ms=T0,
        ended_at_ms=T0 + 2 * 3_600_000,
        topic="门前三包",
        people_persuaded=23,
        by="VOL-0007",
        note="发放宣传单",
    )
    d.update(overrides)
    return fc.NewDemonstration(**d)


def test_volunteer_records_a_demonstration(store):
    d = store.record_demonstration(demonstration())
    assert d.people_persuaded == 23 and d.team == "梅山路志愿服务队"
    assert d.participants == ["VOL-0007", "VOL-0008", "OF-1001"]
    assert d.created_by == "VOL-0007" and d.evidence_count == 0
    assert store.get_demonstration(d.id) == d
    # A demonstration is not a case.
    assert store.open_cases(None, 10) == []
    with pytest.raises(fc.FieldcaseError.NotFound) as err:
        store.get_case(d.id)
    assert err.value.kind == "case"


def test_demonstration_input_is_checked(store):
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.record_demonstration(demonstration(ended_at_ms=T0 - 1))
    assert err.value.field == "ended_at_ms"
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.record_demonstration(demonstration(people_persuaded=-1))
    assert err.value.field == "people_persuaded"
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.record_demonstration(demonstration(unit="Luan Jinan"))
    assert err.value.field == "unit"


def test_demonstration_travels_to_another_phone(open_store):
    a, b = open_store("vol-a"), open_store("vol-b")
    d = a.record_demonstration(demonstration())
    report = b.import_changes(a.export_changes(b.heads()))
    assert report.changed == [d.id]
    assert b.get_demonstration(d.id) == d
