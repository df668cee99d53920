"""One member on Telegram and Zalo: /lienket codes, and the channel notices go to."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from bot.app import App
from db.repos import people
from db.schema import outbox
from db.schema import people as people_table
from handlers.services import invites, linking
from tests.auxil.chat import Chat, Clock

VILLAGE = "duc-chanh-thon-1"


async def _member(app: App, user: str, channel: str, clock: Clock) -> Chat:
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role="member",
            unit_code=VILLAGE,
            uses=1,
            expires_in=timedelta(days=1),
            now=clock.now,
        )
    chat = Chat(app, user, channel=channel, clock=clock, name="Chị Lan")
    await chat.send(f"/dangky {invite.code}")
    await chat.press("Giáo viên")
    return chat


def _code(text: str) -> str:
    match = re.search(r"\b(LK[A-Z0-9]{8})\b", text)
    assert match, text
    return match.group(1)


async def _people(app: App) -> int:
    async with app.db.read() as conn:
        query = sa.select(sa.func.count()).select_from(people_table)
        return int((await conn.execute(query)).scalar_one())


async def test_a_member_links_zalo_with_a_code_and_chooses_where_notices_go(app: App) -> None:
    clock = Clock()
    telegram = await _member(app, "tg-1", "telegram", clock)
    await telegram.send("/lienket")
    code = _code(telegram.text)
    assert "dangky " + code in telegram.text
    before = await _people(app)

    zalo = Chat(app, "zl-1", channel="zalo", clock=clock, name="Lan Zalo")
    await zalo.send(f"dangky {code.lower()}")  # typed as people type it
    assert "Đã liên kết" in zalo.text and "Thành viên Tổ" in zalo.text
    assert "Nhận thông báo qua kênh nào" in zalo.text
    await zalo.send("Zalo")  # the label, typed
    assert "Từ nay thông báo sẽ gửi qua Zalo" in zalo.text
    assert await _people(app) == before  # the same person, no new one

    async with app.db.read() as conn:
        on_telegram = await people.by_account(conn, "telegram", "tg-1")
        on_zalo = await people.by_account(conn, "zalo", "zl-1")
    assert on_telegram is not None and on_zalo is not None
    assert on_telegram.id == on_zalo.id and on_zalo.preferred_channel == "zalo"

    # Reports from Zalo are the member's own.
    await zalo.send("/bc Lê Thị Hoa; thôn 1; dvc; kh=1")
    assert "Đã lưu" in zalo.text

    # A resident's help request reaches the member on the chosen channel.
    resident = Chat(app, "res-1", channel="zalo", clock=clock, name="Bác Ba")
    await resident.send("/lienhe")
    await resident.press("Xã Đức Chánh")
    await resident.press("Thôn 1 ")
    await resident.press("Hẹn người đến nhà")
    await resident.press("VNeID")
    await resident.press("Nhắn qua đây")
    await resident.press("Đồng ý")
    async with app.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(outbox.c.channel, outbox.c.chat_id).where(
                    outbox.c.key.startswith("help:")
                )
            )
        ).all()
    assert [(r.channel, r.chat_id) for r in rows] == [("zalo", "zl-1")]

    # And back to Telegram, from either account.
    await telegram.send("/lienket")
    await telegram.press("Telegram")
    async with app.db.read() as conn:
        again = await people.by_account(conn, "zalo", "zl-1")
    assert again is not None and again.preferred_channel == "telegram"


async def test_a_link_code_is_single_use_short_lived_and_never_takes_an_account(app: App) -> None:
    clock = Clock()
    telegram = await _member(app, "tg-2", "telegram", clock)
    await telegram.send("/lienket")
    code = _code(telegram.text)

    other_member = await _member(app, "zl-other", "zalo", clock)
    await other_member.send(f"/lienket {code}")
    assert "đã gắn với một người khác" in other_member.text

    first = Chat(app, "zl-2", channel="zalo", clock=clock)
    await first.send(f"/lienket {code}")
    assert "Đã liên kết" in first.text
    await first.send(f"/lienket {code}")  # the same account again: nothing changes
    assert "Đã liên kết" in first.text
    second = Chat(app, "zl-3", channel="zalo", clock=clock)
    await second.send(f"dangky {code}")
    assert "hết hạn hoặc đã dùng hết lượt" in second.text

    await telegram.send("/lienket")
    late = _code(telegram.text)
    clock.advance(minutes=16)
    third = Chat(app, "zl-4", channel="zalo", clock=clock)
    await third.send(f"dangky {late}")
    assert "hết hạn" in third.text
    async with app.db.read() as conn:
        assert await people.by_account(conn, "zalo", "zl-4") is None


async def test_residents_cannot_make_link_codes_and_ordinary_codes_still_register(
    app: App,
) -> None:
    resident = Chat(app, "zl-5", channel="zalo")
    await resident.send("/lienket")
    assert "dành cho thành viên Tổ" in resident.text
    assert not linking.is_link_code("ABCD2345") and linking.is_link_code("lk-abcd-2345")
    member = await _member(app, "zl-6", "zalo", Clock())
    assert "Đã ghi vị trí" in member.text
