"""Canary personal data recorded through the officer flow must appear in plain text nowhere:
not in the phone's database or evidence folder, not in the server's logs (at debug level) or
database, not in any public export, and not on a volunteer's phone. Searched byte by byte."""

import asyncio
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import fieldcase_ffi as fc
from PIL import Image

from helpers import OFFICER, PARTNER, T0, UNIT, new_case, persuasion
from test_evidence import capture
from test_server_flow import Server, enrolled_phone, free_port

NAME = "欧阳明月"
ID_NUMBER = "34150219870612348X"
PHONE = "13955501234"
CANARIES = [NAME.encode(), ID_NUMBER.encode(), ID_NUMBER.lower().encode(), PHONE.encode()]


class LoggingServer(Server):
    """The real server binary, logging everything at debug level to a file."""

    def start(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(self.data, "server.log"), "wb")
        env = dict(os.environ, RUST_LOG="debug")
        env.pop("FIELDCASE_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--data", self.data, "--listen", f"127.0.0.1:{port}"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        for _ in range(300):
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self):
        super().stop()
        self.log.close()


def files_of(root, prefix=""):
    """Every file under `root` whose path has a part starting with `prefix`."""
    return [
        p for p in Path(root).rglob("*")
        if p.is_file() and any(part.startswith(prefix) for part in p.relative_to(root).parts)
    ]


def assert_no_canary(label, data):
    for c in CANARIES:
        assert c not in data, f"{c.decode()} in plain text in {label}"


def test_canaries_appear_nowhere_in_plain_text(tmp_path):
    server = LoggingServer(tmp_path / "server")
    server.admin("create-unit", "--path", "luan", "--name", "六安市")
    server.admin("create-unit", "--path", "luan/jinan", "--name", "金安区")
    server.admin("create-unit", "--path", UNIT, "--name", "一中队")
    for uid, role in [(OFFICER, "officer"), (PARTNER, "officer"), ("OF-1003", "officer"), ("VOL-1", "volunteer")]:
        server.admin("create-user", "--id", uid, "--name", uid, "--role", role, "--unit", UNIT)
    server.start()
    try:
        a, _, _ = enrolled_phone(tmp_path, server, OFFICER, "phone-a")
        party = a.register_party(
            fc.NewParty(
                party_type=fc.PartyType.PERSON, unit=UNIT, by=OFFICER,
                name=NAME, id_number=ID_NUMBER, phone=PHONE,
            )
        )
        case = a.create_case(new_case(a, party.id, actions=[persuasion(T0)]))
        # A photo of the identity card: the canaries are in the file itself.
        jpg = tmp_path / "id-card.jpg"
        Image.new("RGB", (640, 400), (200, 180, 160)).save(
            jpg, "JPEG", comment=" ".join([NAME, ID_NUMBER, PHONE]).encode()
        )
        assert ID_NUMBER.encode() in jpg.read_bytes()
        photo = a.add_photo(case.id, str(jpg), capture(T0 + 1000))
        jpg.unlink()
        assert asyncio.run(a.sync(None, None)).complete
        # What the phone shows is still the party's own data, for the officer entitled to it.
        assert a.party_details(party.id).id_number == ID_NUMBER
        assert ID_NUMBER.encode() in a.read_evidence_file(photo.sha256)

        b, _, _ = enrolled_phone(tmp_path, server, "OF-1003", "phone-b")
        asyncio.run(b.sync(None, None))
        asyncio.run(b.download_evidence_file(photo.sha256))
        v, _, _ = enrolled_phone(tmp_path, server, "VOL-1", "phone-v")
        asyncio.run(v.sync(None, None))

        exports = {}
        for route in ["/disclosure", "/v1/disclosure"]:
            with urllib.request.urlopen(server.url + route, timeout=10) as r:
                exports[route] = r.read()
        for fmt in ["csv", "json"]:
            out = tmp_path / f"report.{fmt}"
            server.admin("report", "--format", fmt, "--out", str(out))
            exports[f"report.{fmt}"] = out.read_bytes()
        for s in (a, b, v):
            s.close_store()
    finally:
        server.stop()

    phone_files = {
        name: files_of(tmp_path, name + ".db") for name in ("phone-a", "phone-b", "phone-v")
    }
    for name, files in phone_files.items():
        assert any(f.name == name + ".db" for f in files), files
        for f in files:
            assert_no_canary(f"{name}: {f.relative_to(tmp_path)}", f.read_bytes())
    assert len([f for f in phone_files["phone-a"] if ".blobs" in str(f)]) >= 3
    log = (tmp_path / "server" / "server.log").read_bytes()
    assert b"/v1/sync" in log, "the log captured the requests"
    assert_no_canary("the server log", log)
    # The server's database relays sealed personal data only. (Its evidence folder holds the
    # photo as the officer took it, by design: evidence is kept unaltered for a court.)
    for f in files_of(tmp_path / "server"):
        if "blobs" not in f.parts and f.name != "server.log":
            assert_no_canary(f"server: {f.relative_to(tmp_path)}", f.read_bytes())
    for label, data in exports.items():
        assert_no_canary(label, data)
