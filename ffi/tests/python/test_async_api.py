"""What an app needs beyond the officer's flow, through the bindings: the `*_async` forms
(the event loop keeps running while the library ingests, exports, verifies and renders; a
cancelled call leaves nothing half-written), the change listener (origins, batches, a
listener that calls back into the store or throws), log forwarding at a level, and
`SyncReport.server_restored`."""

import asyncio
import hashlib
import os
import threading
import time

import fieldcase_ffi as fc
import pytest

from conftest import DB_KEY
from helpers import ID_NUMBER, NAME, OFFICER, PHONE, T0, new_case, persuasion, register
from test_demonstration import demonstration
from test_evidence import capture, make_jpeg, make_wav, sha256_file
from test_server_flow import enrolled_phone, server  # noqa: F401  (fixture)


def wait_for(cond, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def temp_files(db_path):
    tmp = f"{db_path}.blobs/tmp"
    return sorted(os.listdir(tmp)) if os.path.isdir(tmp) else []


def test_async_ingests_run_off_the_event_loop(store, tmp_path):
    case = store.create_case(new_case(store, None, actions=[persuasion(T0)]))
    photos = []
    for i in range(4):
        p = tmp_path / f"scene-{i}.jpg"
        make_jpeg(p, 2400 + 16 * i, 1800)
        photos.append(p)
    wav = tmp_path / "talk.wav"
    make_wav(wav, seconds=20.0)

    async def main():
        done = asyncio.Event()
        ticks = []

        async def ticker():
            # A cheap call between awaits, as a screen refresh would make.
            while not done.is_set():
                store.get_case(case.id)
                ticks.append(time.monotonic())
                await asyncio.sleep(0.005)

        async def ingest_all():
            try:
                return await asyncio.gather(
                    *[store.add_photo_async(case.id, str(p), capture(T0 + i)) for i, p in enumerate(photos)],
                    store.add_audio_async(case.id, str(wav), capture(T0 + 9), None),
                )
            finally:
                done.set()

        started = time.monotonic()
        views, _ = await asyncio.gather(ingest_all(), ticker())
        return views, ticks, time.monotonic() - started

    views, ticks, took = asyncio.run(main())
    assert [v.kind for v in views] == [fc.EvidenceKind.PHOTO] * 4 + [fc.EvidenceKind.AUDIO]
    assert len({v.sha256 for v in views}) == 5
    assert [v.sha256 for v in views[:4]] == [sha256_file(p) for p in photos]
    assert len(store.evidence(case.id)) == 5
    # The loop kept turning for the whole ingest: many ticks, and no long stall between two.
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) >= 20, (len(ticks), took)
    assert max(gaps) < 1.0, (max(gaps), took)


def test_async_reads_exports_verification_and_rendering_match_the_sync_forms(store, tmp_path):
    case = store.create_case(new_case(store, None, actions=[persuasion(T0)]))
    jpg = tmp_path / "scene.jpg"
    make_jpeg(jpg, 800, 600)
    photo = asyncio.run(store.add_photo_async(case.id, str(jpg), capture()))
    sig = tmp_path / "sig.jpg"
    make_jpeg(sig, 300, 120)
    signature = asyncio.run(store.add_signature_image_async(case.id, str(sig), capture()))
    assert signature.kind == fc.EvidenceKind.SIGNATURE

    async def main():
        return await asyncio.gather(
            store.read_evidence_file_async(photo.sha256),
            store.export_evidence_file_async(photo.sha256, str(tmp_path / "out.jpg")),
            store.verify_case_async(case.id),
            store.export_case_package_async(case.id, str(tmp_path / "case.zip")),
            store.render_case_file_async(case.id),
            store.read_evidence_file_async("0" * 64),
        )

    content, exported, verified, manifest, pdf, absent = asyncio.run(main())
    assert content == store.read_evidence_file(photo.sha256)
    assert hashlib.sha256(content).hexdigest() == photo.sha256
    assert exported and sha256_file(tmp_path / "out.jpg") == photo.sha256
    assert verified.clean and verified == store.verify_case(case.id)
    assert len(manifest) == 64 and (tmp_path / "case.zip").stat().st_size > 0
    assert pdf[:5] == b"%PDF-"
    assert absent is None

    # Errors arrive as the same exceptions as from the sync forms.
    with pytest.raises(fc.FieldcaseError.NotFound):
        asyncio.run(store.verify_case_async("no-such-case"))
    with pytest.raises(fc.FieldcaseError.InvalidInput):
        asyncio.run(store.read_evidence_file_async("not-a-hash"))
    with pytest.raises(fc.FieldcaseError.NotFound):
        asyncio.run(store.render_document_async(case.id, "no-such-document", fc.Paper.A4))

    demo = store.record_demonstration(demonstration())
    shot = asyncio.run(store.add_demonstration_photo_async(demo.id, str(jpg), capture()))
    assert shot.record_id == demo.id

    store.close_store()
    with pytest.raises(fc.FieldcaseError.StoreClosed):
        asyncio.run(store.verify_case_async(case.id))


def test_a_cancelled_async_call_completes_whole_or_leaves_nothing(store, tmp_path):
    db_path = str(tmp_path / "phone-a.db")
    case = store.create_case(new_case(store, None, actions=[persuasion(T0)]))
    jpg = tmp_path / "big.jpg"
    make_jpeg(jpg, 3000, 2000)

    async def cancel_soon(coro):
        """Cancels the call once it is running; whether it was still running when cancelled."""
        task = asyncio.ensure_future(coro)
        await asyncio.sleep(0.02)
        cancelled = task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return cancelled

    assert asyncio.run(cancel_soon(store.add_photo_async(case.id, str(jpg), capture())))
    # The ingest had started: it runs to its end (the entry commits whole, its files with it).
    wait_for(lambda: len(store.evidence(case.id)) == 1, "the cancelled ingest to finish")
    wait_for(lambda: temp_files(db_path) == [], "no temp file left")
    entry = store.evidence(case.id)[0]
    assert entry.sha256 == sha256_file(jpg)
    assert store.verify_case(case.id).clean

    # A cancelled export appears complete or not at all, never as a partial file.
    out = tmp_path / "share.jpg"
    asyncio.run(cancel_soon(store.export_evidence_file_async(entry.sha256, str(out))))
    wait_for(lambda: not (tmp_path / "share.jpg.part").exists(), "the export's temp file to go")
    if out.exists():
        assert sha256_file(out) == entry.sha256


class Listener(fc.ChangeListener):
    def __init__(self, on_batch=None):
        self.batches = []
        self.threads = set()
        self.on_batch = on_batch
        self.lock = threading.Lock()

    def on_changes(self, changes):
        with self.lock:
            self.batches.append(changes)
            self.threads.add(threading.get_ident())
        if self.on_batch:
            self.on_batch(changes)

    def seen(self):
        with self.lock:
            return [[(c.record_id, c.kind, c.origin) for c in b] for b in self.batches]


def test_the_change_listener_hears_local_writes_and_imports_in_batches(open_store, tmp_path):
    a = open_store("phone-a")
    listener = Listener()
    a.set_change_listener(listener)
    party = register(a)
    case = a.create_case(new_case(a, party.id, actions=[persuasion(T0)]))
    a.add_note(case.id, OFFICER, T0 + 1, "回访")
    L = fc.ChangeOrigin.LOCAL
    want = [
        [(party.id, fc.RecordKind.PARTY, L)],
        [(case.id, fc.RecordKind.CASE, L)],
        [(case.id, fc.RecordKind.CASE, L)],
    ]
    wait_for(lambda: len(listener.seen()) >= 3, "three batches")
    assert listener.seen() == want
    assert threading.get_ident() not in listener.threads  # a library thread

    # An import is one batch; a second import of the same bundle changes nothing.
    b = open_store("phone-b")
    heard = Listener()
    b.set_change_listener(heard)
    bundle = a.export_changes(None)
    b.import_changes(bundle)
    wait_for(lambda: len(heard.seen()) == 1, "the import's batch")
    assert sorted(heard.seen()[0]) == sorted([
        (party.id, fc.RecordKind.PARTY, fc.ChangeOrigin.IMPORT),
        (case.id, fc.RecordKind.CASE, fc.ChangeOrigin.IMPORT),
    ])
    b.import_changes(bundle)
    time.sleep(0.2)
    assert len(heard.seen()) == 1

    # Removed: nothing more is heard.
    a.set_change_listener(None)
    a.add_note(case.id, OFFICER, T0 + 2, "再访")
    time.sleep(0.2)
    assert len(listener.seen()) == 3


def test_a_listener_that_calls_back_or_throws_does_not_break_the_store(store, tmp_path):
    case = store.create_case(new_case(store, None, actions=[persuasion(T0)]))
    jpg = tmp_path / "scene.jpg"
    make_jpeg(jpg, 640, 480)
    reloaded = []

    def call_back(changes):
        # Reads the case and, once, writes to it (an ingest, under the library's own locks).
        for c in changes:
            reloaded.append(store.get_case(c.record_id).evidence_count)
        if len(reloaded) == 1:
            store.add_photo(case.id, str(jpg), capture())
            store.add_note(case.id, OFFICER, T0 + 3, "from the listener")

    listener = Listener(call_back)
    store.set_change_listener(listener)
    store.add_note(case.id, OFFICER, T0 + 1, "trigger")
    wait_for(lambda: len(listener.seen()) >= 3, "the trigger and the listener's own writes")
    assert reloaded[:2] == [0, 1]
    assert store.get_case(case.id).evidence_count == 1

    def throw(changes):
        raise RuntimeError("listener bug")

    thrower = Listener(throw)
    store.set_change_listener(thrower)
    note = store.add_note(case.id, OFFICER, T0 + 4, "kept")
    wait_for(lambda: len(thrower.seen()) == 1, "the throwing listener was called")
    store.add_note(case.id, OFFICER, T0 + 5, "still heard")
    wait_for(lambda: len(thrower.seen()) == 2, "later batches still delivered")
    assert note in [n.id for n in store.get_case(case.id).notes]


class Sink(fc.LogSink):
    def __init__(self):
        self.records = []
        self.lock = threading.Lock()

    def log(self, record):
        with self.lock:
            self.records.append(record)

    def all(self):
        with self.lock:
            return list(self.records)


@pytest.fixture
def log_sink_reset():
    yield
    fc.set_log_sink(None, fc.LogLevel.ERROR)


def test_sync_logs_reach_the_sink_at_its_level_and_hold_no_personal_data(
    tmp_path, server, log_sink_reset  # noqa: F811
):
    a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-log")
    party = register(a)
    a.create_case(new_case(a, party.id, actions=[persuasion(T0)]))

    info = Sink()
    fc.set_log_sink(info, fc.LogLevel.INFO)
    report = asyncio.run(a.sync(None, None))
    assert report.complete and report.server_restored is False
    lines = info.all()
    finished = [r for r in lines if r.message.startswith("sync finished")]
    assert finished, [r.message for r in lines]
    assert finished[0].level == fc.LogLevel.INFO
    assert finished[0].target.startswith("fieldcase_core")
    assert "pushed=" in finished[0].message
    assert all(r.level in (fc.LogLevel.ERROR, fc.LogLevel.WARN, fc.LogLevel.INFO) for r in lines)
    for r in lines:
        for secret in (NAME, ID_NUMBER, PHONE):
            assert secret not in r.message

    # A stricter sink replaces it: the info lines of the next sync are not forwarded.
    warn = Sink()
    fc.set_log_sink(warn, fc.LogLevel.WARN)
    asyncio.run(a.sync(None, None))
    assert all(r.level in (fc.LogLevel.ERROR, fc.LogLevel.WARN) for r in warn.all())
    assert not any(r.message.startswith("sync finished") for r in warn.all())
    assert len(info.all()) == len(lines)

    # Debug lets the detail through.
    debug = Sink()
    fc.set_log_sink(debug, fc.LogLevel.DEBUG)
    asyncio.run(a.sync(None, None))
    assert any(r.level == fc.LogLevel.DEBUG and r.message.startswith("sync traffic") for r in debug.all())
    a.close_store()


def test_documents_received_by_sync_are_announced_with_origin_sync(tmp_path, server):  # noqa: F811
    a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    case = a.create_case(new_case(a, None, actions=[persuasion(T0)]))
    asyncio.run(a.sync(None, None))

    b, _, _ = enrolled_phone(tmp_path, server, "OF-1003", "phone-b")
    listener = Listener()
    b.set_change_listener(listener)
    asyncio.run(b.sync(None, None))
    wait_for(lambda: listener.seen(), "the sync's batch")
    heard = [c for batch in listener.seen() for c in batch]
    assert (case.id, fc.RecordKind.CASE, fc.ChangeOrigin.SYNC) in heard
    assert all(origin == fc.ChangeOrigin.SYNC for _, _, origin in heard)
    a.close_store()
    b.close_store()
