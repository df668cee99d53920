"""No exported cell is a formula: hostile names, addresses and unit names stay text (sheets.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl

from bot.app import App
from handlers.services import unitsfile
from tests.auxil.chat import Chat, Clock
from tests.handlers.test_digest import OCT_2, VILLAGE, person, run_bot

UNITS_CSV = Path(__file__).resolve().parents[2] / "content" / "units" / "mo-duc-2024.csv"
# What spreadsheet programs take for the start of a formula (OWASP "CSV injection").
HOSTILE = [
    "=1+1",
    "+cmd",
    "-2+3",
    "@SUM(A1)",
    "\t=3+3",
    "\r=4+4",
    '=HYPERLINK("http://x.example","Bấm")',
]


async def hostile_district(app: App) -> Chat:
    """A commune and a village named like formulas; members named like formulas, reporting
    households whose names and addresses look like formulas too."""
    text = UNITS_CSV.read_text(encoding="utf-8")
    text = text.replace("duc-chanh,Xã Đức Chánh,", "duc-chanh,=1+1,")
    text = text.replace(f"{VILLAGE},Thôn 1 (tên mẫu),", f"{VILLAGE},@SUM(A1),")
    async with app.db.transaction() as conn:
        await unitsfile.import_csv(conn, text)
    clock = Clock(OCT_2)
    for number, name in enumerate(HOSTILE):
        member = await person(app, "member", VILLAGE, f"m{number}", name, clock, "Giáo viên")
        await member.send(f"/bc +cmd {number}; -2+3 xóm {number}; dvc")
        assert "Đã lưu" in member.text, member.text
    return await person(app, "leader", VILLAGE, "lead", "-Tổ Trưởng", clock, "Tổ trưởng")


def cells(book: Any) -> list[Any]:
    return [cell for sheet in book for row in sheet.iter_rows() for cell in row]


def assert_no_formula(book: Any, expected: set[str]) -> None:
    """No cell is a formula, and each expected text is shown as it is, as text."""
    found = cells(book)
    formulas = [(cell.coordinate, cell.value) for cell in found if cell.data_type == "f"]
    assert formulas == []
    shown = {cell.value: cell for cell in found if isinstance(cell.value, str)}
    for text in expected:
        assert text in shown, (text, sorted(shown))
        assert shown[text].data_type == "s" and shown[text].quotePrefix, text


MEMBERS = {name.strip() for name in HOSTILE} | {"-Tổ Trưởng"}
HOUSEHOLDS = {f"+cmd {n}" for n in range(len(HOSTILE))} | {
    f"-2+3 xóm {n}" for n in range(len(HOSTILE))
}


async def test_the_leaders_file_from_chat_has_no_formula(app: App) -> None:
    leader = await hostile_district(app)
    replies = await leader.send("/xuat")
    document = replies[-1].document
    assert document is not None
    book = openpyxl.load_workbook(io.BytesIO(document[1]))
    assert_no_formula(book, MEMBERS | HOUSEHOLDS | {"@SUM(A1)"})


async def test_cli_export_and_summary_have_no_formula(
    app: App, database_url: str, tmp_path: Path
) -> None:
    await hostile_district(app)
    village = tmp_path / "village.xlsx"
    status, _out, err = await run_bot(
        database_url, "export", "--unit", VILLAGE, "--with-names", "--out", str(village)
    )
    assert status == 0, err
    assert_no_formula(openpyxl.load_workbook(village), MEMBERS | HOUSEHOLDS | {"@SUM(A1)"})

    district = tmp_path / "district.xlsx"
    status, _out, err = await run_bot(database_url, "export", "--out", str(district))
    assert status == 0, err
    assert_no_formula(openpyxl.load_workbook(district), MEMBERS | {"=1+1", "@SUM(A1)"})

    summary = tmp_path / "summary.xlsx"
    status, _out, err = await run_bot(database_url, "summary", "--out", str(summary))
    assert status == 0, err
    book = openpyxl.load_workbook(summary)
    assert_no_formula(book, {"=1+1"})
    assert [c.value for c in cells(book) if c.value == "=1+1"] == ["=1+1"]
