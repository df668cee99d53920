"""Settings, read from the environment (and .env) when the app starts, never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.channels.zalo_api import DEFAULT_BASE_URL as ZALO_DEFAULT_BASE_URL
from bot.channels.zalo_oa_api import DEFAULT_API_URL as ZALO_OA_API_URL
from bot.channels.zalo_oa_api import DEFAULT_OAUTH_URL as ZALO_OA_OAUTH_URL

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
    # The officials' dashboard (bot/dashboard.py): its public address, e.g. https://bot.example.vn.
    # Set, the HTTP server (WEBHOOK_LISTEN) starts and serves it, polling or webhooks alike.
    web_base_url: str | None = None
    # The Zalo bot or Official Account's own link (https://zalo.me/...): printed invites show
    # its QR code beside the text to type.
    zalo_bot_link: str | None = None
    zalo_bot_token: str | None = None  # the first bot; its chat ids are stored bare
    zalo_bot_unit: str | None = None  # the unit (commune) the first bot is bound to
    # More bots, each bound to a unit: "UNIT_CODE=TOKEN,UNIT_CODE=TOKEN" (bot/channels/zalo.py).
    zalo_bot_accounts: str | None = None
    zalo_base_url: str = ZALO_DEFAULT_BASE_URL
    zalo_webhook_url: str | None = None
    zalo_webhook_secret: str | None = None
    # The free (Basic) plan's caps as published in 2026: 3,000 messages a month, 50 users;
    # each bot has its own (they apply to every bot of ZALO_BOT_TOKEN and ZALO_BOT_ACCOUNTS).
    zalo_monthly_quota: int = 3000
    zalo_user_quota: int = 50
    # A commune's Zalo Official Account (bot/channels/zalo_oa.py; README "Zalo Official Account").
    zalo_oa_app_id: str | None = None
    zalo_oa_app_secret: str | None = None  # the app's secret key (token refresh)
    zalo_oa_secret_key: str | None = None  # the OA secret key (webhook signatures)
    zalo_oa_id: str | None = None
    zalo_oa_unit: str | None = None  # the unit (commune) the OA belongs to
    zalo_oa_refresh_token: str | None = None  # seeds the database once; rotated there after
    zalo_oa_accounts: str | None = None  # more OAs of the same app: "OA_ID=UNIT,OA_ID=UNIT"
    zalo_oa_webhook_url: str | None = None
    zalo_oa_api_url: str = ZALO_OA_API_URL
    zalo_oa_oauth_url: str = ZALO_OA_OAUTH_URL
    # 168 h = the Open API's 7 days; 48 to send only free consultation messages.
    zalo_oa_send_window_hours: Annotated[float, Field(gt=0, le=168)] = 168
    # Messages a month each OA may send under its plan (answers and notices); 0: not metered.
    zalo_oa_monthly_quota: Annotated[int, Field(ge=0)] = 0
    # Zalo retries a webhook for about two hours; an older signed body is a replay.
    zalo_oa_webhook_max_age: Annotated[float, Field(gt=0)] = 3 * 3600
    # Accept only the OA secret key in signatures (not the app secret: sources differ).
    zalo_oa_strict_signature: bool = False
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
