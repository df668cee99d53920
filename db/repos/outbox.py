"""The outbox: every message the bot sends on its own, queued once per key, sent by lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos import offers
from db.repos._sql import upsert
from db.schema import outbox

MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    key: str
    channel: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int


async def enqueue(
    conn: AsyncConnection,
    *,
    key: str,
    channel: str,
    chat_id: str,
    payload: dict[str, Any],
    now: datetime,
    urgent: bool = True,
    expires_at: datetime | None = None,
) -> bool:
    """Queue a message once per key; False if that key was queued before.

    A row with `expires_at` is not sent from that instant on (a notice gone stale). The
    message's actions are recorded as offered to that chat (db/repos/offers.py).
    """
    stmt = (
        upsert(conn, outbox)
        .values(
            key=key,
            channel=channel,
            chat_id=chat_id,
            payload=payload,
            urgent=urgent,
            created_at=now,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=[outbox.c.key])
    )
    queued = (await conn.execute(stmt)).rowcount == 1
    # Its lasting options may be pressed whenever it arrives: they count as offered to the chat.
    actions = [data for row in payload.get("choices", ()) for data, _label in row]
    await offers.record(conn, channel, chat_id, (d for d in actions if d.startswith("a:")), now)
    return queued


async def claim(
    conn: AsyncConnection, channel: str, now: datetime, *, limit: int = 50, lease: int = 120
) -> list[Pending]:
    """Take up to `limit` unsent rows for this channel for `lease` seconds.

    On PostgreSQL, rows another process holds are skipped (FOR UPDATE SKIP LOCKED) and a
    lease not yet expired is respected, so two processes never send the same row at once.
    """
    pick = (
        sa.select(outbox.c.id)
        .where(
            outbox.c.channel == channel,
            outbox.c.sent_at.is_(None),
            outbox.c.failed_at.is_(None),
            sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
            sa.or_(outbox.c.expires_at.is_(None), outbox.c.expires_at > now),
        )
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await conn.execute(pick)).scalars())
    if not ids:
        return []
    await conn.execute(
        outbox.update()
        .where(outbox.c.id.in_(ids))
        .values(claimed_until=now + timedelta(seconds=lease), attempts=outbox.c.attempts + 1)
    )
    rows = await conn.execute(sa.select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id))
    return [Pending(r.id, r.key, r.channel, r.chat_id, dict(r.payload), r.attempts) for r in rows]


async def release(conn: AsyncConnection, row_ids: list[int]) -> None:
    """Give claimed rows back at once (their attempt did not happen)."""
    if row_ids:
        await conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(row_ids))
            .values(claimed_until=None, attempts=outbox.c.attempts - 1)
        )


async def mark_sent(conn: AsyncConnection, row_id: int, now: datetime) -> None:
    await conn.execute(outbox.update().where(outbox.c.id == row_id).values(sent_at=now))


async def mark_retry(
    conn: AsyncConnection, row: Pending, now: datetime, error: str, retry_in: float
) -> None:
    """Try again after `retry_in` seconds, or give up after MAX_ATTEMPTS."""
    values: dict[str, Any] = {
        "last_error": error[:300],
        "claimed_until": now + timedelta(seconds=retry_in),
    }
    if row.attempts >= MAX_ATTEMPTS:
        values["failed_at"] = now
    await conn.execute(outbox.update().where(outbox.c.id == row.id).values(**values))


async def counts(conn: AsyncConnection, key_prefix: str) -> dict[str, int]:
    """How many rows with this key prefix are sent, failed or still pending."""
    like = outbox.c.key.startswith(key_prefix, autoescape=True)
    row = (
        await conn.execute(
            sa.select(
                sa.func.count().label("total"),
                sa.func.count(outbox.c.sent_at).label("sent"),
                sa.func.count(outbox.c.failed_at).label("failed"),
            ).where(like)
        )
    ).one()
    return {"sent": row.sent, "failed": row.failed, "pending": row.total - row.sent - row.failed}


HELD = "held: "
ROUTED = "routed: "
UNDELIVERABLE = "undeliverable: "


async def mark_failed(conn: AsyncConnection, row_id: int, now: datetime, error: str) -> None:
    """Give a row up at once (``error`` says why: routed elsewhere, undeliverable…)."""
    await conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id)
        .values(failed_at=now, last_error=error[:300], claimed_until=None)
    )


async def release_held(conn: AsyncConnection, channel: str, chat_id: str) -> int:
    """Rows held for this chat (outside a messaging window) may go now; how many."""
    result = await conn.execute(
        outbox.update()
        .where(
            outbox.c.channel == channel,
            outbox.c.chat_id == chat_id,
            outbox.c.sent_at.is_(None),
            outbox.c.failed_at.is_(None),
            outbox.c.last_error.startswith(HELD),
        )
        .values(claimed_until=None)
    )
    return int(result.rowcount or 0)


async def outcomes(conn: AsyncConnection, key_prefix: str) -> dict[str, int]:
    """Of the rows with this key prefix: how many are held for a messaging window, routed to
    another chat of the person, or undeliverable (what officers are shown beside the counts)."""
    like = outbox.c.key.startswith(key_prefix, autoescape=True)
    found = {"held": 0, "routed": 0, "undeliverable": 0}
    for name, prefix, done in (
        ("held", HELD, False),
        ("routed", ROUTED, True),
        ("undeliverable", UNDELIVERABLE, True),
    ):
        status = outbox.c.failed_at.is_not(None) if done else outbox.c.failed_at.is_(None)
        found[name] = int(
            (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        like,
                        status,
                        outbox.c.sent_at.is_(None),
                        outbox.c.last_error.startswith(prefix),
                    )
                )
            ).scalar_one()
        )
    return found
