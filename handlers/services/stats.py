"""Statistics against the plan's targets, read from maintained aggregates."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core import figures as table
from core.errors import UnknownUnit
from db.models import Unit
from db.repos import stats, units
from handlers.services.plan import Plan


def _figures(unit: Unit, row: dict[str, int]) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "unit": unit.code,
        "name": unit.name,
        "households": row.get("total_households", 0),
        "eligible_citizens": row.get("total_eligible_citizens", 0),
        "working_age": row.get("total_working_age", 0),
        "reports": row.get("reports", 0),
        "households_visited": row.get("households_visited", 0),
        "households_dvc_payment": row.get("households_dvc_payment", 0),
        "proficient_households": row.get("proficient_households", 0),
    }
    for count in table.COUNTS:
        # Baselines from the units file count in: the targets are about the whole population.
        baseline = row.get(f"total_{count.baseline}", 0) if count.baseline else 0
        figures[count.statistic] = baseline + row.get(count.statistic, 0)
    return figures


def with_targets(figures: dict[str, Any], plan: Plan) -> dict[str, Any]:
    targets = {}
    for target in plan.targets:
        numerator = figures[target.numerator]
        denominator = figures[target.denominator]
        value = round(numerator / denominator, 4) if denominator else None
        targets[target.key] = {"value": value, "goal": target.goal}
    return {**figures, "targets": targets}


async def for_unit(conn: AsyncConnection, plan: Plan, code: str) -> dict[str, Any]:
    """The statistics contract for a unit and its whole subtree."""
    unit = await units.get(conn, code)
    if unit is None:
        raise UnknownUnit(code=code)
    rows = await stats.for_units(conn, [code])
    return with_targets(_figures(unit, rows.get(code, {})), plan)


async def for_children(conn: AsyncConnection, plan: Plan, code: str) -> list[dict[str, Any]]:
    """The same for each direct child of the unit, by name."""
    kids = await units.children(conn, code)
    rows = await stats.for_units(conn, [kid.code for kid in kids])
    return [with_targets(_figures(kid, rows.get(kid.code, {})), plan) for kid in kids]


async def for_many(conn: AsyncConnection, plan: Plan, wanted: list[Unit]) -> list[dict[str, Any]]:
    """The contract for each of the given units (one read of the aggregates), in that order."""
    rows = await stats.for_units(conn, [unit.code for unit in wanted])
    return [with_targets(_figures(unit, rows.get(unit.code, {})), plan) for unit in wanted]


def as_json(figures: dict[str, Any]) -> str:
    """The contract as `python -m bot stats --json` prints it (and the dashboard's API serves)."""
    return json.dumps(figures, ensure_ascii=False, indent=None, default=str)
