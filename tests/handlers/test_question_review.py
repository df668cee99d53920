"""The loop that keeps content alive: officers and admins see the questions residents ask most
that got no guide or an unsure answer (masked), in chat (/cauhoi, paged) and from the command
line (`python -m bot questions --low-confidence --top N`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from bot.app import App
from bot.render import plain
from core import roles
from tests.auxil.chat import Chat, join

ROOT = Path(__file__).resolve().parents[2]


async def ask_many(app: App) -> None:
    """Residents ask: one unanswerable question three times (once with a phone number), one
    twice, and a few clear questions."""
    for n, text in enumerate(
        [
            "giá lúa hôm nay",
            "Giá lúa   hôm nay",
            "thời tiết mai",
            "giá lúa hôm nay",
            "thời tiết mai",
            "lam sao kich hoat vneid",
            "gọi giúp tôi số 0905 123 456 được không",
        ]
    ):
        await Chat(app, f"r-review-{n}").send(text)


async def test_an_officer_sees_the_most_frequent_doubtful_questions_masked(app: App) -> None:
    await ask_many(app)
    officer = await join(app, roles.COMMUNE_OFFICER, "duc-chanh", "o-review")
    replies = await officer.send("/cauhoi")
    text = plain(replies[-1].text)
    lines = [line for line in text.splitlines() if line[:2] in ("1.", "2.", "3.", "4.")]
    assert lines[0].startswith("1. giá lúa hôm nay — 3 lần")
    assert lines[1].startswith("2. thời tiết mai — 2 lần")
    assert "kich hoat vneid" not in text  # answered with confidence
    assert "0905" not in text and "123 456" not in text


async def test_many_questions_are_paged(app: App) -> None:
    for n in range(12):
        await Chat(app, f"r-page-{n}").send(f"giá heo hơi loại {'abcdefghijkl'[n]} hôm nay")
    admin = await join(app, roles.ADMIN, "mo-duc", "a-review")
    first = await admin.send("/cauhoi")
    assert "trang 1/2" in plain(first[-1].text)
    second = await admin.press("Trang sau ▶")
    body = plain(second[-1].text)
    assert "trang 2/2" in body
    assert "11. " in body and "12. " in body


async def test_residents_and_team_members_cannot_list_questions(app: App) -> None:
    member = await join(app, roles.MEMBER, "duc-chanh-thon-1", "m-review")
    replies = await member.send("/cauhoi")
    assert "/cauhoi" in plain(replies[-1].text)
    assert "Câu hỏi của người dân" not in plain(replies[-1].text)
    resident = Chat(app, "r-review-cmd")
    replies = await resident.send("/cauhoi")
    assert "Câu hỏi của người dân" not in plain(replies[-1].text)


async def test_nothing_doubtful_says_so(app: App) -> None:
    officer = await join(app, roles.DISTRICT_OFFICER, "mo-duc", "o-empty")
    replies = await officer.send("/cauhoi")
    assert "Chưa có câu hỏi nào" in plain(replies[-1].text)


async def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "ZALO_")) and key != "DATABASE_URL"
    }
    environment["DATABASE_URL"] = database_url
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "questions", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
    )


async def test_the_cli_groups_by_frequency(app: App, database_url: str) -> None:
    await ask_many(app)
    result = await run_cli(database_url, "--unanswered", "--low-confidence", "--top", "2", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["text"].lower().split(), r["count"]) for r in rows] == [
        ("giá lúa hôm nay".split(), 3),
        ("thời tiết mai".split(), 2),
    ]
    assert "0905" not in result.stdout
    plain_result = await run_cli(database_url, "--unanswered", "--top", "1")
    assert plain_result.stdout.split()[0] == "3x"
    missing = await run_cli(database_url)
    assert missing.returncode == 2
    assert "--unanswered" in missing.stderr
