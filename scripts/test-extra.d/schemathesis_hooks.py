"""Hooks of the schemathesis run (70-schemathesis.sh).

- CBOR bodies of `POST /v1/sync` are written with cbor2 (text forms of bytes and ids are
  valid CBOR too: the server reads either), and CBOR replies are read back into the JSON form
  (bytes as base64, heads as hex, 16-byte ids as UUIDs), so they are checked against the same
  schemas as JSON replies.
- A generated sync request names the enrolled device (FIELDCASE_DEVICE_ID): any other id is
  refused before the body is looked at, and the merge, feed and catalogue code would go
  untested.
"""

import base64
import os
import uuid

import cbor2
import schemathesis

DEVICE_ID = os.environ.get("FIELDCASE_DEVICE_ID", "")
HEAD_LISTS = {"heads", "have_heads", "server_heads"}
BYTE_FIELDS = {"changes", "bundle"}


@schemathesis.serializer("application/cbor")
def to_cbor(ctx, value):
    return cbor2.dumps(value)


def _as_json(value, key=None):
    """The JSON form of a decoded CBOR value (see docs/sync-protocol.md, CBOR)."""
    if isinstance(value, dict):
        return {k: _as_json(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v, key) for v in value]
    if isinstance(value, bytes):
        if key in HEAD_LISTS:
            return value.hex()
        if key == "doc_id" and len(value) == 16:
            return str(uuid.UUID(bytes=value))
        if key in BYTE_FIELDS:
            return base64.b64encode(value).decode()
        raise ValueError(f"unexpected byte string in field {key!r}")
    return value


@schemathesis.deserializer("application/cbor")
def from_cbor(ctx, response):
    return _as_json(cbor2.loads(response.content))


@schemathesis.hook
def map_body(ctx, body):
    op = ctx.operation
    if DEVICE_ID and op is not None and op.path == "/v1/sync" and isinstance(body, dict):
        if "device_id" in body:
            body["device_id"] = DEVICE_ID
    return body
