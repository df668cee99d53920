"""Administrative units (district, communes, villages) and their subtree totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Unit
from db.repos._sql import upsert
from db.schema import FIGURES, unit_stats, units


def _unit(row: Any) -> Unit:
    return Unit(**{key: row._mapping[key] for key in Unit.__slots__})  # type: ignore[attr-defined]


async def get(conn: AsyncConnection, code: str) -> Unit | None:
    row = (await conn.execute(sa.select(units).where(units.c.code == code))).first()
    return _unit(row) if row else None


async def all_units(conn: AsyncConnection) -> list[Unit]:
    rows = await conn.execute(sa.select(units).order_by(units.c.path))
    return [_unit(row) for row in rows]


async def children(conn: AsyncConnection, code: str) -> list[Unit]:
    rows = await conn.execute(
        sa.select(units).where(units.c.parent_code == code).order_by(units.c.name)
    )
    return [_unit(row) for row in rows]


async def subtree(conn: AsyncConnection, unit: Unit, kind: str | None = None) -> list[Unit]:
    query = sa.select(units).where(units.c.path.startswith(unit.path, autoescape=True))
    if kind:
        query = query.where(units.c.kind == kind)
    rows = await conn.execute(query.order_by(units.c.path))
    return [_unit(row) for row in rows]


async def roots(conn: AsyncConnection) -> list[Unit]:
    rows = await conn.execute(sa.select(units).where(units.c.parent_code.is_(None)))
    return [_unit(row) for row in rows]


async def replace_all(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """Insert or update units (rows carry path and depth). Returns (inserted, updated)."""
    existing = set((await conn.execute(sa.select(units.c.code))).scalars())
    inserted = sum(1 for row in rows if row["code"] not in existing)
    for start in range(0, len(rows), 500):
        chunk = [dict(row) for row in rows[start : start + 500]]
        stmt = upsert(conn, units).values(chunk)
        stmt = stmt.on_conflict_do_update(
            index_elements=[units.c.code],
            set_={col: stmt.excluded[col] for col in chunk[0] if col != "code"},
        )
        await conn.execute(stmt)
    return inserted, len(rows) - inserted


async def store_totals(conn: AsyncConnection, totals: Mapping[str, Mapping[str, int]]) -> None:
    """Write subtree totals of the figures, creating stats rows for new units."""
    stmt = upsert(conn, unit_stats)
    values = [
        {"unit_code": code, **{f"total_{name}": figures[name] for name in FIGURES}}
        for code, figures in sorted(totals.items())  # code order: the lock order of reports
    ]
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        insert = stmt.values(chunk)
        await conn.execute(
            insert.on_conflict_do_update(
                index_elements=[unit_stats.c.unit_code],
                set_={f"total_{name}": insert.excluded[f"total_{name}"] for name in FIGURES},
            )
        )


async def set_public_contact(conn: AsyncConnection, code: str, contact: str | None) -> None:
    await conn.execute(units.update().where(units.c.code == code).values(public_contact=contact))
