#!/usr/bin/env bash
# Runs every test of fieldcase: the Rust workspace, the binding tests and the short
# reliability battery. Installs what the tests need (Python packages, moto's S3 server, the
# Kotlin compiler) into the repository's .tools/ folder or through the system package manager.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "PostgreSQL for the storage tests"
bash scripts/ensure-postgres.sh

step "Command-line tools the tests use (poppler-utils)"
bash scripts/ensure-tools.sh

step "moto's S3 server for the object-store blob tests"
FIELDCASE_MOTO_SERVER="$(bash scripts/ensure-moto.sh)"
export FIELDCASE_MOTO_SERVER

step "Rust workspace tests"
cargo test --workspace --all-targets --no-fail-fast

for extra in scripts/test-extra.d/*.sh; do
  [ -e "$extra" ] || continue
  step "$(basename "$extra" .sh)"
  bash "$extra"
done
