"""Conversations left in the middle of a flow (for the idle-flow sweep)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Conversation
from db.schema import conversations


async def idle_flows(
    conn: AsyncConnection, before: datetime, limit: int = 500
) -> list[Conversation]:
    """Conversations in a flow whose last change is older than `before`."""
    rows = await conn.execute(
        sa.select(conversations)
        .where(conversations.c.flow.is_not(None), conversations.c.updated_at < before)
        .order_by(conversations.c.updated_at)
        .limit(limit)
    )
    return [
        Conversation(
            r.channel, r.chat_id, r.flow, r.state, dict(r.data or {}), r.version, r.updated_at
        )
        for r in rows
    ]
