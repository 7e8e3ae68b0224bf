"""Fixtures of the binding tests: a fresh store file per test, from the generated bindings.

Generate them first: `bash ffi/generate-bindings.sh` (writes ./generated with the library).
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATED = os.path.join(HERE, "generated")
if not os.path.exists(os.path.join(GENERATED, "fieldcase_ffi.py")):
    raise pytest.UsageError(
        "bindings not generated: run `bash ffi/generate-bindings.sh` first"
    )
sys.path.insert(0, GENERATED)
sys.path.insert(0, HERE)

import fieldcase_ffi as fc  # noqa: E402

# Every store of one test run shares this bureau key, so parties match across "phones".
BUREAU_KEY = bytes(range(32))
# The database key a phone would keep in its keystore.
DB_KEY = bytes([0x42] * 32)


@pytest.fixture
def open_store(tmp_path):
    """Opens stores named like phones in the test's temp folder; closes them afterwards."""
    opened = []

    def _open(name="phone-a", key=BUREAU_KEY):
        s = fc.FieldcaseStore.open(
            str(tmp_path / f"{name}.db"),
            fc.StoreOptions(device_id=name, db_key=DB_KEY, party_match_key=key),
        )
        opened.append(s)
        return s

    yield _open
    for s in opened:
        s.close_store()


@pytest.fixture
def store(open_store):
    return open_store("phone-a")
