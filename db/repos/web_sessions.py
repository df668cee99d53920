"""One-time sign-in links and browser sessions of the dashboard, by the hash of their token."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schema import web_logins, web_sessions


async def add_login(
    conn: AsyncConnection, token_hash: str, person_id: int, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        web_logins.insert().values(
            token_hash=token_hash, person_id=person_id, created_at=now, expires_at=expires_at
        )
    )


async def login_usable(conn: AsyncConnection, token_hash: str, now: datetime) -> bool:
    """Whether this link may still be used (unused and not expired), without using it."""
    found = await conn.execute(
        sa.select(web_logins.c.person_id).where(
            web_logins.c.token_hash == token_hash,
            web_logins.c.used_at.is_(None),
            web_logins.c.expires_at > now,
        )
    )
    return found.first() is not None


async def use_login(conn: AsyncConnection, token_hash: str, now: datetime) -> int | None:
    """Mark the link used (once: a second use, even at the same time, gets None); its person."""
    result = await conn.execute(
        web_logins.update()
        .where(
            web_logins.c.token_hash == token_hash,
            web_logins.c.used_at.is_(None),
            web_logins.c.expires_at > now,
        )
        .values(used_at=now)
    )
    if result.rowcount != 1:
        return None
    found = await conn.execute(
        sa.select(web_logins.c.person_id).where(web_logins.c.token_hash == token_hash)
    )
    return int(found.scalar_one())


async def add_session(
    conn: AsyncConnection, token_hash: str, person_id: int, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        web_sessions.insert().values(
            token_hash=token_hash, person_id=person_id, created_at=now, expires_at=expires_at
        )
    )


async def session_person(conn: AsyncConnection, token_hash: str, now: datetime) -> int | None:
    found = await conn.execute(
        sa.select(web_sessions.c.person_id).where(
            web_sessions.c.token_hash == token_hash, web_sessions.c.expires_at > now
        )
    )
    row = found.first()
    return int(row.person_id) if row else None


async def end_session(conn: AsyncConnection, token_hash: str) -> None:
    await conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == token_hash))


async def end_all(conn: AsyncConnection, person_id: int) -> int:
    """End every session of the person and void their unused links; how many sessions ended."""
    await conn.execute(web_logins.delete().where(web_logins.c.person_id == person_id))
    result = await conn.execute(web_sessions.delete().where(web_sessions.c.person_id == person_id))
    return int(result.rowcount or 0)


async def prune(conn: AsyncConnection, now: datetime) -> None:
    """Forget links and sessions that have expired."""
    await conn.execute(web_logins.delete().where(web_logins.c.expires_at <= now))
    await conn.execute(web_sessions.delete().where(web_sessions.c.expires_at <= now))
