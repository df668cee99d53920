"""A fake Zalo Official Account platform (aiohttp on 127.0.0.1, free port) for tests.

It enforces what the public sources say (/work/shared/reference/zalo-oa-api.md §6):

- ``POST /v4/oa/access_token`` (form; the app secret in a ``secret_key`` header): a refresh
  token works once; the answer carries a new access token *and* a new refresh token, and the
  previous access token stops working. A spent or unknown refresh token gets ``-14014``.
- Every API call reads the token from the ``access_token`` header: unknown → ``-216``,
  expired → ``-220`` (HTTP 200 with ``error``, as Zalo does).
- ``POST /v3.0/oa/message/cs`` (and ``/v2.0/oa/message``): text 1-2000 characters, at most 5
  buttons; a person who has not interacted with the OA within 7 days gets ``-230``. With
  ``government=True`` v3 answers ``-235`` and v2 works (as seen with government OAs).
- ``GET /v2.0/oa/getoa``.
- Webhook events are signed ``mac=sha256(app_id + body + timestamp + oa_secret)`` and posted
  to the bot by :meth:`post`; each user event counts as an interaction for the window.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

JsonDict = dict[str, Any]
WINDOW_SECONDS = 7 * 24 * 3600


def now_ms() -> int:
    return int(time.time() * 1000)


def sign(app_id: str, body: bytes, timestamp: str, secret: str) -> str:
    return (
        "mac="
        + hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode()).hexdigest()
    )


@dataclass
class _Token:
    oa_id: str
    expires_at: float


@dataclass
class FakeOA:
    oa_id: str
    name: str
    government: bool = False
    refresh_tokens: set[str] = field(default_factory=set)


class FakeZaloOA:
    """Use as ``async with FakeZaloOA(app_id, app_secret, oa_secret) as zalo``."""

    def __init__(
        self,
        app_id: str = "1234567890123456789",
        app_secret: str = "app-secret-for-tests",
        oa_secret: str = "oa-secret-key-for-tests",
        *,
        token_lifetime: float = 90000,
    ) -> None:
        self.app_id, self.app_secret, self.oa_secret = app_id, app_secret, oa_secret
        self.token_lifetime = token_lifetime
        self.oas: dict[str, FakeOA] = {}
        self.access: dict[str, _Token] = {}
        self.spent: set[str] = set()
        self.refreshes: list[str] = []  # the refresh tokens spent, in order
        self.refused_refreshes = 0
        self.sent: list[JsonDict] = []  # {"oa_id", "user_id", "text", "buttons", "api"}
        self.interactions: dict[tuple[str, str], float] = {}  # (oa, user) → seconds
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- lifecycle --
    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v4/oa/access_token", self._access_token)
        app.router.add_post("/v3.0/oa/message/cs", self._message_v3)
        app.router.add_post("/v2.0/oa/message", self._message_v2)
        app.router.add_get("/v2.0/oa/getoa", self._getoa)
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
        return f"http://127.0.0.1:{self._port}"

    # -- test controls --
    def add_oa(self, oa_id: str, name: str = "UBND xã Thử", *, government: bool = False) -> str:
        """Register an OA; returns its first refresh token (what the consent flow gives)."""
        oa = self.oas.setdefault(oa_id, FakeOA(oa_id, name, government))
        token = f"rt-{oa_id}-{next(self._ids)}"
        oa.refresh_tokens.add(token)
        return token

    def expire_access_tokens(self) -> None:
        for token in self.access.values():
            token.expires_at = 0

    def age_interaction(self, oa_id: str, user_id: str, days: float) -> None:
        """Pretend the person last interacted ``days`` ago."""
        self.interactions[(oa_id, user_id)] = time.time() - days * 86400

    def texts_to(self, user_id: str, oa_id: str | None = None) -> list[str]:
        return [
            m["text"]
            for m in self.sent
            if m["user_id"] == user_id and (oa_id is None or m["oa_id"] == oa_id)
        ]

    # -- webhook events --
    def event(self, oa_id: str, user_id: str, name: str, message: JsonDict) -> JsonDict:
        return {
            "app_id": self.app_id,
            "sender": {"id": user_id},
            "recipient": {"id": oa_id},
            "user_id_by_app": f"app-{user_id}",
            "event_name": name,
            "message": message,
            "timestamp": str(now_ms()),
        }

    def text_event(self, oa_id: str, user_id: str, text: str) -> JsonDict:
        return self.event(
            oa_id, user_id, "user_send_text", {"text": text, "msg_id": f"m{next(self._ids):019d}"}
        )

    def follow_event(self, oa_id: str, user_id: str) -> JsonDict:
        return {
            "oa_id": oa_id,
            "follower": {"id": user_id},
            "user_id_by_app": f"app-{user_id}",
            "event_name": "follow",
            "source": "oa_profile",
            "app_id": self.app_id,
            "timestamp": str(now_ms()),
        }

    async def post(
        self,
        url: str,
        event: JsonDict,
        *,
        secret: str | None = None,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> int:
        """Sign (unless ``signature`` is given) and POST an event as Zalo would; the status."""
        data = body if body is not None else json.dumps(event, ensure_ascii=False).encode()
        mac = signature or sign(
            self.app_id, data, str(event["timestamp"]), secret or self.oa_secret
        )
        user = (event.get("sender") or {}).get("id") or (event.get("follower") or {}).get("id")
        oa = (event.get("recipient") or {}).get("id") or event.get("oa_id")
        if user and oa and str(event.get("event_name", "")).startswith(("user_", "follow")):
            self.interactions[(str(oa), str(user))] = time.time()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url,
                data=data,
                headers={"Content-Type": "application/json", "X-ZEvent-Signature": mac},
            ) as response,
        ):
            return response.status

    # -- HTTP --
    async def _access_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (
            request.headers.get("secret_key") != self.app_secret
            or form.get("app_id") != self.app_id
        ):
            return web.json_response({"error": -14002, "error_name": "Invalid appId"})
        if form.get("grant_type") != "refresh_token":
            return web.json_response({"error": -14001, "error_name": "Invalid grant type"})
        refresh = str(form.get("refresh_token") or "")
        oa = next((o for o in self.oas.values() if refresh in o.refresh_tokens), None)
        if oa is None or refresh in self.spent:
            self.refused_refreshes += 1
            return web.json_response({"error": -14014, "error_name": "Invalid refresh token."})
        self.spent.add(refresh)
        oa.refresh_tokens.discard(refresh)
        self.refreshes.append(refresh)
        # The previous access token of this OA stops working.
        for token, held in list(self.access.items()):
            if held.oa_id == oa.oa_id:
                del self.access[token]
        access = f"at-{oa.oa_id}-{next(self._ids)}"
        new_refresh = f"rt-{oa.oa_id}-{next(self._ids)}"
        oa.refresh_tokens.add(new_refresh)
        self.access[access] = _Token(oa.oa_id, time.time() + self.token_lifetime)
        return web.json_response(
            {
                "access_token": access,
                "refresh_token": new_refresh,
                "expires_in": str(int(self.token_lifetime)),
            }
        )

    def _token(self, request: web.Request) -> _Token | web.Response:
        held = self.access.get(request.headers.get("access_token", ""))
        if held is None:
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        if held.expires_at < time.time():
            return web.json_response(
                {"error": -220, "message": "access_token is expired or removed"}
            )
        return held

    async def _getoa(self, request: web.Request) -> web.Response:
        held = self._token(request)
        if isinstance(held, web.Response):
            return held
        oa = self.oas[held.oa_id]
        return web.json_response(
            {
                "data": {"oaid": oa.oa_id, "name": oa.name, "oa_type": 4 if oa.government else 2},
                "error": 0,
                "message": "Success",
            }
        )

    async def _message_v3(self, request: web.Request) -> web.Response:
        return await self._message(request, "v3")

    async def _message_v2(self, request: web.Request) -> web.Response:
        return await self._message(request, "v2")

    async def _message(self, request: web.Request, api: str) -> web.Response:
        held = self._token(request)
        if isinstance(held, web.Response):
            return held
        oa = self.oas[held.oa_id]
        if api == "v3" and oa.government:
            return web.json_response(
                {"error": -235, "message": "This API does not support this type of OA"}
            )
        body = await request.json()
        user = str(body.get("recipient", {}).get("user_id", ""))
        message = body.get("message") or {}
        text = message.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 2000:
            return web.json_response({"error": -201, "message": "text is invalid!"})
        buttons = (message.get("attachment") or {}).get("payload", {}).get("buttons", [])
        if len(buttons) > 5:
            return web.json_response({"error": -201, "message": "buttons is invalid!"})
        last = self.interactions.get((oa.oa_id, user))
        if last is None or time.time() - last > WINDOW_SECONDS:
            return web.json_response(
                {"error": -230, "message": "User has not interacted with the OA in the past 7 days"}
            )
        message_id = f"sent{next(self._ids)}"
        self.sent.append(
            {"oa_id": oa.oa_id, "user_id": user, "text": text, "buttons": buttons, "api": api}
        )
        return web.json_response(
            {"data": {"message_id": message_id, "user_id": user}, "error": 0, "message": "Success"}
        )
