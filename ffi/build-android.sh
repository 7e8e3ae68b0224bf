#!/usr/bin/env bash
# Builds the Android library of fieldcase-ffi and packs it with its Kotlin bindings as an AAR.
#
#   bash ffi/build-android.sh [--abi arm64-v8a,armeabi-v7a,x86_64] [--min-sdk 24]
#                             [--profile release-mobile] [--out target/android]
#   bash ffi/build-android.sh --package-only <jniLibs dir> [--min-sdk 24] [--out DIR]
#
# Needs: the Rust targets of the chosen ABIs (rustup), the Android NDK (ANDROID_NDK_HOME or
# ANDROID_NDK_ROOT, or the newest ndk/ of ANDROID_HOME / ANDROID_SDK_ROOT), perl and make (the
# vendored OpenSSL under SQLCipher is built from source), and the JVM tools of
# ffi/tests/kotlin/tools.sh (a JDK, JNA, kotlinc). It checks all of them first and refuses,
# naming everything missing, before building anything. cargo-ndk is used when installed;
# otherwise cargo is pointed at the NDK's clang, llvm-ar and llvm-ranlib itself.
#
# Writes to the output folder:
#   jniLibs/<abi>/libfieldcase_ffi.so   the libraries (copy into app/src/main/jniLibs)
#   fieldcase-ffi.aar                   AndroidManifest.xml (package org.fieldcase.ffi,
#                                       minSdk), classes.jar (the compiled bindings only),
#                                       jni/<abi>/libfieldcase_ffi.so, R.txt, proguard.txt
#   fieldcase_ffi.kt                    the bindings' source, for reading
# The app adds JNA (`net.java.dev.jna:jna:<v>@aar`, which brings libjnidispatch.so) and
# kotlinx-coroutines-core itself; docs/ffi.md shows the Gradle lines.
#
# The bindings are generated from a host build of the same source (ffi/generate-bindings.sh):
# the library checks the bindings' contract version and per-method checksums when it loads,
# and those depend on the source only, not on the target or profile.
#
# --package-only skips the Rust build and packs the jniLibs/<abi>/libfieldcase_ffi.so files
# of the given folder (built elsewhere, or the host library for a layout check).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

abis="arm64-v8a,armeabi-v7a,x86_64"
min_sdk=24
profile=release-mobile
out="$root/target/android"
package_only=""

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --abi) abis="${2:?--abi needs a list}"; shift 2 ;;
        --min-sdk) min_sdk="${2:?--min-sdk needs a number}"; shift 2 ;;
        --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
        --out) out="${2:?--out needs a folder}"; shift 2 ;;
        --package-only) package_only="${2:?--package-only needs a jniLibs folder}"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "build-android.sh: unknown argument $1" >&2; usage ;;
    esac
done
case "$min_sdk" in *[!0-9]*|"") echo "build-android.sh: --min-sdk must be a number" >&2; exit 2 ;; esac

# The Rust target and the prefix of the NDK's clang wrappers of each ABI.
rust_target() {
    case "$1" in
        arm64-v8a) echo aarch64-linux-android ;;
        armeabi-v7a) echo armv7-linux-androideabi ;;
        x86_64) echo x86_64-linux-android ;;
        x86) echo i686-linux-android ;;
        *) return 1 ;;
    esac
}
clang_prefix() {
    case "$1" in
        armeabi-v7a) echo armv7a-linux-androideabi ;;
        *) rust_target "$1" ;;
    esac
}

IFS=, read -r -a abi_list <<< "$abis"
for abi in "${abi_list[@]}"; do
    rust_target "$abi" >/dev/null || { echo "build-android.sh: unknown ABI $abi (arm64-v8a, armeabi-v7a, x86_64, x86)" >&2; exit 2; }
done

# The NDK's folder: the variables Android tools set, else the newest NDK of the SDK.
find_ndk() {
    local candidate sdk
    for candidate in "${ANDROID_NDK_HOME:-}" "${ANDROID_NDK_ROOT:-}" "${ANDROID_NDK:-}"; do
        [ -n "$candidate" ] && [ -d "$candidate" ] && { echo "$candidate"; return 0; }
    done
    for sdk in "${ANDROID_HOME:-}" "${ANDROID_SDK_ROOT:-}"; do
        [ -n "$sdk" ] && [ -d "$sdk/ndk" ] || continue
        candidate="$(ls -d "$sdk"/ndk/*/ 2>/dev/null | sort -V | tail -n1)"
        [ -n "$candidate" ] && { echo "${candidate%/}"; return 0; }
    done
    return 1
}
ndk_bin() {
    local host
    case "$(uname -s)" in
        Darwin) host=darwin-x86_64 ;;   # the NDK's one macOS folder, arm64 Macs included
        *) host=linux-x86_64 ;;
    esac
    echo "$1/toolchains/llvm/prebuilt/$host/bin"
}

source "$root/ffi/tests/kotlin/tools.sh"

# --- preflight: everything missing at once ---
missing=()
if ! kotlin_tools_find; then
    while IFS= read -r line; do [ -n "$line" ] && missing+=("$line"); done <<< "$KOTLIN_TOOLS_MISSING"
fi
command -v python3 >/dev/null || missing+=("python3 (writes the AAR)")
if [ -n "$package_only" ]; then
    found=0
    for abi in arm64-v8a armeabi-v7a x86_64 x86; do
        [ -f "$package_only/$abi/libfieldcase_ffi.so" ] && found=1
    done
    [ "$found" = 1 ] || missing+=("libraries to pack: no <abi>/libfieldcase_ffi.so under $package_only")
else
    if command -v rustup >/dev/null; then
        installed="$(rustup target list --installed)"
        absent=()
        for abi in "${abi_list[@]}"; do
            t="$(rust_target "$abi")"
            grep -qx "$t" <<< "$installed" || absent+=("$t")
        done
        [ ${#absent[@]} -eq 0 ] || missing+=("Rust targets ${absent[*]}: rustup target add ${absent[*]}")
    else
        missing+=("rustup (the Android Rust targets are installed through it): see rustup.rs")
    fi
    if ndk="$(find_ndk)"; then
        bin="$(ndk_bin "$ndk")"
        [ -x "$bin/clang" ] || missing+=("the NDK's clang: $bin/clang does not exist (is $ndk an NDK r23 or newer?)")
    else
        missing+=("the Android NDK: install it with Android Studio's SDK Manager or \`sdkmanager 'ndk;27.2.12479018'\`, then set ANDROID_NDK_HOME to its folder")
    fi
    command -v perl >/dev/null || missing+=("perl (builds the vendored OpenSSL): apt-get install perl")
    command -v make >/dev/null || missing+=("make (builds the vendored OpenSSL): apt-get install make")
fi
if [ ${#missing[@]} -gt 0 ]; then
    {
        echo "build-android.sh: cannot build the Android AAR on this machine; missing:"
        for m in "${missing[@]}"; do echo "  - $m"; done
    } >&2
    exit 1
fi

# --- the libraries ---
mkdir -p "$out"
out="$(cd "$out" && pwd)"
jnilibs="$out/jniLibs"
if [ -n "$package_only" ]; then
    src="$(cd "$package_only" && pwd)"
    if [ "$src" != "$jnilibs" ]; then
        rm -rf "$jnilibs"
        mkdir -p "$jnilibs"
        for abi in arm64-v8a armeabi-v7a x86_64 x86; do
            if [ -f "$src/$abi/libfieldcase_ffi.so" ]; then
                mkdir -p "$jnilibs/$abi"
                cp "$src/$abi/libfieldcase_ffi.so" "$jnilibs/$abi/"
            fi
        done
    fi
else
    export ANDROID_NDK_HOME="$ndk" ANDROID_NDK_ROOT="$ndk"
    export PATH="$bin:$PATH"
    target_dir="$(cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
    rm -rf "$jnilibs"
    for abi in "${abi_list[@]}"; do
        t="$(rust_target "$abi")"
        echo "==> $abi ($t, API $min_sdk, profile $profile)"
        # Only the cdylib: the crate's staticlib (for iOS) would go through LTO a second time.
        cargo_args=(rustc -p fieldcase-ffi --lib --profile "$profile" --crate-type cdylib)
        if command -v cargo-ndk >/dev/null; then
            cargo ndk -t "$abi" -P "$min_sdk" "${cargo_args[@]}"
        else
            cc="$bin/$(clang_prefix "$abi")$min_sdk-clang"
            [ -x "$cc" ] || { echo "build-android.sh: $cc missing: does this NDK support API $min_sdk?" >&2; exit 1; }
            var="${t//-/_}"
            upper="$(tr '[:lower:]' '[:upper:]' <<< "$var")"
            env "CC_$var=$cc" "CXX_$var=$cc++" "AR_$var=$bin/llvm-ar" "RANLIB_$var=$bin/llvm-ranlib" \
                "CARGO_TARGET_${upper}_LINKER=$cc" \
                cargo "${cargo_args[@]}" --target "$t"
        fi
        mkdir -p "$jnilibs/$abi"
        cp "$target_dir/$t/$profile/libfieldcase_ffi.so" "$jnilibs/$abi/"
    done
fi

# --- bindings, compiled ---
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "==> Kotlin bindings (host build of the same source)"
bash "$root/ffi/generate-bindings.sh" >/dev/null
cp "$root/ffi/tests/kotlin/generated/org/fieldcase/ffi/fieldcase_ffi.kt" "$out/fieldcase_ffi.kt"
# Only our classes go in (no Kotlin runtime, no JNA: the app depends on those itself).
cp "$(kotlin_bindings_jar)" "$work/classes.jar"

# --- the AAR ---
sed "s/@MIN_SDK@/$min_sdk/" "$root/ffi/android/AndroidManifest.xml.in" > "$work/AndroidManifest.xml"
aar="$out/fieldcase-ffi.aar"
python3 - "$aar" "$work" "$jnilibs" "$root/ffi/android/proguard.txt" <<'PY'
import os, sys, zipfile
aar, work, jnilibs, proguard = sys.argv[1:]
tmp = aar + ".part"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(os.path.join(work, "AndroidManifest.xml"), "AndroidManifest.xml")
    z.write(os.path.join(work, "classes.jar"), "classes.jar")
    z.writestr("R.txt", "")
    z.write(proguard, "proguard.txt")
    for abi in sorted(os.listdir(jnilibs)):
        z.write(os.path.join(jnilibs, abi, "libfieldcase_ffi.so"), f"jni/{abi}/libfieldcase_ffi.so")
os.replace(tmp, aar)
PY
present=()
for dir in "$jnilibs"/*/; do present+=(--abi "$(basename "$dir")"); done
python3 "$root/ffi/android/check_aar.py" "$aar" "${present[@]}"
echo "AAR: $aar"
