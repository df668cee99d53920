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
            sa.select(conversations)
            .where(conversations.c.channel == channel, conversations.c.chat_id == chat_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        return Conversation(channel, chat_id, None, None, {}, 0, None)
    return Conversation(
        channel, chat_id, row.flow, row.state, dict(row.data or {}), row.version, row.updated_at
    )


async def save(conn: AsyncConnection, conversation: Conversation, now: datetime) -> None:
    values: dict[str, Any] = {
        "flow": conversation.flow,
        "state": conversation.state,
        "data": conversation.data,
        "version": conversation.version,
        "updated_at": now,
    }
    stmt = upsert(conn, conversations).values(
        channel=conversation.channel, chat_id=conversation.chat_id, **values
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[conversations.c.channel, conversations.c.chat_id], set_=values
        )
    )
