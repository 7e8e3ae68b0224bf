"""Texts in the officer's language: Chinese by default, English after `set_language`, each
with a stable code an app can look up or override; enum labels in both languages."""

import asyncio

import fieldcase_ffi as fc
import pytest

from helpers import OFFICER, T0, exemption, new_case, persuasion, register
from test_server_flow import enrolled_phone, server  # noqa: F401  (the real-server fixture)

CJK = range(0x4E00, 0xA000)


def chinese(text):
    return any(ord(c) in CJK for c in text)


@pytest.fixture(autouse=True)
def chinese_by_default():
    """Each test starts in the default language and leaves it so for the others."""
    fc.set_language(fc.Language.ZH_CN)
    yield
    fc.set_language(fc.Language.ZH_CN)


def test_not_eligible_is_chinese_by_default_with_codes(store):
    assert fc.language() == fc.Language.ZH_CN
    party = register(store)
    case = store.create_case(new_case(store, party.id, actions=[]))  # nobody educated the party
    req = exemption(T0, T0 + 1000)
    req.minor = False
    with pytest.raises(fc.FieldcaseError.NotEligible) as err:
        store.grant_exemption(case.id, req)
    e = err.value
    assert e.codes == ["condition.minor.unmet", "condition.educated.unmet"]
    assert len(e.reasons) == len(e.codes)
    assert all(chinese(r) for r in e.reasons)
    assert "违法行为不属于轻微" in e.reasons
    # The text an app would look a code up by is the one it was given.
    assert fc.message(e.codes[0], {}, fc.Language.ZH_CN) == e.reasons[0]


def test_set_language_switches_every_text(store):
    party = register(store)
    case = store.create_case(new_case(store, party.id, actions=[]))
    zh = store.check_exemption(case.id, True, True, True)
    assert all(chinese(c.detail) for c in zh.conditions)

    fc.set_language(fc.Language.EN)
    assert fc.language() == fc.Language.EN
    en = store.check_exemption(case.id, True, True, True)
    assert [c.code for c in en.conditions] == [c.code for c in zh.conditions]
    assert not any(chinese(c.detail) for c in en.conditions if c.code != "item_exemptable")
    educated = next(c for c in en.conditions if c.code == "educated")
    assert educated.detail == "Record guidance, persuasion or a warning first (education is required)"
    req = exemption(T0, T0 + 1000)
    req.minor = False
    with pytest.raises(fc.FieldcaseError.NotEligible) as err:
        store.grant_exemption(case.id, req)
    assert "The violation is not minor" in err.value.reasons
    assert err.value.codes[0] == "condition.minor.unmet"


def test_labels_of_action_methods_in_both_languages():
    for method in fc.ActionMethod:
        value = method.name.lower()
        zh = fc.enum_label("action_method", value, fc.Language.ZH_CN)
        en = fc.enum_label("action_method", value, fc.Language.EN)
        assert zh and chinese(zh), value
        assert en and not chinese(en), value
    assert fc.enum_label("action_method", "persuasion", fc.Language.ZH_CN) == "说服教育"
    assert fc.enum_label("action_method", "no_such_method", fc.Language.ZH_CN) is None
    table = {(l.enum_name, l.value): l.text for l in fc.labels(fc.Language.EN)}
    assert table[("case_status", "pending_review")] == "Awaiting legal review"
    assert all(("case_status", s.name.lower()) in table for s in fc.CaseStatus)


def test_a_wrong_violation_code_has_a_code_and_a_chinese_reason(store):
    party = register(store)
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.create_case(new_case(store, party.id, code="CG-XX-999"))
    assert err.value.field == "violation_code"
    assert err.value.code == "invalid.violation_code"
    assert chinese(err.value.reason)
    assert err.value.reason == fc.message("invalid.violation_code", {}, fc.Language.ZH_CN)

    # A field without words of its own is named by its label.
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        store.create_case(new_case(store, party.id, at=0))
    assert err.value.code == "invalid.field"
    assert "发生时间" in err.value.reason


def test_message_fills_placeholders_and_leaves_missing_ones_visible():
    assert fc.message("error.too_large", {"limit": "10"}, fc.Language.EN) == (
        "The data exceeds the limit of 10 bytes; nothing was merged"
    )
    assert "{limit}" in fc.message("error.too_large", {}, fc.Language.ZH_CN)
    assert fc.message("no.such.code", {}, fc.Language.EN) is None


def test_the_real_server_refusals_are_localized(tmp_path, server):  # noqa: F811
    lone = fc.FieldcaseStore.open(
        str(tmp_path / "lone.db"), fc.StoreOptions(device_id="lone", plain_store_for_tests=True)
    )
    with pytest.raises(fc.FieldcaseError.ServerRefused) as refused:
        asyncio.run(lone.enrol(server.url, "AAAA-BBBB-CCCC", "lone"))
    assert refused.value.code == "invalid_code"
    assert refused.value.explanation == fc.message("server.invalid_code", {}, fc.Language.ZH_CN)
    lone.close_store()

    # Recorded before enrolment in another officer's name: the phone could not know who it
    # was, the server refuses it at sync.
    phone, _, path = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    phone.close_store()
    early = fc.FieldcaseStore.open(
        str(tmp_path / "early.db"), fc.StoreOptions(device_id="early", db_key=bytes([0x42] * 32))
    )
    forged = new_case(early, None, actions=[persuasion(T0)])
    forged.recorded_by = "OF-1003"
    case = early.create_case(forged)
    enrolment = asyncio.run(early.enrol(server.url, server.code_for("OF-1002"), "early"))
    early.close_store()
    early = fc.FieldcaseStore.open(
        str(tmp_path / "early.db"),
        fc.StoreOptions(device_id=enrolment.device_id, db_key=bytes([0x42] * 32)),
    )
    report = asyncio.run(early.sync(None, None))
    rejected = [r for r in report.rejections if r.record_id == case.id]
    assert rejected, report
    r = rejected[0]
    assert r.code
    assert r.reason == fc.message(f"refused.{r.code}", {}, fc.Language.ZH_CN)

    fc.set_language(fc.Language.EN)
    again = asyncio.run(early.sync(None, None))
    for r in again.rejections:
        assert not chinese(r.reason)
    early.close_store()
