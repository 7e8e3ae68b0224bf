"""Enrolment as an app does it, from a first launch: the store opened before enrolment with
no device id of the app's own, the platform signer set, records and evidence made before
enrolment, the QR code read and enrolled without reopening, and a sync the server accepts
whole. Later launches keep the enrolled id whatever the app passes."""

import asyncio
import uuid

import fieldcase_ffi as fc

from conftest import DB_KEY
from helpers import OFFICER, T0, UNIT, new_case, persuasion
from test_evidence import PySigner, capture, make_jpeg
from test_server_flow import enrolled_phone, server  # noqa: F401 - the fixture


def test_first_launch_records_before_enrolment_and_the_server_accepts_them(tmp_path, server):  # noqa: F811
    path = str(tmp_path / "phone.db")
    # 1. First launch: the key from the keystore, open, the platform signer.
    store = fc.FieldcaseStore.open(path, fc.StoreOptions(db_key=DB_KEY))
    signer = PySigner()
    store.set_signer(signer)
    local_id = store.device_id()
    assert str(uuid.UUID(local_id)) == local_id  # the store's own, canonical UUID

    # 2. Work before enrolment: a case with a persuasion, a note and a photo.
    case = store.create_case(new_case(store, None, actions=[persuasion(T0)]))
    store.add_note(case.id, OFFICER, T0 + 500, "当事人已当场收摊")
    jpg = tmp_path / "scene.jpg"
    make_jpeg(jpg, 640, 480)
    photo = store.add_photo(case.id, str(jpg), capture(T0 + 1000))
    assert store.locked_since_ms() is None

    # 3. Scan the operator's QR code and enrol: no reopen, the id stays the store's.
    issued = server.admin(
        "create-code", "--user", OFFICER, "--server-url", server.url, "--qr", str(tmp_path / "code.png")
    )
    link = fc.parse_enrolment_link(issued["qr_text"])
    enrolment = asyncio.run(store.enrol(link.server_url, link.code, "squad-1 phone", link.options))
    assert (enrolment.user_id, enrolment.role, enrolment.unit) == (OFFICER, "officer", UNIT)
    assert enrolment.device_id == local_id == store.device_id()
    assert store.device_public_key() == signer.public_key()

    # 4. The first sync sends what was made before enrolment, and the server takes it all.
    report = asyncio.run(store.sync(None, None))
    assert report.complete and report.rejections == [], report.rejections
    assert report.accepted >= 1 and report.blobs_uploaded >= 1 and report.blobs_pending == 0
    store.close_store()

    # 5. Every later launch: open with the same key (an id passed by mistake is ignored).
    again = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="something-else", db_key=DB_KEY))
    again.set_signer(signer)
    assert again.device_id() == enrolment.device_id
    again.add_note(case.id, OFFICER, T0 + 2000, "复查")
    report = asyncio.run(again.sync(None, None))
    assert report.rejections == [] and report.accepted >= 1

    # A colleague's phone receives the case and, with its evidence fetched, verifies it.
    other, _, _ = enrolled_phone(tmp_path, server, "OF-1003", "phone-b")
    asyncio.run(other.sync(None, None))
    assert other.get_case(case.id).evidence_count == 1
    asyncio.run(other.fetch_case_evidence(case.id, None, None))
    assert other.verify_case(case.id).clean
    assert photo.sha256 in {e.sha256 for e in other.evidence(case.id)}
    again.close_store()
    other.close_store()


def test_a_second_enrolment_with_a_taken_id_gets_another_and_the_store_adopts_it(tmp_path, server):  # noqa: F811
    a, first, path_a = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    # A copy of an enrolled phone's store (a restored backup) enrolling again: the server
    # never gives one id to two devices; the store takes the new one for what it writes next.
    b = fc.FieldcaseStore.open(str(tmp_path / "copy.db"), fc.StoreOptions(device_id=first.device_id, db_key=DB_KEY))
    second = asyncio.run(b.enrol(server.url, server.code_for(OFFICER), "copy"))
    assert second.device_id != first.device_id
    assert b.device_id() == second.device_id
    case = b.create_case(new_case(b, None, actions=[persuasion(T0)]))
    assert case.created_on_device == second.device_id
    report = asyncio.run(b.sync(None, None))
    assert report.rejections == [] and report.accepted >= 1
    a.close_store()
    b.close_store()
