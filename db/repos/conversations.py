"""Conversation state per chat: flow, state, data and a version that buttons carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.hot import Hot
from db.models import Conversation, Person
from db.repos import people
from db.repos._sql import insert_for
from db.schema import conversations

_STATE = ("flow", "state", "data", "version", "updated_at")

_LOAD = Hot(
    sa.select(*(conversations.c[name] for name in _STATE)).where(
        conversations.c.channel == sa.bindparam("channel"),
        conversations.c.chat_id == sa.bindparam("chat_id"),
    )
)
# Names in WHERE differ from the columns: SQLAlchemy keeps those for the SET clause.
_SAVE = Hot(
    conversations.update()
    .where(
        conversations.c.channel == sa.bindparam("b_channel"),
        conversations.c.chat_id == sa.bindparam("b_chat_id"),
        conversations.c.version == sa.bindparam("b_expected_version"),
    )
    .values({name: sa.bindparam(name) for name in _STATE})
)


_CREATE = Hot(
    lambda dialect: (
        insert_for(dialect, conversations)
        .values({name: sa.bindparam(name) for name in ("channel", "chat_id", *_STATE)})
        .on_conflict_do_nothing(index_elements=[conversations.c.channel, conversations.c.chat_id])
    )
)


def _load_with_person() -> sa.Select[Any]:
    person = people.BY_ACCOUNT_SUBQUERY
    conversation = _LOAD.statement("any").subquery("conversation")  # type: ignore[attr-defined]
    one = sa.select(sa.literal(1).label("one")).subquery("one")
    return sa.select(person, conversation).select_from(
        one.outerjoin(person, sa.true()).outerjoin(conversation, sa.true())
    )


_LOAD_WITH_PERSON = Hot(_load_with_person())


def _conversation(channel: str, chat_id: str, row: Any) -> Conversation:
    if row is None or row.version is None:
        return Conversation(channel, chat_id, None, None, {}, 0, None)
    return Conversation(
        channel, chat_id, row.flow, row.state, dict(row.data or {}), row.version, row.updated_at
    )


async def load(conn: AsyncConnection, channel: str, chat_id: str) -> Conversation:
    row = await _LOAD.first(conn, {"channel": channel, "chat_id": chat_id})
    return _conversation(channel, chat_id, row)


async def load_with_person(
    conn: AsyncConnection, channel: str, chat_id: str, external_id: str
) -> tuple[Person | None, Conversation]:
    """The person behind the account `external_id` on `channel` (None: unknown) and the
    conversation of `chat_id`, in one round trip: what every update reads first."""
    params = {"channel": channel, "chat_id": chat_id, "external_id": external_id}
    row = await _LOAD_WITH_PERSON.first(conn, params)
    assert row is not None  # the outer joins always give one row
    return people.person_of(row), _conversation(channel, chat_id, row)


class ConcurrentChange(Exception):
    """Another process changed this conversation since it was loaded; handle the event again."""


async def save(
    conn: AsyncConnection, conversation: Conversation, *, expected_version: int, now: datetime
) -> None:
    """Store the conversation if it is still at `expected_version` (optimistic locking)."""
    values: dict[str, Any] = {
        "flow": conversation.flow,
        "state": conversation.state,
        "data": conversation.data,
        "version": conversation.version,
        "updated_at": now,
    }
    changed = await _SAVE.run(
        conn,
        {
            "b_channel": conversation.channel,
            "b_chat_id": conversation.chat_id,
            "b_expected_version": expected_version,
            **values,
        },
    )
    if changed == 1:
        return
    inserted = await _CREATE.run(
        conn, {"channel": conversation.channel, "chat_id": conversation.chat_id, **values}
    )
    if inserted != 1:
        raise ConcurrentChange()


async def end(conn: AsyncConnection, channel: str, chat_id: str, now: datetime) -> None:
    """End whatever flow the chat was in (its buttons go stale): the account left the team."""
    await conn.execute(
        conversations.update()
        .where(conversations.c.channel == channel, conversations.c.chat_id == chat_id)
        .values(
            flow=None,
            state=None,
            data={},
            version=conversations.c.version + 1,
            updated_at=now,
        )
    )
