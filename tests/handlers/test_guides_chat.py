"""Residents asking in their own words, browsing guides and stepping through them, in the chat.

Everything goes through the real dispatcher and database; the search itself is covered in
test_guide_search.py, here we check what a resident sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.app import App
from bot.render import ZALO, as_texts, plain
from core.events import Reply
from db.repos import questions
from db.schema import metadata
from handlers.guides.library import Guide
from tests.auxil.chat import Chat, join

ROOT = Path(__file__).resolve().parents[2]
VILLAGE = "tt-mo-duc-tdp-1"


def guide(app: App, guide_id: str) -> Guide:
    found = app.services.guides.get(guide_id)
    assert found is not None, guide_id
    return found


def shown_guide(app: App, replies: list[Reply]) -> str | None:
    """The id of the guide whose step is on screen (by its title heading the message)."""
    assert len(replies) == 1, [r.text for r in replies]
    first_line = plain(replies[0].text).splitlines()[0]
    for candidate in app.services.guides.all():
        if first_line == candidate.title:
            return candidate.id
    return None


def step_of(reply: Reply) -> tuple[int, int]:
    match = re.search(r"Bước (\d+)/(\d+)", plain(reply.text))
    assert match, reply.text
    return int(match.group(1)), int(match.group(2))


def labels(reply: Reply) -> list[str]:
    return [choice.label for choice in reply.flat_choices()]


# -- asking in free text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "guide_id"),
    [
        ("lam sao kich hoat vneid", "vneid-activate"),
        ("app bo cong an quen mk 6 so", "vneid-passcode-reset"),
    ],
)
async def test_a_resident_typing_loosely_gets_step_one_of_the_right_guide(
    app: App, question: str, guide_id: str
) -> None:
    resident = Chat(app, "r-ask", name="Bà Năm")
    replies = await resident.send(question)
    assert shown_guide(app, replies) == guide_id
    assert step_of(replies[0]) == (1, len(guide(app, guide_id).steps))
    assert "Tiếp" in " ".join(labels(replies[0]))
    assert not any("Quay lại" in label for label in labels(replies[0]))
    # Step 1 is not the last one: the sources wait for the end.
    assert "Nguồn:" not in resident.text
    # Always a way out: the menu and the village team.
    assert any("Các chủ đề" in label for label in labels(replies[0]))
    assert any("Nhờ Tổ giúp" in label for label in labels(replies[0]))


async def test_next_and_back_walk_the_steps_and_the_last_shows_sources_and_date(
    app: App,
) -> None:
    chosen = guide(app, "vneid-activate")
    total = len(chosen.steps)
    resident = Chat(app, "r-walk")
    await resident.send("lam sao kich hoat vneid")
    for expected in range(2, total + 1):
        replies = await resident.press("Tiếp")
        assert step_of(replies[0]) == (expected, total)
        assert replies[0].edit  # the step replaces the one whose button was pressed
        heading = chosen.steps[expected - 1].title
        assert re.sub(r"^\s*(bước\s*)?\d+\s*[.:)]\s*", "", heading, flags=re.I) in plain(
            replies[0].text
        )
    last = resident.screen[0]
    assert not any("Tiếp" in label for label in labels(last))
    text = plain(last.text)
    assert "Nguồn:" in text
    for source in chosen.sources:
        assert source in text
    assert chosen.verified.strftime("%d/%m/%Y") in text

    replies = await resident.press("Quay lại")
    assert step_of(replies[0]) == (total - 1, total)
    assert "Nguồn:" not in plain(replies[0].text)
    for _ in range(total - 2):
        await resident.press("Quay lại")
    assert step_of(resident.screen[0]) == (1, total)
    assert plain(resident.screen[0].text).startswith(chosen.title)


async def test_on_zalo_typing_the_button_words_moves_through_the_steps(app: App) -> None:
    resident = Chat(app, "r-zalo", channel="zalo")
    await resident.send("app bo cong an quen mk 6 so")
    assert step_of(resident.screen[0])[0] == 1
    await resident.send("tiep")
    assert step_of(resident.screen[0])[0] == 2
    await resident.send("quay lai")
    assert step_of(resident.screen[0])[0] == 1


async def test_every_step_of_every_guide_fits_one_zalo_message_without_raw_markdown(
    app: App,
) -> None:
    resident = Chat(app, "r-all", channel="zalo")
    checked = 0
    for each in app.services.guides.all():
        # Only offered buttons count: open the guide from its category, then press "Tiếp".
        await resident.send("/chude")
        await resident.press_data(f"a:gc:{each.category}")
        for number in range(1, len(each.steps) + 1):
            replies = await resident.press_data(f"a:g:{each.id}:{number}")
            assert len(replies) == 1, (each.id, number)
            reply = replies[0]
            assert step_of(reply) == (number, len(each.steps)), (each.id, number)
            pieces = as_texts(reply, ZALO)
            assert len(pieces) == 1, (each.id, number, len(plain(reply.text)))
            assert len(pieces[0]) <= 2000
            for marker in ("**", "##", "__", "](http", "```"):
                assert marker not in reply.text, (each.id, number, marker)
            for line in plain(reply.text).splitlines():
                assert not line.lstrip().startswith("#"), (each.id, number, line)
            checked += 1
    assert checked >= 24 * 3


async def test_an_unknown_guide_or_step_button_is_answered_as_stale(app: App) -> None:
    resident = Chat(app, "r-stale")
    await resident.press_data("a:g:no-such-guide:1")
    assert "Nút này đã cũ" in resident.text
    await resident.press_data("a:g:vneid-activate:abc")
    assert "Nút này đã cũ" in resident.text
    await resident.press_data("a:gc:no-such-category")
    assert "Nút này đã cũ" in resident.text


async def test_a_step_that_was_never_offered_is_stale(app: App) -> None:
    resident = Chat(app, "r-past")
    await resident.press_data("a:g:vneid-activate:99")
    assert "Nút này đã cũ" in resident.text
    await resident.send("/chude")
    await resident.press_data("a:gc:vneid")
    replies = await resident.press_data("a:g:vneid-activate:1")
    assert step_of(replies[0])[0] == 1
    await resident.press_data("a:g:vneid-activate:3")  # "Tiếp" offers step 2 only
    assert "Nút này đã cũ" in resident.text


# -- urgent help first, without the same steps twice -------------------------------------------

OTP_GIVEN = "tui lỡ đọc mã OTP cho người gọi điện xưng ngân hàng"


async def test_on_zalo_danger_now_costs_two_messages_and_never_the_same_steps_twice(
    app: App,
) -> None:
    act_now = guide(app, "safety-act-now")
    resident = Chat(app, "r-zalo-urgent", channel="zalo")
    replies = await resident.send(OTP_GIVEN)
    sent = [piece for reply in replies for piece in as_texts(reply, ZALO)]
    assert len(sent) == 2
    urgent, steps = (plain(r.text) for r in replies)
    assert urgent == plain(app.services.texts.render("urgent.now"))  # exact: test_urgent.py
    assert steps == (
        f"{act_now.title}\n\nBước 3/9: Lỡ đưa mã OTP, mật khẩu, số thẻ\n{act_now.steps[2].text}"
    )
    # the introduction and the first two steps repeat the urgent reply: left out
    assert act_now.intro not in steps
    assert act_now.steps[0].text not in steps
    assert act_now.steps[1].text not in steps


async def test_the_act_now_guide_opened_from_the_menu_keeps_its_introduction(app: App) -> None:
    act_now = guide(app, "safety-act-now")
    resident = Chat(app, "r-menu-act-now")
    await resident.send("/chude")
    await resident.press("An toàn trên mạng")
    replies = await resident.press(act_now.title)
    assert plain(replies[0].text) == (
        f"{act_now.title}\n{act_now.intro}\n\nBước 1/9: Dừng lại ngay\n{act_now.steps[0].text}"
    )


# -- browsing by category -----------------------------------------------------------------------


async def test_browsing_the_menu_category_guide_and_back_to_the_menu(app: App) -> None:
    resident = Chat(app, "r-menu")
    replies = await resident.send("/chude")
    names = labels(replies[0])
    for category in (
        "VNeID",
        "Dịch vụ công",
        "Thanh toán",
        "Mua bán online",
        "An toàn trên mạng",
        "Ứng dụng của tỉnh",
        "Học kỹ năng số",
        "Liên hệ Tổ",
    ):
        assert any(category in name for name in names), category
    replies = await resident.press("VNeID")
    titles = labels(replies[0])
    vneid = app.services.guides.by_category("vneid")
    assert {g.title for g in vneid} <= set(titles)
    assert "Kích hoạt tài khoản VNeID" in titles
    replies = await resident.press("Kích hoạt tài khoản VNeID")
    assert shown_guide(app, replies) == "vneid-activate"
    replies = await resident.press("Các chủ đề")
    assert len(replies[0].flat_choices()) == len(names)


# -- no guide, greetings, thanks ----------------------------------------------------------------


async def test_no_guide_is_said_plainly_with_the_menu_and_the_team(app: App) -> None:
    resident = Chat(app, "r-none")
    replies = await resident.send("giá lúa hôm nay")
    assert len(replies) == 1
    assert "chưa có hướng dẫn" in resident.text
    assert "Bước" not in resident.text
    names = labels(replies[0])
    assert any("VNeID" in name for name in names)
    assert any("An toàn trên mạng" in name for name in names)
    assert any("Nhờ Tổ giúp" in name for name in names)
    # The team button leads to the village team.
    await resident.press("Nhờ Tổ giúp")
    assert "xã nào" in resident.text


@pytest.mark.parametrize(
    ("message", "expected"),
    [("chào bot", "chào bác"), ("cảm ơn nhé", "không có chi")],
)
async def test_greetings_and_thanks_get_a_short_answer_not_a_guide(
    app: App, message: str, expected: str
) -> None:
    resident = Chat(app, "r-social")
    replies = await resident.send(message)
    assert len(replies) == 1
    assert expected in resident.text.lower()
    assert "Bước" not in resident.text
    assert "chưa có hướng dẫn" not in resident.text


async def test_team_members_can_ask_too(app: App) -> None:
    member = await join(app, "member", VILLAGE, "m-ask")
    await member.press("Công an viên")
    replies = await member.send("lam sao kich hoat vneid")
    assert shown_guide(app, replies) == "vneid-activate"


# -- the question log keeps no personal numbers ---------------------------------------------------

PHONE_QUESTION = "giá lúa hôm nay, gọi giúp tôi số 0905 123 456 nhé"
ID_QUESTION = "giá lúa hôm nay, cccd của tôi 051234567890"
ANSWERED_ID_QUESTION = "cccd 051234567890 kich hoat vneid ko dc"
SECRETS = ("0905 123 456", "0905123456", "051234567890")


async def _everything_stored(app: App) -> str:
    """Every row of every table as text: where a full number must not appear."""
    dump = []
    async with app.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                dump.append(json.dumps(dict(row._mapping), default=str, ensure_ascii=False))
    return "\n".join(dump)


async def test_numbers_in_questions_are_stored_masked_and_never_in_full(
    app: App, database_url: str
) -> None:
    resident = Chat(app, "r-private")
    for question in (PHONE_QUESTION, ID_QUESTION, ANSWERED_ID_QUESTION):
        await resident.send(question)
    assert shown_guide(app, resident.screen) == "vneid-activate"

    async with app.db.read() as conn:
        rows = await questions.unanswered(conn, None)
    texts = [row["text"] for row in rows]
    assert texts == [
        "giá lúa hôm nay, gọi giúp tôi số *** nhé",
        "giá lúa hôm nay, cccd của tôi ***",
    ]
    assert all(row["role"] == "resident" and row["guide_id"] is None for row in rows)

    stored = await _everything_stored(app)
    assert "cccd *** kich hoat vneid ko dc" in stored  # answered questions are logged too
    for secret in SECRETS:
        assert secret not in stored
    for number in re.findall(r"(?:\d[\s.\-]?){7,}", stored):
        assert re.sub(r"\D", "", number) not in {"0905123456", "051234567890"}

    # What content editors read from the command line.
    result = await questions_cli(database_url, "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [row["text"] for row in listed] == texts
    for secret in SECRETS:
        assert secret not in result.stdout


async def test_questions_since_a_day_leaves_out_older_ones(app: App, database_url: str) -> None:
    resident = Chat(app, "r-since")
    await resident.send("giá lúa hôm nay")  # 2024-10-03
    resident.clock.advance(days=2)
    await resident.send("thời tiết mai")  # 2024-10-05
    result = await questions_cli(database_url, "--since", "2024-10-04")
    assert result.returncode == 0, result.stderr
    assert "thời tiết mai" in result.stdout
    assert "giá lúa" not in result.stdout


@pytest.mark.parametrize(
    "phone",
    ["(0905) 123 456", "0905 - 123 - 456", "0905  123  456"],
    ids=["brackets", "dash", "2sp"],
)
async def test_phone_numbers_typed_with_wider_separators_are_masked_too(
    app: App, phone: str
) -> None:
    resident = Chat(app, "r-wide")
    await resident.send(f"giá lúa hôm nay, gọi tôi {phone}")
    async with app.db.read() as conn:
        rows = await questions.unanswered(conn, None)
    assert len(rows) == 1
    assert "123" not in rows[0]["text"] and "456" not in rows[0]["text"]


async def questions_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot questions --unanswered …` on the test's database, as an editor runs it."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "ZALO_")) and key != "DATABASE_URL"
    }
    environment["DATABASE_URL"] = database_url
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "questions", "--unanswered", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
