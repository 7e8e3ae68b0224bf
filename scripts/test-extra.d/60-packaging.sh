#!/usr/bin/env bash
# The packaging files (systemd unit, container definition, compose file, sample settings)
# checked against the built server binary.
set -euo pipefail
python3 -m pip install --quiet pytest pyyaml
cargo build --quiet -p fieldcase-server --bin fieldcase-server
python3 -m pytest -q packaging/tests
