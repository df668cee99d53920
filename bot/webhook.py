"""One aiohttp server for webhook mode: ``/webhook/<channel>`` for each channel served by
webhook (``/webhook/telegram``, ``/webhook/zalo``; a further account of a channel at
``/webhook/<channel>/<key>``, e.g. ``/webhook/zalo/<bot_id>``), ``/healthz`` and ``/readyz``; with WEB_BASE_URL set, the
officials' dashboard too (bot/dashboard, added through ``extra``).

``/healthz`` answers 200 while the process runs (a liveness check: restart it if this fails).
``/readyz`` answers 200 when the database answers within 2 seconds and the process is not
shutting down, else 503: a load balancer sends updates only to ready workers. On SIGTERM a
worker turns unready at once, keeps serving what is in flight (at most ``SHUTDOWN_GRACE``
seconds), then exits.

The server knows no platform: each channel (bot/channels/base.py ``Webhooked``) checks its own
secret header and turns a body into updates; this module refuses, throttles and times out.

A request is answered 200 only after its handler's transaction has committed (and its replies
were sent), so a platform that retries on failure never loses a message, and the dispatcher's
update ledger makes a retried or replayed request a no-op. A request without the right secret
header is answered 403 before its body is read: nothing is handled, nothing is written. Secrets
are compared in constant time. Several processes can serve the same paths behind a load
balancer; nothing here keeps state between requests but the wrong-secret counts below.

Hardening, each with its reason:
- **Secrets**: at least 16 characters (:func:`webhook_secret`); when none is set, one is derived
  from the bot token (HMAC-SHA256), so every worker sharing the token agrees without sharing
  anything else. A platform knows the secret only because we hand it over in ``setWebhook``.
- **Wrong secrets are throttled** per source address (:class:`SecretGuard`): after a few
  failures the source gets 429 without its secret being checked, for a while; failures are
  logged as samples (the first, and when a source is blocked), never with the secret or body.
  Behind a reverse proxy the source is the last ``X-Forwarded-For`` address, trusted only from
  the proxies named in WEBHOOK_TRUSTED_PROXIES.
- **Slow clients are cut off**: a connection that has not sent a complete request head within
  ``header_timeout`` seconds (aiohttp's keep-alive timer, armed from the connection's start) is
  closed, and a body must arrive within ``body_timeout`` seconds; bodies over ``MAX_BODY`` are
  refused with 413.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.base import VISIBLE_ASCII, SecretRule, SignedWebhook

if TYPE_CHECKING:
    from bot.channels.base import Webhooked

log = logging.getLogger(__name__)


def path_for(channel: str) -> str:
    """Where a channel's platform posts its updates."""
    return f"/webhook/{channel}"


ZALO_PATH = path_for("zalo")
TELEGRAM_PATH = path_for("telegram")
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
READY_TIMEOUT = 2.0
# How long a stopping worker waits for requests in flight (each is one short transaction).
SHUTDOWN_GRACE = 20.0
# A Telegram update or Zalo event is a few kilobytes; a long message with a quoted reply stays
# far below this.
MAX_BODY = 256 * 1024
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 10.0
LINGERING = 1.0
DEFAULT_LISTEN = "127.0.0.1:8080"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- secrets -------------------------------------------------------------------------------

SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 256
_DERIVATION_LABEL = "tocongnghe-bot webhook secret v1"


class WebhookSecretError(ValueError):
    """A configured webhook secret is too short, too long or has characters the platform refuses."""


def derive_secret(token: str, channel: str) -> str:
    """The webhook secret used when none is set: HMAC-SHA256 keyed by the bot token over a fixed
    label naming the channel, in unpadded base64url (43 characters of A-Z a-z 0-9 _ -, which
    both Telegram and Zalo accept). Every worker with the same token derives the same secret;
    it cannot be computed without the token."""
    message = f"{_DERIVATION_LABEL}: {channel}".encode()
    digest = hmac.new(token.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def webhook_secret(
    channel: str, configured: str | None, token: str, *, rule: SecretRule = VISIBLE_ASCII
) -> str:
    """The secret for ``channel`` ("telegram", "zalo"…): the configured one if it is valid
    (16-256 characters, those ``rule`` allows), derived from ``token`` when none is set; raises
    WebhookSecretError (never quoting it). The channel's row (bot/channels/registry.py) gives
    its platform's rule."""
    if not configured:
        return derive_secret(token, channel)
    setting = f"{channel.upper()}_WEBHOOK_SECRET"
    if len(configured) < SECRET_MIN_LENGTH:
        raise WebhookSecretError(
            f"{setting} is {len(configured)} characters long; it needs at least "
            f"{SECRET_MIN_LENGTH}. Set a longer random one, or unset it to derive one "
            "from the bot token."
        )
    if len(configured) > SECRET_MAX_LENGTH:
        raise WebhookSecretError(f"{setting} is longer than {SECRET_MAX_LENGTH} characters.")
    if not rule.pattern.fullmatch(configured):
        raise WebhookSecretError(f"{setting} may hold only these characters: {rule.described}.")
    return configured


def header_matches(expected: str, headers: Mapping[str, str], header: str) -> bool:
    """Constant-time header check; an empty expected secret never matches (fails closed)."""
    received = headers.get(header)
    if not expected or received is None:
        return False
    return hmac.compare_digest(received.encode(), expected.encode())


# --- throttling wrong secrets --------------------------------------------------------------


@dataclass
class _Source:
    failures: int = 0
    window_start: float = 0.0
    blocked_until: float = 0.0
    refused: int = 0


class SecretGuard:
    """Counts wrong secrets per source; ``limit`` failures within ``window`` seconds block the
    source for ``block`` seconds, during which it is answered 429 without any check.

    Kept per process (a few sources at a time, at most ``capacity``, oldest forgotten first);
    with several workers an attacker gets ``limit`` tries per worker per window, which against
    a secret of 16+ random characters changes nothing. A right secret clears the count.
    """

    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 60.0,
        block: float = 600.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.block, self.capacity = limit, window, block, capacity
        self.clock = clock
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    def blocked_for(self, source: str) -> float:
        """Seconds this source stays blocked (0 when it may try)."""
        state = self._sources.get(source)
        if state is None:
            return 0.0
        left = state.blocked_until - self.clock()
        if left <= 0:
            return 0.0
        state.refused += 1
        if _is_sample(state.refused):
            log.warning(
                "webhook: %d requests from blocked %s refused unchecked", state.refused, source
            )
        return left

    def failed(self, source: str, channel: str) -> None:
        """Count a wrong or missing secret; logs the first of a window and the block."""
        now = self.clock()
        state = self._sources.get(source)
        if state is None or now - state.window_start > self.window:
            state = _Source(window_start=now)
            self._sources[source] = state
        self._sources.move_to_end(source)
        while len(self._sources) > self.capacity:
            self._sources.popitem(last=False)
        state.failures += 1
        if state.failures == 1:
            log.warning("%s webhook refused: wrong or missing secret (from %s)", channel, source)
        if state.failures >= self.limit:
            state.blocked_until, state.refused = now + self.block, 0
            state.failures, state.window_start = 0, now
            log.warning(
                "%s webhook: %d wrong secrets from %s within %.0f s; refusing it for %.0f s",
                channel,
                self.limit,
                source,
                self.window,
                self.block,
            )

    def succeeded(self, source: str) -> None:
        self._sources.pop(source, None)


def _is_sample(count: int) -> bool:
    """1, 10, 100, 1000…: how often a repeated event is logged."""
    return count >= 1 and 10 ** (len(str(count)) - 1) == count


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"127.0.0.1, ::1, 10.0.0.0/8"`` → networks; raises ValueError naming a bad entry."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"WEBHOOK_TRUSTED_PROXIES: {item!r} is not an IP address") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def source_of(request: web.Request, trusted: Iterable[Network]) -> str:
    """Who sent this request, for throttling: the peer, or behind a trusted proxy the address
    that proxy saw (the last X-Forwarded-For entry). IPv6 sources count per /64 network, since
    one host commonly holds a whole /64."""
    peer = _address(request.remote or "")
    if peer is not None and any(peer in network for network in trusted):
        forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
        last = _address(forwarded.rsplit(",", 1)[-1]) if forwarded else None
        if last is not None:
            peer = last
    if peer is None:
        return request.remote or "?"
    if isinstance(peer, ipaddress.IPv6Address):
        if peer.ipv4_mapped is not None:
            return str(peer.ipv4_mapped)
        return str(ipaddress.ip_network(f"{peer}/64", strict=False))
    return str(peer)


# --- the server ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hook:
    """A channel (or one account of it) served here, with the secret its platform must send,
    at ``path`` (default ``/webhook/<channel name>``)."""

    channel: Webhooked
    secret: str
    path: str | None = None


@dataclass
class Endpoints:
    """The channels served here, each at ``/webhook/<name>``."""

    hooks: list[Hook] = field(default_factory=list)
    trusted_proxies: tuple[Network, ...] = field(default_factory=tuple)
    # Checks the database for /readyz (None: ready while not stopping).
    ready: Callable[[], Awaitable[None]] | None = None
    stopping: bool = False


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` → (host, port); ``":8080"`` listens on every interface."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"WEBHOOK_LISTEN must look like HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _refused(status: int, retry_after: float = 0.0) -> web.Response:
    headers = {"Retry-After": str(int(retry_after) + 1)} if retry_after else None
    text = "too many wrong secrets" if status == 429 else "forbidden"
    return web.Response(status=status, text=text, headers=headers)


async def _read_body(request: web.Request, seconds: float) -> bytes | web.Response:
    """The body within ``seconds``, else a 408 that closes the connection."""
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        response = web.Response(status=408, text="body too slow")
        response.force_close()
        return response


def build_app(
    endpoints: Endpoints,
    *,
    guard: SecretGuard | None = None,
    body_timeout: float = BODY_TIMEOUT,
    extra: Callable[[web.Application], None] | None = None,
) -> web.Application:
    """The aiohttp application; only the configured channels get a route. `extra` adds more
    routes (the officials' dashboard, bot/dashboard)."""
    app = web.Application(client_max_size=MAX_BODY)
    guard = guard or SecretGuard()

    def refusal(
        request: web.Request, channel: str, secret_ok: Callable[[], bool]
    ) -> web.Response | None:
        """None when the request may go on; else the response that refuses it."""
        source = source_of(request, endpoints.trusted_proxies)
        wait = guard.blocked_for(source)
        if wait:
            return _refused(429, wait)
        if not secret_ok():
            guard.failed(source, channel)
            return _refused(403)
        guard.succeeded(source)
        return None

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def ready(_request: web.Request) -> web.Response:
        if endpoints.stopping:
            return web.json_response({"ok": False, "reason": "stopping"}, status=503)
        if endpoints.ready is not None:
            try:
                async with asyncio.timeout(READY_TIMEOUT):
                    await endpoints.ready()
            except Exception as error:  # noqa: BLE001 - any failure means "not ready"
                log.warning("not ready: the database check failed (%s)", type(error).__name__)
                return web.json_response({"ok": False, "reason": "database"}, status=503)
        return web.json_response({"ok": True})

    def route(hook: Hook) -> Callable[[web.Request], Awaitable[web.Response]]:
        channel, secret = hook.channel, hook.secret

        async def receive(request: web.Request) -> web.Response:
            refused = refusal(
                request, channel.label, lambda: channel.secret_matches(secret, request.headers)
            )
            if refused is not None:
                return refused
            body = await _read_body(request, body_timeout)
            if isinstance(body, web.Response):
                return body
            if isinstance(channel, SignedWebhook):
                # A platform that signs each body (Zalo OA): a forged, altered or stale body
                # is refused like a wrong secret, before anything is handled.
                signed = refusal(
                    request,
                    channel.label,
                    lambda: channel.signature_matches(body, request.headers),  # type: ignore[union-attr]
                )
                if signed is not None:
                    return signed
            problem = await channel.receive(body)
            if problem is not None:
                return web.Response(status=400, text=problem)
            return web.json_response({"ok": True})

        return receive

    app.router.add_get(HEALTH_PATH, health)
    app.router.add_get(READY_PATH, ready)
    for hook in endpoints.hooks:
        app.router.add_post(hook.path or path_for(hook.channel.name), route(hook))
    if extra is not None:
        extra(app)
    return app


class WebhookServer:
    """Runs :func:`build_app` on ``listen`` until :meth:`stop`."""

    def __init__(
        self,
        endpoints: Endpoints,
        listen: str = DEFAULT_LISTEN,
        *,
        header_timeout: float = HEADER_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        guard: SecretGuard | None = None,
        extra: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.extra = extra
        self.host, self.port = parse_listen(listen)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.guard = guard or SecretGuard()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = build_app(
            self.endpoints, guard=self.guard, body_timeout=self.body_timeout, extra=self.extra
        )
        # aiohttp arms its keep-alive timer when a connection opens and closes the connection
        # when it fires while no complete request head has arrived (aiohttp >= 3.14.4): with
        # the timeout short, that is the header timeout that stops slow-header connections.
        # After a refusal (403, 408, 429) an unread body is drained for at most LINGERING
        # seconds (aiohttp's default is 10), then the connection is closed.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            keepalive_timeout=self.header_timeout,
            lingering_time=LINGERING,
            shutdown_timeout=SHUTDOWN_GRACE,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("HTTP server listening on %s:%d", self.host, self.port)

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0 in tests)."""
        assert self._runner is not None
        for address in self._runner.addresses:
            return int(address[1])
        raise RuntimeError("not listening")

    async def stop(self) -> None:
        """Stop taking connections, let requests in flight finish (SHUTDOWN_GRACE), close."""
        self.endpoints.stopping = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
