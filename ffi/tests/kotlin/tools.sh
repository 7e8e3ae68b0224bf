#!/usr/bin/env bash
# The JVM tools of the Kotlin binding tests, the reference app and the Android packaging: a
# JDK (Debian `default-jdk-headless`), JNA (Debian `libjna-java`) and the Kotlin compiler (npm
# package `kotlin-compiler`, unpacked under the repository's .tools/; it brings
# kotlinx-coroutines in its lib/).
#
#   bash ffi/tests/kotlin/tools.sh           # installs what is missing
#   source ffi/tests/kotlin/tools.sh         # defines the functions below, changes nothing
#
# After `kotlin_tools_find` (finds only) or `kotlin_tools_install` (installs what it lacks,
# then finds): KOTLINC, KOTLIN_STDLIB, JNA_JAR, COROUTINES_JAR and KOTLIN_CLASSPATH (JNA and
# coroutines: what the generated bindings compile against) are set; `kotlin_tools_find`
# returns non-zero and lists what is missing in KOTLIN_TOOLS_MISSING (one per line).

KOTLIN_VERSION=2.4.20

_kotlin_tools_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
KOTLIN_HOME="$_kotlin_tools_root/.tools/kotlin-compiler-$KOTLIN_VERSION"

kotlin_tools_find() {
    KOTLIN_TOOLS_MISSING=""
    if ! command -v java >/dev/null || ! command -v javac >/dev/null; then
        KOTLIN_TOOLS_MISSING+="a JDK (java, javac): apt-get install default-jdk-headless"$'\n'
    fi
    JNA_JAR=/usr/share/java/jna.jar
    if [ ! -f "$JNA_JAR" ]; then
        KOTLIN_TOOLS_MISSING+="JNA ($JNA_JAR): apt-get install libjna-java"$'\n'
    fi
    KOTLINC="$KOTLIN_HOME/bin/kotlinc"
    if [ ! -x "$KOTLINC" ]; then
        KOTLIN_TOOLS_MISSING+="kotlinc $KOTLIN_VERSION ($KOTLINC): bash ffi/tests/kotlin/tools.sh installs it"$'\n'
    fi
    KOTLIN_STDLIB="$KOTLIN_HOME/lib/kotlin-stdlib.jar"
    COROUTINES_JAR="$(ls "$KOTLIN_HOME"/lib/kotlinx-coroutines-core-jvm*.jar 2>/dev/null | head -n1 || true)"
    KOTLIN_CLASSPATH="$JNA_JAR${COROUTINES_JAR:+:$COROUTINES_JAR}"
    [ -z "$KOTLIN_TOOLS_MISSING" ]
}

_kotlin_tools_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

_kotlin_tools_apt() {
    _kotlin_tools_as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive _kotlin_tools_as_root apt-get install -y -qq "$@" >/dev/null
}

kotlin_tools_install() {
    if ! command -v java >/dev/null || ! command -v javac >/dev/null; then
        echo "installing a JDK" >&2
        _kotlin_tools_apt default-jdk-headless
    fi
    if [ ! -f /usr/share/java/jna.jar ]; then
        echo "installing JNA (libjna-java)" >&2
        _kotlin_tools_apt libjna-java
    fi
    if [ ! -x "$KOTLIN_HOME/bin/kotlinc" ]; then
        echo "installing kotlin-compiler $KOTLIN_VERSION into $KOTLIN_HOME" >&2
        command -v npm >/dev/null || _kotlin_tools_apt npm
        local tmp
        tmp="$(mktemp -d)"
        (cd "$tmp" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null)
        mkdir -p "$tmp/unpacked"
        tar -xzf "$tmp"/kotlin-compiler-*.tgz -C "$tmp/unpacked"
        rm -rf "$KOTLIN_HOME"
        mkdir -p "$(dirname "$KOTLIN_HOME")"
        mv "$tmp/unpacked/package" "$KOTLIN_HOME"
        chmod +x "$KOTLIN_HOME"/bin/*
        rm -rf "$tmp"
    fi
    kotlin_tools_find
}

# Compiles the generated bindings (ffi/generate-bindings.sh's Kotlin output) into a jar once
# per content, and prints its path: the reference app and the AAR both use it, and kotlinc
# takes most of a minute over the ten thousand generated lines. Class files for Java 8, which
# every Android build tool (D8) reads.
kotlin_bindings_jar() {
    local kt="$_kotlin_tools_root/ffi/tests/kotlin/generated/org/fieldcase/ffi/fieldcase_ffi.kt"
    local cache="$_kotlin_tools_root/ffi/tests/kotlin/build"
    [ -f "$kt" ] || { echo "kotlin_bindings_jar: $kt missing: run ffi/generate-bindings.sh" >&2; return 1; }
    local sum
    sum="$(sha256sum "$kt" | cut -c1-16)"
    local jar="$cache/bindings-$sum.jar"
    if [ ! -f "$jar" ]; then
        mkdir -p "$cache"
        rm -f "$cache"/bindings-*.jar
        "$KOTLINC" -nowarn -jvm-target 1.8 "$kt" -cp "$KOTLIN_CLASSPATH" -d "$jar.part.jar" >&2
        mv "$jar.part.jar" "$jar"
    fi
    echo "$jar"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    kotlin_tools_install
    echo "kotlinc: $KOTLINC"
    echo "classpath: $KOTLIN_CLASSPATH"
fi
