"""A fake Zalo Bot Platform server (aiohttp on 127.0.0.1, free port) for tests.

It speaks the documented shapes: ``POST /bot<TOKEN>/<method>``, the ``{ok, result}`` envelope,
one update per getUpdates call, HTTP+``error_code`` 408 when a poll ends idle, 401 for a wrong
token, 400 for a text outside 1-2000 characters, 404 from getWebhookInfo before any webhook was
set. Tests push inbound events, read what the bot sent from ``.sent``, and inject failures (several
bots at one address: ``more_tokens=[...]``, then ``zalo.bot(token)`` for one of them)::

    async with FakeZaloServer("123:abc", idle_wait=0.1) as zalo:
        zalo.push_text("chat-1", "user-1", "xin chào")
        zalo.fail_next("sendMessage", status=429, retry_after=3)
        api = ZaloBotApi("123:abc", base_url=zalo.base_url, client=http)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

MAX_TEXT_LENGTH = 2000
SECRET_HEADER = "X-Bot-Api-Secret-Token"
JsonDict = dict[str, Any]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request timeout",
    429: "Too Many Requests: quota exceeded",
    500: "Internal Server Error",
}


def now_ms() -> int:
    """Current time in milliseconds, the unit Zalo uses for ``date``."""
    return int(time.time() * 1000)


def text_event(
    chat_id: str,
    user_id: str,
    text: str,
    *,
    message_id: str = "0000000000000000000a",
    display_name: str = "Người dùng thử",
    chat_type: str = "PRIVATE",
    date: int | None = None,
) -> JsonDict:
    """A bare ``message.text.received`` event, shaped like the documented webhook result."""
    return {
        "event_name": "message.text.received",
        "message": {
            "message_id": message_id,
            "date": now_ms() if date is None else date,
            "text": text,
            "from": {"id": user_id, "display_name": display_name, "is_bot": False},
            "chat": {"id": chat_id, "chat_type": chat_type},
        },
    }


def envelope(result: object) -> JsonDict:
    """Wrap ``result`` the documented way: ``{"ok": true, "result": ...}``."""
    return {"ok": True, "result": result}


def error_body(code: int, description: str | None = None) -> JsonDict:
    """The documented failure envelope."""
    return {"ok": False, "error_code": code, "description": description or _REASONS.get(code, "")}


async def post_webhook(
    url: str,
    body: Mapping[str, Any] | bytes,
    *,
    secret: str | None = None,
    request_timeout: float = 5.0,
) -> tuple[int, str]:
    """POST a webhook body to ``url`` as Zalo would; ``secret=None`` omits the header.

    Returns ``(status, response text)``.
    """
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=request_timeout)) as session,
        session.post(url, data=data, headers=headers) as response,
    ):
        return response.status, await response.text()


class FakeBot:
    """One bot token's state on the fake server: its queued updates, what it sent, its webhook.

    ``FakeZaloServer(token, more_tokens=[...])`` serves several bots at one address (as Zalo
    does); ``zalo.bot(token)`` is one of them, with the same controls as the server (which
    stand for its first token)."""

    def __init__(self, server: FakeZaloServer, token: str) -> None:
        self.server = server
        self.token = token
        self.sent: list[JsonDict] = []
        self.calls: list[str] = []
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_updated_at: int | None = None
        self._updates: asyncio.Queue[JsonDict] = asyncio.Queue()
        self._failures: defaultdict[str, deque[tuple[int, float | None]]] = defaultdict(deque)

    @property
    def bot_id(self) -> str:
        return self.token.split(":", 1)[0]

    def push(self, event: JsonDict) -> None:
        """Queue any event object for this bot's next getUpdates."""
        self._updates.put_nowait(event)

    def push_text(
        self,
        chat_id: str,
        user_id: str,
        text: str,
        display_name: str = "Người dùng thử",
        *,
        chat_type: str = "PRIVATE",
    ) -> JsonDict:
        """Queue a text message from ``user_id`` in ``chat_id``; returns the event."""
        event = text_event(
            chat_id,
            user_id,
            text,
            message_id=self.server.next_message_id(),
            display_name=display_name,
            chat_type=chat_type,
        )
        self.push(event)
        return event

    def fail_next(
        self, method: str, times: int = 1, *, status: int = 500, retry_after: float | None = None
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``status`` (e.g. 429, 500).

        For 429, ``retry_after`` is sent as a ``Retry-After`` header (Zalo documents none).
        """
        for _ in range(times):
            self._failures[method].append((status, retry_after))

    def texts_to(self, chat_id: str) -> list[str]:
        """The texts this bot sent to ``chat_id`` (a Zalo chat id, as Zalo knows it)."""
        return [
            m["text"] for m in self.sent if m["method"] == "sendMessage" and m["chat_id"] == chat_id
        ]

    @property
    def pending(self) -> int:
        """Updates queued and not yet delivered."""
        return self._updates.qsize()


class FakeZaloServer:
    """In-process Zalo Bot API; use as ``async with FakeZaloServer(token) as zalo``."""

    def __init__(
        self,
        token: str,
        *,
        more_tokens: tuple[str, ...] | list[str] = (),
        idle_wait: float = 0.5,
        result_as_list: bool = False,
    ) -> None:
        self.token = token
        self.idle_wait = idle_wait
        self.result_as_list = result_as_list
        self.requests: list[tuple[str, JsonDict]] = []
        self._bots = {t: FakeBot(self, t) for t in (token, *more_tokens)}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port = 0

    def bot(self, token: str) -> FakeBot:
        """The state of one of the bots served here."""
        return self._bots[token]

    @property
    def first(self) -> FakeBot:
        return self._bots[self.token]

    # The first bot's state, as the server's own (one-bot tests read these).
    @property
    def sent(self) -> list[JsonDict]:
        return self.first.sent

    @property
    def calls(self) -> list[str]:
        return self.first.calls

    @property
    def webhook_url(self) -> str:
        return self.first.webhook_url

    @property
    def webhook_secret(self) -> str:
        return self.first.webhook_secret

    @property
    def webhook_updated_at(self) -> int | None:
        return self.first.webhook_updated_at

    # -- lifecycle --

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """Pass this as ``base_url`` to the client."""
        if not self._port:
            raise RuntimeError("FakeZaloServer is not running; use `async with`")
        return f"http://127.0.0.1:{self._port}"

    # -- test controls --

    def next_message_id(self) -> str:
        """A fresh hex-like string id (Zalo style); lexically and numerically increasing."""
        return f"{next(self._ids):020x}"

    def push(self, event: JsonDict) -> None:
        """Queue any event object for the first bot's next getUpdates."""
        self.first.push(event)

    def push_text(
        self,
        chat_id: str,
        user_id: str,
        text: str,
        display_name: str = "Người dùng thử",
        *,
        chat_type: str = "PRIVATE",
    ) -> JsonDict:
        """Queue a text message from ``user_id`` in ``chat_id`` (to the first bot)."""
        return self.first.push_text(chat_id, user_id, text, display_name, chat_type=chat_type)

    def fail_next(
        self, method: str, times: int = 1, *, status: int = 500, retry_after: float | None = None
    ) -> None:
        """Make the first bot's next ``times`` calls of ``method`` fail with ``status``."""
        self.first.fail_next(method, times, status=status, retry_after=retry_after)

    @property
    def pending(self) -> int:
        """The first bot's updates queued and not yet delivered."""
        return self.first.pending

    # -- HTTP --

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        self.requests.append((method, params))
        bot = self._bots.get(request.match_info["token"])
        if bot is None:
            return _reply(401)
        bot.calls.append(method)
        if bot._failures[method]:
            status, retry_after = bot._failures[method].popleft()
            headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return _reply(status, headers=headers)
        handler = getattr(self, f"_m_{method}", None)  # method names are case-sensitive
        if handler is None:
            return _reply(404)
        result: web.Response = await handler(bot, params)
        return result

    async def _m_getMe(self, bot: FakeBot, params: JsonDict) -> web.Response:
        return _ok(
            {
                "id": bot.bot_id,
                "account_name": "bot.fake" if bot is self.first else f"bot.fake.{bot.bot_id}",
                "account_type": "BASIC",
                "can_join_groups": False,
                "display_name": "Bot Thử",
            }
        )

    async def _m_getUpdates(self, bot: FakeBot, params: JsonDict) -> web.Response:
        try:
            timeout = float(params.get("timeout", 30))
        except (TypeError, ValueError):
            return _reply(400, "timeout must be a number of seconds")
        try:
            event = await asyncio.wait_for(bot._updates.get(), min(self.idle_wait, timeout))
        except TimeoutError:
            return _reply(408)
        return _ok([event] if self.result_as_list else event)

    async def _m_setWebhook(self, bot: FakeBot, params: JsonDict) -> web.Response:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url.startswith("https://"):
            return _reply(400, "url must be an https URL")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            return _reply(400, "secret_token must be 8-256 characters")
        bot.webhook_url, bot.webhook_secret = url, secret
        bot.webhook_updated_at = now_ms()
        return _ok({"url": url, "updated_at": bot.webhook_updated_at})

    async def _m_deleteWebhook(self, bot: FakeBot, params: JsonDict) -> web.Response:
        bot.webhook_url, bot.webhook_secret = "", ""
        bot.webhook_updated_at = now_ms()
        return _ok({"url": "", "updated_at": bot.webhook_updated_at})

    async def _m_getWebhookInfo(self, bot: FakeBot, params: JsonDict) -> web.Response:
        if bot.webhook_updated_at is None:
            return web.json_response({"ok": False, "description": "Not Found"}, status=404)
        return _ok({"url": bot.webhook_url, "updated_at": bot.webhook_updated_at})

    async def _m_sendMessage(self, bot: FakeBot, params: JsonDict) -> web.Response:
        text = params.get("text")
        if not params.get("chat_id"):
            return _reply(400, "chat_id is required")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT_LENGTH:
            return _reply(400, f"text must be 1-{MAX_TEXT_LENGTH} characters")
        return self._record(bot, "sendMessage", params)

    async def _m_sendPhoto(self, bot: FakeBot, params: JsonDict) -> web.Response:
        photo, caption = params.get("photo"), params.get("caption")
        if not params.get("chat_id") or not isinstance(photo, str) or "://" not in photo:
            return _reply(400, "chat_id and a photo URL are required")
        if caption is not None and not 1 <= len(str(caption)) <= MAX_TEXT_LENGTH:
            return _reply(400, f"caption must be 1-{MAX_TEXT_LENGTH} characters")
        return self._record(bot, "sendPhoto", params)

    async def _m_sendChatAction(self, bot: FakeBot, params: JsonDict) -> web.Response:
        if not params.get("chat_id") or params.get("action") not in ("typing", "upload_photo"):
            return _reply(400, "chat_id and a known action are required")
        bot.sent.append({"method": "sendChatAction", **params})
        return web.json_response({"ok": True})

    def _record(self, bot: FakeBot, method: str, params: JsonDict) -> web.Response:
        result = {"message_id": self.next_message_id(), "date": now_ms()}
        bot.sent.append({"method": method, **params, **result})
        return _ok(result)


async def _params(request: web.Request) -> JsonDict:
    """Parameters from the query string, then a JSON or form body (all are documented)."""
    params: JsonDict = dict(request.query)
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return params
        if isinstance(body, dict):
            params.update(body)
    else:
        params.update(await request.post())
    return params


def _ok(result: object) -> web.Response:
    return web.json_response(envelope(result))


def _reply(
    status: int, description: str | None = None, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(error_body(status, description), status=status, headers=headers)
