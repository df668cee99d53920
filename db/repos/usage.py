"""How much of a channel's plan has been used, counted from rows that already exist.

Nothing new is stored: messages the bot sent on its own are outbox rows with ``sent_at``; each
message a person sent is a ``processed_updates`` row and was answered (at least once); the
chats that talked to the bot have a ``conversations`` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schema import conversations, outbox, processed_updates


@dataclass(frozen=True, slots=True)
class Usage:
    """Messages since the start of the period: sent by the outbox, and incoming ones answered."""

    proactive: int
    answered: int
    chats: int

    @property
    def sent(self) -> int:
        """Messages sent (a lower bound: a long answer split in two counts once)."""
        return self.proactive + self.answered


async def since(
    conn: AsyncConnection, channel: str, start: datetime, *, chat_prefix: str | None = None
) -> Usage:
    """The channel's use since ``start``; with ``chat_prefix``, only chats whose id starts with
    it (one Zalo OA of several: its chats are ``"<oa_id>:<user>"``)."""

    def chats_of(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
        if chat_prefix is None:
            return sa.true()
        return column.startswith(chat_prefix, autoescape=True)

    proactive = (
        await conn.execute(
            sa.select(sa.func.count()).where(
                outbox.c.channel == channel, outbox.c.sent_at >= start, chats_of(outbox.c.chat_id)
            )
        )
    ).scalar_one()
    answered = (
        await conn.execute(
            sa.select(sa.func.count()).where(
                processed_updates.c.channel == channel,
                processed_updates.c.processed_at >= start,
                chats_of(processed_updates.c.chat_id),
            )
        )
    ).scalar_one()
    chats = (
        await conn.execute(
            sa.select(sa.func.count()).where(
                conversations.c.channel == channel, chats_of(conversations.c.chat_id)
            )
        )
    ).scalar_one()
    return Usage(proactive=proactive, answered=answered, chats=chats)


async def hold_non_urgent(
    conn: AsyncConnection, channel: str, now: datetime, until: datetime
) -> int:
    """Keep unsent, non-urgent rows from being claimed before ``until`` (a lease held by no one)."""
    result = await conn.execute(
        outbox.update()
        .where(
            outbox.c.channel == channel,
            outbox.c.urgent == sa.false(),
            outbox.c.sent_at.is_(None),
            outbox.c.failed_at.is_(None),
            sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < until),
        )
        .values(claimed_until=until)
    )
    return result.rowcount or 0
