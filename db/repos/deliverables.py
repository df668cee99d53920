"""Deliverables: what a unit handed in for a deadline of the plan (one row per deadline, unit)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos._sql import upsert
from db.schema import deliverables, people


@dataclass(frozen=True, slots=True)
class Deliverable:
    deadline_key: str
    unit_code: str
    kind: str
    done_by: int | None
    done_by_name: str | None
    done_at: datetime
    payload: dict[str, Any]


async def record(
    conn: AsyncConnection,
    *,
    deadline_key: str,
    unit_code: str,
    kind: str,
    done_by: int | None,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Mark the deadline delivered for the unit; delivering again replaces the earlier one."""
    values = {"kind": kind, "done_by": done_by, "done_at": now, "payload": payload}
    stmt = upsert(conn, deliverables).values(
        deadline_key=deadline_key, unit_code=unit_code, **values
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[deliverables.c.deadline_key, deliverables.c.unit_code], set_=values
        )
    )


async def for_units(
    conn: AsyncConnection, deadline_key: str, unit_codes: Iterable[str]
) -> dict[str, Deliverable]:
    """The deliverables of these units for one deadline, by unit code."""
    codes = list(unit_codes)
    found: dict[str, Deliverable] = {}
    for start in range(0, len(codes), 500):
        rows = await conn.execute(
            sa.select(deliverables, people.c.display_name)
            .select_from(deliverables.outerjoin(people, people.c.id == deliverables.c.done_by))
            .where(
                deliverables.c.deadline_key == deadline_key,
                deliverables.c.unit_code.in_(codes[start : start + 500]),
            )
        )
        for row in rows:
            found[row.unit_code] = Deliverable(
                row.deadline_key,
                row.unit_code,
                row.kind,
                row.done_by,
                row.display_name,
                row.done_at,
                dict(row.payload),
            )
    return found


async def get(conn: AsyncConnection, deadline_key: str, unit_code: str) -> Deliverable | None:
    return (await for_units(conn, deadline_key, [unit_code])).get(unit_code)
