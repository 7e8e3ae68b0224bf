#!/usr/bin/env python3
"""Check catalogue v2: the national base plus one jurisdiction profile.

Usage: python3 scripts/check_catalogue_v2.py [profile_dir]
       (default profile: schemas/catalogue/profiles/cn-ah-la)
       python3 scripts/check_catalogue_v2.py --self-test
       (breaks copies of the profile in ten ways and checks that each break is caught)

Stdlib only. Loads schemas/catalogue/base/{laws,items-*}.json and the profile's
{profile,laws,items-*,local-basis,benchmarks,exemption-list}.json and checks:
  - one catalogue_version in every file;
  - unique item codes across base and profile;
  - every law id referenced (items, local basis, exemption basis) exists; base items
    cite national (jurisdiction CN) laws only; profile laws are CN-AH or CN-AH-LA;
  - a legal_basis entry marked confirmed has an article and a text;
  - every benchmark code exists; every tier's penalty is one the item's law prescribes;
    a fine tier needs a statutory fine for its party type with a known maximum and lies
    inside it (tiers flagged on_refusal are checked against fine_on_refusal; percent
    tiers against fine_percent_of_construction_cost); no fine tier when penalties.fine
    is null; warning tiers carry 0/0;
  - for correction_order_first items every tier's conditions presuppose an uncorrected
    order (逾期 / 拒不改正 / 未在期限内) and no tier is exemptable;
  - exempt tiers exist in the item's benchmarks and their conditions do not contain
    逾期未改正 / 拒不改正; exemption kinds are known and carry first_offence_required;
  - every item has an exemption-list entry.
Prints a summary and exits 1 on any violation.
"""
import glob
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAT = ROOT / "schemas" / "catalogue"
errors = []
warnings = []


def err(msg):
    errors.append(msg)


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        err(f"{path}: cannot load: {e}")
        return None


PENALTY_KINDS = {"warning", "fine", "confiscate_illegal_gains", "confiscate_illegal_property", "suspend", "revoke"}
ROLES = {"prohibition", "penalty", "correction_order", "exemption", "procedure"}
TIERS = ["trivial", "minor", "general", "serious", "severe"]
LEVELS = {"national_law", "state_council_regulation", "provincial_regulation", "municipal_regulation",
          "provincial_rule", "municipal_rule", "normative_document"}
UNCORRECTED_MARKERS = ("逾期", "拒不改正", "未在期限内")
EXEMPT_FORBIDDEN = ("逾期未改正", "拒不改正", "逾期不改正")


def main():
    prof_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else CAT / "profiles" / "cn-ah-la"
    files = {}
    files["base/laws.json"] = load(CAT / "base" / "laws.json")
    base_item_files = sorted(glob.glob(str(CAT / "base" / "items-*.json")))
    prof_item_files = sorted(glob.glob(str(prof_dir / "items-*.json")))
    for p in base_item_files:
        files["base/" + Path(p).name] = load(p)
    for p in prof_item_files:
        files["profile/" + Path(p).name] = load(p)
    for name in ["profile", "laws", "local-basis", "benchmarks", "exemption-list"]:
        files[f"profile/{name}.json"] = load(prof_dir / f"{name}.json")
    if any(v is None for v in files.values()):
        return report(0, 0, 0, 0)

    versions = {k: v.get("catalogue_version") for k, v in files.items()}
    if len(set(versions.values())) != 1:
        err(f"catalogue_version differs between files: {versions}")

    # laws
    laws = {}
    for key, juris_ok in [("base/laws.json", {"CN"}), ("profile/laws.json", {"CN-AH", "CN-AH-LA"})]:
        for law in files[key].get("laws", []):
            lid = law.get("id")
            if lid in laws:
                err(f"{key}: duplicate law id {lid}")
            if law.get("jurisdiction") not in juris_ok:
                err(f"{key}: law {lid} has jurisdiction {law.get('jurisdiction')}, expected one of {sorted(juris_ok)}")
            if law.get("level") not in LEVELS:
                err(f"{key}: law {lid} has unknown level {law.get('level')}")
            if not isinstance(law.get("confirmed"), bool):
                err(f"{key}: law {lid} lacks a boolean 'confirmed'")
            if law.get("confirmed") and not law.get("source"):
                err(f"{key}: law {lid} is confirmed but has no source")
            laws[lid] = law
    national = {k for k, v in laws.items() if v.get("jurisdiction") == "CN"}

    n_articles = [0, 0]  # confirmed, not (citations)
    distinct = {}  # (law, article) -> confirmed anywhere

    def check_basis(where, basis, allowed):
        for b in basis:
            lid = b.get("law")
            if lid not in laws:
                err(f"{where}: unknown law id {lid}")
            elif lid not in allowed:
                err(f"{where}: law {lid} is not allowed here (base items cite national law only)")
            if b.get("role") not in ROLES:
                err(f"{where}: unknown role {b.get('role')}")
            if not isinstance(b.get("confirmed"), bool):
                err(f"{where}: basis entry for {lid} lacks a boolean 'confirmed'")
            distinct.setdefault((lid, b.get("article")), False)
            if b.get("confirmed"):
                distinct[(lid, b.get("article"))] = True
                n_articles[0] += 1
                if not b.get("article") or not b.get("text"):
                    err(f"{where}: confirmed basis {lid} {b.get('article')} has no article or no text")
                if lid in laws and not laws[lid].get("confirmed") and lid not in national:
                    warnings.append(f"{where}: article of {lid} confirmed although the law entry as a whole is not")
            else:
                n_articles[1] += 1

    # items
    items = {}
    for key in files:
        if not Path(key).name.startswith("items-"):
            continue
        is_base = key.startswith("base/")
        for it in files[key].get("items", []):
            code = it.get("code")
            if code in items:
                err(f"{key}: duplicate item code {code}")
            items[code] = it
            pen = it.get("penalties", {})
            kinds = pen.get("kinds", [])
            for k in kinds:
                if k not in PENALTY_KINDS:
                    err(f"{code}: unknown penalty kind {k}")
            if ("fine" in kinds) != (pen.get("fine") is not None):
                err(f"{code}: 'fine' in kinds must match a non-null penalties.fine")
            if not isinstance(pen.get("correction_order_first"), bool):
                err(f"{code}: penalties.correction_order_first must be a boolean")
            fine = pen.get("fine")
            if fine is not None:
                for party in it.get("applies_to", []):
                    r = fine.get(party)
                    if r is not None and r.get("max_yuan") is not None and r["min_yuan"] > r["max_yuan"]:
                        err(f"{code}: statutory {party} range min > max")
            check_basis(code, it.get("legal_basis", []), national if is_base else set(laws))
            if is_base and not any(b.get("role") in ("prohibition", "penalty") and b.get("confirmed") for b in it.get("legal_basis", [])):
                err(f"{code}: base item without a confirmed prohibition or penalty article")
            if kinds and not any(b.get("role") == "penalty" and b.get("confirmed") for b in it.get("legal_basis", [])):
                err(f"{code}: penalty kinds listed but no confirmed penalty article")

    # local basis
    lb = files["profile/local-basis.json"]
    for e in lb.get("entries", []):
        if e.get("code") not in items:
            err(f"local-basis: unknown code {e.get('code')}")
        check_basis(f"local-basis {e.get('code')}", e.get("legal_basis", []), set(laws))

    # benchmarks
    bms = {}
    for b in files["profile/benchmarks.json"].get("items", []):
        code = b.get("code")
        if code in bms:
            err(f"benchmarks: duplicate code {code}")
        bms[code] = b
        it = items.get(code)
        if it is None:
            err(f"benchmarks: unknown code {code}")
            continue
        pen = it["penalties"]
        kinds = pen.get("kinds", [])
        fine = pen.get("fine")
        seen = set()
        for tr in b.get("tiers", []):
            where = f"benchmarks {code} {tr.get('tier')}/{tr.get('party_type')}"
            if tr.get("tier") not in TIERS:
                err(f"{where}: unknown tier")
            if (tr.get("tier"), tr.get("party_type"), tr.get("on_refusal", False)) in seen:
                err(f"{where}: duplicate tier row")
            seen.add((tr.get("tier"), tr.get("party_type"), tr.get("on_refusal", False)))
            if tr.get("party_type") not in it.get("applies_to", []):
                err(f"{where}: party type not in the item's applies_to")
            p = tr.get("penalty")
            if p not in ("warning", "fine"):
                err(f"{where}: penalty must be warning or fine")
            if p not in kinds:
                err(f"{where}: penalty '{p}' is not prescribed by the item's law (kinds {kinds})")
            if p == "warning" and (tr.get("min_yuan"), tr.get("max_yuan")) != (0, 0):
                err(f"{where}: a warning tier carries 0/0 yuan")
            if p == "fine":
                if fine is None:
                    err(f"{where}: fine tier for an item whose law sets no fine")
                elif tr.get("metric") == "percent_of_construction_cost":
                    pc = pen.get("fine_percent_of_construction_cost")
                    if not pc:
                        err(f"{where}: percent tier but the item has no percent range")
                    else:
                        lo = min(v["min"] for v in pc.values())
                        hi = max(v["max"] for v in pc.values())
                        if not (lo <= tr.get("min_percent", -1) <= tr.get("max_percent", -1) <= hi):
                            err(f"{where}: percent range {tr.get('min_percent')}-{tr.get('max_percent')} outside {lo}-{hi}")
                else:
                    rng = (pen.get("fine_on_refusal") or {}).get(tr.get("party_type")) if tr.get("on_refusal") else fine.get(tr.get("party_type"))
                    if rng is None:
                        err(f"{where}: no statutory fine for this party type")
                    elif rng.get("max_yuan") is None:
                        err(f"{where}: statutory maximum not set (amount left to unconfirmed local law): no fine tier allowed")
                    else:
                        lo, hi = tr.get("min_yuan"), tr.get("max_yuan")
                        if not (isinstance(lo, int) and isinstance(hi, int) and rng["min_yuan"] <= lo <= hi <= rng["max_yuan"]):
                            err(f"{where}: {lo}-{hi} outside statutory {rng['min_yuan']}-{rng['max_yuan']}")
            if pen.get("correction_order_first"):
                zh = tr.get("conditions", {}).get("zh", "")
                if not any(m in zh for m in UNCORRECTED_MARKERS):
                    err(f"{where}: correction_order_first item, but the tier does not presuppose an uncorrected order")

    # exemption list
    ex = files["profile/exemption-list.json"]
    ex_codes = set()
    for e in ex.get("items", []):
        code = e.get("code")
        ex_codes.add(code)
        it = items.get(code)
        if it is None:
            err(f"exemption-list: unknown code {code}")
            continue
        for k in e.get("kinds", []):
            if k.get("kind") not in ("first_offence", "minor_no_penalty"):
                err(f"exemption-list {code}: unknown kind {k.get('kind')}")
            if not isinstance(k.get("first_offence_required"), bool):
                err(f"exemption-list {code}: kind {k.get('kind')} lacks first_offence_required")
        check_basis(f"exemption-list {code}", e.get("basis", []), set(laws))
        if e.get("kinds") and it["penalties"].get("correction_order_first"):
            err(f"exemption-list {code}: exemptable, but the law allows a penalty only after an uncorrected order")
        tiers = {tr["tier"]: tr for tr in bms.get(code, {}).get("tiers", [])} if code in bms else {}
        for et in e.get("exempt_tiers", []):
            if et not in ("trivial", "minor"):
                err(f"exemption-list {code}: exempt tier {et} must be trivial or minor")
            rows = [tr for tr in bms.get(code, {}).get("tiers", []) if tr["tier"] == et]
            if not rows:
                err(f"exemption-list {code}: exempt tier {et} not in benchmarks")
            for tr in rows:
                if any(m in tr.get("conditions", {}).get("zh", "") for m in EXEMPT_FORBIDDEN):
                    err(f"exemption-list {code}: exempt tier {et} conditions contain an uncorrected-order clause")
            parties = {tr["party_type"] for tr in rows}
            missing = set(it.get("applies_to", [])) - parties
            if rows and missing:
                warnings.append(f"exemption-list {code}: exempt tier {et} missing for {sorted(missing)}")
        if e.get("exempt_tiers") and not e.get("kinds"):
            err(f"exemption-list {code}: exempt tiers without kinds")
    for code in items:
        if code not in ex_codes:
            err(f"exemption-list: no entry for {code}")
        if code not in bms:
            err(f"benchmarks: no entry for {code}")

    prof = files["profile/profile.json"]
    for k in ("review_threshold", "hearing_threshold", "simple_procedure_cap", "rights", "time_limits"):
        if k not in prof:
            err(f"profile: missing {k}")

    laws_conf = sum(1 for l in laws.values() if l.get("confirmed"))
    d_conf = sum(1 for v in distinct.values() if v)
    print(f"distinct articles: {d_conf} confirmed, {len(distinct) - d_conf} unconfirmed or unnamed")
    return report(len(items), len(laws), laws_conf, n_articles)


def report(n_items, n_laws, laws_conf, n_articles):
    for w in warnings:
        print("warning:", w)
    for e in errors:
        print("error:", e)
    if n_items:
        print(f"catalogue v2: {n_items} items, {n_laws} laws ({laws_conf} confirmed), "
              f"articles cited {n_articles[0]} confirmed / {n_articles[1]} unconfirmed; "
              f"{len(errors)} error(s), {len(warnings)} warning(s)")
    return 1 if errors else 0


SELF_TESTS = [
    # (name, file, mutation(data), expected error substring)
    ("tier below the statutory minimum", "benchmarks.json",
     lambda d: _tier(d, "CG-CW-001", 0).update(min_yuan=200), "outside statutory 2000-20000"),
    ("fine tier while the amount is unset", "benchmarks.json",
     lambda d: _bm(d, "CG-AP-001")["tiers"].append({"tier": "serious", "party_type": "person", "penalty": "fine", "min_yuan": 50, "max_yuan": 100, "conditions": {"zh": "x", "en": "x"}}),
     "statutory maximum not set"),
    ("exempt tier conditioned on an expired order", "benchmarks.json",
     lambda d: _tier(d, "CG-ST-001", 0)["conditions"].update(zh="逾期未改正"), "uncorrected-order clause"),
    ("correction-order-first tier without refusal", "benchmarks.json",
     lambda d: _tier(d, "CG-NO-002", 0)["conditions"].update(zh="首次"), "does not presuppose an uncorrected order"),
    ("warning tier where the law has no warning", "benchmarks.json",
     lambda d: _tier(d, "CG-ST-001", 0).update(penalty="warning", min_yuan=0, max_yuan=0), "is not prescribed"),
    ("version mismatch", "exemption-list.json", lambda d: d.update(catalogue_version="1999.1.1"), "catalogue_version differs"),
    ("unknown law id", "local-basis.json",
     lambda d: d["entries"][0]["legal_basis"].append({"law": "zj-cacs-reg", "article": "第十七条", "role": "penalty", "text": "x", "confirmed": True}),
     "unknown law id zj-cacs-reg"),
    ("exempt tier missing from benchmarks", "exemption-list.json",
     lambda d: _ex(d, "CG-ST-002").update(exempt_tiers=["trivial"]), "not in benchmarks"),
    ("exemption for a correction-order-first item", "exemption-list.json",
     lambda d: _ex(d, "CG-AP-004").update(kinds=[{"kind": "first_offence", "first_offence_required": True, "conditions": {"zh": "x", "en": "x"}}]),
     "only after an uncorrected order"),
    ("profile item reusing a base code", "items-appearance.json",
     lambda d: d["items"].append(dict(d["items"][0], code="CG-ST-001")), "duplicate item code CG-ST-001"),
]


def _bm(d, code):
    return next(b for b in d["items"] if b["code"] == code)


def _tier(d, code, i):
    return _bm(d, code)["tiers"][i]


def _ex(d, code):
    return next(e for e in d["items"] if e["code"] == code)


def self_test():
    import shutil
    import subprocess
    import tempfile
    src = CAT / "profiles" / "cn-ah-la"
    failed = 0
    for name, fname, mutate, expect in SELF_TESTS:
        with tempfile.TemporaryDirectory() as tmp:
            dst = Path(tmp) / "profile"
            shutil.copytree(src, dst)
            with open(dst / fname, encoding="utf-8") as f:
                data = json.load(f)
            mutate(data)
            with open(dst / fname, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False)
            r = subprocess.run([sys.executable, __file__, str(dst)], capture_output=True, text=True)
            ok = r.returncode == 1 and expect in r.stdout
            failed += not ok
            print(("ok  " if ok else "FAIL") + f" {name}")
            if not ok:
                print(r.stdout)
    clean = subprocess.run([sys.executable, __file__], capture_output=True, text=True)
    print(("ok  " if clean.returncode == 0 else "FAIL") + " the shipped catalogue passes")
    failed += clean.returncode != 0
    print(f"self-test: {len(SELF_TESTS) + 1 - failed}/{len(SELF_TESTS) + 1} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(main())
