"""Free text is stored NFC and without bidi or zero-width characters; Vietnamese stays intact."""

from __future__ import annotations

import unicodedata

import pytest
import sqlalchemy as sa

from bot.app import App
from core.text import display_name, tidy, tidy_lines
from db.repos import people
from db.schema import households
from tests.auxil.chat import Chat, join

VILLAGE = "duc-chanh-thon-1"
# U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE, U+2069 POP DIRECTIONAL ISOLATE,
# U+200B ZERO WIDTH SPACE, U+200D ZERO WIDTH JOINER, U+FEFF BOM, U+200F RIGHT-TO-LEFT MARK.
RLO, LRI, PDI, ZWSP, ZWJ, BOM, RLM = (
    "\u202e",
    "\u2066",
    "\u2069",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u200f",
)
INVISIBLE = {RLO, LRI, PDI, ZWSP, ZWJ, BOM, RLM, "\u202a", "\u202c", "\u2060", "\u200e"}


def visible_only(text: str) -> bool:
    return not any(ch in INVISIBLE or unicodedata.category(ch) == "Cf" for ch in text)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (f"{RLO}Nguyễn Văn An", "Nguyễn Văn An"),
        (f"Trần{ZWSP} Thị{ZWJ} Bình{BOM}", "Trần Thị Bình"),
        (f"số 12 {LRI}xóm Đông{PDI}{RLM}", "số 12 xóm Đông"),
        ("\u202aLê\u202c \u2060Hoa\u200e", "Lê Hoa"),
        # Decomposed input (base letter + combining marks) is composed, marks kept.
        ("Nguye\u0302\u0303n Thi\u0323 Ha\u0300", "Nguyễn Thị Hà"),
        # A zero-width space between a letter and its mark: the mark still lands on the letter.
        ("Le\u200b\u0302", "Lê"),
    ],
)
def test_tidy_strips_invisible_characters_and_composes(raw: str, stored: str) -> None:
    assert tidy(raw) == stored
    assert unicodedata.is_normalized("NFC", tidy(raw))


def test_tidy_lines_keeps_line_breaks() -> None:
    assert tidy_lines(f"Nhà{ZWSP} có 2 cháu  \n{RLO}đang học") == "Nhà có 2 cháu\nđang học"


def test_display_name_drops_controls_and_format_characters() -> None:
    assert display_name(f"{RLO}Chị\x00 Lan\n{BOM}") == "Chị Lan"
    assert display_name(f"{ZWSP}{RLM}") is None
    assert display_name("x" * 150) == "x" * 100


async def _saved_household(app: App) -> tuple[str, str]:
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(households.c.head_name, households.c.address))).one()
    return row.head_name, row.address


async def test_household_name_and_address_saved_by_quick_form_are_clean(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.press("Công an viên")
    await chat.send(f"/bc {RLO}Nguye\u0302\u0303n{ZWSP} Văn An; số 12 {LRI}xóm Đông{PDI}; dvc")
    assert "Đã lưu: hộ <b>Nguyễn Văn An</b> – số 12 xóm Đông" in chat.text
    assert await _saved_household(app) == ("Nguyễn Văn An", "số 12 xóm Đông")


async def test_household_name_in_the_guided_report_is_clean(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m2")
    await chat.press("Công an viên")
    await chat.send("/baocao")
    await chat.send(f"Võ{BOM} Thị{ZWJ} Em{RLO}")
    assert RLO not in chat.text and BOM not in chat.text
    assert "Võ Thị Em" in chat.text


async def test_a_name_that_is_only_invisible_characters_is_refused(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m3")
    await chat.press("Công an viên")
    before = await _count_households(app)
    await chat.send(f"/bc {ZWSP}{RLO}{BOM}; số 1; dvc")
    assert "Đã lưu" not in chat.text
    assert await _count_households(app) == before


async def test_nul_in_a_name_is_refused_and_nothing_saved(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m4")
    await chat.press("Công an viên")
    await chat.send("/bc Nguyễn\x00 Văn An; số 1; dvc")
    assert "Đã lưu" not in chat.text
    assert await _count_households(app) == 0


async def _count_households(app: App) -> int:
    async with app.db.read() as conn:
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(households))).scalar_one()
        )


async def test_display_name_saved_on_joining_is_clean(app: App) -> None:
    from datetime import timedelta

    from handlers.services import invites

    chat = Chat(app, "z-77", channel="zalo", name=f"{RLO}Chị{ZWSP} Lan{RLM}\x00")
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role="member",
            unit_code=VILLAGE,
            uses=1,
            expires_in=timedelta(days=7),
            now=chat.clock.now,
        )
    await chat.send(f"dangky {invite.code}")
    assert "Chị Lan" in chat.text and visible_only(chat.text)
    async with app.db.read() as conn:
        person = await people.by_account(conn, "zalo", "z-77")
    assert person is not None and person.display_name == "Chị Lan"
