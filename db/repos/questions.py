"""Questions residents asked (already masked), for content editors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schema import questions


async def record(
    conn: AsyncConnection,
    *,
    at: datetime,
    channel: str,
    role: str,
    text: str,
    kind: str,
    guide_id: str | None,
    score: float,
) -> None:
    await conn.execute(
        questions.insert().values(
            asked_at=at,
            channel=channel,
            role=role,
            text=text[:1000],
            kind=kind,
            guide_id=guide_id,
            score=score,
        )
    )


async def unanswered(conn: AsyncConnection, since: datetime | None) -> list[dict[str, Any]]:
    """Questions the bot had no guide for, oldest first."""
    query = sa.select(questions).where(questions.c.kind == "none")
    if since is not None:
        query = query.where(questions.c.asked_at >= since)
    rows = await conn.execute(query.order_by(questions.c.asked_at))
    return [dict(row._mapping) for row in rows]
