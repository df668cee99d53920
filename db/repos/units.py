"""Administrative units (province, optional district, communes, villages), their validity and
subtree totals. A retired unit (valid_to set) is left out of `children` and `subtree` unless
asked for: its history stays readable by code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Unit
from db.repos._sql import upsert
from db.schema import AGGREGATES, FIGURES, unit_daily_stats, unit_stats, units


def _unit(row: Any) -> Unit:
    return Unit(**{key: row._mapping[key] for key in Unit.__slots__})  # type: ignore[attr-defined]


async def get(conn: AsyncConnection, code: str) -> Unit | None:
    row = (await conn.execute(sa.select(units).where(units.c.code == code))).first()
    return _unit(row) if row else None


async def all_units(conn: AsyncConnection) -> list[Unit]:
    rows = await conn.execute(sa.select(units).order_by(units.c.path))
    return [_unit(row) for row in rows]


async def children(
    conn: AsyncConnection, code: str, *, include_retired: bool = False
) -> list[Unit]:
    query = sa.select(units).where(units.c.parent_code == code)
    if not include_retired:
        query = query.where(units.c.valid_to.is_(None))
    rows = await conn.execute(query.order_by(units.c.name))
    return [_unit(row) for row in rows]


async def subtree(
    conn: AsyncConnection, unit: Unit, kind: str | None = None, *, include_retired: bool = False
) -> list[Unit]:
    query = sa.select(units).where(units.c.path.startswith(unit.path, autoescape=True))
    if kind:
        query = query.where(units.c.kind == kind)
    if not include_retired:
        query = query.where(units.c.valid_to.is_(None))
    rows = await conn.execute(query.order_by(units.c.path))
    return [_unit(row) for row in rows]


async def predecessors(conn: AsyncConnection, code: str) -> list[Unit]:
    """The units this one succeeded, directly or through earlier steps, oldest step last."""
    found: list[Unit] = []
    wanted = [code]
    while wanted:
        rows = await conn.execute(
            sa.select(units).where(units.c.successor_code.in_(wanted)).order_by(units.c.code)
        )
        step = [_unit(row) for row in rows if row.code not in {u.code for u in found}]
        found.extend(step)
        wanted = [u.code for u in step]
    return found


async def update(conn: AsyncConnection, code: str, **values: Any) -> None:
    await conn.execute(units.update().where(units.c.code == code).values(**values))


async def insert(conn: AsyncConnection, row: Mapping[str, Any]) -> None:
    await conn.execute(units.insert().values(**row))
    await conn.execute(unit_stats.insert().values(unit_code=row["code"]))


async def move(conn: AsyncConnection, unit: Unit, parent: Unit) -> None:
    """Put `unit` (and everything below it) under `parent`: parent, paths and depths."""
    old_prefix, new_prefix = unit.path, f"{parent.path}{unit.code}/"
    shift = parent.depth + 1 - unit.depth
    await update(conn, unit.code, parent_code=parent.code)
    for below in await subtree(conn, unit, include_retired=True):
        await update(
            conn,
            below.code,
            path=new_prefix + below.path[len(old_prefix) :],
            depth=below.depth + shift,
        )


async def recount(conn: AsyncConnection, unit: Unit) -> None:
    """Rebuild the unit's aggregates (overall and per day) from the villages below it, retired
    ones included: reports stay where they were filed and count wherever their village now is."""
    if unit.kind == "village":
        return
    village_rows = (
        sa.select(units.c.code)
        .where(units.c.path.startswith(unit.path, autoescape=True), units.c.kind == "village")
        .scalar_subquery()
    )
    sums = (
        await conn.execute(
            sa.select(
                *(sa.func.coalesce(sa.func.sum(unit_stats.c[n]), 0).label(n) for n in AGGREGATES)
            ).where(unit_stats.c.unit_code.in_(village_rows))
        )
    ).one()
    await conn.execute(
        unit_stats.update()
        .where(unit_stats.c.unit_code == unit.code)
        .values({name: int(sums._mapping[name]) for name in AGGREGATES})
    )
    await conn.execute(unit_daily_stats.delete().where(unit_daily_stats.c.unit_code == unit.code))
    per_day = (
        sa.select(
            sa.literal(unit.code, sa.String(64)),
            unit_daily_stats.c.day,
            *(sa.func.sum(unit_daily_stats.c[name]) for name in AGGREGATES),
        )
        .where(unit_daily_stats.c.unit_code.in_(village_rows))
        .group_by(unit_daily_stats.c.day)
    )
    await conn.execute(
        unit_daily_stats.insert().from_select(["unit_code", "day", *AGGREGATES], per_day)
    )


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
