#!/usr/bin/env bash
# The reliability battery, quick form, on the debug build the workspace tests just made (the
# short and nightly forms want `cargo run --release -p fieldcase-tests --bin battery`).
set -euo pipefail
cargo build --workspace --all-targets --quiet
target_dir="$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
timeout 1200 "$target_dir/debug/battery" --quick
