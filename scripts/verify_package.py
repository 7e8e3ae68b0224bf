#!/usr/bin/env python3
"""Checks a fieldcase case-file package (zip) by hand, without fieldcase.

    python3 scripts/verify_package.py case.zip [--trust KEYHEX ...]

What it checks (docs/evidence.md describes the format):
  1. every line of SHA256SUMS (the same check as `unzip -d x case.zip && cd x && sha256sum -c SHA256SUMS`);
  2. manifest.sig: ed25519 over b"fieldcase/package/v1\\n" + SHA-256(manifest.json);
  3. history.automerge matches the hash in the manifest;
  4. each evidence entry: its original, thumbnail and display files are present with the
     recorded SHA-256 and size, and its signature verifies over the canonical payload;
  5. each recording's segments are numbered 0..n-1, each naming the previous one's hash;
  6. each redaction's signature verifies and names an existing entry.

Signatures need the `cryptography` package (Debian: python3-cryptography); without it the
script says so and checks everything else. It does not replay the Automerge history: that
check (change hashes, record == history) is done by fieldcase's own verifier.
Exit status 0 when everything checked is sound, 1 otherwise.
"""

import hashlib
import json
import re
import struct
import sys
import zipfile

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - depends on the machine
    Ed25519PublicKey = None

HEX64 = re.compile(r"[0-9a-f]{64}\Z")


class Canon:
    """The canonical payload encoding (see docs/evidence.md)."""

    def __init__(self, domain):
        self.b = bytearray(domain)

    def str(self, s):
        d = s.encode("utf-8")
        self.b += struct.pack(">I", len(d)) + d

    def i64(self, v):
        self.b += struct.pack(">q", v)

    def u64(self, v):
        self.b += struct.pack(">Q", v)

    def u32(self, v):
        self.b += struct.pack(">I", v)

    def f64(self, v):
        self.b += struct.pack(">d", float(v))

    def bool(self, v):
        self.b += b"\x01" if v else b"\x00"

    def hash(self, h):
        if not isinstance(h, str) or not HEX64.match(h):
            raise ValueError("not a 64-digit lowercase hex hash")
        self.b += bytes.fromhex(h)

    def opt(self, v, put):
        if v is None:
            self.b += b"\x00"
        else:
            self.b += b"\x01"
            put(v)


def blob_ref(c, b):
    c.hash(b["sha256"])
    c.u64(b["size"])
    c.str(b["mime"])


def evidence_payload(e):
    c = Canon(b"fieldcase/evidence/v1\n")
    c.str(e["id"])
    c.str(e["kind"])
    c.str(e["record_kind"])
    c.str(e["record_id"])
    blob_ref(c, e["original"])
    c.opt(e.get("thumbnail"), lambda b: blob_ref(c, b))
    c.opt(e.get("display"), lambda b: blob_ref(c, b))
    m = e.get("media") or {}
    c.opt(m.get("width"), c.u32)
    c.opt(m.get("height"), c.u32)
    c.opt(m.get("orientation"), c.u32)
    c.opt(m.get("duration_ms"), c.i64)
    c.opt(m.get("exif_datetime"), c.str)
    t = e["captured"]
    c.i64(t["device_time_ms"])
    c.i64(t["monotonic_ms"])
    c.opt(t.get("clock_offset_ms"), c.i64)
    c.bool(t["clock_skew"])

    def place(p):
        c.f64(p["lat"])
        c.f64(p["lon"])
        c.opt(p.get("accuracy_m"), c.f64)
        c.str(p["source"])

    c.opt(e.get("place"), place)
    c.str(e["officer"])
    c.str(e["device_id"])
    c.hash(e["device_key"])

    def segment(s):
        c.str(s["recording_id"])
        c.u32(s["index"])
        c.opt(s.get("prev_sha256"), c.hash)
        c.bool(bool(s.get("final", False)))

    c.opt(e.get("segment"), segment)
    c.opt(e.get("note"), c.str)
    return bytes(c.b)


def redaction_payload(r):
    c = Canon(b"fieldcase/redaction/v1\n")
    for k in ("id", "record_id", "evidence_id", "by", "reason"):
        c.str(r[k])
    c.i64(r["at_ms"])
    c.str(r["device_id"])
    c.hash(r["device_key"])
    return bytes(c.b)


def sig_ok(key_hex, msg, sig_hex):
    """True/False, or None when signatures cannot be checked on this machine."""
    if Ed25519PublicKey is None:
        return None
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex)).verify(bytes.fromhex(sig_hex), msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def member_hash(z, name):
    h = hashlib.sha256()
    size = 0
    with z.open(name) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def verify(path, trusted=None):
    problems = []
    unchecked = 0
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        for line in z.read("SHA256SUMS").decode("utf-8").splitlines():
            digest, name = line.split("  ", 1)
            if name not in names or member_hash(z, name)[0] != digest:
                problems.append(f"SHA256SUMS: {name} does not match")
        manifest_bytes = z.read("manifest.json")
        m = json.loads(manifest_bytes)
        sig = json.loads(z.read("manifest.sig"))
        signed = b"fieldcase/package/v1\n" + hashlib.sha256(manifest_bytes).digest()
        ok = sig_ok(sig["public_key"], signed, sig["signature"])
        if ok is None:
            unchecked += 1
        elif not ok or sig["public_key"] != m["exported_by"]["public_key"]:
            problems.append("manifest.sig does not verify")
        if trusted is not None and sig["public_key"] not in trusted:
            problems.append("exported by an untrusted key")
        hist = m["history"]
        if hist["file"] not in names or member_hash(z, hist["file"])[0] != hist["sha256"]:
            problems.append("history file does not match the manifest")
        by_hash = {}
        for name in names:
            for prefix in ("originals/", "derived/"):
                if name.startswith(prefix):
                    by_hash[name[len(prefix):].split(".")[0]] = name
        recordings = {}
        ids = set()
        for e in m["evidence"]:
            eid = e.get("id", "?")
            ids.add(eid)
            if e.get("record_id") != m["record_id"]:
                problems.append(f"{eid}: names another record")
            for role in ("original", "thumbnail", "display"):
                b = e.get(role)
                if b is None:
                    continue
                name = by_hash.get(b["sha256"])
                if name is None:
                    problems.append(f"{eid}: {role} missing")
                    continue
                digest, size = member_hash(z, name)
                if digest != b["sha256"] or size != b["size"]:
                    problems.append(f"{eid}: {role} does not match its hash or size")
            try:
                payload = evidence_payload(e)
                ok = sig_ok(e["device_key"], payload, e["signature"])
            except (KeyError, ValueError, TypeError, struct.error):
                ok = False
            if ok is None:
                unchecked += 1
            elif not ok:
                problems.append(f"{eid}: signature does not verify")
            if trusted is not None and e.get("device_key") not in trusted:
                problems.append(f"{eid}: signed by an untrusted key")
            seg = e.get("segment")
            if seg:
                recordings.setdefault(seg["recording_id"], []).append(e)
        for rec, segs in recordings.items():
            segs.sort(key=lambda e: e["segment"]["index"])
            for pos, e in enumerate(segs):
                s = e["segment"]
                prev = segs[pos - 1]["original"]["sha256"] if pos else None
                if s["index"] != pos or s.get("prev_sha256") != prev:
                    problems.append(f"recording {rec}: chain broken at segment {s['index']}")
                if s.get("final", False) and pos != len(segs) - 1:
                    problems.append(f"recording {rec}: segments follow the final one")
            if not any(e["segment"].get("final", False) for e in segs):
                problems.append(f"recording {rec}: no final segment; its tail is missing")
        for r in m.get("redactions", []):
            try:
                ok = sig_ok(r["device_key"], redaction_payload(r), r["signature"])
            except (KeyError, ValueError, TypeError, struct.error):
                ok = False
            if ok is None:
                unchecked += 1
            elif not ok or r.get("evidence_id") not in ids:
                problems.append(f"redaction {r.get('id', '?')}: does not verify")
    return problems, unchecked


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    trusted = None
    if "--trust" in argv:
        i = argv.index("--trust")
        trusted = set(argv[i + 1:])
        argv = argv[:i]
    problems, unchecked = verify(argv[1], trusted)
    for p in problems:
        print("PROBLEM", p)
    if unchecked:
        print(f"NOTE {unchecked} signatures not checked: install python3-cryptography")
    if problems:
        print("FAILED")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
