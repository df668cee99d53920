"""`python -m bot run` as a separate process, started as an operator would start it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def operator_env(**settings: str) -> dict[str, str]:
    """This environment without the channel, webhook and database settings the machine may
    carry (a test names its own), plus ``settings``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "ZALO_", "WEBHOOK_")) and key != "DATABASE_URL"
    }
    environment.update(settings)
    return environment


async def start_bot(
    environment: dict[str, str],
    *,
    stdout: int = asyncio.subprocess.DEVNULL,
    stderr: int = asyncio.subprocess.PIPE,
) -> asyncio.subprocess.Process:
    """`python -m bot run` from the source root with ``environment`` and no terminal input."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
    )
