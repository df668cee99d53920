"""`bench report` measures the hot path: the bot it starts has no rate limiter and no
fair-use limits, whatever the defaults (20 members answered at once exceed them in seconds)."""

from __future__ import annotations

import pytest

from bench.report import BOT_ENV
from bot.app import fair_use_limits
from bot.config import Settings


def test_the_benchmarked_bot_runs_without_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in BOT_ENV:
        monkeypatch.delenv(name, raising=False)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.fair_use_messages > 0  # what the benchmark must turn off
    for name, value in BOT_ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    limits = fair_use_limits(settings)
    assert (limits.messages, limits.metered_messages) == (0, 0)
    assert settings.telegram_rate_limit == 0
