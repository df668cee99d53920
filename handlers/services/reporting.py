"""Household visits: validation, recording exactly once, corrections, and a member's tally."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core import figures, roles
from core.errors import EditWindowClosed, InvalidField, NotAllowed, ReportNotFound, StaleChoice
from core.text import fold, has_control_chars, tidy, tidy_lines
from db.models import Household, Person, Visit
from db.repos import audit, households, stats, units, visits
from handlers.services.plan import Plan

MAX_COUNT = 30
EDIT_WINDOW = timedelta(hours=48)


# --- validation --------------------------------------------------------------------------
def clean_name(raw: str) -> str:
    """A head-of-household name: 1–100 characters, letters required, no control characters."""
    if has_control_chars(raw):
        raise InvalidField(field="name", reason="control")
    name = tidy(raw)
    if not name or not any(ch.isalpha() for ch in name):
        raise InvalidField(field="name", reason="empty")
    if len(name) > 100:
        raise InvalidField(field="name", reason="too_long", limit=100)
    return name


def clean_address(raw: str) -> str:
    if has_control_chars(raw):
        raise InvalidField(field="address", reason="control")
    address = tidy(raw)
    if len(address) > 200:
        raise InvalidField(field="address", reason="too_long", limit=200)
    return address


def clean_note(raw: str) -> str:
    if has_control_chars(raw.replace("\n", " ")):
        raise InvalidField(field="note", reason="control")
    note = tidy_lines(raw)
    if len(note) > 500:
        raise InvalidField(field="note", reason="too_long", limit=500)
    return note


def clean_count(raw: str | int, field_name: str, size: int | None = None) -> int:
    """A number of people: a whole number 0–30, and not above the household's size."""
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidField(field=field_name, reason="not_number")
    value = int(text)
    if value > MAX_COUNT:
        raise InvalidField(field=field_name, reason="too_big", limit=MAX_COUNT)
    if size is not None and value > size:
        raise InvalidField(field=field_name, reason="above_size", limit=size)
    return value


def clean_size(raw: str | int) -> int:
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_COUNT:
        raise InvalidField(field="size", reason="size_range", limit=MAX_COUNT)
    return int(text)


# --- the draft a member fills in -----------------------------------------------------------
@dataclass
class Draft:
    """A report being filled in; kept in the conversation's data between messages."""

    head_name: str = ""
    address: str = ""
    household_id: int | None = None
    size: int | None = None
    skills: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=figures.no_counts)  # by code: {"dk2": 2}
    proficient: bool = False
    note: str | None = None
    visit_date: date | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "head_name": self.head_name,
            "address": self.address,
            "household_id": self.household_id,
            "size": self.size,
            "skills": sorted(self.skills),
            # Counts are kept flat ("dk2": 2), as conversations stored before the table expect.
            **{count.code: self.count(count.code) for count in figures.COUNTS},
            "proficient": self.proficient,
            "note": self.note,
            "visit_date": self.visit_date.isoformat() if self.visit_date else None,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Draft:
        values = dict(data)
        values["skills"] = set(values.get("skills") or [])
        raw_date = values.get("visit_date")
        values["visit_date"] = date.fromisoformat(raw_date) if raw_date else None
        values["counts"] = {count.code: values.get(count.code, 0) for count in figures.COUNTS}
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})

    @classmethod
    def from_visit(cls, visit: Visit) -> Draft:
        return cls(
            head_name=visit.head_name,
            address=visit.address,
            household_id=visit.household_id,
            skills=set(visit.skills),
            counts={**figures.no_counts(), **visit.counts},
            proficient=visit.proficient,
            note=visit.note,
            visit_date=visit.visit_date,
        )

    def count(self, code: str) -> int:
        return self.counts.get(code, 0)

    def check_counts(self) -> None:
        for count in figures.COUNTS:
            clean_count(self.count(count.code), count.code, self.size)


@dataclass(frozen=True, slots=True)
class Recorded:
    visit_id: int
    created: bool
    household: Household
    new_household: bool
    namesakes: tuple[Household, ...] = ()


# --- households ----------------------------------------------------------------------------
async def own_household(conn: AsyncConnection, member: Person, household_id: int) -> Household:
    """A household of the member's own village (StaleChoice otherwise: the households offered
    to pick from all came from it)."""
    household = await households.get(conn, household_id)
    if household is None or household.village_code != member.unit_code:
        raise StaleChoice()
    return household


async def similar_households(conn: AsyncConnection, village: str, name: str) -> list[Household]:
    return await households.similar(conn, village, fold(name))


async def _resolve_household(
    conn: AsyncConnection, member: Person, draft: Draft, now: datetime, *, quick: bool
) -> tuple[Household, bool, tuple[Household, ...]]:
    village = _village_of(member)
    if draft.household_id is not None:
        found = await households.get(conn, draft.household_id)
        if found is None or found.village_code != village:
            raise ReportNotFound()
        return found, False, ()
    namesakes = await similar_households(conn, village, draft.head_name)
    if quick:
        # The quick form saves at once: the same name at the same (or no) address is the
        # same household; the same name elsewhere is a new one, and the reply says so.
        address_key = fold(draft.address)
        for candidate in namesakes:
            if not address_key or candidate.address_key == address_key:
                return candidate, False, ()
    created = await households.create(
        conn,
        village_code=village,
        head_name=draft.head_name,
        head_key=fold(draft.head_name),
        address=draft.address,
        address_key=fold(draft.address),
        size=draft.size,
        created_by=member.id,
        now=now,
        state=_state_of(draft),
    )
    return created, True, tuple(namesakes)


def _village_of(member: Person) -> str:
    if not roles.can(member.role, roles.REPORT) or not member.unit_code:
        raise NotAllowed(action="report")
    return member.unit_code


# --- recording -----------------------------------------------------------------------------
def _delta(before: dict[str, int], after: dict[str, int], reports: int) -> dict[str, int]:
    return {
        "reports": reports,
        "households_visited": int(after["visits"] > 0) - int(before["visits"] > 0),
        "households_dvc_payment": after["dvc_payment"] - before["dvc_payment"],
        "proficient_households": after["proficient"] - before["proficient"],
        **{count.statistic: after[count.state] - before[count.state] for count in figures.COUNTS},
    }


def _state_of(draft: Draft) -> dict[str, int]:
    """A household's state when this draft is its only visit (as refresh_state would find)."""
    return {
        "visits": 1,
        "dvc_payment": int(bool({"dvc", "payment"} & draft.skills)),
        "proficient": int(draft.proficient),
        **{count.state: draft.count(count.code) for count in figures.COUNTS},
    }


async def _lineage(conn: AsyncConnection, village: str) -> list[str]:
    unit = await units.get(conn, village)
    if unit is None:
        raise ReportNotFound()
    return unit.lineage


async def record(
    conn: AsyncConnection,
    *,
    member: Person,
    draft: Draft,
    request_key: str,
    plan: Plan,
    today: date,
    now: datetime,
    quick: bool = False,
) -> Recorded:
    """Store one visit; the same request key stores it once, however often it is retried."""
    visit_date = draft.visit_date or today
    if not plan.accepts_report_day(visit_date, today):
        raise InvalidField(field="visit_date", reason="date_range", days=plan.late_report_days)
    draft.check_counts()
    household, is_new, namesakes = await _resolve_household(conn, member, draft, now, quick=quick)
    if draft.size is not None and household.size != draft.size and not is_new:
        await households.set_size(conn, household.id, draft.size)
    visit_id, created = await visits.insert(
        conn,
        request_key=request_key,
        household_id=household.id,
        member_id=member.id,
        village_code=household.village_code,
        visit_date=visit_date,
        skills=frozenset(draft.skills),
        counts=dict(draft.counts),
        proficient=draft.proficient,
        note=draft.note or None,
        now=now,
    )
    if created:
        if is_new:
            # A new household was created with this visit's state: no need to read it back.
            before = households.EMPTY_STATE
            after = _state_of(draft)
        else:
            before, after = await households.refresh_state(conn, household.id)
        lineage = member.lineage or await _lineage(conn, household.village_code)
        await stats.apply(conn, lineage, visit_date, _delta(before, after, 1))
    elif is_new:
        # The request key was used before: this new household has no visit of its own.
        await households.set_state(conn, household.id, households.EMPTY_STATE)
    return Recorded(visit_id, created, household, is_new, namesakes)


async def editable_visit(
    conn: AsyncConnection, person: Person, visit_id: int, now: datetime
) -> Visit:
    """The visit if this person may still change it (own, or leader of its village; 48 h)."""
    visit = await visits.get(conn, visit_id, lock=True)
    if visit is None or visit.deleted_at is not None:
        raise ReportNotFound()
    own = visit.member_id == person.id
    leads = roles.can(person.role, roles.CORRECT_OTHERS) and person.unit_code == visit.village_code
    if not (own or leads):
        raise ReportNotFound()
    if now - visit.created_at > EDIT_WINDOW:
        raise EditWindowClosed(hours=48)
    return visit


def _snapshot(visit: Visit) -> dict[str, Any]:
    return {
        "visit_date": visit.visit_date.isoformat(),
        "skills": sorted(visit.skills),
        **{count.code: visit.counts.get(count.code, 0) for count in figures.COUNTS},
        "proficient": visit.proficient,
        "note": visit.note,
    }


async def _unapply(conn: AsyncConnection, visit: Visit, now: datetime) -> list[str]:
    await visits.soft_delete(conn, visit.id, now)
    before, after = await households.refresh_state(conn, visit.household_id)
    lineage = await _lineage(conn, visit.village_code)
    await stats.apply(conn, lineage, visit.visit_date, _delta(before, after, -1))
    return lineage


async def delete(conn: AsyncConnection, person: Person, visit_id: int, now: datetime) -> Visit:
    visit = await editable_visit(conn, person, visit_id, now)
    await _unapply(conn, visit, now)
    await audit.record(
        conn,
        person_id=person.id,
        action="delete",
        entity="visit",
        entity_id=visit.id,
        before=_snapshot(visit),
        after=None,
        now=now,
    )
    return visit


async def update(
    conn: AsyncConnection,
    person: Person,
    visit_id: int,
    draft: Draft,
    *,
    plan: Plan,
    today: date,
    now: datetime,
) -> Visit:
    """Replace a visit's outcome: taken out of the aggregates, changed, put back in."""
    visit = await editable_visit(conn, person, visit_id, now)
    new_date = draft.visit_date or visit.visit_date
    if new_date != visit.visit_date and not plan.accepts_report_day(new_date, today):
        raise InvalidField(field="visit_date", reason="date_range", days=plan.late_report_days)
    draft.check_counts()
    lineage = await _unapply(conn, visit, now)
    await visits.update(
        conn,
        visit.id,
        visit_date=new_date,
        skills=frozenset(draft.skills),
        counts=dict(draft.counts),
        proficient=draft.proficient,
        note=draft.note or None,
        now=now,
    )
    before, after = await households.refresh_state(conn, visit.household_id)
    await stats.apply(conn, lineage, new_date, _delta(before, after, 1))
    changed = await visits.get(conn, visit.id)
    assert changed is not None
    await audit.record(
        conn,
        person_id=person.id,
        action="update",
        entity="visit",
        entity_id=visit.id,
        before=_snapshot(visit),
        after=_snapshot(changed),
        now=now,
    )
    return changed


async def recent_editable(conn: AsyncConnection, person: Person, now: datetime) -> list[Visit]:
    """Reports this person may still correct, newest first."""
    since = now - EDIT_WINDOW
    if roles.can(person.role, roles.CORRECT_OTHERS) and person.unit_code:
        return await visits.recent(conn, since=since, village_code=person.unit_code)
    return await visits.recent(conn, since=since, member_id=person.id)


def tally_start(plan: Plan, today: date) -> date:
    """First day a member's campaign tally counts: the campaign's start, else 30 days back."""
    if plan.campaign_start <= today:
        return (
            plan.campaign_start
            if today <= plan.campaign_end + timedelta(days=30)
            else today - timedelta(days=30)
        )
    return today - timedelta(days=30)


async def tally(
    conn: AsyncConnection, person: Person, *, plan: Plan, today: date
) -> dict[str, dict[str, int]]:
    """The member's own figures today and since tally_start()."""
    return {
        "today": await visits.tally(conn, person.id, today, today),
        "campaign": await visits.tally(conn, person.id, tally_start(plan, today), today),
    }
