"""The plan's notice schedule, computed purely from the plan: what is due at an instant.

An *occurrence* is one scheduled notice with a stable key:
- ``deadline:<deadline>:<YYYY-MM-DD>``: a deadline reminder, N days before at ``at``, on the
  day, then every K days while overdue (for at most ``overdue_for_days``);
- ``brief:<YYYY-MM-DD>`` and ``digest:<YYYY-MM-DD>``: the campaign's morning brief and
  evening digest, on each campaign day.

Each has a send time and a stale time; it is *due* at ``now`` when ``at <= now < stale_at``
and ``now`` is outside the quiet hours. Stale rules: a reminder is stale once the next
reminder of the same deadline is due (the newer one says the same, with fresher numbers);
a morning brief once its day's evening digest is due (or the day is over); an evening digest
once its day is over. A time inside the quiet hours is moved to the end of the quiet hours.
All times are in the plan's time zone. Who receives an occurrence (and whether they already
have) is decided elsewhere, from the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.services.plan import Deadline, Plan, ReminderRules

REMINDER = "reminder"
BRIEF = "brief"
DIGEST = "digest"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One scheduled notice (not yet per recipient)."""

    key: str
    kind: str  # REMINDER | BRIEF | DIGEST
    day: date  # the plan-local day it belongs to
    at: datetime  # when it goes out (aware; quiet hours already applied)
    stale_at: datetime  # from this instant on it is not sent any more
    audience: tuple[tuple[str, str], ...]
    deadline: Deadline | None = None
    # Days until the deadline: 5, 2, 1 before; 0 on the day; negative when overdue.
    days_left: int = 0

    def due(self, now: datetime) -> bool:
        return self.at <= now < self.stale_at

    def recipient_key(self, person_id: int) -> str:
        """The outbox key: one message per (occurrence, recipient), ever."""
        return f"{self.key}:{person_id}"


def in_quiet_hours(rules: ReminderRules, moment: datetime, tz: ZoneInfo) -> bool:
    start, end = rules.quiet_start, rules.quiet_end
    if start is None or end is None or start == end:
        return False
    local = moment.astimezone(tz).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the quiet hours span midnight


def after_quiet_hours(rules: ReminderRules, moment: datetime, tz: ZoneInfo) -> datetime:
    """`moment`, or the end of the quiet hours it falls in."""
    if not in_quiet_hours(rules, moment, tz):
        return moment
    assert rules.quiet_end is not None
    local = moment.astimezone(tz)
    end = datetime.combine(local.date(), rules.quiet_end, tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), rules.quiet_end, tz)
    return end


def _at(day: date, when: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, when, tz)


def deadline_occurrences(plan: Plan, deadline: Deadline) -> list[Occurrence]:
    """Every reminder of one deadline, oldest first, each stale when the next one is due."""
    rules, tz = plan.rules, ZoneInfo(plan.timezone)
    offsets = [-days for days in rules.days_before if days > 0]
    if rules.on_the_day:
        offsets.append(0)
    if rules.overdue_every_days:
        step = rules.overdue_every_days
        offsets += list(range(step, rules.overdue_for_days + 1, step))
    offsets = sorted(set(offsets))
    days = [deadline.date + timedelta(days=offset) for offset in offsets]
    times = [after_quiet_hours(rules, _at(day, rules.at, tz), tz) for day in days]
    last_gap = timedelta(days=rules.overdue_every_days or 1)
    found = []
    for index, (day, at) in enumerate(zip(days, times, strict=True)):
        stale = times[index + 1] if index + 1 < len(times) else at + last_gap
        found.append(
            Occurrence(
                key=f"deadline:{deadline.key}:{day.isoformat()}",
                kind=REMINDER,
                day=day,
                at=at,
                stale_at=stale,
                audience=deadline.audience,
                deadline=deadline,
                days_left=(deadline.date - day).days,
            )
        )
    return found


def campaign_occurrences(plan: Plan) -> list[Occurrence]:
    """The morning brief and evening digest of every campaign day."""
    rules, tz = plan.rules, ZoneInfo(plan.timezone)
    found = []
    day = plan.campaign_start
    while day <= plan.campaign_end:
        day_over = _at(day + timedelta(days=1), time(0, 0), tz)
        digest_at = (
            after_quiet_hours(rules, _at(day, rules.evening_digest, tz), tz)
            if rules.evening_digest
            else None
        )
        if rules.morning_brief is not None:
            at = after_quiet_hours(rules, _at(day, rules.morning_brief, tz), tz)
            stale = min(day_over, digest_at) if digest_at and digest_at > at else day_over
            found.append(
                Occurrence(f"brief:{day.isoformat()}", BRIEF, day, at, stale, rules.brief_audience)
            )
        if digest_at is not None and digest_at < day_over:
            found.append(
                Occurrence(
                    f"digest:{day.isoformat()}",
                    DIGEST,
                    day,
                    digest_at,
                    day_over,
                    rules.digest_audience,
                )
            )
        day += timedelta(days=1)
    return found


def occurrences(plan: Plan) -> list[Occurrence]:
    """The plan's whole schedule, by send time."""
    found = [o for d in plan.deadlines for o in deadline_occurrences(plan, d)]
    found += campaign_occurrences(plan)
    return sorted(found, key=lambda o: (o.at, o.key))


def due(plan: Plan, now: datetime) -> list[Occurrence]:
    """The occurrences to send at `now`: scheduled at or before it, not stale, not in quiet hours."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if in_quiet_hours(plan.rules, now, ZoneInfo(plan.timezone)):
        return []
    return [o for o in occurrences(plan) if o.due(now)]


def upcoming(plan: Plan, now: datetime) -> list[Occurrence]:
    """The occurrences still to come after `now` (the scheduler's timed jobs)."""
    return [o for o in occurrences(plan) if o.at > now]
