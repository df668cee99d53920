"""A fake Telegram Bot API server: real HTTP, the methods the bot uses, Telegram's checks.

Users are simulated with `user_says` and `user_presses`; everything the bot sends is kept
per chat. Text is checked as Telegram would with parse_mode=HTML (allowed tags only, every
'<' and '&' escaped, at most 4096 characters), so an escaping bug fails the test.
Shared by the tests and `python -m bench report`; it lives in bench/ so that bench/ imports
nothing from tests/ (tests/bench/test_imports.py checks).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Tổ CNSCĐ", "username": "test_cnscd_bot"}


class _EntityCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.error = f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = f'unexpected end tag "{tag}"'


def check_html(text: str) -> str | None:
    """None if Telegram would accept the text with parse_mode=HTML, else the error."""
    if (
        "<" in text.replace("<b>", "").replace("</b>", "").replace("<i>", "").replace("</i>", "")
        and "<" in text
    ):
        parser = _EntityCheck()
        parser.feed(text)
        parser.close()
        if parser.error or parser.stack:
            return f"Bad Request: can't parse entities: {parser.error or 'unclosed tag'}"
    for index, ch in enumerate(text):
        if ch == "&":
            rest = text[index + 1 : index + 8]
            if not any(rest.startswith(e) for e in ("lt;", "gt;", "amp;", "quot;", "#")):
                return "Bad Request: can't parse entities: unescaped '&'"
    return None


@dataclass
class Sent:
    method: str
    chat_id: int
    message_id: int
    text: str
    keyboard: list[list[dict[str, Any]]] = field(default_factory=list)


class FakeTelegram:
    """Start with `async with FakeTelegram(token) as tg:`; point the bot at `tg.base_url`."""

    def __init__(self, token: str = "123456:TEST-token") -> None:
        self.token = token
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1000)
        self.pending: list[dict[str, Any]] = []
        self.last_update_id = 0  # the newest update a simulated user made
        self.confirmed_offset = 0
        self.sent: list[Sent] = []
        self.messages: dict[int, Sent] = {}
        self.calls: list[str] = []
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.hold_send: asyncio.Event | None = None
        # sendMessage to these chats waits until the event is set, then goes through.
        self.slow_chats: dict[int, asyncio.Event] = {}
        # Files people sent: file_id → (file name, content), served by getFile and /file/bot…
        self.files: dict[str, tuple[str, bytes]] = {}
        self._new_update = asyncio.Event()
        self._new_sent = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._runner is not None
        self._new_update.set()  # wake long polls left by killed clients, so shutdown is quick
        if self.hold_send is not None:
            self.hold_send.set()
        for slow in self.slow_chats.values():
            slow.set()
        await self._runner.cleanup()

    # --- simulated users --------------------------------------------------------------------
    def user_says(self, user_id: int, text: str, name: str = "Người dùng") -> int:
        update_id = self.last_update_id = next(self.update_ids)
        message: dict[str, Any] = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": name},
            "from": {"id": user_id, "is_bot": False, "first_name": name},
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self.pending.append({"update_id": update_id, "message": message})
        self._new_update.set()
        return update_id

    def user_sends_file(
        self, user_id: int, file_name: str, content: bytes, name: str = "Người dùng"
    ) -> int:
        """A document (as Telegram sends one: a file_id, fetched with getFile)."""
        update_id = self.last_update_id = next(self.update_ids)
        file_id = f"DOC{update_id}"
        self.files[file_id] = (file_name, content)
        message: dict[str, Any] = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": name},
            "from": {"id": user_id, "is_bot": False, "first_name": name},
            "document": {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "file_name": file_name,
                "file_size": len(content),
            },
        }
        self.pending.append({"update_id": update_id, "message": message})
        self._new_update.set()
        return update_id

    async def send_file_and_wait(
        self, user_id: int, file_name: str, content: bytes, replies: int = 1
    ) -> list[str]:
        before = len(self.texts_to(user_id))
        self.user_sends_file(user_id, file_name, content)
        return (await self.wait_for(user_id, before + replies))[before:]

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        self.calls.append("file")
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        found = self.files.get(file_id)
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[1], content_type="application/octet-stream")

    async def api_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id", ""))
        found = self.files.get(file_id)
        if found is None:
            raise _ApiError("Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_size": len(found[1]),
            "file_path": f"documents/{file_id}",
        }

    def keyboard_of(self, chat_id: int) -> list[dict[str, Any]]:
        for sent in reversed(list(self.messages.values())):
            if sent.chat_id == chat_id and sent.keyboard:
                return [button for row in sent.keyboard for button in row]
        return []

    def user_presses(self, user_id: int, label: str, name: str = "Người dùng") -> int:
        """Press the newest button whose text contains `label`, on the chat's messages."""
        for sent in sorted(self.messages.values(), key=lambda s: -s.message_id):
            if sent.chat_id != user_id:
                continue
            for row in sent.keyboard:
                for button in row:
                    if label in button["text"]:
                        return self.user_presses_data(user_id, sent, button["callback_data"], name)
        raise AssertionError(f"no button {label!r} for chat {user_id}")

    def user_presses_data(
        self, user_id: int, sent: Sent, data: str, name: str = "Người dùng"
    ) -> int:
        update_id = self.last_update_id = next(self.update_ids)
        self.pending.append(
            {
                "update_id": update_id,
                "callback_query": {
                    "id": str(update_id),
                    "from": {"id": user_id, "is_bot": False, "first_name": name},
                    "chat_instance": "1",
                    "data": data,
                    "message": self._message_json(sent),
                },
            }
        )
        self._new_update.set()
        return update_id

    def texts_to(self, chat_id: int) -> list[str]:
        return [s.text for s in self.sent if s.chat_id == chat_id]

    async def wait_for(self, chat_id: int, count: int, timeout: float = 10) -> list[str]:
        """Wait until the bot has sent (or edited) at least `count` messages to the chat."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.texts_to(chat_id)) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(
                    f"bot sent {self.texts_to(chat_id)} to {chat_id}, expected {count}"
                )
            self._new_sent.clear()
            try:
                await asyncio.wait_for(self._new_sent.wait(), remaining)
            except TimeoutError:
                pass
        return self.texts_to(chat_id)

    async def wait_text(self, chat_id: int, fragment: str, timeout: float = 20) -> str:
        """Wait until a message (or edit) to the chat contains `fragment`; returns it."""
        seen = 0
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            texts = self.texts_to(chat_id)
            for text in texts[seen:]:
                if fragment in text:
                    return text
            seen = len(texts)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no message with {fragment!r}; got {texts[-5:]}")
            await self.wait_for(chat_id, seen + 1, timeout=remaining)

    async def say_and_wait(self, user_id: int, text: str, replies: int = 1) -> list[str]:
        before = len(self.texts_to(user_id))
        self.user_says(user_id, text)
        return (await self.wait_for(user_id, before + replies))[before:]

    async def press_and_wait(self, user_id: int, label: str, replies: int = 1) -> list[str]:
        before = len(self.texts_to(user_id))
        self.user_presses(user_id, label)
        return (await self.wait_for(user_id, before + replies))[before:]

    def fail_next(
        self, method: str, times: int = 1, *, status: int = 429, retry_after: int = 1
    ) -> None:
        body = {
            "ok": False,
            "error_code": status,
            "description": f"Too Many Requests: retry after {retry_after}",
            "parameters": {"retry_after": retry_after},
        }
        self.failures.setdefault(method, []).extend([(status, body)] * times)

    # --- the API ------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        self.calls.append(method)
        params = await self._params(request)
        queued = self.failures.get(method)
        if queued:
            status, body = queued.pop(0)
            return web.json_response(body, status=status)
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        try:
            result = await handler(params)
        except _ApiError as error:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": error.description}, status=400
            )
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if not isinstance(value, str):
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        return params

    async def api_getMe(self, _params: dict[str, Any]) -> dict[str, Any]:
        return dict(
            BOT_USER,
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
        )

    async def api_deleteWebhook(self, _params: dict[str, Any]) -> bool:
        return True

    async def api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = params
        return True

    async def api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        if not self.pending and timeout:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout)
            except TimeoutError:
                pass
        limit = int(params.get("limit") or 100)
        return self.pending[:limit]

    def _message_json(self, sent: Sent) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": "private"},
            "from": BOT_USER,
            "text": sent.text,
        }
        if sent.keyboard:
            message["reply_markup"] = {"inline_keyboard": sent.keyboard}
        return message

    def _check_text(self, params: dict[str, Any]) -> str:
        text = str(params.get("text", ""))
        if not text.strip():
            raise _ApiError("Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError("Bad Request: message is too long")
        if params.get("parse_mode") == "HTML":
            error = check_html(text)
            if error:
                raise _ApiError(error)
        for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    raise _ApiError("Bad Request: BUTTON_DATA_INVALID")
        return text

    def _record(self, method: str, sent: Sent) -> None:
        self.sent.append(sent)
        self.messages[sent.message_id] = sent
        self._new_sent.set()

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text = self._check_text(params)
        if self.hold_send is not None:
            await self.hold_send.wait()
            raise _ApiError("held request released without delivery")
        slow = self.slow_chats.get(int(params["chat_id"]))
        if slow is not None:
            await slow.wait()
        keyboard = (params.get("reply_markup") or {}).get("inline_keyboard", [])
        sent = Sent("sendMessage", int(params["chat_id"]), next(self.message_ids), text, keyboard)
        self._record("sendMessage", sent)
        return self._message_json(sent)

    async def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        text = self._check_text(params)
        message_id = int(params["message_id"])
        old = self.messages.get(message_id)
        if old is None:
            raise _ApiError("Bad Request: message to edit not found")
        keyboard = (params.get("reply_markup") or {}).get("inline_keyboard", [])
        if old.text == text and old.keyboard == keyboard:
            raise _ApiError("Bad Request: message is not modified")
        sent = Sent("editMessageText", old.chat_id, message_id, text, keyboard)
        self._record("editMessageText", sent)
        return self._message_json(sent)

    async def api_answerCallbackQuery(self, _params: dict[str, Any]) -> bool:
        return True

    async def api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        sent = Sent(
            "sendPhoto",
            int(params["chat_id"]),
            next(self.message_ids),
            str(params.get("caption", "")),
        )
        self._record("sendPhoto", sent)
        return dict(
            self._message_json(sent),
            photo=[{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}],
        )

    async def api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        sent = Sent(
            "sendDocument",
            int(params["chat_id"]),
            next(self.message_ids),
            str(params.get("caption", "")),
        )
        self._record("sendDocument", sent)
        return dict(self._message_json(sent), document={"file_id": "d", "file_unique_id": "d"})


class _ApiError(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description
