#!/usr/bin/env bash
# Kotlin/JVM binding tests (installs kotlinc and JNA itself if missing).
set -euo pipefail
bash ffi/tests/kotlin/run.sh
