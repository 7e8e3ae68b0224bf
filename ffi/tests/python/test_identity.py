"""Identity numbers and phones across the binding: the typed error with its field, problem and
code, the form checks an app runs as the officer types, and the override for a holder of a
non-mainland document."""

import fieldcase_ffi as fc
import pytest
from helpers import ID_NUMBER, NAME, OFFICER, PHONE, UNIT


def party(id_number=ID_NUMBER, phone=None, party_type=fc.PartyType.PERSON, document=None):
    return fc.NewParty(
        party_type=party_type,
        unit=UNIT,
        by=OFFICER,
        name=NAME,
        id_number=id_number,
        phone=phone,
        id_document=document,
    )


def typo(number):
    return number[:-1] + ("2" if number.endswith("1") else "1")


def test_a_mistyped_number_is_refused_with_its_field_problem_and_code(store):
    with pytest.raises(fc.FieldcaseError.InvalidIdentity) as err:
        store.register_party(party(typo(ID_NUMBER)))
    e = err.value
    assert (e.field, e.problem, e.code) == (
        "id_number",
        fc.IdentityProblem.CHECK_CHARACTER,
        "id_number.check_character",
    )
    assert isinstance(e, fc.FieldcaseError)
    assert typo(ID_NUMBER) not in str(e) and typo(ID_NUMBER) not in repr(e)
    assert store.find_party_by_id_number(typo(ID_NUMBER)) is None


@pytest.mark.parametrize(
    "number,code",
    [
        (ID_NUMBER[:17], "id_number.length"),
        ("341502199002300017", "id_number.birth_date"),
        ("991502199001011285", "id_number.region"),
        ("3415021990010112AX", "id_number.characters"),
        ("341502900101128", "id_number.first_generation"),
    ],
)
def test_each_problem_of_an_identity_number(store, number, code):
    with pytest.raises(fc.FieldcaseError.InvalidIdentity) as err:
        store.register_party(party(number))
    assert err.value.code == code
    assert fc.validate_id_number(number, fc.IdDocument.MAINLAND_ID).code == code


def test_a_bad_phone_names_the_phone(store):
    with pytest.raises(fc.FieldcaseError.InvalidIdentity) as err:
        store.register_party(party(phone="12812345678"))
    assert (err.value.field, err.value.problem) == ("phone", fc.IdentityProblem.MOBILE_PREFIX)


def test_the_form_checks_agree_with_registration(store):
    assert fc.validate_id_number(ID_NUMBER.lower(), fc.IdDocument.MAINLAND_ID) is None
    assert fc.validate_phone("+86 138-1234-5678", fc.IdDocument.MAINLAND_ID) is None
    assert fc.validate_phone("0564-3331234转8", fc.IdDocument.MAINLAND_ID) is None
    issue = fc.validate_phone("3331234", fc.IdDocument.MAINLAND_ID)
    assert (issue.field, issue.problem, issue.code) == (
        "phone",
        fc.IdentityProblem.AREA_CODE,
        "phone.area_code",
    )
    assert fc.default_id_document(fc.PartyType.PERSON) == fc.IdDocument.MAINLAND_ID
    assert fc.default_id_document(fc.PartyType.UNIT) == fc.IdDocument.CREDIT_CODE
    p = store.register_party(party(ID_NUMBER.lower(), phone="+86 138 1234 5678"))
    assert store.party_details(p.id).id_number == ID_NUMBER
    assert store.party_details(p.id).phone == PHONE


def test_a_unit_is_registered_by_its_credit_code(store):
    code = "91341502MA2N00017"
    check = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [pow(3, i, 31) for i in range(17)]
    value = (31 - sum(check.index(c) * w for c, w in zip(code, weights)) % 31) % 31
    valid = code + check[value]
    unit = store.register_party(party(valid, "400-812-3123", fc.PartyType.UNIT))
    assert unit.masked_phone == "400***3123"
    with pytest.raises(fc.FieldcaseError.InvalidIdentity) as err:
        store.register_party(party(ID_NUMBER, None, fc.PartyType.UNIT))
    assert err.value.code.startswith("credit_code.")


def test_the_override_registers_a_passport_with_a_foreign_phone(store):
    with pytest.raises(fc.FieldcaseError.InvalidIdentity) as err:
        store.register_party(party("E12345678", "+44 20 7946 0958"))
    assert err.value.code == "id_number.characters"
    p = store.register_party(
        party("E12345678", "+44 20 7946 0958", document=fc.IdDocument.PASSPORT)
    )
    assert p.masked_phone == "+44******0958"
    assert store.party_details(p.id).phone == "+442079460958"
    # A passport number never matches an identity number of the same characters.
    assert store.find_party_by_id_number("E12345678") is None
    again = store.register_party(party("e1234567 8", document=fc.IdDocument.PASSPORT))
    assert again.id == p.id
