#!/usr/bin/env bash
# The reference app's officer's day on the JVM against a real server (ffi/reference-app).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ffi/reference-app/run.sh
