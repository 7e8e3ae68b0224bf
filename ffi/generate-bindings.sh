#!/usr/bin/env bash
# Builds fieldcase-ffi for this host and writes its Kotlin, Swift and Python bindings.
#
#   bash ffi/generate-bindings.sh            # debug build
#   bash ffi/generate-bindings.sh --release  # release build
#
# Outputs (build products, not committed):
#   ffi/tests/python/generated/  fieldcase_ffi.py + the host library beside it (its loader
#                                looks in its own folder)
#   ffi/tests/kotlin/generated/  org/fieldcase/ffi/fieldcase_ffi.kt
#   ffi/bindings/swift/          FieldcaseFFI.swift, FieldcaseFFIFFI.h, .modulemap
# The bindings come from the built library's metadata, so they always match it; the mobile
# libraries built from the same source carry the same metadata.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

profile=debug
cargo_flags=()
for arg in "$@"; do
    case "$arg" in
        --release) profile=release; cargo_flags+=(--release) ;;
        *) echo "usage: $0 [--release]" >&2; exit 2 ;;
    esac
done

case "$(uname -s)" in
    Darwin) lib_name=libfieldcase_ffi.dylib ;;
    *) lib_name=libfieldcase_ffi.so ;;
esac

# The whole workspace with every target, so that dependencies are built with the same
# features as `cargo test --workspace --all-targets` and the test run's build is reused
# (building the two crates alone unifies features differently and rebuilds most dependencies).
cargo build --workspace --all-targets "${cargo_flags[@]}"

target_dir="$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
lib="$target_dir/$profile/$lib_name"
bindgen="$target_dir/$profile/uniffi-bindgen"

py_out=ffi/tests/python/generated
kt_out=ffi/tests/kotlin/generated
swift_out=ffi/bindings/swift
rm -rf "$py_out" "$kt_out" "$swift_out"
mkdir -p "$py_out" "$kt_out" "$swift_out"

"$bindgen" generate "$lib" --language python --out-dir "$py_out" --no-format
"$bindgen" generate "$lib" --language kotlin --out-dir "$kt_out" --no-format
"$bindgen" generate "$lib" --language swift --out-dir "$swift_out" --no-format
cp "$lib" "$py_out/"
# Tell the Kotlin test which library to load, and both test suites where the server binary is.
echo "$target_dir/$profile" > "$kt_out/LIBRARY_DIR"
echo "$target_dir/$profile" > "$py_out/TARGET_DIR"

echo "bindings written: $py_out $kt_out $swift_out (library: $lib)"
