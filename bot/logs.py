"""Logging set-up, with secrets and personal data redacted from every record.

Whatever is logged, by our code or by a library, passes through one record factory that rewrites
the message and the formatted traceback before any handler sees them:

- the configured secrets (bot tokens, webhook secrets, the database password) become
  ``<redacted>``, and so does any ``/bot<token>/`` URL path and anything shaped like a Telegram
  or Zalo bot token (``123456:AA…``): Telegram's and Zalo's URLs carry the token, and httpx,
  python-telegram-bot and our own errors may show those URLs;
- PostgreSQL error details that quote row values (``Key (col)=(value)``, ``Failing row
  contains (…)``) keep the column names and lose the values. Bound parameters are hidden by the
  engine itself (``hide_parameters``, db/engine.py).

The same rules are available as :func:`redact` for messages printed without logging (the text of
a ``SystemExit`` at start-up). Libraries that log request contents (message texts, so residents'
names) or URLs are kept at INFO or above whatever LOG_LEVEL says.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import make_url

REDACTED = "<redacted>"
# A bot token inside a URL path: /bot123456:ABC-def/getMe (Telegram and Zalo alike).
_TOKEN_PATH = re.compile(r"/bot\d+(?::|%3A)[^/\s\"'<>]+")
# A bare token: digits, a colon, then a long run of token characters.
_TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}")
# PostgreSQL DETAIL lines that quote values.
_PG_KEY = re.compile(r"(Key \([^)]*\))=\((?:[^()]|\([^()]*\))*\)")
_PG_ROW = re.compile(r"(Failing row contains) \(.*\)")
# Secrets shorter than this are not searched for (they would match ordinary text).
_MIN_SECRET = 6

_secrets: set[str] = set()


def add_secrets(values: Iterable[str | None]) -> None:
    """Remember values that must never appear in a log line (empty or short ones are skipped)."""
    for value in values:
        if value and len(value) >= _MIN_SECRET:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with secrets, token-shaped strings and quoted database values hidden."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _TOKEN_PATH.sub("/bot" + REDACTED, text)
    text = _TOKEN_SHAPE.sub(REDACTED, text)
    if "Key (" in text:
        text = _PG_KEY.sub(r"\1=(" + REDACTED + ")", text)
    if "Failing row contains" in text:
        text = _PG_ROW.sub(r"\1 (" + REDACTED + ")", text)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it for the handler to report
        return
    record.msg, record.args = redact(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_redaction() -> None:
    """Redact every log record from now on, whichever logger and handler (idempotent)."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        _redact_record(record)
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def settings_secrets(settings: Any) -> list[str | None]:
    """The secrets among the settings: tokens, webhook secrets, the database password."""
    password = make_url(settings.database_url).password
    more_zalo_bots = (settings.zalo_bot_accounts or "").split(",")  # "UNIT_CODE=TOKEN,…"
    return [
        settings.telegram_token,
        settings.telegram_webhook_secret,
        settings.zalo_bot_token,
        *(entry.partition("=")[2].strip() for entry in more_zalo_bots),
        settings.zalo_webhook_secret,
        str(password) if password else None,
    ]


def configure(settings: Any) -> None:
    """Log to stderr at LOG_LEVEL, redacted; quiet the chatty libraries."""
    add_secrets(settings_secrets(settings))
    install_redaction()
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    level = logging.getLogger().getEffectiveLevel()
    quieter = {
        "alembic": logging.WARNING,
        # httpx logs every request URL at INFO, and Telegram's and Zalo's URLs hold the token.
        "httpx": logging.WARNING,
        "httpcore": logging.WARNING,
        # python-telegram-bot logs each request's parameters (message texts: names, addresses)
        # at DEBUG: LOG_LEVEL=DEBUG shows our own debug lines, not those.
        "telegram": logging.INFO,
    }
    for name, floor in quieter.items():
        logging.getLogger(name).setLevel(max(level, floor))
