"""The table of channels (bot/channels/registry.py): it alone decides what `run` and `notify
send` open, so a channel added there is served everywhere."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bench.fake_telegram import FakeTelegram
from bot.app import App
from bot.channels import registry
from bot.channels.base import Blocked, Channel, DeliveryError, Invalid, RetryLater
from bot.channels.local import LocalChannel
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel
from bot.config import Settings
from bot.outbox import OutboxSender
from bot.render import Capabilities, as_texts
from bot.usage import MeteredOutboxSender
from core.events import Reply
from db.repos import outbox
from tests.auxil.cli import run_json
from tests.auxil.fake_zalo import FakeZaloServer, post_webhook, text_event
from tests.auxil.process import operator_env, start_bot
from tests.bot.test_notify import add_people, villages
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parents[2]
ZALO_TOKEN = "4242:zalo-table-token"
SEPT_18 = "2024-09-18T07:30+07:00"


def names(rows: list[registry.ChannelType]) -> list[str]:
    return [row.name for row in rows]


# --- the table ------------------------------------------------------------------------------
def test_the_table_configures_exactly_the_channels_that_have_settings() -> None:
    bare = settings_for("sqlite+aiosqlite://")
    assert names(registry.configured(bare)) == ["local"]
    assert names(registry.served(bare)) == []  # `run` falls back to the local chat

    telegram = settings_for("sqlite+aiosqlite://", telegram_token="1:t")
    assert names(registry.configured(telegram)) == ["telegram", "local"]
    assert names(registry.served(telegram)) == ["telegram"]

    zalo = settings_for("sqlite+aiosqlite://", zalo_bot_token="2:z")
    assert names(registry.served(zalo)) == ["zalo"]

    both = settings_for("sqlite+aiosqlite://", telegram_token="1:t", zalo_bot_token="2:z")
    assert names(registry.configured(both)) == ["telegram", "zalo", "local"]
    assert names(registry.served(both)) == ["telegram", "zalo"]
    # Only channels with a token get a webhook secret; a polling one is checked all the same.
    assert sorted(registry.webhook_secrets(both)) == ["telegram", "zalo"]
    assert sorted(registry.webhook_secrets(zalo)) == ["zalo"]


def _with(app: App, settings: Settings) -> App:
    return dataclasses.replace(app, settings=settings)


async def test_the_table_opens_each_configured_channel_with_its_sender(app: App) -> None:
    async with FakeTelegram() as tg, FakeZaloServer(ZALO_TOKEN) as zalo:
        settings = settings_for(
            app.settings.database_url,
            telegram_token=tg.token,
            telegram_base_url=tg.base_url,
            telegram_rate_limit=0,
            zalo_bot_token=ZALO_TOKEN,
            zalo_base_url=zalo.base_url,
        )
        opened = await registry.open_channels(_with(app, settings), registry.configured(settings))
        try:
            live = opened.live
            assert list(live) == ["telegram", "zalo", "local"]
            assert isinstance(live["telegram"].channel, TelegramChannel)
            assert isinstance(live["zalo"].channel, ZaloChannel)
            assert isinstance(live["local"].channel, LocalChannel)
            for name, channel in live.items():
                assert isinstance(channel.channel, Channel)
                assert channel.channel.name == name == channel.sender.channel
            # Zalo's usage meter stays with Zalo: only its sender reads it.
            assert isinstance(opened.senders["zalo"], MeteredOutboxSender)
            assert not isinstance(opened.senders["telegram"], MeteredOutboxSender)
            assert await live["zalo"].channel.whoami() == "Zalo bot bot.fake"
        finally:
            await opened.close()
    # The Telegram bot's username was learnt while opening (for invite links).
    assert app.services.telegram_username == "test_cnscd_bot"


async def test_a_channel_that_fails_to_open_closes_those_already_open(app: App) -> None:
    closed: list[str] = []

    async def first(app: App) -> registry.Live:
        async def close() -> None:
            closed.append("first")

        channel = Pigeon()
        return registry.Live(channel, OutboxSender(app.db, "first", channel.send_reply), [close])

    async def refused(_app: App) -> registry.Live:
        raise RuntimeError("no such account")

    rows = [
        registry.ChannelType("first", configured=lambda s: True, open=first),
        registry.ChannelType("second", configured=lambda s: True, open=refused),
    ]
    with pytest.raises(RuntimeError):
        await registry.open_channels(app, rows)
    assert closed == ["first"]


# --- a new channel is one row ---------------------------------------------------------------
class Pigeon:
    """A channel the bot never shipped: it only exists in this test's row of the table."""

    name = "pigeon"
    label = "Pigeon post"
    capabilities = Capabilities(buttons=False, edit=False, max_text=500, html=False)

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []

    async def whoami(self) -> str:
        return "Pigeon post"

    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        for text in as_texts(reply, self.capabilities):
            self.delivered.append((chat_id, text))


@pytest.fixture
def pigeon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pigeon]:
    """Registers the pigeon channel in the table (and only there) for one test."""
    channel = Pigeon()

    async def open_pigeon(app: App) -> registry.Live:
        sender = OutboxSender(app.db, channel.name, channel.send_reply)
        return registry.Live(channel, sender)

    row = registry.ChannelType("pigeon", configured=lambda s: True, open=open_pigeon)
    monkeypatch.setattr(registry, "CHANNELS", (*registry.CHANNELS, row))
    yield channel


async def test_notify_send_delivers_through_a_channel_registered_only_in_the_table(
    app: App, pigeon: Pigeon, capsys: pytest.CaptureFixture[str]
) -> None:
    thon = await villages(app.db, "duc-chanh")
    await add_people(app.db, "leader", thon[:2], channel="pigeon")
    await add_people(app.db, "commune_officer", ["duc-chanh"], channel="pigeon", start=10)

    result = await run_json(app, capsys, "notify", "send", "--now", SEPT_18)

    assert result == {"sent": 3, "already_sent": 0, "failed": 0, "pending": 0}
    assert sorted(chat for chat, _ in pigeon.delivered) == ["1", "10", "2"]
    async with app.db.read() as conn:
        assert (await outbox.counts(conn, "deadline:"))["pending"] == 0
    again = await run_json(app, capsys, "notify", "send", "--now", SEPT_18)
    assert again == {"sent": 0, "already_sent": 3, "failed": 0, "pending": 0}
    assert len(pigeon.delivered) == 3


# --- what a failed send means ---------------------------------------------------------------
def test_the_kinds_of_delivery_error_say_whether_to_retry() -> None:
    assert isinstance(RetryLater("x"), DeliveryError)
    later = RetryLater("429", retry_after=3)
    assert (later.retry_after, later.permanent) == (3, False)
    assert RetryLater("network").retry_after is None
    assert Blocked().permanent and Blocked().retry_after is None
    assert Invalid("400 bad request").permanent


async def test_a_blocked_chat_fails_at_once_and_a_flood_wait_keeps_the_row(app: App) -> None:
    now = datetime.now(UTC)
    async with app.db.transaction() as conn:
        for chat in ("gone", "busy"):
            await outbox.enqueue(
                conn,
                key=f"k:{chat}",
                channel="pigeon",
                chat_id=chat,
                payload=Reply("x").to_json(),
                now=now,
            )

    async def send(chat_id: str, _reply: Reply) -> None:
        if chat_id == "gone":
            raise Blocked()
        raise RetryLater("429", retry_after=0.1)

    result = await OutboxSender(app.db, "pigeon", send).drain()
    assert (result.failed, result.retried, result.sent) == (1, 1, 0)
    async with app.db.read() as conn:
        assert await outbox.counts(conn, "k:") == {"sent": 0, "failed": 1, "pending": 1}


# --- `run` serves a webhook channel from its row --------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_registers_and_serves_the_zalo_webhook_from_the_table(tmp_path: Path) -> None:
    port = _free_port()
    environment = operator_env()
    async with FakeZaloServer(ZALO_TOKEN, idle_wait=0.1) as zalo:
        environment.update(
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            ZALO_BOT_TOKEN=ZALO_TOKEN,
            ZALO_BASE_URL=zalo.base_url,
            ZALO_WEBHOOK_URL="https://bot.example.vn",
            WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        )
        process = await start_bot(environment)
        try:
            url = f"http://127.0.0.1:{port}/webhook/zalo"
            event = text_event("c-1", "u-1", "menu", message_id="run-1")
            status = 0
            for _ in range(300):  # the bot registers its webhook, then listens
                await asyncio.sleep(0.1)
                if not zalo.webhook_url:
                    continue
                try:
                    status, _ = await post_webhook(url, event, secret=zalo.webhook_secret)
                    break
                except aiohttp.ClientConnectionError:
                    continue
            assert zalo.webhook_url == "https://bot.example.vn/webhook/zalo"
            assert len(zalo.webhook_secret) >= 16
            assert status == 200
            assert any(m["chat_id"] == "c-1" for m in zalo.sent if m["method"] == "sendMessage")
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert ZALO_TOKEN not in stderr.decode()
