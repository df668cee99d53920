"""Importing and listing the units CSV (district, communes, villages and their figures)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import UnitsFileError
from db.repos import units
from db.schema import FIGURES

COLUMNS = ("code", "name", "kind", "parent", *FIGURES)
KINDS = ("province", "district", "commune", "village")


def parse(text: str) -> list[dict[str, Any]]:
    """Read and check the CSV; raise UnitsFileError naming the line at fault."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None or tuple(reader.fieldnames) != COLUMNS:
        raise UnitsFileError(1, f"the header must be exactly: {','.join(COLUMNS)}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, raw in enumerate(reader, start=2):
        code = (raw["code"] or "").strip()
        if not code or len(code) > 64 or "/" in code:
            raise UnitsFileError(line, "code is empty, longer than 64 characters or has '/'")
        if code in seen:
            raise UnitsFileError(line, f"code {code!r} appears twice")
        seen.add(code)
        kind = (raw["kind"] or "").strip()
        if kind not in KINDS:
            raise UnitsFileError(line, f"kind must be one of {', '.join(KINDS)}")
        name = (raw["name"] or "").strip()
        if not name:
            raise UnitsFileError(line, "name is empty")
        row: dict[str, Any] = {
            "code": code,
            "name": name,
            "kind": kind,
            "parent_code": (raw["parent"] or "").strip() or None,
        }
        for figure in FIGURES:
            value = (raw[figure] or "").strip()
            if value and not (value.isascii() and value.isdigit()):
                raise UnitsFileError(line, f"{figure} must be a whole number or empty")
            row[figure] = int(value) if value else None
        row["_line"] = line
        rows.append(row)
    return rows


def _with_paths(rows: Iterable[dict[str, Any]], known: dict[str, dict[str, Any]]) -> None:
    by_code = {**known, **{row["code"]: row for row in rows}}

    def path_of(code: str, trail: tuple[str, ...] = ()) -> str:
        line = by_code[trail[-1]].get("_line", 0) if trail else 0
        if code in trail:
            raise UnitsFileError(line, f"parents form a loop at {code!r}")
        row = by_code.get(code)
        if row is None:
            raise UnitsFileError(line, f"parent {code!r} is not a known unit")
        parent = row["parent_code"]
        prefix = path_of(parent, (*trail, code)) if parent else "/"
        return f"{prefix}{code}/"

    for row in rows:
        row["path"] = path_of(row["code"])
        row["depth"] = row["path"].count("/") - 2


def subtree_totals(all_rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Figures per unit: its own where it has no children, else the sum of its children."""
    children: dict[str, list[str]] = {}
    for row in all_rows:
        if row["parent_code"]:
            children.setdefault(row["parent_code"], []).append(row["code"])
    by_code = {row["code"]: row for row in all_rows}
    totals: dict[str, dict[str, int]] = {}
    for row in sorted(all_rows, key=lambda r: -r["depth"]):
        kids = children.get(row["code"], [])
        if kids:
            totals[row["code"]] = {f: sum(totals[k][f] for k in kids) for f in FIGURES}
        else:
            totals[row["code"]] = {f: by_code[row["code"]][f] or 0 for f in FIGURES}
    return totals


async def import_csv(conn: AsyncConnection, text: str) -> tuple[int, int]:
    """Insert or update every unit of the file, then recompute subtree totals."""
    rows = parse(text)
    existing = {
        unit.code: {"code": unit.code, "parent_code": unit.parent_code}
        for unit in await units.all_units(conn)
    }
    _with_paths(rows, existing)
    for row in rows:
        row.pop("_line", None)
    inserted, updated = await units.replace_all(conn, rows)
    everything = [
        {
            "code": u.code,
            "parent_code": u.parent_code,
            "depth": u.depth,
            **{f: getattr(u, f) for f in FIGURES},
        }
        for u in await units.all_units(conn)
    ]
    await units.store_totals(conn, subtree_totals(everything))
    return inserted, updated


async def listing(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every unit as an object with the CSV's columns."""
    return [
        {
            "code": u.code,
            "name": u.name,
            "kind": u.kind,
            "parent": u.parent_code or "",
            **{f: getattr(u, f) for f in FIGURES},
        }
        for u in await units.all_units(conn)
    ]
