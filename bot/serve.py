"""`python -m bot run`: serve every channel that has a token, with its outbox sender.

Telegram and Zalo run side by side in one process. Each polls, unless its webhook URL is set:
then the webhook is registered with its secret at start and one HTTP server (WEBHOOK_LISTEN)
receives both channels' updates. Zalo's outbox sender reads the usage meter before each batch.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx

from bot.app import App
from bot.outbox import OutboxSender
from bot.webhook import Endpoints, WebhookServer

if TYPE_CHECKING:
    from bot.notify import NoticeScheduler

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


class ConfigError(SystemExit):
    """A setting needed for the chosen mode is missing or wrong."""


async def serve(app: App) -> None:
    """Run until SIGINT/SIGTERM."""
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
        endpoints = Endpoints()
        await _start_telegram(app, stop, tasks, closers, endpoints)
        await _start_zalo(app, stop, tasks, closers, endpoints)
        # The plan's reminders, briefs and digests: queued in the outbox by an APScheduler
        # (see bot/notify.py); the senders above deliver them.
        from bot.notify import NoticeScheduler

        notices = NoticeScheduler(app)
        notices.start()
        closers.append(_stopper(notices))
        if endpoints.telegram is not None or endpoints.zalo is not None:
            server = WebhookServer(endpoints, app.settings.webhook_listen)
            await server.start()
        for task in tasks:
            task.add_done_callback(watch)
        await stop.wait()
    finally:
        stop.set()
        if server is not None:
            await server.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for close in reversed(closers):
            await close()
    if fatal:
        raise SystemExit(str(fatal[0])) from fatal[0]


async def _start_telegram(
    app: App,
    stop: asyncio.Event,
    tasks: list[asyncio.Task[None]],
    closers: list[Closer],
    endpoints: Endpoints,
) -> None:
    settings = app.settings
    if not settings.telegram_token:
        return
    from bot.channels.telegram import ALLOWED_UPDATES, channel_from_settings
    from bot.webhook import TELEGRAM_PATH

    channel = channel_from_settings(settings, app.dispatcher.handle)
    await channel.open()
    closers.append(channel.close)
    if app.services.telegram_username is None:
        app.services.telegram_username = channel.bot.username
    sender = OutboxSender(app.db, "telegram", channel.send_reply, app.services.outbox_wakeup)
    tasks.append(asyncio.create_task(sender.run(stop)))
    if settings.telegram_webhook_url:
        secret = settings.telegram_webhook_secret or ""
        if not secret:
            raise ConfigError("TELEGRAM_WEBHOOK_URL is set: set TELEGRAM_WEBHOOK_SECRET too.")
        url = _webhook_url(settings.telegram_webhook_url, TELEGRAM_PATH)
        await channel.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        endpoints.telegram, endpoints.telegram_secret = channel, secret
        log.info("Telegram @%s by webhook at %s", channel.bot.username, url)
    else:
        log.info("polling Telegram as @%s", channel.bot.username)
        tasks.append(asyncio.create_task(channel.poll(stop)))


async def _start_zalo(
    app: App,
    stop: asyncio.Event,
    tasks: list[asyncio.Task[None]],
    closers: list[Closer],
    endpoints: Endpoints,
) -> None:
    settings = app.settings
    if not settings.zalo_bot_token:
        return
    from bot.channels.zalo import ZaloChannel, ZaloTokenRefused
    from bot.channels.zalo_api import ZaloBotApi, ZaloUnauthorized
    from bot.usage import MeteredOutboxSender, UsageMeter
    from bot.webhook import ZALO_PATH

    client = httpx.AsyncClient()
    closers.append(client.aclose)
    api = ZaloBotApi(settings.zalo_bot_token, base_url=settings.zalo_base_url, client=client)
    try:
        me = await api.get_me()
    except ZaloUnauthorized as error:
        raise SystemExit(str(ZaloTokenRefused())) from error
    channel = ZaloChannel(api, app.dispatcher.handle)
    meter = UsageMeter(
        app.services,
        "zalo",
        monthly_quota=settings.zalo_monthly_quota,
        user_quota=settings.zalo_user_quota,
    )
    sender = MeteredOutboxSender(app.services, "zalo", channel.send_reply, meter)
    tasks.append(asyncio.create_task(sender.run(stop)))
    if settings.zalo_webhook_url:
        secret = settings.zalo_webhook_secret or ""
        if not 8 <= len(secret) <= 256:
            raise ConfigError(
                "ZALO_WEBHOOK_URL is set: set ZALO_WEBHOOK_SECRET (8-256 characters)."
            )
        url = _webhook_url(settings.zalo_webhook_url, ZALO_PATH)
        await api.set_webhook(url, secret)
        endpoints.zalo, endpoints.zalo_secret = channel, secret
        log.info("Zalo bot %s by webhook at %s", me.account_name or me.id, url)
    else:
        log.info("polling Zalo as %s", me.account_name or me.id)
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
