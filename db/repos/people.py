"""People (members, leaders, officers, residents) and their linked chat accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from db.hot import Hot
from db.models import Person
from db.repos._sql import upsert
from db.schema import accounts, people, units

_COLUMNS = (
    people.c.id,
    people.c.role,
    people.c.unit_code,
    people.c.position,
    people.c.display_name,
    people.c.preferred_channel,
    units.c.path,
)
_PEOPLE = people.outerjoin(units, units.c.code == people.c.unit_code)
_BY_ACCOUNT = Hot(
    sa.select(*_COLUMNS)
    .select_from(_PEOPLE)
    .join(accounts, accounts.c.person_id == people.c.id)
    .where(
        accounts.c.channel == sa.bindparam("channel"),
        accounts.c.external_id == sa.bindparam("external_id"),
    )
)
_GET = sa.select(*_COLUMNS).select_from(_PEOPLE).where(people.c.id == sa.bindparam("person_id"))


def _person(row: Any) -> Person:
    return Person(
        id=row.id,
        role=row.role,
        unit_code=row.unit_code,
        position=row.position,
        display_name=row.display_name,
        preferred_channel=row.preferred_channel,
        unit_path=row.path,
    )


# The person behind a chat account and that chat's conversation, in one statement: both are
# read at the start of every update (db/repos/conversations.py:load_with_person).
BY_ACCOUNT_SUBQUERY = _BY_ACCOUNT.statement("any").subquery("person")  # type: ignore[attr-defined]


def person_of(row: Any) -> Person | None:
    """The person in a row selected from BY_ACCOUNT_SUBQUERY (None: no such account)."""
    return _person(row) if row.id is not None else None


async def by_account(conn: AsyncConnection, channel: str, external_id: str) -> Person | None:
    params = {"channel": channel, "external_id": external_id}
    row = await _BY_ACCOUNT.first(conn, params)
    return _person(row) if row else None


async def by_chat(conn: AsyncConnection, channel: str, chat_id: str) -> Person | None:
    """The person whose account on ``channel`` talks in ``chat_id`` (private chats)."""
    row = (
        await conn.execute(
            sa.select(*_COLUMNS)
            .select_from(_PEOPLE)
            .join(accounts, accounts.c.person_id == people.c.id)
            .where(accounts.c.channel == channel, accounts.c.chat_id == chat_id)
            .limit(1)
        )
    ).first()
    return _person(row) if row else None


async def get(conn: AsyncConnection, person_id: int) -> Person | None:
    row = (await conn.execute(_GET, {"person_id": person_id})).first()
    return _person(row) if row else None


async def create(
    conn: AsyncConnection,
    *,
    role: str,
    unit_code: str | None,
    display_name: str | None,
    channel: str,
    external_id: str,
    chat_id: str,
    now: datetime,
) -> Person:
    """A new person known by this chat account (their notices go to that channel)."""
    result = await conn.execute(
        people.insert()
        .values(
            role=role,
            unit_code=unit_code,
            display_name=display_name,
            preferred_channel=channel,
            created_at=now,
        )
        .returning(people.c.id)
    )
    person_id = result.scalar_one()
    await link_account(
        conn,
        channel=channel,
        external_id=external_id,
        chat_id=chat_id,
        person_id=person_id,
        now=now,
    )
    person = await get(conn, person_id)
    assert person is not None
    return person


async def link_account(
    conn: AsyncConnection,
    *,
    channel: str,
    external_id: str,
    chat_id: str,
    person_id: int,
    now: datetime,
) -> None:
    stmt = upsert(conn, accounts).values(
        channel=channel,
        external_id=external_id,
        chat_id=chat_id,
        person_id=person_id,
        linked_at=now,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[accounts.c.channel, accounts.c.external_id],
            set_={"person_id": person_id, "chat_id": chat_id, "linked_at": now},
        )
    )


async def update(conn: AsyncConnection, person_id: int, **values: Any) -> None:
    await conn.execute(people.update().where(people.c.id == person_id).values(**values))


# The order a person's accounts are listed in: oldest link first (ties: by channel, account).
LINKING_ORDER = (accounts.c.linked_at, accounts.c.channel, accounts.c.external_id)


async def accounts_of(conn: AsyncConnection, person_id: int) -> list[tuple[str, str]]:
    """(channel, chat id) of every account the person linked, in LINKING_ORDER."""
    rows = await conn.execute(
        sa.select(accounts.c.channel, accounts.c.chat_id)
        .where(accounts.c.person_id == person_id)
        .order_by(*LINKING_ORDER)
    )
    return [(row.channel, row.chat_id) for row in rows]


async def in_units(
    conn: AsyncConnection, unit_codes: list[str], roles: tuple[str, ...]
) -> list[Person]:
    rows = await conn.execute(
        sa.select(*_COLUMNS)
        .select_from(_PEOPLE)
        .where(people.c.unit_code.in_(unit_codes), people.c.role.in_(roles))
        .order_by(people.c.id)
    )
    return [_person(row) for row in rows]


async def bound_to(conn: AsyncConnection, unit_code: str) -> list[Person]:
    """Everyone whose own unit is exactly this one, by id."""
    rows = await conn.execute(
        sa.select(*_COLUMNS)
        .select_from(_PEOPLE)
        .where(people.c.unit_code == unit_code)
        .order_by(people.c.id)
    )
    return [_person(row) for row in rows]


async def in_subtree(conn: AsyncConnection, path: str, roles: tuple[str, ...]) -> list[Person]:
    rows = await conn.execute(
        sa.select(*_COLUMNS)
        .select_from(_PEOPLE)
        .where(units.c.path.startswith(path, autoescape=True), people.c.role.in_(roles))
        .order_by(people.c.id)
    )
    return [_person(row) for row in rows]


async def listing(
    conn: AsyncConnection, *, path: str | None, role: str | None
) -> list[dict[str, Any]]:
    """Registered people (not residents) under `path` (None: everyone), with their unit's
    name and their chat accounts as "channel:id", ordered by unit then id."""
    query = (
        sa.select(*_COLUMNS, units.c.name.label("unit_name"), people.c.created_at)
        .select_from(_PEOPLE)
        .where(people.c.role.in_(roles.REGISTERED_ROLES))
        .order_by(units.c.path, people.c.id)
    )
    if path is not None:
        query = query.where(units.c.path.startswith(path, autoescape=True))
    if role is not None:
        query = query.where(people.c.role == role)
    rows = [dict(row._mapping) for row in await conn.execute(query)]
    ids = [row["id"] for row in rows]
    linked: dict[int, list[str]] = {}
    if ids:
        found = await conn.execute(
            sa.select(accounts.c.person_id, accounts.c.channel, accounts.c.external_id)
            .where(accounts.c.person_id.in_(ids))
            .order_by(accounts.c.channel, accounts.c.external_id)
        )
        for account in found:
            linked.setdefault(account.person_id, []).append(
                f"{account.channel}:{account.external_id}"
            )
    for item in rows:
        item["accounts"] = linked.get(item["id"], [])
    return rows


async def unlink_account(
    conn: AsyncConnection, channel: str, external_id: str
) -> tuple[int, str] | None:
    """Remove one chat account; returns the person it belonged to and its chat (None: no such
    account)."""
    result = await conn.execute(
        accounts.delete()
        .where(accounts.c.channel == channel, accounts.c.external_id == external_id)
        .returning(accounts.c.person_id, accounts.c.chat_id)
    )
    row = result.first()
    return (int(row.person_id), str(row.chat_id)) if row else None


async def unlink_all(conn: AsyncConnection, person_id: int) -> int:
    """Remove every chat account of the person; returns how many."""
    result = await conn.execute(accounts.delete().where(accounts.c.person_id == person_id))
    return result.rowcount
