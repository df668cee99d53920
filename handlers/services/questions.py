"""Residents' free-text questions, kept (numbers masked) to see which guides are missing."""

from __future__ import annotations

from datetime import datetime

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
