"""What a fresh database loads (UNITS_FILE): one units CSV, or a YAML list of steps.

A steps file (content/units/quang-ngai-2026-start.yaml) lists `import: FILE` (with an optional
`under: UNIT`) and `reorganize: FILE` (with `effective: YYYY-MM-DD`) in order, file names
relative to it: the same as running `units import` and `units reorganize` by hand.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import yaml
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import UnitsFileError
from handlers.services import reorganize, unitsfile
from handlers.texts import Texts


async def load(conn: AsyncConnection, path: Path, *, texts: Texts, now: datetime) -> int:
    """Load `path` in this transaction; returns how many units were inserted."""
    text = path.read_text(encoding="utf-8")  # noqa: ASYNC240 - once, at start-up
    if path.suffix.lower() not in (".yaml", ".yml"):
        inserted, _ = await unitsfile.import_csv(conn, text)
        return inserted
    raw = yaml.safe_load(text) or {}
    total = 0
    for number, step in enumerate(raw.get("steps") or [], start=1):
        if "import" in step:
            text = (path.parent / step["import"]).read_text(encoding="utf-8")
            inserted, _ = await unitsfile.import_csv(conn, text, under=step.get("under"))
            total += inserted
        elif "reorganize" in step:
            effective = step.get("effective")
            if not isinstance(effective, date):
                raise UnitsFileError(number, "a reorganize step needs effective: YYYY-MM-DD")
            text = (path.parent / step["reorganize"]).read_text(encoding="utf-8")
            await reorganize.apply(conn, text, effective=effective, texts=texts, now=now)
        else:
            raise UnitsFileError(number, "a step is `import: FILE` or `reorganize: FILE`")
    return total
