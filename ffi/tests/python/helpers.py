"""Builders of inputs shared by the binding tests."""

import fieldcase_ffi as fc

T0 = 1_790_000_000_000  # 2026-09-21, UTC+8 afternoon
DAY = 86_400_000
UNIT = "luan/jinan/squad-1"
OFFICER = "OF-1001"
PARTNER = "OF-1002"
ID_NUMBER = "34150219900101128X"
NAME = "张三丰"
PHONE = "13812345678"


def place():
    return fc.Place(lat=31.7349, lon=116.5079, accuracy_m=8.0, address="六安市金安区梅山中路")


def text(name, value):
    return fc.ActionField(name=name, value=fc.FieldValue.TEXT(value=value))


def integer(name, value):
    return fc.ActionField(name=name, value=fc.FieldValue.INTEGER(value=value))


def persuasion(at):
    return fc.NewAction(
        method=fc.ActionMethod.PERSUASION,
        at_ms=at,
        by=OFFICER,
        fields=[text("explained", "占道经营影响通行"), text("outcome", "accepted")],
    )


def warning(at, deadline):
    return fc.NewAction(
        method=fc.ActionMethod.WARNING,
        at_ms=at,
        by=OFFICER,
        fields=[text("warning_text", "限期整改, 逾期依法处理"), integer("deadline", deadline)],
        note="当场告诫",
    )


def register(store, id_number=ID_NUMBER, name=NAME):
    return store.register_party(
        fc.NewParty(
            party_type=fc.PartyType.PERSON,
            unit=UNIT,
            by=OFFICER,
            name=name,
            id_number=id_number,
            phone=PHONE,
        )
    )


def exemptable(store):
    """The first catalogue item (and tier) that allows a first-offence exemption of a person."""
    for item in store.violation_items():
        if (
            fc.ExemptionKind.FIRST_OFFENCE in item.exemption_kinds
            and fc.PartyType.PERSON in item.applies_to
            and item.exempt_tiers
        ):
            return item, item.exempt_tiers[0]
    raise AssertionError("no exemptable item in the catalogue")


def new_case(store, party_id, at=T0, actions=None, code=None):
    item, tier = exemptable(store)
    return fc.NewCase(
        unit=UNIT,
        occurred_at_ms=at,
        place=place(),
        officers=[OFFICER, PARTNER],
        recorded_by=OFFICER,
        violation_code=code or item.code,
        tier=tier,
        party_id=party_id,
        description="店外摆放货架",
        actions=[persuasion(at)] if actions is None else actions,
    )


def exemption(at, deadline):
    return fc.ExemptionRequest(
        by=OFFICER,
        at_ms=at,
        minor=True,
        no_harm=True,
        pledge=fc.PledgeInput(text="本人承诺当日内整改", signed_at_ms=at, deadline_ms=deadline),
    )
