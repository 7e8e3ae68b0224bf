#!/usr/bin/env bash
# The phone packaging scripts on a machine without the phone toolchains: build-android.sh and
# build-apple.sh refuse, naming everything missing; the AAR packed from the host library has
# the layout Android's tools read, and its bindings load against the library they were packed
# with; a library under the wrong ABI folder is refused; the Swift package is written from its
# template with consistent names; the Swift type-check says when it skipped. The Android and
# Apple builds themselves need the NDK or Xcode and run where those are (docs/ffi.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

bash ffi/tests/kotlin/tools.sh >/dev/null
source ffi/tests/kotlin/tools.sh
kotlin_tools_find
bash ffi/generate-bindings.sh >/dev/null
libdir="$(cat ffi/tests/kotlin/generated/LIBRARY_DIR)"
hostlib="$libdir/libfieldcase_ffi.so"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }

# run NAME EXPECTED_STATUS COMMAND...: runs it, keeps its stderr in $work/NAME.err.
run() {
    local name="$1" want="$2"
    shift 2
    local status=0
    "$@" >"$work/$name.out" 2>"$work/$name.err" || status=$?
    if [ "$status" != "$want" ]; then
        fail "$name" "exit $status, expected $want; stderr: $(tail -n 20 "$work/$name.err")"
        return 1
    fi
}
# says NAME TEXT...: each TEXT appears in NAME's stderr.
says() {
    local name="$1"
    shift
    local text
    for text in "$@"; do
        if ! grep -qF -- "$text" "$work/$name.err"; then
            fail "$name" "stderr lacks \`$text\`: $(cat "$work/$name.err")"
            return 1
        fi
    done
}

no_ndk=(env -u ANDROID_NDK_HOME -u ANDROID_NDK_ROOT -u ANDROID_NDK -u ANDROID_HOME -u ANDROID_SDK_ROOT)
installed="$(rustup target list --installed 2>/dev/null || true)"
absent() { for t in "$@"; do grep -qx "$t" <<< "$installed" || printf '%s ' "$t"; done; }

# --- Android: refusals ---
name=android-refuses-without-ndk
if run "$name" 1 "${no_ndk[@]}" bash ffi/build-android.sh --out "$work/android-none"; then
    wanted=("cannot build the Android AAR on this machine; missing:" "the Android NDK" "ANDROID_NDK_HOME")
    targets="$(absent aarch64-linux-android armv7-linux-androideabi x86_64-linux-android)"
    [ -z "$targets" ] || wanted+=("rustup target add ${targets% }")
    says "$name" "${wanted[@]}" && pass "$name"
fi

name=android-refuses-an-ndk-without-clang
mkdir -p "$work/not-an-ndk"
if run "$name" 1 "${no_ndk[@]}" ANDROID_NDK_HOME="$work/not-an-ndk" bash ffi/build-android.sh --abi arm64-v8a; then
    says "$name" "the NDK's clang: $work/not-an-ndk/toolchains/llvm/prebuilt/" && pass "$name"
    if grep -qF armv7-linux-androideabi "$work/$name.err"; then
        fail "$name" "--abi arm64-v8a still asks for the armv7 target"
    fi
fi

name=android-refuses-an-empty-jnilibs
mkdir -p "$work/empty-jnilibs"
run "$name" 1 bash ffi/build-android.sh --package-only "$work/empty-jnilibs" --out "$work/android-empty" &&
    says "$name" "no <abi>/libfieldcase_ffi.so under $work/empty-jnilibs" && pass "$name"

# --- Android: the AAR from the host library (x86_64, this machine's architecture) ---
name=android-aar-from-the-host-library
mkdir -p "$work/jniLibs/x86_64"
cp "$hostlib" "$work/jniLibs/x86_64/"
if run "$name" 0 bash ffi/build-android.sh --package-only "$work/jniLibs" --min-sdk 26 --out "$work/android"; then
    if python3 - "$work/android/fieldcase-ffi.aar" "$hostlib" <<'PY'; then pass "$name"; else fail "$name" "layout"; fi
import io, sys, zipfile, xml.etree.ElementTree as ET
aar_path, hostlib = sys.argv[1:]
aar = zipfile.ZipFile(aar_path)
names = sorted(aar.namelist())
assert names == ["AndroidManifest.xml", "R.txt", "classes.jar", "jni/x86_64/libfieldcase_ffi.so", "proguard.txt"], names
manifest = ET.fromstring(aar.read("AndroidManifest.xml"))
assert manifest.get("package") == "org.fieldcase.ffi", manifest.attrib
sdk = manifest.find("uses-sdk").get("{http://schemas.android.com/apk/res/android}minSdkVersion")
assert sdk == "26", sdk
assert aar.read("R.txt") == b""
assert aar.read("jni/x86_64/libfieldcase_ffi.so") == open(hostlib, "rb").read()
rules = aar.read("proguard.txt").decode()
assert "-keep class org.fieldcase.ffi.** { *; }" in rules and "-keep class com.sun.jna.** { *; }" in rules
jar = zipfile.ZipFile(io.BytesIO(aar.read("classes.jar")))
classes = [n for n in jar.namelist() if n.endswith(".class")]
assert "org/fieldcase/ffi/FieldcaseStore.class" in classes, classes[:10]
assert all(n.startswith("org/fieldcase/ffi/") for n in classes), [n for n in classes if not n.startswith("org/fieldcase/ffi/")][:5]
# Java 8 class files (major 52), which every D8 reads.
majors = {int.from_bytes(jar.read(n)[6:8], "big") for n in classes}
assert majors == {52}, majors
PY
fi

# The packed bindings against the packed library: loading the library object runs UniFFI's
# contract-version and checksum checks, which fail when the two come from different sources.
name=android-aar-bindings-load-the-packed-library
mkdir -p "$work/unpacked"
(cd "$work/unpacked" && python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall()' "$work/android/fieldcase-ffi.aar" 2>/dev/null) || true
cat > "$work/LoadCheck.java" <<'JAVA'
public class LoadCheck {
    public static void main(String[] args) throws Exception {
        // parseEnrolmentLink is a top-level function: calling it loads the library and runs the checks.
        java.lang.reflect.Method parse = Class.forName("org.fieldcase.ffi.Fieldcase_ffiKt")
            .getMethod("parseEnrolmentLink", String.class);
        try {
            parse.invoke(null, "");
            throw new AssertionError("a malformed link was accepted");
        } catch (java.lang.reflect.InvocationTargetException e) {
            String kind = e.getCause().getClass().getName();
            if (!kind.startsWith("org.fieldcase.ffi.FieldcaseException")) throw new AssertionError("unexpected " + e.getCause(), e.getCause());
            System.out.println("loaded; the library answered " + kind);
        }
    }
}
JAVA
if [ -f "$work/unpacked/classes.jar" ] &&
    run "$name" 0 java -Djna.library.path="$work/unpacked/jni/x86_64" \
        -cp "$work/unpacked/classes.jar:$KOTLIN_STDLIB:$KOTLIN_CLASSPATH" "$work/LoadCheck.java"; then
    pass "$name"
elif [ ! -f "$work/unpacked/classes.jar" ]; then
    fail "$name" "no AAR to unpack"
fi

name=android-refuses-a-library-under-the-wrong-abi
mkdir -p "$work/wrong/arm64-v8a"
cp "$hostlib" "$work/wrong/arm64-v8a/"
run "$name" 1 bash ffi/build-android.sh --package-only "$work/wrong" --out "$work/android-wrong" &&
    says "$name" "jni/arm64-v8a/libfieldcase_ffi.so: ELF machine 62, arm64-v8a needs 183" && pass "$name"

# --- Apple ---
if [ "$(uname -s)" != Darwin ]; then
    name=apple-refuses-off-macos
    if run "$name" 1 bash ffi/build-apple.sh --macos --out "$work/apple-none"; then
        wanted=("cannot build the Apple XCFramework on this machine; missing:" "macOS" "xcodebuild")
        targets="$(absent aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)"
        [ -z "$targets" ] || wanted+=("rustup target add ${targets% }")
        says "$name" "${wanted[@]}" && pass "$name"
    fi
fi

name=apple-swift-package-from-the-template
if run "$name" 0 bash ffi/build-apple.sh --swift-package-only --out "$work/apple"; then
    if python3 - "$work/apple/FieldcaseFFI" <<'PY'; then pass "$name"; else fail "$name" "package"; fi
import os, re, sys
pkg = sys.argv[1]
manifest = open(os.path.join(pkg, "Package.swift")).read()
assert "@" not in re.sub(r"//.*", "", manifest), "a placeholder is left in Package.swift"
assert '.binaryTarget(name: "FieldcaseFFIFFI", path: "FieldcaseFFI.xcframework")' in manifest, manifest
assert 'dependencies: ["FieldcaseFFIFFI"]' in manifest and 'path: "Sources/FieldcaseFFI"' in manifest
swift = open(os.path.join(pkg, "Sources/FieldcaseFFI/FieldcaseFFI.swift")).read()
assert "import FieldcaseFFIFFI" in swift, "the bindings import another module than the binary target"
modulemap = open(os.path.join(pkg, "Headers/FieldcaseFFIFFI/module.modulemap")).read()
assert re.search(r"module\s+FieldcaseFFIFFI\b", modulemap), modulemap
header = re.search(r'header\s+"([^"]+)"', modulemap).group(1)
assert os.path.exists(os.path.join(pkg, "Headers/FieldcaseFFIFFI", header)), header
PY
fi

name=swift-typecheck-says-when-it-skipped
if command -v swiftc >/dev/null; then
    run "$name" 0 bash ffi/check-swift.sh && pass "$name"
else
    run "$name" 0 bash ffi/check-swift.sh && says "$name" "SKIPPED the Swift type-check: no swiftc" && pass "$name"
    name=swift-typecheck-required-fails-without-swiftc
    run "$name" 1 bash ffi/check-swift.sh --require && pass "$name"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
