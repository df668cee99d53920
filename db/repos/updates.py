"""Incoming updates already handled, with the replies they produced (exactly-once in).

Keyed by (channel, chat, update key): a redelivery to the same chat is recognised, while the
same key arriving from another chat is that chat's own update and never gets these replies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.hot import Hot
from db.repos._sql import insert_for
from db.schema import processed_updates

_COLUMNS = ("channel", "chat_id", "update_key", "replies", "processed_at")
_RECORD = Hot(
    lambda dialect: (
        insert_for(dialect, processed_updates)
        .values({name: sa.bindparam(name) for name in _COLUMNS})
        .on_conflict_do_nothing(
            index_elements=[
                processed_updates.c.channel,
                processed_updates.c.chat_id,
                processed_updates.c.update_key,
            ]
        )
    )
)


_REPLIES_OF = sa.select(processed_updates.c.replies).where(
    processed_updates.c.channel == sa.bindparam("channel"),
    processed_updates.c.chat_id == sa.bindparam("chat_id"),
    processed_updates.c.update_key == sa.bindparam("update_key"),
)


class AlreadyRecorded(Exception):
    """This chat's update was handled before: its transaction must be rolled back."""


def _recorded(count: int) -> None:
    if count != 1:
        raise AlreadyRecorded()


async def record(
    conn: AsyncConnection,
    channel: str,
    chat_id: str,
    key: str,
    replies: Any,
    now: datetime,
    *,
    at_commit: bool = False,
) -> None:
    """Mark the update handled, with its replies; AlreadyRecorded if it was handled before.

    `at_commit`: inside `Database.transaction()` the row is written with the transaction's
    last writes, just before COMMIT (one round trip with them on PostgreSQL, db/hot.py), and
    AlreadyRecorded is raised from there. On PostgreSQL a concurrent second delivery waits
    for the first to commit, then finds the row, so its transaction is rolled back whole.
    """
    params = {
        "channel": channel,
        "chat_id": chat_id,
        "update_key": key,
        "replies": replies,
        "processed_at": now,
    }
    await _RECORD.write(conn, params, _recorded, at_commit=at_commit)


async def replies_of(conn: AsyncConnection, channel: str, chat_id: str, key: str) -> Any:
    """The replies stored for this chat's update, or None."""
    result = await conn.execute(
        _REPLIES_OF, {"channel": channel, "chat_id": chat_id, "update_key": key}
    )
    return result.scalar_one_or_none()


async def last_inbound(conn: AsyncConnection, channel: str, chat_id: str) -> datetime | None:
    """When this chat last sent something that was handled (None: not within the ledger's
    retention). Messaging windows (Zalo OA) are counted from it."""
    result = await conn.execute(
        sa.select(processed_updates.c.processed_at)
        .where(processed_updates.c.channel == channel, processed_updates.c.chat_id == chat_id)
        .order_by(processed_updates.c.processed_at.desc())
        .limit(1)
    )
    value: datetime | None = result.scalar_one_or_none()
    return value
