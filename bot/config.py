"""Settings, read from the environment (and .env) when the app starts, never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.channels.zalo_api import DEFAULT_BASE_URL as ZALO_DEFAULT_BASE_URL

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


class Settings(BaseSettings):
    """Every setting, documented in .env.example."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///data/bot.db"
    # PostgreSQL connections per worker process: kept open, and opened on top under a burst.
    # Workers x (pool + overflow) must stay under the server's max_connections (README).
    db_pool_size: Annotated[int, Field(ge=1)] = 10
    db_max_overflow: Annotated[int, Field(ge=0)] = 20
    telegram_token: str | None = None
    telegram_base_url: str | None = None
    telegram_bot_username: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_rate_limit: float = 30
    # Loopback by default: a reverse proxy in front serves HTTPS (in a container, set 0.0.0.0).
    webhook_listen: str = "127.0.0.1:8080"
    # Proxies whose X-Forwarded-For names the real client (for throttling wrong secrets).
    webhook_trusted_proxies: str = "127.0.0.1,::1"
    zalo_bot_token: str | None = None
    zalo_base_url: str = ZALO_DEFAULT_BASE_URL
    zalo_webhook_url: str | None = None
    zalo_webhook_secret: str | None = None
    # The free (Basic) plan's caps as published in 2026: 3,000 messages a month, 50 users.
    zalo_monthly_quota: int = 3000
    zalo_user_quota: int = 50
    plan_file: Path = CONTENT / "plans" / "mo-duc-2024.yaml"
    units_file: Path = CONTENT / "units" / "mo-duc-2024.csv"
    messages_file: Path = CONTENT / "messages" / "vi.yaml"
    guides_dir: Path = CONTENT / "guides"
    # `python -m bot guides check` lists facts whose source is older than this many days.
    guide_fact_max_age_days: int = 730
    tz: str = "Asia/Ho_Chi_Minh"
    # How long personal data and working records are kept, in days (handlers/services/retention.py).
    retention_help_contact_days: Annotated[int, Field(ge=1)] = 30
    retention_help_open_days: Annotated[int, Field(ge=1)] = 60
    retention_conversation_days: Annotated[int, Field(ge=1)] = 30
    # The Zalo usage meter counts the current month from the ledger and the outbox.
    retention_ledger_days: Annotated[int, Field(ge=32)] = 45
    retention_question_days: Annotated[int, Field(ge=1)] = 365
    # Fair use (handlers/fairuse.py): messages per window per chat account, kept per process;
    # tighter for unregistered chats on metered channels. 0 turns a limit off.
    fair_use_messages: int = 20
    fair_use_window: float = 60
    fair_use_metered_messages: int = 8
    fair_use_metered_channels: str = "zalo"
    log_level: str = "INFO"
