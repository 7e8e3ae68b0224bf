#!/usr/bin/env bash
# Kotlin binding tests on the JVM, against the library built for this host.
#
#   bash ffi/tests/kotlin/run.sh
#
# Installs what it lacks: the Kotlin compiler (npm package `kotlin-compiler`, unpacked under
# the repository's .tools/), JNA (Debian `libjna-java`) and a JDK (Debian
# `default-jdk-headless`). Then it generates the bindings, compiles them with Main.kt and runs
# the tests, which print `N passed, N failed`; the exit status is non-zero on any failure.
set -euo pipefail

KOTLIN_VERSION=2.4.20

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
here="$root/ffi/tests/kotlin"
tools="$root/.tools"
kotlin_home="$tools/kotlin-compiler-$KOTLIN_VERSION"
build="$here/build"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- tools ---
if ! command -v java >/dev/null || ! command -v javac >/dev/null; then
    echo "installing a JDK"
    apt_install default-jdk-headless
fi
jna=/usr/share/java/jna.jar
if [ ! -f "$jna" ]; then
    echo "installing JNA (libjna-java)"
    apt_install libjna-java
fi
if [ ! -x "$kotlin_home/bin/kotlinc" ]; then
    echo "installing kotlin-compiler $KOTLIN_VERSION into $kotlin_home"
    command -v npm >/dev/null || apt_install npm
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null)
    mkdir -p "$tmp/unpacked"
    tar -xzf "$tmp"/kotlin-compiler-*.tgz -C "$tmp/unpacked"
    rm -rf "$kotlin_home"
    mkdir -p "$tools"
    mv "$tmp/unpacked/package" "$kotlin_home"
    chmod +x "$kotlin_home"/bin/*
    rm -rf "$tmp"
fi
stdlib="$kotlin_home/lib/kotlin-stdlib.jar"
coroutines="$(ls "$kotlin_home"/lib/kotlinx-coroutines-core-jvm*.jar 2>/dev/null | head -n1 || true)"
classpath="$jna${coroutines:+:$coroutines}"

# --- bindings and library (always regenerated, so they match) ---
bash "$root/ffi/generate-bindings.sh" >/dev/null
libdir="$(cat "$here/generated/LIBRARY_DIR")"

# --- compile ---
mkdir -p "$build"
start=$(date +%s)
rm -f "$build/tests.jar"
"$kotlin_home/bin/kotlinc" -nowarn \
    "$here/generated/org/fieldcase/ffi/fieldcase_ffi.kt" "$here/Main.kt" \
    -cp "$classpath" -d "$build/tests.jar"
echo "compiled in $(( $(date +%s) - start )) s"

# --- run ---
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
java -Djna.library.path="$libdir" -cp "$build/tests.jar:$stdlib:$classpath" MainKt "$work"
