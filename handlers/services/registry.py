"""The services a handler can reach, built once by bot/app.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from db.engine import Database
from handlers.services.plan import Plan
from handlers.texts import Texts


@dataclass
class Services:
    db: Database
    texts: Texts
    plan: Plan
    tz: ZoneInfo
    telegram_username: str | None = None
    # Filled by optional features (guide search, notices) when configured.
    extras: dict[str, Any] = field(default_factory=dict)
