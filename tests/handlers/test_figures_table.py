"""Figures as one table (issue 10): a count added to core/figures.py flows everywhere.

tests/auxil/extra_figure.py adds a hypothetical count ("cks", people who signed digitally,
asked under a new flag "esign") to the tables in a process of its own, builds a fresh database
from the schema made from them, files a quick form using it and reads `bot stats --json` and a
commune export. No other code knows the figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, own_database

ROOT = Path(__file__).resolve().parents[2]
VILLAGE = "duc-chanh-thon-1"


async def run_probe(url: str, work: Path) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.auxil.extra_figure",
        url,
        str(work),
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "TELEGRAM_TOKEN"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, err.decode("utf-8")[-3000:]
    return dict(json.loads(out))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_figure_added_to_the_table_flows_from_quick_form_to_stats_and_export(
    backend: str, tmp_path: Path
) -> None:
    async with own_database(backend, tmp_path) as url:
        shown = await run_probe(url, tmp_path)

    # The quick form reads the new key, names the flag it implies, and lists it.
    assert "Đã hướng dẫn: Dịch vụ công, Đăng ký định danh mức 2, Ký số" in shown["quick"]
    assert "ĐK mức 2: 1 · Kích hoạt: 0 · C-Quảng Ngãi: 0 · Ký số: 2" in shown["quick"]
    # Its value is checked like any count.
    assert "Số liệu “cks=abc” không đúng ạ." in shown["wrong"]
    # The member's tally counts it.
    assert "· C-Quảng Ngãi: 0 · Ký số: 2 · Hộ thành thạo: 0" in shown["tally"]
    # `bot stats --json`, for the village and its commune (aggregates of the subtree).
    assert shown["stats"][VILLAGE]["esign_done"] == 2
    assert shown["stats"]["duc-chanh"]["esign_done"] == 2
    assert shown["stats"][VILLAGE]["reports"] == 1
    # The export: the village's row on the level sheet, and the household's outcome.
    (village,) = [row for row in shown["villages"] if row["Mã"] == VILLAGE]
    assert village["Người đã ký số"] == 2
    assert village["Số báo cáo"] == 1
    (household,) = shown["households"]
    assert household["Người đã ký số"] == 2
    assert household["Đăng ký ĐDĐT mức 2"] == 1
