"""One aiohttp server for webhook mode: ``/webhook/zalo``, ``/webhook/telegram``, ``/healthz``.

A request is answered 200 only after its handler's transaction has committed (and its replies
were sent), so a platform that retries on failure never loses a message, and the dispatcher's
update ledger makes a retried or replayed request a no-op. A request without the right secret
header is answered 403 before its body is read: nothing is handled, nothing is written. Secrets
are compared in constant time. Several processes can serve the same paths behind a load
balancer; nothing here keeps state between requests.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.zalo_api import parse_webhook_body, verify_webhook_secret

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel
    from bot.channels.zalo import ZaloChannel

log = logging.getLogger(__name__)

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ZALO_PATH = "/webhook/zalo"
TELEGRAM_PATH = "/webhook/telegram"
HEALTH_PATH = "/healthz"
MAX_BODY = 1024 * 1024


@dataclass
class Endpoints:
    """The channels served here, each with its webhook secret."""

    zalo: ZaloChannel | None = None
    zalo_secret: str = ""
    telegram: TelegramChannel | None = None
    telegram_secret: str = ""


def parse_listen(listen: str) -> tuple[str, int]:
    """``"0.0.0.0:8080"`` → (host, port); ``":8080"`` listens on every interface."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"WEBHOOK_LISTEN must look like HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _secret_matches(expected: str, headers: Mapping[str, str], header: str) -> bool:
    """Constant-time header check; an empty expected secret never matches (fails closed)."""
    received = headers.get(header)
    if not expected or received is None:
        return False
    return hmac.compare_digest(received.encode(), expected.encode())


def _forbidden() -> web.Response:
    return web.Response(status=403, text="forbidden")


def build_app(endpoints: Endpoints) -> web.Application:
    """The aiohttp application; only the configured channels get a route."""
    app = web.Application(client_max_size=MAX_BODY)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def zalo(request: web.Request) -> web.Response:
        channel = endpoints.zalo
        assert channel is not None
        if not verify_webhook_secret(endpoints.zalo_secret, request.headers):
            log.warning("Zalo webhook refused: wrong or missing secret (from %s)", request.remote)
            return _forbidden()
        try:
            updates = parse_webhook_body(await request.read())
        except ValueError:
            return web.Response(status=400, text="body is not JSON")
        for update in updates:
            await channel.process(update)
        return web.json_response({"ok": True})

    async def telegram(request: web.Request) -> web.Response:
        channel = endpoints.telegram
        assert channel is not None
        if not _secret_matches(endpoints.telegram_secret, request.headers, TELEGRAM_SECRET_HEADER):
            log.warning(
                "Telegram webhook refused: wrong or missing secret (from %s)", request.remote
            )
            return _forbidden()
        try:
            data = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="body is not JSON")
        from telegram import Update

        update = Update.de_json(data, channel.bot) if isinstance(data, dict) else None
        if update is None:
            return web.Response(status=400, text="not an update")
        await channel.process(update)
        return web.json_response({"ok": True})

    app.router.add_get(HEALTH_PATH, health)
    if endpoints.zalo is not None:
        app.router.add_post(ZALO_PATH, zalo)
    if endpoints.telegram is not None:
        app.router.add_post(TELEGRAM_PATH, telegram)
    return app


class WebhookServer:
    """Runs :func:`build_app` on ``listen`` until :meth:`stop`."""

    def __init__(self, endpoints: Endpoints, listen: str) -> None:
        self.endpoints = endpoints
        self.host, self.port = parse_listen(listen)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(build_app(self.endpoints), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("webhooks listening on %s:%d", self.host, self.port)

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0 in tests)."""
        assert self._runner is not None
        for address in self._runner.addresses:
            return int(address[1])
        raise RuntimeError("not listening")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
