"""Plan notices in the shell: the scheduler of the running bot, and one-shot sending for the CLI.

Why APScheduler directly rather than PTB's JobQueue: the JobQueue belongs to a Telegram
`Application`, but notices are channel-agnostic (Zalo, Telegram, several stateless
processes behind a webhook; a Zalo-only deployment has no Telegram Application at all).
PTB's JobQueue is itself a thin wrapper over the same APScheduler, so nothing is lost.

The scheduler holds no state that matters. Jobs have stable ids derived from the plan
(``<plan id>:<occurrence key>`` for each upcoming reminder, brief and digest,
``<plan id>:sweep`` every few minutes and once at start, and ``<plan id>:retention`` once a
day and once at start), so a restart rebuilds the same
schedule. Each run only *queues* what is due in the outbox under per-(occurrence, recipient)
keys; the outbox, not the scheduler, decides what was already sent. After downtime the
sweep at start queues what is still relevant; stale occurrences are no longer due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.channels import registry
from bot.outbox import OutboxSender
from handlers.services import notices, reminders, retention
from handlers.services.expiry import expire_idle

if TYPE_CHECKING:
    from bot.app import App
    from bot.channels.registry import Opened

log = logging.getLogger(__name__)


class NoticeScheduler:
    """Queues the plan's due notices on time, and on a regular sweep."""

    def __init__(
        self,
        app: App,
        *,
        sweep: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app = app
        self.sweep = sweep
        self.clock = clock or (lambda: datetime.now(UTC))
        self.scheduler: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()

    async def tick(self, now: datetime | None = None) -> reminders.Queued:
        """Queue everything due at `now` (default: the clock); safe to run any time."""
        async with self._lock:
            moment = now or self.clock()
            async with self.app.db.transaction() as conn:
                queued = await reminders.queue(conn, self.app.services, moment)
                ended = await expire_idle(conn, self.app.services, moment)
            if ended:
                log.info("ended %d idle conversations", ended)
                self.app.services.outbox_wakeup.set()
            if queued.new:
                log.info("queued %d plan notices", queued.new)
            return queued

    async def apply_retention(self, now: datetime | None = None) -> dict[str, int]:
        """The retention policy (handlers/services/retention.py), once a day."""
        async with self._lock:
            moment = now or self.clock()
            async with self.app.db.transaction() as conn:
                pruned = await retention.prune(conn, moment, self.app.services.retention)
            if any(pruned.values()):
                log.info("retention: %s", pruned)
            return pruned

    async def _run_retention(self) -> None:
        try:
            await self.apply_retention()
        except Exception:
            log.exception("retention failed; it runs again tomorrow (or: privacy prune)")

    async def _run(self) -> None:
        try:
            await self.tick()
        except Exception:
            log.exception("plan notices: tick failed; the next one retries")

    def job_ids(self, now: datetime) -> list[str]:
        """The ids of the jobs a start at `now` schedules (stable across restarts)."""
        plan = self.app.services.plan
        return [f"{plan.id}:sweep", f"{plan.id}:retention"] + [
            f"{plan.id}:{o.key}" for o in notices.upcoming(plan, now)
        ]

    def start(self) -> None:
        plan = self.app.services.plan
        now = self.clock()
        scheduler = AsyncIOScheduler(timezone=plan.timezone)
        scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=self.sweep.total_seconds(), timezone=plan.timezone),
            id=f"{plan.id}:sweep",
            next_run_time=now,  # catch up at once after downtime
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
        scheduler.add_job(
            self._run_retention,
            IntervalTrigger(days=1, timezone=plan.timezone),
            id=f"{plan.id}:retention",
            next_run_time=now,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
        for occurrence in notices.upcoming(plan, now):
            scheduler.add_job(
                self._run,
                DateTrigger(occurrence.at),
                id=f"{plan.id}:{occurrence.key}",
                coalesce=True,
                misfire_grace_time=int((occurrence.stale_at - occurrence.at).total_seconds()),
                replace_existing=True,
            )
        scheduler.start()
        self.scheduler = scheduler
        log.info("plan notices: %d jobs scheduled", len(scheduler.get_jobs()))

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None


# --- one-shot sending (python -m bot notify send) ----------------------------------------
async def open_senders(app: App) -> Opened:
    """Every configured channel, opened with its outbox sender (bot/channels/registry.py);
    close the result when done."""
    return await registry.open_channels(app, registry.configured(app.settings))


async def drain_keys(
    app: App, senders: Mapping[str, OutboxSender], keys: list[str], *, give_up_after: float = 600
) -> dict[str, int]:
    """Send until none of `keys` is pending on a channel we can send on (or `give_up_after` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    while loop.time() < deadline:
        async with app.db.read() as conn:
            pending = await reminders.pending_channels(conn, keys)
        runnable = [senders[c] for c in pending if c in senders]
        if not runnable:
            break
        results = await asyncio.gather(*(sender.drain(limit=100) for sender in runnable))
        if not any(r.sent or r.failed or r.retried for r in results):
            await asyncio.sleep(0.2)  # rows waiting out a retry_after or another's lease
    async with app.db.read() as conn:
        return await reminders.outcome(conn, keys)


async def send_due(app: App, now: datetime, senders: Mapping[str, OutboxSender]) -> dict[str, int]:
    """Queue what is due at `now` and send it: {"sent", "already_sent", "failed", "pending"}."""
    async with app.db.transaction() as conn:
        queued = await reminders.queue(conn, app.services, now)
    result = await drain_keys(app, senders, queued.todo)
    return {
        "sent": result["sent"],
        "already_sent": queued.already_sent,
        "failed": result["failed"],
        "pending": result["pending"],
    }
