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


async def unanswered(
    conn: AsyncConnection, since: datetime | None, *, kinds: tuple[str, ...] = ("none",)
) -> list[dict[str, Any]]:
    """Questions the bot had no guide for (or of other kinds, e.g. "urgent"), oldest first."""
    query = sa.select(questions).where(questions.c.kind.in_(kinds))
    if since is not None:
        query = query.where(questions.c.asked_at >= since)
    rows = await conn.execute(query.order_by(questions.c.asked_at))
    return [dict(row._mapping) for row in rows]


async def doubtful(
    conn: AsyncConnection,
    since: datetime | None,
    *,
    kinds: tuple[str, ...] = ("none",),
    low_score: float | None = None,
) -> list[dict[str, Any]]:
    """Questions the bot had no guide for (kinds), or answered with a score below low_score
    (or by offering choices), grouped by their words (case and spacing ignored), most asked
    first: {"text", "count", "kind", "guide_id", "score", "last_asked"}, from the latest ask."""
    doubt: sa.ColumnElement[bool] = questions.c.kind.in_(kinds)
    if low_score is not None:
        answered = questions.c.kind.in_(("guide", "choices"))
        doubt = sa.or_(
            doubt,
            sa.and_(answered, sa.or_(questions.c.score < low_score, questions.c.kind == "choices")),
        )
    query = sa.select(questions).where(doubt)
    if since is not None:
        query = query.where(questions.c.asked_at >= since)
    rows = await conn.execute(query.order_by(questions.c.asked_at, questions.c.id))
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = " ".join(row.text.lower().split())
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"count": 0}
        group.update(
            text=row.text,
            count=group["count"] + 1,
            kind=row.kind,
            guide_id=row.guide_id,
            score=row.score,
            last_asked=row.asked_at,
        )
    return sorted(groups.values(), key=lambda g: (-g["count"], -g["last_asked"].timestamp()))
