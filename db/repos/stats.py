"""Maintained aggregates per unit (and per unit and day), read without scanning visits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos._sql import upsert
from db.schema import AGGREGATES, FIGURES, unit_daily_stats, unit_stats, units


async def apply(
    conn: AsyncConnection, lineage: list[str], day: date, delta: Mapping[str, int]
) -> None:
    """Add `delta` to the unit and every ancestor, overall and for `day` (two statements).

    Both statements touch the rows in one order (by unit code in the primary-key index, and
    root first in VALUES), so concurrent reports on PostgreSQL queue instead of deadlocking.
    """
    changes = {key: value for key, value in delta.items() if value}
    if not changes:
        return
    await conn.execute(
        unit_stats.update()
        .where(unit_stats.c.unit_code.in_(sorted(lineage)))
        .values({key: unit_stats.c[key] + value for key, value in changes.items()})
    )
    stmt = upsert(conn, unit_daily_stats).values(
        [{"unit_code": code, "day": day, **changes} for code in sorted(lineage)]
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[unit_daily_stats.c.unit_code, unit_daily_stats.c.day],
            set_={key: unit_daily_stats.c[key] + stmt.excluded[key] for key in changes},
        )
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
