"""Who a plan notice goes to, and what the outbox already holds for notice keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos.people import LINKING_ORDER
from db.schema import accounts, deliverables, outbox, people, units


@dataclass(frozen=True, slots=True)
class Candidate:
    """A person a notice may go to: their unit, and every chat account they linked, oldest
    link first. Which of those chats to write to is decided by handlers/services/reach.py."""

    person_id: int
    role: str
    unit_code: str
    unit_name: str
    unit_path: str
    display_name: str | None
    position: str | None
    preferred_channel: str | None
    chats: tuple[tuple[str, str], ...]


async def audience(
    conn: AsyncConnection,
    pairs: Iterable[tuple[str, str]],
    *,
    undelivered: str | None = None,
    within: str | None = None,
) -> list[Candidate]:
    """People whose (role, unit kind) is one of `pairs` and who have a linked chat account.

    `undelivered`: leave out people whose unit has delivered that deadline.
    `within`: only units whose path starts with it (a subtree).
    """
    wanted = list(pairs)
    if not wanted:
        return []
    query = (
        sa.select(
            people.c.id,
            people.c.role,
            people.c.unit_code,
            people.c.display_name,
            people.c.position,
            people.c.preferred_channel,
            units.c.name,
            units.c.path,
            accounts.c.channel,
            accounts.c.chat_id,
        )
        .select_from(
            people.join(units, units.c.code == people.c.unit_code).join(
                accounts, accounts.c.person_id == people.c.id
            )
        )
        .where(sa.or_(*(sa.and_(people.c.role == r, units.c.kind == k) for r, k in wanted)))
        .order_by(people.c.id, *LINKING_ORDER)
    )
    if undelivered is not None:
        query = query.where(
            ~sa.exists().where(
                deliverables.c.deadline_key == undelivered,
                deliverables.c.unit_code == people.c.unit_code,
            )
        )
    if within is not None:
        query = query.where(units.c.path.startswith(within, autoescape=True))
    found: dict[int, Candidate] = {}
    for row in await conn.execute(query):
        chat = (row.channel, row.chat_id)
        current = found.get(row.id)
        if current is not None:
            found[row.id] = replace(current, chats=(*current.chats, chat))
            continue
        found[row.id] = Candidate(
            row.id,
            row.role,
            row.unit_code,
            row.name,
            row.path,
            row.display_name,
            row.position,
            row.preferred_channel,
            (chat,),
        )
    return list(found.values())


async def outbox_states(conn: AsyncConnection, keys: Iterable[str]) -> dict[str, str]:
    """For keys already in the outbox: "sent", "failed" or "pending"."""
    wanted = list(keys)
    states: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        rows = await conn.execute(
            sa.select(outbox.c.key, outbox.c.sent_at, outbox.c.failed_at).where(
                outbox.c.key.in_(wanted[start : start + 500])
            )
        )
        for row in rows:
            states[row.key] = "sent" if row.sent_at else "failed" if row.failed_at else "pending"
    return states


async def pending_channels(conn: AsyncConnection, keys: Iterable[str]) -> set[str]:
    """The channels on which some of these keys are still waiting to be sent."""
    wanted = list(keys)
    channels: set[str] = set()
    for start in range(0, len(wanted), 500):
        rows = await conn.execute(
            sa.select(outbox.c.channel)
            .where(
                outbox.c.key.in_(wanted[start : start + 500]),
                outbox.c.sent_at.is_(None),
                outbox.c.failed_at.is_(None),
            )
            .distinct()
        )
        channels.update(rows.scalars())
    return channels
