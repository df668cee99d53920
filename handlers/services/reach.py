"""Where to reach a person, and notices to other people's chats.

`reach(person)` is the one answer to "which chat do we write to": the first linked account on
their preferred channel, else their first linked account. `notify_chat` queues a message in the outbox within the caller's transaction; the outbox sender delivers it after
commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core.events import Reply
from db.models import Person
from db.repos import conversations, outbox, people

Chat = tuple[str, str]  # (channel, chat id)


def choose(preferred: str | None, linked: Iterable[Chat]) -> Chat | None:
    """The first of `linked` (in linking order) on the `preferred` channel, else the first."""
    first: Chat | None = None
    for channel, chat_id in linked:
        if channel == preferred:
            return channel, chat_id
        if first is None:
            first = (channel, chat_id)
    return first


async def reach(conn: AsyncConnection, person: Person) -> Chat | None:
    """The chat to reach `person` on (None: no linked account)."""
    return choose(person.preferred_channel, await people.accounts_of(conn, person.id))


async def reach_id(conn: AsyncConnection, person_id: int) -> Chat | None:
    """The chat to reach the person with this id on (None: unknown, or no linked account)."""
    person = await people.get(conn, person_id)
    return await reach(conn, person) if person is not None else None


async def notify_chat(
    conn: AsyncConnection,
    channel: str,
    chat_id: str,
    key: str,
    reply: Reply,
    *,
    now: datetime,
    urgent: bool = True,
    sender: Chat | None = None,
) -> bool:
    """Queue `reply` to one chat (once per key); `sender` is the chat being answered now."""
    if reply.choices and (channel, chat_id) != sender:
        await _offer_to(conn, channel, chat_id, reply, now)
    return await outbox.enqueue(
        conn,
        key=key,
        channel=channel,
        chat_id=chat_id,
        payload=reply.to_json(),
        now=now,
        urgent=urgent,
    )


async def _offer_to(
    conn: AsyncConnection, channel: str, chat_id: str, reply: Reply, now: datetime
) -> None:
    """Let the recipient answer a notice's options by typing a number (channels without
    buttons), unless they are in the middle of something: then they use the command."""
    theirs = await conversations.load(conn, channel, chat_id)
    if theirs.flow is not None:
        return
    offered = [[c.data, c.label] for c in reply.flat_choices() if c.data.startswith("a:")]
    if not offered:
        return
    updated = replace(theirs, data={**theirs.data, "_offered": offered})
    await conversations.save(conn, updated, expected_version=theirs.version, now=now)
