"""A per-bot usage meter for plans with a monthly message cap (Zalo's free plan).

Before each outbox batch the sender asks the meter. The month's use is counted from rows that
exist (db/repos/usage.py): outbox rows sent this month plus the incoming messages handled (each
was answered). At 80 % of the quota every admin is told once a month (the outbox key makes it
once across restarts and processes); at 95 % rows not marked urgent are held back (their claim
is pushed forward), so help requests and other urgent notices still go out.

A channel serving several bots (bot/channels/zalo.py) has one meter per bot, each counting and
holding only that bot's chats (:class:`Account`); the warning names the bot's commune.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.outbox import OutboxSender, Result, Send
from core import roles
from core.events import Reply
from db.repos import outbox, people, units
from db.repos import usage as usage_repo
from handlers.services import reach
from handlers.services.registry import Services

log = logging.getLogger(__name__)

WARN_AT = 0.80
HOLD_AT = 0.95


@dataclass(frozen=True, slots=True)
class Reading:
    """One look at the meter."""

    month: str
    sent: int
    chats: int
    monthly_quota: int
    user_quota: int

    @property
    def share(self) -> float:
        return self.sent / self.monthly_quota if self.monthly_quota > 0 else 0.0

    @property
    def warn(self) -> bool:
        users = self.user_quota > 0 and self.chats >= WARN_AT * self.user_quota
        return self.share >= WARN_AT or users

    @property
    def hold(self) -> bool:
        return self.share >= HOLD_AT


@dataclass(frozen=True, slots=True)
class Account:
    """Which of a channel's chats one metered account (one Zalo bot) owns.

    ``name`` is empty for the channel's only or first account (its warnings keep their old
    outbox keys), else e.g. the bot id; ``chat_prefix`` and ``excluding`` select its chats
    (db/repos/usage.py); ``unit_code`` is the unit it is bound to, named in the warning.
    """

    name: str = ""
    chat_prefix: str | None = None
    excluding: tuple[str, ...] = ()
    unit_code: str | None = None


def month_start(now: datetime, tz: ZoneInfo) -> datetime:
    """The first instant of ``now``'s month in the bot's time zone, in UTC."""
    local = now.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


class UsageMeter:
    """Counts a channel's (or one of its accounts') use this month, warns admins, holds
    non-urgent notices."""

    def __init__(
        self,
        services: Services,
        channel: str,
        *,
        monthly_quota: int,
        user_quota: int,
        account: Account | None = None,
        every: float = 60.0,
        hold_for: timedelta = timedelta(minutes=15),
    ) -> None:
        self.services = services
        self.channel = channel
        self.account = account = account or Account()
        # In logs and outbox keys: "zalo", or "zalo/<bot_id>" for a further bot.
        self.metered = f"{channel}/{account.name}" if account.name else channel
        self.monthly_quota = monthly_quota
        self.user_quota = user_quota
        self.every = every
        self.hold_for = hold_for
        self._last: tuple[datetime, Reading] | None = None

    async def check(self, now: datetime | None = None) -> Reading:
        """Read the meter (at most once per ``every`` seconds) and act on it."""
        now = now or datetime.now(UTC)
        if self._last is not None and (now - self._last[0]).total_seconds() < self.every:
            return self._last[1]
        start = month_start(now, self.services.tz)
        async with self.services.db.transaction() as conn:
            counted = await usage_repo.since(
                conn,
                self.channel,
                start,
                chat_prefix=self.account.chat_prefix,
                excluding=self.account.excluding,
            )
            reading = Reading(
                month=start.astimezone(self.services.tz).strftime("%Y-%m"),
                sent=counted.sent,
                chats=counted.chats,
                monthly_quota=self.monthly_quota,
                user_quota=self.user_quota,
            )
            if reading.warn:
                await self._warn_admins(conn, now, reading)
            if reading.hold:
                held = await usage_repo.hold_non_urgent(
                    conn,
                    self.channel,
                    now,
                    now + self.hold_for,
                    chat_prefix=self.account.chat_prefix,
                    excluding=self.account.excluding,
                )
                if held:
                    log.warning(
                        "%s: %d of %d messages used this month; holding %d non-urgent notices",
                        self.metered,
                        reading.sent,
                        self.monthly_quota,
                        held,
                    )
        self._last = (now, reading)
        return reading

    def _upgrade_hint(self) -> str:
        """How to raise this channel's cap (quota.upgrade.<channel>), or nothing."""
        key = f"quota.upgrade.{self.channel}"
        return self.services.texts.render(key) if self.services.texts.has(key) else ""

    async def _warn_admins(self, conn: AsyncConnection, now: datetime, reading: Reading) -> None:
        root = await units.get(conn, self.services.plan.root_unit)
        if root is None:
            return
        level = "hold" if reading.hold else "warn"
        bound = await units.get(conn, self.account.unit_code) if self.account.unit_code else None
        text = self.services.texts.render(
            "quota.warning",
            channel=self.services.texts.render(f"quota.channel.{self.channel}"),
            upgrade=self._upgrade_hint(),
            account=bound.name if bound is not None else self.account.unit_code,
            sent=reading.sent,
            quota=self.monthly_quota,
            percent=round(reading.share * 100),
            chats=reading.chats,
            user_quota=self.user_quota,
            holding=reading.hold,
        )
        queued = False
        for admin in await people.in_subtree(conn, root.path, (roles.ADMIN,)):
            chat = await reach.reach(conn, admin)
            if chat is None:
                continue
            channel, chat_id = chat
            queued |= await outbox.enqueue(
                conn,
                key=f"quota:{self.metered}:{reading.month}:{level}:{admin.id}",
                channel=channel,
                chat_id=chat_id,
                payload=Reply(text).to_json(),
                now=now,
                urgent=True,
            )
        if queued:
            self.services.outbox_wakeup.set()
            log.warning(
                "%s: %d of %d messages used this month; admins warned",
                self.metered,
                reading.sent,
                self.monthly_quota,
            )


class MeteredOutboxSender(OutboxSender):
    """An outbox sender that reads the meter (one per account) before each batch."""

    def __init__(
        self,
        services: Services,
        channel: str,
        send: Send,
        meter: UsageMeter | Sequence[UsageMeter],
    ) -> None:
        super().__init__(services.db, channel, send, services.outbox_wakeup)
        self.meters = [meter] if isinstance(meter, UsageMeter) else list(meter)

    async def drain(self, *, now: datetime | None = None, limit: int = 50) -> Result:
        for meter in self.meters:
            await meter.check(now)
        return await super().drain(now=now, limit=limit)
