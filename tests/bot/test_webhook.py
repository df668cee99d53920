"""Webhook mode: one aiohttp server for Zalo and Telegram, secrets checked, replays handled once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa

from bot.app import App
from bot.channels.telegram import TelegramChannel, build_application
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_api import ZaloBotApi
from bot.webhook import TELEGRAM_SECRET_HEADER, Endpoints, WebhookServer, parse_listen
from db.schema import conversations, processed_updates, visits
from handlers.services import invites
from tests.auxil.fake_telegram import FakeTelegram
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
        endpoints = Endpoints(
            zalo=zalo,
            zalo_secret=ZALO_SECRET,
            telegram=telegram,
            telegram_secret=TELEGRAM_SECRET,
        )
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
        assert status in (404, 405)
    finally:
        await server.stop()
