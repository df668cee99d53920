"""What a channel is to the rest of the bot: a way to send a reply to a chat, what it can show,
and how its sends fail.

Every channel (Telegram, Zalo Bot, the local chat…) implements :class:`Channel`. The ones that
`python -m bot run` serves also implement :class:`Polling` and/or :class:`Webhooked`. Which
channels exist, when each is configured and how it starts is one table:
``bot/channels/registry.py``.

A send fails with one of these, and the outbox (bot/outbox.py) acts on which:

    DeliveryError     base: ``retry_after`` (seconds, or None) and ``permanent``
    +-- RetryLater    try again later: after ``retry_after`` when the platform said so (the
    |                 sender then pauses, a flood wait), else with exponential backoff
    +-- Blocked       the person blocked the bot or the chat is gone: never retried
    +-- Invalid       the platform refused the request itself: it will never succeed
    +-- OutsideWindow the platform lets the bot write only within a window after the person's
                      last message (Zalo OA): the outbox routes the notice to another chat of
                      the person, or holds it until they write again, else gives it up as
                      undeliverable; the row's last error says which

Any other exception from a send is logged with its traceback and retried with backoff.

A channel that can download what people send sets ``fetch`` on the event's
:class:`core.events.Attachment` (``await fetch(limit)`` → bytes; ``FileTooBig`` /
``FileUnavailable`` from core/files.py); bot/channels/download.py streams a URL with the cap.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.render import Capabilities
from core.events import Reply

__all__ = [
    "URL_SAFE",
    "VISIBLE_ASCII",
    "Blocked",
    "Capabilities",
    "Channel",
    "DeliveryError",
    "Invalid",
    "OutsideWindow",
    "Polling",
    "RetryLater",
    "SecretRule",
    "SeveralAccounts",
    "SignedWebhook",
    "TokenRefused",
    "Webhooked",
]


class DeliveryError(Exception):
    """A send failed; ``retry_after`` (seconds) when the channel said when to retry,
    ``permanent`` when retrying can never succeed. Raise a subclass in a channel."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class RetryLater(DeliveryError):
    """Worth trying again: rate limited (``retry_after``), the platform or the network is down."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)


class Blocked(DeliveryError):
    """The person blocked the bot, or the chat no longer exists: never retried."""

    def __init__(self, message: str = "blocked by the user") -> None:
        super().__init__(message, permanent=True)


class Invalid(DeliveryError):
    """The platform refused the request itself (bad request): it will never succeed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class OutsideWindow(DeliveryError):
    """The person has not written within the platform's messaging window: this chat cannot be
    written to until they do (not retried as such; see bot/outbox.py)."""

    def __init__(self, message: str = "outside the messaging window") -> None:
        super().__init__(message, permanent=True)


class TokenRefused(Exception):
    """The platform refused the bot's credentials; the message names the setting to fix and
    never quotes the token."""


@runtime_checkable
class Channel(Protocol):
    """A messenger the bot talks on."""

    name: str  # as stored with accounts and outbox rows: "telegram", "zalo", "local"
    capabilities: Capabilities

    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        """Send one reply or notice to a chat; a failure raises a DeliveryError subclass."""
        ...

    async def whoami(self) -> str:
        """Who the bot is here, for the log ("Telegram @name"); checks the credentials
        (raises TokenRefused)."""
        ...


@runtime_checkable
class Polling(Protocol):
    """A channel that can fetch its updates itself."""

    async def poll(self, stop: asyncio.Event) -> None:
        """Fetch and handle updates until ``stop`` is set."""
        ...


@runtime_checkable
class Webhooked(Protocol):
    """A channel whose platform can push updates to ``/webhook/<name>`` (bot/webhook.py)."""

    name: str
    label: str  # for logs: "Telegram", "Zalo"

    async def set_webhook(self, url: str, secret: str) -> None:
        """Tell the platform where to push updates, and the secret it must send."""
        ...

    def secret_matches(self, secret: str, headers: Mapping[str, str]) -> bool:
        """Whether the request carries ``secret`` (compared in constant time)."""
        ...

    async def receive(self, body: bytes) -> str | None:
        """Handle a pushed body (after the secret was checked); returns None when it was
        handled, else why it is a bad request."""
        ...


@runtime_checkable
class SeveralAccounts(Protocol):
    """A webhooked channel serving further accounts beside its first (several Zalo bots):
    each takes its webhook at ``/webhook/<name>/<key>`` with a secret of its own."""

    def webhook_accounts(self) -> Mapping[str, Webhooked]:
        """The further accounts by key (the part of their path after ``/webhook/<name>/``)."""
        ...


@runtime_checkable
class SignedWebhook(Protocol):
    """A webhooked channel whose platform signs each body (Zalo OA): checked after the body is
    read and before ``receive``; a body that fails is refused (403) like a wrong secret."""

    def signature_matches(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether the body carries a valid, fresh signature."""
        ...


@dataclass(frozen=True, slots=True)
class SecretRule:
    """The characters a platform accepts in a webhook secret."""

    pattern: re.Pattern[str]
    described: str


# Telegram's rule for setWebhook's secret_token: 1-256 characters, A-Z a-z 0-9 _ -.
URL_SAFE = SecretRule(re.compile(r"[A-Za-z0-9_-]+"), "A-Z a-z 0-9 _ -")
# A header value needs visible ASCII without spaces (Zalo documents only the length).
VISIBLE_ASCII = SecretRule(re.compile(r"[\x21-\x7e]+"), "visible ASCII, no spaces")
