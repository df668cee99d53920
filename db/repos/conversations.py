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


def _upsert(dialect: str) -> Any:
    """Insert the conversation, or update it if it is still at `expected_version`: one row
    changed, or none when another process moved it on (optimistic locking)."""
    stmt = insert_for(dialect, conversations).values(
        {name: sa.bindparam(name) for name in ("channel", "chat_id", *_STATE)}
    )
    return stmt.on_conflict_do_update(
        index_elements=[conversations.c.channel, conversations.c.chat_id],
        set_={name: stmt.excluded[name] for name in _STATE},
        where=conversations.c.version == sa.bindparam("expected_version"),
    )


_UPSERT = Hot(_upsert)


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


def _saved(count: int) -> None:
    if count != 1:
        raise ConcurrentChange()


async def save(
    conn: AsyncConnection,
    conversation: Conversation,
    *,
    expected_version: int,
    now: datetime,
    at_commit: bool = False,
) -> None:
    """Store the conversation if it is still at `expected_version` (optimistic locking),
    else ConcurrentChange. `at_commit`: with the transaction's last writes, just before
    COMMIT (db/hot.py), and ConcurrentChange is raised from there."""
    params: dict[str, Any] = {
        "channel": conversation.channel,
        "chat_id": conversation.chat_id,
        "flow": conversation.flow,
        "state": conversation.state,
        "data": conversation.data,
        "version": conversation.version,
        "updated_at": now,
        "expected_version": expected_version,
    }
    await _UPSERT.write(conn, params, _saved, at_commit=at_commit)


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
