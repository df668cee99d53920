"""ZaloBotApi against a real HTTP fake of the Zalo Bot Platform (no mocks)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.channels.zalo_api import (
    DEFAULT_BASE_URL,
    SECRET_HEADER,
    ZaloBadRequest,
    ZaloBotApi,
    ZaloError,
    ZaloNetworkError,
    ZaloRateLimited,
    ZaloServerError,
    ZaloUnauthorized,
    ZaloUpdate,
    parse_webhook_body,
    verify_webhook_secret,
)
from tests.auxil.fake_zalo import FakeZaloServer, envelope, post_webhook, text_event

TOKEN = "1234567890:s3cr3t-T0ken-value"
SECRET = "webhook-secret-123"


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloServer]:
    async with FakeZaloServer(TOKEN, idle_wait=0.05) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
def api(zalo: FakeZaloServer, http: httpx.AsyncClient) -> ZaloBotApi:
    return ZaloBotApi(TOKEN, base_url=zalo.base_url, client=http)


# --- API calls ----------------------------------------------------------------------------


async def test_default_base_url_is_the_official_host() -> None:
    assert DEFAULT_BASE_URL == "https://bot-api.zaloplatforms.com"


async def test_get_me(api: ZaloBotApi) -> None:
    me = await api.get_me()
    assert me.id == "1234567890"
    assert me.account_type == "BASIC"
    assert me.can_join_groups is False


async def test_text_update_round_trip(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    pushed = zalo.push_text("chat-1", "user-1", "xin chào", display_name="Chị Lan")

    updates = await api.get_updates(timeout=5)

    assert len(updates) == 1
    update = updates[0]
    assert update.event_name == "message.text.received"
    assert update.message_id == pushed["message"]["message_id"]
    assert (update.chat_id, update.user_id) == ("chat-1", "user-1")
    assert update.display_name == "Chị Lan"
    assert update.text == "xin chào"
    assert update.chat_type == "PRIVATE"
    assert isinstance(update.date, int) and update.sent_at is not None
    assert update.raw == pushed

    sent = await api.send_message(update.chat_id or "", "chào chị")
    assert sent.message_id
    assert zalo.sent[-1]["chat_id"] == "chat-1"
    assert zalo.sent[-1]["text"] == "chào chị"


async def test_get_updates_delivers_one_update_per_poll(
    zalo: FakeZaloServer, api: ZaloBotApi
) -> None:
    zalo.push_text("c", "u", "một")
    zalo.push_text("c", "u", "hai")

    first = await api.get_updates()
    second = await api.get_updates()

    assert [u.text for u in first + second] == ["một", "hai"]
    assert (first[0].message_id or "") < (second[0].message_id or "")
    assert zalo.requests[0][1]["timeout"] == "30"


async def test_idle_poll_returns_empty_list(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    assert await api.get_updates(timeout=1) == []
    assert zalo.calls == ["getUpdates"]


async def test_result_as_list_is_accepted(http: httpx.AsyncClient) -> None:
    async with FakeZaloServer(TOKEN, idle_wait=0.05, result_as_list=True) as zalo:
        zalo.push_text("c", "u", "danh sách")
        api = ZaloBotApi(TOKEN, base_url=zalo.base_url, client=http)
        assert [u.text for u in await api.get_updates()] == ["danh sách"]


async def test_rate_limited_carries_retry_after(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    zalo.fail_next("getUpdates", status=429, retry_after=7)
    zalo.fail_next("sendMessage", status=429)

    with pytest.raises(ZaloRateLimited) as poll_error:
        await api.get_updates()
    with pytest.raises(ZaloRateLimited) as send_error:
        await api.send_message("c", "hi")

    assert poll_error.value.retry_after == 7
    assert poll_error.value.error_code == 429
    assert send_error.value.retry_after is None
    assert zalo.sent == []


async def test_server_error(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    zalo.fail_next("getUpdates", times=2, status=500)

    for _ in range(2):
        with pytest.raises(ZaloServerError) as excinfo:
            await api.get_updates()
        assert excinfo.value.error_code == 500
    assert await api.get_updates() == []  # the failures are used up


async def test_bad_token_is_unauthorized_and_never_leaks(
    zalo: FakeZaloServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    bad_token = "999:definitely-wrong-token"
    api = ZaloBotApi(bad_token, base_url=zalo.base_url, client=http)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ZaloUnauthorized) as excinfo:
        await api.get_me()

    message = str(excinfo.value)
    assert excinfo.value.error_code == 401
    assert "token was rejected" in message
    assert "bot<redacted>/getMe" in message
    assert bad_token not in message and "definitely-wrong" not in message
    assert bad_token not in repr(api)
    assert caplog.records, "httpx should have logged the request"
    for record in caplog.records:
        assert "definitely-wrong" not in record.getMessage()
    assert "definitely-wrong" not in caplog.text


async def test_network_error_is_redacted(http: httpx.AsyncClient) -> None:
    async with FakeZaloServer(TOKEN) as zalo:
        base_url = zalo.base_url
    api = ZaloBotApi(TOKEN, base_url=base_url, client=http)  # nothing listens there now

    with pytest.raises(ZaloNetworkError) as excinfo:
        await api.get_me()

    assert isinstance(excinfo.value, ZaloError)
    assert "s3cr3t" not in str(excinfo.value)


async def test_send_message_is_recorded(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    result = await api.send_message("chat-9", "Nhắc việc: họp tổ lúc 9 giờ", parse_mode="markdown")

    assert zalo.sent == [
        {
            "method": "sendMessage",
            "chat_id": "chat-9",
            "text": "Nhắc việc: họp tổ lúc 9 giờ",
            "parse_mode": "markdown",
            "message_id": result.message_id,
            "date": result.date,
        }
    ]


async def test_text_over_2000_characters_is_rejected(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    await api.send_message("c", "a" * 2000)

    with pytest.raises(ZaloBadRequest) as excinfo:
        await api.send_message("c", "a" * 2001)

    assert excinfo.value.error_code == 400
    assert "2000" in excinfo.value.description
    assert len(zalo.sent) == 1


async def test_send_photo_takes_a_url_only(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    await api.send_photo("c", "https://example.org/a.jpg", caption="ảnh")

    assert zalo.sent[-1]["photo"] == "https://example.org/a.jpg"
    assert zalo.sent[-1]["caption"] == "ảnh"
    with pytest.raises(TypeError):
        await api.send_photo("c", b"\x89PNG")  # type: ignore[arg-type]
    assert len(zalo.sent) == 1


async def test_send_chat_action(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    await api.send_chat_action("c")

    assert zalo.sent == [{"method": "sendChatAction", "chat_id": "c", "action": "typing"}]


async def test_webhook_lifecycle(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    assert (await api.get_webhook_info()).url == ""  # a clean bot answers 404

    info = await api.set_webhook("https://bot.example.org/zalo", SECRET)
    assert info.url == "https://bot.example.org/zalo" and info.updated_at
    assert (await api.get_webhook_info()).url == "https://bot.example.org/zalo"
    assert zalo.webhook_secret == SECRET

    assert (await api.delete_webhook()).url == ""
    assert (await api.get_webhook_info()).url == ""


async def test_set_webhook_checks_secret_length(zalo: FakeZaloServer, api: ZaloBotApi) -> None:
    with pytest.raises(ValueError):
        await api.set_webhook("https://bot.example.org/zalo", "short")
    assert zalo.calls == []


async def test_owned_client_is_closed_and_shared_one_is_not(
    zalo: FakeZaloServer, http: httpx.AsyncClient
) -> None:
    async with ZaloBotApi(TOKEN, base_url=zalo.base_url) as owned:
        assert (await owned.get_me()).id == "1234567890"

    shared = ZaloBotApi(TOKEN, base_url=zalo.base_url, client=http)
    await shared.aclose()
    assert not http.is_closed
    assert (await shared.get_me()).id == "1234567890"


# --- webhook helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({SECRET_HEADER: SECRET}, True),
        ({SECRET_HEADER.lower(): SECRET}, True),
        ({SECRET_HEADER: SECRET + "x"}, False),
        ({SECRET_HEADER: ""}, False),
        ({}, False),
    ],
    ids=["right", "lowercase-header", "wrong", "empty", "missing"],
)
def test_verify_webhook_secret(headers: dict[str, str], expected: bool) -> None:
    assert verify_webhook_secret(SECRET, headers) is expected


def test_verify_webhook_secret_fails_closed_without_expected_secret() -> None:
    assert verify_webhook_secret("", {SECRET_HEADER: ""}) is False


def test_parse_webhook_body_enveloped_and_bare() -> None:
    event = text_event("chat-1", "user-1", "chào bot", message_id="2d758cb5e222177a4e35")

    enveloped = parse_webhook_body(json.dumps(envelope(event)).encode())
    bare = parse_webhook_body(json.dumps(event).encode())

    assert enveloped == bare
    assert [(u.message_id, u.chat_id, u.text) for u in bare] == [
        ("2d758cb5e222177a4e35", "chat-1", "chào bot")
    ]


def test_parse_webhook_body_other_events_do_not_fail() -> None:
    photo = {
        "event_name": "message.image.received",
        "message": {"message_id": "m2", "photo_url": "https://x/y.jpg", "chat": {"id": "c"}},
    }
    added = {"event_name": "bot.added.to.group"}

    updates = parse_webhook_body(json.dumps(envelope([photo, added])).encode())

    assert [u.event_name for u in updates] == ["message.image.received", "bot.added.to.group"]
    assert updates[0].photo_url == "https://x/y.jpg" and updates[0].text is None
    assert updates[1] == ZaloUpdate("bot.added.to.group", None, None, None, None, None, None)


def test_parse_webhook_body_rejects_non_json() -> None:
    with pytest.raises(ValueError):
        parse_webhook_body(b"<html>")


async def test_webhook_over_http_with_and_without_secret() -> None:
    received: list[ZaloUpdate] = []

    async def handle(request: web.Request) -> web.Response:
        if not verify_webhook_secret(SECRET, request.headers):
            return web.Response(status=403)
        received.extend(parse_webhook_body(await request.read()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/zalo", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/zalo"
        event = text_event("c", "u", "qua webhook")

        assert (await post_webhook(url, envelope(event), secret=SECRET))[0] == 200
        assert (await post_webhook(url, event, secret=SECRET))[0] == 200
        assert (await post_webhook(url, event, secret="wrong-secret"))[0] == 403
        assert (await post_webhook(url, event))[0] == 403
    finally:
        await runner.cleanup()

    assert [u.text for u in received] == ["qua webhook", "qua webhook"]
