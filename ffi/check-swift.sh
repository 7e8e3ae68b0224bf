#!/usr/bin/env bash
# Type-checks the generated Swift bindings (FieldcaseFFI.swift against the C header of the
# library, through its module map) with `swiftc -typecheck`, where a Swift toolchain exists.
#
#   bash ffi/check-swift.sh [--require] [--bindings DIR]
#
# DIR defaults to ffi/bindings/swift, generated first (ffi/generate-bindings.sh) if empty.
# Without swiftc it prints why it skipped and exits 0, or 1 with --require (build-apple.sh
# requires it: Xcode brings swiftc). Debian has no Swift toolchain, so on this project's Linux
# machines the check is skipped; macOS with Xcode, or a Linux machine with swift.org's
# toolchain, runs it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/ffi/bindings/swift"
require=0
while [ $# -gt 0 ]; do
    case "$1" in
        --require) require=1; shift ;;
        --bindings) dir="${2:?--bindings needs a folder}"; shift 2 ;;
        *) echo "usage: $0 [--require] [--bindings DIR]" >&2; exit 2 ;;
    esac
done

swiftc="${SWIFTC:-$(command -v swiftc || true)}"
if [ -z "$swiftc" ]; then
    echo "check-swift.sh: SKIPPED the Swift type-check: no swiftc on this machine (install Xcode on macOS, or swift.org's toolchain on Linux; Debian has none)" >&2
    [ "$require" = 1 ] && exit 1
    exit 0
fi

if [ ! -f "$dir/FieldcaseFFI.swift" ]; then
    bash "$root/ffi/generate-bindings.sh" >/dev/null
fi
for f in FieldcaseFFI.swift FieldcaseFFIFFI.h FieldcaseFFIFFI.modulemap; do
    [ -f "$dir/$f" ] || { echo "check-swift.sh: $dir/$f missing" >&2; exit 1; }
done

"$swiftc" -typecheck -module-name FieldcaseFFI \
    -Xcc -fmodule-map-file="$dir/FieldcaseFFIFFI.modulemap" -I "$dir" \
    "$dir/FieldcaseFFI.swift"
echo "check-swift.sh: FieldcaseFFI.swift type-checks ($("$swiftc" --version 2>&1 | head -n1))"
