#!/usr/bin/env bash
# Kotlin binding tests on the JVM, against the library built for this host.
#
#   bash ffi/tests/kotlin/run.sh
#
# Installs what it lacks (tools.sh beside it: the Kotlin compiler from npm under the
# repository's .tools/, JNA and a JDK from Debian). Then it generates the bindings, compiles
# them with Main.kt and runs the tests, which print `N passed, N failed`; the exit status is
# non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
here="$root/ffi/tests/kotlin"
build="$here/build"

# --- tools ---
source "$here/tools.sh"
kotlin_tools_install >/dev/null

# --- bindings and library (always regenerated, so they match) ---
bash "$root/ffi/generate-bindings.sh" >/dev/null
libdir="$(cat "$here/generated/LIBRARY_DIR")"

# --- compile ---
mkdir -p "$build"
start=$(date +%s)
rm -f "$build/tests.jar"
"$KOTLINC" -nowarn \
    "$here/generated/org/fieldcase/ffi/fieldcase_ffi.kt" "$here/Main.kt" \
    -cp "$KOTLIN_CLASSPATH" -d "$build/tests.jar"
echo "compiled in $(( $(date +%s) - start )) s"

# --- run ---
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
java -Djna.library.path="$libdir" -cp "$build/tests.jar:$KOTLIN_STDLIB:$KOTLIN_CLASSPATH" MainKt "$work"
