"""`python -m bot run`: serve every channel that has a token, with its outbox sender.

Telegram and Zalo run side by side in one process. Each polls, unless its webhook URL is set:
then the webhook is registered with its secret at start and one HTTP server (WEBHOOK_LISTEN)
receives both channels' updates. Zalo's outbox sender reads the usage meter before each batch.
Settings are checked before anything is opened: a webhook secret under 16 characters stops the
process with a message naming the setting (see bot/webhook.py); a refused token stops it with a
message that does not quote the token.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from bot import logs
from bot.app import App
from bot.outbox import OutboxSender
from bot.webhook import (
    Endpoints,
    WebhookSecretError,
    WebhookServer,
    parse_networks,
    webhook_secrets,
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
        endpoints = Endpoints(trusted_proxies=proxies)
        await _start_telegram(app, stop, tasks, closers, endpoints, secrets.get("telegram", ""))
        await _start_zalo(app, stop, tasks, closers, endpoints, secrets.get("zalo", ""))
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
        raise SystemExit(logs.redact(str(fatal[0]))) from fatal[0]


def _checked_settings(app: App) -> tuple[dict[str, str], tuple[Any, ...]]:
    """Webhook secrets and trusted proxies, checked before anything is opened."""
    try:
        secrets = webhook_secrets(app.settings)
        proxies = parse_networks(app.settings.webhook_trusted_proxies)
    except (WebhookSecretError, ValueError) as error:
        raise ConfigError(str(error)) from None
    logs.add_secrets(secrets.values())
    return secrets, proxies


async def _start_telegram(
    app: App,
    stop: asyncio.Event,
    tasks: list[asyncio.Task[None]],
    closers: list[Closer],
    endpoints: Endpoints,
    secret: str,
) -> None:
    settings = app.settings
    if not settings.telegram_token:
        return
    from telegram.error import InvalidToken

    from bot.channels.telegram import ALLOWED_UPDATES, channel_from_settings
    from bot.webhook import TELEGRAM_PATH

    channel = channel_from_settings(settings, app.dispatcher.handle)
    try:
        await channel.open()
    except InvalidToken:
        # python-telegram-bot's own message quotes the whole token.
        raise ConfigError(
            "TELEGRAM_TOKEN was refused by Telegram: check it (or revoke and reissue it "
            "with @BotFather)."
        ) from None
    closers.append(channel.close)
    if app.services.telegram_username is None:
        app.services.telegram_username = channel.bot.username
    sender = OutboxSender(app.db, "telegram", channel.send_reply, app.services.outbox_wakeup)
    tasks.append(asyncio.create_task(sender.run(stop)))
    if settings.telegram_webhook_url:
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
    secret: str,
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
    except ZaloUnauthorized:
        raise ConfigError(str(ZaloTokenRefused())) from None
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
