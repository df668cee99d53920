"""XLSX exports: one sheet per level of the area, team members, and the households visited.

Who sees what (personal data kept to what the role needs):
- the village team's leader, for their own village: head-of-household names and addresses;
- everyone else (commune and district officers, admins, a leader looking anywhere else, the
  shell without --with-names): households by number only (their id), with their outcomes;
  no names, no addresses. Team members' display names are shown: they are the officials'
  own teams, and no phone number is ever stored for them.
Figures per unit are the `stats --json` contract (handlers/services/stats.py), so the file
and the CLI always agree.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core import figures as table
from core import roles
from core.privacy import mask_numbers
from db.models import Person, Unit
from db.repos import exports as repo
from db.repos import units
from handlers.services import sheets, stats
from handlers.services.plan import Plan
from handlers.texts import Texts

KINDS = ("province", "district", "commune", "village")
# The level sheets' columns: contract keys, then each target's value and goal.
FIGURE_COLUMNS = (
    "code",
    "name",
    "parent",
    "households",
    "eligible_citizens",
    "working_age",
    "reports",
    "households_visited",
    "households_dvc_payment",
    "proficient_households",
    *(count.statistic for count in table.COUNTS),
)
MEMBER_COLUMNS = (
    "member",
    "role",
    "position",
    "village",
    "village_code",
    "reports",
    "member_households",
)
HOUSEHOLD_COLUMNS = (
    "household_id",
    "village",
    "size",
    "visits",
    "dvc_payment",
    "proficient",
    *(count.state for count in table.COUNTS),
    "last_visit",
)
NAME_COLUMNS = ("head_name", "address")


@dataclass
class ExportData:
    unit: Unit
    day: date
    plan: Plan
    names: bool
    levels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)
    members: list[dict[str, Any]] = field(default_factory=list)
    households: list[dict[str, Any]] = field(default_factory=list)


def may_see_names(person: Person | None, unit: Unit) -> bool:
    """Only the village's own leader sees head-of-household names, for that village."""
    return (
        person is not None
        and roles.can(person.role, roles.SEE_NAMES, roles.OWN)
        and unit.kind == "village"
        and person.unit_code == unit.code
    )


async def gather(
    conn: AsyncConnection, plan: Plan, unit: Unit, *, names: bool, day: date
) -> ExportData:
    """Read everything the file holds (names only when `names` and the unit is a village)."""
    names = names and unit.kind == "village"
    data = ExportData(unit=unit, day=day, plan=plan, names=names)
    tree = await units.subtree(conn, unit)
    figures = await stats.for_many(conn, plan, tree)
    for member, row in zip(tree, figures, strict=True):
        data.levels.setdefault(member.kind, []).append(row)
        data.parents[member.code] = member.parent_code
    data.members = await repo.members(conn, unit.path)
    data.households = await repo.visited_households(conn, unit.path, with_names=names)
    return data


def _cell(sheet: Any, value: Any, number_format: str | None = None) -> Any:
    return sheets.cell(sheet, value, number_format)


def _header(sheet: Any, labels: list[str]) -> None:
    from openpyxl.styles import Font

    bold = Font(bold=True)
    cells = []
    for label in labels:
        cell = _cell(sheet, label)
        cell.font = bold
        cells.append(cell)
    sheet.append(sheets.row(sheet, cells))


def _sheet(book: Any, title: str, widths: list[int]) -> Any:
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title=title[:31])
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    return sheet


def level_labels(texts: Texts, plan: Plan) -> list[str]:
    labels = [texts.render(f"digest.xlsx.col.{key}") for key in FIGURE_COLUMNS]
    for target in plan.targets:
        labels.append(texts.render("digest.xlsx.col.target_value", label=target.label))
        labels.append(texts.render("digest.xlsx.col.target_goal", label=target.label))
    return labels


def workbook_bytes(texts: Texts, data: ExportData) -> bytes:
    """The XLSX file (openpyxl, write-only: rows are streamed). Synchronous: use a thread."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    t = texts.render
    about = _sheet(book, t("digest.xlsx.sheet.about"), [24, 80])
    privacy = "privacy_names" if data.names else "privacy_no_names"
    for line in (
        [t("digest.xlsx.about.title")],
        [t("digest.xlsx.about.unit"), f"{data.unit.name} ({data.unit.code})"],
        [t("digest.xlsx.about.day"), _cell(about, data.day, "DD/MM/YYYY")],
        [t("digest.xlsx.about.plan"), data.plan.title],
        ["", t(f"digest.xlsx.about.{privacy}")],
    ):
        about.append(sheets.row(about, line))

    labels = level_labels(texts, data.plan)
    for kind in KINDS:
        rows = data.levels.get(kind)
        if not rows:
            continue
        sheet = _sheet(
            book, t(f"digest.xlsx.sheet.{kind}"), [22, 28, 18] + [14] * (len(labels) - 3)
        )
        _header(sheet, labels)
        for row in rows:
            values: list[Any] = [row["unit"], row["name"], data.parents.get(row["unit"]) or ""]
            values += [row[key] for key in FIGURE_COLUMNS[3:]]
            for target in data.plan.targets:
                values.append(_cell(sheet, row["targets"][target.key]["value"], "0.0%"))
                values.append(_cell(sheet, target.goal, "0%"))
            sheet.append(sheets.row(sheet, values))

    yes, no = t("digest.xlsx.yes"), t("digest.xlsx.no")
    sheet = _sheet(book, t("digest.xlsx.sheet.members"), [28, 16, 20, 24, 22, 12, 14])
    _header(sheet, [t(f"digest.xlsx.col.{key}") for key in MEMBER_COLUMNS])
    for member in data.members:
        role = t(f"labels.role.{member['role']}")
        position = t(f"labels.position.{member['position']}") if member["position"] else ""
        name = mask_numbers(member["display_name"] or "").strip() or f"#{member['id']}"
        sheet.append(
            sheets.row(
                sheet,
                [
                    name,
                    role,
                    position,
                    member["village"],
                    member["unit_code"],
                    int(member["reports"]),
                    int(member["households"]),
                ],
            )
        )

    columns = list(HOUSEHOLD_COLUMNS)
    if data.names:
        columns[1:1] = NAME_COLUMNS
    sheet = _sheet(book, t("digest.xlsx.sheet.households"), [10] + [18] * (len(columns) - 1))
    _header(sheet, [t(f"digest.xlsx.col.{key}") for key in columns])
    for household in data.households:
        shown = {
            **household,
            "household_id": household["id"],
            "dvc_payment": yes if household["dvc_payment"] else no,
            "proficient": yes if household["proficient"] else no,
            "last_visit": repo.as_date(household["last_visit"]),
        }
        sheet.append(
            sheets.row(
                sheet,
                [
                    _cell(sheet, shown[key], "DD/MM/YYYY") if key == "last_visit" else shown[key]
                    for key in columns
                ],
            )
        )

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def file_name(unit: Unit, day: date) -> str:
    return f"so-lieu-{unit.code}-{day.isoformat()}.xlsx"


async def export_xlsx(
    conn: AsyncConnection, texts: Texts, plan: Plan, unit: Unit, *, names: bool, day: date
) -> bytes:
    """Gather the figures, then build the file in a worker thread."""
    data = await gather(conn, plan, unit, names=names, day=day)
    return await asyncio.to_thread(workbook_bytes, texts, data)
