"""Errors arrive as exceptions of the right class with usable fields, change nothing, and
carry no personal data."""

import fieldcase_ffi as fc
import pytest
from helpers import ID_NUMBER, NAME, OFFICER, PHONE, T0, UNIT, exemption, new_case, register, text


def test_unknown_violation_code_is_invalid_input_on_that_field(store):
    party = register(store)
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.create_case(new_case(store, party.id, code="CG-XX-999"))
    assert err.value.field == "violation_code"
    assert err.value.reason
    assert isinstance(err.value, fc.FieldcaseError)
    assert store.open_cases(None, 10) == []


def test_field_problems_name_the_field(store):
    party = register(store)
    bad_outcome = fc.NewAction(
        method=fc.ActionMethod.PERSUASION, at_ms=T0, by=OFFICER,
        fields=[text("explained", "x"), text("outcome", "maybe")],
    )
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.create_case(new_case(store, party.id, actions=[bad_outcome]))
    assert err.value.field == "persuasion.outcome"
    assert err.value.code == "invalid.field" and err.value.reason

    twice = fc.NewAction(
        method=fc.ActionMethod.PERSUASION, at_ms=T0, by=OFFICER,
        fields=[text("explained", "x"), text("explained", "y")],
    )
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.create_case(new_case(store, party.id, actions=[twice]))
    assert err.value.field == "fields.explained"

    bad_place = new_case(store, party.id)
    bad_place.place = fc.Place(lat=123.0, lon=500.0)
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.create_case(bad_place)
    assert err.value.field == "place"

    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.create_case(new_case(store, party.id, at=0))
    assert err.value.field == "occurred_at_ms"
    assert store.open_cases(None, 10) == []


def test_not_found_names_kind_and_id(store):
    missing = "01900000-0000-7000-8000-000000000000"
    with pytest.raises(fc.FieldcaseError.NotFound) as err:
        store.get_case(missing)
    assert (err.value.kind, err.value.id) == ("case", missing)
    with pytest.raises(fc.FieldcaseError.NotFound) as err:
        store.get_party(missing)
    assert err.value.kind == "party"
    party = register(store)
    with pytest.raises(fc.FieldcaseError.NotFound):
        store.create_case(new_case(store, missing))
    case = store.create_case(new_case(store, party.id))
    with pytest.raises(fc.FieldcaseError.NotFound) as err:
        store.record_follow_up(case.id, missing, fc.FollowUpInput(at_ms=T0, by=OFFICER, corrected=True))
    assert err.value.kind == "follow-up"


def test_not_eligible_lists_every_unmet_condition(store):
    party = register(store)
    case = store.create_case(new_case(store, party.id, actions=[]))  # nobody educated the party
    req = exemption(T0, T0 + 1000)
    req.minor = False
    with pytest.raises(fc.FieldcaseError.NotEligible) as err:
        store.grant_exemption(case.id, req)
    assert len(err.value.reasons) == 2
    assert err.value.codes == ["condition.minor.unmet", "condition.educated.unmet"]
    assert store.get_case(case.id).exemption is None


def test_bad_key_bundle_and_heads_are_refused(tmp_path, store):
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        fc.FieldcaseStore.open(
            str(tmp_path / "x.db"),
            fc.StoreOptions(
                device_id="phone-x", party_match_key=b"short", plain_store_for_tests=True
            ),
        )
    assert err.value.field == "party_match_key"
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.import_changes(b"not a bundle")
    assert err.value.field == "bundle"
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.export_changes(b"\xff")
    assert err.value.field == "their_heads"


def test_error_text_never_holds_personal_data(store):
    party = register(store)
    with pytest.raises(fc.FieldcaseError.InvalidIdentity) as err:
        store.register_party(
            fc.NewParty(party_type=fc.PartyType.PERSON, unit=UNIT, by=OFFICER, name=NAME,
                        id_number=ID_NUMBER, phone="not-a-phone-" + PHONE)
        )
    assert err.value.field == "phone"
    assert err.value.code == "phone.characters"
    case = store.create_case(new_case(store, party.id))
    with pytest.raises(fc.FieldcaseError) as err2:
        store.grant_exemption(case.id, exemption(T0, T0 - 1))
    for e in (err.value, err2.value):
        for secret in (NAME, ID_NUMBER, PHONE):
            assert secret not in str(e) and secret not in repr(e)
