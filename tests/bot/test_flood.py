"""A 300-message flood from one chat, through the real channels and fake platform servers.

The flooding chat gets the messages its limit allows and one "please slow down"; another user
who writes during the flood is answered within a couple of seconds, because the limit drops
the excess before any database work and chats are handled side by side while polling goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from bench.fake_telegram import FakeTelegram
from bot.app import App
from bot.channels.telegram import TelegramChannel, build_application
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_api import ZaloBotApi
from bot.webhook import ZALO_PATH, Endpoints, Hook, WebhookServer
from handlers.fairuse import FairUse, Limits
from tests.auxil.fake_zalo import SECRET_HEADER, FakeZaloServer, envelope, text_event

FLOOD = 300
LIMITS = Limits(messages=5, window=60, metered_messages=3, metered_channels=frozenset({"zalo"}))
THANKS = "Dạ, không có chi"
SLOW_DOWN = "Bạn gửi tin nhanh quá"
# "A couple of seconds": what a person would notice, with room for a loaded test machine.
BOUND = 2.5
FLOODER, OTHER = 7001, 7002


@pytest.fixture
async def telegram(app: App) -> AsyncIterator[FakeTelegram]:
    app.dispatcher.fair_use = FairUse(LIMITS)
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
        await asyncio.wait_for(task, 15)
        await channel.close()


async def test_a_telegram_flood_gets_a_handful_of_replies_and_delays_nobody(
    telegram: FakeTelegram,
) -> None:
    tg = telegram
    for _ in range(FLOOD):
        tg.user_says(FLOODER, "cảm ơn")
    started = time.monotonic()
    last = tg.user_says(OTHER, "cảm ơn")
    answer = await tg.wait_text(OTHER, THANKS, timeout=10)
    waited = time.monotonic() - started
    assert THANKS in answer
    assert waited < BOUND, f"the other user waited {waited:.2f} s"
    # Every update, up to the other user's, is handled and acknowledged exactly once.
    for _ in range(200):
        if tg.confirmed_offset > last:
            break
        await asyncio.sleep(0.05)
    assert tg.confirmed_offset > last
    texts = tg.texts_to(FLOODER)
    assert len(texts) == LIMITS.messages + 1
    assert all(THANKS in t for t in texts[:-1]) and SLOW_DOWN in texts[-1]


async def test_telegram_updates_of_one_chat_stay_in_order_while_chats_run_side_by_side(
    telegram: FakeTelegram,
) -> None:
    tg = telegram
    for _ in range(
        2
    ):  # back to back (within the limit): each "/huy" needs the flow the "/lienhe" before it opened
        tg.user_says(FLOODER, "/lienhe")
        tg.user_says(OTHER, "/lienhe")
        tg.user_says(FLOODER, "/huy")
        tg.user_says(OTHER, "/huy")
    for chat in (FLOODER, OTHER):
        texts = await tg.wait_for(chat, 4)
        assert ["xã nào" in t for t in texts] == [True, False] * 2, texts
        assert all("Đã huỷ" in t for t in texts[1::2]), texts


async def test_a_slow_chat_holds_up_neither_other_chats_nor_its_own_acknowledgement(
    telegram: FakeTelegram,
) -> None:
    """While one chat's update is still in progress, later updates of other chats are handled;
    the offset given back to Telegram stays at the unfinished one until it is done."""
    tg = telegram
    tg.slow_chats[FLOODER] = asyncio.Event()
    slow = tg.user_says(FLOODER, "cảm ơn")  # committed, but its answer is slow to go out
    await asyncio.sleep(0.3)
    started = time.monotonic()
    later = tg.user_says(OTHER, "cảm ơn")
    assert THANKS in await tg.wait_text(OTHER, THANKS, timeout=10)
    assert time.monotonic() - started < BOUND
    await asyncio.sleep(0.3)  # the poller has asked Telegram again meanwhile
    assert tg.confirmed_offset <= slow  # not acknowledged: a crash now gets it again
    tg.slow_chats[FLOODER].set()
    await tg.wait_text(FLOODER, THANKS, timeout=10)
    for _ in range(100):
        if tg.confirmed_offset > later:
            break
        await asyncio.sleep(0.05)
    assert tg.confirmed_offset > later
    assert len(tg.texts_to(FLOODER)) == len(tg.texts_to(OTHER)) == 1  # each handled once


TOKEN = "4242424242:zalo-secret-token-for-tests"
ZALO_SECRET = "zalo-webhook-secret-0123456789"


def zalo_texts(fake: FakeZaloServer, chat: str) -> list[str]:
    return [m["text"] for m in fake.sent if m["method"] == "sendMessage" and m["chat_id"] == chat]


async def test_a_zalo_flood_from_an_unregistered_chat_gets_its_tighter_limit(app: App) -> None:
    """Polling: Zalo hands out one message per call, so the other user's message is fetched
    only after the 300 ahead of it; once fetched, it is answered at once."""
    app.dispatcher.fair_use = FairUse(LIMITS)
    async with FakeZaloServer(TOKEN, idle_wait=0.1) as fake, httpx.AsyncClient() as http:
        api = ZaloBotApi(TOKEN, base_url=fake.base_url, client=http)
        channel = ZaloChannel(api, app.dispatcher.handle)
        for _ in range(FLOOD):
            fake.push_text("flooder", "flooder", "cảm ơn")
        fake.push_text("other", "other", "cảm ơn")
        stop = asyncio.Event()
        task = asyncio.create_task(channel.poll(stop, poll_timeout=1))
        try:
            for _ in range(3000):
                if not fake.pending:
                    break
                await asyncio.sleep(0.01)
            fetched = time.monotonic()  # the other user's message is in the bot's hands
            while not zalo_texts(fake, "other"):
                assert time.monotonic() - fetched < 10
                await asyncio.sleep(0.01)
            waited = time.monotonic() - fetched
            assert THANKS in zalo_texts(fake, "other")[0]
            assert waited < 1.0, f"answered {waited:.2f} s after it was fetched"
            await asyncio.sleep(0.3)  # anything still in hand is sent
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
    flood = zalo_texts(fake, "flooder")
    assert len(flood) == LIMITS.metered_messages + 1  # every reply is a paid Zalo message
    assert all(THANKS in t for t in flood[:-1]) and SLOW_DOWN in flood[-1]


async def test_a_zalo_webhook_flood_delays_nobody(app: App) -> None:
    """Webhook: each message is its own request; the flood's wait in its chat's queue, not
    the other user's."""
    app.dispatcher.fair_use = FairUse(LIMITS)
    async with FakeZaloServer(TOKEN) as fake, httpx.AsyncClient() as http:
        channel = ZaloChannel(
            ZaloBotApi(TOKEN, base_url=fake.base_url, client=http), app.dispatcher.handle
        )
        server = WebhookServer(Endpoints([Hook(channel, ZALO_SECRET)]), "127.0.0.1:0")
        await server.start()
        url = f"http://127.0.0.1:{server.bound_port}{ZALO_PATH}"
        try:
            async with aiohttp.ClientSession() as session:

                async def post(chat: str, number: int) -> float:
                    body = envelope(text_event(chat, chat, "cảm ơn", message_id=f"{chat}-{number}"))
                    started = time.monotonic()
                    headers = {SECRET_HEADER: ZALO_SECRET}
                    async with session.post(url, json=body, headers=headers) as response:
                        assert response.status == 200
                    return time.monotonic() - started

                flood = [asyncio.create_task(post("flooder", n)) for n in range(FLOOD)]
                await asyncio.sleep(0.05)  # the flood is under way
                waited = await post("other", 0)
                await asyncio.gather(*flood)
        finally:
            await server.stop()
    assert waited < BOUND, f"the other user waited {waited:.2f} s"
    assert THANKS in zalo_texts(fake, "other")[0]
    assert len(zalo_texts(fake, "flooder")) == LIMITS.metered_messages + 1
