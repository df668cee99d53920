"""Maintained aggregates per unit (and per unit and day), read without scanning visits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from db.engine import deferred
from db.hot import Hot
from db.repos._sql import insert_for
from db.schema import AGGREGATES, FIGURES, unit_daily_stats, unit_stats, units

# Every aggregate gets a bind parameter (a zero adds nothing), so one statement shape serves
# every delta and is built once. On PostgreSQL the rows are locked by unit code first (the
# sub-select's ORDER BY … FOR UPDATE): an UPDATE … WHERE IN alone locks them in whatever order
# the scan meets them, which changes as rows get new versions, and two reports deadlocked.
_locked = unit_stats.alias("locked")


def _codes(count: int) -> list[sa.BindParameter[str]]:
    """``:c0, :c1 …``: a lineage's unit codes, one parameter each (a lineage has 1 to 5
    units), so each length gets one statement compiled once (db/hot.py)."""
    return [sa.bindparam(f"c{index}", type_=sa.String) for index in range(count)]


def _add_overall(count: int) -> sa.Update:
    return (
        unit_stats.update()
        .where(
            unit_stats.c.unit_code.in_(
                sa.select(_locked.c.unit_code)
                .where(_locked.c.unit_code.in_(_codes(count)))
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


def _add_daily(dialect: str) -> Any:
    """SQLite: INSERT … ON CONFLICT adding the delta to a unit's day; executed with one
    parameter set per unit (executemany), in unit-code order."""
    stmt = insert_for(dialect, unit_daily_stats).values(
        {name: sa.bindparam(name) for name in ("unit_code", "day", *AGGREGATES)}
    )
    return stmt.on_conflict_do_update(
        index_elements=[unit_daily_stats.c.unit_code, unit_daily_stats.c.day],
        set_={name: unit_daily_stats.c[name] + stmt.excluded[name] for name in AGGREGATES},
    )


def _add_both_postgresql(count: int) -> Any:
    """PostgreSQL: the overall UPDATE and the daily rows in one statement (one round trip
    less while the root unit's rows are locked).

    The daily rows come from `units` in code order, behind a condition on the count of rows
    the UPDATE returned (always true): PostgreSQL evaluates it before the first daily row,
    so the UPDATE and its locks come first, as in the two-statement form.
    """
    overall = _add_overall(count).returning(unit_stats.c.unit_code).cte(f"overall_{count}")
    after_overall = sa.select(sa.func.count()).select_from(overall).scalar_subquery() >= 0
    rows = (
        sa.select(
            units.c.code,
            sa.bindparam("day", type_=sa.Date),
            *(sa.bindparam(f"d_{name}", type_=sa.Integer) for name in AGGREGATES),
        )
        .where(units.c.code.in_(_codes(count)), after_overall)
        .order_by(units.c.code)
    )
    stmt = (
        postgresql.insert(unit_daily_stats)
        .from_select(["unit_code", "day", *AGGREGATES], rows)
        .add_cte(overall)
    )
    return stmt.on_conflict_do_update(
        index_elements=[unit_daily_stats.c.unit_code, unit_daily_stats.c.day],
        set_={name: unit_daily_stats.c[name] + stmt.excluded[name] for name in AGGREGATES},
    )


_ADD_DAILY = Hot(_add_daily)
_BY_LENGTH: dict[int, tuple[Hot, Hot]] = {}


def _statements(count: int) -> tuple[Hot, Hot]:
    """(overall UPDATE, PostgreSQL's combined statement) for a lineage of `count` units."""
    found = _BY_LENGTH.get(count)
    if found is None:
        found = _BY_LENGTH[count] = (
            Hot(_add_overall(count)),
            Hot(lambda _dialect: _add_both_postgresql(count)),
        )
    return found


async def apply(
    conn: AsyncConnection, lineage: list[str], day: date, delta: Mapping[str, int]
) -> None:
    """Add `delta` to the unit and every ancestor, overall and for `day`, in this transaction.

    Inside `Database.transaction()` the rows are written just before COMMIT (reads through this
    module write them first): every report locks the root unit's rows, and written last they
    are held for two statements and the COMMIT rather than for the rest of the transaction.
    """
    if not any(delta.values()) or not lineage:
        return
    pending = deferred(conn, "stats", _Pending)
    if pending is None:
        await _write(conn, tuple(sorted(lineage)), day, delta)
    else:
        pending.add(tuple(sorted(lineage)), day, delta)


class _Pending:
    """One transaction's aggregate changes, summed by (units, day)."""

    def __init__(self) -> None:
        self.changes: dict[tuple[tuple[str, ...], date], dict[str, int]] = {}

    def add(self, codes: tuple[str, ...], day: date, delta: Mapping[str, int]) -> None:
        total = self.changes.setdefault((codes, day), dict.fromkeys(AGGREGATES, 0))
        for name, value in delta.items():
            total[name] += value

    async def flush(self, conn: AsyncConnection) -> None:
        """Before COMMIT: on PostgreSQL the rows go with the transaction's last writes, after
        the others (one round trip for all of them, db/hot.py)."""
        await self.write(conn, at_commit=True)

    async def write(self, conn: AsyncConnection, *, at_commit: bool = False) -> None:
        changes, self.changes = self.changes, {}
        for (codes, day), delta in sorted(changes.items()):
            if any(delta.values()):
                await _write(conn, codes, day, delta, at_commit=at_commit)


async def _flush_pending(conn: AsyncConnection) -> None:
    """Write what this transaction collected now: a read is about to count it."""
    pending = deferred(conn, "stats", _Pending)
    if pending is not None:
        await pending.write(conn)


async def _write(
    conn: AsyncConnection,
    codes: tuple[str, ...],
    day: date,
    delta: Mapping[str, int],
    *,
    at_commit: bool = False,
) -> None:
    """Overall and daily rows, each table's rows taken in unit-code order (see _ADD_OVERALL),
    overall first, so concurrent reports on PostgreSQL queue instead of deadlocking."""
    amounts = {f"d_{name}": delta.get(name, 0) for name in AGGREGATES}
    codes_params = {f"c{index}": code for index, code in enumerate(codes)}
    overall, both = _statements(len(codes))
    if conn.dialect.name == "postgresql":
        await both.write(conn, {**codes_params, "day": day, **amounts}, at_commit=at_commit)
        return
    await overall.run(conn, {**codes_params, **amounts})
    changes = {name: delta.get(name, 0) for name in AGGREGATES}
    await _ADD_DAILY.run_many(conn, [{"unit_code": code, "day": day, **changes} for code in codes])


async def for_units(conn: AsyncConnection, codes: list[str]) -> dict[str, dict[str, int]]:
    """Aggregates and subtree totals for the given units."""
    await _flush_pending(conn)
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
    await _flush_pending(conn)
    rows = await conn.execute(
        sa.select(unit_daily_stats).where(
            unit_daily_stats.c.unit_code.in_(codes), unit_daily_stats.c.day == day
        )
    )
    return {row.unit_code: {name: int(row._mapping[name]) for name in AGGREGATES} for row in rows}
