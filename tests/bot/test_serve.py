"""`python -m bot run` refuses bad webhook settings and never prints a refused token whole."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bench.fake_telegram import FakeTelegram
from tests.auxil.fake_zalo import FakeZaloServer
from tests.auxil.process import operator_env, start_bot

ROOT = Path(__file__).resolve().parents[2]
REJECTED_TELEGRAM = "987654321:AAFrejected-Telegram-token_0123456789"
REJECTED_ZALO = "1122334455:rejected-zalo-token-0123456789abcdef"


async def run_bot(tmp_path: Path, **env: str) -> tuple[int, str]:
    """Start the bot as an operator would; its exit code and stderr (stdout included)."""
    environment = operator_env()
    environment.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", TELEGRAM_RATE_LIMIT="0", **env
    )
    process = await start_bot(
        environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.mark.parametrize(
    ("channel", "token"),
    [("TELEGRAM", "123456:unused-telegram-token"), ("ZALO", "123456:unused-zalo-token")],
)
async def test_a_short_webhook_secret_stops_the_bot_before_it_connects(
    tmp_path: Path, channel: str, token: str
) -> None:
    token_setting = "TELEGRAM_TOKEN" if channel == "TELEGRAM" else "ZALO_BOT_TOKEN"
    code, output = await run_bot(
        tmp_path,
        **{
            token_setting: token,
            # Nothing listens here: the refusal must come before any connection is tried.
            f"{channel}_BASE_URL"
            if channel == "TELEGRAM"
            else "ZALO_BASE_URL": "http://127.0.0.1:9",
            f"{channel}_WEBHOOK_URL": "https://bot.example.vn",
            f"{channel}_WEBHOOK_SECRET": "Qz7_shortsecret",  # 15 characters
        },
    )
    assert code != 0
    assert f"{channel}_WEBHOOK_SECRET is 15 characters long" in output
    assert "at least 16" in output
    assert "Qz7_shortsecret" not in output
    assert "Traceback" not in output


async def test_a_rejected_telegram_token_is_never_printed(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:  # knows another token: ours is refused with 401
        code, output = await run_bot(
            tmp_path,
            TELEGRAM_TOKEN=REJECTED_TELEGRAM,
            TELEGRAM_BASE_URL=fake.base_url,
            LOG_LEVEL="DEBUG",
        )
    assert code != 0
    assert "TELEGRAM_TOKEN was refused by Telegram" in output
    assert "DEBUG" in output  # debug logging was on
    assert "rejected-Telegram-token" not in output
    assert "987654321" not in output
    assert "Traceback" not in output


async def test_a_rejected_zalo_token_is_never_printed(tmp_path: Path) -> None:
    async with FakeZaloServer("1:the-right-token", idle_wait=0.1) as fake:
        code, output = await run_bot(
            tmp_path,
            ZALO_BOT_TOKEN=REJECTED_ZALO,
            ZALO_BASE_URL=fake.base_url,
            LOG_LEVEL="DEBUG",
        )
    assert code != 0
    assert "ZALO_BOT_TOKEN was refused by Zalo" in output
    assert "rejected-zalo-token" not in output and "1122334455" not in output
    assert "Traceback" not in output


async def test_web_base_url_serves_the_dashboard_while_telegram_polls(tmp_path: Path) -> None:
    """No webhook at all: with WEB_BASE_URL set, `run` still opens the HTTP server."""
    import signal
    import socket

    import aiohttp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "ZALO_", "WEBHOOK_", "WEB_")) and key != "DATABASE_URL"
    }
    async with FakeTelegram() as fake:
        environment.update(
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            TELEGRAM_TOKEN=fake.token,
            TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_RATE_LIMIT="0",
            WEB_BASE_URL="https://bot.example.vn",
            WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        )
        process = await start_bot(
            environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            status = None
            async with aiohttp.ClientSession() as client:
                for _ in range(300):  # at most 30 s for the bot to start
                    try:
                        async with client.get(f"http://127.0.0.1:{port}/dang-nhap") as page:
                            status = page.status
                            text = await page.text()
                            break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
            assert status == 401
            assert "/web" in text
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert "Traceback" not in output.decode()
