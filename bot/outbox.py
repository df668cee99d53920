"""Sends what handlers queued in the outbox, on one channel, with leases and retries.

Each row was written in the transaction of the event that produced it, under a unique key
per (notice, recipient); a sender claims rows with a lease (PostgreSQL: SKIP LOCKED), sends
them and marks them sent. Several processes can run senders side by side.

A failed send is handled by its kind (bot/channels/base.py): ``RetryLater`` with a
``retry_after`` is a flood wait (the row waits that long, the rows of this batch not yet tried
are released and this sender pauses), without one it is retried with exponential backoff;
``Blocked`` and ``Invalid`` are never retried (the row is marked failed at once). Any other
exception is logged and retried with backoff. After MAX_ATTEMPTS a row is failed.

``OutsideWindow`` (the platform lets the bot write only within a window after the person's last
message: Zalo OA) is not a failure of the message: the notice is routed to another chat of the
person if they have one (a copy queued there; this row failed with ``routed: <channel>``), else
held (``held: …``; retried daily, and at once when the person writes again) until MAX_ATTEMPTS,
then given up (``undeliverable: …``). Officers see these three in the announcement status
(db/repos/outbox.py ``outcomes``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.channels.base import Blocked, DeliveryError, Invalid, OutsideWindow, RetryLater
from bot.logs import redact
from core.events import Reply
from db.engine import Database
from db.repos import outbox, people

log = logging.getLogger(__name__)

__all__ = [
    "Blocked",
    "DeliveryError",
    "Invalid",
    "OutboxSender",
    "OutsideWindow",
    "Result",
    "RetryLater",
    "Send",
]

HOLD_SECONDS = 24 * 3600  # a held notice is tried again daily (and when the person writes)


Send = Callable[[str, Reply], Awaitable[None]]


@dataclass
class Result:
    sent: int = 0
    failed: int = 0
    retried: int = 0


class OutboxSender:
    def __init__(
        self,
        db: Database,
        channel: str,
        send: Send,
        wakeup: asyncio.Event | None = None,
        *,
        concurrency: int = 8,
    ) -> None:
        self.db = db
        self.channel = channel
        self.send = send
        self.wakeup = wakeup or asyncio.Event()
        # Sends in flight at once; the channel's own limiter (PTB's AIORateLimiter on
        # Telegram) still holds the overall rate.
        self.concurrency = concurrency

    async def drain(self, *, now: datetime | None = None, limit: int = 50) -> Result:
        """Claim one batch, send it, record the outcome.

        Chats are served side by side (at most `concurrency` sends in flight), each chat's
        messages in order. On a flood-control answer the rows not yet attempted are released
        at once (others may send them) and this sender waits, so no claimed row is held
        longer than its lease.
        """
        result = Result()
        claimed_at = now or datetime.now(UTC)
        async with self.db.transaction() as conn:
            rows = await outbox.claim(conn, self.channel, claimed_at, limit=limit)
        by_chat: dict[str, list[outbox.Pending]] = {}
        for row in rows:
            by_chat.setdefault(row.chat_id, []).append(row)
        gate = asyncio.Semaphore(self.concurrency)
        flood: list[float] = []
        untried: list[int] = []

        async def serve_chat(chat_rows: list[outbox.Pending]) -> None:
            for position, row in enumerate(chat_rows):
                if flood:
                    untried.extend(r.id for r in chat_rows[position:])
                    return
                async with gate:
                    wait = await self._send_one(row, result)
                if wait is not None:
                    flood.append(wait)
                    untried.extend(r.id for r in chat_rows[position + 1 :])
                    return

        await asyncio.gather(*(serve_chat(chat_rows) for chat_rows in by_chat.values()))
        if flood:
            async with self.db.transaction() as conn:
                await outbox.release(conn, untried)
            await asyncio.sleep(max(flood))
        return result

    async def _send_one(self, row: outbox.Pending, result: Result) -> float | None:
        """Send a row and record the outcome; returns a flood wait in seconds, if any."""
        try:
            await self.send(row.chat_id, Reply.from_json(row.payload))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is lost
            if isinstance(exc, DeliveryError):
                error = exc
            else:  # a bug or an unforeseen failure: logged whole, retried with backoff
                log.exception("sending outbox row %s failed", row.key)
                error = RetryLater(repr(exc))
            await self._failed(row, error, result)
            return error.retry_after
        async with self.db.transaction() as conn:
            await outbox.mark_sent(conn, row.id, datetime.now(UTC))
        result.sent += 1
        return None

    async def _outside_window(
        self, row: outbox.Pending, error: OutsideWindow, result: Result
    ) -> None:
        """Route the notice to another chat of the person, or hold it, or give it up."""
        from handlers.services.reach import choose

        now = datetime.now(UTC)
        async with self.db.transaction() as conn:
            person = await people.by_chat(conn, row.channel, row.chat_id)
            others = []
            if person is not None:
                others = [
                    chat
                    for chat in await people.accounts_of(conn, person.id)
                    if chat[0] != row.channel
                ]
            other = choose(person.preferred_channel if person else None, others)
            if other is not None:
                await outbox.enqueue(
                    conn,
                    key=f"{row.key}>{other[0]}"[:200],
                    channel=other[0],
                    chat_id=other[1],
                    payload=row.payload,
                    now=now,
                )
                await outbox.mark_failed(conn, row.id, now, f"{outbox.ROUTED}{other[0]} ({error})")
            elif row.attempts < outbox.MAX_ATTEMPTS:
                await outbox.mark_retry(
                    conn,
                    row,
                    now,
                    f"{outbox.HELD}{error}; sent when the person writes",
                    HOLD_SECONDS,
                )
            else:
                await outbox.mark_failed(conn, row.id, now, f"{outbox.UNDELIVERABLE}{error}")
        if other is not None:
            self.wakeup.set()
        if other is None and row.attempts < outbox.MAX_ATTEMPTS:
            result.retried += 1
        else:
            result.failed += 1

    async def _failed(self, row: outbox.Pending, error: DeliveryError, result: Result) -> None:
        if isinstance(error, OutsideWindow):
            await self._outside_window(row, error, result)
            return
        wait = error.retry_after if error.retry_after is not None else min(2**row.attempts, 600)
        if error.permanent:  # Blocked, Invalid: retrying cannot help
            row = outbox.Pending(
                row.id, row.key, row.channel, row.chat_id, row.payload, outbox.MAX_ATTEMPTS
            )
        async with self.db.transaction() as conn:
            # Stored and shown by operators: never a token from a URL in the error.
            await outbox.mark_retry(conn, row, datetime.now(UTC), redact(str(error)), wait)
        if row.attempts >= outbox.MAX_ATTEMPTS:
            result.failed += 1
        else:
            result.retried += 1

    async def run(self, stop: asyncio.Event, *, idle: float = 2.0) -> None:
        """Drain until stopped; wake at once when a handler queues something."""
        while not stop.is_set():
            try:
                result = await self.drain()
            except Exception:
                log.exception("outbox sender for %s failed; retrying", self.channel)
                result = Result()
            if result.sent or result.retried:
                continue
            self.wakeup.clear()
            waiters = {
                asyncio.ensure_future(self.wakeup.wait()),
                asyncio.ensure_future(stop.wait()),
            }
            await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
