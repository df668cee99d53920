"""Fewer messages per task on text channels: several numbers in one message, counts typed
together, the address with the name, and a short menu for a message without text."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.render import ZALO, as_texts
from core.events import Incoming
from handlers.services import stats
from tests.auxil.chat import Chat, join

VILLAGE = "duc-chanh-thon-1"


def number(chat: Chat, label: str) -> str:
    """The position of ``label`` among the options on screen (what a Zalo user types)."""
    choices = [c for reply in chat.screen for c in reply.flat_choices()]
    for position, choice in enumerate(choices, start=1):
        if label in choice.label:
            return str(position)
    raise AssertionError(f"{label!r} not offered: {[c.label for c in choices]}")


async def _member(app: App, channel: str = "zalo") -> Chat:
    member = await join(app, "member", VILLAGE, "m1", channel=channel)
    await member.send(number(member, "Giáo viên"))
    return member


@pytest.mark.parametrize("separator", [" ", ",", ", "])
async def test_four_items_and_two_counts_take_six_bot_messages_on_zalo(
    app: App, separator: str
) -> None:
    member = await _member(app)
    async with app.db.read() as conn:
        before = await stats.for_unit(conn, app.services.plan, VILLAGE)
    sent = 0
    for text in ("/baocao", "Lê Văn Tám, xóm Đông"):
        sent += len(await member.send(text))
    assert "Hộ <b>Lê Văn Tám</b>: đã hướng dẫn những gì?" in member.text  # address skipped
    picks = [number(member, label) for label in ("Dịch vụ công", "Thanh toán", "mức 2", "Kích")]
    sent += len(await member.send(separator.join(picks)))
    assert "lần lượt cho: đăng ký định danh mức 2, kích hoạt tài khoản định danh" in member.text
    assert "vd: 2 1" in member.text
    sent += len(await member.send("2 1"))
    assert "thành thạo cả 5 kỹ năng số" in member.text
    sent += len(await member.send(number(member, "Có")))
    assert "xóm Đông" in member.text and "Dịch vụ công, Thanh toán online" in member.text
    sent += len(await member.send(number(member, "Lưu")))
    assert "Đã lưu báo cáo hộ" in member.text
    # Each reply is one Zalo message (none is split).
    assert sent == 6
    async with app.db.read() as conn:
        figures = await stats.for_unit(conn, app.services.plan, VILLAGE)
    assert figures["reports"] == 1
    assert figures["vneid_registered"] == before["vneid_registered"] + 2
    assert figures["vneid_activated"] == before["vneid_activated"] + 1
    assert figures["households_dvc_payment"] == 1


async def test_a_wrong_number_among_several_offers_the_list_again_and_ticks_nothing(
    app: App,
) -> None:
    member = await _member(app)
    await member.send("/baocao")
    await member.send("Lê Văn Tám, xóm Đông")
    await member.send("1 3 99")
    assert member.screen[0].text == app.services.texts.render("flow.choose_an_option")
    assert "✅" not in member.text
    await member.send("1 3")
    assert "Có mấy người" not in member.text  # two items without counts: straight on
    assert "thành thạo cả 5 kỹ năng số" in member.text


async def test_counts_typed_together_must_match_the_counts_asked(app: App) -> None:
    member = await _member(app)
    await member.send("/baocao")
    await member.send("Lê Văn Tám, xóm Đông")
    await member.send(" ".join(number(member, label) for label in ("mức 2", "Kích")))
    await member.send("2 1 4")  # three numbers for two counts: read as one count, refused
    assert "đăng ký định danh mức 2 (dk2): xin gõ một số" in member.text
    await member.send("2")
    await member.send("1")
    assert "thành thạo cả 5 kỹ năng số" in member.text


async def test_telegram_buttons_still_tick_one_at_a_time(app: App) -> None:
    member = await join(app, "member", VILLAGE, "t1", channel="telegram")
    await member.press("Giáo viên")
    await member.send("/baocao")
    await member.send("Lê Văn Tám")
    await member.send("xóm Đông")
    first = await member.press("Dịch vụ công")
    assert first[0].edit and "✅ Dịch vụ công" in [c.label for c in first[0].flat_choices()]
    await member.press("Đăng ký định danh mức 2")
    await member.press("Xong")
    assert "Có mấy người" in member.text


async def test_a_message_without_text_gets_a_short_numbered_menu(app: App) -> None:
    resident = Chat(app, "r1", channel="zalo")
    replies = await resident.deliver(
        Incoming("zalo", "r1", "r1", "sticker-1", resident.clock.now, text=None)
    )
    assert len(replies) == 1
    [text] = as_texts(replies[0], ZALO)
    assert text.startswith("Dạ, bot không đọc được nội dung tin vừa rồi")
    assert "\n1. " in text and "\n2. " in text
    # Inside a flow: the flow's own options again.
    member = await _member(app)
    await member.send("/baocao")
    await member.send("Lê Văn Tám, xóm Đông")
    replies = await member.deliver(
        Incoming("zalo", "m1", "m1", "sticker-2", member.clock.now, text=None)
    )
    assert "Dịch vụ công" in as_texts(replies[-1], ZALO)[0]
