"""The officer flow against a real `fieldcase-server` on loopback, through the bindings:
enrol, record offline (warning, pledge, photo), sync with progress, a second officer's phone
sees the case and verifies the first phone's signature, a volunteer's phone never receives the
party, cancellation, errors as exceptions, and a revoked phone wiping itself."""

import asyncio
import hashlib
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import fieldcase_ffi as fc
import pytest

from conftest import BUREAU_KEY, DB_KEY, GENERATED
from helpers import (
    DAY, ID_NUMBER, NAME, OFFICER, PARTNER, PHONE, T0, UNIT, exemption, new_case, persuasion, register,
    warning,
)
from test_evidence import capture, make_jpeg, sha256_file


def server_bin():
    with open(os.path.join(GENERATED, "TARGET_DIR")) as f:
        path = os.path.join(f.read().strip(), "fieldcase-server")
    if not os.path.exists(path):
        raise pytest.UsageError(f"server binary missing: {path} (run ffi/generate-bindings.sh)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "fixtures")
TLS_CERT = os.path.join(FIXTURES, "test-cert.pem")
TLS_KEY = os.path.join(FIXTURES, "test-key.pem")


class Server:
    def __init__(self, data, tls=False):
        self.data = str(data)
        self.bin = server_bin()
        self.proc = None
        self.url = None
        self.tls = tls

    def admin(self, *args):
        out = subprocess.run(
            [self.bin, "admin", "--data", self.data, "--json", *args],
            capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if k != "FIELDCASE_DATABASE_URL"},
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    def code_for(self, user):
        return self.admin("create-code", "--user", user)["code"]

    def start(self):
        port = free_port()
        tls = ["--tls-cert", TLS_CERT, "--tls-key", TLS_KEY] if self.tls else []
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--data", self.data, "--listen", f"127.0.0.1:{port}", *tls],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        context = ssl.create_default_context(cafile=TLS_CERT) if self.tls else None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1, context=context) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def tls_pins(self, cert):
        out = subprocess.run(
            [self.bin, "tls-pin", "--json", "--cert", cert],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def make_server(tmp_path, tls=False):
    s = Server(tmp_path / "server", tls=tls)
    s.admin("create-unit", "--path", "luan", "--name", "六安市")
    s.admin("create-unit", "--path", "luan/jinan", "--name", "金安区")
    s.admin("create-unit", "--path", UNIT, "--name", "一中队")
    for uid, role in [(OFFICER, "officer"), (PARTNER, "officer"), ("OF-1003", "officer"), ("VOL-1", "volunteer")]:
        cert = ["--cert-no", f"皖城执{uid}"] if role == "officer" else []
        s.admin("create-user", "--id", uid, "--name", uid, "--role", role, "--unit", UNIT, *cert)
    s.start()
    return s


@pytest.fixture
def server(tmp_path):
    s = make_server(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def tls_server(tmp_path):
    s = make_server(tmp_path, tls=True)
    yield s
    s.stop()


def enrolled_phone(tmp_path, server, user, name):
    """Opens a store, enrols it, and reopens it under the device id the server gave."""
    path = str(tmp_path / f"{name}.db")
    fresh = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id=name, db_key=DB_KEY))
    enrolment = asyncio.run(fresh.enrol(server.url, server.code_for(user), name))
    fresh.close_store()
    assert enrolment.unit == UNIT
    store = fc.FieldcaseStore.open(
        path, fc.StoreOptions(device_id=enrolment.device_id, db_key=DB_KEY)
    )
    return store, enrolment, path


class Progress(fc.SyncProgressListener):
    def __init__(self):
        self.events = []
        self.threads = set()

    def on_progress(self, progress):
        self.events.append(progress)
        self.threads.add(threading.get_ident())


def test_officer_flow_reaches_a_second_phone_and_never_a_volunteer(tmp_path, server):
    a, enrol_a, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    assert enrol_a.role == "officer"

    # Offline: a party, a case with a warning, a first-offence exemption with a pledge, and
    # a photo of the scene.
    party = register(a)
    case = a.create_case(new_case(a, party.id, actions=[persuasion(T0)]))
    a.append_action(case.id, warning(T0 + 1000, T0 + DAY))
    check = a.check_exemption(case.id, True, True, True)
    assert check.eligible, check.reasons
    a.grant_exemption(case.id, exemption(T0 + 1500, T0 + 3 * DAY))
    jpg = tmp_path / "scene.jpg"
    make_jpeg(jpg, 800, 600)
    photo = a.add_photo(case.id, str(jpg), capture(T0 + 2000))

    progress = Progress()
    report = asyncio.run(a.sync(progress, fc.SyncCancel()))
    assert report.complete
    assert report.accepted >= 2 and report.rejections == []
    assert report.blobs_uploaded >= 1 and report.blobs_pending == 0
    # Phone and server share the built-in catalogue: nothing to receive, nothing refused.
    assert report.catalogue_received is None and report.catalogue_refused is None
    phases = [p.phase for p in progress.events]
    assert phases[0] == fc.SyncPhase.RECORDS and phases[-1] == fc.SyncPhase.DONE
    assert fc.SyncPhase.BLOBS in phases
    assert progress.events[-1].blobs_done == progress.events[-1].blobs_total
    assert threading.get_ident() not in progress.threads  # called from a Rust worker

    b, _, _ = enrolled_phone(tmp_path, server, "OF-1003", "phone-b")
    got = asyncio.run(b.sync(None, None))
    assert got.received >= 2
    seen = b.get_case(case.id)
    assert [x.method for x in seen.actions][:2] == [
        fc.ActionMethod.PERSUASION, fc.ActionMethod.WARNING,
    ]
    assert seen.exemption is not None
    assert seen.evidence_count == 1
    assert b.get_party(party.id).masked_name == party.masked_name
    # Both officers hold the bureau's personal-data key from enrolment: B reads what A sealed.
    details = b.party_details(party.id)
    assert (details.name, details.id_number, details.phone) == (NAME, ID_NUMBER, PHONE)
    # B learned A's key: A's signature on the photo verifies (B does not hold the file).
    issues = b.verify_case(case.id).issues
    assert all(i.kind == "blob_missing" for i in issues), issues
    # The thumbnail came with the sync; the original and display copy on demand.
    assert b.read_evidence_file(photo.thumbnail_sha256) is not None
    for sha in (photo.sha256, photo.display_sha256):
        size = asyncio.run(b.download_evidence_file(sha))
        content = b.read_evidence_file(sha)
        assert len(content) == size
        assert hashlib.sha256(content).hexdigest() == sha
    assert b.verify_case(case.id).clean

    v, enrol_v, _ = enrolled_phone(tmp_path, server, "VOL-1", "phone-v")
    assert enrol_v.role == "volunteer"
    asyncio.run(v.sync(None, None))
    with pytest.raises(fc.FieldcaseError.NotFound):
        v.get_party(party.id)
    with pytest.raises(fc.FieldcaseError.NotFound):
        v.get_case(case.id)
    for s in (a, b, v):
        s.close_store()


def test_sync_errors_arrive_as_exceptions_and_cancel_loses_nothing(tmp_path, server):
    lone = fc.FieldcaseStore.open(str(tmp_path / "lone.db"), fc.StoreOptions(device_id="lone", plain_store_for_tests=True))
    with pytest.raises(fc.FieldcaseError.NotEnrolled):
        asyncio.run(lone.sync(None, None))
    with pytest.raises(fc.FieldcaseError.ServerRefused) as refused:
        asyncio.run(lone.enrol(server.url, "AAAA-BBBB-CCCC", "lone"))
    assert refused.value.status == 403
    with pytest.raises(fc.FieldcaseError.Network):
        asyncio.run(lone.enrol(f"http://127.0.0.1:{free_port()}", "AAAA-BBBB-CCCC", "lone"))
    with pytest.raises(fc.FieldcaseError.InvalidInput):
        asyncio.run(lone.enrol("http://192.0.2.1", "AAAA-BBBB-CCCC", "lone"))
    lone.close_store()

    a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    case = a.create_case(new_case(a, None, actions=[persuasion(T0)]))
    cancel = fc.SyncCancel()
    cancel.cancel()
    with pytest.raises(fc.FieldcaseError.Cancelled):
        asyncio.run(a.sync(None, cancel))
    report = asyncio.run(a.sync(None, None))
    assert report.complete and report.accepted >= 1
    assert a.get_case(case.id).id == case.id
    a.close_store()


def test_concurrent_syncs_and_writes_from_threads_are_safe(tmp_path, server):
    a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    errors = []

    def writer(k):
        try:
            for i in range(5):
                a.create_case(new_case(a, None, at=T0 + k * 100 + i, actions=[persuasion(T0)]))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    def syncer():
        try:
            for _ in range(3):
                asyncio.run(a.sync(None, None))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    threads += [threading.Thread(target=syncer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    final = asyncio.run(a.sync(None, None))
    assert final.complete
    b, _, _ = enrolled_phone(tmp_path, server, "OF-1003", "phone-b")
    asyncio.run(b.sync(None, None))
    assert len(b.open_cases(UNIT, 100)) == 15
    a.close_store()
    b.close_store()


def test_a_revoked_phone_is_refused_and_wipes_itself(tmp_path, server):
    a, enrolment, path = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    a.create_case(new_case(a, None, actions=[persuasion(T0)]))
    asyncio.run(a.sync(None, None))
    server.admin("revoke-device", "--id", enrolment.device_id)
    with pytest.raises(fc.FieldcaseError.Unauthorized) as refused:
        asyncio.run(a.sync(None, None))
    assert refused.value.wiped
    assert not refused.value.kept_unsynced
    assert not os.path.exists(path)
    with pytest.raises(fc.FieldcaseError.StoreClosed):
        a.open_cases(None, 10)


def test_a_pinned_enrolment_is_kept_for_every_sync_and_a_wrong_pin_enrols_nothing(
    tmp_path, tls_server
):
    with open(TLS_CERT) as f:
        ca_pem = f.read()
    [pin] = tls_server.tls_pins(TLS_CERT)
    assert pin.startswith("sha256/")
    path = str(tmp_path / "pinned.db")
    fresh = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="pinned", db_key=DB_KEY))

    # A key the server does not hold: refused as a pin mismatch, and the phone stays unenrolled.
    other = "sha256/" + "A" * 43 + "="
    with pytest.raises(fc.FieldcaseError.CertificatePinMismatch):
        asyncio.run(fresh.enrol(
            tls_server.url, tls_server.code_for(OFFICER), "pinned",
            fc.EnrolOptions(pins=[other], extra_roots_pem=ca_pem),
        ))
    with pytest.raises(fc.FieldcaseError.NotEnrolled):
        asyncio.run(fresh.sync(None, None))
    # A malformed pin never reaches the network.
    with pytest.raises(fc.FieldcaseError.InvalidInput) as bad:
        asyncio.run(fresh.enrol(
            tls_server.url, "AAAA-BBBB-CCCC", "pinned", fc.EnrolOptions(pins=["sha256/short"])
        ))
    assert bad.value.field == "pin"

    # The operator puts the pins into the QR code; the app reads it and adds the bureau CA.
    issued = tls_server.admin(
        "create-code", "--user", OFFICER, "--server-url", tls_server.url,
        "--pin", other, "--pin", pin, "--qr", str(tmp_path / "qr.png"),
    )
    link = fc.parse_enrolment_link(issued["qr_text"])
    assert link.server_url == tls_server.url and link.code == issued["code"]
    assert link.options.pins == [other, pin]
    with pytest.raises(fc.FieldcaseError.InvalidInput):
        fc.parse_enrolment_link(issued["qr_text"] + "#sha256/damaged")
    link.options.extra_roots_pem = ca_pem
    enrolment = asyncio.run(fresh.enrol(link.server_url, link.code, "pinned", link.options))
    fresh.close_store()
    store = fc.FieldcaseStore.open(
        path, fc.StoreOptions(device_id=enrolment.device_id, db_key=DB_KEY)
    )
    # No options here: the sync uses the pins and the extra root stored at enrolment.
    register(store)
    report = asyncio.run(store.sync(None, None))
    assert report.complete and report.accepted == 1
    store.close_store()


def blob_file(db_path, sha):
    """Where a store keeps (sealed) the evidence file of `sha`: `<db>.blobs/sha256/xx/sha`."""
    return os.path.join(db_path + ".blobs", "sha256", sha[:2], sha)


def test_a_synced_only_revocation_keeps_unsynced_work_open_for_handover(tmp_path, server):
    a, enrolment, path = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    synced = a.create_case(new_case(a, None, actions=[persuasion(T0)]))
    jpg = tmp_path / "synced.jpg"
    make_jpeg(jpg, 320, 240)
    synced_photo = a.add_photo(synced.id, str(jpg), capture())
    assert asyncio.run(a.sync(None, None)).complete
    synced_file = blob_file(path, synced_photo.sha256)
    assert os.path.exists(synced_file)
    kept = a.create_case(new_case(a, None, at=T0 + 60_000, actions=[persuasion(T0 + 60_000)]))
    jpg2 = tmp_path / "kept.jpg"
    make_jpeg(jpg2, 320, 200)
    kept_photo = a.add_photo(kept.id, str(jpg2), capture())
    kept_file = blob_file(path, kept_photo.sha256)
    assert os.path.exists(kept_file)

    server.admin("revoke", enrolment.device_id, "--wipe", "synced-only")
    with pytest.raises(fc.FieldcaseError.Unauthorized) as refused:
        asyncio.run(a.sync(None, None))
    assert refused.value.wiped and refused.value.kept_unsynced
    assert refused.value.records_kept == 1
    # The store stays open with only the unsynced work, files included.
    assert os.path.exists(path)
    assert [c.id for c in a.open_cases(None, 10)] == [kept.id]
    assert not os.path.exists(synced_file)
    assert os.path.exists(kept_file)
    # The revoked credential is gone; the kept work can be handed over by export.
    with pytest.raises(fc.FieldcaseError.NotEnrolled):
        asyncio.run(a.sync(None, None))
    b, _, _ = enrolled_phone(tmp_path, server, "OF-1003", "phone-b")
    b.import_changes(a.export_changes(b.heads()))
    assert b.get_case(kept.id).id == kept.id
    a.close_store()
    b.close_store()


def test_an_enrolled_phone_refuses_what_the_server_would(tmp_path, server):
    """The phone applies the server's rules before writing: a case recorded in another
    officer's name is refused with a stable code, and nothing is written."""
    a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    party = register(a)
    forged = new_case(a, party.id)
    forged.recorded_by = "OF-1003"
    with pytest.raises(fc.FieldcaseError.Refused) as e:
        a.create_case(forged)
    assert e.value.code == "forged_author"
    a.close_store()


def test_documents_are_numbered_offline_rendered_and_refused_without_a_block(tmp_path, server):
    a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-docs")
    party = register(a)
    case = a.create_case(new_case(a, party.id, actions=[persuasion(T0)]))
    a.grant_exemption(case.id, exemption(T0 + 1500, T0 + 3 * DAY))
    # Before the first sync the phone holds no numbers: a numbered document is refused.
    with pytest.raises(fc.FieldcaseError.NotAllowed) as e:
        a.issue_document(case.id, fc.DocumentInput(kind=fc.DocumentKind.PLEDGE_NOTICE, by=OFFICER, inputs={}))
    assert "承" in str(e.value)
    asyncio.run(a.sync(None, None))
    blocks = a.number_blocks()
    assert {b.series for b in blocks} >= {"承", "不罚", "罚"}
    assert all(b.free == b.last - b.first + 1 for b in blocks)
    doc = a.issue_document(
        case.id, fc.DocumentInput(kind=fc.DocumentKind.NO_PENALTY_DECISION, by=OFFICER, inputs={})
    )
    assert doc.number.startswith("六城管不罚〔") and doc.number.endswith("号")
    assert doc.qr_payload == f"fieldcase:doc?case={case.id}&doc={doc.id}&sha256={doc.sha256}"
    assert [d.id for d in a.documents(case.id)] == [doc.id]
    pdf = a.render_document(case.id, doc.id, fc.Paper.ROLL58)
    assert pdf[:5] == b"%PDF-"
    # A receipt names what it served and asks how; an unknown input is refused.
    with pytest.raises(fc.FieldcaseError.InvalidInput):
        a.issue_document(case.id, fc.DocumentInput(
            kind=fc.DocumentKind.SERVICE_RECEIPT, by=OFFICER, serves=doc.id, inputs={"colour": "红"}))
    receipt = a.issue_document(case.id, fc.DocumentInput(
        kind=fc.DocumentKind.SERVICE_RECEIPT, by=OFFICER, serves=doc.id, inputs={"service_method": "直接送达"}))
    assert receipt.number is None
    report = asyncio.run(a.sync(None, None))
    assert report.rejections == []
    file = a.render_case_file(case.id)
    assert file[:5] == b"%PDF-" and len(file) > len(pdf)
