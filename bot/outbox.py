"""Sends what handlers queued in the outbox, on one channel, with leases and retries.

Each row was written in the transaction of the event that produced it, under a unique key
per (notice, recipient); a sender claims rows with a lease (PostgreSQL: SKIP LOCKED), sends
them and marks them sent. Several processes can run senders side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from db.engine import Database
from db.repos import outbox
from handlers.events import Reply

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send failed; `retry_after` (seconds) when the channel said when to retry."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


Send = Callable[[str, Reply], Awaitable[None]]


@dataclass
class Result:
    sent: int = 0
    failed: int = 0
    retried: int = 0


class OutboxSender:
    def __init__(
        self, db: Database, channel: str, send: Send, wakeup: asyncio.Event | None = None
    ) -> None:
        self.db = db
        self.channel = channel
        self.send = send
        self.wakeup = wakeup or asyncio.Event()

    async def drain(self, *, now: datetime | None = None, limit: int = 50) -> Result:
        """Claim one batch, send it, record the outcome."""
        result = Result()
        claimed_at = now or datetime.now(UTC)
        async with self.db.transaction() as conn:
            rows = await outbox.claim(conn, self.channel, claimed_at, limit=limit)
        for row in rows:
            try:
                await self.send(row.chat_id, Reply.from_json(row.payload))
            except DeliveryError as error:
                wait = (
                    error.retry_after
                    if error.retry_after is not None
                    else min(2**row.attempts, 600)
                )
                async with self.db.transaction() as conn:
                    if error.permanent:
                        row = outbox.Pending(
                            row.id,
                            row.key,
                            row.channel,
                            row.chat_id,
                            row.payload,
                            outbox.MAX_ATTEMPTS,
                        )
                    await outbox.mark_retry(conn, row, datetime.now(UTC), str(error), wait)
                if error.permanent or row.attempts >= outbox.MAX_ATTEMPTS:
                    result.failed += 1
                else:
                    result.retried += 1
                if error.retry_after is not None:
                    await asyncio.sleep(error.retry_after)
                continue
            async with self.db.transaction() as conn:
                await outbox.mark_sent(conn, row.id, datetime.now(UTC))
            result.sent += 1
        return result

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
