"""The real Telegram channel (PTB Application, our polling loop) against a fake Bot API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bench.fake_telegram import FakeTelegram
from bot.app import App
from bot.channels.telegram import TelegramChannel, build_application
from handlers.services import invites, stats

VILLAGE = "duc-chanh-thon-1"
MEMBER, LEADER = 5001, 5002


@pytest.fixture
async def telegram(app: App) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        channel = TelegramChannel(
            build_application(fake.token, base_url=fake.base_url, rate_limit=0),
            app.dispatcher.handle,
        )
        await channel.open()
        stop = asyncio.Event()
        task = asyncio.create_task(channel.poll(stop, poll_timeout=1))
        yield fake
        stop.set()
        await asyncio.wait_for(task, 5)
        await channel.close()


async def _invite(app: App, role: str) -> str:
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role=role,
            unit_code=VILLAGE,
            uses=1,
            expires_in=timedelta(days=7),
            now=datetime.now(UTC),
        )
    return invite.code


async def test_invite_registration_report_quickform_correction_stats(
    app: App, telegram: FakeTelegram
) -> None:
    tg = telegram
    code = await _invite(app, "member")
    replies = await tg.say_and_wait(MEMBER, f"/start {code}", replies=2)
    assert "Chào mừng" in replies[0] and "Thành viên Tổ" in replies[0]
    await tg.press_and_wait(MEMBER, "Giáo viên", replies=2)

    # Guided report: buttons, the skills keyboard edited in place.
    await tg.say_and_wait(MEMBER, "/baocao")
    await tg.say_and_wait(MEMBER, "Nguyễn Văn <An> & con")  # must be escaped for HTML
    await tg.press_and_wait(MEMBER, "Bỏ qua")
    await tg.press_and_wait(MEMBER, "Dịch vụ công")
    assert [s.method for s in tg.sent][-1] == "editMessageText"
    assert any("✅ Dịch vụ công" in b["text"] for b in tg.keyboard_of(MEMBER))
    await tg.press_and_wait(MEMBER, "Kích hoạt định danh")
    await tg.press_and_wait(MEMBER, "Xong")
    await tg.press_and_wait(MEMBER, "1")
    await tg.press_and_wait(MEMBER, "Chưa")
    summary = tg.texts_to(MEMBER)[-1]
    assert "Nguyễn Văn &lt;An&gt; &amp; con" in summary
    saved = await tg.press_and_wait(MEMBER, "Lưu")
    assert "Đã lưu báo cáo hộ" in saved[0]

    # Quick form with Undo, then a correction.
    quick = await tg.say_and_wait(
        MEMBER, "/bc Lê Thị Hoa; thôn 1; dvc,tt,atm; dk2=2 kh=1 thanhthao=1"
    )
    assert "Đã lưu" in quick[0]
    await tg.say_and_wait(MEMBER, "/sua")
    await tg.press_and_wait(MEMBER, "Lê Thị Hoa")
    await tg.press_and_wait(MEMBER, "Sửa việc đã hướng dẫn")
    await tg.press_and_wait(MEMBER, "Mua sắm online")
    await tg.press_and_wait(MEMBER, "Xong")  # dk2 was toggled: asked again
    await tg.press_and_wait(MEMBER, "3")
    await tg.press_and_wait(MEMBER, "1")  # kh
    changed = await tg.press_and_wait(MEMBER, "Lưu thay đổi")
    assert "Đã lưu thay đổi" in changed[0]

    # The leader sees it in /thongke.
    leader_code = await _invite(app, "leader")
    await tg.say_and_wait(LEADER, f"/dangky {leader_code}", replies=2)
    await tg.press_and_wait(LEADER, "Tổ trưởng", replies=2)
    stats_text = (await tg.say_and_wait(LEADER, "/thongke"))[0]
    assert "Hộ đã được hướng dẫn: 2/" in stats_text, "\n---\n".join(tg.texts_to(MEMBER)[-14:])

    async with app.db.read() as conn:
        figures = await stats.for_unit(conn, app.services.plan, VILLAGE)
    assert figures["reports"] == 2
    assert figures["households_visited"] == 2
    assert figures["proficient_households"] == 1
    # Acknowledged: the bot's next poll confirms the last update, so nothing is left pending.
    for _ in range(100):
        if tg.confirmed_offset > tg.last_update_id:
            break
        await asyncio.sleep(0.1)
    assert tg.confirmed_offset == tg.last_update_id + 1
    assert tg.pending == []


async def test_rate_limited_send_is_retried_by_the_rate_limiter(app: App) -> None:
    async with FakeTelegram() as tg:
        channel = TelegramChannel(
            build_application(tg.token, base_url=tg.base_url, rate_limit=30), app.dispatcher.handle
        )
        await channel.open()
        stop = asyncio.Event()
        task = asyncio.create_task(channel.poll(stop, poll_timeout=1))
        tg.fail_next("sendMessage", times=1, retry_after=1)
        replies = await tg.say_and_wait(MEMBER, "/menu")
        assert "Xin chào" in replies[0]
        stop.set()
        await asyncio.wait_for(task, 5)
        await channel.close()
