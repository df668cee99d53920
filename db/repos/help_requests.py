"""Residents' requests for a team member to come and help at home."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos._sql import upsert
from db.schema import help_requests


@dataclass(frozen=True, slots=True)
class HelpRequest:
    id: int
    village_code: str
    topic: str
    contact: str
    resident_channel: str
    resident_chat_id: str
    resident_name: str | None
    status: str
    taken_by: int | None
    created_at: datetime


def _request(row: Any) -> HelpRequest:
    m = row._mapping
    return HelpRequest(**{k: m[k] for k in HelpRequest.__slots__})  # type: ignore[attr-defined]


async def create(conn: AsyncConnection, *, request_key: str, now: datetime, **values: Any) -> int:
    """Store the request once per key; returns its id."""
    stmt = (
        upsert(conn, help_requests)
        .values(request_key=request_key, created_at=now, **values)
        .on_conflict_do_nothing(index_elements=[help_requests.c.request_key])
    )
    await conn.execute(stmt)
    found = await conn.execute(
        sa.select(help_requests.c.id).where(help_requests.c.request_key == request_key)
    )
    return int(found.scalar_one())


async def get(conn: AsyncConnection, request_id: int) -> HelpRequest | None:
    row = (
        await conn.execute(sa.select(help_requests).where(help_requests.c.id == request_id))
    ).first()
    return _request(row) if row else None


async def take(conn: AsyncConnection, request_id: int, person_id: int, now: datetime) -> bool:
    """Assign an open request to a member; False if someone took it first."""
    result = await conn.execute(
        help_requests.update()
        .where(help_requests.c.id == request_id, help_requests.c.status == "open")
        .values(status="taken", taken_by=person_id, taken_at=now)
    )
    return result.rowcount == 1


async def open_in(
    conn: AsyncConnection, village_code: str, *, limit: int | None = None, offset: int = 0
) -> list[HelpRequest]:
    """Open requests of a village, oldest first (a page of them with `limit`/`offset`)."""
    rows = await conn.execute(
        sa.select(help_requests)
        .where(help_requests.c.village_code == village_code, help_requests.c.status == "open")
        .order_by(help_requests.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_request(row) for row in rows]


async def count_open_in(conn: AsyncConnection, village_code: str) -> int:
    found = await conn.execute(
        sa.select(sa.func.count())
        .select_from(help_requests)
        .where(help_requests.c.village_code == village_code, help_requests.c.status == "open")
    )
    return int(found.scalar_one())


async def count_open_since(
    conn: AsyncConnection,
    since: datetime,
    *,
    village_code: str | None = None,
    chat: tuple[str, str] | None = None,
) -> int:
    """Open requests created since `since`, of one village or from one chat."""
    query = (
        sa.select(sa.func.count())
        .select_from(help_requests)
        .where(help_requests.c.status == "open", help_requests.c.created_at >= since)
    )
    if village_code is not None:
        query = query.where(help_requests.c.village_code == village_code)
    if chat is not None:
        query = query.where(
            help_requests.c.resident_channel == chat[0],
            help_requests.c.resident_chat_id == chat[1],
        )
    return int((await conn.execute(query)).scalar_one())
