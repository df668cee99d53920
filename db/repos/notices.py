"""Who a plan notice goes to, and what the outbox already holds for notice keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schema import accounts, deliverables, outbox, people, units


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person who can be written to first: their unit and the chat to use."""

    person_id: int
    role: str
    unit_code: str
    unit_name: str
    unit_path: str
    display_name: str | None
    position: str | None
    channel: str
    chat_id: str


async def audience(
    conn: AsyncConnection,
    pairs: Iterable[tuple[str, str]],
    *,
    undelivered: str | None = None,
    within: str | None = None,
) -> list[Recipient]:
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
        .order_by(people.c.id, accounts.c.linked_at)
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
    chosen: dict[int, Recipient] = {}
    for row in await conn.execute(query):
        current = chosen.get(row.id)
        preferred = row.channel == row.preferred_channel
        if current is None or (preferred and current.channel != row.preferred_channel):
            chosen[row.id] = Recipient(
                row.id,
                row.role,
                row.unit_code,
                row.name,
                row.path,
                row.display_name,
                row.position,
                row.channel,
                row.chat_id,
            )
    return list(chosen.values())


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
