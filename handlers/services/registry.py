"""The services a handler can reach, built once by bot/app.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from db.engine import Database
from handlers.guides.library import GuideLibrary
from handlers.guides.search import GuideSearch
from handlers.services.plan import Plan
from handlers.services.retention import Policy
from handlers.texts import Texts


@dataclass
class Services:
    db: Database
    texts: Texts
    plan: Plan
    tz: ZoneInfo
    guides: GuideLibrary
    search: GuideSearch
    telegram_username: str | None = None
    # Where the officials' dashboard is served (WEB_BASE_URL); None: no dashboard, /web says so.
    web_base_url: str | None = None
    retention: Policy = field(default_factory=Policy)
    # Set when a handler queues an outbox message, so senders in this process wake at once.
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # Filled by optional features (guide search, notices) when configured.
    extras: dict[str, Any] = field(default_factory=dict)
