"""Read-only queries behind the leaders' digest: ranking villages and who reported today.

Nothing here scans visits: figures come from unit_stats / unit_daily_stats, and "did this
member report on that day" is one probe per member into ix_visits_member_date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from db.schema import people, unit_daily_stats, unit_stats, units, visits


@dataclass(frozen=True, slots=True)
class VillageRank:
    code: str
    name: str
    parent_code: str | None
    households: int
    households_visited: int
    proficient_households: int


@dataclass(frozen=True, slots=True)
class TeamDay:
    """A village's team on one day: how many members, how many reported."""

    village_code: str
    path: str
    members: int
    reported: int


@dataclass(frozen=True, slots=True)
class IdleMember:
    person_id: int
    display_name: str | None
    village_code: str
    village_name: str


# Units whose path starts with the scope's path (LIKE with its wildcards escaped).
_UNDER = units.c.path.like(sa.bindparam("pattern"), escape="\\")


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching every path that starts with `prefix`."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def _reported(day_param: str = "day") -> sa.ColumnElement[bool]:
    """True when the person has a live visit dated `day` (an index probe, not a scan)."""
    return sa.exists(
        sa.select(visits.c.id).where(
            visits.c.member_id == people.c.id,
            visits.c.visit_date == sa.bindparam(day_param),
            visits.c.deleted_at.is_(None),
        )
    )


_SHARE = sa.cast(unit_stats.c.households_visited, sa.Float) / unit_stats.c.total_households
_BEST = (
    sa.select(
        units.c.code,
        units.c.name,
        units.c.parent_code,
        unit_stats.c.total_households,
        unit_stats.c.households_visited,
        unit_stats.c.proficient_households,
    )
    .join(unit_stats, unit_stats.c.unit_code == units.c.code)
    .where(
        _UNDER,
        units.c.kind == "village",
        unit_stats.c.total_households > 0,
        unit_stats.c.households_visited > 0,
    )
    .order_by(_SHARE.desc(), units.c.name)
    .limit(sa.bindparam("limit"))
)


async def best_villages(conn: AsyncConnection, prefix: str, limit: int) -> list[VillageRank]:
    """Villages under `prefix` with the highest share of households visited (ties by name)."""
    rows = await conn.execute(_BEST, {"pattern": like_prefix(prefix), "limit": limit})
    return [
        VillageRank(
            code=row.code,
            name=row.name,
            parent_code=row.parent_code,
            households=int(row.total_households),
            households_visited=int(row.households_visited),
            proficient_households=int(row.proficient_households),
        )
        for row in rows
    ]


_TEAM_DAY = (
    sa.select(
        people.c.unit_code,
        units.c.path,
        sa.func.count().label("members"),
        sa.func.sum(sa.case((_reported(), 1), else_=0)).label("reported"),
    )
    .join(units, units.c.code == people.c.unit_code)
    .where(
        _UNDER,
        people.c.role.in_(roles.holders(roles.IN_TEAM)),
    )
    .group_by(people.c.unit_code, units.c.path)
)


async def team_day(conn: AsyncConnection, prefix: str, day: date) -> list[TeamDay]:
    """Per village under `prefix`: team members and how many of them reported on `day`."""
    rows = await conn.execute(_TEAM_DAY, {"pattern": like_prefix(prefix), "day": day})
    return [
        TeamDay(row.unit_code, row.path, int(row.members), int(row.reported or 0)) for row in rows
    ]


_IDLE = (
    sa.select(people.c.id, people.c.display_name, people.c.unit_code, units.c.name)
    .join(units, units.c.code == people.c.unit_code)
    .where(
        _UNDER,
        people.c.role.in_(roles.holders(roles.IN_TEAM)),
        ~_reported(),
    )
    .order_by(units.c.path, people.c.display_name, people.c.id)
    .limit(sa.bindparam("limit"))
)


async def idle_members(
    conn: AsyncConnection, prefix: str, day: date, limit: int
) -> list[IdleMember]:
    """Team members under `prefix` with no live report dated `day` (at most `limit`)."""
    rows = await conn.execute(_IDLE, {"pattern": like_prefix(prefix), "day": day, "limit": limit})
    return [IdleMember(row.id, row.display_name, row.unit_code, row.name) for row in rows]


_DAYS = sa.select(unit_daily_stats).where(
    unit_daily_stats.c.unit_code.in_(sa.bindparam("codes", expanding=True)),
    unit_daily_stats.c.day.in_(sa.bindparam("days", expanding=True)),
)


async def daily_many(
    conn: AsyncConnection, codes: list[str], days: list[date]
) -> dict[tuple[str, date], dict[str, int]]:
    """Per-day aggregates of several units on several days, in one statement."""
    if not codes or not days:
        return {}
    rows = await conn.execute(_DAYS, {"codes": codes, "days": days})
    out: dict[tuple[str, date], dict[str, int]] = {}
    for row in rows:
        values = {k: int(v) for k, v in row._mapping.items() if k not in ("unit_code", "day")}
        out[(row.unit_code, row.day)] = values
    return out


_VILLAGE_DAY = (
    sa.select(units.c.path, sa.func.coalesce(unit_daily_stats.c.reports, 0).label("reports"))
    .select_from(
        units.outerjoin(
            unit_daily_stats,
            sa.and_(
                unit_daily_stats.c.unit_code == units.c.code,
                unit_daily_stats.c.day == sa.bindparam("day"),
            ),
        )
    )
    .where(_UNDER, units.c.kind == "village")
)


async def village_day(conn: AsyncConnection, prefix: str, day: date) -> list[tuple[str, int]]:
    """(path, reports dated `day`) of every village under `prefix`, from unit_daily_stats."""
    rows = await conn.execute(_VILLAGE_DAY, {"pattern": like_prefix(prefix), "day": day})
    return [(row.path, int(row.reports)) for row in rows]
