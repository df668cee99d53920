"""Announcements from leaders and officers, and the team members' chats they go to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos.people import LINKING_ORDER
from db.schema import accounts, announcements, people, units


@dataclass(frozen=True, slots=True)
class Announcement:
    id: int
    sender_id: int
    unit_code: str
    unit_name: str
    audience: str
    text: str
    attachment_kind: str | None
    attachment_file_id: str | None
    created_at: datetime
    sent_at: datetime | None


_SELECT = sa.select(announcements, units.c.name.label("unit_name")).select_from(
    announcements.join(units, units.c.code == announcements.c.unit_code)
)


def _announcement(row: Any) -> Announcement:
    return Announcement(
        row.id,
        row.sender_id,
        row.unit_code,
        row.unit_name,
        row.audience,
        row.text,
        row.attachment_kind,
        row.attachment_file_id,
        row.created_at,
        row.sent_at,
    )


async def create(
    conn: AsyncConnection,
    *,
    sender_id: int,
    unit_code: str,
    audience: str,
    text: str,
    attachment: tuple[str, str] | None,
    now: datetime,
) -> int:
    """A draft (not yet sent); returns its id."""
    kind, file_id = attachment if attachment else (None, None)
    result = await conn.execute(
        announcements.insert()
        .values(
            sender_id=sender_id,
            unit_code=unit_code,
            audience=audience,
            text=text,
            attachment_kind=kind,
            attachment_file_id=file_id,
            created_at=now,
        )
        .returning(announcements.c.id)
    )
    return int(result.scalar_one())


async def get(conn: AsyncConnection, announcement_id: int) -> Announcement | None:
    row = (await conn.execute(_SELECT.where(announcements.c.id == announcement_id))).first()
    return _announcement(row) if row else None


async def mark_sent(conn: AsyncConnection, announcement_id: int, now: datetime) -> bool:
    """Mark it sent, once: False if it had been sent already."""
    result = await conn.execute(
        announcements.update()
        .where(announcements.c.id == announcement_id, announcements.c.sent_at.is_(None))
        .values(sent_at=now)
    )
    return result.rowcount == 1


async def recent_sent_by(
    conn: AsyncConnection, sender_id: int, limit: int = 5
) -> list[Announcement]:
    rows = await conn.execute(
        _SELECT.where(announcements.c.sender_id == sender_id, announcements.c.sent_at.is_not(None))
        .order_by(announcements.c.sent_at.desc(), announcements.c.id.desc())
        .limit(limit)
    )
    return [_announcement(row) for row in rows]


async def member_chats(
    conn: AsyncConnection, path: str, roles: tuple[str, ...]
) -> list[tuple[int, str | None, str, str]]:
    """(person id, preferred channel, channel, chat id) of every linked account of the people
    with these roles within the area at `path`, oldest link first."""
    rows = await conn.execute(
        sa.select(people.c.id, people.c.preferred_channel, accounts.c.channel, accounts.c.chat_id)
        .select_from(
            people.join(units, units.c.code == people.c.unit_code).join(
                accounts, accounts.c.person_id == people.c.id
            )
        )
        .where(units.c.path.startswith(path, autoescape=True), people.c.role.in_(roles))
        .order_by(people.c.id, *LINKING_ORDER)
    )
    return [(row.id, row.preferred_channel, row.channel, row.chat_id) for row in rows]
