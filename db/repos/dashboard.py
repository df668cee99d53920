"""Read-only queries of the officials' dashboard that the digest does not already make: a
unit's last days, members without a report for some days, open help requests of an area."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from db.repos.digest import IdleMember, like_prefix
from db.schema import help_requests, people, unit_daily_stats, units, visits


async def daily_range(
    conn: AsyncConnection, code: str, first: date, last: date
) -> dict[date, dict[str, int]]:
    """The unit's per-day aggregates from `first` to `last` (days without a row are absent)."""
    rows = await conn.execute(
        sa.select(unit_daily_stats).where(
            unit_daily_stats.c.unit_code == code,
            unit_daily_stats.c.day >= first,
            unit_daily_stats.c.day <= last,
        )
    )
    return {
        row.day: {k: int(v) for k, v in row._mapping.items() if k not in ("unit_code", "day")}
        for row in rows
    }


_UNDER = units.c.path.like(sa.bindparam("pattern"), escape="\\")
_RECENT = sa.exists(
    sa.select(visits.c.id).where(
        visits.c.member_id == people.c.id,
        visits.c.visit_date >= sa.bindparam("since"),
        visits.c.deleted_at.is_(None),
    )
)
_QUIET = (
    sa.select(people.c.id, people.c.display_name, people.c.unit_code, units.c.name)
    .join(units, units.c.code == people.c.unit_code)
    .where(_UNDER, people.c.role.in_(roles.holders(roles.IN_TEAM)), ~_RECENT)
)


async def quiet_members(
    conn: AsyncConnection, prefix: str, since: date, limit: int
) -> tuple[int, list[IdleMember]]:
    """Team members under `prefix` with no live report dated `since` or later: how many, and
    the first `limit` of them by village and name."""
    params = {"pattern": like_prefix(prefix), "since": since}
    total = await conn.execute(sa.select(sa.func.count()).select_from(_QUIET.subquery()), params)
    rows = await conn.execute(
        _QUIET.order_by(units.c.path, people.c.display_name, people.c.id).limit(limit), params
    )
    members = [IdleMember(row.id, row.display_name, row.unit_code, row.name) for row in rows]
    return int(total.scalar_one()), members


@dataclass(frozen=True, slots=True)
class OpenRequest:
    id: int
    village_code: str
    village_name: str
    topic: str
    created_at: datetime


_OPEN = (
    sa.select(
        help_requests.c.id,
        help_requests.c.village_code,
        units.c.name,
        help_requests.c.topic,
        help_requests.c.created_at,
    )
    .join(units, units.c.code == help_requests.c.village_code)
    .where(_UNDER, help_requests.c.status == "open")
)


async def open_requests(
    conn: AsyncConnection, prefix: str, limit: int
) -> tuple[int, list[OpenRequest]]:
    """Open help requests of the villages under `prefix`: how many, and the oldest `limit`."""
    params = {"pattern": like_prefix(prefix)}
    total = await conn.execute(sa.select(sa.func.count()).select_from(_OPEN.subquery()), params)
    rows = await conn.execute(_OPEN.order_by(help_requests.c.id).limit(limit), params)
    found = [
        OpenRequest(row.id, row.village_code, row.name, row.topic, row.created_at) for row in rows
    ]
    return int(total.scalar_one()), found
