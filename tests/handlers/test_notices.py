"""The notice schedule, computed from the plan alone: dates, time zones, overdue, stale, quiet."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handlers.services import notices
from handlers.services.plan import Plan

PLAN = Plan.load(Path(__file__).resolve().parents[2] / "content" / "plans" / "mo-duc-2024.yaml")
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def keys(now: datetime, plan: Plan = PLAN) -> list[str]:
    return sorted(o.key for o in notices.due(plan, now))


def test_the_plan_file_is_read_with_its_reminder_rules() -> None:
    rules = PLAN.rules
    assert rules.days_before == (5, 2, 1) and rules.on_the_day and rules.overdue_every_days == 2
    assert rules.at == time(7, 30) and rules.morning_brief == time(6, 30)
    assert rules.evening_digest == time(20, 0)
    assert (rules.quiet_start, rules.quiet_end) == (time(21, 30), time(6, 0))
    assert PLAN.reminders["at"] == "07:30"  # the raw section is still there


def test_reminders_fall_5_2_1_days_before_on_the_day_then_every_two_days() -> None:
    days = [o.day for o in notices.deadline_occurrences(PLAN, PLAN.deadlines[0])]
    assert days[:6] == [
        date(2024, 9, 15),
        date(2024, 9, 18),
        date(2024, 9, 19),
        date(2024, 9, 20),
        date(2024, 9, 22),
        date(2024, 9, 24),
    ]
    assert days[-1] == date(2024, 10, 20)  # overdue reminders stop after 30 days


def test_on_the_18th_at_0730_the_20_9_reminder_is_due() -> None:
    assert keys(at("2024-09-18T07:30+07:00")) == ["deadline:team-consolidation:2024-09-18"]
    occurrence = notices.due(PLAN, at("2024-09-18T07:30+07:00"))[0]
    assert occurrence.days_left == 2
    assert occurrence.audience == (("commune_officer", "commune"), ("leader", "village"))


def test_times_are_in_the_plans_zone_whatever_zone_now_is_given_in() -> None:
    # 07:29 in Vietnam is 00:29 UTC: the 15th's reminder is still the latest; 00:30 is 07:30.
    assert keys(datetime(2024, 9, 18, 0, 29, tzinfo=UTC)) == [
        "deadline:team-consolidation:2024-09-15"
    ]
    assert keys(datetime(2024, 9, 18, 0, 30, tzinfo=UTC)) == [
        "deadline:team-consolidation:2024-09-18"
    ]
    with pytest.raises(ValueError):
        notices.due(PLAN, datetime(2024, 9, 18, 7, 30))


def test_a_reminder_is_stale_once_the_next_one_is_due() -> None:
    # After downtime, on the 19th at 07:00 the 18th's reminder is still the latest one.
    assert keys(at("2024-09-19T07:00+07:00")) == ["deadline:team-consolidation:2024-09-18"]
    assert keys(at("2024-09-19T07:30+07:00")) == ["deadline:team-consolidation:2024-09-19"]


def test_overdue_reminders_every_two_days_and_two_deadlines_at_once() -> None:
    assert keys(at("2024-09-23T09:00+07:00")) == [
        "deadline:plan-submission:2024-09-23",
        "deadline:team-consolidation:2024-09-22",
    ]
    overdue = [o for o in notices.due(PLAN, at("2024-09-23T09:00+07:00")) if o.days_left < 0]
    assert [o.days_left for o in overdue] == [-2]


def test_campaign_days_have_a_morning_brief_and_an_evening_digest() -> None:
    found = notices.campaign_occurrences(PLAN)
    assert len(found) == 20
    assert found[0].key == "brief:2024-10-01" and found[0].at == at("2024-10-01T06:30+07:00")
    assert found[1].key == "digest:2024-10-01" and found[1].at == at("2024-10-01T20:00+07:00")
    assert "brief:2024-09-30" not in {o.key for o in found}
    assert found[-1].key == "digest:2024-10-10"


def test_the_morning_brief_goes_stale_and_the_digest_dies_with_its_day() -> None:
    assert "brief:2024-10-03" in keys(at("2024-10-03T12:00+07:00"))
    later = keys(at("2024-10-03T20:00+07:00"))
    assert "brief:2024-10-03" not in later and "digest:2024-10-03" in later
    # The next morning (after quiet hours) yesterday's digest is not sent.
    morning = keys(at("2024-10-04T06:30+07:00"))
    assert "digest:2024-10-03" not in morning and "brief:2024-10-04" in morning


def test_nothing_is_due_inside_quiet_hours() -> None:
    assert keys(at("2024-10-03T21:30+07:00")) == []
    assert keys(at("2024-10-04T05:59+07:00")) == []
    assert keys(at("2024-10-03T21:29+07:00")) != []


def test_a_time_inside_quiet_hours_moves_to_their_end() -> None:
    rules = replace(PLAN.rules, at=time(22, 0), evening_digest=time(23, 0))
    plan = replace(PLAN, rules=rules)
    first = notices.deadline_occurrences(plan, plan.deadlines[0])[0]
    assert first.key == "deadline:team-consolidation:2024-09-15"
    assert first.at == at("2024-09-16T06:00+07:00")
    # A digest pushed past its own day is never sent.
    assert not [o for o in notices.campaign_occurrences(plan) if o.kind == notices.DIGEST]


def test_quiet_hours_within_one_day_and_none() -> None:
    rules = replace(PLAN.rules, quiet_start=time(12, 0), quiet_end=time(13, 0))
    assert notices.in_quiet_hours(rules, at("2024-09-18T12:30+07:00"), VN)
    assert not notices.in_quiet_hours(rules, at("2024-09-18T13:00+07:00"), VN)
    none = replace(PLAN.rules, quiet_start=None, quiet_end=None)
    assert not notices.in_quiet_hours(none, at("2024-09-18T23:00+07:00"), VN)


def test_another_plan_is_another_schedule() -> None:
    rules = replace(PLAN.rules, days_before=(3,), on_the_day=False, overdue_every_days=None)
    deadline = replace(PLAN.deadlines[0], key="roster-2025", date=date(2025, 3, 10))
    plan = replace(PLAN, rules=rules, deadlines=(deadline,), timezone="Asia/Bangkok")
    found = notices.deadline_occurrences(plan, deadline)
    assert [o.key for o in found] == ["deadline:roster-2025:2025-03-07"]
    assert found[0].at == datetime(2025, 3, 7, 7, 30, tzinfo=ZoneInfo("Asia/Bangkok"))


def test_keys_are_stable_and_unique() -> None:
    first = [o.key for o in notices.occurrences(PLAN)]
    assert first == [o.key for o in notices.occurrences(PLAN)]
    assert len(first) == len(set(first))
    assert notices.occurrences(PLAN)[0].recipient_key(42).endswith(":42")
