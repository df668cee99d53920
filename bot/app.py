"""The composition root: builds configuration, database, services and the dispatcher once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.config import Settings
from db.engine import Database
from db.repos import units
from handlers.dispatcher import Dispatcher
from handlers.fairuse import FairUse, Limits
from handlers.guides.library import GuideLibrary
from handlers.guides.search import build_search
from handlers.routes import build_dispatcher
from handlers.services import startup
from handlers.services.plan import Plan
from handlers.services.registry import Services
from handlers.services.retention import Policy
from handlers.texts import Texts

log = logging.getLogger(__name__)


def fair_use_limits(settings: Settings) -> Limits:
    """The per-person message limits as configured (FAIR_USE_*)."""
    channels = {c.strip() for c in settings.fair_use_metered_channels.split(",") if c.strip()}
    return Limits(
        messages=settings.fair_use_messages,
        window=settings.fair_use_window,
        metered_messages=settings.fair_use_metered_messages,
        metered_channels=frozenset(channels),
    )


@dataclass
class App:
    settings: Settings
    db: Database
    services: Services
    dispatcher: Dispatcher

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> App:
        """Open the database (applying migrations), load content, wire the handlers."""
        db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        if migrate:
            await db.upgrade()
        plan = Plan.load(settings.plan_file)
        guides = GuideLibrary.load(settings.guides_dir)
        search = build_search(guides, settings.guides_dir)
        services = Services(
            db=db,
            texts=Texts.load(settings.messages_file),
            plan=plan,
            guides=guides,
            search=search,
            tz=ZoneInfo(settings.tz),
            telegram_username=settings.telegram_bot_username,
            web_base_url=(settings.web_base_url or "").rstrip("/") or None,
            retention=Policy(
                help_contact_days=settings.retention_help_contact_days,
                help_open_days=settings.retention_help_open_days,
                conversation_days=settings.retention_conversation_days,
                ledger_days=settings.retention_ledger_days,
                question_days=settings.retention_question_days,
            ),
        )
        dispatcher = build_dispatcher(services)
        dispatcher.fair_use = FairUse(fair_use_limits(settings))
        return cls(settings, db, services, dispatcher)

    async def load_sample_units_if_empty(self) -> None:
        """A fresh database gets the shipped units file (or steps file), so the bot is usable at
        once."""
        async with self.db.transaction() as conn:
            if await units.roots(conn):
                return
            inserted = await startup.load(
                conn,
                self.settings.units_file,
                texts=self.services.texts,
                now=datetime.now(UTC),
            )
        log.info("loaded %d units from %s", inserted, self.settings.units_file.name)

    async def close(self) -> None:
        await self.db.close()
