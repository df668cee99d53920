"""The 20/10 summary: by commune, teams consolidated, members by position, households visited,
each target against its goal, as Markdown an official can paste and as XLSX.

A team counts as consolidated when its village has a leader and at least one other member
registered. Deliverables' dates are those of the plan's commune deadlines (the roster, the
plan and schedule), read through db/repos/deliverables.py; a database without that table
(before migration 0003) gets the summary without them, and the Markdown says so.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from db.models import Unit
from db.repos import deliverables, units
from db.repos import summary as repo
from handlers.services import sheets, stats
from handlers.services.plan import Deadline, Plan
from handlers.texts import Texts


@dataclass
class Summary:
    root: Unit
    day: date
    plan: Plan
    communes: list[dict[str, Any]] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)
    has_deliverables: bool = False


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _targets(plan: Plan, figures: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "key": t.key,
            "label": t.label,
            "value": figures["targets"][t.key]["value"],
            "goal": t.goal,
            "numerator": figures[t.numerator],
            "denominator": figures[t.denominator],
            "base": t.denominator,
        }
        for t in plan.targets
    ]


async def build(conn: AsyncConnection, texts: Texts, plan: Plan, root: Unit, day: date) -> Summary:
    """Read the figures of every commune under `root` (or `root` itself if it is one)."""
    result = Summary(root=root, day=day, plan=plan)
    communes = [root] if root.kind == "commune" else await units.subtree(conn, root, "commune")
    villages = await units.subtree(conn, root, "village")
    figures = await stats.for_many(conn, plan, communes)
    roster = await repo.roster_counts(conn, root.path)
    result.has_deliverables = await repo.has_table(conn, "deliverables")

    commune_of: dict[str, str | None] = {v.code: v.parent_code for v in villages}
    village_count: dict[str, int] = {}
    for village in villages:
        if village.parent_code:
            village_count[village.parent_code] = village_count.get(village.parent_code, 0) + 1
    leaders: set[str] = set()
    team_size: dict[str, int] = {}
    positions: dict[str, dict[str, int]] = {}
    for row in roster:
        village = row["unit_code"]
        team_size[village] = team_size.get(village, 0) + int(row["n"])
        if "team_leader" in (row["position"], roles.default_position(row["role"])):
            leaders.add(village)
        commune = commune_of.get(village)
        if commune is not None:
            by_position = positions.setdefault(commune, {})
            key = row["position"] or "other"
            by_position[key] = by_position.get(key, 0) + int(row["n"])
    consolidated = {v for v in leaders if team_size.get(v, 0) >= 2}

    total: dict[str, Any] = {
        "villages": 0,
        "teams": 0,
        "members": 0,
        "households": 0,
        "households_visited": 0,
    }
    for area, row in zip(communes, figures, strict=True):
        counts = positions.get(area.code, {})
        entry: dict[str, Any] = {
            "code": area.code,
            "name": area.name,
            "villages": village_count.get(area.code, 0),
            "teams": sum(1 for v in consolidated if commune_of.get(v) == area.code),
            "members": sum(counts.values()),
            "positions": [
                {"key": p, "label": texts.render(f"labels.position.{p}"), "count": counts[p]}
                for p in roles.POSITIONS
                if counts.get(p)
            ],
            "households": row["households"],
            "households_visited": row["households_visited"],
            "share": _share(row["households_visited"], row["households"]),
            "targets": _targets(plan, row),
            "deliverables": [],
        }
        result.communes.append(entry)
        for key in total:
            total[key] += entry[key]
    if result.has_deliverables:
        await _add_deliverables(conn, plan, result)
    total["share"] = _share(total["households_visited"], total["households"])
    result.total = total
    return result


def commune_deadlines(plan: Plan) -> list[Deadline]:
    """The plan's deadlines that communes deliver (their dates go in the summary)."""
    return [d for d in plan.deadlines if any(level == "commune" for _role, level in d.audience)]


async def _add_deliverables(conn: AsyncConnection, plan: Plan, summary: Summary) -> None:
    """Each commune's delivery date for each commune deadline (None: not delivered)."""
    tz = ZoneInfo(plan.timezone)
    codes = [commune["code"] for commune in summary.communes]
    for deadline in commune_deadlines(plan):
        found = await deliverables.for_units(conn, deadline.key, codes)
        for commune in summary.communes:
            item = found.get(commune["code"])
            commune["deliverables"].append(
                {
                    "key": deadline.key,
                    "title": deadline.title,
                    "day": item.done_at.astimezone(tz).date() if item else None,
                }
            )


def markdown(texts: Texts, summary: Summary) -> str:
    text = texts.render(
        "digest.summary.markdown",
        plan=summary.plan.title,
        root=summary.root.name,
        day=summary.day,
        total=summary.total,
        targets=_targets(summary.plan, {**_blank(summary.plan)}),
        communes=summary.communes,
        deliverables=summary.has_deliverables,
    )
    if not summary.has_deliverables:
        text += "\n\n_" + texts.render("digest.summary.no_deliverables") + "_"
    return text + "\n"


def _blank(plan: Plan) -> dict[str, Any]:
    """Figures with nothing in them: only the targets' labels and goals are read."""
    figures: dict[str, Any] = {"targets": {t.key: {"value": None} for t in plan.targets}}
    for t in plan.targets:
        figures[t.numerator] = figures[t.denominator] = 0
    return figures


def workbook_bytes(texts: Texts, summary: Summary) -> bytes:
    """One sheet, a row per commune (synchronous: call through asyncio.to_thread)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    t = texts.render
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = t("digest.summary.sheet")[:31]
    header = [
        t("digest.xlsx.col.name"),
        t("digest.xlsx.col.villages"),
        t("digest.xlsx.col.teams"),
        t("digest.xlsx.col.members_total"),
        *(t(f"labels.position.{p}") for p in roles.POSITIONS),
        t("digest.xlsx.col.households"),
        t("digest.xlsx.col.households_visited"),
    ]
    for target in summary.plan.targets:
        header.append(t("digest.xlsx.col.target_value", label=target.label))
        header.append(t("digest.xlsx.col.target_goal", label=target.label))
    if summary.has_deliverables:
        for deadline in commune_deadlines(summary.plan):
            header.append(t("digest.xlsx.col.deliverable", title=deadline.title))
    sheet.append(sheets.row(sheet, header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for commune in summary.communes:
        counts = {p["key"]: p["count"] for p in commune["positions"]}
        row: list[Any] = [
            commune["name"],
            commune["villages"],
            commune["teams"],
            commune["members"],
            *(counts.get(p, 0) for p in roles.POSITIONS),
            commune["households"],
            commune["households_visited"],
        ]
        for target in commune["targets"]:
            row += [target["value"], target["goal"]]
        row += [item["day"] for item in commune["deliverables"]]
        sheet.append(sheets.row(sheet, row))
    first_target = 4 + len(roles.POSITIONS) + 3
    last_target = first_target + 2 * len(summary.plan.targets) - 1
    for column in sheet.iter_cols(min_col=first_target, max_col=last_target, min_row=2):
        for cell in column:
            cell.number_format = "0.0%"
    for column in sheet.iter_cols(min_col=last_target + 1, min_row=2):
        for cell in column:
            cell.number_format = "DD/MM/YYYY"
    sheet.freeze_panes = "B2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
