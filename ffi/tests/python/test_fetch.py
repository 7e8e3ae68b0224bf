"""Fetching what `verify_case` needs on a receiving phone, against a real server: after a
sync only thumbnails are held and verification reports the rest missing; one
`fetch_case_evidence` downloads exactly those files and verification comes out clean."""

import asyncio
import hashlib
import threading

import fieldcase_ffi as fc
import pytest

from helpers import OFFICER, T0, new_case, persuasion
from test_evidence import capture, make_jpeg, make_wav
from test_server_flow import Progress, enrolled_phone, server  # noqa: F401 - the fixture


def test_a_receiving_phone_fetches_what_verification_checks(tmp_path, server):  # noqa: F811
    a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
    case = a.create_case(new_case(a, None, actions=[persuasion(T0)]))
    jpg = tmp_path / "scene.jpg"
    make_jpeg(jpg, 800, 600)
    photo = a.add_photo(case.id, str(jpg), capture(T0 + 1000))
    wav = tmp_path / "talk.wav"
    make_wav(wav, 1.0)
    audio = a.add_audio(case.id, str(wav), capture(T0 + 2000), None)
    assert asyncio.run(a.sync(None, None)).rejections == []

    b, _, _ = enrolled_phone(tmp_path, server, "OF-1003", "phone-b")
    asyncio.run(b.sync(None, None))
    missing = [i for i in b.verify_case(case.id).issues]
    assert missing and all(i.kind == "blob_missing" for i in missing), missing

    # Cancelled before it starts: nothing fetched, and the error says so.
    cancel = fc.SyncCancel()
    cancel.cancel()
    with pytest.raises(fc.FieldcaseError.Cancelled):
        asyncio.run(b.fetch_case_evidence(case.id, None, cancel))

    progress = Progress()
    report = asyncio.run(b.fetch_case_evidence(case.id, progress, fc.SyncCancel()))
    assert report.refused == []
    assert report.downloaded == len(missing)  # one issue per missing file
    assert report.already_present >= 1  # the thumbnail came with the sync
    assert report.bytes > 0
    assert progress.events[-1].phase == fc.SyncPhase.DONE
    assert progress.events[-1].blobs_done == progress.events[-1].blobs_total == (
        report.downloaded + report.already_present
    )
    assert threading.get_ident() not in progress.threads
    verified = b.verify_case(case.id)
    assert verified.clean, verified.issues
    for sha in (photo.sha256, photo.display_sha256, audio.sha256):
        assert hashlib.sha256(b.read_evidence_file(sha)).hexdigest() == sha

    # A second fetch has nothing left to do; an unknown record is NotFound.
    again = asyncio.run(b.fetch_case_evidence(case.id, None, None))
    assert (again.downloaded, again.bytes) == (0, 0)
    assert again.already_present == report.downloaded + report.already_present
    with pytest.raises(fc.FieldcaseError.NotFound):
        asyncio.run(b.fetch_case_evidence("0190f1a2-0000-7000-8000-000000000001", None, None))
    a.close_store()
    b.close_store()
