#!/usr/bin/env python3
"""Checks the layout of a fieldcase-ffi AAR, as Android's build tools read it.

    python3 ffi/android/check_aar.py target/android/fieldcase-ffi.aar --abi arm64-v8a --abi x86_64

Exits non-zero naming every problem: an AAR that Gradle accepts but that fails on the phone
(a library of the wrong architecture under an ABI folder, bindings missing from classes.jar,
no keep rules, so R8 strips what JNA looks up by name) is worse than no AAR.
"""

import argparse
import io
import struct
import sys
import xml.etree.ElementTree as ET
import zipfile

PACKAGE = "org.fieldcase.ffi"
LIBRARY = "libfieldcase_ffi.so"
ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
# ELF e_machine of each Android ABI.
MACHINES = {"arm64-v8a": 183, "armeabi-v7a": 40, "x86_64": 62, "x86": 3}
# Classes the app cannot do without: the store, its options, the error type, JNA's bridge.
CLASSES = [
    "org/fieldcase/ffi/FieldcaseStore.class",
    "org/fieldcase/ffi/StoreOptions.class",
    "org/fieldcase/ffi/FieldcaseException.class",
    "org/fieldcase/ffi/UniffiLib.class",
]
KEEP_RULES = ["-keep class com.sun.jna.** { *; }", "-keep class org.fieldcase.ffi.** { *; }"]


def elf_machine(data):
    if data[:4] != b"\x7fELF":
        return None
    endian = "<" if data[5] == 1 else ">"
    return struct.unpack_from(endian + "H", data, 18)[0]


def check(path, abis):
    problems = []
    try:
        aar = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        return [f"not a zip file: {e}"]
    with aar:
        names = set(aar.namelist())
        bad = aar.testzip()
        if bad:
            problems.append(f"damaged entry {bad}")
        for required in ("AndroidManifest.xml", "classes.jar", "R.txt", "proguard.txt"):
            if required not in names:
                problems.append(f"{required} missing")

        if "AndroidManifest.xml" in names:
            try:
                manifest = ET.fromstring(aar.read("AndroidManifest.xml"))
                if manifest.tag != "manifest":
                    problems.append(f"AndroidManifest.xml: root is <{manifest.tag}>")
                if manifest.get("package") != PACKAGE:
                    problems.append(f"AndroidManifest.xml: package {manifest.get('package')!r}, not {PACKAGE}")
                sdk = manifest.find("uses-sdk")
                min_sdk = None if sdk is None else sdk.get(ANDROID_NS + "minSdkVersion")
                if min_sdk is None or not min_sdk.isdigit():
                    problems.append(f"AndroidManifest.xml: no numeric minSdkVersion ({min_sdk!r})")
            except ET.ParseError as e:
                problems.append(f"AndroidManifest.xml does not parse: {e}")

        if "classes.jar" in names:
            try:
                jar = zipfile.ZipFile(io.BytesIO(aar.read("classes.jar")))
                classes = set(jar.namelist())
                for cls in CLASSES:
                    if cls not in classes:
                        problems.append(f"classes.jar: {cls} missing")
                stray = [c for c in classes if c.endswith(".class") and not c.startswith("org/fieldcase/ffi/")]
                if stray:
                    problems.append(f"classes.jar holds classes outside {PACKAGE}: {sorted(stray)[:5]}")
            except zipfile.BadZipFile as e:
                problems.append(f"classes.jar is not a jar: {e}")

        if "proguard.txt" in names:
            rules = aar.read("proguard.txt").decode()
            for rule in KEEP_RULES:
                if rule not in rules:
                    problems.append(f"proguard.txt: `{rule}` missing")

        libs = {n.split("/")[1] for n in names if n.startswith("jni/") and n.endswith("/" + LIBRARY)}
        for abi in abis:
            if abi not in libs:
                problems.append(f"jni/{abi}/{LIBRARY} missing")
        for abi in sorted(libs):
            if abi not in MACHINES:
                problems.append(f"jni/{abi}: not an Android ABI")
                continue
            machine = elf_machine(aar.read(f"jni/{abi}/{LIBRARY}")[:64])
            if machine != MACHINES[abi]:
                problems.append(f"jni/{abi}/{LIBRARY}: ELF machine {machine}, {abi} needs {MACHINES[abi]}")
        if not libs:
            problems.append("no jni/<abi>/" + LIBRARY)
        unknown = [n for n in names if not (n.startswith("jni/") or n in
                   ("AndroidManifest.xml", "classes.jar", "R.txt", "proguard.txt"))]
        if unknown:
            problems.append(f"unexpected entries: {sorted(unknown)}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("aar")
    parser.add_argument("--abi", action="append", default=[], help="an ABI the AAR must hold")
    args = parser.parse_args()
    problems = check(args.aar, args.abi)
    for p in problems:
        print(f"{args.aar}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.aar}: layout ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
