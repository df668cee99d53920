"""A Zalo Official Account's OAuth tokens, one row per OA (bot/channels/zalo_oa.py).

The refresh token is single use: whoever refreshes must hold the row (``lock``: SELECT … FOR
UPDATE on PostgreSQL; on SQLite the write transaction itself is exclusive) from reading the
refresh token until the new pair is stored, so two workers never spend the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schema import oa_tokens


@dataclass(frozen=True, slots=True)
class Tokens:
    oa_id: str
    access_token: str | None
    access_expires_at: datetime | None
    refresh_token: str
    seed_digest: str | None
    version: int


def _tokens(row: sa.Row[tuple[object, ...]]) -> Tokens:
    m = row._mapping
    return Tokens(
        oa_id=str(m["oa_id"]),
        access_token=m["access_token"],
        access_expires_at=m["access_expires_at"],
        refresh_token=str(m["refresh_token"]),
        seed_digest=m["seed_digest"],
        version=int(m["version"]),
    )


async def get(conn: AsyncConnection, oa_id: str) -> Tokens | None:
    row = (await conn.execute(sa.select(oa_tokens).where(oa_tokens.c.oa_id == oa_id))).first()
    return _tokens(row) if row else None


async def lock(conn: AsyncConnection, oa_id: str) -> Tokens | None:
    """The row, held until this transaction ends (other refreshers wait here)."""
    stmt = sa.select(oa_tokens).where(oa_tokens.c.oa_id == oa_id).with_for_update()
    row = (await conn.execute(stmt)).first()
    return _tokens(row) if row else None


async def seed(
    conn: AsyncConnection, oa_id: str, refresh_token: str, digest: str, now: datetime
) -> bool:
    """Store a refresh token from the settings unless that same one was taken before (it may
    be spent by now); True if it was stored. A new one replaces the pair and drops the access
    token."""
    current = await lock(conn, oa_id)
    if current is not None and current.seed_digest == digest:
        return False
    values = {
        "access_token": None,
        "access_expires_at": None,
        "refresh_token": refresh_token,
        "seed_digest": digest,
        "updated_at": now,
    }
    if current is None:
        await conn.execute(oa_tokens.insert().values(oa_id=oa_id, version=0, **values))
    else:
        await conn.execute(
            oa_tokens.update()
            .where(oa_tokens.c.oa_id == oa_id)
            .values(version=oa_tokens.c.version + 1, **values)
        )
    return True


async def store(
    conn: AsyncConnection,
    oa_id: str,
    *,
    expected_version: int,
    access_token: str,
    access_expires_at: datetime,
    refresh_token: str,
    now: datetime,
) -> bool:
    """Replace the pair if the row is still at ``expected_version`` (compare-and-swap); False
    if someone else changed it first."""
    result = await conn.execute(
        oa_tokens.update()
        .where(oa_tokens.c.oa_id == oa_id, oa_tokens.c.version == expected_version)
        .values(
            access_token=access_token,
            access_expires_at=access_expires_at,
            refresh_token=refresh_token,
            version=expected_version + 1,
            updated_at=now,
        )
    )
    return result.rowcount == 1
