"""The app's own networking (`Transport`) carries enrolment, sync, evidence uploads and
ranged downloads against the real server; a transport failure is retried and reported as
`Network`; and one store file opens through one handle only."""

import asyncio
import hashlib
import urllib.error
import urllib.request

import fieldcase_ffi as fc
import pytest

from conftest import DB_KEY
from helpers import OFFICER, T0, new_case, register
from test_evidence import capture, make_jpeg
from test_server_flow import server  # noqa: F401  (fixture)


def run(call):
    """Runs `call()`'s coroutine on a fresh event loop that the bindings also use for the
    Python transport's own coroutines (they are called from the library's threads)."""

    async def main():
        fc.uniffi_set_event_loop(asyncio.get_running_loop())
        try:
            return await call()
        finally:
            fc.uniffi_set_event_loop(None)

    return asyncio.run(main())


class UrllibTransport(fc.Transport):
    """Stands in for OkHttp or URLSession: sends each request once with the standard
    library and returns the reply whatever its status; records what it carried."""

    def __init__(self):
        self.seen = []
        self.offline = False

    async def send(self, request):
        self.seen.append(request)
        if self.offline:
            raise fc.TransportError.Failed(reason="offline")
        return await asyncio.to_thread(self._send, request)

    def _send(self, request):
        headers = {h.name: h.value for h in request.headers}
        req = urllib.request.Request(
            request.url,
            data=bytes(request.body) if request.body else None,
            headers=headers,
            method={fc.HttpMethod.GET: "GET", fc.HttpMethod.POST: "POST", fc.HttpMethod.PUT: "PUT"}[
                request.method
            ],
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return self._reply(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return self._reply(e.code, e.headers, e.read())
        except OSError as e:
            raise fc.TransportError.Failed(reason=str(e))

    @staticmethod
    def _reply(status, headers, body):
        return fc.TransportReply(
            status=status,
            headers=[fc.HttpHeader(name=k.lower(), value=v) for k, v in headers.items()],
            body=body,
        )


def test_an_app_transport_carries_the_whole_officer_exchange(tmp_path, server):  # noqa: F811
    path = str(tmp_path / "phone-a.db")
    a = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="phone-a", db_key=DB_KEY))
    t = UrllibTransport()
    a.set_transport(t)
    run(lambda: a.enrol(server.url, server.code_for(OFFICER), "phone-a"))
    assert t.seen[0].purpose == fc.RequestPurpose.ENROL

    party = register(a)
    case = a.create_case(new_case(a, party.id))
    jpg = tmp_path / "scene.jpg"
    make_jpeg(jpg, 1600, 1200)
    photo = a.add_photo(case.id, str(jpg), capture(T0 + 2000))
    report = run(lambda: a.sync(None, None))
    assert report.complete and report.blobs_uploaded == 3 and report.rejections == []
    purposes = [r.purpose for r in t.seen]
    assert fc.RequestPurpose.SYNC in purposes
    assert purposes.count(fc.RequestPurpose.BLOB_UPLOAD) >= 3
    for r in t.seen[1:]:
        assert any(h.name == "authorization" for h in r.headers)
    upload = next(r for r in t.seen if r.purpose == fc.RequestPurpose.BLOB_UPLOAD)
    assert upload.method == fc.HttpMethod.PUT and len(upload.body) > 0

    # Offline: the library retries, then reports `Network`; nothing is lost.
    t.offline = True
    before = len(t.seen)
    with pytest.raises(fc.FieldcaseError.Network):
        run(lambda: a.sync(None, None))
    assert len(t.seen) - before >= 2, "retried"
    t.offline = False

    # A second phone receives the case and fetches the original through its transport, in
    # ranges.
    b_path = str(tmp_path / "phone-b.db")
    b = fc.FieldcaseStore.open(b_path, fc.StoreOptions(device_id="phone-b", db_key=DB_KEY))
    tb = UrllibTransport()
    b.set_transport(tb)
    run(lambda: b.enrol(server.url, server.code_for("OF-1003"), "phone-b"))
    run(lambda: b.sync(None, None))
    size = run(lambda: b.download_evidence_file(photo.sha256))
    content = b.read_evidence_file(photo.sha256)
    assert len(content) == size
    assert hashlib.sha256(content).hexdigest() == photo.sha256
    downloads = [r for r in tb.seen if r.purpose == fc.RequestPurpose.BLOB_DOWNLOAD]
    assert downloads and all(
        any(h.name == "range" for h in r.headers) for r in downloads
    )
    # Back to the built-in client.
    b.set_transport(None)
    assert run(lambda: b.sync(None, None)).complete
    a.close_store()
    b.close_store()


def test_one_store_file_opens_through_one_handle(tmp_path):
    path = str(tmp_path / "phone.db")
    opts = fc.StoreOptions(device_id="phone", db_key=DB_KEY)
    first = fc.FieldcaseStore.open(path, opts)
    with pytest.raises(fc.FieldcaseError.StoreInUse):
        fc.FieldcaseStore.open(path, opts)
    # Another file is another store.
    other = fc.FieldcaseStore.open(str(tmp_path / "other.db"), opts)
    first.close_store()
    again = fc.FieldcaseStore.open(path, opts)
    assert again.integrity_check() == "ok"
    again.close_store()
    other.close_store()


def test_a_store_needs_its_key_unless_a_test_asks_for_plain(tmp_path):
    path = str(tmp_path / "phone.db")
    with pytest.raises(fc.FieldcaseError.InvalidInput) as e:
        fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="phone"))
    assert e.value.field == "db_key"
    plain = fc.FieldcaseStore.open(
        path, fc.StoreOptions(device_id="phone", plain_store_for_tests=True)
    )
    with open(path, "rb") as f:
        assert f.read(16) == b"SQLite format 3\x00"
    plain.close_store()
