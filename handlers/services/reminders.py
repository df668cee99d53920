"""Due plan notices for real people: recipients from the database, texts, the outbox.

`notices` says which occurrences are due at an instant; this module fans each out to its
audience (people whose role and unit level match, minus the units that already delivered
a deadline's deliverable), renders one text per recipient and queues it in the outbox under
the key ``<occurrence key>:<person id>``. The outbox key, not the caller, decides what was
already sent: queueing the same notice twice (two processes, a restart, a second
`notify send`) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.events import Choice, Reply
from db.models import Person
from db.repos import notices as repo
from db.repos import outbox
from handlers.services import notices, reach, stats
from handlers.services.digest import digest_text
from handlers.services.notices import Occurrence
from handlers.services.reach import Recipient

if TYPE_CHECKING:
    from handlers.services.registry import Services


@dataclass(frozen=True, slots=True)
class Notice:
    """One occurrence for one recipient, with its text."""

    occurrence: Occurrence
    recipient: Recipient
    reply: Reply

    @property
    def key(self) -> str:
        return self.occurrence.recipient_key(self.recipient.person_id)

    def as_json(self) -> dict[str, Any]:
        occurrence, recipient = self.occurrence, self.recipient
        return {
            "key": self.key,
            "deadline": occurrence.deadline.key if occurrence.deadline else None,
            "recipient": recipient.person_id,
            "channel": recipient.channel,
            "text": self.reply.text,
            "kind": occurrence.kind,
            "occurrence": occurrence.key,
            "scheduled_at": occurrence.at.isoformat(),
            "role": recipient.role,
            "unit": recipient.unit_code,
            "name": recipient.display_name,
        }


def deliver_choice(services: Services, deadline_key: str) -> Choice:
    """The button under a reminder: opens /nop for that deadline (valid at any time)."""
    return Choice(f"a:nop:{deadline_key}", services.texts.render("notices.deliver_button"))


def person_of(recipient: Recipient) -> Person:
    return Person(
        id=recipient.person_id,
        role=recipient.role,
        unit_code=recipient.unit_code,
        position=recipient.position,
        display_name=recipient.display_name,
        preferred_channel=recipient.channel,
        unit_path=recipient.unit_path,
    )


class _Texts:
    """Renders each recipient's text, computing per-unit figures once per fan-out."""

    def __init__(self, conn: AsyncConnection, services: Services) -> None:
        self.conn = conn
        self.services = services
        self.figures: dict[str, dict[str, Any]] = {}

    async def reply(self, occurrence: Occurrence, recipient: Recipient) -> Reply:
        if occurrence.kind == notices.REMINDER:
            deadline = occurrence.deadline
            assert deadline is not None
            text = self.services.texts.render(
                "notices.reminder",
                days_left=occurrence.days_left,
                date=deadline.date,
                title=deadline.title,
                unit=recipient.unit_name,
                deliverable=deadline.deliverable,
            )
            return Reply(text, ((deliver_choice(self.services, deadline.key),),))
        if occurrence.kind == notices.DIGEST:
            return await self.digest(recipient, occurrence.day)
        return await self.brief(recipient, occurrence.day)

    async def brief(self, recipient: Recipient, day: date) -> Reply:
        plan = self.services.plan
        figures = self.figures.get(recipient.unit_code)
        if figures is None:
            figures = await stats.for_unit(self.conn, plan, recipient.unit_code)
            self.figures[recipient.unit_code] = figures
        five = figures["targets"].get("five_skills", {}).get("value")
        text = self.services.texts.render(
            "notices.brief",
            name=recipient.display_name or "",
            day=day,
            number=(day - plan.campaign_start).days + 1,
            total=(plan.campaign_end - plan.campaign_start).days + 1,
            unit=recipient.unit_name,
            s=figures,
            five=five,
        )
        return Reply(text)

    async def digest(self, recipient: Recipient, day: date) -> Reply:
        """The evening notice: the leaders' digest for the recipient's scope."""
        return await digest_text(self.conn, self.services, person_of(recipient), day)


async def candidates(conn: AsyncConnection, services: Services, now: datetime) -> list[Notice]:
    """Every notice due at `now`, one per (occurrence, recipient), sent or not."""
    texts = _Texts(conn, services)
    found: list[Notice] = []
    for occurrence in notices.due(services.plan, now):
        deadline = occurrence.deadline
        recipients = await reach.audience(
            conn, occurrence.audience, undelivered=deadline.key if deadline else None
        )
        for recipient in recipients:
            found.append(Notice(occurrence, recipient, await texts.reply(occurrence, recipient)))
    return found


async def due(conn: AsyncConnection, services: Services, now: datetime) -> list[Notice]:
    """The notices due at `now` that were not sent yet (nor given up on)."""
    found = await candidates(conn, services, now)
    states = await repo.outbox_states(conn, [n.key for n in found])
    return [n for n in found if states.get(n.key) not in ("sent", "failed")]


@dataclass
class Queued:
    notices: list[Notice]
    new: int = 0
    already_sent: int = 0
    # Keys queued now or earlier and not yet sent nor given up on.
    todo: list[str] = field(default_factory=list)


async def queue(
    conn: AsyncConnection,
    services: Services,
    now: datetime,
    *,
    clock: datetime | None = None,
) -> Queued:
    """Queue every notice due at `now` in the outbox (once per key, however often called).

    A row expires when its occurrence goes stale. `now` may be a simulated instant
    (`notify send --now`); the outbox's clock is the real one (`clock`), so the expiry is
    carried over as the time left: `clock + (stale_at - now)`.
    """
    clock = clock or datetime.now(UTC)
    found = await candidates(conn, services, now)
    states = await repo.outbox_states(conn, [n.key for n in found])
    result = Queued(found)
    for notice in found:
        state = states.get(notice.key)
        if state == "sent":
            result.already_sent += 1
            continue
        if state == "failed":
            continue
        result.todo.append(notice.key)
        if state == "pending":
            continue
        expires = clock + (notice.occurrence.stale_at - now)
        if await outbox.enqueue(
            conn,
            key=notice.key,
            channel=notice.recipient.channel,
            chat_id=notice.recipient.chat_id,
            payload=notice.reply.to_json(),
            now=clock,
            urgent=False,
            expires_at=expires,
        ):
            result.new += 1
    if result.new:
        services.outbox_wakeup.set()
    return result


async def outcome(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, int]:
    """How many of these keys are sent, failed or still pending in the outbox."""
    states = await repo.outbox_states(conn, keys)
    counts = {"sent": 0, "failed": 0, "pending": 0}
    for key in keys:
        state = states.get(key)
        if state is not None:
            counts[state] += 1
    return counts


async def pending_channels(conn: AsyncConnection, keys: Sequence[str]) -> set[str]:
    return await repo.pending_channels(conn, keys)
