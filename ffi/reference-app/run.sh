#!/usr/bin/env bash
# Plays the reference app's officer's day on the JVM against a real fieldcase-server on
# 127.0.0.1, with the library built for this host.
#
#   bash ffi/reference-app/run.sh
#
# Installs what it lacks through ffi/tests/kotlin/tools.sh (JDK, JNA, kotlinc), generates the
# bindings (ffi/generate-bindings.sh, which also builds the server binary), compiles the app
# against them and runs it; it prints each step and `N passed, N failed`, and exits non-zero
# on the first failed check.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/ffi/reference-app"

source "$root/ffi/tests/kotlin/tools.sh"
kotlin_tools_install >/dev/null

bash "$root/ffi/generate-bindings.sh" >/dev/null
libdir="$(cat "$root/ffi/tests/kotlin/generated/LIBRARY_DIR")"
bindings="$(kotlin_bindings_jar)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
"$KOTLINC" -nowarn "$here"/src/*.kt -cp "$bindings:$KOTLIN_CLASSPATH" -d "$work/app.jar"
echo "compiled in $(( $(date +%s) - start )) s"

# Headless: the camera and signing-pad stand-ins draw with java.awt, no display needed.
java -Djava.awt.headless=true -Djna.library.path="$libdir" \
    -cp "$work/app.jar:$bindings:$KOTLIN_STDLIB:$KOTLIN_CLASSPATH" \
    OfficerDayKt "$libdir/fieldcase-server" "$work/day"
