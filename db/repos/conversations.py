"""Conversation state per chat: flow, state, data and a version that buttons carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Conversation
from db.repos._sql import upsert
from db.schema import conversations


async def load(conn: AsyncConnection, channel: str, chat_id: str) -> Conversation:
    row = (
        await conn.execute(
            sa.select(conversations).where(
                conversations.c.channel == channel, conversations.c.chat_id == chat_id
            )
        )
    ).first()
    if row is None:
        return Conversation(channel, chat_id, None, None, {}, 0, None)
    return Conversation(
        channel, chat_id, row.flow, row.state, dict(row.data or {}), row.version, row.updated_at
    )


class ConcurrentChange(Exception):
    """Another process changed this conversation since it was loaded; handle the event again."""


async def save(
    conn: AsyncConnection, conversation: Conversation, *, expected_version: int, now: datetime
) -> None:
    """Store the conversation if it is still at `expected_version` (optimistic locking)."""
    values: dict[str, Any] = {
        "flow": conversation.flow,
        "state": conversation.state,
        "data": conversation.data,
        "version": conversation.version,
        "updated_at": now,
    }
    result = await conn.execute(
        conversations.update()
        .where(
            conversations.c.channel == conversation.channel,
            conversations.c.chat_id == conversation.chat_id,
            conversations.c.version == expected_version,
        )
        .values(values)
    )
    if result.rowcount == 1:
        return
    inserted = await conn.execute(
        upsert(conn, conversations)
        .values(channel=conversation.channel, chat_id=conversation.chat_id, **values)
        .on_conflict_do_nothing(index_elements=[conversations.c.channel, conversations.c.chat_id])
    )
    if inserted.rowcount != 1:
        raise ConcurrentChange()
