"""Webhook mode: one aiohttp server for Zalo and Telegram, secrets checked, replays handled once."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa

from bench.fake_telegram import FakeTelegram
from bot.app import App
from bot.channels.telegram import SECRET_HEADER as TELEGRAM_SECRET_HEADER
from bot.channels.telegram import TelegramChannel, build_application
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_api import ZaloBotApi
from bot.config import Settings
from bot.webhook import (
    MAX_BODY,
    Endpoints,
    Hook,
    SecretGuard,
    WebhookSecretError,
    WebhookServer,
    derive_secret,
    parse_listen,
    parse_networks,
    webhook_secret,
)
from db.schema import conversations, processed_updates, visits
from handlers.services import invites
from tests.auxil.fake_zalo import FakeZaloServer, envelope, post_webhook, text_event

TOKEN = "777:zalo-webhook-token"
ZALO_SECRET = "zalo-secret-0123456789"
TELEGRAM_SECRET = "telegram-secret_0123"
TG_USER = 6001


@dataclass
class Served:
    url: str
    zalo: FakeZaloServer
    telegram: FakeTelegram

    def zalo_texts(self, chat_id: str) -> list[str]:
        return [
            m["text"]
            for m in self.zalo.sent
            if m["method"] == "sendMessage" and m["chat_id"] == chat_id
        ]


@pytest.fixture
async def served(app: App) -> AsyncIterator[Served]:
    async with (
        FakeZaloServer(TOKEN) as fake_zalo,
        FakeTelegram() as fake_tg,
        httpx.AsyncClient() as http,
    ):
        zalo = ZaloChannel(
            ZaloBotApi(TOKEN, base_url=fake_zalo.base_url, client=http), app.dispatcher.handle
        )
        telegram = TelegramChannel(
            build_application(fake_tg.token, base_url=fake_tg.base_url, rate_limit=0),
            app.dispatcher.handle,
        )
        await telegram.open()
        endpoints = Endpoints([Hook(zalo, ZALO_SECRET), Hook(telegram, TELEGRAM_SECRET)])
        server = WebhookServer(endpoints, "127.0.0.1:0")
        await server.start()
        yield Served(f"http://127.0.0.1:{server.bound_port}", fake_zalo, fake_tg)
        await server.stop()
        await telegram.close()


async def _count(app: App, table: sa.Table) -> int:
    async with app.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def _post(url: str, body: Any, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **headers},
        ) as response,
    ):
        return response.status


def test_listen_address_is_parsed() -> None:
    assert parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_listen(":9000") == ("0.0.0.0", 9000)
    with pytest.raises(ValueError):
        parse_listen("8080x")


async def test_health(served: Served) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{served.url}/healthz") as r:
        assert r.status == 200 and (await r.json()) == {"ok": True}


async def test_zalo_with_the_right_secret_is_handled(app: App, served: Served) -> None:
    event = text_event("z-1", "z-1", "menu", message_id="aa01")
    status, _ = await post_webhook(
        f"{served.url}/webhook/zalo", envelope(event), secret=ZALO_SECRET
    )
    assert status == 200
    assert "1. " in served.zalo_texts("z-1")[0]  # answered before the 200
    flat = text_event("z-1", "z-1", "/trogiup", message_id="aa02")  # as observed live: no wrapper
    status, _ = await post_webhook(f"{served.url}/webhook/zalo", flat, secret=ZALO_SECRET)
    assert status == 200 and len(served.zalo_texts("z-1")) == 2
    assert await _count(app, processed_updates) == 2


@pytest.mark.parametrize("secret", ["wrong-secret-123", None, "", ZALO_SECRET + "x"])
async def test_zalo_without_the_right_secret_is_refused_and_changes_nothing(
    app: App, served: Served, secret: str | None
) -> None:
    event = text_event("z-2", "z-2", "menu", message_id="bb01")
    status, _ = await post_webhook(f"{served.url}/webhook/zalo", envelope(event), secret=secret)
    assert status == 403
    assert served.zalo.sent == []
    assert await _count(app, processed_updates) == 0
    assert await _count(app, conversations) == 0


async def test_zalo_replayed_update_is_handled_once(app: App, served: Served) -> None:
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role="member",
            unit_code="duc-chanh-thon-1",
            uses=1,
            expires_in=timedelta(days=1),
            now=datetime.now(UTC),
        )
    url = f"{served.url}/webhook/zalo"
    join = text_event("z-3", "z-3", f"dangky {invite.code}", message_id="cc01")
    assert (await post_webhook(url, envelope(join), secret=ZALO_SECRET))[0] == 200
    report = text_event("z-3", "z-3", "/bc Phạm Văn Cường; ; dvc,tt; kh=1", message_id="cc02")
    statuses = await asyncio.gather(
        *(post_webhook(url, envelope(report), secret=ZALO_SECRET) for _ in range(3))
    )
    assert [s for s, _ in statuses] == [200, 200, 200]
    assert (await post_webhook(url, report, secret=ZALO_SECRET))[0] == 200
    assert await _count(app, visits) == 1
    saved = [t for t in served.zalo_texts("z-3") if "Đã lưu" in t]
    assert len(saved) == 1


async def test_zalo_body_that_is_not_json_is_a_bad_request(served: Served) -> None:
    status, _ = await post_webhook(f"{served.url}/webhook/zalo", b"not json", secret=ZALO_SECRET)
    assert status == 400


async def test_telegram_webhook_checks_its_own_secret(app: App, served: Served) -> None:
    served.telegram.user_says(TG_USER, "/menu")
    update = served.telegram.pending.pop()
    url = f"{served.url}/webhook/telegram"
    assert await _post(url, update, {}) == 403
    assert await _post(url, update, {TELEGRAM_SECRET_HEADER: "nope"}) == 403
    assert await _post(url, update, {"X-Bot-Api-Secret-Token": TELEGRAM_SECRET}) == 403
    assert await _count(app, processed_updates) == 0
    assert await _post(url, update, {TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET}) == 200
    assert "Xin chào" in served.telegram.texts_to(TG_USER)[0]
    assert await _post(url, update, {TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET}) == 200
    assert await _count(app, processed_updates) == 1


async def test_unconfigured_channel_has_no_route(app: App) -> None:
    server = WebhookServer(Endpoints(), "127.0.0.1:0")
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.bound_port}/webhook/zalo"
        status, _ = await post_webhook(url, text_event("c", "u", "hi"), secret=ZALO_SECRET)
        assert status == 404
    finally:
        await server.stop()


# --- secrets -------------------------------------------------------------------------------
def test_a_secret_shorter_than_16_characters_is_refused_without_quoting_it() -> None:
    with pytest.raises(WebhookSecretError) as short:
        webhook_secret("telegram", "Ab3_Ab3_Ab3_Ab3", "1:token")
    assert "TELEGRAM_WEBHOOK_SECRET" in str(short.value) and "16" in str(short.value)
    assert "Ab3_" not in str(short.value)
    with pytest.raises(WebhookSecretError):
        webhook_secret("zalo", "x" * 15, "1:token")
    assert webhook_secret("zalo", "x" * 16, "1:token") == "x" * 16
    # Telegram accepts only A-Z a-z 0-9 _ - (it would refuse setWebhook otherwise).
    with pytest.raises(WebhookSecretError):
        webhook_secret("telegram", "sixteen chars ok!", "1:token")
    with pytest.raises(WebhookSecretError):
        webhook_secret("telegram", "a" * 257, "1:token")


def test_without_a_secret_one_is_derived_from_the_token_the_same_on_every_worker() -> None:
    first = webhook_secret("telegram", None, "123456:AA-token")
    assert first == webhook_secret("telegram", "", "123456:AA-token")  # an empty line in .env
    assert first == derive_secret("123456:AA-token", "telegram")  # another worker, same token
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first)  # Telegram's and Zalo's rules, 16+ long
    assert first != derive_secret("123456:AB-token", "telegram")
    assert first != derive_secret("123456:AA-token", "zalo")
    assert "AA-token" not in first
    # A fixed value: changing the derivation would silently break running webhooks.
    assert (
        derive_secret("123456:AA-token", "telegram")
        == "td7tzcQFvdbuMHfRt57DBfGIOhsu0lZG5nIgXuw0d-Q"
    )


# --- throttling wrong secrets --------------------------------------------------------------
async def test_wrong_secrets_are_throttled_then_answered_429_unchecked(
    app: App, served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{served.url}/webhook/zalo"
    event = text_event("z-9", "z-9", "menu", message_id="dd01")
    with caplog.at_level(logging.WARNING, logger="bot.webhook"):
        statuses = [
            (await post_webhook(url, envelope(event), secret=f"guess-{n:012d}"))[0]
            for n in range(5)
        ]
        assert statuses == [403] * 5
        # Blocked now: even the right secret is not checked, nothing is handled.
        for _ in range(12):
            status, _ = await post_webhook(url, envelope(event), secret=ZALO_SECRET)
            assert status == 429
        served.telegram.user_says(TG_USER, "/menu")
        update = served.telegram.pending.pop()
        assert (
            await _post(
                f"{served.url}/webhook/telegram", update, {TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET}
            )
            == 429
        )
    assert served.zalo.sent == [] and await _count(app, processed_updates) == 0
    # Sampled: the first failure, the block, and the 1st and 10th unchecked refusal.
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.webhook"]
    assert len(lines) == 4, lines
    assert "from 127.0.0.1" in lines[0] and "refusing it for" in lines[1]
    for line in lines:
        assert "guess-" not in line and ZALO_SECRET not in line and "menu" not in line


def test_the_block_ends_and_a_right_secret_clears_the_count() -> None:
    now = [1000.0]
    guard = SecretGuard(limit=3, window=60, block=120, clock=lambda: now[0])
    for _ in range(2):
        guard.failed("203.0.113.5", "Zalo")
    guard.succeeded("203.0.113.5")
    guard.failed("203.0.113.5", "Zalo")
    assert guard.blocked_for("203.0.113.5") == 0  # 1 failure since the success
    guard.failed("203.0.113.5", "Zalo")
    guard.failed("203.0.113.5", "Zalo")
    assert guard.blocked_for("203.0.113.5") == 120
    assert guard.blocked_for("198.51.100.7") == 0  # another source is not affected
    now[0] += 121
    assert guard.blocked_for("203.0.113.5") == 0


async def test_behind_a_trusted_proxy_each_client_is_throttled_on_its_own(app: App) -> None:
    async with FakeZaloServer(TOKEN) as fake_zalo, httpx.AsyncClient() as http:
        zalo = ZaloChannel(
            ZaloBotApi(TOKEN, base_url=fake_zalo.base_url, client=http), app.dispatcher.handle
        )
        endpoints = Endpoints(
            [Hook(zalo, ZALO_SECRET)], trusted_proxies=parse_networks("127.0.0.1")
        )
        server = WebhookServer(endpoints, "127.0.0.1:0")
        await server.start()
        url = f"http://127.0.0.1:{server.bound_port}/webhook/zalo"
        try:

            async def post(secret: str, client: str, message_id: str) -> int:
                body = json.dumps(envelope(text_event("z-5", "z-5", "menu", message_id=message_id)))
                async with (
                    aiohttp.ClientSession() as session,
                    session.post(
                        url,
                        data=body.encode(),
                        headers={
                            "X-Bot-Api-Secret-Token": secret,
                            "X-Forwarded-For": f"10.9.9.9, {client}",
                        },
                    ) as response,
                ):
                    return response.status

            attacker, platform = "203.0.113.66", "149.154.167.220"
            assert [await post(f"wrong-{n:010d}", attacker, "ee01") for n in range(5)] == [403] * 5
            assert await post(ZALO_SECRET, attacker, "ee01") == 429
            # Zalo's own request, through the same proxy, still gets through.
            assert await post(ZALO_SECRET, platform, "ee02") == 200
            assert len([m for m in fake_zalo.sent if m["method"] == "sendMessage"]) == 1
        finally:
            await server.stop()


# --- slow and large requests ---------------------------------------------------------------
@pytest.fixture
async def strict_server(app: App) -> AsyncIterator[str]:
    """A webhook server with short timeouts: header 0.5 s, body 0.5 s."""
    async with FakeZaloServer(TOKEN) as fake_zalo, httpx.AsyncClient() as http:
        zalo = ZaloChannel(
            ZaloBotApi(TOKEN, base_url=fake_zalo.base_url, client=http), app.dispatcher.handle
        )
        server = WebhookServer(
            Endpoints([Hook(zalo, ZALO_SECRET)]),
            "127.0.0.1:0",
            header_timeout=0.5,
            body_timeout=0.5,
        )
        await server.start()
        yield f"127.0.0.1:{server.bound_port}"
        await server.stop()


async def _closed_after(reader: asyncio.StreamReader, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    received = await asyncio.wait_for(reader.read(), limit)
    return received, time.monotonic() - started


async def test_a_slow_header_connection_is_closed(strict_server: str) -> None:
    host, port = strict_server.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    # The request line and one header, then nothing more (a slowloris client).
    writer.write(b"POST /webhook/zalo HTTP/1.1\r\nHost: bot\r\n")
    await writer.drain()
    received, _ = await _closed_after(reader, 5)  # closed well before 5 s (header timeout 0.5 s)
    assert received == b""
    writer.close()


async def test_a_connection_that_sends_nothing_is_closed(strict_server: str) -> None:
    host, port = strict_server.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    assert await _closed_after(reader, 5) and reader.at_eof()
    writer.close()


async def test_a_slow_body_gets_408_and_the_connection_closes(app: App, strict_server: str) -> None:
    host, port = strict_server.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /webhook/zalo HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
        + f"X-Bot-Api-Secret-Token: {ZALO_SECRET}\r\nContent-Length: 500\r\n\r\n".encode()
        + b'{"ok": true, '
    )
    await writer.drain()
    received, _ = await _closed_after(reader, 5)
    assert received.startswith(b"HTTP/1.1 408")
    writer.close()
    assert await _count(app, processed_updates) == 0


async def test_a_body_over_the_limit_is_refused(app: App, served: Served) -> None:
    event = text_event("z-8", "z-8", "x" * (MAX_BODY + 10), message_id="ff01")
    status, _ = await post_webhook(
        f"{served.url}/webhook/zalo", envelope(event), secret=ZALO_SECRET
    )
    assert status == 413
    assert await _count(app, processed_updates) == 0


def test_the_default_listen_address_is_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBHOOK_LISTEN", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.webhook_listen == "127.0.0.1:8080"
    server = WebhookServer(Endpoints(), settings.webhook_listen)
    assert (server.host, server.port) == ("127.0.0.1", 8080)
