"""Incoming updates already handled, with the replies they produced (exactly-once in)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos._sql import upsert
from db.schema import processed_updates


async def claim(conn: AsyncConnection, channel: str, key: str, now: datetime) -> bool:
    """Record the update as being handled; False if it was handled before."""
    stmt = (
        upsert(conn, processed_updates)
        .values(channel=channel, update_key=key, replies=[], processed_at=now)
        .on_conflict_do_nothing(
            index_elements=[processed_updates.c.channel, processed_updates.c.update_key]
        )
    )
    return (await conn.execute(stmt)).rowcount == 1


async def store_replies(conn: AsyncConnection, channel: str, key: str, replies: Any) -> None:
    await conn.execute(
        processed_updates.update()
        .where(processed_updates.c.channel == channel, processed_updates.c.update_key == key)
        .values(replies=replies)
    )


async def replies_of(conn: AsyncConnection, channel: str, key: str) -> Any:
    return (
        await conn.execute(
            sa.select(processed_updates.c.replies).where(
                processed_updates.c.channel == channel, processed_updates.c.update_key == key
            )
        )
    ).scalar_one_or_none()
