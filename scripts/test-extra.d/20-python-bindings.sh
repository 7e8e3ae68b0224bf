#!/usr/bin/env bash
# Python binding tests: generate the bindings from the host library, then pytest.
set -euo pipefail
python3 -m pip install --quiet -r ffi/tests/python/requirements.txt
bash ffi/generate-bindings.sh
python3 -m pytest -q ffi/tests/python
