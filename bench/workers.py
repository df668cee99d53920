"""Webhook workers behind the round-robin proxy, as `python -m bench scale` and
tests/bot/test_workers.py run them: a free port for each, the settings each `python -m bot run`
gets, and the wait until its /readyz answers."""

from __future__ import annotations

import asyncio
import socket

import aiohttp

from bench.fake_telegram import FakeTelegram


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_settings(tg: FakeTelegram, database_url: str, port: int, secret: str) -> dict[str, str]:
    """One worker on `port`, taking Telegram's webhook (secret `secret`) from the fake server
    `tg`; rate limiter and fair use off, warnings and errors logged."""
    return {
        "TELEGRAM_TOKEN": tg.token,
        "TELEGRAM_BASE_URL": tg.base_url,
        "TELEGRAM_RATE_LIMIT": "0",
        "TELEGRAM_WEBHOOK_URL": "https://bot.example.vn",
        "TELEGRAM_WEBHOOK_SECRET": secret,
        "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        "DATABASE_URL": database_url,
        "FAIR_USE_MESSAGES": "0",
        "LOG_LEVEL": "WARNING",
    }


async def wait_ready(session: aiohttp.ClientSession, url: str, seconds: float = 60) -> None:
    """Until the worker at `url` answers /readyz with 200; RuntimeError after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        try:
            async with session.get(url + "/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"worker {url} never became ready")
