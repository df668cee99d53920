"""Spreadsheet cells that are always data: no text a person typed ever becomes a formula.

openpyxl stores any string that starts with "=" as a formula, so a member whose chat name is
``=HYPERLINK(...)`` would put a live formula in every officer's file. Excel and LibreOffice also
start a formula when text beginning with "+", "-" or "@" (or a tab or carriage return before
them) is edited or pasted ("CSV injection", OWASP). So every string goes into a cell here:

- it is a string cell (``data_type`` "s"), never a formula, whatever it starts with;
- when it starts with one of those characters the cell also gets the ``quotePrefix`` format
  (the apostrophe Excel shows in the formula bar, not in the cell): the visible text is exactly
  what was stored, and editing the cell keeps it text;
- characters XML cannot hold (control characters) are dropped instead of failing the file.

Numbers, dates and booleans are written as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# What spreadsheet programs read as the start of a formula (full-width forms included: some
# input methods type them, and some versions of Excel accept them).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_START)


def cell(sheet: Any, value: Any, number_format: str | None = None) -> Any:
    """A cell of `sheet` holding `value`; strings are always text (see the module's notes)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell  # loaded when a file is built

    if isinstance(value, Cell):
        found = value
    else:
        text = ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value
        # Placed by append (row and column are set there); write-only sheets need them set.
        found = Cell(sheet, row=1, column=1, value=text)
    if isinstance(found.value, str):
        found.data_type = "s"
        if looks_like_formula(found.value):
            found.quotePrefix = True
    if number_format:
        found.number_format = number_format
    return found


def row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """A row for ``sheet.append``: every value made a safe cell."""
    return [cell(sheet, value) for value in values]
