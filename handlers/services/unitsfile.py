"""Importing and listing the units CSV (province, optional district, communes, villages, their
figures, and since 2025 their type, official code and validity)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import UnitsFileError
from db.repos import units
from db.schema import FIGURES

COLUMNS = ("code", "name", "kind", "parent", *FIGURES)
# Optional columns after the figures (any subset, in this order): two-tier files use them.
OPTIONAL = ("type", "admin_code", "valid_from", "valid_to")
# Columns carried for the reader and never imported (figures nobody has verified).
IGNORED_SUFFIX = "_unverified"
KINDS = ("province", "district", "commune", "village")
# The unit's own word, by kind (an empty `type` is allowed: unknown).
TYPES = {
    "province": ("tỉnh", "thành phố"),
    "district": ("huyện", "thị xã", "thành phố", "quận"),
    "commune": ("xã", "phường", "thị trấn", "đặc khu"),
    "village": ("thôn", "tổ dân phố", "làng", "buôn", "bản", "ấp", "khu phố"),
}


def _header_ok(fields: list[str]) -> bool:
    """The base columns in order, then optional ones in their order, then ignored ones."""
    if tuple(fields[: len(COLUMNS)]) != COLUMNS:
        return False
    rest = [f for f in fields[len(COLUMNS) :] if not f.endswith(IGNORED_SUFFIX)]
    return rest == [f for f in OPTIONAL if f in rest]


def _date(line: int, column: str, raw: str | None) -> date | None:
    value = (raw or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UnitsFileError(line, f"{column} must be a date YYYY-MM-DD or empty") from None


def parse(text: str) -> list[dict[str, Any]]:
    """Read and check the CSV; raise UnitsFileError naming the line at fault."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None or not _header_ok(list(reader.fieldnames)):
        raise UnitsFileError(
            1,
            f"the header must be exactly: {','.join(COLUMNS)} "
            f"(optionally followed by {','.join(OPTIONAL)})",
        )
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
        if "type" in raw:
            label = (raw["type"] or "").strip().lower() or None
            if label is not None and label not in TYPES[kind]:
                raise UnitsFileError(
                    line, f"type of a {kind} must be one of {', '.join(TYPES[kind])} or empty"
                )
            row["type_label"] = label
        if "admin_code" in raw:
            admin = (raw["admin_code"] or "").strip() or None
            if admin is not None and not (admin.isascii() and admin.isdigit() and len(admin) <= 16):
                raise UnitsFileError(line, "admin_code must be digits (at most 16) or empty")
            row["admin_code"] = admin
        for column in ("valid_from", "valid_to"):
            if column in raw:
                row[column] = _date(line, column, raw[column])
        if row.get("valid_from") and row.get("valid_to") and row["valid_to"] < row["valid_from"]:
            raise UnitsFileError(line, "valid_to is before valid_from")
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


async def import_csv(
    conn: AsyncConnection, text: str, *, under: str | None = None
) -> tuple[int, int]:
    """Insert or update every unit of the file, then recompute subtree totals.

    `under`: the file's root rows go under this (already imported) unit, e.g. a 2024 district
    file under today's province, so its history rolls up there. A unit moved to another parent
    takes its whole subtree along (paths below it are rewritten).
    """
    rows = parse(text)
    before = {unit.code: unit for unit in await units.all_units(conn)}
    if under is not None:
        if under not in before:
            raise UnitsFileError(1, f"--under {under!r} is not a known unit")
        for row in rows:
            if row["parent_code"] is None:
                row["parent_code"] = under
    for row in rows:
        old = before.get(row["code"])
        # A retired unit stays retired when a file without its end date is imported again.
        if old is not None and "valid_to" in row and row["valid_to"] is None:
            row["valid_to"] = old.valid_to
        # A unit a reorganisation moved stays where it is when an older file is imported again.
        parent = before.get(row["parent_code"] or "")
        if old is not None and old.parent_code != row["parent_code"]:
            if row["parent_code"] is None or (parent is not None and not parent.active):
                row["parent_code"] = old.parent_code
    existing = {
        unit.code: {"code": unit.code, "parent_code": unit.parent_code} for unit in before.values()
    }
    _with_paths(rows, existing)
    for row in rows:
        row.pop("_line", None)
    inserted, updated = await units.replace_all(conn, rows)
    for row in rows:
        old = before.get(row["code"])
        if old is not None and old.path != row["path"]:
            moved = await units.get(conn, row["code"])
            assert moved is not None
            await _repath_below(conn, old.path, moved.path, moved.depth - old.depth)
    await store_all_totals(conn)
    return inserted, updated


async def _repath_below(conn: AsyncConnection, old: str, new: str, shift: int) -> None:
    for unit in await units.all_units(conn):
        if unit.path.startswith(old) and unit.path != old:
            await units.update(
                conn, unit.code, path=new + unit.path[len(old) :], depth=unit.depth + shift
            )


async def store_all_totals(conn: AsyncConnection) -> None:
    """Subtree totals of the figures for every active unit, from its active units below.
    A retired unit keeps the totals it had when it was retired."""
    everything = [
        {
            "code": u.code,
            "parent_code": u.parent_code,
            "depth": u.depth,
            **{f: getattr(u, f) for f in FIGURES},
        }
        for u in await units.all_units(conn)
        if u.active
    ]
    active = {row["code"] for row in everything}
    for row in everything:
        if row["parent_code"] not in active:
            row["parent_code"] = None  # under a retired unit: counted on its own
    await units.store_totals(conn, subtree_totals(everything))


async def listing(conn: AsyncConnection, *, active_only: bool = False) -> list[dict[str, Any]]:
    """Every unit as an object with the CSV's columns (dates as YYYY-MM-DD; valid_to null while
    active) and its successor once retired."""
    return [
        {
            "code": u.code,
            "name": u.name,
            "kind": u.kind,
            "parent": u.parent_code or "",
            **{f: getattr(u, f) for f in FIGURES},
            "type": u.type_label,
            "admin_code": u.admin_code,
            "valid_from": u.valid_from.isoformat() if u.valid_from else None,
            "valid_to": u.valid_to.isoformat() if u.valid_to else None,
            "successor": u.successor_code,
        }
        for u in await units.all_units(conn)
        if u.active or not active_only
    ]
