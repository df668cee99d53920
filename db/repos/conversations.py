"""Conversation state per chat: flow, state, data and a version that buttons carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Conversation
from db.repos._sql import insert_for, per_dialect
from db.schema import conversations

_STATE = ("flow", "state", "data", "version", "updated_at")

_LOAD = sa.select(*(conversations.c[name] for name in _STATE)).where(
    conversations.c.channel == sa.bindparam("channel"),
    conversations.c.chat_id == sa.bindparam("chat_id"),
)
# Names in WHERE differ from the columns: SQLAlchemy keeps those for the SET clause.
_SAVE = (
    conversations.update()
    .where(
        conversations.c.channel == sa.bindparam("b_channel"),
        conversations.c.chat_id == sa.bindparam("b_chat_id"),
        conversations.c.version == sa.bindparam("b_expected_version"),
    )
    .values({name: sa.bindparam(name) for name in _STATE})
)


@per_dialect
def _create(dialect: str) -> Any:
    return insert_for(dialect, conversations).on_conflict_do_nothing(
        index_elements=[conversations.c.channel, conversations.c.chat_id]
    )


async def load(conn: AsyncConnection, channel: str, chat_id: str) -> Conversation:
    row = (await conn.execute(_LOAD, {"channel": channel, "chat_id": chat_id})).first()
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
        _SAVE,
        {
            "b_channel": conversation.channel,
            "b_chat_id": conversation.chat_id,
            "b_expected_version": expected_version,
            **values,
        },
    )
    if result.rowcount == 1:
        return
    inserted = await conn.execute(
        _create(conn), {"channel": conversation.channel, "chat_id": conversation.chat_id, **values}
    )
    if inserted.rowcount != 1:
        raise ConcurrentChange()


async def end(conn: AsyncConnection, channel: str, chat_id: str, now: datetime) -> None:
    """End whatever flow the chat was in (its buttons go stale): the account left the team."""
    await conn.execute(
        conversations.update()
        .where(conversations.c.channel == channel, conversations.c.chat_id == chat_id)
        .values(
            flow=None,
            state=None,
            data={},
            version=conversations.c.version + 1,
            updated_at=now,
        )
    )
