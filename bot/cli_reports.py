"""Report commands: `export` (the /xuat XLSX from the shell) and `summary` (the 20/10 report).

Registered by bot/cli.py (see EXTENSIONS there).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app import App
from core.errors import UnknownUnit
from db.repos import units
from handlers.services import exports, summary


def add_commands(sub: Any) -> dict[tuple[str, ...], Any]:
    """Add this group's subcommands to `sub`; return {(command, subcommand): runner}."""
    export = sub.add_parser(
        "export", help="XLSX of an area: a sheet per level, members, households"
    )
    export.add_argument("--unit", help="unit code (default: the plan's root unit)")
    export.add_argument("--out", required=True, help="the .xlsx file to write")
    export.add_argument(
        "--with-names",
        action="store_true",
        help="include head-of-household names and addresses (a village only)",
    )

    report = sub.add_parser("summary", help="the summary report by commune (Markdown and/or XLSX)")
    report.add_argument("--unit", help="unit code (default: the plan's root unit)")
    report.add_argument(
        "--out",
        required=True,
        help="FILE.md, FILE.xlsx, or a name without extension to write both",
    )
    return {("export",): cmd_export, ("summary",): cmd_summary}


def _today(app: App) -> Any:
    return datetime.now(UTC).astimezone(app.services.tz).date()


async def _unit(app: App, code: str | None) -> Any:
    wanted = code or app.services.plan.root_unit
    async with app.db.read() as conn:
        unit = await units.get(conn, wanted)
    if unit is None:
        raise UnknownUnit(code=wanted)
    return unit


async def cmd_export(app: App, args: argparse.Namespace) -> int:
    unit = await _unit(app, args.unit)
    if args.with_names and unit.kind != "village":
        print("--with-names is for one village only: names are left out", flush=True)
    services = app.services
    async with app.db.read() as conn:
        content = await exports.export_xlsx(
            conn, services.texts, services.plan, unit, names=args.with_names, day=_today(app)
        )
    await asyncio.to_thread(Path(args.out).write_bytes, content)
    print(f"wrote {args.out} ({len(content)} bytes)")
    return 0


async def cmd_summary(app: App, args: argparse.Namespace) -> int:
    unit = await _unit(app, args.unit)
    services = app.services
    async with app.db.read() as conn:
        found = await summary.build(conn, services.texts, services.plan, unit, _today(app))
    out = Path(args.out)
    targets = (
        [out]
        if out.suffix.lower() in (".md", ".xlsx")
        else [
            out.with_suffix(".md"),
            out.with_suffix(".xlsx"),
        ]
    )
    for path in targets:
        if path.suffix.lower() == ".md":
            content = summary.markdown(services.texts, found).encode("utf-8")
        else:
            content = await asyncio.to_thread(summary.workbook_bytes, services.texts, found)
        await asyncio.to_thread(path.write_bytes, content)
        print(f"wrote {path}")
    if not found.has_deliverables:
        print("note: no deliverables table yet: the deliverables' dates are left out")
    return 0
