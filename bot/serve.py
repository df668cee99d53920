"""`python -m bot run`: serve every configured channel, each with its outbox sender.

The channels come from the table in bot/channels/registry.py; they run side by side in one
process. Each polls, unless its webhook URL is set: then the webhook is registered with its
secret at start (a channel's further accounts, such as more Zalo bots, at ``<URL>/<key>`` with
secrets of their own) and one HTTP server (WEBHOOK_LISTEN) receives every such channel's updates,
with /healthz and /readyz for the load balancer (bot/webhook.py). On SIGTERM the server stops
taking requests, finishes those in flight, then senders and channels close: an update that
was answered 200 was committed; one cut off is retried by the platform (the update ledger
makes that retry a no-op if it had committed).
With WEB_BASE_URL set, that server starts in any case and serves the officials' dashboard too.
Settings are checked before anything is opened: a webhook secret under 16 characters stops the
process with a message naming the setting (see bot/webhook.py); a refused token stops it with a
message that does not quote the token.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot import logs
from bot.app import App
from bot.channels import registry
from bot.channels.base import Polling, SeveralAccounts, TokenRefused, Webhooked
from bot.webhook import (
    Endpoints,
    Hook,
    WebhookSecretError,
    WebhookServer,
    parse_networks,
    path_for,
)

if TYPE_CHECKING:
    from bot.notify import NoticeScheduler

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


class ConfigError(SystemExit):
    """A setting needed for the chosen mode is missing or wrong."""


async def serve(app: App) -> None:
    """Run until SIGINT/SIGTERM."""
    secrets, proxies = _checked_settings(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    closers: list[Closer] = []
    server: WebhookServer | None = None
    fatal: list[BaseException] = []

    def watch(task: asyncio.Task[None]) -> None:
        """A poller or sender that dies stops the whole process (e.g. a refused token)."""
        if not task.cancelled() and task.exception() is not None:
            fatal.append(task.exception())  # type: ignore[arg-type]
            stop.set()

    try:
        endpoints = Endpoints(trusted_proxies=proxies, ready=app.db.ping)
        rows = registry.served(app.settings)
        try:
            channels = await registry.open_channels(app, rows)
            closers.append(channels.close)
            for row in rows:
                await _start(app, row, channels.live[row.name], stop, tasks, endpoints, secrets)
        except TokenRefused as refused:
            raise ConfigError(str(refused)) from None
        # The plan's reminders, briefs and digests: queued in the outbox by an APScheduler
        # (see bot/notify.py); the senders above deliver them.
        from bot.notify import NoticeScheduler

        notices = NoticeScheduler(app)
        notices.start()
        closers.append(_stopper(notices))
        extra = None
        if app.settings.web_base_url:
            from bot.dashboard import Dashboard

            extra = Dashboard(app).install
            log.info("dashboard at %s", app.settings.web_base_url)
        if endpoints.hooks or extra is not None:
            server = WebhookServer(endpoints, app.settings.webhook_listen, extra=extra)
            await server.start()
        for task in tasks:
            task.add_done_callback(watch)
        _freeze_startup_objects()
        await stop.wait()
    finally:
        stop.set()
        if server is not None:
            await server.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for close in reversed(closers):
            await close()
    if fatal:
        raise SystemExit(logs.redact(str(fatal[0]))) from fatal[0]


def _freeze_startup_objects() -> None:
    """Move what start-up loaded (guides, the search index, templates: about 165,000 objects)
    out of the garbage collector's reach. They live as long as the process, yet every full
    collection walked them all: a 100 ms pause of every chat every few thousand messages and
    about 3% of the CPU per report (measured 2026-12-04, in process, SQLite)."""
    gc.collect()
    gc.freeze()


def _checked_settings(app: App) -> tuple[dict[str, str], tuple[Any, ...]]:
    """Webhook secrets and trusted proxies, checked before anything is opened."""
    try:
        secrets = registry.webhook_secrets(app.settings)
        proxies = parse_networks(app.settings.webhook_trusted_proxies)
    except (WebhookSecretError, ValueError) as error:
        raise ConfigError(str(error)) from None
    logs.add_secrets(secrets.values())
    return secrets, proxies


async def _start(
    app: App,
    row: registry.ChannelType,
    live: registry.Live,
    stop: asyncio.Event,
    tasks: list[asyncio.Task[None]],
    endpoints: Endpoints,
    secrets: dict[str, str],
) -> None:
    """Check the channel's credentials, start its outbox sender, then its webhook or polling."""
    channel = live.channel
    who = await channel.whoami()
    tasks.append(asyncio.create_task(live.sender.run(stop)))
    if row.served_by_webhook(app.settings) and isinstance(channel, Webhooked):
        assert row.webhook is not None
        url = _webhook_url(row.webhook.url(app.settings) or "", path_for(row.name))
        secret = secrets[row.name]
        await channel.set_webhook(url, secret)
        endpoints.hooks.append(Hook(channel, secret))
        log.info("%s by webhook at %s", who, url)
        if isinstance(channel, SeveralAccounts):
            # Each further account (a commune's own Zalo bot) at <its URL>/<key>.
            for key, account in channel.webhook_accounts().items():
                path = f"{row.name}/{key}"
                await account.set_webhook(f"{url.rstrip('/')}/{key}", secrets[path])
                endpoints.hooks.append(Hook(account, secrets[path], path_for(path)))
                log.info("%s by webhook at %s/%s", account.label, url.rstrip("/"), key)
    elif isinstance(channel, Polling):
        log.info("polling %s", who)
        tasks.append(asyncio.create_task(channel.poll(stop)))


def _stopper(notices: NoticeScheduler) -> Closer:
    async def close() -> None:
        notices.stop()

    return close


def _webhook_url(configured: str, path: str) -> str:
    """A bare origin (``https://bot.example.vn``) gets the channel's path appended."""
    stripped = configured.rstrip("/")
    if "/" not in stripped.split("://", 1)[-1]:
        return stripped + path
    return configured
