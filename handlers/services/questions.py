"""Residents' free-text questions, kept (numbers masked) to see which guides are missing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.privacy import mask_numbers
from db.repos import questions


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
    """Keep a question and what the search made of it; phone and ID numbers are masked."""
    await questions.record(
        conn,
        at=at,
        channel=channel,
        role=role,
        text=mask_numbers(text),
        kind=kind,
        guide_id=guide_id,
        score=score,
    )


async def doubtful(
    conn: AsyncConnection, since: datetime, *, low_score: float
) -> list[dict[str, Any]]:
    """The questions since `since` that got no guide, a low-confidence answer or a choice,
    grouped by their words, most asked first (see `db.repos.questions.doubtful`)."""
    return await questions.doubtful(conn, since, low_score=low_score)
