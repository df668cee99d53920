"""Reorganisations: old units retired into their successors, history kept where it was filed.

A mapping file has the columns `old_code,new_code` and, optionally, `effective` (YYYY-MM-DD,
else the command's --effective). Its new units are already imported. For each row, in date
order and deepest old unit first:

- the old unit gets `valid_to` = the day before and `successor_code` = the new unit;
- its active children (villages, or a district's communes) move under the successor;
- people bound to the old unit move to the successor with their role, each told once (outbox);
  chats that followed its announcements follow the successor;
- invites into the old unit are refused from then on, naming the successor (services/invites).

Reports stay on the villages they were filed in. The successor and its ancestors have their
aggregates rebuilt from the villages now below them; the retired unit keeps its figures as they
were, so `stats --unit OLD` still answers and a common ancestor's total does not move. Applying
the same mapping again changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import UnitsFileError
from core.events import Reply
from db.models import Unit
from db.repos import audit, follows, people, units
from handlers.services import reach, unitsfile
from handlers.texts import Texts

HEADER = ("old_code", "new_code")
# Which kind may be retired into which: a district folds into its province (1 July 2025).
_INTO = {
    "province": ("province",),
    "district": ("district", "province"),
    "commune": ("commune",),
    "village": ("village",),
}


@dataclass(frozen=True, slots=True)
class Step:
    line: int
    old: str
    new: str
    effective: date


@dataclass
class Outcome:
    """What a run did (or, with dry_run, would do)."""

    dry_run: bool
    retired: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    moved_units: list[dict[str, str]] = field(default_factory=list)
    moved_people: list[dict[str, Any]] = field(default_factory=list)
    notices: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "retired": self.retired,
            "unchanged": self.unchanged,
            "moved_units": self.moved_units,
            "moved_people": self.moved_people,
            "notices": self.notices,
        }


def parse(text: str, effective: date) -> list[Step]:
    """Read the mapping; UnitsFileError names the line at fault."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = tuple(reader.fieldnames or ())
    if fields not in (HEADER, (*HEADER, "effective")):
        raise UnitsFileError(1, "the header must be: old_code,new_code (optionally ,effective)")
    steps: list[Step] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        old = (raw["old_code"] or "").strip()
        new = (raw["new_code"] or "").strip()
        if not old or not new:
            raise UnitsFileError(line, "old_code and new_code must both be given")
        if old == new:
            raise UnitsFileError(line, f"{old!r} cannot succeed itself")
        if old in seen:
            raise UnitsFileError(line, f"{old!r} is already mapped on line {seen[old]}")
        seen[old] = line
        when = effective
        given = (raw.get("effective") or "").strip()
        if given:
            try:
                when = date.fromisoformat(given)
            except ValueError:
                raise UnitsFileError(line, "effective must be a date YYYY-MM-DD") from None
        steps.append(Step(line, old, new, when))
    return steps


async def _check(conn: AsyncConnection, step: Step) -> tuple[Unit, Unit]:
    old = await units.get(conn, step.old)
    new = await units.get(conn, step.new)
    if old is None:
        raise UnitsFileError(step.line, f"old unit {step.old!r} is not imported")
    if new is None:
        raise UnitsFileError(step.line, f"new unit {step.new!r} is not imported: import it first")
    if new.kind not in _INTO[old.kind]:
        raise UnitsFileError(step.line, f"a {old.kind} cannot be succeeded by a {new.kind}")
    if old.contains(new):
        raise UnitsFileError(step.line, f"{step.new!r} lies inside {step.old!r}")
    if new.valid_to is not None and new.valid_to < step.effective:
        raise UnitsFileError(step.line, f"{step.new!r} was itself retired on {new.valid_to}")
    return old, new


async def apply(
    conn: AsyncConnection,
    text: str,
    *,
    effective: date,
    texts: Texts,
    now: datetime,
    dry_run: bool = False,
) -> Outcome:
    """Apply the mapping in this transaction (the caller rolls back a dry run)."""
    steps = parse(text, effective)
    depth = {}
    for step in steps:
        unit = await units.get(conn, step.old)
        depth[step.old] = unit.depth if unit else 0
    steps.sort(key=lambda s: (s.effective, -depth[s.old], s.line))
    outcome = Outcome(dry_run=dry_run)
    for when in sorted({step.effective for step in steps}):
        touched: set[str] = set()
        for step in (s for s in steps if s.effective == when):
            touched |= await _step(conn, step, texts, now, outcome)
        # Each date's successors are counted before a later date may retire them in turn.
        for code in sorted(touched):
            unit = await units.get(conn, code)
            if unit is not None and unit.active:
                await units.recount(conn, unit)
        if touched:
            await unitsfile.store_all_totals(conn)
    return outcome


async def _step(
    conn: AsyncConnection, step: Step, texts: Texts, now: datetime, outcome: Outcome
) -> set[str]:
    """Apply one row; the codes whose aggregates must be rebuilt."""
    old, new = await _check(conn, step)
    valid_to = step.effective - timedelta(days=1)
    if old.successor_code is not None or (old.valid_to and old.valid_to != valid_to):
        if (old.successor_code, old.valid_to) == (new.code, valid_to):
            outcome.unchanged.append({"old": old.code, "new": new.code})
            return set()
        raise UnitsFileError(
            step.line,
            f"{old.code!r} was already retired on {old.valid_to} "
            f"into {old.successor_code or 'nothing'}",
        )
    await _retire(conn, step, old, new, valid_to, texts, now, outcome)
    moved_new = await units.get(conn, new.code)
    assert moved_new is not None
    return {*old.lineage[:-1], *moved_new.lineage}


async def _retire(
    conn: AsyncConnection,
    step: Step,
    old: Unit,
    new: Unit,
    valid_to: date,
    texts: Texts,
    now: datetime,
    outcome: Outcome,
) -> None:
    await units.update(conn, old.code, valid_to=valid_to, successor_code=new.code)
    if new.valid_from is None:
        await units.update(conn, new.code, valid_from=step.effective)
    outcome.retired.append(
        {"old": old.code, "new": new.code, "valid_to": valid_to.isoformat(), "line": step.line}
    )
    for child in await units.children(conn, old.code):
        await units.move(conn, child, new)
        outcome.moved_units.append({"code": child.code, "from": old.code, "to": new.code})
    # Residents who followed the old unit's announcements hear the successor's.
    await follows.move(conn, old.code, new.code)
    await audit.record(
        conn,
        person_id=None,
        action="reorganize",
        entity="unit",
        entity_id=None,
        before={"unit": old.code, "valid_to": None},
        after={"unit": old.code, "valid_to": valid_to.isoformat(), "successor": new.code},
        now=now,
    )
    for person in await people.bound_to(conn, old.code):
        await people.update(conn, person.id, unit_code=new.code)
        await audit.record(
            conn,
            person_id=None,
            action="reorganize",
            entity="person",
            entity_id=person.id,
            before={"role": person.role, "unit": old.code},
            after={"role": person.role, "unit": new.code},
            now=now,
        )
        outcome.moved_people.append({"id": person.id, "from": old.code, "to": new.code})
        chat = await reach.reach(conn, person)
        if chat is None:
            continue
        reply = Reply(
            texts.render(
                "units.reorganized",
                old=old.name,
                new=new.name,
                effective=step.effective,
                role=texts.render(f"labels.role.{person.role}"),
            )
        )
        key = f"reorganize:{old.code}:{new.code}:{person.id}"
        if await reach.notify_chat(conn, chat[0], chat[1], key, reply, now=now):
            outcome.notices += 1


async def successor_of(conn: AsyncConnection, unit: Unit) -> Unit | None:
    """The active unit that finally took over `unit` (None: still active, or none recorded)."""
    seen = {unit.code}
    current: Unit | None = unit
    while current is not None and current.successor_code:
        nxt = await units.get(conn, current.successor_code)
        if nxt is None or nxt.code in seen:
            return None
        seen.add(nxt.code)
        current = nxt
    return current if current is not None and current.code != unit.code else None
