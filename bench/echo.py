"""A bare echo bot on the same Telegram channel code: the baseline for `bench report`."""

from __future__ import annotations

import asyncio
import os
import signal

from bot.channels.telegram import Handle, TelegramChannel, build_application
from core.events import Incoming, Reply


async def echo(event: Incoming) -> list[Reply]:
    """Answer every message with its own text: no database, no templates."""
    return [Reply(event.text or "")]


async def serve(handle: Handle) -> None:
    """Poll the Bot API server in TELEGRAM_BASE_URL with `handle` until SIGINT/SIGTERM
    (the echo bot here, the floor bot in bench/floor.py)."""
    application = build_application(
        os.environ["TELEGRAM_TOKEN"], base_url=os.environ["TELEGRAM_BASE_URL"], rate_limit=0
    )
    channel = TelegramChannel(application, handle)
    await channel.open()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await channel.poll(stop)
    finally:
        await channel.close()


async def main() -> None:
    await serve(echo)


if __name__ == "__main__":
    asyncio.run(main())
