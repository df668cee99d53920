"""The real Zalo channel (our httpx client, long polling, outbox sender) against a fake Zalo server.

The same scenario a member and a resident play on Telegram, with numbers instead of buttons.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from bot.app import App
from bot.channels.zalo import ZaloChannel, ZaloTokenRefused
from bot.channels.zalo_api import MAX_TEXT_LENGTH, ZaloBotApi
from bot.usage import MeteredOutboxSender, UsageMeter
from core.events import Reply
from db.repos import outbox
from db.schema import help_requests, processed_updates, visits
from handlers.services import accounts, invites, stats
from tests.auxil.fake_zalo import FakeZaloServer

TOKEN = "4242424242:zalo-secret-token-for-tests"
VILLAGE = "duc-chanh-thon-1"
MEMBER, RESIDENT = "zalo-member-1", "zalo-resident-1"


class Zalo:
    """The fake server plus a little patience: say something, wait for the bot's texts."""

    def __init__(self, fake: FakeZaloServer) -> None:
        self.fake = fake

    def texts_to(self, chat_id: str) -> list[str]:
        return [
            m["text"]
            for m in self.fake.sent
            if m["method"] == "sendMessage" and m["chat_id"] == chat_id
        ]

    async def wait_for(self, chat_id: str, count: int, timeout: float = 15) -> list[str]:
        """Wait until ``chat_id`` has received ``count`` texts in all; return the new ones."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.texts_to(chat_id)) < count:
            if loop.time() > deadline:
                raise AssertionError(f"{chat_id} got {self.texts_to(chat_id)[-3:]}")
            await asyncio.sleep(0.02)
        return self.texts_to(chat_id)[count - 1 :] if count else []

    async def say(self, user: str, text: str, replies: int = 1, name: str = "Chị Lan") -> list[str]:
        before = len(self.texts_to(user))
        self.fake.push_text(user, user, text, name)
        await self.wait_for(user, before + replies)
        return self.texts_to(user)[before:]


def option(text: str, label: str) -> str:
    """The number shown before ``label`` in a numbered list."""
    match = re.search(rf"^(\d+)\. .*{re.escape(label)}", text, flags=re.MULTILINE)
    assert match, f"{label!r} not offered in:\n{text}"
    return match.group(1)


@pytest.fixture
async def zalo(app: App) -> AsyncIterator[Zalo]:
    async with FakeZaloServer(TOKEN, idle_wait=0.1) as fake, httpx.AsyncClient() as http:
        api = ZaloBotApi(TOKEN, base_url=fake.base_url, client=http)
        channel = ZaloChannel(api, app.dispatcher.handle)
        meter = UsageMeter(app.services, "zalo", monthly_quota=3000, user_quota=50)
        sender = MeteredOutboxSender(app.services, "zalo", channel.send_reply, meter)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(channel.poll(stop, poll_timeout=1)),
            asyncio.create_task(sender.run(stop, idle=0.2)),
        ]
        yield Zalo(fake)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)


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


async def _count(app: App, table: sa.Table) -> int:
    async with app.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def test_member_and_resident_play_the_telegram_scenario_with_numbers(
    app: App, zalo: Zalo
) -> None:
    # Registration: the code typed without a slash, the position chosen by its number.
    code = await _invite(app, "member")
    joined = await zalo.say(MEMBER, f"dangky {code}", replies=2)
    assert "Chào mừng Chị Lan" in joined[0] and "Thành viên Tổ" in joined[0]
    await zalo.say(MEMBER, option(joined[1], "Giáo viên"), replies=2)
    assert "Đã ghi vị trí: Giáo viên" in zalo.texts_to(MEMBER)[-2]

    # Guided report, every choice answered with a number; a count typed as itself.
    started = await zalo.say(MEMBER, "/baocao")
    assert "1. ❌ Huỷ" in started[0]
    address = await zalo.say(MEMBER, "Nguyễn Văn <An> & con")
    skills = await zalo.say(MEMBER, option(address[0], "Bỏ qua"))
    skills = await zalo.say(MEMBER, option(skills[0], "Dịch vụ công"))
    assert "✅ Dịch vụ công" in skills[0]  # no edits on Zalo: the list comes again, updated
    skills = await zalo.say(MEMBER, option(skills[0], "Kích hoạt định danh"))
    count = await zalo.say(MEMBER, option(skills[0], "Xong"))
    assert "0 · 1 · 2" in count[0]
    proficient = await zalo.say(MEMBER, "1")
    summary = await zalo.say(MEMBER, option(proficient[0], "Chưa"))
    assert "Nguyễn Văn <An> & con" in summary[0]  # plain text: no HTML escapes shown
    assert "<b>" not in summary[0] and "&lt;" not in summary[0]
    saved = await zalo.say(MEMBER, option(summary[0], "Lưu"))
    assert "Đã lưu báo cáo hộ" in saved[0]

    # Quick form: saved at once; Undo is offered as a number.
    quick = await zalo.say(MEMBER, "/bc Lê Thị Hoa; thôn 1; dvc,tt,atm; dk2=2 kh=1 thanhthao=1")
    assert "Đã lưu" in quick[0] and "Hoàn tác" in quick[0]

    async with app.db.read() as conn:
        figures = await stats.for_unit(conn, app.services.plan, VILLAGE)
    assert figures["reports"] == 2
    assert figures["households_visited"] == 2
    assert figures["proficient_households"] == 1

    # A resident's question, answered with the guide's steps.
    answer = await zalo.say(RESIDENT, "lam sao kich hoat vneid", name="Bác Ba")
    assert "Kích hoạt tài khoản VNeID" in answer[0] and "Bước 1/" in answer[0]
    step2 = await zalo.say(RESIDENT, option(answer[0], "Tiếp"), name="Bác Ba")
    assert "Bước 2/" in step2[0]

    # The resident asks the village team for a visit; the member is told through the outbox.
    communes = await zalo.say(RESIDENT, "/lienhe", name="Bác Ba")
    villages = await zalo.say(RESIDENT, option(communes[0], "Đức Chánh"), name="Bác Ba")
    offer = await zalo.say(RESIDENT, option(villages[0], "Thôn 1 "), name="Bác Ba")
    topics = await zalo.say(RESIDENT, option(offer[0], "Hẹn người đến nhà"), name="Bác Ba")
    reach = await zalo.say(RESIDENT, option(topics[0], "VNeID"), name="Bác Ba")
    assert "Nhắn qua đây" in reach[0]
    consent = await zalo.say(RESIDENT, "0905 123 456", name="Bác Ba")
    before = len(zalo.texts_to(MEMBER))
    sent = await zalo.say(RESIDENT, option(consent[0], "Đồng ý"), name="Bác Ba")
    assert "Đã gửi yêu cầu" in sent[0]
    notice = await zalo.wait_for(MEMBER, before + 1)
    assert "0905 123 456" in notice[0] and "Tôi nhận" in notice[0]
    # The member takes it from /yeucau; the resident is told who is coming (outbox again).
    before_resident = len(zalo.texts_to(RESIDENT))
    pending = await zalo.say(MEMBER, "/yeucau")
    taken = await zalo.say(MEMBER, option(pending[0], "Tôi nhận"))
    assert "Bạn đã nhận hẹn với Bác Ba" in taken[0]
    told = await zalo.wait_for(RESIDENT, before_resident + 1)
    assert "Chị Lan" in told[0]
    async with app.db.read() as conn:
        status = (await conn.execute(sa.select(help_requests.c.status))).scalar_one()
    assert status != "open"

    # Everything the bot sent fits Zalo: plain text under 2000 characters.
    for message in zalo.fake.sent:
        if message["method"] == "sendMessage":
            assert 1 <= len(message["text"]) <= MAX_TEXT_LENGTH
            assert "<b>" not in message["text"] and "<i>" not in message["text"]
    assert TOKEN not in repr(zalo.fake.requests[-1])  # sanity: the token only lives in paths


async def test_a_replayed_message_is_handled_once(app: App, zalo: Zalo) -> None:
    code = await _invite(app, "member")
    joined = await zalo.say(MEMBER, f"dangky {code}", replies=2)
    await zalo.say(MEMBER, option(joined[1], "Khác"), replies=2)
    event = zalo.fake.push_text(MEMBER, MEMBER, "/bc Trần Văn Bình; ; dvc; kh=1")
    await zalo.wait_for(MEMBER, len(zalo.texts_to(MEMBER)) + 1)
    answered = len(zalo.texts_to(MEMBER))
    zalo.fake.push(event)  # Zalo hands the same message out again after a reconnect
    zalo.fake.push(event)
    for _ in range(100):
        if zalo.fake.pending == 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    assert len(zalo.texts_to(MEMBER)) == answered
    assert await _count(app, visits) == 1
    async with app.db.read() as conn:
        keys = (
            await conn.execute(
                sa.select(sa.func.count()).where(
                    processed_updates.c.channel == "zalo",
                    processed_updates.c.update_key == event["message"]["message_id"],
                )
            )
        ).scalar_one()
    assert keys == 1


async def test_idle_polls_rate_limits_and_server_errors_do_not_lose_messages(
    app: App, zalo: Zalo
) -> None:
    zalo.fake.fail_next("getUpdates", status=429, retry_after=0.1)
    zalo.fake.fail_next("getUpdates", times=2, status=500)
    replies = await zalo.say(RESIDENT, "menu", name="Bác Ba")
    assert "1. " in replies[0]
    assert zalo.fake.calls.count("getUpdates") >= 4


async def test_a_refused_token_stops_polling_with_a_clear_message(app: App) -> None:
    async with FakeZaloServer(TOKEN, idle_wait=0.1) as fake, httpx.AsyncClient() as http:
        api = ZaloBotApi("1:wrong-token", base_url=fake.base_url, client=http)
        channel = ZaloChannel(api, app.dispatcher.handle)
        with pytest.raises(ZaloTokenRefused) as caught:
            await asyncio.wait_for(channel.poll(asyncio.Event(), poll_timeout=1), 5)
    assert "ZALO_BOT_TOKEN" in str(caught.value)
    assert "wrong-token" not in str(caught.value)


async def test_outbox_send_errors_become_delivery_errors(app: App) -> None:
    from bot.outbox import DeliveryError

    async with FakeZaloServer(TOKEN) as fake, httpx.AsyncClient() as http:
        channel = ZaloChannel(
            ZaloBotApi(TOKEN, base_url=fake.base_url, client=http), app.dispatcher.handle
        )
        fake.fail_next("sendMessage", status=429, retry_after=7)
        with pytest.raises(DeliveryError) as limited:
            await channel.send_reply("c1", Reply("xin chào"))
        assert limited.value.retry_after == 7 and not limited.value.permanent
        fake.fail_next("sendMessage", status=400)
        with pytest.raises(DeliveryError) as refused:
            await channel.send_reply("c1", Reply("xin chào"))
        assert refused.value.permanent
        fake.fail_next("sendMessage", status=502)
        with pytest.raises(DeliveryError) as down:
            await channel.send_reply("c1", Reply("xin chào"))
        assert not down.value.permanent
        await channel.send_reply("c1", Reply("x" * 4500))
        assert [len(m["text"]) <= MAX_TEXT_LENGTH for m in fake.sent] == [True, True, True]


async def test_usage_meter_warns_admins_at_80_and_holds_non_urgent_at_95(app: App) -> None:
    now = datetime.now(UTC)
    async with app.db.transaction() as conn:
        await accounts.grant_admin(
            conn,
            channel="zalo",
            external_id="admin-1",
            root_unit=app.services.plan.root_unit,
            now=now,
        )
        for n in range(8):
            await outbox.enqueue(
                conn,
                key=f"old:{n}",
                channel="zalo",
                chat_id="someone",
                payload=Reply("x").to_json(),
                now=now,
            )
    sent: list[tuple[str, str]] = []

    async def send(chat_id: str, reply: Reply) -> None:
        sent.append((chat_id, reply.text))

    meter = UsageMeter(app.services, "zalo", monthly_quota=10, user_quota=50, every=0)
    sender = MeteredOutboxSender(app.services, "zalo", send, meter)
    await sender.drain()  # 0 of 10 used before: all 8 go out
    assert len(sent) == 8
    await sender.drain()  # 8 of 10: admins are warned (once)
    await sender.drain()
    warnings = [text for chat, text in sent if chat == "admin-1"]
    assert len(warnings) == 1 and "8/10" in warnings[0]

    async with app.db.transaction() as conn:
        await outbox.enqueue(
            conn,
            key="digest:1",
            channel="zalo",
            chat_id="someone",
            payload=Reply("bản tin").to_json(),
            now=now,
            urgent=False,
        )
        await outbox.enqueue(
            conn,
            key="help:1",
            channel="zalo",
            chat_id="someone",
            payload=Reply("cần giúp").to_json(),
            now=now,
        )
    await sender.drain()  # 9 of 10 (90%): both still go
    assert [text for _c, text in sent[-2:]] == ["bản tin", "cần giúp"]
    async with app.db.transaction() as conn:
        for key, urgent in (("digest:2", False), ("help:2", True)):
            await outbox.enqueue(
                conn,
                key=key,
                channel="zalo",
                chat_id="someone",
                payload=Reply(key).to_json(),
                now=now,
                urgent=urgent,
            )
    await sender.drain()  # 11 of 10: the non-urgent notice waits, the urgent one goes
    texts = [text for _c, text in sent]
    assert "help:2" in texts and "digest:2" not in texts
    admin = [t for c, t in sent if c == "admin-1"]
    assert len(admin) == 2 and "đang được giữ lại" in admin[1]
