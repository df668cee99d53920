"""Deliverables of the plan's deadlines: who must hand in what, the roster, progress, nudges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import NotAllowed
from db.models import Person, Unit
from db.repos import deliverables as repo
from db.repos import people, units
from db.repos.deliverables import Deliverable
from handlers.services import reach
from handlers.services.plan import Deadline, Plan
from handlers.services.reach import Recipient

# The positions a consolidated village team should have (plan §IV.1.2); others are optional.
REQUIRED_POSITIONS = tuple(p for p in roles.POSITIONS if p not in ("telecom", "other"))
_KIND_DEPTH = {"province": 0, "district": 1, "commune": 2, "village": 3}


async def own_unit(conn: AsyncConnection, person: Person | None) -> Unit:
    """The unit a person delivers for and follows progress in (NotAllowed without one)."""
    unit = await units.get(conn, person.unit_code) if person and person.unit_code else None
    if unit is None:
        raise NotAllowed(action="stats_area")
    return unit


def deadlines_for(plan: Plan, role: str, unit_kind: str) -> list[Deadline]:
    """The deadlines this role, at this level, must deliver."""
    return [d for d in plan.deadlines if (role, unit_kind) in d.audience]


@dataclass(frozen=True, slots=True)
class Roster:
    unit: Unit
    members: list[dict[str, Any]]
    by_position: dict[str, list[str]]
    missing: list[str]


def position_of(person: Person) -> str:
    # A leader or deputy who never chose a position holds the one their role implies.
    return person.position or roles.default_position(person.role) or "other"


async def roster(conn: AsyncConnection, village: Unit) -> Roster:
    """The village team by position, from the registered members, and the positions missing."""
    team = await people.in_units(conn, [village.code], roles.holders(roles.IN_TEAM))
    by_position: dict[str, list[str]] = {}
    members = []
    for person in team:
        position = position_of(person)
        name = person.display_name or "?"
        by_position.setdefault(position, []).append(name)
        members.append({"id": person.id, "name": name, "role": person.role, "position": position})
    ordered = {p: by_position[p] for p in roles.POSITIONS if p in by_position}
    missing = [p for p in REQUIRED_POSITIONS if p not in by_position]
    return Roster(village, members, ordered, missing)


async def delivered(conn: AsyncConnection, deadline: Deadline, unit: Unit) -> Deliverable | None:
    """What the unit handed in for the deadline, if it did."""
    return await repo.get(conn, deadline.key, unit.code)


async def delivered_keys(conn: AsyncConnection, deadlines: list[Deadline], unit: Unit) -> set[str]:
    """The keys of those deadlines the unit has delivered."""
    return {d.key for d in deadlines if await repo.get(conn, d.key, unit.code) is not None}


@dataclass(frozen=True, slots=True)
class AreaRosters:
    """The villages of an area (a commune, a district…) and which of them confirmed their
    roster for a deadline."""

    villages: list[Unit]
    confirmed: dict[str, Deliverable]


async def area_rosters(conn: AsyncConnection, deadline: Deadline, unit: Unit) -> AreaRosters:
    villages = await units.subtree(conn, unit, kind="village")
    confirmed = await repo.for_units(conn, deadline.key, [v.code for v in villages])
    return AreaRosters(villages, confirmed)


async def record(
    conn: AsyncConnection,
    deadline: Deadline,
    unit: Unit,
    person: Person,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    await repo.record(
        conn,
        deadline_key=deadline.key,
        unit_code=unit.code,
        kind=deadline.deliverable,
        done_by=person.id,
        payload=payload,
        now=now,
    )


@dataclass
class UnitStatus:
    code: str
    name: str
    done: bool
    day: Any = None


@dataclass
class Progress:
    """One deadline's delivery at one level, inside an officer's area."""

    deadline: Deadline
    level: str
    units: list[UnitStatus] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(1 for u in self.units if u.done)

    @property
    def missing(self) -> int:
        return len(self.units) - self.done


async def progress(conn: AsyncConnection, plan: Plan, area: Unit, tz: Any) -> list[Progress]:
    """For each deadline, each level of its audience inside `area`: who has delivered."""
    found = []
    for deadline in plan.deadlines:
        levels = []
        for _role, level in deadline.audience:
            if level not in levels and _KIND_DEPTH.get(level, 9) >= _KIND_DEPTH.get(area.kind, 0):
                levels.append(level)
        for level in levels:
            inside = await units.subtree(conn, area, kind=level)
            if not inside:
                continue
            done = await repo.for_units(conn, deadline.key, [u.code for u in inside])
            item = Progress(deadline, level)
            for unit in inside:
                delivered = done.get(unit.code)
                day = delivered.done_at.astimezone(tz).date() if delivered else None
                item.units.append(UnitStatus(unit.code, unit.name, delivered is not None, day))
            found.append(item)
    return found


async def laggards(
    conn: AsyncConnection, deadline: Deadline, level: str, area: Unit
) -> list[Recipient]:
    """The people who must deliver `deadline` at `level` inside `area` and have not."""
    pairs = [(role, lvl) for role, lvl in deadline.audience if lvl == level]
    return await reach.audience(conn, pairs, undelivered=deadline.key, within=area.path)
