"""A hypothetical sixth figure, added to core/figures.py's tables at run time (issue 10).

Run as `python -m tests.auxil.extra_figure DATABASE_URL WORK_DIR`, in a process of its own:
the tables are read when the schema and the modules built from them are imported, so the
figure is added before anything else of ours is imported. The database is built from that
schema (metadata.create_all: migrations are hand-written history and know nothing of the new
figure). A member files a quick form using it, a commune officer exports the commune, and
`bot stats --json` is run; what each showed is printed as one JSON object.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from core import figures

figures.SKILLS = (*figures.SKILLS, figures.Skill("esign", None))
figures.COUNTS = (
    *figures.COUNTS,
    figures.Count("cks", skill="esign", state="esign_done", statistic="esign_done"),
)

import openpyxl  # noqa: E402
import yaml  # noqa: E402
from alembic import command  # noqa: E402

from bot import cli  # noqa: E402
from bot.app import App  # noqa: E402
from db.engine import Database, _alembic_config  # noqa: E402
from db.schema import metadata  # noqa: E402
from tests.auxil.chat import join  # noqa: E402
from tests.conftest import reset, settings_for  # noqa: E402

VILLAGE = "duc-chanh-thon-1"
COMMUNE = "duc-chanh"
# The figure's label keys, as its row in vi.yaml would add them.
LABELS = {
    "labels": {
        "skill": {"esign": "Ký số"},
        "count_field": {"cks": "ký số"},
        "field": {"cks": "Số người ký số (cks)"},
        "figure": {"cks": "Ký số"},
        "figure_short": {"cks": "Ký số"},
        "figure_tally": {"cks": "Ký số"},
    },
    "digest": {"xlsx": {"col": {"esign_done": "Người đã ký số"}}},
}


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict):
            _merge(into.setdefault(key, {}), value)
        else:
            into[key] = value


def messages_with_labels(work: Path) -> Path:
    catalog = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "content/messages/vi.yaml").read_text("utf-8")
    )
    _merge(catalog, LABELS)
    path = work / "vi.yaml"
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    return path


def sheet_rows(book: Any, title: str) -> list[dict[str, Any]]:
    rows = list(book[title].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


async def play(url: str, messages: Path) -> dict[str, Any]:
    db = Database(url)
    async with db.transaction() as conn:
        await conn.run_sync(metadata.create_all)
        # Marked as migrated, so `bot stats` finds nothing to upgrade.
        await conn.run_sync(lambda sync: command.stamp(_alembic_config(sync), "head"))
    await db.close()
    app = await App.open(settings_for(url, messages_file=messages), migrate=False)
    try:
        await reset(app.db)
        member = await join(app, "member", VILLAGE, "m1")
        await member.press("Công an viên")
        await member.send("/bc Nguyễn Văn An; số 12; dvc; cks=2 dk2=1")
        quick = member.text
        await member.send("/bc Trần Thị Bình; số 3; cks=abc")
        wrong = member.text
        await member.send("/cuatoi")
        tally = member.text
        officer = await join(app, "commune_officer", COMMUNE, "off")
        replies = await officer.send("/xuat")
        document = replies[-1].document
        assert document is not None, replies[-1].text
        book = openpyxl.load_workbook(io.BytesIO(document[1]))
        return {
            "quick": quick,
            "wrong": wrong,
            "tally": tally,
            "villages": sheet_rows(book, "Thôn, TDP"),
            "households": sheet_rows(book, "Hộ đã hướng dẫn"),
        }
    finally:
        await app.close()


def stats_json(url: str, messages: Path, code: str) -> Any:
    os.environ["DATABASE_URL"] = url
    os.environ["MESSAGES_FILE"] = str(messages)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["stats", "--unit", code, "--json"])
    assert status == 0
    return json.loads(out.getvalue())


def main() -> None:
    url, work = sys.argv[1], Path(sys.argv[2])
    messages = messages_with_labels(work)
    shown = asyncio.run(play(url, messages))
    shown["stats"] = {code: stats_json(url, messages, code) for code in (VILLAGE, COMMUNE)}
    print(json.dumps(shown, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
