"""Maintained aggregates per unit (and per unit and day), read without scanning visits."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos._sql import insert_for
from db.schema import AGGREGATES, FIGURES, unit_daily_stats, unit_stats, units

# Every aggregate gets a bind parameter (a zero adds nothing), so one statement shape serves
# every delta and is built once. On PostgreSQL the rows are locked by unit code first (the
# sub-select's ORDER BY … FOR UPDATE): an UPDATE … WHERE IN alone locks them in whatever order
# the scan meets them, which changes as rows get new versions, and two reports deadlocked.
_locked = unit_stats.alias("locked")
_ADD_OVERALL = (
    unit_stats.update()
    .where(
        unit_stats.c.unit_code.in_(
            sa.select(_locked.c.unit_code)
            .where(_locked.c.unit_code.in_(sa.bindparam("codes", expanding=True)))
            .order_by(_locked.c.unit_code)
            .with_for_update()
        )
    )
    .values(
        {
            name: unit_stats.c[name] + sa.bindparam(f"d_{name}", type_=sa.Integer)
            for name in AGGREGATES
        }
    )
)


@functools.cache
def _add_daily(dialect: str, count: int) -> Any:
    """INSERT … ON CONFLICT adding the delta to `count` units (rows taken in VALUES order)."""
    delta = {name: sa.bindparam(f"d_{name}", type_=sa.Integer) for name in AGGREGATES}
    rows = [
        {"unit_code": sa.bindparam(f"code_{index}"), "day": sa.bindparam("day"), **delta}
        for index in range(count)
    ]
    stmt = insert_for(dialect, unit_daily_stats).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=[unit_daily_stats.c.unit_code, unit_daily_stats.c.day],
        set_={name: unit_daily_stats.c[name] + stmt.excluded[name] for name in AGGREGATES},
    )


async def apply(
    conn: AsyncConnection, lineage: list[str], day: date, delta: Mapping[str, int]
) -> None:
    """Add `delta` to the unit and every ancestor, overall and for `day` (two statements).

    Both statements take the rows in unit-code order (see _ADD_OVERALL; VALUES are sorted),
    so concurrent reports on PostgreSQL queue instead of deadlocking.
    """
    if not any(delta.values()) or not lineage:
        return
    codes = sorted(lineage)
    amounts = {f"d_{name}": delta.get(name, 0) for name in AGGREGATES}
    await conn.execute(_ADD_OVERALL, {"codes": codes, **amounts})
    daily_codes = {f"code_{index}": code for index, code in enumerate(codes)}
    await conn.execute(
        _add_daily(conn.dialect.name, len(codes)), {"day": day, **daily_codes, **amounts}
    )


async def for_units(conn: AsyncConnection, codes: list[str]) -> dict[str, dict[str, int]]:
    """Aggregates and subtree totals for the given units."""
    columns = [unit_stats.c[name] for name in AGGREGATES] + [
        unit_stats.c[f"total_{name}"] for name in FIGURES
    ]
    rows = await conn.execute(
        sa.select(unit_stats.c.unit_code, *columns).where(unit_stats.c.unit_code.in_(codes))
    )
    return {
        row.unit_code: {
            key: int(value) for key, value in row._mapping.items() if key != "unit_code"
        }
        for row in rows
    }


async def for_children(conn: AsyncConnection, parent_code: str) -> dict[str, dict[str, int]]:
    codes = (
        await conn.execute(sa.select(units.c.code).where(units.c.parent_code == parent_code))
    ).scalars()
    return await for_units(conn, list(codes))


async def daily(conn: AsyncConnection, codes: list[str], day: date) -> dict[str, dict[str, int]]:
    rows = await conn.execute(
        sa.select(unit_daily_stats).where(
            unit_daily_stats.c.unit_code.in_(codes), unit_daily_stats.c.day == day
        )
    )
    return {row.unit_code: {name: int(row._mapping[name]) for name in AGGREGATES} for row in rows}
