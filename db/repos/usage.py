"""How much of a channel's plan has been used, counted from rows that already exist.

Nothing new is stored: messages the bot sent on its own are outbox rows with ``sent_at``; each
message a person sent is a ``processed_updates`` row and was answered (at least once); the
chats that talked to the bot have a ``conversations`` row.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _chats_of(
    column: sa.ColumnElement[str], prefix: str | None, excluding: Sequence[str]
) -> sa.ColumnElement[bool]:
    """Chats starting with ``prefix`` (any, when None) and with none of ``excluding``."""
    wanted: list[sa.ColumnElement[bool]] = []
    if prefix is not None:
        wanted.append(column.startswith(prefix, autoescape=True))
    wanted.extend(sa.not_(column.startswith(other, autoescape=True)) for other in excluding)
    return sa.and_(sa.true(), *wanted)


async def since(
    conn: AsyncConnection,
    channel: str,
    start: datetime,
    *,
    chat_prefix: str | None = None,
    excluding: Sequence[str] = (),
) -> Usage:
    """The channel's use since ``start``; with ``chat_prefix``, only chats whose id starts with
    it (one account of several: a Zalo OA's chats are ``"<oa_id>:<user>"``, a further Zalo
    bot's ``"<bot_id>:<chat>"``); chats starting with one of ``excluding`` are left out (the
    first Zalo bot's chats are bare: all but the further bots')."""

    def chats_of(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
        return _chats_of(column, chat_prefix, excluding)

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
    conn: AsyncConnection,
    channel: str,
    now: datetime,
    until: datetime,
    *,
    chat_prefix: str | None = None,
    excluding: Sequence[str] = (),
) -> int:
    """Keep unsent, non-urgent rows from being claimed before ``until`` (a lease held by no
    one); ``chat_prefix`` and ``excluding`` pick one account's chats, as in :func:`since`."""
    result = await conn.execute(
        outbox.update()
        .where(
            outbox.c.channel == channel,
            outbox.c.urgent == sa.false(),
            outbox.c.sent_at.is_(None),
            outbox.c.failed_at.is_(None),
            sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < until),
            _chats_of(outbox.c.chat_id, chat_prefix, excluding),
        )
        .values(claimed_until=until)
    )
    return result.rowcount or 0
