"""Thin typed async client for the Zalo Bot Platform API.

Every method is ``POST <base_url>/bot<TOKEN>/<method>`` with a JSON body, answered with the
envelope ``{"ok": bool, "result": ..., "error_code": int, "description": str}``. The client
always checks ``ok`` (not only the HTTP status) and maps failures onto this hierarchy:

    ZaloError                 base of everything this module raises
    +-- ZaloNetworkError      no usable answer: connect/read failure, timeout, body not JSON
    +-- ZaloApiError          the platform answered ok:false (error_code, description, method)
        +-- ZaloBadRequest    400 and other 4xx: bad parameters, e.g. text over 2000 characters
        +-- ZaloUnauthorized  401/403: the bot token is invalid, expired or was reset
        +-- ZaloRateLimited   429: quota exceeded; ``retry_after`` seconds when the server says
        +-- ZaloServerError   5xx: the platform failed; retry later with backoff

The token is part of every URL path, so nothing here puts a raw URL into an exception or a log
record: messages use ``bot<redacted>``, and a filter on the ``httpx`` logger (which logs every
request URL at INFO) rewrites its records the same way.

Points the public sources leave unverified, and how this module copes:
- getUpdates returns one update object; a list is accepted too. The idle poll is HTTP 408
  and/or ``error_code`` 408; both mean "nothing new" and give ``[]``.
- getUpdates ``timeout`` is typed String in the docs but numbers appear in examples; it is sent
  as a string, as the working openclaw client does.
- Webhook bodies are documented wrapped (``{ok, result}``) but were observed flat; both parse.
- Images arrive as ``photo`` (docs) or ``photo_url`` (SDKs); :attr:`ZaloUpdate.photo_url`
  reads either.
- 403 is documented as "Internal server error" yet is used for token problems in practice;
  it is treated as :class:`ZaloUnauthorized`.
- No ``retry_after`` is documented for 429; it is read from the ``Retry-After`` header or a
  ``parameters.retry_after`` / ``retry_after`` body field, else left ``None``.
- sendPhoto documents only a public URL (no upload), so only URLs are accepted.
- A clean bot answers getWebhookInfo with 404; that reads as "no webhook set".
- Delivery may replay or drop updates; deduplicating on ``message_id`` is the caller's job.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self

import httpx

__all__ = [
    "DEFAULT_BASE_URL",
    "LEGACY_BASE_URL",
    "MAX_TEXT_LENGTH",
    "SECRET_HEADER",
    "BotInfo",
    "SentMessage",
    "WebhookInfo",
    "ZaloApiError",
    "ZaloBadRequest",
    "ZaloBotApi",
    "ZaloError",
    "ZaloNetworkError",
    "ZaloRateLimited",
    "ZaloServerError",
    "ZaloUnauthorized",
    "ZaloUpdate",
    "parse_updates",
    "parse_webhook_body",
    "redact",
    "verify_webhook_secret",
]

DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"
LEGACY_BASE_URL = "https://bot-api.zapps.me"
MAX_TEXT_LENGTH = 2000
SECRET_HEADER = "X-Bot-Api-Secret-Token"
IDLE_CODE = 408
ChatAction = Literal["typing", "upload_photo"]
ParseMode = Literal["markdown", "html"]

log = logging.getLogger(__name__)

_TOKEN_IN_PATH = re.compile(r"/bot[^/\s\"']+")
_REDACTED_PATH = "/bot<redacted>"
_CONNECT_TIMEOUT = 10.0
_POLL_GRACE = 10.0


# --- errors -------------------------------------------------------------------------------


class ZaloError(Exception):
    """Base class for every error raised by the Zalo client."""


class ZaloNetworkError(ZaloError):
    """The request got no usable answer (connection, timeout or a body that is not JSON)."""


class ZaloApiError(ZaloError):
    """The platform answered ``ok: false``."""

    def __init__(self, method: str, error_code: int, description: str) -> None:
        self.method = method
        self.error_code = error_code
        self.description = description
        super().__init__(f"Zalo {method} failed: {error_code} {description}".rstrip())


class ZaloBadRequest(ZaloApiError):
    """A 4xx other than 401/403/429: bad parameters, unknown method, text too long."""


class ZaloUnauthorized(ZaloApiError):
    """The bot token was rejected (401/403): it is wrong, expired or was reset."""


class ZaloRateLimited(ZaloApiError):
    """The quota is exhausted (429); wait ``retry_after`` seconds when it is known."""

    def __init__(
        self, method: str, error_code: int, description: str, retry_after: float | None
    ) -> None:
        super().__init__(method, error_code, description)
        self.retry_after = retry_after


class ZaloServerError(ZaloApiError):
    """The platform failed (5xx); retry later with backoff."""


# --- redaction ----------------------------------------------------------------------------


def redact(text: str, token: str | None = None) -> str:
    """Return ``text`` with any ``/bot<token>`` path segment (and ``token`` itself) hidden."""
    if token:
        text = text.replace(token, "<redacted>")
    return _TOKEN_IN_PATH.sub(_REDACTED_PATH, text)


class _RedactBotPath(logging.Filter):
    """Rewrite log records so that a ``/bot<TOKEN>/`` URL path never reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg = redact(message)
            record.args = None
        return True


_HTTPX_FILTER = _RedactBotPath()


def _install_log_redaction() -> None:
    """Attach the redacting filter to the ``httpx`` logger once (idempotent)."""
    logger = logging.getLogger("httpx")
    if _HTTPX_FILTER not in logger.filters:
        logger.addFilter(_HTTPX_FILTER)


# --- data ---------------------------------------------------------------------------------


def _str_or_none(value: object) -> str | None:
    """IDs are strings on Zalo; keep them so (and stringify a stray number)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str | float):
        try:
            return int(value)
        except (ValueError, OverflowError):
            return None
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class ZaloUpdate:
    """One inbound event, flattened; ``raw`` keeps the whole event object."""

    event_name: str
    message_id: str | None
    chat_id: str | None
    user_id: str | None
    display_name: str | None
    text: str | None
    date: int | None  # milliseconds since the epoch, as Zalo sends it
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ZaloUpdate:
        """Build from one event object (``{"event_name": ..., "message": {...}}``)."""
        message = _mapping(event.get("message"))
        sender = _mapping(message.get("from"))
        chat = _mapping(message.get("chat")) or _mapping(event.get("chat"))
        text = message.get("text")
        return cls(
            event_name=str(event.get("event_name") or ""),
            message_id=_str_or_none(message.get("message_id")),
            chat_id=_str_or_none(chat.get("id")),
            user_id=_str_or_none(sender.get("id")),
            display_name=_str_or_none(sender.get("display_name")),
            text=text if isinstance(text, str) else None,
            date=_int_or_none(message.get("date")),
            raw=event,
        )

    @property
    def message(self) -> Mapping[str, Any]:
        """The raw ``message`` object, or an empty mapping for events without one."""
        return _mapping(self.raw.get("message"))

    @property
    def chat_type(self) -> str | None:
        """``"PRIVATE"`` or ``"GROUP"`` when the event says so."""
        return _str_or_none(_mapping(self.message.get("chat")).get("chat_type"))

    @property
    def photo_url(self) -> str | None:
        """Inbound image URL (``photo`` per the docs, ``photo_url`` per the SDKs); temporary."""
        return _str_or_none(self.message.get("photo") or self.message.get("photo_url"))

    @property
    def sent_at(self) -> datetime | None:
        """``date`` as an aware UTC datetime."""
        return None if self.date is None else datetime.fromtimestamp(self.date / 1000, tz=UTC)


@dataclass(frozen=True)
class BotInfo:
    """The ``getMe`` result."""

    id: str
    account_name: str | None
    account_type: str | None
    can_join_groups: bool
    display_name: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class WebhookInfo:
    """The webhook state; ``url == ""`` means no webhook (polling allowed)."""

    url: str
    updated_at: int | None  # milliseconds since the epoch
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_result(cls, result: object) -> WebhookInfo:
        data = _mapping(result)
        return cls(
            url=str(data.get("url") or ""),
            updated_at=_int_or_none(data.get("updated_at")),
            raw=data,
        )


@dataclass(frozen=True)
class SentMessage:
    """What sendMessage/sendPhoto return."""

    message_id: str | None
    date: int | None  # milliseconds since the epoch
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_result(cls, result: object) -> SentMessage:
        data = _mapping(result)
        return cls(
            message_id=_str_or_none(data.get("message_id")),
            date=_int_or_none(data.get("date")),
            raw=data,
        )


def parse_updates(payload: object) -> list[ZaloUpdate]:
    """Parse a decoded body: ``{ok, result}`` or bare, ``result`` an object or a list."""
    if isinstance(payload, Mapping) and "event_name" not in payload and "result" in payload:
        payload = payload["result"]
    items = payload if isinstance(payload, list) else [payload]
    return [ZaloUpdate.from_event(item) for item in items if isinstance(item, Mapping)]


def parse_webhook_body(body: bytes) -> list[ZaloUpdate]:
    """Parse a webhook POST body; raises ``ValueError`` if it is not UTF-8 JSON."""
    return parse_updates(json.loads(body))


def verify_webhook_secret(expected: str, headers: Mapping[str, str]) -> bool:
    """True if ``X-Bot-Api-Secret-Token`` equals ``expected`` (constant time).

    The header lookup is case-insensitive even for a plain ``dict``; an empty ``expected``
    never matches, so a misconfigured secret fails closed.
    """
    if not expected:
        return False
    received = headers.get(SECRET_HEADER)
    if received is None:
        wanted = SECRET_HEADER.lower()
        received = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if received is None:
        return False
    return hmac.compare_digest(received.encode(), expected.encode())


# --- client -------------------------------------------------------------------------------


def _retry_after(response: httpx.Response, body: Mapping[str, Any]) -> float | None:
    candidates = (
        _mapping(body.get("parameters")).get("retry_after"),
        body.get("retry_after"),
        response.headers.get("Retry-After"),
    )
    for value in candidates:
        try:
            if value is not None:
                return float(value)
        except (TypeError, ValueError):
            continue
    return None


class ZaloBotApi:
    """Async Zalo Bot Platform client over one shared ``httpx.AsyncClient``.

    Pass the application's client; if none is given one is created here and closed by
    :meth:`aclose` (or ``async with``). A passed-in client is never closed by this class.
    """

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Zalo bot token is required")
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        _install_log_redaction()

    def __repr__(self) -> str:
        return f"ZaloBotApi({self._base_url}{_REDACTED_PATH})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this instance created it."""
        if self._owns_client:
            await self._client.aclose()

    @property
    def bot_id(self) -> str:
        """The bot's id: the token's part before the first ``:`` (getMe tells it too; not the
        secret part)."""
        return self._token.partition(":")[0]

    def redacted_url(self, method: str) -> str:
        """The URL of ``method`` with the token hidden, safe for logs and messages."""
        return f"{self._base_url}{_REDACTED_PATH}/{method}"

    # -- transport --

    async def _call(
        self,
        method: str,
        payload: Mapping[str, Any] | None = None,
        *,
        http_timeout: httpx.Timeout | None = None,
        idle_ok: bool = False,
    ) -> Any:
        """POST ``payload`` as JSON and return ``result``; ``None`` for an idle poll."""
        url = f"{self._base_url}/bot{self._token}/{method}"
        shown = self.redacted_url(method)
        extra: dict[str, Any] = {} if http_timeout is None else {"timeout": http_timeout}
        try:
            response = await self._client.post(url, json=dict(payload or {}), **extra)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            detail = redact(str(exc) or type(exc).__name__, self._token)
            raise ZaloNetworkError(
                f"Zalo {method} at {shown}: {type(exc).__name__}: {detail}"
            ) from None
        status = response.status_code
        log.debug("POST %s -> HTTP %s", shown, status)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping):
            if idle_ok and status == IDLE_CODE:
                return None
            if response.is_success:
                raise ZaloNetworkError(f"Zalo {method} at {shown}: HTTP {status}, body not JSON")
            body = {"ok": False, "error_code": status, "description": response.reason_phrase}

        if body.get("ok", response.is_success) is True:
            return body["result"] if "result" in body else body

        code = _int_or_none(body.get("error_code"))
        code = code if code is not None and code >= 400 else status
        if idle_ok and IDLE_CODE in (code, status):
            return None
        description = redact(str(body.get("description") or response.reason_phrase), self._token)
        raise self._error(method, code, description, response, body)

    def _error(
        self,
        method: str,
        code: int,
        description: str,
        response: httpx.Response,
        body: Mapping[str, Any],
    ) -> ZaloApiError:
        if code in (401, 403):
            return ZaloUnauthorized(
                method,
                code,
                f"{description} - the bot token was rejected at {self.redacted_url(method)};"
                " check the configured token (it may have been reset in Zalo Bot Creator)",
            )
        if code == 429:
            return ZaloRateLimited(method, code, description, _retry_after(response, body))
        if code >= 500:
            return ZaloServerError(method, code, description)
        if code >= 400:
            return ZaloBadRequest(method, code, description)
        return ZaloApiError(method, code, description)

    # -- methods --

    async def get_me(self) -> BotInfo:
        """Describe the bot (``getMe``)."""
        data = _mapping(await self._call("getMe"))
        return BotInfo(
            id=str(data.get("id") or ""),
            account_name=_str_or_none(data.get("account_name")),
            account_type=_str_or_none(data.get("account_type")),
            can_join_groups=bool(data.get("can_join_groups", False)),
            display_name=_str_or_none(data.get("display_name")),
            raw=data,
        )

    async def get_updates(self, timeout: int = 30) -> list[ZaloUpdate]:  # noqa: ASYNC109
        """Long-poll for the next update; ``[]`` when the poll ends idle (408).

        ``timeout`` is how long the server may hold the poll (not a client deadline); the
        HTTP read timeout is that plus a grace period. Zalo returns at most one update per
        call and has no offset, so replays are possible: dedupe on ``message_id``.
        """
        result = await self._call(
            "getUpdates",
            {"timeout": str(timeout)},
            http_timeout=httpx.Timeout(_CONNECT_TIMEOUT, read=timeout + _POLL_GRACE),
            idle_ok=True,
        )
        return [] if result is None else parse_updates(result)

    async def set_webhook(self, url: str, secret_token: str) -> WebhookInfo:
        """Point Zalo at ``url`` (public HTTPS) with an 8-256 character secret."""
        if not 8 <= len(secret_token) <= 256:
            raise ValueError("secret_token must be 8-256 characters long")
        result = await self._call("setWebhook", {"url": url, "secret_token": secret_token})
        return WebhookInfo.from_result(result)

    async def delete_webhook(self) -> WebhookInfo:
        """Remove the webhook (needed before getUpdates works)."""
        return WebhookInfo.from_result(await self._call("deleteWebhook"))

    async def get_webhook_info(self) -> WebhookInfo:
        """Current webhook; a 404 (seen on bots that never had one) reads as "none set"."""
        try:
            result = await self._call("getWebhookInfo")
        except ZaloBadRequest as exc:
            if exc.error_code != 404:
                raise
            return WebhookInfo(url="", updated_at=None)
        return WebhookInfo.from_result(result)

    async def send_message(
        self, chat_id: str, text: str, *, parse_mode: ParseMode | None = None
    ) -> SentMessage:
        """Send ``text`` (1-2000 characters; chunking is the caller's job) to ``chat_id``."""
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if parse_mode is not None:
            payload["parse_mode"] = parse_mode
        return SentMessage.from_result(await self._call("sendMessage", payload))

    async def send_photo(
        self, chat_id: str, photo_url: str, caption: str | None = None
    ) -> SentMessage:
        """Send the image at a public ``photo_url``; Zalo documents no upload, so no bytes."""
        if isinstance(photo_url, bytes | bytearray | memoryview):
            raise TypeError("Zalo sendPhoto takes a public image URL, not bytes; host it first")
        if not photo_url.startswith(("https://", "http://")):
            raise ValueError("Zalo sendPhoto needs an http(s) URL")
        payload: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            payload["caption"] = caption
        return SentMessage.from_result(await self._call("sendPhoto", payload))

    async def send_chat_action(self, chat_id: str, action: ChatAction = "typing") -> None:
        """Show an activity indicator; only ``typing`` is documented as working."""
        await self._call("sendChatAction", {"chat_id": chat_id, "action": action})
