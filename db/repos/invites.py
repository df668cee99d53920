"""Invite codes that bind a chat to a role and a unit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Invite
from db.schema import invites, units


def _invite(row: Any) -> Invite:
    return Invite(
        code=row.code,
        role=row.role,
        unit_code=row.unit_code,
        created_by=row.created_by,
        max_uses=row.max_uses,
        uses=row.uses,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
    )


async def create(
    conn: AsyncConnection,
    *,
    code: str,
    role: str,
    unit_code: str,
    created_by: int | None,
    max_uses: int,
    expires_at: datetime,
    now: datetime,
) -> Invite:
    await conn.execute(
        invites.insert().values(
            code=code,
            role=role,
            unit_code=unit_code,
            created_by=created_by,
            max_uses=max_uses,
            expires_at=expires_at,
            created_at=now,
        )
    )
    return Invite(code, role, unit_code, created_by, max_uses, 0, expires_at, None, now)


async def get(conn: AsyncConnection, code: str) -> Invite | None:
    row = (await conn.execute(sa.select(invites).where(invites.c.code == code))).first()
    return _invite(row) if row else None


async def consume(conn: AsyncConnection, code: str, now: datetime) -> bool:
    """Use one place of the invite; False when it is used up or expired (atomic)."""
    result = await conn.execute(
        invites.update()
        .where(
            invites.c.code == code,
            invites.c.uses < invites.c.max_uses,
            invites.c.expires_at > now,
            invites.c.revoked_at.is_(None),
        )
        .values(uses=invites.c.uses + 1)
    )
    return result.rowcount == 1


async def revoke(conn: AsyncConnection, code: str, now: datetime) -> bool:
    """Revoke the code; False when it was already revoked (or does not exist)."""
    result = await conn.execute(
        invites.update()
        .where(invites.c.code == code, invites.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


async def in_subtree(
    conn: AsyncConnection, path: str, *, usable_at: datetime | None = None
) -> list[Invite]:
    """Invites for units under `path` (newest first); only the usable ones if `usable_at`."""
    query = (
        sa.select(invites)
        .join(units, units.c.code == invites.c.unit_code)
        .where(units.c.path.startswith(path, autoescape=True))
        .order_by(invites.c.created_at.desc(), invites.c.code)
    )
    if usable_at is not None:
        query = query.where(
            invites.c.revoked_at.is_(None),
            invites.c.expires_at > usable_at,
            invites.c.uses < invites.c.max_uses,
        )
    return [_invite(row) for row in await conn.execute(query)]
