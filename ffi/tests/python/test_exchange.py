"""Phone-to-phone merge through exported change bundles (bytes), without a server."""

import fieldcase_ffi as fc
import pytest
from helpers import DAY, OFFICER, T0, exemption, new_case, persuasion, register


def sync_pair(a, b):
    """Both directions, each exporting only what the other lacks."""
    ra = a.import_changes(b.export_changes(a.heads()))
    rb = b.import_changes(a.export_changes(b.heads()))
    return ra, rb


def test_cases_merge_both_ways_and_converge(open_store):
    a, b = open_store("phone-a"), open_store("phone-b")
    party = register(a)
    case = a.create_case(new_case(a, party.id))

    everything = a.export_changes(None)
    assert isinstance(everything, bytes) and len(everything) > 0
    report = b.import_changes(everything)
    assert sorted(report.changed) == sorted([party.id, case.id]) and report.unchanged == 0
    assert b.get_case(case.id) == a.get_case(case.id)
    assert b.get_party(party.id) == a.get_party(party.id)

    # Concurrent edits on both phones, offline.
    a.add_note(case.id, OFFICER, T0 + 1000, "A: 当事人已联系")
    b.append_action(case.id, persuasion(T0 + 2000))
    ra, rb = sync_pair(a, b)
    assert ra.changed == [case.id] and rb.changed == [case.id]
    merged = a.get_case(case.id)
    assert merged == b.get_case(case.id)
    assert len(merged.notes) == 1 and len(merged.actions) == 2

    # Nothing new: nothing exported, nothing changed.
    assert a.import_changes(b.export_changes(a.heads())).changed == []
    again = b.import_changes(everything)
    assert again.changed == [] and again.unchanged == 2


def test_two_offline_first_offence_exemptions_are_flagged_after_merge(open_store):
    a, b = open_store("phone-a"), open_store("phone-b")
    # The same person registered separately on each phone (same bureau key).
    pa, pb = register(a), register(b)
    assert pa.id != pb.id
    ca = a.create_case(new_case(a, pa.id, at=T0))
    cb = b.create_case(new_case(b, pb.id, at=T0 + DAY))
    a.grant_exemption(ca.id, exemption(T0 + 1000, T0 + DAY))
    b.grant_exemption(cb.id, exemption(T0 + DAY + 1000, T0 + 2 * DAY))
    sync_pair(a, b)

    assert [c.id for c in a.party_history(pa.id)] == [ca.id, cb.id]
    assert a.flag_exemption_conflicts() == [cb.id]
    assert b.flag_exemption_conflicts() == [cb.id]
    sync_pair(a, b)
    for s in (a, b):
        view = s.get_case(cb.id)
        assert view.exemption_conflict and view.conflict_with == [ca.id]
        assert view.exemption.kind == fc.ExemptionKind.FIRST_OFFENCE  # flagged, never flipped
        assert [c.id for c in s.flagged_cases()] == [cb.id]


def test_a_damaged_bundle_changes_nothing(open_store):
    a, b = open_store("phone-a"), open_store("phone-b")
    party = register(a)
    a.create_case(new_case(a, party.id))
    bundle = bytearray(a.export_changes(None))
    # Corrupt one record's bytes inside the JSON bundle (base64 text), keep the JSON valid.
    start = bundle.index(b'"bytes":"') + len(b'"bytes":"') + 20
    bundle[start:start + 8] = b"AAAAAAAA"
    with pytest.raises(fc.FieldcaseError) as err:
        b.import_changes(bytes(bundle))
    assert isinstance(err.value, (fc.FieldcaseError.Malformed, fc.FieldcaseError.InvalidInput))
    assert b.open_cases(None, 10) == []
