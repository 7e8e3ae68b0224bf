#!/usr/bin/env bash
# Runs every test of fieldcase: the Rust workspace, the binding tests and the short
# reliability battery. Installs what the tests need (Python packages, the Kotlin compiler)
# into the repository's .tools/ folder or through the system package manager.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "PostgreSQL for the storage tests"
bash scripts/ensure-postgres.sh

step "Command-line tools the tests use (poppler-utils)"
bash scripts/ensure-tools.sh

step "Rust workspace tests"
cargo test --workspace --all-targets --no-fail-fast

for extra in scripts/test-extra.d/*.sh; do
  [ -e "$extra" ] || continue
  step "$(basename "$extra" .sh)"
  bash "$extra"
done
