"""Generate content/units/mo-duc-2024.csv: the 2024 units of Mộ Đức with SAMPLE figures.

The figures are estimates made up for testing and demos, not official statistics; see README.md
beside this file. The output is deterministic (fixed seed): run `python3 make_sample_figures.py`
from anywhere and the same CSV comes out. When real village names or counts are known, edit
COMMUNES below (or replace the CSV by an official export) and run it again.
"""

from __future__ import annotations

import csv
import random
import sys
import unicodedata
from pathlib import Path

OUT = Path(__file__).with_name("mo-duc-2024.csv")
SEED = 2024
DISTRICT_HOUSEHOLDS = 36_000
HOUSEHOLDS_PER_VILLAGE = 550  # rough size used only to decide how many placeholder villages
DISTRICT_POPULATION_2019 = 144_230  # Wikipedia infobox, huyện Mộ Đức (used only as weights)

FIELDS = [
    "code",
    "name",
    "kind",
    "parent",
    "households",
    "eligible_citizens",
    "working_age",
    "vneid_registered_baseline",
    "vneid_activated_baseline",
    "cqngai_baseline",
]
FIGURES = FIELDS[4:]

# (code, official name, population used as weight or None, village prefix, village label)
# In GSO code order (21400 … 21436). Populations: see README.md (sources).
COMMUNES: list[tuple[str, str, int | None, str, str]] = [
    ("tt-mo-duc", "Thị trấn Mộ Đức", None, "tdp", "Tổ dân phố"),
    ("duc-loi", "Xã Đức Lợi", 8_949, "thon", "Thôn"),
    ("duc-thang", "Xã Đức Thắng", 8_016, "thon", "Thôn"),
    ("duc-nhuan", "Xã Đức Nhuận", None, "thon", "Thôn"),
    ("duc-chanh", "Xã Đức Chánh", None, "thon", "Thôn"),
    ("duc-hiep", "Xã Đức Hiệp", None, "thon", "Thôn"),
    ("duc-minh", "Xã Đức Minh", None, "thon", "Thôn"),
    ("duc-thanh", "Xã Đức Thạnh", None, "thon", "Thôn"),
    ("duc-hoa", "Xã Đức Hòa", None, "thon", "Thôn"),
    ("duc-tan", "Xã Đức Tân", None, "thon", "Thôn"),
    ("duc-phu", "Xã Đức Phú", None, "thon", "Thôn"),
    ("duc-phong", "Xã Đức Phong", 20_656, "thon", "Thôn"),
    ("duc-lan", "Xã Đức Lân", None, "thon", "Thôn"),
]


def split(total: int, weights: list[float]) -> list[int]:
    """Split an integer total in proportion to weights (largest remainder, sum preserved)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def build() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    known = sum(p for _, _, p, _, _ in COMMUNES if p is not None)
    unknown = [i for i, c in enumerate(COMMUNES) if c[2] is None]
    rest = split(DISTRICT_POPULATION_2019 - known, [rng.uniform(0.8, 1.2) for _ in unknown])
    pops = [c[2] for c in COMMUNES]
    for i, p in zip(unknown, rest, strict=True):
        pops[i] = p
    commune_hh = split(DISTRICT_HOUSEHOLDS, [float(p or 0) for p in pops])

    rows: list[dict[str, str]] = [
        {"code": "mo-duc", "name": "Huyện Mộ Đức", "kind": "district", "parent": ""}
    ]
    for code, name, *_ in COMMUNES:
        rows.append({"code": code, "name": name, "kind": "commune", "parent": "mo-duc"})
    for (code, _, _, prefix, label), hh in zip(COMMUNES, commune_hh, strict=True):
        n = max(3, min(10, round(hh / HOUSEHOLDS_PER_VILLAGE)))
        for k, h in enumerate(split(hh, [rng.uniform(0.7, 1.3) for _ in range(n)]), start=1):
            eligible = round(h * rng.uniform(2.5, 2.7))
            working = round(h * rng.uniform(1.9, 2.1))
            registered = round(eligible * rng.uniform(0.55, 0.70))
            rows.append(
                {
                    "code": f"{code}-{prefix}-{k}",
                    "name": f"{label} {k} (tên mẫu)",
                    "kind": "village",
                    "parent": code,
                    "households": str(h),
                    "eligible_citizens": str(eligible),
                    "working_age": str(working),
                    "vneid_registered_baseline": str(registered),
                    "vneid_activated_baseline": str(round(registered * rng.uniform(0.70, 0.85))),
                    "cqngai_baseline": str(round(working * rng.uniform(0.10, 0.20))),
                }
            )
    for r in rows:
        r["name"] = unicodedata.normalize("NFC", r["name"])
        for f in FIGURES:
            r.setdefault(f, "")
    return rows


def validate(rows: list[dict[str, str]]) -> list[str]:
    errors: list[str] = []
    by_code = {r["code"]: r for r in rows}
    if len(by_code) != len(rows):
        errors.append("duplicate codes")
    parent_kind = {"district": "", "commune": "district", "village": "commune"}
    for r in rows:
        code, kind, parent = r["code"], r["kind"], r["parent"]
        if kind not in ("province", "district", "commune", "village"):
            errors.append(f"{code}: bad kind {kind}")
        if not code.isascii() or code != code.lower() or " " in code or len(code) > 64:
            errors.append(f"{code}: code must be a lowercase ASCII slug")
        if parent and parent not in by_code:
            errors.append(f"{code}: parent {parent} missing")
        want = parent_kind.get(kind)
        got = by_code[parent]["kind"] if parent in by_code else ""
        if want is not None and got != want:
            errors.append(f"{code}: {kind} under {got or 'nothing'}")
        has_children = any(c["parent"] == code for c in rows)
        if has_children and any(r[f] for f in FIGURES):
            errors.append(f"{code}: non-leaf row carries figures (they are summed from children)")
        if kind == "village":
            try:
                v = {f: int(r[f]) for f in FIGURES}
            except ValueError:
                errors.append(f"{code}: figures must be integers")
                continue
            if min(v.values()) < 0:
                errors.append(f"{code}: negative figure")
            if v["vneid_registered_baseline"] > v["eligible_citizens"]:
                errors.append(f"{code}: registered > eligible")
            if v["vneid_activated_baseline"] > v["vneid_registered_baseline"]:
                errors.append(f"{code}: activated > registered")
            if v["cqngai_baseline"] > v["working_age"]:
                errors.append(f"{code}: cqngai > working_age")
    return errors


def main() -> int:
    rows = build()
    errors = validate(rows)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    villages = [r for r in rows if r["kind"] == "village"]
    total = sum(int(r["households"]) for r in villages)
    communes = sum(r["kind"] == "commune" for r in rows)
    print(f"wrote {OUT.name}: {communes} communes, {len(villages)} villages, {total} households")
    return 0


if __name__ == "__main__":
    sys.exit(main())
