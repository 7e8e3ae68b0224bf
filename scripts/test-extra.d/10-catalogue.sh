#!/usr/bin/env bash
# The catalogue's own checker (schema plus cross-file invariants), in Python.
set -euo pipefail
python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install --quiet 'jsonschema>=4.18,<5'
python3 scripts/check_catalogue.py
