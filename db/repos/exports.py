"""Read-only queries for the XLSX exports: team members' totals and the households visited.

Exports are rare and may read visits (per member, per household), unlike the digest.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core import figures, roles
from db.repos.digest import like_prefix
from db.schema import households, people, units, visits

_UNDER = units.c.path.like(sa.bindparam("pattern"), escape="\\")
_live = visits.alias("live")

_MEMBERS = (
    sa.select(
        people.c.id,
        people.c.display_name,
        people.c.role,
        people.c.position,
        people.c.unit_code,
        units.c.name.label("village"),
        sa.func.count(_live.c.id).label("reports"),
        sa.func.count(sa.distinct(_live.c.household_id)).label("households"),
    )
    .select_from(
        people.join(units, units.c.code == people.c.unit_code).outerjoin(
            _live, sa.and_(_live.c.member_id == people.c.id, _live.c.deleted_at.is_(None))
        )
    )
    .where(_UNDER, people.c.role.in_(roles.holders(roles.IN_TEAM)))
    .group_by(
        people.c.id,
        people.c.display_name,
        people.c.role,
        people.c.position,
        people.c.unit_code,
        units.c.name,
        units.c.path,
    )
    .order_by(units.c.path, people.c.display_name, people.c.id)
)


async def members(conn: AsyncConnection, prefix: str) -> list[dict[str, Any]]:
    """Team members under `prefix` with their live reports and distinct households."""
    rows = await conn.execute(_MEMBERS, {"pattern": like_prefix(prefix)})
    return [dict(row._mapping) for row in rows]


_LAST_VISIT = (
    sa.select(sa.func.max(visits.c.visit_date))
    .where(visits.c.household_id == households.c.id, visits.c.deleted_at.is_(None))
    .scalar_subquery()
)
_OUTCOMES = (
    households.c.id,
    households.c.village_code,
    units.c.name.label("village"),
    households.c.size,
    households.c.visits,
    households.c.dvc_payment,
    households.c.proficient,
    *(households.c[count.state] for count in figures.COUNTS),
    _LAST_VISIT.label("last_visit"),
)


def _households(with_names: bool) -> Any:
    names = (households.c.head_name, households.c.address) if with_names else ()
    return (
        sa.select(*_OUTCOMES, *names)
        .join(units, units.c.code == households.c.village_code)
        .where(_UNDER, households.c.visits > 0)
        .order_by(units.c.path, households.c.id)
    )


_WITH_NAMES = _households(True)
_WITHOUT_NAMES = _households(False)


async def visited_households(
    conn: AsyncConnection, prefix: str, *, with_names: bool
) -> list[dict[str, Any]]:
    """Households under `prefix` with at least one live visit, and their derived outcomes.

    Head-of-household names and addresses are selected only when `with_names` is true.
    """
    statement = _WITH_NAMES if with_names else _WITHOUT_NAMES
    rows = await conn.execute(statement, {"pattern": like_prefix(prefix)})
    return [dict(row._mapping) for row in rows]


def as_date(value: Any) -> date | None:
    """SQLite returns MAX(date) as text; PostgreSQL as a date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
