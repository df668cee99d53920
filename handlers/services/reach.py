"""Where to reach a person, and notices to other people's chats.

`choose` is the one rule for "which chat do we write to": the first linked account (oldest
link first) on the person's preferred channel, else their first linked account. `reach` applies
it to one person, `audience` to everyone a plan notice goes to, and the announcements apply it
to an area's members; the repositories only list the linked accounts, in linking order.
`notify_chat` queues a message in the outbox within the caller's transaction; the outbox
sender delivers it after commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core.events import Reply
from db.models import Person
from db.repos import conversations, notices, outbox, people
from db.repos.notices import Candidate

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


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person who can be written to first: their unit and the chat `choose` picked."""

    person_id: int
    role: str
    unit_code: str
    unit_name: str
    unit_path: str
    display_name: str | None
    position: str | None
    channel: str
    chat_id: str


def _recipient(candidate: Candidate) -> Recipient | None:
    chat = choose(candidate.preferred_channel, candidate.chats)
    if chat is None:
        return None
    return Recipient(
        candidate.person_id,
        candidate.role,
        candidate.unit_code,
        candidate.unit_name,
        candidate.unit_path,
        candidate.display_name,
        candidate.position,
        *chat,
    )


async def audience(
    conn: AsyncConnection,
    pairs: Iterable[tuple[str, str]],
    *,
    undelivered: str | None = None,
    within: str | None = None,
) -> list[Recipient]:
    """Everyone whose (role, unit kind) is one of `pairs`, each on the chat `choose` picks.

    `undelivered`: leave out people whose unit has delivered that deadline's deliverable.
    `within`: only units inside the area with this path.
    """
    found = await notices.audience(conn, pairs, undelivered=undelivered, within=within)
    return [r for r in map(_recipient, found) if r is not None]


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
