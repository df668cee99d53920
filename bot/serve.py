"""`python -m bot run`: serve every channel that has a token, with its outbox sender."""

from __future__ import annotations

import asyncio
import logging
import signal

from bot.app import App
from bot.outbox import OutboxSender

log = logging.getLogger(__name__)


async def serve(app: App) -> None:
    """Run until SIGINT/SIGTERM: Telegram long polling and the outbox senders."""
    settings = app.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    closers = []
    if settings.telegram_token:
        from bot.channels.telegram import TelegramChannel, build_application

        channel = TelegramChannel(
            build_application(
                settings.telegram_token,
                base_url=settings.telegram_base_url,
                rate_limit=settings.telegram_rate_limit,
            ),
            app.dispatcher.handle,
        )
        await channel.open()
        closers.append(channel.close)
        if app.services.telegram_username is None:
            app.services.telegram_username = channel.bot.username
        sender = OutboxSender(app.db, "telegram", channel.send_reply, app.services.outbox_wakeup)
        tasks.append(asyncio.create_task(sender.run(stop)))
        log.info("polling Telegram as @%s", channel.bot.username)
        tasks.append(asyncio.create_task(channel.poll(stop)))
    try:
        await stop.wait()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for close in closers:
            await close()
