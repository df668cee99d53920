"""A chat's conversation between events: where it is in which flow, with the flow's data.

Loaded at the start of each event and saved at its end with optimistic locking: if another
process moved the conversation on meanwhile, saving raises ConcurrentChange and the event is
handled again from the newer state. A flow left idle longer than FLOW_TIMEOUT has expired.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core.timeouts import FLOW_TIMEOUT
from db.models import Conversation, Person
from db.repos import conversations
from db.repos.conversations import ConcurrentChange

__all__ = ["ConcurrentChange", "expired", "fresh", "load", "load_with_person", "save"]


async def load(conn: AsyncConnection, channel: str, chat_id: str) -> Conversation:
    """The chat's conversation as stored (a new, empty one if the chat never wrote)."""
    return await conversations.load(conn, channel, chat_id)


async def load_with_person(
    conn: AsyncConnection, channel: str, chat_id: str, user_id: str
) -> tuple[Person | None, Conversation]:
    """Who writes from `user_id` (None: nobody has linked the account) and the chat's
    conversation, in one round trip: what every update reads first."""
    return await conversations.load_with_person(conn, channel, chat_id, user_id)


def expired(conversation: Conversation, at: datetime) -> bool:
    """A flow idle for longer than FLOW_TIMEOUT at `at` is over."""
    return bool(
        conversation.flow
        and conversation.updated_at
        and at - conversation.updated_at > FLOW_TIMEOUT
    )


def fresh(conversation: Conversation) -> Conversation:
    """The conversation with its flow ended (same version: it is saved as the next one)."""
    return replace(conversation, flow=None, state=None, data={})


async def save(
    conn: AsyncConnection,
    conversation: Conversation,
    *,
    expected_version: int,
    now: datetime,
    at_commit: bool = False,
) -> None:
    """Store the conversation if it is still at `expected_version` (else ConcurrentChange;
    `at_commit`: saved, and checked, with the transaction's last writes)."""
    await conversations.save(
        conn, conversation, expected_version=expected_version, now=now, at_commit=at_commit
    )
