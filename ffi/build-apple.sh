#!/usr/bin/env bash
# Builds the iOS (and optionally macOS) static libraries of fieldcase-ffi and packs them with
# the Swift bindings as an XCFramework inside a Swift package.
#
#   bash ffi/build-apple.sh [--macos] [--profile release-mobile] [--out target/apple]
#   bash ffi/build-apple.sh --swift-package-only [--out DIR]
#
# Needs macOS with Xcode (xcodebuild, lipo, swiftc) and the Rust targets aarch64-apple-ios,
# aarch64-apple-ios-sim and x86_64-apple-ios (with --macos also aarch64-apple-darwin and
# x86_64-apple-darwin). It checks all of them first and refuses, naming everything missing.
#
# Writes <out>/FieldcaseFFI/, a Swift package:
#   Package.swift                       from ffi/apple/Package.swift.in
#   FieldcaseFFI.xcframework            ios-arm64 (device), ios-arm64_x86_64-simulator (the
#                                       two simulator slices joined by lipo)[, macos-arm64_x86_64],
#                                       each with libfieldcase_ffi.a and Headers/FieldcaseFFIFFI/
#                                       (the C header and module.modulemap)
#   Sources/FieldcaseFFI/FieldcaseFFI.swift   the generated bindings, type-checked first
#                                             (ffi/check-swift.sh)
# The headers sit in a folder named after their module so that a second UniFFI XCFramework in
# the same app does not collide on Headers/module.modulemap.
#
# --swift-package-only writes the package around the bindings and headers without building
# the libraries or the XCFramework (which need Xcode): it runs anywhere and shows what the
# package will hold.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

macos=0
profile=release-mobile
out="$root/target/apple"
package_only=0
# The deployment targets the libraries are compiled for; Package.swift.in names the same.
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-12.0}"

usage() { sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --macos) macos=1; shift ;;
        --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
        --out) out="${2:?--out needs a folder}"; shift 2 ;;
        --swift-package-only) package_only=1; shift ;;
        -h|--help) usage ;;
        *) echo "build-apple.sh: unknown argument $1" >&2; usage ;;
    esac
done

# Module names as ffi/uniffi.toml sets them for the Swift generator (awk, not Python's
# tomllib: the python3 of Xcode's command-line tools predates it).
uniffi_setting() {
    awk -v key="$1" '
        /^\[/ { section = $0 }
        section == "[bindings.swift]" && $1 == key { gsub(/"/, "", $3); print $3 }
    ' "$root/ffi/uniffi.toml"
}
module="$(uniffi_setting module_name)"
ffi_module="$(uniffi_setting ffi_module_name)"
xcframework="$module.xcframework"

ios_targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
mac_targets=(aarch64-apple-darwin x86_64-apple-darwin)
targets=("${ios_targets[@]}")
[ "$macos" = 1 ] && targets+=("${mac_targets[@]}")

# --- preflight: everything missing at once ---
if [ "$package_only" = 0 ]; then
    missing=()
    os="$(uname -s)"
    [ "$os" = Darwin ] || missing+=("macOS: the iOS libraries and the XCFramework are built on a Mac with Xcode (this machine runs $os)")
    command -v xcodebuild >/dev/null || missing+=("xcodebuild: install Xcode, then \`sudo xcode-select -s /Applications/Xcode.app\`")
    command -v lipo >/dev/null || missing+=("lipo: comes with Xcode's command-line tools (\`xcode-select --install\`)")
    command -v swiftc >/dev/null || missing+=("swiftc (type-checks the bindings): comes with Xcode")
    if command -v rustup >/dev/null; then
        installed="$(rustup target list --installed)"
        absent=()
        for t in "${targets[@]}"; do grep -qx "$t" <<< "$installed" || absent+=("$t"); done
        [ ${#absent[@]} -eq 0 ] || missing+=("Rust targets ${absent[*]}: rustup target add ${absent[*]}")
    else
        missing+=("rustup (the Apple Rust targets are installed through it): see rustup.rs")
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        {
            echo "build-apple.sh: cannot build the Apple XCFramework on this machine; missing:"
            for m in "${missing[@]}"; do echo "  - $m"; done
        } >&2
        exit 1
    fi
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
pkg="$out/$module"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- the static libraries ---
if [ "$package_only" = 0 ]; then
    target_dir="$(cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
    for t in "${targets[@]}"; do
        echo "==> $t (profile $profile)"
        # Only the staticlib: the crate's cdylib would go through LTO a second time.
        cargo rustc -p fieldcase-ffi --lib --profile "$profile" --crate-type staticlib --target "$t"
    done
    lib() { echo "$target_dir/$1/$profile/libfieldcase_ffi.a"; }
    mkdir -p "$work/ios-sim" "$work/macos"
    lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/ios-sim/libfieldcase_ffi.a"
    [ "$macos" = 1 ] && lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/libfieldcase_ffi.a"
fi

# --- bindings: generated from a host build of the same source, then type-checked ---
echo "==> Swift bindings"
bash "$root/ffi/generate-bindings.sh" >/dev/null
swift="$root/ffi/bindings/swift"
if [ "$package_only" = 0 ]; then
    bash "$root/ffi/check-swift.sh" --require --bindings "$swift"
else
    bash "$root/ffi/check-swift.sh" --bindings "$swift"
fi
headers="$work/headers/$ffi_module"
mkdir -p "$headers"
cp "$swift/$ffi_module.h" "$headers/"
cp "$swift/$ffi_module.modulemap" "$headers/module.modulemap"

# --- the package ---
rm -rf "$pkg"
mkdir -p "$pkg/Sources/$module"
cp "$swift/$module.swift" "$pkg/Sources/$module/"
sed -e "s/@MODULE@/$module/g" -e "s/@FFI_MODULE@/$ffi_module/g" -e "s/@XCFRAMEWORK@/$xcframework/g" \
    "$root/ffi/apple/Package.swift.in" > "$pkg/Package.swift"

if [ "$package_only" = 1 ]; then
    # What each slice of the XCFramework will carry as Headers/, for inspection.
    mkdir -p "$pkg/Headers"
    cp -R "$work/headers/$ffi_module" "$pkg/Headers/"
    echo "Swift package (without $xcframework): $pkg"
    exit 0
fi

slices=(-library "$(lib aarch64-apple-ios)" -headers "$work/headers"
        -library "$work/ios-sim/libfieldcase_ffi.a" -headers "$work/headers")
[ "$macos" = 1 ] && slices+=(-library "$work/macos/libfieldcase_ffi.a" -headers "$work/headers")
xcodebuild -create-xcframework "${slices[@]}" -output "$pkg/$xcframework"
echo "Swift package: $pkg ($xcframework, Sources/$module/$module.swift)"
