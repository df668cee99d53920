"""Incoming updates already handled, with the replies they produced (exactly-once in)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos._sql import upsert
from db.schema import processed_updates


async def record(
    conn: AsyncConnection, channel: str, key: str, replies: Any, now: datetime
) -> bool:
    """Mark the update handled, with its replies; False if it was handled before.

    On PostgreSQL a concurrent second delivery waits here for the first to commit, then
    finds the row and returns False, so its transaction is rolled back whole.
    """
    stmt = (
        upsert(conn, processed_updates)
        .values(channel=channel, update_key=key, replies=replies, processed_at=now)
        .on_conflict_do_nothing(
            index_elements=[processed_updates.c.channel, processed_updates.c.update_key]
        )
    )
    return (await conn.execute(stmt)).rowcount == 1


async def replies_of(conn: AsyncConnection, channel: str, key: str) -> Any:
    return (
        await conn.execute(
            sa.select(processed_updates.c.replies).where(
                processed_updates.c.channel == channel, processed_updates.c.update_key == key
            )
        )
    ).scalar_one_or_none()
