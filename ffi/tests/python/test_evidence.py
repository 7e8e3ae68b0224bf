"""Evidence and keys through the bindings: an encrypted store, real photo and audio files,
a platform signer implemented in Python, and verification."""

import hashlib
import io
import math
import os
import struct
import wave
from pathlib import Path

import fieldcase_ffi as fc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image

from conftest import DB_KEY
from helpers import ID_NUMBER, NAME, OFFICER, PHONE, T0, new_case, persuasion, register


def capture(at=T0):
    return fc.CaptureInput(
        officer=OFFICER,
        device_time_ms=at,
        monotonic_ms=123_456,
        place=fc.Place(lat=31.7349, lon=116.5079, accuracy_m=5.0, address=None),
        note="现场照片",
    )


def gps_dms(deg):
    """Degrees, minutes, seconds as EXIF stores them (Pillow writes rationals)."""
    d = int(deg)
    m = int((deg - d) * 60)
    s = round(((deg - d) * 60 - m) * 60, 2)
    return (float(d), float(m), s)


def make_jpeg(path, width=1600, height=1200):
    """A real JPEG with EXIF time and GPS, as a phone camera writes it."""
    img = Image.new("RGB", (width, height))
    px = img.load()
    for y in range(0, height, 8):
        for x in range(0, width, 8):
            px[x, y] = ((x * 7) % 256, (y * 3) % 256, (x + y) % 256)
    exif = Image.Exif()
    exif[0x0132] = "2026:09:21 15:20:00"  # DateTime
    gps = {
        1: "N",
        2: gps_dms(31.7349),
        3: "E",
        4: gps_dms(116.5079),
    }
    exif[0x8825] = gps
    img.save(path, "JPEG", quality=88, exif=exif)


def make_wav(path, seconds=1.0, rate=8000):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)


def sha256_file(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class PySigner(fc.Signer):
    """A platform signer: the private key never crosses into the library."""

    def __init__(self, broken=False):
        self.key = Ed25519PrivateKey.generate()
        self.broken = broken
        self.calls = 0

    def public_key(self):
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, message):
        self.calls += 1
        if self.broken:
            # Signs with another key than it reports: must be refused.
            return Ed25519PrivateKey.generate().sign(bytes(message))
        return self.key.sign(bytes(message))


def test_encrypted_store_hides_data_and_refuses_a_wrong_key(tmp_path):
    path = str(tmp_path / "enc.db")
    s = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="p", db_key=DB_KEY))
    party = register(s)
    case = s.create_case(new_case(s, party.id, actions=[persuasion(T0)]))
    s.close_store()
    raw = open(path, "rb").read()
    if os.path.exists(path + "-wal"):
        raw += open(path + "-wal", "rb").read()
    assert not raw.startswith(b"SQLite format 3")
    for canary in (ID_NUMBER, NAME, PHONE, case.id):
        assert canary.encode() not in raw
    with pytest.raises(fc.FieldcaseError.WrongKey):
        fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="p", db_key=bytes(32)))
    with pytest.raises(fc.FieldcaseError.WrongKey):
        fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="p", plain_store_for_tests=True))
    # Without a key, and without asking for a plain test store, nothing is opened.
    with pytest.raises(fc.FieldcaseError.InvalidInput) as err:
        fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="p"))
    assert err.value.field == "db_key"
    again = fc.FieldcaseStore.open(path, fc.StoreOptions(device_id="p", db_key=DB_KEY))
    assert again.get_case(case.id).id == case.id
    again.close_store()


def test_photo_audio_and_signature_are_hashed_signed_and_verified(store, tmp_path):
    case = store.create_case(new_case(store, None, actions=[persuasion(T0)]))
    jpg = tmp_path / "photo.jpg"
    make_jpeg(jpg)
    photo = store.add_photo(case.id, str(jpg), capture())
    assert photo.kind == fc.EvidenceKind.PHOTO
    assert photo.sha256 == sha256_file(jpg)
    assert (photo.width, photo.height) == (1600, 1200)
    assert photo.place_source == "exif"
    assert abs(photo.lat - 31.7349) < 1e-3 and abs(photo.lon - 116.5079) < 1e-3
    thumb = store.read_evidence_file(photo.thumbnail_sha256)
    assert thumb is not None
    with Image.open(io.BytesIO(thumb)) as t:
        assert max(t.size) <= 320 and t.format == "JPEG"
    # The original read back is byte-identical to what the camera wrote; on disk it is
    # sealed (the store was opened with a key), so the camera's bytes appear nowhere there.
    assert store.read_evidence_file(photo.sha256) == jpg.read_bytes()
    out = tmp_path / "export.jpg"
    assert store.export_evidence_file(photo.sha256, str(out))
    assert sha256_file(out) == photo.sha256
    assert store.read_evidence_file("0" * 64) is None
    head = jpg.read_bytes()[:64]
    blob_files = [p for p in Path(str(tmp_path)).rglob("*") if p.is_file() and ".blobs" in str(p)]
    assert len(blob_files) >= 3
    for f in blob_files:
        data = f.read_bytes()
        assert data.startswith(b"FCSEAL"), f
        assert head not in data

    wav = tmp_path / "talk.wav"
    make_wav(wav, seconds=1.5)
    clip = store.add_audio(case.id, str(wav), capture(T0 + 1000), None)
    assert clip.kind == fc.EvidenceKind.AUDIO
    assert 1400 <= clip.duration_ms <= 1600

    sig_png = tmp_path / "sig.png"
    Image.new("L", (400, 150), 255).save(sig_png)
    sig = store.add_signature_image(case.id, str(sig_png), capture(T0 + 2000))
    assert sig.kind == fc.EvidenceKind.SIGNATURE

    listed = store.evidence(case.id)
    assert [e.id for e in listed] == [photo.id, clip.id, sig.id]
    report = store.verify_case(case.id)
    assert report.clean, report.issues
    assert report.evidence_checked == 3 and report.signatures_checked >= 3

    out = tmp_path / "case.zip"
    digest = store.export_case_package(case.id, str(out))
    assert len(digest) == 64 and out.stat().st_size > jpg.stat().st_size


def test_bad_media_and_unknown_case_are_typed_errors(store, tmp_path):
    case = store.create_case(new_case(store, None, actions=[persuasion(T0)]))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff" + os.urandom(4000))
    with pytest.raises(fc.FieldcaseError.InvalidInput):
        store.add_photo(case.id, str(junk), capture())
    jpg = tmp_path / "ok.jpg"
    make_jpeg(jpg, 64, 48)
    with pytest.raises(fc.FieldcaseError.NotFound):
        store.add_photo("0190ffff-0000-7000-8000-000000000000", str(jpg), capture())
    with pytest.raises(fc.FieldcaseError.Storage):
        store.add_photo(case.id, str(tmp_path / "missing.jpg"), capture())
    # Nothing was recorded by the failures.
    assert store.evidence(case.id) == []
    assert store.verify_case(case.id).clean


def test_platform_signer_signs_evidence_and_a_lying_one_is_refused(store, tmp_path):
    signer = PySigner()
    store.set_signer(signer)
    assert store.device_public_key() == signer.public_key()
    case = store.create_case(new_case(store, None, actions=[persuasion(T0)]))
    jpg = tmp_path / "p.jpg"
    make_jpeg(jpg, 320, 240)
    entry = store.add_photo(case.id, str(jpg), capture())
    assert signer.calls >= 1
    assert store.verify_case(case.id).clean

    store.set_signer(PySigner(broken=True))
    with pytest.raises(fc.FieldcaseError.SigningFailed):
        store.add_photo(case.id, str(jpg), capture(T0 + 5))
    assert [e.id for e in store.evidence(case.id)] == [entry.id]
