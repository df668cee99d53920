"""Read-only queries for the 20/10 summary: team rosters per village, deliverables if kept."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from db.repos.digest import like_prefix
from db.schema import people, units

_UNDER = units.c.path.like(sa.bindparam("pattern"), escape="\\")
_ROSTER = (
    sa.select(people.c.unit_code, people.c.role, people.c.position, sa.func.count().label("n"))
    .join(units, units.c.code == people.c.unit_code)
    .where(_UNDER, people.c.role.in_(roles.holders(roles.IN_TEAM)))
    .group_by(people.c.unit_code, people.c.role, people.c.position)
)


async def roster_counts(conn: AsyncConnection, prefix: str) -> list[dict[str, Any]]:
    """Team members under `prefix` counted by village, role and position."""
    rows = await conn.execute(_ROSTER, {"pattern": like_prefix(prefix)})
    return [dict(row._mapping) for row in rows]


async def has_table(conn: AsyncConnection, name: str) -> bool:
    """Whether a table exists (the deliverables table comes with a later migration)."""

    def check(sync: sa.Connection) -> bool:
        return sa.inspect(sync).has_table(name)

    return await conn.run_sync(check)
