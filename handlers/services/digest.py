"""The leaders' digest: where an area stands against the five targets on a given day.

One source for the evening digest (the scheduler calls `digest_text`) and for /thongke:
- village: the village, its members who reported nothing that day, the best villages of its
  commune and where this village ranks;
- commune: the commune and a line (with a second line of detail) per village, members who
  reported nothing listed by name under their village;
- district: the same with a line per commune; members without a report are counted per
  commune, not named (hundreds of names help nobody);
- province (or any scope above a district): villages with a report that day, per child.
"Best villages" rank by the share of households visited (households_visited / households).

Everything is read from maintained aggregates (unit_stats, unit_daily_stats); "who reported
that day" is one index probe per member (see db/repos/digest.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import NotAllowed, UnknownUnit
from core.events import Reply
from core.privacy import mask_numbers
from db.models import Person, Unit
from db.repos import digest as repo
from db.repos import stats as stats_repo
from db.repos import units
from db.schema import AGGREGATES
from handlers.services import stats
from handlers.services.plan import Plan
from handlers.services.registry import Services

# Scopes whose digest counts members who reported (one index probe per member): a district
# has ≈600. Above that (a province, ≈6,600 members), the digest counts villages that have a
# report that day, read from unit_daily_stats, so its cost does not grow with the members.
MEMBER_SCOPES = ("village", "commune", "district")
# Names of members without a report are listed up to this many (commune scope).
IDLE_NAMES_LIMIT = 40
BEST_LIMIT = 3
# The daily aggregates that a digest shows as "today" / "yesterday" changes.
_DAILY_KEYS = AGGREGATES


def bar(value: float | None, width: int = 10) -> str:
    """A text progress bar: ▓ for done, ░ for the rest (capped at full)."""
    filled = 0 if value is None else max(0, min(width, round(value * width)))
    return "▓" * filled + "░" * (width - filled)


def _empty_day() -> dict[str, int]:
    return dict.fromkeys(_DAILY_KEYS, 0)


@dataclass
class Digest:
    """Everything a digest shows; rendered to text by `render`, to a chart by `chart_png`."""

    unit: Unit
    day: date
    plan_title: str
    figures: dict[str, Any]
    targets: list[dict[str, Any]]
    today: dict[str, int]
    yesterday: dict[str, int]
    children: list[dict[str, Any]] = field(default_factory=list)
    members: int = 0
    reported: int = 0
    idle_names: list[dict[str, str]] = field(default_factory=list)
    idle_more: int = 0
    best: list[dict[str, Any]] = field(default_factory=list)
    best_area: str | None = None
    own_rank: int | None = None
    # Above a district (MEMBER_SCOPES), villages with a report that day instead of members.
    villages: int = 0
    villages_active: int = 0
    # "Hôm nay / hôm qua" when the day is today, "ngày …" otherwise (/thongke for a past day).
    is_today: bool = True

    @property
    def idle(self) -> int:
        return self.members - self.reported


def targets_view(
    plan: Plan, figures: dict[str, Any], today: dict[str, int], yesterday: dict[str, int]
) -> list[dict[str, Any]]:
    """The five targets as label, value, goal, bar, numerator/denominator and daily changes."""
    view = []
    for target in plan.targets:
        value = figures["targets"][target.key]["value"]
        view.append(
            {
                "key": target.key,
                "label": target.label,
                "value": value,
                "goal": target.goal,
                "bar": bar(value),
                "numerator": figures[target.numerator],
                "denominator": figures[target.denominator],
                "base": target.denominator,
                "today": today.get(target.numerator, 0),
                "yesterday": yesterday.get(target.numerator, 0),
            }
        )
    return view


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _count(per_child: dict[str, list[int]], child: str | None, total: int, active: int) -> None:
    if child is not None:
        counts = per_child.setdefault(child, [0, 0])
        counts[0] += total
        counts[1] += active


def _child_of(scope: Unit, path: str) -> str | None:
    """The code of the scope's direct child on the way to `path` (None for the scope itself)."""
    codes = [code for code in path.split("/") if code]
    return codes[scope.depth + 1] if len(codes) > scope.depth + 1 else None


async def build(
    conn: AsyncConnection, plan: Plan, unit: Unit, day: date, *, is_today: bool = True
) -> Digest:
    """Read the figures of `unit` and its children for `day` (and the day before)."""
    yesterday = day - timedelta(days=1)
    figures = await stats.for_unit(conn, plan, unit.code)
    kids = await stats.for_children(conn, plan, unit.code)
    codes = [unit.code, *(kid["unit"] for kid in kids)]
    days = await repo.daily_many(conn, codes, [day, yesterday])
    today_row = days.get((unit.code, day), _empty_day())
    yesterday_row = days.get((unit.code, yesterday), _empty_day())
    result = Digest(
        unit=unit,
        day=day,
        plan_title=plan.title,
        figures=figures,
        targets=targets_view(plan, figures, today_row, yesterday_row),
        today=today_row,
        yesterday=yesterday_row,
        is_today=is_today,
    )

    # [members, reported] (member scopes) or [villages, villages with a report] per child.
    per_child: dict[str, list[int]] = {}
    if unit.kind in MEMBER_SCOPES:
        for team in await repo.team_day(conn, unit.path, day):
            result.members += team.members
            result.reported += team.reported
            _count(per_child, _child_of(unit, team.path), team.members, team.reported)
    else:
        for path, reports in await repo.village_day(conn, unit.path, day):
            result.villages += 1
            result.villages_active += int(reports > 0)
            _count(per_child, _child_of(unit, path), 1, int(reports > 0))

    for kid in kids:
        total, active = per_child.get(kid["unit"], [0, 0])
        members, reported = (total, active) if unit.kind in MEMBER_SCOPES else (0, 0)
        villages, villages_active = (0, 0) if unit.kind in MEMBER_SCOPES else (total, active)
        result.children.append(
            {
                **kid,
                "share_visited": _share(kid["households_visited"], kid["households"]),
                "bar": bar(_share(kid["households_visited"], kid["households"]), 5),
                "five": kid["targets"].get("five_skills", {}).get("value"),
                "dvc": kid["targets"].get("dvc_payment", {}).get("value"),
                "vneid": kid["targets"].get("vneid_registration", {}).get("value"),
                "today": days.get((kid["unit"], day), _empty_day()),
                "members": members,
                "reported": reported,
                "villages": villages,
                "villages_active": villages_active,
            }
        )

    if unit.kind in ("village", "commune") and result.idle:
        idle = await repo.idle_members(conn, unit.path, day, IDLE_NAMES_LIMIT + 1)
        shown = idle[:IDLE_NAMES_LIMIT]
        result.idle_names = [
            {
                "name": mask_numbers(m.display_name or "").strip() or f"#{m.person_id}",
                "village": m.village_name,
            }
            for m in shown
        ]
        result.idle_more = result.idle - len(shown)

    area = unit
    if unit.kind == "village" and unit.parent_code:
        parent = await units.get(conn, unit.parent_code)
        area = parent or unit
    if unit.kind == "village" and area is unit:
        return result
    best = await repo.best_villages(conn, area.path, BEST_LIMIT)
    result.best_area = area.name
    result.best = [
        {
            "name": b.name,
            "share": _share(b.households_visited, b.households),
            "visited": b.households_visited,
            "households": b.households,
        }
        for b in best
    ]
    if unit.kind == "village" and area is not unit:
        own = figures["households_visited"]
        if own:
            siblings = await stats_repo.for_children(conn, area.code)
            mine = _share(own, figures["households"]) or 0.0
            better = sum(
                1
                for code, row in siblings.items()
                if code != unit.code
                and row.get("total_households")
                and row["households_visited"] / row["total_households"] > mine
            )
            result.own_rank = better + 1
    return result


def render(services: Services, digest: Digest) -> str:
    """The digest as one message (HTML subset), from the `digest.*` templates."""
    texts = services.texts
    parts = [
        texts.render(
            "digest.head",
            d=digest,
            s=digest.figures,
            targets=digest.targets,
            today=digest.today,
            yesterday=digest.yesterday,
        )
    ]
    if digest.children:
        # Named after the children themselves: a province's are communes (two tiers) or
        # districts (an older plan).
        child_kind = str(digest.children[0].get("kind", ""))
        kind = (
            texts.render(f"digest.child_kind.{child_kind}")
            if texts.has(f"digest.child_kind.{child_kind}")
            else ""
        )
        lines = [texts.render("digest.children_title", kind=kind)]
        # Units with neither figures nor reports yet (a province's communes that have not
        # entered their villages) are counted in one line instead of two lines each.
        empty = [c for c in digest.children if not (c["households"] or c["reports"])]
        for child in digest.children:
            if child not in empty:
                lines.append(texts.render("digest.child", c=child))
                lines.append(texts.render("digest.child_detail", c=child))
        if empty:
            lines.append(texts.render("digest.children_empty", n=len(empty), kind=kind))
        parts.append("\n".join(lines))
    parts.append(texts.render("digest.team", d=digest))
    if digest.best:
        parts.append(texts.render("digest.best", d=digest))
    return "\n\n".join(part for part in parts if part)


async def unit_of(conn: AsyncConnection, person: Person) -> Unit:
    if not person.unit_code:
        raise NotAllowed(action="stats_area")
    unit = await units.get(conn, person.unit_code)
    if unit is None:
        raise UnknownUnit(code=person.unit_code)
    return unit


async def digest_text(
    conn: AsyncConnection, services: Services, person: Person, day: date
) -> Reply:
    """The digest of the person's own area for `day`, as a text reply (no chart).

    The scheduler sends this through the outbox; `digest_chart` gives the picture.
    """
    unit = await unit_of(conn, person)
    digest = await build(conn, services.plan, unit, day)
    return Reply(render(services, digest))


async def digest_chart(
    conn: AsyncConnection, services: Services, person: Person, day: date
) -> bytes:
    """The PNG chart of the person's area (rendered in a worker thread)."""
    unit = await unit_of(conn, person)
    digest = await build(conn, services.plan, unit, day)
    return await render_chart(services, digest)


async def render_chart(services: Services, digest: Digest) -> bytes:
    """Draw the chart off the event loop (matplotlib is synchronous and takes ~50 ms)."""
    from handlers.services.charts import targets_png

    title = services.texts.render("digest.chart_title", d=digest)
    goal_label = services.texts.render("digest.chart_goal")
    rows = [(t["label"], t["value"], t["goal"]) for t in digest.targets]
    return await asyncio.to_thread(targets_png, title, rows, goal_label)
