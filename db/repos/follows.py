"""Follows: the chats that receive a village's or commune's announcements (residents included)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos._sql import upsert
from db.schema import follows, units


async def follow(
    conn: AsyncConnection, channel: str, chat_id: str, unit_code: str, now: datetime
) -> bool:
    """Follow a unit from this chat; False if this chat already followed it."""
    stmt = (
        upsert(conn, follows)
        .values(channel=channel, chat_id=chat_id, unit_code=unit_code, created_at=now)
        .on_conflict_do_nothing(
            index_elements=[follows.c.channel, follows.c.chat_id, follows.c.unit_code]
        )
    )
    return (await conn.execute(stmt)).rowcount == 1


async def unfollow_all(conn: AsyncConnection, channel: str, chat_id: str) -> int:
    """Stop following everything from this chat; how many follows there were."""
    result = await conn.execute(
        follows.delete().where(follows.c.channel == channel, follows.c.chat_id == chat_id)
    )
    return result.rowcount


async def of_chat(conn: AsyncConnection, channel: str, chat_id: str) -> list[str]:
    """The names of the units this chat follows."""
    rows = await conn.execute(
        sa.select(units.c.name)
        .select_from(follows.join(units, units.c.code == follows.c.unit_code))
        .where(follows.c.channel == channel, follows.c.chat_id == chat_id)
        .order_by(follows.c.id)
    )
    return list(rows.scalars())


async def chats_in_subtree(conn: AsyncConnection, path: str) -> list[tuple[str, str]]:
    """Every chat following a unit within the area at `path` (each chat once)."""
    rows = await conn.execute(
        sa.select(follows.c.channel, follows.c.chat_id)
        .select_from(follows.join(units, units.c.code == follows.c.unit_code))
        .where(units.c.path.startswith(path, autoescape=True))
        .group_by(follows.c.channel, follows.c.chat_id)
        .order_by(follows.c.channel, follows.c.chat_id)
    )
    return [(row.channel, row.chat_id) for row in rows]


async def move(conn: AsyncConnection, old_code: str, new_code: str) -> int:
    """Followers of `old_code` follow `new_code` instead (a chat following both keeps one);
    returns how many follows moved."""
    both = sa.select(follows.c.channel, follows.c.chat_id).where(follows.c.unit_code == new_code)
    await conn.execute(
        follows.delete().where(
            follows.c.unit_code == old_code,
            sa.tuple_(follows.c.channel, follows.c.chat_id).in_(both),
        )
    )
    result = await conn.execute(
        follows.update().where(follows.c.unit_code == old_code).values(unit_code=new_code)
    )
    return result.rowcount
