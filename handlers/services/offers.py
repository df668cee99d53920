"""Lasting options (actions, ``a:<name>:<arg>``): a chat may press one only if it was offered
to that chat, in an answer or a queued notice, within OFFER_DAYS (db/repos/offers.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from core.events import Reply
from core.timeouts import OFFER_DAYS
from db.repos import offers


def may_be_offered(data: str) -> bool:
    """False for data no answer ever carries: too long, or with control characters."""
    return len(data) <= offers.MAX_DATA and data.isprintable()


def actions_in(replies: Iterable[Reply]) -> list[str]:
    """The lasting options among the replies' choices (flow options are not remembered)."""
    return [c.data for r in replies for c in r.flat_choices() if c.data.startswith("a:")]


async def remember(
    conn: AsyncConnection,
    channel: str,
    chat_id: str,
    replies: Iterable[Reply],
    now: datetime,
    *,
    at_commit: bool = False,
) -> None:
    """This chat was offered the actions of these replies (again) at `now` (`at_commit`:
    written with the transaction's last writes)."""
    await offers.record(conn, channel, chat_id, actions_in(replies), now, at_commit=at_commit)


async def was_offered(
    conn: AsyncConnection, channel: str, chat_id: str, data: str, now: datetime
) -> bool:
    """Was `data` offered to this chat recently enough to be pressed at `now`?"""
    since = now - timedelta(days=OFFER_DAYS)
    return await offers.was_offered(conn, channel, chat_id, data, since=since)
