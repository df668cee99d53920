"""The plan file (content/plans/*.yaml): campaign window, targets and deadlines as data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml


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
        )

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
