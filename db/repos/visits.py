"""Visits: one row per household report, soft-deleted, never rewritten without an audit row."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core import figures
from db.hot import Hot
from db.models import Visit
from db.repos._sql import insert_for
from db.schema import SKILL_FLAGS, households, visits

_SELECT = sa.select(visits, households.c.head_name, households.c.address).join(
    households, households.c.id == visits.c.household_id
)


_ID_BY_REQUEST = Hot(
    sa.select(visits.c.id).where(visits.c.request_key == sa.bindparam("request_key"))
)


_INSERT_COLUMNS = (
    "request_key",
    "household_id",
    "member_id",
    "village_code",
    "visit_date",
    "note",
    "created_at",
    *SKILL_FLAGS,
    *(count.code for count in figures.COUNTS),
    "proficient",
)
_INSERT_ONCE = Hot(
    lambda dialect: (
        insert_for(dialect, visits)
        .values({name: sa.bindparam(name) for name in _INSERT_COLUMNS})
        .on_conflict_do_nothing(index_elements=[visits.c.request_key])
        .returning(visits.c.id)
    )
)


def _visit(row: Any) -> Visit:
    m = row._mapping
    return Visit(
        id=m["id"],
        household_id=m["household_id"],
        member_id=m["member_id"],
        village_code=m["village_code"],
        visit_date=m["visit_date"],
        skills=frozenset(flag for flag in SKILL_FLAGS if m[flag]),
        counts={count.code: m[count.code] for count in figures.COUNTS},
        proficient=bool(m["proficient"]),
        note=m["note"],
        created_at=m["created_at"],
        deleted_at=m["deleted_at"],
        head_name=m["head_name"],
        address=m["address"],
    )


def _values(skills: frozenset[str], counts: Mapping[str, int], proficient: bool) -> dict[str, Any]:
    return {
        **{flag: flag in skills for flag in SKILL_FLAGS},
        **{count.code: counts.get(count.code, 0) for count in figures.COUNTS},
        "proficient": proficient,
    }


async def insert(
    conn: AsyncConnection,
    *,
    request_key: str,
    household_id: int,
    member_id: int,
    village_code: str,
    visit_date: date,
    skills: frozenset[str],
    counts: Mapping[str, int],
    proficient: bool,
    note: str | None,
    now: datetime,
) -> tuple[int, bool]:
    """Store a visit once per request key. Returns (visit id, created now)."""
    values = {
        "request_key": request_key,
        "household_id": household_id,
        "member_id": member_id,
        "village_code": village_code,
        "visit_date": visit_date,
        "note": note,
        "created_at": now,
        **_values(skills, counts, proficient),
    }
    new_id = await _INSERT_ONCE.scalar(conn, values)
    if new_id is not None:
        return new_id, True
    existing = await _ID_BY_REQUEST.scalar(conn, {"request_key": request_key})
    assert existing is not None
    return existing, False


async def get(conn: AsyncConnection, visit_id: int, *, lock: bool = False) -> Visit | None:
    query = _SELECT.where(visits.c.id == visit_id)
    if lock:
        query = query.with_for_update(of=visits)
    row = (await conn.execute(query)).first()
    return _visit(row) if row else None


async def update(
    conn: AsyncConnection,
    visit_id: int,
    *,
    visit_date: date,
    skills: frozenset[str],
    counts: Mapping[str, int],
    proficient: bool,
    note: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        visits.update()
        .where(visits.c.id == visit_id)
        .values(
            visit_date=visit_date,
            note=note,
            updated_at=now,
            deleted_at=None,
            **_values(skills, counts, proficient),
        )
    )


async def soft_delete(conn: AsyncConnection, visit_id: int, now: datetime) -> bool:
    result = await conn.execute(
        visits.update()
        .where(visits.c.id == visit_id, visits.c.deleted_at.is_(None))
        .values(deleted_at=now)
    )
    return result.rowcount == 1


async def recent(
    conn: AsyncConnection,
    *,
    since: datetime,
    member_id: int | None = None,
    village_code: str | None = None,
    limit: int = 8,
) -> list[Visit]:
    """Live visits created since `since`, newest first, by a member or in a village."""
    query = _SELECT.where(visits.c.deleted_at.is_(None), visits.c.created_at >= since)
    if member_id is not None:
        query = query.where(visits.c.member_id == member_id)
    if village_code is not None:
        query = query.where(visits.c.village_code == village_code)
    rows = await conn.execute(query.order_by(visits.c.id.desc()).limit(limit))
    return [_visit(row) for row in rows]


async def tally(
    conn: AsyncConnection, member_id: int, first_day: date, last_day: date
) -> dict[str, int]:
    """A member's own figures between two visit dates (inclusive)."""
    row = (
        await conn.execute(
            sa.select(
                sa.func.count().label("reports"),
                sa.func.count(sa.distinct(visits.c.household_id)).label("households"),
                *(
                    sa.func.coalesce(sa.func.sum(visits.c[count.code]), 0).label(count.code)
                    for count in figures.COUNTS
                ),
                sa.func.coalesce(sa.func.sum(sa.case((visits.c.proficient, 1), else_=0)), 0).label(
                    "proficient"
                ),
            ).where(
                visits.c.member_id == member_id,
                visits.c.deleted_at.is_(None),
                visits.c.visit_date >= first_day,
                visits.c.visit_date <= last_day,
            )
        )
    ).one()
    return {key: int(value) for key, value in row._mapping.items()}
