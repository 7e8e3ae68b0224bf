#!/usr/bin/env python3
"""Check the catalogue under schemas/catalogue/ against its JSON Schema and cross-file rules.

Usage: python3 scripts/check_catalogue.py

Every *.json file directly under schemas/catalogue/ must validate against
schemas/catalogue.schema.json and satisfy the invariants below, which JSON Schema
cannot express. Files under schemas/catalogue/bad/ are the opposite: each must be
rejected. A bad file named schema-*.json must fail the schema; one named
invariant-*.json must pass the schema and fail an invariant, which proves the
invariant is needed on top of the schema.

Prints a one-line summary and exits 0 when everything holds, 1 otherwise
(2 when the jsonschema package is missing).
"""

import json
import sys
from pathlib import Path

try:
    from jsonschema import Draft202012Validator
except ImportError:
    sys.stderr.write("check_catalogue: the 'jsonschema' package is missing; run: pip install jsonschema\n")
    sys.exit(2)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "catalogue.schema.json"
CATALOGUE_DIR = ROOT / "schemas" / "catalogue"
BAD_DIR = CATALOGUE_DIR / "bad"

# The 721 class of each method (see schemas/catalogue/README.md for the reasons).
EXPECTED_CLASS = {
    "guidance": "service",
    "mediation": "service",
    "persuasion": "service",
    "demonstration": "service",
    "reminder": "service",
    "follow_up": "service",
    "warning": "management",
    "interview": "management",
    "correction_order": "management",
    "penalty": "enforcement",
}

# Fields the code relies on: (method, field) -> (type, required). More optional fields may exist.
CONTRACT_FIELDS = {
    ("guidance", "topic"): ("text", True),
    ("guidance", "advice"): ("text", True),
    ("guidance", "materials"): ("text_list", False),
    ("mediation", "parties"): ("text_list", True),
    ("mediation", "dispute"): ("text", True),
    ("mediation", "agreement"): ("text", True),
    ("mediation", "signatures"): ("evidence_refs", False),
    ("persuasion", "explained"): ("text", True),
    ("persuasion", "outcome"): ("enum", True),
    ("demonstration", "team"): ("text", True),
    ("demonstration", "started_at"): ("date_time", True),
    ("demonstration", "ended_at"): ("date_time", True),
    ("demonstration", "people_persuaded"): ("integer", True),
    ("demonstration", "photos"): ("evidence_refs", False),
    ("reminder", "reminded"): ("text", True),
    ("reminder", "duty"): ("text", True),
    ("reminder", "reason"): ("enum", True),
    ("follow_up", "corrected"): ("boolean", True),
    ("follow_up", "opinion"): ("text", False),
    ("follow_up", "satisfaction"): ("enum", False),
    ("warning", "warning_text"): ("text", True),
    ("warning", "deadline"): ("date_time", True),
    ("interview", "attendees"): ("text_list", True),
    ("interview", "problems"): ("text_list", True),
    ("interview", "rectification_items"): ("text_list", True),
    ("correction_order", "deadline"): ("date_time", True),
    ("correction_order", "items"): ("text_list", False),
    ("penalty", "tier"): ("text", True),
    ("penalty", "amount_yuan"): ("integer", True),
    ("penalty", "reason"): ("text", True),
}
CONTRACT_VALUES = {
    ("persuasion", "outcome"): ["accepted", "partially_accepted", "refused"],
    ("reminder", "reason"): ["complaint", "hotspot", "data_analysis", "patrol"],
    ("follow_up", "satisfaction"): ["satisfied", "neutral", "dissatisfied"],
}

SEVERITY = ["none", "trivial", "minor", "general", "serious", "severe"]
SOURCE_PREFIXES = ("sourced:", "general knowledge")


class DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKeyError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def load_json(path):
    with path.open(encoding="utf-8") as fh:
        return json.load(fh, object_pairs_hook=_no_duplicates)


def schema_errors(validator, doc):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def check_methods(doc):
    errs = []
    seen = set()
    for m in doc["methods"]:
        mid = m["method"]
        if mid in seen:
            errs.append(f"method {mid}: listed twice")
        seen.add(mid)
        if m["measure_category"] != EXPECTED_CLASS[mid]:
            errs.append(f"method {mid}: measure_category {m['measure_category']!r}, expected {EXPECTED_CLASS[mid]!r}")
        names = [f["name"] for f in m["fields"]]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            errs.append(f"method {mid}: duplicate field names {dupes}")
        by_name = {f["name"]: f for f in m["fields"]}
        for (cm, cf), (ctype, creq) in CONTRACT_FIELDS.items():
            if cm != mid:
                continue
            f = by_name.get(cf)
            if f is None:
                errs.append(f"method {mid}: missing field {cf!r}")
                continue
            if (f["type"], f["required"]) != (ctype, creq):
                errs.append(f"method {mid}: field {cf!r} is ({f['type']}, required={f['required']}), "
                            f"expected ({ctype}, required={creq})")
            expected_values = CONTRACT_VALUES.get((cm, cf))
            if expected_values is not None and f.get("values") != expected_values:
                errs.append(f"method {mid}: field {cf!r} values {f.get('values')}, expected {expected_values}")
    missing = sorted(set(EXPECTED_CLASS) - seen)
    if missing:
        errs.append(f"methods missing: {missing}")
    return errs


def check_item(it):
    errs = []
    code = it["code"]
    applies = set(it["applies_to"])
    tiers = it["tiers"]
    seen = set()
    by_party = {}
    for t in tiers:
        key = (t["tier"], t["party_type"])
        if key in seen:
            errs.append(f"{code}: tier {key[0]}/{key[1]} listed twice")
        seen.add(key)
        if t["min_yuan"] > t["max_yuan"]:
            errs.append(f"{code}: tier {key[0]}/{key[1]} has min_yuan {t['min_yuan']} > max_yuan {t['max_yuan']}")
        if t["tier"] == "none" and (t["min_yuan"], t["max_yuan"]) != (0, 0):
            errs.append(f"{code}: tier none/{key[1]} must be 0-0 yuan")
        by_party.setdefault(t["party_type"], []).append(t)
    tier_parties = set(by_party)
    for party in sorted(applies - tier_parties):
        errs.append(f"{code}: applies to {party} but has no tier for {party}")
    for party in sorted(tier_parties - applies):
        errs.append(f"{code}: has tiers for {party} but does not apply to {party}")
    for party, rows in by_party.items():
        rows = sorted(rows, key=lambda r: SEVERITY.index(r["tier"]))
        for lo, hi in zip(rows, rows[1:]):
            if hi["min_yuan"] < lo["min_yuan"] or hi["max_yuan"] < lo["max_yuan"]:
                errs.append(f"{code}: {party} tier {hi['tier']} ({hi['min_yuan']}-{hi['max_yuan']}) is below "
                            f"tier {lo['tier']} ({lo['min_yuan']}-{lo['max_yuan']})")
    ex = it["exemption"]
    for tier in ex["exempt_tiers"]:
        for party in sorted(applies):
            if (tier, party) not in seen:
                errs.append(f"{code}: exempt tier {tier} has no {party} row in tiers")
    roles = {b["role"] for b in it["legal_basis"]}
    if not roles & {"prohibition", "penalty"}:
        errs.append(f"{code}: legal_basis has neither a prohibition nor a penalty article")
    if ex["kinds"]:
        if not ex["requires_correction_by_deadline"]:
            errs.append(f"{code}: an exemptable item must require correction (exempt from penalty, not from duty)")
        if "exemption" not in roles:
            errs.append(f"{code}: exemptable but legal_basis cites no exemption article")
        if it["default_correction_hours"] > 0 and not ex["pledge_required"]:
            errs.append(f"{code}: correction is not on the spot, so exemption needs a signed pledge")
    note = it.get("source_note")
    if note is None or not note.startswith(SOURCE_PREFIXES):
        errs.append(f"{code}: source_note must start with 'sourced:' or 'general knowledge'")
    return errs


def check_items(doc):
    errs = []
    areas = {it["code"][3:5] for it in doc["items"]}
    if len(areas) > 1:
        errs.append(f"items use several area codes {sorted(areas)}; one file holds one area")
    codes = [it["code"] for it in doc["items"]]
    for c in sorted({c for c in codes if codes.count(c) > 1}):
        errs.append(f"code {c} used twice")
    for it in doc["items"]:
        errs.extend(check_item(it))
    return errs


def check_file(doc):
    return check_methods(doc) if doc["part"] == "methods" else check_items(doc)


def main():
    failures = []
    schema = load_json(SCHEMA_PATH)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)

    docs = {}
    files = sorted(CATALOGUE_DIR.glob("*.json"))
    if not files:
        failures.append(f"no catalogue files in {CATALOGUE_DIR}")
    for path in files:
        rel = path.relative_to(ROOT)
        try:
            doc = load_json(path)
        except (ValueError, OSError) as e:
            failures.append(f"{rel}: cannot read: {e}")
            continue
        errs = schema_errors(validator, doc)
        if errs:
            failures.extend(f"{rel}: schema: {e}" for e in errs)
            continue
        expected_part = "methods" if path.name == "methods.json" else "items"
        if not (path.name == "methods.json" or path.name.startswith("items-")):
            failures.append(f"{rel}: file name must be methods.json or items-<area>.json")
        elif doc["part"] != expected_part:
            failures.append(f"{rel}: part is {doc['part']!r}, expected {expected_part!r}")
        failures.extend(f"{rel}: {e}" for e in check_file(doc))
        docs[rel] = doc

    # Cross-file invariants.
    versions = {doc["catalogue_version"] for doc in docs.values()}
    if len(versions) > 1:
        failures.append(f"catalogue_version differs between files: {sorted(versions)}")
    method_files = [rel for rel, doc in docs.items() if doc["part"] == "methods"]
    if len(method_files) != 1:
        failures.append(f"expected exactly one methods file, found {[str(r) for r in method_files]}")
    code_home = {}
    area_home = {}
    for rel, doc in docs.items():
        for it in doc.get("items", []):
            code = it["code"]
            if code in code_home and code_home[code] != rel:
                failures.append(f"{rel}: code {code} also used in {code_home[code]}")
            code_home.setdefault(code, rel)
            area = code[3:5]
            if area in area_home and area_home[area] != rel:
                failures.append(f"{rel}: area {area} also used in {area_home[area]}")
            area_home.setdefault(area, rel)

    # Bad files must be rejected, each by the layer its name announces.
    bad_files = sorted(BAD_DIR.glob("*.json")) if BAD_DIR.is_dir() else []
    for path in bad_files:
        rel = path.relative_to(ROOT)
        try:
            doc = load_json(path)
        except (ValueError, OSError):
            continue  # unreadable JSON is rejected too
        schema_errs = schema_errors(validator, doc)
        if path.name.startswith("schema-"):
            if not schema_errs:
                failures.append(f"{rel}: expected the schema to reject it, but it validates")
        elif path.name.startswith("invariant-"):
            if schema_errs:
                failures.append(f"{rel}: expected to pass the schema and fail an invariant, "
                                f"but the schema rejects it: {schema_errs[0]}")
            elif not check_file(doc):
                failures.append(f"{rel}: expected an invariant to reject it, but none does")
        else:
            failures.append(f"{rel}: bad files must be named schema-*.json or invariant-*.json")

    if failures:
        for f in failures:
            sys.stderr.write(f"FAIL {f}\n")
        sys.stderr.write(f"check_catalogue: {len(failures)} problem(s)\n")
        return 1

    n_methods = sum(len(doc.get("methods", [])) for doc in docs.values())
    n_items = sum(len(doc.get("items", [])) for doc in docs.values())
    version = next(iter(versions)) if versions else "?"
    print(f"catalogue {version} OK: {len(docs)} files, {n_methods} methods, {n_items} items; "
          f"{len(bad_files)} bad files rejected as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
