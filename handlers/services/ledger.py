"""Exactly-once in: the updates each chat sent that were handled, with the replies they got.

The dispatcher claims an update in the same transaction as everything its handling wrote; a
redelivery of the same update to the same chat finds the claim and is answered with the
stored replies, never handled twice (db/repos/updates.py).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from core.events import Incoming, Reply
from db.repos import updates

AlreadyHandled = updates.AlreadyRecorded


async def claim(conn: AsyncConnection, event: Incoming, replies: list[Reply]) -> None:
    """Record the update as handled, with its replies; AlreadyHandled if it was handled
    before (raised when the transaction's last writes are made, just before COMMIT)."""
    stored = [reply.to_json() for reply in replies]
    await updates.record(
        conn, event.channel, event.chat_id, event.update_key, stored, event.at, at_commit=True
    )


async def replies_of(conn: AsyncConnection, event: Incoming) -> list[Reply]:
    """What was said when this chat's update was handled before (empty if it was not)."""
    stored = await updates.replies_of(conn, event.channel, event.chat_id, event.update_key)
    return [Reply.from_json(item) for item in stored or []]
