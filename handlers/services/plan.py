"""The plan file (content/plans/*.yaml): campaign window, targets and deadlines as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import yaml

from core import roles


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    label: str
    goal: float
    numerator: str
    denominator: str
    stretch_goal: float | None = None


@dataclass(frozen=True, slots=True)
class Deadline:
    key: str
    date: date
    title: str
    deliverable: str
    audience: tuple[tuple[str, str], ...]


def _time(value: Any) -> time | None:
    """ "07:30" (or YAML's 450 minutes for an unquoted 7:30) as a time; None when absent."""
    if value is None or value is False:
        return None
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 07:30 as sexagesimal minutes
        return time(value // 60, value % 60)
    return time.fromisoformat(str(value))


def _audience(raw: Any, default: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if not raw:
        return default
    return tuple((a["role"], a["level"]) for a in raw)


# Who gets the campaign's morning brief and evening digest unless the plan says otherwise.
BRIEF_AUDIENCE = ((roles.MEMBER, "village"), (roles.DEPUTY, "village"), (roles.LEADER, "village"))
DIGEST_AUDIENCE = (
    (roles.LEADER, "village"),
    (roles.COMMUNE_OFFICER, "commune"),
    (roles.DISTRICT_OFFICER, "district"),
)


@dataclass(frozen=True, slots=True)
class ReminderRules:
    """When the plan's notices go out (the `reminders:` section), all in the plan's time zone."""

    days_before: tuple[int, ...] = (5, 2, 1)
    on_the_day: bool = True
    overdue_every_days: int | None = 2
    # Overdue reminders stop this many days after the deadline (a forgotten plan goes quiet).
    overdue_for_days: int = 30
    at: time = time(7, 30)
    morning_brief: time | None = None
    evening_digest: time | None = None
    brief_audience: tuple[tuple[str, str], ...] = BRIEF_AUDIENCE
    digest_audience: tuple[tuple[str, str], ...] = DIGEST_AUDIENCE
    quiet_start: time | None = None
    quiet_end: time | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> ReminderRules:
        quiet = raw.get("quiet_hours") or {}
        every = raw.get("overdue_every_days", 2)
        return cls(
            days_before=tuple(sorted({int(d) for d in raw.get("days_before", [])}, reverse=True)),
            on_the_day=bool(raw.get("on_the_day", True)),
            overdue_every_days=int(every) if every else None,
            overdue_for_days=int(raw.get("overdue_for_days", 30)),
            at=_time(raw.get("at")) or time(7, 30),
            morning_brief=_time(raw.get("campaign_morning_brief")),
            evening_digest=_time(raw.get("campaign_evening_digest")),
            brief_audience=_audience(raw.get("morning_brief_audience"), BRIEF_AUDIENCE),
            digest_audience=_audience(raw.get("evening_digest_audience"), DIGEST_AUDIENCE),
            quiet_start=_time(quiet.get("start")),
            quiet_end=_time(quiet.get("end")),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    title: str
    root_unit: str
    timezone: str
    campaign_start: date
    campaign_end: date
    late_report_days: int
    targets: tuple[Target, ...]
    deadlines: tuple[Deadline, ...]
    reminders: dict[str, Any]
    rules: ReminderRules = field(default_factory=ReminderRules)

    @classmethod
    def load(cls, path: Path) -> Plan:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        campaign = raw["campaign"]
        return cls(
            id=raw["id"],
            title=raw["title"],
            root_unit=raw["root_unit"],
            timezone=raw.get("timezone", "Asia/Ho_Chi_Minh"),
            campaign_start=campaign["start"],
            campaign_end=campaign["end"],
            late_report_days=int(campaign.get("late_report_days", 7)),
            targets=tuple(Target(**t) for t in raw["targets"]),
            deadlines=tuple(
                Deadline(
                    key=d["key"],
                    date=d["date"],
                    title=d["title"],
                    deliverable=d["deliverable"],
                    audience=tuple((a["role"], a["level"]) for a in d["audience"]),
                )
                for d in raw.get("deadlines", [])
            ),
            reminders=dict(raw.get("reminders", {})),
            rules=ReminderRules.parse(dict(raw.get("reminders") or {})),
        )

    def deadline(self, key: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.key == key), None)

    def in_campaign(self, day: date) -> bool:
        return self.campaign_start <= day <= self.campaign_end

    def report_days(self, today: date) -> list[date]:
        """Days a visit may be dated, newest first: recent days and past campaign days."""
        days = []
        for back in range(0, max(self.late_report_days, (today - self.campaign_start).days) + 1):
            day = today - timedelta(days=back)
            if back <= self.late_report_days or self.in_campaign(day):
                days.append(day)
        return days

    def accepts_report_day(self, day: date, today: date) -> bool:
        if day > today:
            return False
        return (today - day).days <= self.late_report_days or self.in_campaign(day)
