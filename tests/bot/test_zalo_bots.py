"""Several Zalo bots in one process (bot/channels/zalo.py), each bound to a commune: opened from
settings through the table of channels, polling (or by webhook in a real `bot run`) against one
fake Zalo server that knows both tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.app import App
from bot.channels import registry
from bot.channels.zalo import ZaloChannel, ZaloTokenRefused, bots_from
from core.events import Reply
from db.repos import outbox
from db.schema import accounts as accounts_table
from handlers.services import accounts, invites
from tests.auxil.fake_zalo import FakeBot, FakeZaloServer, post_webhook, text_event
from tests.auxil.process import operator_env, start_bot
from tests.bot.test_channels import _free_port
from tests.bot.test_cli import bot as run_cli
from tests.bot.test_cli import ok
from tests.conftest import settings_for

TOKEN_A = "4242424242:zalo-token-of-duc-chanh-bot"
TOKEN_B = "5353535353:zalo-token-of-duc-hiep-bot"
B = "5353535353"  # bot B's id: its chats are "5353535353:<chat>"
RESIDENT, MEMBER, ADMIN = "zalo-resident-1", "zalo-member-1", "zalo-admin-1"


def option(text: str, label: str) -> str:
    match = re.search(rf"^(\d+)\. .*{re.escape(label)}", text, flags=re.MULTILINE)
    assert match, f"{label!r} not offered in:\n{text}"
    return match.group(1)


@dataclass
class Bots:
    """The fake server's two bots, and the opened channel serving both."""

    app: App
    fake: FakeZaloServer
    live: registry.Live

    @property
    def a(self) -> FakeBot:
        return self.fake.bot(TOKEN_A)

    @property
    def b(self) -> FakeBot:
        return self.fake.bot(TOKEN_B)

    async def wait_for(self, bot: FakeBot, chat: str, count: int) -> list[str]:
        """Wait until ``bot`` has sent ``count`` texts to ``chat``; return from the count-th."""
        for _ in range(750):
            if len(bot.texts_to(chat)) >= count:
                return bot.texts_to(chat)[count - 1 :] if count else []
            await asyncio.sleep(0.02)
        raise AssertionError(f"{chat} got {bot.texts_to(chat)[-3:]}")

    async def say(
        self, bot: FakeBot, chat: str, text: str, replies: int = 1, name: str = "Bác Ba"
    ) -> list[str]:
        before = len(bot.texts_to(chat))
        bot.push_text(chat, chat, text, name)
        await self.wait_for(bot, chat, before + replies)
        return bot.texts_to(chat)[before:]


def two_bots(app: App, fake: FakeZaloServer, **more: Any) -> Any:
    return settings_for(
        app.settings.database_url,
        zalo_bot_token=TOKEN_A,
        zalo_bot_unit="duc-chanh",
        zalo_bot_accounts=f"duc-hiep={TOKEN_B}",
        zalo_base_url=fake.base_url,
        **more,
    )


@pytest.fixture
async def opened(app: App) -> AsyncIterator[Bots]:
    """Both bots opened through the table, polling; the outbox is drained by the test."""
    async with FakeZaloServer(TOKEN_A, more_tokens=[TOKEN_B], idle_wait=0.1) as fake:
        settings = two_bots(app, fake, zalo_monthly_quota=6)
        rows = [row for row in registry.served(settings) if row.name == "zalo"]
        channels = await registry.open_channels(dataclasses.replace(app, settings=settings), rows)
        live = channels.live["zalo"]
        assert isinstance(live.channel, ZaloChannel)
        stop = asyncio.Event()
        polling = asyncio.create_task(live.channel.poll(stop, poll_timeout=1))
        try:
            yield Bots(app, fake, live)
        finally:
            stop.set()
            await asyncio.wait_for(polling, 15)
            await channels.close()


async def _invite(app: App, village: str) -> str:
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role="member",
            unit_code=village,
            uses=1,
            expires_in=timedelta(days=7),
            now=datetime.now(UTC),
        )
    return invite.code


async def _chats_of_accounts(app: App) -> set[str]:
    async with app.db.read() as conn:
        rows = await conn.execute(
            sa.select(accounts_table.c.chat_id).where(accounts_table.c.channel == "zalo")
        )
        return set(rows.scalars())


async def _drain(bots: Bots) -> None:
    for _ in range(20):
        result = await bots.live.sender.drain(limit=50)
        if not (result.sent or result.retried):
            return


async def _queue(app: App, chat_id: str, key: str, text: str, *, urgent: bool) -> None:
    async with app.db.transaction() as conn:
        await outbox.enqueue(
            conn,
            key=key,
            channel="zalo",
            chat_id=chat_id,
            payload=Reply(text).to_json(),
            now=datetime.now(UTC),
            urgent=urgent,
        )


# --- two communes, two bots, one process -----------------------------------------------------
async def test_each_bot_serves_its_communes_residents_and_members(opened: Bots) -> None:
    bots = opened
    # The same Zalo id on each bot is two chats; each bot starts in its own commune.
    here = await bots.say(bots.a, RESIDENT, "/lienhe")
    there = await bots.say(bots.b, RESIDENT, "/lienhe")
    assert here[0].startswith("Thôn, tổ dân phố nào ạ?")
    assert there[0].startswith("Thôn, tổ dân phố nào ạ?")
    follow = await bots.say(bots.b, RESIDENT, "/theodoi")
    assert "nhận thông báo của cả Xã Đức Hiệp" in follow[0]
    follow = await bots.say(bots.a, RESIDENT, "/theodoi")
    assert "nhận thông báo của cả Xã Đức Chánh" in follow[0]

    # A member of a village of Đức Hiệp registers through bot B.
    code = await _invite(bots.app, "duc-hiep-thon-1")
    joined = await bots.say(bots.b, MEMBER, f"dangky {code}", replies=2, name="Chị Lan")
    assert "Chào mừng Chị Lan" in joined[0]
    await bots.say(bots.b, MEMBER, option(joined[1], "Giáo viên"), replies=2, name="Chị Lan")
    assert f"{B}:{MEMBER}" in await _chats_of_accounts(bots.app)

    # A resident on bot B asks for a home visit: no commune asked, B's villages offered.
    told_before = len(bots.b.texts_to(MEMBER))
    villages = await bots.say(bots.b, "zalo-resident-2", "/lienhe")
    offer = await bots.say(bots.b, "zalo-resident-2", option(villages[0], "Thôn 1 "))
    topics = await bots.say(bots.b, "zalo-resident-2", option(offer[0], "Hẹn người đến nhà"))
    reach = await bots.say(bots.b, "zalo-resident-2", option(topics[0], "VNeID"))
    consent = await bots.say(bots.b, "zalo-resident-2", "0905 123 456")
    assert "Nhắn qua đây" in reach[0]
    sent = await bots.say(bots.b, "zalo-resident-2", option(consent[0], "Đồng ý"))
    assert "Đã gửi yêu cầu" in sent[0]

    # The member of that village is told through bot B, the bot they use; bot A says nothing.
    await _drain(bots)
    notice = await bots.wait_for(bots.b, MEMBER, told_before + 1)
    assert "0905 123 456" in notice[0]
    assert bots.a.texts_to(MEMBER) == []
    assert bots.a.texts_to("zalo-resident-2") == []


async def test_the_first_bots_chats_stay_bare_and_a_stored_identity_keeps_working(
    opened: Bots,
) -> None:
    bots = opened
    code = await _invite(bots.app, "duc-chanh-thon-1")
    joined = await bots.say(bots.a, MEMBER, f"dangky {code}", replies=2, name="Chị Lan")
    assert "Chào mừng Chị Lan" in joined[0]
    assert await _chats_of_accounts(bots.app) == {MEMBER}  # as before several bots existed
    # A notice queued for the bare chat id (as every stored notice is) leaves through bot A.
    await _queue(bots.app, MEMBER, "notice:a", "Họp tổ lúc 9 giờ", urgent=False)
    await _drain(bots)
    assert bots.a.texts_to(MEMBER)[-1] == "Họp tổ lúc 9 giờ"
    assert bots.b.texts_to(MEMBER) == []
    # The member is still known the next time they write: a report starts in their village.
    started = await bots.say(bots.a, MEMBER, "/baocao")
    assert "Báo cáo hộ mới (Thôn 1 (tên mẫu))" in started[0]


async def test_a_bot_over_its_quota_holds_its_own_non_urgent_notices_only(opened: Bots) -> None:
    bots, app = opened, opened.app
    async with app.db.transaction() as conn:  # an admin from before, on bot A (a bare chat id)
        await accounts.grant_admin(
            conn,
            channel="zalo",
            external_id=ADMIN,
            root_unit=app.services.plan.root_unit,
            now=datetime.now(UTC),
        )
    # Six messages answered by bot A: its quota (ZALO_MONTHLY_QUOTA=6, per bot) is used up.
    for text in ("menu", "xin chào", "cảm ơn", "menu", "xin chào", "cảm ơn"):
        await bots.say(bots.a, RESIDENT, text)
    await bots.say(bots.b, RESIDENT, "menu")  # bot B has used one of its six
    await _queue(app, RESIDENT, "digest:a", "Bản tin xã Đức Chánh", urgent=False)
    await _queue(app, RESIDENT, "help:a", "Cần giúp ở Đức Chánh", urgent=True)
    await _queue(app, f"{B}:{RESIDENT}", "digest:b", "Bản tin xã Đức Hiệp", urgent=False)
    await _drain(bots)

    assert "Bản tin xã Đức Chánh" not in bots.a.texts_to(RESIDENT)  # held: bot A is full
    assert bots.a.texts_to(RESIDENT)[-1] == "Cần giúp ở Đức Chánh"  # urgent: still goes
    assert bots.b.texts_to(RESIDENT)[-1] == "Bản tin xã Đức Hiệp"  # bot B has room
    # The admin is told which bot is full, through bot A (their bare chat id).
    warning = bots.a.texts_to(ADMIN)
    assert len(warning) == 1
    assert "Bot Zalo của Xã Đức Chánh" in warning[0] and "đang được giữ lại" in warning[0]
    assert bots.b.texts_to(ADMIN) == []


async def test_a_refused_further_token_names_its_unit_and_never_the_token(app: App) -> None:
    async with FakeZaloServer(TOKEN_A, idle_wait=0.1) as fake:  # knows bot A only
        settings = two_bots(app, fake)
        rows = [row for row in registry.served(settings) if row.name == "zalo"]
        channels = await registry.open_channels(dataclasses.replace(app, settings=settings), rows)
        channel = channels.live["zalo"].channel
        try:
            with pytest.raises(ZaloTokenRefused) as checked:
                await channel.whoami()
            assert isinstance(channel, ZaloChannel)
            with pytest.raises(ZaloTokenRefused) as polled:
                await asyncio.wait_for(channel.poll(asyncio.Event(), poll_timeout=1), 10)
        finally:
            await channels.close()
    for refused in (checked.value, polled.value):
        assert "the token of duc-hiep in ZALO_BOT_ACCOUNTS was refused" in str(refused)
        assert "zalo-token-of" not in str(refused)


# --- settings ----------------------------------------------------------------------------------
def test_bot_settings_are_checked_without_quoting_a_token() -> None:
    def parsed(**values: Any) -> list[tuple[str, str | None, bool]]:
        settings = settings_for("sqlite+aiosqlite://", **values)
        return [(bot.bot_id, bot.unit_code, bot.primary) for bot in bots_from(settings)]

    assert parsed(zalo_bot_token="1:a") == [("1", None, True)]
    assert parsed(
        zalo_bot_token="1:a", zalo_bot_unit="duc-chanh", zalo_bot_accounts=" duc-hiep = 2:b ,"
    ) == [("1", "duc-chanh", True), ("2", "duc-hiep", False)]
    refused = {
        "ZALO_BOT_ACCOUNTS needs ZALO_BOT_TOKEN": {"zalo_bot_accounts": "duc-hiep=2:secret-b"},
        "entry 1 is not UNIT_CODE=TOKEN": {"zalo_bot_token": "1:a", "zalo_bot_accounts": "2:b"},
        "the token of duc-hiep does not look like": {
            "zalo_bot_token": "1:a",
            "zalo_bot_accounts": "duc-hiep=secret-b",
        },
        "the bot of duc-pho is already served": {
            "zalo_bot_token": "1:a",
            "zalo_bot_accounts": "duc-hiep=2:secret-b,duc-pho=2:secret-b",
        },
    }
    for message, values in refused.items():
        with pytest.raises(ValueError, match=message) as caught:
            parsed(**values)
        assert "secret-b" not in str(caught.value)
    # Each further bot gets a webhook secret of its own, derived from its own token.
    both = settings_for("sqlite+aiosqlite://", zalo_bot_token="1:a", zalo_bot_accounts="x=2:b")
    secrets = registry.webhook_secrets(both)
    assert sorted(secrets) == ["zalo", "zalo/2"]
    assert secrets["zalo"] != secrets["zalo/2"]


def test_zalo_status_shows_each_bots_unit_path_and_use(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    env = {
        "ZALO_BOT_TOKEN": TOKEN_A,
        "ZALO_BOT_UNIT": "duc-chanh",
        "ZALO_BOT_ACCOUNTS": f"duc-hiep={TOKEN_B}",
    }
    lines = ok(run_cli(database, "zalo", "status", **env)).splitlines()
    assert lines == [
        "4242424242\tduc-chanh\t/webhook/zalo\t"
        "this month: 0/3000 messages (0 notices, 0 answered), 0/50 chats\tok",
        f"{B}\tduc-hiep\t/webhook/zalo/{B}\t"
        "this month: 0/3000 messages (0 notices, 0 answered), 0/50 chats\tok",
    ]
    assert "zalo-token" not in "\n".join(lines)


# --- `python -m bot run` by webhook, both bots from the environment ---------------------------
async def test_run_takes_each_bots_webhook_on_its_own_path_with_its_own_secret(
    tmp_path: Path,
) -> None:
    port = _free_port()
    database = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    prepared = await App.open(settings_for(database))
    try:
        await prepared.load_sample_units_if_empty()
    finally:
        await prepared.close()
    environment = operator_env()
    async with FakeZaloServer(TOKEN_A, more_tokens=[TOKEN_B], idle_wait=0.1) as fake:
        a, b = fake.bot(TOKEN_A), fake.bot(TOKEN_B)
        environment.update(
            DATABASE_URL=database,
            ZALO_BOT_TOKEN=TOKEN_A,
            ZALO_BOT_UNIT="duc-chanh",
            ZALO_BOT_ACCOUNTS=f"duc-hiep={TOKEN_B}",
            ZALO_BASE_URL=fake.base_url,
            ZALO_WEBHOOK_URL="https://bot.example.vn",
            WEBHOOK_LISTEN=f"127.0.0.1:{port}",
            FAIR_USE_MESSAGES="0",
            LOG_LEVEL="DEBUG",
        )
        process = await start_bot(environment)
        base = f"http://127.0.0.1:{port}/webhook/zalo"
        try:
            for _ in range(300):  # the bot starts, sets both webhooks, then listens
                await asyncio.sleep(0.1)
                if not b.webhook_url:
                    continue
                try:
                    await post_webhook(f"http://127.0.0.1:{port}/healthz", b"")
                    break
                except aiohttp.ClientConnectionError:
                    continue
            assert a.webhook_url == "https://bot.example.vn/webhook/zalo"
            assert b.webhook_url == f"https://bot.example.vn/webhook/zalo/{B}"
            assert len(b.webhook_secret) >= 16 and b.webhook_secret != a.webhook_secret
            event = {"ok": True, "result": text_event(RESIDENT, RESIDENT, "/lienhe")}
            # Bot A's secret does not open bot B's path.
            status, _ = await post_webhook(f"{base}/{B}", event, secret=a.webhook_secret)
            assert status == 403
            status, _ = await post_webhook(f"{base}/{B}", event, secret=b.webhook_secret)
            assert status == 200
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stderr.decode()
    assert process.returncode == 0, log
    # Bot B answered in its own commune; bot A sent nothing.
    assert b.texts_to(RESIDENT)[0].startswith("Thôn, tổ dân phố nào ạ?")
    assert a.texts_to(RESIDENT) == []
    for secret in (TOKEN_A, TOKEN_B, "zalo-token-of", a.webhook_secret, b.webhook_secret):
        assert secret not in log
